"""What a model knows about the prompts it understands: its *world*.

A ``World`` hands the claims their default inputs, so that no claim needs to know which
model it runs on: calibration prompts (where channels are ranked), evaluation prompts
(where claims are judged; a disjoint stream), caption pairs (source/target prompts that
differ in named attributes, for transport), a vocabulary help text and a prompt check.

``model.world`` is a ``World`` or None. The toy model's world lives in the toy wing
(``massact.toy.world_api.ToyWorld``). Real text-to-image models get ``SceneWorld`` (below)
from ``massact.load``: natural-language scenes, one clear subject on a described
background, composed from four lists (subject x setting x lighting x style), with caption
pairs that change one of the four. A ``PipelineModel`` built by hand has no world (None),
and then every caller that would have used a default asks for explicit prompts.

This module is core: it imports nothing from the claims, the faces or the toy.
"""
from __future__ import annotations

import itertools
from dataclasses import dataclass
from types import MappingProxyType
from typing import Mapping, Sequence

import numpy as np

from .checks import check_int, check_prompts


def check_pair_request(n, differ, per_pair, names: Sequence[str]) -> tuple[int, tuple | None, int]:
    """The arguments of a ``caption_pairs`` call, checked against the world's attribute names.

    Returns:
        (n, differ as a tuple or None, per_pair).
    Raises:
        ValueError naming the valid attributes, or the range of n / per_pair.
    """
    n = check_int("n", n, 1, what="how many pairs")
    if differ is not None:
        differ = (differ,) if isinstance(differ, str) else tuple(differ)
        bad = [a for a in differ if a not in names]
        if bad or not differ:
            raise ValueError(f"unknown attributes {bad or list(differ)}; choose from {tuple(names)}")
    else:
        per_pair = check_int("per_pair", per_pair, 1, len(names), what="attributes changed per pair")
    return n, differ, per_pair


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
        attributes: the attributes the world can vary exactly in caption pairs, () when it
          has none. Whether images are measured on them is the metrics' business
          (``model.metrics().attributes``): the toy's judge reads its world's attributes, a real
          model's metrics read none.
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

    def prompt_attributes(self, prompts: Sequence[str]) -> list[dict[str, str]]:
        """The attribute words each prompt names, read from its words.

        Args:
            prompts: a list of strings.
        Returns:
            one dict per prompt, attribute -> its word (a key of ``attributes``; an attribute the
            prompt does not name is left out, and a world without attributes returns empty dicts).
        """
        return [{} for _ in check_prompts(prompts)]

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


# -- the world of real text-to-image models --------------------------------------------------------
#: the four lists a scene is composed from, in caption order: "<style> of <subject> <setting>, <lighting>"
SCENE_ATTRIBUTES: Mapping[str, tuple[str, ...]] = MappingProxyType({
    "subject": ("a red fox", "a grey tabby cat", "a golden retriever", "a brown horse", "a white swan",
                "an old bicycle", "a red vintage car", "a ceramic teapot", "a wooden rowing boat",
                "a stone lighthouse", "a small thatched cottage", "a hot-air balloon", "a bowl of oranges",
                "a potted cactus", "a violin", "a snowy owl"),
    "setting": ("in a snowy pine forest", "on a sandy beach", "in a field of sunflowers", "on a cobbled city street",
                "among desert dunes", "beside a mountain lake", "in a cosy living room", "on a wooden kitchen table",
                "in a misty meadow", "on a rocky cliff above the sea", "in an autumn park",
                "in front of a red brick wall"),
    "lighting": ("in soft morning light", "at sunset", "at night", "under an overcast sky", "in bright midday sun",
                 "at dusk"),
    "style": ("a photograph", "a watercolor painting", "an oil painting", "a pencil drawing",
              "a digital illustration", "a 3D render"),
})


def scene_caption(subject: str, setting: str, lighting: str, style: str) -> str:
    """The caption of one scene: "<style> of <subject> <setting>, <lighting>"."""
    return f"{style} of {subject} {setting}, {lighting}"


class SceneWorld(World):
    """Prompts for real text-to-image models: one clear subject on a described background.

    Every caption is composed from ``SCENE_ATTRIBUTES`` (16 subjects x 12 settings x 6
    lightings x 6 styles = 6,912 scenes), so the prompt sets are generated, deterministic and
    disjoint by construction: the scenes are shuffled once (``order_seed``), calibration
    takes the even positions and evaluation the odd ones. The first 64 of each stream are the
    shipped sets the defaults use.

    Caption pairs change named attributes of one scene (by default one per pair, cycling
    subject, setting, lighting, style). On a real model nothing reads these attributes
    exactly: they are labels of how a pair was composed, not measurements (the model's
    metrics say what is measured: pixel distances, and CLIP or masks when given).

    Any non-empty prompt is valid (``validate_prompts``): the lists are defaults, not a vocabulary.

    Args:
        order_seed: the shuffle of the scenes behind both prompt streams.
        pair_seed: the default draw of caption pairs (None: ``order_seed + 17``).
    """

    name = "scenes"
    attributes = tuple(SCENE_ATTRIBUTES)
    attribute_values = SCENE_ATTRIBUTES
    #: how many prompts each stream holds (half the scenes)
    stream_size = int(np.prod([len(v) for v in SCENE_ATTRIBUTES.values()])) // 2

    def __init__(self, order_seed: int = 0, pair_seed: int | None = None):
        self.order_seed = check_int("order_seed", order_seed, 0, what="the seed of the scene shuffle")
        self.evaluation_seed = self.order_seed
        self.pair_seed = self.order_seed + 17 if pair_seed is None else check_int("pair_seed", pair_seed, 0)
        sizes = [len(v) for v in SCENE_ATTRIBUTES.values()]
        order = np.random.default_rng(self.order_seed).permutation(int(np.prod(sizes)))
        self._scenes = [tuple(int(i) for i in np.unravel_index(j, sizes)) for j in order]
        self._scene_of_caption: dict[str, dict[str, str]] | None = None  # built on first use

    def _caption(self, idx: Sequence[int]) -> str:
        return scene_caption(*(words[i] for words, i in zip(SCENE_ATTRIBUTES.values(), idx)))

    def _stream(self, n, offset: int) -> list[str]:
        n = check_int("n", n, 1, self.stream_size, what="how many prompts")
        return [self._caption(self._scenes[2 * i + offset]) for i in range(n)]

    def calibration_prompts(self, n: int = 8) -> list[str]:
        """n scene prompts to rank channels on (the even positions of the shuffle).

        Args:
            n: how many (1..``stream_size``).
        Returns:
            n captions, each list a prefix of the next.
        """
        return self._stream(n, 0)

    def evaluation_prompts(self, n: int = 8) -> list[str]:
        """n scene prompts to judge claims on (the odd positions: never a calibration prompt).

        Args:
            n: how many (1..``stream_size``).
        Returns:
            n captions, each list a prefix of the next.
        """
        return self._stream(n, 1)

    def caption_pairs(self, n: int, differ: Sequence[str] | str | None = None, per_pair: int = 1,
                      seed: int | None = None) -> list[CaptionPair]:
        """n (source, target) pairs of scenes that differ in named attributes.

        Args:
            n: how many pairs (>= 1).
            differ: None (pair i changes ``per_pair`` attributes, starting at attribute i mod 4
              in the order subject, setting, lighting, style) or the attributes every pair changes.
            per_pair: attributes changed per pair when differ is None (1..4).
            seed: the draw (None: ``pair_seed``).
        Returns:
            n ``CaptionPair``; ``changed`` names the changed attributes (labels of the
            composition: a real model's metrics do not read them).
        """
        n, differ, per_pair = check_pair_request(n, differ, per_pair, self.attributes)
        names = self.attributes
        rng = np.random.default_rng(self.pair_seed if seed is None else check_int("seed", seed, 0))
        lists = list(SCENE_ATTRIBUTES.values())
        out = []
        for i in range(n):
            target = [int(rng.integers(len(words))) for words in lists]
            change = differ if differ is not None else tuple(names[(i + j) % len(names)] for j in range(per_pair))
            source = list(target)
            for a in change:
                j = names.index(a)
                other = [v for v in range(len(lists[j])) if v != target[j]]
                source[j] = other[int(rng.integers(len(other)))]
            out.append(CaptionPair(self._caption(source), self._caption(target), tuple(change)))
        return out

    def prompt_attributes(self, prompts: Sequence[str]) -> list[dict[str, str]]:
        """The scene each prompt was composed from (``scene_caption`` of ``SCENE_ATTRIBUTES``).

        Args:
            prompts: a list of strings.
        Returns:
            one dict per prompt, attribute -> its words; empty for a prompt that is not a scene
            caption (any prompt is valid, but only composed ones have known attributes).
        """
        if self._scene_of_caption is None:
            self._scene_of_caption = {
                scene_caption(*words): dict(zip(SCENE_ATTRIBUTES, words))
                for words in itertools.product(*SCENE_ATTRIBUTES.values())}
        return [dict(self._scene_of_caption.get(p, {})) for p in check_prompts(prompts)]

    def vocabulary_help(self) -> str:
        parts = ", ".join(f"{len(v)} {a}s" for a, v in SCENE_ATTRIBUTES.items())
        return ("any non-empty text prompt. The default prompts are scenes with one clear subject on a described "
                f"background, \"<style> of <subject> <setting>, <lighting>\" ({parts}), e.g. "
                f"{self.evaluation_prompts(1)[0]!r}")


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
