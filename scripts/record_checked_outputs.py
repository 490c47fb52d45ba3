"""Store the reference outputs that nbval checks, and nothing else.

    TQDM_DISABLE=1 python scripts/record_checked_outputs.py [notebooks/01_critical.ipynb ...]

Executes each notebook (in notebooks/, as nbval does), then keeps the outputs and
execution count of the cells tagged ``nbval-check-output`` only; every other cell is
saved unrun and empty. nbval skips the comparison for an unrun cell, so without this
step the tagged cells would be run but never compared. Re-run it after changing the
shipped weights or the text those cells print.
"""
import os
import sys
from pathlib import Path

import nbformat
from nbclient import NotebookClient

ROOT = Path(__file__).resolve().parents[1]
CHECK = "nbval-check-output"


def strip(nb) -> int:
    """Keep only the checked cells' outputs; drop execution timings and widget state."""
    nb.metadata.pop("widgets", None)
    kept = 0
    for cell in nb.cells:
        cell.metadata.pop("execution", None)
        if cell.cell_type != "code":
            continue
        if CHECK in cell.metadata.get("tags", []):
            kept += 1
        else:
            cell.outputs, cell.execution_count = [], None
    return kept


def record(path: Path, execute: bool = True) -> int:
    nb = nbformat.read(path, as_version=4)
    if execute:
        NotebookClient(nb, timeout=900, kernel_name="python3",
                       resources={"metadata": {"path": str(path.parent)}}).execute()
    kept = strip(nb)
    nbformat.write(nb, path)
    return kept


def main(argv):
    if argv[:1] == ["--strip-only"]:  # tidy stored notebooks without running them
        for p in [Path(a) for a in argv[1:]] or sorted((ROOT / "notebooks").glob("*.ipynb")):
            record(p, execute=False)
        return
    if os.environ.get("TQDM_DISABLE") != "1":
        sys.exit("set TQDM_DISABLE=1 (as `make test` does for nbval) so no progress bar lands in a reference")
    paths = [Path(a) for a in argv] or sorted((ROOT / "notebooks").glob("*.ipynb"))
    for p in paths:
        print(f"{p.name}: {record(p)} checked cells recorded", flush=True)


if __name__ == "__main__":
    main(sys.argv[1:])
