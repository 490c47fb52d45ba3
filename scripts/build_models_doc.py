"""Write docs/models.md: the adapter rule in words and the table of every diffusers image
transformer class, as ``massact.supported()`` reports it (a test keeps the two equal)."""
from __future__ import annotations

from pathlib import Path

from massact.adapters import NOT_IMAGE, supported

HEAD = """# Every image DiT in diffusers

`massact.supported()` (and `massact models` on the command line) lists every image
transformer class of the installed diffusers with what massact does with it:

* **end to end**: a tiny complete pipeline of the family, built offline from configs
  (`massact.load("tiny-<family>")`), runs every claim (`massact reproduce --quick`); capture
  and edits are proven against hand-written hooks on the transformer;
* **transformer**: capture and edits proven on a tiny random instance of the class
  (`tests/test_zoo.py`): the image-stream statistics and kept tensors equal a slice written
  by hand from the class's diffusers source at every block, the last block's image tokens
  are what the model itself takes after its blocks, and zeroing, token-masked zeroing and
  row mixing equal plain hooks written by hand; no `massact.load` name yet;
* **refused**: the note says why and what would be needed.

## One rule for all of them

Each block list (a dotted path: `mode_blocks.image` sits in an `nn.ModuleDict`) says where
its image stream is in a block's output: a tuple element, or the output itself; in it the
image is `all` of the tensor, its `first` or `last` M tokens (a joint sequence), or at
per-row offsets (`rows`: Lumina-Image 2.0 packs [valid text; image; padding]); the token
axis is 1, or 0 for sequence-first outputs (ERNIE-Image). How many tokens the image has
is read from the transformer's own forward input at every call by a *token reader*
(latents (B, C, H, W) or (B, C, T, H, W) cut into patches; packed tokens with `img_ids` or
`img_shapes`; an `indicator`; lists of latents), never by matching lengths, so a text as
long as the image (FLUX.1-schnell at 256 px) is never mistaken for it. Only the target
image's N tokens are read: reference images (FLUX.2 and FLUX.1-Kontext edits, Qwen-Image
Edit, LongCat and Bria-FIBO edits, JoyImage), condition images inside the text (Qwen-Image
2.1) and padding (HiDream's non-square latents, Z-Image's multiples of 32) are skipped.
Guidance is read from the run: a [cond; uncond] batch (DiT, Lumina-Next, Z-Image,
OmniGen), separate calls, an unconditional branch in a second transformer (Ideogram 4),
and steps that drop their unconditional call (truncated guidance) are all counted.

Your own DiT (a plain `nn.Module`) gets the same capture and edits from one call:

```python
import massact
massact.register(MyDiT, massact.BlockList("blocks"), cfg_layout="batch_cond_first")
```

diffusers keeps a private table of block outputs (`TransformerBlockRegistry`); it knows 7
of the block classes above and agrees with massact on all of them but one: it lists
`BriaTransformerBlock`'s image stream at element 0, where the block returns (text, image).

## The table

"""

TAIL = """

## Not image DiTs

The other classes of `diffusers.models.transformers`, and what they are (a test fails when
diffusers adds a class this page does not name):

"""


def main() -> None:
    body = HEAD + supported().markdown() + TAIL
    body += "\n".join(f"* `{name}`: {what}" for name, what in sorted(NOT_IMAGE.items())) + "\n"
    path = Path(__file__).resolve().parent.parent / "docs" / "models.md"
    path.write_text(body)
    print(f"wrote {path.name}: {len(supported())} image classes, {len(NOT_IMAGE)} others")


if __name__ == "__main__":
    main()
