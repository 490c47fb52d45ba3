"""The report's page says what results.json holds: one quick run of the toy's report, then the
scoreboard, every interval and every decimal the prose quotes, and the length of its paragraphs."""
from __future__ import annotations

import html
import json
import re
from html import unescape

import pytest

import massact
from massact import readings
from massact.report import reproduce

#: the longest paragraph or bullet the page may show (words)
MAX_WORDS = 120
#: "0.12 [0.08, 0.16]", "+0.07 [+0.05, +0.09]", "9% [0%, 18%]"
INTERVAL = re.compile(r"([+-]?\d+(?:\.\d+)?)(%?) \[([+-]?\d+(?:\.\d+)?)%?, ([+-]?\d+(?:\.\d+)?)%?\]")
#: a decimal with at least two places ("0.0081", "45.46"), not part of a longer token
DECIMAL = re.compile(r"(?<![\w.])([+-]?\d+\.\d{2,})(?!\d)")


@pytest.fixture(scope="module")
def report(tmp_path_factory):
    out = tmp_path_factory.mktemp("report")
    reproduce(massact.load("toy"), out, quick=True, progress=False)
    saved = json.loads((out / "results.json").read_text())
    page = re.sub(r"<script.*?</script>", "", (out / "index.html").read_text(), flags=re.S)
    prose = [unescape(re.sub(r"<[^>]+>", "", m)) for m in re.findall(r"<(?:p|li)>(.*?)</(?:p|li)>", page, flags=re.S)]
    return saved, page, prose


def _numbers(obj) -> list[float]:
    """Every number in the results (strings such as the readings are not searched)."""
    if isinstance(obj, dict):
        return [x for v in obj.values() for x in _numbers(v)]
    if isinstance(obj, list):
        return [x for v in obj for x in _numbers(v)]
    if isinstance(obj, (int, float)) and not isinstance(obj, bool):
        return [float(obj)]
    return []


def _quoted(text: str, numbers: list[float], percent: bool = False) -> bool:
    """Whether a number as the page prints it is some number of results.json at the same rounding."""
    places = len(text.split(".")[1]) if "." in text else 0
    x = float(text)
    return any(abs((100 * v if percent else v) - x) <= 0.5 * 10 ** -places + 1e-9 for v in numbers)


def test_the_scoreboard_is_read_from_the_saved_curves_and_shown_first(report):
    saved, page, _ = report
    assert saved["scoreboard"] == readings.scoreboard(saved)
    assert [r["claim"] for r in saved["scoreboard"]] == ["critical", "spatial", "transport"]
    first_section = page.index("<h2 id='model'>")
    for row in saved["scoreboard"]:
        assert row["verdict"] in massact.stats.VERDICTS
        assert page.index(html.escape(row["headline"])) < first_section


def test_every_interval_and_decimal_in_the_prose_is_a_number_of_results_json(report):
    saved, _, prose = report
    numbers = _numbers(saved)
    missing = []
    for text in prose:
        for m in INTERVAL.finditer(text):
            percent = m.group(2) == "%"
            if not all(_quoted(m.group(g), numbers, percent) for g in (1, 3, 4)):
                missing.append(m.group(0))
        for m in DECIMAL.finditer(text):
            if not _quoted(m.group(1), numbers):
                missing.append(text[max(0, m.start() - 60):m.end()])
    assert not missing, missing


def test_the_inversion_median_the_reading_quotes_is_the_saved_one(report):
    saved, _, prose = report
    inv = saved["use_cases"]["subject_transfer"]["inversion"]
    quoted = [re.search(r"per reference the median is ([\d.]+)", t) for t in prose]
    quoted = [float(q.group(1)) for q in quoted if q]
    if inv["n"] > 1:
        assert quoted == [pytest.approx(inv["median_mse"], abs=1e-4)]


def test_no_paragraph_or_bullet_is_a_wall_of_text(report):
    _, _, prose = report
    lengths = sorted(len(t.split()) for t in prose)
    assert lengths[-1] <= MAX_WORDS, [t[:120] for t in prose if len(t.split()) > MAX_WORDS]
