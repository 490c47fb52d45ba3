"""Caption pairs in the toy world: (source, target) captions that differ in chosen attributes."""
from __future__ import annotations

from typing import Sequence

import numpy as np

from ..world import CaptionPair, check_pair_request
from . import world

#: the default pair stream's seed, offset from the evaluation seed so that pairs are not
#: the evaluation prompts themselves
PAIR_SEED = world.EVALUATION_SEED + 17


def attribute_pairs(n: int, differ: Sequence[str] | str | None = None, per_pair: int = 3,
                    seed: int | None = None) -> list[CaptionPair]:
    """n toy-world (source, target) caption pairs that differ in chosen attributes.

    Args:
        n: how many pairs (an int >= 1).
        differ: None: pair i changes ``per_pair`` consecutive attributes starting at
          attribute i (so each attribute differs in about per_pair/5 of the pairs and agrees
          in the rest); ("position",): every pair differs in exactly these attributes.
        per_pair: attributes changed per pair when differ is None (1..5).
        seed: the draw (default ``PAIR_SEED``).
    Returns:
        n ``CaptionPair`` (source, target, changed), deterministic from seed.
    """
    n, differ, per_pair = check_pair_request(n, differ, per_pair, world.ATTRIBUTE_NAMES)
    names = world.ATTRIBUTE_NAMES
    rng = np.random.default_rng(PAIR_SEED if seed is None else seed)
    out = []
    for i in range(n):
        target = world.random_scene(rng)[0]
        change = differ if differ is not None else tuple(names[(i + j) % len(names)] for j in range(per_pair))
        vals = dict(target.__dict__)
        for a in change:
            choices = [w for w in world.ATTRIBUTES[a] if w != vals[a]]
            vals[a] = choices[rng.integers(len(choices))]
        out.append(CaptionPair(world.Scene(**vals).caption(), target.caption(), tuple(change)))
    return out
