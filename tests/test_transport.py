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
    # the rows filter themselves
    assert [r["arm"] for r in s.results.select(mask="none", k=4, alpha=1.0, blocks="all", steps="all")] == \
        ["top", "bottom", "random"]
    assert {r["arm"] for r in s.results.select(arm={"pixel_blend", "embedding_lerp"})} == {"pixel_blend",
                                                                                       "embedding_lerp"}
    assert s.inputs["pairs_from"].startswith("model.world.caption_pairs") and len(s.inputs["pairs"]) == 2
    json.dumps(s.results)
    arms = [r["arm"] for r in s.results]
    assert {"top", "bottom", "random", "pixel_blend", "embedding_lerp"} <= set(arms)
    for r in s.results:
        assert set(r) == ROW_KEYS
        assert r["arm"] in ("top", "bottom", "random", "pixel_blend", "embedding_lerp")
        assert r["mask"] in ("spatial", "none")
        assert 0.0 <= r["alpha"] <= 1.0
        if r["arm"] in ("top", "bottom", "random"):
            assert isinstance(r["k"], int)
            assert r["blocks"] == "all" or all(isinstance(b, int) for b in r["blocks"])
            assert r["steps"] == "all" or all(isinstance(b, int) for b in r["steps"])
        assert set(r["source_adoption"]) == set(model.metrics().attributes)
        for v in list(r["source_adoption"].values()) + [r["target_preservation"]]:
            assert v is None or (0.0 <= v <= 1.0 and not math.isnan(v))
    assert any(r["mask"] == "spatial" for r in s.results)
    assert s.images and s.images[0][1].startswith("data:image/png;base64,")
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
