"""CFG from the run, not the class: every tiny pipeline with guidance off and on, against hand-written hooks.

How many times the transformer is called per denoising step, and on how many rows, depends
on the pipeline and its guidance, not on the transformer class: FLUX.1 makes one call
(two with true_cfg_scale > 1 and a negative prompt), FLUX.2-klein one when distilled and
two for the base model at guidance > 1, SD3/SANA/PixArt one call on [uncond; cond] rows at
guidance > 1, Qwen-Image two calls (cond, then uncond) with true CFG. The CASES table
below is the hand-written truth; massact reads the layout from the run
(``BatchLayout.from_run``), takes statistics on the cond rows only and edits both branches.
Random weights: these are plumbing checks.
"""
from __future__ import annotations

import pytest
import torch

import transformers  # noqa: E402,F401  (the test extra requires transformers>=5: missing, this module fails)

import massact  # noqa: E402
from massact import testing  # noqa: E402
from massact.hooks import Tracer  # noqa: E402
from massact.specs import BatchLayout, CaptureSpec, EditSpec  # noqa: E402
from tiny_models import hooks_installed


SIZE = testing.TINY_IMAGE_SIZE
PROMPTS = ["a red cat sits on a blue mat", "a green bird on a white fence"]
SEEDS = [0, 1]
NUM_STEPS = 2
TRUE_CFG = {"true_cfg_scale": 2.0, "negative_prompt": " "}

#: (id, family, guidance, call_kwargs, base model, transformer calls per step, batched [uncond; cond])
CASES = [
    ("flux-g1", "flux", 1.0, None, False, 1, False),
    ("flux-true-cfg", "flux", 1.0, TRUE_CFG, False, 2, False),
    ("flux-dev-g3.5", "flux-dev", 3.5, None, False, 1, False),  # guidance enters as an embedding
    ("flux-dev-true-cfg", "flux-dev", 3.5, TRUE_CFG, False, 2, False),
    ("flux2-g1", "flux2", 1.0, None, False, 1, False),
    ("flux2-g4", "flux2", 4.0, None, False, 1, False),  # distilled: guidance ignored
    ("flux2-base-g1", "flux2", 1.0, None, True, 1, False),
    ("flux2-base-g4", "flux2", 4.0, None, True, 2, False),
    ("sd3-g1", "sd3", 1.0, None, False, 1, False),
    ("sd3-g4.5", "sd3", 4.5, None, False, 1, True),
    ("sana-g1", "sana", 1.0, None, False, 1, False),
    ("sana-g4.5", "sana", 4.5, None, False, 1, True),
    ("pixart-g1", "pixart", 1.0, None, False, 1, False),
    ("pixart-g4.5", "pixart", 4.5, None, False, 1, True),
    ("qwen-image-g1", "qwen-image", 1.0, None, False, 1, False),
    ("qwen-image-g4", "qwen-image", 4.0, None, False, 2, False),
]
IDS = [c[0] for c in CASES]

_PIPES: dict = {}


def pipe_of(family: str, base: bool):
    """The tiny pipeline; ``base``: FLUX.2-klein's non-distilled variant (same components, is_distilled=False)."""
    key = (family, base)
    if key not in _PIPES:
        pipe = testing.tiny_pipeline(family)
        if base:
            pipe = type(pipe)(**pipe.components, is_distilled=False)
        _PIPES[key] = pipe
    return _PIPES[key]


def model_of(family, call_kwargs, base):
    return massact.load(pipe_of(family, base), height_px=SIZE, width_px=SIZE, call_kwargs=call_kwargs)


def image_stream(output):
    """Block 0's image tokens, by hand: the second entry of a two-stream block's (text, image) tuple, or the
    block's one tensor (PixArt, SANA)."""
    return output[1] if isinstance(output, tuple) else output


class HandRecorder:
    """Hand-written hooks: count transformer calls, keep block 0's image stream of every call."""

    def __init__(self, model):
        self.calls = 0
        self.outputs: list[torch.Tensor] = []
        t = model.transformer
        self.handles = [t.register_forward_pre_hook(self._pre),
                        model.blocks[0].module.register_forward_hook(self._post)]

    def _pre(self, module, args):
        self.calls += 1

    def _post(self, module, args, output):
        self.outputs.append(image_stream(output).detach().clone())

    def remove(self):
        for h in self.handles:
            h.remove()


@pytest.mark.parametrize("case", CASES, ids=IDS)
def test_layout_is_read_from_the_run(case):
    _, family, guidance, call_kwargs, base, calls_per_step, batched = case
    model = model_of(family, call_kwargs, base)
    n = len(PROMPTS)
    layout = model.batch_layout(n, guidance)
    assert layout == BatchLayout.from_run(n) and layout.calls_per_step is None
    with Tracer(model.transformer, layout, CaptureSpec(), num_steps=NUM_STEPS, width=model.width,
                num_tokens=model.num_image_tokens) as tr:
        model.sample(PROMPTS, SEEDS, NUM_STEPS, guidance)
    res = tr.result()
    assert hooks_installed(model.transformer) == 0
    assert res.num_calls == NUM_STEPS * calls_per_step
    seen = res.layout
    assert seen.calls_per_step == calls_per_step
    assert seen.call_branches == ("cond", "uncond")[:calls_per_step]
    assert seen.batch_branches == (("uncond", "cond") if batched else ("cond",))


@pytest.mark.parametrize("case", CASES, ids=IDS)
def test_stats_from_the_cond_rows_like_a_hand_hook(case):
    """generate's statistics of block 0 equal, bit for bit, those a hand-written hook computes from the cond rows:
    the second half of a batched call, or the first call of each step."""
    _, family, guidance, call_kwargs, base, calls_per_step, batched = case
    model = model_of(family, call_kwargs, base)
    n = len(PROMPTS)
    rec = HandRecorder(model)
    try:
        g = massact.generate(model, PROMPTS, seeds=SEEDS, num_steps=NUM_STEPS, guidance=guidance,
                             capture=CaptureSpec(keep=((0, NUM_STEPS - 1),)))
    finally:
        rec.remove()
    assert rec.calls == NUM_STEPS * calls_per_step == len(rec.outputs)
    for step in range(NUM_STEPS):
        x = rec.outputs[step * calls_per_step]  # the step's first call: cond (or [uncond; cond])
        assert x.shape[0] == (2 * n if batched else n)
        cond = (x[n:] if batched else x).float()
        mean = cond.sum(1) / cond.shape[1]
        assert torch.equal(g.stats.absmean[:, 0, step], mean.abs())
        assert torch.equal(g.stats.maxabs[:, 0, step], cond.abs().amax(1))
        if step == NUM_STEPS - 1:
            assert torch.equal(g.tensors[(0, step)], cond)
        if calls_per_step == 2:  # the uncond call differs: its statistics were not taken by mistake
            assert not torch.equal(rec.outputs[step * 2 + 1], x)
        if batched:
            assert not torch.equal(x[:n], x[n:])
    assert g.stats.shape == (n, model.num_blocks, NUM_STEPS, model.width)


@pytest.mark.parametrize("case", CASES, ids=IDS)
def test_edits_reach_both_branches_like_a_hand_hook(case):
    """A zero edit of row 0 gives, bit for bit, the image of a hand-written hook that zeroes row 0 in every call
    (both halves of a batched call, both calls of a true-CFG step)."""
    _, family, guidance, call_kwargs, base, calls_per_step, batched = case
    model = model_of(family, call_kwargs, base)
    n = len(PROMPTS)
    channels = [1, 7, 30]
    g = massact.generate(model, PROMPTS, seeds=SEEDS, num_steps=NUM_STEPS, guidance=guidance,
                         edits=[EditSpec("zero", {0: tuple(channels)}, rows=(0,))])

    def hand(module, args, output):
        img = image_stream(output).clone()
        for r in ((0, n) if img.shape[0] == 2 * n else (0,)):
            img[r, :, channels] = img[r, :, channels] * 0
        return (output[0], img) + tuple(output[2:]) if isinstance(output, tuple) else img

    h = model.blocks[0].module.register_forward_hook(hand)
    try:
        by_hand = model.sample(PROMPTS, SEEDS, NUM_STEPS, guidance)
    finally:
        h.remove()
    plain = model.sample(PROMPTS, SEEDS, NUM_STEPS, guidance)
    assert torch.equal(g.images, by_hand)
    assert not torch.equal(g.images[0], plain[0])
    if calls_per_step == 2 or batched:
        # editing the cond branch alone is not what massact did: the uncond branch was edited too
        def cond_only(module, args, output):
            img = image_stream(output).clone()
            first = img.shape[0] == 2 * n or rec_calls[-1] == 0
            if first:
                r = n if img.shape[0] == 2 * n else 0
                img[r, :, channels] = img[r, :, channels] * 0
            return (output[0], img) + tuple(output[2:]) if isinstance(output, tuple) else img

        rec_calls: list[int] = []
        seen_t: list = []

        def count(module, args, kwargs):  # the place of this call within its step, from the timestep
            t = kwargs["timestep"]
            rec_calls.append(0 if not seen_t or not torch.equal(seen_t[-1], t) else rec_calls[-1] + 1)
            seen_t.append(t.clone())

        hs = [model.transformer.register_forward_pre_hook(count, with_kwargs=True),
              model.blocks[0].module.register_forward_hook(cond_only)]
        try:
            cond_edited = model.sample(PROMPTS, SEEDS, NUM_STEPS, guidance)
        finally:
            for h in hs:
                h.remove()
        assert not torch.equal(cond_edited, g.images)
    assert torch.equal(g.images[1], plain[1])  # rows are independent: row 1 was not edited


def test_flux2_base_with_true_cfg_runs_all_steps():
    """Was: "transformer called for step 2 but the run has 2 steps" (a fixed one-call layout for the class)."""
    model = model_of("flux2", None, True)
    g = massact.generate(model, PROMPTS[:1], seeds=0, num_steps=3, guidance=4.0, capture=True)
    assert g.stats.shape == (1, model.num_blocks, 3, model.width)
    assert torch.isfinite(g.stats.absmean).all()


def test_call_kwargs_are_checked():
    with pytest.raises(TypeError, match="call_kwargs must be a dict"):
        massact.load(pipe_of("flux", False), call_kwargs=[("true_cfg_scale", 2.0)])
