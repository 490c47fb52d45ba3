"""The one result shape (massact.claims.results.Results), on values planted by hand."""
import numpy as np
import pytest

from massact.claims.results import Results, interval, rounded
from massact.stats import bootstrap_mean, paired_difference


def planted() -> Results:
    rng = np.random.default_rng(0)
    top, bottom = rng.random(12), rng.random(12)
    r0, r1 = rng.random(12), rng.random(12)
    tested = np.where(np.arange(12) % 3 == 0, np.nan, rng.random(12))
    conds = [dict(arm="top", k=4, draw=None), dict(arm="bottom", k=4, draw=None),
             dict(arm="random", k=4, draw=0), dict(arm="random", k=4, draw=1), dict(arm="top", k=8, draw=None)]
    per = [{"acc": top, "color": tested}, {"acc": bottom, "color": tested * 0.5}, {"acc": r0}, {"acc": r1},
           {"acc": top * 0.9}]
    scal = [{"fid": 1.0}, {"fid": 2.0}, {"fid": 3.0}, {"fid": 5.0}, {"fid": 4.0}]
    return Results(conds, per, scal, item="image", meta={"note": "planted"})


def test_estimate_and_difference_equal_the_bootstrap_on_the_same_values():
    res = planted()
    v = res.per_item("acc", arm="top", k=4)
    assert res.estimate("acc", arm="top", k=4) == bootstrap_mean(v)
    rand = (res.per_item("acc", arm="random", k=4, draw=0) + res.per_item("acc", arm="random", k=4, draw=1)) / 2
    np.testing.assert_allclose(res.per_item("acc", arm="random", k=4), rand)
    assert res.difference("acc", dict(arm="top"), dict(arm="random"), k=4) == paired_difference(v, rand)


def test_items_that_do_not_test_a_metric_are_left_out():
    res = planted()
    est = res.estimate("color", arm="top", k=4)
    assert est.n == 8
    d = res.difference("color", dict(arm="top"), dict(arm="bottom"), k=4)
    assert d.n == 8 and d.mean > 0


def test_an_ambiguous_or_missing_condition_names_what_to_choose():
    res = planted()
    with pytest.raises(ValueError, match="name one of each.*'k'"):
        res.per_item("acc", arm="top")
    with pytest.raises(ValueError, match="holds"):
        res.per_item("acc", arm="energy", k=4)
    with pytest.raises(ValueError, match="not measured"):
        res.per_item("color", arm="random", k=4)
    with pytest.raises(TypeError):
        res.difference("acc", "top", "random", k=4)


def test_table_rows_pool_draws_and_carry_intervals():
    res = planted()
    rows = res.table(ndigits=4)
    assert len(rows) == 4
    rand = rows.first(arm="random")
    assert rand["draws"] == 2 and rand["fid"] == 4.0 and rand["fid_std"] == rounded(np.std([3.0, 5.0], ddof=1), 4)
    est = res.estimate("acc", arm="random", k=4)
    assert rand["acc"] == round(est.mean, 4) and rand["acc_ci"] == interval(est, 4) and rand["n"] == 12
    top = rows.first(arm="top", k=4)
    assert top["fid"] == 1.0 and "fid_ci" not in top and "draws" not in top
    assert len(res.table(draws="each")) == 5


def test_select_keeps_the_type_and_json_round_trips():
    res = planted()
    sub = res.select(k=4)
    assert type(sub) is Results and len(sub) == 4 and len(res) == 5
    back = Results.from_json(res.to_json())
    assert back.table() == res.table()
    np.testing.assert_array_equal(back.per_item("color", arm="top", k=4), res.per_item("color", arm="top", k=4))


def test_rows_print_the_columns_that_matter_with_their_intervals():
    from massact.claims.rows import Rows

    rows = Rows([{"arm": "top", "k": 4, "pixel_mse": 0.01234, "pixel_mse_ci": [0.01, 0.015], "other": 1.0},
                 {"arm": "bottom", "k": 4, "pixel_mse": None}])
    lines = rows.text(["arm", "k", "pixel_mse"], spec=".4f").splitlines()
    assert lines[0].split() == ["arm", "k", "pixel_mse"]
    assert lines[1].split() == ["top", "4", "0.0123", "[0.0100,", "0.0150]"]
    assert lines[2].split() == ["bottom", "4", "n/a"] and "other" not in lines[0]
    with pytest.raises(ValueError, match="columns is empty"):
        rows.text([])
