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
    est = paired_difference(base + 0.5 + 0.05 * rng.normal(size=64), base)
    assert 0.45 < est.mean < 0.55
    assert est.ci[0] > 0.4 and est.ci[1] < 0.6
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
