"""Activation transport (claim 3): exactness at alpha 0 / 1, empty masks, errors, hooks, report schema, widgets.

Runs on the shipped toy weights with few sampling steps: every property here holds for any
weights (it is about the arithmetic of the edit, not about what the model learned).
"""
import math

import pytest
import torch

import massact
from massact import readings
from massact.claims import transport as T
from massact.specs import Alpha, check_alpha
from tiny_models import hooks_installed


STEPS = 3
SRC = ["a large red circle at the left on a black background", "a small green triangle at the top on a gray background"]
TGT = ["a small blue square at the right on a white background", "a large yellow circle at the bottom on a black background"]
SEEDS = [3, 4]



@pytest.fixture(scope="module")
def score(model):
    from massact.toy import world

    g = massact.generate(model, world.caption_set(2, world.CALIBRATION_SEED), [1000, 1001], num_steps=2, capture=True)
    return g.stats.score("absmean")


@pytest.fixture(scope="module")
def clean(model):
    return T.clean_pass(model, SRC, TGT, SEEDS, num_steps=STEPS, keep=((3, 1),))


def test_alpha_zero_is_the_target_bit_for_bit(model, score, clean):
    for spec in (T.TransportSpec("top", 4, alpha=0.0), T.TransportSpec("top", model.width, alpha=0.0),
                 T.TransportSpec("random", 8, alpha=0.0, mask="source")):
        res = T.transport(model, SRC, TGT, SEEDS, spec, score=score, clean=clean, mask_at=(3, 1))
        # one spec: the transport batch [sources, targets] has the clean pass's shape, and
        # x * (1 - 0 M) + x_s * 0 M == x exactly
        assert torch.equal(res.outputs[0], clean.target_images), spec
    assert hooks_installed(model.transformer) == 0


def test_alpha_one_all_channels_no_mask_is_the_source(model, clean):
    spec = T.TransportSpec("top", model.width, alpha=1.0)  # every channel, every block, every step
    res = T.transport(model, SRC, TGT, SEEDS, spec, clean=clean)
    out, src, tgt = res.outputs[0], clean.source_images, clean.target_images
    # Close, not exact: every block's image stream is the source's, but the transformer's last
    # layer (norm_out, an AdaLayerNorm) is modulated by the *target's* pooled text embedding,
    # so the velocity differs a little. The next test removes that path and gets exactness.
    assert ((out - src) ** 2).mean() < 0.1 * ((tgt - src) ** 2).mean()


def test_alpha_one_is_exact_once_the_final_norm_sees_the_source(model, clean):
    """The only path by which the target still matters at alpha 1 is norm_out's text modulation."""
    n = len(SRC)

    def copy_source_rows(module, args, output):
        out = output.clone()
        for half in range(out.shape[0] // (2 * n)):  # CFG batch [uncond rows; cond rows]
            base = half * 2 * n
            out[base + n: base + 2 * n] = out[base: base + n]
        return out

    h = model.transformer.norm_out.register_forward_hook(copy_source_rows)
    try:
        res = T.transport(model, SRC, TGT, SEEDS, T.TransportSpec("top", model.width), clean=clean)
    finally:
        h.remove()
    assert torch.equal(res.outputs[0], clean.source_images)
    assert hooks_installed(model.transformer) == 0


def test_empty_token_mask_changes_nothing(model, score, clean):
    empty = torch.zeros(len(SRC), model.num_image_tokens, dtype=torch.bool)
    res = T.transport(model, SRC, TGT, SEEDS, T.TransportSpec("top", model.width, mask="source"), score=score,
                      clean=clean, masks={"source": empty})
    assert torch.equal(res.outputs[0], clean.target_images)


def test_spatial_mask_is_read_from_the_clean_tokens(model, score, clean):
    res = T.transport(model, SRC, TGT, SEEDS, [T.TransportSpec("top", 4, mask="source"),
                                               T.TransportSpec("top", 4, mask="target")],
                      score=score, clean=clean, mask_at=(3, 1))
    assert res.outputs.shape == (2, len(SRC), 3, 32, 32)
    for w in ("source", "target"):
        assert res.masks[w].shape == (len(SRC), model.num_image_tokens) and res.masks[w].dtype == torch.bool
    with pytest.raises(KeyError, match="not kept"):
        T.transport(model, SRC, TGT, SEEDS, T.TransportSpec(mask="source"), score=score, clean=clean, mask_at=(2, 0))


@pytest.mark.parametrize("kwargs, match", [
    (dict(sources=SRC, targets=TGT[:1]), "2 sources but 1 targets"),
    (dict(seeds=[1, 2, 3]), "3 seeds for 2"),
    (dict(sources="a red circle"), "lists of prompts"),
    (dict(sources=[], targets=[]), "no pairs"),
])
def test_mismatched_inputs_give_clear_errors(model, score, kwargs, match):
    args = dict(sources=SRC, targets=TGT, seeds=SEEDS)
    args.update(kwargs)
    with pytest.raises((ValueError, TypeError), match=match):
        T.transport(model, args["sources"], args["targets"], args["seeds"], T.TransportSpec(), score=score, num_steps=STEPS)
    assert hooks_installed(model.transformer) == 0


@pytest.mark.parametrize("alpha", [-0.1, 1.5, float("nan"), True, "0.5"])
def test_alpha_outside_unit_interval(alpha):
    with pytest.raises(ValueError, match="alpha"):
        T.TransportSpec(alpha=alpha)
    with pytest.raises(ValueError, match="alpha"):
        T.pixel_blend(torch.zeros(1, 3, 4, 4), torch.ones(1, 3, 4, 4), alpha)


@pytest.mark.parametrize("spec_kwargs, match", [
    (dict(k=0), "k"), (dict(k=10_000), "k 10000 out of range"), (dict(blocks=(99,)), "blocks"),
    (dict(blocks=()), "empty"), (dict(steps=(STEPS,)), "steps"), (dict(arm="best"), "arm"), (dict(mask="both"), "mask"),
])
def test_bad_settings(model, score, clean, spec_kwargs, match):
    with pytest.raises(ValueError, match=match):
        spec = T.TransportSpec(**spec_kwargs)
        T.transport(model, SRC, TGT, SEEDS, spec, score=score, clean=clean)
    assert hooks_installed(model.transformer) == 0


def test_spec_is_a_selection_plus_alpha_and_mask(model, score):
    from massact import Selection

    sel = Selection("random", 3, blocks="2-4", steps="late", seed=2)
    spec = T.TransportSpec("random", 3, alpha=0.5, mask="source", blocks="2-4", steps="late", seed=2)
    assert spec.selection == sel and spec == T.TransportSpec(selection=sel, alpha=0.5, mask="source")
    assert (spec.arm, spec.k, spec.blocks, spec.steps, spec.seed) == ("random", 3, (2, 3, 4), "late", 2)
    assert spec.replace(alpha=1.0).alpha == 1.0 and spec.replace(k=5).selection == Selection("random", 5, "2-4",
                                                                                             "late", 2)
    with pytest.raises(ValueError, match="not both"):
        T.TransportSpec(k=8, selection=sel)
    with pytest.raises(TypeError, match="Selection"):
        T.TransportSpec(selection="top")
    # ranges resolved against the model and the run; the edit is the selection's "mix" at the spec's alpha
    sel = spec.selection
    assert sel.block_indices(model.num_blocks, model.width) == (2, 3, 4) and sel.step_indices(4) == (2, 3)
    e = sel.edit(score, 4, "mix", alpha=spec.alpha, source_rows=((1, 0),))
    assert e.op == "mix" and e.alpha == 0.5 and e.steps == (2, 3)
    assert e.channels == massact.channel_set(score, 3, "random", blocks=(2, 3, 4), seed=2)
    full = T.TransportSpec("top", model.width)  # every channel, whatever the ranking
    flat = torch.zeros(model.num_blocks, model.width)
    assert full.selection.channels(flat) == full.selection.channels(score) == \
        {b: tuple(range(model.width)) for b in range(model.num_blocks)}
    one = T.TransportSpec(blocks=(0,))
    e1 = one.selection.edit(score, 4, "mix", alpha=one.alpha, source_rows=((1, 0),))
    assert e1.op == "mix" and e1.alpha == 1.0  # alpha 1 replaces
    # alpha is checked once, by the spec: the edit keeps the checked value as it is
    assert isinstance(spec.alpha, Alpha) and e.alpha is spec.alpha and check_alpha(spec.alpha) is spec.alpha
    with pytest.raises(ValueError, match=r"alpha 1\.5 out of range"):
        Alpha(1.5)
    assert T.TransportSpec("top", 4, steps="early").row(model.num_blocks, 4)["steps"] == [0, 1]
    assert T.TransportSpec().label == "top-4, alpha 1" and "blocks 2-4" in spec.label


def test_needs_a_score_for_channel_arms(model, clean):
    with pytest.raises(ValueError, match="score"):
        T.transport(model, SRC, TGT, SEEDS, T.TransportSpec("top", 4), clean=clean)


def test_no_hooks_left_when_sampling_fails(model, score):
    block = model.blocks[2].module
    calls = {"n": 0}

    def boom(module, args, output):
        calls["n"] += 1
        if calls["n"] == 2:
            raise RuntimeError("boom")

    h = block.register_forward_hook(boom)
    try:
        with pytest.raises(RuntimeError, match="boom"):
            T.transport(model, SRC, TGT, SEEDS, T.TransportSpec("top", 4), score=score, num_steps=STEPS)
    finally:
        h.remove()
    assert hooks_installed(model.transformer) == 0


def test_measure_reads_adoption_and_preservation(model, clean):
    m = model.metrics()
    src, tgt = clean.source_images, clean.target_images
    as_source = T.measure(m, src, tgt, src)
    as_target = T.measure(m, src, tgt, tgt)
    for a, v in as_source["source_adoption"].items():
        assert v is None or v == 1.0
        assert as_target["source_adoption"][a] in (None, 0.0)
    assert as_target["target_preservation"] == 1.0
    assert as_target["mask_iou"] == 1.0


def test_pixel_blend_and_embedding_lerp(model):
    a, b = torch.zeros(1, 3, 32, 32), torch.ones(1, 3, 32, 32)
    assert torch.equal(T.pixel_blend(b, a, 0.0), a) and torch.equal(T.pixel_blend(b, a, 1.0), b)
    assert torch.allclose(T.pixel_blend(b, a, 0.25), torch.full_like(a, 0.25))
    imgs = T.embedding_lerp(model, SRC[:1], TGT[:1], SEEDS[:1], [0.0, 1.0], num_steps=STEPS)
    ref = massact.generate(model, [TGT[0], SRC[0]], SEEDS[:1] * 2, num_steps=STEPS).images
    # lerp weights 0 and 1 return one embedding exactly; the sampler loop is the model's own
    # (float round-off only from the different batch shape)
    assert torch.allclose(imgs[0, 0], ref[0], atol=1e-4) and torch.allclose(imgs[1, 0], ref[1], atol=1e-4)

    class FakeRealModel:
        name = "some/pipeline"

    with pytest.raises(NotImplementedError, match="step by step"):
        T.embedding_lerp(FakeRealModel(), SRC, TGT, SEEDS, 0.5)


def test_reading_is_computed_from_the_numbers():
    rows = [{"arm": arm, "k": 4, "alpha": 1.0, "mask": "none", "blocks": "all", "steps": "all",
             "source_adoption": {"position": pos, "color": 0.0}, "target_preservation": 0.8}
            for arm, pos in (("top", 0.9), ("bottom", 0.1), ("random", 0.2))]
    moves = readings.what_moves(rows)
    assert moves["position"]["verdict"] == "moves" and moves["color"]["verdict"] == "stays"
    text = readings.transport(rows)
    assert "position follows the source's top-4" in text and "90%" in text and "color stays with the target" in text
    assert "carry more of the source" in text
    rows[2]["source_adoption"]["position"] = 0.85  # random-4 moves it as often: not specific
    assert readings.what_moves(rows)["position"]["verdict"] == "unspecific"
    assert "no more of the source than random-4" in readings.transport(rows)
    rows[0]["source_adoption"]["position"] = 0.15
    assert readings.what_moves(rows)["position"]["verdict"] == "stays"


ROW_KEYS = {"arm", "k", "alpha", "mask", "blocks", "steps", "source_adoption", "target_preservation", "n",
            "adoption", "adoption_ci", "source_adoption_ci", "target_preservation_ci",
            "pixel_mse_to_target", "pixel_mse_to_source", "pixel_shift", "pixel_shift_ci"}


def _quick_ctx(model):
    from massact.report import ReportContext
    from massact.toy import world

    ctx = ReportContext(model, model.metrics(), world.caption_set(4, world.EVALUATION_SEED),
                        world.caption_set(8, world.CALIBRATION_SEED), [0, 1], quick=True, progress=False)
    # a cheap calibration (2 prompts, 2 steps) so the test does not pay for the report's
    ctx.cache["calibration"] = massact.generate(model, ctx.calibration_prompts[:2], [1000, 1001], num_steps=2,
                                                capture=True).stats
    return ctx


def test_report_section_schema(model):
    import json

    from massact.report import sections

    s = sections.build("transport", _quick_ctx(model))
    assert s.name == "transport" and s.text
    assert set(s.results) == {"rows", "over_k", "carry", "random_outside", "massive_set_10x_median"}
    rows = s.results["rows"]
    # the rows filter themselves
    assert [r["arm"] for r in rows.select(mask="none", k=4, alpha=1.0, blocks="all", steps="all")] == \
        ["top", "bottom", "random"]
    assert {r["arm"] for r in rows.select(arm={"pixel_blend", "embedding_lerp"})} == {"pixel_blend",
                                                                                  "embedding_lerp"}
    assert s.inputs["pairs_from"].startswith("model.world.caption_pairs") and len(s.inputs["pairs"]) == 2
    json.dumps(s.results)
    arms = [r["arm"] for r in rows]
    assert {"top", "bottom", "random", "pixel_blend", "embedding_lerp"} <= set(arms)
    # the random arm is the clean control, drawn outside the curve's largest k, and says so
    ks = sections.SIZES["quick"].transport_ks
    assert s.results["random_outside"] == max(ks) and "outside each block's top-16" in s.text
    for r in rows:
        assert set(r) == (ROW_KEYS | {"outside"} if r["arm"] == "random" else ROW_KEYS)
        assert r["arm"] in ("top", "bottom", "random", "pixel_blend", "embedding_lerp")
        assert r["mask"] in ("spatial", "none")
        assert 0.0 <= r["alpha"] <= 1.0
        if r["arm"] == "random":
            assert r["outside"] == max(ks)
        if r["arm"] in ("top", "bottom", "random"):
            assert isinstance(r["k"], int)
            assert r["blocks"] == "all" or all(isinstance(b, int) for b in r["blocks"])
            assert r["steps"] == "all" or all(isinstance(b, int) for b in r["steps"])
        assert set(r["source_adoption"]) == set(model.metrics().attributes)
        for v in list(r["source_adoption"].values()) + [r["target_preservation"]]:
            assert v is None or (0.0 <= v <= 1.0 and not math.isnan(v))
    assert any(r["mask"] == "spatial" for r in rows)
    # each setting once: the curve's k = 4 points are the section's three arms, the carry's top-16 and
    # random-16 are points of the curve
    settings = [(r["arm"], r["k"], r["alpha"], r["mask"], str(r["blocks"]), str(r["steps"])) for r in rows]
    assert len(settings) == len(set(settings))
    assert {(r["arm"], r["k"]) for r in rows.select(alpha=1.0, mask="none")} >= \
        {(arm, k) for arm in T.ARMS for k in ks} | {("top", model.width), ("bottom", model.width - max(ks))}
    assert s.results["over_k"]["ks"] == list(ks)
    assert [r["attribute"] for r in s.results["carry"]] == ["position", "size", "shape", "color", "background"]
    assert len(s.figures) == 3 and s.images and s.images[0][1].startswith("data:image/png;base64,")
    assert hooks_installed(model.transformer) == 0


def test_the_sweep_is_one_result_shape_whose_rows_are_the_measured_numbers(model, score, clean):
    import json

    from massact.claims.results import Results, interval

    specs = [T.TransportSpec("top", 4), T.TransportSpec("random", 4), T.TransportSpec("top", 4, mask="source")]
    sw = T.sweep(model, SRC, TGT, SEEDS, specs, score, baselines=(0.5,), clean=clean, mask_at=(3, 1))
    assert [c["arm"] for c in sw.conditions] == ["top", "random", "top", "pixel_blend", "embedding_lerp"]
    rows = sw.rows()
    assert all(set(r) == ROW_KEYS for r in rows) and len(rows) == len(sw)
    metrics = model.metrics()
    for cond, r, out in zip(sw.conditions, rows, list(sw.result.outputs) + list(sw.baselines.values())):
        m = T.measure(metrics, sw.result.sources, sw.result.targets, out)  # the set-level numbers, measured again
        assert r["n"] == len(SRC) and r["target_preservation"] == round(m["target_preservation"], 4)
        assert r["pixel_mse_to_target"] == pytest.approx(m["pixel_mse_to_target"], rel=1e-3)
        assert r["source_adoption"] == {a: None if v is None else round(v, 4) for a, v in m["source_adoption"].items()}
        assert r["adoption"] == {kind: None if v is None else round(v, 4) for kind, v in m["adoption"].items()}
        for a, v in m["source_adoption"].items():  # each interval is the estimate's, rounded one way
            assert r["source_adoption_ci"][a] == (None if v is None else
                                                  interval(sw.estimate(T.adoption_metric(a), **cond), 4))
        est = sw.estimate("pixel_shift", **cond)
        assert r["pixel_shift"] == round(est.mean, 4) and r["pixel_shift_ci"] == interval(est, 4)
    d = sw.difference("pixel_shift", dict(arm="top"), dict(arm="random"), k=4, mask="none")
    assert d.n == len(SRC)
    top = sw.select(arm="top")
    assert type(top) is T.Sweep and len(top) == 2 and top.rows() == rows.select(arm="top")
    back = Results.from_json(json.loads(json.dumps(sw.to_json())))
    assert back.table() == sw.table() and (back.claim, back.item) == ("transport", "pair")
    assert hooks_installed(model.transformer) == 0


def test_explorer_updates_its_image(model, score):
    from massact.widgets.transport import TransportExplorer

    ex = TransportExplorer(model, SRC[0], TGT[0], SEEDS[0], score=score, num_steps=STEPS, live=False)
    assert ex.last_error is None and ex.image.value
    before = ex.image.value
    ex.k.value = model.width  # every channel: the output becomes (almost) the source
    ex.update()
    assert ex.last_error is None and ex.image.value != before
    before = ex.image.value
    ex.mask.value = "source"  # adds the mask overlay column
    ex.update()
    assert ex.last_error is None and ex.image.value != before
    assert "source adoption" in ex.html.value
    ex.live.value = True
    ex.alpha.value = 0.0  # live: the change recomputes
    assert torch.equal(ex.result.outputs[0], ex.clean.target_images)
    assert hooks_installed(model.transformer) == 0


def test_the_transport_run_button_shows_what_transport_computes(model, score, monkeypatch):
    """Driven through its button: the output is T.transport()'s with the spec the controls describe,
    bit for bit, and the adoption the panel prints is T.measure()'s on it; a control change
    changes it; a failed run is shown in the status line and the next run works."""
    from massact.widgets.transport import TransportExplorer

    ex = TransportExplorer(model, SRC[0], TGT[0], SEEDS[0], score=score, num_steps=STEPS, live=False)
    ex.alpha.value, ex.k.value, ex.arm.value, ex.blocks.value = 0.5, 8, "random", (1, 4)
    ex.run_button.click()
    assert ex.last_error is None and ex.status.value.startswith("done")
    spec = T.TransportSpec("random", 8, 0.5, "none", blocks=(1, 2, 3, 4))
    assert ex.spec() == spec
    want = T.transport(model, [SRC[0]], [TGT[0]], [SEEDS[0]], spec, score=score, clean=ex.clean, mask_at=ex.mask_at)
    assert torch.equal(ex.result.outputs[0], want.outputs[0])
    m = T.measure(ex.metrics, want.sources, want.targets, want.outputs[0])
    assert ex.measure == m and spec.label in ex.html.value
    strip = ex.image.value
    ex.steps.value = (0, 1)
    ex.run_button.click()
    early = spec.replace(steps=(0, 1))
    assert ex.last_error is None and ex.spec() == early and ex.image.value != strip
    got = T.transport(model, [SRC[0]], [TGT[0]], [SEEDS[0]], early, score=score, clean=ex.clean, mask_at=ex.mask_at)
    assert torch.equal(ex.result.outputs[0], got.outputs[0]) and early.label in ex.html.value
    # a failed run is shown, not raised; the next run is whole again
    with monkeypatch.context() as mp:
        mp.setattr(T, "transport", lambda *a, **k: 1 / 0)
        ex.run_button.click()
    assert isinstance(ex.last_error, ZeroDivisionError) and ex.status.value.startswith("error: ZeroDivisionError")
    assert "division by zero" in ex.html.value and not ex.run_button.disabled
    ex.steps.value = (0, STEPS - 1)
    ex.run_button.click()
    assert ex.last_error is None and ex.status.value.startswith("done") and ex.spec() == spec
    assert torch.equal(ex.result.outputs[0], want.outputs[0]) and ex.measure == m
    assert hooks_installed(model.transformer) == 0


# -- pixel distances: what every model measures (no judge needed) ------------------------------
def test_pixel_shift_and_distances_on_hand_made_images():
    from massact.metrics import RealMetrics

    g = torch.Generator().manual_seed(0)
    src, tgt = torch.rand(3, 3, 8, 8, generator=g), torch.rand(3, 3, 8, 8, generator=g)
    m = RealMetrics()
    for out, shift in ((tgt, 0.0), (src, 1.0), ((src + tgt) / 2, 0.5)):
        got = T.measure(m, src, tgt, out)
        assert got["pixel_shift"] == pytest.approx(shift, abs=1e-6)
        assert got["pixel_mse_to_target"] == pytest.approx(float(((out - tgt) ** 2).mean()), abs=1e-7)
        spec = {"arm": "top", "k": 4, "alpha": 1.0, "mask": "none", "blocks": "all", "steps": "all"}
        (row,) = T.Sweep.from_measures([spec], [got]).rows()
        assert row["pixel_shift"] == pytest.approx(shift, abs=1e-4) and row["source_adoption"] == {}
        assert row["pixel_shift_ci"][0] <= row["pixel_shift"] <= row["pixel_shift_ci"][1]
        assert row["pixel_mse_to_source"] == pytest.approx(got["pixel_mse_to_source"], abs=1e-4)
    # a pair whose output equals both images tests nothing (NaN), the others still count
    same = src.clone()
    same[0] = tgt[0] = src[0]
    got = T.measure(m, same, tgt, tgt)
    assert math.isnan(got["per_pair"]["pixel_shift"][0]) and got["pixel_shift"] == 0.0


def test_transport_reading_from_pixel_distances_only():
    def row(arm, shift, ci):
        return {"arm": arm, "k": 4, "alpha": 1.0, "mask": "none", "blocks": "all", "steps": "all", "n": 5,
                "source_adoption": {}, "adoption": {}, "target_preservation": None,
                "pixel_shift": shift, "pixel_shift_ci": ci, "pixel_mse_to_target": 0.1, "pixel_mse_to_source": 0.2}

    rows = [row("top", 0.6, [0.5, 0.7]), row("bottom", 0.1, [0.05, 0.15]), row("random", 0.2, [0.1, 0.3])]
    text = readings.transport(rows)
    assert "nothing to compare" not in text and "pixel distances only" in text
    assert "0.60 [0.50, 0.70]" in text and "further than equally many other channels" in text
    rows[2]["pixel_shift_ci"] = [0.4, 0.65]  # random overlaps top: not separated
    assert "not separated from the controls" in readings.transport(rows)
    rows[0]["pixel_shift"] = None  # no distances at all: nothing to read
    assert "nothing to compare" in readings.transport(rows)


# -- the claim over k and what the channels carry ---------------------------------------------------
CURVE_KS = (2, 16)


@pytest.fixture(scope="module")
def curve(model, score, clean):
    """The curve at k = 2 and 16 (random drawn outside the top-16) and the carry table at 16, one sweep."""
    specs = list(dict.fromkeys(T.over_k_specs(CURVE_KS) + T.carry_specs(max(CURVE_KS), model.width)))
    return T.sweep(model, SRC, TGT, SEEDS, specs, score, clean=clean)


def _is_summary(s, n=None):
    return (set(s) == {"mean", "ci", "n"} and s["ci"][0] - 1e-9 <= s["mean"] <= s["ci"][1] + 1e-9
            and isinstance(s["n"], int) and 1 <= s["n"] <= len(SRC) and (n is None or s["n"] == n))


def test_the_curve_has_n_and_intervals_on_every_point(model, curve):
    from massact.stats import VERDICTS, verdict

    ov = T.over_k(curve)
    assert ov["ks"] == list(CURVE_KS) and ov["random_outside"] == max(CURVE_KS) and ov["n"] == len(SRC)
    assert list(ov["kinds"]) == list(T.ATTRIBUTE_KINDS)
    assert list(ov["attributes"]) == ["position", "size", "shape", "color", "background"]
    tested = 0
    for group in ("kinds", "attributes", "pixel_shift"):
        for metric, e in ov[group].items():
            assert [r["k"] for r in e["per_k"]] == list(CURVE_KS)
            name = T.adoption_metric(metric) if group == "attributes" else metric
            for r in e["per_k"]:
                if r["status"] is None:  # no pair differs in it: nothing on any arm
                    assert set(r["adoption"].values()) == {None} and r["top-random"] is None
                    continue
                tested += 1
                assert r["status"] in VERDICTS and set(r["verdict"]) == {"random", "bottom"}
                for arm in T.ARMS:
                    assert _is_summary(r["adoption"][arm]), (metric, r)
                    want = curve.estimate(name, arm=arm, k=r["k"], **T.CURVE_WHERE)
                    assert r["adoption"][arm]["mean"] == round(want.mean, 4)
                for c in ("random", "bottom"):
                    d = curve.difference(name, dict(arm="top"), dict(arm=c), k=r["k"], **T.CURVE_WHERE)
                    assert _is_summary(r[f"top-{c}"], d.n) and r["verdict"][c] == verdict(d, ov["minimum"])
                assert r["status"] == max(r["verdict"].values(), key=VERDICTS.index)
            assert e["holds"] == [r["k"] for r in e["per_k"] if r["status"] == "reproduced"]
    # the pixel shift exists for every pair, so every point of its curve is measured
    assert all(r["status"] is not None for r in ov["pixel_shift"]["pixel_shift"]["per_k"]) and tested >= 2
    assert readings.transport_over_k(ov).startswith("Transport over k")
    with pytest.raises(ValueError, match="over_k_specs"):
        T.over_k(curve.select(arm="top"))


def test_the_random_arm_of_the_curve_never_holds_a_top_channel(model, score, curve):
    from massact import Selection

    top16 = Selection("top", max(CURVE_KS)).channels(score)
    randoms = [(s, ch) for s, ch in zip(curve.result.specs, curve.result.channels) if s.arm == "random"]
    assert [s.k for s, _ in randoms] == list(CURVE_KS) and all(s.outside == 16 for s, _ in randoms)
    for spec, channels in randoms:  # the channels the edit moved
        assert set(channels) == set(range(model.num_blocks))
        for b, chans in channels.items():
            assert len(chans) == spec.k and not set(chans) & set(top16[b]), (spec, b)
    # a uniform draw of 16 channels does hold top-16 channels: the check above can fail
    uniform = Selection("random", 16).channels(score)
    assert any(set(uniform[b]) & set(top16[b]) for b in uniform)
    assert [c.get("outside") for c in curve.conditions if c["arm"] == "random"] == [16, 16]
    assert T.TransportSpec("random", 4, outside=16).label == "random-4, alpha 1 (seed 0, outside the top-16)"
    with pytest.raises(ValueError, match="random and energy arms only"):
        T.TransportSpec("top", 4, outside=16)


@pytest.mark.parametrize("k", [1, 16, 100])
def test_all_but_the_top_k_is_the_complement_of_the_top_k(model, score, k):
    allc, top_spec, _, rest_spec = T.carry_specs(k, model.width, outside=0)
    top, rest = top_spec.selection.channels(score), rest_spec.selection.channels(score)
    for b in range(model.num_blocks):
        assert not set(top[b]) & set(rest[b]) and set(top[b]) | set(rest[b]) == set(range(model.width))
    assert (allc.arm, allc.k) == ("top", model.width) and (rest_spec.arm, rest_spec.k) == ("bottom", model.width - k)
    with pytest.raises(ValueError, match="k"):
        T.carry_specs(model.width, model.width)
    with pytest.raises(ValueError, match="outside"):
        T.carry_specs(100, model.width)  # a random-100 outside the top-100 does not fit in 128 channels


def test_the_carry_table_has_the_four_sets_per_attribute(model, curve):
    from massact.stats import verdict

    rows = T.carry(curve, 16, model.width)
    assert [r["attribute"] for r in rows] == ["position", "size", "shape", "color", "background"]
    where = {"all": dict(arm="top", k=model.width), "top": dict(arm="top", k=16), "random": dict(arm="random", k=16),
             "all_but_top": dict(arm="bottom", k=model.width - 16)}
    measured = 0
    for r in rows:
        assert set(r["adoption"]) == set(T.CARRY_SETS) == set(where)
        assert (r["k"], r["width"], r["random_outside"]) == (16, model.width, 16)
        metric = T.adoption_metric(r["attribute"])
        for name, s in r["adoption"].items():
            if s is None:
                continue
            measured += 1
            assert _is_summary(s) and s["mean"] == round(curve.estimate(metric, **where[name], **T.CURVE_WHERE).mean, 4)
        if r["top-random"] is not None:
            d = curve.difference(metric, where["top"], where["random"], **T.CURVE_WHERE)
            assert _is_summary(r["top-random"], d.n) and r["verdict"]["top-random"] == verdict(d, T.OVER_K_MINIMUM)
            d = curve.difference(metric, where["all_but_top"], where["top"], **T.CURVE_WHERE)
            assert _is_summary(r["all_but_top-top"], d.n)
    assert measured >= 4 * 3  # most attributes differ in both pairs
    with pytest.raises(ValueError, match=r"carry_specs\(8, "):
        T.carry(curve, 8, model.width)


def _point(k, top, random, bottom, status, verdicts):
    s = lambda m: {"mean": m, "ci": [m - 0.1, m + 0.1], "n": 32}  # noqa: E731
    return {"k": k, "adoption": {"top": s(top), "bottom": s(bottom), "random": s(random)},
            "top-random": s(top - random), "top-bottom": s(top - bottom), "verdict": verdicts, "status": status}


def test_the_over_k_reading_names_where_transport_holds():
    per_k = [_point(2, 0.05, 0.04, 0.03, "not reproduced", {"random": "not reproduced", "bottom": "weak"}),
             _point(8, 0.6, 0.1, 0.05, "reproduced", {"random": "reproduced", "bottom": "reproduced"}),
             _point(16, 0.9, 0.2, 0.1, "reproduced", {"random": "reproduced", "bottom": "reproduced"})]
    ov = {"ks": [2, 8, 16], "minimum": 0.1, "random_outside": 16, "n": 32,
          "kinds": {"layout": {"per_k": per_k}, "background": {"per_k": [
              {"k": k, "adoption": {}, "verdict": {}, "status": None} for k in (2, 8, 16)]}}, "pixel_shift": {}}
    text = readings.transport_over_k(ov)
    assert "Layout: reproduced at k >= 8 (top - random +0.70 [+0.60, +0.80] at k = 16)" in text
    assert "; not reproduced at k = 2 (top - random +0.01 [-0.09, +0.11])." in text  # the weaker control
    assert "Background: no pair differs in it" in text and "outside each block's top-16" in text
    per_k[0].update(status="reproduced", verdict={"random": "reproduced", "bottom": "reproduced"})
    assert "Layout: reproduced at every k (" in readings.transport_over_k(ov)


def test_the_carry_reading_names_what_moves_with_the_top_channels_and_what_with_the_rest():
    def row(a, top_random, rest_top):
        s = lambda m: {"mean": m, "ci": [m - 0.05, m + 0.05], "n": 20}  # noqa: E731
        v = lambda m: "reproduced" if m - 0.05 > 0 and m >= 0.1 else "not reproduced"  # noqa: E731
        return {"attribute": a, "k": 16, "width": 128, "random_outside": 16,
                "adoption": {"all": s(0.9), "top": s(0.5), "random": s(0.1), "all_but_top": s(0.5)},
                "top-random": s(top_random), "all_but_top-top": s(rest_top),
                "verdict": {"top-random": v(top_random), "all_but_top-top": v(rest_top)}}

    text = readings.transport_carry([row("position", 0.6, -0.2), row("size", 0.5, 0.0), row("color", 0.0, 0.8),
                                     row("shape", 0.0, 0.0)])
    assert "position and size move with the top-16 (top-16 - random-16: position +0.60" in text
    assert "color moves only with the other 112 (all but top-16 - top-16: color +0.80" in text
    assert ("For shape, neither the top-16 against random-16 nor the other 112 against the top-16 is resolved "
            "(top-16 - random-16: shape +0.00 [-0.05, +0.05])." in text)
    assert readings.transport_carry([]) == ""


def test_the_explorer_compares_every_arm_and_named_channels_on_the_same_pairs(model, score):
    """Compare mode: one transport call with one spec per arm (and the named channels), each output shown
    in its own column with its adoption, preservation and pixel shift; the caption fields choose the pair;
    a bad channel list is one error and the next run works; history grows per run and reset empties it."""
    from massact.selection import Selection
    from massact.widgets.transport import TransportExplorer, mean_adoption

    ex = TransportExplorer(model, SRC[0], TGT[0], SEEDS[0], score=score, num_steps=STEPS, live=False, k=8)
    assert len(ex.history) == 1
    ex.compare.value, ex.named.value, ex.blocks.value = True, "98, 32", (0, 3)
    ex.source.value, ex.target.value = SRC[1], TGT[1]  # another pair: a new clean pass
    ex.run_button.click()
    assert ex.last_error is None and ex.clean.sources == [SRC[1]] and ex.clean.targets == [TGT[1]]
    specs = [T.TransportSpec(arm, 8, blocks=(0, 1, 2, 3)) for arm in T.ARMS]
    specs.append(T.TransportSpec(selection=Selection("named", blocks=(0, 1, 2, 3), named=(98, 32))))
    assert [ex.spec(a) for a in ("top", "bottom", "random", "named")] == specs
    want = T.transport(model, [SRC[1]], [TGT[1]], [SEEDS[0]], specs, score=score, clean=ex.clean, mask_at=ex.mask_at)
    assert torch.equal(ex.result.outputs, want.outputs)
    assert list(ex.measures) == ["top-8", "bottom-8", "random-8", "named 98,32"]
    for j, (label, m) in enumerate(ex.measures.items()):
        got = T.measure(ex.metrics, want.sources, want.targets, want.outputs[j])
        assert m["pixel_shift"] == got["pixel_shift"] and m["target_preservation"] == got["target_preservation"]
        preservation = "n/a" if got["target_preservation"] is None else f"{100 * got['target_preservation']:.0f}%"
        assert f"<tr><td>{label}</td><td>" in ex.html.value and f"<td>{preservation}</td>" in ex.html.value
        assert f"<td>{got['pixel_shift']:.2f}</td>" in ex.html.value
        assert f"<th>{label}</th>" in ex.html.value  # the judge's reading of each output
    assert ex.history[0]["source"] == SRC[1] and "named 98,32" in ex.history[0]["target preservation"]
    assert mean_adoption(ex.measure) == mean_adoption(ex.measures["top-8"])
    ex.named.value = "98, 128"
    ex.run_button.click()
    assert isinstance(ex.last_error, ValueError) and "channel 128 out of range: channels are 0..127" in ex.status.value
    assert len(ex.history) == 2 and hooks_installed(model.transformer) == 0
    ex.target.value = "a purple dog"
    ex.run_button.click()
    assert ex.status.value.startswith("error: ValueError: unknown word 'dog'")
    ex.reset_button.click()
    assert ex.history == [] and (ex.source.value, ex.target.value, ex.named.value) == (SRC[0], TGT[0], "")
    assert not ex.compare.value and ex.blocks.value == (0, model.num_blocks - 1)
    ex.run_button.click()
    assert ex.last_error is None and list(ex.measures) == ["top-8"] and len(ex.history) == 1
    assert hooks_installed(model.transformer) == 0
