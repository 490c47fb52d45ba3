"""Capture and edits (massact.hooks) on the shipped toy model: float32 streamed statistics,
EditSpec validation, exact properties of the mix/replace operations, clear capture errors.

Asserts properties that hold for any reasonably trained toy model (never a measured number).
"""
from __future__ import annotations

import pytest
import torch

import massact
from massact.channel_stats import STATISTICS, ChannelStats
from massact.hooks import Tracer
from massact.specs import CaptureSpec, EditSpec
from tiny_models import apply_edit, hooks_installed


PROMPTS = ["a large red circle at the left on a black background",
           "a small blue square at the right on a white background",
           "a green triangle", "a yellow circle at the top"]
STEPS = 4



def all_channels(model):
    return {b: tuple(range(model.width)) for b in range(model.num_blocks)}


# -- statistics: float32, streamed ------------------------------------------------------------
def test_stats_are_float32_when_the_model_runs_in_bfloat16():
    bf = massact.load("toy", dtype=torch.bfloat16)
    assert next(bf.transformer.parameters()).dtype == torch.bfloat16
    keep = ((0, 0), (3, 1), (6, STEPS - 1))
    gen = massact.generate(bf, PROMPTS[:2], seeds=[0, 1], num_steps=STEPS, capture=CaptureSpec(keep=keep))
    st = gen.stats
    assert st.shape == (2, 7, STEPS, bf.width)
    for stat in STATISTICS:
        assert st.get(stat).dtype == torch.float32
    for (b, s), x in gen.tensors.items():
        assert x.dtype == torch.float32 and x.shape == (2, bf.num_image_tokens, bf.width)
        x = x.double()  # the bf16 activations, exactly
        # accumulated in float32: agrees with a float64 reduction to ~1e-6; a bfloat16 result
        # (8-bit mantissa) would be off by up to ~4e-3 relative
        torch.testing.assert_close(st.meanabs[:, b, s].double(), x.abs().mean(1), rtol=2e-6, atol=1e-7)
        torch.testing.assert_close(st.absmean[:, b, s].double(), x.mean(1).abs(), rtol=1e-4, atol=1e-6)
        assert torch.equal(st.maxabs[:, b, s].double(), x.abs().amax(1))
    assert gen.images.dtype == torch.float32


@pytest.mark.parametrize("dtype", [torch.bfloat16, torch.float16, torch.float32])
def test_chunked_statistics_equal_the_float32_copy_formulas(dtype):
    """_StreamStats reads STATS_CHUNK_TOKENS tokens at a time (no float32 copy of the whole
    output); its sums equal those of one float32 copy to float32 rounding: relative 1e-6 of
    the sums of |x| (the scale of every sum here), the maximum exactly."""
    from massact.channel_stats import STATS_CHUNK_TOKENS, _StreamStats

    g = torch.Generator("cpu").manual_seed(0)
    x = (torch.randn(2, 2 * STATS_CHUNK_TOKENS + 37, 48, generator=g) * 3).to(dtype)
    x[:, :, 5] += 300  # a massive channel
    f = x.float()
    want = {"sum": f.sum(1), "sum_abs": f.abs().sum(1), "sum_sq": (f * f).sum(1)}
    for chunk in (STATS_CHUNK_TOKENS, 7, 10_000):
        st = _StreamStats(x, chunk=chunk)
        assert st.count == x.shape[1] and st.sum.dtype == torch.float32
        for name, w in want.items():
            scale = want["sum_sq"] if name == "sum_sq" else want["sum_abs"]
            err = float(((getattr(st, name) - w).abs() / scale).max())
            assert err < 1e-6, (name, chunk, err)
        assert torch.equal(st.max_abs, f.abs().amax(1))
    # one chunk (tokens <= STATS_CHUNK_TOKENS, every tiny model): the float32-copy formulas bit for bit
    small = x[:, :STATS_CHUNK_TOKENS]
    st, fs = _StreamStats(small), small.float()
    assert torch.equal(st.sum, fs.sum(1)) and torch.equal(st.sum_abs, fs.abs().sum(1))
    assert torch.equal(st.sum_sq, (fs * fs).sum(1))


def test_stats_are_streamed_not_stored(model):
    """Per (block, step) the tracer holds (rows, channels) sums; full tensors only for keep=..."""
    rows = 3
    layout = model.batch_layout(rows, model.default_guidance)
    with Tracer(model.transformer, layout, CaptureSpec(keep=((2, 1),)), num_steps=STEPS) as tr:
        model.sample(PROMPTS[:rows], [0, 1, 2], STEPS, model.default_guidance)
    assert len(tr._stats) == model.num_blocks * STEPS
    for st in tr._stats.values():
        for t in (st.sum, st.sum_abs, st.max_abs):
            assert t.shape == (rows, model.width) and t.dtype == torch.float32
    res = tr.result()
    assert set(res.tensors) == {(2, 1)}
    assert res.tensors[(2, 1)].shape == (rows, model.num_image_tokens, model.width)
    # statistics over the cond rows only: rows, not 2 x rows, although CFG doubles the batch
    assert res.stats.shape == (rows, model.num_blocks, STEPS, model.width)
    assert res.num_calls == STEPS

    gen = massact.generate(model, PROMPTS[:2], seeds=0, num_steps=2, capture=True)
    assert gen.tensors == {}
    assert torch.isfinite(gen.stats.absmean).all()


def test_kept_tensor_statistics_match(model):
    gen = massact.generate(model, PROMPTS[:2], seeds=[3, 4], num_steps=STEPS, capture=CaptureSpec(keep=((4, 2),)))
    x = gen.token_map(4, 2).double()
    torch.testing.assert_close(gen.stats.absmean[:, 4, 2].double(), x.mean(1).abs(), rtol=1e-4, atol=1e-6)
    torch.testing.assert_close(gen.stats.meanabs[:, 4, 2].double(), x.abs().mean(1), rtol=1e-5, atol=1e-6)
    assert torch.equal(gen.stats.maxabs[:, 4, 2].double(), x.abs().amax(1))


def test_partial_capture_scores_and_ratio_table(model):
    """Capturing a subset of steps/blocks leaves NaN elsewhere; scores reduce over what was captured."""
    gen = massact.generate(model, PROMPTS[:2], seeds=0, num_steps=STEPS,
                           capture=CaptureSpec(blocks=(1, 5), steps=(0, 2)))
    st = gen.stats
    assert st.blocks == (1, 5) and st.steps == (0, 2)
    assert torch.isnan(st.absmean[:, 0]).all() and torch.isnan(st.absmean[:, 1, 1]).all()
    for stat in STATISTICS:
        score = st.score(stat)
        assert score.shape == (model.num_blocks, model.width)
        assert torch.isfinite(score[[1, 5]]).all() and torch.isnan(score[0]).all()
    assert torch.equal(st.score("maxabs")[1], st.maxabs[:, 1, [0, 2]].amax(dim=(0, 1)))
    table = st.ratio_table()
    assert [r["block"] for r in table] == [1, 5]
    for r in table:
        assert len(r["top_channels"]) == 5
        for k in ("top1_over_median_absmean", "top5_over_median_absmean", "top1_over_median_meanabs",
                  "max_over_median"):
            assert r[k] == r[k] and r[k] >= 1.0 - 1e-6  # finite, top >= median
    with pytest.raises(ValueError, match=r"steps \[1\] were not captured; captured steps: \[0, 2\]"):
        st.score("absmean", steps=[1])
    with pytest.raises(ValueError, match="absmean.*meanabs.*maxabs"):
        st.score("median")


def test_the_ratio_table_on_planted_statistics_computed_by_hand():
    """One row, one block, one step, 11 channels with known |mean|, mean |x| and max |x|: every ratio
    of the table is the hand-computed one (the median of 11 values is the 6th largest)."""
    absmean = torch.tensor([50.0, 1.0, 2.0, 3.0, 4.0, 5.0, 6.0, 7.0, 8.0, 9.0, 120.0]).view(1, 1, 1, 11)
    meanabs = absmean + 1.0  # mean |x| >= |mean|
    maxabs = absmean * 3.0
    st = ChannelStats(absmean, meanabs, maxabs, (0,), (0,))
    row = st.ratio_table()[0]
    med = 6.0  # sorted: 1..9, 50, 120 -> the 6th value
    assert row["top_channels"] == [10, 0, 9, 8, 7]
    assert row["top1_over_median_absmean"] == pytest.approx(120.0 / med)
    assert row["top5_over_median_absmean"] == pytest.approx((120 + 50 + 9 + 8 + 7) / 5 / med)
    assert row["top1_over_median_meanabs"] == pytest.approx(121.0 / 7.0)
    assert row["max_over_median"] == pytest.approx(360.0 / 7.0)  # max |x| over the median mean |x|
    assert row["massive_set_10x"] == 1 and row["massive_set_100x"] == 0  # 120 >= 60; 50 < 60


def test_the_shipped_toy_has_massive_channels_and_needs_them_more_than_quiet_ones(model):
    """A regression guard with wide margins: the default toy's strongest block stands well above
    its median (45x when it shipped), and zeroing its top-8 channels everywhere moves the images
    more than zeroing its bottom-8 (the same seeds)."""
    prompts = model.world.evaluation_prompts(4)
    gen = massact.generate(model, prompts, seeds=list(range(4)), capture=True)
    best = max(r["top1_over_median_absmean"] for r in gen.stats.ratio_table())
    assert best > 20, best
    score = gen.stats.score("absmean")
    moved = {}
    for arm in ("top", "bottom"):
        edit = EditSpec("zero", channels=massact.channel_set(score, 8, arm))
        out = massact.generate(model, prompts, seeds=list(range(4)), edits=[edit]).images
        moved[arm] = float(((out.float() - gen.images.float()) ** 2).mean())
    assert moved["top"] > 2 * moved["bottom"], moved


# -- capture of blocks / steps that do not exist ---------------------------------------------------
@pytest.mark.parametrize("kwargs, match", [
    (dict(blocks=(7,)), r"block 7 out of range: valid blocks are 0\.\.6"),
    (dict(steps=(4,)), r"step 4 out of range: valid steps are 0\.\.3"),
    (dict(keep=((9, 0),)), r"block 9 out of range: valid blocks are 0\.\.6"),
    (dict(keep=((0, 4),)), r"step 4 out of range: valid steps are 0\.\.3"),
])
def test_capture_of_missing_blocks_or_steps_errors(model, kwargs, match):
    with pytest.raises(ValueError, match=match):
        massact.generate(model, PROMPTS[:1], seeds=0, num_steps=STEPS, capture=CaptureSpec(**kwargs))
    assert hooks_installed(model.transformer) == 0


def test_negative_blocks_and_steps_are_refused_when_the_spec_is_built():
    with pytest.raises(ValueError, match=r"block -1 out of range"):
        CaptureSpec(blocks=(-1,))
    with pytest.raises(ValueError, match=r"step -2 out of range"):
        CaptureSpec(keep=((0, -2),))


# -- EditSpec validation -----------------------------------------------------------------------------
@pytest.mark.parametrize("kwargs, match", [
    (dict(op="zero", channels={7: (0,)}), r"block 7 out of range: valid blocks are 0\.\.6"),
    (dict(op="zero", channels={0: (128,)}), r"channel 128 out of range: valid channels are 0\.\.127"),
    (dict(op="zero", channels={0: (1,)}, steps=(4,)), r"step 4 out of range: valid steps are 0\.\.3"),
    (dict(op="replace", channels={0: (1,)}, source_rows=((0, 2),)), r"row 2 out of range: valid rows are 0\.\.1"),
    (dict(op="zero", channels={0: (1,)}, rows=(5,)), r"row 5 out of range: valid rows are 0\.\.1"),
    (dict(op="zero", channels={0: (1,)}, token_mask=torch.ones(63)), r"token_mask has 63 tokens.*64"),
    (dict(op="zero", channels={0: (1,)}, token_mask=torch.ones(3, 64)), r"\(rows, tokens\) = \(2, 64\)"),
])
def test_editspec_range_errors_name_the_valid_range(model, kwargs, match):
    spec = EditSpec(**kwargs)
    with pytest.raises(ValueError, match=match):
        massact.generate(model, PROMPTS[:2], seeds=0, num_steps=STEPS, edits=[spec])
    assert hooks_installed(model.transformer) == 0


@pytest.mark.parametrize("kwargs, match", [
    (dict(op="mix", channels={0: (1,)}, alpha=1.5, source_rows=((0, 1),)), r"alpha must be a finite number in \[0, 1\]"),
    (dict(op="zero", channels={0: (1,)}, alpha=-0.1), r"alpha must be a finite number in \[0, 1\]"),
    (dict(op="replace", channels={0: (1,)}, alpha=0.5, source_rows=((0, 1),)), "use op 'mix'"),
    (dict(op="replace", channels={0: (1,)}), r"needs a source: source_rows="),
    (dict(op="scale", channels={0: (1,)}), r"unknown op 'scale'.*zero.*mix.*'replace' = 'mix' with alpha 1"),
    (dict(op="zero", channels={}), r"at least one block"),
    (dict(op="zero", channels={0: (-1,)}), r"channel -1 out of range"),
    (dict(op="zero", channels={0: (1,)}, token_mask=torch.ones(2, 8, 8)), r"valid shapes are \(tokens,\) or \(rows, tokens\)"),
    (dict(op="zero", channels={0: (1, 1)}), r"duplicates"),
    (dict(op="mix", channels={0: (1,)}, source_rows=((0, 1), (0, 2))), r"target row twice"),
    (dict(op="zero", channels={0: (1,)}, source_rows=((0, 1),)), r"'zero' takes no source"),
])
def test_editspec_construction_errors(kwargs, match):
    with pytest.raises(ValueError, match=match):
        EditSpec(**kwargs)


def test_tracer_rejects_edits_of_blocks_that_do_not_exist(model):
    """Used directly (not through generate), the Tracer still refuses an edit that would never apply."""
    layout = model.batch_layout(1, 1.0)
    with pytest.raises(ValueError, match=r"block 9 out of range: valid blocks are 0\.\.6"):
        Tracer(model.transformer, layout, edits=[EditSpec(op="zero", channels={9: (0,)})])
    with pytest.raises(ValueError, match=r"step 5 out of range: valid steps are 0\.\.3"):
        Tracer(model.transformer, layout, edits=[EditSpec(op="zero", channels={0: (0,)}, steps=(5,))],
               num_steps=STEPS)
    assert hooks_installed(model.transformer) == 0


def test_editspec_is_frozen_and_normalised():
    spec = EditSpec(op="zero", channels={1: [3, 4]}, steps=[0, 2])
    assert spec.channels == {1: (3, 4)} and spec.steps == (0, 2) and spec.blocks == (1,)
    with pytest.raises(Exception):
        spec.alpha = 0.5
    assert spec.summary()["channels"] == {"1": [3, 4]}


# -- exact properties of the edit operations ------------------------------------------------------
def test_mix_alpha_zero_is_bit_for_bit_no_edit(model):
    mix0 = EditSpec(op="mix", channels=all_channels(model), alpha=0.0, source_rows=((0, 1), (2, 0)))
    plain = massact.generate(model, PROMPTS[:3], seeds=[7, 8, 9], num_steps=STEPS)
    mixed = massact.generate(model, PROMPTS[:3], seeds=[7, 8, 9], num_steps=STEPS, edits=[mix0])
    assert torch.equal(mixed.images, plain.images)
    assert hooks_installed(model.transformer) == 0


def test_zero_edit_changes_only_what_it_names(model):
    """Zeroing a channel at one block: that channel of the (kept) image stream is exactly 0 there,
    earlier blocks at that step are untouched, and the images change."""
    spec = EditSpec(op="zero", channels={3: (5, 9)}, steps=(1,))
    keep = ((3, 1), (2, 1))
    plain = massact.generate(model, PROMPTS[:2], seeds=[1, 2], num_steps=STEPS, capture=CaptureSpec(keep=keep))
    edited = massact.generate(model, PROMPTS[:2], seeds=[1, 2], num_steps=STEPS, capture=CaptureSpec(keep=keep),
                              edits=[spec])
    assert torch.equal(edited.token_map(2, 1), plain.token_map(2, 1))
    assert (edited.token_map(3, 1)[..., [5, 9]] == 0).all()
    others = [c for c in range(model.width) if c not in (5, 9)]
    assert torch.equal(edited.token_map(3, 1)[..., others], plain.token_map(3, 1)[..., others])
    assert not torch.equal(edited.images, plain.images)
    assert torch.equal(edited.stats.maxabs[:, 3, 1, [5, 9]], torch.zeros(2, 2))


def test_replace_all_channels_from_a_same_seed_row(model):
    """replace, all channels, all blocks, every step, target row 0 <- source row 1, same seed.

    What holds exactly: the image stream of row 0 equals row 1's at every block output and step
    (the step-0 inputs are the same noise, and every block output is overwritten). The images are
    NOT bit-equal: after the last block the transformer's final AdaLayerNorm (norm_out) is modulated
    by temb, which FLUX computes from each row's own pooled text embedding, so row 0's velocity
    differs slightly. Copying that conditioning too (a plain hook on norm_out) makes them bit-equal.
    """
    prompts, seeds = PROMPTS[:2], [5, 5]
    spec = EditSpec(op="replace", channels=all_channels(model), source_rows=((0, 1),))
    keep = tuple((b, s) for b in range(model.num_blocks) for s in range(STEPS))
    plain = massact.generate(model, prompts, seeds=seeds, num_steps=STEPS)
    gen = massact.generate(model, prompts, seeds=seeds, num_steps=STEPS, edits=[spec], capture=CaptureSpec(keep=keep))
    for (b, s), x in gen.tensors.items():
        assert torch.equal(x[0], x[1]), (b, s)
    assert torch.equal(gen.images[1], plain.images[1])  # the source row is untouched
    # close, not equal: much closer to the source than the unedited target was
    d_edit = (gen.images[0] - gen.images[1]).square().mean()
    d_plain = (plain.images[0] - plain.images[1]).square().mean()
    assert d_edit < 0.25 * d_plain

    layout = model.batch_layout(2, model.default_guidance)
    assert layout.batch_branches == ("uncond", "cond")  # the toy batches [uncond; cond]

    def copy_final_conditioning(mod, args):
        x, emb = args
        emb = emb.clone()
        emb[2 + 0] = emb[2 + 1]  # cond half: target row 0 <- source row 1 (uncond rows are identical)
        return (x, emb)

    h = model.transformer.norm_out.register_forward_pre_hook(copy_final_conditioning)
    try:
        exact = massact.generate(model, prompts, seeds=seeds, num_steps=STEPS, edits=[spec])
    finally:
        h.remove()
    assert torch.equal(exact.images[0], exact.images[1])


def test_hooks_removed_when_sampling_raises(model):
    calls = []

    def explode(mod, args, out):
        calls.append(1)
        if len(calls) == 3:
            raise RuntimeError("boom inside the sampler")

    h = model.transformer.single_transformer_blocks[0].register_forward_hook(explode)
    try:
        before = hooks_installed(model.transformer)
        with pytest.raises(RuntimeError, match="boom inside the sampler"):
            massact.generate(model, PROMPTS[:2], seeds=0, num_steps=STEPS, capture=True,
                             edits=[EditSpec(op="zero", channels={0: (1,)})])
        assert hooks_installed(model.transformer) == before == 1  # only the test's own hook
    finally:
        h.remove()
    assert hooks_installed(model.transformer) == 0


# -- one edit vocabulary; channel-indexed edits ------------------------------------------------------
def test_replace_is_mix_at_alpha_one():
    r = EditSpec(op="replace", channels={0: (1,)}, source_rows=((0, 1),))
    assert r.op == "mix" and r.alpha == 1.0
    assert r == EditSpec(op="mix", channels={0: (1,)}, source_rows=((0, 1),))
    assert EditSpec(op="replace", channels={0: (1,)}, alpha=1, source_rows=((0, 1),)).op == "mix"


def _dense(e: EditSpec, block: int, x: torch.Tensor, src: torch.Tensor | None = None) -> torch.Tensor:
    """The dense formula x (1 - alpha M) + x_src alpha M with M (rows, tokens, channels), as the
    hooks computed it before they indexed channels (the reference for bit-exactness)."""
    m = torch.zeros(x.shape[-1], dtype=x.dtype)
    m[list(e.channels[block])] = 1
    p = torch.ones(x.shape[0], x.shape[1], 1, dtype=x.dtype)
    if e.token_mask is not None:
        tm = e.token_mask.to(x.dtype)
        p = (tm.expand(x.shape[0], -1) if tm.dim() == 1 else tm)[..., None].clone()
    M = p * m
    if e.rows is not None and not e.source_rows:
        keep = torch.zeros(x.shape[0], 1, 1, dtype=x.dtype)
        keep[list(e.rows)] = 1
        M = M * keep
    a = float(e.alpha)
    if e.op == "zero":
        return x * (1 - a * M)
    if src is not None:
        return x * (1 - a * M) + src.to(x.dtype).expand_as(x) * (a * M)
    out = x.clone()
    for t, s in e.source_rows:
        out[t] = x[t] * (1 - a * M[t]) + x[s] * (a * M[t])
    return out


@pytest.mark.parametrize("dtype", [torch.float32, torch.bfloat16])
def test_channel_indexed_edits_equal_the_dense_formula_bit_for_bit(dtype):
    g = torch.Generator().manual_seed(0)
    R, T, D = 3, 12, 10
    x = (torch.randn(R, T, D, generator=g) * 4).to(dtype)
    rec = torch.randn(1, T, D, generator=g)
    masks = (None, torch.rand(T, generator=g), torch.rand(R, T, generator=g), torch.rand(T, generator=g) > 0.5)
    for alpha in (0.0, 0.3, 1.0):
        for tm in masks:
            specs = [EditSpec("zero", {2: (1, 5, 6)}, alpha=alpha, token_mask=tm),
                     EditSpec("zero", {2: (0, 9)}, alpha=alpha, token_mask=tm, rows=(0, 2)),
                     EditSpec("mix", {2: (1, 5)}, alpha=alpha, token_mask=tm, source_rows=((0, 1), (1, 2), (2, 0))),
                     EditSpec("mix", {2: (3,)}, alpha=alpha, token_mask=tm, recorded={(2, 0): rec}, rows=(1,))]
            for e in specs:
                got = apply_edit(e, 2, 0, x)
                want = _dense(e, 2, x, rec if e.recorded is not None else None)
                assert torch.equal(got, want), (e.op, alpha, tm is not None)
                bits = torch.int32 if dtype == torch.float32 else torch.int16
                assert torch.equal(got.view(bits), want.view(bits))  # also the sign of zeros


def test_edit_weights_are_small_not_dense():
    """Per edit and block the hook keeps channel indices and a (rows|1, tokens|1, 1) weight."""
    from massact.hooks import _EditPlan

    x = torch.zeros(2, 64, 128)
    plain = _EditPlan(EditSpec("zero", {0: (3, 7)}), 0)
    ch, ap, keep, _, _ = plain._prepared(x)
    assert ch.tolist() == [3, 7] and ap.shape == keep.shape == (1, 1, 1)
    masked = _EditPlan(EditSpec("zero", {0: (3,)}, token_mask=torch.ones(64), rows=(1,)), 0)
    assert masked._prepared(x)[1].shape == (2, 64, 1)
    assert masked._prepared(x)[1] is masked._prepared(x)[1]  # prepared once per device/dtype/rows
