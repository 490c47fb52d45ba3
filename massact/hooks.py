"""Capture and edit the image stream of every block, with plain PyTorch forward hooks.

Vocabulary (stable; tests pin it):

* **block** – global block number in execution order (see ``adapters.enumerate_blocks``);
* **step** – denoising step index, 0 = first (noisiest) step; ``num_steps`` is the count;
* **row** – one prompt of the batch being generated (row i = prompts[i]);
* **branch** – with classifier-free guidance the transformer sees each row once per
  branch, ``cond`` and ``uncond``; statistics are taken on the ``cond`` branch, edits
  apply to both.

(**arm** and **selection**, which name the channels an edit acts on, are defined in
``massact.selection``.)

Statistics are streamed (``massact.channel_stats``): for each (block, step) the hook keeps,
per row and channel, the float32 sum of x, sum of |x|, sum of x^2 and max |x| over image
tokens, so memory is O(rows x blocks x steps x channels), never O(tokens). Full image-token
tensors are kept only for the (block, step) pairs named in ``CaptureSpec.keep``.

An edit is data: an ``EditSpec`` (frozen dataclass, ``massact.specs``) says what to do to
which channels of which blocks at which steps; ``Tracer`` applies it inside a ``with``
block and removes every hook on exit, also when an exception is raised.

Validation: ``EditSpec`` and ``CaptureSpec`` check types and values when they are built
(floats and bools are never indices; alpha and token-mask values are finite and in
[0, 1]); ``Tracer`` checks the ranges against the transformer (blocks), the run (steps)
and the batch (rows) once, before any hook is installed. Hook code trusts both.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Sequence

import torch
from torch import nn

from .adapters import BlockRef, CallTokens, adapter_for, enumerate_blocks, replace_image_stream, split_streams
from .channel_stats import ChannelStats, SaturationWarning, _StreamStats
from .specs import BatchLayout, CaptureSpec, EditSpec


@dataclass
class CaptureResult:
    stats: ChannelStats | None
    text_stats: ChannelStats | None
    tensors: dict[tuple[int, int], torch.Tensor]  # (block, step) -> (rows, tokens, channels)
    num_calls: int
    layout: BatchLayout | None = None  # the layout the run had (calls per step counted, batches seen)


class _EditPlan:
    """One edit at one block, prepared once per run: the channel indices and the weight.

    The weight P has shape (rows or 1, tokens or 1, 1): the token mask (when there is one)
    times the row selection (when ``rows`` is given), else a single 1. The hook then
    updates only ``x[..., channels]`` (rows, tokens, k), never a dense (rows, tokens,
    channels) mask. The arithmetic is the same elementwise arithmetic as the dense form
    x (1 - alpha M) + x_src alpha M, so the results are bit for bit the same.
    """

    __slots__ = ("edit", "block", "channels", "targets", "sources", "values", "_cache")

    def __init__(self, edit: EditSpec, block: int):
        self.edit, self.block = edit, block
        self.channels = torch.tensor(edit.channels[block], dtype=torch.long)
        self.targets = torch.tensor([t for t, _ in edit.source_rows], dtype=torch.long)
        self.sources = torch.tensor([s for _, s in edit.source_rows], dtype=torch.long)
        # "set": the (steps, k) values of this block's channels, gathered once
        self.values = None if edit.values is None else edit.values[block][:, self.channels].float()
        self._cache: dict = {}

    def _prepared(self, x: torch.Tensor):
        """(channels, alpha P, 1 - alpha P, targets, sources) on x's device and dtype (cached)."""
        key = (x.device, x.dtype, x.shape[0])
        if key not in self._cache:
            e, dev, dt = self.edit, x.device, x.dtype
            p = torch.ones(1, 1, 1, dtype=dt, device=dev)
            if e.token_mask is not None:
                tm = e.token_mask.to(device=dev, dtype=dt)
                p = tm[None, :, None] if tm.dim() == 1 else tm[:, :, None]
            if e.rows is not None and not e.source_rows:  # source_rows already names its targets
                keep = torch.zeros(x.shape[0], 1, 1, dtype=dt, device=dev)
                keep[list(e.rows)] = 1
                p = p * keep
            ap = float(e.alpha) * p
            self._cache[key] = (self.channels.to(dev), ap, 1 - ap, self.targets.to(dev), self.sources.to(dev))
        return self._cache[key]

    def apply_(self, step: int, x: torch.Tensor) -> None:
        """Edit x (rows, tokens, channels) in place; rows are in prompt order."""
        e = self.edit
        src = None
        if e.recorded is not None:
            if (self.block, step) not in e.recorded:
                return
            src = e.recorded[(self.block, step)][..., self.channels]
        ch, ap, keep, tgt, srow = self._prepared(x)
        xc = x[..., ch]  # (rows, tokens, k), a copy
        if e.op == "zero":
            x[..., ch] = xc * keep
        elif e.op == "set":
            x[..., ch] = xc * keep + self.values[step].to(device=x.device, dtype=x.dtype) * ap
        elif src is not None:
            x[..., ch] = xc * keep + src.to(device=x.device, dtype=x.dtype) * ap
        else:
            apt, keept = (ap[tgt], keep[tgt]) if ap.shape[0] > 1 else (ap, keep)
            xc[tgt] = xc[tgt] * keept + xc[srow] * apt  # sources read before any target is written
            x[..., ch] = xc


class Tracer:
    """Install capture and edit hooks on a transformer for the duration of a ``with`` block.

    >>> with Tracer(transformer, layout, capture=CaptureSpec(), edits=[spec], num_steps=20) as tr:
    ...     run_the_sampler()
    >>> tr.result().stats.score("absmean")

    Args:
        transformer: a transformer whose class is in ``adapters.ADAPTERS``.
        layout: how the rows reach the transformer (``MassactModel.batch_layout``).
        capture: what to record (None = nothing).
        edits: the ``EditSpec`` edits to apply.
        num_steps: the run's number of denoising steps (None: steps are not range-checked).
        width: channels of the image stream (None: channels are not range-checked).
        num_tokens: image tokens per row (None: token masks are not length-checked).

    Every range is checked here, once, before any hook is installed: an edit of a block or
    step that never runs would otherwise silently do nothing.
    """

    def __init__(self, transformer: nn.Module, layout: BatchLayout, capture: CaptureSpec | None = None,
                 edits: Sequence[EditSpec] = (), num_steps: int | None = None, width: int | None = None,
                 num_tokens: int | None = None):
        self.transformer = transformer
        self.adapter = adapter_for(transformer)
        self.blocks: list[BlockRef] = enumerate_blocks(transformer)
        self.layout = layout
        self.capture = capture
        self.edits = list(edits)
        self.num_steps = num_steps
        n = len(self.blocks)
        if capture is not None:
            capture.validate(n, num_steps)
        for e in self.edits:
            e.validate(n, width, num_steps, layout.num_rows, num_tokens)
        self._handles: list = []
        self._call = -1
        self._step, self._in_step = 0, 0  # step of the current call, and its place k within the step
        self._step_t: torch.Tensor | None = None  # timestep of the last call (a layout read from the run)
        self._max_calls = 0  # the most calls one step has made so far (a layout read from the run)
        self._batches: set[int] = set()
        self._tokens: CallTokens | None = None  # the image tokens of the current call
        self._stats: dict[tuple[int, int], _StreamStats] = {}
        self._text_stats: dict[tuple[int, int], _StreamStats] = {}
        self._tensors: dict[tuple[int, int], torch.Tensor] = {}
        self._edits_by_block: dict[int, list[_EditPlan]] = {}
        for e in self.edits:
            for b in e.blocks:
                self._edits_by_block.setdefault(b, []).append(_EditPlan(e, b))

    # -- hook management --------------------------------------------------------------
    def __enter__(self):
        try:
            self._handles.append(self.transformer.register_forward_pre_hook(self._pre, with_kwargs=True))
            for ref in self.blocks:
                if self._wants_block(ref.index):
                    self._handles.append(ref.module.register_forward_hook(self._make_post(ref)))
        except BaseException:
            self.remove()
            raise
        return self

    def __exit__(self, *exc):
        self.remove()
        if exc[0] is None and any(st.saturated is not None and bool(st.saturated.any())
                                  for st in self._stats.values()):
            import warnings

            warnings.warn(SaturationWarning(self.result().stats.saturation().text()), stacklevel=2)
        return False

    def remove(self):
        for h in self._handles:
            h.remove()
        self._handles.clear()

    def _wants_block(self, b: int) -> bool:
        if b in self._edits_by_block:
            return True
        c = self.capture
        return c is not None and (c.blocks is None or b in c.blocks or any(k[0] == b for k in c.keep))

    # -- where are we --------------------------------------------------------------------
    @property
    def step(self) -> int:
        return self._step

    @property
    def call_branch(self) -> str:
        br = self.layout.call_branches
        return br[min(self._in_step, len(br) - 1)]

    def _timestep(self, module, args, kwargs) -> torch.Tensor:
        name = self.adapter.timestep_input
        t = kwargs.get(name)
        if t is None:
            import inspect

            try:
                t = inspect.signature(module.forward).bind_partial(*args, **kwargs).arguments.get(name)
            except TypeError:
                t = None
        if t is None:
            raise RuntimeError(f"{type(module).__name__} was called without a {name}, so the calls of one "
                               "denoising step cannot be told apart: give the BatchLayout its calls_per_step")
        return torch.as_tensor(t).detach()

    def _count(self, module, args, kwargs) -> None:
        """Set the step and the place within the step of call number self._call.

        A layout with ``calls_per_step`` counts calls; a layout read from the run follows the
        timestep: a call at the previous call's time belongs to the same step, a new time
        starts the next step (so a pipeline that drops its unconditional call in late steps,
        Lumina2's or Z-Image's truncated guidance, is counted right).
        """
        if self.layout.calls_per_step is not None:
            self._step, self._in_step = divmod(self._call, self.layout.calls_per_step)
            return
        t = self._timestep(module, args, kwargs)
        if self._call == 0:
            self._step, self._in_step = 0, 0
        elif t.shape == self._step_t.shape and torch.equal(t, self._step_t):
            self._in_step += 1
        else:
            self._step, self._in_step = self._step + 1, 0
        self._step_t = t.clone()
        self._max_calls = max(self._max_calls, self._in_step + 1)

    def _pre(self, module, args, kwargs):
        self._call += 1
        self._tokens = self.adapter.read_tokens(module, args, kwargs)
        self._count(module, args, kwargs)
        if self.num_steps is not None and self.step >= self.num_steps:
            raise RuntimeError(f"transformer called for step {self.step} but the run has {self.num_steps} steps")

    def _row_slices(self, batch: int) -> dict[str, slice]:
        """branch -> rows of this call's batch holding that branch, in prompt order (a batch of
        m x num_rows rows holds the first m of ``batch_branches``: OmniGen stacks a third,
        image-conditioned branch only when it is given input images)."""
        n = self.layout.num_rows
        self._batches.add(batch)
        branches = self.layout.batch_branches
        if len(branches) > 1 and batch % n == 0 and 2 <= batch // n <= len(branches):
            return {br: slice(i * n, (i + 1) * n) for i, br in enumerate(branches[:batch // n])}
        if batch != n:
            raise RuntimeError(f"transformer batch {batch} does not match {n} rows of layout {self.layout}")
        return {self.call_branch: slice(0, n)}

    # -- the block hook -------------------------------------------------------------------
    def _make_post(self, ref: BlockRef):
        def post(module, args, output):
            step = self.step
            img, txt = split_streams(output, ref.spec, self._tokens)
            branches = self._row_slices(img.shape[0])
            plans = [p for p in self._edits_by_block.get(ref.index, ())
                     if p.edit.steps is None or step in p.edit.steps]
            if plans:
                new = img.clone()
                for p in plans:
                    for sl in branches.values():
                        p.apply_(step, new[sl])  # in place on this branch's rows of the copy
                output = replace_image_stream(output, ref.spec, self._tokens, new)
                img = new
            c = self.capture
            if c is not None and "cond" in branches:
                sl = branches["cond"]
                if c.stats and (c.blocks is None or ref.index in c.blocks) and (c.steps is None or step in c.steps):
                    self._stats[(ref.index, step)] = _StreamStats(img[sl].detach())
                    if c.text and txt is not None:
                        self._text_stats[(ref.index, step)] = _StreamStats(txt[sl].detach())
                if (ref.index, step) in c.keep:
                    self._tensors[(ref.index, step)] = img[sl].detach().float().cpu().clone()
            return output if plans else None

        return post

    # -- results --------------------------------------------------------------------------
    def result(self) -> CaptureResult:
        return CaptureResult(self._assemble(self._stats), self._assemble(self._text_stats),
                             dict(self._tensors), self._call + 1, self.seen_layout())

    def seen_layout(self) -> BatchLayout:
        """The layout of the run so far: the calls per step (for a layout read from the run, the
        most calls any step made) and the batch branches seen."""
        lay = self.layout
        cps = lay.calls_per_step or max(self._max_calls, 1)
        calls = tuple(lay.call_branches[min(k, len(lay.call_branches) - 1)] for k in range(cps))
        m = max((b // lay.num_rows for b in self._batches if b % lay.num_rows == 0), default=1)
        batched = len(lay.batch_branches) > 1 and m >= 2
        return BatchLayout(lay.num_rows, cps, calls, lay.batch_branches[:m] if batched else ("cond",))

    def _assemble(self, store: dict) -> ChannelStats | None:
        if not store:
            return None
        any_stat = next(iter(store.values()))
        rows, width = any_stat.sum.shape
        nb = len(self.blocks)
        ns = max(s for _, s in store) + 1
        if self.num_steps is not None:
            ns = max(ns, self.num_steps)
        shape = (rows, nb, ns, width)
        am, ma, mx, mean, msq = (torch.full(shape, float("nan")) for _ in range(5))
        fp16 = any_stat.saturated is not None
        sat = torch.full(shape, float("nan")) if fp16 else None
        for (b, s), st in store.items():
            if fp16:
                sat[:, b, s] = (st.saturated / st.count).cpu()
            m = (st.sum / st.count).cpu()
            am[:, b, s] = m.abs()
            mean[:, b, s] = m
            ma[:, b, s] = (st.sum_abs / st.count).cpu()
            mx[:, b, s] = st.max_abs.cpu()
            msq[:, b, s] = (st.sum_sq / st.count).cpu()
        blocks = tuple(sorted({b for b, _ in store}))
        steps = tuple(sorted({s for _, s in store}))
        return ChannelStats(am, ma, mx, blocks, steps, mean=mean, meansq=msq, saturated=sat, dtype=any_stat.dtype)
