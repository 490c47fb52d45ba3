"""Checkpoints along the toy's training run, and the claims-across-training protocol."""
import pytest
import torch

import massact
from massact.claims.training import TrainingProtocol, across_training, measure_checkpoint
from massact.toy import checkpoints


def test_checkpoints_are_listed_and_load_in_float32():
    for name in ("toy", "toy-256"):
        steps = checkpoints.available(name)
        assert steps == sorted(steps) and len(steps) >= 1
        first = massact.load(name, checkpoint=steps[0])
        assert first.training_step == steps[0]
        assert next(first.transformer.parameters()).dtype == torch.float32
        last = massact.load(name, checkpoint=steps[-1])
        assert last.training_step == steps[-1] == massact.load(name).training_step  # the last step is the model
    assert checkpoints.run_card()["steps"] == checkpoints.available("toy-256")[-1]  # toy-256's card: its last step


@pytest.mark.parametrize("name", ["toy", "toy-256"])
def test_shipped_checkpoints_span_the_run(name):
    steps = checkpoints.available(name)
    assert len(steps) >= 4, f"the claims-across-training view needs >= 4 checkpoints, found {steps}"
    assert steps[0] <= 500, f"the series must include an early checkpoint (before the outliers), found {steps}"
    a = massact.load(name, checkpoint=steps[0]).transformer.state_dict()
    b = massact.load(name, checkpoint=steps[-1]).transformer.state_dict()
    assert any(not torch.equal(a[k], b[k]) for k in a), "two checkpoints hold the same weights"


def test_the_default_series_ends_with_the_default_model_and_toy_256_with_toy_256():
    model, wide = massact.load("toy"), massact.load("toy-256")
    assert model.checkpoints() == checkpoints.available("toy") and model.width == 128
    assert wide.checkpoints() == checkpoints.available("toy-256") and wide.name == "toy-256" and wide.width == 256
    for m in (model, wide):
        last = m.at_checkpoint(m.checkpoints()[-1])
        assert last.name == m.name and last.width == m.width
        assert all(torch.equal(v, last.transformer.state_dict()[k]) for k, v in m.transformer.state_dict().items())
    assert wide.card["steps"] == wide.training_step and model.card["steps"] == model.training_step


def test_an_unknown_toy_name_is_refused_naming_the_toys():
    from massact.toy.pipeline import ToyModel

    with pytest.raises(ValueError, match="toy, toy-256"):
        ToyModel.load(name="toy-512")


def test_shipped_weights_fit_the_install_budget():
    from massact.toy.model import WEIGHTS_DIR

    total = sum(p.stat().st_size for p in WEIGHTS_DIR.rglob("*") if p.is_file())
    assert total <= 125 * 2 ** 20, f"shipped weights take {total / 2 ** 20:.1f} MiB (every Colab install clones them)"


@pytest.mark.parametrize("bad", [12345, 2.0, True, "500"])
def test_a_missing_or_mistyped_checkpoint_is_refused(bad):
    with pytest.raises((ValueError, TypeError), match="available"):
        massact.load("toy", checkpoint=bad)


def test_protocol_refuses_bad_sizes():
    with pytest.raises((ValueError, TypeError)):
        TrainingProtocol(n_images=0)
    with pytest.raises((ValueError, TypeError)):
        TrainingProtocol(critical_k=2.5)


def test_measure_checkpoint_rows_carry_intervals(model):
    p = TrainingProtocol(n_images=4, n_pairs=4, n_calibration=2, num_steps=3)
    m = measure_checkpoint(model, 1, p)
    row = m.row()
    assert row["n"] == 4 and len(row["massive_ratio"]) == model.num_blocks
    for key in ("caption_accuracy", "critical_drop_top", "critical_drop_bottom", "critical_drop_top_minus_bottom",
                "spatial_miou_top", "spatial_miou_top_minus_bottom", "transport_adoption_top"):
        lo, hi = row[f"{key}_ci"]
        assert lo - 1e-9 <= row[key] <= hi + 1e-9, key
    assert 0 <= row["spatial_block"] < model.num_blocks
    # the same protocol on the same weights gives the same numbers
    assert measure_checkpoint(model, 1, p).row() == row
    rows = across_training({2: lambda: model, 1: model}, p)
    assert [r.step for r in rows] == [1, 2] and rows[0].row()["caption_accuracy"] == row["caption_accuracy"]


def test_across_training_needs_a_world():
    class NoWorld:
        world = None

        def metrics(self):
            return massact.metrics.Metrics()

    with pytest.raises(ValueError, match="world"):
        measure_checkpoint(NoWorld(), 0)
    with pytest.raises(ValueError, match="no checkpoints"):
        across_training({})


def _row(step, ratio, effect, ci_half=0.05):
    r = {"step": step, "best_massive_ratio": ratio, "n": 32, "n_pairs": 16, "caption_accuracy": 0.9,
         "caption_accuracy_ci": [0.85, 0.95]}
    for key in ("critical_drop_top_minus_bottom", "critical_drop_top_minus_random", "spatial_miou_top_minus_bottom",
                "transport_adoption_top_minus_bottom"):
        r[key] = effect
        r[f"{key}_ci"] = [effect - ci_half, effect + ci_half]
    return r


def test_training_reading_says_what_the_intervals_say():
    from massact.readings._training import training

    grow = training([_row(250, 5.0, 0.0), _row(4000, 60.0, 0.4)])
    assert "grew as the outliers grew" in grow and "5.0 to 60.0" in grow
    flat = training([_row(250, 5.0, 0.02, 0.1), _row(4000, 60.0, 0.03, 0.1)])
    assert "no effect is shown to grow" in flat and "never lies above 0" in flat
    assert "no effect is distinguishable" in flat
