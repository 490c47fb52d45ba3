"""Which model each suite measures, pinned: the science runs on the default toy model, named.

``make demo`` (``massact reproduce``), the notebooks and the evaluation all study
``massact.load("toy")``; the plumbing tests may use smaller models. These tests fail if
the default changes without its card, or if a face starts from another model, so the
science is never silently measured on a model other than the one the card describes.
"""
import inspect
import json
import re
from pathlib import Path

import massact
from massact import loading
from massact.report import reproduce
from massact.toy.model import WEIGHTS_DIR
from massact.widgets.chooser import ModelChooser

NOTEBOOKS = Path(__file__).parent.parent / "notebooks"


def test_the_default_model_is_the_toy_its_card_describes():
    card = json.loads((WEIGHTS_DIR / "model_card.json").read_text())
    model = massact.load()
    assert loading.DEFAULT_MODEL == "toy" and model.name == "toy"
    cfg = card["config"]
    assert model.width == cfg["num_attention_heads"] * cfg["attention_head_dim"] == 128
    assert model.training_step == card["steps"]


def test_the_report_and_the_chooser_start_from_the_default_toy():
    assert inspect.signature(reproduce).parameters["model"].default == "toy"
    # the chooser's model is the toy until Load; on a GPU its dropdown preselects the preset that fits the card
    assert inspect.signature(ModelChooser.for_this_machine).parameters["default"].default is None
    assert inspect.signature(ModelChooser).parameters["default"].default is None
    assert ModelChooser(None, toy="the toy").choice == "toy"


def test_every_notebook_starts_from_the_chooser_default():
    for nb in sorted(NOTEBOOKS.glob("*.ipynb")):
        cells = json.loads(nb.read_text())["cells"]
        src = "\n".join("".join(c["source"]) for c in cells if c["cell_type"] == "code")
        assert re.search(r"ModelChooser\.for_this_machine\(\)", src), f"{nb.name}: the setup cell must use the chooser"
        assert not re.search(r"load\(['\"](?!toy['\"])[^'\"]*['\"]", src.replace("load('toy-256'", "")), \
            f"{nb.name} loads a model other than the default by name"
