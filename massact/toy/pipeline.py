"""The toy model as a ``MassactModel``: rectified-flow Euler sampling with classifier-free guidance.

It knows its world (``ToyWorld``: caption streams, attribute pairs, the renderer) and its
metrics (``ToyMetrics``, the judge), and exposes its sampler step by step: initial noise,
timesteps, prompt encoding, velocity, and the one Euler loop (``euler``) that sampling,
inversion (with fixed-point refinement) and embedding interpolation all run.
"""
from __future__ import annotations

import json
from pathlib import Path
from typing import Sequence

import torch
from tqdm.auto import tqdm

from ..models import MassactModel
from ..specs import BatchLayout
from . import model as _model
from .model import ToyDiT, WEIGHTS_DIR, load_weights, pack, unpack
from .world_api import ToyWorld

DEFAULT_STEPS = 20
DEFAULT_GUIDANCE = 3.0
#: the toy models ``massact.load`` knows by name: the default (width 128) and a wider run (width 256;
#: ``weights/checkpoints/run_card.md`` says why it is not the default); each ships checkpoints along
#: its own training run (``massact.toy.checkpoints``)
TOY_MODELS = ("toy", "toy-256")


class ToyModel(MassactModel):
    name = "toy"
    exposes_sampler = True

    def __init__(self, dit: ToyDiT, device: str = "cpu", dtype: torch.dtype | None = None):
        self.dit = dit.to(device=device, dtype=dtype or torch.float32).eval().requires_grad_(False)
        self.transformer = self.dit.transformer
        self.device = device
        self.default_steps = DEFAULT_STEPS
        self.default_guidance = DEFAULT_GUIDANCE
        self.height_px = self.width_px = dit.cfg.image_size
        self.world = ToyWorld()
        self.from_series = False  # True for toy-256 and its checkpoints (set by ``load``)

    @classmethod
    def load(cls, path=None, device: str = "cpu", dtype: torch.dtype | None = None,
             checkpoint: int | None = None, name: str = "toy") -> "ToyModel":
        """The shipped weights, a weights file (``path``) or a training checkpoint (a step of
        ``massact.toy.checkpoints.available(name)``).

        Args:
            path: a toy weights file (None: the named model's).
            device, dtype: where the weights go, and their dtype (default float32).
            checkpoint: a training step of the named model's shipped checkpoint series.
            name: one of ``TOY_MODELS``: "toy" (the default, width 128) or "toy-256" (width 256).
        Returns:
            a ``ToyModel`` whose ``name`` is ``name``.
        """
        if name not in TOY_MODELS:
            raise ValueError(f"unknown toy model {name!r}; the toy models are {', '.join(TOY_MODELS)}")
        from .checkpoints import available, final_step, path_for

        if checkpoint is not None:
            if path is not None:
                raise ValueError("give path or checkpoint, not both")
            path = path_for(checkpoint, name)
        elif name == "toy-256" and path is None:
            if not available(name):
                raise FileNotFoundError("toy-256 is the last checkpoint of its shipped series, and none ships")
            path = path_for(available(name)[-1], name)
        model = cls(load_weights(path), device=device, dtype=dtype)
        model.name = name
        model.from_series = name == "toy-256"  # toy-256's run card describes its weights and checkpoints
        model.training_step = final_step(Path(path) if path else None)
        return model

    @property
    def card(self) -> dict:
        """The shipped card's numbers (training steps, wall time, evaluation): the model card of
        "toy" and its checkpoints, the run card of "toy-256" and its checkpoints."""
        if self.from_series:
            from .checkpoints import run_card

            return run_card()
        p = WEIGHTS_DIR / "model_card.json"
        return json.loads(p.read_text()) if p.exists() else {}

    def checkpoints(self) -> list[int]:
        """The shipped checkpoints of this model's training run (``massact.toy.checkpoints``)."""
        from .checkpoints import available

        return available(self.name)

    def at_checkpoint(self, step: int) -> "ToyModel":
        return ToyModel.load(device=self.device, checkpoint=step, name=self.name)

    def token_grid(self):
        g = self.dit.cfg.image_size // self.dit.cfg.patch
        return g, g

    def batch_layout(self, num_rows, guidance):
        # the toy sampler batches [uncond; cond] in one call (the Flux adapter's default is "none")
        if guidance > 1:
            return BatchLayout(num_rows, batch_branches=("uncond", "cond"))
        return BatchLayout(num_rows)

    def metrics(self, **kwargs):
        """The judge-backed ``ToyMetrics`` (exact attributes, masks, toy FID).

        Args:
            **kwargs: accepted for a model-agnostic call (``clip_model``, ``mask_fn``) and
              ignored: the judge reads the toy's images exactly.
        """
        from .metrics import ToyMetrics

        return ToyMetrics()

    # -- the sampler, in pieces so inversion and transport can reuse them -------------------
    def initial_noise(self, seeds: Sequence[int]) -> torch.Tensor:
        """Starting noise (B, 3, H, W) on the CPU, one ``torch.Generator("cpu")`` per seed."""
        return _model.initial_noise(seeds, self.dit.cfg)

    def timesteps(self, num_steps: int) -> torch.Tensor:
        """num_steps + 1 times from 1 (noise) to 0 (image)."""
        return _model.timesteps(num_steps)

    def to_images(self, x: torch.Tensor) -> torch.Tensor:
        return ((x.float().clamp(-1, 1) + 1) / 2).cpu()

    def from_images(self, images: torch.Tensor) -> torch.Tensor:
        """[0, 1] images (B, 3, 32, 32) -> model space [-1, 1]."""
        if images.dim() != 4 or tuple(images.shape[1:]) != (3, self.height_px, self.width_px):
            raise ValueError(f"image size {tuple(images.shape)} not supported: the toy model takes "
                             f"(B, 3, {self.height_px}, {self.width_px}) images in [0, 1]")
        return images.to(self.device, torch.float32) * 2 - 1

    def encode_prompts(self, prompts: Sequence[str], guidance: float):
        """(text states, pooled) for the prompts, stacked [uncond; cond] when guidance > 1."""
        caps = ([""] * len(prompts) if guidance > 1 else []) + list(prompts)
        text, pooled = self.dit.encode(caps)
        return text, pooled

    #: the name the notebooks and exercises know
    conditioning = encode_prompts

    @torch.no_grad()
    def velocity(self, x: torch.Tensor, t: float, cond, guidance: float) -> torch.Tensor:
        """Guided velocity at time t for images x (B, 3, H, W); one batched [uncond; cond] call."""
        text, pooled = cond
        dtype = next(self.dit.parameters()).dtype
        tok = pack(x, self.dit.cfg.patch).to(dtype)
        if guidance > 1:
            tok = torch.cat([tok, tok])
        v = self.dit.velocity(tok, torch.full((len(tok),), float(t), dtype=dtype), text.to(dtype), pooled.to(dtype))
        v = v.float()
        if guidance > 1:
            vu, vc = v.chunk(2)
            v = vu + guidance * (vc - vu)
        return unpack(v, self.dit.cfg.patch, self.height_px)

    @torch.no_grad()
    def euler(self, x: torch.Tensor, prompts, num_steps: int, guidance: float, reverse: bool = False,
              progress: bool = False, conditioning=None, refine: int = 0) -> torch.Tensor:
        """Integrate the flow ODE: noise -> image (reverse=False) or image -> noise (reverse=True).

        Args:
            x: the start (B, 3, H, W) in model space.
            prompts: one prompt per row (ignored when ``conditioning`` is given).
            num_steps: Euler steps.
            guidance: classifier-free guidance scale.
            reverse: integrate image -> noise.
            progress: a progress bar.
            conditioning: ``encode_prompts`` output to use instead of the prompts'.
            refine: reverse only: fixed-point iterations per step that solve for the point the
              forward step maps onto the current one (0 = the plain backward step).
        Returns:
            the end point (B, 3, H, W) in model space.
        """
        if refine and not reverse:
            raise ValueError(f"refine {refine} applies to the reverse pass only (reverse=True)")
        ts = self.timesteps(num_steps)
        if reverse:
            ts = ts.flip(0)
        cond = self.encode_prompts(prompts, guidance) if conditioning is None else conditioning
        for i in tqdm(range(num_steps), disable=not progress, desc="sampling", leave=False):
            t, t_next = float(ts[i]), float(ts[i + 1])
            # the velocity is taken at the current time; reversing integrates the same ODE backwards
            x_next = x + (t_next - t) * self.velocity(x, t, cond, guidance)
            for _ in range(int(refine)):
                # the forward step from x_next (at t_next) must land on x: x_next = x - (t - t_next) v(x_next, t_next)
                x_next = x - (t - t_next) * self.velocity(x_next, t_next, cond, guidance)
            x = x_next
        return x

    def invert(self, images: torch.Tensor, prompts: Sequence[str], num_steps: int, guidance: float,
               refine: int = 0) -> torch.Tensor:
        """Images (B, 3, H, W) in [0, 1] -> noise: the reverse Euler pass with ``refine``
        fixed-point corrections per step (inputs validated by ``claims.inversion.invert``)."""
        return self.euler(self.from_images(images), prompts, num_steps, guidance, reverse=True, refine=refine)

    def sample(self, prompts, seeds, num_steps, guidance, progress=False, latents: torch.Tensor | None = None,
               conditioning=None):
        x = self.initial_noise(seeds).to(self.device) if latents is None else latents.to(self.device)
        return self.to_images(self.euler(x, prompts, num_steps, guidance, progress=progress,
                                         conditioning=conditioning))
