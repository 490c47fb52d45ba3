"""``massact reproduce``: run every claim on a model and write results.json + index.html.

The sections are one static table (``report.sections.SECTIONS``); which prompts, seeds
and pairs each uses follows one rule (``report.context``), and each section records its
inputs. The page and results.json open with the scoreboard (``readings.scoreboard``: one line
per claim, read from the sections' curves over k). A section that fails is reported as failed, on the page and in results.json
(``"failed"``, and its entry holds the error); the others still run. Both files are
rewritten after every section, so an interrupted run leaves what it finished.

Everything in the report is computed by the run that writes it.
"""
from __future__ import annotations

import json
import time
import traceback
from pathlib import Path

import torch

from .. import readings
from ..checks import check_int, check_prompts
from ..metrics import RealMetrics
from ..models import MassactModel
from ..world import world_of
from . import sections
from .context import ReportContext, Section, calibration_stats, expand
from .page import write_html
from .sections import SECTIONS

__all__ = ["reproduce", "ReportContext", "Section", "SECTIONS", "calibration_stats", "expand", "write_html"]


def _failed(name: str, title: str, exc: Exception) -> Section:
    err = f"{type(exc).__name__}: {exc}"
    tb = traceback.format_exception(type(exc), exc, exc.__traceback__)
    return Section(name, title, {"failed": True, "error": err, "traceback": "".join(tb[-3:])},
                   text=f"This section failed: {err}", failed=True)


def reproduce(model: MassactModel | str = "toy", out: str | Path = "report", prompts: list[str] | None = None,
              num_seeds: int = 4, only: list[str] | None = None, quick: bool = False, progress: bool = True,
              size: str | None = None, metrics_options: dict | None = None) -> dict:
    """Run the sections and write results.json and index.html under out.

    Args:
        model: a massact model or what ``massact.load`` takes ("toy", a checkpoint name).
        out: the output folder.
        prompts: evaluation prompts (None: ``model.world.evaluation_prompts``, as many as the
          size names: 4 quick, 16 standard, 64 full); given prompts are also the calibration prompts, drawn with calibration
          seeds, and the source of the caption pairs (see ``report.context``).
        num_seeds: seeds per prompt (0..num_seeds-1).
        only: section names to run ("model" always runs); None = all.
        quick: the smallest sweeps (tests); the same as size="quick".
        progress: show progress bars.
        size: "quick", "standard" (the default: ``make demo``) or "full" (about 4x standard);
          the numbers per section are ``report.sections.SIZES``.
        metrics_options: ``model.metrics(**options)`` for pipelines: ``clip_model`` (a local CLIP
          model for the CLIP score), ``mask_fn`` (foreground masks for the spatial claim).
    Returns:
        the results (as written to results.json).
    Raises:
        ValueError for bad input (before anything is generated); a failing section does not raise.
    """
    from ..loading import load

    t0 = time.time()
    if size is None:
        size = "quick" if quick else "standard"
    elif quick and size != "quick":
        raise ValueError(f"quick=True asks for size 'quick' but size={size!r} was given: pass one of them")
    if size not in sections.SIZES:
        raise ValueError(f"size {size!r} unknown; one of {list(sections.SIZES)}")
    model = load(model) if not isinstance(model, MassactModel) else model
    if prompts is None:
        world = world_of(model, "prompts: reproduce(model, prompts=[...])")
        prompts = world.evaluation_prompts(sections.SIZES[size].evaluation_prompts)
        calibration = world.calibration_prompts(8)
        prompts_from = "world"
    else:
        prompts = check_prompts(prompts)
        model.validate_prompts(prompts)
        calibration = list(prompts)  # ranked with calibration seeds (1000+i), judged with 0..num_seeds-1
        prompts_from = "given"
    num_seeds = check_int("num_seeds", num_seeds, 1, what="seeds per prompt")
    if only is not None:
        if isinstance(only, str):
            only = only.split(",")
        unknown = set(only) - set(sections.names())
        if unknown:
            raise ValueError(f"unknown sections {sorted(unknown)}; available: {sections.names()}")
    metrics = model.metrics(**metrics_options) if metrics_options else model.metrics()
    if metrics_options and not isinstance(metrics, RealMetrics):
        raise ValueError(f"{model.name} is measured by its own metrics ({type(metrics).__name__}); the options "
                         f"{sorted(metrics_options)} (CLIP model, mask function) configure real pipelines")
    ctx = ReportContext(model, metrics, list(prompts), list(calibration), list(range(num_seeds)),
                        size == "quick", progress, prompts_from=prompts_from, size=size)
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    todo = [s for s in sections.SECTIONS if only is None or s.name in only or s.name == "model"]
    done: list[Section] = []
    results: dict = {"scoreboard": [], "inputs": {"calibration": ctx.calibration_note()}, "failed": []}
    from tqdm.auto import tqdm

    for row in tqdm(todo, desc="reproduce", disable=not progress):
        t1 = time.time()
        try:
            s = sections.build(row.name, ctx)
        except Exception as exc:  # reported in the page and results.json; the other sections still run
            s = _failed(row.name, row.title, exc)
            results["failed"].append(row.name)
        done.append(s)
        results[row.name] = s.results
        results["inputs"][row.name] = s.inputs
        results.setdefault("timings_seconds", {})[row.name] = round(time.time() - t1, 1)
        meta = {"model": model.name, "date": time.strftime("%Y-%m-%d %H:%M"), "seconds": time.time() - t0}
        results["meta"] = {**meta, "size": size, "sizes": sections.SIZES[size].summary(), "prompts": ctx.prompts, "prompts_from": ctx.prompt_label, "seeds": ctx.seeds,
                           "torch": torch.__version__}
        results["scoreboard"] = readings.scoreboard(results)
        (out / "results.json").write_text(json.dumps(results, indent=1))
        write_html(done, out / "index.html", meta, results["scoreboard"])
    return results
