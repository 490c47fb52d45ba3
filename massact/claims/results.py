"""The one result shape of every claim: per-item values under named conditions.

A claim measures *items* (an image, or a caption pair) under *conditions* (a dict of
columns such as arm, k, blocks, steps, block, step, alpha, and ``draw`` for the seeded
draws of a random arm). ``Results`` keeps, for every condition, one float per item and
metric (NaN where an item does not test a metric, e.g. a caption pair that does not differ
in colour), and optionally numbers measured on the whole set (``scalars``, e.g. a FID).

Every claim's result (``ProbeResult``, ``SpatialResult``, ``Sweep``) is a ``Results``, so one
question has one spelling everywhere::

    res.estimate("caption_accuracy", arm="top", k=8)          # mean over items, 95% interval
    res.difference("miou", dict(arm="top"), dict(arm="random"), block=3, step=19)  # paired
    res.select(k={4, 8}).table()                               # rows with <metric>_ci and n
    res.to_json()                                              # conditions + per-item values

Conditions that differ only in ``draw`` are replicates: ``per_item`` averages them per item
(name ``draw=`` to pick one). Conditions that still differ in another column are ambiguous:
the error names the columns and the values to choose from.
"""
from __future__ import annotations

import copy
import math
from typing import Sequence

import numpy as np

from ..stats import Estimate, bootstrap_mean, paired_difference
from .rows import Rows, _matches

__all__ = ["Results", "interval", "rounded", "significant", "summary_of", "DRAW"]

#: the condition column that numbers replicates (seeded draws of a random arm)
DRAW = "draw"


def rounded(v, ndigits: int | None):
    """One rounding rule for every number a result shows: ``ndigits`` decimals (None: as is);
    nested lists and dicts are rounded element by element, None and strings pass."""
    if ndigits is None or v is None or isinstance(v, (str, bool)):
        return v
    if isinstance(v, dict):
        return {k: rounded(x, ndigits) for k, x in v.items()}
    if isinstance(v, (list, tuple)):
        return [rounded(x, ndigits) for x in v]
    if isinstance(v, (int, np.integer)):
        return int(v)
    return round(float(v), ndigits)


def interval(est: Estimate | None, ndigits: int | None = None):
    """The ``<metric>_ci`` column of an estimate: [low, high] (rounded like its value), None for none."""
    return None if est is None else rounded([est.ci[0], est.ci[1]], ndigits)


def significant(v, digits: int = 4):
    """The rounding of a magnitude that can lie far below ``rounded``'s decimals (a pixel MSE).

    Args:
        v: a number or None.
        digits: significant figures.
    Returns:
        ``v`` to ``digits`` significant figures, None for None.
    """
    return None if v is None else float(f"{float(v):.{digits}g}")


def _finite(v: np.ndarray) -> np.ndarray:
    return v[~np.isnan(v)]


def summary_of(values) -> Estimate | None:
    """The mean of per-item values with its 95% bootstrap interval, over the items that test
    the quantity.

    Args:
        values: one number per item, NaN where an item does not test the quantity; or None.
    Returns:
        a ``stats.Estimate``, None when no item tests it (or ``values`` is None).
    """
    if values is None:
        return None
    v = _finite(np.asarray(values, dtype=np.float64).reshape(-1))
    return bootstrap_mean(v) if v.size else None


class Results:
    """Per-item values of one claim under named conditions.

    Args:
        conditions: one dict of JSON values per condition (the columns that name it).
        per_item: for each condition, {metric: float array (items,)}; NaN where an item does not
          test the metric.
        scalars: for each condition, numbers measured on the whole set ({} where none).
        item: what one item is ("image" or "pair").
        meta: how the result was measured (JSON values).
    """

    claim = "result"

    def __init__(self, conditions: Sequence[dict], per_item: Sequence[dict], scalars: Sequence[dict] | None = None,
                 item: str = "image", meta: dict | None = None):
        if len(per_item) != len(conditions):
            raise ValueError(f"{len(per_item)} per-item tables for {len(conditions)} conditions")
        scalars = [{} for _ in conditions] if scalars is None else [dict(s) for s in scalars]
        if len(scalars) != len(conditions):
            raise ValueError(f"{len(scalars)} scalar tables for {len(conditions)} conditions")
        self._conditions = [dict(c) for c in conditions]
        self._per_item = [{m: np.asarray(v, dtype=np.float64).reshape(-1) for m, v in p.items()} for p in per_item]
        self._scalars = scalars
        self.item = item
        self.meta = {} if meta is None else meta

    # -- what the result holds ----------------------------------------------------------------
    @property
    def conditions(self) -> Rows:
        """The conditions, one dict each, in run order."""
        return Rows(dict(c) for c in self._conditions)

    @property
    def columns(self) -> list[str]:
        """The condition columns."""
        return list(dict.fromkeys(k for c in self._conditions for k in c))

    @property
    def metrics(self) -> list[str]:
        """The metrics with a value per item."""
        return list(dict.fromkeys(m for p in self._per_item for m in p))

    def __len__(self) -> int:
        return len(self._conditions)

    def _indices(self, where: dict) -> list[int]:
        return [i for i, c in enumerate(self._conditions) if _matches(c, where)]

    def _one_condition(self, where: dict) -> list[int]:
        """The indices of the conditions meeting ``where`` that differ at most in ``draw``."""
        idx = self._indices(where)
        if not idx:
            cols = list(where) or self.columns
            held = {k: sorted({repr(c.get(k)) for c in self._conditions}) for k in cols}
            raise ValueError(f"no condition with {where}; this {self.claim} result holds {held}")
        differ = {k: sorted({repr(self._conditions[i].get(k)) for i in idx}) for k in self.columns if k != DRAW}
        differ = {k: v for k, v in differ.items() if len(v) > 1}
        if differ:
            raise ValueError(f"{len(idx)} conditions meet {where}; name one of each: {differ}")
        return idx

    # -- per-item values and their intervals -------------------------------------------------------
    def per_item(self, metric: str, **where) -> np.ndarray:
        """One metric per item under one condition (replicate draws averaged per item).

        Args:
            metric: one of ``metrics``.
            **where: the condition (column=value; a set means one of, a callable a predicate).
        Returns:
            float64 array (items,), NaN where an item does not test the metric.
        Raises:
            ValueError when no condition or several (other than draws) meet ``where``, or the
            metric was not measured there.
        """
        idx = self._one_condition(where)
        tables = [self._per_item[i] for i in idx]
        if any(metric not in t for t in tables):
            have = sorted({m for t in tables for m in t})
            raise ValueError(f"metric {metric!r} was not measured per {self.item} under {where}; measured: {have}")
        if len(tables) == 1:
            return tables[0][metric].copy()
        return np.mean([t[metric] for t in tables], axis=0)

    def estimate(self, metric: str, **where) -> Estimate:
        """The mean of one metric over the items that test it, with its 95% bootstrap interval.

        Args:
            metric, **where: as in ``per_item``.
        Returns:
            a ``stats.Estimate``.
        """
        v = _finite(self.per_item(metric, **where))
        if not v.size:
            raise ValueError(f"no {self.item} tests {metric!r} under {where}")
        return bootstrap_mean(v)

    def difference(self, metric: str, a: dict, b: dict, **where) -> Estimate:
        """The paired difference a - b of one metric on the items both conditions test.

        Args:
            metric: as in ``per_item``.
            a, b: what differs between the two conditions, e.g. ``dict(arm="top")`` and
              ``dict(arm="random")``.
            **where: what they share, e.g. ``k=8``.
        Returns:
            a ``stats.Estimate`` of the mean of a_i - b_i.
        """
        if not isinstance(a, dict) or not isinstance(b, dict):
            raise TypeError("a and b are conditions, e.g. difference('miou', dict(arm='top'), dict(arm='random'))")
        va, vb = self.per_item(metric, **{**where, **a}), self.per_item(metric, **{**where, **b})
        ok = ~(np.isnan(va) | np.isnan(vb))
        if not ok.any():
            raise ValueError(f"no {self.item} tests {metric!r} under both {a} and {b}")
        return paired_difference(va[ok], vb[ok])

    # -- subsets and tables ---------------------------------------------------------------------
    def select(self, **where):
        """The result restricted to the conditions meeting ``where`` (same type, same methods)."""
        idx = self._indices(where)
        out = copy.copy(self)
        out._conditions = [self._conditions[i] for i in idx]
        out._per_item = [self._per_item[i] for i in idx]
        out._scalars = [self._scalars[i] for i in idx]
        return out

    def table(self, draws: str = "mean", ndigits: int | None = None) -> Rows:
        """One row per condition: its columns, each metric's mean over the items that test it
        with ``<metric>_ci`` (95% bootstrap interval) and ``n`` (items).

        Set-level numbers (``scalars``) are shown as measured; a metric that is both set-level
        and per item shows the set-level value with the per-item interval. With ``draws="mean"``
        replicate draws become one row: values averaged over draws, the per-item interval over
        the per-item mean across draws, ``<metric>_std`` the spread across draws and ``draws``
        their number; ``draws="each"`` keeps a row per draw.

        Args:
            draws: "mean" or "each".
            ndigits: decimals of every value and interval (None: unrounded).
        Returns:
            a ``Rows``.
        """
        if draws not in ("mean", "each"):
            raise ValueError(f"draws {draws!r}: choose 'mean' (one row over draws) or 'each'")
        groups: dict[tuple, list[int]] = {}
        for i, c in enumerate(self._conditions):
            key = tuple(sorted((k, repr(v)) for k, v in c.items() if draws == "each" or k != DRAW))
            groups.setdefault(key, []).append(i)
        return Rows(self._row(idx, draws, ndigits) for idx in groups.values())

    def _row(self, idx: list[int], draws: str, ndigits: int | None) -> dict:
        first = self._conditions[idx[0]]
        replicated = draws == "mean" and first.get(DRAW) is not None
        row = {k: v for k, v in first.items() if not (draws == "mean" and k == DRAW)}
        metrics = list(dict.fromkeys(m for i in idx for m in list(self._scalars[i]) + list(self._per_item[i])))
        n = None
        for m in metrics:
            scal = [self._scalars[i].get(m) for i in idx]
            items = [self._per_item[i].get(m) for i in idx]
            est = None
            if all(v is not None for v in items):
                v = _finite(np.mean(items, axis=0))
                est = bootstrap_mean(v) if v.size else None
            if all(s is not None for s in scal) and m in self._scalars[idx[0]]:
                value = float(np.mean(scal))
                spread = [float(s) for s in scal]
            elif m in self._scalars[idx[0]]:
                value, spread = None, None
            else:
                value = None if est is None else est.mean
                spread = None if est is None else [float(np.nanmean(v)) for v in items]
            row[m] = rounded(value, ndigits)
            if replicated:
                row[f"{m}_std"] = (None if spread is None else
                                   rounded(float(np.std(spread, ddof=1)) if len(spread) > 1 else 0.0, ndigits))
            if all(v is not None for v in items):
                row[f"{m}_ci"] = interval(est, ndigits)
                if est is not None:
                    n = est.n if n is None else max(n, est.n)
        if replicated:
            row["draws"] = len(idx)
        if n is not None:
            row["n"] = n
        return row

    # -- saving -------------------------------------------------------------------------------------
    def to_json(self) -> dict:
        """Everything measured, as JSON values: the conditions with their per-item values (NaN as
        None) and set-level numbers; ``Results.from_json`` reads it back."""
        def clean(v):
            return [None if math.isnan(x) else float(x) for x in v]
        return {"claim": self.claim, "item": self.item, "meta": self.meta,
                "conditions": [{"condition": c, "per_item": {m: clean(v) for m, v in p.items()}, "scalars": s}
                               for c, p, s in zip(self._conditions, self._per_item, self._scalars)]}

    @classmethod
    def from_json(cls, data: dict) -> "Results":
        """A ``Results`` from ``to_json``'s dict (per-item values and scalars; no images)."""
        conds = data["conditions"]
        out = Results([c["condition"] for c in conds],
                      [{m: [np.nan if x is None else x for x in v] for m, v in c["per_item"].items()} for c in conds],
                      [c["scalars"] for c in conds], data.get("item", "image"), data.get("meta", {}))
        out.claim = data.get("claim", "result")
        return out

    def __repr__(self) -> str:
        n = max((len(v) for p in self._per_item for v in p.values()), default=0)
        return (f"{type(self).__name__}({len(self)} conditions over {self.columns}, {n} {self.item}s, "
                f"metrics {self.metrics})")
