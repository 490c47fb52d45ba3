"""The adapters table and the Tracer on a tiny random instance of every supported class.

Every property is checked against an independent reading of the model: plain PyTorch
forward hooks that record what the blocks really return, the input of the transformer's
own ``norm_out`` (the image tokens the model itself decodes), and diffusers' private
``TransformerBlockRegistry``. Models come from tests/tiny_models.py (CPU, milliseconds).
"""
from __future__ import annotations

import sys
from pathlib import Path
from types import SimpleNamespace

import pytest
import torch
from torch import nn

sys.path.insert(0, str(Path(__file__).parent))

import massact  # noqa: E402
from massact.adapters import ADAPTERS, adapter_for, block_names, enumerate_blocks, supported_classes  # noqa: E402
from massact.channel_stats import STATISTICS  # noqa: E402
from massact.hooks import Tracer  # noqa: E402
from massact.specs import BatchLayout, CaptureSpec, EditSpec  # noqa: E402
from tiny_models import hooks_installed
from tiny_models import CASES, CASES_BY_NAME  # noqa: E402


ids = [c.name for c in CASES]

#: independent knowledge (read from the diffusers 0.42.1 sources, not from massact):
#: block class -> index of the image stream in its output tuple, or how a tensor output is laid out
TUPLE_IMAGE_INDEX = {"FluxTransformerBlock": 1, "FluxSingleTransformerBlock": 1, "Flux2TransformerBlock": 1,
                     "QwenImageTransformerBlock": 1, "JointTransformerBlock": 1}
JOINT_TEXT_FIRST = {"Flux2SingleTransformerBlock"}  # one tensor [text; image]
IMAGE_ONLY_TENSOR = {"SanaTransformerBlock", "BasicTransformerBlock"}  # text enters by cross-attention


_MODELS: dict[str, nn.Module] = {}


def model_of(case):
    if case.name not in _MODELS:  # build each tiny model once per session
        _MODELS[case.name] = case.build()
    return _MODELS[case.name]


def run(model, inputs):
    with torch.no_grad():
        return model(**inputs)[0]


def hand_image(block: nn.Module, output, text_len: int) -> torch.Tensor:
    """The image tokens of a block output, by the hand-written table above."""
    name = type(block).__name__
    if name in TUPLE_IMAGE_INDEX:
        return output[TUPLE_IMAGE_INDEX[name]]
    if name in JOINT_TEXT_FIRST:
        return output[:, text_len:]
    assert name in IMAGE_ONLY_TENSOR, name
    return output


def record_outputs(model, inputs):
    """Plain forward hooks on every module of every ModuleList child: (name, module, output) in call order."""
    calls, handles = [], []
    for attr, lst in model.named_children():
        if isinstance(lst, nn.ModuleList):
            for i, m in enumerate(lst):
                handles.append(m.register_forward_hook(
                    lambda mod, a, out, name=f"{attr}.{i}": calls.append((name, mod, out))))
    try:
        run(model, inputs)
    finally:
        for h in handles:
            h.remove()
    return calls


def norm_out_input(model, inputs):
    """What the transformer itself feeds its final norm: the image tokens after the last block."""
    seen = []
    h = model.norm_out.register_forward_pre_hook(lambda mod, args: seen.append(args[0].detach().clone()))
    try:
        run(model, inputs)
    finally:
        h.remove()
    assert len(seen) == 1
    return seen[0]


# -- the table ---------------------------------------------------------------------------
def test_every_end_to_end_class_has_a_tiny_pipeline():
    """A class is "end to end" exactly when a tiny family builds one of its pipelines; its
    transformer is proven here (tests/tiny_models.py) or in tests/test_zoo.py."""
    from massact import testing

    pipelines = {testing.family(f).pipeline_class for f in testing.TINY_FAMILIES}
    end_to_end = {n for n, a in ADAPTERS.items() if a.status == "pipeline"}
    assert end_to_end == {n for n, a in ADAPTERS.items() if pipelines & set(a.pipelines)}
    assert {c.class_name for c in CASES} <= end_to_end


@pytest.mark.parametrize("case", CASES, ids=ids)
def test_blocks_enumerated_in_execution_order(case):
    model = model_of(case)
    refs = enumerate_blocks(model)
    assert [r.index for r in refs] == list(range(case.num_blocks))
    calls = record_outputs(model, case.inputs(2))
    # every block of every ModuleList ran once, in the order massact numbers them
    assert [name for name, _, _ in calls] == [r.name for r in refs] == block_names(model)
    assert [id(mod) for _, mod, _ in calls] == [id(r.module) for r in refs]


@pytest.mark.parametrize("case", CASES, ids=ids)
def test_last_block_image_stream_is_what_the_model_decodes(case):
    """The image tokens massact reads at the last block are exactly the tokens the model sends to
    its norm_out (for Flux2 the model cuts them from the joint stream by its own text length)."""
    model = model_of(case)
    inputs = case.inputs(2)
    last = case.num_blocks - 1
    with Tracer(model, BatchLayout(2), CaptureSpec(keep=((last, 0),)), num_steps=1) as tr:
        run(model, inputs)
    kept = tr.result().tensors[(last, 0)]
    decoded = norm_out_input(model, inputs)
    assert kept.shape == (2, case.num_image_tokens, case.width)
    assert torch.equal(kept, decoded)


@pytest.mark.parametrize("case", CASES, ids=ids)
def test_image_token_statistics(case):
    """Shape (rows, blocks, steps, channels) and the values of |mean|, mean|x|, max|x| over image tokens."""
    model = model_of(case)
    inputs = case.inputs(3)
    with Tracer(model, BatchLayout(3), CaptureSpec(), num_steps=1) as tr:
        run(model, inputs)
    res = tr.result()
    st = res.stats
    assert st.shape == (3, case.num_blocks, 1, case.width)
    assert st.blocks == tuple(range(case.num_blocks)) and st.steps == (0,)
    assert res.tensors == {} and res.num_calls == 1
    for stat in STATISTICS:
        assert st.get(stat).dtype == torch.float32 and torch.isfinite(st.get(stat)).all()
    assert st.score("absmean").shape == (case.num_blocks, case.width)
    text_len = case.num_text_tokens
    for b, (_, mod, out) in enumerate(record_outputs(model, inputs)):
        img = hand_image(mod, out, text_len).double()
        assert img.shape == (3, case.num_image_tokens, case.width)
        torch.testing.assert_close(st.absmean[:, b, 0], img.mean(1).abs().float(), rtol=1e-5, atol=1e-6)
        torch.testing.assert_close(st.meanabs[:, b, 0], img.abs().mean(1).float(), rtol=1e-5, atol=1e-6)
        torch.testing.assert_close(st.maxabs[:, b, 0], img.abs().amax(1).float(), rtol=1e-6, atol=0)


@pytest.mark.parametrize("case", [c for c in CASES if any(bl.text is not None for bl in ADAPTERS[c.class_name].block_lists)], ids=lambda c: c.name)
def test_text_token_statistics(case):
    model = model_of(case)
    inputs = case.inputs(2)
    with Tracer(model, BatchLayout(2), CaptureSpec(text=True), num_steps=1) as tr:
        run(model, inputs)
    ts = tr.result().text_stats
    assert ts is not None and ts.shape == (2, case.num_blocks, 1, case.width)
    for b, (_, mod, out) in enumerate(record_outputs(model, inputs)):
        name = type(mod).__name__
        if name in JOINT_TEXT_FIRST:
            txt = out[:, :case.num_text_tokens]
        else:
            txt = out[1 - TUPLE_IMAGE_INDEX[name]]
        if txt is None:  # SD3's last JointTransformerBlock returns (None, image)
            assert b not in ts.blocks and torch.isnan(ts.absmean[:, b]).all()
            continue
        assert txt.shape[1] == case.num_text_tokens
        torch.testing.assert_close(ts.maxabs[:, b, 0], txt.abs().amax(1), rtol=1e-6, atol=0)


@pytest.mark.parametrize("case", CASES, ids=ids)
def test_image_stream_agrees_with_diffusers_registry(case):
    """Cross-check with diffusers' private TransformerBlockRegistry where it knows the block class."""
    helpers = pytest.importorskip("diffusers.hooks._helpers")
    registry = getattr(helpers, "TransformerBlockRegistry", None)
    if registry is None:
        pytest.skip("diffusers has no TransformerBlockRegistry (private API)")
    model = model_of(case)
    inputs = case.inputs(2)
    with Tracer(model, BatchLayout(2), CaptureSpec(keep=tuple((b, 0) for b in range(case.num_blocks))),
                num_steps=1) as tr:
        run(model, inputs)
    kept = tr.result().tensors
    checked = 0
    for ref, (_, mod, out) in zip(enumerate_blocks(model), record_outputs(model, inputs)):
        try:
            meta = registry.get(type(mod))
        except ValueError:  # e.g. SanaTransformerBlock is not in diffusers' table
            continue
        hs = out[meta.return_hidden_states_index] if isinstance(out, tuple) else out
        if ref.spec.stream is not None:
            assert (ref.spec.stream, ref.spec.text) == (
                meta.return_hidden_states_index, meta.return_encoder_hidden_states_index)
            assert torch.equal(kept[(ref.index, 0)], hs)
        elif ref.spec.image_at == "last":
            # diffusers: the block returns the joint [text; image] sequence as its hidden states
            assert meta.return_encoder_hidden_states_index is None
            assert hs.shape[1] == case.num_text_tokens + case.num_image_tokens
            assert torch.equal(kept[(ref.index, 0)], hs[:, case.num_text_tokens:])
        else:
            assert meta.return_encoder_hidden_states_index is None
            assert torch.equal(kept[(ref.index, 0)], hs)
        checked += 1
    if not checked:
        pytest.skip(f"diffusers' registry knows none of {case.class_name}'s block classes")


@pytest.mark.parametrize("name", ["flux2_equal_tokens", "flux_equal_tokens"])
def test_joint_split_by_position_when_text_and_image_lengths_are_equal(name):
    """FLUX.1-schnell pitfall: 16 text and 16 image tokens. The image half is taken by position from the
    transformer's own encoder_hidden_states length, at every single-stream block."""
    case = CASES_BY_NAME[name]
    assert case.num_text_tokens == case.num_image_tokens
    model = model_of(case)
    inputs = case.inputs(2)
    n = case.num_blocks
    with Tracer(model, BatchLayout(2), CaptureSpec(text=True, keep=tuple((b, 0) for b in range(n))),
                num_steps=1) as tr:
        run(model, inputs)
    res = tr.result()
    for b, (_, mod, out) in enumerate(record_outputs(model, inputs)):
        img = hand_image(mod, out, case.num_text_tokens)
        assert torch.equal(res.tensors[(b, 0)], img)
        if type(mod).__name__ in JOINT_TEXT_FIRST:
            txt = out[:, :case.num_text_tokens]
            assert not torch.allclose(txt, img)  # the halves differ, so a swap would be caught
            torch.testing.assert_close(res.text_stats.maxabs[:, b, 0], txt.abs().amax(1), rtol=1e-6, atol=0)
    assert torch.equal(res.tensors[(n - 1, 0)], norm_out_input(model, inputs))


def test_text_length_read_from_positional_encoder_hidden_states():
    case = CASES_BY_NAME["flux2_equal_tokens"]
    model = model_of(case)
    kw = case.inputs(2)
    hidden, text = kw.pop("hidden_states"), kw.pop("encoder_hidden_states")
    spec = CaptureSpec(keep=((case.num_blocks - 1, 0),))
    with Tracer(model, BatchLayout(2), spec, num_steps=1) as tr_kw:
        run(model, dict(kw, hidden_states=hidden, encoder_hidden_states=text))
    with Tracer(model, BatchLayout(2), spec, num_steps=1) as tr_pos:
        with torch.no_grad():
            model(hidden, text, **kw)
    a, b = tr_kw.result(), tr_pos.result()
    assert torch.equal(a.tensors[(case.num_blocks - 1, 0)], b.tensors[(case.num_blocks - 1, 0)])
    assert torch.equal(a.stats.absmean, b.stats.absmean)


# -- edits: massact against a plain hand-written hook --------------------------------------
CHANNELS = (0, 3, 17)
EDITS = {
    "zero": dict(op="zero"),
    "zero_token_mask": dict(op="zero", token_mask="first_half"),
    "replace_rows": dict(op="replace", source_rows=((0, 1),)),
    "mix_rows": dict(op="mix", alpha=0.25, source_rows=((1, 0),)),
}


def _hand_edit(img: torch.Tensor, kind: str) -> torch.Tensor:
    """The edit written by hand on the (rows, tokens, channels) image tokens."""
    img = img.clone()
    ch = list(CHANNELS)
    if kind == "zero":
        img[:, :, ch] = 0
    elif kind == "zero_token_mask":
        img[:, : img.shape[1] // 2, ch] = 0
    elif kind == "replace_rows":
        img[0, :, ch] = img[1, :, ch]
    elif kind == "mix_rows":
        img[1, :, ch] = img[1, :, ch] * (1 - 0.25) + img[0, :, ch] * 0.25
    return img


def _hand_hook(kind: str, text_len: int):
    def hook(mod, args, out):
        name = type(mod).__name__
        if name in TUPLE_IMAGE_INDEX:
            out = list(out)
            i = TUPLE_IMAGE_INDEX[name]
            out[i] = _hand_edit(out[i], kind)
            return tuple(out)
        if name in JOINT_TEXT_FIRST:
            return torch.cat([out[:, :text_len], _hand_edit(out[:, text_len:], kind)], dim=1)
        return _hand_edit(out, kind)

    return hook


@pytest.mark.parametrize("kind", list(EDITS))
@pytest.mark.parametrize("case", CASES, ids=ids)
def test_edit_equals_plain_hand_written_hook(case, kind):
    model = model_of(case)
    inputs = case.inputs(2)
    refs = enumerate_blocks(model)
    kw = dict(EDITS[kind])
    if kw.get("token_mask") == "first_half":
        mask = torch.zeros(case.num_image_tokens, dtype=torch.bool)
        mask[: case.num_image_tokens // 2] = True
        kw["token_mask"] = mask
    spec = EditSpec(channels={r.index: CHANNELS for r in refs}, **kw)
    spec.validate(len(refs), case.width, 1, 2, case.num_image_tokens)

    plain = run(model, inputs)
    with Tracer(model, BatchLayout(2), edits=[spec], num_steps=1):
        via_massact = run(model, inputs)
    handles = [r.module.register_forward_hook(_hand_hook(kind, case.num_text_tokens)) for r in refs]
    try:
        via_hand = run(model, inputs)
    finally:
        for h in handles:
            h.remove()
    assert hooks_installed(model) == 0
    assert not torch.equal(via_hand, plain)  # the edit does something
    assert torch.equal(via_massact, via_hand)


def test_cfg_batch_layout_stats_on_cond_rows_and_edits_on_both_branches():
    """cfg_layout "batch": one call on [uncond; cond]; stats from the cond half, edits on both halves."""
    case = CASES_BY_NAME["sd3"]
    model = model_of(case)
    inputs = case.inputs(4)  # 2 rows x (uncond, cond)
    layout = BatchLayout(2, batch_branches=("uncond", "cond"))
    spec = EditSpec(op="zero", channels={1: CHANNELS}, rows=(0,))
    with Tracer(model, layout, CaptureSpec(keep=((1, 0),)), edits=[spec], num_steps=1) as tr:
        via_massact = run(model, inputs)

    def hook(mod, args, out):
        img = out[1].clone()
        for r in (0, 2):  # row 0 of each branch
            img[r, :, list(CHANNELS)] = 0
        return (out[0], img)

    h = enumerate_blocks(model)[1].module.register_forward_hook(hook)
    try:
        calls = record_outputs(model, inputs)
        via_hand = run(model, inputs)
    finally:
        h.remove()
    assert torch.equal(via_massact, via_hand)
    res = tr.result()
    cond = calls[1][2][1][2:]  # block 1's (edited) image stream, cond half
    assert torch.equal(res.tensors[(1, 0)], cond)
    assert res.stats.shape == (2, case.num_blocks, 1, case.width)
    torch.testing.assert_close(res.stats.maxabs[:, 1, 0], cond.abs().amax(1), rtol=1e-6, atol=0)


def test_cfg_calls_layout_counts_steps_and_keeps_cond_call():
    """cfg_layout "calls" (Qwen-Image true CFG): cond call then uncond call per step."""
    case = CASES_BY_NAME["qwen_image"]
    model = model_of(case)
    layout = BatchLayout(2, calls_per_step=2, call_branches=("cond", "uncond"))
    conds = [case.inputs(2, seed=s) for s in (1, 3)]
    unconds = [case.inputs(2, seed=s) for s in (2, 4)]
    with Tracer(model, layout, CaptureSpec(keep=((0, 0), (0, 1))), num_steps=2) as tr:
        for c, u in zip(conds, unconds):
            run(model, c)
            run(model, u)
    res = tr.result()
    assert res.num_calls == 4 and res.stats.shape == (2, case.num_blocks, 2, case.width)
    for step, c in enumerate(conds):
        img = record_outputs(model, c)[0][2][1]
        assert torch.equal(res.tensors[(0, step)], img)
        torch.testing.assert_close(res.stats.maxabs[:, 0, step], img.abs().amax(1), rtol=1e-6, atol=0)


# -- hook hygiene --------------------------------------------------------------------------
@pytest.mark.parametrize("case", CASES, ids=ids)
def test_no_hook_left_after_the_context(case):
    model = model_of(case)
    inputs = case.inputs(2)
    spec = EditSpec(op="zero", channels={0: (1,)})
    assert hooks_installed(model) == 0
    with Tracer(model, BatchLayout(2), CaptureSpec(), edits=[spec], num_steps=1):
        assert hooks_installed(model) == case.num_blocks + 1  # one per block + the step counter
        run(model, inputs)
    assert hooks_installed(model) == 0

    with pytest.raises(KeyError, match="boom"):
        with Tracer(model, BatchLayout(2), CaptureSpec(), edits=[spec], num_steps=1):
            run(model, inputs)
            raise KeyError("boom")
    assert hooks_installed(model) == 0

    # an error raised by the hooks themselves, inside the transformer's forward
    with pytest.raises(RuntimeError, match="step 1 but the run has 1 steps"):
        with Tracer(model, BatchLayout(2), CaptureSpec(), num_steps=1):
            run(model, inputs)
            run(model, inputs)
    assert hooks_installed(model) == 0
    with pytest.raises(RuntimeError, match="does not match 3 rows"):
        with Tracer(model, BatchLayout(3), CaptureSpec(), num_steps=1):
            run(model, inputs)
    assert hooks_installed(model) == 0


# -- unsupported models ----------------------------------------------------------------------
class DiTLikeTransformer(nn.Module):
    def __init__(self):
        super().__init__()
        self.transformer_blocks = nn.ModuleList([nn.Linear(4, 4)])


@pytest.mark.parametrize("call", [
    lambda m: adapter_for(m),
    lambda m: enumerate_blocks(m),
    lambda m: Tracer(m, BatchLayout(1), CaptureSpec()),
    lambda m: massact.load(SimpleNamespace(transformer=m)),
], ids=["adapter_for", "enumerate_blocks", "Tracer", "load"])
def test_unsupported_class_lists_supported_classes(call):
    with pytest.raises(ValueError) as err:
        call(DiTLikeTransformer())
    msg = str(err.value)
    assert "DiTLikeTransformer" in msg
    for name in supported_classes():
        assert name in msg


# -- the vocabulary other modules build on --------------------------------------------------------
def test_vocabulary_is_pinned():
    assert sorted(n for n, a in ADAPTERS.items() if a.status == "pipeline") == sorted([
        "FluxTransformer2DModel", "Flux2Transformer2DModel", "QwenImageTransformer2DModel",
        "SD3Transformer2DModel", "SanaTransformer2DModel", "PixArtTransformer2DModel",
        "AuraFlowTransformer2DModel", "BriaTransformer2DModel", "BriaFiboTransformer2DModel",
        "ChromaTransformer2DModel", "CogView3PlusTransformer2DModel", "CogView4Transformer2DModel",
        "GlmImageTransformer2DModel", "OvisImageTransformer2DModel", "HunyuanImageTransformer2DModel",
        "Lumina2Transformer2DModel", "ZImageTransformer2DModel", "Krea2Transformer2DModel",
        "ErnieImageTransformer2DModel", "HunyuanDiT2DModel", "LuminaNextDiT2DModel",
        "HiDreamImageTransformer2DModel", "Ideogram4Transformer2DModel"])
    assert len(supported_classes()) == 35  # 34 of the 36 classes of the DiT survey, and ChronoEdit
    assert STATISTICS == ("absmean", "meanabs", "maxabs")
    model = massact.load("toy")
    assert [b.name for b in massact.enumerate_blocks(model.transformer)] == [
        "transformer_blocks.0", "transformer_blocks.1", "transformer_blocks.2",
        "single_transformer_blocks.0", "single_transformer_blocks.1", "single_transformer_blocks.2",
        "single_transformer_blocks.3"]
    assert [b.index for b in massact.enumerate_blocks(model.transformer)] == list(range(7))
    assert model.num_blocks == 7 and model.width == 128 and model.num_image_tokens == 64  # 8x8 grid of 4x4-pixel tokens


def test_layout_from_the_run_counts_calls_per_step_by_timestep():
    """BatchLayout.from_run: the calls of step 0 share its timestep; the first new timestep fixes the calls per
    step (two here: cond, then uncond, as Qwen-Image's true CFG); stats come from each step's first call."""
    case = CASES_BY_NAME["qwen_image"]
    model = model_of(case)
    steps = []
    for s in range(3):
        c, u = case.inputs(2, seed=10 + 2 * s), case.inputs(2, seed=11 + 2 * s)
        u["timestep"] = c["timestep"].clone()  # both calls of a step run at the step's time
        steps.append((c, u))
    with Tracer(model, BatchLayout.from_run(2), CaptureSpec(keep=((0, 0), (0, 2))), num_steps=3) as tr:
        for c, u in steps:
            run(model, c)
            run(model, u)
    res = tr.result()
    assert res.num_calls == 6 and res.layout.calls_per_step == 2 and res.layout.call_branches == ("cond", "uncond")
    assert res.layout.batch_branches == ("cond",)
    for step in (0, 2):
        assert torch.equal(res.tensors[(0, step)], record_outputs(model, steps[step][0])[0][2][1])
    # in a one-step run, a second step is refused
    with Tracer(model, BatchLayout.from_run(2), num_steps=1) as tr:
        run(model, steps[0][0])
        run(model, steps[0][1])
        with pytest.raises(RuntimeError, match="called for step 1 but the run has 1 steps"):
            run(model, steps[1][0])
    assert hooks_installed(model) == 0


def test_layout_from_the_run_needs_a_timestep():
    case = CASES_BY_NAME["sd3"]
    model = model_of(case)
    inputs = case.inputs(2)
    inputs.pop("timestep")
    with Tracer(model, BatchLayout.from_run(2), num_steps=1):
        with pytest.raises(RuntimeError, match="without a timestep.*calls_per_step"):
            run(model, inputs)
    assert hooks_installed(model) == 0
