"""How the claims measure images: one small interface, two implementations.

The claims never import the toy world. They ask the model (``model.metrics()``) for an
object with this interface; on the toy model it is backed
by the judge (exact attributes, masks, a toy FID), on real checkpoints by pixel distances
plus whatever the user plugs in (a CLIP scorer, a mask function). A metric that is not
available returns None; ``attributes`` names the attributes read exactly (() for none).
"""
from __future__ import annotations

from typing import Callable, Sequence

import numpy as np
import torch


class Metrics:
    """Base: pixel metrics only. Images are float (B, 3, H, W) in [0, 1]."""

    attributes: tuple[str, ...] = ()

    def pixel_mse(self, images: torch.Tensor, reference: torch.Tensor) -> float:
        if images.shape != reference.shape:
            raise ValueError(f"image shapes differ: {tuple(images.shape)} vs {tuple(reference.shape)}")
        return float(((images.float() - reference.float()) ** 2).mean())

    def caption_accuracy(self, images: torch.Tensor, prompts: Sequence[str]) -> dict[str, float] | None:
        return None

    def attributes_of(self, images: torch.Tensor) -> dict[str, np.ndarray] | None:
        return None

    def caption_scores(self, images: torch.Tensor, prompts: Sequence[str]) -> np.ndarray | None:
        """Per image, the share of the attributes its prompt asks for that are visible
        (n,) in [0, 1]: the paired unit of caption accuracy. None without exact attributes."""
        return None

    def fid(self, images: torch.Tensor) -> float | None:
        return None

    def foreground_mask(self, images: torch.Tensor) -> np.ndarray | None:
        return None


class RealMetrics(Metrics):
    """For real checkpoints: pixel MSE, plus an optional CLIP score and mask function.

    ``clip_model``: a local CLIP model id/path for transformers (optional dependency
    ``massact[clip]``); when it cannot be loaded, ``clip_score`` returns None and says why.
    ``mask_fn``: images -> bool masks (B, H, W), e.g. a saliency model the user has.
    """

    def __init__(self, clip_model: str | None = None, mask_fn: Callable | None = None):
        self.mask_fn = mask_fn
        self._clip = None
        self.clip_message = "no CLIP model given (pass clip_model=...)"
        if clip_model:
            try:
                from transformers import CLIPModel, CLIPProcessor

                self._clip = (CLIPModel.from_pretrained(clip_model).eval(), CLIPProcessor.from_pretrained(clip_model))
                self.clip_message = ""
            except Exception as exc:  # weights absent offline, or transformers missing
                self.clip_message = f"CLIP score skipped: could not load {clip_model!r} ({type(exc).__name__}: {exc})"

    @torch.no_grad()
    def clip_score(self, images: torch.Tensor, prompts: Sequence[str]) -> float | None:
        if self._clip is None:
            print(self.clip_message)
            return None
        model, proc = self._clip
        inputs = proc(text=list(prompts), images=[im.permute(1, 2, 0).numpy() for im in images],
                      return_tensors="pt", padding=True, do_rescale=False)
        out = model(**inputs)
        img = torch.nn.functional.normalize(out.image_embeds, dim=-1)
        txt = torch.nn.functional.normalize(out.text_embeds, dim=-1)
        return float(100 * (img * txt).sum(-1).clamp(min=0).mean())

    def foreground_mask(self, images):
        return None if self.mask_fn is None else np.asarray(self.mask_fn(images)).astype(bool)
