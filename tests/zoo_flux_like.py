"""Tiny random instances of the FLUX-like image transformers of diffusers, with where their
image tokens sit in each block's output, written by hand from the diffusers sources.

Classes: BriaTransformer2DModel, BriaFiboTransformer2DModel, ChromaTransformer2DModel,
LongCatImageTransformer2DModel, OvisImageTransformer2DModel, Flux3Transformer2DModel and
NucleusMoEImageTransformer2DModel.

Most of them are double-stream blocks (a ``(text, image)`` tuple) followed by single-stream
blocks. The single blocks differ: Bria, LongCat and Ovis split the joint sequence again and
return ``(text, image)``; BriaFibo and Chroma return the joint ``[text; image]`` tensor;
Flux3 returns ``(text, [image; references])``. NucleusMoE has one list of image-only blocks
(the text is only extra keys and values). Variants:

* ``_equal_tokens``: as many text tokens as image tokens, so that the two streams have the
  same shape and only their position tells them apart;
* ``_refs``: reference-image tokens appended after the target's tokens in the image stream
  (BriaFibo-Edit, LongCat-Image-Edit, FLUX.3 image-to-image): only the target is the image.
"""
from __future__ import annotations

import torch

from zoo_common import ZooCase, first_input, gen, seeded

HEADS, HEAD_DIM = 2, 16
WIDTH = HEADS * HEAD_DIM  # 32
ROWS, COLS = 4, 6  # the target's token grid: N = 24
TEXT = 5  # text tokens of the plain cases
REF_ROWS, REF_COLS = 2, 4  # the reference image's token grid: 8 tokens
LATENT = 16  # channels of the packed latent tokens
TEXT_DIM = 24  # channels of the text encoder's states


# --------------------------------------------------------------------------- shared pieces


def _flux_image_ids(rows: int, cols: int, plane: float = 0.0) -> torch.Tensor:
    """FLUX.1-style (t, h, w) position ids of a packed token grid, row-major, shape (rows*cols, 3)."""
    ids = torch.zeros(rows, cols, 3)
    ids[..., 0] = plane
    ids[..., 1] = torch.arange(rows)[:, None]
    ids[..., 2] = torch.arange(cols)[None, :]
    return ids.reshape(rows * cols, 3)


def _t(batch: int, value: float) -> torch.Tensor:
    """One timestep per row, as the pipelines broadcast it: ``t.expand(batch)``."""
    return torch.full((batch,), float(value))


def _pair_image(n_of):
    """(text, image) tuples whose image stream is [target; refs]: the target is the first N."""

    def image(path, out, inputs):
        return out[1][:, : n_of(inputs)]

    def replace(path, out, inputs, new):
        n = n_of(inputs)
        stream = out[1]
        return (out[0], torch.cat([new, stream[:, n:]], dim=1))

    return image, replace


def _grid_from_flux_ids(ids: torch.Tensor) -> tuple[int, int]:
    return int(ids[:, 1].unique().numel()), int(ids[:, 2].unique().numel())


# --------------------------------------------------------------------------- Bria


def _bria_build():
    from diffusers import BriaTransformer2DModel

    return BriaTransformer2DModel(
        patch_size=1,
        in_channels=LATENT,
        num_layers=1,
        num_single_layers=2,
        attention_head_dim=HEAD_DIM,
        num_attention_heads=HEADS,
        joint_attention_dim=TEXT_DIM,
        axes_dims_rope=[4, 6, 6],
    )


def _bria_inputs(text: int):
    def inputs(batch: int, seed: int) -> dict:
        g = gen(seed)
        return dict(
            hidden_states=torch.randn(batch, ROWS * COLS, LATENT, generator=g),
            timestep=_t(batch, 700.0),  # BriaPipeline passes the scheduler's t (0..1000)
            encoder_hidden_states=torch.randn(batch, text, TEXT_DIM, generator=g),
            txt_ids=torch.zeros(text, 3),
            img_ids=_flux_image_ids(ROWS, COLS),
            return_dict=False,
        )

    return inputs


def _bria_n(inputs):
    return inputs["hidden_states"].shape[1]


def _bria_case(name: str, text: int, note: str) -> ZooCase:
    image, replace = _pair_image(_bria_n)
    return ZooCase(
        name=name,
        class_name="BriaTransformer2DModel",
        build=lambda: seeded(_bria_build),
        inputs=_bria_inputs(text),
        num_image_tokens=ROWS * COLS,
        width=WIDTH,
        block_paths=("transformer_blocks", "single_transformer_blocks"),
        hand_image=image,
        hand_replace=replace,
        num_blocks=3,
        final_image=lambda model, inputs: first_input(model, model.norm_out, inputs),
        note=note,
        facts=dict(
            pipelines=("BriaPipeline",),
            checkpoints=("briaai/BRIA-3.2",),
            blocks="num_layers + num_single_layers",
            block_lists=(
                ("transformer_blocks", "tuple element 1 (the block returns (text, image))"),
                (
                    "single_transformer_blocks",
                    "tuple element 1: the block joins [text; image] inside and splits it again",
                ),
            ),
            text="tuple element 0",
            n_from_input="packed hidden_states (B,N,C): shape[1]; grid from img_ids (N,3): "
            "rows = unique(img_ids[:,1]), cols = unique(img_ids[:,2])",
            cfg="batch [uncond; cond] (torch.cat([negative_prompt_embeds, prompt_embeds]), "
            "noise_pred.chunk(2) -> uncond, text)",
            timestep_kwarg="timestep",
            image_input="hidden_states",
        ),
    )


# --------------------------------------------------------------------------- Bria FIBO

FIBO_TEXT_LAYER_DIM = 12  # one text-encoder layer; encoder_hidden_states = [last; second last]
FIBO_DOUBLE, FIBO_SINGLE = 1, 2


def _fibo_build():
    from diffusers import BriaFiboTransformer2DModel

    return BriaFiboTransformer2DModel(
        patch_size=1,
        in_channels=LATENT,
        num_layers=FIBO_DOUBLE,
        num_single_layers=FIBO_SINGLE,
        attention_head_dim=HEAD_DIM,
        num_attention_heads=HEADS,
        joint_attention_dim=2 * FIBO_TEXT_LAYER_DIM,
        axes_dims_rope=[4, 6, 6],
        text_encoder_dim=FIBO_TEXT_LAYER_DIM,
    )


def _fibo_inputs(text: int, refs: bool, masked: bool):
    def inputs(batch: int, seed: int) -> dict:
        g = gen(seed)
        n = ROWS * COLS
        r = REF_ROWS * REF_COLS if refs else 0
        latents = torch.randn(batch, n, LATENT, generator=g)
        ids = _flux_image_ids(ROWS, COLS)
        if refs:
            # BriaFiboEditPipeline: hidden_states = [target; references], each reference on its
            # own RoPE time plane 1, 2, ... (the target stays on plane 0)
            ref = torch.randn(1, r, LATENT, generator=g).repeat(batch, 1, 1)
            latents = torch.cat([latents, ref], dim=1)
            ids = torch.cat([ids, _flux_image_ids(REF_ROWS, REF_COLS, plane=1.0)], dim=0)
        kw = dict(
            hidden_states=latents,
            timestep=_t(batch, 700.0),  # the scheduler's t, not divided
            encoder_hidden_states=torch.randn(batch, text, 2 * FIBO_TEXT_LAYER_DIM, generator=g),
            text_encoder_layers=[
                torch.randn(batch, text, FIBO_TEXT_LAYER_DIM, generator=g)
                for _ in range(FIBO_DOUBLE + FIBO_SINGLE)
            ],
            txt_ids=torch.zeros(text, 3),
            img_ids=ids,
            return_dict=False,
        )
        if masked:
            # prompts padded to a common length: the pipeline passes a key-padding mask
            # (B, 1, 1, T + N) over [text; image] when anything is padded
            valid = torch.tensor([text - 2 if i % 2 == 0 else text for i in range(batch)])
            text_mask = torch.arange(text)[None, :] < valid[:, None]
            mask = torch.cat([text_mask, torch.ones(batch, n + r, dtype=torch.bool)], dim=1)
            kw["joint_attention_kwargs"] = {"attention_mask": mask[:, None, None, :]}
        return kw

    return inputs


def _fibo_n(inputs):
    # the generated image sits on RoPE time plane 0; references on planes 1, 2, ...
    return int((inputs["img_ids"][:, 0] == 0).sum())


def _fibo_image(path, out, inputs):
    n = _fibo_n(inputs)
    if path == "transformer_blocks":
        return out[1][:, :n]
    t = inputs["encoder_hidden_states"].shape[1]
    return out[:, t : t + n]


def _fibo_replace(path, out, inputs, new):
    n = _fibo_n(inputs)
    if path == "transformer_blocks":
        return (out[0], torch.cat([new, out[1][:, n:]], dim=1))
    t = inputs["encoder_hidden_states"].shape[1]
    return torch.cat([out[:, :t], new, out[:, t + n :]], dim=1)


def _fibo_case(name: str, text: int, refs: bool, masked: bool, note: str) -> ZooCase:
    return ZooCase(
        name=name,
        class_name="BriaFiboTransformer2DModel",
        build=lambda: seeded(_fibo_build),
        inputs=_fibo_inputs(text, refs, masked),
        num_image_tokens=ROWS * COLS,
        width=WIDTH,
        block_paths=("transformer_blocks", "single_transformer_blocks"),
        hand_image=_fibo_image,
        hand_replace=_fibo_replace,
        num_blocks=FIBO_DOUBLE + FIBO_SINGLE,
        # norm_out takes the whole image stream ([target; refs]); the edit pipeline slices
        # noise_pred[:, :N] afterwards
        final_image=lambda model, inputs: first_input(model, model.norm_out, inputs)[:, : _fibo_n(inputs)],
        note=note,
        facts=dict(
            pipelines=("BriaFiboPipeline", "BriaFiboEditPipeline"),
            checkpoints=("briaai/FIBO", "briaai/Fibo-Edit-1.5-base", "briaai/Fibo-Edit-1.5-turbo"),
            blocks="num_layers + num_single_layers",
            block_lists=(
                ("transformer_blocks", "tuple element 1 (text 0); edit: element 1 is [target; refs], first N"),
                (
                    "single_transformer_blocks",
                    "joint tensor [text; image(; refs)]: tokens T..T+N, T = encoder_hidden_states.shape[1]; "
                    "without refs the last N",
                ),
            ),
            text="tuple element 0 / the first T of the joint tensor; before each block the model "
            "replaces the upper half of the text channels with that block's projected text-encoder layer",
            n_from_input="packed hidden_states (B,N,C): shape[1] for text-to-image; with references "
            "(img_ids[:,0] == 0).sum(); grid from the plane-0 img_ids: unique rows of [:,1], cols of [:,2]",
            cfg="batch [uncond; cond] when guidance_scale > 1 (noise_pred.chunk(2) -> uncond, text)",
            timestep_kwarg="timestep",
            image_input="hidden_states",
        ),
    )


# --------------------------------------------------------------------------- Chroma

CHROMA_DOUBLE, CHROMA_SINGLE = 1, 2


def _chroma_build():
    from diffusers import ChromaTransformer2DModel

    return ChromaTransformer2DModel(
        patch_size=1,
        in_channels=LATENT,
        num_layers=CHROMA_DOUBLE,
        num_single_layers=CHROMA_SINGLE,
        attention_head_dim=HEAD_DIM,
        num_attention_heads=HEADS,
        joint_attention_dim=TEXT_DIM,
        axes_dims_rope=(4, 6, 6),
        approximator_num_channels=16,
        approximator_hidden_dim=32,
        approximator_layers=1,
    )


def _chroma_inputs(text: int):
    def inputs(batch: int, seed: int) -> dict:
        g = gen(seed)
        n = ROWS * COLS
        # T5 prompts padded to max_sequence_length; every token after the first pad is masked
        # (mask = position <= number of real tokens), and the image tokens are appended as ones
        real = torch.tensor([text - 3 if i % 2 == 0 else text - 1 for i in range(batch)])
        text_mask = (torch.arange(text)[None, :] <= real[:, None]).float()
        mask = torch.cat([text_mask, torch.ones(batch, n, dtype=torch.bool)], dim=1)
        return dict(
            hidden_states=torch.randn(batch, n, LATENT, generator=g),
            timestep=_t(batch, 0.7),  # ChromaPipeline passes t / 1000
            encoder_hidden_states=torch.randn(batch, text, TEXT_DIM, generator=g),
            txt_ids=torch.zeros(text, 3),
            img_ids=_flux_image_ids(ROWS, COLS),
            attention_mask=mask,
            return_dict=False,
        )

    return inputs


def _chroma_image(path, out, inputs):
    if path == "transformer_blocks":
        return out[1]
    t = inputs["encoder_hidden_states"].shape[1]
    return out[:, t:]


def _chroma_replace(path, out, inputs, new):
    if path == "transformer_blocks":
        return (out[0], new)
    t = inputs["encoder_hidden_states"].shape[1]
    return torch.cat([out[:, :t], new], dim=1)


def _chroma_case(name: str, text: int, note: str) -> ZooCase:
    return ZooCase(
        name=name,
        class_name="ChromaTransformer2DModel",
        build=lambda: seeded(_chroma_build),
        inputs=_chroma_inputs(text),
        num_image_tokens=ROWS * COLS,
        width=WIDTH,
        block_paths=("transformer_blocks", "single_transformer_blocks"),
        hand_image=_chroma_image,
        hand_replace=_chroma_replace,
        num_blocks=CHROMA_DOUBLE + CHROMA_SINGLE,
        final_image=lambda model, inputs: first_input(model, model.norm_out, inputs),
        note=note,
        facts=dict(
            pipelines=("ChromaPipeline", "ChromaImg2ImgPipeline", "ChromaInpaintPipeline"),
            checkpoints=("lodestones/Chroma1-HD",),
            blocks="num_layers + num_single_layers",
            block_lists=(
                ("transformer_blocks", "tuple element 1 (the block returns (text, image))"),
                (
                    "single_transformer_blocks",
                    "last N of the joint tensor [text; image] (T = encoder_hidden_states.shape[1], "
                    "the padded T5 length)",
                ),
            ),
            text="tuple element 0 / the first T of the joint tensor",
            n_from_input="packed hidden_states (B,N,C): shape[1]; grid from img_ids (N,3): "
            "unique rows of [:,1], cols of [:,2]",
            cfg="calls: cond then uncond (negative_prompt_embeds, negative_attention_mask)",
            timestep_kwarg="timestep",
            image_input="hidden_states",
        ),
    )


# --------------------------------------------------------------------------- LongCat-Image

LONGCAT_MAX_TEXT = 512  # tokenizer_max_length: where the text-to-image pipeline starts the image ids


def _longcat_build():
    from diffusers import LongCatImageTransformer2DModel

    return LongCatImageTransformer2DModel(
        patch_size=1,
        in_channels=LATENT,
        num_layers=1,
        num_single_layers=2,
        attention_head_dim=HEAD_DIM,
        num_attention_heads=HEADS,
        joint_attention_dim=TEXT_DIM,
        pooled_projection_dim=TEXT_DIM,
        axes_dims_rope=[4, 6, 6],
    )


def _longcat_ids(modality: int, start: int, rows: int, cols: int) -> torch.Tensor:
    """prepare_pos_ids(modality_id, "image", start=(start, start), height=rows, width=cols)."""
    ids = torch.zeros(rows, cols, 3)
    ids[..., 0] = modality
    ids[..., 1] = torch.arange(rows)[:, None] + start
    ids[..., 2] = torch.arange(cols)[None, :] + start
    return ids.reshape(rows * cols, 3)


def _longcat_inputs(text: int, refs: bool):
    def inputs(batch: int, seed: int) -> dict:
        g = gen(seed)
        latents = torch.randn(batch, ROWS * COLS, LATENT, generator=g)
        txt_ids = torch.zeros(text, 3)
        txt_ids[:, 1] = torch.arange(text)
        txt_ids[:, 2] = torch.arange(text)
        if refs:
            # LongCatImageEditPipeline: hidden_states = [target; reference] (the reference is
            # encoded at the target's size), ids start after the prompt, modality 1 / 2
            ref = torch.randn(batch, ROWS * COLS, LATENT, generator=g)
            latents = torch.cat([latents, ref], dim=1)
            img_ids = torch.cat(
                [_longcat_ids(1, text, ROWS, COLS), _longcat_ids(2, text, ROWS, COLS)], dim=0
            )
        else:
            img_ids = _longcat_ids(1, LONGCAT_MAX_TEXT, ROWS, COLS)
        return dict(
            hidden_states=latents,
            timestep=_t(batch, 0.7),  # t / 1000
            guidance=None,
            encoder_hidden_states=torch.randn(batch, text, TEXT_DIM, generator=g),
            txt_ids=txt_ids,
            img_ids=img_ids,
            return_dict=False,
        )

    return inputs


def _longcat_n(inputs):
    return int((inputs["img_ids"][:, 0] == 1).sum())  # modality 1: the generated image


def _longcat_case(name: str, text: int, refs: bool, note: str) -> ZooCase:
    image, replace = _pair_image(_longcat_n)
    return ZooCase(
        name=name,
        class_name="LongCatImageTransformer2DModel",
        build=lambda: seeded(_longcat_build),
        inputs=_longcat_inputs(text, refs),
        num_image_tokens=ROWS * COLS,
        width=WIDTH,
        block_paths=("transformer_blocks", "single_transformer_blocks"),
        hand_image=image,
        hand_replace=replace,
        num_blocks=3,
        final_image=lambda model, inputs: first_input(model, model.norm_out, inputs)[:, : _longcat_n(inputs)],
        note=note,
        facts=dict(
            pipelines=("LongCatImagePipeline", "LongCatImageEditPipeline"),
            checkpoints=("meituan-longcat/LongCat-Image", "meituan-longcat/LongCat-Image-Edit"),
            blocks="num_layers + num_single_layers",
            block_lists=(
                ("transformer_blocks", "tuple element 1; edit: element 1 is [target; ref], first N"),
                (
                    "single_transformer_blocks",
                    "tuple element 1 (joined and split again inside the block); edit: first N of [target; ref]",
                ),
            ),
            text="tuple element 0",
            n_from_input="packed hidden_states (B,N,C): shape[1] for text-to-image; with a reference "
            "(img_ids[:,0] == 1).sum() (modality 1 = target, 2 = reference); grid: unique rows of "
            "img_ids[:,1], cols of img_ids[:,2] over the modality-1 ids",
            cfg="calls: cond then uncond (edit: both sliced to [:, :N] by the pipeline)",
            timestep_kwarg="timestep",
            image_input="hidden_states",
        ),
    )


# --------------------------------------------------------------------------- Ovis-Image


def _ovis_build():
    from diffusers import OvisImageTransformer2DModel

    return OvisImageTransformer2DModel(
        patch_size=1,
        in_channels=LATENT,
        out_channels=LATENT,
        num_layers=1,
        num_single_layers=2,
        attention_head_dim=HEAD_DIM,
        num_attention_heads=HEADS,
        joint_attention_dim=TEXT_DIM,
        axes_dims_rope=(4, 6, 6),
    )


def _ovis_inputs(text: int):
    def inputs(batch: int, seed: int) -> dict:
        g = gen(seed)
        txt_ids = torch.zeros(text, 3)
        txt_ids[:, 1] = torch.arange(text)
        txt_ids[:, 2] = torch.arange(text)
        return dict(
            hidden_states=torch.randn(batch, ROWS * COLS, LATENT, generator=g),
            timestep=_t(batch, 0.7),  # t / 1000
            encoder_hidden_states=torch.randn(batch, text, TEXT_DIM, generator=g),
            txt_ids=txt_ids,
            img_ids=_flux_image_ids(ROWS, COLS),
            return_dict=False,
        )

    return inputs


def _ovis_case(name: str, text: int, note: str) -> ZooCase:
    image, replace = _pair_image(lambda inputs: inputs["hidden_states"].shape[1])
    return ZooCase(
        name=name,
        class_name="OvisImageTransformer2DModel",
        build=lambda: seeded(_ovis_build),
        inputs=_ovis_inputs(text),
        num_image_tokens=ROWS * COLS,
        width=WIDTH,
        block_paths=("transformer_blocks", "single_transformer_blocks"),
        hand_image=image,
        hand_replace=replace,
        num_blocks=3,
        final_image=lambda model, inputs: first_input(model, model.norm_out, inputs),
        note=note,
        facts=dict(
            pipelines=("OvisImagePipeline",),
            checkpoints=("AIDC-AI/Ovis-Image-7B",),
            blocks="num_layers + num_single_layers",
            block_lists=(
                ("transformer_blocks", "tuple element 1"),
                ("single_transformer_blocks", "tuple element 1 (joined and split again inside the block)"),
            ),
            text="tuple element 0",
            n_from_input="packed hidden_states (B,N,C): shape[1]; grid from img_ids (N,3): "
            "unique rows of [:,1], cols of [:,2]",
            cfg="calls: cond then uncond",
            timestep_kwarg="timestep",
            image_input="hidden_states",
        ),
    )


# --------------------------------------------------------------------------- FLUX.3

FLUX3_MODE, FLUX3_SINGLE = 2, 2
FLUX3_ROPE_SCALE = 0.5


def _flux3_build():
    from diffusers import Flux3Transformer2DModel

    return Flux3Transformer2DModel(
        in_channels=LATENT,
        cond_in_channels=LATENT,
        num_layers=FLUX3_MODE,
        num_single_layers=FLUX3_SINGLE,
        attention_head_dim=HEAD_DIM,
        num_attention_heads=HEADS,
        joint_attention_dim=TEXT_DIM,
        timestep_channels=32,
        axes_dims_rope=(4, 4, 4, 4),
    )


def _flux3_image_ids(rows: int, cols: int, l_coord: int = 0) -> torch.Tensor:
    """(t, h, w, l) ids of a token grid: h and w scaled by the image RoPE scale, a constant l."""
    ids = torch.cartesian_prod(
        torch.arange(1), torch.arange(rows), torch.arange(cols), torch.tensor([l_coord])
    ).float()
    ids[:, 1:3] = ids[:, 1:3] * FLUX3_ROPE_SCALE
    return ids


def _flux3_inputs(text: int, refs: bool):
    def inputs(batch: int, seed: int) -> dict:
        g = gen(seed)
        txt_ids = torch.cartesian_prod(
            torch.arange(1), torch.arange(1), torch.arange(1), torch.arange(text)
        ).float()
        kw = dict(
            hidden_states=torch.randn(batch, ROWS * COLS, LATENT, generator=g),
            timestep=_t(batch, 0.7),  # t / 1000
            encoder_hidden_states=torch.randn(batch, text, TEXT_DIM, generator=g),
            txt_ids=txt_ids,
            img_ids=_flux3_image_ids(ROWS, COLS),
            return_dict=False,
        )
        if refs:
            # image-to-image: the references are their own input, told apart on the l axis
            kw["image_cond_hidden_states"] = torch.randn(
                batch, REF_ROWS * REF_COLS, LATENT, generator=g
            )
            kw["image_cond_ids"] = _flux3_image_ids(REF_ROWS, REF_COLS, l_coord=-1)
        return kw

    return inputs


def _flux3_n(inputs):
    return inputs["hidden_states"].shape[1]  # references come in image_cond_hidden_states


def _flux3_image(path, out, inputs):
    if path == "mode_blocks.image":
        return out
    return out[1][:, : _flux3_n(inputs)]


def _flux3_replace(path, out, inputs, new):
    if path == "mode_blocks.image":
        return new
    n = _flux3_n(inputs)
    return (out[0], torch.cat([new, out[1][:, n:]], dim=1))


def _flux3_case(name: str, text: int, refs: bool, note: str) -> ZooCase:
    return ZooCase(
        name=name,
        class_name="Flux3Transformer2DModel",
        build=lambda: seeded(_flux3_build),
        inputs=_flux3_inputs(text, refs),
        num_image_tokens=ROWS * COLS,
        width=WIDTH,
        block_paths=("mode_blocks.image", "single_transformer_blocks"),
        hand_image=_flux3_image,
        hand_replace=_flux3_replace,
        num_blocks=FLUX3_MODE + FLUX3_SINGLE,
        # the model slices content_states[:, :N] before norm_out
        final_image=lambda model, inputs: first_input(model, model.norm_out, inputs),
        note=note,
        facts=dict(
            pipelines=("Flux3ModularPipeline", "Flux3DistilledModularPipeline"),
            checkpoints=(),
            blocks="num_layers (mode_blocks['image']) + num_single_layers",
            block_lists=(
                ("txt_mode_blocks", "text only"),
                ("mode_blocks.image", "tensor (image only)"),
                (
                    "mode_blocks.image_cond",
                    "reference tokens only (runs only with image_cond_hidden_states): no target tokens",
                ),
                (
                    "single_transformer_blocks",
                    "tuple element 1 = [target; refs]: first N (text is element 0)",
                ),
            ),
            text="txt_mode_blocks' output, then tuple element 0 of the single blocks",
            n_from_input="packed hidden_states (B,N,C): shape[1] (references arrive separately in "
            "image_cond_hidden_states); grid from img_ids (N,4): unique rows of [:,1], cols of [:,2]",
            cfg="calls: cond then uncond (ClassifierFreeGuidance guider); distilled flow-map model: "
            "one call with target_timestep",
            timestep_kwarg="timestep",
            image_input="hidden_states",
        ),
    )


# --------------------------------------------------------------------------- NucleusMoE-Image

NUCLEUS_HEAD_DIM = 32  # the dense FFN's inner width is int(dim * 8/3) // 128 * 128: dim 64 -> 128
NUCLEUS_WIDTH = HEADS * NUCLEUS_HEAD_DIM
NUCLEUS_PATCH = 2


def _nucleus_build():
    from diffusers import NucleusMoEImageTransformer2DModel

    model = NucleusMoEImageTransformer2DModel(
        patch_size=NUCLEUS_PATCH,
        in_channels=LATENT,
        num_layers=2,
        attention_head_dim=NUCLEUS_HEAD_DIM,
        num_attention_heads=HEADS,
        joint_attention_dim=TEXT_DIM,
        axes_dims_rope=(8, 12, 12),
        moe_enabled=True,
        dense_moe_strategy="leave_first_block_dense",  # block 0 dense, block 1 MoE
        num_experts=4,
        moe_intermediate_dim=32,
        capacity_factors=2.0,
    )
    # the routed experts' weights are created with torch.empty: give them values
    for block in model.transformer_blocks:
        if block.moe_enabled:
            torch.nn.init.normal_(block.img_mlp.experts.gate_up_proj, std=0.1)
            torch.nn.init.normal_(block.img_mlp.experts.down_proj, std=0.1)
    return model


def _nucleus_inputs(batch: int, seed: int) -> dict:
    g = gen(seed)
    text = TEXT + 3
    # prompts padded to the longest ("pad_to_multiple_of=8"): row 0 has 3 padding tokens
    mask = torch.ones(batch, text, dtype=torch.long)
    mask[0, -3:] = 0
    return dict(
        hidden_states=torch.randn(batch, ROWS * COLS, LATENT, generator=g),
        img_shapes=[(1, ROWS, COLS)] * batch,
        encoder_hidden_states=torch.randn(batch, text, TEXT_DIM, generator=g),
        encoder_hidden_states_mask=mask,
        timestep=_t(batch, 0.7),  # t / num_train_timesteps
        return_dict=False,
    )


def _nucleus_case() -> ZooCase:
    return ZooCase(
        name="nucleusmoe",
        class_name="NucleusMoEImageTransformer2DModel",
        build=lambda: seeded(_nucleus_build),
        inputs=_nucleus_inputs,
        num_image_tokens=ROWS * COLS,
        width=NUCLEUS_WIDTH,
        block_paths=("transformer_blocks",),
        hand_image=lambda path, out, inputs: out,
        hand_replace=lambda path, out, inputs, new: new,
        num_blocks=2,
        final_image=lambda model, inputs: first_input(model, model.norm_out, inputs),
        note="image-only blocks: the image tokens are the queries, [image; text] the keys and values; "
        "one dense block and one expert-choice MoE block; padded prompt in row 0",
        facts=dict(
            pipelines=("NucleusMoEImagePipeline",),
            checkpoints=("NucleusAI/NucleusMoE-Image",),
            blocks="num_layers",
            block_lists=(("transformer_blocks", "tensor (image only)"),),
            text="none: extra keys/values of every block's attention (projected per block, never updated)",
            n_from_input="packed hidden_states (B,N,C): shape[1] = prod(img_shapes[0]); grid "
            "(img_shapes[0][1], img_shapes[0][2])",
            cfg="calls: cond then uncond (norm-rescaled combination)",
            timestep_kwarg="timestep",
            image_input="hidden_states",
        ),
    )


# --------------------------------------------------------------------------- the cases

N = ROWS * COLS

CASES: list[ZooCase] = [
    _bria_case("bria", TEXT, "double then single blocks, both return (text, image)"),
    _bria_case("bria_equal_tokens", N, "text length == N: both tuple elements are (B, N, D)"),
    _fibo_case(
        "bria_fibo",
        TEXT,
        refs=False,
        masked=True,
        note="single blocks return the joint [text; image]; rows with different valid text lengths "
        "(key-padding mask), the image still starts at T",
    ),
    _fibo_case(
        "bria_fibo_equal_tokens",
        N,
        refs=False,
        masked=False,
        note="text length == N: the joint tensor's halves have the same length",
    ),
    _fibo_case(
        "bria_fibo_refs",
        TEXT,
        refs=True,
        masked=False,
        note="edit: hidden_states = [target; reference], the reference on RoPE time plane 1",
    ),
    _chroma_case(
        "chroma",
        TEXT,
        "single blocks return the joint [text; image]; padded T5 text with the pipeline's mask "
        "(a float 0/1 text part joined with boolean ones, so it reaches the attention as a float, "
        "added to the scores rather than masking)",
    ),
    _chroma_case("chroma_equal_tokens", N, "text length == N"),
    _longcat_case("longcat", TEXT, refs=False, note="double then single blocks, both return (text, image)"),
    _longcat_case("longcat_equal_tokens", N, refs=False, note="text length == N"),
    _longcat_case(
        "longcat_refs",
        TEXT,
        refs=True,
        note="edit: hidden_states = [target; reference] of equal size (modality ids 1 and 2)",
    ),
    _ovis_case("ovis", TEXT, "double then single blocks, both return (text, image)"),
    _ovis_case("ovis_equal_tokens", N, "text length == N"),
    _flux3_case(
        "flux3",
        TEXT,
        refs=False,
        note="per-mode image blocks (a ModuleDict entry) then single blocks returning (text, image)",
    ),
    _flux3_case("flux3_equal_tokens", N, refs=False, note="text length == N"),
    _flux3_case(
        "flux3_refs",
        TEXT,
        refs=True,
        note="reference tokens run through mode_blocks.image_cond, then join the single blocks' "
        "image stream as [target; refs]",
    ),
    _nucleus_case(),
]
