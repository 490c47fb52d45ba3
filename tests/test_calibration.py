"""massact.calibration: one calibrate(), seeds defined once, and every older API delegating to it."""
from __future__ import annotations

import copy
import dataclasses

import pytest
import torch

import massact
from massact import calibration as cal_mod
from massact.calibration import (CALIBRATION_SEED_BASE, Calibration, calibrate, calibration_seeds, check_separation,
                                 evaluation_seeds)
from tiny_models import hooks_installed


STEPS = 2


@pytest.fixture(scope="module")
def prompts(model):
    return model.world.calibration_prompts(3)


@pytest.fixture(scope="module")
def cal(model, prompts):
    return calibrate(model, prompts, num_steps=STEPS)


def test_seeds_are_defined_once():
    assert calibration_seeds(3) == [1000, 1001, 1002] and calibration_seeds(0) == []
    assert evaluation_seeds(2) == [0, 1]
    assert not set(calibration_seeds(500)) & set(evaluation_seeds(500))  # never the same picture
    with pytest.raises(ValueError, match="n -1 out of range"):
        calibration_seeds(-1)


def test_calibrate_captures_every_block_and_step(model, prompts, cal):
    assert isinstance(cal, Calibration) and massact.Calibration is Calibration and massact.calibrate is calibrate
    assert cal.prompts == tuple(prompts) and cal.seeds == (1000, 1001, 1002)
    assert cal.stats.shape == (3, model.num_blocks, STEPS, model.width)
    assert cal.stats.blocks == tuple(range(model.num_blocks)) and cal.stats.steps == tuple(range(STEPS))
    g = massact.generate(model, prompts, [1000, 1001, 1002], num_steps=STEPS, capture=True)
    for stat in ("absmean", "meanabs", "maxabs"):
        assert torch.equal(cal.score(stat), g.stats.score(stat))
    assert cal.score().shape == (model.num_blocks, model.width) and cal.score().dtype == torch.float32
    assert cal.images == {(p, 1000 + i) for i, p in enumerate(prompts)}
    assert cal.summary()["seeds"] == [1000, 1001, 1002]
    with pytest.raises(ValueError, match=r"unknown statistic 'median'"):
        cal.score("median")
    with pytest.raises(dataclasses.FrozenInstanceError):
        cal.seeds = (0,)
    assert hooks_installed(model.transformer) == 0


def test_default_prompts_come_from_the_world(model):
    assert cal_mod.default_calibration_prompts(model, 4) == model.world.calibration_prompts(4)
    assert cal_mod.DEFAULT_CALIBRATION_PROMPTS == 8
    bare = copy.copy(model)
    bare.world = None
    with pytest.raises(ValueError, match=r"this model has no world: pass calibrate\(model, prompts=\[\.\.\.\]\)"):
        calibrate(bare)


def test_given_stats_and_seeds(model, prompts, cal):
    wrapped = calibrate(model, prompts, stats=cal.stats)
    assert wrapped.stats is cal.stats and wrapped.seeds == cal.seeds
    with pytest.raises(ValueError, match="stats hold 3 rows for 2 calibration prompts"):
        calibrate(model, prompts[:2], stats=cal.stats)
    with pytest.raises(TypeError, match="stats must be ChannelStats"):
        calibrate(model, prompts, stats=cal.score())
    one = calibrate(model, prompts[:2], seeds=7, stats=cal.stats.__class__(
        cal.stats.absmean[:2], cal.stats.meanabs[:2], cal.stats.maxabs[:2], cal.stats.blocks, cal.stats.steps))
    assert one.seeds == (7, 7)


def test_separation(cal, prompts):
    with pytest.raises(ValueError, match=r"1 evaluation image\(s\) were used for channel ranking.*1000\+i"):
        check_separation(cal, [prompts[0]], [CALIBRATION_SEED_BASE])
    assert check_separation(cal, [prompts[0]], [0]) == {"shared_prompts": 1, "shared_seeds": 0}


def test_the_report_calibrates_with_massact_calibrate(model, prompts):
    """The report's calibration is massact.calibrate's (the same prompts, seeds 1000+i, the model's steps)."""
    from massact.report import ReportContext, calibration_stats

    full = calibrate(model, prompts[:2])
    ctx = ReportContext(model, model.metrics(), prompts[:1], prompts[:2], [0], quick=True, progress=False)
    assert torch.equal(calibration_stats(ctx).score("absmean"), full.score())
    assert ctx.cache["calibration"] is calibration_stats(ctx)  # cached once per report
    assert hooks_installed(model.transformer) == 0
