"""Bad input is refused at the boundary with an error naming what is valid, and no hook is left.

Every case of the redesign issue's list (and its neighbours) is here: non-finite or negative
guidance, float/bool indices (blocks, channels, steps, rows, seeds, num_steps, k), token-mask
values outside [0, 1] or NaN, NaN scores, wrong types (a string for a list, an int for a tuple,
a non-model object), empty selections. Each case runs against the shipped toy model and then
checks that the transformer holds no hook.
"""
from __future__ import annotations

import copy
import math

import numpy as np
import pytest
import torch

import massact
from massact.checks import WrongType
from massact.hooks import Tracer
from massact.specs import CaptureSpec, EditSpec
from tiny_models import hooks_installed
from massact.ranking import agreement, channel_set
from massact.selection import Selection, resolve_blocks, resolve_steps


PROMPTS = ["a large red circle at the left on a black background", "a small blue square at the right"]
STEPS = 2


def no_hooks(model) -> bool:
    return hooks_installed(model.transformer) == 0 and all(
        not m._forward_hooks and not m._forward_pre_hooks for m in model.transformer.modules())


def gen(model, **kwargs):
    kw = dict(seeds=0, num_steps=STEPS)
    kw.update(kwargs)
    prompts = kw.pop("prompts", PROMPTS)
    return massact.generate(model, prompts, **kw)


def refused(model, exc, match, fn):
    with pytest.raises(exc, match=match):
        fn()
    assert no_hooks(model)


# -- generate's own arguments -----------------------------------------------------------------------
@pytest.mark.parametrize("kwargs, exc, match", [
    (dict(guidance=-1), ValueError, r"guidance -1 out of range: guidance must be a finite number >= 0"),
    (dict(guidance=float("nan")), ValueError, r"guidance nan is not finite"),
    (dict(guidance=float("inf")), ValueError, r"guidance inf is not finite"),
    (dict(guidance=True), WrongType, r"guidance True is not a number"),
    (dict(guidance="3"), WrongType, r"guidance '3' is not a number"),
    (dict(seeds=[0.7, 1]), WrongType, r"seed 0\.7 is not an integer: seed must be in 0\.\."),
    (dict(seeds=True), WrongType, r"seeds must be an int or a list of ints"),
    (dict(seeds=[0, True]), WrongType, r"seed True is not an integer"),
    (dict(seeds="0"), WrongType, r"seeds must be an int or a list of ints"),
    (dict(seeds=-1), ValueError, r"seed -1 out of range: seed must be in 0\.\."),
    (dict(seeds=[1, 2, 3]), ValueError, r"3 seeds for 2 prompts"),
    (dict(num_steps=True), WrongType, r"num_steps True is not an integer: num_steps must be in 1\.\.1000"),
    (dict(num_steps=0), ValueError, r"num_steps 0 out of range: num_steps must be in 1\.\.1000"),
    (dict(num_steps=2.0), WrongType, r"num_steps 2\.0 is not an integer"),
    (dict(num_steps="4"), WrongType, r"num_steps '4' is not an integer"),
    (dict(capture="yes"), WrongType, r"capture must be None, True \(every block and step\) or a CaptureSpec"),
    (dict(capture=1), WrongType, r"capture must be None, True"),
    (dict(edits="zero"), WrongType, r"edits must be an EditSpec or a list of them"),
    (dict(edits={0: (1,)}), WrongType, r"edits must be an EditSpec or a list of them"),
    (dict(edits=["zero"]), WrongType, r"edits must be EditSpec objects"),
    (dict(progress="yes"), WrongType, r"progress must be True or False"),
    (dict(prompts="a red circle"), TypeError, r"prompts must be a list of strings"),
    (dict(prompts=[]), ValueError, r"empty prompt list"),
    (dict(latents=torch.zeros(2, 3, 32, 32)), ValueError, r"seeds 0 and latents given together: .*pass seeds=None"),
    (dict(seeds=[0, 1], latents=torch.zeros(2, 3, 32, 32)), ValueError, r"seeds \[0, 1\] and latents given together"),
    (dict(seeds=None, latents=torch.zeros(1, 3, 32, 32)), ValueError,
     r"latents of shape \(1, 3, 32, 32\) for 2 prompt\(s\): give one row of initial noise per prompt"),
    (dict(seeds=None, latents=torch.zeros(2)), ValueError, r"latents of shape \(2,\) for 2 prompt\(s\)"),
    (dict(seeds=None, latents=np.zeros((2, 3, 32, 32), np.float32)), WrongType,
     r"latents must be a float tensor of initial noise.*got ndarray"),
    (dict(seeds=None, latents=torch.zeros(2, 3, 32, 32, dtype=torch.long)), WrongType,
     r"latents must be a float tensor.*got torch.int64"),
    (dict(seeds=None, latents=torch.full((2, 3, 32, 32), float("nan"))), ValueError, r"latents hold NaN or infinite"),
    (dict(seeds=None, prompts=[], latents=torch.zeros(0, 3, 32, 32)), ValueError, r"empty prompt list"),
])
def test_generate_refuses(model, kwargs, exc, match):
    refused(model, exc, match, lambda: gen(model, **kwargs))


def test_generate_refuses_an_object_that_is_not_a_model(model):
    with pytest.raises(TypeError, match=r"model must be a massact model, e.g. massact.load\('toy'\).*got object"):
        massact.generate(object(), PROMPTS, seeds=0)
    with pytest.raises(TypeError, match=r"wrap it with massact.load\(pipeline\)"):
        fake_pipe = type("FakePipeline", (), {"transformer": model.transformer})()
        massact.generate(fake_pipe, PROMPTS, seeds=0)
    assert no_hooks(model)


def test_wrong_type_is_also_a_value_error():
    """Code that catches bad values (the CLI, the exercise checkers) also catches wrong types."""
    with pytest.raises(ValueError):
        EditSpec("zero", {0: (1.5,)})
    with pytest.raises(TypeError):
        EditSpec("zero", {0: (1.5,)})


# -- EditSpec ------------------------------------------------------------------------------------------
def _mix(**kw):
    return dict(op="mix", channels={0: (1,)}, source_rows=((1, 0),), **kw)


@pytest.mark.parametrize("kwargs, exc, match", [
    (dict(op="zero", channels={0.9: (1.7,)}), WrongType, r"block 0\.9 is not an integer: blocks are numbered from 0"),
    (dict(op="zero", channels={0: (1.7,)}), WrongType, r"channel 1\.7 is not an integer"),
    (dict(op="zero", channels={True: (1,)}), WrongType, r"block True is not an integer"),
    (dict(op="zero", channels={0: 3}), WrongType, r"channels must be a list or tuple of integers, e\.g\. \(0, 2\), not 3"),
    (dict(op="zero", channels={0: "3"}), WrongType, r"channels must be a list or tuple of integers.*not '3'"),
    (dict(op="zero", channels={0: ()}), ValueError, r"empty channel list: give at least one channel"),
    (dict(op="zero", channels=[(0, (1,))]), WrongType, r"channels must be a dict \{block: \(channel, \.\.\.\)\}"),
    (dict(op="zero", channels={}), ValueError, r"at least one block"),
    (dict(op="zero", channels={0: (1,)}, steps=3), WrongType, r"steps must be a list or tuple of integers.*not 3"),
    (dict(op="zero", channels={0: (1,)}, steps="early"), WrongType, r"steps must be a list or tuple of integers"),
    (dict(op="zero", channels={0: (1,)}, steps=(1.5,)), WrongType, r"step 1\.5 is not an integer"),
    (dict(op="zero", channels={0: (1,)}, steps=(True,)), WrongType, r"step True is not an integer"),
    (dict(op="zero", channels={0: (1,)}, steps=()), ValueError, r"empty step list"),
    (dict(op="zero", channels={0: (1,)}, rows=0), WrongType, r"rows must be a list or tuple of integers.*not 0"),
    (dict(op="zero", channels={0: (1,)}, rows=(0.5,)), WrongType, r"row 0\.5 is not an integer"),
    (dict(op="zero", channels={0: (1,)}, alpha=float("nan")), ValueError, r"alpha nan is not finite: alpha must be"),
    (dict(op="zero", channels={0: (1,)}, alpha=float("inf")), ValueError, r"alpha inf is not finite"),
    (dict(op="zero", channels={0: (1,)}, alpha=True), WrongType, r"alpha True is not a number"),
    (dict(op="zero", channels={0: (1,)}, alpha="0.5"), WrongType, r"alpha '0.5' is not a number"),
    (dict(op="zero", channels={0: (1,)}, alpha=1.5), ValueError, r"alpha 1\.5 out of range: alpha must be a finite "
                                                                  r"number in \[0, 1\]"),
    (_mix(token_mask=torch.full((64,), 5.0)), ValueError, r"token_mask values range over \[5, 5\]: token-mask values "
                                                          r"must be in \[0, 1\]"),
    (_mix(token_mask=torch.full((64,), -0.5)), ValueError, r"must be in \[0, 1\]"),
    (_mix(token_mask=torch.full((64,), float("nan"))), ValueError, r"token_mask has NaN or infinite values"),
    (_mix(token_mask=[1.0] * 64), WrongType, r"token_mask must be a torch tensor"),
    (_mix(token_mask=torch.ones(64, dtype=torch.long)), WrongType, r"token_mask has dtype torch.int64"),
    (dict(op="mix", channels={0: (1,)}, source_rows=(1, 0)), WrongType, r"source_rows must be a tuple of pairs"),
    (dict(op="mix", channels={0: (1,)}, source_rows=((1, 0.0),)), WrongType, r"row 0\.0 is not an integer"),
    (dict(op="mix", channels={0: (1,)}), ValueError, r"needs a source"),
    (dict(op="replace", channels={0: (1,)}, alpha=0.5, source_rows=((1, 0),)), ValueError,
     r"op 'replace' is 'mix' with alpha 1, but alpha is 0\.5: use op 'mix'"),
    (dict(op="scale", channels={0: (1,)}), ValueError, r"unknown op 'scale'; choose one of \('zero', 'mix', 'set'\)"),
    (dict(op=None, channels={0: (1,)}), ValueError, r"unknown op None"),
])
def test_editspec_refuses(model, kwargs, exc, match):
    refused(model, exc, match, lambda: gen(model, edits=[EditSpec(**kwargs)]))


def test_editspec_no_longer_truncates_floats():
    """The issue's example: EditSpec("zero", {0.9: (1.7,)}) used to become {0: (1,)}."""
    with pytest.raises(WrongType, match="block 0.9"):
        EditSpec("zero", {0.9: (1.7,)})
    ok = EditSpec("zero", {np.int64(2): np.array([3, 1])})  # numpy integers are integers
    assert ok.channels == {2: (3, 1)} and type(next(iter(ok.channels))) is int


@pytest.mark.parametrize("kwargs, exc, match", [
    (dict(blocks=3), WrongType, r"blocks must be a list or tuple of integers.*not 3"),
    (dict(blocks="all"), WrongType, r"blocks must be a list or tuple of integers"),
    (dict(steps=(0.5,)), WrongType, r"step 0\.5 is not an integer"),
    (dict(keep=(0, 1)), WrongType, r"keep must be a tuple of pairs \(\(block, step\), \.\.\.\)"),
    (dict(keep=((0, 1.0),)), WrongType, r"step 1\.0 is not an integer"),
    (dict(text="yes"), WrongType, r"text must be True or False"),
    (dict(stats=1), WrongType, r"stats must be True or False"),
    (dict(blocks=()), ValueError, r"records nothing.*blocks=None"),  # used to be accepted silently
    (dict(steps=()), ValueError, r"records nothing"),
    (dict(stats=False), ValueError, r"records nothing.*keep="),
])
def test_capturespec_refuses(model, kwargs, exc, match):
    refused(model, exc, match, lambda: gen(model, capture=CaptureSpec(**kwargs)))


def test_capturespec_that_only_keeps_tensors_is_accepted():
    spec = CaptureSpec(blocks=(), keep=((0, 1),), stats=False)
    assert spec.blocks == () and spec.keep == ((0, 1),)


def test_token_mask_in_range_is_accepted_and_applied(model):
    """Values in [0, 1] (float or bool) are valid; a half mask moves half the way."""
    half = EditSpec("zero", {3: (5,)}, token_mask=torch.full((model.num_image_tokens,), 0.5))
    keep = ((3, 0),)
    plain = gen(model, capture=CaptureSpec(keep=keep))
    edited = gen(model, capture=CaptureSpec(keep=keep), edits=[half])
    torch.testing.assert_close(edited.token_map(3, 0)[..., 5], plain.token_map(3, 0)[..., 5] * 0.5, rtol=0, atol=0)
    assert no_hooks(model)


def test_tracer_checks_ranges_once_before_installing_hooks(model):
    layout = model.batch_layout(2, 1.0)
    with pytest.raises(ValueError, match=r"channel 128 out of range: valid channels are 0\.\.127"):
        Tracer(model.transformer, layout, edits=[EditSpec("zero", {0: (128,)})], width=model.width)
    with pytest.raises(ValueError, match=r"row 2 out of range: valid rows are 0\.\.1"):
        Tracer(model.transformer, layout, edits=[EditSpec("zero", {0: (1,)}, rows=(2,))])
    assert no_hooks(model)


# -- channel ranking -----------------------------------------------------------------------------------
def _score(nb=3, width=16):
    return torch.rand(nb, width, generator=torch.Generator().manual_seed(0))


@pytest.mark.parametrize("arm", ["top", "bottom", "random"])
def test_channel_set_never_ranks_nan(arm):
    s = _score()
    s[1, 4] = float("nan")
    with pytest.raises(ValueError, match=r"score of block 1 is NaN or infinite for channels \[4\]: NaN scores are "
                                         r"never ranked"):
        channel_set(s, 2, arm)
    s[1, 4] = float("inf")
    with pytest.raises(ValueError, match="never ranked"):
        channel_set(s, 2, arm, blocks=[1])
    s[1] = float("nan")
    with pytest.raises(ValueError, match=r"block 1 has no statistics"):
        channel_set(s, 2, arm, blocks=[1])
    assert set(channel_set(s, 2, arm, blocks=[0, 2])) == {0, 2}  # the finite blocks still rank


@pytest.mark.parametrize("kwargs, exc, match", [
    (dict(k=2.0), WrongType, r"k 2\.0 is not an integer: k must be in 1\.\.16"),
    (dict(k=True), WrongType, r"k True is not an integer"),
    (dict(k=0), ValueError, r"k 0 out of range: k must be in 1\.\.16"),
    (dict(k=17), ValueError, r"k 17 out of range"),
    (dict(arm="middle"), ValueError, r"unknown arm 'middle'; choose one of \('top', 'bottom', 'random', 'energy'\)"),
    (dict(blocks=1), WrongType, r"blocks must be a list or tuple of integers"),
    (dict(blocks=[0.5]), WrongType, r"block 0\.5 is not an integer: valid blocks are 0\.\.2"),
    (dict(blocks=[3]), ValueError, r"block 3 out of range: valid blocks are 0\.\.2"),
    (dict(seed=0.5), WrongType, r"seed 0\.5 is not an integer"),
])
def test_channel_set_refuses(kwargs, exc, match):
    kw = dict(k=2)
    kw.update(kwargs)
    with pytest.raises(exc, match=match):
        channel_set(_score(), **kw)


def test_channel_set_refuses_a_score_that_is_not_a_matrix():
    with pytest.raises(WrongType, match=r"score must be a \(blocks, channels\) tensor"):
        channel_set(torch.rand(16), 2)
    with pytest.raises(WrongType, match=r"score must be a \(blocks, channels\) tensor, got list"):
        channel_set([[1.0, 2.0]], 1)


def test_agreement_refuses_nan_and_mismatched_shapes():
    a, b = _score(), _score()
    b[0, 0] = float("nan")
    with pytest.raises(ValueError, match="score_b of block 0 is NaN"):
        agreement(a, b, 2)
    with pytest.raises(ValueError, match="shape"):
        agreement(a, _score(4), 2)


# -- selections -----------------------------------------------------------------------------------------
@pytest.mark.parametrize("kwargs, exc, match", [
    (dict(arm="middle"), ValueError, r"unknown arm 'middle'"),
    (dict(k=0), ValueError, r"k 0 out of range: k must be >= 1"),
    (dict(k=1.5), WrongType, r"k 1\.5 is not an integer"),
    (dict(seed=-1), ValueError, r"seed -1 out of range"),
    (dict(seed=True), WrongType, r"seed True is not an integer"),
    (dict(blocks=1.5), WrongType, r"block 1\.5 is not an integer"),
    (dict(blocks=[]), ValueError, r"empty block selection"),
    (dict(blocks="2-x"), ValueError, r"cannot read blocks '2-x'"),
    (dict(blocks="5-2"), ValueError, r"cannot read blocks '5-2'"),
    (dict(blocks=[0, "1"]), WrongType, r"block '1' is not an integer"),
    (dict(steps=True), WrongType, r"step True is not an integer"),
    (dict(steps="middle"), ValueError, r"unknown step range 'middle'; choose one of \('early', 'late', 'all'\)"),
    (dict(steps=()), ValueError, r"empty step selection"),
    (dict(steps={1: 2}), WrongType, r"cannot read steps"),
])
def test_selection_refuses_bad_syntax_when_built(kwargs, exc, match):
    with pytest.raises(exc, match=match):
        Selection(**kwargs)


def test_selection_ranges_are_checked_when_resolved(model):
    sel = Selection("top", 2, blocks=(9,), steps=(5,))  # valid syntax; no model known yet
    with pytest.raises(ValueError, match=r"block 9 out of range: valid blocks are 0\.\.6"):
        sel.block_indices(model.num_blocks)
    with pytest.raises(ValueError, match=r"step 5 out of range: valid steps are 0\.\.1"):
        sel.step_indices(STEPS)
    with pytest.raises(ValueError, match=r"step range 'early' is empty with 1 step\(s\): use at least 2 steps"):
        resolve_steps("early", 1)
    with pytest.raises(ValueError, match=r"k 200 out of range: k must be in 1\.\.128"):
        Selection("top", 200).channels(torch.rand(model.num_blocks, model.width))
    with pytest.raises(WrongType, match=r"num_steps 2\.0 is not an integer"):
        resolve_steps("all", 2.0)
    with pytest.raises(WrongType, match=r"block True is not an integer"):
        resolve_blocks(True, 7)
    assert no_hooks(model)


# -- calibration ------------------------------------------------------------------------------------------
def test_calibrate_refuses(model):
    bare = copy.copy(model)
    bare.world = None
    refused(model, ValueError, r"this model has no world: pass calibrate\(model, prompts=\[\.\.\.\]\)",
            lambda: massact.calibrate(bare))
    refused(model, TypeError, r"prompts must be a list of strings", lambda: massact.calibrate(model, "a red circle"))
    refused(model, ValueError, r"empty prompt list", lambda: massact.calibrate(model, []))
    refused(model, WrongType, r"seed 0\.5 is not an integer",
            lambda: massact.calibrate(model, PROMPTS, seeds=[0.5, 1], num_steps=STEPS))
    refused(model, ValueError, r"guidance nan is not finite",
            lambda: massact.calibrate(model, PROMPTS, num_steps=STEPS, guidance=math.nan))


def test_model_still_works_after_refusals(model):
    """Refusals leave the model usable: the same seed gives the same image as before."""
    a = gen(model)
    for bad in (dict(guidance=-1), dict(edits="zero"), dict(capture="yes")):
        with pytest.raises(ValueError):
            gen(model, **bad)
    assert torch.equal(gen(model).images, a.images)
    assert no_hooks(model)


def test_score_refuses_float_steps_and_rows(model):
    st = gen(model, capture=True).stats
    with pytest.raises(WrongType, match=r"step 1\.0 is not an integer"):
        st.score("absmean", steps=[1.0])
    with pytest.raises(ValueError, match=r"row 2 out of range: valid rows are 0\.\.1"):
        st.score("absmean", rows=[2])
    assert torch.equal(st.score("absmean", steps=[1], rows=[0]), st.absmean[0, :, 1])
    assert no_hooks(model)
