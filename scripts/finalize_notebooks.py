"""Give every notebook the shared first cell and its exercise section (idempotent).

    python scripts/finalize_notebooks.py
"""
import sys
from pathlib import Path

import nbformat

sys.path.insert(0, str(Path(__file__).parent))

ROOT = Path(__file__).resolve().parents[1]

from nbtools import SETUP, strip  # noqa: E402  (the one shared first cell)

EXERCISES = {
    "00_massive_activations": (
        "## Exercise\n\nWhich are the **top-3 channels of block 4** by the paper's score (|mean| over image tokens, "
        "averaged over the prompts and steps captured above), largest first? Replace `...` with your list and run "
        "the checker. *Hint: `gen.stats.score(...)` gives a (blocks, channels) tensor.*",
        "from massact.exercises import check_top_channels\n"
        "my_answer = ...  # e.g. [12, 34, 56]\n"
        "check_top_channels(model, block=4, your_answer=my_answer)"),
    "01_critical": (
        "## Exercise\n\nWrite `zero_top_k(score, k)` that returns a `massact.EditSpec` zeroing the top-k channels of "
        "**every** block at every step (`score` is a (blocks, channels) tensor). The checker runs it and compares the "
        "images with the reference edit.",
        "from massact.exercises import check_disruption\n"
        "def zero_top_k(score, k):\n"
        "    ...  # return massact.EditSpec('zero', {block: (channel, ...), ...})\n"
        "check_disruption(model, zero_top_k)"),
    "02_spatial": (
        "## Exercise\n\nWrite `my_mask(tokens, channels, grid)`: keep the given channels of the (tokens, channels) "
        "tensor, min-max normalise each channel over tokens, run K-means with K=2 (scikit-learn) and return the "
        "foreground as a boolean (h, w) array using the border rule.",
        "from massact.exercises import check_cluster_mask\n"
        "def my_mask(tokens, channels, grid):\n"
        "    ...  # return a bool array of shape grid\n"
        "check_cluster_mask(model, my_mask)"),
    "03_transferable": (
        "## Exercise\n\nWrite the transport formula: `my_mix(x_target, x_source, channels, alpha, token_mask=None)` "
        "returns X_t (1 - alpha M) + X_s alpha M with M = p m^T (p: the token mask, all ones when None; m: the "
        "indicator of `channels`). Tensors are (tokens, channels).",
        "from massact.exercises import check_transport\n"
        "def my_mix(x_target, x_source, channels, alpha, token_mask=None):\n"
        "    ...  # return a new tensor shaped like x_target\n"
        "check_transport(my_mix)"),
    "04_use_cases": (
        "## Exercise\n\nWrite `interpolate(channels, alpha)`: the `EditSpec` that mixes the source (row 0) into the "
        "target (row 1) on the given per-block channels with weight alpha, at every step.",
        "from massact.exercises import check_use_case\n"
        "def interpolate(channels, alpha):\n"
        "    ...  # return massact.EditSpec('mix', channels, alpha=alpha, source_rows=((1, 0),))\n"
        "check_use_case(model, interpolate)"),
}

def main():
    for path in sorted((ROOT / "notebooks").glob("[0-9]*.ipynb")):
        nb = nbformat.read(path, as_version=4)
        first = next(c for c in nb.cells if c.cell_type == "code")
        first.source = SETUP
        first.metadata["tags"] = ["nbval-ignore-output"]
        if path.stem in EXERCISES and not any("massact.exercises import" in c.source for c in nb.cells):
            md, code = EXERCISES[path.stem]
            # before the closing "Next:" pointer when there is one
            at = len(nb.cells)
            if nb.cells[-1].cell_type == "markdown" and "next" in nb.cells[-1].source.lower():
                at -= 1
            cell = nbformat.v4.new_code_cell(code)
            cell.metadata["tags"] = ["nbval-ignore-output"]
            nb.cells[at:at] = [nbformat.v4.new_markdown_cell(md), cell]
        strip(nb)
        nbformat.write(nb, path)
        print("finalized", path.name)


if __name__ == "__main__":
    main()
