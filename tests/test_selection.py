"""massact.selection: the one block/step normaliser, its labels, the frozen Selection; and the
vocabulary (block, step, row, branch, arm, selection; num_steps counts, steps are indices)."""
from __future__ import annotations

import dataclasses
import inspect
import json
import re

import numpy as np
import pytest
import torch

import massact
from massact import calibration, generation, hooks, selection
from massact.hooks import Tracer
from massact.specs import CaptureSpec, EditSpec
from tiny_models import hooks_installed
from massact.ranking import channel_set
from massact.selection import (STEP_RANGES, Selection, blocks_label, resolve_blocks, resolve_steps, span_label,
                               steps_label)



# -- specifications -----------------------------------------------------------------------------------
@pytest.mark.parametrize("spec, expected", [
    ("all", (0, 1, 2, 3, 4, 5, 6)), (None, (0, 1, 2, 3, 4, 5, 6)),
    ("early", (0, 1, 2)), ("late", (3, 4, 5, 6)),
    ("2-5", (2, 3, 4, 5)), ("0,3", (0, 3)), (" 3 ", (3,)), ("0, 2-3", (0, 2, 3)),
    (3, (3,)), (np.int64(3), (3,)), ((3, 1, 3), (1, 3)), ([6], (6,)), (range(2), (0, 1)),
    (torch.tensor([4, 0]), (0, 4)), (np.array([5]), (5,)),
])
def test_resolve_blocks_forms(spec, expected):
    assert resolve_blocks(spec, 7) == expected


@pytest.mark.parametrize("spec, expected", [
    ("all", None), (None, None), ("early", (0, 1, 2, 3, 4)), ("late", (5, 6, 7, 8, 9)),
    ("2-5", (2, 3, 4, 5)), ("0,3", (0, 3)), (9, (9,)), ((4, 0), (0, 4)),
])
def test_resolve_steps_forms(spec, expected):
    assert resolve_steps(spec, 10) == expected


def test_early_and_late_split_odd_counts_and_cover_every_step():
    for n in range(2, 12):
        early, late = resolve_steps("early", n), resolve_steps("late", n)
        assert early + late == tuple(range(n)) and len(early) == n // 2
    assert STEP_RANGES == ("early", "late", "all")


def test_labels():
    assert span_label((3,)) == "3" and span_label((2, 3, 4, 5)) == "2-5" and span_label((0, 3)) == "0,3"
    assert span_label((1, 2)) == "1-2"
    assert blocks_label(tuple(range(7)), 7) == "all" and blocks_label((0, 1), 7) == "0-1"
    assert steps_label("early", (0, 1)) == "early" and steps_label(None, None) == "all"
    assert steps_label((0, 1), (0, 1)) == "0-1" and steps_label("0,3", (0, 3)) == "0,3"


def test_old_names_are_the_core_functions():
    """critical's parsing and labels are re-exports (widgets, notebooks and exercises keep working)."""
    from massact.claims import critical as C

    assert C.resolve_blocks is resolve_blocks and C.resolve_steps is resolve_steps
    assert C.blocks_label is blocks_label and C.steps_label is steps_label and C.ARMS == selection.ARMS


# -- Selection --------------------------------------------------------------------------------------------
def test_selection_is_frozen_printable_and_json_able():
    sel = Selection("random", 3, blocks="2-5", steps="early", seed=2)
    assert sel.blocks == (2, 3, 4, 5) and sel.steps == "early"
    with pytest.raises(dataclasses.FrozenInstanceError):
        sel.k = 4
    assert sel.summary() == {"arm": "random", "k": 3, "blocks": [2, 3, 4, 5], "steps": "early", "seed": 2}
    assert json.loads(json.dumps(sel.summary())) == sel.summary()
    assert sel.label == str(sel) == "random-3, blocks 2-5, steps early, seed 2"
    assert Selection().label == "top-4, blocks all, steps all"
    assert Selection(blocks=[3, 1], steps=None) == Selection(blocks=(1, 3), steps="all")  # one normal form
    assert hash(Selection()) == hash(Selection())


def test_selection_resolves_against_a_model_and_a_score():
    score = torch.rand(7, 32, generator=torch.Generator().manual_seed(3))
    for arm in ("top", "bottom", "random"):
        sel = Selection(arm, 5, blocks="late", steps=(1, 3), seed=4)
        assert sel.block_indices(7) == (3, 4, 5, 6) and sel.step_indices(4) == (1, 3)
        assert sel.channels(score) == channel_set(score, 5, arm, blocks=(3, 4, 5, 6), seed=4)
        e = sel.edit(score, num_steps=4, rows=[0, 2])
        assert isinstance(e, EditSpec) and e.op == "zero" and e.alpha == 1.0
        assert e.channels == sel.channels(score) and e.steps == (1, 3) and e.rows == (0, 2)
    assert Selection(steps="all").edit(score, 4).steps is None
    top = Selection("top", 1).channels(score)
    assert all(c == (int(score[b].argmax()),) for b, c in top.items())


def test_selection_edit_zeroes_exactly_its_channels_at_its_steps(model):
    num_steps = 4
    calib = massact.calibrate(model, calibration.default_calibration_prompts(model, 2), num_steps=2)
    sel = Selection("top", 3, blocks=(2,), steps="late")
    edit = sel.edit(calib.score(), num_steps)
    ch = list(edit.channels[2])
    keep = tuple((b, s) for b in (1, 2) for s in range(num_steps))
    prompts = ["a red circle", "a blue square"]
    plain = massact.generate(model, prompts, [1, 2], num_steps=num_steps, capture=CaptureSpec(keep=keep))
    g = massact.generate(model, prompts, [1, 2], num_steps=num_steps, capture=CaptureSpec(keep=keep), edits=edit)
    for s in (0, 1):  # before the late half: nothing changed
        assert torch.equal(g.token_map(2, s), plain.token_map(2, s))
    for s in (2, 3):
        assert (g.token_map(2, s)[..., ch] == 0).all()
        assert not (plain.token_map(2, s)[..., ch] == 0).all()
    assert hooks_installed(model.transformer) == 0


# -- vocabulary -------------------------------------------------------------------------------------------
def _defines(doc: str, term: str) -> bool:
    return re.search(rf"\*\*{term}\*\* [–-] ", doc) is not None


def test_vocabulary_is_written_down():
    for term in ("block", "step", "row", "branch"):
        assert _defines(hooks.__doc__, term), term
    for term in ("block", "step", "row", "arm", "selection"):
        assert _defines(selection.__doc__, term), term
    assert "num_steps`` is a count" in selection.__doc__
    assert "arm + k + blocks + steps + seed" in selection.__doc__
    assert [f.name for f in dataclasses.fields(Selection)] == ["arm", "k", "blocks", "steps", "seed", "outside", "named"]


def test_counts_are_num_steps_and_indices_are_steps():
    """Every public signature that takes a count of denoising steps calls it num_steps."""
    counts = [massact.generate, massact.calibrate, resolve_steps, Selection.step_indices, Selection.edit, Tracer,
              EditSpec.validate, CaptureSpec.validate]
    for fn in counts:
        params = inspect.signature(fn).parameters
        assert "num_steps" in params, fn
    gen_params = inspect.signature(massact.generate).parameters
    assert "steps" not in gen_params  # a count is never called steps
    assert "num_steps" in {f.name for f in dataclasses.fields(generation.Generation)}
    assert "steps" not in {f.name for f in dataclasses.fields(generation.Generation)}
    # where "steps" is a field it holds indices
    for cls in (EditSpec, CaptureSpec, Selection):
        assert "steps" in {f.name for f in dataclasses.fields(cls)}
        assert "num_steps" not in {f.name for f in dataclasses.fields(cls)}
    assert calibration.CALIBRATION_SEED_BASE == 1000 and calibration.EVALUATION_SEED_BASE == 0


def test_the_clean_random_arm_draws_outside_the_top_channels():
    g = torch.Generator().manual_seed(3)
    score = torch.rand(4, 64, generator=g)
    top16 = Selection("top", 16).channels(score)
    for seed in range(5):
        clean = Selection("random", 8, seed=seed, outside=16).channels(score)
        small = Selection("random", 4, seed=seed, outside=16).channels(score)
        for b in range(4):
            assert not set(clean[b]) & set(top16[b]) and len(clean[b]) == 8
            assert set(small[b]) <= set(clean[b])  # nested across k, as the top sets are
    # the contaminated draw stays the default, and the same draw as before
    assert Selection("random", 8, seed=1).channels(score) == Selection("random", 8, seed=1, outside=0).channels(score)
    assert "outside the top-16" in Selection("random", 8, outside=16).label
    with pytest.raises(ValueError, match="random and energy arms only"):
        Selection("top", 8, outside=16)
    with pytest.raises(ValueError, match=r"1\.\.48"):
        Selection("random", 49, outside=16).channels(score)
    with pytest.raises(ValueError, match="leaves no channel"):
        Selection("random", 1, outside=64).channels(score)


def test_the_named_arm_takes_the_same_channels_at_every_block_and_checks_them():
    score = torch.rand(7, 128, generator=torch.Generator().manual_seed(0))
    sel = Selection("named", named="98, 32", blocks="2-3", steps="late")
    assert (sel.k, sel.named) == (2, (98, 32)) and sel == Selection("named", blocks=(2, 3), steps="late", named=[98, 32])
    assert sel.channels(score) == {2: (32, 98), 3: (32, 98)}
    assert sel.label == "named 98,32, blocks 2-3, steps late" and sel.arm_label == "named 98,32"
    assert Selection(**{**sel.summary(), "blocks": (2, 3)}) == sel
    e = sel.edit(score, 10)
    assert e.channels == {2: (32, 98), 3: (32, 98)} and e.steps == (5, 6, 7, 8, 9)
    assert Selection("named", named=7).named == (7,) and Selection("named", 1, named=(7,)).k == 1
    for kwargs, error, match in [
            (dict(named="98, x"), ValueError, "cannot read channels '98, x'"),
            (dict(named=(3, 3)), ValueError, "channel 3 is named twice"),
            (dict(named=(1.5,)), TypeError, "channel 1.5 is not an integer"),
            (dict(named=(-1,)), ValueError, "channel -1 out of range"),
            (dict(named=()), ValueError, "give named="),
            (dict(named=(1, 2), k=3), ValueError, "k 3 but 2 named channel"),
            (dict(arm="top", named=(1,)), ValueError, "for the arm 'named' only")]:
        with pytest.raises(error, match=match):
            Selection(**{"arm": "named", **kwargs})
    with pytest.raises(ValueError, match=r"channel 128 out of range: channels are 0\.\.127"):
        Selection("named", named=(5, 128)).channels(score)
