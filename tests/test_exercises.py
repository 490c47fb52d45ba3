"""The learner-facing checkers: correct answers pass, the usual wrong answers fail with a hint.

Runs on the shipped toy model with few prompts and steps (the checkers take them as
arguments), so the file stays well under a minute on one thread."""
from __future__ import annotations

import numpy as np
import pytest
import torch

import massact
from massact import exercises as ex
from massact.hooks import Tracer
from massact.toy.model import timesteps

torch.set_num_threads(1)
STEPS = 4



def verdict(capsys, ok_expected: bool, result: bool) -> str:
    out = capsys.readouterr().out
    assert result is ok_expected, out
    first = out.splitlines()[0]
    assert first.startswith("✅" if ok_expected else "❌"), out
    if not ok_expected:
        assert "Hint:" in out, out
    return out


def test_every_notebook_has_an_exercise():
    notebooks = {e.notebook for e in ex.EXERCISES}
    assert {"00_massive_activations", "01_critical", "02_spatial", "03_transferable", "04_use_cases"} <= notebooks
    for e in ex.EXERCISES:
        assert callable(getattr(ex, e.checker)), e.checker


# -- 00 ---------------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def small_stats(model):
    prompts = ex.evaluation_prompts(2)
    stats = massact.generate(model, prompts, [0, 1], steps=STEPS, capture=True).stats
    return prompts, stats


def test_top_channels(model, small_stats, capsys):
    prompts, stats = small_stats
    kw = dict(prompts=prompts, seeds=[0, 1], steps=STEPS)
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

    verdict(capsys, True, ex.check_disruption(model, zero_top_k, steps=STEPS))
    out = verdict(capsys, False, ex.check_disruption(
        model, lambda s, k: massact.EditSpec("zero", massact.channel_set(s, k, "bottom")), steps=STEPS))
    assert "lowest" in out
    out = verdict(capsys, False, ex.check_disruption(
        model, lambda s, k: massact.EditSpec("zero", massact.channel_set(s, k, "top"), steps=(0,)), steps=STEPS))
    assert "every step" in out
    out = verdict(capsys, False, ex.check_disruption(
        model, lambda s, k: massact.EditSpec("zero", massact.channel_set(s, k, "top", blocks=[0])), steps=STEPS))
    assert "not edited" in out
    verdict(capsys, False, ex.check_disruption(model, lambda s, k: massact.channel_set(s, k), steps=STEPS))

    def crashes(score, k):
        raise RuntimeError("boom")

    out = verdict(capsys, False, ex.check_disruption(model, crashes, steps=STEPS))
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
    verdict(capsys, True, ex.check_cluster_mask(model, kmeans_mask, steps=STEPS))
    verdict(capsys, True, ex.check_cluster_mask(model, ex.reference_cluster_mask, steps=STEPS))
    out = verdict(capsys, False, ex.check_cluster_mask(model, lambda t, c, g: ~kmeans_mask(t, c, g), steps=STEPS))
    assert "inverted" in out
    rng = np.random.default_rng(0)
    verdict(capsys, False, ex.check_cluster_mask(model, lambda t, c, g: rng.random(g) > 0.5, steps=STEPS))
    out = verdict(capsys, False, ex.check_cluster_mask(model, lambda t, c, g: np.zeros(5, bool), steps=STEPS))
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
        out = Tracer._apply(None, e, 0, 0, torch.stack([xt, xs]), "cond")[0]
        torch.testing.assert_close(out, ex.reference_mix(xt, xs, [1, 4], alpha, tm))


# -- 04 ---------------------------------------------------------------------------------------
def test_use_case(model, capsys):
    def interpolate(channels, alpha):
        return massact.EditSpec("mix", channels, alpha=alpha, source_rows=((1, 0),))

    verdict(capsys, True, ex.check_use_case(model, interpolate, steps=STEPS))
    verdict(capsys, True, ex.check_use_case(model, ex.reference_interpolation, alpha=1.0, steps=STEPS))
    out = verdict(capsys, False, ex.check_use_case(
        model, lambda ch, a: massact.EditSpec("mix", ch, alpha=a, source_rows=((0, 1),)), steps=STEPS))
    assert "(target_row, source_row)" in out
    out = verdict(capsys, False, ex.check_use_case(
        model, lambda ch, a: massact.EditSpec("replace", ch, source_rows=((1, 0),)), steps=STEPS))
    assert "alpha" in out
    verdict(capsys, False, ex.check_use_case(
        model, lambda ch, a: massact.EditSpec("replace", ch, alpha=a, source_rows=((1, 0),)), steps=STEPS))


def _euler_invert(model, images, prompts, steps, reverse=True):
    x = model.from_images(images)
    cond = model.conditioning(prompts, 1.0)
    ts = timesteps(steps)
    ts = ts.flip(0) if reverse else ts
    for i in range(steps):
        x = x + (float(ts[i + 1]) - float(ts[i])) * model.velocity(x, float(ts[i]), cond, 1.0)
    return x


def test_inversion(model, capsys):
    verdict(capsys, True, ex.check_inversion(model, _euler_invert, steps=3))
    out = verdict(capsys, False, ex.check_inversion(
        model, lambda m, im, p, s: _euler_invert(m, im, p, s, reverse=False), steps=3))
    assert "forwards" in out
    out = verdict(capsys, False, ex.check_inversion(model, lambda m, im, p, s: m.from_images(im), steps=3))
    assert "image itself" in out
