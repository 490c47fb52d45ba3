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


@pytest.mark.parametrize("stem", NOTEBOOKS)
def test_the_notebook_shows_the_task_text_written_once(stem):
    """The notebook's exercise cells are the module's text (scripts/finalize_notebooks.py writes them)."""
    import nbformat

    nb = nbformat.read(ROOT / "notebooks" / f"{stem}.ipynb", as_version=4)
    sources = [c.source for c in nb.cells]
    for e in ex.for_notebook(stem):
        assert e.markdown() in sources, f"{stem}: the exercise text differs from massact.exercises ({e.checker})"
        assert e.starter in sources, f"{stem}: the starter cell differs from massact.exercises ({e.checker})"


def test_the_starter_run_unchanged_prints_the_task(model, capsys):
    verdict(capsys, False, ex.check_top_channels(model, 4, ...))
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
