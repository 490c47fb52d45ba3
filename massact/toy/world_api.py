"""The toy world behind the ``massact.world.World`` interface (``ToyModel.world``).

Everything here is backed by ``toy.world``: the disjoint calibration / evaluation caption
streams, the attribute pairs (``toy.pairs``) and the renderer (``toy.references``).
"""
from __future__ import annotations

from dataclasses import asdict
from types import MappingProxyType

from ..checks import check_prompts
from ..world import CaptionPair, World
from . import pairs, references, world


class ToyWorld(World):
    """One coloured shape on a plain background, with an exact caption (``toy.world``)."""

    name = "toy"
    attributes = world.ATTRIBUTE_NAMES
    attribute_values = MappingProxyType(world.ATTRIBUTES)
    evaluation_seed = world.EVALUATION_SEED

    def calibration_prompts(self, n: int = 8) -> list[str]:
        return world.calibration_captions(n)

    def evaluation_prompts(self, n: int = 8) -> list[str]:
        return world.evaluation_captions(n)

    def caption_pairs(self, n, differ=None, per_pair=3, seed=None) -> list[CaptionPair]:
        return pairs.attribute_pairs(n, differ=differ, per_pair=per_pair, seed=seed)

    def render_references(self, scenes, seed=None):
        return references.render_references(scenes, seed=seed)

    def prompt_attributes(self, prompts) -> list[dict[str, str]]:
        self.validate_prompts(prompts)
        return [{a: v for a, v in asdict(world.parse_caption(p)).items() if v is not None} for p in prompts]

    def vocabulary_help(self) -> str:
        return world.vocabulary_help()

    def validate_prompts(self, prompts) -> None:
        try:
            prompts = check_prompts(prompts)
        except ValueError as exc:  # say what a valid toy prompt looks like (same error type)
            raise type(exc)(f"{exc}\n{world.vocabulary_help()}") from None
        for p in prompts:
            world.parse_caption(p)  # unknown words -> ValueError listing the vocabulary
