"""Every image DiT class of diffusers on a tiny random instance, against hand-written hooks.

The cases (``tests/zoo_*.py``) say by hand, from each class's diffusers source, where the
target image tokens of every block's output are (no reference tokens, no padding, no text,
register or time tokens). massact reads the same from its one adapter rule
(``massact.adapters``). For every case: the blocks are enumerated in execution order; the
statistics and kept tensors of the image stream equal the hand-written slice at every
block; the last block's image tokens are what the model itself takes after its blocks
(where it has such a point); three edits equal a plain hook written by hand; no hook is
left behind.
"""
from __future__ import annotations

import importlib
import sys
from pathlib import Path

import pytest
import torch
from torch import nn

sys.path.insert(0, str(Path(__file__).parent))

from massact.adapters import ADAPTERS, enumerate_blocks  # noqa: E402
from massact.hooks import Tracer  # noqa: E402
from massact.specs import BatchLayout, CaptureSpec, EditSpec  # noqa: E402
from tiny_models import hooks_installed  # noqa: E402

ZOO_MODULES = ("zoo_flux_like", "zoo_cross_attn", "zoo_joint", "zoo_packed", "zoo_edit_video")
CASES = [c for name in ZOO_MODULES for c in importlib.import_module(name).CASES]
ids = [c.name for c in CASES]
CHANNELS = (0, 3, 17)

_MODELS: dict[str, nn.Module] = {}


def model_of(case):
    if case.name not in _MODELS:
        _MODELS[case.name] = case.build()
    return _MODELS[case.name]


def forward(model, inputs):
    with torch.no_grad():
        out = model(**inputs)
    out = out[0] if isinstance(out, (tuple, list)) else getattr(out, "sample", out)
    return torch.stack(list(out)) if isinstance(out, (list, tuple)) else out


def recorded(model, case, inputs):
    """(path, block, output) of every block of the case's lists, in call order, by plain hooks."""
    calls, handles = [], []
    for path in case.block_paths:
        for i, blk in enumerate(model.get_submodule(path)):
            handles.append(blk.register_forward_hook(
                lambda m, a, o, path=path, i=i: calls.append((path, f"{path}.{i}", o))))
    try:
        forward(model, inputs)
    finally:
        for h in handles:
            h.remove()
    return calls


def test_every_zoo_class_has_an_adapter():
    missing = sorted({c.class_name for c in CASES} - set(ADAPTERS))
    assert not missing, f"zoo cases without an adapter: {missing}"


@pytest.mark.parametrize("case", CASES, ids=ids)
def test_blocks_in_execution_order(case):
    model = model_of(case)
    refs = enumerate_blocks(model)
    assert len(refs) == case.num_blocks
    calls = recorded(model, case, case.inputs(2, 0))
    assert [name for _, name, _ in calls] == [r.name for r in refs]


@pytest.mark.parametrize("case", CASES, ids=ids)
def test_image_stream_equals_the_hand_written_slice(case):
    model = model_of(case)
    inputs = case.inputs(2, 1)
    refs = enumerate_blocks(model)
    keep = tuple((r.index, 0) for r in refs)
    with Tracer(model, BatchLayout(2), CaptureSpec(keep=keep), num_steps=1) as tr:
        forward(model, inputs)
    res = tr.result()
    st = res.stats
    assert st.shape == (2, case.num_blocks, 1, case.width)
    for r, (path, _, out) in zip(refs, recorded(model, case, inputs)):
        img = case.hand_image(path, out, inputs)
        assert img.shape == (2, case.num_image_tokens, case.width), r.name
        assert torch.equal(res.tensors[(r.index, 0)], img.float()), r.name
        f = img.double()
        torch.testing.assert_close(st.absmean[:, r.index, 0], f.mean(1).abs().float(), rtol=1e-5, atol=1e-6)
        torch.testing.assert_close(st.maxabs[:, r.index, 0], f.abs().amax(1).float(), rtol=1e-6, atol=0)
    if case.final_image is not None:
        assert torch.equal(res.tensors[(refs[-1].index, 0)], case.final_image(model, inputs).float())
    assert hooks_installed(model) == 0


def _hand_edit(img: torch.Tensor, kind: str) -> torch.Tensor:
    img = img.clone()
    ch = list(CHANNELS)
    if kind == "zero":
        img[:, :, ch] = 0
    elif kind == "zero_first_half":
        img[:, : img.shape[1] // 2, ch] = 0
    else:  # mix rows: row 1 takes a quarter of row 0
        img[1, :, ch] = img[1, :, ch] * 0.75 + img[0, :, ch] * 0.25
    return img


@pytest.mark.parametrize("kind", ["zero", "zero_first_half", "mix_rows"])
@pytest.mark.parametrize("case", CASES, ids=ids)
def test_edit_equals_a_hand_written_hook(case, kind):
    model = model_of(case)
    inputs = case.inputs(2, 2)
    refs = enumerate_blocks(model)
    n = case.num_image_tokens
    kw = dict(op="zero")
    if kind == "zero_first_half":
        mask = torch.zeros(n, dtype=torch.bool)
        mask[: n // 2] = True
        kw["token_mask"] = mask
    elif kind == "mix_rows":
        kw = dict(op="mix", alpha=0.25, source_rows=((1, 0),))
    spec = EditSpec(channels={r.index: CHANNELS for r in refs}, **kw)
    spec.validate(len(refs), case.width, 1, 2, n)
    plain = forward(model, inputs)
    with Tracer(model, BatchLayout(2), edits=[spec], num_steps=1):
        via_massact = forward(model, inputs)

    handles = []
    for path in case.block_paths:
        for blk in model.get_submodule(path):
            def hook(m, a, out, path=path):
                return case.hand_replace(path, out, inputs, _hand_edit(case.hand_image(path, out, inputs), kind))
            handles.append(blk.register_forward_hook(hook))
    try:
        via_hand = forward(model, inputs)
    finally:
        for h in handles:
            h.remove()
    assert hooks_installed(model) == 0
    assert not torch.equal(via_hand, plain)
    assert torch.equal(via_massact, via_hand)


# -- diffusers' private registry, as a cross-check ------------------------------------------------
#: block classes where diffusers' TransformerBlockRegistry and massact disagree, and why massact is right
REGISTRY_DISAGREES = {
    "BriaTransformerBlock": "the registry says (0, None); the block returns (text, image) and the cases above "
                            "check element 1 against the model's own final norm",
}


def test_diffusers_registry_agrees_except_where_known():
    from diffusers.hooks import _helpers

    registry = _helpers.TransformerBlockRegistry
    disagree, checked = set(), set()
    for case in CASES:
        for ref in enumerate_blocks(model_of(case)):
            name = type(ref.module).__name__
            try:
                meta = registry.get(type(ref.module))
            except ValueError:  # a block class the registry does not know
                continue
            checked.add(name)
            spec = ref.spec
            if spec.stream is not None:
                ours = (spec.stream, spec.text if isinstance(spec.text, int) else None)
            else:  # one tensor: the registry can only say "the whole output"
                ours = (0, None)
            if ours != (meta.return_hidden_states_index, meta.return_encoder_hidden_states_index):
                disagree.add(name)
    assert disagree == set(REGISTRY_DISAGREES), disagree
    assert len(checked) >= 7, checked  # the registry knows 7 of the zoo's block classes


# -- the table users read ----------------------------------------------------------------------------
def test_every_transformer_class_of_diffusers_is_in_the_table():
    """A class diffusers adds fails here until the table says what massact does with it."""
    import diffusers.models.transformers as transformers
    from diffusers import ModelMixin

    from massact.adapters import NOT_IMAGE, REFUSED

    installed = {n for n in dir(transformers)
                 if isinstance(getattr(transformers, n), type) and issubclass(getattr(transformers, n), ModelMixin)}
    known = set(ADAPTERS) | set(REFUSED) | set(NOT_IMAGE)
    assert not (installed - known), f"diffusers classes the table does not mention: {sorted(installed - known)}"
    assert not set(ADAPTERS) & set(REFUSED) and not set(ADAPTERS) & set(NOT_IMAGE) and not set(REFUSED) & set(NOT_IMAGE)
    assert not (known - installed), f"table entries diffusers does not have: {sorted(known - installed)}"


def test_supported_reports_the_statuses():
    import massact
    from massact.adapters import REFUSED

    table = massact.supported()
    counts = table.counts()
    assert counts["end to end"] + counts["transformer"] == len(ADAPTERS) >= 35
    assert counts["refused"] == len(REFUSED) == 2
    text = str(table)
    for name in list(ADAPTERS) + list(REFUSED):
        assert name in text
    assert "<table>" in table._repr_html_()
    with pytest.raises(ValueError, match="Cosmos3OmniTransformer is not supported: its blocks run packed"):
        from massact.adapters import adapter_for

        adapter_for(type("Cosmos3OmniTransformer", (nn.Module,), {})())


def test_models_command_prints_the_table(capsys):
    from massact.cli import main

    assert main(["models"]) == 0
    out = capsys.readouterr().out
    assert "AuraFlowTransformer2DModel" in out and "refused" in out and "end to end" in out


def test_the_models_page_is_the_table():
    """docs/models.md is written by scripts/build_models_doc.py from massact.supported()."""
    from massact.adapters import NOT_IMAGE, supported

    page = (Path(__file__).parent.parent / "docs" / "models.md").read_text()
    assert supported().markdown() in page, "docs/models.md is stale: run python scripts/build_models_doc.py"
    for name in NOT_IMAGE:
        assert f"`{name}`" in page
