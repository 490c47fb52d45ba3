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

Statistics are streamed: for each (block, step) the hook keeps, per row and channel, the
float32 sum of x, sum of |x|, sum of x^2 and max |x| over image tokens, so memory is
O(rows x blocks x steps x channels), never O(tokens). Full image-token tensors are kept
only for the (block, step) pairs named in ``CaptureSpec.keep``.

An edit is data: an ``EditSpec`` (frozen dataclass) says what to do to which channels of
which blocks at which steps; ``Tracer`` applies it inside a ``with`` block and removes
every hook on exit, also when an exception is raised.

Validation: ``EditSpec`` and ``CaptureSpec`` check types and values when they are built
(floats and bools are never indices; alpha and token-mask values are finite and in
[0, 1]); ``Tracer`` checks the ranges against the transformer (blocks), the run (steps)
and the batch (rows) once, before any hook is installed. Hook code trusts both.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Mapping, Sequence

import torch
from torch import nn

from .adapters import BlockRef, CallTokens, adapter_for, enumerate_blocks, replace_image_stream, split_streams
from .checks import WrongType, check_bool, check_finite, check_index, check_indices, check_int, is_int, valid_range

#: the edit operations; "replace" is accepted as an alias of "mix" at alpha 1
OPS = ("zero", "mix", "set")
OP_ALIASES = {"replace": "mix"}
STATISTICS = ("absmean", "meanabs", "maxabs")
#: float16's largest finite value (65,504)
FP16_MAX = float(torch.finfo(torch.float16).max)
#: in a float16 run, an activation with |x| at or above this level (99% of ``FP16_MAX``), or not
#: finite, counts as saturated: diffusers clips some models' hidden states to +-65,504 in float16
#: (FLUX), and a value past it overflows to inf, so such a value is the dtype's, not the model's
SATURATION_LEVEL = 0.99 * FP16_MAX
#: the massive set of a block: the channels whose |mean over image tokens| is at least r times the
#: block's median channel's (10x here; 100x to compare with the ~1000x of large models)
MASSIVE_SET_RATIOS = (10, 100)
STATISTIC_HELP = {
    "absmean": "|mean over image tokens| (the paper's score)",
    "meanabs": "mean over image tokens of |x|",
    "maxabs": "max over image tokens of |x|",
}


def _check_range(name: str, values, upper: int) -> None:
    """Range check of already type-checked indices (the Tracer's once-per-run check)."""
    for v in values:
        if not 0 <= v < upper:
            raise ValueError(f"{name} {v} out of range: {valid_range(name, upper)}")


def _index_tuple(name: str, values, allow_empty: bool = False) -> tuple[int, ...]:
    return check_indices(name, values, None, allow_empty=allow_empty)


def _pairs(name: str, values, what: str) -> tuple[tuple[int, int], ...]:
    """A sequence of (a, b) int pairs, e.g. source_rows=((0, 1),) or keep=((3, 2),)."""
    example = {"source_rows": "((target_row, source_row), ...), e.g. ((0, 1),)",
               "keep": "((block, step), ...), e.g. ((3, 2),)"}[name]
    if isinstance(values, (str, bytes)) or is_int(values) or not isinstance(values, (list, tuple)):
        raise WrongType(f"{name} must be a tuple of pairs {example}, not {values!r}")
    out = []
    for p in values:
        if isinstance(p, (str, bytes)) or not isinstance(p, (list, tuple)) or len(p) != 2:
            raise WrongType(f"{name} must be a tuple of pairs {example}; {p!r} is not a pair")
        out.append((check_index(what[0], p[0]), check_index(what[1], p[1])))
    return tuple(out)


def _check_token_mask(tm) -> torch.Tensor | None:
    if tm is None:
        return None
    if not isinstance(tm, torch.Tensor):
        raise WrongType(f"token_mask must be a torch tensor of shape (tokens,) or (rows, tokens) with values in "
                        f"[0, 1], got {type(tm).__name__}")
    if tm.dtype != torch.bool and not tm.is_floating_point():
        raise WrongType(f"token_mask has dtype {tm.dtype}: give bool or float values in [0, 1] "
                        "(1 = edit the token, 0 = leave it)")
    if tm.dim() not in (1, 2):
        raise ValueError(f"token_mask has shape {tuple(tm.shape)}; valid shapes are (tokens,) or (rows, tokens)")
    if tm.is_floating_point():
        v = tm.detach().float()
        if not torch.isfinite(v).all():
            raise ValueError("token_mask has NaN or infinite values: token-mask values must be finite, in [0, 1] "
                             "(1 = edit the token, 0 = leave it)")
        if v.numel() and (v.min() < 0 or v.max() > 1):
            raise ValueError(f"token_mask values range over [{float(v.min()):g}, {float(v.max()):g}]: token-mask "
                             "values must be in [0, 1] (1 = edit the token, 0 = leave it)")
    return tm


def _check_values(v, channels: Mapping[int, tuple[int, ...]], steps: tuple[int, ...] | None) -> None:
    """The "set" table: a float (blocks, steps, channels) tensor, finite where the edit reads it."""
    if v is None:
        raise ValueError("op 'set' needs values=: a float tensor (blocks, steps, channels), e.g. "
                         "calibration.stats.channel_mean() for mean ablation")
    if not isinstance(v, torch.Tensor) or not v.is_floating_point() or v.dim() != 3:
        shape = f" of shape {tuple(v.shape)}, dtype {v.dtype}" if isinstance(v, torch.Tensor) else ""
        raise WrongType(f"values must be a float tensor (blocks, steps, channels), got {type(v).__name__}{shape}")
    for b, cs in channels.items():
        if b >= v.shape[0] or max(cs) >= v.shape[2]:
            raise ValueError(f"values has shape {tuple(v.shape)}: no entry for block {b}, channels {list(cs)}")
        ss = list(range(v.shape[1])) if steps is None else list(steps)
        if ss and max(ss) >= v.shape[1]:
            raise ValueError(f"values has {v.shape[1]} steps; the edit acts at step {max(ss)}")
        sub = v[b][ss][:, list(cs)]
        if not torch.isfinite(sub).all():
            raise ValueError(f"values of block {b} are NaN or infinite at some selected (step, channel): were those "
                             "steps captured? (calibrate with the run's num_steps)")


@dataclass(frozen=True)
class EditSpec:
    """One intervention on the image stream.

    op:
      * ``"zero"``: x <- x (1 - alpha M)   (alpha = 1 zeroes the channels)
      * ``"mix"``: x <- x (1 - alpha M) + x_src alpha M, alpha in [0, 1] (alpha = 1
        replaces the channels by the source's: the paper's transport)
      * ``"replace"``: an alias of ``"mix"`` at alpha 1, normalised to ``op="mix"``
      * ``"set"``: x <- x (1 - alpha M) + v alpha M, v = ``values[block, step]`` at the
        selected channels (alpha = 1 sets them to v: with v the calibration mean of the
        channel at that block and step, this is mean ablation, Sun et al. 2024; v = 0 is
        ``"zero"``)
    where M = p m^T: m the indicator of ``channels[block]``, p the ``token_mask`` (all ones
    when None). The source x_src is another row of the same batch (``source_rows``: a
    tuple of (target_row, source_row) pairs) or a recorded run (``recorded``: a mapping
    (block, step) -> tensor (rows or 1, tokens, channels), e.g. ``CaptureResult.tensors``).

    Args:
        op: "zero" or "mix" ("replace" = "mix" with alpha 1).
        channels: {block: (channel, ...)}, ints only, at least one block and one channel each.
        steps: step indices (a tuple of ints) or None for every step.
        alpha: a finite number in [0, 1].
        token_mask: None, or a bool/float tensor (tokens,) or (rows, tokens) with values in [0, 1].
        source_rows: ((target_row, source_row), ...) for "mix" from the same batch.
        recorded: {(block, step): tensor} for "mix" from a recorded run.
        rows: the rows a "zero", "set" or recorded "mix" edits (None = all; source_rows name their targets).
        values: for "set" only, a float tensor (blocks, steps, channels) of the values to set,
          e.g. ``ChannelStats.channel_mean()``; finite at every selected (block, step, channel).

    Types and values are checked here; ranges (blocks, channels, steps, rows, tokens)
    against the model and run by ``validate``, which ``Tracer`` calls.
    """

    op: str
    channels: Mapping[int, tuple[int, ...]]  # block -> channel indices
    steps: tuple[int, ...] | None = None  # None = every step
    alpha: float = 1.0
    token_mask: torch.Tensor | None = field(default=None, repr=False)  # (tokens,) or (rows, tokens)
    source_rows: tuple[tuple[int, int], ...] = ()
    recorded: Mapping[tuple[int, int], torch.Tensor] | None = field(default=None, repr=False)
    rows: tuple[int, ...] | None = None  # rows to edit for zero/set/recorded; None = all
    values: torch.Tensor | None = field(default=None, repr=False)  # "set": (blocks, steps, channels)

    def __post_init__(self):
        op = self.op
        if not isinstance(op, str) or (op not in OPS and op not in OP_ALIASES):
            raise ValueError(f"unknown op {op!r}; choose one of {OPS} ('replace' = 'mix' with alpha 1)")
        alpha = check_finite("alpha", self.alpha, 0.0, 1.0)
        if op == "replace":
            if alpha != 1.0:
                raise ValueError(f"op 'replace' is 'mix' with alpha 1, but alpha is {self.alpha!r}: use op 'mix' "
                                 "for another alpha")
            op = "mix"
        if not isinstance(self.channels, Mapping):
            raise WrongType(f"channels must be a dict {{block: (channel, ...)}}, e.g. {{3: (5, 9)}}, "
                            f"got {type(self.channels).__name__}")
        if not self.channels:
            raise ValueError("EditSpec needs at least one block in channels={block: (channel, ...)}")
        channels = {}
        for b, cs in self.channels.items():
            b = check_index("block", b)
            channels[b] = _index_tuple("channel", cs)
            if len(set(channels[b])) != len(channels[b]):
                raise ValueError(f"channels of block {b} contain duplicates: {list(channels[b])}")
        steps = None if self.steps is None else _index_tuple("step", self.steps)
        source_rows = _pairs("source_rows", self.source_rows, ("row", "row"))
        targets = [t for t, _ in source_rows]
        if len(set(targets)) != len(targets):
            raise ValueError(f"source_rows {list(source_rows)} name a target row twice: each target takes one source")
        rows = None if self.rows is None else _index_tuple("row", self.rows)
        recorded = self.recorded
        if recorded is not None:
            if not isinstance(recorded, Mapping):
                raise WrongType("recorded must be a dict {(block, step): tensor (rows or 1, tokens, channels)}, e.g. "
                                "CaptureResult.tensors")
            for key, t in recorded.items():
                _pairs("keep", (key,), ("block", "step"))
                if not isinstance(t, torch.Tensor) or t.dim() != 3:
                    raise WrongType(f"recorded[{key!r}] must be a tensor (rows or 1, tokens, channels)")
        if op == "mix" and not source_rows and recorded is None:
            raise ValueError(f"op {self.op!r} needs a source: source_rows=((target, source), ...) or recorded=...")
        if source_rows and recorded is not None:
            raise ValueError("give source_rows or recorded, not both: an edit has one source")
        if op in ("zero", "set") and (source_rows or recorded is not None):
            raise ValueError(f"op {op!r} takes no source: drop source_rows/recorded, or use op 'mix'")
        if op == "set":
            _check_values(self.values, channels, steps)
        elif self.values is not None:
            raise ValueError(f"values= is for op 'set' only (op is {op!r}): drop it, or use op 'set'")
        for name, v in (("op", op), ("alpha", alpha), ("channels", channels), ("steps", steps),
                        ("token_mask", _check_token_mask(self.token_mask)), ("source_rows", source_rows),
                        ("rows", rows)):
            object.__setattr__(self, name, v)

    @property
    def blocks(self) -> tuple[int, ...]:
        return tuple(sorted(self.channels))

    def summary(self) -> dict:
        """A JSON-able description (what a report or a notebook prints)."""
        return {"op": self.op, "alpha": self.alpha, "steps": list(self.steps) if self.steps is not None else "all",
                "channels": {str(b): list(c) for b, c in self.channels.items()},
                "token_mask": None if self.token_mask is None else list(self.token_mask.shape),
                "source_rows": [list(p) for p in self.source_rows],
                "recorded": self.recorded is not None,
                "values": None if self.values is None else list(self.values.shape)}

    def validate(self, num_blocks: int, width: int | None = None, num_steps: int | None = None,
                 num_rows: int | None = None, num_tokens: int | None = None) -> None:
        """Check the ranges against a model and a run (None = not known, not checked).

        Args:
            num_blocks: the transformer's blocks.
            width: channels of the image stream.
            num_steps: denoising steps of the run.
            num_rows: rows of the batch.
            num_tokens: image tokens per row.
        Raises:
            ValueError naming the valid range.
        """
        _check_range("block", self.blocks, num_blocks)
        if width is not None:
            for cs in self.channels.values():
                _check_range("channel", cs, width)
        if self.steps is not None and num_steps is not None:
            _check_range("step", self.steps, num_steps)
        if num_rows is not None:
            for t, s in self.source_rows:
                _check_range("row", (t, s), num_rows)
            if self.rows is not None:
                _check_range("row", self.rows, num_rows)
        tm = self.token_mask
        if tm is not None and num_rows is not None and tm.dim() == 2 and tm.shape[0] != num_rows:
            raise ValueError(f"token_mask has shape {tuple(tm.shape)}; valid shapes are (tokens,) or "
                             f"(rows, tokens) = ({num_rows}, {num_tokens if num_tokens is not None else 'tokens'})")
        if tm is not None and num_tokens is not None and tm.shape[-1] != num_tokens:
            raise ValueError(f"token_mask has {tm.shape[-1]} tokens; the model has {num_tokens} image tokens")
        v = self.values
        if v is not None:
            want = (num_blocks, num_steps if num_steps is not None else v.shape[1], width or v.shape[2])
            if tuple(v.shape) != want:
                raise ValueError(f"values has shape {tuple(v.shape)}; valid shape is (blocks, steps, channels) = "
                                 f"{want}: one value per block, denoising step and channel of this model and run "
                                 "(a calibration with the same num_steps)")
        for (b, s), t in (self.recorded or {}).items():
            want = (num_rows if num_rows is not None else t.shape[0], num_tokens or t.shape[1], width or t.shape[2])
            if t.shape[0] not in (1, want[0]) or tuple(t.shape[1:]) != want[1:]:
                raise ValueError(f"recorded[({b}, {s})] has shape {tuple(t.shape)}; valid shapes are "
                                 f"(rows or 1, tokens, channels) = ({want[0]} or 1, {want[1]}, {want[2]})")


@dataclass(frozen=True)
class CaptureSpec:
    """What to record.

    Args:
        blocks: block numbers whose statistics are streamed (a tuple of ints; None = all;
          () = none, e.g. when only ``keep`` is wanted).
        steps: step indices to record (a tuple of ints; None = all).
        text: also stream statistics of the text tokens (two-stream models).
        keep: (block, step) pairs whose full image-token tensors (cond rows, float32, on
          CPU) are stored.
        stats: stream statistics at all (False: only ``keep``).
    """

    blocks: tuple[int, ...] | None = None
    steps: tuple[int, ...] | None = None
    text: bool = False
    keep: tuple[tuple[int, int], ...] = ()
    stats: bool = True

    def __post_init__(self):
        if self.blocks is not None:
            object.__setattr__(self, "blocks", _index_tuple("block", self.blocks, allow_empty=True))
        if self.steps is not None:
            object.__setattr__(self, "steps", _index_tuple("step", self.steps, allow_empty=True))
        object.__setattr__(self, "keep", _pairs("keep", self.keep, ("block", "step")))
        check_bool("text", self.text)
        check_bool("stats", self.stats)
        if not self.keep and (self.blocks == () or self.steps == () or not self.stats):
            raise ValueError("this CaptureSpec records nothing (no block, no step or stats=False, and nothing to keep): "
                             "blocks=None and steps=None capture every block and step; keep=((block, step), ...) "
                             "keeps full tensors; or pass capture=None")

    def validate(self, num_blocks: int, num_steps: int | None = None) -> None:
        """Check block and step ranges (num_steps None: steps not checked).

        Raises:
            ValueError naming the valid range.
        """
        _check_range("block", self.blocks or (), num_blocks)
        for b, s in self.keep:
            _check_range("block", (b,), num_blocks)
            if num_steps is not None:
                _check_range("step", (s,), num_steps)
        if self.steps is not None and num_steps is not None:
            _check_range("step", self.steps, num_steps)


@dataclass(frozen=True)
class BatchLayout:
    """How the rows reach the transformer: how many calls per denoising step and, per call,
    which branch; ``batch_branches`` lists the branches stacked in one call's batch.

    ``calls_per_step=None`` reads the layout from the run (``BatchLayout.from_run``): the
    calls of step 0 are the calls that share its timestep, and their number is the calls
    per step of the whole run; a call of 2 x num_rows rows holds ``batch_branches``
    stacked, a call of num_rows rows holds the branch ``call_branches[k]`` of its place k
    in the step (the last entry for any later call).
    """

    num_rows: int
    calls_per_step: int | None = 1  # None: counted from the run's timesteps
    call_branches: tuple[str, ...] = ("cond",)  # branch of call k within a step
    batch_branches: tuple[str, ...] = ("cond",)  # for batched CFG: ("uncond", "cond")

    @classmethod
    def from_run(cls, num_rows: int, batch_branches: tuple[str, ...] = ("uncond", "cond")) -> "BatchLayout":
        """The layout diffusers pipelines use, with the calls of each step read from the run
        (a call at a new timestep starts a step): batched CFG stacks ``batch_branches`` in one
        call ([uncond; cond] for SD3, SANA, PixArt; [cond; uncond] for DiT, Lumina-Next,
        Z-Image: ``adapters.Adapter.batch_branches``); separate calls come cond first, then
        uncond (Qwen-Image, FLUX.1 true CFG, FLUX.2-klein base)."""
        return cls(num_rows, calls_per_step=None, call_branches=("cond", "uncond"),
                   batch_branches=tuple(batch_branches))


#: image tokens upcast to float32 at a time by the statistics: a block output of 4,096 tokens
#: x 3,072 channels in bfloat16 never has a float32 copy (nor |x|, x^2 copies) of its own,
#: only 256-token slices of one; the sums are those of the whole tensor to float32 rounding
#: (bit for bit on this CPU build, where a reduction over tokens also runs in 256-token blocks)
STATS_CHUNK_TOKENS = 256


class _StreamStats:
    """Running per-row, per-channel sums for one (block, step), in float32 whatever x's dtype.

    x (rows, tokens, channels) is read ``STATS_CHUNK_TOKENS`` tokens at a time: each slice is
    upcast, its sums are added to the running ones and its maximum taken, so the extra memory
    is a few slices, not copies of the whole output.
    """

    __slots__ = ("sum", "sum_abs", "sum_sq", "max_abs", "count", "saturated", "dtype")

    def __init__(self, x: torch.Tensor, chunk: int = STATS_CHUNK_TOKENS):
        self.sum = self.sum_abs = self.sum_sq = self.max_abs = None
        # float16 only: per row and channel, the tokens at fp16's limit (SATURATION_LEVEL) or not finite
        self.saturated = None
        self.dtype = str(x.dtype).removeprefix("torch.")
        fp16 = x.dtype == torch.float16
        for part in x.split(chunk, dim=1):
            f = part.float()  # no copy when x is already float32
            a = f.abs()  # once, shared by sum |x| and max |x|
            s, sa, mx, sq = f.sum(1), a.sum(1), a.amax(1), (f * f).sum(1)
            sat = (~(a < SATURATION_LEVEL)).sum(1, dtype=torch.float32) if fp16 else None  # NaN counts too
            if self.sum is None:
                self.sum, self.sum_abs, self.max_abs, self.sum_sq, self.saturated = s, sa, mx, sq, sat
            else:
                self.sum += s
                self.sum_abs += sa
                self.sum_sq += sq
                torch.maximum(self.max_abs, mx, out=self.max_abs)
                if fp16:
                    self.saturated += sat
        self.count = x.shape[1]


class ChannelStats:
    """Per-channel statistics of the image stream: tensors of shape (rows, blocks, steps, channels).

    Blocks/steps that were not captured are NaN. ``score(stat)`` reduces over rows and
    steps to (blocks, channels): the numbers channel ranking uses.

    The moments ``mean`` (signed mean over image tokens) and ``meansq`` (mean over image
    tokens of x^2), same shape, float32, are there for captures made by ``Tracer`` (None for
    statistics built by hand without them); ``channel_mean`` (the values of mean ablation),
    ``energy`` (squared activation per channel) and ``severity`` (gamma = ||mu|| / ||sigma||)
    read them.

    ``dtype`` is the dtype the image stream had in the run ("float16", "bfloat16", ...; None
    when unknown); in a float16 run ``saturated`` (same shape) holds the share of image
    tokens at fp16's limit (``SATURATION_LEVEL``) or not finite, and ``saturation()`` says
    where (None in any other dtype, whose range holds the values).
    """

    def __init__(self, absmean: torch.Tensor, meanabs: torch.Tensor, maxabs: torch.Tensor,
                 blocks: tuple[int, ...], steps: tuple[int, ...], mean: torch.Tensor | None = None,
                 meansq: torch.Tensor | None = None, saturated: torch.Tensor | None = None,
                 dtype: str | None = None):
        self.absmean, self.meanabs, self.maxabs = absmean, meanabs, maxabs
        self.blocks, self.steps = blocks, steps
        for name, t in (("mean", mean), ("meansq", meansq), ("saturated", saturated)):
            if t is not None and tuple(t.shape) != tuple(absmean.shape):
                raise ValueError(f"{name} has shape {tuple(t.shape)}; the statistics are {tuple(absmean.shape)} "
                                 "(rows, blocks, steps, channels)")
        self.mean, self.meansq = mean, meansq
        self.saturated, self.dtype = saturated, dtype

    def to_dict(self) -> dict:
        """The statistics as plain data (tensors, lists), for ``torch.save`` and ``from_dict``."""
        return {"absmean": self.absmean, "meanabs": self.meanabs, "maxabs": self.maxabs, "mean": self.mean,
                "meansq": self.meansq, "saturated": self.saturated, "dtype": self.dtype,
                "blocks": list(self.blocks), "steps": list(self.steps)}

    @classmethod
    def from_dict(cls, d: dict) -> "ChannelStats":
        """The statistics ``to_dict`` wrote (the same tensors)."""
        return cls(d["absmean"], d["meanabs"], d["maxabs"], tuple(d["blocks"]), tuple(d["steps"]),
                   mean=d.get("mean"), meansq=d.get("meansq"), saturated=d.get("saturated"), dtype=d.get("dtype"))

    def saturation(self) -> "Saturation":
        """Where a float16 run's activations sat at fp16's limit (see ``Saturation``).

        Returns:
            a ``Saturation``; ``.found`` is False in any dtype but float16, and in a float16
            run whose captured values all stayed below ``SATURATION_LEVEL``.
        """
        if self.saturated is None:
            return Saturation(self.dtype, ())
        share = self.saturated.nan_to_num(0.0)  # (rows, blocks, steps, channels)
        per_channel = share.amax(dim=(0, 2))  # (blocks, channels): the worst row and step
        found = []
        for b in self.blocks:
            channels = (per_channel[b] > 0).nonzero().flatten()
            if len(channels):
                order = per_channel[b, channels].argsort(descending=True)
                found.append({"block": int(b), "channels": [int(c) for c in channels[order]],
                              "max_token_share": float(per_channel[b].max()),
                              "steps": [int(s) for s in self.steps if bool((share[:, b, s] > 0).any())]})
        return Saturation(self.dtype, tuple(found))

    @property
    def has_moments(self) -> bool:
        """Whether the signed mean and the mean of x^2 were captured (``Tracer`` captures both)."""
        return self.mean is not None and self.meansq is not None

    def _moments(self, what: str):
        if not self.has_moments:
            raise ValueError(f"{what} needs the streamed moments (signed mean and mean of x^2 over image tokens), "
                             "which these statistics lack: capture them with massact.calibrate / generate(capture=...)")
        return self.mean, self.meansq

    def _reduce_rows_steps(self, x: torch.Tensor, steps, rows) -> torch.Tensor:
        if rows is not None:
            x = x[list(check_indices("row", rows, x.shape[0]))]
        if steps is not None:
            steps = check_indices("step", steps)
            missing = [s for s in steps if s not in self.steps]
            if missing:
                raise ValueError(f"steps {missing} were not captured; captured steps: {list(self.steps)}")
            x = x[:, :, list(steps)]
        return x

    def channel_mean(self, rows: Sequence[int] | None = None) -> torch.Tensor:
        """(blocks, steps, channels) float32: the signed mean over image tokens, averaged over
        rows, per block and step (NaN where not captured): the values of mean ablation
        (``EditSpec("set", values=...)``).

        Args:
            rows: rows to average over (None = all).
        """
        mean, _ = self._moments("channel_mean")
        return self._reduce_rows_steps(mean, None, rows).nanmean(dim=0).float()

    def energy(self, steps: Sequence[int] | None = None, rows: Sequence[int] | None = None) -> torch.Tensor:
        """(blocks, channels) float32: the mean over image tokens of x^2, averaged over rows and
        the given steps (None = all captured): each channel's squared activation.

        Args:
            steps: captured steps to average over (None = all).
            rows: rows to average over (None = all).
        """
        _, msq = self._moments("energy")
        return self._reduce_rows_steps(msq, steps, rows).nanmean(dim=(0, 2)).float()

    def severity(self, steps: Sequence[int] | None = None, rows: Sequence[int] | None = None) -> torch.Tensor:
        """(blocks, channels) float32: the outlier severity gamma = ||mu|| / ||sigma|| of each
        channel (Simon et al. 2026), mu and sigma its mean and standard deviation over the image
        tokens of one row and step, the norms taken over the (row, step) contexts. gamma >> 1:
        the channel is a near-constant offset at every token; gamma << 1: its mean is small
        against its spread. A channel with no spread at all gets inf.

        Args:
            steps: captured steps (None = all).
            rows: rows (None = all).
        """
        mean, msq = self._moments("severity")
        mu = self._reduce_rows_steps(mean, steps, rows).double()
        var = (self._reduce_rows_steps(msq, steps, rows).double() - mu * mu).clamp_min(0)
        num = torch.nansum(mu * mu, dim=(0, 2)).sqrt()
        den = torch.nansum(var, dim=(0, 2)).sqrt()
        out = torch.where(den > 0, num / den.clamp_min(1e-300), torch.full_like(num, float("inf")))
        captured = (~mu.isnan()).any(dim=2).any(dim=0)
        return out.masked_fill(~captured, float("nan")).float()

    def energy_share(self, k: int, stat: str = "absmean", steps: Sequence[int] | None = None) -> torch.Tensor:
        """(blocks,) float32: the share of the image stream's squared norm held by the top-k
        channels (ranked by ``score(stat, steps)``), pooled over tokens, rows and steps:
        sum over top-k of ``energy`` / sum over all channels. (The mean over tokens of each
        token's share needs the tokens: ``massact.ranking.token_energy_share``.)

        Args:
            k: channels, 1..width.
            stat: the ranking statistic.
            steps: captured steps (None = all).
        """
        e = self.energy(steps)
        k = check_int("k", k, 1, e.shape[1], what="the number of channels")
        sc = self.score(stat, steps)
        out = torch.full((e.shape[0],), float("nan"))
        for b in self.blocks:
            top = sc[b].topk(k).indices
            out[b] = e[b, top].sum() / e[b].sum().clamp_min(1e-30)
        return out

    @property
    def shape(self):
        return tuple(self.absmean.shape)

    def get(self, stat: str) -> torch.Tensor:
        if stat not in STATISTICS:
            raise ValueError(f"unknown statistic {stat!r}; choose one of {STATISTICS}: "
                             + "; ".join(f"{k} = {v}" for k, v in STATISTIC_HELP.items()))
        return getattr(self, stat)

    def score(self, stat: str = "absmean", steps: Sequence[int] | None = None, rows: Sequence[int] | None = None):
        """(blocks, channels): the statistic averaged over rows and the given steps (max for maxabs).

        Args:
            stat: one of ``STATISTICS``.
            steps: step indices to reduce over (a sequence of captured steps; None = all captured).
            rows: rows to reduce over (a sequence of ints; None = all).
        Returns:
            a float32 tensor (blocks, channels), NaN for blocks that were not captured.
        """
        x = self._reduce_rows_steps(self.get(stat), steps, rows)
        if stat == "maxabs":  # max over the captured entries (steps not captured are NaN)
            m = x.masked_fill(x.isnan(), float("-inf")).amax(dim=(0, 2))
            return m.masked_fill(m == float("-inf"), float("nan"))
        return x.nanmean(dim=(0, 2))

    def step_profile(self, stat: str = "absmean") -> list[dict]:
        """The timestep profile: per captured step, each block's top-1 / median ratio of ``stat``
        at that step, and the value at that step of the block's top channel (pooled over every
        step, the channel the claims rank first).

        Args:
            stat: one of ``STATISTICS``.
        Returns:
            one dict per captured step, in sampling order (step 0 = pure noise):
            {"step", "top1_over_median": [per block], "top_channel": [per block],
            "top_channel_value": [per block]}; NaN for blocks not captured.
        """
        pooled = self.score(stat)
        top = pooled.nan_to_num(float("-inf")).argmax(dim=1)
        out = []
        for st in self.steps:
            sc = self.score(stat, steps=[st])
            srt = sc.sort(dim=1, descending=True).values
            med = sc.median(dim=1).values
            out.append({"step": int(st),
                        "top1_over_median": [float(v) for v in srt[:, 0] / med],
                        "top_channel": [int(c) for c in top],
                        "top_channel_value": [float(sc[b, c]) for b, c in enumerate(top)]})
        return out

    def ratio_table(self, steps: Sequence[int] | None = None, k: int = 8) -> list[dict]:
        """Per block: top channels and top-1 / top-5 over median, for each statistic (Sun et al. style),
        the size of the massive set (``massive_set_{r}x``: how many channels are at least r times the
        block's median channel by |mean over image tokens|, r in ``MASSIVE_SET_RATIOS``);
        with the moments also the squared-norm share of the top-k channels (``energy_share_top{k}``,
        and of the top-1) and the outlier severity gamma (``severity``) of the top-1 channel, its
        maximum and its median over channels."""
        rows = []
        am, ma, mx = self.score("absmean", steps), self.score("meanabs", steps), self.score("maxabs", steps)
        if self.has_moments:
            k = min(int(k), am.shape[1])
            share_k, share_1, gam = self.energy_share(k, steps=steps), self.energy_share(1, steps=steps), \
                self.severity(steps)
        for b in self.blocks:
            srt = am[b].sort(descending=True)
            med = am[b].median()
            rows.append({
                "block": int(b),
                "top_channels": [int(c) for c in srt.indices[:5]],
                "top1_over_median_absmean": float(srt.values[0] / med),
                # the massive set: channels at least r x the block's median channel by |mean|
                **{f"massive_set_{r}x": int((am[b] >= r * med).sum()) for r in MASSIVE_SET_RATIOS},
                "top5_over_median_absmean": float(srt.values[:5].mean() / med),
                "top1_over_median_meanabs": float(ma[b].max() / ma[b].median()),
                # Sun et al.: max |x| against the median |x|; the median over channels of
                # mean |x| stands in for the median over all activations (not stored)
                "max_over_median": float(mx[b].max() / ma[b].median()),
            })
            if self.has_moments:
                g = gam[b]
                rows[-1].update({"energy_share_top1": float(share_1[b]), f"energy_share_top{k}": float(share_k[b]),
                                 "severity_top1": float(g[srt.indices[0]]), "severity_max": float(g.max()),
                                 "severity_median": float(g.median())})
        return rows


class SaturationWarning(UserWarning):
    """A float16 run's captured activations reached fp16's limit (see ``ChannelStats.saturation``)."""


@dataclass(frozen=True)
class Saturation:
    """Where a float16 run's activations sat at fp16's limit (``ChannelStats.saturation()``).

    Attributes:
        dtype: the image stream's dtype in the run ("float16", "bfloat16", "float32"; None unknown).
        blocks: one dict per block with saturated values: {"block", "channels" (worst first),
          "max_token_share" (the largest share of one row's image tokens at the limit, at one
          step), "steps"}; empty when none (always, outside float16).
    """

    dtype: str | None
    blocks: tuple[dict, ...]

    @property
    def found(self) -> bool:
        return bool(self.blocks)

    def text(self) -> str:
        """One paragraph: what was found and what to do instead."""
        if self.dtype is None:
            return ("These statistics do not record the run's dtype, so fp16 saturation cannot be checked "
                    "(statistics captured by massact.generate or Tracer record it).")
        if self.dtype != "float16":
            return (f"The model ran in {self.dtype}: no value is clipped at fp16's limit (only float16 runs are "
                    f"checked).")
        if not self.found:
            return (f"The model ran in float16 and no captured activation reached fp16's limit "
                    f"(|x| >= {SATURATION_LEVEL:,.0f} of {FP16_MAX:,.0f}).")
        where = "; ".join(f"block {d['block']}: channels {', '.join(map(str, d['channels'][:4]))}"
                          f"{' ...' if len(d['channels']) > 4 else ''} (up to {d['max_token_share']:.0%} of a row's "
                          f"image tokens, {len(d['steps'])} steps)" for d in self.blocks)
        return (f"SATURATED: the model ran in float16 and activations reached fp16's limit (|x| >= "
                f"{SATURATION_LEVEL:,.0f}, or inf) in {len(self.blocks)} blocks: {where}. Those values were clipped "
                f"or overflowed by the dtype, so the statistics rank and measure capped numbers: the massive channels' "
                f"magnitudes and ratios are understated, and edits act on clipped values. Load the model in bfloat16 "
                f"where the card has it (A100, L4, H100, RTX 30xx/40xx), or in float32; on a card without bfloat16 "
                f"(T4), run the transformer in float32 for the blocks and steps you study.")


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
