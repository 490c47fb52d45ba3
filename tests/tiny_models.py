"""Tiny randomly initialised instances of every transformer class massact supports.

Each builds on the CPU in milliseconds from a diffusers config (no download) and runs a
forward pass in milliseconds. For each class there is a ``build_<family>()`` returning the
model (float32, eval mode, seeded weights) and a ``<family>_inputs(batch, ...)`` returning
forward kwargs for ``batch`` rows (seeded, ``return_dict=False``), so
``model(**inputs)[0]`` is the prediction.

``CASES`` lists them as ``TinyCase`` objects (used by the parametrised adapter tests),
including the FLUX.1-schnell pitfall: a case whose text token count EQUALS its image token
count, for Flux and Flux2 (``flux_equal_tokens``, ``flux2_equal_tokens``).

Checked against diffusers 0.42.1 (the sources in
diffusers/models/transformers/).
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

import torch
from torch import nn

#: shared tiny sizes: 2 heads x 16 = width 32; text features 32
HEADS, HEAD_DIM = 2, 16
WIDTH = HEADS * HEAD_DIM
TEXT_DIM = 32


def _seeded(build: Callable[[], nn.Module], seed: int = 0) -> nn.Module:
    torch.manual_seed(seed)
    return build().eval().requires_grad_(False)


def _gen(seed: int) -> torch.Generator:
    return torch.Generator("cpu").manual_seed(seed)


def _grid_ids(h: int, w: int, axes: int) -> torch.Tensor:
    """Flux-style position ids (h*w, axes): axis 1 = row, axis 2 = column, row-major."""
    ids = torch.zeros(h, w, axes)
    ids[..., 1] = torch.arange(h)[:, None]
    ids[..., 2] = torch.arange(w)[None, :]
    return ids.reshape(h * w, axes)


# -- FLUX.1: FluxTransformer2DModel -------------------------------------------------------
def build_flux(num_layers: int = 2, num_single_layers: int = 2, heads: int = HEADS, head_dim: int = HEAD_DIM,
               in_channels: int = 4, seed: int = 0) -> nn.Module:
    from diffusers import FluxTransformer2DModel

    # axes_dims_rope must sum to attention_head_dim
    rope = (head_dim // 4, head_dim // 4, head_dim // 2)
    return _seeded(lambda: FluxTransformer2DModel(
        patch_size=1, in_channels=in_channels, num_layers=num_layers, num_single_layers=num_single_layers,
        attention_head_dim=head_dim, num_attention_heads=heads, joint_attention_dim=TEXT_DIM,
        pooled_projection_dim=TEXT_DIM, guidance_embeds=False, axes_dims_rope=rope), seed)


def flux_inputs(batch: int, grid: tuple[int, int] = (4, 4), text_tokens: int = 8, in_channels: int = 4,
                seed: int = 0) -> dict:
    """Packed image tokens (B, h*w, C), text (B, T, 32), pooled (B, 32), timestep in [0, 1]."""
    g = _gen(seed)
    h, w = grid
    return dict(hidden_states=torch.randn(batch, h * w, in_channels, generator=g),
                encoder_hidden_states=torch.randn(batch, text_tokens, TEXT_DIM, generator=g),
                pooled_projections=torch.randn(batch, TEXT_DIM, generator=g),
                timestep=torch.rand(batch, generator=g),
                img_ids=_grid_ids(h, w, 3), txt_ids=torch.zeros(text_tokens, 3), return_dict=False)


# -- FLUX.2: Flux2Transformer2DModel -------------------------------------------------------
def build_flux2(num_layers: int = 2, num_single_layers: int = 2, seed: int = 0) -> nn.Module:
    from diffusers import Flux2Transformer2DModel

    return _seeded(lambda: Flux2Transformer2DModel(
        patch_size=1, in_channels=4, num_layers=num_layers, num_single_layers=num_single_layers,
        attention_head_dim=HEAD_DIM, num_attention_heads=HEADS, joint_attention_dim=TEXT_DIM,
        timestep_guidance_channels=32, axes_dims_rope=(4, 4, 4, 4), guidance_embeds=False), seed)


def flux2_inputs(batch: int, grid: tuple[int, int] = (4, 4), text_tokens: int = 8, seed: int = 0) -> dict:
    """Like Flux, no pooled projection; 4-axis position ids."""
    g = _gen(seed)
    h, w = grid
    return dict(hidden_states=torch.randn(batch, h * w, 4, generator=g),
                encoder_hidden_states=torch.randn(batch, text_tokens, TEXT_DIM, generator=g),
                timestep=torch.rand(batch, generator=g),
                img_ids=_grid_ids(h, w, 4), txt_ids=torch.zeros(text_tokens, 4), return_dict=False)


# -- Qwen-Image: QwenImageTransformer2DModel --------------------------------------------------
def build_qwen_image(num_layers: int = 2, seed: int = 0) -> nn.Module:
    from diffusers import QwenImageTransformer2DModel

    # axes_dims_rope must sum to attention_head_dim (each even)
    return _seeded(lambda: QwenImageTransformer2DModel(
        patch_size=2, in_channels=16, out_channels=4, num_layers=num_layers, attention_head_dim=HEAD_DIM,
        num_attention_heads=HEADS, joint_attention_dim=TEXT_DIM, axes_dims_rope=(4, 6, 6)), seed)


def qwen_image_inputs(batch: int, grid: tuple[int, int] = (4, 4), text_tokens: int = 8, seed: int = 0) -> dict:
    """Packed 2x2 latent patches (B, h*w, 16); img_shapes one (frames, h, w) per row."""
    g = _gen(seed)
    h, w = grid
    return dict(hidden_states=torch.randn(batch, h * w, 16, generator=g),
                encoder_hidden_states=torch.randn(batch, text_tokens, TEXT_DIM, generator=g),
                encoder_hidden_states_mask=torch.ones(batch, text_tokens, dtype=torch.long),
                timestep=torch.rand(batch, generator=g),
                img_shapes=[[(1, h, w)]] * batch, return_dict=False)


# -- SD3: SD3Transformer2DModel ------------------------------------------------------------
def build_sd3(num_layers: int = 3, seed: int = 0) -> nn.Module:
    from diffusers import SD3Transformer2DModel

    return _seeded(lambda: SD3Transformer2DModel(
        sample_size=8, patch_size=2, in_channels=4, out_channels=4, num_layers=num_layers,
        attention_head_dim=HEAD_DIM, num_attention_heads=HEADS, joint_attention_dim=TEXT_DIM,
        caption_projection_dim=WIDTH, pooled_projection_dim=TEXT_DIM, pos_embed_max_size=8), seed)


def sd3_inputs(batch: int, size: int = 8, text_tokens: int = 8, seed: int = 0) -> dict:
    """Latents (B, 4, size, size) -> (size/2)^2 image tokens; timestep in [0, 1000]."""
    g = _gen(seed)
    return dict(hidden_states=torch.randn(batch, 4, size, size, generator=g),
                encoder_hidden_states=torch.randn(batch, text_tokens, TEXT_DIM, generator=g),
                pooled_projections=torch.randn(batch, TEXT_DIM, generator=g),
                timestep=torch.rand(batch, generator=g) * 1000, return_dict=False)


# -- Sana: SanaTransformer2DModel ------------------------------------------------------------
def build_sana(num_layers: int = 2, seed: int = 0) -> nn.Module:
    from diffusers import SanaTransformer2DModel

    return _seeded(lambda: SanaTransformer2DModel(
        in_channels=4, out_channels=4, num_attention_heads=HEADS, attention_head_dim=HEAD_DIM,
        num_layers=num_layers, num_cross_attention_heads=HEADS, cross_attention_head_dim=HEAD_DIM,
        cross_attention_dim=WIDTH, caption_channels=TEXT_DIM, sample_size=8, patch_size=2), seed)


def sana_inputs(batch: int, size: int = 8, text_tokens: int = 8, seed: int = 0) -> dict:
    g = _gen(seed)
    return dict(hidden_states=torch.randn(batch, 4, size, size, generator=g),
                encoder_hidden_states=torch.randn(batch, text_tokens, TEXT_DIM, generator=g),
                timestep=torch.rand(batch, generator=g) * 1000, return_dict=False)


# -- PixArt: PixArtTransformer2DModel ----------------------------------------------------------
def build_pixart(num_layers: int = 2, seed: int = 0) -> nn.Module:
    from diffusers import PixArtTransformer2DModel

    return _seeded(lambda: PixArtTransformer2DModel(
        num_attention_heads=HEADS, attention_head_dim=HEAD_DIM, in_channels=4, out_channels=8,
        num_layers=num_layers, cross_attention_dim=WIDTH, caption_channels=TEXT_DIM, sample_size=8,
        patch_size=2), seed)


def pixart_inputs(batch: int, size: int = 8, text_tokens: int = 8, seed: int = 0) -> dict:
    g = _gen(seed)
    return dict(hidden_states=torch.randn(batch, 4, size, size, generator=g),
                encoder_hidden_states=torch.randn(batch, text_tokens, TEXT_DIM, generator=g),
                timestep=torch.rand(batch, generator=g) * 1000,
                added_cond_kwargs={"resolution": None, "aspect_ratio": None}, return_dict=False)


# -- the table the tests iterate ----------------------------------------------------------------
@dataclass(frozen=True)
class TinyCase:
    name: str  # pytest id
    class_name: str  # key in massact.adapters.ADAPTERS
    build: Callable[[], nn.Module]
    inputs: Callable[..., dict]  # inputs(batch, seed=0) -> forward kwargs
    num_image_tokens: int
    num_text_tokens: int
    num_blocks: int

    @property
    def width(self) -> int:
        return WIDTH


CASES: list[TinyCase] = [
    TinyCase("flux", "FluxTransformer2DModel", build_flux,
             lambda b, seed=0: flux_inputs(b, text_tokens=8, seed=seed), 16, 8, 4),
    # FLUX.1-schnell at 256 px: 256 text and 256 image tokens; here 16 and 16
    TinyCase("flux_equal_tokens", "FluxTransformer2DModel", build_flux,
             lambda b, seed=0: flux_inputs(b, text_tokens=16, seed=seed), 16, 16, 4),
    TinyCase("flux2", "Flux2Transformer2DModel", build_flux2,
             lambda b, seed=0: flux2_inputs(b, text_tokens=8, seed=seed), 16, 8, 4),
    TinyCase("flux2_equal_tokens", "Flux2Transformer2DModel", build_flux2,
             lambda b, seed=0: flux2_inputs(b, text_tokens=16, seed=seed), 16, 16, 4),
    TinyCase("qwen_image", "QwenImageTransformer2DModel", build_qwen_image,
             lambda b, seed=0: qwen_image_inputs(b, seed=seed), 16, 8, 2),
    TinyCase("sd3", "SD3Transformer2DModel", build_sd3, lambda b, seed=0: sd3_inputs(b, seed=seed), 16, 8, 3),
    TinyCase("sana", "SanaTransformer2DModel", build_sana, lambda b, seed=0: sana_inputs(b, seed=seed), 16, 8, 2),
    TinyCase("pixart", "PixArtTransformer2DModel", build_pixart,
             lambda b, seed=0: pixart_inputs(b, seed=seed), 16, 8, 2),
]
CASES_BY_NAME = {c.name: c for c in CASES}


# -- helpers the tests share (not part of the package) ---------------------------------------
def hooks_installed(module: nn.Module) -> int:
    """How many forward / pre-forward hooks are attached anywhere in module."""
    return sum(len(m._forward_hooks) + len(m._forward_pre_hooks) for m in module.modules())


def apply_edit(edit, block: int, step: int, x: torch.Tensor) -> torch.Tensor:
    """x (rows, tokens, channels) edited by ``edit`` at (block, step), as a new tensor: the
    hook's own arithmetic (``massact.hooks._EditPlan``), so a test can compare formulas."""
    from massact.hooks import _EditPlan

    out = x.clone()
    _EditPlan(edit, block).apply_(step, out)
    return out
