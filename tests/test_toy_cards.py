"""The toy models' cards and bar: the shipped markdown is what the JSON renders, and the bar is
checked from the numbers (planted evaluations where an answer is known)."""
import json

import pytest

from massact.toy import card, evaluate
from massact.toy.model import WEIGHTS_DIR


@pytest.mark.parametrize("path,series", [(WEIGHTS_DIR / "model_card.json", False),
                                         (WEIGHTS_DIR / "checkpoints" / "run_card.json", True)])
def test_shipped_markdown_is_rendered_from_the_card_json(path, series):
    c = json.loads(path.read_text())
    assert path.with_suffix(".md").read_text() == card.render(c, checkpoint_run=series)
    assert c["name"] == ("toy-256" if series else "toy")
    assert c["evaluation"]["bar"] == evaluate.bar(c["evaluation"])  # stored verdicts agree with the numbers


def _ev(mean=0.99, shape=0.95, seconds=2.0, ratio=45.0, fid=100.0, n_fid=128):
    return {"caption_accuracy": {"size": 1.0, "shape": shape, "mean": mean}, "batch16_seconds": seconds,
            "massive": [{"top1_over_median_absmean": 10.0}, {"top1_over_median_absmean": ratio}],
            "toy_fid": fid, "num_fid_images": n_fid}


def test_the_bar_is_checked_from_the_numbers():
    assert evaluate.bar(_ev()) == {"mean_accuracy_ge_0.97": True, "every_attribute_ge_0.9": True,
                                   "batch16_le_6s": True, "top1_over_median_absmean_ge_100": False}
    assert all(evaluate.bar(_ev(ratio=120.0)).values())
    assert not evaluate.bar(_ev(shape=0.85))["every_attribute_ge_0.9"]
    assert not evaluate.bar(_ev(seconds=6.5))["batch16_le_6s"]


def test_compare_needs_a_fid_no_worse_on_the_same_number_of_images():
    assert evaluate.compare(_ev(ratio=120.0, fid=90.0), _ev())["meets_bar"]
    worse = evaluate.compare(_ev(ratio=120.0, fid=110.0), _ev())
    assert not worse["meets_bar"] and worse["bar"]["toy_fid_le_default"] is False
    with pytest.raises(ValueError, match="same protocol"):
        evaluate.compare(_ev(n_fid=64), _ev())
