"""Which channels, at which blocks and steps: the one normaliser for every claim and face.

Vocabulary (stable; tests pin it):

* **block** – global block number in execution order, 0..num_blocks-1 (see
  ``adapters.enumerate_blocks``);
* **step** – denoising step index, 0 = first (noisiest) step; ``num_steps`` is a count,
  ``steps`` are indices;
* **row** – one prompt of the batch being generated;
* **arm** – which k channels of each block are chosen: ``"top"`` (highest calibration
  score), ``"bottom"`` (lowest) or ``"random"`` (a seeded uniform draw, another per block);
  or ``"named"``: the channels a person names (``named=(98, 32)``), the same at every block;
* **selection** – arm + k + blocks + steps + seed (and, for a clean random or energy-matched
  arm, the top channels it leaves ``outside``; for the named arm, the ``named`` channels):
  everything that names one edit's channels, as a frozen ``Selection``.

``Selection`` is the one way the claims and the explorers name an arm's channels
(``Selection.channels``) and build an edit on them (``Selection.edit``: zeroing, mean
ablation, a mix from source rows or a recorded run, with alpha and a token mask). It checks
arm, k, seed and the block/step syntax when built, and the ranges (k against the width,
blocks, steps) when resolved against a score and a run; below it nothing checks them again.

Block and step specifications (``resolve_blocks`` / ``resolve_steps``):

* ``"all"`` or None: every block / every step;
* ``"early"`` / ``"late"``: the first / second half (for steps: the noisiest half first);
* a number ``3`` or ``"3"``, a range ``"2-5"`` (both ends included), a list ``"0,3"``;
* a list, tuple or range of ints, e.g. ``(0, 3)``.

Floats and bools are never block or step numbers. Specifications are checked for syntax
when a ``Selection`` is built and for range when they are resolved against a model.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Sequence

import torch

from .checks import WrongType, check_choice, check_index, check_int, is_int, valid_range
from .ranking import ALL_ARMS, ARMS, _check_energy, _check_energy_outside, _check_score, _max_k, _ranked
from .specs import EditSpec

__all__ = ["ARMS", "NAMED", "STEP_RANGES", "parse_channels", "resolve_blocks", "resolve_steps", "span_label", "blocks_label", "steps_label",
           "Selection"]

#: the named step (and block) ranges; "all" = everything
STEP_RANGES = ("early", "late", "all")
#: channels per block when a selection does not say
DEFAULT_K = 4
#: the arm of channels named by number (``Selection("named", channels=(98, 32))``)
NAMED = "named"


def _parse(spec, name: str, upper: int | None) -> tuple[int, ...] | str:
    """A specification -> "all" / "early" / "late" or a tuple of ints (range not checked
    when upper is None). Raises TypeError/ValueError naming the valid forms."""
    forms = (f"give 'all', 'early', 'late', a {name} number, a range like '2-5', a list like '0,3' or "
             f"a tuple of ints")
    where = f"; {valid_range(name, upper)}" if upper is not None else ""
    if spec is None:
        return "all"
    if isinstance(spec, str):
        s = spec.strip()
        if s in STEP_RANGES:
            return s
        out: list[int] = []
        try:
            for part in s.split(","):
                a, dash, b = part.strip().partition("-")
                if dash:
                    lo, hi = int(a), int(b)
                    if hi < lo:
                        raise ValueError
                    out += range(lo, hi + 1)
                else:
                    out.append(int(a))
        except ValueError:
            if not any(ch.isdigit() for ch in s):  # a word: a misspelt range name
                raise ValueError(f"unknown {name} range {spec!r}; choose one of {STEP_RANGES} or give {name} "
                                 f"numbers like '2-5' or '0,3'{where}") from None
            raise ValueError(f"cannot read {name}s {spec!r}: {forms}{where}") from None
        return tuple(check_index(name, v, upper) for v in out)
    if is_int(spec):
        return (check_index(name, spec, upper),)
    if isinstance(spec, (bool, float)):
        raise WrongType(f"{name} {spec!r} is not an integer: {forms}{where}")
    if hasattr(spec, "tolist") and getattr(spec, "ndim", 2) <= 1:  # a numpy array or torch tensor of ints
        spec = list(spec.reshape(-1).tolist())
    if not isinstance(spec, (list, tuple, range)):
        raise WrongType(f"cannot read {name}s {spec!r} ({type(spec).__name__}): {forms}{where}")
    out = tuple(check_index(name, v, upper) for v in spec)
    if not out:
        raise ValueError(f"empty {name} selection: {forms}{where}")
    return out


def _halves(named: str, n: int, name: str) -> tuple[int, ...]:
    half = n // 2
    out = tuple(range(half)) if named == "early" else tuple(range(half, n))
    if not out:
        raise ValueError(f"{name} range {named!r} is empty with {n} {name}(s): use at least 2 {name}s")
    return out


def resolve_blocks(spec, num_blocks: int) -> tuple[int, ...]:
    """One block specification -> sorted, distinct block numbers.

    Args:
        spec: "all"/None, "early"/"late" (first/second half of the blocks), an int, a string
          "3", "2-5", "0,3", or a list/tuple/range of ints.
        num_blocks: the model's number of blocks.
    Returns:
        a non-empty tuple of block numbers in 0..num_blocks-1, ascending.
    Raises:
        TypeError for floats, bools and other types; ValueError for an out-of-range block,
        an unreadable string or an empty selection.
    """
    num_blocks = check_int("num_blocks", num_blocks, 1)
    p = _parse(spec, "block", num_blocks)
    if p == "all":
        return tuple(range(num_blocks))
    if isinstance(p, str):
        return _halves(p, num_blocks, "block")
    return tuple(sorted(set(p)))


def resolve_steps(spec, num_steps: int) -> tuple[int, ...] | None:
    """One step specification -> sorted, distinct step indices, or None for every step.

    Args:
        spec: "all"/None (every step), "early" (the first half of the denoising steps, the
          noisiest), "late" (the second half), an int, a string "3", "2-5", "0,3", or a
          list/tuple/range of ints; 0 = the first step.
        num_steps: the number of denoising steps of the run.
    Returns:
        None (every step) or a non-empty tuple of step indices in 0..num_steps-1.
    Raises:
        TypeError for floats, bools and other types; ValueError for an out-of-range step,
        an unreadable string, an empty selection or a half of fewer than 2 steps.
    """
    num_steps = check_int("num_steps", num_steps, 1, what="the number of denoising steps")
    p = _parse(spec, "step", num_steps)
    if p == "all":
        return None
    if isinstance(p, str):
        return _halves(p, num_steps, "step")
    return tuple(sorted(set(p)))


# -- labels ------------------------------------------------------------------------------------------
def span_label(values: Sequence[int]) -> str:
    """Index numbers as short text: "3", "2-5" (a run of consecutive numbers), "0,3"."""
    v = [int(x) for x in values]
    if not v:
        return "none"
    if len(v) == 1:
        return str(v[0])
    if v == list(range(v[0], v[-1] + 1)):
        return f"{v[0]}-{v[-1]}"
    return ",".join(map(str, v))


def blocks_label(blocks: Sequence[int], num_blocks: int) -> str:
    """"all" when blocks are every block of the model, else their ``span_label``."""
    return "all" if tuple(blocks) == tuple(range(num_blocks)) else span_label(blocks)


def steps_label(spec, steps: Sequence[int] | None) -> str:
    """The label of resolved steps: "all" (None), the named range ("early"/"late") when the
    specification was one, else their ``span_label``."""
    if steps is None:
        return "all"
    if isinstance(spec, str) and spec.strip() in ("early", "late"):
        return spec.strip()
    return span_label(steps)


def _spec_text(spec) -> str:
    return spec if isinstance(spec, str) else span_label(spec)


def _spec_json(spec):
    return spec if isinstance(spec, str) else list(spec)


def parse_channels(channels) -> tuple[int, ...]:
    """Named channels -> a tuple of distinct channel numbers, in the order given.

    Args:
        channels: text such as "98" or "98, 32" (commas or spaces between numbers), or a
          list/tuple of ints.
    Returns:
        a non-empty tuple of distinct ints >= 0 (checked against the width when a
        ``Selection`` is resolved).
    Raises:
        TypeError for floats, bools and other types; ValueError for unreadable text, a
        negative number, an empty list or a channel named twice.
    """
    forms = "give channel numbers like '98' or '98, 32', or a tuple of ints"
    if isinstance(channels, str):
        parts = channels.replace(",", " ").split()
        try:
            channels = [int(p) for p in parts]
        except ValueError:
            raise ValueError(f"cannot read channels {channels!r}: {forms}") from None
    elif is_int(channels):
        channels = [channels]
    elif not isinstance(channels, (list, tuple, range)):
        raise WrongType(f"cannot read channels {channels!r} ({type(channels).__name__}): {forms}")
    out = tuple(check_int("channel", c, 0, what="a channel number") for c in channels)
    if not out:
        raise ValueError(f"no channel named: {forms}")
    twice = sorted({c for c in out if out.count(c) > 1})
    if twice:
        raise ValueError(f"channel {twice[0]} is named twice in {list(out)}: name each channel once")
    return out


# -- the selection ----------------------------------------------------------------------------------
@dataclass(frozen=True)
class Selection:
    """Which k channels of which blocks, at which steps: one edit's channels.

    Attributes:
        arm: "top", "bottom" or "random" (see the module docstring), the control "energy"
          (random channels outside the top-k with the top-k's summed energy; ``channels`` and
          ``edit`` then need ``energy=``, see ``massact.ranking.energy_matched``), or "named"
          (the channels given as ``named``, the same at every selected block).
        k: channels per block, an int >= 1 (checked against the model's width when resolved);
          for "named", the number of named channels (None or that number).
        blocks: a block specification ("all", "early", "late", "2-5", "0,3", an int or a
          sequence of ints); stored as a string or a tuple of ints.
        steps: a step specification (the same forms; "all" = every step).
        seed: the random arm's draw (an int >= 0; top and bottom ignore it).
        outside: for the random arm, draw only among the channels outside each block's
          top-``outside`` (0: among all channels, so a draw may hold massive channels); for the
          energy arm, match only among them (0: outside the top-k; else at least k, and at most
          the width - k when resolved). A curve over k uses its largest k, so that no control
          set contains a top channel of any k it is compared at.
        named: for the "named" arm, the channels ("98, 32" or a tuple of ints, see
          ``parse_channels``); stored as a tuple of distinct ints, checked against the width
          when resolved.

    Syntax is checked at construction (arm, k >= 1, seed, outside, named, blocks, steps); ranges when
    resolved (``block_indices``, ``step_indices``, ``channels``, ``edit``): once each, and
    trusted by the ranking and the edit below.
    """

    arm: str = "top"
    k: int | None = None
    blocks: object = "all"
    steps: object = "all"
    seed: int = 0
    outside: int = 0
    named: tuple = ()

    def __post_init__(self):
        check_choice("arm", self.arm, ALL_ARMS + (NAMED,))
        if self.arm == NAMED:
            if not self.named:
                raise ValueError("the named arm zeroes, clusters on or moves the channels you name: give named=(98, 32) "
                                 "or named='98, 32'")
            object.__setattr__(self, "named", parse_channels(self.named))
            if self.k is not None and self.k != len(self.named):
                raise ValueError(f"k {self.k!r} but {len(self.named)} named channel(s): leave k out for the named arm")
            object.__setattr__(self, "k", len(self.named))
        elif self.named:
            raise ValueError(f"named={self.named!r} is for the arm 'named' only, not {self.arm!r}")
        object.__setattr__(self, "k", check_int("k", DEFAULT_K if self.k is None else self.k, 1,
                                                what="channels per block"))
        object.__setattr__(self, "seed", check_int("seed", self.seed, 0))
        object.__setattr__(self, "outside", check_int("outside", self.outside, 0, what="top channels left out"))
        if self.outside and self.arm not in ("random", "energy"):
            raise ValueError(f"outside={self.outside} applies to the random and energy arms only, not {self.arm!r}")
        if self.arm == "energy" and 0 < self.outside < self.k:
            raise ValueError(f"outside {self.outside} leaves fewer top channels out than the energy arm's k={self.k}: "
                             f"give 0 (the set avoids the top-{self.k}) or at least {self.k}")
        for name, noun in (("blocks", "block"), ("steps", "step")):
            p = _parse(getattr(self, name), noun, None)
            object.__setattr__(self, name, p if isinstance(p, str) else tuple(sorted(set(p))))

    # -- resolving against a model ---------------------------------------------------------------------
    def block_indices(self, num_blocks: int, width: int | None = None) -> tuple[int, ...]:
        """The selected block numbers (ascending) of a model with num_blocks blocks.

        Args:
            num_blocks: the model's blocks.
            width: the model's channels; when given, k is checked against it too (the check
              ``channels`` makes, for callers that want it before any score exists).
        Returns:
            a non-empty tuple of block numbers in 0..num_blocks-1.
        Raises:
            ValueError naming the valid range: a block out of range, k above the width (above
            half of it for "energy"), an outside that leaves too few channels.
        """
        if width is not None and self.arm == NAMED:
            wrong = [c for c in self.named if c >= width]
            if wrong:
                raise ValueError(f"channel {wrong[0]} out of range: channels are 0..{width - 1} "
                                 f"(the model's {width} channels)")
        elif width is not None:
            limit, what = _max_k(self.arm, width)
            if self.outside and self.arm == "random":
                if self.outside >= width:
                    raise ValueError(f"outside {self.outside} leaves no channel to draw from: at most {width - 1} "
                                     f"of the {width} channels")
                limit, what = width - self.outside, f"the channels outside the top-{self.outside}"
            if self.k > limit:  # k's type and lower bound were checked when the selection was built
                raise ValueError(f"k {self.k} out of range: k must be in 1..{limit} ({what})")
            if self.arm == "energy":
                _check_energy_outside(self.outside, self.k, width)
        return resolve_blocks(self.blocks, num_blocks)

    def step_indices(self, num_steps: int) -> tuple[int, ...] | None:
        """The selected step indices of a run of num_steps steps (None = every step)."""
        return resolve_steps(self.steps, num_steps)

    def channels(self, score: torch.Tensor, energy: torch.Tensor | None = None) -> dict[int, tuple[int, ...]]:
        """{block: k channel indices} of this arm, ranked on score.

        Args:
            score: (blocks, channels) calibration scores, e.g. ``Calibration.score()``.
            energy: for the "energy" arm, (blocks, channels) squared activations
              (``Calibration.stats.energy()``); ignored by the other arms.
        Returns:
            one ascending tuple of k channels per selected block.
        Raises:
            ValueError naming the valid range: k above the width (above half of it for
            "energy"), a block out of range, a NaN score, a missing or misshapen energy.
        """
        nb, width = _check_score(score)
        blocks = self.block_indices(nb, width)
        if self.arm == NAMED:
            return {b: tuple(sorted(self.named)) for b in blocks}
        if self.arm == "energy":
            _check_energy(energy, (nb, width))
        return _ranked(score, self.k, self.arm, blocks, self.seed, energy, outside=self.outside)

    def edit(self, score: torch.Tensor, num_steps: int, op: str = "zero", *, alpha: float = 1.0,
             rows: Sequence[int] | None = None, source_rows: Sequence[tuple[int, int]] = (),
             token_mask: torch.Tensor | None = None, recorded: dict | None = None,
             values: torch.Tensor | None = None, energy: torch.Tensor | None = None) -> EditSpec:
        """The ``EditSpec`` that acts on this selection's channels at its steps.

        Args:
            score: (blocks, channels) calibration scores.
            num_steps: the number of denoising steps of the run the edit is for.
            op: "zero" (zeroing), "set" (set the channels to ``values``: mean ablation with
              ``Calibration.stats.channel_mean()``) or "mix" (pull them toward a source:
              ``source_rows`` of the same batch or a ``recorded`` run).
            alpha: the edit's weight in [0, 1] (1 = the full edit; see ``EditSpec``).
            rows: the rows a "zero", "set" or recorded "mix" edits (None = every row).
            source_rows: ((target_row, source_row), ...) for a "mix" from the same batch.
            token_mask: None, or a bool/float (tokens,) or (rows, tokens) mask in [0, 1].
            recorded: {(block, step): tensor (rows or 1, tokens, channels)} for a "mix" from a run.
            values: for "set", a (blocks, steps, channels) table of the values to set.
            energy: for the "energy" arm, (blocks, channels) squared activations.
        Returns:
            ``EditSpec(op, self.channels(score, energy), steps=self.step_indices(num_steps), ...)``
            with the other arguments as given (``EditSpec`` checks them).
        """
        return EditSpec(op, self.channels(score, energy), steps=self.step_indices(num_steps), alpha=alpha,
                        token_mask=token_mask, source_rows=source_rows, recorded=recorded, rows=rows, values=values)

    # -- describing ----------------------------------------------------------------------------------------
    @property
    def arm_label(self) -> str:
        """The arm and its size as short text: "top-4", or "named 98,32"."""
        return f"named {','.join(map(str, self.named))}" if self.arm == NAMED else f"{self.arm}-{self.k}"

    @property
    def label(self) -> str:
        """Short text, e.g. "top-4, blocks all, steps early" (random: "..., seed 2"; named:
        "named 98,32, blocks all, steps all")."""
        s = f"{self.arm_label}, blocks {_spec_text(self.blocks)}, steps {_spec_text(self.steps)}"
        s += f", seed {self.seed}" if self.arm in ("random", "energy") else ""
        return s + (f", outside the top-{self.outside}" if self.outside else "")

    def summary(self) -> dict:
        """A JSON-able description: arm, k, blocks, steps ("all", "early", ... or a list), seed (and
        ``outside`` when the random or energy arm leaves out the top channels, ``named`` for the named arm)."""
        return {"arm": self.arm, "k": self.k, "blocks": _spec_json(self.blocks), "steps": _spec_json(self.steps),
                "seed": self.seed, **({"outside": self.outside} if self.outside else {}),
                **({"named": list(self.named)} if self.named else {})}

    def __str__(self) -> str:
        return self.label
