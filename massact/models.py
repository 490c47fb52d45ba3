"""A model massact can study: the transformer, its adapter, its world and a sampler that makes images.

``MassactModel`` is the interface every claim uses: the transformer and its blocks, the
token grid, ``sample``, ``model.world`` (the prompts it understands: a ``world.World`` or
None) and ``model.metrics()`` (how its images are measured). ``PipelineModel`` wraps a
diffusers text-to-image pipeline whose transformer class is in ``adapters.ADAPTERS``;
``massact.load`` (``loading.py``) builds models by name. Every sampler returns float32
images (B, 3, H, W) in [0, 1] and takes one seed per image (a ``torch.Generator("cpu")``
each), so the same seed gives the same image whatever else is in the batch.

A model that exposes its sampler step by step (``exposes_sampler = True``: initial noise,
timesteps, prompt encoding, velocity, one Euler loop, inversion) supports the claims that
drive the sampler themselves (embedding interpolation, image inversion); the base class
raises NotImplementedError for those pieces.
"""
from __future__ import annotations

import warnings
from typing import Sequence

import torch
from torch import nn

from .adapters import Adapter, BlockRef, adapter_for, enumerate_blocks, supported_classes
from .hooks import BatchLayout
from .metrics import Metrics, RealMetrics
from .checks import check_prompts
from .world import World


def require_sampler(model, what: str) -> None:
    """Refuse models that do not expose their sampler step by step.

    Args:
        model: the model a claim was given.
        what: the feature that needs the sampler, e.g. "image inversion".
    Raises:
        NotImplementedError naming the model and what it lacks.
    """
    if not getattr(model, "exposes_sampler", False):
        raise NotImplementedError(
            f"{what} is implemented for the toy model only: it drives the sampler step by step "
            f"(model.initial_noise, model.timesteps, model.encode_prompts, model.velocity, model.euler), and "
            f"{getattr(model, 'name', type(model).__name__)!r} does not expose them (a diffusers pipeline runs its "
            "own denoising loop inside __call__)")


class MassactModel:
    """Base class: subclasses set ``transformer`` and implement ``sample`` and ``token_grid``.

    ``world``: the model's ``World`` (default prompts, caption pairs, vocabulary) or None;
    ``exposes_sampler``: whether the step-by-step sampler pieces below are implemented.
    """

    name: str = "model"
    world: World | None = None
    exposes_sampler: bool = False
    transformer: nn.Module
    default_steps: int = 20
    default_guidance: float = 1.0
    height_px: int
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

    def sample(self, prompts: Sequence[str], seeds: Sequence[int] | None, num_steps: int, guidance: float,
               progress: bool = False, latents: torch.Tensor | None = None, conditioning=None) -> torch.Tensor:
        """Sample images (B, 3, H, W) float32 in [0, 1].

        Args:
            prompts: one prompt per image (validated by the caller).
            seeds: one seed per image (ignored when ``latents`` is given).
            num_steps: denoising steps (a count).
            guidance: classifier-free guidance scale (1 = none).
            progress: show a progress bar.
            latents: initial noise instead of the seeds' (models that expose their sampler).
            conditioning: ``encode_prompts`` output instead of the prompts' (same models).
        """
        raise NotImplementedError

    def metrics(self, **kwargs) -> Metrics:
        """How this model's images are measured: ``RealMetrics(**kwargs)`` (pixel distances,
        an optional CLIP score and mask function); models with exact metrics override it.

        Args:
            **kwargs: ``RealMetrics`` options (``clip_model``, ``mask_fn``).
        Returns:
            a ``metrics.Metrics``.
        """
        return RealMetrics(**kwargs)

    def checkpoints(self) -> list[int]:
        """Training steps at which this model's weights can be loaded (empty: only these weights)."""
        return []

    def at_checkpoint(self, step: int) -> "MassactModel":
        """The same model with the weights of training step ``step`` (one of ``checkpoints()``)."""
        raise NotImplementedError(f"{type(self).__name__} has no training checkpoints")

    def validate_prompts(self, prompts: Sequence[str]) -> None:
        """Refuse prompts the model cannot read (the world's check when it has one).

        Raises:
            TypeError / ValueError naming what a valid prompt looks like.
        """
        if self.world is not None:
            self.world.validate_prompts(prompts)
        else:
            check_prompts(prompts)

    # -- the sampler step by step (models with exposes_sampler = True) ----------------------
    def _no_sampler(self, what: str):
        require_sampler(self, what)
        raise NotImplementedError(f"{type(self).__name__} sets exposes_sampler but does not implement {what}")

    def initial_noise(self, seeds: Sequence[int]) -> torch.Tensor:
        """The sampler's starting noise, one ``torch.Generator("cpu")`` per seed."""
        return self._no_sampler("initial_noise")

    def timesteps(self, num_steps: int) -> torch.Tensor:
        """The num_steps + 1 times of the sampler, from noise (first) to image (last)."""
        return self._no_sampler("timesteps")

    def encode_prompts(self, prompts: Sequence[str], guidance: float):
        """Text conditioning for prompts (with the unconditional branch when guidance > 1)."""
        return self._no_sampler("encode_prompts")

    def velocity(self, x: torch.Tensor, t: float, conditioning, guidance: float) -> torch.Tensor:
        """The guided velocity at time t."""
        return self._no_sampler("velocity")

    def euler(self, x: torch.Tensor, prompts, num_steps: int, guidance: float, reverse: bool = False,
              progress: bool = False, conditioning=None, refine: int = 0) -> torch.Tensor:
        """Integrate the sampler's ODE from x (noise -> image, or image -> noise when reverse)."""
        return self._no_sampler("euler")

    def invert(self, images: torch.Tensor, prompts: Sequence[str], num_steps: int, guidance: float,
               refine: int = 0) -> torch.Tensor:
        """Images in [0, 1] -> the noise the sampler maps onto them."""
        return self._no_sampler("image inversion")

    def from_images(self, images: torch.Tensor) -> torch.Tensor:
        """[0, 1] images -> the sampler's space."""
        return self._no_sampler("from_images")

    def to_images(self, x: torch.Tensor) -> torch.Tensor:
        """The sampler's space -> [0, 1] images."""
        return self._no_sampler("to_images")


#: family -> how many pixels one image token covers (VAE factor x patch size)
PIXELS_PER_TOKEN = {"flux": 16, "flux2": 16, "qwen-image": 16, "sd3": 16, "pixart": 16, "sana": 32}


class PipelineModel(MassactModel):
    """A diffusers text-to-image pipeline with a supported transformer.

    ``world``: the prompts this model is studied on (a ``World``); None (the default) means
    every claim asks for explicit prompts.
    """

    def __init__(self, pipe, name: str | None = None, height_px: int | None = None, width_px: int | None = None,
                 num_steps: int | None = None, guidance: float | None = None, world: World | None = None):
        if world is not None and not isinstance(world, World):
            raise TypeError(f"world must be a massact.world.World or None, got {type(world).__name__}")
        self.world = world
        transformer = getattr(pipe, "transformer", None)
        if transformer is None:
            raise ValueError(f"pipeline {type(pipe).__name__} has no .transformer; massact supports pipelines whose "
                             f"transformer is one of: {', '.join(supported_classes())}")
        adapter_for(transformer)  # clear error for unsupported classes
        self.pipe, self.transformer = pipe, transformer
        self.name = name or type(pipe).__name__
        self.height_px = height_px or 512
        self.width_px = width_px or self.height_px
        px = PIXELS_PER_TOKEN[self.adapter.family]
        for what, v in (("height_px", self.height_px), ("width_px", self.width_px)):
            if v % px:
                raise ValueError(f"image {what} {v} must be a multiple of {px} px for {self.adapter.family}")
        self.default_steps = num_steps or 20
        self.default_guidance = guidance if guidance is not None else (1.0 if self.adapter.cfg_layout == "none" else 4.5)
        dtype = next(transformer.parameters()).dtype
        if dtype == torch.float16 and self.adapter.family in ("flux", "flux2"):
            warnings.warn("FLUX runs in float16 here: its massive activations (~9e4) exceed fp16's maximum "
                          "(65504) and diffusers clips them, which changes exactly the values massact ranks. "
                          "Use bfloat16 or float32 where the card allows; statistics are float32 regardless.")

    def token_grid(self):
        px = PIXELS_PER_TOKEN[self.adapter.family]
        return self.height_px // px, self.width_px // px

    def sample(self, prompts, seeds, num_steps, guidance, progress=False, latents=None, conditioning=None):
        if latents is not None or conditioning is not None:
            require_sampler(self, "sampling from given latents or conditioning")
        gens = [torch.Generator("cpu").manual_seed(int(s)) for s in seeds]
        kwargs = dict(prompt=list(prompts), num_inference_steps=num_steps, generator=gens,
                      height=self.height_px, width=self.width_px, output_type="pt")
        if self.adapter.cfg_layout == "calls":
            kwargs.update(true_cfg_scale=guidance, negative_prompt=[" "] * len(prompts) if guidance > 1 else None)
        else:
            kwargs.update(guidance_scale=guidance)
        self.pipe.set_progress_bar_config(disable=not progress)
        out = self.pipe(**kwargs)
        return out.images.float().cpu().clamp(0, 1)

