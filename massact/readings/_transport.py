"""Sentences from the transport claim's numbers (claim 3, ``massact.claims.transport``)."""
from __future__ import annotations

from typing import Sequence

import numpy as np

from .. import stats
from ._text import bullets
from ..claims.rows import Rows
from ..claims.transport import ARMS, BASELINES
from ._critical import _iv, random_words


def _fmt(v) -> str:
    return "n/a" if v is None else f"{100 * v:.0f}%"


def what_moves(rows: Sequence[dict], k: int | None = None, strong: float = 0.5, margin: float = 0.25,
               weak: float = 0.2) -> dict[str, dict]:
    """Per attribute, the adoption under each arm and a verdict computed from them.

    Args:
        rows: sweep rows; the top / bottom / random rows at alpha 1, no mask, every block
          and step are read (the first of each arm, or those with this k).
        k: channels per block of the rows to read (None: any).
        strong, margin, weak: the thresholds of the verdicts below.
    Returns:
        {attribute: {"top", "bottom", "random", "verdict"}}: "moves" (top >= strong and >=
        margin above both controls), "unspecific" (top >= strong but a control arm moves it
        about as often), "stays" (top <= weak), "partly" (between), "untested" (no pair
        differs in it); {} without such a top row.
    """
    where = {} if k is None else {"k": k}
    base = Rows(rows).select(arm=set(ARMS), alpha=1.0, mask="none", blocks="all", steps="all", **where)
    by_arm = {}
    for r in base:
        by_arm.setdefault(r["arm"], r)
    if "top" not in by_arm:
        return {}
    out = {}
    for a, top in by_arm["top"]["source_adoption"].items():
        ctrl = [by_arm[x]["source_adoption"].get(a) for x in ("bottom", "random") if x in by_arm]
        ctrl = [c for c in ctrl if c is not None]
        if top is None:
            verdict = "untested"
        elif top >= strong:
            verdict = "moves" if all(top - c >= margin for c in ctrl) else "unspecific"
        elif top <= weak:
            verdict = "stays"
        else:
            verdict = "partly"
        out[a] = {"top": top, **{x: by_arm[x]["source_adoption"].get(a) for x in ("bottom", "random") if x in by_arm},
                  "verdict": verdict}
    return out


def by_kind(rows: Sequence[dict], k: int | None = None, weak: float = 0.2) -> dict[str, dict]:
    """Per kind of attribute (layout, identity, background): each arm's adoption with its
    interval, and what the top-k channels do with it.

    The rule: "carried" when top's 95% interval lies wholly above every control arm's
    interval; "not carried" when top's interval lies wholly below ``weak``; "unspecific" when
    top's interval overlaps a control's while reaching above ``weak``; "untested" when no
    pair differs in that kind.

    Args:
        rows: sweep rows (alpha 1, no mask, every block and step are read).
        k: channels per block of the rows to read (None: the first top row's k).
        weak: the adoption below which a kind "stays with the target".
    Returns:
        {kind: {"top": (mean, [lo, hi]) or None, "bottom": ..., "random": ..., "verdict": str}};
        {} without a top row with intervals.
    """
    rows = Rows(rows)
    base = rows.select(arm=set(ARMS), alpha=1.0, mask="none", blocks="all", steps="all")
    tops = base.select(arm="top") if k is None else base.select(arm="top", k=k)
    if not tops or "adoption_ci" not in tops[0]:
        return {}
    k = tops[0]["k"]
    by_arm = {}
    for r in base.select(k=k):
        by_arm.setdefault(r["arm"], r)
    out = {}
    for kind, ci in by_arm["top"]["adoption_ci"].items():
        entry = {a: (None if r["adoption_ci"].get(kind) is None else (r["adoption"][kind], r["adoption_ci"][kind]))
                 for a, r in by_arm.items()}
        top = entry["top"]
        ctrl = [v for a, v in entry.items() if a != "top" and v is not None]
        if top is None:
            verdict = "untested"
        elif top[1][1] < weak:
            verdict = "not carried"
        elif ctrl and all(top[1][0] > c[1][1] for c in ctrl):
            verdict = "carried"
        else:
            verdict = "unspecific"
        out[kind] = {**entry, "verdict": verdict, "k": k}
    return out


def pixel_reading(rows: Sequence[dict], k: int | None = None) -> str:
    """Sentences from the pixel distances alone, for models whose metrics read no attribute.

    Args:
        rows: sweep rows carrying ``pixel_shift`` (and its interval ``pixel_shift_ci``).
        k: channels per block of the arms to read (None: the first of each arm).
    Returns:
        how far each arm (top / bottom / random at alpha 1, no mask, every block and step),
        the spatial mask and the baselines move the output from the target toward the source.
    """
    rows = Rows(rows)
    base = rows.select(arm=set(ARMS), alpha=1.0, mask="none", blocks="all", steps="all",
                       **({} if k is None else {"k": k}))
    by_arm = {}
    for r in base:
        by_arm.setdefault(r["arm"], r)
    if "top" not in by_arm or by_arm["top"].get("pixel_shift") is None:
        return "No top-k row at alpha 1 without a mask with pixel distances: nothing to compare."
    top = by_arm["top"]
    k, n = top["k"], top.get("n")

    def iv(r):
        ci = r.get("pixel_shift_ci")
        return f"{r['pixel_shift']:.2f}" + ("" if ci is None else f" [{ci[0]:.2f}, {ci[1]:.2f}]")

    text = ("This model's metrics read no attribute, so adoption is not measured: pixel distances only. "
            f"Transporting the top-{k} channels at every block and step (alpha 1, no mask) moves the output "
            f"{iv(top)} of the way from the target to the source (the pixel MSE to the target over the sum of "
            f"the MSEs to target and source: 0 is the target, 1 the source; 95% bootstrap interval over "
            f"{n} pairs)")
    ctrl = [a for a in ("bottom", "random") if a in by_arm and by_arm[a].get("pixel_shift") is not None]
    if ctrl:
        text += "; " + ", ".join(f"{a}-{k} {iv(by_arm[a])}" for a in ctrl)
    text += "."
    cis = {a: by_arm[a].get("pixel_shift_ci") for a in ["top"] + ctrl}
    if ctrl and all(cis[a] is not None for a in cis):
        if all(cis["top"][0] > cis[a][1] for a in ctrl):
            text += f" The top-{k} channels move the image further than equally many other channels (intervals apart)."
        elif all(cis["top"][1] < cis[a][0] for a in ctrl):
            text += f" The top-{k} channels move the image less than equally many other channels."
        else:
            text += f" The intervals overlap a control's: on these pairs top-{k} is not separated from the controls."
    masked = rows.select(arm="top", mask="spatial", k=k, alpha=1.0)
    if masked and masked[0].get("pixel_shift") is not None:
        text += f" Inside the source's spatial mask: {iv(masked[0])}."
    for arm in BASELINES:
        b = rows.select(arm=arm)
        if b and b[0].get("pixel_shift") is not None:
            text += f" {arm.replace('_', ' ')} (alpha {b[0]['alpha']:g}): {iv(b[0])}."
    text += (" Pixel distance says how far the picture moved, not what moved: give the model metrics that read "
             "attributes (a CLIP model, a mask function) to say which.")
    return text


def _names(names: list[str]) -> str:
    return names[0] if len(names) == 1 else ", ".join(names[:-1]) + " and " + names[-1]


def transport(rows: Sequence[dict], k: int | None = None) -> str:
    """Honest sentences built from the rows of a transport sweep.

    Args:
        rows: ``Sweep.rows()`` (``claims.transport.sweep``), or any rows of that schema.
        k: channels per block of the arms to read (None: the first top row's).
    Returns:
        lines (``_text.bullets``): what follows the top-k channels and how the random arm was
        drawn; the mean adoption against the bottom-k and random-k controls ("no more than
        random" when so); by kind of attribute; the preservation, spatial mask and baselines.
    """
    where = {} if k is None else {"k": k}
    moves = what_moves(rows, k)
    if not moves:
        top = Rows(rows).select(arm="top", alpha=1.0, mask="none", blocks="all", steps="all", **where)
        if top and top[0].get("pixel_shift") is not None:
            return pixel_reading(rows, k)
        return "No top-k row at alpha 1 without a mask: nothing to compare."
    rows = Rows(rows)
    top = rows.first(arm="top", alpha=1.0, mask="none", blocks="all", steps="all", **where)
    k = top["k"]
    parts = []
    for verdict, phrase in (("moves", ("follows", "follow", " the source's top-{k} channels")),
                            ("unspecific", ("moves", "move", ", but as often with the bottom-{k} or random-{k} channels")),
                            ("partly", ("moves", "move", " in some pairs")),
                            ("stays", ("stays", "stay", " with the target"))):
        names = [a for a, v in moves.items() if v["verdict"] == verdict]
        if names:
            detail = ", ".join(f"{a} {_fmt(moves[a]['top'])}" for a in names)
            verb = phrase[0] if len(names) == 1 else phrase[1]
            parts.append(f"{_names(names)} {verb}{phrase[2].format(k=k)} ({detail})")
    text = f"Transporting the top-{k} channels at every block and step (alpha 1, no mask): " + "; ".join(parts) + "."
    rnd = rows.select(arm="random", k=k, alpha=1.0, mask="none", blocks="all", steps="all")
    if rnd:
        text += f" The random-{k} control: {random_words(rnd[0].get('outside') or 0)}."
    arm_means = {}
    for arm in ("top", "bottom", "random"):
        vals = [v.get(arm) for v in moves.values() if v.get(arm) is not None]
        if vals:
            arm_means[arm] = float(np.mean(vals))
    ctrl = {a: v for a, v in arm_means.items() if a != "top"}
    if ctrl and "top" in arm_means:
        text += (f"\nMean adoption over attributes: top-{k} {_fmt(arm_means['top'])} against "
                 + ", ".join(f"{a}-{k} {_fmt(v)}" for a, v in ctrl.items()) + ".")
        if arm_means["top"] > max(ctrl.values()) + 0.1:
            text += " The massive channels carry more of the source than equally many other channels."
        elif arm_means["top"] <= max(ctrl.values()) + 0.05:
            text += (" On these numbers the top channels carry no more of the source than "
                     + _names([f"{a}-{k}" for a, v in ctrl.items() if arm_means["top"] <= v + 0.05]) + ".")
    kinds = by_kind(rows, k)
    if kinds:
        def iv(v):
            return "n/a" if v is None else f"{v[0]:.2f} [{v[1][0]:.2f}, {v[1][1]:.2f}]"

        arms_seen = [a for a in ("top", "bottom", "random") if any(a in e for e in kinds.values())]
        n = top.get("n")
        text += (f"\nBy kind of attribute (adoption over the pairs that differ in it{f', of {n} pairs' if n else ''}, "
                 "95% bootstrap intervals): " + "; ".join(
                     f"{kind}: " + ", ".join(f"{a}-{k} {iv(e.get(a))}" for a in arms_seen) for kind, e in kinds.items())
                 + ".")
        for verdict, phrase in (("carried", "The top-{k} channels carry {names}: top's interval lies above every "
                                            "control's."),
                                ("unspecific", "With the top-{k} channels {names} moves too, but the intervals overlap a "
                                               "control's: equally many other channels carry it about as well."),
                                ("not carried", "The top-{k} channels do not carry {names} (adoption clearly below "
                                                "0.2).")):
            names = [kind for kind, e in kinds.items() if e["verdict"] == verdict]
            if names:
                text += " " + phrase.format(k=k, names=_names(names))
    if top["target_preservation"] is not None:
        text += f"\nTarget preservation under top-{k}: {_fmt(top['target_preservation'])}."
    masked = rows.select(arm="top", mask="spatial", k=k, alpha=1.0)
    if masked and masked[0]["target_preservation"] is not None and top["target_preservation"] is not None:
        mp = masked[0]["target_preservation"]
        ma = [v for v in masked[0]["source_adoption"].values() if v is not None]
        text += (f" Inside the source's spatial mask: preservation {_fmt(mp)}, mean adoption "
                 f"{_fmt(float(np.mean(ma)) if ma else None)}"
                 + (" (the mask keeps more of the target)." if mp > top["target_preservation"] + 0.02 else "."))
    for arm in BASELINES:
        b = rows.select(arm=arm)
        if b:
            r = b[0]
            vals = [v for v in r["source_adoption"].values() if v is not None]
            text += (f" {arm.replace('_', ' ')} (alpha {r['alpha']:g}): mean adoption {_fmt(float(np.mean(vals)) if vals else None)}, "
                     f"preservation {_fmt(r['target_preservation'])}.")
    return bullets(*text.split("\n"))




_NAMES = {"pixel_shift": "pixel shift toward the source"}


def _ks(ks: list[int], every: list[int]) -> str:
    """"every k", "k >= 8" when ks are the upper end of the curve, else "k = 1, 4"."""
    if ks == list(every):
        return "every k"
    if len(ks) > 1 and ks == [k for k in every if k >= ks[0]]:
        return f"k >= {ks[0]}"
    return "k = " + ", ".join(str(k) for k in ks)


def over_k(ov: dict) -> str:
    """Sentences from ``claims.transport.over_k``: per kind of attribute (or, for a model whose
    metrics read none, the pixel shift), the ks where transport is reproduced and where not.

    Args:
        ov: the dict ``over_k`` returned.
    Returns:
        lines (``_text.bullets``): what was compared, then per kind the ks of each verdict (``stats.VERDICTS``, the weaker of top -
        random and top - bottom), quoting that weaker difference at the largest k of each.
    """
    group = ov["kinds"] if any(r["status"] for e in ov["kinds"].values() for r in e["per_k"]) else ov["pixel_shift"]
    parts = []
    for metric, e in group.items():
        by_status = {}
        for r in e["per_k"]:
            if r["status"] is not None:
                by_status.setdefault(r["status"], []).append(r)
        if not by_status:
            name = _NAMES.get(metric, metric)
            parts.append(f"{name[0].upper()}{name[1:]}: no pair differs in it")
            continue
        clauses = []
        for status in stats.VERDICTS:
            here = by_status.get(status)
            if not here:
                continue
            last = here[-1]  # the largest k of this verdict, compared with its weaker control
            control = max(last["verdict"], key=lambda c: stats.VERDICTS.index(last["verdict"][c]))
            at = f" at k = {last['k']}" if len(here) > 1 else ""
            clauses.append(f"{status} at {_ks([r['k'] for r in here], ov['ks'])} (top - {control} "
                           f"{_iv(last[f'top-{control}'], '+.2f')}{at})")
        name = _NAMES.get(metric, metric)
        parts.append(f"{name[0].upper()}{name[1:]}: {'; '.join(clauses)}")
    return bullets(f"Transport over k (alpha 1, every block and step; paired over the same {ov['n']} pairs, 95% "
                   f"bootstrap intervals; {random_words(ov['random_outside'])}; a difference must reach "
                   f"{ov['minimum']:.2f}):", *(p + "." for p in parts))


def carry(rows: Sequence[dict]) -> str:
    """Sentences from ``claims.transport.carry``: which attributes move with the top channels and
    which only with the rest.

    Args:
        rows: the carry table (one row per attribute).
    Returns:
        one or two sentences naming the attributes by where they live (with the top-k, with the
        top-k and more with the rest, only with the rest, or unresolved), with the paired
        difference each rests on ("" for an empty table).
    """
    if not rows:
        return ""
    k, width = rows[0]["k"], rows[0]["width"]
    rest = width - k
    reproduced = stats.VERDICTS[0]
    groups = {"top": [], "both": [], "rest": [], "neither": [], "untested": []}
    for r in rows:
        v = r["verdict"]
        if not v:
            groups["untested"].append(r)
            continue
        top, others = v.get("top-random") == reproduced, v.get("all_but_top-top") == reproduced
        groups["both" if top and others else "top" if top else "rest" if others else "neither"].append(r)

    def quote(rs, key):
        return ", ".join(f"{r['attribute']} {_iv(r[key], '+.2f')}" for r in rs if r.get(key))

    def verb(rs):
        return "moves" if len(rs) == 1 else "move"

    clauses = []
    if groups["top"]:
        rs = groups["top"]
        clauses.append(f"{_names([r['attribute'] for r in rs])} {verb(rs)} with the top-{k} "
                       f"(top-{k} - random-{k}: {quote(rs, 'top-random')})")
    if groups["both"]:
        rs = groups["both"]
        clauses.append(f"{_names([r['attribute'] for r in rs])} {verb(rs)} with the top-{k} and more with the other "
                       f"{rest} (all but top-{k} - top-{k}: {quote(rs, 'all_but_top-top')})")
    if groups["rest"]:
        rs = groups["rest"]
        clauses.append(f"{_names([r['attribute'] for r in rs])} {verb(rs)} only with the other {rest} "
                       f"(all but top-{k} - top-{k}: {quote(rs, 'all_but_top-top')})")
    text = (f"What the channels carry (k = {k} of {width}, {random_words(rows[0]['random_outside'])}): "
            + ("; ".join(clauses) if clauses else f"no attribute separates the top-{k} from the rest") + ".")
    if groups["neither"]:
        rs = groups["neither"]
        text += (f" For {_names([r['attribute'] for r in rs])}, neither the top-{k} against random-{k} nor the other "
                 f"{rest} against the top-{k} is resolved (top-{k} - random-{k}: {quote(rs, 'top-random')}).")
    return text
