"""Uncertainty for the numbers a learner sees: bootstrap intervals over images or pairs.

Every arm of a claim is evaluated on the same (prompt, seed) images, so two arms are
compared *per image*: the difference a_i - b_i is resampled, not the two means apart.
That paired interval is much narrower than two separate ones whenever the images differ
more from each other than the arms do (which is the usual case).

Intervals are percentile bootstrap intervals from a seeded ``numpy`` generator, so the
same inputs give the same interval. A share measured as 0 (or 1) on every one of n items
gets the degenerate interval [0, 0]: the bootstrap cannot see beyond its sample. Read it as
"none of n"; the rule of three puts the 95% upper bound of the true share near 3 / n. This module is core: it imports nothing from massact.
"""
from __future__ import annotations

import warnings
from dataclasses import dataclass
from typing import Callable, Sequence

import numpy as np

DEFAULT_RESAMPLES = 2000
DEFAULT_CONFIDENCE = 0.95


def _as_vector(name: str, values) -> np.ndarray:
    v = np.asarray(values, dtype=np.float64).reshape(-1)
    if v.size == 0:
        raise ValueError(f"{name} is empty: a bootstrap interval needs at least one value")
    if not np.all(np.isfinite(v)):
        raise ValueError(f"{name} holds non-finite values (NaN or inf): measure them again or drop them explicitly")
    return v


@dataclass(frozen=True)
class Estimate:
    """A mean with its bootstrap interval over ``n`` images (or pairs)."""

    mean: float
    ci: tuple[float, float]
    n: int

    def summary(self, ndigits: int = 4) -> dict:
        return {"mean": round(self.mean, ndigits), "ci": [round(self.ci[0], ndigits), round(self.ci[1], ndigits)],
                "n": self.n}

    def __format__(self, spec: str) -> str:
        spec = spec or ".2f"
        return f"{self.mean:{spec}} [{self.ci[0]:{spec}}, {self.ci[1]:{spec}}]"


def bootstrap_mean(values: Sequence[float], n_resamples: int = DEFAULT_RESAMPLES,
                   confidence: float = DEFAULT_CONFIDENCE, seed: int = 0) -> Estimate:
    """Mean of ``values`` with a percentile bootstrap interval.

    Args:
        values: one number per image (or pair); finite.
        n_resamples: bootstrap resamples.
        confidence: interval coverage, in (0, 1).
        seed: seed of the resampling generator (same inputs + seed -> same interval).

    Returns:
        An ``Estimate`` (mean, (low, high), n). With one value the interval is that value.
    """
    v = _as_vector("values", values)
    if not 0 < confidence < 1:
        raise ValueError(f"confidence {confidence!r} must be in (0, 1), e.g. 0.95")
    if isinstance(n_resamples, bool) or not isinstance(n_resamples, int) or n_resamples < 1:
        raise ValueError(f"n_resamples {n_resamples!r} must be a positive integer")
    if v.size == 1 or np.all(v == v[0]):
        return Estimate(float(v.mean()), (float(v.mean()), float(v.mean())), int(v.size))
    rng = np.random.default_rng(seed)
    idx = rng.integers(0, v.size, size=(n_resamples, v.size))
    means = v[idx].mean(axis=1)
    lo, hi = np.quantile(means, [(1 - confidence) / 2, 1 - (1 - confidence) / 2])
    return Estimate(float(v.mean()), (float(lo), float(hi)), int(v.size))


def paired_difference(a: Sequence[float], b: Sequence[float], **kwargs) -> Estimate:
    """Mean of a_i - b_i over the same images, with its bootstrap interval.

    Args:
        a, b: one number per image for two arms, in the same image order.
        **kwargs: passed to ``bootstrap_mean``.

    Returns:
        The ``Estimate`` of the mean paired difference a - b.
    """
    va, vb = _as_vector("a", a), _as_vector("b", b)
    if va.shape != vb.shape:
        raise ValueError(f"paired values need the same images: {va.size} values against {vb.size}")
    return bootstrap_mean(va - vb, **kwargs)


def bootstrap_statistic(values, statistic: Callable[[np.ndarray], np.ndarray],
                        n_resamples: int = DEFAULT_RESAMPLES, confidence: float = DEFAULT_CONFIDENCE,
                        seed: int = 0) -> Estimate | None:
    """A statistic of per-pair rows that is not a plain mean, with a percentile bootstrap
    interval over the rows (pairs are resampled whole, so columns stay paired).

    For example the mean over attributes of each attribute's adoption, where every
    attribute is averaged over the pairs that differ in it (NaN elsewhere).

    Args:
        values: (n, ...) one row per pair; NaN marks what a pair does not test (inf is refused).
        statistic: maps a stack of resampled tables (r, n, ...) to r numbers; NaN where a
          resample tests nothing (those resamples are dropped).
        n_resamples, confidence, seed: as in ``bootstrap_mean``.
    Returns:
        the ``Estimate`` (the statistic of ``values``, its interval, n rows), or None when the
        statistic of ``values`` itself is NaN (no pair tests it).
    """
    v = np.asarray(values, dtype=np.float64)
    if v.ndim == 0 or v.shape[0] == 0:
        raise ValueError("values is empty: a bootstrap interval needs at least one row (pair)")
    if np.isinf(v).any():
        raise ValueError("values holds inf: only NaN may mark a pair that does not test a quantity")
    if not 0 < confidence < 1:
        raise ValueError(f"confidence {confidence!r} must be in (0, 1), e.g. 0.95")
    if isinstance(n_resamples, bool) or not isinstance(n_resamples, int) or n_resamples < 1:
        raise ValueError(f"n_resamples {n_resamples!r} must be a positive integer")
    with warnings.catch_warnings():  # nanmean of an all-NaN slice is NaN by design here
        warnings.simplefilter("ignore", RuntimeWarning)
        point = float(np.asarray(statistic(v[None])).reshape(-1)[0])
        if np.isnan(point):
            return None
        n = v.shape[0]
        rng = np.random.default_rng(seed)
        stats_ = np.asarray(statistic(v[rng.integers(0, n, size=(n_resamples, n))]), dtype=np.float64).reshape(-1)
    stats_ = stats_[~np.isnan(stats_)]
    if n == 1 or stats_.size == 0:
        return Estimate(point, (point, point), int(n))
    lo, hi = np.quantile(stats_, [(1 - confidence) / 2, 1 - (1 - confidence) / 2])
    return Estimate(point, (float(lo), float(hi)), int(n))


def macro_mean(tables: np.ndarray) -> np.ndarray:
    """(r, n, a) -> (r,): per resample, each column's mean over its non-NaN rows, then the mean
    over the columns that have any (the ``statistic`` of "mean adoption over attributes")."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        return np.nanmean(np.nanmean(tables, axis=1), axis=-1)


def direction(estimate: Estimate) -> int:
    """+1 when the whole interval is above 0, -1 when below, 0 when it contains 0."""
    lo, hi = estimate.ci
    return 1 if lo > 0 else -1 if hi < 0 else 0


#: the three verdicts a claim's comparison can reach, strongest first (see ``verdict``): every
#: claim, reading and report uses these words, and compares or orders verdicts through this tuple
#: (``VERDICTS.index``: lower = stronger)
VERDICTS = ("reproduced", "weak", "not reproduced")


def verdict(difference: Estimate, minimum: float = 0.0) -> str:
    """The verdict on a paired difference signed so that positive = the claim's direction.

    The rule (documented here and only here):

    * ``"reproduced"``: the whole interval lies above 0 and the mean is at least ``minimum``
      (an effect that is both resolved from noise and large enough to matter);
    * ``"weak"``: the mean is positive, but the interval reaches 0 (the sample cannot tell
      it from noise) or the mean is below ``minimum`` (resolved, but small);
    * ``"not reproduced"``: the mean is 0 or negative.

    Args:
        difference: e.g. ``paired_difference(random, top)`` for "top lowers the score more".
        minimum: the smallest mean difference that counts as a real effect (>= 0, finite).
    Returns:
        one of ``VERDICTS``.
    """
    if not isinstance(difference, Estimate):
        raise TypeError(f"difference must be a massact.stats.Estimate (from paired_difference), "
                        f"got {type(difference).__name__}")
    if isinstance(minimum, bool) or not isinstance(minimum, (int, float)) or not np.isfinite(minimum) or minimum < 0:
        raise ValueError(f"minimum {minimum!r} must be a finite number >= 0 (the smallest effect that matters)")
    reproduced, weak, not_reproduced = VERDICTS
    if difference.mean <= 0:
        return not_reproduced
    if direction(difference) == 1 and difference.mean >= minimum:
        return reproduced
    return weak
