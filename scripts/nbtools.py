"""Build notebooks from (kind, source, tags) cells, and execute them for the committed copies.

``SETUP`` is the one definition of every notebook's first cell.

    TQDM_DISABLE=1 python scripts/nbtools.py execute [notebooks/00_massive_activations.ipynb ...]

`execute` runs a notebook in place and keeps only the outputs of cells tagged
nbval-check-output: nbval compares those, and skips the comparison for a cell stored unrun,
so they must be stored run. Everything else is stored unrun and empty, without execution
timings or widget state. Re-run it after changing the shipped weights or what those cells print.
"""
from __future__ import annotations

import os
import sys
from pathlib import Path

import nbformat

CHECK = "nbval-check-output"

#: the notebooks' first cell: fetch massact where it is missing (Colab) and run its stdlib-only installer
#: (massact/install.py: the dependencies, the installed torch kept), then the model chooser
SETUP = '''# Setup (Colab, Binder or local). Where massact is missing (Colab), fetch it and run its installer: it adds
# the dependencies without touching the installed torch, and says when the runtime must restart.
import importlib, importlib.util, runpy, subprocess, sys
if importlib.util.find_spec("massact") is None:
    subprocess.run([sys.executable, "-m", "pip", "install", "-q", "--no-deps", "git+https://github.com/massact/massact@main"], check=True)
    importlib.invalidate_caches()
    runpy.run_path(importlib.util.find_spec("massact").submodule_search_locations[0] + "/install.py")["install"]()
import massact, torch
from massact.widgets.chooser import ModelChooser
chooser = ModelChooser.for_this_machine()  # on a GPU: real checkpoints too (pick one, Load, rerun the next line)
model = chooser.model                       # the toy DiT until then'''


def build(cells, keep_ids_from: Path | str | None = None) -> nbformat.NotebookNode:
    """A notebook of (kind, source[, tags]) cells, kind "md" or "code".

    keep_ids_from: an existing notebook whose cells of the same source lend their id and,
    for code cells, their stored outputs (so a rebuild churns no id and keeps the checked
    references of unchanged cells); new or changed cells get fresh ids and no outputs.
    """
    nb = nbformat.v4.new_notebook()
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
    for c in cells:
        kind, src = c[0], c[1]
        tags = list(c[2]) if len(c) > 2 else []
        cell = nbformat.v4.new_markdown_cell(src) if kind == "md" else nbformat.v4.new_code_cell(src)
        if tags:
            cell.metadata["tags"] = tags
        nb.cells.append(cell)
    if keep_ids_from is not None and Path(keep_ids_from).exists():
        old = nbformat.read(keep_ids_from, as_version=4)
        nb.metadata = old.metadata | nb.metadata  # language_info etc. as the last execution wrote them
        same = {}
        for c in old.cells:
            same.setdefault((c.cell_type, c.source), c)
        used = set()
        for c in nb.cells:
            o = same.get((c.cell_type, c.source))
            if o is None or o.get("id") in used:
                continue
            c["id"] = o.get("id")
            used.add(c["id"])
            if c.cell_type == "code":
                c.outputs, c.execution_count = o.outputs, o.execution_count
    return nb


def strip(nb) -> None:
    """Keep only the checked cells' outputs; drop execution timings and widget state."""
    nb.metadata.pop("widgets", None)
    for cell in nb.cells:
        cell.metadata.pop("execution", None)
        if cell.cell_type == "code" and CHECK not in cell.metadata.get("tags", []):
            cell.outputs, cell.execution_count = [], None


def execute(path: str, timeout: int = 900) -> None:
    from nbclient import NotebookClient

    nb = nbformat.read(path, as_version=4)
    NotebookClient(nb, timeout=timeout, kernel_name="python3",
                   resources={"metadata": {"path": str(Path(path).parent)}}).execute()
    strip(nb)
    nbformat.write(nb, path)


if __name__ == "__main__":
    if sys.argv[1] == "execute":
        if os.environ.get("TQDM_DISABLE") != "1":
            sys.exit("set TQDM_DISABLE=1 (as `make test` does for nbval) so no progress bar lands in a reference")
        for p in sys.argv[2:] or sorted(str(q) for q in (Path(__file__).parents[1] / "notebooks").glob("*.ipynb")):
            execute(p)
            print("executed", p)
