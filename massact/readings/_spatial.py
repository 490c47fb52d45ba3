"""Sentences from the spatial claim's numbers (claim 2, ``massact.claims.spatial``)."""
from __future__ import annotations

import numpy as np

from .. import stats
from ..claims.spatial import MINIMUM, SpatialResult
from ._critical import _iv, random_words
from ._text import bullets


def spatial(result: SpatialResult, margin: float = 0.1) -> str:
    """Sentences built from a spatial evaluation's numbers.

    Does top-k beat bottom-k, random-k and the trivial all-foreground mask at its best block,
    by more than the noise of the per-image differences? The verdict is ``stats.verdict`` of
    each paired difference with ``claims.spatial.MINIMUM`` (the rule of the curve over k too),
    the weaker comparison deciding. Then how the polarity rules compare.

    Args:
        result: a ``SpatialResult`` (``claims.spatial.evaluate``).
        margin: the mIoU gap by which a polarity rule counts as clearly worse than the oracle.
    Returns:
        lines (``_text.bullets``): the result against the controls, its paired verdict, the
        polarity rules, the failure modes, the steps.
    """
    if not result.scored:
        text = ("No foreground masks were available, so the masks cannot be scored; "
                "pass mask_fn=... (images -> bool masks) to measure IoU.")
        step = result.curve_step
        rows = result.select(step=step).table(ndigits=4)
        text += (f" What was measured without them, at step {step}: the share of tokens the border "
                 "rule calls foreground, per block, " + "; ".join(
                     f"{a}-{result.k} " + ", ".join(f"{r['foreground_share']:.2f}" for r in rows.select(arm=a))
                     for a in result.arms) + f" (blocks {', '.join(str(b) for b in result.blocks)}).")
        speck = [m for a in result.arms for m in result.failure_modes(a, step) if m["speckle_share"]]
        if speck:
            text += (f" Speckle (a tiny cluster of outlier tokens instead of a region) at {len(speck)} of "
                     f"{len(rows)} (arm, block) settings.")
        return text
    if "top" not in result.arms:
        return "The top-k arm was not evaluated, so the claim cannot be read."
    step = result.curve_step
    top = result.curve("top", "border")
    bi = int(np.argmax(top))
    bb = result.blocks[bi]
    chance = result.all_foreground_iou
    parts = [f"At the last evaluated step ({step}), clustering on the top-{result.k} channels (border rule) reaches "
             f"mIoU {top[bi]:.2f} at its best block, {bb} (blocks range {top.min():.2f}-{top.max():.2f}); "
             f"marking every pixel as foreground would score {chance:.2f}"
             + (f", and the best mask made of whole tokens (the ceiling of any clustering on this grid) "
                f"{result.grid_ceiling:.2f}." if result.grid_ceiling is not None else ".")]
    others = {a: result.curve(a, "border") for a in ("bottom", "random") if a in result.arms}
    # each control at its own best block (giving it top's block would favour top), as on the curve over k
    own = {a: result.best_block(a, step=step) for a in others}
    if others:
        parts.append("Each control at its own best block: " + ", ".join(
            f"{a}-{result.k} {float(v.max()):.2f} (block {own[a]})" for a, v in others.items()) + ".")
    # paired per-image differences: is the gap resolved from its noise?
    diffs = {a: result.difference("miou", dict(arm="top", block=bb), dict(arm=a, block=own[a]), step=step)
             for a in others}
    if chance is not None:
        diffs["all-foreground"] = stats.bootstrap_mean(result.per_item("miou", arm="top", block=bb, step=step) - chance)
    head, parts = parts, []
    if diffs:
        words = {a: stats.verdict(e, MINIMUM) for a, e in diffs.items()}
        status = max(words.values(), key=stats.VERDICTS.index)
        parts.append(f"Paired over the same {result.num_images} images (95% bootstrap intervals), top-{result.k} "
                     f"at block {bb} leads each at its best block: " + ", ".join(f"{a}{'' if a == 'all-foreground' else f'-{result.k}'} by "
                                                       f"{e:.2f}" for a, e in diffs.items()) + ".")
        parts.append(f"Verdict at k = {result.k}: {status} (every lead must lie above 0 and reach {MINIMUM:.2f}; "
                     "the best blocks were picked on the same images).")
    verdict, parts = parts, []
    orc, act = result.curve("top", "oracle"), result.curve("top", "activation")
    fa, fb = result.flip_rate("top", "activation").mean(), result.flip_rate("top", "border").mean()
    parts.append(f"Polarity (top-k, averaged over blocks): border rule {top.mean():.2f}, activation rule "
                 f"{act.mean():.2f}, oracle {orc.mean():.2f}. The activation rule picks the worse cluster for "
                 f"{100 * fa:.0f}% of the images, the border rule for {100 * fb:.0f}%.")
    flips = [b for b, a, o in zip(result.blocks, act, orc) if a < o - margin]
    if flips:
        parts.append(f"At blocks {flips} the activation rule falls more than {margin:.2f} below the oracle: its "
                     "masks come out inverted for many images, the failure a public reproduction ran into.")
    else:
        parts.append(f"The activation rule stays within {margin:.2f} of the oracle at every block here (it can fail "
                     "elsewhere: always compare with the oracle).")
    worst = int(np.argmax(orc - top))
    if orc[worst] - top[worst] > margin:
        parts.append(f"The border rule loses {orc[worst] - top[worst]:.2f} against the oracle at block "
                     f"{result.blocks[worst]}: a polarity rule is still a guess where the clusters are not "
                     "subject and background.")
    polarity, parts = parts, []
    diag = result.failure_modes("top", step) if result.diagnostics else []
    offset = [(r["block"], r["offset_channels"]) for r in diag if r["offset_channels"]]
    speck = [(r["block"], r["speckle_images"]) for r in diag if r["speckle_images"]]
    if offset:
        parts.append("Failure mode, constant offsets: some top channels barely vary across tokens (spread below "
                     "1% of their mean), so they carry no mask: " + "; ".join(
                         f"block {b}: channels {cs}" for b, cs in offset[:4]) + (" ..." if len(offset) > 4 else "") + ".")
    if speck:
        parts.append("Failure mode, speckle: at " + ", ".join(f"block {b} ({n} images)" for b, n in speck[:4])
                     + " one k-means cluster is only a few high-norm tokens, not a region.")
    over_steps = ""
    if len(result.steps) > 1:
        m = result.miou("top", "border")
        over_steps = (f"Over steps, block {bb} scores best at step {result.steps[int(np.argmax(m[bi]))]} "
                      f"({m[bi].max():.2f}) and worst at step {result.steps[int(np.argmin(m[bi]))]} "
                      f"({m[bi].min():.2f}).")
    return bullets(head, verdict, polarity, parts, over_steps)


def over_k(ov: dict) -> str:
    """Sentences from ``claims.spatial.over_k``: where the claim holds over k and where it fades.

    Args:
        ov: the dict ``over_k`` returned.
    Returns:
        two lines (``_text.bullets``): the ks at which top beats every control (the verdict of the
        weaker comparison), then top - control for each control at each k.
    """
    rows = ov["per_k"]
    if not rows:
        return ""
    status = {}
    for r in rows:  # the weaker of the comparisons (VERDICTS runs strongest first)
        status[r["k"]] = max(r["verdict"].values(), key=stats.VERDICTS.index) if r["verdict"] else None
    by = {v: [k for k, s in status.items() if s == v] for v in stats.VERDICTS}
    said = [f"{v} at k = {', '.join(str(k) for k in ks)}" for v, ks in by.items() if ks]
    summary = (f"Over k, the spatial claim is {'; '.join(said)}" if said else "Over k, no control arm was run")
    summary += (f" (step {ov['step']}, each arm at its own best block, paired over the same images; "
                f"{random_words(ov.get('random_outside', 0))}; a difference must reach {ov['minimum']:.2f} to count).")
    parts = []
    for r in rows:
        diffs = ", ".join(f"top - {c} {_iv(r[f'top-{c}'], '+.2f')}" for c in r["verdict"])
        parts.append(f"k = {r['k']}: top {r['miou']['top']['mean']:.2f} at block {r['best_block']['top']}"
                     + (f", {diffs}" if diffs else ""))
    return bullets(summary, "; ".join(parts) + ".")
