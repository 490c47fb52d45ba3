"""Where each block's image stream is: one rule and one table for every image DiT massact knows.

This is the bottom layer of massact; it imports nothing else from the package.

A *block* is one transformer block, numbered 0..n-1 in execution order across all of a
model's block lists (FLUX.1: 19 double-stream blocks 0..18, then 38 single-stream blocks
19..56). Every block list obeys one rule with four facts (``BlockList``):

* ``stream``: which element of the block's output tuple holds the image stream (None: the
  output is one tensor);
* ``image_at``: where the image stream sits in that tensor: ``"all"`` of it, its
  ``"first"`` or ``"last"`` M tokens (a joint sequence [text; image] or [image; text]), or
  ``"rows"`` (each row's image starts at its own offset: Lumina-Image 2.0 packs
  [valid text; image; padding]);
* ``text``: where the text stream is (a tuple element, ``"rest"`` of a joint tensor, or
  None when text enters by cross-attention);
* ``seq_dim``: the token axis (1; 0 for sequence-first outputs [S, B, D]).

The numbers come from the transformer's own forward input at every call, never from
matching lengths (FLUX.1-schnell at 256 px has 256 text and 256 image tokens, so "the part
whose length is N" has two answers): a *token reader* (``Adapter.tokens``) returns
``CallTokens``: N, the target image's tokens per row; M, the image stream's length in a
joint tensor (target plus reference-image tokens or padding); where the target starts in
the stream; per-row offsets where the packing differs by row; and the (rows, cols) grid.
The image tokens massact reads are always the N target tokens: reference images (FLUX.2
edits, FLUX.1-Kontext, Qwen-Image-Edit) and padding (HiDream, Z-Image) are never counted.

diffusers keeps a private table of some of these facts (``diffusers.hooks._helpers.
TransformerBlockRegistry``); massact keeps its own and the tests cross-check the two.

``cfg_layout`` is the family's usual way of taking guidance: ``"batch"`` (one call on
[unconditional; conditional] rows), ``"batch_cond_first"`` ([conditional; unconditional]:
DiT, Lumina-Next, Z-Image, OmniGen), ``"calls"`` (separate calls, conditional first; the
pipeline takes ``true_cfg_scale``), ``"second_model"`` (the unconditional branch runs in
another transformer: Ideogram 4) or ``"none"`` (guidance-distilled, one branch). How many
calls a step makes is read from the run (``specs.BatchLayout.from_run``), which also
follows pipelines that drop the unconditional call in late steps.

Your own DiT: ``register(MyDiT, BlockList("blocks"), ...)`` gives a plain ``nn.Module``
massact's capture and edits with the same vocabulary.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

import torch
from torch import nn

IMAGE_AT = ("all", "first", "last", "rows")
CFG_LAYOUTS = ("batch", "batch_cond_first", "calls", "second_model", "none")
#: the batch order of one call under each batched guidance layout
BATCH_BRANCHES = {"batch": ("uncond", "cond"), "batch_cond_first": ("cond", "uncond", "image_cond")}


@dataclass(frozen=True)
class BlockList:
    """Where the image stream is in the output of every block of one list.

    Args:
        path: dotted attribute path of an ``nn.ModuleList`` from the transformer
            ("transformer_blocks", "mode_blocks.image").
        stream: output tuple element holding the image stream; None when the block returns
            one tensor.
        image_at: "all", "first" (M tokens), "last" (M tokens) or "rows" (per-row offsets).
        text: tuple element of the text stream, "rest" (the tokens of a joint tensor outside
            the image stream) or None.
        seq_dim: the token axis of the stream (1, or 0 for [S, B, D]).
    """

    path: str
    stream: int | None = None
    image_at: str = "all"
    text: int | str | None = None
    seq_dim: int = 1

    def __post_init__(self):
        if self.image_at not in IMAGE_AT:
            raise ValueError(f"image_at {self.image_at!r} is not one of {IMAGE_AT}")
        if self.seq_dim not in (0, 1):
            raise ValueError(f"seq_dim {self.seq_dim} must be 1 ([B, S, D]) or 0 ([S, B, D])")
        if self.text == "rest" and self.image_at == "all":
            raise ValueError("text='rest' needs a joint tensor: image_at 'first', 'last' or 'rows'")


@dataclass(frozen=True)
class CallTokens:
    """The image tokens of one transformer call, read from its forward input.

    count: N, target image tokens per row; stream: M, the image stream's tokens (target plus
    reference tokens or padding); start: where the target begins inside the stream;
    offsets: per row, where the image stream begins in a joint tensor (``image_at="rows"``;
    a dict by block-list path where lists pack differently);
    grid: (rows, cols) of the target tokens, row-major, or None where the input does not say.
    """

    count: int
    stream: int
    start: int = 0
    offsets: tuple[int, ...] | dict[str, tuple[int, ...]] | None = None
    grid: tuple[int, int] | None = None


TokenReader = Callable[[nn.Module, tuple, dict, "Adapter"], CallTokens]


@dataclass(frozen=True)
class Adapter:
    """What massact knows of one transformer class.

    Args:
        class_name: the class, e.g. "FluxTransformer2DModel".
        family: a short name ("flux", "auraflow", ...).
        block_lists: the image-carrying block lists in execution order (text-only lists are
            left out: they never see image tokens).
        cfg_layout: one of ``CFG_LAYOUTS``.
        tokens: the token reader: a name in ``READERS`` or a function
            (transformer, args, kwargs, adapter) -> ``CallTokens``.
        image_input / timestep_input: the forward arguments with the noisy latents and the time.
        status: "pipeline" (a tiny complete pipeline runs every claim) or "transformer"
            (capture and edits proven on the transformer; no pipeline wrapper yet).
        pipelines / checkpoints: the diffusers pipelines and public checkpoints it serves.
        num_blocks: how its block count follows from its config.
        note: what a user should know.
    """

    class_name: str
    family: str
    block_lists: tuple[BlockList, ...]
    cfg_layout: str
    tokens: str | TokenReader = "latents"
    image_input: str = "hidden_states"
    timestep_input: str = "timestep"
    status: str = "transformer"
    pipelines: tuple[str, ...] = ()
    checkpoints: tuple[str, ...] = ()
    num_blocks: str = "num_layers"
    note: str = ""

    def __post_init__(self):
        if self.cfg_layout not in CFG_LAYOUTS:
            raise ValueError(f"cfg_layout {self.cfg_layout!r} is not one of {CFG_LAYOUTS}")
        if isinstance(self.tokens, str) and self.tokens not in READERS:
            raise ValueError(f"token reader {self.tokens!r} is not one of {sorted(READERS)} (or give a function)")
        if not self.block_lists:
            raise ValueError(f"{self.class_name}: name at least one block list")

    @property
    def batch_branches(self) -> tuple[str, ...]:
        """The branches stacked in one batched call, in batch order."""
        return BATCH_BRANCHES.get(self.cfg_layout, ("uncond", "cond"))

    def read_tokens(self, transformer: nn.Module, args: tuple, kwargs: dict) -> CallTokens:
        """The ``CallTokens`` of one forward call (a forward pre-hook's view of it)."""
        reader = READERS[self.tokens] if isinstance(self.tokens, str) else self.tokens
        return reader(transformer, args, kwargs, self)


# -- token readers -------------------------------------------------------------------------------
def forward_arg(kwargs: dict, args: tuple, name: str, position: int = 0):
    """A forward argument by keyword, else by position."""
    if name in kwargs:
        return kwargs[name]
    return args[position] if len(args) > position else None


def _patch(transformer: nn.Module, dims: int) -> tuple[int, ...]:
    """The patch size over the last ``dims`` axes (config ``patch_size`` int or tuple; 1 if none)."""
    cfg = getattr(transformer, "config", None)
    p = getattr(cfg, "patch_size", None) if cfg is not None else None
    if p is None:
        p = getattr(transformer, "patch_size", 1)
    p = tuple(int(v) for v in p) if isinstance(p, (list, tuple)) else (int(p or 1),) * 2
    if dims == 3 and len(p) == 2:
        pt = getattr(cfg, "patch_size_t", None) if cfg is not None else None
        p = (int(pt or 1),) + p
    return p[-dims:]


def _ids_tokens(ids: torch.Tensor, stream: int) -> CallTokens:
    """FLUX-style position ids (M, axes) or (B, M, axes): the target has the smallest first
    coordinate (0; references 1 in FLUX.1-Kontext, 10, 20, ... in FLUX.2), rows in axis 1,
    columns in axis 2."""
    ids = ids[0] if ids.dim() == 3 else ids
    if ids.shape[0] != stream:
        raise RuntimeError(f"img_ids hold {ids.shape[0]} positions but the transformer got {stream} image tokens")
    target = (ids[:, 0] == ids[:, 0].min()).nonzero().flatten()
    n = int(target.numel())
    start = int(target[0])
    if int(target[-1]) - start + 1 != n:
        raise RuntimeError("the target's image tokens are not contiguous in the image stream (img_ids)")
    tid = ids[start:start + n]
    rows, cols = tid[:, 1].unique().numel(), tid[:, 2].unique().numel()
    if rows * cols != n:
        raise RuntimeError(f"img_ids name a {rows}x{cols} grid but the target has {n} image tokens")
    return CallTokens(n, stream, start, grid=(rows, cols))


def read_latents(transformer: nn.Module, args: tuple, kwargs: dict, adapter: Adapter) -> CallTokens:
    """The default reader: latents (B, C, H, W) cut into patches; (B, C, T, H, W) video-shaped
    latents (and (B, items, C, T, H, W), whose last item is the target); packed tokens
    (B, M, C) with ``img_ids`` (FLUX family: the target has time 0) or
    ``img_shapes`` (Qwen-Image: the target's (frames, rows, cols) first in each row's list)."""
    x = forward_arg(kwargs, args, adapter.image_input)
    if not isinstance(x, torch.Tensor):
        raise RuntimeError(f"{type(transformer).__name__} was called without a tensor {adapter.image_input!r}; "
                           "massact reads the image token count from it")
    if x.dim() == 4:
        ph, pw = _patch(transformer, 2)
        grid = (x.shape[-2] // ph, x.shape[-1] // pw)
        return CallTokens(grid[0] * grid[1], grid[0] * grid[1], grid=grid)
    if x.dim() == 6:  # (B, items, C, T, H, W): JoyImage-Edit, the target is the last item
        x = x[:, -1]
    if x.dim() == 5:
        pt, ph, pw = _patch(transformer, 3)
        t, grid = x.shape[-3] // pt, (x.shape[-2] // ph, x.shape[-1] // pw)
        n = t * grid[0] * grid[1]
        return CallTokens(n, n, grid=grid if t == 1 else None)
    if x.dim() != 3:
        raise RuntimeError(f"cannot read image tokens from {adapter.image_input} of shape {tuple(x.shape)}")
    m = x.shape[1]
    ids = kwargs.get("img_ids")
    if isinstance(ids, torch.Tensor) and ids.shape[-1] >= 3:
        return _ids_tokens(ids, m)
    shapes = kwargs.get("img_shapes")
    if shapes:
        first = shapes[0]
        f, rows, cols = first[0] if isinstance(first, (list, tuple)) and isinstance(first[0], (list, tuple)) else first
        n = int(f) * int(rows) * int(cols)
        return CallTokens(n, m, 0, grid=(int(rows), int(cols)) if int(f) == 1 else None)
    return CallTokens(m, m)


def _grid_tokens(t: int, rows: int, cols: int, stream: int | None = None, offsets=None) -> CallTokens:
    n = t * rows * cols
    return CallTokens(n, n if stream is None else stream, 0, offsets, (rows, cols) if t == 1 else None)


def read_channels_last(transformer, args, kwargs, adapter) -> CallTokens:
    """Kandinsky 5: channels-last latents (B, T, H, W, C)."""
    x = forward_arg(kwargs, args, adapter.image_input)
    pt, ph, pw = _patch(transformer, 3)
    return _grid_tokens(x.shape[1] // pt, x.shape[2] // ph, x.shape[3] // pw)


def read_last_img_shape(transformer, args, kwargs, adapter) -> CallTokens:
    """Qwen-Image 2.1: the target is the last entry of each row's ``img_shapes`` (condition
    images come first, inside the text)."""
    f, rows, cols = (int(v) for v in kwargs["img_shapes"][0][-1])
    return _grid_tokens(f, rows, cols)


def read_shape_list(transformer, args, kwargs, adapter) -> CallTokens:
    """JoyImage-Edit-Plus: ``shape_list[row]`` lists (t, h, w) in patches, the target first."""
    f, rows, cols = (int(v) for v in kwargs["shape_list"][0][0])
    return _grid_tokens(f, rows, cols)


def read_indicator(transformer, args, kwargs, adapter) -> CallTokens:
    """Ideogram 4: the image tokens are those marked 2 in ``indicator`` (B, S), at the end of
    [left padding; text; image]; the grid is in ``position_ids`` (offset by 65536)."""
    marks = kwargs["indicator"] == 2
    counts = marks.sum(1)
    if not bool((counts == counts[0]).all()):
        raise RuntimeError(f"rows of one call hold different image token counts {counts.tolist()}")
    n, grid = int(counts[0]), None
    pos = kwargs.get("position_ids")
    if isinstance(pos, torch.Tensor) and pos.dim() == 3:
        p = pos[0][marks[0]][:, 1:] - 65536
        grid = (int(p[:, 0].max()) + 1, int(p[:, 1].max()) + 1)
        if grid[0] * grid[1] != n:
            grid = None
    return CallTokens(n, n, grid=grid)


def _ceil32(n: int) -> int:
    return -(-n // 32) * 32


def read_image_lists(transformer, args, kwargs, adapter) -> CallTokens:
    """Z-Image: ``x`` is a list of latents [C, F, H, W] (omni mode: a list per row, condition
    images first, the target last) and ``cap_feats`` a list of caption features; every part is
    padded to a multiple of 32 tokens. The refiner sees [condition images; target]; the main
    layers see [caption segments; condition images; target; ...] in omni mode and
    [target; caption] otherwise, so the target's offset is read per row and per block list."""
    xs, caps = forward_arg(kwargs, args, adapter.image_input), kwargs.get("cap_feats")
    p, pf = int(kwargs.get("patch_size", 2)), int(kwargs.get("f_patch_size", 1))

    def tokens(img):
        _, f, h, w = img.shape
        return (f // pf) * (h // p) * (w // p)

    refiner, layers = [], []
    for i, row in enumerate(xs):
        if isinstance(row, (list, tuple)):  # omni mode
            refs = sum(_ceil32(tokens(im)) for im in row[:-1])
            segments = caps[i] if caps is not None else ()
            refiner.append(refs)
            layers.append(sum(_ceil32(len(s)) for s in segments) + refs)
        else:
            refiner.append(0)
            layers.append(0)
    target = xs[0][-1] if isinstance(xs[0], (list, tuple)) else xs[0]
    _, f, h, w = target.shape
    n = tokens(target)
    offsets = {"noise_refiner": tuple(refiner), "layers": tuple(layers)}
    return CallTokens(n, _ceil32(n), 0, offsets, (h // p, w // p) if f // pf == 1 else None)


def read_last_frame(transformer, args, kwargs, adapter) -> CallTokens:
    """ChronoEdit: an image edit run as a short video (B, C, T, H, W); the edited image is the
    last latent frame, whose tokens come last (frame-major order)."""
    x = forward_arg(kwargs, args, adapter.image_input)
    _, ph, pw = _patch(transformer, 3)
    return _grid_tokens(1, x.shape[-2] // ph, x.shape[-1] // pw)


def read_position_ids(transformer, args, kwargs, adapter) -> CallTokens:
    """Krea 2: packed image tokens (B, N, C) last in the joint sequence; the grid is in the last
    N rows of ``position_ids`` (S, 3): (0, row, col) for every image token."""
    tokens = read_latents(transformer, args, kwargs, adapter)
    pos = kwargs.get("position_ids")
    if isinstance(pos, torch.Tensor) and pos.dim() == 2 and pos.shape[0] >= tokens.count:
        p = pos[-tokens.count:]
        grid = (int(p[:, 1].max()) + 1, int(p[:, 2].max()) + 1)
        if grid[0] * grid[1] == tokens.count:
            return CallTokens(tokens.count, tokens.stream, 0, None, grid)
    return tokens


def read_mask_rows(transformer, args, kwargs, adapter) -> CallTokens:
    """Lumina-Image 2.0: latents (B, C, H, W); each row of the joint layers is
    [its valid text; image; padding], so row i's image starts at its mask's sum."""
    tokens = read_latents(transformer, args, kwargs, adapter)
    mask = kwargs["encoder_attention_mask"]
    return CallTokens(tokens.count, tokens.stream, 0, tuple(int(v) for v in mask.sum(1)), tokens.grid)


READERS: dict[str, TokenReader] = {"latents": read_latents, "mask_rows": read_mask_rows,
                                   "last_frame": read_last_frame, "position_ids": read_position_ids,
                                   "channels_last": read_channels_last,
                                   "last_img_shape": read_last_img_shape, "shape_list": read_shape_list,
                                   "indicator": read_indicator, "image_lists": read_image_lists}


# -- the table ------------------------------------------------------------------------------------
def _tuple(path: str, image: int, text: int | None) -> BlockList:
    return BlockList(path, stream=image, text=text)


ADAPTERS: dict[str, Adapter] = {
    a.class_name: a
    for a in [
        Adapter("FluxTransformer2DModel", "flux",
                (_tuple("transformer_blocks", 1, 0), _tuple("single_transformer_blocks", 1, 0)),
                cfg_layout="none", status="pipeline",
                pipelines=("FluxPipeline", "FluxImg2ImgPipeline", "FluxInpaintPipeline", "FluxFillPipeline",
                           "FluxControlPipeline", "FluxKontextPipeline"),
                checkpoints=("black-forest-labs/FLUX.1-dev", "black-forest-labs/FLUX.1-schnell",
                             "black-forest-labs/FLUX.1-Kontext-dev"),
                num_blocks="num_layers + num_single_layers",
                note="guidance-distilled (one call); true_cfg_scale > 1 with a negative prompt adds a separate "
                     "negative call after the cond call; Kontext's reference tokens (img_ids time 1) are skipped"),
        Adapter("Flux2Transformer2DModel", "flux2",
                (_tuple("transformer_blocks", 1, 0),
                 BlockList("single_transformer_blocks", image_at="last", text="rest")),
                cfg_layout="none", status="pipeline",
                pipelines=("Flux2Pipeline", "Flux2KleinPipeline"),
                checkpoints=("black-forest-labs/FLUX.2-dev", "black-forest-labs/FLUX.2-klein-4B",
                             "black-forest-labs/FLUX.2-klein-9B"),
                num_blocks="num_layers + num_single_layers",
                note="klein distilled: one call; the base model (is_distilled=False) at guidance > 1 calls cond, "
                     "then uncond; reference images (img_ids time 10, 20, ...) are skipped, wherever the KV "
                     "pipeline puts them"),
        Adapter("QwenImageTransformer2DModel", "qwen-image", (_tuple("transformer_blocks", 1, 0),),
                cfg_layout="calls", status="pipeline",
                pipelines=("QwenImagePipeline", "QwenImageImg2ImgPipeline", "QwenImageEditPipeline"),
                checkpoints=("Qwen/Qwen-Image", "Qwen/Qwen-Image-Edit"),
                note="true CFG: the pipeline calls the transformer for cond, then uncond; edit pipelines' "
                     "reference tokens (after the target in img_shapes) are skipped"),
        Adapter("SD3Transformer2DModel", "sd3",
                # the last JointTransformerBlock returns (None, image)
                (_tuple("transformer_blocks", 1, 0),), cfg_layout="batch", status="pipeline",
                pipelines=("StableDiffusion3Pipeline", "StableDiffusion3Img2ImgPipeline"),
                checkpoints=("stabilityai/stable-diffusion-3-medium-diffusers",
                             "stabilityai/stable-diffusion-3.5-medium", "stabilityai/stable-diffusion-3.5-large"),
                note="guidance > 1: one call on [uncond; cond] rows"),
        Adapter("SanaTransformer2DModel", "sana", (BlockList("transformer_blocks"),), cfg_layout="batch",
                status="pipeline", pipelines=("SanaPipeline", "SanaSprintPipeline"),
                checkpoints=("Efficient-Large-Model/Sana_1600M_1024px_diffusers",
                             "Efficient-Large-Model/SANA1.5_1.6B_1024px_diffusers")),
        Adapter("PixArtTransformer2DModel", "pixart", (BlockList("transformer_blocks"),), cfg_layout="batch",
                status="pipeline", pipelines=("PixArtAlphaPipeline", "PixArtSigmaPipeline"),
                checkpoints=("PixArt-alpha/PixArt-XL-2-1024-MS", "PixArt-alpha/PixArt-Sigma-XL-2-1024-MS")),
        # -- FLUX-like: double-stream tuples, then single-stream blocks ----------------------------
        Adapter("BriaTransformer2DModel", "bria",
                (_tuple("transformer_blocks", 1, 0), _tuple("single_transformer_blocks", 1, 0)), cfg_layout="batch",
                status="pipeline",
                pipelines=("BriaPipeline",), checkpoints=("briaai/BRIA-3.2",),
                num_blocks="num_layers + num_single_layers",
                note="diffusers' private registry lists BriaTransformerBlock's image stream at element 0; "
                     "the block returns (text, image)"),
        Adapter("BriaFiboTransformer2DModel", "bria-fibo",
                (_tuple("transformer_blocks", 1, 0), BlockList("single_transformer_blocks", image_at="last",
                                                               text="rest")),
                cfg_layout="batch", status="pipeline", pipelines=("BriaFiboPipeline", "BriaFiboEditPipeline"),
                checkpoints=("briaai/FIBO", "briaai/Fibo-Edit-1.5-base", "briaai/Fibo-Edit-1.5-turbo"),
                num_blocks="num_layers + num_single_layers",
                note="JSON prompts; the edit pipeline's reference tokens (img_ids plane 1, 2, ...) are skipped"),
        Adapter("ChromaTransformer2DModel", "chroma",
                (_tuple("transformer_blocks", 1, 0), BlockList("single_transformer_blocks", image_at="last",
                                                               text="rest")),
                cfg_layout="calls", status="pipeline",
                pipelines=("ChromaPipeline", "ChromaImg2ImgPipeline", "ChromaInpaintPipeline"),
                checkpoints=("lodestones/Chroma1-HD",), num_blocks="num_layers + num_single_layers"),
        Adapter("LongCatImageTransformer2DModel", "longcat-image",
                (_tuple("transformer_blocks", 1, 0), _tuple("single_transformer_blocks", 1, 0)), cfg_layout="calls",
                pipelines=("LongCatImagePipeline", "LongCatImageEditPipeline"),
                checkpoints=("meituan-longcat/LongCat-Image", "meituan-longcat/LongCat-Image-Edit"),
                num_blocks="num_layers + num_single_layers",
                note="the edit pipeline's reference tokens (img_ids modality 2, after the target's 1) are skipped; "
                     "no tiny pipeline: its Qwen2.5-VL processor needs torchvision and the pipeline does not "
                     "save without it"),
        Adapter("OvisImageTransformer2DModel", "ovis-image",
                (_tuple("transformer_blocks", 1, 0), _tuple("single_transformer_blocks", 1, 0)), cfg_layout="calls",
                status="pipeline", pipelines=("OvisImagePipeline",), checkpoints=("AIDC-AI/Ovis-Image-7B",),
                num_blocks="num_layers + num_single_layers"),
        Adapter("Flux3Transformer2DModel", "flux3",
                (BlockList("mode_blocks.image"), _tuple("single_transformer_blocks", 1, 0)), cfg_layout="calls",
                pipelines=("Flux3ModularPipeline", "Flux3DistilledModularPipeline"),
                num_blocks="num_layers (mode_blocks['image']) + num_single_layers",
                note="modular pipelines only; the text-only txt_mode_blocks and the reference-only "
                     "mode_blocks['image_cond'] are not image blocks; references after the target in the single "
                     "blocks are skipped; the distilled model makes one call per step; "
                     "no tiny pipeline: diffusers ships only modular pipelines for it, which massact.load does "
                     "not wrap"),
        Adapter("NucleusMoEImageTransformer2DModel", "nucleusmoe-image", (BlockList("transformer_blocks"),),
                cfg_layout="calls", pipelines=("NucleusMoEImagePipeline",), checkpoints=("NucleusAI/NucleusMoE-Image",),
                note="text enters as extra keys and values of every block and is never updated; "
                     "no tiny pipeline: its Qwen-VL processor needs torchvision and does not save without it"),
        # -- image stream alone: text by cross-attention, extra keys/values or class labels ----------
        Adapter("DiTTransformer2DModel", "dit", (BlockList("transformer_blocks"),), cfg_layout="batch_cond_first",
                pipelines=("DiTPipeline",), checkpoints=("facebook/DiT-XL-2-256", "facebook/DiT-XL-2-512"),
                note="class-conditional (ImageNet labels, 1000 = no class): no prompts; "
                     "no tiny pipeline: class labels, not prompts, so the prompt-based claims do not apply"),
        Adapter("HunyuanDiT2DModel", "hunyuan-dit", (BlockList("blocks"),), cfg_layout="batch",
                status="pipeline", pipelines=("HunyuanDiTPipeline", "HunyuanDiTPAGPipeline"),
                checkpoints=("Tencent-Hunyuan/HunyuanDiT-v1.2-Diffusers", "Tencent-Hunyuan/HunyuanDiT-Diffusers"),
                note="U-Net-style long skips: an edit of an early block also reaches its late partner; the PAG "
                     "pipeline adds a third, perturbed branch"),
        Adapter("LuminaNextDiT2DModel", "lumina-next", (BlockList("layers"),), cfg_layout="batch_cond_first",
                status="pipeline", pipelines=("LuminaPipeline",),
                checkpoints=("Alpha-VLLM/Lumina-Next-SFT-diffusers",)),
        Adapter("PRXTransformer2DModel", "prx", (BlockList("blocks"),), cfg_layout="batch",
                pipelines=("PRXPipeline", "PRXPixelPipeline"),
                checkpoints=("Photoroom/prx-512-t2i-sft", "Photoroom/prxpixel-t2i"), num_blocks="depth",
                note="text enters as extra keys and values; the pixel model patchifies RGB directly; "
                     "no tiny pipeline: a saved PRX pipeline names T5GemmaEncoder, which transformers 5.25 does "
                     "not export, so from_pretrained fails"),
        Adapter("CosmosTransformer3DModel", "cosmos", (BlockList("transformer_blocks"),), cfg_layout="calls",
                pipelines=("Cosmos2TextToImagePipeline",),
                checkpoints=("nvidia/Cosmos-Predict2-2B-Text2Image", "nvidia/Cosmos-Predict2-14B-Text2Image"),
                note="5-D latents (B, C, 1, H, W) for images; the video pipelines use the same class; "
                     "no tiny pipeline: the pipeline requires the cosmos_guardrail safety checker and "
                     "torchvision, absent here"),
        Adapter("Kandinsky5Transformer3DModel", "kandinsky5", (BlockList("visual_transformer_blocks"),),
                cfg_layout="calls", tokens="channels_last",
                pipelines=("Kandinsky5T2IPipeline", "Kandinsky5I2IPipeline"),
                checkpoints=("kandinskylab/Kandinsky-5.0-T2I-Lite-sft-Diffusers",),
                num_blocks="num_visual_blocks (after num_text_blocks text-only blocks)",
                note="sparse (fractal) attention regroups the visual tokens into 8x8 blocks; the image pipelines "
                     "keep it off, and massact's grid assumes row-major tokens; "
                     "no tiny pipeline: its Qwen2.5-VL processor needs torchvision, absent here"),
        # -- image first in a tuple ----------------------------------------------------------------------
        Adapter("CogView3PlusTransformer2DModel", "cogview3plus", (_tuple("transformer_blocks", 0, 1),),
                cfg_layout="batch", status="pipeline", pipelines=("CogView3PlusPipeline",),
                checkpoints=("THUDM/CogView3-Plus-3B",)),
        Adapter("CogView4Transformer2DModel", "cogview4", (_tuple("transformer_blocks", 0, 1),), cfg_layout="calls",
                status="pipeline",
                pipelines=("CogView4Pipeline", "CogView4ControlPipeline"),
                checkpoints=("THUDM/CogView4-6B", "THUDM/CogView4-6B-Control")),
        Adapter("GlmImageTransformer2DModel", "glm-image", (_tuple("transformer_blocks", 0, 1),), cfg_layout="calls",
                status="pipeline",
                pipelines=("GlmImagePipeline",), checkpoints=("zai-org/GLM-Image",),
                note="the edit mode's key/value-writing calls before the loop (condition images, time 0) are "
                     "counted as calls: capture text-to-image runs"),
        Adapter("HunyuanImageTransformer2DModel", "hunyuan-image",
                (_tuple("transformer_blocks", 0, 1), _tuple("single_transformer_blocks", 0, 1)), cfg_layout="calls",
                status="pipeline", pipelines=("HunyuanImagePipeline", "HunyuanImageRefinerPipeline"),
                checkpoints=("hunyuanvideo-community/HunyuanImage-2.1-Diffusers",
                             "hunyuanvideo-community/HunyuanImage-2.1-Refiner-Diffusers"),
                num_blocks="num_layers + num_single_layers",
                note="the text refiner blocks are text only; the guider drops the uncond call outside its step "
                     "range (read from the run); distilled and refiner checkpoints make one call"),
        Adapter("JoyImageEditTransformer3DModel", "joyimage-edit", (_tuple("double_blocks", 0, 1),),
                cfg_layout="calls", pipelines=("JoyImageEditPipeline",),
                checkpoints=("jdopensource/JoyAI-Image-Edit-Diffusers",),
                note="the image stream is [target; references]: the references are skipped; "
                     "no tiny pipeline: an edit pipeline (an input image per prompt) whose processor needs "
                     "torchvision"),
        Adapter("JoyImageEditPlusTransformer3DModel", "joyimage-edit-plus", (_tuple("double_blocks", 0, 1),),
                cfg_layout="batch", tokens="shape_list", pipelines=("JoyImageEditPlusPipeline",),
                checkpoints=("jdopensource/JoyAI-Image-Edit-Plus-Diffusers",),
                note="each row is [target; references; padding]: only the target is read; "
                     "no tiny pipeline: an edit pipeline (input images per prompt) whose processor needs "
                     "torchvision"),
        # -- one joint sequence ---------------------------------------------------------------------------
        Adapter("QwenImage21Transformer2DModel", "qwen-image-2.1",
                (BlockList("transformer_blocks", image_at="last", text="rest"),), cfg_layout="calls",
                tokens="last_img_shape",
                pipelines=("QwenImage21Pipeline", "QwenImage21ModularPipeline"), checkpoints=("Qwen/Qwen-Image-2.1",),
                note="condition images sit inside the text and are skipped; with the pipeline's KV cache, later "
                     "steps pass only the target (still the last tokens); "
                     "no tiny pipeline: its Qwen-VL processor needs torchvision, absent here"),
        Adapter("ZImageTransformer2DModel", "z-image",
                (BlockList("noise_refiner", image_at="rows"), BlockList("layers", image_at="rows")),
                cfg_layout="batch_cond_first", tokens="image_lists", image_input="x", timestep_input="t",
                status="pipeline", pipelines=("ZImagePipeline", "ZImageImg2ImgPipeline", "ZImageOmniPipeline"),
                checkpoints=("Tongyi-MAI/Z-Image-Turbo",),
                num_blocks="n_refiner_layers + n_layers (after n_refiner_layers text-only context refiner blocks)",
                note="the image is padded to a multiple of 32 tokens (the padding is skipped); omni mode's target "
                     "offset is read per row; cfg_truncation drops the uncond rows in late steps"),
        Adapter("Ideogram4Transformer2DModel", "ideogram4",
                (BlockList("layers", image_at="last", text="rest"),), cfg_layout="second_model", tokens="indicator",
                status="pipeline", pipelines=("Ideogram4Pipeline", "Ideogram4ModularPipeline"),
                checkpoints=("ideogram-ai/ideogram-v4",),
                note="the unconditional branch runs in pipe.unconditional_transformer, a second model that "
                     "massact neither captures nor edits: statistics come from the conditional branch (as "
                     "everywhere), and an edit changes the conditional branch only"),
        Adapter("AuraFlowTransformer2DModel", "auraflow",
                (_tuple("joint_transformer_blocks", 1, 0),
                 BlockList("single_transformer_blocks", image_at="last", text="rest")), cfg_layout="batch",
                status="pipeline", pipelines=("AuraFlowPipeline",), checkpoints=("fal/AuraFlow", "fal/AuraFlow-v0.3"),
                num_blocks="num_mmdit_layers + num_single_dit_layers",
                note="8 register tokens precede the text: the text stream is 8 + T tokens long"),
        Adapter("Lumina2Transformer2DModel", "lumina2",
                (BlockList("noise_refiner"), BlockList("layers", image_at="rows")), cfg_layout="calls",
                tokens="mask_rows", status="pipeline", pipelines=("Lumina2Pipeline",),
                checkpoints=("Alpha-VLLM/Lumina-Image-2.0",),
                num_blocks="num_refiner_layers + num_layers (after num_refiner_layers text-only context refiner "
                           "blocks)",
                note="each row is [valid text; image; padding], so the image's offset differs per row; "
                     "cfg_trunc_ratio < 1 drops the uncond call in late steps"),
        Adapter("ErnieImageTransformer2DModel", "ernie-image",
                (BlockList("layers", image_at="first", text="rest", seq_dim=0),), cfg_layout="batch",
                status="pipeline", pipelines=("ErnieImagePipeline", "ErnieImageModularPipeline"),
                note="sequence-first [image; padded text] of shape (S, B, D); the modular pipeline's guider "
                     "makes separate cond and uncond calls"),
        Adapter("HiDreamImageTransformer2DModel", "hidream",
                (_tuple("double_stream_blocks", 0, 1), BlockList("single_stream_blocks", image_at="first")),
                cfg_layout="batch", timestep_input="timesteps", status="pipeline",
                pipelines=("HiDreamImagePipeline",),
                checkpoints=("HiDream-ai/HiDream-I1-Full", "HiDream-ai/HiDream-I1-Dev", "HiDream-ai/HiDream-I1-Fast"),
                num_blocks="num_layers + num_single_layers",
                note="non-square latents are padded to max_seq image tokens (the padding is skipped); the single "
                     "blocks hold [image; T5; Llama layers]"),
        Adapter("OmniGenTransformer2DModel", "omnigen", (BlockList("layers", image_at="last", text="rest"),),
                cfg_layout="batch_cond_first", pipelines=("OmniGenPipeline",),
                checkpoints=("Shitao/OmniGen-v1-diffusers",),
                note="a Phi-3 decoder on [condition tokens; time token; image]; with input images the batch is "
                     "[cond; uncond; image-cond]; "
                     "no tiny pipeline: its processor needs torchvision, absent here"),
        Adapter("Krea2Transformer2DModel", "krea2", (BlockList("transformer_blocks", image_at="last", text="rest"),),
                cfg_layout="calls", tokens="position_ids", status="pipeline",
                pipelines=("Krea2Pipeline", "Krea2ModularPipeline"),
                num_blocks="num_layers (after the text-only text_fusion blocks)",
                note="the distilled (turbo) model makes one call per step; the token grid is only in position_ids"),
        Adapter("ChronoEditTransformer3DModel", "chronoedit", (BlockList("blocks", image_at="last"),),
                cfg_layout="calls", tokens="last_frame", pipelines=("ChronoEditPipeline",),
                checkpoints=("nvidia/ChronoEdit-14B-Diffusers",),
                note="an image edit run as a short video [input frame; (reasoning frames); edited frame]: only "
                     "the last frame's tokens are read; with temporal reasoning the frame count changes mid-run; "
                     "no tiny pipeline: an image-edit pipeline (an input image per prompt), which massact's "
                     "prompt-only claims do not drive"),
    ]
}

#: image DiT classes massact refuses, and why
REFUSED: dict[str, str] = {
    "Cosmos3OmniTransformer": (
        "its blocks run packed sequences with no batch axis (an understanding and a generation sequence, "
        "vision tokens at vision_sequence_indexes among text, sound and action tokens); massact's statistics "
        "and edits work on (rows, tokens, channels) streams and would need a per-item unpacking reader"),
    "BriaFibo2Transformer2DModel": (
        "the image's offset in its main layers depends on the batch: [gist; image; context] when every row has "
        "the same gist count, [image; context; gist] when rows differ, with the gist count computed from the "
        "text lengths inside the model; a reader would have to repeat that computation"),
}

#: classes of diffusers.models.transformers that are not image DiTs, and what they are
NOT_IMAGE: dict[str, str] = {
    "AceStepTransformer1DModel": "audio (AceStepPipeline)",
    "AllegroTransformer3DModel": "video (AllegroPipeline)",
    "AnyFlowFARTransformer3DModel": "video (AnyFlowFARPipeline)",
    "AnyFlowTransformer3DModel": "video (AnyFlowPipeline)",
    "CogVideoXTransformer3DModel": "video (CogVideoX pipelines)",
    "ConsisIDTransformer3DModel": "video (ConsisIDPipeline, image-to-video)",
    "DreamLiteTransformer2DModel": "a component inside DreamLiteUNetModel's blocks (the denoiser is a UNet)",
    "EasyAnimateTransformer3DModel": "video (EasyAnimate pipelines)",
    "HeliosTransformer3DModel": "video (Helios pipelines)",
    "HunyuanVideo15Transformer3DModel": "video (HunyuanVideo 1.5 pipelines)",
    "HunyuanVideoFramepackTransformer3DModel": "video (HunyuanVideoFramepackPipeline)",
    "HunyuanVideoTransformer3DModel": "video (HunyuanVideo pipelines)",
    "Kandinsky6SRTransformer3DModel": "video super-resolution (Kandinsky6SRPipeline)",
    "Kandinsky6Transformer3DModel": "video and audio (Kandinsky6TI2VAPipeline)",
    "LTX2VideoTransformer3DModel": "video and audio (LTX-2 pipelines)",
    "LTXVideoTransformer3DModel": "video (LTX-Video pipelines)",
    "LatteTransformer3DModel": "video (LattePipeline)",
    "LongCatAudioDiTTransformer": "audio (LongCatAudioDiTPipeline)",
    "MiniMaxH3Transformer3DModel": "video and audio (modular MiniMax-H3; images are only conditions)",
    "MiniMaxMusic3RVQDepthDecoder": "audio (MiniMax Music 3's autoregressive depth decoder)",
    "MiniMaxMusic3Transformer1DModel": "audio (MiniMax Music 3)",
    "MochiTransformer3DModel": "video (MochiPipeline)",
    "MotifVideoTransformer3DModel": "video (Motif-Video pipelines)",
    "PriorTransformer": "an unCLIP prior over CLIP embedding vectors, no image tokens",
    "RFD4ProteinaTransformer": "protein structure (RFD4ProteinaPipeline)",
    "SanaVideoTransformer3DModel": "video (SANA-Video pipelines)",
    "SanaWMLTX2RefinerTransformer3DModel": "video (SANA-WM's LTX-2 refiner)",
    "SanaWMTransformer3DModel": "video (SANA-WM world model)",
    "SkyReelsV2Transformer3DModel": "video (SkyReels-V2 pipelines)",
    "StableAudio3DiTModel": "audio (Stable Audio 3 pipelines)",
    "StableAudioDiTModel": "audio (StableAudioPipeline)",
    "T5FilmDecoder": "audio (the deprecated spectrogram diffusion pipeline)",
    "Transformer2DModel": ("a component inside UNets (and the deprecated VQ-Diffusion's discrete-token denoiser); "
                           "DiT and PixArt checkpoints that name it load as the DiT and PixArt classes"),
    "TransformerTemporalModel": "a component inside video UNets (temporal attention)",
    "WanAnimate2Transformer3DModel": "video (modular Wan-Animate-2)",
    "WanAnimateTransformer3DModel": "video (WanAnimatePipeline)",
    "WanTransformer3DModel": "video (Wan pipelines)",
    "WanVACETransformer3DModel": "video (WanVACEPipeline)",
}

#: adapters registered at run time for classes outside diffusers (``register``), by class
_REGISTERED: dict[type, Adapter] = {}


def register(model_class: type, *block_lists: BlockList, cfg_layout: str = "none",
             tokens: str | TokenReader = "latents", image_input: str = "hidden_states",
             timestep_input: str = "timestep", family: str | None = None, note: str = "") -> Adapter:
    """Give your own DiT (a plain ``nn.Module`` class) massact's capture and edits.

    >>> register(MyDiT, BlockList("blocks"), cfg_layout="batch")

    Args:
        model_class: the transformer's class (an ``nn.Module`` subclass).
        *block_lists: its image-carrying block lists in execution order (``BlockList``).
        cfg_layout: one of ``CFG_LAYOUTS``.
        tokens: the token reader (a name in ``READERS`` or a function); the default reads
            latents (B, C, H, W) and the class's ``patch_size`` (config or attribute).
        image_input, timestep_input: the forward arguments with the latents and the time.
        family: a short name (default: the class name).
        note: shown by ``supported()``.
    Returns:
        the ``Adapter`` now used for every instance of the class.
    Raises:
        TypeError / ValueError for a class that is not an nn.Module, a diffusers class
        massact already knows, or facts outside the rule.
    """
    if not (isinstance(model_class, type) and issubclass(model_class, nn.Module)):
        raise TypeError(f"register takes an nn.Module subclass, got {model_class!r}")
    if model_class.__name__ in ADAPTERS and model_class.__module__.startswith("diffusers"):
        raise ValueError(f"{model_class.__name__} is already in massact's table")
    for bl in block_lists:
        if not isinstance(bl, BlockList):
            raise TypeError(f"block lists are massact.BlockList objects, e.g. BlockList('blocks'), got {bl!r}")
    adapter = Adapter(model_class.__name__, family or model_class.__name__, tuple(block_lists), cfg_layout,
                      tokens=tokens, image_input=image_input, timestep_input=timestep_input,
                      status="registered", note=note)
    _REGISTERED[model_class] = adapter
    return adapter


def unregister(model_class: type) -> None:
    """Forget a class given to ``register`` (no error when it was not registered)."""
    _REGISTERED.pop(model_class, None)


def supported_classes() -> list[str]:
    """The diffusers transformer classes massact captures and edits, sorted."""
    return sorted(ADAPTERS)


def adapter_for(transformer: nn.Module) -> Adapter:
    """The adapter of a transformer: a registered class first, then the diffusers table.

    Raises:
        ValueError naming the refusal's reason, or listing the supported classes.
    """
    for cls in type(transformer).__mro__:
        if cls in _REGISTERED:
            return _REGISTERED[cls]
    name = type(transformer).__name__
    if name in ADAPTERS:
        return ADAPTERS[name]
    if name in REFUSED:
        raise ValueError(f"{name} is not supported: {REFUSED[name]}")
    raise ValueError(f"unsupported transformer class {name!r}; massact supports: {', '.join(supported_classes())}; "
                     "for your own DiT, describe its blocks with massact.register")


STATUS_WORDS = {"pipeline": "end to end", "transformer": "transformer", "registered": "registered",
                "refused": "refused"}
GUIDANCE_WORDS = {"batch": "one call on [uncond; cond] rows", "batch_cond_first": "one call on [cond; uncond] rows",
                  "calls": "separate calls: cond, then uncond", "second_model": "uncond in a second transformer",
                  "none": "one call (distilled or guidance embedded)"}


def describe(bl: BlockList) -> str:
    """Where a block list's image stream is, in words: "transformer_blocks: tuple element 1"."""
    where = f"tuple element {bl.stream}" if bl.stream is not None else "the output"
    at = {"all": "", "first": ", first tokens", "last": ", last tokens", "rows": ", per-row offsets"}[bl.image_at]
    seq = ", sequence-first" if bl.seq_dim == 0 else ""
    return f"{bl.path}: {where}{at}{seq}"


@dataclass(frozen=True)
class Support:
    """One row of ``supported()``: a transformer class and what massact does with it."""

    class_name: str
    status: str  # "end to end", "transformer", "registered" or "refused"
    family: str = ""
    checkpoints: tuple[str, ...] = ()
    num_blocks: str = ""
    guidance: str = ""
    image_stream: str = ""
    note: str = ""

    def row(self) -> dict:
        return {"class": self.class_name, "status": self.status, "family": self.family,
                "checkpoints": ", ".join(self.checkpoints), "blocks": self.num_blocks, "guidance": self.guidance,
                "image stream": "; ".join(self.image_stream.split("\n")), "note": self.note}


class SupportTable(list):
    """``supported()``'s rows, printable as text and shown as a table in Jupyter."""

    COLUMNS = ("class", "status", "blocks", "guidance", "checkpoints")

    def counts(self) -> dict[str, int]:
        out: dict[str, int] = {}
        for r in self:
            out[r.status] = out.get(r.status, 0) + 1
        return out

    def __str__(self) -> str:
        rows = [[r.row()[c] for c in self.COLUMNS] for r in self]
        widths = [max(len(c), *(len(str(x[i])[:60]) for x in rows)) for i, c in enumerate(self.COLUMNS)]
        line = lambda cells: "  ".join(str(v)[:60].ljust(w) for v, w in zip(cells, widths)).rstrip()  # noqa: E731
        return "\n".join([line(self.COLUMNS), line("-" * w for w in widths)] + [line(x) for x in rows])

    def markdown(self) -> str:
        """The table in Markdown: class, status, where the image stream is, guidance, checkpoints, note."""
        cols = ("class", "status", "image stream", "guidance", "checkpoints", "note")
        esc = lambda v: str(v).replace("|", "\\|")  # noqa: E731
        lines = ["| " + " | ".join(cols) + " |", "|" + "---|" * len(cols)]
        for r in self:
            row = r.row()
            row["class"] = f"`{row['class']}`"
            lines.append("| " + " | ".join(esc(row[c]) for c in cols) + " |")
        return "\n".join(lines)

    def _repr_html_(self) -> str:
        import html

        head = "".join(f"<th>{html.escape(c)}</th>" for c in self.COLUMNS + ("image stream", "note"))
        body = "".join("<tr>" + "".join(f"<td>{html.escape(str(r.row()[c]))}</td>"
                                        for c in self.COLUMNS + ("image stream", "note")) + "</tr>" for r in self)
        return f"<table><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>"


def supported() -> SupportTable:
    """Every image DiT class of diffusers massact knows, with its status, sorted by status then name.

    Status: "end to end" (a tiny complete pipeline, ``massact.load("tiny-<family>")``, runs
    every claim), "transformer" (capture and edits proven on a tiny random transformer;
    no pipeline wrapper yet), "registered" (your own class, ``register``) or "refused" (the
    note says why and what would be needed).
    """
    rows = [Support(a.class_name, STATUS_WORDS[a.status], a.family, a.checkpoints, a.num_blocks,
                    GUIDANCE_WORDS[a.cfg_layout], "\n".join(describe(bl) for bl in a.block_lists), a.note)
            for a in list(ADAPTERS.values()) + list(_REGISTERED.values())]
    rows += [Support(name, "refused", note=why) for name, why in REFUSED.items()]
    order = list(STATUS_WORDS.values())
    return SupportTable(sorted(rows, key=lambda r: (order.index(r.status), r.class_name)))


@dataclass(frozen=True)
class BlockRef:
    index: int  # global block number, in execution order
    name: str  # e.g. "single_transformer_blocks.3"
    module: nn.Module
    spec: BlockList


def enumerate_blocks(transformer: nn.Module) -> list[BlockRef]:
    """All image-carrying blocks of a supported transformer, numbered in execution order."""
    adapter = adapter_for(transformer)
    refs: list[BlockRef] = []
    for bl in adapter.block_lists:
        try:
            blocks = transformer.get_submodule(bl.path)
        except AttributeError:
            continue  # an optional list this instance does not have
        for i, m in enumerate(blocks):
            refs.append(BlockRef(len(refs), f"{bl.path}.{i}", m, bl))
    return refs


def block_names(transformer: nn.Module) -> list[str]:
    return [b.name for b in enumerate_blocks(transformer)]


# -- the image stream of one block output ------------------------------------------------------
def _element(output, spec: BlockList) -> torch.Tensor:
    if spec.stream is not None:
        if not isinstance(output, (tuple, list)):
            raise RuntimeError(f"blocks of {spec.path} were expected to return a tuple (image at element "
                               f"{spec.stream}), got {type(output).__name__}")
        return output[spec.stream]
    if isinstance(output, (tuple, list)):  # a tensor block that also returns extras
        return output[0]
    return output


def _starts(x: torch.Tensor, spec: BlockList, tokens: CallTokens) -> int | list[int]:
    """Where the target image begins on the token axis (one int, or one per row)."""
    length = x.shape[spec.seq_dim]
    if spec.image_at == "rows":
        offsets = tokens.offsets.get(spec.path) if isinstance(tokens.offsets, dict) else tokens.offsets
        if offsets is None:
            raise RuntimeError(f"{spec.path}: per-row image offsets were not read from the input")
        if len(offsets) != x.shape[0]:
            raise RuntimeError(f"{spec.path}: {len(offsets)} row offsets for a batch of {x.shape[0]}")
        return [o + tokens.start for o in offsets]
    base = {"all": 0, "first": 0, "last": length - tokens.stream}[spec.image_at]
    end = base + tokens.start + tokens.count
    if base < 0 or end > length:
        raise RuntimeError(f"{spec.path}: the block output holds {length} tokens, fewer than the "
                           f"{tokens.stream} image-stream tokens read from the transformer's input")
    return base + tokens.start


def _rows_first(x: torch.Tensor, spec: BlockList) -> torch.Tensor:
    return x.transpose(0, 1) if spec.seq_dim == 0 else x


def split_streams(output, spec: BlockList, tokens: CallTokens):
    """(image tokens (B, N, D), text tokens (B, T, D) or None) of a block output.

    The image tokens are a view where they are one slice of the output (a copy for per-row
    offsets); the text tokens are for statistics only.
    """
    x = _element(output, spec)
    a = _starts(x, spec, tokens)
    n = tokens.count
    if isinstance(a, list):
        img = torch.stack([x[i, s:s + n] for i, s in enumerate(a)])
    else:
        img = _rows_first(x.narrow(spec.seq_dim, a, n), spec)
    txt = None
    if isinstance(spec.text, int):
        if isinstance(output, (tuple, list)) and output[spec.text] is not None:
            txt = output[spec.text]
    elif spec.text == "rest" and not isinstance(a, list):
        s0 = 0 if spec.image_at == "first" else x.shape[spec.seq_dim] - tokens.stream
        parts = [x.narrow(spec.seq_dim, 0, s0), x.narrow(spec.seq_dim, s0 + tokens.stream,
                                                         x.shape[spec.seq_dim] - s0 - tokens.stream)]
        parts = [p for p in parts if p.shape[spec.seq_dim]]
        txt = _rows_first(torch.cat(parts, dim=spec.seq_dim), spec) if parts else None
    return img, txt


def replace_image_stream(output, spec: BlockList, tokens: CallTokens, new_image: torch.Tensor):
    """The block output with its target image tokens replaced by new_image (B, N, D)."""
    x = _element(output, spec)
    a = _starts(x, spec, tokens)
    n = tokens.count
    if isinstance(a, list):
        y = x.clone()
        for i, s in enumerate(a):
            y[i, s:s + n] = new_image[i]
    else:
        d = spec.seq_dim
        new = _rows_first(new_image, spec).to(x.dtype)
        parts = [x.narrow(d, 0, a), new, x.narrow(d, a + n, x.shape[d] - a - n)]
        y = torch.cat([p for p in parts if p.shape[d]], dim=d) if len(parts) else new
    if spec.stream is not None:
        out = list(output)
        out[spec.stream] = y
        return tuple(out) if isinstance(output, tuple) else out
    if isinstance(output, (tuple, list)):
        return (y,) + tuple(output[1:])
    return y


__all__ = ["BlockList", "CallTokens", "Adapter", "ADAPTERS", "REFUSED", "NOT_IMAGE", "READERS", "register",
           "unregister", "supported", "Support", "SupportTable", "supported_classes", "adapter_for", "BlockRef",
           "enumerate_blocks", "block_names",
           "split_streams", "replace_image_stream", "forward_arg", "read_latents"]
