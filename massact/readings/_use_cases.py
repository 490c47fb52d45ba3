"""Sentences from the use cases' numbers (``massact.claims.use_cases``, ``massact.claims.inversion``)."""
from __future__ import annotations

import numpy as np

from ..claims.inversion import InversionResult, psnr


def _pct(v) -> str:
    return "n/a" if v is None else f"{100 * v:.0f}%"


def interpolation(res: dict) -> str:
    """Sentences from an interpolation's numbers: where transport lands against the baselines.

    Args:
        res: ``claims.use_cases.interpolation(...)``.
    Returns:
        a paragraph.
    """
    cur = res["curves"]
    t = cur["transport"]
    mid = len(t) // 2
    if all(p["mean_adoption"] is None for p in t) and all(p.get("pixel_shift") is not None for p in t):
        return _pixel_interpolation(res)
    text = (f"Transport by {res['by']}: mean source adoption goes {_pct(t[0]['mean_adoption'])} -> "
            f"{_pct(t[mid]['mean_adoption'])} -> {_pct(t[-1]['mean_adoption'])} from the first to the middle to the last "
            f"point, target preservation {_pct(t[0]['target_preservation'])} -> {_pct(t[-1]['target_preservation'])}.")
    for name in ("pixel_blend", "embedding_lerp"):
        if name in cur:
            c = cur[name]
            text += (f" {name.replace('_', ' ')}: adoption {_pct(c[mid]['mean_adoption'])} at the middle point, "
                     f"{_pct(c[-1]['mean_adoption'])} at the end.")
    ends = [cur[n][-1]["mean_adoption"] for n in cur if n != "transport" and cur[n][-1]["mean_adoption"] is not None]
    if t[-1]["mean_adoption"] is not None and ends:
        if t[-1]["mean_adoption"] < min(ends) - 0.1:
            text += (" At full strength transport takes less of the source than the baselines: it moves some attributes "
                     "and keeps others, not the whole prompt.")
        elif t[-1]["mean_adoption"] >= max(ends) - 0.1:
            text += " At full strength transport takes about as much of the source as the baselines."
    return text


def _pixel_interpolation(res: dict) -> str:
    """The interpolation read from pixel distances alone (metrics that read no attribute)."""
    cur = res["curves"]
    t = cur["transport"]
    mid = len(t) // 2
    f = lambda p: f"{p['pixel_shift']:.2f}"  # noqa: E731
    text = (f"This model's metrics read no attribute, so adoption is not measured: pixel distances only "
            f"(the share of the way from the target to the source, pixel MSE to the target over the sum of the MSEs "
            f"to target and source: 0 is the target, 1 the source). Transport by {res['by']}: {f(t[0])} -> "
            f"{f(t[mid])} -> {f(t[-1])} from the first to the middle to the last point.")
    for name in ("pixel_blend", "embedding_lerp"):
        if name in cur and cur[name][-1].get("pixel_shift") is not None:
            c = cur[name]
            text += f" {name.replace('_', ' ')}: {f(c[mid])} at the middle point, {f(c[-1])} at the end."
    return text


def composition(comp: dict) -> str:
    """Sentences from a composition run: which attribute can be taken while keeping the rest.

    Args:
        comp: ``claims.use_cases.composition(...)``.
    Returns:
        a paragraph.
    """
    per = comp["per_attribute"]
    good = [a for a, v in per.items() if v["adoption"] is not None and v["adoption"] >= 0.5
            and (v["target_preservation"] or 0) >= 0.5]
    text = ("Composition (source and target differ in one attribute): " +
            "; ".join(f"{a}: taken {_pct(v['adoption'])}, rest kept {_pct(v['target_preservation'])}"
                      for a, v in per.items()) + ".")
    text += (f" One attribute can be taken while keeping the rest for: {', '.join(good)}." if good else
             " No attribute is taken from the source in most pairs while keeping the rest.")
    return text


#: a reference whose regenerated image is within this MSE counts as reconstructed (17 dB PSNR);
#: above FAILED_ROUND_TRIP_MSE the regenerated image is another image
GOOD_ROUND_TRIP_MSE = 0.02
FAILED_ROUND_TRIP_MSE = 0.1


def subject_transfer(inv: InversionResult, m: dict) -> str:
    """Sentences built from the numbers of one subject-transfer run.

    Args:
        inv: the ``InversionResult`` (its round-trip error is read first).
        m: ``claims.inversion.measure_transfer(...)``.
    Returns:
        a paragraph.
    """
    fix = f", {inv.refine} fixed-point corrections per step" if inv.refine else ""
    text = (f"Inversion ({inv.num_steps} Euler steps backwards{fix}, guidance {inv.guidance:g}): reconstruction MSE "
            f"{inv.mse:.4f} (PSNR {inv.psnr:.1f} dB)")
    per = [float(v) for v in (inv.per_image_mse or [])]
    if len(per) > 1:
        good = sum(v <= GOOD_ROUND_TRIP_MSE for v in per)
        bad = sum(v > FAILED_ROUND_TRIP_MSE for v in per)
        text += (f" over {len(per)} references; per reference the median is {float(np.median(per)):.4f}, and {good} "
                 f"of {len(per)} come back within MSE {GOOD_ROUND_TRIP_MSE:g} (PSNR {psnr(GOOD_ROUND_TRIP_MSE):.0f} dB)")
        if bad:
            text += (f"; {bad} fail outright (MSE above {FAILED_ROUND_TRIP_MSE:g}, worst {max(per):.2f}: the inverted "
                     "noise regenerates another image), which the mean hides.")
        else:
            text += "."
    else:
        text += ", a faithful round trip." if inv.psnr >= 25 else (
            ", a rough round trip." if inv.psnr >= 15 else
            ", a poor round trip: the recorded trajectory is not the reference's.")
    carried = {a: v for a, v in m["carried"].items() if v is not None}
    if carried:
        hi = [a for a, v in carried.items() if v >= 0.5]
        lo = [a for a, v in carried.items() if v < 0.5]
        text += " Carried from the reference: " + ", ".join(f"{a} {_pct(v)}" for a, v in carried.items()) + "."
        if hi:
            text += f" The output takes the reference's {', '.join(hi)}"
            text += f" and keeps the new caption's {', '.join(lo)}." if lo else "."
        else:
            text += " No attribute is carried in most cases."
    if m.get("stable") is not None:
        text += f" Attributes the two already share stay in {_pct(m['stable'])} of cases."
    return text
