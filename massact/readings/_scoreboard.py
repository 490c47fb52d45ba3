"""The scoreboard: one line per claim (the claim, a verdict word, where over k it holds, one
number in words, n), read from the curves over k that the claims' readings already computed.

A row is built from a claim's curve (``critical_over_k(result)``, ``claims.spatial.over_k``,
the transport section's ``over_k``), so a notebook can print the row of the claim it measured
and the report prints every row at the top of its page and in ``results.json``
(``"scoreboard"``). The verdict of a claim is the strongest status it reaches at any k; the row
names the ks where it holds and where it does not, and quotes the comparison at the fewest
channels where it holds (the paper's claim is about *few* channels; where it holds at no k,
the k with the largest difference).
"""
from __future__ import annotations

from .. import stats
from ._critical import _iv

#: the claims in the scoreboard's order, with the question each answers
QUESTIONS = {
    "critical": "Does zeroing a few top channels break the image more than zeroing as many others?",
    "spatial": "Does clustering tokens on a few top channels separate subject from background?",
    "transport": "Does moving a few top channels from another prompt's run carry its content?",
}

_REPRODUCED, _WEAK, _NOT_REPRODUCED = stats.VERDICTS


def _ks(ks) -> str:
    ks = list(ks)
    return "k = " + ", ".join(str(k) for k in ks) if ks else "no k"


def _n(k: int, noun: str = "channel") -> str:
    """"1 channel", "4 channels" (the noun in the plural beyond one)."""
    return f"{k} {noun}" + ("" if k == 1 else "s")


def _top(k: int) -> str:
    """"the top-1 channel", "the top-4 channels"."""
    return f"the top-{k} " + ("channel" if k == 1 else "channels")


def _row(claim: str, per_k: list[dict], pick, headline, n_of, unit: str) -> dict:
    """The shared shape of every row (see ``scoreboard_row``)."""
    measured = [r for r in per_k if r["status"] is not None]
    if not measured:
        raise ValueError(f"the {claim} curve has no k with a verdict (no control arm was run)")
    holds = [r["k"] for r in measured if r["status"] == _REPRODUCED]
    fails = [r["k"] for r in measured if r["status"] == _NOT_REPRODUCED]
    weak = [r["k"] for r in measured if r["status"] == _WEAK]
    verdict = min((r["status"] for r in measured), key=stats.VERDICTS.index)
    quoted = next((r for r in measured if r["status"] == _REPRODUCED), None) or max(measured, key=pick)
    where = (f"holds at {_ks(holds)}" if holds else "holds at no k measured") + \
            (f"; weak at {_ks(weak)}" if weak else "") + (f"; not at {_ks(fails)}" if fails else "")
    return {"claim": claim, "question": QUESTIONS[claim], "verdict": verdict, "holds": holds, "weak": weak,
            "fails": fails, "where": where, "k": quoted["k"], "headline": headline(quoted),
            "n": n_of(quoted), "unit": unit}


def _critical(ov: dict) -> dict:
    rows = []
    for r in ov["per_k"]:
        c = "random" if "top-random" in r else "bottom"
        rows.append({**r, "control": c, "diff": r.get(f"top-{c}")})
    name, outside = ov["metric_name"], ov.get("random_outside", 0)
    spec, verb = (".4f", "raises") if name.startswith("pixel") else (".2f", "lowers")

    def headline(r):
        other = f"{_n(r['k'], 'random channel')}" + (f" (drawn outside the top-{outside})" if outside else "") \
            if r["control"] == "random" else f"the bottom-{r['k']}"
        return (f"zeroing {_top(r['k'])} {verb} {name} by {_iv(r['diff'], spec)} more than zeroing "
                f"{other}")
    return _row("critical", [r for r in rows if r["diff"] is not None], lambda r: r["diff"]["mean"], headline,
                lambda r: r["diff"]["n"], "images")


def _spatial(ov: dict) -> dict:
    rows = []
    for r in ov["per_k"]:  # the weaker of the comparisons with the controls
        status = max(r["verdict"].values(), key=stats.VERDICTS.index) if r["verdict"] else None
        c = "random" if "top-random" in r else "bottom"
        rows.append({**r, "status": status, "control": c})
    outside = ov.get("random_outside", 0)

    def headline(r):
        other = f"{_n(r['k'], 'random channel')}" + (f" (outside the top-{outside})" if outside else "") \
            if r["control"] == "random" else f"the bottom-{r['k']}"
        return (f"clustering tokens on {_top(r['k'])} reaches mIoU {r['miou']['top']['mean']:.2f} with the true "
                f"masks, {_iv(r['top-' + r['control']], '+.2f')} above {other}")
    return _row("spatial", rows, lambda r: r[f"top-{r['control']}"]["mean"] if r["status"] else float("-inf"),
                headline, lambda r: r["miou"]["top"]["n"], "images")


def _transport(ov: dict) -> dict:
    # by kind of attribute where a judge reads them, else the pixel shift toward the source
    groups = ov.get("kinds") or ov.get("pixel_shift") or {}
    rows = []
    for k in ov["ks"]:  # at each k, the kind that moves best with the top channels
        here = [(name, r) for name, g in groups.items() for r in g["per_k"]
                if r["k"] == k and r["status"] is not None and r.get("top-random")]
        if not here:
            continue
        name, r = min(here, key=lambda c: (stats.VERDICTS.index(c[1]["status"]), -c[1]["top-random"]["mean"]))
        rows.append({"k": k, "status": r["status"], "kind": name, "diff": r["top-random"], "top": r["adoption"]["top"]})
    outside = ov.get("random_outside", 0)

    def headline(r):
        other = _n(r["k"], "random channel") + (f" (drawn outside the top-{outside})" if outside else "")
        what = (f"moves the image {r['top']['mean']:.0%} of the way to the source (pixel shift)"
                if r["kind"] == "pixel_shift" else f"carries the source's {r['kind']} in {r['top']['mean']:.0%} of the pairs that differ in it")
        return (f"moving {_top(r['k'])} {what}, "
                f"{_iv(r['diff'], '+.2f')} more than moving {other}")
    return _row("transport", rows, lambda r: r["diff"]["mean"], headline, lambda r: r["diff"]["n"], "caption pairs")


_BUILDERS = {"critical": _critical, "spatial": _spatial, "transport": _transport}


def scoreboard_row(claim: str, over_k: dict) -> dict:
    """One claim's line of the scoreboard, from its curve over k.

    Args:
        claim: "critical", "spatial" or "transport".
        over_k: the claim's curve: ``readings.critical_over_k(result)``,
          ``claims.spatial.over_k(...)`` or the transport section's ``over_k``.
    Returns:
        {"claim", "question", "verdict" (the strongest of ``stats.VERDICTS`` reached at any k),
        "holds" / "weak" / "fails" (the ks of each status), "where" (those in words), "k" (the k
        quoted), "headline" (the comparison there, with its paired 95% interval), "n", "unit"}.
    """
    if claim not in _BUILDERS:
        raise ValueError(f"claim {claim!r} unknown; one of {list(_BUILDERS)}")
    return _BUILDERS[claim](over_k)


def scoreboard(results: dict) -> list[dict]:
    """The scoreboard of a report: one row per claim whose section measured a curve over k.

    Args:
        results: the report's results (the dict ``results.json`` holds); sections that failed,
          were not run or measured no curve (no judge, no control) are left out.
    Returns:
        a list of ``scoreboard_row`` rows in the order of ``QUESTIONS``.
    """
    rows = []
    for claim in QUESTIONS:
        sec = results.get(claim)
        ov = sec.get("over_k") if isinstance(sec, dict) else None
        if ov:
            try:
                rows.append(scoreboard_row(claim, ov))
            except ValueError:  # a curve without any control arm: nothing to judge
                continue
    return rows


def scoreboard_line(row: dict) -> str:
    """A row as one line, e.g. "critical: reproduced (holds at k = 4, 8; not at k = 1). Zeroing the
    top-4 channels lowers ... (n = 64 images)."."""
    return (f"{row['claim']}: {row['verdict']} ({row['where']}). {row['headline'][0].upper()}{row['headline'][1:]} "
            f"(n = {row['n']} {row['unit']}).")
