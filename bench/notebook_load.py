"""How much each notebook asks of the transformer: calls, rows and images, counted while it runs.

    python bench/notebook_load.py [--out FILE] [notebooks/01_critical.ipynb ...]

Runs each notebook top to bottom in a fresh Jupyter kernel (nbclient; on the model the
chooser gives, the toy on a CPU) with a global forward pre-hook, installed by a
``sitecustomize`` module on the kernel's path, that counts every call of a diffusers
``*Transformer2DModel`` and the rows of its batch. It records per notebook: transformer
calls, row-calls (rows summed over calls), the image-equivalents (row-calls over the toy's
default steps times its rows per image and step, 2 with its batched guidance: how many
default generations that work equals), the wall time on this machine, and the time of each
section (the cells under each ``##`` heading, from the kernel's execution timestamps; the
teacher's guide, docs/teaching.md, plans a lab with them). ``massact.presets`` turns the image-equivalents into a rough
time per notebook on a card (seconds per image x images), so the numbers written to
``massact/data/notebook_load.json`` are what that estimate rests on.

The count assumes a notebook on a real checkpoint runs the same cells at the model's own
default steps; cells that scale their sizes to the model make it a rough guide, no more.
"""
from __future__ import annotations

import argparse
import datetime
import json
import os
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
DEFAULT_OUT = ROOT / "massact" / "data" / "notebook_load.json"
COUNTER_ENV = "MASSACT_BENCH_COUNT_FILE"

SITECUSTOMIZE = '''
import atexit, json, os
import torch
from diffusers.models.modeling_utils import ModelMixin

_counts = {"calls": 0, "rows": 0}


def _counted_call(self, *args, **kwargs):
    if type(self).__name__.endswith("Transformer2DModel"):
        x = kwargs.get("hidden_states", args[0] if args else None)
        _counts["calls"] += 1
        _counts["rows"] += int(x.shape[0]) if isinstance(x, torch.Tensor) else 0
    return torch.nn.Module.__call__(self, *args, **kwargs)


ModelMixin.__call__ = _counted_call


def _write():
    path = os.environ.get("%s")
    if path:
        with open(path, "w") as f:
            json.dump(_counts, f)


atexit.register(_write)
''' % COUNTER_ENV


def section_seconds(nb) -> list[dict]:
    """Seconds per section of an executed notebook: the cells from one ``## `` heading to the
    next (the cells before the first heading count as "setup"), from each code cell's
    ``execution`` timestamps (busy to reply), which nbclient records."""
    from datetime import datetime as dt

    out = [{"section": "setup", "seconds": 0.0}]
    for cell in nb.cells:
        if cell.cell_type == "markdown":
            for line in cell.source.splitlines():
                if line.startswith("## "):
                    out.append({"section": line[3:].strip(), "seconds": 0.0})
                    break
            continue
        ex = cell.get("metadata", {}).get("execution", {})
        start, end = ex.get("iopub.status.busy"), ex.get("shell.execute_reply")
        if start and end:
            out[-1]["seconds"] += (dt.fromisoformat(end.replace("Z", "+00:00"))
                                   - dt.fromisoformat(start.replace("Z", "+00:00"))).total_seconds()
    return [{"section": r["section"], "seconds": round(r["seconds"], 1)} for r in out]


def run(path: Path, site: Path, counts_file: Path) -> dict:
    import nbformat
    from nbclient import NotebookClient

    nb = nbformat.read(path, as_version=4)
    env_before = dict(os.environ)
    os.environ["PYTHONPATH"] = os.pathsep.join([str(site)] + [p for p in [os.environ.get("PYTHONPATH")] if p])
    os.environ[COUNTER_ENV] = str(counts_file)
    os.environ.setdefault("TQDM_DISABLE", "1")
    try:
        t0 = time.perf_counter()
        client = NotebookClient(nb, timeout=1800, kernel_name="python3",
                                resources={"metadata": {"path": str(path.parent)}})
        client.execute(cleanup_kc=True)
        seconds = time.perf_counter() - t0
    finally:
        os.environ.clear()
        os.environ.update(env_before)
    counts = json.loads(counts_file.read_text())
    return {"calls": counts["calls"], "row_calls": counts["rows"], "seconds_here": round(seconds, 1),
            "sections": section_seconds(nb)}


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("notebooks", nargs="*", help="default: every notebook in notebooks/")
    ap.add_argument("--out", default=None, help=f"JSON to write (default {DEFAULT_OUT.name} in massact/data)")
    args = ap.parse_args(argv)
    import massact

    toy = massact.load("toy")
    toy_steps = toy.default_steps
    lay = toy.batch_layout(1, toy.default_guidance)
    rows_per_image = len(lay.batch_branches) * (lay.calls_per_step or 1)  # 2: batched guidance
    paths = [Path(p) for p in args.notebooks] or sorted((ROOT / "notebooks").glob("*.ipynb"))
    out = {"date": datetime.date.today().isoformat(), "model": "toy", "toy_default_steps": toy_steps,
           "toy_rows_per_image_step": rows_per_image,
           # the notebooks run, not where the JSON went (no folder of this machine in it)
           "command": " ".join(["python bench/notebook_load.py"]
                               + [os.path.relpath(Path(p).resolve(), ROOT) for p in args.notebooks]),
           "notebooks": {}}
    with tempfile.TemporaryDirectory() as tmp:
        site = Path(tmp) / "site"
        site.mkdir()
        (site / "sitecustomize.py").write_text(SITECUSTOMIZE)
        for path in paths:
            row = run(path, site, Path(tmp) / f"{path.stem}.json")
            row["image_equivalents"] = round(row["row_calls"] / (toy_steps * rows_per_image), 1)
            out["notebooks"][path.stem] = row
            print(f"{path.stem:26s} {row['calls']:6d} transformer calls, {row['row_calls']:7d} row-calls "
                  f"= {row['image_equivalents']:7.1f} images of {toy_steps} steps x {rows_per_image} rows; {row['seconds_here']:.0f} s here",
                  flush=True)
            for sec in row["sections"]:
                print(f"    {sec['seconds']:6.1f} s  {sec['section']}", flush=True)
    dest = Path(args.out) if args.out else DEFAULT_OUT
    dest.parent.mkdir(parents=True, exist_ok=True)
    dest.write_text(json.dumps(out, indent=1) + "\n")
    print(f"wrote {dest}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
