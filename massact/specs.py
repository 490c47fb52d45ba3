"""What a run records and edits, as data: ``EditSpec``, ``CaptureSpec`` and ``BatchLayout``.

Validation: ``EditSpec`` and ``CaptureSpec`` check types and values when they are built
(floats and bools are never indices; alpha and token-mask values are finite and in
[0, 1]); their ``validate`` methods check the ranges against the transformer (blocks), the
run (steps) and the batch (rows), which ``hooks.Tracer`` calls once, before any hook is
installed.

alpha is checked once, by ``check_alpha``, wherever it first enters (an ``EditSpec`` built by
hand, or a claim's setting such as ``claims.transport.TransportSpec``): the check returns an
``Alpha``, a float that has passed it, which every later step (``EditSpec``, the hooks) trusts.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Mapping

import torch

from .checks import WrongType, check_bool, check_finite, check_index, check_indices, is_int, valid_range

#: the edit operations; "replace" is accepted as an alias of "mix" at alpha 1
OPS = ("zero", "mix", "set")
OP_ALIASES = {"replace": "mix"}


class Alpha(float):
    """An edit's weight that has passed ``check_alpha``: a finite float in [0, 1].

    Building one is the check (``Alpha(1.5)`` raises), so an ``Alpha`` is valid by
    construction and is never checked again on its way to the hooks.
    """

    def __new__(cls, value):
        return super().__new__(cls, check_finite("alpha", value, 0.0, 1.0,
                                                 what="0 leaves the channels as they are, 1 applies the full edit"))


def check_alpha(alpha) -> Alpha:
    """alpha as an ``Alpha``: checked here unless it already is one (then trusted as it is).

    Args:
        alpha: a finite number in [0, 1] (never a bool), or an ``Alpha``.
    Returns:
        an ``Alpha``.
    Raises:
        WrongType for a non-number; ValueError for NaN, inf or a number outside [0, 1].
    """
    return alpha if type(alpha) is Alpha else Alpha(alpha)


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
        alpha = check_alpha(self.alpha)
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
