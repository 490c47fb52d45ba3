"""Every notebook runs top to bottom on a real diffusers pipeline: ``MASSACT_MODEL=tiny-flux``.

The tiny FLUX.1 pipeline (``massact.testing``: random weights, every component real, read
back with ``from_pretrained``) stands in for a checkpoint a learner picks on a GPU. Its
images are noise, so outputs are not compared (the toy's stored outputs are, under nbval):
the test asserts that no cell raised, and that the cells that need the toy said what they
skipped instead of failing.
"""
from __future__ import annotations

import os
import time
from pathlib import Path

import pytest

import massact  # noqa: F401  (torch and massact imported at collection, not inside a test)

import nbclient  # noqa: E402  (the test extra requires them: missing, this module fails)
import nbformat  # noqa: E402

NOTEBOOKS = sorted((Path(__file__).resolve().parents[1] / "notebooks").glob("[0-9]*.ipynb"))
#: seconds one cell may take on tiny-flux (the slowest takes about 20 s on a loaded 2-core machine)
CELL_TIMEOUT = 240


def _execute(path: Path):
    """The notebook executed in a fresh kernel (errors kept in the outputs, not raised)."""
    nb = nbformat.read(path, as_version=4)
    nbclient.NotebookClient(nb, timeout=CELL_TIMEOUT, startup_timeout=120, kernel_name="python3", allow_errors=True,
                            resources={"metadata": {"path": str(path.parent)}}).execute()
    return nb


def _outputs_text(nb) -> str:
    parts = []
    for cell in nb.cells:
        for o in cell.get("outputs", []):
            if o.get("output_type") == "stream":
                parts.append(o.get("text", ""))
            elif "data" in o:
                parts.append(o["data"].get("text/plain", ""))
    return "\n".join(parts)


@pytest.mark.parametrize("path", NOTEBOOKS, ids=[p.stem for p in NOTEBOOKS])
def test_notebook_runs_on_tiny_flux(path, monkeypatch):
    monkeypatch.setenv("MASSACT_MODEL", "tiny-flux")
    monkeypatch.setenv("TQDM_DISABLE", "1")
    monkeypatch.setenv("OMP_NUM_THREADS", os.environ.get("OMP_NUM_THREADS", "1"))
    start = time.perf_counter()
    nb = _execute(path)  # no second try: a stalled kernel or a cell past CELL_TIMEOUT fails the test
    errors = [(i, o["ename"], o["evalue"], cell.source.splitlines()[0] if cell.source else "")
              for i, cell in enumerate(nb.cells) if cell.cell_type == "code"
              for o in cell.get("outputs", []) if o.get("output_type") == "error"]
    assert not errors, "cells raised on tiny-flux:\n" + "\n".join(
        f"cell {i} ({first!r}): {name}: {value}" for i, name, value, first in errors)
    text = _outputs_text(nb)
    assert "MASSACT_MODEL=tiny-flux: using 'tiny-flux'" in text  # the setup cell loaded the tiny pipeline
    print(f"{path.name} on tiny-flux: {time.perf_counter() - start:.1f} s")


def test_the_chooser_reads_the_model_from_the_environment(monkeypatch, capsys):
    from massact.widgets.chooser import MODEL_ENV, ModelChooser, model_from_environment

    monkeypatch.setenv(MODEL_ENV, "tiny-flux")
    chooser = ModelChooser.for_this_machine(gpu=False)
    assert chooser.model.name == "tiny-flux" and chooser.widget is None and chooser.model.world.name == "scenes"
    assert "MASSACT_MODEL=tiny-flux: using 'tiny-flux'" in capsys.readouterr().out
    for toy in ("toy", "", "  "):
        monkeypatch.setenv(MODEL_ENV, toy)
        assert model_from_environment() is None
    monkeypatch.setenv(MODEL_ENV, "tiny-nope")
    with pytest.raises(ValueError, match="valid tiny pipelines: tiny-flux"):
        ModelChooser.for_this_machine(gpu=False)


def test_every_explorer_runs_on_tiny_flux():
    """Run (the button's update) on each explorer the notebooks show: no error in the status line."""
    from massact.claims import spatial
    from massact.widgets.critical import CriticalExplorer
    from massact.widgets.massive import MassiveExplorer
    from massact.widgets.spatial import SpatialExplorer
    from massact.widgets.transport import InterpolationExplorer, SubjectTransferExplorer, TransportExplorer

    model = massact.load("tiny-flux")
    cal = massact.calibrate(model)
    score = cal.score("absmean")
    cap = spatial.capture(model, model.world.evaluation_prompts(2), seeds=[0, 1],
                          steps=spatial.sampled_steps(model.default_steps))
    explorers = [MassiveExplorer(model, model.world.evaluation_prompts(2), seeds=0),
                 CriticalExplorer(model, calibration=cal, k=4),
                 SpatialExplorer(model, capture=cap, score=score, max_images=2),
                 TransportExplorer(model, "a red fox in the snow", "a blue car on a street", 0, score=score),
                 InterpolationExplorer(model, "a red fox in the snow", "a blue car on a street", score=score),
                 SubjectTransferExplorer(model, score=score)]  # the world has no renderer: the model draws the reference
    for e in explorers:
        e.update()
        assert not e.status.value.startswith("error"), (type(e).__name__, e.status.value)
