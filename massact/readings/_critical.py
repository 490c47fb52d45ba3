"""Sentences from the disruption probe's numbers (claim 1, ``massact.claims.critical``).

``verdict(result)`` is the comparison the sentences rest on (which arm hurts how much, and
whether that is "reproduced", "weak" or "not reproduced", the words of ``massact.stats.VERDICTS``);
``critical(result, breakdown, independence)`` writes them. Nothing here runs a model: every word
follows from a number.

When the result keeps per-image values (every ``probe`` result does), the status follows
from the paired bootstrap intervals of the differences top - control (``massact.stats.verdict``
on the extra harm of top over bottom and over random, the weaker of the two; a caption
accuracy difference must reach ``WEAK_DROP`` to count as "reproduced"), and the sentences
quote them ("top-8 lowers caption accuracy 0.12 [0.08, 0.16] more than random-8"). A metric
measured only on the whole set (a CLIP score) falls back to the point-estimate thresholds below.
"""
from __future__ import annotations

import math

from .. import stats
from ..claims.critical import ARMS, ATTRIBUTE_GROUPS, PER_IMAGE_METRICS, ProbeResult, condition
from ._text import bullets

#: reading thresholds, in caption-accuracy points (fraction of attributes): a drop of at least
#: STRONG_DROP is "collapse-like", below WEAK_DROP it is "no clear effect"
STRONG_DROP = 0.15
WEAK_DROP = 0.05

#: the verdict words, strongest first, as ``massact.stats.VERDICTS`` spells them
_REPRODUCED, _WEAK, _NOT_REPRODUCED = stats.VERDICTS


def _fmt(v, spec=".2f") -> str:
    return "n/a" if v is None or (isinstance(v, float) and math.isnan(v)) else format(v, spec)


def _main_metric(base: dict) -> tuple[str, str, bool]:
    """(key, name, higher_is_better) of the metric the reading leads with."""
    if base.get("caption_accuracy") is not None:
        return "caption_accuracy", "caption accuracy", True
    if base.get("clip_score") is not None:
        return "clip_score", "CLIP score", True
    return "pixel_mse", "pixel MSE to the clean image", False


def verdict(result: ProbeResult, k: int | None = None, blocks: str | None = None, steps: str | None = None) -> dict:
    """The numbers the reading rests on, for one condition of a probe.

    Args:
        result: a ``ProbeResult``.
        k, blocks, steps: the condition (default: the largest k of the first blocks/steps run).
    Returns:
        {"k", "blocks", "steps", "metric", "metric_name", "baseline", "values" (per arm),
        "random_std", "drops" (per arm; positive = worse than clean), "toy_fid",
        "baseline_fid", "status"}; status is one of ``massact.stats.VERDICTS`` ("reproduced",
        "weak", "not reproduced") or "no top arm".
    """
    conds = result.edited_conditions()
    if not conds:
        raise ValueError("the result holds no edited rows")
    blocks = conds[0][1] if blocks is None else blocks
    steps = conds[0][2] if steps is None else steps
    k = max(c[0] for c in conds if c[1] == blocks and c[2] == steps) if k is None else k
    base = result.baseline
    key, name, higher = _main_metric(base)
    zeroed = lambda v: v in (None, "zero")  # noqa: E731  (rows of mean ablation are read apart)
    arms = {r["arm"]: r for r in result.select(k=k, blocks=blocks, steps=steps, ablation=zeroed).table()}

    def drop(arm):  # positive = worse than clean
        r = arms.get(arm)
        if r is None or r.get(key) is None:
            return None
        return base[key] - r[key] if higher else r[key] - base[key]

    d = {a: drop(a) for a in ARMS}
    rnd_std = arms.get("random", {}).get(f"{key}_std") or 0.0
    out = {"k": k, "blocks": blocks, "steps": steps, "metric": key, "metric_name": name, "baseline": base.get(key),
           "values": {a: (arms[a].get(key) if a in arms else None) for a in ARMS},
           "random_std": rnd_std, "drops": d, "toy_fid": {a: arms[a].get("toy_fid") for a in arms},
           "baseline_fid": base.get("toy_fid")}
    top, bot, rnd = d["top"], d["bottom"], d["random"]
    if top is None:
        out["status"] = "no top arm"
        return out
    if key in PER_IMAGE_METRICS and key in result.metrics:
        return _interval_verdict(result, out, key, higher, k, blocks, steps)
    others = [v for v in (bot, rnd) if v is not None]
    worst_other = max(others) if others else 0.0
    if key == "pixel_mse":  # no judge: compare MSEs relative to the control arms
        strong = top > 2 * max(worst_other, 1e-12) and top > 0
        status = _REPRODUCED if strong else (_WEAK if top > worst_other else _NOT_REPRODUCED)
    elif top >= STRONG_DROP and top > worst_other + max(WEAK_DROP, 2 * rnd_std):
        status = _REPRODUCED
    elif top > worst_other and top >= WEAK_DROP:
        status = _WEAK
    else:
        status = _NOT_REPRODUCED
    out["status"] = status
    return out


def harm(result: ProbeResult, metric: str, higher: bool, arm_a: str, arm_b: str, k, blocks, steps,
         ablation_a: str = "zero", ablation_b: str = "zero") -> stats.Estimate:
    """How much more arm_a damages the images than arm_b, per image, paired (> 0: a hurts more)."""
    a, b = condition(arm_a, k, blocks, steps, ablation_a), condition(arm_b, k, blocks, steps, ablation_b)
    return result.difference(metric, b, a) if higher else result.difference(metric, a, b)


def _interval_verdict(result, out: dict, key: str, higher: bool, k, blocks, steps) -> dict:
    minimum = 0.0 if key == "pixel_mse" else WEAK_DROP
    # what was run at this condition (a merged result may hold controls at one k only)
    here = {(c["ablation"], c["arm"]) for c in result.conditions if (c["k"], c["blocks"], c["steps"]) == (k, blocks, steps)}
    run = {arm for ab, arm in here if ab == "zero"}
    abl = {ab for ab, arm in here if arm == "top"}
    diffs, verdicts = {}, {}
    diffs["top-clean"] = harm(result, key, higher, "top", "none", k, blocks, steps)
    for c in ("bottom", "random", "energy"):
        if c in run:
            diffs[f"top-{c}"] = harm(result, key, higher, "top", c, k, blocks, steps)
            verdicts[c] = stats.verdict(diffs[f"top-{c}"], minimum)
    if "mean" in abl:
        diffs["top_mean-clean"] = harm(result, key, higher, "top", "none", k, blocks, steps, "mean")
        diffs["top_zero-top_mean"] = harm(result, key, higher, "top", "top", k, blocks, steps, "zero", "mean")
    core = [verdicts[c] for c in ("bottom", "random") if c in verdicts]
    # the weaker of the two (VERDICTS runs strongest first)
    overall = max(core, key=stats.VERDICTS.index) if core else stats.verdict(diffs["top-clean"], minimum)
    out.update({"status": overall, "verdict_rule": "intervals", "minimum": minimum,
                "intervals": {name: e.summary() for name, e in diffs.items()},
                "interval_verdicts": verdicts, "n": diffs["top-clean"].n,
                "estimates": {a: result.estimate(key, **condition(a, k, blocks, steps)).summary()
                              for a in ["none"] + [a for a in ALL_READ if a in run]}})
    return out


ALL_READ = ("top", "bottom", "random", "energy")


def _num(v: float, spec: str) -> str:
    out = format(v, spec)
    return out[1:] if out.startswith("-") and float(out) == 0 else out  # no "-0.00"


def _iv(summary: dict, spec: str = ".2f") -> str:
    return f"{_num(summary['mean'], spec)} [{_num(summary['ci'][0], spec)}, {_num(summary['ci'][1], spec)}]"


def _interval_sentences(v: dict, outside: int = 0) -> list[str]:
    """The sentences that quote the paired intervals (see ``_interval_verdict``); ``outside``:
    the top channels the control arms left out (the probe's ``random_outside``)."""
    iv, k, name = v["intervals"], v["k"], v["metric_name"]
    spec = ".4f" if v["metric"] == "pixel_mse" else ".2f"
    verb = "raises" if v["metric"] == "pixel_mse" else "lowers"
    out = [f"Paired over the same {v['n']} images (95% bootstrap intervals): top-{k} {verb} {name} by "
           f"{_iv(iv['top-clean'], spec)} against the clean images"]
    for c in ("bottom", "random"):
        if f"top-{c}" in iv:
            out[-1] += f"; {_iv(iv[f'top-{c}'], spec)} more than {c}-{k}"
    out[-1] += "."
    return out + _control_sentences(v, outside)


def energy_words(outside: int, k: int) -> str:
    """The energy-matched arm, in words: the pool it was drawn from (``outside``: the top channels
    left out, 0 = the top-k) and what it matches."""
    return (f"random channels drawn outside each block's top-{max(outside, k)} with the same summed squared "
            f"activation as the top-{k}")


def _control_sentences(v: dict, outside: int = 0) -> list[str]:
    """The controls' sentences: energy-matched channels (drawn outside the top-``outside``, at
    least the top-k) and mean ablation (where run)."""
    iv, k, name = v["intervals"], v["k"], v["metric_name"]
    spec = ".4f" if v["metric"] == "pixel_mse" else ".2f"
    verb = "raises" if v["metric"] == "pixel_mse" else "lowers"
    out = []
    if "top-energy" in iv:
        e, ev = iv["top-energy"], v["interval_verdicts"]["energy"]
        words = energy_words(outside, k)
        if ev == _REPRODUCED:
            out.append(f"Against {words}, top-{k} still hurts {_iv(e, spec)} more: the massive channels are "
                       "special, not only large.")
        elif ev == _WEAK:
            out.append(f"Against {words}, the extra harm of top-{k} is {_iv(e, spec)}: weak, so much of the effect "
                       "may come from how large the removed activations are.")
        else:
            out.append(f"{words[0].upper() + words[1:]} hurt as much as top-{k} ({_iv(e, spec)}): on these numbers "
                       "what matters is how large the removed activations are, not which channels they are.")
    if "top_mean-clean" in iv:
        m, z = iv["top_mean-clean"], iv["top_zero-top_mean"]
        harmless = m["ci"][0] <= 0 or m["mean"] < (0.0 if v["metric"] == "pixel_mse" else WEAK_DROP)
        txt = (f"Mean ablation (the top-{k} channels set to their calibration mean at each block and step) "
               f"{verb} {name} by {_iv(m, spec)}; zeroing hurts {_iv(z, spec)} more than mean ablation.")
        if harmless and z["ci"][0] > 0:
            small = "harmless" if m["ci"][0] <= 0 else f"small (under the {WEAK_DROP:.2f} this package calls an effect)"
            txt += (f" Mean ablation is {small} while zeroing is clearly worse: the channels act mostly like a bias "
                    "(a constant the network relies on) rather than a carrier of image-specific information.")
        elif not harmless:
            txt += (" Mean ablation is destructive too: the channels carry information beyond their mean "
                    "(what varies from image to image matters).")
        else:
            txt += " The intervals do not separate the two readings (bias-like vs information-carrying)."
        out.append(txt)
    return out


def controls(result: ProbeResult, k: int | None = None, blocks: str | None = None, steps: str | None = None) -> str:
    """The controls' reading at one condition: mean ablation beside zeroing, and energy-matched
    random channels, each from its paired interval (empty when neither was run there).

    Args:
        result: a ``ProbeResult`` run with ablation=("zero", "mean") and/or the "energy" arm.
        k, blocks, steps: the condition (default: the largest k of the first blocks/steps).
    Returns:
        the sentences, or "" when the result holds no controls at that condition.
    """
    v = verdict(result, k, blocks, steps)
    if v.get("verdict_rule") != "intervals":
        return ""
    return " ".join(_control_sentences(v, result.meta.get("random_outside", 0)))


def _breakdown_sentences(breakdown: list[dict], arm: str = "top") -> list[str]:
    k_el = [r["k"] for r in breakdown if r["arm"] == arm and r["steps"] in ("early", "late")]
    if not k_el:
        return []
    rows = {r["steps"]: r for r in breakdown if r["arm"] == arm and r["k"] == k_el[0]}
    controls = {r["steps"]: r for r in breakdown if r["arm"] == "random" and r["k"] == k_el[0]}
    groups = [g for g in ATTRIBUTE_GROUPS if any(f"group_{g}" in r for r in rows.values())]
    out = []
    for st in ("early", "late"):
        r = rows.get(st)
        if r is None:
            continue
        detail = f"detail energy changes by {-r['detail_loss']:+.0%}"
        if groups:
            drops = {g: r[f"group_{g}"] for g in groups if f"group_{g}" in r}
            worst = max(drops, key=drops.get)
            desc = ", ".join(f"{g} {drops[g]:+.2f}" for g in groups if g in drops)
            if drops[worst] < WEAK_DROP:
                out.append(f"Zeroing the {arm}-{r['k']} channels only at {st} steps lowers no attribute group's "
                           f"accuracy by {WEAK_DROP:.2f} or more (drops: {desc}); {detail}.")
            else:
                out.append(f"Zeroing the {arm}-{r['k']} channels only at {st} steps hurts {worst} most "
                           f"(accuracy drops: {desc}); {detail}.")
            c = controls.get(st)
            if c is not None and "drop_mean" in c and "drop_mean" in r:
                out[-1] = out[-1][:-1] + (f" (mean drop {r['drop_mean']:+.2f}; random-{c['k']} at the same steps: "
                                          f"{c['drop_mean']:+.2f}).")
        else:
            out.append(f"Zeroing the {arm}-{r['k']} channels only at {st} steps: pixel MSE {r['pixel_mse']:.4f}; "
                       f"{detail}.")
    e, l_ = rows.get("early"), rows.get("late")
    if e is not None and l_ is not None and "drop_mean" in e:
        de, dl = e["drop_mean"], l_["drop_mean"]
        if max(de, dl) < WEAK_DROP:
            out.append(f"Neither early nor late zeroing lowers caption accuracy by {WEAK_DROP:.2f} or more, so this "
                       "experiment cannot tell the semantic reading from the detail reading apart.")
        elif de > dl + WEAK_DROP:
            out.append("Early zeroing breaks the prompt's attributes more than late zeroing: the channels matter "
                       "while layout and semantics are decided, as the paper's semantic reading expects.")
        elif dl > de + WEAK_DROP:
            out.append("Late zeroing breaks the attributes more than early zeroing: closer to Gan et al.'s "
                       "timestep/detail reading.")
        else:
            out.append(f"Early and late zeroing break the attributes about equally (within {WEAK_DROP:.2f}): "
                       "this experiment does not separate the two readings.")
    if e is not None and l_ is not None:
        if l_["detail_loss"] > 0.05 and l_["detail_loss"] > e["detail_loss"] + 0.05 and \
                l_.get("drop_mean", 0.0) < WEAK_DROP:
            out.append("Late zeroing removes detail while keeping the attributes, which is what Gan et al. describe.")
    return out


def _independence_sentences(ind: dict) -> list[str]:
    k, ch = ind["k"], ind["chance"]
    pv, ap, asd = ind["prompt_vs_pooled"], ind["across_prompts"], ind["across_seeds"]
    s = (f"Top-{k} channels per prompt overlap the pooled ranking with Jaccard {pv:.2f} on average "
         f"(two random {k}-sets: {ch:.2f})")
    out = []
    if ap is not None and asd is not None:
        out.append(s + f"; single images of different prompts (same seed) agree at {ap:.2f}, of different seeds "
                   f"(same prompt) at {asd:.2f}.")
        if ap < asd - 0.1:
            out.append("Different prompts pick different top channels more than different seeds do: the ranking is "
                       "partly prompt-conditioned.")
        elif pv >= 0.7:
            out.append("The top channels are essentially prompt-independent: about the same few channels whatever "
                       "the prompt.")
        else:
            out.append("The overlap is partial, and prompts differ no more than seeds do: the ranking varies, but "
                       "not specifically with the prompt.")
        if asd < ap - 0.1:
            out.append("Single images from different noise disagree more than different prompts do: per image, the "
                       "ranking follows the seed rather than the prompt.")
    else:
        out.append(s + ".")
    e, l_ = ind.get("early_steps_vs_pooled"), ind.get("late_steps_vs_pooled")
    if e is not None and l_ is not None:
        if abs(e - l_) > 0.15 or min(e, l_) < 0.5:
            out.append(f"Across steps the top set shifts (early steps {e:.2f}, late steps {l_:.2f} against the pooled "
                       "ranking): the ranking depends on the timestep.")
        else:
            out.append(f"Across steps the top set is stable (early steps {e:.2f}, late steps {l_:.2f} against the "
                       "pooled ranking).")
    return out


def critical(result: ProbeResult, breakdown: list[dict] | None = None, independence: dict | None = None,
             k: int | None = None, blocks: str | None = None, steps: str | None = None) -> str:
    """Sentences built from a probe's numbers.

    Args:
        result: a ``ProbeResult`` (``claims.critical.probe``).
        breakdown: ``attribute_breakdown(...)`` rows (early/late zeroing), optional.
        independence: ``prompt_independence(...)``, optional.
        k, blocks, steps: the condition the verdict is read at (default: largest k).
    Returns:
        lines (``_text.bullets``): the arms' values at k, the paired verdict at k, the verdict
        over k, then the breakdown and independence sentences when given.
    """
    v = verdict(result, k, blocks, steps)
    name = v["metric_name"]
    vals = v["values"]
    where = f"at blocks {v['blocks']}, steps {v['steps']}"
    parts = []
    base = v["baseline"]
    steps_note = f" ({result.meta['num_steps']} sampler steps, as every image of this probe)" \
        if result.meta.get("num_steps") else ""
    s = f"Clean images{steps_note}: {name} {_fmt(base, '.3g' if v['metric'] == 'pixel_mse' else '.2f')}. "
    if v["metric"] == "pixel_mse":
        s = ""
    seg = []
    for arm in ARMS:
        if vals[arm] is None:
            continue
        txt = f"{arm}-{v['k']}: {_fmt(vals[arm], '.4f' if v['metric'] == 'pixel_mse' else '.2f')}"
        if arm == "random":
            txt += f" ± {_fmt(v['random_std'], '.4f' if v['metric'] == 'pixel_mse' else '.2f')}"
        seg.append(txt)
    parts.append(s + f"Zeroing {where}, {name}: " + "; ".join(seg) + ".")
    fids = v["toy_fid"]
    if v["baseline_fid"] is not None and fids.get("top") is not None:
        below = [a for a in ("top", "bottom", "random") if fids.get(a) is not None and fids[a] < v["baseline_fid"]]
        parts.append(f"Toy FID (one number for the whole set of {v.get('n', 'these')} images, no interval; at this n it is "
                     "dominated by its small-sample bias, so compare it only at the same n and steps) goes from "
                     f"{v['baseline_fid']:.0f} (clean) to {fids['top']:.0f} (top)"
                     + (f", {fids['bottom']:.0f} (bottom)" if fids.get("bottom") is not None else "")
                     + (f", {fids['random']:.0f} (random)" if fids.get("random") is not None else "") + "."
                     + (f" A value below the clean one ({', '.join(below)}) is that noise, not better images."
                        if below else ""))
    if v["metric"] == "caption_accuracy" and base is not None and base < 0.5:
        parts.append(f"Caveat: the clean images themselves reach only {base:.2f} caption accuracy, so the judge "
                     "has little room to register a collapse; the pixel numbers below matter more.")
    mse = {}
    for a in ARMS:
        rs = result.select(arm=a, k=v["k"], blocks=v["blocks"], steps=v["steps"],
                           ablation=lambda x: x in (None, "zero")).table()
        if rs and rs[0].get("pixel_mse") is not None:
            mse[a] = rs[0]["pixel_mse"]
    if v["metric"] != "pixel_mse" and "top" in mse:
        seg = [f"{a} {mse[a]:.4f}" for a in ARMS if a in mse]
        txt = "Pixel MSE to the clean image: " + ", ".join(seg)
        ctrl = [mse[a] for a in ("bottom", "random") if mse.get(a) is not None]
        if ctrl and max(ctrl) > 0:
            txt += f" (top = {mse['top'] / max(ctrl):.1f}x the larger control)"
        parts.append(txt + ".")
    values, parts = parts, []
    st = v["status"]
    if v.get("verdict_rule") == "intervals":
        parts += _interval_sentences(v, result.meta.get("random_outside", 0))
        if st == _REPRODUCED:
            parts.append(f"The claim reproduces here: the intervals of the extra harm of top-{v['k']} over the "
                         "controls lie above zero and the effect is large enough to matter.")
        elif st == _WEAK:
            parts.append(f"The effect is weak: top-{v['k']} hurts more than the controls on average, but an "
                         "interval reaches zero or the difference is small.")
        else:
            parts.append(f"The claim does not reproduce here: zeroing the top-{v['k']} channels hurts no more than "
                         "the controls on these images.")
        st = None
    if st == _REPRODUCED:
        parts.append(f"The claim reproduces here: removing the top-{v['k']} channels hurts far more than removing "
                     f"as many low-statistic or random channels.")
    elif st == _WEAK:
        parts.append(f"The effect is weak: the top arm hurts more than the controls, but by less than the "
                     f"{STRONG_DROP:.2f} drop (and random spread) this package calls a collapse.")
    elif st == _NOT_REPRODUCED:
        parts.append("The claim does not reproduce here: zeroing the top channels hurts no more than the controls.")
    # dose-response: does the top arm degrade monotonically with k?
    tops = sorted((r["k"], r.get(v["metric"])) for r in result.select(arm="top", blocks=v["blocks"], steps=v["steps"],
                                                                       ablation=lambda x: x in (None, "zero")).table())
    if len(tops) >= 3 and all(t[1] is not None for t in tops):
        vs = [t[1] for t in tops]
        mono = all(a >= b - 0.02 for a, b in zip(vs, vs[1:])) if v["metric"] != "pixel_mse" else \
            all(a <= b * 1.05 for a, b in zip(vs, vs[1:]))
        parts.append("The top arm degrades steadily as k grows." if mono else
                     "The top arm's curve is not monotone in k (small sets; read it with the spread).")
    return bullets(values[:1], values[1:], parts, *over_k_lines(over_k(result, v["blocks"], v["steps"])),
                   _breakdown_sentences(breakdown) if breakdown else "",
                   _independence_sentences(independence) if independence else "")



def over_k(result: ProbeResult, blocks: str | None = None, steps: str | None = None) -> dict:
    """The verdict at every k the probe ran (zeroing; the same blocks and steps), so a reading
    names where the claim holds and where it does not instead of judging one k.

    Args:
        result: a ``ProbeResult``.
        blocks, steps: the condition (default: the first run).
    Returns:
        {"blocks", "steps", "metric_name", "per_k": [{"k", "status", "top-random", "top-bottom",
        "pixel_mse_top-random", "pixel_mse_top-bottom"}] (the paired interval summaries where run;
        the pixel MSE to the clean images beside a judge's metric, which is blind at small k where
        pixels still separate the arms), "holds": [k...], "fails": [k...]} where
        ``holds`` are the ks whose status is "reproduced" and ``fails`` those "not reproduced".
    """
    conds = result.edited_conditions()
    if not conds:
        raise ValueError("the result holds no edited rows")
    blocks = conds[0][1] if blocks is None else blocks
    steps = conds[0][2] if steps is None else steps
    ks = sorted({c[0] for c in conds if c[1:] == (blocks, steps)})
    per_k = []
    for k in ks:
        v = verdict(result, k, blocks, steps)
        row = {"k": k, "status": v["status"]}
        for c in ("top-random", "top-bottom"):
            if c in v.get("intervals", {}):
                row[c] = v["intervals"][c]
        here = {c["arm"] for c in result.conditions if (c["k"], c["blocks"], c["steps"]) == (k, blocks, steps)}
        if v["metric"] != "pixel_mse" and "pixel_mse" in result.metrics:  # pixels still separate where a judge is blind
            for c in ("random", "bottom"):
                if c in here:
                    row[f"pixel_mse_top-{c}"] = harm(result, "pixel_mse", False, "top", c, k, blocks, steps).summary(6)
        per_k.append(row)
    return {"blocks": blocks, "steps": steps, "random_outside": result.meta.get("random_outside", 0),
            "metric_name": v["metric_name"],
            "per_k": per_k, "holds": [r["k"] for r in per_k if r["status"] == _REPRODUCED],
            "fails": [r["k"] for r in per_k if r["status"] == _NOT_REPRODUCED]}


def over_k_lines(ov: dict) -> list[str]:
    """Two lines from ``over_k``: the verdict words by k, then top - control at every k (with the
    pixel MSE difference beside a judge's metric); none for a single k."""
    if len(ov["per_k"]) < 2:
        return []
    by = {w: [r["k"] for r in ov["per_k"] if r["status"] == w] for w in stats.VERDICTS}
    said = "; ".join(f"{w} at k = {', '.join(str(k) for k in ks)}" for w, ks in by.items() if ks)
    summary = (f"Over k, the critical claim is {said} (zeroing at blocks {ov['blocks']}, steps {ov['steps']}; "
               f"extra harm to {ov['metric_name']}, paired; {random_words(ov.get('random_outside', 0))}).")
    parts = []
    for r in ov["per_k"]:
        iv = r.get("top-random") or r.get("top-bottom")
        ctrl = "random" if "top-random" in r else "bottom"
        px = r.get(f"pixel_mse_top-{ctrl}")
        parts.append(f"k = {r['k']}: " + (f"top - {ctrl} {_iv(iv)}" if iv else r["status"])
                     + (f", pixel MSE {_iv(px, '.4f')}" if iv and px else ""))
    return [summary, "; ".join(parts) + "."]


def random_words(outside: int) -> str:
    """What the random arm was, in words: which control a reading compared with."""
    if outside:
        return f"random channels drawn outside each block's top-{outside}"
    return "random channels drawn from all channels, so a draw may hold top channels"


def top1_ablation(res: dict) -> str:
    """The reading of ``claims.critical.top1_ablation``: does the network need its largest channel,
    and is it the channel's value (zeroing hurts, mean-setting does not) or nothing at all?

    Args:
        res: the dict ``top1_ablation`` returned.
    Returns:
        the sentences, with the paired intervals they rest on.
    """
    n = res["n"]
    if "caption_accuracy_zero" in res:
        z, m, d = (res[f"caption_accuracy_{x}"] for x in ("zero", "mean", "zero_minus_mean"))
        spec, what, big = ".2f", "caption accuracy", WEAK_DROP
        drop = f"lowers {what} by {_iv(z, spec)}; setting it to its calibration mean lowers it by {_iv(m, spec)}"
    else:
        z, m, d = (res[f"pixel_mse_{x}"] for x in ("zero", "mean", "zero_minus_mean"))
        spec, what, big = ".4f", "pixel MSE", None
        drop = (f"moves the image by a pixel MSE of {_iv(z, spec)}; setting it to its calibration mean moves it by "
                f"{_iv(m, spec)}")
    out = [f"Zeroing only each block's top-1 channel at every block and step (paired over the same {n} images, 95% "
           f"bootstrap intervals) {drop}."]
    if "pixel_mse_zero" in res and "caption_accuracy_zero" in res:
        pz, pm = res["pixel_mse_zero"], res["pixel_mse_mean"]
        out.append(f"Pixel MSE to the clean images: {_iv(pz, '.4f')} zeroed, {_iv(pm, '.4f')} mean-set.")
    if big is None:  # no judge: the pixel distances only, no verdict on quality
        out.append("Without a judge of the image's content this says how far the images move, not whether they "
                   "break.")
        return " ".join(out)
    zero_hurts, zero_harmless = z["ci"][0] >= big, z["ci"][1] < big
    mean_hurts, mean_harmless = m["ci"][0] >= big, m["ci"][1] < big
    if zero_hurts and mean_harmless:
        out.append(f"The network needs the channel's value but not its variation: zeroing costs {_iv(d, spec)} "
                   f"more than mean-setting, the language-model signature of a massive activation (the paper "
                   f"reports collapse when FLUX's are zeroed).")
    elif zero_hurts and mean_hurts:
        out.append("Both removals hurt: the channel carries information beyond a constant offset.")
    elif zero_harmless and mean_hurts:
        out.append(f"Setting the channel to its calibration mean hurts while zeroing it does not: the mean is a value "
                   f"the network does not expect there (mean-setting {_iv(m, spec)}, zeroing {_iv(z, spec)}).")
    elif zero_harmless and mean_harmless:
        out.append(f"Neither removal costs {big:.2f} of accuracy: this model does not need its largest channel, "
                   "unlike FLUX (collapse) and language models (zeroing destroys, mean-setting is harmless).")
    else:
        out.append(f"An interval reaches both sides of {big:.2f} (zeroing {_iv(z, spec)}, mean-setting "
                   f"{_iv(m, spec)}): no verdict at {n} images.")
    return " ".join(out)
