"""fp16 saturation: a float16 run whose activations pass fp16's limit says so; bf16 and fp32 runs do not."""
from __future__ import annotations

import warnings

import pytest
import torch

from massact.channel_stats import FP16_MAX, SATURATION_LEVEL, ChannelStats, Saturation, SaturationWarning
from massact.hooks import Tracer
from massact.specs import BatchLayout, CaptureSpec
from tiny_models import build_flux, flux_inputs

PLANTED = 1.0e5  # above fp16's largest value, 65,504
CHANNEL = 5


def planted_flux(dtype: torch.dtype):
    """A tiny FLUX transformer whose image stream carries PLANTED in one channel from its input
    projection on: every block's output holds it (the residual stream adds to it)."""
    model = build_flux()
    with torch.no_grad():
        model.x_embedder.bias[CHANNEL] = PLANTED
    return model.to(dtype)


def run(dtype: torch.dtype):
    model = planted_flux(dtype)
    kw = {k: (v.to(dtype) if torch.is_tensor(v) and v.is_floating_point() and k not in ("img_ids", "txt_ids") else v)
          for k, v in flux_inputs(1).items()}
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        with Tracer(model, BatchLayout(1), capture=CaptureSpec(), num_steps=1) as tr:
            with torch.no_grad():
                model(**kw)
    return tr.result().stats, [w for w in caught if issubclass(w.category, SaturationWarning)]


def test_float16_run_with_planted_values_warns_and_names_blocks():
    stats, caught = run(torch.float16)
    sat = stats.saturation()
    assert stats.dtype == "float16"
    assert sat.found
    assert {d["block"] for d in sat.blocks} == set(stats.blocks)  # the planted channel runs through every block
    assert all(CHANNEL in d["channels"] for d in sat.blocks)
    assert max(d["max_token_share"] for d in sat.blocks) == pytest.approx(1.0)
    assert len(caught) == 1
    assert "SATURATED" in str(caught[0].message) and "bfloat16" in str(caught[0].message)


@pytest.mark.parametrize("dtype", [torch.bfloat16, torch.float32])
def test_bf16_and_fp32_runs_hold_the_planted_values_and_do_not_warn(dtype):
    stats, caught = run(dtype)
    assert caught == []
    assert not stats.saturation().found
    assert stats.saturated is None
    assert stats.dtype == str(dtype).removeprefix("torch.")
    # the planted channel is there, past fp16's limit, in every block
    assert float(stats.maxabs[0, :, 0, CHANNEL].min()) > FP16_MAX
    assert "no value is clipped" in stats.saturation().text()


def test_float16_run_below_the_limit_is_clean():
    model = build_flux().half()
    kw = {k: (v.half() if torch.is_tensor(v) and v.is_floating_point() and k not in ("img_ids", "txt_ids") else v)
          for k, v in flux_inputs(1).items()}
    with warnings.catch_warnings():
        warnings.simplefilter("error", SaturationWarning)
        with Tracer(model, BatchLayout(1), capture=CaptureSpec(), num_steps=1) as tr, torch.no_grad():
            model(**kw)
    stats = tr.result().stats
    assert stats.saturated is not None and float(stats.saturated.nansum()) == 0
    assert not stats.saturation().found
    assert "no captured activation reached" in stats.saturation().text()


def test_saturation_level_and_round_trip():
    assert FP16_MAX == 65504.0 and SATURATION_LEVEL == pytest.approx(0.99 * 65504)
    stats, _ = run(torch.float16)
    again = ChannelStats.from_dict(stats.to_dict())
    assert again.dtype == "float16" and again.saturation() == stats.saturation()
    assert "cannot be checked" in Saturation(None, ()).text()
