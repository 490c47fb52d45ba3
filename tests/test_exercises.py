"""The learner-facing checkers: correct answers pass, the usual wrong answers fail with a hint.

Runs on the shipped toy model with few prompts and steps (the checkers take them as
arguments), so the file stays well under a minute on one thread. Also: each exercise's task
text is the notebook's, the starter run unchanged prints the task, and a model without a
world gets a clear verdict instead of a traceback."""
from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch

import massact
from massact import exercises as ex
from tiny_models import apply_edit

ROOT = Path(__file__).resolve().parents[1]
STEPS = 4



def verdict(capsys, ok_expected: bool, result: bool) -> str:
    out = capsys.readouterr().out
    assert result is ok_expected, out
    first = out.splitlines()[0]
    assert first.startswith("✅" if ok_expected else "❌"), out
    if not ok_expected:
        assert "Hint:" in out, out
    return out


NOTEBOOKS = ("00_massive_activations", "01_critical", "02_spatial", "03_transferable", "04_use_cases")


def test_every_notebook_has_an_exercise():
    notebooks = {e.notebook for e in ex.EXERCISES}
    assert set(NOTEBOOKS) <= notebooks
    for e in ex.EXERCISES:
        assert callable(getattr(ex, e.checker)), e.checker
        assert e.starter is None or f"from massact.exercises import {e.checker}" in e.starter


def test_every_notebook_asks_for_a_prediction_and_shows_every_exercise():
    assert [e.notebook for e in ex.PREDICTIONS] == list(NOTEBOOKS)
    assert all(e.starter is not None for e in ex.EXERCISES)  # the inversion exercise too
    for e in ex.PREDICTIONS:
        assert "PREDICTION = ...  #" in e.starter and e.before is not None, e.checker


def test_no_starter_holds_its_answer():
    """A starter's comment names the concept, never the code of the answer."""
    for e in ex.EXERCISES:
        for code in ("EditSpec(", "source_rows", "topk", "velocity(", "KMeans("):
            assert code not in e.starter, f"{e.checker}'s starter gives away {code!r}"


@pytest.mark.parametrize("stem", NOTEBOOKS)
def test_the_notebook_shows_the_task_text_written_once(stem):
    """The notebook's exercise cells are the module's text (scripts/finalize_notebooks.py writes them)."""
    import nbformat

    nb = nbformat.read(ROOT / "notebooks" / f"{stem}.ipynb", as_version=4)
    sources = [c.source for c in nb.cells]
    for e in ex.for_notebook(stem):
        assert e.markdown() in sources, f"{stem}: the exercise text differs from massact.exercises ({e.checker})"
        assert e.starter in sources, f"{stem}: the starter cell differs from massact.exercises ({e.checker})"
        at = sources.index(e.starter)
        assert sources[at - 1] == e.markdown()
        if e.before is not None:  # a prediction comes right before the section that measures it
            assert sources[at + 1].startswith(e.before), f"{stem}: {e.checker} is not before {e.before!r}"


def test_the_claims_across_training_close_the_course():
    """They use what notebooks 01-03 introduce, so they are notebook 04's last section; 00 points there."""
    import nbformat

    read = lambda stem: [c.source for c in nbformat.read(ROOT / "notebooks" / f"{stem}.ipynb", as_version=4).cells]
    first, last = read("00_massive_activations"), read("04_use_cases")
    assert not any("across_training(" in s for s in first)
    assert any("04_use_cases.ipynb" in s and "across training" in s for s in first)
    assert last[-2].startswith("## 5 · Synthesis: the claims across training") and "across_training(" in last[-1]
    for stem in NOTEBOOKS:  # each says what it costs on a CPU
        assert "on a laptop CPU" in read(stem)[0] or "*Time on a CPU:*" in read(stem)[0], stem


def test_the_starter_run_unchanged_prints_the_task(model, capsys):
    verdict(capsys, False, ex.check_top_channels(model, 4, ...))
    out = verdict(capsys, False, ex.check_inversion(model, lambda m, im, p, s: None))
    assert "not answered yet" in out and "backwards" in out
    for check, starter_fn in ((ex.check_disruption, lambda score, k: None),
                              (ex.check_use_case, lambda channels, alpha: None)):
        out = verdict(capsys, False, check(model, starter_fn, num_steps=2))
        assert "not answered yet" in out
    out = verdict(capsys, False, ex.check_transport(lambda xt, xs, ch, a, tm=None: None))
    assert "Write the transport formula" in out  # the task, from the same text as the notebook's
    out = verdict(capsys, False, ex.check_cluster_mask(model, lambda t, c, g: None, num_steps=2, n_images=1))
    assert "my_mask(tokens, channels, grid)" in out


def test_a_model_without_a_world_gets_a_clear_verdict(model, capsys, monkeypatch):
    monkeypatch.setattr(model, "world", None)
    for call in (lambda: ex.check_top_channels(model, 4, [0, 1, 2]),
                 lambda: ex.check_disruption(model, lambda s, k: None, num_steps=2),
                 lambda: ex.check_cluster_mask(model, lambda t, c, g: None, num_steps=2),
                 lambda: ex.check_use_case(model, lambda c, a: None, num_steps=2)):
        out = verdict(capsys, False, call())
        assert "model.world is None" in out and "prompts=" in out
    out = verdict(capsys, False, ex.check_inversion(model, lambda *a: None))
    assert "model.world is None" in out


# -- predictions ------------------------------------------------------------------------------
#: each prediction's checker, its module's measurement, a valid prediction and small sizes for a live run
PREDICTIONS = {
    "predict_top_channel_over_steps": ("massive", "measure_top_channel_over_steps", "last", dict(num_steps=STEPS)),
    "predict_random_against_bottom": ("critical", "measure_random_against_bottom", "more",
                                      dict(n_images=2, num_steps=2)),
    "predict_mask_channels": ("spatial", "measure_mask_channels", "top", dict(n_images=2, num_steps=2)),
    "predict_transported_attribute": ("transport", "measure_transported_attribute", "shape",
                                      dict(n_pairs=3, num_steps=2)),
    "predict_interpolation_midpoint": ("use_cases", "measure_interpolation_midpoint", "target",
                                       dict(n_pairs=2, num_steps=2)),
}


def _no_measuring(*args, **kwargs):
    raise AssertionError("measured an unanswered or invalid prediction")


@pytest.mark.parametrize("checker", PREDICTIONS)
def test_an_unanswered_prediction_is_reported_without_measuring(model, checker, capsys, monkeypatch):
    module, measure, _, _ = PREDICTIONS[checker]
    monkeypatch.setattr(getattr(ex, module), measure, _no_measuring)
    assert getattr(ex, checker)(model, ...) is None
    out = capsys.readouterr().out
    assert out.startswith("❌ not answered yet") and "Predict first" in out


@pytest.mark.parametrize("checker", PREDICTIONS)
def test_an_invalid_prediction_names_the_valid_options(model, checker, monkeypatch):
    module, measure, valid, _ = PREDICTIONS[checker]
    monkeypatch.setattr(getattr(ex, module), measure, _no_measuring)
    with pytest.raises(ValueError, match=f"not one of the options: .*'{valid}'"):
        getattr(ex, checker)(model, "probably")


@pytest.mark.parametrize("checker", PREDICTIONS)
def test_a_prediction_is_judged_by_the_measurement(model, checker, capsys, monkeypatch):
    """The same prediction is right or wrong as the measurement says (forced both ways here)."""
    from massact.exercises.common import Measured

    module, measure, valid, _ = PREDICTIONS[checker]
    for outcome, correct in ((valid, True), ("elsewhere", False)):
        monkeypatch.setattr(getattr(ex, module), measure,
                            lambda *a, outcome=outcome, **k: Measured(outcome, "measured 0.5 [0.4, 0.6]", "because"))
        result = getattr(ex, checker)(model, f" {valid.upper()} ")  # case and spaces are forgiven
        assert isinstance(result, ex.PredictionCheck)
        assert (result.correct, result.outcome, result.prediction) == (correct, outcome, valid)
        out = capsys.readouterr().out
        assert out.startswith("✅" if correct else "❌") and "Measured: measured 0.5 [0.4, 0.6]" in out
        assert "Why: because" in out


@pytest.mark.parametrize("checker", PREDICTIONS)
def test_a_prediction_is_measured_on_the_live_model(model, checker, capsys):
    module, measure, valid, small = PREDICTIONS[checker]
    measured = getattr(getattr(ex, module), measure)(model, **small)
    result = getattr(ex, checker)(model, valid, **small)
    assert result.outcome in (valid, measured.outcome) and result.correct == (valid in (measured.outcome,)
                                                                              + measured.also)
    assert result.measured == measured.text and "[" in result.measured  # the interval
    assert capsys.readouterr().out.splitlines()[0].startswith("✅" if result.correct else "❌")


def test_the_outcome_is_read_from_the_interval():
    from massact.exercises.common import outcome_of
    from massact.stats import Estimate

    options = ("above", "below", "within")
    assert outcome_of(Estimate(0.2, (0.1, 0.3), 8), *options) == "above"
    assert outcome_of(Estimate(-0.2, (-0.3, -0.1), 8), *options) == "below"
    assert outcome_of(Estimate(0.2, (-0.1, 0.3), 8), *options) == "within"
    assert outcome_of(Estimate(0.45, (0.3, 0.6), 8), *options, reference=0.5) == "within"
    assert outcome_of(Estimate(0.2, (0.1, 0.3), 8), *options, reference=0.5) == "below"


def test_the_step_prediction_follows_the_paired_interval(model, capsys, monkeypatch):
    """The measurement itself decides: a forced paired interval above 0 reads 'last', below 0 'first'."""
    from massact.stats import Estimate

    kw = dict(prompts=model.world.evaluation_prompts(2), seeds=[0, 1], num_steps=STEPS)
    for est, outcome in ((Estimate(1.0, (0.5, 1.5), 2), "last"), (Estimate(-1.0, (-1.5, -0.5), 2), "first"),
                         (Estimate(0.1, (-0.5, 0.7), 2), "same")):
        monkeypatch.setattr(ex.massive, "paired_difference", lambda a, b, est=est: est)
        result = ex.predict_top_channel_over_steps(model, "last", **kw)
        assert result.outcome == outcome and result.correct == (outcome == "last")
    capsys.readouterr()


def test_a_model_without_a_world_cannot_be_measured(model, capsys, monkeypatch):
    monkeypatch.setattr(model, "world", None)
    assert ex.predict_random_against_bottom(model, "more") is None
    out = capsys.readouterr().out
    assert out.startswith("❌") and "model.world is None" in out
    assert ex.predict_transported_attribute(model, "shape") is None
    assert "no world" in capsys.readouterr().out


# -- 00 ---------------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def small_stats(model):
    prompts = model.world.evaluation_prompts(2)
    stats = massact.generate(model, prompts, [0, 1], num_steps=STEPS, capture=True).stats
    return prompts, stats


def test_top_channels(model, small_stats, capsys):
    prompts, stats = small_stats
    kw = dict(prompts=prompts, seeds=[0, 1], num_steps=STEPS)
    score = stats.score("absmean")[4]
    top = score.topk(3).indices.tolist()
    verdict(capsys, True, ex.check_top_channels(model, 4, top, **kw))
    verdict(capsys, True, ex.check_top_channels(model, 4, torch.tensor(top), **kw))  # a tensor is fine
    verdict(capsys, True, ex.check_top_channels(model, 4, {4: top}, **kw))  # so is channel_set's dict
    out = verdict(capsys, False, ex.check_top_channels(model, 4, top[::-1], **kw))
    assert "order" in out
    out = verdict(capsys, False, ex.check_top_channels(model, 4, (-score).topk(3).indices.tolist(), **kw))
    assert "smallest" in out
    verdict(capsys, False, ex.check_top_channels(model, 4, top[:2], **kw))
    verdict(capsys, False, ex.check_top_channels(model, 4, [top[0]] * 3, **kw))
    verdict(capsys, False, ex.check_top_channels(model, 4, [0, 1, model.width], **kw))
    verdict(capsys, False, ex.check_top_channels(model, model.num_blocks, top, **kw))
    # at one step: the ranking of that step, not the one averaged over every step
    last = stats.score("absmean", steps=[STEPS - 1])
    pooled = stats.score("absmean")
    block = next(b for b in range(model.num_blocks)
                 if set(last[b].topk(3).indices.tolist()) != set(pooled[b].topk(3).indices.tolist()))
    verdict(capsys, True, ex.check_top_channels(model, block, last[block].topk(3).indices.tolist(), step=-1, **kw))
    out = verdict(capsys, False, ex.check_top_channels(model, block, pooled[block].topk(3).indices.tolist(), step=-1,
                                                       **kw))
    assert "averaged over every step" in out
    out = verdict(capsys, False, ex.check_top_channels(model, block, top, step=STEPS, **kw))
    assert "step" in out and "out of range" in out


def test_the_top_channel_answer_is_not_in_the_table_before_it(model):
    """Notebook 00's exercise asks for a ranking its §3 table does not print (on the notebook's generation)."""
    prompts = model.world.evaluation_prompts(8)
    stats = massact.generate(model, prompts, list(range(8)), capture=True).stats
    printed = {r["block"]: r["top_channels"] for r in stats.ratio_table()}
    answer = stats.score("absmean", steps=[stats.steps[-1]])[1].topk(3).indices.tolist()
    assert answer != printed[1][:3]
    assert "check_top_channels(model, block=1, step=-1," in ex.massive.EXERCISE.starter


# -- 01 ---------------------------------------------------------------------------------------
def test_disruption(model, capsys):
    def zero_top_k(score, k):
        return massact.EditSpec("zero", {b: tuple(score[b].topk(k).indices.tolist()) for b in range(score.shape[0])})

    verdict(capsys, True, ex.check_disruption(model, zero_top_k, num_steps=STEPS))
    out = verdict(capsys, False, ex.check_disruption(
        model, lambda s, k: massact.EditSpec("zero", massact.channel_set(s, k, "bottom")), num_steps=STEPS))
    assert "lowest" in out
    out = verdict(capsys, False, ex.check_disruption(
        model, lambda s, k: massact.EditSpec("zero", massact.channel_set(s, k, "top"), steps=(0,)), num_steps=STEPS))
    assert "every step" in out
    out = verdict(capsys, False, ex.check_disruption(
        model, lambda s, k: massact.EditSpec("zero", massact.channel_set(s, k, "top", blocks=[0])), num_steps=STEPS))
    assert "not edited" in out
    verdict(capsys, False, ex.check_disruption(model, lambda s, k: massact.channel_set(s, k), num_steps=STEPS))

    def crashes(score, k):
        raise RuntimeError("boom")

    out = verdict(capsys, False, ex.check_disruption(model, crashes, num_steps=STEPS))
    assert "boom" in out


# -- 02 ---------------------------------------------------------------------------------------
def kmeans_mask(tokens, channels, grid, normalise=True):
    from sklearn.cluster import KMeans

    x = tokens[:, channels].double().numpy()
    if normalise:
        span = np.ptp(x, axis=0)
        x = (x - x.min(0)) / np.where(span > 1e-12, span, 1.0)
    labels = KMeans(n_clusters=2, n_init=4, random_state=0).fit_predict(x).reshape(grid)
    border = np.zeros(grid, bool)
    border[0], border[-1], border[:, 0], border[:, -1] = True, True, True, True
    shares = [border[labels == c].mean() if (labels == c).any() else -1.0 for c in range(2)]
    return labels != int(np.argmax(shares))


def test_cluster_mask(model, capsys):
    verdict(capsys, True, ex.check_cluster_mask(model, kmeans_mask, num_steps=STEPS))
    verdict(capsys, True, ex.check_cluster_mask(model, ex.reference_cluster_mask, num_steps=STEPS))
    out = verdict(capsys, False, ex.check_cluster_mask(model, lambda t, c, g: ~kmeans_mask(t, c, g), num_steps=STEPS))
    assert "inverted" in out
    rng = np.random.default_rng(0)
    verdict(capsys, False, ex.check_cluster_mask(model, lambda t, c, g: rng.random(g) > 0.5, num_steps=STEPS))
    out = verdict(capsys, False, ex.check_cluster_mask(model, lambda t, c, g: np.zeros(5, bool), num_steps=STEPS))
    assert "shape" in out


# -- 03 ---------------------------------------------------------------------------------------
def mix(x_target, x_source, channels, alpha, token_mask=None):
    M = torch.zeros_like(x_target)
    M[:, channels] = 1.0
    if token_mask is not None:
        M = M * token_mask[:, None].to(x_target.dtype)
    return x_target * (1 - alpha * M) + x_source * alpha * M


def test_transport(capsys):
    verdict(capsys, True, ex.check_transport(mix))
    out = verdict(capsys, False, ex.check_transport(lambda xt, xs, ch, a, tm=None: mix(xs, xt, ch, a, tm)))
    assert "alpha = 0" in out
    out = verdict(capsys, False, ex.check_transport(lambda xt, xs, ch, a, tm=None: mix(xt, xs, ch, a)))
    assert "token mask" in out
    out = verdict(capsys, False, ex.check_transport(
        lambda xt, xs, ch, a, tm=None: mix(xt, xs, list(range(xt.shape[1])), a, tm)))
    assert "only the given channels" in out

    def in_place(xt, xs, ch, a, tm=None):
        xt[:, ch] = mix(xt, xs, ch, a, tm)[:, ch]
        return xt

    out = verdict(capsys, False, ex.check_transport(in_place))
    assert "in place" in out


def test_reference_mix_is_massacts_mix():
    """The checker's formula is what EditSpec('mix') does inside the hooks."""
    g = torch.Generator().manual_seed(1)
    xt, xs = torch.randn(10, 6, generator=g), torch.randn(10, 6, generator=g)
    mask = torch.rand(10, generator=g) > 0.4
    for alpha, tm in ((0.3, None), (0.7, mask), (1.0, mask)):
        e = massact.EditSpec("mix", {0: (1, 4)}, alpha=alpha, token_mask=None if tm is None else tm.float(),
                             source_rows=((0, 1),))
        out = apply_edit(e, 0, 0, torch.stack([xt, xs]))[0]
        torch.testing.assert_close(out, ex.reference_mix(xt, xs, [1, 4], alpha, tm))


# -- 04 ---------------------------------------------------------------------------------------
def test_use_case(model, capsys):
    def interpolate(channels, alpha):
        return massact.EditSpec("mix", channels, alpha=alpha, source_rows=((1, 0),))

    verdict(capsys, True, ex.check_use_case(model, interpolate, num_steps=STEPS))
    verdict(capsys, True, ex.check_use_case(model, ex.reference_interpolation, alpha=1.0, num_steps=STEPS))
    out = verdict(capsys, False, ex.check_use_case(
        model, lambda ch, a: massact.EditSpec("mix", ch, alpha=a, source_rows=((0, 1),)), num_steps=STEPS))
    assert "(target_row, source_row)" in out
    out = verdict(capsys, False, ex.check_use_case(
        model, lambda ch, a: massact.EditSpec("replace", ch, source_rows=((1, 0),)), num_steps=STEPS))
    assert "alpha" in out
    verdict(capsys, False, ex.check_use_case(
        model, lambda ch, a: massact.EditSpec("replace", ch, alpha=a, source_rows=((1, 0),)), num_steps=STEPS))


def _euler_invert(model, images, prompts, num_steps, reverse=True):
    x = model.from_images(images)
    cond = model.encode_prompts(prompts, 1.0)
    ts = model.timesteps(num_steps)
    ts = ts.flip(0) if reverse else ts
    for i in range(num_steps):
        x = x + (float(ts[i + 1]) - float(ts[i])) * model.velocity(x, float(ts[i]), cond, 1.0)
    return x


def test_inversion(model, capsys):
    verdict(capsys, True, ex.check_inversion(model, _euler_invert, num_steps=3))
    out = verdict(capsys, False, ex.check_inversion(
        model, lambda m, im, p, s: _euler_invert(m, im, p, s, reverse=False), num_steps=3))
    assert "forwards" in out
    out = verdict(capsys, False, ex.check_inversion(model, lambda m, im, p, s: m.from_images(im), num_steps=3))
    assert "image itself" in out


def test_inversion_needs_a_model_that_exposes_its_sampler(model, capsys, monkeypatch):
    monkeypatch.setattr(model, "exposes_sampler", False)
    out = verdict(capsys, False, ex.check_inversion(model, _euler_invert, num_steps=3))
    assert "exposes_sampler" in out


def test_inversion_needs_a_world_that_renders(model, capsys, monkeypatch):
    def no_renderer(*args, **kwargs):
        raise NotImplementedError("no renderer")

    monkeypatch.setattr(model.world, "render_references", no_renderer)
    out = verdict(capsys, False, ex.check_inversion(model, _euler_invert, num_steps=3))
    assert "has no renderer" in out
