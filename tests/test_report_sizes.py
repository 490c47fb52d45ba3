"""The report's sample sizes, its real-pipeline command line and its image sizes.

The sizes are the statistics issue's floor for ``make demo`` (standard) and about four times
that for ``--full``; the CLI turns presets and options into a configured model (or a clear
refusal); report images of real pipelines are scaled down and compressed.
"""
from __future__ import annotations

import argparse
import base64
import io

import numpy as np
import pytest
import torch
from PIL import Image

import massact
from massact import cli
from massact.plots import image_data_uri
from massact.plots.critical import control_intervals_figure
from massact.ranking import ENERGY_TOLERANCE, energy_match_ceiling
from massact.report import ReportContext, sections
from massact.report.sections import SIZES, energy_control



# -- sizes -----------------------------------------------------------------------------------------
def _pairs_of_composition(sz, num_attributes: int = 5) -> int:
    n = len(sz.composition_attributes) if sz.composition_attributes else num_attributes
    return sz.composition_per_attribute * n


def test_standard_sizes_meet_the_floor_and_full_is_about_four_times():
    std, full = SIZES["standard"], SIZES["full"]
    assert std.critical_images >= 64 and std.spatial_images >= 64
    assert std.transport_pairs >= 32 and std.interpolation_pairs >= 16 and std.subject_references >= 8
    assert _pairs_of_composition(std) >= 16
    # the world's own prompts must hold that many images: prompts x the default 4 seeds
    assert std.evaluation_prompts * 4 >= max(std.critical_images, std.spatial_images)
    assert full.evaluation_prompts * 4 >= max(full.critical_images, full.spatial_images)
    for field in ("critical_images", "spatial_images", "transport_pairs", "interpolation_pairs",
                  "subject_references", "composition_per_attribute"):
        assert getattr(full, field) == 4 * getattr(std, field), field
    assert set(SIZES) == {"quick", "standard", "full"}
    assert SIZES["standard"].summary()["critical_ks"] == list(std.critical_ks)


def test_size_and_quick_must_agree(tiny, tmp_path):
    with pytest.raises(ValueError, match="size 'huge' unknown"):
        massact.report.reproduce(tiny, tmp_path / "a", size="huge")
    with pytest.raises(ValueError, match="quick=True asks for size 'quick'"):
        massact.report.reproduce(tiny, tmp_path / "b", quick=True, size="full")
    with pytest.raises(ValueError, match="contradicts"):
        ReportContext(tiny, tiny.metrics(), ["a"], ["a"], [0], quick=True, size="standard")
    assert ReportContext(tiny, tiny.metrics(), ["a"], ["a"], [0]).size == "standard"
    assert ReportContext(tiny, tiny.metrics(), ["a"], ["a"], [0], quick=True).size == "quick"
    assert not any((tmp_path / d).exists() for d in "ab")


# -- the energy control ------------------------------------------------------------------------------
def test_energy_match_ceiling_known_answer():
    score = torch.tensor([[5.0, 4.0, 1.0, 0.5, 0.2, 0.1]])
    energy = torch.tensor([[10.0, 6.0, 3.0, 2.0, 1.0, 0.5]])
    # top-2 by score = channels 0, 1 (energy 16); the two largest others: 3 + 2 = 5
    assert energy_match_ceiling(score, energy, 2) == pytest.approx([5 / 16])
    # top-1 = channel 0 (energy 10): the largest other is 6
    assert energy_match_ceiling(score, energy, 1) == pytest.approx([0.6])
    # a channel ranked low but large in energy makes a match possible
    energy2 = torch.tensor([[1.0, 1.0, 0.5, 0.5, 3.0, 0.1]])
    assert energy_match_ceiling(score, energy2, 2)[0] == pytest.approx(3.5 / 2)
    # the clean rule: the pool leaves out the top-2 for k = 1 too, so the largest other is 3
    assert energy_match_ceiling(score, energy, 1, outside=2) == pytest.approx([0.3])
    assert energy_match_ceiling(score, energy2, 1, outside=3)[0] == pytest.approx(3.0)
    with pytest.raises(ValueError, match="at most half the width"):
        energy_match_ceiling(score, energy, 4)
    with pytest.raises(ValueError, match=r"outside 6 out of range .* 1\.\.5"):
        energy_match_ceiling(score, energy, 1, outside=6)
    with pytest.raises(ValueError, match="energy has shape"):
        energy_match_ceiling(score, energy[:, :3], 1)


def test_energy_control_reports_feasibility_per_k():
    class Cal:  # the two things energy_control reads of a Calibration
        def __init__(self, score, energy):
            self._s, self.stats = score, type("S", (), {"energy": lambda _self: energy})()

        def score(self, statistic):
            return self._s

    score = torch.tensor([[5.0, 4.0, 1.0, 0.5, 0.2, 0.1], [5.0, 4.0, 1.0, 0.5, 0.2, 0.1]])
    energy = torch.tensor([[1.0, 1.0, 0.5, 0.5, 3.0, 0.1], [1.0, 1.0, 0.5, 0.5, 3.0, 0.1]])
    ec = energy_control(Cal(score, energy), ks=(1, 2, 3))
    feasible = {r["k"]: r["feasible"] for r in ec["per_k"]}
    assert feasible == {1: True, 2: True, 3: True} and ec["k_run"] == 3
    ec = energy_control(Cal(score, torch.tensor([[10.0, 6.0, 3.0, 2.0, 1.0, 0.5]] * 2)), ks=(1, 2))
    assert ec["k_run"] is None and ec["tolerance"] == ENERGY_TOLERANCE
    assert all(not r["feasible"] and r["ceiling_min"] < 1 for r in ec["per_k"])
    assert "No energy-matched control exists" in sections._energy_text(ec)
    assert "outside each block's top-k" in sections._energy_text(ec) and ec["outside"] == 0
    # the clean rule: the same pool (outside the top-2) for every k; channel 4 (energy 3) stays in it
    ec = energy_control(Cal(score, energy), ks=(1, 2), outside=2)
    assert ec["outside"] == 2 and [r["ceiling_min"] for r in ec["per_k"]] == pytest.approx([3.0, 3.5 / 2])
    ec = energy_control(Cal(score, torch.tensor([[10.0, 6.0, 3.0, 2.0, 1.0, 0.5]] * 2)), ks=(1, 2), outside=2)
    assert ec["k_run"] is None and [r["ceiling_min"] for r in ec["per_k"]] == pytest.approx([0.3, 5 / 16])
    assert "outside each block's top-2" in sections._energy_text(ec)


# -- figures with intervals ---------------------------------------------------------------------------
ROWS = [{"arm": "none", "k": 0, "blocks": "all", "steps": "all", "ablation": "none", "caption_accuracy": 0.98,
         "caption_accuracy_ci": [0.97, 0.99]},
        {"arm": "top", "k": 8, "blocks": "all", "steps": "all", "ablation": "zero", "caption_accuracy": 0.85,
         "caption_accuracy_ci": [0.80, 0.88]},
        {"arm": "top", "k": 8, "blocks": "all", "steps": "all", "ablation": "mean", "caption_accuracy": 0.93,
         "caption_accuracy_ci": [0.90, 0.95]},
        {"arm": "bottom", "k": 8, "blocks": "all", "steps": "all", "ablation": "zero", "caption_accuracy": 0.97,
         "caption_accuracy_ci": [0.95, 0.99]}]


def test_figures_draw_the_bootstrap_intervals():
    fig = control_intervals_figure(ROWS)
    zero = next(t for t in fig.data if t.name == "zero ablation")
    assert list(zero.x) == ["top-8", "bottom-8"]
    assert zero.error_y.array[0] == pytest.approx(0.03) and zero.error_y.arrayminus[0] == pytest.approx(0.05)
    with pytest.raises(ValueError, match="no edited rows"):
        control_intervals_figure(ROWS[:1])


# -- report images ------------------------------------------------------------------------------------
def _decode(uri: str) -> tuple[str, Image.Image, int]:
    head, data = uri.split(",", 1)
    raw = base64.b64decode(data)
    return head, Image.open(io.BytesIO(raw)), len(raw)


def test_report_images_scale_small_up_and_large_down():
    small = torch.rand(4, 3, 32, 32, generator=torch.Generator("cpu").manual_seed(0))
    head, im, _ = _decode(image_data_uri(small, cols=4))
    assert head == "data:image/png;base64" and im.height == (32 + 2) * 3  # nearest-neighbour x3, as before
    big = torch.rand(8, 3, 1024, 1024, generator=torch.Generator("cpu").manual_seed(1))
    head, im, nbytes = _decode(image_data_uri(big, cols=4))
    assert head == "data:image/jpeg;base64" and im.width == 4 * (256 + 2) and im.height == 2 * (256 + 2)
    # noise is the worst case for JPEG; 8 photographs of 1024 px would be ~25 MB as upscaled PNG
    assert nbytes < 1_500_000
    with pytest.raises(ValueError, match="at least 16"):
        image_data_uri(small, cell_px=4)


# -- the command line ---------------------------------------------------------------------------------
def _args(**kw):
    base = dict(model="toy", device="cpu", dtype=None, height=None, width=None, num_steps=None, guidance=None,
                offload=False)
    return argparse.Namespace(**(base | kw))


def test_cli_configures_the_toy_and_refuses_pipeline_only_options():
    m = cli.model_from_args(_args(num_steps=6, guidance=1.5))
    assert m.default_steps == 6 and m.default_guidance == 1.5
    with pytest.raises(ValueError, match="the toy model draws 32x32 images .*: height_px, width_px do not apply"):
        cli.model_from_args(_args(height=512))
    with pytest.raises(ValueError, match="offload does not apply"):
        cli.model_from_args(_args(offload=True))
    with pytest.raises(ValueError, match="num_steps|--num-steps"):
        cli.model_from_args(_args(num_steps=0))
    with pytest.raises(ValueError, match="guidance"):
        cli.model_from_args(_args(guidance=float("nan")))


def test_cli_passes_its_options_to_load(monkeypatch):
    """The command line only parses: the name, its options as load's arguments (load adds a preset's defaults)."""
    seen = {}

    def fake_load(name, **options):
        seen.update(name=name, **options)
        return "model"

    monkeypatch.setattr(massact.loading, "load", fake_load)
    assert cli.model_from_args(_args(model="flux1-dev", device="cuda", dtype="bfloat16", offload=True)) == "model"
    assert seen == dict(name="flux1-dev", device="cuda", dtype=torch.bfloat16, offload="model")
    seen.clear()
    cli.model_from_args(_args(model="FLUX.1-schnell", height=512, num_steps=2, guidance=0.0))
    assert seen == dict(name="FLUX.1-schnell", device="cpu", dtype=None, offload="none", height_px=512, width_px=512,
                        num_steps=2, guidance=0.0)
    seen.clear()
    cli.model_from_args(_args(model="some/hub-id", width=256))
    assert seen == dict(name="some/hub-id", device="cpu", dtype=None, offload="none", width_px=256)


def test_cli_errors_come_from_load(capsys):
    assert cli.main(["reproduce", "--model", "flux1-dev", "--offload"]) == 2  # --device is cpu
    assert "offload='model' moves the weights between the CPU and a GPU" in capsys.readouterr().err


def test_cli_mask_fn_and_missing_weights_are_clear(tmp_path, capsys, monkeypatch):
    assert cli.load_mask_fn("numpy:ones") is np.ones
    for bad, msg in (("numpy", "module:function"), ("numpy:nope", "AttributeError"),
                     ("no_such_module_xyz:f", "ModuleNotFoundError"), ("numpy:pi", "not callable"),
                     ("massact.toy.judge:load", "not loaded by name")):
        with pytest.raises(ValueError, match=msg):
            cli.load_mask_fn(bad)
    missing = tmp_path / "no-such-checkpoint"
    assert cli.main(["reproduce", "--model", str(missing), "--out", str(tmp_path / "r")]) == 2
    assert "massact:" in capsys.readouterr().err and not (tmp_path / "r").exists()
    assert cli.main(["reproduce", "--model", "toy", "--clip", "x", "--out", str(tmp_path / "r2")]) == 2
    assert "configure real pipelines" in capsys.readouterr().err


# -- readings over larger samples ----------------------------------------------------------------------
def test_subject_transfer_reading_counts_failed_round_trips_the_mean_hides():
    from massact.claims.inversion import InversionResult
    from massact.readings import subject_transfer

    per = [0.004, 0.012, 0.0, 0.76, 0.001, 0.59, 0.0004, 0.012]
    inv = InversionResult(torch.zeros(8, 3, 2, 2), ["a"] * 8, torch.zeros(1), torch.zeros(1), float(np.mean(per)),
                          7.6, 20, 1.0, per_image_mse=per, refine=4)
    text = subject_transfer(inv, {"carried": {"size": 0.0}, "stable": 1.0})
    assert "over 8 references" in text and "6 of 8 come back within MSE 0.02" in text
    assert "2 fail outright" in text and "worst 0.76" in text
    inv.per_image_mse = [0.001, 0.002]
    assert "fail outright" not in subject_transfer(inv, {"carried": {}, "stable": None})


# -- the use cases' intervals --------------------------------------------------------------------------
class _LabelMetrics:
    """Metrics that read one attribute, "size", as pixel [0, 0, 0] of each image (planted answers)."""

    attributes = ("size",)

    def attributes_of(self, images):
        return {"size": [int(round(float(v))) for v in images[:, 0, 0, 0]]}

    def foreground_mask(self, images):
        return None

    def pixel_mse(self, a, b):
        return float(((a - b) ** 2).mean())


def _images(labels):
    x = torch.zeros(len(labels), 3, 2, 2)
    x[:, 0, 0, 0] = torch.tensor(labels, dtype=torch.float32)
    return x


def test_use_case_points_carry_n_and_intervals_and_the_end_differences_are_paired():
    from massact.claims.transport import measure
    from massact.claims.use_cases import _point, end_differences

    metrics, n = _LabelMetrics(), 16
    src, tgt = _images([1] * n), _images([0] * n)
    took_none = measure(metrics, src, tgt, tgt.clone())
    took_all = measure(metrics, src, tgt, src.clone())
    took_half = measure(metrics, src, tgt, _images([1, 0] * (n // 2)))
    p = _point("alpha", 1.0, took_half)
    assert p["n"] == n and p["mean_adoption"] == 0.5
    assert p["mean_adoption_ci"][0] < 0.5 < p["mean_adoption_ci"][1]
    assert p["pixel_shift_ci"] is not None and "target_preservation_ci" in p
    d = end_differences({"transport": took_none, "pixel_blend": took_all, "embedding_lerp": took_none})
    assert d["pixel_blend"] == {"metric": "mean_adoption", "mean": -1.0, "ci": [-1.0, -1.0], "n": n}
    assert d["embedding_lerp"]["mean"] == 0.0 and d["embedding_lerp"]["ci"] == [0.0, 0.0]


def test_use_case_readings_quote_the_intervals():
    from massact import readings
    from massact.claims.transport import measure
    from massact.claims.use_cases import _point, end_differences

    metrics, n = _LabelMetrics(), 16
    src, tgt = _images([1] * n), _images([0] * n)
    ms = {"transport": [measure(metrics, src, tgt, tgt.clone()), measure(metrics, src, tgt, _images([1, 0] * 8))],
          "pixel_blend": [measure(metrics, src, tgt, tgt.clone()), measure(metrics, src, tgt, src.clone())]}
    res = {"by": "alpha", "curves": {k: [_point("alpha", a, m) for a, m in zip((0.0, 1.0), v)] for k, v in ms.items()},
           "end_differences": end_differences({k: v[-1] for k, v in ms.items()})}
    text = readings.interpolation(res)
    assert "(16 pairs)" in text and "-> 50% [" in text
    assert "Against pixel blend at the last point transport is -0.50 [" in text and ": less." in text
    comp = {"per_attribute": {"size": {"adoption": 0.5, "adoption_ci": [0.25, 0.75], "differing_pairs": 16,
                                       "target_preservation": 0.9, "target_preservation_ci": [0.8, 1.0]}}}
    text = readings.composition(comp)
    assert "size: taken 50% [25%, 75%] of 16 pairs" in text and "Taken in some pairs" in text


def test_subject_transfer_measure_carries_intervals_over_the_references():
    from massact.claims.inversion import measure_transfer

    metrics = _LabelMetrics()
    ref, clean = _images([1] * 8), _images([0] * 8)
    m = measure_transfer(metrics, ref, clean, _images([1] * 4 + [0] * 4))
    assert m["carried"]["size"] == 0.5 and m["kept"]["size"] == 0.5 and m["n"] == 8
    lo, hi = m["carried_ci"]["size"]
    assert lo < 0.5 < hi and m["kept_ci"]["size"][0] < 0.5
    assert m["stable"] is None and m["stable_ci"] is None  # the one attribute differs everywhere
    same = measure_transfer(metrics, ref, ref.clone(), ref.clone())
    assert same["carried"]["size"] is None and same["carried_ci"]["size"] is None and same["stable_ci"] == [1.0, 1.0]


def test_the_curves_add_the_massive_set_size_beyond_quick(tiny, monkeypatch):
    from massact.report.sections import curve_ks

    class Stats:  # a calibration whose median block has 2.6 massive channels (rounded: 3)
        def massive_set_size(self):
            return 2.6

    monkeypatch.setattr(sections, "calibration_stats", lambda ctx: Stats())
    standard = ReportContext(tiny, tiny.metrics(), ["a"], ["a"], [0])
    quick = ReportContext(tiny, tiny.metrics(), ["a"], ["a"], [0], quick=True)
    assert curve_ks(standard, (1, 2, 4, 8, 16)) == (1, 2, 3, 4, 8, 16)
    assert curve_ks(quick, (2, 8)) == (2, 8)  # quick runs keep their own ks
    assert curve_ks(standard, (1, 2, 4, 8, 16), limit=tiny.width // 4) == tuple(
        sorted({k for k in (1, 2, 4, 8, 16) if k <= tiny.width // 4} | {3}))
