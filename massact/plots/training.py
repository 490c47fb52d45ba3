"""Figures for the claims across training: the massive ratio and each claim's effect, per checkpoint."""
from __future__ import annotations

from typing import Sequence

import plotly.graph_objects as go
from plotly.subplots import make_subplots

ARM_COLORS = {"top": "crimson", "bottom": "steelblue", "random": "gray"}

#: (panel title, [(row key, label, colour)]) — the row keys of ``CheckpointMeasure.row()``
PANELS = (
    ("critical: caption-accuracy drop when zeroed (higher = more critical)", [("critical_drop_top", "top-k", ARM_COLORS["top"]),
                                                     ("critical_drop_random", "random-k", ARM_COLORS["random"]),
                                                     ("critical_drop_bottom", "bottom-k", ARM_COLORS["bottom"])]),
    ("spatial: mIoU at the best block", [("spatial_miou_top", "top-k", ARM_COLORS["top"]),
                                         ("spatial_miou_bottom", "bottom-k", ARM_COLORS["bottom"])]),
    ("transport: adoption of the source's attributes", [("transport_adoption_top", "top-k", ARM_COLORS["top"]),
                                                        ("transport_adoption_bottom", "bottom-k",
                                                         ARM_COLORS["bottom"])]),
)


def _error_bars(rows: Sequence[dict], key: str) -> dict:
    return dict(type="data", symmetric=False, array=[r[f"{key}_ci"][1] - r[key] for r in rows],
                arrayminus=[r[key] - r[f"{key}_ci"][0] for r in rows])


def claims_across_training(rows: Sequence[dict], title: str | None = None) -> go.Figure:
    """Four panels (2 x 2) over training steps: the best block's massive ratio (log scale), then
    the critical, spatial and transport effects, each arm with its 95% bootstrap interval.

    Args:
        rows: ``CheckpointMeasure.row()`` dicts (or results.json's ``training`` rows).
        title: figure title.
    Returns:
        a plotly Figure.
    """
    rows = sorted(rows, key=lambda r: r["step"])
    if not rows:
        raise ValueError("no checkpoint rows to plot")
    steps = [r["step"] for r in rows]
    fig = make_subplots(rows=2, cols=2, subplot_titles=["massive ratio: top-1 / median |mean| (best block)"]
                        + [p[0] for p in PANELS], horizontal_spacing=0.08, vertical_spacing=0.16)
    cells = [(1, 1), (1, 2), (2, 1), (2, 2)]
    fig.add_trace(go.Scatter(x=steps, y=[r["best_massive_ratio"] for r in rows], mode="lines+markers",
                             name="top-1 / median", line=dict(color="black")), row=1, col=1)
    fig.update_yaxes(type="log", row=1, col=1)
    for j, (_, series) in enumerate(PANELS, start=1):
        r_, c_ = cells[j]
        for key, label, color in series:
            fig.add_trace(go.Scatter(x=steps, y=[r[key] for r in rows], mode="lines+markers", name=label,
                                     legendgroup=label, showlegend=j == 1 or label not in ("top-k", "bottom-k"),
                                     line=dict(color=color), error_y=_error_bars(rows, key)), row=r_, col=c_)
    for r_, c_ in cells:
        fig.update_xaxes(title_text="training step", type="log", row=r_, col=c_)
    fig.update_layout(title=title or f"The claims across training (n = {rows[0]['n']} images, "
                                     f"{rows[0]['n_pairs']} pairs per checkpoint; bars: 95% bootstrap intervals)",
                      height=640, margin=dict(l=50, r=20, t=80, b=40))
    return fig
