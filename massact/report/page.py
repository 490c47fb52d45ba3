"""The report's page: index.html from the sections (plotly figures inline, images as data URIs)."""
from __future__ import annotations

import html
from pathlib import Path

from .context import Section


def _inputs_text(inputs: dict) -> str:
    """A one-line account of a section's inputs (the full record is in results.json)."""
    parts = []
    for key, v in inputs.items():
        if isinstance(v, dict):
            parts.append(f"{key}: {_inputs_text(v)}")
        elif isinstance(v, list):
            parts.append(f"{key}: {len(v)}")
        else:
            parts.append(f"{key}: {v}")
    return "; ".join(parts)


def write_html(sections: list[Section], out: Path, meta: dict) -> None:
    """Write the page.

    Args:
        sections: the sections so far (a failed one shows its error).
        out: the path of index.html.
        meta: {"model", "date", "seconds"}.
    """
    import plotly.io as pio

    parts = [f"<h1>massact report — {html.escape(meta['model'])}</h1>",
             f"<p>Generated {html.escape(meta['date'])} in {meta['seconds']:.0f} s. Every number below was computed "
             f"by this run; the raw numbers are in <code>results.json</code>.</p>"]
    failed = [s.name for s in sections if s.failed]
    if failed:
        parts.append(f"<p><b>Failed sections: {html.escape(', '.join(failed))}</b> (the others are complete).</p>")
    first = True
    for s in sections:
        parts.append(f"<h2 id='{s.name}'>{html.escape(s.title)}</h2>")
        if s.text:
            parts.append(f"<p>{html.escape(s.text)}</p>")
        if s.inputs:
            parts.append(f"<p style='font-size:small'>Inputs — {html.escape(_inputs_text(s.inputs))}</p>")
        for cap, uri in s.images:
            parts.append(f"<figure><img src='{uri}' alt='{html.escape(cap)}'><figcaption>{html.escape(cap)}</figcaption>"
                         "</figure>")
        for f in s.figures:
            parts.append(pio.to_html(f, full_html=False, include_plotlyjs="inline" if first else False))
            first = False
    style = ("body{font-family:sans-serif;max-width:1100px;margin:auto;padding:1em} "
             "img{image-rendering:pixelated;max-width:100%}")
    out.write_text(f"<!doctype html><html><head><meta charset='utf-8'><title>massact report</title><style>{style}"
                   f"</style></head><body>{''.join(parts)}</body></html>")
