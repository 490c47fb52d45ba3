"""Readings of how massive the channels are: the massive set per block and the timestep profile."""
from __future__ import annotations

import numpy as np

from ..channel_stats import MASSIVE_SET_RATIOS


def massive_set(rows: list[dict]) -> str:
    """How many channels per block are massive under the rule of ``channel_stats.MASSIVE_SET_RATIOS``.

    Args:
        rows: ``ChannelStats.ratio_table()`` rows.
    Returns:
        one sentence.
    """
    lo, hi = (f"massive_set_{r}x" for r in MASSIVE_SET_RATIOS)
    return (f"The massive set (channels at least {MASSIVE_SET_RATIOS[0]}x the block's median by |mean|) holds "
            f"{', '.join(str(r[lo]) for r in rows)} channels in blocks {rows[0]['block']}-{rows[-1]['block']} "
            f"({', '.join(str(r[hi]) for r in rows)} at {MASSIVE_SET_RATIOS[1]}x).")


def step_profile(profile: list[dict], block: int) -> str:
    """The direction of the top channel's magnitude over the denoising steps, at one block.

    Args:
        profile: ``ChannelStats.step_profile()`` rows.
        block: the block to read (e.g. the strongest one).
    Returns:
        the sentences ("" with fewer than two steps).
    """
    if len(profile) < 2:
        return ""
    v = np.array([r["top_channel_value"][block] for r in profile])
    ratio = [r["top1_over_median"][block] for r in profile]
    ch = profile[0]["top_channel"][block]
    rho = float(np.corrcoef(np.arange(len(v)), np.argsort(np.argsort(v)))[0, 1])  # Spearman: ranks against steps
    way = ("rises toward the clean image" if rho > 0.5 else "falls toward the clean image" if rho < -0.5
           else "shows no steady direction over the steps")
    return (f"Over the {len(v)} denoising steps channel {ch}'s |mean| at block {block} {way} ({v[0]:.2f} at the "
            f"first step, {v.max():.2f} at its peak, {v[-1]:.2f} at the last; rank correlation with the step "
            f"{rho:+.2f}); the top-1/median ratio goes from {ratio[0]:.1f} to {ratio[-1]:.1f}. Published analyses of "
            "SD3, SD3.5 and FLUX report the massive channel rising as t -> 0"
            + (": this model agrees." if rho > 0.5 else ": this model does not." if rho < -0.5 else "."))
