"""Figures of claim 1 (critical): the effect over k (dose-response), the controls at one k, the
early/late attribute breakdown, the prompt/step independence of the ranking, and image grids
(plotly, or PNG for the report and the widget)."""
from __future__ import annotations

from typing import Sequence

import numpy as np
import plotly.graph_objects as go
from plotly.subplots import make_subplots

from ..claims.critical import CLEAN, condition
from .common import image_grid, log_k_axis, mark_massive_set

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


#: the panels of the curve over k: (metric, axis title); the effect of zeroing, positive = worse
EFFECT_TITLES = {"caption_accuracy": "caption accuracy drop (clean - zeroed)",
                 "pixel_mse": "pixel MSE to the clean image"}


def _effect(result, metric: str, arm: str, k: int, blocks: str, steps: str):
    """The effect of zeroing one arm's k channels, per image, with its 95% bootstrap interval:
    the paired drop of caption accuracy against the clean images, or the pixel MSE to them."""
    zeroed = condition(arm, k, blocks, steps)
    if metric == "caption_accuracy":
        return result.difference(metric, CLEAN, zeroed)
    return result.estimate(metric, **zeroed)


def dose_response_figure(result, massive_set: float | None = None, blocks: str | None = None,
                         steps: str | None = None, title: str | None = None) -> go.Figure:
    """The critical claim over k: the effect of zeroing k channels per block against k (a log axis,
    a tick at each k), one line per arm (top, bottom, random) with its 95% bootstrap interval
    over the same images, and the massive set's size as a dotted vertical line.

    Panels, for the per-image metrics the probe measured: the drop of the judge's caption
    accuracy against the clean images (clean - zeroed, paired per image) and the pixel MSE to
    the clean image of the same seed. The random arm is the probe's (``meta["random_outside"]``:
    the top channels it was drawn outside of), its draws averaged per image.

    Args:
        result: a ``ProbeResult`` (``claims.critical.probe``).
        massive_set: the massive set's size in channels per block (e.g. the median over blocks of
          ``massive_set_10x`` in ``ChannelStats.ratio_table()``), or None for no line.
        blocks: the block-range label to draw (None: the first run).
        steps: the step-range label to draw (None: the first run).
        title: the figure title (None: a default).
    Returns:
        a plotly ``Figure``.
    Raises:
        ValueError when the result holds no zeroed rows at those blocks and steps, or neither
        per-image metric.
    """
    conds = result.edited_conditions()
    if not conds:
        raise ValueError("no edited rows to plot")
    blocks = conds[0][1] if blocks is None else blocks
    steps = conds[0][2] if steps is None else steps
    run = {(c["arm"], c["k"]) for c in result.conditions
           if (c["blocks"], c["steps"], c["ablation"]) == (blocks, steps, "zero")}
    ks = sorted({k for _, k in run})
    if not ks:
        raise ValueError(f"no zeroed rows at blocks {blocks!r}, steps {steps!r}; the result holds "
                         f"{sorted({c[1:] for c in conds})} (blocks, steps)")
    metrics = [m for m in EFFECT_TITLES if m in result.metrics]
    if not metrics:
        raise ValueError(f"the result measures neither {' nor '.join(EFFECT_TITLES)} per image: nothing to draw")
    outside = result.meta.get("random_outside", 0)
    names = {"top": "top-k", "bottom": "bottom-k",
             "random": f"random-k, outside the top-{outside}" if outside else "random-k, from all channels"}
    fig = make_subplots(rows=1, cols=len(metrics), subplot_titles=[EFFECT_TITLES[m] for m in metrics],
                        horizontal_spacing=0.12)
    for j, m in enumerate(metrics, start=1):
        for arm in ("top", "bottom", "random"):
            arm_ks = [k for k in ks if (arm, k) in run]
            if not arm_ks:
                continue
            est = [_effect(result, m, arm, k, blocks, steps) for k in arm_ks]
            fig.add_trace(go.Scatter(
                x=arm_ks, y=[e.mean for e in est], mode="lines+markers", name=names[arm], legendgroup=arm,
                showlegend=j == 1, line=dict(color=ARM_COLORS[arm]),
                error_y=dict(type="data", symmetric=False, array=[e.ci[1] - e.mean for e in est],
                             arrayminus=[e.mean - e.ci[0] for e in est], visible=True),
                hovertemplate=f"{arm}-%{{x}}: %{{y:.3g}}<extra></extra>"), row=1, col=j)
        fig.add_hline(y=0.0, line_color="lightgray", row=1, col=j)
        if massive_set is not None:
            mark_massive_set(fig, massive_set, ks, row=1, col=j)
        fig.update_xaxes(title_text="k (channels zeroed per block)", row=1, col=j, **log_k_axis(ks))
    marked = ("" if massive_set is None else
              f"; dotted: the massive set, {massive_set:g} channels per block")
    fig.update_layout(title=title or f"Zeroing k channels per block (blocks {blocks}, steps {steps}, "
                                     f"{len(result.prompts)} images)<br><sub>error bars: 95% bootstrap intervals "
                                     f"over the same images{marked}</sub>",
                      height=440, width=max(520, 480 * len(metrics)), margin=dict(l=50, r=20, t=110, b=50))
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
