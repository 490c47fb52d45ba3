"""Build notebooks from (kind, source, tags) cells, and execute them for the committed copies.

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

SETUP = '''# Setup: works on Colab, Binder and locally. On Colab it installs massact (keeping Colab's
# torch; it says when the runtime must restart); on a GPU it also offers real checkpoints.
import importlib, importlib.util, subprocess, sys
if importlib.util.find_spec("massact") is None:
    subprocess.run([sys.executable, "-m", "pip", "install", "-q", "--no-deps",
                    "git+https://github.com/massact/massact@main"], check=True)
    importlib.invalidate_caches()
    _dir = importlib.util.find_spec("massact").submodule_search_locations[0]
    print(subprocess.run([sys.executable, f"{_dir}/presets.py", "--colab-setup"], capture_output=True, text=True).stdout)
import massact, torch
from massact.presets import notebook_model
model = notebook_model()  # the toy DiT on a CPU; on a GPU also a preset chooser'''


def build(cells) -> nbformat.NotebookNode:
    nb = nbformat.v4.new_notebook()
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
    for c in cells:
        kind, src = c[0], c[1]
        tags = list(c[2]) if len(c) > 2 else []
        cell = nbformat.v4.new_markdown_cell(src) if kind == "md" else nbformat.v4.new_code_cell(src)
        if tags:
            cell.metadata["tags"] = tags
        nb.cells.append(cell)
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
