"""``massact sweep``: channel statistics and the disruption probe over a long (prompt, seed)
work list, spread over processes and resumable.

The same command runs in one process or under a launcher (``torchrun --nproc_per_node N``,
``accelerate launch --num_processes N``): accelerate's ``PartialState`` reads the launcher's
environment and opens the process group (gloo on CPU, NCCL on GPUs); nothing here starts a
process.

What a sweep computes, per (prompt, seed) image of the work list:

* the image stream's channel statistics at every block and step (``channel_stats.ChannelStats``
  in its pooled form: sums, counts and maxima over images, ``ChannelStats.pooled``), from which the merge
  writes the massive table (``ChannelStats.ratio_table``: top channels and ratios per block);
* the critical claim's per-image rows: ``claims.critical.probe`` on the clean image and with
  the top, bottom and random k channels per block zeroed (one row per image and arm, with its
  caption accuracy where the model has a judge, pixel MSE to the clean image and detail energy).

How the work is cut: the work list (every prompt with every seed, prompt by prompt) is cut
into chunks of ``chunk_size`` images; chunk j goes to rank j mod N. A rank writes each
finished chunk to ``OUT/chunks/chunk-0000j.pt`` (written to a temporary name, then renamed,
so a file there is always complete). A rerun skips the chunks already on disk, so a killed
or preempted job loses at most one chunk per rank, and a rerun may use another number of
processes. Rank 0 then (or ``massact merge OUT``) merges the chunks into ``OUT/results.json``
and ``OUT/index.html``.

Why the merge is exact: a chunk is the same batch whatever the number of processes, so every
chunk file holds the same numbers; the merge adds the chunks' sums in chunk order (float64),
so a sweep on N processes writes the same results.json as one process. (Adding in another
order changes only the last bits of the float64 sums: relative 1e-12, far below the float32
of the statistics themselves.) The intervals come from the merged per-image rows through
``ProbeResult`` and ``massact.stats`` (seeded bootstrap), so they are equal too.

Channels are ranked once, by rank 0, on calibration prompts (the world's, or the given
prompts drawn with the calibration seeds), saved to ``OUT/calibration.pt`` and read by the
other ranks, so every rank zeroes the same channels.
"""
from __future__ import annotations

import hashlib
import json
import os
import sys
import time
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np
import torch

from .calibration import Calibration, calibration_seeds, evaluation_seeds
from .channel_stats import ChannelStats
from .checks import check_int
from .claims import critical as C
from .claims.results import rounded
from .ranking import ALL_ARMS
from .selection import Selection
from .specs import CaptureSpec

__all__ = ["SweepConfig", "sweep", "merge", "probe_result", "chunk_path", "add_parsers", "run_cli"]

#: the format of the chunk files (a change makes old chunks be recomputed)
CHUNK_FORMAT = 2
#: the exit status of a sweep stopped on purpose before its end (``stop_after_chunks``)
STOPPED = 3
#: the probe's per-image metrics a row carries (detail energy: the ratio is taken at the merge)
ROW_METRICS = ("caption_accuracy", "pixel_mse")
_ROW_KEY = ("ablation", "arm", "k", "blocks", "steps", "draw")


# -- what a sweep runs -----------------------------------------------------------------------------
@dataclass(frozen=True)
class SweepConfig:
    """Everything that decides a sweep's numbers (the number of processes does not).

    Attributes:
        model: the name ``massact.load`` takes ("toy", "tiny-flux", a checkpoint).
        prompts: the evaluation prompts; every prompt is drawn with every seed.
        seeds: the evaluation seeds.
        calibration_prompts, calibration_seeds: the images channels are ranked on.
        chunk_size: images per chunk (the unit of work, of resumption and of a batch).
        k, arms, draws, ablation: the probe's arms (``claims.critical.probe``).
        blocks, steps: where the zeroing acts (a block / step specification).
        num_steps, guidance: the sampler's (resolved against the model).
        statistic: the ranking statistic ("absmean", the paper's, or "meanabs").
        random_seed: the random arm's draws use random_seed + draw.
        dtype: the weights' dtype (None: ``massact.load``'s default).
        image_size: a pipeline's image height and width in pixels (None: its default).
    """

    model: str
    prompts: tuple[str, ...]
    seeds: tuple[int, ...]
    calibration_prompts: tuple[str, ...]
    calibration_seeds: tuple[int, ...]
    chunk_size: int = 4
    k: int = 8
    arms: tuple[str, ...] = ("top", "bottom", "random")
    draws: int = 2
    ablation: tuple[str, ...] = ("zero",)
    blocks: object = "all"
    steps: object = "all"
    num_steps: int = 4
    guidance: float = 1.0
    statistic: str = "absmean"
    random_seed: int = 0
    dtype: str | None = None
    image_size: int | None = None

    def work(self) -> list[tuple[str, int]]:
        """The (prompt, seed) images in work-list order: prompt by prompt, every seed of each."""
        return [(p, s) for p in self.prompts for s in self.seeds]

    def chunks(self) -> list[range]:
        """The work-list indices of each chunk."""
        n = len(self.prompts) * len(self.seeds)
        return [range(i, min(i + self.chunk_size, n)) for i in range(0, n, self.chunk_size)]

    def to_dict(self) -> dict:
        """A JSON-able form (tuples as lists)."""
        return json.loads(json.dumps(asdict(self)))

    def digest(self) -> str:
        """A short hash of the configuration: every chunk file carries it."""
        return hashlib.sha256(json.dumps(self.to_dict(), sort_keys=True).encode()).hexdigest()[:16]


def chunks_of_rank(num_chunks: int, rank: int, world_size: int) -> list[int]:
    """The chunks one rank computes: j with j mod world_size == rank."""
    return list(range(rank, num_chunks, world_size))


def chunk_path(out: str | Path, index: int) -> Path:
    """Where chunk ``index`` of a sweep under ``out`` is written."""
    return Path(out) / "chunks" / f"chunk-{index:05d}.pt"


# -- one chunk ---------------------------------------------------------------------------------------
def _image_key(condition: dict) -> tuple:
    """The ``ProbeResult.images`` key of a probe condition."""
    base = tuple(condition[c] for c in ("arm", "k", "blocks", "steps", "draw"))
    return base if condition["ablation"] in ("zero", "none") else base + (condition["ablation"],)


def chunk_rows(result: C.ProbeResult, items: range) -> list[dict]:
    """The per-image rows of one probe result: one row per image and condition (arm "none" = clean).

    Args:
        result: ``claims.critical.probe`` on the chunk's images.
        items: the images' places in the work list.
    Returns:
        rows with the work-list place (``item``), prompt, seed, the condition (ablation, arm, k,
        blocks, steps, draw), the per-image metrics of ``ROW_METRICS`` the model provides and
        ``detail_energy`` (``claims.critical.detail_energy``; the merge divides it by the clean
        images' mean over the whole work list to give ``detail_ratio``).
    """
    rows = []
    for cond in result.conditions:
        energy = C.detail_energy(result.images[_image_key(cond)]).double().numpy()
        values = {m: result.per_item(m, **cond) for m in ROW_METRICS if m in result.metrics}
        for i, item in enumerate(items):
            row = {"item": int(item), "prompt": result.prompts[i], "seed": int(result.seeds[i]),
                   **{c: cond[c] for c in _ROW_KEY}}
            for m, v in values.items():
                row[m] = float(v[i])
            row["detail_energy"] = float(energy[i])
            rows.append(row)
    return rows


def run_chunk(model, calibration: Calibration, config: SweepConfig, index: int, metrics=None) -> dict:
    """Compute one chunk: its channel statistics and its per-image probe rows.

    Args:
        model: the loaded model.
        calibration: the channel ranking (the same on every rank).
        config: the sweep.
        index: the chunk's number.
        metrics: ``model.metrics()`` (None: made here).
    Returns:
        the chunk's record (what its file holds).
    """
    from .generation import generate

    items = config.chunks()[index]
    work = config.work()
    prompts, seeds = [work[i][0] for i in items], [work[i][1] for i in items]
    t0 = time.perf_counter()
    g = generate(model, prompts, seeds, num_steps=config.num_steps, guidance=config.guidance, capture=CaptureSpec())
    res = C.probe(model, calibration, prompts, seeds, ks=(config.k,), arms=config.arms, blocks=config.blocks,
                  steps=config.steps, draws=config.draws, statistic=config.statistic, num_steps=config.num_steps,
                  guidance=config.guidance, metrics=metrics, random_seed=config.random_seed,
                  baseline_images=g.images, ablation=config.ablation)
    return {"format": CHUNK_FORMAT, "config": config.digest(), "index": index, "items": list(items),
            "stats": g.stats.pooled().to_dict(), "rows": chunk_rows(res, items),
            "seconds": time.perf_counter() - t0}


def _write_atomic(path: Path, payload, as_json: bool = False) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    if as_json:
        tmp.write_text(json.dumps(payload, indent=1, default=_json_default))
    else:
        torch.save(payload, tmp)
    os.replace(tmp, path)


def _json_default(v):
    if isinstance(v, (np.floating, np.integer)):
        return v.item()
    if isinstance(v, (tuple, set)):
        return list(v)
    raise TypeError(f"not JSON-able: {type(v).__name__}")


def read_chunk(out: str | Path, index: int, config: SweepConfig) -> dict | None:
    """Chunk ``index``'s record when its file is there and belongs to this sweep, else None."""
    path = chunk_path(out, index)
    if not path.is_file():
        return None
    try:
        d = torch.load(path, weights_only=True)
    except Exception:  # noqa: BLE001 - an unreadable file is recomputed
        return None
    if d.get("format") != CHUNK_FORMAT or d.get("config") != config.digest() or d.get("index") != index:
        return None
    return d


# -- the merge ------------------------------------------------------------------------------------------
def probe_result(rows: list[dict], meta: dict | None = None) -> C.ProbeResult:
    """A ``ProbeResult`` from per-image rows (those of ``chunk_rows``, any number of chunks).

    Its per-image values are the rows' metrics in work-list order, with ``detail_ratio`` =
    detail energy over the mean detail energy of all the clean images; it has no set-level
    numbers (``toy_fid`` and ``clip_score``, measured on whole sets, are not part of a sweep), so
    ``table()`` shows each condition's means over the images. ``estimate``, ``difference`` and
    the readings work on it as on a probe's own result.

    Args:
        rows: per-image rows.
        meta: the probe's meta (arms, ablations, ...) for the readings.
    Returns:
        a ``claims.critical.ProbeResult`` (without images).
    """
    groups: dict[tuple, list[dict]] = {}
    for r in rows:
        groups.setdefault(tuple(r[c] for c in _ROW_KEY), []).append(r)
    clean_key = ("none", "none", 0, "none", "none", None)
    if clean_key not in groups:
        raise ValueError("the rows hold no clean images (arm 'none'): they are not a sweep's rows")
    for key in groups:
        groups[key].sort(key=lambda r: r["item"])
    clean = groups[clean_key]
    items = [r["item"] for r in clean]
    clean_detail = float(np.mean([r["detail_energy"] for r in clean]))
    conditions, per_item = [], []
    for key, rs in groups.items():
        if [r["item"] for r in rs] != items:
            raise ValueError(f"condition {dict(zip(_ROW_KEY, key))} has rows for other images than the clean rows: "
                             "every condition needs every image")
        values = {m: np.array([r[m] for r in rs], dtype=np.float64) for m in ROW_METRICS if m in rs[0]}
        values["detail_ratio"] = np.array([r["detail_energy"] for r in rs], dtype=np.float64) / max(clean_detail,
                                                                                                    1e-12)
        conditions.append(dict(zip(_ROW_KEY, key)))
        per_item.append(values)
    return C.ProbeResult(conditions, per_item, None, dict(meta or {}), [r["prompt"] for r in clean],
                         [r["seed"] for r in clean])


def missing_chunks(out: str | Path, config: SweepConfig) -> list[int]:
    """The chunks of the sweep under ``out`` that no complete file holds yet."""
    return [j for j in range(len(config.chunks())) if read_chunk(out, j, config) is None]


def read_config(out: str | Path) -> SweepConfig:
    """The configuration of the sweep under ``out`` (its ``sweep.json``).

    Raises:
        ValueError when ``out`` holds no sweep.
    """
    path = Path(out) / "sweep.json"
    if not path.is_file():
        raise ValueError(f"{out} holds no sweep (no sweep.json): run `massact sweep --out {out}` first")
    d = json.loads(path.read_text())["config"]
    for key in ("prompts", "seeds", "calibration_prompts", "calibration_seeds", "arms", "ablation"):
        d[key] = tuple(d[key])
    return SweepConfig(**d)


def merge(out: str | Path, html: bool = True) -> dict:
    """Merge the chunk files of the sweep under ``out`` into ``results.json`` (and ``index.html``).

    Args:
        out: the sweep's folder.
        html: also write the page (``report.write_html``).
    Returns:
        the results, as written.
    Raises:
        ValueError naming the missing chunks when the sweep is not complete.
    """
    from . import readings

    out = Path(out)
    config = read_config(out)
    records, stats = [], None
    for j in range(len(config.chunks())):  # one chunk's statistics in memory at a time, added in chunk order
        d = read_chunk(out, j, config)
        if d is not None:
            part = ChannelStats.from_dict(d.pop("stats"))
            stats = part if stats is None else ChannelStats.merge_pooled([stats, part])
        records.append(d)
    missing = [j for j, d in enumerate(records) if d is None]
    if missing:
        raise ValueError(f"the sweep under {out} is not complete: chunks {missing[:10]}"
                         f"{' ...' if len(missing) > 10 else ''} ({len(missing)} of {len(records)}) are missing; "
                         "run the same `massact sweep` again to finish them")
    rows = [r for d in records for r in d["rows"]]
    meta = {"statistic": config.statistic, "num_steps": config.num_steps, "guidance": config.guidance,
            "ks": [config.k], "arms": list(config.arms), "ablations": list(config.ablation), "draws": config.draws,
            "random_seed": config.random_seed, "n_images": len(config.work())}
    res = probe_result(rows, meta)
    verdict = readings.critical_verdict(res, k=config.k)
    reading = readings.critical(res, k=config.k)
    seconds = [float(d["seconds"]) for d in records]
    by_rank: dict[str, float] = {}
    for d in records:  # which rank of which run computed each chunk
        key = f"rank {d.get('rank', 0)} of {d.get('world_size', 1)}"
        by_rank[key] = round(by_rank.get(key, 0.0) + float(d["seconds"]), 3)
    results = {
        "meta": {"model": config.model, "images": len(config.work()), "prompts": len(config.prompts),
                 "seeds": list(config.seeds), "chunks": len(records), "chunk_size": config.chunk_size,
                 "chunk_seconds_total": round(sum(seconds), 3),
                 "seconds_per_image": round(sum(seconds) / max(len(config.work()), 1), 4),
                 "chunk_seconds_by_rank": by_rank,
                 "config": config.to_dict(), "date": time.strftime("%Y-%m-%d %H:%M:%S"),
                 "notes": ["statistics pooled over every image of the work list (sums in float64, added in chunk "
                           "order; maxima exact)",
                           "intervals: 95% paired percentile bootstrap over the images (massact.stats, seed 0)"]},
        "massive": rounded(stats.ratio_table(), 6),
        "critical": {"table": list(res.table(ndigits=C.ROW_DECIMALS)), "verdict": rounded(verdict, 6),
                     "reading": reading},
        "rows": rows,
    }
    _write_atomic(out / "results.json", results, as_json=True)
    if html:
        _write_page(out, results, stats)
    return results


def _write_page(out: Path, results: dict, stats: ChannelStats) -> None:
    from .plots import block_ratios, channel_profile
    from .report import Section, write_html

    rows = results["massive"]
    best = max(rows, key=lambda r: r["top1_over_median_absmean"])
    m = results["meta"]
    massive = Section("massive", "Massive activations over the work list", results=rows,
                      figures=[block_ratios(rows), channel_profile(stats.score("absmean")[best["block"]],
                                                                   title=f"block {best['block']}: |mean| per channel")],
                      text=f"Strongest block {best['block']}: channel {best['top_channels'][0]} is "
                           f"{best['top1_over_median_absmean']:.1f}x the median channel by |mean| "
                           f"({m['images']} images, every block and step).",
                      inputs={"prompts": m["prompts"], "seeds": m["seeds"], "chunks": m["chunks"]})
    critical = Section("critical", f"Critical: zeroing {m['config']['k']} channels per block", text=
                       results["critical"]["reading"], inputs={"images": m["images"], "arms": m["config"]["arms"]})
    write_html([massive, critical], out / "index.html",
               {"model": m["model"], "date": m["date"], "seconds": m["chunk_seconds_total"]})


# -- the run ------------------------------------------------------------------------------------------
def _check_manifest(out: Path, config: SweepConfig, is_main: bool = True) -> None:
    """Write sweep.json (rank 0), or refuse a folder that holds another sweep."""
    path = out / "sweep.json"
    if path.is_file():
        have = json.loads(path.read_text()).get("config", {})
        want = config.to_dict()
        diff = sorted(k for k in set(have) | set(want) if have.get(k) != want.get(k))
        if diff:
            raise ValueError(f"{out} holds a sweep with other settings ({', '.join(diff)} differ): resume it with "
                             "the same options, or give another --out")
        return
    if not is_main:
        raise RuntimeError(f"{path} is missing: rank 0 writes it before the other ranks read it (did rank 0 fail?)")
    _write_atomic(path, {"config": config.to_dict(), "digest": config.digest()}, as_json=True)


def _calibration(model, out: Path, config: SweepConfig, is_main: bool) -> Calibration:
    """Rank 0 calibrates (or reads an earlier run's calibration); the other ranks read its file."""
    from .calibration import calibrate

    path = out / "calibration.pt"
    if path.is_file():
        d = torch.load(path, weights_only=True)
        if d.get("config") == config.digest():
            return Calibration(tuple(d["prompts"]), tuple(d["seeds"]), ChannelStats.from_dict(d["stats"]))
    if not is_main:
        raise RuntimeError(f"{path} is missing or belongs to another sweep: rank 0 writes it before the other ranks "
                           "read it")
    cal = calibrate(model, list(config.calibration_prompts), list(config.calibration_seeds),
                    num_steps=config.num_steps, guidance=config.guidance)
    _write_atomic(path, {"config": config.digest(), "prompts": list(cal.prompts), "seeds": list(cal.seeds),
                         "stats": cal.stats.to_dict()})
    return cal


def make_config(model, name: str, prompts=None, num_prompts: int = 8, num_seeds: int = 2,
                num_calibration: int = 8, chunk_size: int = 4, k: int = 8, arms=("top", "bottom", "random"),
                draws: int = 2, ablation=("zero",), blocks="all", steps="all", num_steps: int | None = None,
                guidance: float | None = None, statistic: str = "absmean", random_seed: int = 0,
                dtype: str | None = None, image_size: int | None = None) -> SweepConfig:
    """The sweep's configuration, with the model's defaults filled in.

    Args:
        model: the loaded model (its world gives default prompts; its defaults the steps and guidance).
        name: the name it was loaded by.
        prompts: evaluation prompts (None: ``model.world.evaluation_prompts(num_prompts)``); given
          prompts are also the calibration prompts, drawn with the calibration seeds.
        num_prompts: how many world prompts (when prompts is None).
        num_seeds: seeds per prompt (0..num_seeds-1).
        num_calibration: calibration prompts.
        chunk_size: images per chunk.
        k, arms, draws, ablation, blocks, steps, statistic, random_seed: the probe's (``claims.critical.probe``).
        num_steps, guidance: the sampler's (None: the model's).
        dtype, image_size: recorded with the configuration (the model was loaded with them).
    Returns:
        a ``SweepConfig``.
    Raises:
        ValueError for bad input, naming what is valid.
    """
    from .checks import check_prompts

    num_seeds = check_int("num_seeds", num_seeds, 1, what="seeds per prompt")
    num_calibration = check_int("num_calibration", num_calibration, 1, what="calibration prompts")
    chunk_size = check_int("chunk_size", chunk_size, 1, what="images per chunk")
    if prompts is None:
        world = getattr(model, "world", None)
        if world is None:
            raise ValueError(f"{name} has no world to take prompts from: give a prompt file (--prompts FILE, one "
                             "prompt per line)")
        prompts = world.evaluation_prompts(check_int("num_prompts", num_prompts, 1, what="prompts"))
        calibration = world.calibration_prompts(num_calibration)
    else:
        prompts = check_prompts(list(prompts))
        calibration = prompts[:num_calibration]
    model.validate_prompts(prompts)
    arms = (arms,) if isinstance(arms, str) else tuple(arms)
    if not arms:
        raise ValueError(f"no arm given; choose from {ALL_ARMS}")
    for arm in arms:  # arm and k, checked by the Selection the probe will build (k against the model's width)
        Selection(arm, k).block_indices(model.num_blocks, model.width)
    ablation = C.check_ablation(ablation)
    C.check_statistic(statistic)
    return SweepConfig(model=name, prompts=tuple(prompts), seeds=tuple(evaluation_seeds(num_seeds)),
                       calibration_prompts=tuple(calibration),
                       calibration_seeds=tuple(calibration_seeds(len(calibration))), chunk_size=chunk_size,
                       k=int(k), arms=arms, draws=check_int("draws", draws, 1, what="random draws"),
                       ablation=ablation, blocks=blocks, steps=steps,
                       num_steps=model.default_steps if num_steps is None else int(num_steps),
                       guidance=float(model.default_guidance if guidance is None else guidance),
                       statistic=statistic, random_seed=int(random_seed), dtype=dtype, image_size=image_size)


_DTYPES = {"float32": torch.float32, "bfloat16": torch.bfloat16, "float16": torch.float16}


def sweep(name: str, out: str | Path, prompts=None, device: str | None = None, dtype: str | None = None,
          image_size: int | None = None, stop_after_chunks: int | None = None, progress: bool = True, log=print, **options) -> dict | None:
    """Run (or resume) a sweep in this process, as one rank of however many the launcher started.

    Args:
        name: what ``massact.load`` takes ("toy", "tiny-flux", a checkpoint).
        out: the output folder (chunks/, calibration.pt, sweep.json, results.json, index.html).
        prompts: evaluation prompts (None: the model's world's).
        device: "cpu", "cuda" or None (a GPU per rank when there is one, else the CPU).
        dtype: "float32", "bfloat16", "float16" or None (``massact.load``'s default).
        image_size: a pipeline's image height and width in pixels (None: its default; not for the toy).
        stop_after_chunks: stop each rank after computing this many chunks (to test resumption:
          the run then ends without merging).
        progress: one progress bar per rank (never under CI or TQDM_DISABLE).
        log: where the one-line messages go.
        **options: ``make_config``'s (num_prompts, num_seeds, chunk_size, k, arms, draws, ...).
    Returns:
        the merged results on rank 0 of a finished sweep; None on the other ranks and when stopped.
    """
    from accelerate import PartialState
    from tqdm.auto import tqdm

    from .loading import load

    if dtype is not None and dtype not in _DTYPES:
        raise ValueError(f"unknown dtype {dtype!r}; choose one of {sorted(_DTYPES)}")
    if device not in (None, "cpu", "cuda"):
        raise ValueError(f"unknown device {device!r}; choose cpu or cuda (or leave it out: a GPU when there is one)")
    if stop_after_chunks is not None:
        stop_after_chunks = check_int("stop_after_chunks", stop_after_chunks, 0, what="chunks per rank")
    cpu = device == "cpu" or not torch.cuda.is_available()
    state = PartialState(cpu=cpu)
    rank, world_size = state.process_index, state.num_processes
    out = Path(out)
    size = {} if image_size is None else {"height_px": check_int("image_size", image_size, 16, what="pixels"),
                                          "width_px": image_size}
    if size and name == "toy":
        raise ValueError("the toy model has one image size: leave out --image-size")
    model = load(name, device=str(state.device) if not cpu else "cpu", dtype=_DTYPES.get(dtype), **size)
    config = make_config(model, name, prompts=prompts, dtype=dtype, image_size=image_size, **options)
    failure = None
    with state.main_process_first():  # rank 0 writes sweep.json and calibration.pt, then the others read them
        try:
            if state.is_main_process:
                out.mkdir(parents=True, exist_ok=True)
            _check_manifest(out, config, state.is_main_process)
            calibration = _calibration(model, out, config, state.is_main_process)
        except (ValueError, RuntimeError) as exc:
            failure = exc
    if failure is not None:
        raise failure
    mine = chunks_of_rank(len(config.chunks()), rank, world_size)
    todo = [j for j in mine if read_chunk(out, j, config) is None]
    log(f"rank {rank}/{world_size}: {len(mine)} chunks, {len(mine) - len(todo)} already complete (skipped), "
        f"{len(todo)} to compute")
    metrics = model.metrics()
    quiet = not progress or bool(os.environ.get("CI")) or os.environ.get("TQDM_DISABLE", "").lower() in ("1", "true")
    done = 0
    with tqdm(total=len(todo), desc=f"sweep rank {rank}", position=rank, disable=quiet, leave=False) as bar:
        for j in todo:
            if stop_after_chunks is not None and done >= stop_after_chunks:
                break
            record = run_chunk(model, calibration, config, j, metrics)
            record.update(rank=rank, world_size=world_size)
            _write_atomic(chunk_path(out, j), record)
            done += 1
            bar.update(1)
    if done < len(todo):
        log(f"rank {rank}: stopped after {done} chunks as asked; run the same command again to resume")
    state.wait_for_everyone()
    results = None
    if state.is_main_process:
        missing = missing_chunks(out, config)
        if missing:
            log(f"{len(missing)} of {len(config.chunks())} chunks still to compute; run the same command again to "
                "resume (nothing merged yet)")
        else:
            results = merge(out)
            log(f"wrote {out / 'results.json'} and {out / 'index.html'} ({len(config.chunks())} chunks, "
                f"{results['meta']['images']} images)")
    if world_size > 1 and torch.distributed.is_initialized():
        torch.distributed.destroy_process_group()  # the ranks are done with each other
    return results


# -- the command line ----------------------------------------------------------------------------------
def _spec(text: str):
    """A block or step specification from the command line: an int, or a name/range as given."""
    return int(text) if text.isdigit() else text


def add_parsers(sub) -> None:
    """Add ``sweep`` and ``merge`` to the ``massact`` command's subparsers."""
    s = sub.add_parser("sweep", help="channel statistics and the critical probe over prompts x seeds, sharded over "
                                     "processes (torchrun / accelerate launch) and resumable")
    s.add_argument("--model", default="toy", help="'toy', a tiny pipeline ('tiny-flux') or a diffusers checkpoint")
    s.add_argument("--out", default="sweep", help="output folder (chunks/, results.json, index.html)")
    s.add_argument("--prompts", help="a text file, one prompt per line (default: the model's world's prompts)")
    s.add_argument("--num-prompts", type=int, default=8, help="world prompts when no --prompts file (default 8)")
    s.add_argument("--seeds", type=int, default=2, help="seeds per prompt, 0..N-1 (default 2)")
    s.add_argument("--calibration", type=int, default=8, help="calibration prompts (default 8)")
    s.add_argument("--chunk-size", type=int, default=4, help="images per chunk file (default 4)")
    s.add_argument("--k", type=int, default=8, help="channels zeroed per block (default 8)")
    s.add_argument("--arms", default="top,bottom,random", help="comma-separated arms (default top,bottom,random)")
    s.add_argument("--draws", type=int, default=2, help="random-arm draws (default 2)")
    s.add_argument("--blocks", default="all", help="blocks to zero: all, early, late, 2-5 or one block")
    s.add_argument("--steps", default="all", help="steps to zero: all, early, late, 0-1 or one step")
    s.add_argument("--num-steps", type=int, help="sampler steps (default: the model's)")
    s.add_argument("--guidance", type=float, help="guidance scale (default: the model's)")
    s.add_argument("--device", choices=("cpu", "cuda"), help="default: one GPU per rank when there is one")
    s.add_argument("--dtype", choices=sorted(_DTYPES), help="weights' dtype (default: massact.load's)")
    s.add_argument("--image-size", type=int, help="a pipeline's image height = width in pixels (default 512)")
    s.add_argument("--stop-after-chunks", type=int, help="stop each rank after this many chunks (tests resuming)")
    m = sub.add_parser("merge", help="merge a sweep's chunk files into results.json and index.html")
    m.add_argument("out", help="the sweep's output folder")


def run_cli(args, read_prompts) -> int:
    """Run ``massact sweep`` or ``massact merge`` from parsed arguments.

    Args:
        args: the parsed arguments (``args.cmd`` is "sweep" or "merge").
        read_prompts: the command line's prompt-file reader (path -> prompts).
    Returns:
        the exit status: 0 done, 2 bad input, ``STOPPED`` when chunks remain to be computed.
    """
    try:
        if args.cmd == "merge":
            res = merge(args.out)
            print(f"wrote {args.out}/results.json and {args.out}/index.html ({res['meta']['images']} images)")
            return 0
        prompts = read_prompts(args.prompts) if args.prompts else None
        res = sweep(args.model, args.out, prompts=prompts, device=args.device, dtype=args.dtype,
                    image_size=args.image_size,
                    stop_after_chunks=args.stop_after_chunks, num_prompts=args.num_prompts, num_seeds=args.seeds,
                    num_calibration=args.calibration, chunk_size=args.chunk_size, k=args.k,
                    arms=tuple(a for a in args.arms.split(",") if a), draws=args.draws, blocks=_spec(args.blocks),
                    steps=_spec(args.steps), num_steps=args.num_steps, guidance=args.guidance,
                    log=lambda msg: print(msg, flush=True))
    except ValueError as exc:
        print(f"massact: {exc}", file=sys.stderr)
        return 2
    return STOPPED if res is None and _is_main() else 0


def _is_main() -> bool:
    """Whether this process is rank 0 (the one that merges)."""
    from accelerate import PartialState

    return PartialState().is_main_process
