"""Claim 1 (critical): the disruption probe's arms, its calibration/evaluation separation, its
errors, the report section's schema and the widget controller.

None of these properties needs a trained model: they run on a tiny random toy-shaped model
(same world, same judge-backed metrics), so nothing here depends on the shipped weights'
quality."""
from __future__ import annotations

import json
import statistics

import pytest
import torch

import massact
import massact.claims.critical as C
from massact import readings, stats
from massact.channel_stats import ChannelStats
from massact.generation import generate as real_generate
from massact.selection import Selection
from tiny_models import hooks_installed
from massact.toy import world



@pytest.fixture(scope="module")
def cal(tiny):
    return massact.calibrate(tiny, prompts=world.caption_set(3, world.CALIBRATION_SEED))  # seeds 1000+i


@pytest.fixture(scope="module")
def eval_prompts():
    return world.caption_set(2, world.EVALUATION_SEED)


def _score(blocks=3, width=32, seed=0):
    return torch.rand(blocks, width, generator=torch.Generator().manual_seed(seed))


# -- arms -----------------------------------------------------------------------------------
@pytest.mark.parametrize("k", [1, 3, 8, 16])
def test_arms_have_equal_set_sizes(k):
    score = _score()
    sets = {arm: Selection(arm, k, blocks=(0, 2)).channels(score) for arm in C.ARMS}
    for arm, cs in sets.items():
        assert sorted(cs) == [0, 2], arm
        assert all(len(c) == k and len(set(c)) == k for c in cs.values()), arm


def test_ranking_direction(cal):
    score = cal.score("absmean")
    for stat in C.STATISTICS:
        score = cal.score(stat)
        top = Selection("top", 4, blocks="all").channels(score)
        bottom = Selection("bottom", 4, blocks="all").channels(score)
        for b in top:
            assert score[b, list(top[b])].min() > score[b, list(bottom[b])].max()
            assert set(top[b]) == set(score[b].topk(4).indices.tolist())


def test_random_arm_reproducible_and_seed_dependent():
    score = _score()
    a = Selection("random", 8, blocks=(0, 1, 2), seed=0).channels(score)
    assert a == Selection("random", 8, blocks=(0, 1, 2), seed=0).channels(score)
    assert a != Selection("random", 8, blocks=(0, 1, 2), seed=1).channels(score)  # the probe's draw 1
    assert a != Selection("random", 8, blocks=(0, 1, 2), seed=7).channels(score)  # draw 0 with random_seed=7
    # a draw's sets are nested across k, like the top-k sets
    small = Selection("random", 4, blocks=(0,), seed=0).channels(score)
    assert set(small[0]) <= set(a[0])


# -- calibration / evaluation separation ----------------------------------------------------
def test_probe_refuses_evaluation_images_used_for_ranking(tiny, cal):
    with pytest.raises(ValueError, match="used for channel ranking"):
        C.probe(tiny, cal, list(cal.prompts[:2]), list(cal.seeds[:2]), ks=(1,))
    # the same prompts with other seeds are other images: allowed, and reported
    assert C.check_separation(cal, list(cal.prompts[:2]), [0, 1]) == {"shared_prompts": 2, "shared_seeds": 0}


def test_probe_ranks_on_calibration_only(tiny, eval_prompts, monkeypatch):
    """The channels zeroed are the calibration statistics' top-k, and the probe never captures
    statistics of the evaluation images (so it cannot rank on them)."""
    nb, width = tiny.num_blocks, tiny.width
    designed = torch.zeros(1, nb, 2, width)
    designed[..., 5] = 10.0  # channel 5 is "massive" in the calibration data, by construction
    designed[..., 9] = 5.0
    stats = ChannelStats(designed, designed, designed, tuple(range(nb)), (0, 1))
    fake = C.Calibration(("a red circle",), (1000,), stats)
    calls = []

    def spy(model, prompts, seeds=None, **kw):
        calls.append((list(prompts), kw.get("capture"), kw.get("edits", ())))
        return real_generate(model, prompts, seeds, **kw)

    monkeypatch.setattr(C, "generate", spy)
    res = C.probe(tiny, fake, eval_prompts, [0, 1], ks=(2,), arms=("top",), num_steps=2)
    assert all(capture is None for _, capture, _ in calls), "the probe captured statistics of evaluation images"
    edits = [e for _, _, es in calls for e in es]
    assert len(edits) == 1 and all(set(c) == {5, 9} for c in edits[0].channels.values())
    assert res.meta["calibration_prompts"] == ["a red circle"]


# -- bad inputs -------------------------------------------------------------------------------
@pytest.mark.parametrize("kwargs, match", [
    (dict(ks=(0,)), r"k 0 out of range: k must be >= 1"),
    (dict(ks=(33,)), r"1\.\.32"),
    (dict(blocks=3), r"block 3 out of range: valid blocks are 0\.\.2"),
    (dict(blocks=[0, -1]), r"valid blocks are 0\.\.2"),
    (dict(steps=(4,)), r"step 4 out of range: valid steps are 0\.\.3"),
    (dict(steps="middle"), r"unknown step range 'middle'"),
    (dict(arms=("top", "middle")), r"unknown arm 'middle'"),
    (dict(statistic="median"), r"unknown statistic 'median'; choose one of \('absmean', 'meanabs', 'maxabs'\)"),
    (dict(draws=0), r"draws 0 out of range"),
])
def test_bad_inputs_name_the_valid_range(tiny, cal, eval_prompts, kwargs, match):
    with pytest.raises(ValueError, match=match):
        C.probe(tiny, cal, eval_prompts, [0, 1], num_steps=4, **kwargs)


def test_empty_prompts_and_step_ranges(tiny, cal):
    with pytest.raises(ValueError, match="empty prompt list"):
        C.probe(tiny, cal, [], 0)
    with pytest.raises(ValueError, match="empty prompt list"):
        massact.calibrate(tiny, prompts=[])
    with pytest.raises(ValueError, match="at least 2 steps"):
        C.resolve_steps("early", 1)
    assert C.resolve_steps("early", 10) == (0, 1, 2, 3, 4)
    assert C.resolve_steps("late", 10) == (5, 6, 7, 8, 9)
    assert C.resolve_steps("all", 10) is None
    assert C.resolve_blocks("1-2", 3) == (1, 2) and C.resolve_blocks(range(2), 3) == (0, 1)


# -- the table, the reading, the report section -----------------------------------------------
def test_probe_table_and_reading(tiny, cal, eval_prompts):
    res = C.probe(tiny, cal, eval_prompts, [0, 1], ks=(1, 4), draws=2, num_steps=2, steps=["all", "late"])
    per_draw = res.select(arm="random").table(draws="each")
    assert len(per_draw) == 2 * 2 * 2  # ks x steps x draws
    table = res.table()
    assert len(table) == 1 + 2 * 2 * 3
    rnd = [r for r in table if r["arm"] == "random"]
    assert all("caption_accuracy_std" in r and r["draws"] == 2 for r in rnd)
    ims, labels = res.grid(k=4, n=2)
    assert ims.shape[0] == 2 * len(labels) and labels[0] == "clean"
    text = readings.critical(res, C.attribute_breakdown(res))
    assert "top-4" in text and isinstance(text, str)


REQUIRED = {"arm": str, "k": int, "blocks": str, "steps": str, "caption_accuracy": float, "toy_fid": float,
            "pixel_mse": float}


def test_report_section_schema_quick(tiny):
    from massact.report import ReportContext, sections

    ctx = ReportContext(tiny, tiny.metrics(), world.caption_set(2, world.EVALUATION_SEED),
                        world.caption_set(3, world.CALIBRATION_SEED), [0, 1], quick=True, progress=False)
    sec = sections.build("critical", ctx)
    assert sec.name == "critical"
    res = json.loads(json.dumps(sec.results))  # JSON-able
    rows = res["rows"]
    assert rows[0]["arm"] == "none" and res["baseline"]["arm"] == "none"
    for r in rows:
        for key, typ in REQUIRED.items():
            assert isinstance(r[key], typ), (key, r)
        assert r["arm"] in ("none", "top", "bottom", "random", "energy")
        if r["arm"] == "random":
            assert "caption_accuracy_std" in r and "toy_fid_std" in r
    arms = {r["arm"] for r in rows}
    # the energy-matched arm runs exactly where an equal-size match exists (at the largest such k)
    ec = res["energy_control"]
    assert arms == {"none", "top", "bottom", "random"} | ({"energy"} if ec["k_run"] is not None else set())
    # under the clean rule: the energy pool is the random arm's, outside the curve's largest k
    assert ec["outside"] == res["meta"]["random_outside"] == max(res["meta"]["ks"])
    # the curve over k marks the massive set (channels >= 10x the median, median over blocks)
    sizes = [r["massive_set_10x"] for r in sections.calibration_stats(ctx).ratio_table()]
    assert res["massive_set_10x_median"] == statistics.median(sizes)
    curve = sec.figures[0]
    ks = res["meta"]["ks"]
    assert [s.x0 for s in curve.layout.shapes if s.x0 == s.x1 and s.xref == "x"] == [
        min(max(res["massive_set_10x_median"], min(ks)), max(ks))]
    if ec["k_run"] is not None:
        assert {r["k"] for r in rows if r["arm"] == "energy"} == {ec["k_run"]}
        assert next(p for p in ec["per_k"] if p["k"] == ec["k_run"])["feasible"]
    # mean ablation beside zeroing at the controls' k, on the same images
    ctrl = {(r["arm"], r["ablation"]) for r in res["controls"]["rows"] if r["k"] == res["controls"]["k"]}
    assert {("top", "zero"), ("top", "mean"), ("bottom", "mean"), ("random", "mean")} <= ctrl
    # every verdict speaks the one vocabulary: the status and each control's verdict alike
    for v in (res["verdict"], res["controls"]["verdict"]):
        assert v["verdict_rule"] == "intervals" and v["status"] in stats.VERDICTS
        assert v["interval_verdicts"] and set(v["interval_verdicts"].values()) <= set(stats.VERDICTS)
    assert sec.figures and sec.images and sec.images[0][1].startswith("data:image/png;base64,")
    assert sec.text


# -- the widget -------------------------------------------------------------------------------
def test_widget_updates_image_and_leaves_no_hooks(tiny, cal, eval_prompts, monkeypatch):
    from massact.widgets.critical import CriticalExplorer

    ex = CriticalExplorer(tiny, calibration=cal, prompts=eval_prompts, num_steps=2, k=1, arm="bottom")
    first = ex.image.value
    assert first and ex.last_error is None and "clean" in ex.html.value
    ex.k.value, ex.arm.value = 16, "top"
    assert "press Run" in ex.status.value
    ex.update()
    assert ex.last_error is None
    assert ex.image.value != first
    assert hooks_installed(tiny.transformer) == 0
    # a failure is shown, not raised, and leaves no hooks behind
    monkeypatch.setattr(ex.metrics, "caption_accuracy", lambda *a: 1 / 0)
    ex.update()
    assert isinstance(ex.last_error, ZeroDivisionError) and ex.status.value.startswith("error")
    assert hooks_installed(tiny.transformer) == 0 and not ex.run_button.disabled


def test_the_run_button_shows_what_the_underlying_call_computes(tiny, cal, eval_prompts, monkeypatch):
    """Driven through its button: the edited images are generate()'s with the selection the
    controls describe, bit for bit, and the panel prints the metric computed on them; a
    control change changes them; a failed run is shown in the status line and the next run works."""
    from massact.generation import generate
    from massact.selection import Selection
    from massact.widgets.critical import CriticalExplorer

    ex = CriticalExplorer(tiny, calibration=cal, prompts=eval_prompts, num_steps=2, k=2, arm="top")
    ex.blocks.value, ex.arm.value, ex.k.value, ex.draw.value = (1, 2), "random", 3, 5
    ex.run_button.click()
    assert ex.last_error is None and ex.status.value.startswith("done")
    edit = Selection("random", 3, blocks=(1, 2), steps="all", seed=5).edit(cal.score("absmean"), 2)
    want = generate(tiny, ex.prompts, ex.seeds, num_steps=2, edits=[edit]).images
    assert torch.equal(ex.images, want)
    mse = ex.metrics.pixel_mse(want, ex.clean_images)
    assert f"<td>{mse:.3g}</td>" in ex.html.value and "random-3" in ex.html.value
    image = ex.image.value
    ex.steps.value = (1, 1)  # the late half of 2 steps
    ex.run_button.click()
    assert ex.last_error is None and ex.image.value != image
    late = Selection("random", 3, blocks=(1, 2), steps="late", seed=5).edit(cal.score("absmean"), 2)
    want = generate(tiny, ex.prompts, ex.seeds, num_steps=2, edits=[late]).images
    assert torch.equal(ex.images, want) and "steps 1-1" in ex.html.value
    # a failed run is shown, not raised; the next run is whole again
    with monkeypatch.context() as m:
        m.setattr(ex.metrics, "pixel_mse", lambda *a: 1 / 0)
        ex.run_button.click()
    assert isinstance(ex.last_error, ZeroDivisionError) and ex.status.value.startswith("error: ZeroDivisionError")
    assert "division by zero" in ex.html.value and not ex.run_button.disabled
    ex.steps.value = (0, 1)
    ex.run_button.click()
    assert ex.last_error is None and ex.status.value.startswith("done")
    assert torch.equal(ex.images, generate(tiny, ex.prompts, ex.seeds, num_steps=2, edits=[edit]).images)
    assert f"<td>{mse:.3g}</td>" in ex.html.value
    assert hooks_installed(tiny.transformer) == 0


def test_the_verdict_over_k_names_every_k_run(tiny, cal, eval_prompts):
    res = C.probe(tiny, cal, eval_prompts, [0, 1], ks=(1, 4), draws=2, num_steps=2)
    ov = readings.critical_over_k(res)
    assert [r["k"] for r in ov["per_k"]] == [1, 4]
    for r in ov["per_k"]:  # each k's status is that k's own verdict
        assert r["status"] == readings.critical_verdict(res, k=r["k"])["status"]
        assert r["top-random"] == readings.critical_verdict(res, k=r["k"])["intervals"]["top-random"]
    assert set(ov["holds"]) | set(ov["fails"]) <= {1, 4}
    text = readings.critical(res)
    assert "Over k" in text and "k = 1:" in text and "k = 4:" in text


def test_the_clean_random_arm_is_recorded_and_not_merged_with_a_uniform_one(tiny, cal, eval_prompts):
    common = dict(ks=(2,), arms=("random",), draws=1, num_steps=2)
    clean = C.probe(tiny, cal, eval_prompts, [0, 1], random_outside=4, **common)
    uniform = C.probe(tiny, cal, eval_prompts, [0, 1], baseline_images=clean.clean_images, **common)
    assert clean.meta["random_outside"] == 4 and uniform.meta["random_outside"] == 0
    with pytest.raises(ValueError, match="random control"):
        clean.merged(uniform)
    # the edit zeroed channels outside every block's top-4 (the seed-0 draw of Selection)
    chans = C.Selection("random", 2, outside=4).channels(cal.score("absmean"))
    top4 = C.Selection("top", 4).channels(cal.score("absmean"))
    assert all(not set(chans[b]) & set(top4[b]) for b in chans)


def test_the_energy_arm_is_drawn_outside_the_same_top_channels_as_the_random_arm(tiny, cal, eval_prompts):
    common = dict(ks=(2,), draws=1, num_steps=2, random_outside=4)
    res = C.probe(tiny, cal, eval_prompts, [0, 1], arms=("top", "bottom", "energy"), **common)
    assert res.meta["random_outside"] == 4
    # the images are those of the energy Selection outside the top-4 (not outside the top-2)
    score, energy = cal.score("absmean"), cal.stats.energy()
    sel = Selection("energy", 2, outside=4)
    chans, top4 = sel.channels(score, energy), Selection("top", 4).channels(score)
    assert all(not set(chans[b]) & set(top4[b]) for b in chans)
    want = real_generate(tiny, eval_prompts, [0, 1], num_steps=2, edits=[sel.edit(score, 2, energy=energy)]).images
    assert torch.equal(res.images[("energy", 2, "all", "all", 0)], want)
    # the reading says which pool the energy arm was drawn from
    assert "outside each block's top-4 with the same summed squared activation as the top-2" in \
        readings.critical_controls(res, k=2)
    with pytest.raises(ValueError, match="at least 8"):  # the energy arm never leaves out fewer than its k
        C.probe(tiny, cal, eval_prompts, [0, 1], ks=(8,), arms=("energy",), draws=1, num_steps=2, random_outside=4)


# -- the figure over k ------------------------------------------------------------------------
def _synthetic_probe(outside: int = 4, n: int = 5):
    """A probe result with known per-image values: top drops accuracy by 0.1 k, random by 0.02 k
    (draw 1 another 0.01), bottom not at all; pixel MSE in proportion."""
    import numpy as np

    conds, items = [dict(C.CLEAN, draw=None)], [{"caption_accuracy": np.ones(n), "pixel_mse": np.zeros(n),
                                                   "detail_ratio": np.ones(n)}]
    drop = {"top": 0.1, "bottom": 0.0, "random": 0.02}
    for k in (1, 2, 4, 8):
        for arm in ("top", "bottom", "random"):
            for d in ((0, 1) if arm == "random" else (None,)):
                conds.append({"arm": arm, "k": k, "blocks": "all", "steps": "all", "ablation": "zero", "draw": d})
                acc = 1 - drop[arm] * k * np.linspace(0.5, 1.5, n) - 0.01 * (d or 0)
                items.append({"caption_accuracy": acc, "pixel_mse": drop[arm] * k * np.arange(1, n + 1) / n,
                              "detail_ratio": np.ones(n)})
    meta = {"random_outside": outside, "num_steps": 2}
    return C.ProbeResult(conds, items, [{} for _ in conds], meta, ["a prompt"] * n, list(range(n)))


def test_the_curve_over_k_draws_three_arms_with_intervals_and_the_massive_set():
    from massact.plots.critical import dose_response_figure

    res = _synthetic_probe()
    fig = dose_response_figure(res, massive_set=3.0)
    by_panel = {(t.name, t.xaxis): t for t in fig.data}
    names = ["top-k", "bottom-k", "random-k, outside the top-4"]
    assert sorted(by_panel) == sorted((n, ax) for n in names for ax in ("x", "x2"))
    top, rnd = by_panel[("top-k", "x")], by_panel[("random-k, outside the top-4", "x")]
    assert list(top.x) == [1, 2, 4, 8] and list(top.y) == pytest.approx([0.1, 0.2, 0.4, 0.8])  # clean - zeroed
    assert list(rnd.y) == pytest.approx([0.025, 0.045, 0.085, 0.165])  # the two draws averaged per image
    paired = res.difference("caption_accuracy", C.CLEAN, C.condition("top", 4, "all", "all"))
    assert top.error_y.array[2] == pytest.approx(paired.ci[1] - paired.mean)
    assert top.error_y.arrayminus[2] == pytest.approx(paired.mean - paired.ci[0]) and top.error_y.array[2] > 0
    mse = by_panel[("top-k", "x2")]
    assert list(mse.y) == pytest.approx([res.estimate("pixel_mse", **C.condition("top", k)).mean for k in (1, 2, 4, 8)])
    # the x axes are logarithmic with a tick at each k; the massive set is a vertical line in both panels
    assert fig.layout.xaxis.type == fig.layout.xaxis2.type == "log" and list(fig.layout.xaxis.tickvals) == [1, 2, 4, 8]
    lines = [s for s in fig.layout.shapes if s.x0 == s.x1 and s.xref in ("x", "x2")]
    assert sorted(s.xref for s in lines) == ["x", "x2"] and all(s.x0 == 3.0 for s in lines)  # data units on a log axis
    assert "massive set, 3 channels" in fig.layout.title.text
    # a set smaller than the smallest k is drawn at it; no size, no line
    assert {s.x0 for s in dose_response_figure(res, massive_set=0.0).layout.shapes if s.xref == "x"} == {1.0}
    assert not [s for s in dose_response_figure(res).layout.shapes if s.x0 == s.x1 and s.xref == "x"]
    uniform = dose_response_figure(_synthetic_probe(outside=0))
    assert "random-k, from all channels" in {t.name for t in uniform.data}
    with pytest.raises(ValueError, match="no zeroed rows at blocks 'late'"):
        dose_response_figure(res, blocks="late")


def test_compare_mode_shows_every_arm_and_the_named_channels_with_their_numbers(tiny, cal, eval_prompts):
    """Compare mode runs clean / top / bottom / random and the named channels on the same images in one
    run: one image row and one table column per arm, each column the metric of that arm's images."""
    from massact.generation import generate
    from massact.widgets.critical import CriticalExplorer

    ex = CriticalExplorer(tiny, calibration=cal, prompts=eval_prompts, num_steps=2, k=2, run=False)
    ex.compare.value, ex.named.value, ex.blocks.value = True, "3, 5", (1, 2)
    ex.run_button.click()
    assert ex.last_error is None and ex.status.value.startswith("done")
    labels = ["top-2", "bottom-2", "random-2", "named 3,5"]
    assert list(ex.arm_images) == labels
    head = "<tr><th>metric</th><th>clean</th>" + "".join(f"<th>{label}</th>" for label in labels) + "</tr>"
    assert head in ex.html.value
    score = cal.score("absmean")
    for label, sel in zip(labels, [Selection("top", 2, blocks=(1, 2)), Selection("bottom", 2, blocks=(1, 2)),
                                   Selection("random", 2, blocks=(1, 2)), Selection("named", blocks=(1, 2), named=(3, 5))]):
        want = generate(tiny, ex.prompts, ex.seeds, num_steps=2, edits=[sel.edit(score, 2)]).images
        assert torch.equal(ex.arm_images[label], want), label
        assert f"<td>{ex.metrics.pixel_mse(want, ex.clean_images):.3g}</td>" in ex.html.value
    assert ex.edit("named").channels == {1: (3, 5), 2: (3, 5)}
    mses = [ex.numbers(a)["pixel MSE to clean"] for a in ("top", "bottom", "random", "named")]
    assert len(set(mses)) == 4 and ex.numbers("none")["pixel MSE to clean"] == 0
    assert hooks_installed(tiny.transformer) == 0


def test_history_grows_per_run_and_reset_restores_the_defaults(tiny, cal, eval_prompts):
    from massact.widgets.critical import CriticalExplorer

    ex = CriticalExplorer(tiny, calibration=cal, prompts=eval_prompts, num_steps=2, k=2)
    assert len(ex.history) == 1
    ex.k.value, ex.compare.value = 3, True
    ex.update()
    assert len(ex.history) == 2 and ex.history[0]["run"] == 2 and ex.history[0]["k"] == 3
    assert "random-3" in ex.history[0]["pixel MSE to clean"] and ex.history[1]["k"] == 2  # newest first
    assert ex.history_html.value.index("<td>2</td>") < ex.history_html.value.index("<td>1</td>")
    ex.named.value = "99"  # out of range: an error, not a history row
    ex.update()
    assert ex.last_error is not None and len(ex.history) == 2
    ex.reset_button.click()
    assert ex.history == [] and ex.history_html.value == ""
    assert (ex.k.value, ex.compare.value, ex.named.value, ex.ablation.value) == (2, False, "", "zero")
    ex.update()
    assert ex.last_error is None and len(ex.history) == 1 and ex.history[0]["run"] == 1


@pytest.mark.parametrize("named, match", [("99", r"channel 99 out of range: channels are 0\.\.31"),
                                          ("3, x", "cannot read channels"), ("4, 4", "channel 4 is named twice")])
def test_a_bad_channel_list_shows_one_error_and_the_next_run_works(tiny, cal, eval_prompts, named, match):
    import re

    from massact.widgets.critical import CriticalExplorer

    ex = CriticalExplorer(tiny, calibration=cal, prompts=eval_prompts, num_steps=2, k=2)
    ex.named.value = named
    ex.run_button.click()
    assert isinstance(ex.last_error, ValueError) and re.search(match, ex.status.value)
    assert ex.status.value.startswith("error: ValueError") and not ex.run_button.disabled
    assert hooks_installed(tiny.transformer) == 0
    ex.named.value = "4"
    ex.run_button.click()
    assert ex.last_error is None and list(ex.arm_images) == ["top-2", "named 4"]


def test_mean_ablation_and_the_ranking_statistic_are_what_the_controls_say(tiny, cal, eval_prompts):
    """ablation "mean" sets the channels to the calibration's means (EditSpec "set"), which differs from
    zeroing; the ranking control picks the calibration's statistic the arms rank on."""
    from massact.generation import generate
    from massact.widgets.critical import CriticalExplorer

    ex = CriticalExplorer(tiny, calibration=cal, prompts=eval_prompts, k=4)  # the calibration's 4 steps
    zeroed = ex.images
    ex.ablation.value = "mean"
    ex.update()
    assert ex.last_error is None and not torch.equal(ex.images, zeroed)
    means = Selection("top", 4).edit(cal.score("absmean"), 4, "set", values=cal.stats.channel_mean())
    assert torch.equal(ex.images, generate(tiny, ex.prompts, ex.seeds, num_steps=4, edits=[means]).images)
    assert "set to their calibration mean" in ex.html.value
    assert ex.history[0]["ablation"] == "mean" and ex.history[0]["pixel MSE to clean"] != ex.history[1]["pixel MSE to clean"]
    assert set(ex.statistic.options) == {"absmean", "meanabs", "maxabs"}
    for stat in ex.statistic.options:
        ex.statistic.value = stat
        assert ex.edit().channels == Selection("top", 4).channels(cal.score(stat))
    ex.update()
    assert ex.last_error is None and "maxabs ranking" in ex.html.value


def test_probe_runs_named_channels_beside_the_arms(tiny, cal, eval_prompts):
    res = C.probe(tiny, cal, eval_prompts, [0, 1], ks=(1, 4), arms=("top", "named"), named="3, 5", draws=1,
                  num_steps=2)
    assert [(c["arm"], c["k"]) for c in res.conditions] == [("none", 0), ("top", 1), ("named", 2), ("top", 4)]
    assert res.meta["named"] == [3, 5]
    with pytest.raises(ValueError, match="give both, or neither"):
        C.probe(tiny, cal, eval_prompts, [0, 1], ks=1, arms=("top", "named"), num_steps=2)
    with pytest.raises(ValueError, match="channel 40 out of range: channels are 0..31"):
        C.probe(tiny, cal, eval_prompts, [0, 1], ks=1, arms=("named",), named=(40,), num_steps=2)
