"""Primitive validators: the one place where bad input is turned into a clear error.

Every public entry point checks its inputs once, with these helpers, and the rest of the
stack trusts validated values. The rules:

* an index (block, step, row, channel, seed, k) is an ``int`` (or a numpy integer);
  ``bool`` and ``float`` are never indices, even ``2.0`` or ``True``;
* a number (alpha, guidance) is a finite int or float, never a bool, NaN or inf;
* a list of indices is a sequence (list, tuple, range), never a bare string or int;
* each error names what is valid, e.g. "step 1.7 is not an integer: valid steps are 0..7".

This module imports nothing from massact, so every layer can use it.
"""
from __future__ import annotations

import math
import numbers
from typing import Sequence

__all__ = ["WrongType", "is_int", "check_int", "check_index", "check_indices", "check_finite", "check_choice",
           "check_prompts", "check_seeds", "check_bool", "valid_range"]


class WrongType(TypeError, ValueError):
    """A value of the wrong type: a float or bool where an index belongs, a string where a
    list belongs, a non-number where a number belongs.

    It is a TypeError, and also a ValueError, so that code which catches bad values
    (``except ValueError``, as the CLI and the exercise checkers do) catches it too."""


def is_int(value) -> bool:
    """True for an int or numpy integer; False for bools, floats and everything else."""
    return isinstance(value, numbers.Integral) and not isinstance(value, bool)


def valid_range(name: str, upper: int) -> str:
    """The words that name the valid indices, e.g. "valid blocks are 0..6"."""
    if upper <= 0:
        return f"there are no {name}s"
    return f"valid {name}s are 0..{upper - 1}"


def _bounds(lo, hi) -> str:
    if lo is not None and hi is not None:
        return f"in {lo}..{hi}"
    if lo is not None:
        return f">= {lo}"
    if hi is not None:
        return f"<= {hi}"
    return "an integer"


def check_int(name: str, value, lo: int | None = None, hi: int | None = None, what: str = "") -> int:
    """An integer in lo..hi (both inclusive; None = unbounded).

    Args:
        name: what the value is, for the error ("k", "num_steps").
        value: the value to check.
        lo, hi: inclusive bounds, or None.
        what: an optional explanation added to the error, e.g. "the number of channels".
    Returns:
        the value as a Python int.
    Raises:
        WrongType for a non-integer (bools and floats included); ValueError when out of range.
    """
    rule = f"{name} must be {_bounds(lo, hi)}" + (f" ({what})" if what else "")
    if not is_int(value):
        raise WrongType(f"{name} {value!r} is not an integer: {rule}")
    v = int(value)
    if (lo is not None and v < lo) or (hi is not None and v > hi):
        raise ValueError(f"{name} {v} out of range: {rule}")
    return v


def check_index(name: str, value, upper: int | None = None) -> int:
    """One index in 0..upper-1 (upper None: any integer >= 0; range checked later).

    Args:
        name: the singular noun ("block", "step", "row", "channel").
        value: the value to check.
        upper: the number of valid indices, or None when it is not known yet.
    Returns:
        the index as a Python int.
    Raises:
        WrongType for a non-integer; ValueError when out of range.
    """
    rule = valid_range(name, upper) if upper is not None else f"{name}s are numbered from 0"
    if not is_int(value):
        raise WrongType(f"{name} {value!r} is not an integer: {rule}")
    v = int(value)
    if v < 0 or (upper is not None and v >= upper):
        raise ValueError(f"{name} {v} out of range: {rule}")
    return v


def check_indices(name: str, values, upper: int | None = None, allow_empty: bool = False) -> tuple[int, ...]:
    """A sequence of indices in 0..upper-1, in the order given.

    Args:
        name: the singular noun ("block", "step", ...).
        values: a list, tuple or range of ints (not a bare int or string).
        upper: the number of valid indices, or None when not known yet.
        allow_empty: whether an empty sequence is valid.
    Returns:
        a tuple of Python ints.
    Raises:
        WrongType for a bare int/string or a non-sequence or non-integer elements;
        ValueError for an out-of-range index or an empty sequence (unless allowed).
    """
    rule = valid_range(name, upper) if upper is not None else f"{name}s are numbered from 0"
    if isinstance(values, (str, bytes)) or is_int(values) or not _is_sequence(values):
        raise WrongType(f"{name}s must be a list or tuple of integers, e.g. (0, 2), not {values!r}: {rule}")
    out = tuple(check_index(name, v, upper) for v in _as_list(values))
    if not out and not allow_empty:
        raise ValueError(f"empty {name} list: give at least one {name}; {rule}")
    return out


def check_finite(name: str, value, lo: float | None = None, hi: float | None = None, what: str = "") -> float:
    """A finite number in [lo, hi] (None = unbounded), never a bool, NaN or inf.

    Args:
        name: what the value is ("alpha", "guidance").
        value: the value to check.
        lo, hi: inclusive bounds, or None.
        what: an optional explanation added to the error.
    Returns:
        the value as a Python float.
    Raises:
        WrongType for a non-number (bools included); ValueError for NaN, inf or out of range.
    """
    if lo is not None and hi is not None:
        rule = f"{name} must be a finite number in [{lo:g}, {hi:g}]"
    elif lo is not None:
        rule = f"{name} must be a finite number >= {lo:g}"
    elif hi is not None:
        rule = f"{name} must be a finite number <= {hi:g}"
    else:
        rule = f"{name} must be a finite number"
    rule += f" ({what})" if what else ""
    if isinstance(value, bool) or not isinstance(value, numbers.Real):
        raise WrongType(f"{name} {value!r} is not a number: {rule}")
    v = float(value)
    if not math.isfinite(v):
        raise ValueError(f"{name} {v} is not finite: {rule}")
    if (lo is not None and v < lo) or (hi is not None and v > hi):
        raise ValueError(f"{name} {value!r} out of range: {rule}")
    return v


def check_choice(name: str, value, choices: Sequence[str]) -> str:
    """One of a fixed set of names.

    Args:
        name: what the value is ("arm", "op", "statistic").
        value: the value to check.
        choices: the valid names.
    Returns:
        the value.
    Raises:
        ValueError naming the valid choices (also for non-strings).
    """
    if not isinstance(value, str) or value not in choices:
        raise ValueError(f"unknown {name} {value!r}; choose one of {tuple(choices)}")
    return value


def check_bool(name: str, value) -> bool:
    """A bool (True/False), not a string such as "yes".

    Raises:
        WrongType for anything else.
    """
    if not isinstance(value, bool):
        raise WrongType(f"{name} must be True or False, got {value!r}")
    return value


def check_prompts(prompts) -> list[str]:
    """A non-empty list of non-empty strings.

    Args:
        prompts: the prompts.
    Returns:
        the prompts as a list.
    Raises:
        WrongType for a bare string or a non-sequence; ValueError for an empty list or an
        empty / non-string prompt.
    """
    if isinstance(prompts, (str, bytes)):
        raise WrongType("prompts must be a list of strings, e.g. ['a red circle'], not one string")
    if not _is_sequence(prompts):
        raise WrongType(f"prompts must be a list of strings, e.g. ['a red circle'], got {type(prompts).__name__}")
    prompts = list(prompts)
    if not prompts:
        raise ValueError("empty prompt list: give at least one prompt")
    for p in prompts:
        if not isinstance(p, str) or not p.strip():
            raise ValueError(f"prompt {p!r} is empty or not a string")
    return prompts


#: torch.Generator.manual_seed takes seeds below 2**64; massact keeps them non-negative
MAX_SEED = 2 ** 63 - 1


def check_seeds(seeds, n: int, what: str = "prompts",
                hint: str = "give one seed per prompt or a single int") -> list[int]:
    """One seed per row: None (= 0 for every row), one int for every row, or n ints.

    Args:
        seeds: None, an int, or a sequence of n ints.
        n: the number of rows.
        what: what the rows are, for the length error ("prompts", "source/target pairs").
        hint: what to do instead, for the length error.
    Returns:
        a list of n Python ints.
    Raises:
        WrongType for floats, bools, strings; ValueError for negative seeds or a wrong count.
    """
    if seeds is None:
        return [0] * n
    if is_int(seeds):
        return [check_int("seed", seeds, 0, MAX_SEED)] * n
    if isinstance(seeds, (str, bytes)) or not _is_sequence(seeds):
        raise WrongType(f"seeds must be an int or a list of ints (one per row), got {seeds!r}")
    out = [check_int("seed", s, 0, MAX_SEED) for s in _as_list(seeds)]
    if len(out) != n:
        raise ValueError(f"{len(out)} seeds for {n} {what}: {hint}")
    return out


def _is_sequence(v) -> bool:
    if isinstance(v, (list, tuple, range)):
        return True
    # numpy arrays / torch tensors: sequences of their elements (dtype decides the checks)
    return hasattr(v, "tolist") and hasattr(v, "shape") and len(getattr(v, "shape")) == 1


def _as_list(v) -> list:
    return v.tolist() if hasattr(v, "tolist") and not isinstance(v, (list, tuple, range)) else list(v)
