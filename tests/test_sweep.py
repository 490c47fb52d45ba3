"""``massact sweep``: sharded over processes, resumable, and merged exactly.

Two processes are started the way a user starts them (``torchrun --nproc_per_node 2``, gloo on
the CPU); the reference is the same sweep in this process. Sizes are tiny: 4 images, 2 steps.
"""
from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pytest
import torch

from massact import stats as ST
from massact import sweep as S
from massact.channel_stats import ChannelStats
from massact.claims import critical as C
from massact.claims.results import rounded
from massact.generation import generate
from massact.specs import CaptureSpec

ROOT = Path(__file__).resolve().parents[1]
TOY = dict(num_prompts=4, num_seeds=1, chunk_size=1, k=2, num_calibration=2, draws=1, num_steps=2)
TOY_ARGS = ["--model", "toy", "--num-prompts", "4", "--seeds", "1", "--chunk-size", "1", "--k", "2",
            "--calibration", "2", "--draws", "1", "--num-steps", "2"]
TINY_PROMPTS = ["a red cube", "a blue ball", "a cat on a mat", "a dog in the snow"]
TINY = dict(num_seeds=1, chunk_size=2, k=2, num_calibration=2, draws=1)
TINY_ARGS = ["--model", "tiny-flux", "--seeds", "1", "--chunk-size", "2", "--k", "2", "--calibration", "2",
             "--draws", "1"]


def launch(nproc: int, args: list[str], out: Path) -> subprocess.CompletedProcess:
    """``torchrun --standalone --nproc_per_node N -m massact.cli sweep ARGS --out OUT``."""
    env = {**os.environ, "OMP_NUM_THREADS": "1", "MKL_NUM_THREADS": "1", "TQDM_DISABLE": "1"}
    cmd = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node", str(nproc),
           "-m", "massact.cli", "sweep", *args, "--out", str(out)]
    return subprocess.run(cmd, cwd=ROOT, env=env, capture_output=True, text=True, timeout=300)


def results(out: Path) -> dict:
    return json.loads((out / "results.json").read_text())


def assert_same_results(a: dict, b: dict) -> None:
    assert a["rows"] == b["rows"]  # per-image rows: equal, value for value
    assert a["massive"] == b["massive"]
    assert a["critical"]["table"] == b["critical"]["table"]
    assert a["critical"]["verdict"] == b["critical"]["verdict"]  # the paired bootstrap intervals
    assert a["meta"]["config"] == b["meta"]["config"]


@pytest.fixture(scope="module")
def toy_reference(tmp_path_factory):
    """The toy sweep in one process (this one), uninterrupted, at one torch thread as the ranks
    (``OMP_NUM_THREADS=1``): the equality below holds at equal thread counts."""
    assert torch.get_num_threads() == 1  # conftest's one_torch_thread
    out = tmp_path_factory.mktemp("toy1")
    log = []
    res = S.sweep("toy", out, progress=False, log=log.append, **TOY)
    assert res is not None and res["meta"]["images"] == 4 and len(list((out / "chunks").iterdir())) == 4
    return out


def _cat(parts: list[ChannelStats]) -> ChannelStats:
    """The statistics of all rows, as if captured in one run (rows concatenated)."""
    cat = lambda name: torch.cat([getattr(p, name) for p in parts])  # noqa: E731
    return ChannelStats(cat("absmean"), cat("meanabs"), cat("maxabs"), parts[0].blocks, parts[0].steps)


def _rows(stats: ChannelStats, rows: list[int]) -> ChannelStats:
    """The statistics of some rows (images) of a capture."""
    pick = lambda name: getattr(stats, name)[rows]  # noqa: E731
    return ChannelStats(pick("absmean"), pick("meanabs"), pick("maxabs"), stats.blocks, stats.steps)


def _old_pooled(parts: list[ChannelStats]) -> ChannelStats:
    """The computation the sweep's merge made before the pooled form: per part, float64 sums over
    rows, maxima and counts; the parts added in the order given; then sum / count in float32."""
    sums_am, sums_ma, maxes, counts = [], [], [], []
    for p in parts:
        seen = ~p.absmean.isnan()
        counts.append(seen[..., 0].sum(0).to(torch.int64))
        sums_am.append(torch.nansum(p.absmean.double(), 0))
        sums_ma.append(torch.nansum(p.meanabs.double(), 0))
        maxes.append(p.maxabs.masked_fill(~seen, float("-inf")).amax(0).float())
    sum_am, sum_ma, mx, count = sums_am[0], sums_ma[0], maxes[0], counts[0]
    for i in range(1, len(parts)):
        sum_am, sum_ma = sum_am + sums_am[i], sum_ma + sums_ma[i]
        mx, count = torch.maximum(mx, maxes[i]), count + counts[i]
    n = count.double()[..., None]
    seen = n > 0
    nan = torch.tensor(float("nan"), dtype=torch.float64)
    am = torch.where(seen, sum_am / n.clamp_min(1), nan).float()[None]
    ma = torch.where(seen, sum_ma / n.clamp_min(1), nan).float()[None]
    blocks = tuple(int(b) for b in torch.nonzero(count.sum(1) > 0).flatten())
    steps = tuple(int(s) for s in torch.nonzero(count.sum(0) > 0).flatten())
    return ChannelStats(am, ma, mx.masked_fill(~seen, float("nan"))[None], blocks, steps)


@pytest.fixture(scope="module")
def toy_parts():
    """Three captures of the toy: 2, 1 and 3 images."""
    import massact

    model = massact.load("toy")
    return [generate(model, ["a red circle", "a blue square"], [0, 1], num_steps=2, capture=CaptureSpec()).stats,
            generate(model, ["a green triangle"], [2], num_steps=2, capture=CaptureSpec()).stats,
            generate(model, ["a small purple circle", "a large red square", "a blue circle"], [3, 4, 5], num_steps=2,
                     capture=CaptureSpec()).stats]


def test_pooled_statistics_merge_exactly(toy_parts):
    parts = toy_parts
    full = _cat(parts)
    merged = ChannelStats.merge_pooled(p.pooled() for p in parts)
    again = ChannelStats.merge_pooled([p.pooled() for p in parts][::-1])  # another summation order
    # float64 sums: another order changes only the last bits; maxima and counts are exact
    torch.testing.assert_close(again.sum_absmean, merged.sum_absmean, rtol=1e-12, atol=0)
    assert torch.equal(again.maxabs, merged.maxabs) and torch.equal(again.count, merged.count)
    assert merged.is_pooled and merged.images == 6 and int(merged.count.min()) == 6 and merged.shape[0] == 1
    assert merged.pooled() is merged and not full.is_pooled and full.images == 6
    # against the statistics of all six rows: float32 scores within rtol 1e-6, maxima exact
    for stat in ("absmean", "meanabs"):
        torch.testing.assert_close(merged.score(stat), full.score(stat), rtol=1e-6, atol=0)
    assert torch.equal(merged.score("maxabs"), full.score("maxabs"))
    a, b = merged.ratio_table(), full.ratio_table()
    assert [r["top_channels"] for r in a] == [r["top_channels"] for r in b]
    np.testing.assert_allclose([r["top1_over_median_absmean"] for r in a],
                               [r["top1_over_median_absmean"] for r in b], rtol=1e-5)
    # what a chunk file holds reads back as the same tensors, in a size that does not grow with the images
    back = ChannelStats.from_dict(merged.to_dict())
    assert back.is_pooled and back.blocks == merged.blocks and back.steps == merged.steps
    for name in ("absmean", "meanabs", "maxabs", "sum_absmean", "sum_meanabs", "count"):
        assert torch.equal(getattr(back, name).nan_to_num(-1.0), getattr(merged, name).nan_to_num(-1.0)), name
    size = lambda st: sum(t.numel() * t.element_size() for t in st.to_dict().values())  # noqa: E731
    assert size(merged) == size(parts[1].pooled())
    st = ChannelStats.from_dict(parts[0].to_dict())
    assert torch.equal(st.absmean, parts[0].absmean) and st.blocks == parts[0].blocks and st.has_moments
    with pytest.raises(ValueError, match="nothing to merge"):
        ChannelStats.merge_pooled([])
    wider = ChannelStats(*(torch.zeros(1, 2, 2, 3) for _ in range(3)), (0, 1), (0, 1))
    with pytest.raises(ValueError, match="cannot merge statistics of shape"):
        ChannelStats.merge_pooled([merged, wider])


def test_pooled_merge_equals_the_former_computation(toy_parts):
    """The merged pooled values are those of the sweep's former merge (float64 sums per chunk
    added in chunk order), bit for bit, and so is the massive table it writes."""
    new = ChannelStats.merge_pooled(p.pooled() for p in toy_parts)
    old = _old_pooled(toy_parts)
    for name in ("absmean", "meanabs", "maxabs"):
        assert torch.equal(getattr(new, name).nan_to_num(-1.0), getattr(old, name).nan_to_num(-1.0)), name
    assert (new.blocks, new.steps) == (old.blocks, old.steps)
    assert rounded(new.ratio_table(), 6) == rounded(old.ratio_table(), 6)
    # a capture with a block not captured: NaN there, as before
    part = toy_parts[0]
    holed = [ChannelStats(*(getattr(p, n).clone() for n in ("absmean", "meanabs", "maxabs")), p.blocks, p.steps)
             for p in toy_parts]
    for n in ("absmean", "meanabs", "maxabs"):
        getattr(holed[1], n)[:, 0] = float("nan")
    new, old = ChannelStats.merge_pooled(p.pooled() for p in holed), _old_pooled(holed)
    assert torch.equal(new.count[0], torch.full_like(new.count[0], 5)) and new.images == part.shape[0] + 4
    for name in ("absmean", "meanabs", "maxabs"):
        assert torch.equal(getattr(new, name).nan_to_num(-1.0), getattr(old, name).nan_to_num(-1.0)), name


def test_pooled_merge_is_associative_and_independent_of_chunking(toy_parts):
    """However the images are cut into parts and the parts grouped, the pooled statistics agree:
    counts and maxima exactly, float64 sums to rounding, float32 rows to one rounding."""
    full = _cat(toy_parts)
    whole = full.pooled()
    cuts = [[[0, 1, 2, 3, 4, 5]], [[0], [1], [2], [3], [4], [5]], [[0, 1, 2], [3, 4, 5]], [[5, 0], [3], [1, 4, 2]]]
    for cut in cuts:
        merged = ChannelStats.merge_pooled(_rows(full, rows).pooled() for rows in cut)
        assert torch.equal(merged.count, whole.count) and torch.equal(merged.maxabs, whole.maxabs), cut
        for name in ("sum_absmean", "sum_meanabs"):
            torch.testing.assert_close(getattr(merged, name), getattr(whole, name), rtol=1e-12, atol=0)
        for name in ("absmean", "meanabs"):
            torch.testing.assert_close(getattr(merged, name), getattr(whole, name), rtol=1e-6, atol=0)
    a, b, c = (_rows(full, rows).pooled() for rows in ([0, 1], [2, 3], [4, 5]))
    left = ChannelStats.merge_pooled([ChannelStats.merge_pooled([a, b]), c])
    right = ChannelStats.merge_pooled([a, ChannelStats.merge_pooled([b, c])])
    flat = ChannelStats.merge_pooled([a, b, c])
    assert torch.equal(left.sum_absmean, flat.sum_absmean)  # a left fold is the merge in order
    assert torch.equal(left.count, right.count) and torch.equal(left.maxabs, right.maxabs)
    for name in ("sum_absmean", "sum_meanabs"):
        torch.testing.assert_close(getattr(left, name), getattr(right, name), rtol=1e-12, atol=0)


def test_toy_two_processes_stopped_then_resumed_equal_one_process(toy_reference, tmp_path):
    out = tmp_path / "toy2"
    # two processes, each stopping after one chunk (a job killed mid-run)
    p = launch(2, TOY_ARGS + ["--stop-after-chunks", "1"], out)
    assert p.returncode != 0, p.stdout + p.stderr  # rank 0 reports the unfinished sweep (exit 3)
    assert "stopped after 1 chunks" in p.stdout and "2 of 4 chunks still to compute" in p.stdout, p.stdout + p.stderr
    done = sorted(f.name for f in (out / "chunks").iterdir())
    assert done == ["chunk-00000.pt", "chunk-00001.pt"] and not (out / "results.json").exists()
    # chunk j went to rank j mod 2; each chunk file equals the one-process run's, tensor for tensor
    for j in (0, 1):
        a = torch.load(out / "chunks" / done[j], weights_only=True)
        b = torch.load(toy_reference / "chunks" / done[j], weights_only=True)
        assert a["rows"] == b["rows"]
        for name, t in a["stats"].items():
            assert torch.equal(t.nan_to_num(-1.0), b["stats"][name].nan_to_num(-1.0)), name
    mtimes = {n: (out / "chunks" / n).stat().st_mtime_ns for n in done}
    # resumed in one process: the finished chunks are skipped, the rest computed, then merged
    log = []
    res = S.sweep("toy", out, progress=False, log=log.append, **TOY)
    assert any("4 chunks, 2 already complete (skipped), 2 to compute" in m for m in log), log
    assert {n: (out / "chunks" / n).stat().st_mtime_ns for n in done} == mtimes
    assert res is not None
    assert_same_results(results(out), results(toy_reference))


def test_tiny_pipeline_two_processes_equal_one_process(tmp_path):
    prompts = tmp_path / "prompts.txt"
    prompts.write_text("\n".join(TINY_PROMPTS) + "\n")
    p = launch(2, TINY_ARGS + ["--prompts", str(prompts)], tmp_path / "two")
    assert p.returncode == 0, p.stdout + p.stderr
    assert "rank 1/2: 1 chunks, 0 already complete" in p.stdout, p.stdout
    S.sweep("tiny-flux", tmp_path / "one", prompts=TINY_PROMPTS, progress=False, log=lambda m: None, **TINY)
    two, one = results(tmp_path / "two"), results(tmp_path / "one")
    assert_same_results(two, one)
    assert two["meta"]["images"] == 4 and (tmp_path / "two" / "index.html").stat().st_size > 1000
    # the intervals are massact.stats' paired bootstrap over the merged per-image rows (seed 0)
    rows = two["rows"]
    pick = lambda arm: [r["pixel_mse"] for r in sorted(rows, key=lambda r: r["item"]) if r["arm"] == arm]  # noqa
    est = ST.paired_difference(pick("top"), pick("bottom"))
    assert two["critical"]["verdict"]["intervals"]["top-bottom"] == rounded(est.summary(), 6)


def test_sweep_rows_are_the_probe_rows(toy_reference):
    """A chunk's rows are ``claims.critical.probe``'s per-image values on the chunk's images."""
    import massact

    model = massact.load("toy")
    config = S.read_config(toy_reference)
    d = torch.load(toy_reference / "calibration.pt", weights_only=True)
    cal = C.Calibration(tuple(d["prompts"]), tuple(d["seeds"]), ChannelStats.from_dict(d["stats"]))
    (prompt, seed), = [config.work()[i] for i in config.chunks()[2]]
    res = C.probe(model, cal, [prompt], [seed], ks=(2,), draws=1, num_steps=2)
    rows = [r for r in results(toy_reference)["rows"] if r["item"] == 2]
    assert len(rows) == len(res) == 4  # clean, top, bottom, random
    for r in rows:
        cond = {c: r[c] for c in S._ROW_KEY}
        assert r["caption_accuracy"] == float(res.per_item("caption_accuracy", **cond)[0])
        assert r["pixel_mse"] == float(res.per_item("pixel_mse", **cond)[0])
    # and the merged ProbeResult reads like a probe's own
    merged = S.probe_result(results(toy_reference)["rows"])
    assert merged.per_item("caption_accuracy", arm="top", k=2).shape == (4,)


def test_merge_command_and_refusals(toy_reference, tmp_path):
    from massact.cli import main

    out = tmp_path / "copy"
    shutil.copytree(toy_reference, out)
    (out / "results.json").unlink()
    assert main(["merge", str(out)]) == 0
    assert_same_results(results(out), results(toy_reference))
    (out / "chunks" / "chunk-00003.pt").unlink()
    with pytest.raises(ValueError, match=r"not complete: chunks \[3\]"):
        S.merge(out)
    with pytest.raises(ValueError, match="other settings.*k differ"):
        S.sweep("toy", out, progress=False, log=lambda m: None, **{**TOY, "k": 3})
    with pytest.raises(ValueError, match="no world.*--prompts"):
        S.make_config(SimpleNamespace(world=None), "tiny-flux")
    with pytest.raises(ValueError, match="holds no sweep"):
        S.merge(tmp_path / "empty")
