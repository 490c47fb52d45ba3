"""Capture and edit the image stream of every block, with plain PyTorch forward hooks.

Vocabulary (stable; tests pin it):

* **block** – global block number in execution order (see ``adapters.enumerate_blocks``);
* **step** – denoising step, 0 = first (noisiest) step;
* **row** – one prompt of the batch being generated (row i = prompts[i]); with
  classifier-free guidance the transformer sees each row once per branch (``cond`` and
  ``uncond``); statistics are taken on the ``cond`` branch, edits apply to both.

Statistics are streamed: for each (block, step) the hook keeps, per row and channel, the
float32 sum of x, sum of |x| and max |x| over image tokens, so memory is
O(rows x blocks x steps x channels), never O(tokens). Full image-token tensors are kept
only for the (block, step) pairs named in ``CaptureSpec.keep``.

An edit is data: an ``EditSpec`` (frozen dataclass) says what to do to which channels of
which blocks at which steps; ``Tracer`` applies it inside a ``with`` block and removes
every hook on exit, also when an exception is raised.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Mapping, Sequence

import torch
from torch import nn

from .adapters import BlockRef, enumerate_blocks, replace_image_stream, split_streams, adapter_for

OPS = ("zero", "replace", "mix")
STATISTICS = ("absmean", "meanabs", "maxabs")
STATISTIC_HELP = {
    "absmean": "|mean over image tokens| (the paper's score)",
    "meanabs": "mean over image tokens of |x|",
    "maxabs": "max over image tokens of |x|",
}


def _check_range(name: str, values, upper: int) -> None:
    for v in values:
        if not isinstance(v, (int,)) or isinstance(v, bool) or not 0 <= v < upper:
            raise ValueError(f"{name} {v!r} out of range: valid {name}s are 0..{upper - 1}")


@dataclass(frozen=True)
class EditSpec:
    """One intervention on the image stream.

    op:
      * ``"zero"``: x <- x * (1 - alpha M)   (alpha = 1 zeroes the channels)
      * ``"replace"``: x <- x (1 - M) + x_src M   (the paper's transport, alpha fixed at 1)
      * ``"mix"``: x <- x (1 - alpha M) + x_src alpha M, alpha in [0, 1]
    where M = p m^T: m the indicator of ``channels[block]``, p the ``token_mask`` (all ones
    when None). The source x_src is another row of the same batch (``source_rows``: a
    tuple of (target_row, source_row) pairs) or a recorded run (``recorded``: a mapping
    (block, step) -> tensor (rows or 1, tokens, channels), e.g. ``CaptureResult.tensors``).
    """

    op: str
    channels: Mapping[int, tuple[int, ...]]  # block -> channel indices
    steps: tuple[int, ...] | None = None  # None = every step
    alpha: float = 1.0
    token_mask: torch.Tensor | None = field(default=None, repr=False)  # (tokens,) or (rows, tokens)
    source_rows: tuple[tuple[int, int], ...] = ()
    recorded: Mapping[tuple[int, int], torch.Tensor] | None = field(default=None, repr=False)
    rows: tuple[int, ...] | None = None  # rows to edit for zero/recorded; None = all

    def __post_init__(self):
        if self.op not in OPS:
            raise ValueError(f"unknown op {self.op!r}; choose one of {OPS}")
        if not isinstance(self.alpha, (int, float)) or not 0.0 <= float(self.alpha) <= 1.0:
            raise ValueError(f"alpha {self.alpha!r} out of range: alpha must be in [0, 1]")
        if self.op == "replace" and self.alpha != 1.0:
            raise ValueError("op 'replace' is alpha = 1; use op 'mix' for another alpha")
        if self.op in ("replace", "mix") and not self.source_rows and self.recorded is None:
            raise ValueError(f"op {self.op!r} needs a source: source_rows=((target, source), ...) or recorded=...")
        if not self.channels:
            raise ValueError("EditSpec needs at least one block in channels={block: (channel, ...)}")
        object.__setattr__(self, "channels", {int(b): tuple(int(c) for c in cs) for b, cs in self.channels.items()})
        if self.steps is not None:
            object.__setattr__(self, "steps", tuple(int(s) for s in self.steps))

    @property
    def blocks(self) -> tuple[int, ...]:
        return tuple(sorted(self.channels))

    def summary(self) -> dict:
        """A JSON-able description (what a report or a notebook prints)."""
        return {"op": self.op, "alpha": self.alpha, "steps": list(self.steps) if self.steps is not None else "all",
                "channels": {str(b): list(c) for b, c in self.channels.items()},
                "token_mask": None if self.token_mask is None else list(self.token_mask.shape),
                "source_rows": [list(p) for p in self.source_rows],
                "recorded": self.recorded is not None}

    def validate(self, num_blocks: int, width: int, num_steps: int, num_rows: int, num_tokens: int | None = None):
        _check_range("block", self.blocks, num_blocks)
        for cs in self.channels.values():
            _check_range("channel", cs, width)
        if self.steps is not None:
            _check_range("step", self.steps, num_steps)
        for t, s in self.source_rows:
            _check_range("row", (t, s), num_rows)
        if self.rows is not None:
            _check_range("row", self.rows, num_rows)
        if self.token_mask is not None and (self.token_mask.dim() not in (1, 2)
                                            or (self.token_mask.dim() == 2 and self.token_mask.shape[0] != num_rows)):
            raise ValueError(f"token_mask has shape {tuple(self.token_mask.shape)}; valid shapes are (tokens,) or "
                             f"(rows, tokens) = ({num_rows}, {num_tokens if num_tokens is not None else 'tokens'})")
        if self.token_mask is not None and num_tokens is not None and self.token_mask.shape[-1] != num_tokens:
            raise ValueError(f"token_mask has {self.token_mask.shape[-1]} tokens; the model has {num_tokens} image tokens")


@dataclass(frozen=True)
class CaptureSpec:
    """What to record. blocks/steps None = all; keep = (block, step) pairs whose full
    image-token tensors (cond rows, float32, on CPU) are stored."""

    blocks: tuple[int, ...] | None = None
    steps: tuple[int, ...] | None = None
    text: bool = False  # also stream statistics of text tokens (two-stream models)
    keep: tuple[tuple[int, int], ...] = ()
    stats: bool = True


@dataclass(frozen=True)
class BatchLayout:
    """How the rows reach the transformer: how many calls per denoising step and, per call,
    which branch; ``batch_branches`` lists the branches stacked in one call's batch."""

    num_rows: int
    calls_per_step: int = 1
    call_branches: tuple[str, ...] = ("cond",)  # branch of call k within a step
    batch_branches: tuple[str, ...] = ("cond",)  # for cfg_layout "batch": ("uncond", "cond")


class _StreamStats:
    """Running per-row, per-channel sums for one (block, step)."""

    __slots__ = ("sum", "sum_abs", "max_abs", "count")

    def __init__(self, x: torch.Tensor):
        x = x.float()  # no copy when x is already float32
        a = x.abs()  # once, shared by sum |x| and max |x| (same results as two .abs() calls)
        self.sum = x.sum(1)
        self.sum_abs = a.sum(1)
        self.max_abs = a.amax(1)
        self.count = x.shape[1]


class ChannelStats:
    """Per-channel statistics of the image stream: tensors of shape (rows, blocks, steps, channels).

    Blocks/steps that were not captured are NaN. ``score(stat)`` reduces over rows and
    steps to (blocks, channels): the numbers channel ranking uses.
    """

    def __init__(self, absmean: torch.Tensor, meanabs: torch.Tensor, maxabs: torch.Tensor,
                 blocks: tuple[int, ...], steps: tuple[int, ...]):
        self.absmean, self.meanabs, self.maxabs = absmean, meanabs, maxabs
        self.blocks, self.steps = blocks, steps

    @property
    def shape(self):
        return tuple(self.absmean.shape)

    def get(self, stat: str) -> torch.Tensor:
        if stat not in STATISTICS:
            raise ValueError(f"unknown statistic {stat!r}; choose one of {STATISTICS}: "
                             + "; ".join(f"{k} = {v}" for k, v in STATISTIC_HELP.items()))
        return getattr(self, stat)

    def score(self, stat: str = "absmean", steps: Sequence[int] | None = None, rows: Sequence[int] | None = None):
        """(blocks, channels): the statistic averaged over rows and the given steps (max for maxabs)."""
        x = self.get(stat)
        if rows is not None:
            x = x[list(rows)]
        if steps is not None:
            missing = [s for s in steps if s not in self.steps]
            if missing:
                raise ValueError(f"steps {missing} were not captured; captured steps: {list(self.steps)}")
            x = x[:, :, list(steps)]
        if stat == "maxabs":  # max over the captured entries (steps not captured are NaN)
            m = x.masked_fill(x.isnan(), float("-inf")).amax(dim=(0, 2))
            return m.masked_fill(m == float("-inf"), float("nan"))
        return x.nanmean(dim=(0, 2))

    def ratio_table(self, steps: Sequence[int] | None = None) -> list[dict]:
        """Per block: top channels and top-1 / top-5 over median, for each statistic (Sun et al. style)."""
        rows = []
        am, ma, mx = self.score("absmean", steps), self.score("meanabs", steps), self.score("maxabs", steps)
        for b in self.blocks:
            srt = am[b].sort(descending=True)
            med = am[b].median()
            rows.append({
                "block": int(b),
                "top_channels": [int(c) for c in srt.indices[:5]],
                "top1_over_median_absmean": float(srt.values[0] / med),
                "top5_over_median_absmean": float(srt.values[:5].mean() / med),
                "top1_over_median_meanabs": float(ma[b].max() / ma[b].median()),
                # Sun et al.: max |x| against the median |x|; the median over channels of
                # mean |x| stands in for the median over all activations (not stored)
                "max_over_median": float(mx[b].max() / ma[b].median()),
            })
        return rows


@dataclass
class CaptureResult:
    stats: ChannelStats | None
    text_stats: ChannelStats | None
    tensors: dict[tuple[int, int], torch.Tensor]  # (block, step) -> (rows, tokens, channels)
    num_calls: int


class Tracer:
    """Install capture and edit hooks on a transformer for the duration of a ``with`` block.

    >>> with Tracer(transformer, layout, capture=CaptureSpec(), edits=[spec]) as tr:
    ...     run_the_sampler()
    >>> tr.result().stats.score("absmean")
    """

    def __init__(self, transformer: nn.Module, layout: BatchLayout, capture: CaptureSpec | None = None,
                 edits: Sequence[EditSpec] = (), num_steps: int | None = None):
        self.transformer = transformer
        self.adapter = adapter_for(transformer)
        self.blocks: list[BlockRef] = enumerate_blocks(transformer)
        self.layout = layout
        self.capture = capture
        self.edits = list(edits)
        self.num_steps = num_steps
        n = len(self.blocks)
        if capture is not None:
            _check_range("block", capture.blocks or (), n)
            for b, s in capture.keep:
                _check_range("block", (b,), n)
                if num_steps is not None:
                    _check_range("step", (s,), num_steps)
            if capture.steps is not None and num_steps is not None:
                _check_range("step", capture.steps, num_steps)
        for e in self.edits:  # an edit of a block or step that never runs would silently do nothing
            _check_range("block", e.blocks, n)
            if e.steps is not None and num_steps is not None:
                _check_range("step", e.steps, num_steps)
        self._handles: list = []
        self._call = -1
        self._text_len: int | None = None
        self._stats: dict[tuple[int, int], _StreamStats] = {}
        self._text_stats: dict[tuple[int, int], _StreamStats] = {}
        self._tensors: dict[tuple[int, int], torch.Tensor] = {}
        self._edits_by_block: dict[int, list[EditSpec]] = {}
        for e in self.edits:
            for b in e.blocks:
                self._edits_by_block.setdefault(b, []).append(e)

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
        return self._call // self.layout.calls_per_step

    @property
    def call_branch(self) -> str:
        return self.layout.call_branches[self._call % self.layout.calls_per_step]

    def _pre(self, module, args, kwargs):
        self._call += 1
        ti = self.adapter.text_input
        txt = kwargs.get(ti) if ti else None
        if txt is None and ti and len(args) > 1 and isinstance(args[1], torch.Tensor):
            txt = args[1]
        self._text_len = txt.shape[1] if isinstance(txt, torch.Tensor) else None
        if self.num_steps is not None and self.step >= self.num_steps:
            raise RuntimeError(f"transformer called for step {self.step} but the run has {self.num_steps} steps")

    def _row_slices(self, batch: int) -> dict[str, slice]:
        """branch -> rows of this call's batch holding that branch, in prompt order."""
        n = self.layout.num_rows
        if len(self.layout.batch_branches) > 1 and batch == n * len(self.layout.batch_branches):
            return {br: slice(i * n, (i + 1) * n) for i, br in enumerate(self.layout.batch_branches)}
        if batch != n:
            raise RuntimeError(f"transformer batch {batch} does not match {n} rows of layout {self.layout}")
        return {self.call_branch: slice(0, n)}

    # -- the block hook -------------------------------------------------------------------
    def _make_post(self, ref: BlockRef):
        def post(module, args, output):
            step = self.step
            img, txt = split_streams(output, ref.spec, self._text_len)
            branches = self._row_slices(img.shape[0])
            edits = [e for e in self._edits_by_block.get(ref.index, ()) if e.steps is None or step in e.steps]
            if edits:
                new = img.clone()
                for e in edits:
                    for br, sl in branches.items():
                        new[sl] = self._apply(e, ref.index, step, new[sl], br)
                output = replace_image_stream(output, ref.spec, self._text_len, new)
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
            return output if edits else None

        return post

    def _apply(self, e: EditSpec, block: int, step: int, x: torch.Tensor, branch: str) -> torch.Tensor:
        """Return x (rows, tokens, channels) edited by e; rows are in prompt order."""
        ch = torch.tensor(e.channels[block], dtype=torch.long, device=x.device)
        m = torch.zeros(x.shape[-1], dtype=x.dtype, device=x.device)
        m[ch] = 1
        p = torch.ones(x.shape[0], x.shape[1], 1, dtype=x.dtype, device=x.device)
        if e.token_mask is not None:
            tm = e.token_mask.to(device=x.device, dtype=x.dtype)
            p = (tm.expand(x.shape[0], -1) if tm.dim() == 1 else tm)[..., None].clone()
        M = p * m  # (rows, tokens, channels)
        a = float(e.alpha)
        if e.rows is not None and not e.source_rows:  # source_rows already names its targets
            keep = torch.zeros(x.shape[0], 1, 1, dtype=x.dtype, device=x.device)
            keep[list(e.rows)] = 1
            M = M * keep
        if e.op == "zero":
            return x * (1 - a * M)
        if e.recorded is not None:
            if (block, step) not in e.recorded:
                return x
            src = e.recorded[(block, step)].to(device=x.device, dtype=x.dtype).expand_as(x)
            return x * (1 - a * M) + src * (a * M)
        out = x.clone()
        for t, s in e.source_rows:
            out[t] = x[t] * (1 - a * M[t]) + x[s] * (a * M[t])
        return out

    # -- results --------------------------------------------------------------------------
    def result(self) -> CaptureResult:
        return CaptureResult(self._assemble(self._stats), self._assemble(self._text_stats),
                             dict(self._tensors), self._call + 1)

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
        am, ma, mx = (torch.full(shape, float("nan")) for _ in range(3))
        for (b, s), st in store.items():
            am[:, b, s] = (st.sum / st.count).abs().cpu()
            ma[:, b, s] = (st.sum_abs / st.count).cpu()
            mx[:, b, s] = st.max_abs.cpu()
        blocks = tuple(sorted({b for b, _ in store}))
        steps = tuple(sorted({s for _, s in store}))
        return ChannelStats(am, ma, mx, blocks, steps)


def hooks_installed(module: nn.Module) -> int:
    """How many forward / pre-forward hooks are attached anywhere in module (tests use it)."""
    return sum(len(m._forward_hooks) + len(m._forward_pre_hooks) for m in module.modules())
