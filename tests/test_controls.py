"""The controls that decide between readings (issue 12): mean ablation (EditSpec "set"), the
energy-matched random arm, how massive a block is (energy share, outlier severity), and the
per-image paired intervals of the probe.

Hand-made tensors where an answer is known; the tiny random toy-architecture model for the
plumbing (nothing here depends on trained weights)."""
from __future__ import annotations

import math

import numpy as np
import pytest
import torch

import massact
import massact.claims.critical as C
from massact import stats
from massact.generation import generate
from tiny_models import apply_edit
from massact.channel_stats import ChannelStats
from massact.specs import CaptureSpec, EditSpec
from massact.ranking import ENERGY_TOLERANCE, channel_set, energy_match_ceiling, energy_matched, token_energy_share
from massact.selection import Selection
from massact.toy import world



# -- mean ablation: EditSpec("set") ----------------------------------------------------------------
def test_set_to_the_value_a_channel_has_changes_nothing_and_set_zero_is_zero():
    g = torch.Generator().manual_seed(0)
    x = torch.randn(2, 6, 8, generator=g)
    x[..., 3] = 2.5  # a constant channel: its value at every token is 2.5
    values = torch.zeros(1, 2, 8)
    values[0, 1, 3] = 2.5
    same = apply_edit(EditSpec("set", {0: (3,)}, steps=(1,), values=values), 0, 1, x)
    torch.testing.assert_close(same, x, rtol=0, atol=1e-6)
    zero = apply_edit(EditSpec("zero", {0: (3, 5)}), 0, 0, x)
    set0 = apply_edit(EditSpec("set", {0: (3, 5)}, values=torch.zeros(1, 2, 8)), 0, 0, x)
    assert torch.equal(zero, set0)
    # another step reads another value; untouched channels stay bit for bit
    values[0, 0, 5] = -1.0
    out = apply_edit(EditSpec("set", {0: (3, 5)}, values=values), 0, 0, x)
    assert torch.all(out[..., 5] == -1.0) and torch.all(out[..., 3] == 0.0)
    assert torch.equal(out[..., [0, 1, 2, 4, 6, 7]], x[..., [0, 1, 2, 4, 6, 7]])


def test_set_in_a_generation_zero_values_equal_zeroing_and_alpha_zero_is_clean(tiny):
    p, nb, w = ["a red circle at the top on a black background"], tiny.num_blocks, tiny.width
    ch = {b: (1, 7) for b in range(nb)}
    z = generate(tiny, p, [3], num_steps=2, edits=[EditSpec("zero", ch)]).images
    s = generate(tiny, p, [3], num_steps=2, edits=[EditSpec("set", ch, values=torch.zeros(nb, 2, w))]).images
    assert torch.equal(z, s)
    clean = generate(tiny, p, [3], num_steps=2).images
    a0 = generate(tiny, p, [3], num_steps=2,
                  edits=[EditSpec("set", ch, alpha=0.0, values=torch.randn(nb, 2, w))]).images
    assert torch.equal(a0, clean)


@pytest.mark.parametrize("kwargs, match", [
    (dict(), "op 'set' needs values="),
    (dict(values=torch.zeros(1, 2)), "values must be a float tensor"),
    (dict(values=torch.zeros(1, 2, 8, dtype=torch.long)), "values must be a float tensor"),
    (dict(values=torch.full((1, 2, 8), float("nan"))), "NaN or infinite"),
    (dict(values=torch.zeros(1, 2, 8), source_rows=((0, 1),)), "takes no source"),
])
def test_set_bad_inputs(kwargs, match):
    with pytest.raises(ValueError, match=match):
        EditSpec("set", {0: (3,)}, **kwargs)


def test_values_only_with_set_and_shape_checked_against_the_run(tiny):
    with pytest.raises(ValueError, match="values= is for op 'set' only"):
        EditSpec("zero", {0: (3,)}, values=torch.zeros(1, 2, 8))
    e = EditSpec("set", {0: (3,)}, values=torch.zeros(1, 2, 8))
    with pytest.raises(ValueError, match=r"valid shape is \(blocks, steps, channels\) = \(3, 4, 32\)"):
        e.validate(3, 32, 4)


def test_streamed_moments_keep_the_old_sums_and_are_consistent(tiny):
    p = ["a red circle at the top on a black background", "a small blue square at the left on a gray background"]
    cap = generate(tiny, p, [1000, 1001], num_steps=2, capture=CaptureSpec()).stats
    assert cap.has_moments
    assert torch.equal(cap.absmean, cap.mean.abs())  # the same sums, read signed
    assert torch.all(cap.meansq >= cap.mean ** 2 - 1e-4)
    assert torch.all(cap.meansq <= cap.maxabs ** 2 + 1e-4)
    cm = cap.channel_mean()
    assert cm.shape == (tiny.num_blocks, 2, tiny.width) and cm.dtype == torch.float32
    torch.testing.assert_close(cm, cap.mean.mean(0))


# -- how massive, per block ------------------------------------------------------------------------
def _hand_stats():
    """One row, one block, one step, 4 channels: mu = (3, 0, 1, 0), sigma = (0, 2, 1, 1)."""
    mean = torch.tensor([3.0, 0.0, 1.0, 0.0]).view(1, 1, 1, 4)
    sd = torch.tensor([0.0, 2.0, 1.0, 1.0]).view(1, 1, 1, 4)
    msq = mean ** 2 + sd ** 2  # (9, 4, 2, 1)
    return ChannelStats(mean.abs(), mean.abs(), mean.abs() + sd, (0,), (0,), mean=mean, meansq=msq)


def test_energy_share_and_severity_known_answers():
    st = _hand_stats()
    torch.testing.assert_close(st.energy(), torch.tensor([[9.0, 4.0, 2.0, 1.0]]))
    assert math.isclose(float(st.energy_share(1)[0]), 9 / 16, rel_tol=1e-6)  # top-1 by |mean| = channel 0
    assert math.isclose(float(st.energy_share(2)[0]), 11 / 16, rel_tol=1e-6)  # channels 0 and 2
    g = st.severity()[0]
    assert math.isinf(float(g[0])) and float(g[1]) == 0.0 and math.isclose(float(g[2]), 1.0, rel_tol=1e-6)
    rt = st.ratio_table(k=2)[0]
    assert rt["top_channels"][0] == 0 and math.isclose(rt["energy_share_top2"], 11 / 16, rel_tol=1e-6)
    assert math.isinf(rt["severity_top1"]) and "severity_median" in rt


def test_severity_over_contexts_and_no_moments_error():
    # two rows: mu = 1 and -1 (norm sqrt 2), sigma = 1 and 1 (norm sqrt 2): gamma = 1
    mean = torch.tensor([1.0, -1.0]).view(2, 1, 1, 1)
    st = ChannelStats(mean.abs(), mean.abs(), mean.abs(), (0,), (0,), mean=mean, meansq=mean ** 2 + 1)
    assert math.isclose(float(st.severity()[0, 0]), 1.0, rel_tol=1e-6)
    bare = ChannelStats(mean.abs(), mean.abs(), mean.abs(), (0,), (0,))
    with pytest.raises(ValueError, match="streamed moments"):
        bare.energy()


def test_token_energy_share():
    x = torch.tensor([[[3.0, 4.0], [1.0, 0.0]]])  # token shares of channel 0: 9/25 and 1
    torch.testing.assert_close(token_energy_share(x, [0]), torch.tensor([(9 / 25 + 1) / 2]))


# -- the energy-matched arm ------------------------------------------------------------------------
def _score_energy(blocks=3, width=64, seed=0):
    g = torch.Generator().manual_seed(seed)
    return torch.rand(blocks, width, generator=g), torch.rand(blocks, width, generator=g)


@pytest.mark.parametrize("k", [1, 4, 8])
def test_energy_arm_sizes_match_and_reproducibility(k):
    score, energy = _score_energy()
    a = channel_set(score, k, "energy", energy=energy, seed=3)
    assert a == channel_set(score, k, "energy", energy=energy, seed=3)
    draws = {tuple(sorted(channel_set(score, k, "energy", energy=energy, seed=s).items())) for s in range(6)}
    assert len(draws) > 1  # another seed, another draw (few sets match for k = 1, so compare several)
    top = channel_set(score, k, "top")
    for b, cs in a.items():
        assert len(cs) == k == len(set(cs)) and not set(cs) & set(top[b])
        target = float(energy[b, list(top[b])].sum())
        assert abs(float(energy[b, list(cs)].sum()) - target) <= ENERGY_TOLERANCE * target
    # a looser tolerance still holds its bound; Selection goes through the same function
    loose = energy_matched(score, energy, k, seed=3, tolerance=0.2)
    for b, cs in loose.items():
        t = float(energy[b, list(top[b])].sum())
        assert abs(float(energy[b, list(cs)].sum()) - t) <= 0.2 * t
    assert Selection("energy", k, seed=3).channels(score, energy) == a


def test_energy_arm_errors():
    score, energy = _score_energy()
    big = energy.clone()
    big[:, :4] = 100.0  # the top-4 hold far more energy than any 4 other channels
    with pytest.raises(ValueError, match=r"closest found sums to .* would need tolerance="):
        channel_set(big, 4, "energy", energy=big)
    with pytest.raises(ValueError, match="pass energy="):
        channel_set(score, 4, "energy")
    with pytest.raises(ValueError, match="energy has shape"):
        channel_set(score, 4, "energy", energy=energy[:, :10])
    with pytest.raises(ValueError, match="tolerance 0"):
        energy_matched(score, energy, 4, tolerance=0.0)
    with pytest.raises(ValueError, match="tolerance"):
        energy_matched(score, energy, 4, tolerance=float("nan"))
    with pytest.raises(ValueError, match="at most half the width"):
        energy_matched(score, energy, 40)
    neg = energy.clone()
    neg[0, 5] = -1.0
    with pytest.raises(ValueError, match="negative"):
        energy_matched(score, neg, 4)


def test_the_energy_arm_under_the_clean_rule_never_holds_a_top_n_channel():
    score, energy = _score_energy()
    top16 = Selection("top", 16).channels(score)
    held_top = False
    for k in (1, 4, 8):
        top = Selection("top", k).channels(score)
        for seed in range(4):
            clean = Selection("energy", k, seed=seed, outside=16).channels(score, energy)
            assert clean == Selection("energy", k, seed=seed, outside=16).channels(score, energy)  # by seed
            assert clean == energy_matched(score, energy, k, seed=seed, outside=16)  # one function underneath
            for b, cs in clean.items():
                assert len(cs) == k == len(set(cs)) and not set(cs) & set(top16[b])
                target = float(energy[b, list(top[b])].sum())  # still the top-k's energy that is matched
                assert abs(float(energy[b, list(cs)].sum()) - target) <= ENERGY_TOLERANCE * target
            # outside the top-k only (the default), a draw may hold a channel of the top-16
            held_top |= any(set(cs) & set(top16[b]) for b, cs in channel_set(score, k, "energy", energy=energy,
                                                                             seed=seed).items())
    assert held_top
    assert Selection("energy", 8, seed=1, outside=8).channels(score, energy) == \
        Selection("energy", 8, seed=1).channels(score, energy)  # outside = k is the default pool
    assert Selection("energy", 4, outside=16).summary()["outside"] == 16
    assert "outside the top-16" in Selection("energy", 4, outside=16).label


@pytest.mark.parametrize("make, match", [
    (lambda s, e: Selection("energy", 8, outside=4), r"outside 4 .* k=8: give 0 .* or at least 8"),
    (lambda s, e: Selection("energy", 8, outside=57).channels(s, e), r"outside 57 out of range .* 8\.\.56"),
    (lambda s, e: energy_matched(s, e, 8, outside=60), r"outside 60 out of range .* give 0 .* or 8\.\.56"),
    (lambda s, e: energy_matched(s, e, 8, outside=5), r"outside 5 out of range .* 8\.\.56"),
    (lambda s, e: energy_match_ceiling(s, e, 4, outside=61), r"outside 61 out of range .* 4\.\.60"),
    (lambda s, e: Selection("bottom", 4, outside=8), "random and energy arms only"),
])
def test_a_bad_outside_of_the_energy_arm_names_the_valid_range(make, match):
    score, energy = _score_energy()
    with pytest.raises(ValueError, match=match):
        make(score, energy)


# -- the probe: both ablations, the energy arm, per-image intervals ---------------------------------
@pytest.fixture(scope="module")
def res(tiny):
    cal = massact.calibrate(tiny, prompts=world.caption_set(3, world.CALIBRATION_SEED), num_steps=2)
    return C.probe(tiny, cal, world.caption_set(4, world.EVALUATION_SEED), [0, 1, 2, 3], ks=(2,),
                   arms=("top", "random", "energy"), draws=2, num_steps=2, ablation=("zero", "mean"))


def test_probe_runs_both_ablations_on_the_same_images(res):
    t = res.table()
    assert {(r["arm"], r["ablation"]) for r in t} == {("none", "none")} | {
        (a, ab) for a in ("top", "random", "energy") for ab in ("zero", "mean")}
    assert res.images[("top", 2, "all", "all", None, "mean")].shape == res.clean_images.shape
    assert not torch.equal(res.images[("top", 2, "all", "all", None, "mean")],
                           res.images[("top", 2, "all", "all", None)])
    for r in t:
        assert r["n"] == 4 and r["n_images"] == 4
        for m in ("caption_accuracy", "pixel_mse", "detail_ratio"):
            lo, hi = r[f"{m}_ci"]
            assert lo - 1e-4 <= r[m] <= hi + 1e-4, (m, r)
        assert "toy_fid_ci" not in r and r["toy_fid"] is not None  # measured on the whole set only
    per_draw = res.table(draws="each").select(arm="energy", ablation="zero")
    assert len(per_draw) == 2 and all(r["n"] == 4 for r in per_draw)


def test_estimates_and_paired_differences(res):
    top = res.per_item("pixel_mse", **C.condition("top", 2))
    assert top.shape == (4,)
    e = res.estimate("pixel_mse", arm="top", ablation="zero")
    assert math.isclose(e.mean, float(top.mean()), rel_tol=1e-9) and e.n == 4
    row = res.table().first(arm="top", ablation="zero")
    assert math.isclose(e.mean, row["pixel_mse"], rel_tol=1e-6)
    # a difference of an arm with itself is exactly zero, interval included
    top2 = C.condition("top", 2)
    d0 = res.difference("pixel_mse", top2, top2)
    assert d0.mean == 0 and d0.ci == (0.0, 0.0)
    d = res.difference("pixel_mse", top2, C.CLEAN)  # clean has pixel distance 0 to itself
    assert math.isclose(d.mean, e.mean, rel_tol=1e-9)
    dm = res.difference("caption_accuracy", dict(ablation="mean"), dict(ablation="zero"), arm="top")
    assert dm.n == 4 and dm.ci[0] <= dm.mean <= dm.ci[1]
    rnd = res.per_item("caption_accuracy", arm="random", ablation="zero")
    np.testing.assert_allclose(rnd, (res.per_item("caption_accuracy", arm="random", ablation="zero", draw=0)
                                     + res.per_item("caption_accuracy", arm="random", ablation="zero", draw=1)) / 2)
    assert stats.verdict(d) in stats.VERDICTS


@pytest.mark.parametrize("kwargs, match", [
    (dict(metric="toy_fid", arm="top", ablation="zero"), "not measured per image"),
    (dict(metric="pixel_mse", arm="bottom"), r"no condition with .*'arm'.*'energy'"),
    (dict(metric="pixel_mse", arm="top", k=3, ablation="zero"), r"no condition with .*'k': \['0', '2'\]"),
    (dict(metric="pixel_mse", arm="top", ablation="half"), "no condition with"),
    (dict(metric="pixel_mse", arm="random", ablation="zero", draw=5), r"'draw': \['0', '1', 'None'\]"),
    (dict(metric="pixel_mse", arm="top"), r"name one of each: \{'ablation'"),
])
def test_estimate_bad_inputs(res, kwargs, match):
    with pytest.raises(ValueError, match=match):
        res.estimate(**kwargs)


def test_probe_ablation_bad_inputs(tiny):
    cal = massact.calibrate(tiny, prompts=world.caption_set(2, world.CALIBRATION_SEED), num_steps=2)
    p = world.caption_set(2, world.EVALUATION_SEED)
    with pytest.raises(ValueError, match="unknown ablation 'half'"):
        C.probe(tiny, cal, p, [0, 1], ks=(1,), num_steps=2, ablation="half")
    with pytest.raises(ValueError, match="calibrate with num_steps=3"):
        C.probe(tiny, cal, p, [0, 1], ks=(1,), num_steps=3, ablation="mean")
    with pytest.raises(ValueError, match="unknown arm 'middle'"):
        C.probe(tiny, cal, p, [0, 1], ks=(1,), num_steps=2, arms=("middle",))


def test_verdict_rule():
    # one vocabulary, strongest first: the words the readings, the report and the README show
    assert stats.VERDICTS == ("reproduced", "weak", "not reproduced")
    assert stats.verdict(stats.Estimate(0.12, (0.08, 0.16), 64)) == "reproduced"
    assert stats.verdict(stats.Estimate(0.12, (0.08, 0.16), 64), minimum=0.2) == "weak"
    assert stats.verdict(stats.Estimate(0.05, (-0.01, 0.1), 64)) == "weak"
    assert stats.verdict(stats.Estimate(0.0, (0.0, 0.0), 64)) == "not reproduced"
    assert stats.verdict(stats.Estimate(-0.1, (-0.2, -0.05), 64)) == "not reproduced"
    with pytest.raises(TypeError, match="Estimate"):
        stats.verdict(0.1)
    with pytest.raises(ValueError, match="minimum"):
        stats.verdict(stats.Estimate(0.1, (0.0, 0.2), 4), minimum=-1)


# -- spatial: per-image intervals and the failure modes ---------------------------------------------
def test_offset_and_speckle_on_hand_made_tokens():
    from massact.claims import spatial as S

    g = torch.Generator().manual_seed(0)
    x = torch.randn(3, 64, 2, generator=g)
    x[..., 0] = 5.0 + 0.01 * x[..., 0]  # the same value at every token, up to 0.2% noise
    cv = S.offset_cv(x)
    assert cv[0] < S.OFFSET_CV < cv[1]
    y = torch.randn(2, 64, 3, generator=g) * 0.1 + 1
    y[0, :2] *= 30  # two tokens of 64 with 30x the norm
    labels = np.zeros((2, 64), int)
    labels[0, :2] = 1
    labels[1, :32] = 1
    flags, shares = S.speckle(y, labels)
    assert flags.tolist() == [True, False]
    np.testing.assert_allclose(shares, [2 / 64, 0.5])


def test_spatial_estimates_rows_and_diagnostics():
    from massact.claims import spatial as S
    from massact.toy.model import pack

    imgs, masks, _, captions = world.sample_batch(7, 5)
    g = torch.Generator().manual_seed(1)
    x = torch.randn(5, 256, 32, generator=g)
    x[:, :, :4] = pack(torch.from_numpy(imgs), 2)[..., :4] * 4 + 30  # 4 channels carry the picture
    x[:, :, 4] = 80.0 + 0.01 * torch.randn(5, 256, generator=g)  # the largest: a constant offset
    cap = S.SpatialCapture(captions, list(range(5)), torch.from_numpy((imgs + 1) / 2), {(0, 0): x}, (16, 16), 1)
    score = x.mean(1).abs().mean(0)[None]
    res = S.evaluate(cap, score, masks, k=5, arms=("top", "bottom", "random"), random_draws=2)
    e = res.estimate("miou", arm="top", block=0, step=0)
    assert e.n == 5 and math.isclose(e.mean, float(res.miou("top")[0, 0]), rel_tol=1e-9)
    d = res.difference("miou", dict(arm="top"), dict(arm="bottom"), block=0, step=0)
    np.testing.assert_allclose(d.mean, float((res.per_item("miou", arm="top", block=0, step=0)
                                              - res.per_item("miou", arm="bottom", block=0, step=0)).mean()))
    assert res.difference("miou", dict(arm="top"), dict(arm="top"), block=0, step=0).ci == (0.0, 0.0)
    for r in res.table(ndigits=4):
        assert r["n"] == 5 and r["miou_ci"][0] - 1e-4 <= r["miou"] <= r["miou_ci"][1] + 1e-4
    top = res.failure_modes("top").first(block=0)
    assert top["offset_channels"] == [4] and len(top["offset_cv"]) == 5
    assert res.failure_modes("bottom").first(block=0)["offset_channels"] == []
    with pytest.raises(ValueError, match="no condition with.*'block': 3.*holds"):
        res.estimate("miou", arm="top", block=3, step=0)
    with pytest.raises(ValueError, match="no condition with.*'arm': 'energy'.*holds"):
        res.difference("miou", dict(arm="energy"), dict(arm="top"), block=0, step=0)
    with pytest.raises(ValueError, match="arm 'energy' was not evaluated"):
        res.curve("energy")
    with pytest.raises(ValueError, match="'miou_majority' was not measured.*miou_oracle"):
        res.estimate("miou_majority", arm="top", block=0, step=0)
    with pytest.raises(ValueError, match="unknown rule"):
        res.miou("top", "majority")


# -- transport: adoption by kind of attribute, per pair ---------------------------------------------
class _LabelMetrics(massact.metrics.Metrics):
    """Reads attributes from a table: image i's pixel value names its row of labels."""

    attributes = ("position", "size", "shape", "color", "background")

    def __init__(self, table):
        self.table = table

    def attributes_of(self, images):
        ids = images[:, 0, 0, 0].round().long().tolist()
        return {a: np.array([self.table[i][j] for i in ids]) for j, a in enumerate(self.attributes)}


def test_adoption_by_kind_per_pair_and_sweep_intervals():
    from massact.claims import transport as T

    # 4 pairs; labels (position, size, shape, color, background); source/target/output ids
    table = {0: (0, 0, 0, 0, 0), 1: (1, 1, 1, 1, 1),  # source 0 / target 1 differ in everything
             2: (0, 0, 1, 1, 1),  # output 2: takes layout from the source, keeps identity and background
             3: (1, 1, 0, 0, 1)}  # output 3: takes identity only

    def ims(ids):
        return torch.tensor(ids, dtype=torch.float32).view(-1, 1, 1, 1).expand(-1, 3, 2, 2).clone()

    m = _LabelMetrics(table)
    src, tgt = ims([0, 0, 0, 0]), ims([1, 1, 1, 1])
    lay = T.measure(m, src, tgt, ims([2, 2, 2, 3]))
    ide = T.measure(m, src, tgt, ims([3, 3, 3, 3]))
    np.testing.assert_allclose(lay["per_pair"]["adoption"]["layout"], [1, 1, 1, 0])
    np.testing.assert_allclose(lay["per_pair"]["adoption"]["identity"], [0, 0, 0, 1])
    np.testing.assert_allclose(lay["per_pair"]["adoption"]["background"], [0, 0, 0, 0])
    assert lay["adoption"] == {"layout": 0.75, "identity": 0.25, "background": 0.0}
    spec = {"arm": "top", "k": 4, "alpha": 1.0, "mask": "none", "blocks": "all", "steps": "all"}
    sw = T.Sweep.from_measures([spec, {**spec, "arm": "random"}], [lay, ide])
    r = sw.rows().first(arm="top")
    assert r["n"] == 4 and r["adoption"]["layout"] == 0.75
    lo, hi = r["adoption_ci"]["layout"]
    assert 0.0 <= lo <= 0.75 <= hi <= 1.0
    assert sw.estimate("layout", arm="top").mean == 0.75
    d = sw.difference("layout", dict(arm="top"), dict(arm="random"))
    assert d.mean == 0.75 and d.n == 4
    color = T.adoption_metric("color")
    assert sw.difference(color, dict(arm="top"), dict(arm="top")).ci == (0.0, 0.0)
    # the kind "background" and the attribute "background" are two metrics
    assert {"background", T.adoption_metric("background")} <= set(sw.metrics)
    with pytest.raises(ValueError, match="metric 'texture' was not measured"):
        sw.estimate("texture", arm="top")
    with pytest.raises(ValueError, match="no condition"):
        sw.estimate("layout", arm="bottom")
    with pytest.raises(ValueError, match="name one of each"):
        sw.estimate("layout")
    with pytest.raises(TypeError):
        sw.difference("layout", "top", "random")
    top = sw.select(arm="top")
    assert type(top) is T.Sweep and top.rows() == [r]


def test_transport_reading_quotes_the_kinds_with_intervals():
    from massact import readings

    spec = {"alpha": 1.0, "mask": "none", "blocks": "all", "steps": "all", "k": 16, "target_preservation": 0.8,
            "n": 32, "source_adoption": {"position": 1.0, "color": 0.0}}
    rows = [{**spec, "arm": "top", "adoption": {"layout": 0.9, "identity": 0.05},
             "adoption_ci": {"layout": [0.8, 0.97], "identity": [0.0, 0.12]}},
            {**spec, "arm": "random", "source_adoption": {"position": 0.4, "color": 0.0},
             "adoption": {"layout": 0.4, "identity": 0.0}, "adoption_ci": {"layout": [0.3, 0.5], "identity": [0.0, 0.0]}}]
    kinds = readings.transport_by_kind(rows)
    assert kinds["layout"]["verdict"] == "carried" and kinds["identity"]["verdict"] == "not carried"
    text = readings.transport(rows)
    assert "layout: top-16 0.90 [0.80, 0.97], random-16 0.40 [0.30, 0.50]" in text
    assert "carry layout" in text and "do not carry identity" in text


# -- one result from two probes of the same images ---------------------------------------------------
def test_merged_probes_equal_one_probe_and_controls_read_where_run(tiny):
    cal = massact.calibrate(tiny, prompts=world.caption_set(3, world.CALIBRATION_SEED), num_steps=2)
    prompts, seeds = world.caption_set(4, world.EVALUATION_SEED), [0, 1, 2, 3]
    common = dict(draws=2, num_steps=2)
    dose = C.probe(tiny, cal, prompts, seeds, ks=(1, 2), **common)
    mean = C.probe(tiny, cal, prompts, seeds, ks=(2,), ablation=("mean",), baseline_images=dose.clean_images,
                   **common)
    both = dose.merged(mean)
    once = C.probe(tiny, cal, prompts, seeds, ks=(2,), ablation=("zero", "mean"), **common)
    key = lambda r: (r["arm"], r["k"], r["ablation"])  # noqa: E731
    got = {key(r): r for r in both.table()}
    assert set(got) == {key(r) for r in once.table()} | {(a, 1, "zero") for a in ("top", "bottom", "random")}
    for r in once.table():  # same images, same edits: the same numbers and intervals
        g = got[key(r)]
        for m in ("caption_accuracy", "pixel_mse", "detail_ratio"):
            assert g[m] == pytest.approx(r[m]) and g[f"{m}_ci"] == pytest.approx(r[f"{m}_ci"]), (key(r), m)
    assert sorted(both.meta["ks"]) == [1, 2] and set(both.meta["ablations"]) == {"zero", "mean"}
    # the controls' reading is there at k = 2 (mean ablation run), empty of them at k = 1
    from massact import readings

    assert "Mean ablation" in readings.critical_controls(both, k=2)
    assert "Mean ablation" not in readings.critical_controls(both, k=1)
    assert "top_mean-clean" not in readings.critical_verdict(both, k=1)["intervals"]
    other = C.probe(tiny, cal, prompts[:3], seeds[:3], ks=(2,), **common)
    with pytest.raises(ValueError, match="same prompts, seeds"):
        dose.merged(other)
    with pytest.raises(TypeError, match="ProbeResult"):
        dose.merged(dose.table())


# -- the top-1 signature: zeroing against mean-setting the largest channel -----------------------
def test_top1_ablation_pairs_both_removals_on_the_same_images(tiny):
    prompts = world.caption_set(3, 5)
    cal = massact.calibrate(tiny, world.caption_set(3, 6), num_steps=4)
    res = C.top1_ablation(tiny, cal, prompts, seeds=[11, 12, 13], num_steps=4)
    assert res["n"] == 3 and res["k"] == 1
    assert res["top_channel"] == [int(c) for c in cal.score("absmean").argmax(dim=1)]
    for key in ("caption_accuracy_zero", "caption_accuracy_mean", "caption_accuracy_zero_minus_mean",
                "pixel_mse_zero", "pixel_mse_mean", "pixel_mse_zero_minus_mean"):
        est = res[key]
        assert est["n"] == 3 and est["ci"][0] <= est["mean"] <= est["ci"][1], key
    # a paired difference of means is the difference of the means (same images, same order)
    assert res["pixel_mse_zero_minus_mean"]["mean"] == pytest.approx(
        res["pixel_mse_zero"]["mean"] - res["pixel_mse_mean"]["mean"], abs=2e-6)
    assert res["caption_accuracy_zero_minus_mean"]["mean"] == pytest.approx(
        res["caption_accuracy_zero"]["mean"] - res["caption_accuracy_mean"]["mean"], abs=2e-4)


def _planted(zero, mean, n=64):
    iv = lambda m, w=0.02: {"mean": m, "ci": [m - w, m + w], "n": n}  # noqa: E731
    return {"n": n, "caption_accuracy_zero": iv(zero), "caption_accuracy_mean": iv(mean),
            "caption_accuracy_zero_minus_mean": iv(zero - mean), "pixel_mse_zero": iv(0.01, 0.001),
            "pixel_mse_mean": iv(0.001, 0.0005), "pixel_mse_zero_minus_mean": iv(0.009, 0.001)}


def test_top1_reading_tells_the_three_cases_apart():
    from massact import readings

    bias = readings.top1_ablation(_planted(0.40, 0.01))
    assert "needs the channel's value but not its variation" in bias and "0.39 [0.37, 0.41]" in bias
    assert "does not need its largest channel" in readings.top1_ablation(_planted(0.01, 0.0))
    assert "Both removals hurt" in readings.top1_ablation(_planted(0.40, 0.30))
    assert "no verdict at 64 images" in readings.top1_ablation(_planted(0.05, 0.0))
    assert "no verdict at 64 images" in readings.top1_ablation(_planted(0.40, 0.05))  # mean-setting unresolved
    assert "hurts while zeroing it does not" in readings.top1_ablation(_planted(0.01, 0.30))
    no_judge = {k: v for k, v in _planted(0.4, 0.0).items() if not k.startswith("caption")}
    assert "not whether they break" in readings.top1_ablation(no_judge)


# -- the massive set and the timestep profile (planted statistics) ---------------------------------
def _planted_stats():
    # 2 rows, 2 blocks, 3 steps, 8 channels: every channel 1.0, except block 0 where channel 5 is
    # 150x, 20x, 5x the rest at steps 0, 1, 2 (mean 58.3x) and channel 2 is 12x at every step
    am = torch.ones(2, 2, 3, 8)
    am[:, 0, :, 5] = torch.tensor([150.0, 20.0, 5.0])
    am[:, 0, :, 2] = 12.0
    am[:, 1, :, 7] = torch.tensor([2.0, 4.0, 8.0])
    return ChannelStats(am, am.clone(), am.clone(), blocks=(0, 1), steps=(0, 1, 2))


def test_massive_set_counts_channels_over_ten_and_a_hundred_times_the_median():
    rows = _planted_stats().ratio_table()
    assert (rows[0]["massive_set_10x"], rows[0]["massive_set_100x"]) == (2, 0)  # 58.3x and 12x
    assert (rows[1]["massive_set_10x"], rows[1]["massive_set_100x"]) == (0, 0)  # 4.7x at most
    st = _planted_stats()
    assert st.massive_set_size() == 1.0  # the median of 2 and 0 channels: what the curves over k mark
    assert st.massive_set_size(100) == 0.0
    with pytest.raises(ValueError, match="one of"):
        st.massive_set_size(20)


def test_step_profile_follows_the_pooled_top_channel_per_step():
    from massact.readings import step_profile as step_profile_text

    prof = _planted_stats().step_profile()
    assert [r["step"] for r in prof] == [0, 1, 2]
    assert prof[0]["top_channel"] == [5, 7]
    assert [r["top_channel_value"][0] for r in prof] == [150.0, 20.0, 5.0]
    assert [r["top1_over_median"][0] for r in prof] == [150.0, 20.0, 12.0]  # at step 2 channel 2 leads
    assert [r["top_channel_value"][1] for r in prof] == [2.0, 4.0, 8.0]
    assert "falls toward the clean image" in step_profile_text(prof, 0)
    assert "rises toward the clean image" in step_profile_text(prof, 1) and "this model agrees" in \
        step_profile_text(prof, 1)
