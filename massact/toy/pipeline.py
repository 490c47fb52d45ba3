"""The toy model as a ``MassactModel``: rectified-flow Euler sampling with classifier-free guidance."""
from __future__ import annotations

import json
from typing import Sequence

import torch
from tqdm.auto import tqdm

from ..hooks import BatchLayout
from ..models import MassactModel
from . import world
from .model import ToyDiT, WEIGHTS_DIR, initial_noise, load_weights, pack, timesteps, unpack

DEFAULT_STEPS = 20
DEFAULT_GUIDANCE = 3.0


class ToyModel(MassactModel):
    name = "toy"

    def __init__(self, dit: ToyDiT, device: str = "cpu", dtype: torch.dtype | None = None):
        self.dit = dit.to(device=device, dtype=dtype or torch.float32).eval().requires_grad_(False)
        self.transformer = self.dit.transformer
        self.device = device
        self.default_steps = DEFAULT_STEPS
        self.default_guidance = DEFAULT_GUIDANCE
        self.height = self.width_px = dit.cfg.image_size

    @classmethod
    def load(cls, path=None, device: str = "cpu", dtype: torch.dtype | None = None) -> "ToyModel":
        return cls(load_weights(path), device=device, dtype=dtype)

    @property
    def card(self) -> dict:
        """The shipped model card's numbers (training steps, wall time, evaluation)."""
        p = WEIGHTS_DIR / "model_card.json"
        return json.loads(p.read_text()) if p.exists() else {}

    def token_grid(self):
        g = self.dit.cfg.image_size // self.dit.cfg.patch
        return g, g

    def batch_layout(self, num_rows, guidance):
        # the toy sampler batches [uncond; cond] in one call (the Flux adapter's default is "none")
        if guidance > 1:
            return BatchLayout(num_rows, batch_branches=("uncond", "cond"))
        return BatchLayout(num_rows)

    def validate_prompts(self, prompts):
        try:
            super().validate_prompts(prompts)
        except ValueError as exc:  # say what a valid toy prompt looks like
            raise ValueError(f"{exc}\n{world.vocabulary_help()}") from None
        for p in prompts:
            world.parse_caption(p)  # unknown words -> ValueError listing the vocabulary

    # -- the sampler, in pieces so inversion and transport can reuse them -------------------
    def to_images(self, x: torch.Tensor) -> torch.Tensor:
        return ((x.float().clamp(-1, 1) + 1) / 2).cpu()

    def from_images(self, images: torch.Tensor) -> torch.Tensor:
        """[0, 1] images (B, 3, 32, 32) -> model space [-1, 1]."""
        if images.dim() != 4 or tuple(images.shape[1:]) != (3, self.height, self.width_px):
            raise ValueError(f"image size {tuple(images.shape)} not supported: the toy model takes "
                             f"(B, 3, {self.height}, {self.width_px}) images in [0, 1]")
        return images.to(self.device, torch.float32) * 2 - 1

    def conditioning(self, prompts: Sequence[str], guidance: float):
        caps = ([""] * len(prompts) if guidance > 1 else []) + list(prompts)
        text, pooled = self.dit.encode(caps)
        return text, pooled

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
        return unpack(v, self.dit.cfg.patch, self.height)

    @torch.no_grad()
    def euler(self, x: torch.Tensor, prompts, steps: int, guidance: float, reverse: bool = False,
              progress: bool = False) -> torch.Tensor:
        """Integrate the flow ODE: noise -> image (reverse=False) or image -> noise (reverse=True)."""
        ts = timesteps(steps)
        if reverse:
            ts = ts.flip(0)
        cond = self.conditioning(prompts, guidance)
        for i in tqdm(range(steps), disable=not progress, desc="sampling", leave=False):
            t, t_next = float(ts[i]), float(ts[i + 1])
            # the velocity is taken at the current time; reversing integrates the same ODE backwards
            x = x + (t_next - t) * self.velocity(x, t, cond, guidance)
        return x

    def sample(self, prompts, seeds, steps, guidance, progress=False, latents: torch.Tensor | None = None):
        x = initial_noise(seeds, self.dit.cfg).to(self.device) if latents is None else latents.to(self.device)
        return self.to_images(self.euler(x, prompts, steps, guidance, progress=progress))
