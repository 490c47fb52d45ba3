"""Claim 2 (spatial): evaluation on planted token maps, capture errors, the report rows, the widget."""
import json

import numpy as np
import pytest
import torch

import massact
from massact import readings, stats
from massact.claims import spatial as S
from massact.claims.results import Results
from massact.selection import Selection
from tiny_models import hooks_installed
from massact.toy import world
from massact.toy.model import pack

METRICS = ("miou", "miou_oracle", "miou_activation_rule", "foreground_share")
ROW_KEYS = {"arm", "k", "block", "step", "n"} | set(METRICS) | {f"{m}_ci" for m in METRICS}
#: a random arm's row pools its draws: their number and each metric's spread across them
RANDOM_ROW_KEYS = ROW_KEYS | {"draws"} | {f"{m}_std" for m in METRICS}


def row_keys(row: dict) -> set:
    """The columns a spatial row has (random rows pool their draws)."""
    return RANDOM_ROW_KEYS if row["arm"] == "random" else ROW_KEYS


@pytest.fixture(scope="module")
def planted():
    """A capture whose tokens carry the rendered image's pixels on 12 'massive' channels
    (block 0 as is, block 1 negated), noise on the others; the true masks of the world."""
    imgs, masks, _, captions = world.sample_batch(7, 6)
    g = torch.Generator().manual_seed(0)
    x = torch.randn(6, 256, 64, generator=g)
    chans = torch.randperm(64, generator=g)[:12]
    x[:, :, chans] = pack(torch.from_numpy(imgs), 2) * 4 + 30
    tensors = {(0, 0): x, (0, 3): x + 0.01 * torch.randn(x.shape, generator=g), (1, 0): -x, (1, 3): -x}
    cap = S.SpatialCapture(captions, list(range(6)), torch.from_numpy((imgs + 1) / 2), tensors, (16, 16), 4)
    score = torch.stack([x.mean(1).abs().mean(0)] * 2)
    return cap, score, masks



def test_planted_top_k_finds_the_subject(planted):
    cap, score, masks = planted
    # the random arm drawn outside the 12 planted channels: a clean control
    res = S.evaluate(cap, score, masks, k=8, random_draws=2, random_outside=12)
    assert res.scored and res.blocks == (0, 1) and res.steps == (0, 3) and res.claim == "spatial"
    assert len(res) == (1 + 1 + 2) * 2 * 2 and res.item == "image" and set(res.metrics) == set(METRICS)
    # the best token-level mask: an upper bound above the trivial mask
    assert res.all_foreground_iou < res.grid_ceiling <= 1.0
    for arm in res.arms:
        for rule in S.RULES:
            assert res.miou(arm, rule).shape == (2, 2)
    top, bottom = res.miou("top"), res.miou("bottom")
    assert (top > 0.6).all() and (top > bottom + 0.3).all()
    # the border rule does not care about the sign: negated block 1 gives the same masks
    for step in res.steps:
        assert np.allclose(res.per_item("miou", arm="top", block=0, step=step),
                           res.per_item("miou", arm="top", block=1, step=step))
    # the array views are the per-image values' means
    for arm in res.arms:
        for rule, metric in S.RULE_METRIC.items():
            for i, b in enumerate(res.blocks):
                for j, s in enumerate(res.steps):
                    est = res.estimate(metric, arm=arm, block=b, step=s)
                    assert res.miou(arm, rule)[i, j] == pytest.approx(est.mean)
    d = res.difference("miou", dict(arm="top"), dict(arm="random"), block=0, step=3)
    assert d.mean == pytest.approx(float((res.per_item("miou", arm="top", block=0, step=3)
                                          - np.mean([res.per_item("miou", arm="random", block=0, step=3, draw=j)
                                                     for j in range(2)], axis=0)).mean()))
    for r in res.table(ndigits=4):
        assert set(r) == row_keys(r)
        assert 0 <= r["miou"] <= r["miou_oracle"] + 1e-9 <= 1 + 1e-9
        assert r["miou_activation_rule"] <= r["miou_oracle"] + 1e-9
    back = Results.from_json(json.loads(json.dumps(res.to_json())))
    assert back.claim == "spatial" and back.meta["k"] == 8 and back.table() == res.table()
    text = readings.spatial(res)
    assert "Verdict at k = 8: reproduced" in text, text
    assert res.best_block() in (0, 1)
    assert ((res.flip_rate("top", "border") >= 0) & (res.flip_rate("top", "border") <= 1)).all()


def test_masks_at_image_resolution(planted):
    cap, score, masks = planted
    chans = massact.channel_set(score, 8, "top", blocks=[1])[1]
    m = S.cluster(cap, 1, 0, chans)
    assert m.mask.shape == (6, 32, 32) and m.mask.dtype == bool
    assert m.score.shape == (6, 16, 16) and m.labels.shape == (6, 16, 16)
    assert m.ious(masks)["border"].mean() > 0.6
    m3 = S.cluster(cap, 0, 0, chans, K=3)
    assert all(len(np.unique(lab)) <= 3 for lab in m3.labels)


def test_not_captured_block_or_step_is_a_clear_error(planted):
    cap, score, masks = planted
    with pytest.raises(ValueError, match=r"block 5, step 0\) was not captured.*blocks \[0, 1\].*steps \[0, 3\]"):
        cap.tokens(5, 0)
    with pytest.raises(ValueError, match="not captured"):
        S.cluster(cap, 0, 2, [1, 2])
    with pytest.raises(ValueError, match="not captured"):
        S.evaluate(cap, score, masks, steps=[1])


def test_k_K_and_arm_bounds(planted):
    cap, score, masks = planted
    for k in (0, 65, True):
        with pytest.raises(ValueError, match="k"):
            S.evaluate(cap, score, masks, k=k)
    with pytest.raises(ValueError, match="K"):
        S.evaluate(cap, score, masks, K=1)
    with pytest.raises(ValueError, match="arm"):
        S.evaluate(cap, score, masks, arms=("top", "middle"))
    with pytest.raises(ValueError, match="random_draws"):
        S.evaluate(cap, score, masks, random_draws=0)
    with pytest.raises(ValueError, match="mask"):
        S.truth_masks(cap.images, mask_fn=lambda im: np.zeros((2, 32, 32), bool))


def masks_of(planted):
    return np.asarray(planted[2], bool)


def test_without_a_foreground_mask_there_is_no_score(planted):
    cap, score, _ = planted
    res = S.evaluate(cap, score, None)
    assert not res.scored
    # the rows say what was measured without masks: never an empty table
    assert res.metrics == ["foreground_share"]
    rows = res.table(ndigits=4)
    assert len(rows) == len(res.arms) * len(res.blocks) * len(res.steps)
    assert all("miou" not in r and r["n"] == 6 for r in rows)
    # the foreground share is the clustering's, the same with or without truth; on the planted
    # channels the top-k foreground covers about as much as the true subject
    scored = S.evaluate(cap, score, masks_of(planted))
    top = rows.select(arm="top", block=0, step=3)[0]
    share = scored.estimate("foreground_share", arm="top", block=0, step=3)
    assert top["foreground_share"] == pytest.approx(share.mean, abs=1e-4)
    assert top["foreground_share_ci"][0] <= top["foreground_share"] <= top["foreground_share_ci"][1]
    assert abs(top["foreground_share"] - masks_of(planted).mean()) < 0.1
    text = readings.spatial(res)
    assert "No foreground masks" in text and "share of tokens the border rule calls foreground" in text
    with pytest.raises(ValueError, match="mask_fn"):
        res.miou("top")
    with pytest.raises(ValueError, match="not measured"):
        res.estimate("miou", arm="top", block=0, step=3)
    # results.json keeps saying so, with the failure modes of draw 0 beside the foreground share
    from massact.report.sections import spatial_rows
    saved = spatial_rows(res)
    assert all(r["miou"] is None and r["scored"] is False for r in saved)
    modes = res.failure_modes("random", 3).first(block=0)
    row = saved.first(arm="random", block=0, step=3)
    assert row["offset_channels"] == modes["offset_channels"] and row["draws"] == res.random_draws
    assert row["speckle_share"] == round(modes["speckle_share"], 4)
    assert row["minority_share"] == round(modes["minority_share"], 4)


def test_capture_keeps_exactly_the_pairs_asked(model):
    prompts = world.caption_set(2, world.EVALUATION_SEED)
    cap = S.capture(model, prompts, [0, 1], blocks=[0, 6], steps=[1], num_steps=2)
    assert set(cap.tensors) == {(0, 1), (6, 1)}
    assert cap.tokens(6, 1).shape == (2, model.num_image_tokens, model.width)
    assert cap.images.shape == (2, 3, 32, 32)
    assert hooks_installed(model.transformer) == 0
    with pytest.raises(ValueError, match="not captured"):
        cap.tokens(3, 1)
    with pytest.raises(ValueError, match="out of range"):
        S.capture(model, prompts, 0, steps=[5], num_steps=2)
    with pytest.raises(ValueError, match="out of range"):
        S.capture(model, prompts, 0, blocks=[model.num_blocks], num_steps=2)


def test_report_section_rows_follow_the_schema(model):
    from massact.report import ReportContext, sections

    ctx = ReportContext(model, model.metrics(), world.caption_set(2, world.EVALUATION_SEED),
                        world.caption_set(1, world.CALIBRATION_SEED), [0, 1], quick=True, progress=False)
    sec = sections.build("spatial", ctx)
    assert sec.name == "spatial"
    rows = sec.results["rows"]
    assert rows and all(set(r) == row_keys(r) for r in rows)
    assert {r["arm"] for r in rows} == {"top", "bottom", "random"}
    assert {r["block"] for r in rows} == set(range(model.num_blocks))
    assert len(rows) == 3 * model.num_blocks * len(sec.results["steps"])
    for r in rows:
        assert isinstance(r["arm"], str) and isinstance(r["k"], int) and isinstance(r["block"], int)
        assert isinstance(r["step"], int) and r["k"] == S.DEFAULT_K
        for key in ("miou", "miou_oracle", "miou_activation_rule"):
            assert isinstance(r[key], float) and 0.0 <= r[key] <= 1.0
        assert r["miou"] <= r["miou_oracle"] + 1e-9
    json.dumps(sec.results)
    assert len(sec.figures) == 3  # the curves over blocks, the heatmap, the curve over k
    ov = sec.results["over_k"]
    assert ov["ks"] == [k for k in S.OVER_K if k <= model.width // 2] and "Over k" in sec.text
    assert all(set(r["miou"]) == {"top", "bottom", "random"} for r in ov["per_k"])
    assert sec.images and sec.images[0][1].startswith("data:image/png;base64,")
    assert sec.text


def test_widget_updates_its_image_when_a_control_changes(planted):
    from massact.widgets.spatial import SpatialExplorer

    cap, score, masks = planted
    ex = SpatialExplorer(capture=cap, score=score, mask_fn=lambda im: masks[:len(im)], max_images=3)
    assert len(ex.cap.prompts) == 3
    assert "IoU" in ex.html.value
    before = bytes(ex.image.value)
    assert before[:4] == b"\x89PNG"
    ex.arm.value = "bottom"  # observers call update()
    after_arm = bytes(ex.image.value)
    assert after_arm != before
    ex.K.value = 3
    ex.update()
    assert bytes(ex.image.value) != after_arm
    for ctl, value in ((ex.blocks, (0, 0)), (ex.steps, (0, 0)), (ex.k, 2), (ex.arm, "random"), (ex.draw, 3)):
        ctl.value = value
        assert ex.status.value.startswith(f"block {ex.blocks.value[0]}, step {ex.steps.value[0]}")
        assert bytes(ex.image.value)[:4] == b"\x89PNG"
    assert ex.masks.channels == massact.channel_set(score, 2, "random", blocks=[0], seed=3)[0]
    no_truth = SpatialExplorer(capture=cap, score=score, max_images=2)
    assert "No foreground mask" in no_truth.html.value


def test_the_spatial_run_button_shows_what_cluster_computes(model, monkeypatch):
    """Built on the toy model and driven through its controls and button: the overlay is the
    public clustering's (S.cluster on the channel set the controls name) drawn by
    plots.spatial.overlay_panels, the table prints its IoUs; a control change redraws; a
    failed run is shown in the status line and the next run works."""
    from massact.plots.common import grid_png
    from massact.plots.spatial import overlay_panels
    from massact.widgets.spatial import SpatialExplorer

    prompts, seeds = model.world.evaluation_prompts(3), [5, 6, 7]
    score = massact.calibrate(model, num_steps=4).score("absmean")
    ex = SpatialExplorer(model, prompts, seeds, score=score, max_images=2)
    cap = S.capture(model, prompts[:2], seeds[:2])
    truth = S.truth_masks(cap.images, model.metrics())
    assert truth is not None and np.array_equal(ex.truth, truth)

    def shown(block, step, k, K, arm, draw):
        channels = massact.channel_set(score, k, arm, blocks=[block], seed=draw)[block]
        m = S.cluster(cap, block, step, channels, K)
        assert ex.masks.channels == m.channels and np.array_equal(ex.masks.labels, m.labels)
        panels, titles = overlay_panels(cap.images, {"border rule": m.mask, "activation rule": m.mask_activation},
                                        truth=truth, score=m.score, image_column=False)
        assert bytes(ex.image.value) == grid_png(panels, cols=len(titles), scale=4)
        iou = m.ious(truth)
        for i, p in enumerate(prompts[:2]):
            assert (f"<tr><td>{p[:40]}</td><td>{iou['border'][i]:.2f}</td><td>{iou['activation'][i]:.2f}</td>"
                    f"<td>{iou['oracle'][i]:.2f}</td></tr>") in ex.html.value
        assert f"<td><b>{iou['border'].mean():.2f}</b></td>" in ex.html.value
        return bytes(ex.image.value)

    ex.blocks.value, ex.steps.value, ex.k.value, ex.K.value = (3, 3), (10, 10), 6, 3  # every change reclusters
    ex.arm.value, ex.draw.value = "random", 4
    ex.run_button.click()
    assert ex.last_error is None and not ex.run_button.disabled
    assert ex.status.value == "block 3, step 10: random-6 channels, K=3, draw 4"
    image = shown(3, 10, 6, 3, "random", 4)
    ex.arm.value = "top"
    assert ex.last_error is None and ex.status.value == "block 3, step 10: top-6 channels, K=3" and ex.draw.disabled
    assert shown(3, 10, 6, 3, "top", 0) != image
    # a failed run is shown, not raised; the next run is whole again
    with monkeypatch.context() as m:
        m.setattr(S, "cluster", lambda *a, **k: 1 / 0)
        ex.run_button.click()
    assert isinstance(ex.last_error, ZeroDivisionError) and ex.status.value.startswith("error: ZeroDivisionError")
    assert "division by zero" in ex.html.value and not ex.run_button.disabled
    ex.K.value = 2
    assert ex.last_error is None and ex.status.value == "block 3, step 10: top-6 channels, K=2"
    shown(3, 10, 6, 2, "top", 0)


def test_the_curve_over_k_compares_each_arm_at_its_own_best_block(planted):
    cap, score, masks = planted
    ov = S.over_k(cap, score, masks, ks=(1, 4, 12), random_draws=2)
    assert ov["ks"] == [1, 4, 12] and ov["step"] == 3 and ov["minimum"] == S.MINIMUM
    for row in ov["per_k"]:
        res = S.evaluate(cap, score, masks, k=row["k"], random_draws=2, steps=(3,), random_outside=12)
        for arm, block in row["best_block"].items():
            assert block == res.best_block(arm, step=3)
            assert row["miou"][arm] == res.estimate("miou", arm=arm, block=block, step=3).summary()
        d = res.difference("miou", dict(arm="top", block=row["best_block"]["top"]),
                           dict(arm="random", block=row["best_block"]["random"]), step=3)
        assert row["top-random"] == d.summary()
        assert row["verdict"]["random"] == stats.verdict(d, S.MINIMUM)
    # 12 of the 64 channels carry the subject. The clean random arm (the default: drawn outside each
    # block's top-12) never holds one, so top beats it at every k; a uniform draw picks planted
    # channels more often as k grows, and the gap narrows
    assert ov["random_outside"] == 12
    assert all(r["verdict"]["random"] == "reproduced" for r in ov["per_k"])
    mixed = S.over_k(cap, score, masks, ks=(1, 4, 12), random_draws=2, random_outside=0)
    gaps = [r["top-random"]["mean"] for r in mixed["per_k"]]
    assert gaps[0] > gaps[-1] > 0 and mixed["per_k"][-1]["verdict"]["random"] != "reproduced"
    assert ov["per_k"][-1]["top-random"]["mean"] > gaps[-1] + 0.1
    text = readings.spatial_over_k(ov)
    assert "Over k" in text and "k = 12" in text
    with pytest.raises(ValueError, match="foreground masks"):
        S.over_k(cap, score, None)


def test_compare_mode_named_channels_ranges_history_and_reset(planted):
    """Compare mode clusters every arm (and the named channels) at the same block and step, one column and
    one table row each with its mean IoU; a range of blocks and steps clusters their averaged tokens; a bad
    channel list is one error and the next change works; history grows per run and reset empties it."""
    from massact.widgets.spatial import SpatialExplorer

    cap, score, masks = planted
    truth = masks[:3].astype(bool)
    ex = SpatialExplorer(capture=cap, score=score, mask_fn=lambda im: masks[:len(im)], max_images=3, k=4)
    assert (ex.blocks.value, ex.steps.value) == ((1, 1), (3, 3)) and len(ex.history) == 1
    ex.compare.value = True
    ex.named.value = "5, 7"
    assert ex.last_error is None and list(ex.arm_masks) == ["top-4", "bottom-4", "random-4", "named 5,7"]
    assert ex.status.value == "block 1, step 3: top-4, bottom-4, random-4, named 5,7 channels, K=2, draw 0"
    sub = S.SpatialCapture(cap.prompts[:3], cap.seeds[:3], cap.images[:3], {k: t[:3] for k, t in cap.tensors.items()},
                           cap.grid, cap.num_steps)
    for label, sel in zip(ex.arm_masks, [Selection("top", 4), Selection("bottom", 4), Selection("random", 4),
                                         Selection("named", named=(5, 7))]):
        m = S.cluster(sub, 1, 3, sel.channels(score)[1], 2)
        assert ex.arm_masks[label].channels == m.channels and np.array_equal(ex.arm_masks[label].labels, m.labels)
        assert f"<td>{label}</td>" in ex.html.value and f"<td>{m.ious(truth)['border'].mean():.2f}</td>" in ex.html.value
    assert ex.mean_ious()["top-4"]["border"] > ex.mean_ious()["bottom-4"]["border"]
    ex.blocks.value, ex.steps.value = (0, 1), (0, 3)  # the tokens averaged over blocks 0-1 and steps 0 and 3
    mean = torch.stack([sub.tensors[key] for key in ((0, 0), (0, 3), (1, 0), (1, 3))]).mean(0)
    one = S.SpatialCapture(sub.prompts, sub.seeds, sub.images, {(9, 9): mean}, sub.grid, sub.num_steps)
    want = S.cluster(one, 9, 9, Selection("top", 4).channels(score)[1], 2)
    assert ex.status.value.startswith("blocks 0-1, steps 0,3: ") and ex.masks.block == (0, 1)
    assert np.array_equal(ex.masks.labels, want.labels)
    runs = len(ex.history)
    ex.named.value = "5, 64"
    assert isinstance(ex.last_error, ValueError) and "channel 64 out of range: channels are 0..63" in ex.status.value
    assert len(ex.history) == runs
    ex.steps.value = (1, 2)  # no captured step in the range: a clear error
    assert "no captured step in 1-2" in ex.status.value
    ex.named.value, ex.steps.value = "", (3, 3)
    assert ex.last_error is None and len(ex.history) == runs + 1 and ex.history[0]["steps"] == "3"
    ex.reset_button.click()
    assert ex.history == [] and ex.last_error is None and not ex.compare.value
    assert (ex.blocks.value, ex.steps.value, ex.k.value) == ((1, 1), (3, 3), 4)
    assert list(ex.arm_masks) == ["top-4"]
