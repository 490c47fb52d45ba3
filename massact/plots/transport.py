"""Figures for claim 3 (transport) and the use cases: image strips and adoption charts."""
from __future__ import annotations

from typing import Sequence

import numpy as np
import plotly.graph_objects as go
import torch
from plotly.subplots import make_subplots

from .common import image_grid, log_k_axis, mark_massive_set

ARM_COLORS = {"top": "crimson", "bottom": "steelblue", "random": "gray", "pixel_blend": "darkorange",
              "embedding_lerp": "seagreen"}


def _setting_name(r: dict) -> str:
    if r["arm"] in ("pixel_blend", "embedding_lerp"):
        return f"{r['arm'].replace('_', ' ')} {r['alpha']:g}"
    where = []
    if r.get("blocks") not in (None, "all"):
        where.append(f"blocks {r['blocks'][0]}-{r['blocks'][-1]}")
    if r.get("steps") not in (None, "all"):
        where.append(f"steps {r['steps'][0]}-{r['steps'][-1]}")
    mask = ", mask" if r.get("mask") == "spatial" else ""
    return f"{r['arm']}-{r['k']} a{r['alpha']:g}{mask}" + (f" ({', '.join(where)})" if where else "")


def adoption_bars(rows: Sequence[dict], settings: Sequence[str] | None = None,
                  title: str = "Which attributes come from the source? (source adoption per attribute)") -> go.Figure:
    """Grouped bars: one group per attribute, one bar per setting (report rows of the sweep),
    plus a 'target preservation' group. settings: names to show (default: every row).

    Args:
        rows: report rows (dicts).
        settings: setting names to show (None: every row).
        title: the figure title (None: a default).
    Returns:
        a plotly ``Figure``.
    """
    fig = go.Figure()
    rows = [r for r in rows if settings is None or _setting_name(r) in settings]
    for r in rows:
        name = _setting_name(r)
        attrs = list(r["source_adoption"])
        y = [r["source_adoption"][a] for a in attrs] + [r["target_preservation"]]
        fig.add_trace(go.Bar(x=attrs + ["target preservation"], y=[np.nan if v is None else v for v in y], name=name,
                             marker_color=ARM_COLORS.get(r["arm"]) if r.get("mask") != "spatial" else None,
                             hovertemplate=name + "<br>%{x}: %{y:.2f}<extra></extra>"))
    fig.update_layout(barmode="group", title=title, yaxis=dict(title="share of pairs", range=[0, 1.05]), height=420,
                      margin=dict(l=50, r=20, t=50, b=40), legend=dict(font=dict(size=10)))
    return fig


def _error_bars(summaries: Sequence[dict | None]) -> tuple[list, dict]:
    """The means and plotly's asymmetric error bars of interval summaries ({"mean", "ci"} or None)."""
    ys = [np.nan if s is None else s["mean"] for s in summaries]
    return ys, dict(type="data", symmetric=False,
                    array=[np.nan if s is None else s["ci"][1] - s["mean"] for s in summaries],
                    arrayminus=[np.nan if s is None else s["mean"] - s["ci"][0] for s in summaries])


def over_k_figure(ov: dict, massive_set: float | None = None, title: str | None = None) -> go.Figure:
    """The transport claim over k: each arm's adoption against k (log-2 axis) with its 95%
    interval, one panel per kind of attribute (the pixel shift toward the source for a model
    whose metrics read no attribute), and the massive set's size marked.

    Args:
        ov: ``claims.transport.over_k``'s dict.
        massive_set: the massive set's size (channels per block, e.g. the median over blocks), or None.
        title: the figure title (None: a default).
    Returns:
        a plotly ``Figure``.
    """
    group = ov["kinds"] if ov["kinds"] else ov["pixel_shift"]
    ks = ov["ks"]
    marked = massive_set is not None
    fig = make_subplots(rows=1, cols=len(group), subplot_titles=[m.replace("_", " ") for m in group],
                        shared_yaxes=True, horizontal_spacing=0.04)
    for i, (metric, e) in enumerate(group.items()):
        for arm in ("top", "bottom", "random"):
            ys, err = _error_bars([r["adoption"][arm] for r in e["per_k"]])
            fig.add_trace(go.Scatter(x=[r["k"] for r in e["per_k"]], y=ys, error_y=err, mode="lines+markers",
                                     name=arm, legendgroup=arm, showlegend=i == 0,
                                     line=dict(color=ARM_COLORS[arm]),
                                     hovertemplate=f"{arm}-%{{x}}: %{{y:.2f}}<extra>{metric}</extra>"),
                          row=1, col=i + 1)
        fig.update_xaxes(title_text="k (channels per block)", row=1, col=i + 1, **log_k_axis(ks))
        if marked:
            mark_massive_set(fig, massive_set, ks, row=1, col=i + 1)
    fig.update_yaxes(title_text="source adoption" if ov["kinds"] else "pixel shift toward the source",
                     range=[-0.05, 1.05], row=1, col=1)
    line = f"; dotted: the massive set, {massive_set:g} channels per block" if marked else ""
    rnd = (f"random drawn outside the top-{ov['random_outside']}" if ov["random_outside"]
           else "random drawn from all channels")
    fig.update_layout(title=title or f"Transport over k (alpha 1, every block and step, {ov['n']} pairs)"
                                     f"<br><sub>95% intervals; {rnd}{line}</sub>",
                      height=400, margin=dict(l=50, r=20, t=110, b=40))
    return fig


CARRY_COLORS = {"all": "black", "top": ARM_COLORS["top"], "random": ARM_COLORS["random"],
                "all_but_top": ARM_COLORS["bottom"]}


def carry_bars(rows: Sequence[dict], title: str | None = None) -> go.Figure:
    """What the channels carry: per attribute, the adoption with every channel, the top-k, the
    random-k and all but the top-k, with 95% intervals (``claims.transport.carry``).

    Args:
        rows: the carry table (one row per attribute).
        title: the figure title (None: a default).
    Returns:
        a plotly ``Figure``.
    """
    if not rows:
        raise ValueError("the carry table is empty: this model's metrics read no attribute")
    k, width = rows[0]["k"], rows[0]["width"]
    names = {"all": f"all {width} channels", "top": f"top-{k}", "random": f"random-{k}",
             "all_but_top": f"all but the top-{k} ({width - k})"}
    attrs = [r["attribute"] for r in rows]
    fig = go.Figure()
    for key, name in names.items():
        ys, err = _error_bars([r["adoption"][key] for r in rows])
        fig.add_trace(go.Bar(x=attrs, y=ys, error_y=err, name=name, marker_color=CARRY_COLORS[key],
                             hovertemplate=name + "<br>%{x}: %{y:.2f}<extra></extra>"))
    fig.update_layout(barmode="group", title=title or f"What the channels carry (k = {k} of {width})",
                      yaxis=dict(title="source adoption", range=[0, 1.05]), height=380,
                      margin=dict(l=50, r=20, t=50, b=40))
    return fig


def adoption_lines(points: Sequence[dict], x: str = "alpha", title: str | None = None) -> go.Figure:
    """Lines over a swept quantity: points are dicts with key x, "source_adoption" {attr: v}
    and "target_preservation" (e.g. one per alpha or per number of blocks).

    Args:
        points: dicts with key x, 'source_adoption' and 'target_preservation'.
        x: the swept quantity's key.
        title: the figure title (None: a default).
    Returns:
        a plotly ``Figure``.
    """
    pts = sorted(points, key=lambda p: p[x])
    xs = [p[x] for p in pts]
    fig = go.Figure()
    attrs = list(pts[0]["source_adoption"]) if pts else []
    for a in attrs:
        fig.add_trace(go.Scatter(x=xs, y=[np.nan if p["source_adoption"].get(a) is None else p["source_adoption"][a]
                                          for p in pts], mode="lines+markers", name=f"adopts {a}"))
    fig.add_trace(go.Scatter(x=xs, y=[np.nan if p["target_preservation"] is None else p["target_preservation"]
                                      for p in pts], mode="lines+markers", name="target preservation",
                             line=dict(dash="dash", color="black")))
    fig.update_layout(title=title or f"Source adoption and target preservation as {x} grows", xaxis_title=x,
                      yaxis=dict(title="share of pairs", range=[-0.05, 1.05]), height=380,
                      margin=dict(l=50, r=20, t=50, b=40))
    return fig


def method_lines(curves: dict[str, Sequence[dict]], y: str = "mean_adoption", x: str = "alpha",
                 title: str = "Transport against the baselines") -> go.Figure:
    """One line per method (transport, pixel blend, embedding lerp) of y over x, with error bars
    where the points carry ``<y>_ci`` (their 95% bootstrap intervals).

    Args:
        curves: method -> points.
        y: the plotted key.
        x: the swept quantity's key.
        title: the figure title (None: a default).
    Returns:
        a plotly ``Figure``.
    """
    fig = go.Figure()
    for name, pts in curves.items():
        pts = sorted(pts, key=lambda p: p[x])
        ys = [np.nan if p.get(y) is None else p[y] for p in pts]
        cis = [p.get(f"{y}_ci") for p in pts]
        error_y = None
        if any(ci is not None for ci in cis):  # the points' 95% bootstrap intervals over the pairs
            error_y = dict(type="data", symmetric=False,
                           array=[np.nan if ci is None else ci[1] - v for ci, v in zip(cis, ys)],
                           arrayminus=[np.nan if ci is None else v - ci[0] for ci, v in zip(cis, ys)])
        fig.add_trace(go.Scatter(x=[p[x] for p in pts], y=ys, error_y=error_y,
                                 mode="lines+markers", name=name.replace("_", " "),
                                 line=dict(color=ARM_COLORS.get(name))))
    fig.update_layout(title=title, xaxis_title=x, yaxis=dict(title=y.replace("_", " "), range=[-0.05, 1.05]),
                      height=360, margin=dict(l=50, r=20, t=50, b=40))
    return fig


def strip(columns: Sequence[torch.Tensor], labels: Sequence[str], title: str | None = None, scale: int = 4) -> go.Figure:
    """Plotly grid: one row per pair, one column per image set (each (n, 3, H, W)).

    Args:
        columns: image sets, each (n, 3, H, W).
        labels: one label per grid row.
        title: the figure title (None: a default).
        scale: upscaling.
    Returns:
        a plotly ``Figure``.
    """
    n = len(columns[0])
    imgs = torch.stack([c.float() for c in columns], 1).reshape(-1, *columns[0].shape[1:])
    titles = [labels[j] if i == 0 else "" for i in range(n) for j in range(len(columns))]
    return image_grid(imgs, titles=titles, cols=len(columns), scale=scale, title=title)


def adoption_html(m: dict, title: str = "") -> str:
    """A small HTML table of one measurement (``transport.measure`` output).

    Args:
        m: one transport.measure output.
        title: a bold line above the table ("" for none).
    Returns:
        an HTML string.
    """
    def pct(v):
        return "n/a" if v is None else f"{100 * v:.0f}%"

    rows = "".join(f"<tr><td>{a}</td><td>{pct(v)}</td><td>{m.get('differing_pairs', {}).get(a, '')}</td></tr>"
                   for a, v in m.get("source_adoption", {}).items())
    head = f"<b>{title}</b><br>" if title else ""
    return (head + "<table><tr><th>attribute</th><th>source adoption</th><th>pairs differing</th></tr>" + rows +
            "</table>" + f"target preservation: {pct(m.get('target_preservation'))} "
            f"(attribute agreement {pct(m.get('attribute_agreement'))}, mask IoU {pct(m.get('mask_iou'))}); "
            f"pixel MSE to target {m.get('pixel_mse_to_target', float('nan')):.4f}, "
            f"to source {m.get('pixel_mse_to_source', float('nan')):.4f}")


def interpolation_figure(res: dict, pair: int = 0, title: str | None = None, scale: int = 3) -> go.Figure:
    """The interpolation strip of ``use_cases.interpolation``: one row per method, one column per point.

    Args:
        res: a use_cases.interpolation result.
        pair: which pair.
        title: the figure title (None: a default).
        scale: upscaling.
    Returns:
        a plotly ``Figure``.
    """
    methods = list(res["images"])
    xs = res["x"]
    xl = "alpha" if res["by"] == "alpha" else "blocks"
    imgs = torch.stack([res["images"][m][j, pair] for m in methods for j in range(len(xs))])
    titles = [f"{m.replace('_', ' ')}, {xl} {x:g}" for m in methods for x in xs]
    return image_grid(imgs, titles=titles, cols=len(xs), scale=scale,
                      title=title or f"{res['targets'][pair]!r} -> {res['sources'][pair]!r}")


def composition_bars(per_attribute: dict, title: str = "Composition: take one attribute, keep the rest") -> go.Figure:
    """Per attribute (source and target differ in it only): adoption of it, preservation of the rest.

    Args:
        per_attribute: attribute -> {'adoption', 'target_preservation'}.
        title: the figure title (None: a default).
    Returns:
        a plotly ``Figure``.
    """
    attrs = list(per_attribute)
    fig = go.Figure()
    for key, name, color in (("adoption", "takes the source's attribute", "crimson"),
                             ("target_preservation", "keeps the target's rest", "steelblue")):
        fig.add_trace(go.Bar(x=attrs, y=[np.nan if per_attribute[a][key] is None else per_attribute[a][key]
                                         for a in attrs], name=name, marker_color=color))
    fig.update_layout(barmode="group", title=title, yaxis=dict(title="share of pairs", range=[0, 1.05]),
                      xaxis_title="the attribute source and target differ in", height=360,
                      margin=dict(l=50, r=20, t=50, b=40))
    return fig
