"""Caption pairs in the toy world: (source, target) captions that differ in chosen attributes."""
from __future__ import annotations

from typing import Sequence

import numpy as np

from ..checks import check_int
from ..world import CaptionPair
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
    n = check_int("n", n, 1, what="how many pairs")
    names = world.ATTRIBUTE_NAMES
    if differ is not None:
        differ = (differ,) if isinstance(differ, str) else tuple(differ)
        bad = [a for a in differ if a not in names]
        if bad or not differ:
            raise ValueError(f"unknown attributes {bad or differ}; choose from {names}")
    else:
        per_pair = check_int("per_pair", per_pair, 1, len(names), what="attributes changed per pair")
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
