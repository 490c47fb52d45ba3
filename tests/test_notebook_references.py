"""The notebooks' stored state is what nbval needs: the tagged cells hold a reference output
(nbval skips the comparison for a cell that was never run), the rest are stored unrun."""
from pathlib import Path

import nbformat
import pytest

NOTEBOOKS = sorted((Path(__file__).resolve().parents[1] / "notebooks").glob("*.ipynb"))
CHECK = "nbval-check-output"


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.stem)
def test_checked_cells_have_references_and_others_are_unrun(path):
    nb = nbformat.read(path, as_version=4)
    code = [c for c in nb.cells if c.cell_type == "code"]
    checked = [c for c in code if CHECK in c.metadata.get("tags", [])]
    assert checked, f"{path.name} has no {CHECK} cell"
    for c in checked:
        assert c.execution_count is not None and c.outputs, (
            f"{path.name}: a {CHECK} cell has no stored output; run scripts/nbtools.py execute")
        assert all(o.output_type == "stream" for o in c.outputs), f"{path.name}: checked outputs must be plain text"
        assert not any("%|" in o.text for o in c.outputs), f"{path.name}: a progress bar was stored"
    for c in code:
        if c not in checked:
            assert not c.outputs and c.execution_count is None, f"{path.name}: an unchecked cell stores output"
    assert "widgets" not in nb.metadata, f"{path.name} stores widget state"
    assert not any("execution" in c.metadata for c in nb.cells), f"{path.name} stores execution timings"
