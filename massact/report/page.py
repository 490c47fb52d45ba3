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


def scoreboard_html(rows: list[dict]) -> str:
    """The scoreboard as a table: claim, verdict, where over k it holds, the headline number, n."""
    if not rows:
        return ""
    head = "".join(f"<th>{h}</th>" for h in ("claim", "verdict", "over k", "one number", "n"))
    body = "".join(
        f"<tr><td><a href='#{r['claim']}'>{html.escape(r['claim'])}</a><br><small>{html.escape(r['question'])}</small>"
        f"</td><td><b>{html.escape(r['verdict'])}</b></td><td>{html.escape(r['where'])}</td>"
        f"<td>{html.escape(r['headline'])}</td><td>{r['n']} {html.escape(r['unit'])}</td></tr>" for r in rows)
    return (f"<h2 id='scoreboard'>Scoreboard</h2><table class='score'><tr>{head}</tr>{body}</table>"
            "<p style='font-size:small'>Each verdict comes from paired 95% bootstrap intervals of top minus a control "
            "on the same images or pairs: <i>reproduced</i> when the interval lies above 0 and the mean reaches the "
            "claim's minimum, <i>weak</i> when the mean is positive but not both, <i>not reproduced</i> otherwise. "
            "The claim's verdict is the strongest it reaches at any k; the row says at which k.</p>")


def text_html(text: str) -> str:
    """A section's reading: one paragraph, or a bulleted list where the text has several lines."""
    lines = [ln.strip() for ln in text.split("\n") if ln.strip()]
    if len(lines) == 1:
        return f"<p>{html.escape(lines[0])}</p>"
    return "<ul>" + "".join(f"<li>{html.escape(ln)}</li>" for ln in lines) + "</ul>"


def write_html(sections: list[Section], out: Path, meta: dict, scoreboard: list[dict] | None = None) -> None:
    """Write the page.

    Args:
        sections: the sections so far (a failed one shows its error).
        out: the path of index.html.
        meta: {"model", "date", "seconds"}.
        scoreboard: ``readings.scoreboard`` rows, shown first (None or empty: no scoreboard).
    """
    import plotly.io as pio

    parts = [f"<h1>massact report — {html.escape(meta['model'])}</h1>",
             f"<p>Generated {html.escape(meta['date'])} in {meta['seconds']:.0f} s. Every number below was computed "
             f"by this run; the raw numbers are in <code>results.json</code>.</p>"]
    failed = [s.name for s in sections if s.failed]
    if failed:
        parts.append(f"<p><b>Failed sections: {html.escape(', '.join(failed))}</b> (the others are complete).</p>")
    parts.append(scoreboard_html(scoreboard or []))
    first = True
    for s in sections:
        parts.append(f"<h2 id='{s.name}'>{html.escape(s.title)}</h2>")
        if s.text:
            parts.append(text_html(s.text))
        if s.inputs:
            parts.append(f"<p style='font-size:small'>Inputs — {html.escape(_inputs_text(s.inputs))}</p>")
        for cap, uri in s.images:
            parts.append(f"<figure><img src='{uri}' alt='{html.escape(cap)}'><figcaption>{html.escape(cap)}</figcaption>"
                         "</figure>")
        for f in s.figures:
            parts.append(pio.to_html(f, full_html=False, include_plotlyjs="inline" if first else False))
            first = False
    style = ("body{font-family:sans-serif;max-width:1100px;margin:auto;padding:1em} "
             "img{image-rendering:pixelated;max-width:100%} table.score{border-collapse:collapse} "
             "table.score td,table.score th{border:1px solid #ccc;padding:4px;vertical-align:top;text-align:left}")
    out.write_text(f"<!doctype html><html><head><meta charset='utf-8'><title>massact report</title><style>{style}"
                   f"</style></head><body>{''.join(parts)}</body></html>")
