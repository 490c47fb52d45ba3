"""A model massact can study: the transformer, its adapter, and a sampler that makes images.

``load("toy")`` gives the embedded toy model (``massact.toy``); ``load("<hub id>")`` or
``load(pipeline)`` wraps a diffusers text-to-image pipeline whose transformer class is in
``adapters.ADAPTERS``. Every sampler returns float32 images (B, 3, H, W) in [0, 1] and
takes one seed per image (a ``torch.Generator("cpu")`` each), so the same seed gives the
same image whatever else is in the batch.
"""
from __future__ import annotations

import warnings
from typing import Sequence

import torch
from torch import nn

from .adapters import ADAPTERS, Adapter, BlockRef, adapter_for, enumerate_blocks, supported_classes
from .hooks import BatchLayout


class MassactModel:
    """Base class: subclasses set ``transformer`` and implement ``sample``."""

    name: str = "model"
    transformer: nn.Module
    default_steps: int = 20
    default_guidance: float = 1.0
    height: int
    width_px: int

    @property
    def adapter(self) -> Adapter:
        return adapter_for(self.transformer)

    @property
    def blocks(self) -> list[BlockRef]:
        return enumerate_blocks(self.transformer)

    @property
    def num_blocks(self) -> int:
        return len(self.blocks)

    @property
    def width(self) -> int:
        """Hidden size (number of channels) of the image stream."""
        cfg = self.transformer.config
        return int(cfg.num_attention_heads * cfg.attention_head_dim)

    def token_grid(self) -> tuple[int, int]:
        """(rows, cols) of image tokens, row-major, at the model's current resolution."""
        raise NotImplementedError

    @property
    def num_image_tokens(self) -> int:
        h, w = self.token_grid()
        return h * w

    def batch_layout(self, num_rows: int, guidance: float) -> BatchLayout:
        cfg = self.adapter.cfg_layout
        if guidance > 1.0 and cfg == "batch":
            return BatchLayout(num_rows, batch_branches=("uncond", "cond"))
        if guidance > 1.0 and cfg == "calls":
            return BatchLayout(num_rows, calls_per_step=2, call_branches=("cond", "uncond"))
        return BatchLayout(num_rows)

    def sample(self, prompts: Sequence[str], seeds: Sequence[int], steps: int, guidance: float,
               progress: bool = False) -> torch.Tensor:
        raise NotImplementedError

    def validate_prompts(self, prompts: Sequence[str]) -> None:
        if isinstance(prompts, str):
            raise TypeError("prompts must be a list of strings, e.g. ['a red circle']")
        if len(prompts) == 0:
            raise ValueError("empty prompt list: give at least one prompt")
        for p in prompts:
            if not isinstance(p, str) or not p.strip():
                raise ValueError(f"prompt {p!r} is empty or not a string")


#: family -> how many pixels one image token covers (VAE factor x patch size)
PIXELS_PER_TOKEN = {"flux": 16, "flux2": 16, "qwen-image": 16, "sd3": 16, "pixart": 16, "sana": 32}


class PipelineModel(MassactModel):
    """A diffusers text-to-image pipeline with a supported transformer."""

    def __init__(self, pipe, name: str | None = None, height: int | None = None, width: int | None = None,
                 steps: int | None = None, guidance: float | None = None):
        transformer = getattr(pipe, "transformer", None)
        if transformer is None:
            raise ValueError(f"pipeline {type(pipe).__name__} has no .transformer; massact supports pipelines whose "
                             f"transformer is one of: {', '.join(supported_classes())}")
        adapter_for(transformer)  # clear error for unsupported classes
        self.pipe, self.transformer = pipe, transformer
        self.name = name or type(pipe).__name__
        self.height = height or 512
        self.width_px = width or self.height
        px = PIXELS_PER_TOKEN[self.adapter.family]
        for what, v in (("height", self.height), ("width", self.width_px)):
            if v % px:
                raise ValueError(f"image {what} {v} must be a multiple of {px} px for {self.adapter.family}")
        self.default_steps = steps or 20
        self.default_guidance = guidance if guidance is not None else (1.0 if self.adapter.cfg_layout == "none" else 4.5)
        dtype = next(transformer.parameters()).dtype
        if dtype == torch.float16 and self.adapter.family in ("flux", "flux2"):
            warnings.warn("FLUX runs in float16 here: its massive activations (~9e4) exceed fp16's maximum "
                          "(65504) and diffusers clips them, which changes exactly the values massact ranks. "
                          "Use bfloat16 or float32 where the card allows; statistics are float32 regardless.")

    def token_grid(self):
        px = PIXELS_PER_TOKEN[self.adapter.family]
        return self.height // px, self.width_px // px

    def sample(self, prompts, seeds, steps, guidance, progress=False):
        gens = [torch.Generator("cpu").manual_seed(int(s)) for s in seeds]
        kwargs = dict(prompt=list(prompts), num_inference_steps=steps, generator=gens,
                      height=self.height, width=self.width_px, output_type="pt")
        if self.adapter.cfg_layout == "calls":
            kwargs.update(true_cfg_scale=guidance, negative_prompt=[" "] * len(prompts) if guidance > 1 else None)
        else:
            kwargs.update(guidance_scale=guidance)
        self.pipe.set_progress_bar_config(disable=not progress)
        out = self.pipe(**kwargs)
        return out.images.float().cpu().clamp(0, 1)


def load(name_or_pipeline="toy", device: str = "cpu", dtype: torch.dtype | None = None, **kwargs) -> MassactModel:
    """The embedded toy model ("toy"), a hub checkpoint (diffusers ``from_pretrained``) or a pipeline."""
    if isinstance(name_or_pipeline, str) and name_or_pipeline == "toy":
        from .toy.pipeline import ToyModel

        return ToyModel.load(device=device, dtype=dtype)
    if isinstance(name_or_pipeline, str):
        # real checkpoints: needs the weights locally or a hub connection (never in CI)
        from diffusers import DiffusionPipeline

        pipe = DiffusionPipeline.from_pretrained(name_or_pipeline, torch_dtype=dtype or torch.bfloat16)
        if kwargs.pop("cpu_offload", False):
            pipe.enable_model_cpu_offload()
        else:
            pipe.to(device)
        return PipelineModel(pipe, name=name_or_pipeline, **kwargs)
    if hasattr(name_or_pipeline, "transformer"):
        return PipelineModel(name_or_pipeline, **kwargs)
    if isinstance(name_or_pipeline, MassactModel):
        return name_or_pipeline
    raise ValueError(f"cannot load {name_or_pipeline!r}: give 'toy', a diffusers checkpoint name, or a pipeline "
                     f"whose transformer is one of: {', '.join(sorted(ADAPTERS))}")
