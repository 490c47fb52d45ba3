"""``Metrics`` for the toy model, backed by the judge: exact attribute accuracy, masks, toy FID."""
from __future__ import annotations

from functools import lru_cache

import numpy as np
import torch

from ..metrics import Metrics
from . import world


@lru_cache(maxsize=1)
def _judge():
    from .judge import load_judge

    return load_judge()


class ToyMetrics(Metrics):
    attributes = world.ATTRIBUTE_NAMES

    @property
    def judge(self):
        return _judge()

    @staticmethod
    def _signed(images: torch.Tensor) -> torch.Tensor:
        return images.float() * 2 - 1  # the judge reads [-1, 1] images, like the world renders

    def caption_accuracy(self, images, prompts):
        from .judge import caption_accuracy

        scenes = [world.parse_caption(p) for p in prompts]
        return caption_accuracy(self.judge, self._signed(images), scenes)

    def caption_scores(self, images, prompts) -> np.ndarray:
        if len(prompts) != len(images):
            raise ValueError(f"got {len(images)} images but {len(prompts)} prompts")
        pred = self.attributes_of(images)
        out = np.zeros(len(prompts))
        for i, p in enumerate(prompts):
            scene = world.parse_caption(p)
            asked = [a for a in world.ATTRIBUTE_NAMES if getattr(scene, a) is not None]
            labels = scene.labels()
            out[i] = np.mean([pred[a][i] == labels[a] for a in asked]) if asked else np.nan
        return out

    def attributes_of(self, images) -> dict[str, np.ndarray]:
        from .judge import predict_attributes

        return predict_attributes(self.judge, self._signed(images))

    def fid(self, images) -> float:
        from .judge import toy_fid

        return float(toy_fid(self.judge, self._signed(images)))

    def foreground_mask(self, images) -> np.ndarray:
        from .judge import foreground_mask

        return foreground_mask(self.judge, self._signed(images))
