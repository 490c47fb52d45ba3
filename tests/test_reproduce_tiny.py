"""``massact reproduce --quick`` on every tiny pipeline family, through ``massact.load``.

The tiny pipelines (``massact.testing``) are random: their numbers say nothing about real
models. What is checked is that every section runs on a real diffusers pipeline with the
default world and metrics (pixel distances only: no CLIP, no mask function), that the files
are written, and that claims 2 and 3 are not empty there: the spatial rows say what was
measured without true masks, every transport row carries the pixel distances, and the
transport reading reads them instead of "nothing to compare".
"""
from __future__ import annotations

import json
import time

import pytest

import massact
from massact import testing
from massact.report import reproduce

import transformers  # noqa: E402,F401  (the test extra requires transformers>=5: missing, this module fails)


FAMILIES = list(testing.TINY_FAMILIES)

#: PixArt and SANA snap any request to a bin of their transformer's sample_size (256 and 512 px
#: tables for the tiny ones), so their VAEs would run at 256 / 512 px and one report take minutes;
#: binning off keeps a 4x4 token grid like the other families (binning itself is tested in
#: test_tiny_pipelines)
OPTIONS = {"pixart": {"call_kwargs": {"use_resolution_binning": False}},
           "sana": {"call_kwargs": {"use_resolution_binning": False}, "height_px": 128, "width_px": 128},
           # 32x VAE: 128 px gives the 4x4 token grid of the others
           "hunyuan-image": {"height_px": 128, "width_px": 128},
           # the pipeline left-pads every prompt to 2048 tokens for its text model; the padding is its own
           # attention segment, so a shorter pad changes nothing but the time
           "ideogram4": {"call_kwargs": {"max_sequence_length": 64}}}


@pytest.mark.parametrize("family", FAMILIES)
def test_reproduce_quick_on_a_tiny_pipeline(family, tmp_path):
    model = massact.load(f"tiny-{family}", **OPTIONS.get(family, {}))
    assert model.num_image_tokens == 16
    start = time.perf_counter()
    results = reproduce(model, tmp_path, quick=True, progress=False)
    seconds = time.perf_counter() - start
    print(f"reproduce --quick on tiny-{family}: {seconds:.1f} s")
    assert results["failed"] == [], {name: results[name] for name in results["failed"]}
    assert (tmp_path / "index.html").is_file()
    saved = json.loads((tmp_path / "results.json").read_text())
    assert saved["failed"] == [] and saved["model"]["name"] == f"tiny-{family}"
    # the prompts came from the model's world (no prompts were given)
    assert saved["inputs"]["model"]["prompts_from"] == "model.world.evaluation_prompts"
    # claim 2 without true masks: rows that say what was measured, never an empty table
    spatial = saved["spatial"]
    assert spatial["scored"] is False and spatial["rows"]
    assert all(r["miou"] is None and 0.0 <= r["foreground_share"] <= 1.0 for r in spatial["rows"])
    assert {r["arm"] for r in spatial["rows"]} == {"top", "bottom", "random"}
    # claim 3: every row carries the pixel distances measure() computed
    rows = saved["transport"]["rows"]
    assert rows and all(r["pixel_mse_to_target"] is not None and r["pixel_mse_to_source"] is not None for r in rows)
    # significant figures, not decimals: the tiny images differ by far less than 1e-4 in MSE
    assert all(r["pixel_mse_to_source"] > 0 for r in rows)
    top = next(r for r in rows if r["arm"] == "top" and r["mask"] == "none")
    assert 0.0 <= top["pixel_shift"] <= 1.0 and top["pixel_shift_ci"][0] <= top["pixel_shift"] <= top["pixel_shift_ci"][1]
    # without a judge the curve over k is the pixel shift's, and there is no carry table
    ov = saved["transport"]["over_k"]
    assert ov["kinds"] == {} and saved["transport"]["carry"] == []
    assert all(r["status"] is not None for r in ov["pixel_shift"]["pixel_shift"]["per_k"])
    page = (tmp_path / "index.html").read_text()
    assert "nothing to compare" not in page and "pixel distances only" in page
