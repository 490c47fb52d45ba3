"""Give every notebook the shared first cell and its exercise cells (idempotent; cell ids and tags kept).

    python scripts/finalize_notebooks.py

The first code cell becomes ``nbtools.SETUP``. The exercise cells come from
``massact.exercises`` (each ``Exercise`` holds its task text and starter once): an existing
exercise (the code cell importing its checker, and the markdown cell before it) is
rewritten in place; a missing one is added before the cell its ``before`` names (a
prediction: before the section that measures it), else before the closing "Next:" pointer.
"""
import sys
from pathlib import Path

import nbformat

sys.path.insert(0, str(Path(__file__).parent))

ROOT = Path(__file__).resolve().parents[1]

from nbtools import SETUP, strip  # noqa: E402  (the one shared first cell)

IGNORE = ["nbval-ignore-output"]


def set_source(cell, source: str, tags=None) -> bool:
    """Set a cell's source (and tags); True when something changed."""
    changed = cell.source != source
    cell.source = source
    if tags is not None and cell.metadata.get("tags") != tags:
        cell.metadata["tags"] = list(tags)
        changed = True
    return changed


def place_exercise(nb, exercise) -> bool:
    """Write one exercise's markdown and code cells into nb; True when something changed."""
    marker = f"from massact.exercises import {exercise.checker}"
    at = next((i for i, c in enumerate(nb.cells) if c.cell_type == "code" and marker in c.source), None)
    if at is not None:
        changed = set_source(nb.cells[at], exercise.starter, IGNORE)
        if at > 0 and nb.cells[at - 1].cell_type == "markdown" and nb.cells[at - 1].source.startswith(exercise.heading):
            return set_source(nb.cells[at - 1], exercise.markdown()) or changed
        nb.cells.insert(at, nbformat.v4.new_markdown_cell(exercise.markdown()))
        return True
    if exercise.before is not None:
        at = next((i for i, c in enumerate(nb.cells) if c.source.startswith(exercise.before)), None)
        if at is None:
            raise SystemExit(f"{exercise.checker}: no cell starts with {exercise.before!r} to place it before")
    else:
        at = len(nb.cells)  # before the closing "Next:" pointer when there is one
        if nb.cells and nb.cells[-1].cell_type == "markdown" and "next" in nb.cells[-1].source.lower():
            at -= 1
    code = nbformat.v4.new_code_cell(exercise.starter)
    code.metadata["tags"] = list(IGNORE)
    nb.cells[at:at] = [nbformat.v4.new_markdown_cell(exercise.markdown()), code]
    return True


def finalize(path: Path) -> bool:
    """Finalize one notebook in place; True when it changed."""
    from massact.exercises import for_notebook

    nb = nbformat.read(path, as_version=4)
    first = next(c for c in nb.cells if c.cell_type == "code")
    changed = set_source(first, SETUP, IGNORE)
    for exercise in for_notebook(path.stem):
        changed = place_exercise(nb, exercise) or changed
    strip(nb)
    nbformat.write(nb, path)
    return changed


def main():
    for path in sorted((ROOT / "notebooks").glob("[0-9]*.ipynb")):
        print("finalized" if finalize(path) else "unchanged", path.name)


if __name__ == "__main__":
    main()
