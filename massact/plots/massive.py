"""Figures for notebook 00: how massive the channels are, over blocks, steps, prompts and training."""
from __future__ import annotations

import plotly.graph_objects as go
from plotly.subplots import make_subplots

from ..channel_stats import ChannelStats
from ..claims.channels import SOURCES


def over_steps(stats: ChannelStats, block: int, channels, stat: str = "absmean") -> go.Figure:
    """The chosen channels' statistic over denoising steps (mean over prompts), with the median channel.

    Args:
        stats: a ChannelStats.
        block: the block.
        channels: the channels to draw.
        stat: the statistic.
    Returns:
        a plotly ``Figure``.
    """
    x = stats.get(stat)[:, block].nanmean(0)  # (steps, channels)
    fig = go.Figure()
    steps = list(range(x.shape[0]))
    for c in channels:
        fig.add_trace(go.Scatter(x=steps, y=x[:, c].tolist(), mode="lines+markers", name=f"channel {c}"))
    fig.add_trace(go.Scatter(x=steps, y=x.median(dim=1).values.tolist(), mode="lines", name="median channel",
                             line=dict(dash="dot", color="gray")))
    fig.update_layout(title=f"block {block}: {stat} over denoising steps (0 = pure noise)", xaxis_title="step",
                      yaxis_title=stat, yaxis_type="log", height=360, margin=dict(l=50, r=20, t=50, b=40))
    return fig


def over_prompts(stats: ChannelStats, block: int, prompts, top: int = 8, stat: str = "absmean") -> go.Figure:
    """Heatmap prompts x channels (the pooled top channels plus the per-prompt maxima), each row / its median.

    Args:
        stats: a ChannelStats.
        block: the block.
        prompts: one label per row (the prompts).
        top: how many top channels to mark.
        stat: the statistic.
    Returns:
        a plotly ``Figure``.
    """
    x = stats.get(stat)[:, block].nanmean(1)  # (rows, channels)
    pooled = x.mean(0).topk(top).indices.tolist()
    per_prompt = x.argmax(1).tolist()
    cols = pooled + [c for c in dict.fromkeys(per_prompt) if c not in pooled]
    z = (x[:, cols] / x.median(dim=1, keepdim=True).values).numpy()
    fig = go.Figure(go.Heatmap(z=z, x=[f"ch {c}" for c in cols], y=[p[:48] for p in prompts], colorscale="Viridis",
                               colorbar=dict(title="x median")))
    fig.update_layout(title=f"block {block}: the same channels dominate for every prompt?", height=120 + 28 * len(prompts),
                      margin=dict(l=320, r=20, t=50, b=40))
    return fig


def training_growth(card: dict) -> go.Figure:
    """top-1 / median |mean| per block over training steps (from the model card's history).

    Args:
        card: the toy model card (its training history).
    Returns:
        a plotly ``Figure``.
    """
    hist = card.get("history", {}).get("massive", [])
    fig = go.Figure()
    if hist:
        nb = len(hist[0]["blocks"])
        for b in range(nb):
            fig.add_trace(go.Scatter(x=[h["step"] for h in hist], y=[h["blocks"][b]["top1_over_median_absmean"] for h in hist],
                                     mode="lines", name=f"block {b}"))
    fig.update_layout(title="Massive channels emerge during training: top-1 / median |mean| per block",
                      xaxis_title="training step", yaxis_title="top-1 / median", height=380,
                      margin=dict(l=50, r=20, t=50, b=40))
    return fig


def step_profile_figure(profile: list[dict], block: int) -> go.Figure:
    """The timestep profile of one block: its top channel's |mean| and its top-1 / median ratio per
    denoising step (``ChannelStats.step_profile``).

    Args:
        profile: the rows of ``ChannelStats.step_profile()``.
        block: the block to draw.
    Returns:
        a plotly ``Figure`` (two y-axes).
    """
    steps = [r["step"] for r in profile]
    ch = profile[0]["top_channel"][block]
    fig = go.Figure()
    fig.add_trace(go.Scatter(x=steps, y=[r["top_channel_value"][block] for r in profile], mode="lines+markers",
                             name=f"channel {ch}: |mean|"))
    fig.add_trace(go.Scatter(x=steps, y=[r["top1_over_median"][block] for r in profile], mode="lines+markers",
                             name="top-1 / median", yaxis="y2", line=dict(dash="dot")))
    fig.update_layout(title=f"block {block}: the top channel over denoising steps (0 = pure noise, last = the image)",
                      xaxis_title="step", yaxis=dict(title="|mean over image tokens|"),
                      yaxis2=dict(title="top-1 / median", overlaying="y", side="right"), height=360,
                      margin=dict(l=60, r=60, t=50, b=40), legend=dict(x=0.01, y=0.01))
    return fig


def decomposition_figure(rows: list[dict], block: int) -> go.Figure:
    """What the decomposed channels are: the shares of each channel's mean square as stacked bars
    and, when the prompts' attributes were read, the share of its across-prompt variation each
    attribute explains (eta^2, the chance level in the column label).

    Args:
        rows: ``claims.channels.decompose_top`` rows (rank, ratio_to_median, median, the shares,
          and ``attribute_shares`` / ``attribute_chance`` when read).
        block: the block they come from.
    Returns:
        a plotly ``Figure``.
    """
    labels = [f"ch {r['channel']}<br>{'median' if r.get('median') else '#' + str(r['rank'])}, "
              f"{r['ratio_to_median']:.0f}x" for r in rows]
    attributes = list(rows[0].get("attribute_shares", {}))
    cols = 2 if attributes else 1
    fig = make_subplots(rows=1, cols=cols, column_widths=[0.6, 0.4][:cols] if attributes else None,
                        subplot_titles=["shares of the mean square", "eta^2 of the per-prompt means"][:cols])
    for source in SOURCES:
        fig.add_trace(go.Bar(x=labels, y=[r[source] for r in rows], name=source), row=1, col=1)
    if attributes:
        chance = rows[0]["attribute_chance"]
        z = [[r["attribute_shares"][a] for a in attributes] for r in rows]
        fig.add_trace(go.Heatmap(z=z, x=[f"{a}<br>chance {'-' if chance[a] is None else f'{chance[a]:.2f}'}"
                                         for a in attributes],
                                 y=labels, zmin=0, zmax=1, colorscale="Blues", showscale=False,
                                 text=[["-" if v is None else f"{v:.2f}" for v in row] for row in z],
                                 texttemplate="%{text}"), row=1, col=2)
        fig.update_yaxes(autorange="reversed", row=1, col=2)
    fig.update_layout(barmode="stack", title=f"block {block}: what the top channels are (offset = a constant bias)",
                      yaxis=dict(title="share", range=[0, 1]), height=400, margin=dict(l=60, r=20, t=70, b=60),
                      legend=dict(orientation="h", y=-0.25))
    return fig
