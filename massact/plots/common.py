"""Shared figure helpers: image grids, mask overlays, per-channel profiles, the k axis of a curve
over k and its massive-set line."""
from __future__ import annotations

import base64
import io
from typing import Sequence

import numpy as np
import plotly.graph_objects as go
from plotly.subplots import make_subplots
import torch


def to_uint8(images) -> np.ndarray:
    """(B, 3, H, W) float in [0, 1] (tensor or array) -> (B, H, W, 3) uint8.

    Args:
        images: (B, 3, H, W) or (3, H, W) in [0, 1].
    Returns:
        uint8 (B, H, W, 3).
    """
    x = images.detach().cpu().float().numpy() if isinstance(images, torch.Tensor) else np.asarray(images, dtype=np.float32)
    if x.ndim == 3:
        x = x[None]
    return (np.clip(x, 0, 1) * 255).round().astype(np.uint8).transpose(0, 2, 3, 1)


def mask_overlay(images, masks, color=(255, 0, 255), opacity: float = 0.45) -> np.ndarray:
    """Tint the masked pixels of each image (masks (B, H, W) bool, any resolution that divides H).

    Args:
        images: (B, 3, H, W) in [0, 1].
        masks: (B, h, w) or (h, w) bool, h dividing H.
        color: the tint (RGB).
        opacity: the tint's weight.
    Returns:
        uint8 (B, H, W, 3).
    """
    img = to_uint8(images).astype(np.float32)
    m = np.asarray(masks, dtype=bool)
    if m.ndim == 2:
        m = m[None]
    if m.shape[-1] != img.shape[2]:
        rep = img.shape[2] // m.shape[-1]
        m = m.repeat(rep, axis=1).repeat(rep, axis=2)
    tint = np.array(color, dtype=np.float32)
    img[m] = (1 - opacity) * img[m] + opacity * tint
    return img.round().astype(np.uint8)


def image_grid(images, titles: Sequence[str] | None = None, cols: int | None = None, row_titles=None,
               scale: int = 4, title: str | None = None) -> go.Figure:
    """A plotly figure of images (B, 3, H, W) in [0, 1] or uint8 (B, H, W, 3), with titles.

    Args:
        images: (B, 3, H, W) in [0, 1] or uint8 (B, H, W, 3).
        titles: one title per image (None: none).
        cols: images per grid row (default: up to 8).
        row_titles: accepted for older callers, not drawn.
        scale: upscaling.
        title: the figure title (None: none).
    Returns:
        a plotly ``Figure``.
    """
    arr = images if (isinstance(images, np.ndarray) and images.dtype == np.uint8) else to_uint8(images)
    n = len(arr)
    cols = cols or min(n, 8)
    rows = int(np.ceil(n / cols))
    fig = make_subplots(rows=rows, cols=cols, subplot_titles=list(titles) if titles else None,
                        horizontal_spacing=0.01, vertical_spacing=0.06 if titles else 0.01)
    for i, im in enumerate(arr):
        fig.add_trace(go.Image(z=im), row=i // cols + 1, col=i % cols + 1)
    fig.update_xaxes(visible=False)
    fig.update_yaxes(visible=False)
    h, w = arr.shape[1:3]
    fig.update_layout(width=max(300, cols * w * scale + 40), height=rows * h * scale + (80 if title else 40),
                      margin=dict(l=10, r=10, t=60 if title else 30, b=10), title=title)
    if titles:
        fig.update_annotations(font_size=10)
    return fig


def _as_panels(images) -> np.ndarray:
    """uint8 (N, H, W, 3) panels as they are, anything else through ``to_uint8``."""
    if isinstance(images, np.ndarray) and images.dtype == np.uint8 and images.ndim == 4 and images.shape[-1] == 3:
        return images
    return to_uint8(images)


def columns_to_panels(columns: Sequence) -> np.ndarray:
    """Image sets side by side: columns (each (n, 3, H, W) or uint8 (n, H, W, 3)) -> uint8
    panels (n * len(columns), H, W, 3) in row order, for ``grid_png(..., cols=len(columns))``.

    Args:
        columns: image sets, each (n, 3, H, W).
    Returns:
        uint8 (n * len(columns), H, W, 3).
    """
    sets = [_as_panels(c) for c in columns]
    n = len(sets[0])
    if any(len(s) != n for s in sets):
        raise ValueError(f"every column needs the same number of images, got {[len(s) for s in sets]}")
    return np.stack(sets, 1).reshape(-1, *sets[0].shape[1:])


def grid_png(images, cols: int | None = None, scale: int = 4, pad: int = 2, row_labels: Sequence[str] | None = None,
             col_labels: Sequence[str] | None = None) -> bytes:
    """Images on a white grid, nearest-neighbour upscaled, as PNG bytes.

    Every image massact shows outside plotly goes through here: the widgets put the bytes
    in an ``ipywidgets.Image``, the report wraps them with ``png_data_uri``.

    Args:
        images: (N, 3, H, W) floats in [0, 1] (tensor or array) or uint8 panels (N, H, W, 3).
        cols: images per grid row (default: all in one row).
        scale: integer upscaling (the toy's images are 32 px).
        pad: white pixels between images, before scaling.
        row_labels: text left of each grid row (a label column is added).
        col_labels: text above each grid column (a label row is added).
    Returns:
        the PNG file's bytes.
    """
    from PIL import Image, ImageDraw

    arr = _as_panels(images)
    n, h, w, _ = arr.shape
    cols = min(n, cols or n)
    rows = int(np.ceil(n / cols))
    canvas = np.full((rows * (h + pad), cols * (w + pad), 3), 255, dtype=np.uint8)
    for i, im in enumerate(arr):
        r, c = divmod(i, cols)
        canvas[r * (h + pad): r * (h + pad) + h, c * (w + pad): c * (w + pad) + w] = im
    pil = Image.fromarray(canvas).resize((canvas.shape[1] * scale, canvas.shape[0] * scale), Image.NEAREST)
    if row_labels or col_labels:
        # PIL's default bitmap font: about 6 px per character, 11 px high
        left = 0 if not row_labels else 6 * max(len(str(lab)) for lab in row_labels) + 8
        top = 0 if not col_labels else 14
        out = Image.new("RGB", (pil.width + left, pil.height + top), "white")
        out.paste(pil, (left, top))
        draw = ImageDraw.Draw(out)
        cell_h, cell_w = (h + pad) * scale, (w + pad) * scale
        for r, lab in enumerate(list(row_labels or [])[:rows]):
            draw.text((4, top + r * cell_h + h * scale // 2 - 6), str(lab), fill="black")
        for c, lab in enumerate(list(col_labels or [])[:cols]):
            draw.text((left + c * cell_w, 1), str(lab)[: max(4, w * scale // 6)], fill="black")
        pil = out
    return _png_bytes(pil)


def _png_bytes(pil) -> bytes:
    """A PIL image as PNG bytes: the one place images become PNG (grids and static figures)."""
    buf = io.BytesIO()
    pil.save(buf, format="PNG")
    return buf.getvalue()


def png_data_uri(images, cols: int | None = None, scale: int = 3, **labels) -> str:
    """``grid_png`` as a data: URI, for the static HTML report.

    Args:
        images, cols, scale: as for ``grid_png``; labels: its row_labels / col_labels.
    Returns:
        "data:image/png;base64,...".
    """
    return "data:image/png;base64," + base64.b64encode(grid_png(images, cols=cols, scale=scale, **labels)).decode()


#: the report's largest image cell (pixels): larger images are scaled down to it
REPORT_CELL_PX = 256
#: small images are upscaled (nearest neighbour) to about this many pixels
REPORT_SMALL_PX = 96


def image_data_uri(images, cols: int | None = None, cell_px: int = REPORT_CELL_PX, quality: int = 85,
                   **labels) -> str:
    """An image grid for the static HTML report, at a display size.

    Small images (the toy's 32 px) are upscaled without smoothing to about
    ``REPORT_SMALL_PX`` and stored as PNG; larger ones (real pipelines: 512-1024 px) are scaled down to ``cell_px``
    and stored as JPEG, so a report of a 1024 px run stays a few MB.

    Args:
        images: (N, 3, H, W) floats in [0, 1] or uint8 panels (N, H, W, 3).
        cols: images per grid row (default: all in one row).
        cell_px: the longest side of one image cell, in pixels (>= 16).
        quality: JPEG quality for downscaled grids (1-95).
        **labels: ``grid_png``'s row_labels / col_labels.
    Returns:
        "data:image/png;base64,..." or "data:image/jpeg;base64,...".
    """
    from PIL import Image

    cell_px = int(cell_px)
    if cell_px < 16:
        raise ValueError(f"cell_px {cell_px} too small: at least 16 pixels")
    arr = _as_panels(images)
    side = max(arr.shape[1:3])
    if side <= cell_px:
        return png_data_uri(arr, cols=cols, scale=max(1, min(cell_px, REPORT_SMALL_PX) // side), **labels)
    f = cell_px / side
    size = (max(1, round(arr.shape[2] * f)), max(1, round(arr.shape[1] * f)))
    small = np.stack([np.asarray(Image.fromarray(im).resize(size, Image.LANCZOS)) for im in arr])
    png = grid_png(small, cols=cols, scale=1, **labels)
    buf = io.BytesIO()
    Image.open(io.BytesIO(png)).convert("RGB").save(buf, format="JPEG", quality=int(quality), optimize=True)
    return "data:image/jpeg;base64," + base64.b64encode(buf.getvalue()).decode()


def log_k_axis(ks: Sequence[int]) -> dict:
    """The x axis of a curve over k: logarithmic (powers of 2 equally spaced), a tick at each k,
    the range padded around the ks (a log axis's range is given in log10 units).

    Args:
        ks: the ks of the curve, each >= 1.
    Returns:
        the axis settings, for ``update_xaxes(**...)`` or ``layout.xaxis``.
    """
    ks = sorted(int(k) for k in ks)
    return dict(type="log", tickvals=ks, ticktext=[str(k) for k in ks],
                range=[np.log10(ks[0]) - 0.15, np.log10(ks[-1]) + 0.15])


def mark_massive_set(figure: go.Figure, massive_set: float, ks: Sequence[int], **where) -> None:
    """A dotted vertical line at the massive set's size on a curve over k (``log_k_axis``).

    Plotly places a shape on a log axis in data units, so the line's x is the size itself; it is
    kept inside the ks' range (a set smaller than the smallest k is drawn at that k).

    Args:
        figure: the figure (changed in place).
        massive_set: channels per block (e.g. the median over blocks of ``massive_set_10x``).
        ks: the ks of the curve.
        **where: ``row``/``col`` of a subplot (``"all"`` for every one).
    """
    x = float(min(max(massive_set, min(ks)), max(ks)))
    figure.add_vline(x=x, line_dash="dot", line_color="crimson", **where)


def channel_profile(score_row, top: int = 5, title: str = "", stat_label: str = "|mean over image tokens|"):
    """Bar chart of one block's per-channel score, top channels labelled (Sun et al. style).

    Args:
        score_row: one block's per-channel scores.
        top: how many top channels to mark.
        title: the figure title (None: a default).
        stat_label: the y-axis label.
    Returns:
        a plotly ``Figure``.
    """
    s = np.asarray(score_row.detach().cpu() if isinstance(score_row, torch.Tensor) else score_row, dtype=np.float64)
    med = float(np.median(s))
    order = np.argsort(-s)[:top]
    colors = np.where(np.isin(np.arange(len(s)), order), "crimson", "steelblue")
    fig = go.Figure(go.Bar(x=np.arange(len(s)), y=s, marker_color=colors,
                           hovertemplate="channel %{x}<br>score %{y:.3g}<extra></extra>"))
    fig.add_hline(y=med, line_dash="dot", annotation_text=f"median {med:.3g}")
    for c in order:
        fig.add_annotation(x=int(c), y=float(s[c]), text=f"ch {int(c)}<br>{s[c] / med:.1f}x", showarrow=False, yshift=18)
    fig.update_layout(title=title, xaxis_title="channel", yaxis_title=stat_label, height=360,
                      margin=dict(l=50, r=20, t=50, b=40))
    return fig


#: what a student reads for the ratio table's keys (the keys stay the statistics' short names)
RATIO_LABELS = {"top1_over_median_absmean": "top-1 / median, by |mean| (the ranking's score)",
                "top1_over_median_meanabs": "top-1 / median, by mean |x|",
                "max_over_median": "largest |x| / median channel's mean |x| (Sun et al.)"}


def block_ratios(rows: list[dict], keys=("top1_over_median_absmean", "top1_over_median_meanabs", "max_over_median"),
                 title: str = "How massive: top channel / median channel, per block"):
    """Line chart of the per-block ratio table (``ChannelStats.ratio_table``).

    Args:
        rows: report rows (dicts).
        keys: ratio-table keys to draw (legend: ``RATIO_LABELS``).
        title: the figure title (None: a default).
    Returns:
        a plotly ``Figure``.
    """
    fig = go.Figure()
    for k in keys:
        fig.add_trace(go.Scatter(x=[r["block"] for r in rows], y=[r[k] for r in rows], mode="lines+markers",
                                 name=RATIO_LABELS.get(k, k)))
    fig.update_layout(title=title, xaxis_title="block", yaxis_title="ratio", yaxis_type="log", height=380,
                      margin=dict(l=50, r=20, t=50, b=40))
    return fig


def figure_png(figure, width: int = 720, height: int | None = None) -> bytes:
    """A static PNG of a plotly figure's bar and line/marker traces, drawn with PIL (no kaleido, no browser).

    The fallback where an interactive figure cannot show (plotly inside widget output on
    Colab): axes with their titles, one colour per trace (bars keep their per-bar colours),
    horizontal reference lines, a legend of trace names and the figure's title. Log axes
    are drawn in log10. Hover text, annotations and subplots are left out.

    Args:
        figure: a plotly ``Figure``.
        width: pixels; height: pixels (default: the figure's layout height, else 360).
    Returns:
        PNG bytes.
    """
    from PIL import Image, ImageDraw

    height = int(height or figure.layout.height or 360)
    img = Image.new("RGB", (int(width), height), "white")
    draw = ImageDraw.Draw(img)
    left, right, top, bottom = 64, 16, 40, 44
    ylog = figure.layout.yaxis.type == "log"
    palette = ["#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#9467bd", "#8c564b", "#e377c2", "#7f7f7f"]
    traces = []
    for i, tr in enumerate(figure.data):
        if tr.type not in ("bar", "scatter") or tr.y is None:
            continue
        y = np.asarray(tr.y, dtype=np.float64)
        x = np.asarray(tr.x if tr.x is not None else np.arange(len(y)), dtype=np.float64)
        if ylog:
            y = np.log10(np.where(y > 0, y, np.nan))
        traces.append((tr, x, y, palette[i % len(palette)]))
    lines = [s.y0 for s in (figure.layout.shapes or ()) if s.type == "line" and s.y0 == s.y1 and s.y0 is not None]
    lines = [np.log10(v) if ylog and v > 0 else v for v in lines if not (ylog and v <= 0)]
    xs = np.concatenate([t[1] for t in traces]) if traces else np.array([0.0, 1.0])
    ys = np.concatenate([t[2] for t in traces] + [np.asarray(lines, dtype=np.float64)]) if traces else np.array([0.0, 1.0])
    ys = ys[np.isfinite(ys)] if np.isfinite(ys).any() else np.array([0.0, 1.0])
    x0, x1 = float(np.nanmin(xs)) - 0.5, float(np.nanmax(xs)) + 0.5
    y0 = min(0.0, float(ys.min())) if not ylog else float(ys.min()) - 0.1
    y1 = float(ys.max()) * 1.05 + 1e-12 if not ylog else float(ys.max()) + 0.1
    if y1 <= y0:
        y1 = y0 + 1.0

    def px(x, y):
        return (left + (x - x0) / (x1 - x0) * (width - left - right),
                height - bottom - (y - y0) / (y1 - y0) * (height - top - bottom))

    draw.rectangle([left, top, width - right, height - bottom], outline="#444444")
    for frac in (0.0, 0.5, 1.0):  # three y ticks
        v = y0 + frac * (y1 - y0)
        _, yy = px(x0, v)
        label = f"{10 ** v:.3g}" if ylog else f"{v:.3g}"
        draw.text((4, yy - 6), label, fill="#444444")
    draw.text((left, height - bottom + 4), f"{x0 + 0.5:g}", fill="#444444")
    draw.text((width - right - 30, height - bottom + 4), f"{x1 - 0.5:g}", fill="#444444")
    for v in lines:
        (xa, yy), (xb, _) = px(x0, v), px(x1, v)
        for xx in range(int(xa), int(xb), 8):
            draw.line([xx, yy, min(xx + 4, xb), yy], fill="#666666")
    for tr, x, y, color in traces:
        if tr.type == "bar":
            colors = tr.marker.color if tr.marker is not None and tr.marker.color is not None else color
            half = 0.4 * (x1 - x0) / max(len(x), 1)
            for j, (xv, yv) in enumerate(zip(x, y)):
                if not np.isfinite(yv):
                    continue
                c = colors[j] if not isinstance(colors, str) else colors
                (xa, ya), (xb, yb) = px(xv - half, yv), px(xv + half, max(y0, 0.0) if not ylog else y0)
                draw.rectangle([xa, min(ya, yb), max(xb, xa + 1), max(ya, yb)], fill=str(c))
        else:
            pts = [px(a, b) for a, b in zip(x, y) if np.isfinite(b)]
            if len(pts) > 1 and "lines" in (tr.mode or "lines"):
                draw.line(pts, fill=color, width=2)
            for p in pts:
                draw.ellipse([p[0] - 3, p[1] - 3, p[0] + 3, p[1] + 3], fill=color)
    title = figure.layout.title.text or ""
    draw.text((left, 12), title[:110], fill="black")
    if figure.layout.xaxis.title.text:
        draw.text(((left + width - right) // 2 - 20, height - 20), str(figure.layout.xaxis.title.text), fill="black")
    if figure.layout.yaxis.title.text:
        draw.text((4, top - 14), str(figure.layout.yaxis.title.text)[:40], fill="black")
    names = [(tr.name, c) for tr, _, _, c in traces if tr.name]
    for j, (name, c) in enumerate(names[:6]):
        draw.rectangle([width - right - 200, top + 6 + 14 * j, width - right - 192, top + 14 + 14 * j], fill=c)
        draw.text((width - right - 186, top + 4 + 14 * j), str(name)[:30], fill="black")
    return _png_bytes(img)
