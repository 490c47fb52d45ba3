"""The one adapter rule where it is hardest: reference images, your own DiT, guidance layouts.

* FLUX.2-klein with a reference image puts the reference tokens after the target's
  ([target; refs]) in an edit call, before them ([refs; target]) in the KV pipeline's
  extract call, and leaves them out in its cached calls: massact captures and edits the
  target's tokens only, in all three.
* A hand-written adaLN DiT of this test's own (no diffusers class), registered with
  ``massact.register``, gets the capture and edits of a diffusers class, equal to plain
  hooks written by hand.
* Guidance read from the run: a [cond; uncond] batch takes statistics from its first half;
  a step that drops its unconditional call (truncated CFG) is counted as one step.
"""
from __future__ import annotations

import sys
from pathlib import Path

import pytest
import torch
from torch import nn

sys.path.insert(0, str(Path(__file__).parent))

import massact  # noqa: E402
from massact.adapters import BlockList, adapter_for, enumerate_blocks, register, supported, unregister  # noqa: E402
from massact.hooks import Tracer  # noqa: E402
from massact.specs import BatchLayout, CaptureSpec, EditSpec  # noqa: E402
from tiny_models import CASES_BY_NAME, WIDTH, _grid_ids, hooks_installed  # noqa: E402

CHANNELS = (0, 5, 17)


def _flux2_with_reference(batch: int, order: str, seed: int = 0):
    """FLUX.2 inputs with a 4x4 target and a 2x4 reference image: order "target_first" (the
    edit pipeline), "ref_first" (the KV pipeline's extract call) or "target_only" (its cached calls)."""
    g = torch.Generator("cpu").manual_seed(seed)
    target_ids, ref_ids = _grid_ids(4, 4, 4), _grid_ids(2, 4, 4)
    ref_ids[:, 0] = 10  # FLUX.2 marks the first reference image with time coordinate 10
    target, ref = torch.randn(batch, 16, 4, generator=g), torch.randn(batch, 8, 4, generator=g)
    kw = dict(encoder_hidden_states=torch.randn(batch, 8, 32, generator=g), timestep=torch.rand(batch, generator=g),
              txt_ids=torch.zeros(8, 4), return_dict=False)
    if order == "target_first":
        return dict(kw, hidden_states=torch.cat([target, ref], 1), img_ids=torch.cat([target_ids, ref_ids]))
    if order == "ref_first":
        return dict(kw, hidden_states=torch.cat([ref, target], 1), img_ids=torch.cat([ref_ids, target_ids]),
                    kv_cache_mode="extract", num_ref_tokens=8)
    return dict(kw, hidden_states=target, img_ids=target_ids)


def _target_slice(path: str, out, order: str) -> tuple:
    """Where the 16 target tokens are in a block output, by hand (text 8 tokens, reference 8)."""
    start = 8 if order == "ref_first" else 0
    if path == "transformer_blocks":
        return 1, start  # tuple element 1: the image stream
    return None, 8 + start  # single blocks: the joint [text; image stream]


@pytest.mark.parametrize("order", ["target_first", "ref_first", "target_only"])
def test_flux2_reference_tokens_are_never_image_tokens(order):
    model = CASES_BY_NAME["flux2"].build()
    inputs = _flux2_with_reference(2, order)
    refs = enumerate_blocks(model)
    outs = []
    hs = [r.module.register_forward_hook(lambda m, a, o, r=r: outs.append((r, o))) for r in refs]
    try:
        with torch.no_grad():
            plain = model(**inputs)[0]
    finally:
        for h in hs:
            h.remove()
    with Tracer(model, BatchLayout(2), CaptureSpec(keep=tuple((r.index, 0) for r in refs)), num_steps=1) as tr:
        with torch.no_grad():
            model(**inputs)
    kept = tr.result().tensors
    for r, out in outs:
        element, start = _target_slice(r.spec.path, out, order)
        x = out[element] if element is not None else out
        assert torch.equal(kept[(r.index, 0)], x[:, start:start + 16])

    # an edit touches the target's 16 tokens and nothing else
    spec = EditSpec(op="zero", channels={r.index: CHANNELS for r in refs})

    def hand(r):
        def hook(m, a, out):
            element, start = _target_slice(r.spec.path, out, order)
            x = (out[element] if element is not None else out).clone()
            x[:, start:start + 16, list(CHANNELS)] = 0
            return tuple(x if i == element else o for i, o in enumerate(out)) if element is not None else x
        return hook

    with Tracer(model, BatchLayout(2), edits=[spec], num_steps=1), torch.no_grad():
        via_massact = model(**inputs)[0]
    hs = [r.module.register_forward_hook(hand(r)) for r in refs]
    try:
        with torch.no_grad():
            via_hand = model(**inputs)[0]
    finally:
        for h in hs:
            h.remove()
    assert not torch.equal(via_hand, plain)
    assert torch.equal(via_massact, via_hand)
    assert hooks_installed(model) == 0


# -- your own DiT ---------------------------------------------------------------------------------
class AdaLNBlock(nn.Module):
    """A DiT block: adaLN-modulated self-attention and MLP, conditioned on one vector per row."""

    def __init__(self, width: int, heads: int = 2):
        super().__init__()
        self.norm1, self.norm2 = nn.LayerNorm(width, elementwise_affine=False), nn.LayerNorm(width,
                                                                                               elementwise_affine=False)
        self.attn = nn.MultiheadAttention(width, heads, batch_first=True)
        self.mlp = nn.Sequential(nn.Linear(width, 2 * width), nn.GELU(), nn.Linear(2 * width, width))
        self.ada = nn.Linear(width, 6 * width)

    def forward(self, x, c):
        s1, b1, g1, s2, b2, g2 = self.ada(c)[:, None].chunk(6, dim=-1)
        h = self.norm1(x) * (1 + s1) + b1
        x = x + g1 * self.attn(h, h, h, need_weights=False)[0]
        return x + g2 * self.mlp(self.norm2(x) * (1 + s2) + b2)


class CourseDiT(nn.Module):
    """A class-conditional DiT as a course would write it: patchify, blocks, unpatchify."""

    patch_size = 2

    def __init__(self, width: int = WIDTH, depth: int = 3, classes: int = 4, channels: int = 4):
        super().__init__()
        self.embed = nn.Conv2d(channels, width, 2, stride=2)
        self.time = nn.Linear(1, width)
        self.label = nn.Embedding(classes + 1, width)  # the last label is "no class" (guidance)
        self.blocks = nn.ModuleList(AdaLNBlock(width) for _ in range(depth))
        self.out = nn.Linear(width, channels * 4)

    def forward(self, hidden_states, timestep, class_labels):
        b, _, h, w = hidden_states.shape
        x = self.embed(hidden_states).flatten(2).transpose(1, 2)
        c = self.time(timestep[:, None].float()) + self.label(class_labels)
        for blk in self.blocks:
            x = blk(x, c)
        return self.out(x)


@pytest.fixture
def course_dit():
    torch.manual_seed(0)
    model = CourseDiT().eval().requires_grad_(False)
    register(CourseDiT, BlockList("blocks"), cfg_layout="batch_cond_first", family="course-dit")
    yield model
    unregister(CourseDiT)


def _course_inputs(batch: int, seed: int = 0) -> dict:
    g = torch.Generator("cpu").manual_seed(seed)
    return dict(hidden_states=torch.randn(batch, 4, 8, 8, generator=g), timestep=torch.rand(batch, generator=g),
                class_labels=torch.randint(0, 4, (batch,), generator=g))


def test_your_own_dit_captures_and_edits_like_plain_hooks(course_dit):
    model = course_dit
    assert adapter_for(model).family == "course-dit"
    refs = enumerate_blocks(model)
    assert [r.name for r in refs] == ["blocks.0", "blocks.1", "blocks.2"]
    assert any(r.class_name == "CourseDiT" and r.status == "registered" for r in supported())
    inputs = _course_inputs(3)
    outs = []
    hs = [r.module.register_forward_hook(lambda m, a, o: outs.append(o.detach().clone())) for r in refs]
    try:
        with torch.no_grad():
            plain = model(**inputs)
    finally:
        for h in hs:
            h.remove()
    with Tracer(model, BatchLayout(3), CaptureSpec(keep=((2, 0),)), num_steps=1) as tr, torch.no_grad():
        model(**inputs)
    st = tr.result().stats
    assert st.shape == (3, 3, 1, WIDTH)
    for b, out in enumerate(outs):
        assert out.shape == (3, 16, WIDTH)  # 8x8 latents in 2x2 patches: 16 image tokens
        torch.testing.assert_close(st.maxabs[:, b, 0], out.abs().amax(1), rtol=1e-6, atol=0)
    assert torch.equal(tr.result().tensors[(2, 0)], outs[2])

    spec = EditSpec(op="zero", channels={1: CHANNELS})
    with Tracer(model, BatchLayout(3), edits=[spec], num_steps=1), torch.no_grad():
        via_massact = model(**inputs)

    def hook(m, a, out):
        out = out.clone()
        out[:, :, list(CHANNELS)] = 0
        return out

    h = refs[1].module.register_forward_hook(hook)
    try:
        with torch.no_grad():
            via_hand = model(**inputs)
    finally:
        h.remove()
    assert not torch.equal(via_hand, plain) and torch.equal(via_massact, via_hand)
    assert hooks_installed(model) == 0


def test_cond_first_batch_takes_statistics_from_the_first_half(course_dit):
    """DiT, Lumina-Next, Z-Image and OmniGen stack [cond; uncond] in one call."""
    model = course_dit
    inputs = _course_inputs(4)  # 2 rows x (cond, uncond)
    layout = BatchLayout.from_run(2, adapter_for(model).batch_branches)
    assert layout.batch_branches[:2] == ("cond", "uncond")
    outs = []
    h = enumerate_blocks(model)[0].module.register_forward_hook(lambda m, a, o: outs.append(o))
    try:
        with Tracer(model, layout, CaptureSpec(), num_steps=1) as tr, torch.no_grad():
            model(**inputs)
    finally:
        h.remove()
    st = tr.result().stats
    assert st.shape[0] == 2
    torch.testing.assert_close(st.maxabs[:, 0, 0], outs[0][:2].abs().amax(1), rtol=1e-6, atol=0)
    assert tr.result().layout.batch_branches == ("cond", "uncond")


def test_truncated_guidance_counts_steps_by_timestep(course_dit):
    """Lumina2 and Z-Image drop the unconditional call in late steps: 2, 2, then 1 call per step."""
    model = course_dit
    calls = []
    for step, n in enumerate((2, 2, 1)):
        for k in range(n):
            kw = _course_inputs(2, seed=10 * step + k)
            kw["timestep"] = torch.full((2,), 1.0 - step / 3)
            calls.append(kw)
    with Tracer(model, BatchLayout.from_run(2), CaptureSpec(keep=((0, 2),)), num_steps=3) as tr, torch.no_grad():
        for kw in calls:
            model(**kw)
    res = tr.result()
    assert res.num_calls == 5 and res.stats.steps == (0, 1, 2)
    assert res.layout.calls_per_step == 2
    outs = []
    h = enumerate_blocks(model)[0].module.register_forward_hook(lambda m, a, o: outs.append(o))
    try:
        with torch.no_grad():
            model(**calls[4])
    finally:
        h.remove()
    assert torch.equal(res.tensors[(0, 2)], outs[0])  # the last step's only call is its cond call


def test_register_refuses_what_is_not_a_rule():
    with pytest.raises(TypeError, match="nn.Module subclass"):
        register(object, BlockList("blocks"))
    with pytest.raises(TypeError, match="BlockList"):
        register(CourseDiT, "blocks")
    with pytest.raises(ValueError, match="image_at 'middle' is not one of"):
        BlockList("blocks", image_at="middle")
    with pytest.raises(ValueError, match="cfg_layout 'sometimes' is not one of"):
        register(CourseDiT, BlockList("blocks"), cfg_layout="sometimes")
    with pytest.raises(ValueError, match="massact.register"):
        adapter_for(CourseDiT())
    assert "register" in massact.__all__ and "supported" in massact.__all__


def test_flux2_kv_run_whose_stream_changes_between_calls():
    """FLUX.2-klein's KV pipeline: step 0's call carries [refs; target] (extract), later steps the
    target only (cached); one traced run reads the target's 16 tokens at every step."""
    model = CASES_BY_NAME["flux2"].build()
    calls = [_flux2_with_reference(2, "ref_first", seed=0)] + [_flux2_with_reference(2, "target_only", seed=s)
                                                                for s in (1, 2)]
    last = enumerate_blocks(model)[-1]
    with Tracer(model, BatchLayout(2), CaptureSpec(keep=tuple((last.index, s) for s in range(3))),
                num_steps=3) as tr, torch.no_grad():
        for kw in calls:
            model(**kw)
    kept = tr.result().tensors
    for step, (kw, order) in enumerate(zip(calls, ("ref_first", "target_only", "target_only"))):
        outs = []
        h = last.module.register_forward_hook(lambda m, a, o: outs.append(o))
        try:
            with torch.no_grad():
                model(**kw)
        finally:
            h.remove()
        _, start = _target_slice(last.spec.path, outs[0], order)
        assert torch.equal(kept[(last.index, step)], outs[0][:, start:start + 16])
    assert hooks_installed(model) == 0


def test_flux2_klein_pipeline_with_a_reference_image_captures_the_target_only():
    """The tiny FLUX.2-klein pipeline editing with a reference image: the image stream is
    [target; reference], and massact reads the target's 16 tokens (what the pipeline keeps
    of the prediction), never the reference's."""
    import numpy as np
    from PIL import Image

    from massact import testing

    pipe = testing.tiny_pipeline("flux2")
    pipe.set_progress_bar_config(disable=True)
    reference = Image.fromarray((np.random.default_rng(0).random((64, 64, 3)) * 255).astype("uint8"))
    transformer = pipe.transformer
    last = enumerate_blocks(transformer)[-1]
    seen = []
    h = transformer.norm_out.register_forward_pre_hook(lambda m, a: seen.append(a[0].detach().clone()))
    try:
        with Tracer(transformer, BatchLayout.from_run(1), CaptureSpec(keep=((last.index, 0),)), num_steps=2) as tr:
            pipe(prompt="a red cat", image=reference, height=64, width=64, num_inference_steps=2,
                 generator=torch.Generator("cpu").manual_seed(0), output_type="pt")
    finally:
        h.remove()
    kept = tr.result().tensors[(last.index, 0)]
    stream = seen[0]  # what the model decodes after its blocks: [target; reference] tokens
    assert stream.shape[1] > 16  # the reference's tokens are in the stream
    assert kept.shape == (1, 16, stream.shape[2])
    assert torch.equal(kept, stream[:, :16].float())
