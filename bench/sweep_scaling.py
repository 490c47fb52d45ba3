"""Seconds per prompt of ``massact sweep`` on the toy model, with 1 and with 2 processes.

    python bench/sweep_scaling.py [--prompts 16] [--procs 1,2] [--keep]

Each run is a fresh sweep (every prompt with seed 0, chunks of 2 images, k = 8, top / bottom /
2 random draws zeroed at every block and step, the toy's default step count), started as a
user starts it: ``torchrun --standalone --nproc_per_node N -m massact.cli sweep ...``, one
thread per process. Printed per process count:

* wall: the whole command (process start, imports, model load, calibration, the chunks and
  the merge), over the prompts;
* compute: the busiest rank's time inside its chunks, over the prompts (what a long sweep
  costs per prompt once started).
"""
from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def run(nproc: int, num_prompts: int, out: Path) -> dict:
    env = {**os.environ, "OMP_NUM_THREADS": "1", "MKL_NUM_THREADS": "1", "TQDM_DISABLE": "1"}
    cmd = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node", str(nproc),
           "-m", "massact.cli", "sweep", "--model", "toy", "--num-prompts", str(num_prompts), "--seeds", "1",
           "--chunk-size", "2", "--k", "8", "--draws", "2", "--out", str(out)]
    t0 = time.perf_counter()
    p = subprocess.run(cmd, cwd=ROOT, env=env, capture_output=True, text=True)
    wall = time.perf_counter() - t0
    if p.returncode != 0:
        raise SystemExit(f"the sweep failed:\n{p.stdout}\n{p.stderr}")
    meta = json.loads((out / "results.json").read_text())["meta"]
    busiest = max(meta["chunk_seconds_by_rank"].values())
    return {"procs": nproc, "prompts": num_prompts, "wall_s": wall, "wall_s_per_prompt": wall / num_prompts,
            "compute_s_per_prompt": busiest / num_prompts, "by_rank": meta["chunk_seconds_by_rank"]}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--prompts", type=int, default=16)
    ap.add_argument("--procs", default="1,2", help="comma-separated process counts")
    ap.add_argument("--keep", action="store_true", help="keep the output folders (printed)")
    a = ap.parse_args()
    base = Path(tempfile.mkdtemp(prefix="sweep_scaling_"))
    for n in [int(x) for x in a.procs.split(",")]:
        r = run(n, a.prompts, base / f"procs{n}")
        print(f"{n} process(es), {r['prompts']} prompts: wall {r['wall_s']:.1f} s = {r['wall_s_per_prompt']:.2f} s per "
              f"prompt; compute {r['compute_s_per_prompt']:.2f} s per prompt (busiest rank; chunk seconds by rank: "
              f"{r['by_rank']})", flush=True)
    if a.keep:
        print(f"outputs under {base}")
    else:
        import shutil

        shutil.rmtree(base, ignore_errors=True)


if __name__ == "__main__":
    main()
