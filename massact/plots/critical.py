"""Figures of claim 1 (critical): dose-response, the early/late attribute breakdown, the
prompt/step independence of the ranking, and image grids (plotly, or PNG for the report and
the widget)."""
from __future__ import annotations

from typing import Sequence

import numpy as np
import plotly.graph_objects as go
from plotly.subplots import make_subplots

from .common import image_grid

ARM_COLORS = {"top": "crimson", "bottom": "steelblue", "random": "gray", "energy": "darkorange"}
METRIC_TITLES = {"caption_accuracy": "caption accuracy (judge, mean over attributes)",
                 "toy_fid": "toy FID (lower = closer to real images)",
                 "pixel_mse": "pixel MSE to the clean image", "clip_score": "CLIP score",
                 "detail_ratio": "detail energy / clean"}


def _rows(result_or_rows) -> list[dict]:
    return result_or_rows.table() if hasattr(result_or_rows, "table") else list(result_or_rows)


def _baseline_and_edited(result_or_rows) -> tuple[dict | None, list[dict]]:
    """The clean row (or None) and the edited rows; refuses rows with nothing edited."""
    rows = _rows(result_or_rows)
    edited = [r for r in rows if r["arm"] != "none"]
    if not edited:
        raise ValueError("no edited rows to plot")
    return next((r for r in rows if r["arm"] == "none"), None), edited


def _error_bars(rows: Sequence[dict], metric: str, arm: str) -> dict:
    """Error bars: the rows' 95% bootstrap interval (``<metric>_ci``) where they carry one,
    else the random arm's spread over draws."""
    if all(isinstance(r.get(f"{metric}_ci"), (list, tuple)) for r in rows):
        return dict(type="data", symmetric=False, array=[r[f"{metric}_ci"][1] - r[metric] for r in rows],
                    arrayminus=[r[metric] - r[f"{metric}_ci"][0] for r in rows], visible=True)
    return dict(type="data", array=[r.get(f"{metric}_std") or 0.0 for r in rows], visible=arm == "random")


def dose_response_figure(result_or_rows, metrics: Sequence[str] | None = None, blocks: str | None = None,
                         steps: str | None = None, title: str | None = None) -> go.Figure:
    """k against each metric (default: caption accuracy and toy FID where available, else
    pixel MSE), one line per arm with its 95% bootstrap interval over the images as error bars
    (the random arm's spread over draws for metrics without one), the clean value dotted.

    Args:
        result_or_rows: a ProbeResult or its table() rows.
        metrics: the metric keys to plot (None: what the rows have).
        blocks: the block-range label to keep (None: the first).
        steps: the step-range label to keep (None: the first).
        title: the figure title (None: a default).
    Returns:
        a plotly ``Figure``.
    """
    base, edited = _baseline_and_edited(result_or_rows)
    blocks = edited[0]["blocks"] if blocks is None else blocks
    steps = edited[0]["steps"] if steps is None else steps
    edited = [r for r in edited if r["blocks"] == blocks and r["steps"] == steps]
    if metrics is None:
        metrics = [m for m in ("caption_accuracy", "toy_fid") if edited[0].get(m) is not None] or ["pixel_mse"]
    fig = make_subplots(rows=1, cols=len(metrics), subplot_titles=[METRIC_TITLES.get(m, m) for m in metrics],
                        horizontal_spacing=0.1)
    for j, m in enumerate(metrics, start=1):
        for arm in ("top", "bottom", "random"):
            rs = sorted((r for r in edited if r["arm"] == arm and r.get(m) is not None), key=lambda r: r["k"])
            if not rs:
                continue
            fig.add_trace(go.Scatter(
                x=[r["k"] for r in rs], y=[r[m] for r in rs], mode="lines+markers", name=f"{arm}-k",
                legendgroup=arm, showlegend=j == 1, line=dict(color=ARM_COLORS[arm]),
                error_y=_error_bars(rs, m, arm),
                hovertemplate=f"{arm}-%{{x}}: %{{y:.3g}}<extra></extra>"), row=1, col=j)
        if base is not None and base.get(m) is not None:
            fig.add_hline(y=base[m], line_dash="dot", line_color="black", row=1, col=j,
                          annotation_text="clean", annotation_position="bottom right")
        fig.update_xaxes(type="log", title_text="k (channels zeroed per block)", row=1, col=j,
                         tickvals=sorted({r["k"] for r in edited}))
    fig.update_layout(title=title or f"Dose-response: zeroing k channels per block (blocks {blocks}, steps {steps})",
                      height=400, width=max(500, 480 * len(metrics)), margin=dict(l=50, r=20, t=70, b=50))
    return fig


def control_intervals_figure(result_or_rows, metric: str | None = None, title: str | None = None) -> go.Figure:
    """The controls at one k: per arm, zeroing beside mean ablation, each bar with its 95%
    bootstrap interval over the images, the clean value dotted.

    Args:
        result_or_rows: a ProbeResult (or its table() rows) run with ablation=("zero", "mean").
        metric: the metric (None: caption accuracy where available, else pixel MSE).
        title: the figure title (None: a default).
    Returns:
        a plotly ``Figure``.
    """
    base, edited = _baseline_and_edited(result_or_rows)
    if metric is None:
        metric = "caption_accuracy" if edited[0].get("caption_accuracy") is not None else "pixel_mse"
    k = edited[0]["k"]
    fig = go.Figure()
    for ab, pattern in (("zero", ""), ("mean", "/")):
        rs = [r for r in edited if r.get("ablation", "zero") == ab and r.get(metric) is not None]
        if not rs:
            continue
        fig.add_trace(go.Bar(x=[f"{r['arm']}-{r['k']}" for r in rs], y=[r[metric] for r in rs],
                             name=f"{ab} ablation", marker_pattern_shape=pattern,
                             marker_color=[ARM_COLORS.get(r["arm"], "darkorange") for r in rs],
                             error_y=_error_bars(rs, metric, "random")))
    if base is not None and base.get(metric) is not None:
        fig.add_hline(y=base[metric], line_dash="dot", line_color="black", annotation_text="clean")
    fig.update_layout(barmode="group", title=title or f"Controls at k={k}: zeroing vs mean ablation<br>"
                      "<sup>error bars: 95% bootstrap intervals over the same images</sup>",
                      yaxis_title=METRIC_TITLES.get(metric, metric), height=420, width=680,
                      margin=dict(l=60, r=20, t=80, b=50))
    return fig


def early_late_figure(breakdown: list[dict], k: int | None = None, blocks: str | None = None,
                      title: str | None = None) -> go.Figure:
    """Heatmap: attributes (rows) x arm / step range (columns), the accuracy drop against the
    clean images (positive = the attribute breaks), plus the detail loss.

    Args:
        breakdown: early_late rows.
        k: channels per block (None: the largest k with early/late rows).
        blocks: the block-range label to keep (None: the first).
        title: the figure title (None: a default).
    Returns:
        a plotly ``Figure``.
    """
    rows = [r for r in breakdown if (k is None or r["k"] == k) and (blocks is None or r["blocks"] == blocks)]
    if not rows:
        raise ValueError("no breakdown rows to plot")
    if k is None:  # the k that has early/late rows
        ks = [r["k"] for r in rows if r["steps"] in ("early", "late")] or [r["k"] for r in rows]
        k = max(ks)
        rows = [r for r in rows if r["k"] == k]
    order = {"early": 0, "late": 1, "all": 2}
    arm_order = {"top": 0, "bottom": 1, "random": 2}
    rows = sorted(rows, key=lambda r: (arm_order.get(r["arm"], 9), order.get(r["steps"], 3), str(r["steps"])))
    attrs = [key[5:] for key in rows[0] if key.startswith("drop_") and not key.endswith("_std") and key != "drop_mean"]
    ylabels = attrs + (["mean"] if "drop_mean" in rows[0] else []) + ["detail loss"]
    z = [[r[f"drop_{a}"] for r in rows] for a in attrs]
    if "drop_mean" in rows[0]:
        z.append([r["drop_mean"] for r in rows])
    z.append([r["detail_loss"] for r in rows])
    z = np.array(z, dtype=float)
    xlabels = [f"{r['arm']}-{r['k']}<br>{r['steps']} steps" for r in rows]
    lim = float(max(0.05, np.nanmax(np.abs(z))))
    fig = go.Figure(go.Heatmap(z=z, x=xlabels, y=ylabels, zmin=-lim, zmax=lim, colorscale="RdBu_r",
                               text=np.vectorize(lambda v: f"{v:+.2f}")(z), texttemplate="%{text}",
                               colorbar=dict(title="drop")))
    fig.update_layout(title=title or f"Which attributes break? accuracy drop vs clean (k={k}; detail loss = 1 - "
                      "detail energy ratio)", height=140 + 45 * len(ylabels), width=max(520, 110 * len(xlabels) + 200),
                      margin=dict(l=110, r=20, t=60, b=60), yaxis_autorange="reversed")
    return fig


def independence_figure(ind: dict, title: str | None = None) -> go.Figure:
    """Left: Jaccard overlaps (per prompt vs pooled, across prompts, across seeds) against
    chance; right: each step's top-k against the all-steps ranking.

    Args:
        ind: the independence dict (Jaccard overlaps, chance, k, statistic).
        title: the figure title (None: a default).
    Returns:
        a plotly ``Figure``.
    """
    fig = make_subplots(rows=1, cols=2, subplot_titles=["same channels across prompts?", "same channels across steps?"],
                        column_widths=[0.4, 0.6])
    names = ["prompt vs pooled", "across prompts", "across seeds"]
    vals = [ind["prompt_vs_pooled"], ind["across_prompts"], ind["across_seeds"]]
    fig.add_trace(go.Bar(x=names, y=[v if v is not None else 0 for v in vals], marker_color="teal", showlegend=False,
                         text=[f"{v:.2f}" if v is not None else "n/a" for v in vals], textposition="outside"), 1, 1)
    fig.add_trace(go.Scatter(x=list(range(len(ind["step_vs_pooled"]))), y=ind["step_vs_pooled"],
                             mode="lines+markers", name="step top-k vs pooled", line=dict(color="teal")), 1, 2)
    for c in (1, 2):
        fig.add_hline(y=ind["chance"], line_dash="dot", row=1, col=c, annotation_text="chance")
        fig.update_yaxes(range=[0, 1.1], title_text=f"Jaccard of top-{ind['k']} sets" if c == 1 else None, row=1, col=c)
    fig.update_xaxes(title_text="step (0 = noisiest)", row=1, col=2)
    fig.update_layout(title=title or f"Is the top-{ind['k']} ranking prompt-independent? ({ind['statistic']}, "
                      f"mean over blocks)", height=380, width=900, margin=dict(l=50, r=20, t=70, b=50))
    return fig


def comparison_grid(images, labels: Sequence[str], cols: int, title: str | None = None) -> go.Figure:
    """Plotly grid: one row per label (clean / top / bottom / random), ``cols`` seeds each.

    Args:
        images: (B, 3, H, W) in [0, 1] or uint8 (B, H, W, 3).
        labels: one label per grid row.
        cols: images per grid row.
        title: the figure title (None: a default).
    Returns:
        a plotly ``Figure``.
    """
    titles = [f"{lab}" if j == 0 else "" for lab in labels for j in range(cols)]
    return image_grid(images, titles=titles, cols=cols, title=title)
