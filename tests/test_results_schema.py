"""The shape of ``results.json``: its top level, the training section (built here on the toy, quick), and
one rule for every interval in the file, checked on a quick run of the toy's training section and on a
tiny pipeline's whole report (the other sections)."""
from __future__ import annotations

import json
import numbers

import pytest

import massact
from massact.report import reproduce, sections

TOP_LEVEL = {"scoreboard": list, "inputs": dict, "failed": list, "model": dict, "timings_seconds": dict, "meta": dict}
TRAINING_PROTOCOL = ("n_images", "n_pairs", "n_calibration", "num_steps", "critical_k", "spatial_k", "transport_k",
                     "random_seed")


def intervals(obj, path="results"):
    """Every ``<name>_ci`` in the tree, with its estimate where the same dict holds ``<name>``
    (also the ``{"mean", "ci", "n"}`` summaries): yields (path, estimate or None, ci)."""
    if isinstance(obj, dict):
        for key, value in obj.items():
            if key.endswith("_ci") and isinstance(value, dict):  # per attribute: {attribute: [low, high]}
                est = obj.get(key[:-3]) or {}
                for name, ci in value.items():
                    yield f"{path}.{key}.{name}", est.get(name) if isinstance(est, dict) else None, ci
            elif key.endswith("_ci"):
                yield f"{path}.{key}", obj.get(key[:-3]), value
            elif key == "ci":
                yield f"{path}.ci", obj.get("mean"), value
            else:
                yield from intervals(value, f"{path}.{key}")
    elif isinstance(obj, list):
        for i, value in enumerate(obj):
            yield from intervals(value, f"{path}[{i}]")


def check_intervals(results) -> int:
    """Every interval is [low, high] numbers with low <= high, holding its estimate; returns how many."""
    seen = 0
    for path, est, ci in intervals(results):
        if ci is None:
            assert est is None, f"{path}: an estimate {est!r} without its interval"
            continue
        assert isinstance(ci, list) and len(ci) == 2 and all(isinstance(v, numbers.Real) for v in ci), (path, ci)
        assert ci[0] <= ci[1], (path, ci)
        if isinstance(est, numbers.Real) and not isinstance(est, bool):
            assert ci[0] - 1e-9 <= est <= ci[1] + 1e-9, (path, est, ci)
        seen += 1
    return seen


def check_top_level(saved: dict, section_names) -> None:
    for key, kind in TOP_LEVEL.items():
        assert isinstance(saved.get(key), kind), (key, type(saved.get(key)))
    assert set(saved) == set(TOP_LEVEL) | set(section_names), sorted(saved)
    assert saved["failed"] == []


def test_the_training_section_on_the_toy(tmp_path):
    reproduce(massact.load("toy"), tmp_path, quick=True, progress=False, only=["training"])
    saved = json.loads((tmp_path / "results.json").read_text())
    check_top_level(saved, ["training"])
    training = saved["training"]
    assert set(training) == {"rows", "protocol", "reading"}
    assert all(isinstance(training["protocol"][k], int) for k in TRAINING_PROTOCOL)
    assert isinstance(training["reading"], str) and training["reading"]
    steps = [r["step"] for r in training["rows"]]
    assert len(steps) >= 2 and steps == sorted(steps) and all(isinstance(s, int) for s in steps)
    for r in training["rows"]:
        assert r["n"] == training["protocol"]["n_images"] and 0 < r["n_pairs"] <= training["protocol"]["n_pairs"]
        assert r["best_massive_ratio"] >= 1 and 0 <= r["caption_accuracy"] <= 1
        for key in ("critical_drop_top", "spatial_miou_top", "transport_adoption_top",
                    "critical_drop_top_minus_random", "spatial_miou_top_minus_bottom"):
            assert key in r and f"{key}_ci" in r, key
    assert check_intervals(saved) >= 10 * len(steps)


@pytest.mark.parametrize("family", ["flux"])
def test_every_other_section_on_a_tiny_pipeline(family, tmp_path):
    model = massact.load(f"tiny-{family}")
    others = [n for n in sections.names() if n != "training"]
    reproduce(model, tmp_path, quick=True, progress=False, only=others)
    saved = json.loads((tmp_path / "results.json").read_text())
    check_top_level(saved, others)
    assert check_intervals(saved) > 0
    assert saved["massive"]["saturation"] == {"dtype": "float32", "blocks": []}
    assert isinstance(saved["massive"]["rows"], list) and saved["massive"]["rows"]
    transport = saved["transport"]
    assert set(transport) == {"rows", "over_k", "carry", "random_outside", "massive_set_10x_median"}
    assert isinstance(transport["rows"], list) and transport["rows"] and isinstance(transport["carry"], list)
    assert transport["over_k"]["random_outside"] == transport["random_outside"]
    assert {r["outside"] for r in transport["rows"] if r["arm"] == "random"} == {transport["random_outside"]}
