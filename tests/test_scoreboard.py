"""The scoreboard: one line per claim, read from its curve over k (``massact.readings.scoreboard``),
and how the page shows it and a reading's lines."""
from __future__ import annotations

import pytest

from massact import readings
from massact.report.page import scoreboard_html, text_html


def _iv(mean, lo, hi, n=64):
    return {"mean": mean, "ci": [lo, hi], "n": n}


CRITICAL = {"blocks": "all", "steps": "all", "random_outside": 16, "metric_name": "caption accuracy", "per_k": [
    {"k": 1, "status": "not reproduced", "top-random": _iv(-0.01, -0.02, 0.01), "top-bottom": _iv(0.0, -0.02, 0.01)},
    {"k": 2, "status": "weak", "top-random": _iv(0.01, -0.01, 0.05), "top-bottom": _iv(0.01, -0.01, 0.04)},
    {"k": 4, "status": "reproduced", "top-random": _iv(0.07, 0.05, 0.10), "top-bottom": _iv(0.09, 0.06, 0.13)},
    {"k": 8, "status": "reproduced", "top-random": _iv(0.10, 0.07, 0.13), "top-bottom": _iv(0.11, 0.08, 0.14)}]}


def _spatial_row(k, top, d_random, verdict):
    return {"k": k, "best_block": {"top": 1, "random": 2}, "miou": {"top": _iv(top, top - 0.03, top + 0.03)},
            "verdict": {"random": verdict}, "top-random": d_random}


SPATIAL = {"step": 19, "ks": [1, 2], "minimum": 0.05, "random_outside": 2, "per_k": [
    _spatial_row(1, 0.60, _iv(0.02, -0.01, 0.05), "weak"), _spatial_row(2, 0.62, _iv(0.04, 0.01, 0.07), "weak")]}


def test_a_claim_that_holds_quotes_the_fewest_channels_where_it_holds():
    row = readings.scoreboard_row("critical", CRITICAL)
    assert row["verdict"] == "reproduced"
    assert (row["holds"], row["weak"], row["fails"]) == ([4, 8], [2], [1])
    assert row["k"] == 4 and "0.07 [0.05, 0.10]" in row["headline"] and "top-16" in row["headline"]
    assert row["n"] == 64 and row["unit"] == "images"
    line = readings.scoreboard_line(row)
    assert line.startswith("critical: reproduced (holds at k = 4, 8; weak at k = 2; not at k = 1).")


def test_a_claim_that_never_holds_says_so_and_quotes_its_largest_difference():
    row = readings.scoreboard_row("spatial", SPATIAL)
    assert row["verdict"] == "weak" and row["holds"] == [] and row["where"].startswith("holds at no k measured")
    assert row["k"] == 2 and "+0.04 [+0.01, +0.07]" in row["headline"] and "mIoU 0.62" in row["headline"]


def test_transport_rows_name_the_kind_that_moves_most():
    def point(k, status, adoption, diff):
        return {"k": k, "status": status, "adoption": {"top": _iv(adoption, adoption - 0.1, adoption + 0.1, 32)},
                "top-random": _iv(diff, diff - 0.1, diff + 0.1, 32)}
    ov = {"ks": [2, 16], "random_outside": 16, "kinds": {
        "layout": {"per_k": [point(2, "not reproduced", 0.1, 0.0), point(16, "reproduced", 0.9, 0.4)]},
        "identity": {"per_k": [point(2, "not reproduced", 0.0, 0.0), point(16, "weak", 0.3, 0.2)]}}}
    row = readings.scoreboard_row("transport", ov)
    assert row["verdict"] == "reproduced" and row["k"] == 16 and "layout in 90% of the pairs that differ in it" in row["headline"]
    assert row["holds"] == [16] and row["fails"] == [2]
    assert row["unit"] == "caption pairs" and row["n"] == 32


def test_bad_input_is_refused_and_missing_sections_are_left_out():
    with pytest.raises(ValueError, match="one of"):
        readings.scoreboard_row("massive", CRITICAL)
    rows = readings.scoreboard({"critical": {"over_k": CRITICAL}, "spatial": {"failed": True, "error": "x"},
                                "transport": {"rows": []}})
    assert [r["claim"] for r in rows] == ["critical"]


def test_the_page_shows_the_scoreboard_and_a_reading_as_bullets():
    page = scoreboard_html(readings.scoreboard({"critical": {"over_k": CRITICAL}, "spatial": {"over_k": SPATIAL}}))
    assert page.count("<tr>") == 3 and "reproduced" in page and "weak" in page and "#critical" in page
    assert scoreboard_html([]) == ""
    assert text_html("one sentence.") == "<p>one sentence.</p>"
    assert text_html("first line.\nsecond & line.") == "<ul><li>first line.</li><li>second &amp; line.</li></ul>"
