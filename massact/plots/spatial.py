"""Figures of the spatial claim: mIoU curves over blocks, blocks x steps heatmaps, the
polarity comparison, and mask-overlay grids (numpy uint8 panels, shown with ``image_grid``
in a notebook, ``common.grid_png`` in the widget and the report)."""
from __future__ import annotations

import numpy as np
import plotly.graph_objects as go
from plotly.subplots import make_subplots

from .common import image_grid, log_k_axis, mark_massive_set, mask_overlay, to_uint8

ARM_COLORS = {"top": "crimson", "bottom": "steelblue", "random": "gray"}
RULE_DASH = {"border": "solid", "oracle": "dot", "activation": "dash"}
RULE_NAMES = {"border": "border rule", "oracle": "oracle", "activation": "activation rule"}
#: overlay colours: truth in green, predicted foreground in magenta
TRUTH_COLOR = (0, 220, 0)
MASK_COLOR = (255, 0, 255)
# a few anchors of the viridis colour map, for the score heatmaps
_VIRIDIS = np.array([[68, 1, 84], [59, 82, 139], [33, 145, 140], [94, 201, 98], [253, 231, 37]], dtype=np.float64)


def miou_curves(result, step: int | None = None, rules=("border", "oracle", "activation"), title: str | None = None):
    """mIoU over blocks at one step: one colour per arm (top, bottom, random), one dash per
    polarity rule (border rule solid, oracle dotted, activation rule dashed).

    Args:
        result: a SpatialResult.
        step: the step (None: the result's curve step).
        rules: the polarity rules drawn.
        title: the figure title (None: a default).
    Returns:
        a plotly ``Figure``.
    """
    step = result.curve_step if step is None else step
    fig = go.Figure()
    for arm in result.arms:
        for rule in rules:
            y = result.curve(arm, rule, step)
            err = None
            if arm == "random" and result.random_draws > 1:
                spread = result.random_spread(rule)[:, result.steps.index(step)]
                err = dict(type="data", array=spread, visible=True, thickness=1)
            fig.add_trace(go.Scatter(x=list(result.blocks), y=y, mode="lines+markers", error_y=err,
                                     name=f"{arm}-{result.k}, {RULE_NAMES[rule]}", legendgroup=arm,
                                     line=dict(color=ARM_COLORS.get(arm), dash=RULE_DASH[rule]),
                                     hovertemplate="block %{x}<br>mIoU %{y:.3f}<extra>" + f"{arm}, {rule}</extra>"))
    if result.all_foreground_iou is not None:
        fig.add_hline(y=result.all_foreground_iou, line_dash="dashdot", line_color="black",
                      annotation_text="all-foreground mask", annotation_position="bottom right")
    if result.grid_ceiling is not None:
        fig.add_hline(y=result.grid_ceiling, line_dash="dot", line_color="gray",
                      annotation_text="best token-level mask", annotation_position="top right")
    fig.update_layout(title=title or f"mIoU with the true foreground, per block (step {step}, k={result.k}, "
                                     f"K={result.K}, {result.num_images} images)",
                      xaxis_title="block", yaxis_title="mIoU", yaxis_range=[0, 1], height=420,
                      margin=dict(l=50, r=20, t=50, b=40), xaxis=dict(tickmode="array", tickvals=list(result.blocks)))
    return fig


def over_k_figure(ov: dict, massive_set: float | None = None, title: str | None = None):
    """The spatial claim over k: each arm's mIoU at its own best block against k, with 95%
    intervals, and the massive set's size marked.

    Args:
        ov: ``claims.spatial.over_k``'s dict.
        massive_set: the massive set's size (channels per block, e.g. the median over blocks), or None.
        title: the figure title (None: a default).
    Returns:
        a plotly ``Figure``.
    """
    fig = go.Figure()
    ks = [r["k"] for r in ov["per_k"]]
    for arm in ov["per_k"][0]["miou"]:
        ys = [r["miou"][arm]["mean"] for r in ov["per_k"]]
        lo = [r["miou"][arm]["ci"][0] for r in ov["per_k"]]
        hi = [r["miou"][arm]["ci"][1] for r in ov["per_k"]]
        fig.add_trace(go.Scatter(x=ks, y=ys, mode="lines+markers", name=arm,
                                 line=dict(color=ARM_COLORS.get(arm, "black")),
                                 error_y=dict(type="data", symmetric=False, array=[h - y for h, y in zip(hi, ys)],
                                              arrayminus=[y - low for y, low in zip(ys, lo)])))
    if massive_set is not None:
        mark_massive_set(fig, massive_set, ks)
    marked = "" if massive_set is None else f"<br><sub>dotted: the massive set, {massive_set:g} channels per block</sub>"
    fig.update_layout(title=title or f"spatial over k (step {ov['step']}, each arm at its own best block){marked}",
                      xaxis=dict(title="k (channels per block)", **log_k_axis(ks)),
                      yaxis_title="mIoU (border rule)", height=360)
    return fig


def miou_heatmap(result, rule: str = "border", arms=None, title: str | None = None):
    """Blocks x steps mIoU, one panel per arm, on a shared 0..1 colour scale.

    Args:
        result: a SpatialResult.
        rule: the polarity rule.
        arms: the arms drawn (None: all).
        title: the figure title (None: a default).
    Returns:
        a plotly ``Figure``.
    """
    arms = list(arms or result.arms)
    fig = make_subplots(rows=1, cols=len(arms), subplot_titles=[f"{a}-{result.k}" for a in arms],
                        shared_yaxes=True, horizontal_spacing=0.04)
    for i, arm in enumerate(arms):
        m = result.miou(arm, rule)
        fig.add_trace(go.Heatmap(z=m, x=[str(s) for s in result.steps], y=[str(b) for b in result.blocks],
                                 zmin=0, zmax=1, colorscale="Viridis", showscale=i == len(arms) - 1,
                                 colorbar=dict(title="mIoU"), text=np.round(m, 2), texttemplate="%{text}",
                                 hovertemplate="block %{y}, step %{x}<br>mIoU %{z:.3f}<extra>" + arm + "</extra>"),
                      row=1, col=i + 1)
        fig.update_xaxes(title_text="step", row=1, col=i + 1)
    fig.update_yaxes(title_text="block", row=1, col=1)
    fig.update_layout(title=title or f"mIoU over blocks x steps ({RULE_NAMES[rule]}, k={result.k})", height=380,
                      margin=dict(l=50, r=20, t=70, b=40))
    return fig


def polarity_bars(result, arm: str = "top", step: int | None = None, title: str | None = None):
    """Per block, the three ways to pick the foreground cluster side by side.

    Args:
        result: a SpatialResult.
        arm: the arm.
        step: the step (None: the result's curve step).
        title: the figure title (None: a default).
    Returns:
        a plotly ``Figure``.
    """
    step = result.curve_step if step is None else step
    colors = {"activation": "darkorange", "border": "crimson", "oracle": "lightgray"}
    fig = go.Figure()
    for rule in ("activation", "border", "oracle"):
        fig.add_trace(go.Bar(x=[str(b) for b in result.blocks], y=result.curve(arm, rule, step),
                             name=RULE_NAMES[rule], marker_color=colors[rule],
                             hovertemplate="block %{x}<br>mIoU %{y:.3f}<extra>" + rule + "</extra>"))
    fig.update_layout(barmode="group", title=title or f"Which cluster is the foreground? {arm}-{result.k}, step {step}",
                      xaxis_title="block", yaxis_title="mIoU", yaxis_range=[0, 1], height=380,
                      margin=dict(l=50, r=20, t=50, b=40))
    return fig


def score_colors(score, size: tuple[int, int] | int) -> np.ndarray:
    """Score maps (B, h, w) -> viridis uint8 images (B, H, W, 3), each map scaled to its own range.

    Args:
        score: score maps (B, h, w).
        size: the output image size (H, W) or one int.
    Returns:
        uint8 (B, H, W, 3).
    """
    s = np.asarray(score, dtype=np.float64)
    if s.ndim == 2:
        s = s[None]
    lo, hi = s.min((1, 2), keepdims=True), s.max((1, 2), keepdims=True)
    t = (s - lo) / np.where(hi - lo > 0, hi - lo, 1.0) * (len(_VIRIDIS) - 1)
    i = np.clip(np.floor(t).astype(int), 0, len(_VIRIDIS) - 2)
    f = (t - i)[..., None]
    rgb = _VIRIDIS[i] * (1 - f) + _VIRIDIS[i + 1] * f
    H, W = (size, size) if isinstance(size, int) else size
    rgb = rgb.repeat(H // s.shape[1], axis=1).repeat(W // s.shape[2], axis=2)
    return rgb.round().astype(np.uint8)


def overlay_panels(images, masks: dict, truth=None, score=None, image_column: bool = True):
    """Panels for a grid with one row per image: the image, the true mask (green), each
    predicted mask (magenta; masks: title -> (B, H, W) bool) and the score heatmap.
    Returns (uint8 (B * columns, H, W, 3), column titles)."""
    base = to_uint8(images)
    B, H, W, _ = base.shape
    cols, titles = [], []
    if image_column:
        cols.append(base)
        titles.append("image")
    if truth is not None:
        cols.append(mask_overlay(images, np.asarray(truth, bool), color=TRUTH_COLOR))
        titles.append("true foreground")
    for name, m in masks.items():
        cols.append(mask_overlay(images, np.asarray(m, bool), color=MASK_COLOR))
        titles.append(name)
    if score is not None:
        cols.append(score_colors(score, (H, W)))
        titles.append("score map")
    return np.stack(cols, 1).reshape(B * len(cols), H, W, 3), titles


def overlay_grid(images, masks: dict, truth=None, score=None, row_labels=None, title: str | None = None, scale: int = 4):
    """A plotly grid of ``overlay_panels`` (rows = images, columns = image, truth, masks, score).

    Args:
        images: (B, 3, H, W) in [0, 1] or uint8 (B, H, W, 3).
        masks: title -> predicted masks (B, H, W) bool.
        truth: the true masks (B, H, W) or None.
        score: score maps (B, h, w).
        row_labels: a label per image row.
        title: the figure title (None: a default).
        scale: upscaling.
    Returns:
        a plotly ``Figure``.
    """
    panels, titles = overlay_panels(images, masks, truth, score)
    n, B = len(titles), len(panels) // len(titles)
    labels = [titles[c] if r == 0 else "" for r in range(B) for c in range(n)]
    if row_labels is not None:  # the image column names its row
        for r in range(B):
            labels[r * n] = str(row_labels[r])
    return image_grid(panels, titles=labels, cols=n, scale=scale, title=title)
