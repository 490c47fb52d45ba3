"""Figures on Colab: the environment read from its markers, plotly's renderer set, a static PNG in explorers;
the massive-activation explorer driven through its controls and Run button."""
from __future__ import annotations

import io
import sys
import types

import plotly.io as pio
import pytest
from PIL import Image

import massact
from massact.plots import block_ratios, channel_profile
from massact.plots.common import figure_png
from massact.widgets import display as D

COLAB = {"COLAB_RELEASE_TAG": "release-colab_20261201-060000_RC00", "COLAB_GPU": "1"}


def test_the_environment_is_read_from_colabs_markers():
    assert D.environment(COLAB, {}) == "colab"
    assert D.environment({"COLAB_RELEASE_TAG": "x", "VSCODE_PID": "7"}, {}) == "colab"  # a Colab runtime in VS Code
    assert D.environment({}, {"google.colab": types.ModuleType("google.colab")}) == "colab"
    assert D.environment({"VSCODE_PID": "7"}, {}) == "vscode"
    assert D.environment({}, {}) == "jupyter"
    assert D.static_figures(COLAB, {}) and not D.static_figures({}, {})


def test_setup_display_sets_the_renderer_and_enables_colabs_widget_manager(monkeypatch):
    monkeypatch.setattr(pio.renderers, "default", pio.renderers.default)  # restored after the test
    calls = []
    google, colab, output = (types.ModuleType(n) for n in ("google", "google.colab", "google.colab.output"))
    output.enable_custom_widget_manager = lambda: calls.append("enabled")
    colab.output, google.colab = output, colab
    for name, mod in (("google", google), ("google.colab", colab), ("google.colab.output", output)):
        monkeypatch.setitem(sys.modules, name, mod)
    info = D.setup_display(COLAB, sys.modules)
    assert info == {"environment": "colab", "renderer": "colab", "custom_widget_manager": True, "static_figures": True}
    assert pio.renderers.default == "colab" and calls == ["enabled"]


def test_setup_display_keeps_plotlys_default_in_jupyter(monkeypatch):
    monkeypatch.setattr(pio.renderers, "default", "plotly_mimetype+notebook")
    info = D.setup_display({}, {})
    assert info["renderer"] is None and pio.renderers.default == "plotly_mimetype+notebook"
    assert not info["custom_widget_manager"] and not info["static_figures"]


def _png_size(data: bytes) -> tuple[int, int]:
    assert data[:8] == b"\x89PNG\r\n\x1a\n"
    return Image.open(io.BytesIO(data)).size


def test_figure_png_draws_bars_and_log_lines():
    rows = [{"block": b, "top1_over_median_absmean": 10.0 * (b + 1), "top1_over_median_meanabs": 3.0,
             "max_over_median": 50.0} for b in range(4)]
    assert _png_size(figure_png(block_ratios(rows))) == (720, 380)
    bars = figure_png(channel_profile([1.0] * 30 + [40.0, 2.0]), width=500, height=300)
    assert _png_size(bars) == (500, 300)
    img = Image.open(io.BytesIO(bars)).convert("RGB")
    # the top channel's bar is drawn in crimson, somewhere in the plot
    assert (220, 20, 60) in {c for _, c in img.getcolors(maxcolors=1 << 16)}


@pytest.fixture(scope="module")
def toy():
    return massact.load("toy")


def test_the_massive_explorer_shows_a_static_png_on_colab(toy, monkeypatch):
    from massact.widgets.massive import MassiveExplorer

    for k, v in COLAB.items():
        monkeypatch.setenv(k, v)
    ex = MassiveExplorer(toy, toy.world.evaluation_prompts(2), seeds=0)
    assert ex.last_error is None and ex.static_png is not None
    assert _png_size(ex.static_png)[0] == 720
    first = ex.static_png
    ex.blocks.value = (0, 0)  # a control change redraws the static image
    assert ex.static_png is not None and ex.static_png != first


def test_the_massive_explorer_keeps_plotly_outside_colab(toy, monkeypatch):
    from massact.widgets.massive import MassiveExplorer

    for k in list(COLAB) + ["VSCODE_PID"]:
        monkeypatch.delenv(k, raising=False)
    ex = MassiveExplorer(toy, toy.world.evaluation_prompts(2), seeds=0)
    assert ex.last_error is None and ex.static_png is None and ex.figure is not None


def test_the_massive_explorer_run_button_shows_the_captured_statistics(toy, monkeypatch):
    """Driven through its controls and button: the bars and the table are the public capture's
    score for the block, step and statistic the controls name; a control change redraws; a
    failed run is shown in the status line and the next run works."""
    from massact.widgets.massive import MassiveExplorer

    for k in list(COLAB) + ["VSCODE_PID"]:
        monkeypatch.delenv(k, raising=False)
    prompts, seeds = toy.world.evaluation_prompts(2), [3, 4]
    ex = MassiveExplorer(toy, prompts, seeds=seeds, top=3)
    stats = massact.generate(toy, prompts, seeds, capture=True).stats

    def shown(blocks, step, stat):
        per_block = stats.score(stat, steps=None if step < 0 else [step])
        score = per_block[blocks[0]] if len(blocks) == 1 else per_block[list(blocks)].mean(0)
        assert list(ex.figure.data[0].y) == score.tolist()
        top = score.topk(3)
        median = float(score.median())
        rows = "".join(f"<tr><td>{int(c)}</td><td>{float(v):.3g}</td><td>{float(v) / median:.3g}</td></tr>"
                       for v, c in zip(top.values, top.indices))
        assert rows in ex.html.value and ex.html.value.count("<tr>") == 4  # the header and the top 3
        return ex.html.value

    last = ex.gen.num_steps - 1
    ex.blocks.value, ex.steps.value, ex.stat.value = (2, 2), (5, 5), "maxabs"  # every change redraws
    ex.run_button.click()
    assert ex.last_error is None and ex.status.value == "block 2, step 5, maxabs" and not ex.run_button.disabled
    table = shown((2,), 5, "maxabs")
    ex.steps.value = (0, last)  # the whole range: the statistic over every step
    assert ex.last_error is None and ex.status.value == "block 2, all steps, maxabs"
    assert shown((2,), -1, "maxabs") != table
    ex.blocks.value = (1, 2)  # a range of blocks: their mean profile
    assert ex.last_error is None and ex.status.value == "blocks 1-2 (mean), all steps, maxabs"
    shown((1, 2), -1, "maxabs")
    ex.blocks.value = (2, 2)
    # a failed run is shown, not raised; the next run is whole again
    with monkeypatch.context() as m:
        m.setattr(ex.gen.stats, "score", lambda *a, **k: 1 / 0)
        ex.run_button.click()
    assert isinstance(ex.last_error, ZeroDivisionError) and ex.status.value.startswith("error: ZeroDivisionError")
    assert "division by zero" in ex.html.value and not ex.run_button.disabled
    ex.stat.value = "meanabs"
    assert ex.last_error is None and ex.status.value == "block 2, all steps, meanabs"
    shown((2,), -1, "meanabs")
