"""``massact reproduce``: run every claim on a model and write report/results.json + index.html.

Each claim contributes a *section*: a builder ``(ReportContext) -> Section`` registered in
``SECTIONS``. Everything in the report is computed by the run that writes it.
"""
from __future__ import annotations

import html
import json
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

import torch

from .calibration import calibrate
from .generation import generate
from .hooks import CaptureSpec
from .metrics import Metrics, metrics_for
from .models import MassactModel
from .plots import block_ratios, channel_profile, png_data_uri
from .world import world_of


@dataclass
class ReportContext:
    model: MassactModel
    metrics: Metrics
    prompts: list[str]  # evaluation prompts (the claims are judged on these)
    calibration_prompts: list[str]  # channel ranking is done on these, never on `prompts`
    seeds: list[int]  # evaluation seeds; every prompt is drawn with each seed
    quick: bool = False
    progress: bool = True
    cache: dict = field(default_factory=dict)  # shared between sections (e.g. calibration stats)


@dataclass
class Section:
    name: str
    title: str
    results: object  # JSON-able
    figures: list = field(default_factory=list)  # plotly figures
    images: list = field(default_factory=list)  # (caption, data-uri PNG)
    text: str = ""  # a short reading of the numbers, computed from them


def calibration_stats(ctx: ReportContext):
    """Channel statistics on the calibration prompts (cached): what every ranking uses."""
    if "calibration" not in ctx.cache:
        ctx.cache["calibration"] = calibrate(ctx.model, ctx.calibration_prompts).stats
    return ctx.cache["calibration"]


def expand(prompts: list[str], seeds: list[int]) -> tuple[list[str], list[int]]:
    """Every prompt with every seed: (prompts', seeds') of length len(prompts) * len(seeds)."""
    return [p for p in prompts for _ in seeds], [s for _ in prompts for s in seeds]


def section_model(ctx: ReportContext) -> Section:
    prompts, seeds = expand(ctx.prompts, ctx.seeds)
    g = generate(ctx.model, prompts, seeds)
    res = {"name": ctx.model.name, "num_blocks": ctx.model.num_blocks, "width": ctx.model.width,
           "num_image_tokens": ctx.model.num_image_tokens, "steps": g.steps, "guidance": g.guidance,
           "num_images": len(prompts)}
    acc = ctx.metrics.caption_accuracy(g.images, prompts)
    if acc is not None:
        res["caption_accuracy"] = {k: round(float(v), 4) for k, v in acc.items()}
    fid = ctx.metrics.fid(g.images)
    if fid is not None:
        res["toy_fid"] = round(float(fid), 3)
    batch = (ctx.prompts * 16)[:16]
    generate(ctx.model, batch[:2], 0, steps=2)  # warm-up
    t0 = time.perf_counter()
    generate(ctx.model, batch, list(range(16)))
    res["batch16_seconds"] = round(time.perf_counter() - t0, 3)
    ctx.cache["clean_generation"] = g
    n = min(16, len(prompts))
    text = (f"{len(prompts)} images ({len(ctx.prompts)} prompts x {len(ctx.seeds)} seeds), {g.steps} Euler steps, "
            f"guidance {g.guidance}. A batch of 16 took {res['batch16_seconds']} s.")
    if acc is not None:
        text += " Judge caption accuracy: " + ", ".join(f"{k} {v:.2f}" for k, v in acc.items()) + "."
    return Section("model", "The model and its images", res, images=[("first generated images", png_data_uri(g.images[:n], cols=8))],
                   text=text)


def section_massive(ctx: ReportContext) -> Section:
    prompts, seeds = expand(ctx.prompts, ctx.seeds[:2])
    g = generate(ctx.model, prompts, seeds, capture=CaptureSpec())
    rows = g.stats.ratio_table()
    score = g.stats.score("absmean")
    best = max(rows, key=lambda r: r["top1_over_median_absmean"])
    figs = [block_ratios(rows), channel_profile(score[best["block"]],
                                               title=f"block {best['block']}: |mean| per channel (all steps, {len(prompts)} images)")]
    text = (f"Strongest block {best['block']}: channel {best['top_channels'][0]} is "
            f"{best['top1_over_median_absmean']:.1f}x the median channel by |mean| "
            f"(top-5 average {best['top5_over_median_absmean']:.1f}x); max|x|/median is {best['max_over_median']:.1f}.")
    return Section("massive", "Massive channels, per block", rows, figures=figs, text=text)


#: name -> builder; claims register here (order = order in the report)
SECTIONS: dict[str, Callable[[ReportContext], Section]] = {
    "model": section_model,
    "massive": section_massive,
}


def _register_claims() -> None:
    # claims live above the report's imports; each module exposes report_section(ctx)
    import importlib

    for name in ("critical", "spatial", "transport", "use_cases"):
        try:
            mod = importlib.import_module(f".claims.{name}", __package__)
        except ModuleNotFoundError:
            continue
        if hasattr(mod, "report_section"):
            SECTIONS[name] = mod.report_section


def write_html(sections: list[Section], out: Path, meta: dict) -> None:
    import plotly.io as pio

    parts = [f"<h1>massact report — {html.escape(meta['model'])}</h1>",
             f"<p>Generated {html.escape(meta['date'])} in {meta['seconds']:.0f} s. Every number below was computed "
             f"by this run; the raw numbers are in <code>results.json</code>.</p>"]
    first = True
    for s in sections:
        parts.append(f"<h2 id='{s.name}'>{html.escape(s.title)}</h2>")
        if s.text:
            parts.append(f"<p>{html.escape(s.text)}</p>")
        for cap, uri in s.images:
            parts.append(f"<figure><img src='{uri}' alt='{html.escape(cap)}'><figcaption>{html.escape(cap)}</figcaption></figure>")
        for f in s.figures:
            parts.append(pio.to_html(f, full_html=False, include_plotlyjs="inline" if first else False))
            first = False
    style = "body{font-family:sans-serif;max-width:1100px;margin:auto;padding:1em} img{image-rendering:pixelated;max-width:100%}"
    out.write_text(f"<!doctype html><html><head><meta charset='utf-8'><title>massact report</title><style>{style}</style>"
                   f"</head><body>{''.join(parts)}</body></html>")


def reproduce(model: MassactModel | str = "toy", out: str | Path = "report", prompts: list[str] | None = None,
              num_seeds: int = 4, only: list[str] | None = None, quick: bool = False, progress: bool = True) -> dict:
    """Run every registered section and write results.json and index.html under out."""
    from .loading import load

    t0 = time.time()
    model = load(model) if not isinstance(model, MassactModel) else model
    _register_claims()
    if prompts is None:
        world = world_of(model, "prompts: reproduce(model, prompts=[...])")
        prompts = world.evaluation_prompts(4 if quick else 8)
        calibration = world.calibration_prompts(8)
    else:
        calibration = prompts  # with user prompts, rankings use other seeds (see calibration_stats)
    if num_seeds < 1:
        raise ValueError(f"seeds {num_seeds} out of range: at least 1")
    unknown = set(only or []) - set(SECTIONS)
    if unknown:
        raise ValueError(f"unknown sections {sorted(unknown)}; available: {list(SECTIONS)}")
    ctx = ReportContext(model, metrics_for(model), list(prompts), calibration, list(range(num_seeds)), quick, progress)
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    sections, results = [], {}
    names = [n for n in SECTIONS if not only or n in only or n in ("model",)]
    from tqdm.auto import tqdm

    for name in tqdm(names, desc="reproduce", disable=not progress):
        t1 = time.time()
        s = SECTIONS[name](ctx)
        sections.append(s)
        results[name] = s.results
        results.setdefault("timings_seconds", {})[name] = round(time.time() - t1, 1)
    meta = {"model": model.name, "date": time.strftime("%Y-%m-%d %H:%M"), "seconds": time.time() - t0}
    results["meta"] = {**meta, "prompts": ctx.prompts, "seeds": ctx.seeds, "torch": torch.__version__}
    (out / "results.json").write_text(json.dumps(results, indent=1))
    write_html(sections, out / "index.html", meta)
    return results
