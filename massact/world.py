"""What a model knows about the prompts it understands: its *world*.

A ``World`` hands the claims their default inputs, so that no claim needs to know which
model it runs on: calibration prompts (where channels are ranked), evaluation prompts
(where claims are judged; a disjoint stream), caption pairs (source/target prompts that
differ in named attributes, for transport), a vocabulary help text and a prompt check.

``model.world`` is a ``World`` or None. The toy model's world lives in the toy wing
(``massact.toy.world_api.ToyWorld``); a bare diffusers pipeline has no world (None), and
then every caller that would have used a default asks for explicit prompts.

This module is core: it imports nothing from the claims, the faces or the toy.
"""
from __future__ import annotations

from dataclasses import dataclass
from types import MappingProxyType
from typing import Mapping, Sequence

from .checks import check_prompts


@dataclass(frozen=True)
class CaptionPair:
    """One (source, target) prompt pair for transport.

    source: the prompt whose activations are carried over;
    target: the prompt that receives them;
    changed: the attributes whose words differ between the two (empty when the world
      has no attribute vocabulary)."""

    source: str
    target: str
    changed: tuple[str, ...] = ()


class World:
    """Base class of a model's world. Subclasses implement the prompt streams and pairs.

    Attributes:
        name: a short name for messages and reports.
        attributes: the attributes the world can vary exactly in caption pairs (and that
          its metrics can read), () when it has none.
        attribute_values: attribute -> its words in label order (label i is word i), so
          that a metric's label numbers can be shown as words; empty when none.
        evaluation_seed: the seed the world's evaluation draws derive from (prompts and,
          by default, caption pairs); callers that need several independent pair draws
          offset it.
    """

    name: str = "world"
    attributes: tuple[str, ...] = ()
    attribute_values: Mapping[str, tuple[str, ...]] = MappingProxyType({})
    evaluation_seed: int = 0

    def calibration_prompts(self, n: int = 8) -> list[str]:
        """n prompts to rank channels on (disjoint from ``evaluation_prompts``).

        Args:
            n: how many prompts (>= 1).
        Returns:
            a list of n prompts, the same for the same n, each a prefix of the next.
        """
        raise NotImplementedError(f"the {self.name!r} world has no calibration prompts: pass prompts=[...]")

    def evaluation_prompts(self, n: int = 8) -> list[str]:
        """n prompts to judge the claims on (never used for ranking).

        Args:
            n: how many prompts (>= 1).
        Returns:
            a list of n prompts, deterministic, prefix-consistent.
        """
        raise NotImplementedError(f"the {self.name!r} world has no evaluation prompts: pass prompts=[...]")

    def caption_pairs(self, n: int, differ: Sequence[str] | str | None = None, per_pair: int = 3,
                      seed: int | None = None) -> list[CaptionPair]:
        """n (source, target) prompt pairs that differ in chosen attributes.

        Args:
            n: how many pairs (>= 1).
            differ: None (pair i changes ``per_pair`` attributes, cycling through them) or
              the attribute names every pair changes.
            per_pair: attributes changed per pair when differ is None.
            seed: the draw (None: the world's default pair stream).
        Returns:
            a list of n ``CaptionPair``.
        """
        raise NotImplementedError(f"the {self.name!r} world has no caption pairs: pass sources=[...] and "
                                  "targets=[...] yourself")

    def render_references(self, scenes, seed: int | None = None):
        """Draw reference images for prompts the world can render exactly.

        Args:
            scenes: prompts (or the world's scene objects).
            seed: None for the canonical pictures, an int for jittered ones.
        Returns:
            (images float (B, 3, H, W) in [0, 1], their captions).
        """
        raise NotImplementedError(f"the {self.name!r} world has no renderer: load your reference images with "
                                  "inversion.load_reference(...)")

    def vocabulary_help(self) -> str:
        """A few lines telling a user what prompts this world understands."""
        return "any non-empty text prompt"

    def validate_prompts(self, prompts: Sequence[str]) -> None:
        """Refuse prompts this world's model cannot read, with an error naming what is valid.

        Args:
            prompts: a list of strings.
        Raises:
            TypeError / ValueError naming what a valid prompt looks like.
        """
        check_prompts(prompts)

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.name!r})"


def world_of(model, what: str) -> World:
    """``model.world``, or a clear error naming what to pass when the model has none.

    Args:
        model: a ``MassactModel`` (or anything with a ``world`` attribute).
        what: what the caller needed the world for, e.g. "calibration prompts: calibrate(model, prompts=[...])".
    Returns:
        the model's ``World``.
    Raises:
        ValueError when the model has no world.
    """
    w = getattr(model, "world", None)
    if w is None:
        name = getattr(model, "name", type(model).__name__)
        raise ValueError(f"model {name!r} has no world (model.world is None), so there are no default {what}")
    return w
