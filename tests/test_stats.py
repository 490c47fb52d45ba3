"""Bootstrap intervals on inputs whose answer is known."""
import numpy as np
import pytest

from massact.stats import bootstrap_mean, direction, paired_difference


def test_identical_arms_give_a_zero_difference_with_a_zero_interval():
    a = np.linspace(0, 1, 64)
    est = paired_difference(a, a.copy())
    assert est.mean == 0.0 and est.ci == (0.0, 0.0) and est.n == 64
    assert direction(est) == 0


def test_a_large_planted_difference_is_found_and_excludes_zero():
    rng = np.random.default_rng(1)
    base = rng.normal(size=64)
    treated = base + 0.5 + 0.05 * rng.normal(size=64)
    est = paired_difference(treated, base)
    assert 0.45 < est.mean < 0.55
    # the half-width is the normal theory's 1.96 x sd / sqrt(n) of the differences, within 20%
    half = 1.96 * (treated - base).std(ddof=1) / np.sqrt(64)
    assert abs((est.ci[1] - est.ci[0]) / 2 - half) < 0.2 * half, (est.ci, half)
    assert direction(est) == 1


def test_pairing_is_narrower_than_separate_intervals_when_images_vary():
    rng = np.random.default_rng(2)
    base = rng.normal(scale=3.0, size=64)
    a, b = base + 0.2, base + 0.1 * rng.normal(size=64)
    paired = paired_difference(a, b)
    sep_a, sep_b = bootstrap_mean(a), bootstrap_mean(b)
    assert paired.ci[1] - paired.ci[0] < 0.2 * (sep_a.ci[1] - sep_a.ci[0] + sep_b.ci[1] - sep_b.ci[0])


def test_interval_covers_the_mean_and_is_reproducible():
    v = np.random.default_rng(3).uniform(size=40)
    e1, e2 = bootstrap_mean(v, seed=5), bootstrap_mean(v, seed=5)
    assert e1 == e2 and e1.ci[0] <= e1.mean <= e1.ci[1]
    assert f"{e1:.2f}".count("[") == 1


@pytest.mark.parametrize("bad", [[], [1.0, float("nan")], [float("inf")]])
def test_bad_values_are_refused(bad):
    with pytest.raises(ValueError):
        bootstrap_mean(bad)


def test_unpaired_lengths_and_bad_options_are_refused():
    with pytest.raises(ValueError, match="same images"):
        paired_difference([1, 2], [1, 2, 3])
    with pytest.raises(ValueError, match="confidence"):
        bootstrap_mean([1, 2], confidence=1.5)
    with pytest.raises(ValueError, match="n_resamples"):
        bootstrap_mean([1, 2], n_resamples=True)


# -- statistics that are not a plain mean (bootstrap_statistic) -------------------------------------
def test_macro_mean_averages_each_column_over_the_rows_that_test_it():
    from massact.stats import bootstrap_statistic, macro_mean

    nan = np.nan
    # column 0 tested by rows 0-1 (mean 0.5), column 1 by rows 2-3 (mean 1.0): macro mean 0.75
    table = np.array([[1.0, nan], [0.0, nan], [nan, 1.0], [nan, 1.0]])
    est = bootstrap_statistic(table, macro_mean)
    assert est.mean == pytest.approx(0.75) and est.n == 4
    assert 0.5 <= est.ci[0] <= 0.75 <= est.ci[1] <= 1.0
    assert bootstrap_statistic(table, macro_mean) == est  # the same seed gives the same interval
    assert bootstrap_statistic(np.full((3, 2), nan), macro_mean) is None  # no row tests anything


def test_bootstrap_statistic_keeps_columns_paired():
    from massact.stats import bootstrap_statistic, macro_mean

    rng = np.random.default_rng(3)
    a = rng.integers(0, 2, size=(32, 3)).astype(float)
    same = bootstrap_statistic(np.concatenate([a, a], 1), lambda v: macro_mean(v[..., :3]) - macro_mean(v[..., 3:]))
    assert same.mean == 0.0 and same.ci == (0.0, 0.0)
    planted = bootstrap_statistic(np.concatenate([np.ones_like(a), a * 0], 1),
                                  lambda v: macro_mean(v[..., :3]) - macro_mean(v[..., 3:]))
    assert planted.mean == 1.0 and planted.ci == (1.0, 1.0)


def test_bootstrap_statistic_refuses_bad_input():
    from massact.stats import bootstrap_statistic, macro_mean

    with pytest.raises(ValueError, match="empty"):
        bootstrap_statistic(np.zeros((0, 2)), macro_mean)
    with pytest.raises(ValueError, match="inf"):
        bootstrap_statistic(np.array([[1.0, np.inf]]), macro_mean)
    with pytest.raises(ValueError, match="confidence"):
        bootstrap_statistic(np.ones((2, 2)), macro_mean, confidence=1.5)
    with pytest.raises(ValueError, match="n_resamples"):
        bootstrap_statistic(np.ones((2, 2)), macro_mean, n_resamples=True)


def _hand_bootstrap(values, n_resamples: int, confidence: float, seed: int):
    """The percentile bootstrap written out one resample at a time, with the same generator."""
    v = np.asarray(values, dtype=float)
    rng = np.random.default_rng(seed)
    idx = rng.integers(0, v.size, size=(n_resamples, v.size))  # the same draws, in the same order
    means = []
    for r in range(n_resamples):
        total = 0.0
        for i in idx[r]:
            total += v[i]
        means.append(total / v.size)
    means.sort()
    lo_q, hi_q = (1 - confidence) / 2, 1 - (1 - confidence) / 2
    # numpy's default quantile: linear interpolation between order statistics at q (n - 1)
    def q(p):
        pos = p * (n_resamples - 1)
        j = int(np.floor(pos))
        return means[j] + (pos - j) * (means[min(j + 1, n_resamples - 1)] - means[j])
    return sum(v) / v.size, q(lo_q), q(hi_q)


def test_the_bootstrap_is_the_hand_written_resampling_loop():
    v = np.random.default_rng(11).exponential(size=37)
    est = bootstrap_mean(v, n_resamples=500, confidence=0.9, seed=4)
    mean, lo, hi = _hand_bootstrap(v, 500, 0.9, 4)
    assert est.mean == pytest.approx(mean, abs=1e-12)
    assert est.ci[0] == pytest.approx(lo, abs=1e-12) and est.ci[1] == pytest.approx(hi, abs=1e-12)


def test_the_95_interval_covers_the_true_mean_about_95_percent_of_the_time():
    """400 samples of 64 draws from a normal of mean 0.3: the default interval should cover 0.3 in
    about 95% of them (a percentile bootstrap runs a little narrow at n = 64: 0.91-0.99 accepted)."""
    rng = np.random.default_rng(12)
    covered = 0
    trials = 400
    for t in range(trials):
        est = bootstrap_mean(rng.normal(0.3, 1.0, size=64), n_resamples=400, seed=t)
        covered += est.ci[0] <= 0.3 <= est.ci[1]
    assert 0.91 <= covered / trials <= 0.99, covered / trials
