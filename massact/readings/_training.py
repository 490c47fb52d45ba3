"""Sentences from the claims-across-training rows (``massact.claims.training``)."""
from __future__ import annotations

from typing import Sequence

from ._text import bullets

#: (row key of a paired top-vs-control difference, what it measures)
EFFECTS = (
    ("critical_drop_top_minus_bottom", "critical (accuracy drop, top-k minus bottom-k zeroing)"),
    ("critical_drop_top_minus_random", "critical (accuracy drop, top-k minus random-k zeroing)"),
    ("spatial_miou_top_minus_bottom", "spatial (mIoU, top-k minus bottom-k clustering)"),
    ("transport_adoption_top_minus_bottom", "transport (source adoption, top-k minus bottom-k)"),
)


def _ci(r: dict, key: str, signed: bool = True) -> str:
    lo, hi = r[f"{key}_ci"]
    f = "+.2f" if signed else ".2f"
    return f"{r[key]:{f}} [{lo:{f}}, {hi:{f}}]"


def _sign(r: dict, key: str) -> int:
    lo, hi = r[f"{key}_ci"]
    return 1 if lo > 0 else -1 if hi < 0 else 0


def training(rows: Sequence[dict]) -> str:
    """A paragraph on how the massive ratio and each claim's effect change over checkpoints.

    An effect "holds" at a checkpoint when the 95% interval of its paired difference lies
    above zero; it "strengthens" when the last checkpoint's interval lies wholly above the
    first's. Nothing else is inferred (a handful of checkpoints is not a correlation).

    Args:
        rows: ``CheckpointMeasure.row()`` dicts, one per checkpoint.
    Returns:
        lines (``_text.bullets``): the checkpoints and the ratio, one line per effect, the summary.
    """
    rows = sorted(rows, key=lambda r: r["step"])
    if not rows:
        return "No checkpoints were measured."
    first, last = rows[0], rows[-1]
    out = [f"Over {len(rows)} checkpoints (steps {', '.join(str(r['step']) for r in rows)}; n = {first['n']} "
           f"images and {first['n_pairs']} caption pairs each, same prompts and seeds), the best block's top-1/median "
           f"ratio went from {first['best_massive_ratio']:.1f} to {last['best_massive_ratio']:.1f}, and clean caption "
           f"accuracy from {_ci(first, 'caption_accuracy', False)} to {_ci(last, 'caption_accuracy', False)}."]
    strengthened, held_late = [], []
    for key, what in EFFECTS:
        signs = [_sign(r, key) for r in rows]
        held = [r["step"] for r, s in zip(rows, signs) if s > 0]
        grows = last[f"{key}_ci"][0] > first[f"{key}_ci"][1]
        shrinks = last[f"{key}_ci"][1] < first[f"{key}_ci"][0]
        trend = ("it strengthened (the last interval lies above the first)" if grows else
                 "it weakened (the last interval lies below the first)" if shrinks else
                 "the first and last intervals overlap, so no change over training is shown")
        where = (f"it holds (interval above 0) at steps {', '.join(map(str, held))}" if held
                 else "its interval never lies above 0")
        out.append(f"{what[0].upper() + what[1:]}: {_ci(first, key)} at step {first['step']}, {_ci(last, key)} at "
                   f"step {last['step']}; {where}; {trend}.")
        if grows:
            strengthened.append(what.split(" ")[0])
        if signs[-1] > 0:
            held_late.append(what.split(" ")[0])
    strengthened = sorted(set(strengthened))
    summary = [f"So, on this run, the {' and '.join(strengthened)} effect(s) grew as the outliers grew." if strengthened
               else "So, on this run, no effect is shown to grow with the outliers."]
    if not held_late:
        summary.append("At the last checkpoint no effect is distinguishable from its control.")
    return bullets(*out, summary)
