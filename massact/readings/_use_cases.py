"""Sentences from the use cases' numbers (``massact.claims.use_cases``, ``massact.claims.inversion``)."""
from __future__ import annotations

import numpy as np

from ..claims.inversion import InversionResult, psnr
from ..stats import bootstrap_mean
from ._text import bullets


def _pct(v, ci=None) -> str:
    """70% or, with an interval, 70% [55%, 85%]."""
    if v is None:
        return "n/a"
    return f"{100 * v:.0f}%" if ci is None else f"{100 * v:.0f}% [{100 * ci[0]:.0f}%, {100 * ci[1]:.0f}%]"


def _num(v, ci=None) -> str:
    if v is None:
        return "n/a"
    return f"{v:.2f}" if ci is None else f"{v:.2f} [{ci[0]:.2f}, {ci[1]:.2f}]"


def _compare_end(res: dict, fmt) -> str:
    """Transport against each baseline at the last point, read from the paired intervals."""
    text = ""
    for name, d in (res.get("end_differences") or {}).items():
        if d is None:
            continue
        lo, hi = d["ci"]
        label = name.replace("_", " ")
        diff = f"{d['mean']:+.2f} [{lo:+.2f}, {hi:+.2f}]"
        if hi < 0:
            text += f" Against {label} at the last point transport is {diff} on {d['metric'].replace('_', ' ')}: less."
        elif lo > 0:
            text += f" Against {label} at the last point transport is {diff} on {d['metric'].replace('_', ' ')}: more."
        else:
            text += (f" Against {label} at the last point transport is {diff} on {d['metric'].replace('_', ' ')}: "
                     f"the {d['n']} pair{'s' if d['n'] != 1 else ''} cannot tell them apart.")
    return text


def interpolation(res: dict) -> str:
    """Sentences from an interpolation's numbers: where transport lands against the baselines,
    with the 95% bootstrap intervals over the pairs (``claims.use_cases.interpolation``).

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
    a = lambda p: _pct(p["mean_adoption"], p.get("mean_adoption_ci"))  # noqa: E731
    n = t[-1].get("n")
    text = (f"Transport by {res['by']}" + (f" ({n} pair{'s' if n != 1 else ''})" if n else "") + f": mean source adoption goes "
            f"{a(t[0])} -> {a(t[mid])} -> {a(t[-1])} from the first to the middle to the last "
            f"point, target preservation {_pct(t[0]['target_preservation'], t[0].get('target_preservation_ci'))} -> "
            f"{_pct(t[-1]['target_preservation'], t[-1].get('target_preservation_ci'))}.")
    text += "\n"
    for name in ("pixel_blend", "embedding_lerp"):
        if name in cur:
            c = cur[name]
            text += f" {name.replace('_', ' ')}: adoption {a(c[mid])} at the middle point, {a(c[-1])} at the end."
    text += _compare_end(res, a)
    less = [d for d in (res.get("end_differences") or {}).values() if d and d["metric"] == "mean_adoption"]
    if less and all(d["ci"][1] < 0 for d in less):
        text += (" At full strength transport takes less of the source than every baseline: it moves some "
                 "attributes and keeps others, not the whole prompt.")
    return bullets(*text.split("\n"))


def _pixel_interpolation(res: dict) -> str:
    """The interpolation read from pixel distances alone (metrics that read no attribute)."""
    cur = res["curves"]
    t = cur["transport"]
    mid = len(t) // 2
    f = lambda p: _num(p["pixel_shift"], p.get("pixel_shift_ci"))  # noqa: E731
    text = (f"This model's metrics read no attribute, so adoption is not measured: pixel distances only "
            f"(the share of the way from the target to the source, pixel MSE to the target over the sum of the MSEs "
            f"to target and source: 0 is the target, 1 the source). Transport by {res['by']}: {f(t[0])} -> "
            f"{f(t[mid])} -> {f(t[-1])} from the first to the middle to the last point.\n")
    for name in ("pixel_blend", "embedding_lerp"):
        if name in cur and cur[name][-1].get("pixel_shift") is not None:
            c = cur[name]
            text += f" {name.replace('_', ' ')}: {f(c[mid])} at the middle point, {f(c[-1])} at the end."
    return bullets(*(text + _compare_end(res, f)).split("\n"))


def composition(comp: dict) -> str:
    """Sentences from a composition run: which attribute can be taken while keeping the rest.
    An attribute counts as taken when the lower end of its adoption interval reaches 50% and
    its target preservation is at least 50%.

    Args:
        comp: ``claims.use_cases.composition(...)``.
    Returns:
        a paragraph.
    """
    per = comp["per_attribute"]
    low = lambda v: (v.get("adoption_ci") or [v["adoption"]] * 2)[0]  # noqa: E731
    good = [a for a, v in per.items() if v["adoption"] is not None and low(v) >= 0.5
            and (v["target_preservation"] or 0) >= 0.5]
    some = [a for a, v in per.items() if v["adoption"] is not None and low(v) > 0 and a not in good]
    text = ("Composition (source and target differ in one attribute; 95% intervals over the pairs): " +
            "; ".join(f"{a}: taken {_pct(v['adoption'], v.get('adoption_ci'))} of {v.get('differing_pairs', '?')} "
                      f"pairs, rest kept {_pct(v['target_preservation'], v.get('target_preservation_ci'))}"
                      for a, v in per.items()) + ".")
    if good:
        text += f" One attribute can be taken while keeping the rest for: {', '.join(good)}."
    else:
        text += " No attribute is taken from the source in most pairs while keeping the rest."
    if some:
        text += f" Taken in some pairs (interval above 0, below 50%): {', '.join(some)}."
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
        two lines (``_text.bullets``): the inversion's round trip, then what was carried.
    """
    fix = f", {inv.refine} fixed-point corrections per step" if inv.refine else ""
    per = [float(v) for v in (inv.per_image_mse or [])]
    text = f"Inversion ({inv.num_steps} Euler steps backwards{fix}, guidance {inv.guidance:g}): reconstruction MSE "
    if len(per) > 1:
        est = bootstrap_mean(per)
        text += (f"{inv.mse:.4f} [{est.ci[0]:.4f}, {est.ci[1]:.4f}] over {len(per)} references (95% interval; "
                 f"PSNR {inv.psnr:.1f} dB at the mean)")
    else:
        text += f"{inv.mse:.4f} (PSNR {inv.psnr:.1f} dB)"
    if len(per) > 1:
        good = sum(v <= GOOD_ROUND_TRIP_MSE for v in per)
        bad = sum(v > FAILED_ROUND_TRIP_MSE for v in per)
        text += (f"; per reference the median is {float(np.median(per)):.4f}, and {good} "
                 f"of {len(per)} come back within MSE {GOOD_ROUND_TRIP_MSE:g} (PSNR {psnr(GOOD_ROUND_TRIP_MSE):.0f} dB)")
        if bad:
            text += (f"; {bad} fail{'s' if bad == 1 else ''} outright (MSE above {FAILED_ROUND_TRIP_MSE:g}, worst {max(per):.2f}: the inverted "
                     "noise regenerates another image), which the mean hides.")
        else:
            text += "."
    else:
        text += ", a faithful round trip." if inv.psnr >= 25 else (
            ", a rough round trip." if inv.psnr >= 15 else
            ", a poor round trip: the recorded trajectory is not the reference's.")
    text += "\n"
    carried = {a: v for a, v in m["carried"].items() if v is not None}
    if carried:
        cis = m.get("carried_ci") or {}
        hi = [a for a, v in carried.items() if v >= 0.5]
        lo = [a for a, v in carried.items() if v < 0.5]
        text += (" Carried from the reference (95% intervals over the references that differ): " +
                 ", ".join(f"{a} {_pct(v, cis.get(a))}" for a, v in carried.items()) + ".")
        if hi:
            text += f" The output takes the reference's {', '.join(hi)}"
            text += f" and keeps the new caption's {', '.join(lo)}." if lo else "."
        else:
            text += " No attribute is carried in most cases."
    if m.get("stable") is not None:
        text += f" Attributes the two already share stay in {_pct(m['stable'], m.get('stable_ci'))} of cases."
    return bullets(*text.split("\n"))
