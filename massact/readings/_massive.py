"""Readings of how massive the channels are: the massive set per block, the timestep profile, and
what the top channels are (``claims.channels.decompose``)."""
from __future__ import annotations

import numpy as np

from ..channel_stats import MASSIVE_SET_RATIOS
from ..claims.channels import SOURCES

#: a channel is read as an offset (a bias) when the offset holds at least this share of its mean square
OFFSET_CHANNEL = 0.5
#: a channel varies across prompts when the prompt share of its mean square is at least this
PROMPT_CHANNEL = 0.25
#: an attribute explains a channel's across-prompt variation when its adjusted eta^2,
#: (eta^2 - chance) / (1 - chance), is at least this
EXPLAINED = 0.5
#: an attribute is read only when its chance eta^2, (values - 1) / (prompts - 1), is at most this: with
#: fewer prompts per value the groups fit the per-prompt means by luck
MAX_CHANCE = 0.3
#: a rank correlation with the step beyond +-this is a steady direction
STEADY = 0.5


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


def _direction(values) -> tuple[float, str]:
    """The Spearman rank correlation of values with the step, and their direction in words."""
    v = np.asarray(values, dtype=np.float64)
    rho = float(np.corrcoef(np.arange(len(v)), np.argsort(np.argsort(v)))[0, 1])
    way = ("rises toward the clean image" if rho > STEADY else "falls toward the clean image" if rho < -STEADY
           else "shows no steady direction over the steps")
    return rho, way


def step_trend(profile: list[dict], block: int) -> dict | None:
    """The numbers ``step_profile`` reads: at one block, the top channel's |mean| and the
    top-1/median ratio at the first and last denoising steps, and their rank correlations with
    the step (positive: rising toward t -> 0, the clean image).

    Args:
        profile: ``ChannelStats.step_profile()`` rows.
        block: the block to read.
    Returns:
        {"block", "channel", "num_steps", "first", "peak", "last", "rank_correlation", "direction",
        "ratio_first", "ratio_last", "ratio_rank_correlation", "ratio_direction"} (rounded as the
        reading quotes them), or None with fewer than two steps.
    """
    if len(profile) < 2:
        return None
    v = [r["top_channel_value"][block] for r in profile]
    ratio = [r["top1_over_median"][block] for r in profile]
    rho, way = _direction(v)
    rho_ratio, way_ratio = _direction(ratio)
    return {"block": block, "channel": profile[0]["top_channel"][block], "num_steps": len(v), "first": round(v[0], 2),
            "peak": round(max(v), 2), "last": round(v[-1], 2), "rank_correlation": round(rho, 2), "direction": way,
            "ratio_first": round(ratio[0], 1), "ratio_last": round(ratio[-1], 1),
            "ratio_rank_correlation": round(rho_ratio, 2), "ratio_direction": way_ratio}


def step_profile(profile: list[dict], block: int) -> str:
    """The direction of the top channel's magnitude and of the top-1/median ratio over the
    denoising steps (toward t -> 0, the clean image), at one block, against published analyses.

    Args:
        profile: ``ChannelStats.step_profile()`` rows.
        block: the block to read (e.g. the strongest one).
    Returns:
        the sentences ("" with fewer than two steps), quoting ``step_trend``.
    """
    t = step_trend(profile, block)
    if t is None:
        return ""
    way, way_ratio, rho = t["direction"], t["ratio_direction"], t["rank_correlation"]
    return (f"Over the {t['num_steps']} denoising steps (the last is t -> 0, the clean image), channel {t['channel']}'s "
            f"|mean| at block {block} {way}: {t['first']:.2f} at the first step, {t['peak']:.2f} at its peak, "
            f"{t['last']:.2f} at the last (rank correlation with the step {rho:+.2f}). The top-1/median ratio "
            f"{way_ratio}: {t['ratio_first']:.1f}x to {t['ratio_last']:.1f}x ({t['ratio_rank_correlation']:+.2f}). "
            "Published analyses of SD3, SD3.5 and FLUX report the massive channel's magnitude rising as t -> 0"
            + (": this model agrees." if rho > STEADY else ": this model does not." if rho < -STEADY else "."))


def _percent(values) -> str:
    """Shares as "88%, 71% and 79%"."""
    words = [f"{v:.0%}" for v in values]
    return words[0] if len(words) == 1 else ", ".join(words[:-1]) + " and " + words[-1]


def _best_attribute(row: dict) -> tuple[str, float, float, float] | None:
    """The attribute that best explains a row's per-prompt means beyond chance: (attribute, eta^2,
    chance, adjusted eta^2), among those that vary with a chance level of at most ``MAX_CHANCE``;
    None when there is none."""
    chance = row["attribute_chance"]
    found = [(a, e, chance[a], (e - chance[a]) / (1 - chance[a])) for a, e in row["attribute_shares"].items()
             if e is not None and chance[a] <= MAX_CHANCE]
    return max(found, key=lambda f: f[3]) if found else None


def decomposition(rows: list[dict], block: int) -> str:
    """What the top channels of a block are: a constant offset, or a code that varies across prompts.

    Args:
        rows: ``claims.channels.decompose_top`` rows (a ``rank`` each, 1 = the top channel; the
          block's median channel marked ``"median": True``), with ``attribute_shares`` and
          ``attribute_chance`` when the prompts' attributes were read.
        block: the block they come from.
    Returns:
        the sentences (under ~120 words).
    """
    top = [r for r in rows if not r.get("median")]
    median = [r for r in rows if r.get("median")]
    offset = [r for r in top if r["offset"] >= OFFSET_CHANNEL]
    other = [r for r in top if r["offset"] < OFFSET_CHANNEL]
    parts = []
    if offset:
        many = len(offset) > 1
        parts.append(f"At block {block}, channel{'s' if many else ''} {', '.join(str(r['channel']) for r in offset)} "
                     f"(rank{'s' if many else ''} {', '.join(str(r['rank']) for r in offset)}) "
                     f"{'are' if many else 'is'} mostly a constant offset: it holds "
                     f"{_percent([r['offset'] for r in offset])} of {'their' if many else 'its'} mean square.")
    for r in other:
        main = max(SOURCES, key=lambda k: r[k])
        parts.append(f"{'Channel' if parts else f'At block {block}, channel'} {r['channel']} (rank {r['rank']}) is "
                     f"mostly {main} ({r[main]:.0%}) and {r['offset']:.0%} offset.")
    for r in median:
        main = max(SOURCES, key=lambda k: r[k])
        parts.append(f"The median channel {r['channel']} is {r['offset']:.0%} offset and mostly {main} "
                     f"({r[main]:.0%}).")
    if offset:
        parts.append("An offset is a bias: carried from one prompt's run into another's it cannot transport "
                     "semantics, and zeroing it tests how much the network relies on that bias (the critical claim's "
                     "mean-ablation control).")
    if not any("attribute_shares" in r for r in top):
        parts.append("The prompts' attributes were not read (the model has no world that names them).")
        return " ".join(parts)
    best = {r["channel"]: _best_attribute(r) for r in top}
    if not any(best.values()):
        parts.append(f"Too few prompts per attribute value to read what the channels' variation across prompts "
                     f"follows (every attribute's chance eta^2 is above {MAX_CHANCE}, or none varies).")
        return " ".join(parts)
    carriers = [r for r in top if r["prompt"] >= PROMPT_CHANNEL]
    for r in carriers:
        found = best[r["channel"]]
        if found and found[3] >= EXPLAINED:
            a, e, c, _ = found
            parts.append(f"Channel {r['channel']} varies across prompts ({r['prompt']:.0%} of its mean square) and "
                         f"the {a} explains {e:.0%} of that (chance {c:.0%}): it is a code for the {a}.")
        else:
            parts.append(f"Channel {r['channel']} varies across prompts ({r['prompt']:.0%} of its mean square), but "
                         "no attribute explains that beyond chance.")
    if not carriers:
        prompt = [r["prompt"] for r in top]
        explained = [r for r in top if best[r["channel"]] and best[r["channel"]][3] >= EXPLAINED]
        text = (f"No top channel varies mainly across prompts (prompt shares {min(prompt):.0%}-{max(prompt):.0%}), so "
                "none is an attribute code by itself")
        if explained:
            r = max(explained, key=lambda r: best[r["channel"]][3])
            a, e, c, _ = best[r["channel"]]
            text += (f"; the little that channel {r['channel']} varies across prompts follows the {a} "
                     f"({e:.0%} explained, chance {c:.0%})")
        parts.append(text + ".")
    return " ".join(parts)
