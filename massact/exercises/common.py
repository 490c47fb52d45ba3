"""What every exercise shares: its description, the verdict lines, and cached reference runs.

An ``Exercise`` holds the task once: the notebook's exercise cells are written from it
(``scripts/finalize_notebooks.py``: a markdown cell, its ``heading`` + ``task``, and a code
cell ``starter``), and its checker prints it when the learner runs the starter unchanged.

Every checker prints one line starting with ✅ or ❌ (a failed check adds a ``Hint:`` line)
and returns True or False. Reference answers are computed on the spot from the live model
(cached per model, on fixed prompts and seeds), never stored.

A *prediction* exercise asks the learner to commit to one named outcome before a notebook
measures it (``PREDICTION = "more"``); its checker (``check_prediction``) measures the outcome
on the live model, with a 95% bootstrap interval, and says what was measured, whether the
prediction matched and why. It returns a ``PredictionCheck`` (None while unanswered).
"""
from __future__ import annotations

import re
import traceback
import weakref
from dataclasses import dataclass
from typing import Callable, Sequence

import numpy as np
import torch

from ..calibration import Calibration, calibrate, calibration_seeds, evaluation_seeds
from ..generation import generate
from ..specs import CaptureSpec


@dataclass(frozen=True)
class Exercise:
    """One exercise of one notebook.

    Attributes:
        notebook: the notebook's file stem, e.g. "01_critical".
        checker: the name of its checker in ``massact.exercises``.
        task: what the learner writes, in markdown (the notebook's exercise text).
        starter: the code cell the notebook gives (None: not in a notebook).
        before: the start of the notebook cell the exercise is placed before (None: at the
          end, before the closing "Next:" pointer); a prediction goes before the section that
          measures what it predicts.
        heading: the markdown heading of the exercise cell.
    """

    notebook: str
    checker: str
    task: str
    starter: str | None = None
    before: str | None = None
    heading: str = "## Exercise"

    @property
    def plain_task(self) -> str:
        """``task`` without markdown emphasis, for a terminal or a checker's hint."""
        return re.sub(r"\*+([^*]+)\*+", r"\1", self.task)

    def markdown(self) -> str:
        """The notebook's exercise heading and task."""
        return f"{self.heading}\n\n{self.task}"


# -- verdicts -----------------------------------------------------------------------------------
def passed(message: str) -> bool:
    """Print a ✅ line.

    Args:
        message: what was right.
    Returns:
        True.
    """
    print(f"✅ {message}")
    return True


def failed(message: str, hint: str | None = None) -> bool:
    """Print a ❌ line and an optional hint.

    Args:
        message: what is wrong; hint: how to fix it (printed as "Hint: ...").
    Returns:
        False.
    """
    print(f"❌ {message}")
    if hint:
        print(f"   Hint: {hint}")
    return False


def crashed(what: str, exc: BaseException) -> bool:
    """The verdict for a learner's function that raised: the error and where it happened.

    Args:
        what: e.g. "your function"; exc: the exception.
    Returns:
        False (after printing).
    """
    tb = traceback.extract_tb(exc.__traceback__)
    where = f" (line {tb[-1].lineno} of {tb[-1].name})" if tb else ""
    return failed(f"{what} raised {type(exc).__name__}: {exc}{where}",
                  "run your function on its own first and read the error message")


def not_written(answer) -> bool:
    """Is ``answer`` still the starter's ``...`` (or what a body of ``...`` returns, None)?

    Args:
        answer: a learner's answer or function result.
    Returns:
        True when nothing was written yet.
    """
    return answer is Ellipsis or answer is None


def unanswered(exercise: Exercise) -> bool:
    """The verdict for the starter run unchanged: the task again.

    Args:
        exercise: the exercise whose task is printed as the hint.
    Returns:
        False (after printing).
    """
    return failed("not answered yet: replace the `...` with your answer", exercise.plain_task)


def call_learner(what: str, fn: Callable, *args, exercise: Exercise | None = None):
    """Run a learner's function, turning every way it can fail into a printed verdict.

    Args:
        what: how the verdict names it; fn: the learner's function (or, unwritten, ``...``);
        *args: its arguments; exercise: the exercise (to print its task for an unwritten answer).
    Returns:
        (True, the function's result) or (False, False) once a ❌ verdict is printed.
    """
    if not callable(fn):
        if not_written(fn) and exercise is not None:
            return False, unanswered(exercise)
        return False, failed(f"{what} is a {type(fn).__name__}, not a function", "pass the function itself, "
                             "without calling it: check(model, my_function)")
    try:
        out = fn(*args)
    except Exception as exc:
        return False, crashed(what, exc)
    if exercise is not None and not_written(out):
        return False, unanswered(exercise)
    return True, out


# -- inputs ----------------------------------------------------------------------------------------
def as_channels(answer, what: str = "your answer") -> list[int]:
    """A learner's channel list (list, tuple, tensor, array or one int) as ints.

    Args:
        answer: the learner's channels; what: how an error names them.
    Returns:
        a list of ints.
    Raises:
        TypeError for anything that is not channel indices (floats and bools included).
    """
    if isinstance(answer, torch.Tensor):
        if answer.is_floating_point() or answer.dtype == torch.bool:
            raise TypeError(f"{what} must be channel indices (ints), got a {answer.dtype} tensor")
        answer = answer.flatten().tolist()
    elif isinstance(answer, np.ndarray):
        answer = answer.ravel().tolist()
    if isinstance(answer, (int, np.integer)) and not isinstance(answer, bool):
        answer = [answer]
    if isinstance(answer, str) or not hasattr(answer, "__iter__"):
        raise TypeError(f"{what} must be a list of channel indices (ints), got {type(answer).__name__}")
    out = []
    for c in answer:
        if isinstance(c, bool) or not isinstance(c, (int, np.integer)):
            raise TypeError(f"{what} must be channel indices (ints), got {c!r}")
        out.append(int(c))
    return out


def world_prompts(model, kind: str, n: int, given: Sequence[str] | None = None) -> list[str]:
    """``given``, or n of the model's world's calibration / evaluation prompts.

    Args:
        model: the learner's model.
        kind: "calibration" or "evaluation".
        n: how many prompts the exercise uses.
        given: prompts the caller passed (returned as a list).
    Returns:
        a list of prompts.
    Raises:
        ValueError naming the argument to pass when the model has no world.
    """
    if given is not None:
        return list(given)
    world = getattr(model, "world", None)
    if world is None:
        arg = "calibration_prompts" if kind == "calibration" else "prompts"
        raise ValueError(f"this model has no world (model.world is None), so the exercise has no default "
                         f"{kind} prompts: pass {arg}=[...] ({n} prompts)")
    return list(world.calibration_prompts(n) if kind == "calibration" else world.evaluation_prompts(n))


def default_seeds(prompts: Sequence[str], seeds=None) -> list[int]:
    """One seed per prompt.

    Args:
        prompts: the prompts; seeds: the caller's seeds or None.
    Returns:
        ``seeds`` as a list, or the evaluation seeds (0..n-1).
    """
    return evaluation_seeds(len(prompts)) if seeds is None else list(seeds)


# -- cached reference runs ---------------------------------------------------------------------------
# one dict per live model (dropped with it); keys are plain tuples of the run's inputs
_CACHE: "weakref.WeakKeyDictionary" = weakref.WeakKeyDictionary()


def cached(model, key: tuple, make: Callable):
    """``make()`` once per (model, key): the cache of reference runs.

    Args:
        model: the live model (the cache goes with it); key: a hashable description of the run;
        make: computes the value.
    Returns:
        the cached value.
    """
    store = _CACHE.setdefault(model, {})
    if key not in store:
        store[key] = make()
    return store[key]


def clear_cache() -> None:
    """Forget every cached reference run (e.g. after changing the model's weights in place)."""
    _CACHE.clear()


def stats(model, prompts: Sequence[str], seeds: Sequence[int], num_steps: int | None):
    """The statistics of every block and step on these images (cached).

    Args:
        model, prompts, seeds: the images; num_steps: sampler steps (None: the model's).
    Returns:
        a ``ChannelStats``.
    """
    key = ("stats", tuple(prompts), tuple(seeds), num_steps)
    return cached(model, key, lambda: generate(model, list(prompts), list(seeds), num_steps=num_steps,
                                               capture=CaptureSpec()).stats)


def calibration(model, num_steps: int | None, n: int = 4, prompts: Sequence[str] | None = None) -> Calibration:
    """The calibration run of a checker (never the images it judges); cached.

    Args:
        model: the live model; num_steps: sampler steps; n: how many of the world's
          calibration prompts; prompts: the caller's calibration prompts instead.
    Returns:
        a ``Calibration`` on seeds from ``calibration_seeds``.
    Raises:
        ValueError naming the argument to pass when the model has no world.
    """
    prompts = world_prompts(model, "calibration", n, prompts)
    key = ("calibration", tuple(prompts), num_steps)
    return cached(model, key, lambda: calibrate(model, prompts=prompts, seeds=calibration_seeds(len(prompts)),
                                                num_steps=num_steps))


def calibration_score(model, num_steps: int | None, n: int = 4, prompts: Sequence[str] | None = None) -> torch.Tensor:
    """The ranking score of the calibration images (never the images a checker judges); cached.

    Args:
        model, num_steps, n, prompts: as in ``calibration``.
    Returns:
        (blocks, channels) absmean, on seeds from ``calibration_seeds``.
    """
    return calibration(model, num_steps, n, prompts).score("absmean")


def images(model, prompts: Sequence[str], seeds: Sequence[int], num_steps: int, edits=(), tag=None) -> torch.Tensor:
    """Generated images, cached when ``tag`` names the edits.

    Args:
        model, prompts, seeds, num_steps: the run; edits: its EditSpecs; tag: a hashable name
          of the edits (e.g. the reference edit's channels), None to generate without caching.
    Returns:
        images (B, 3, H, W) in [0, 1].
    """
    def make():
        return generate(model, list(prompts), list(seeds), num_steps=num_steps, edits=list(edits)).images

    if tag is None:
        return make()
    return cached(model, ("images", tag, tuple(prompts), tuple(seeds), num_steps), make)


# -- predictions ---------------------------------------------------------------------------------
class CannotMeasure(Exception):
    """A prediction's measurement needs something this model lacks (a world, a judge)."""


@dataclass(frozen=True)
class Measured:
    """What a prediction's measurement found.

    Attributes:
        outcome: the option the measurement supports.
        text: what was measured, with its 95% interval and the number of items.
        why: a sentence on why the model behaves this way.
        also: other options the measurement supports as well (a tie).
    """

    outcome: str
    text: str
    why: str
    also: tuple[str, ...] = ()


@dataclass(frozen=True)
class PredictionCheck:
    """The verdict on one prediction.

    Attributes:
        prediction: the option the learner chose.
        outcome: the option the measurement supports.
        correct: whether they are the same.
        measured: what was measured, with its interval.
        why: a sentence on why.
    """

    prediction: str
    outcome: str
    correct: bool
    measured: str
    why: str


def outcome_of(estimate, above: str, below: str, within: str, reference: float = 0.0) -> str:
    """The option a 95% interval supports: wholly above ``reference``, wholly below, or across it.

    Args:
        estimate: a ``stats.Estimate``; above / below / within: the options of each case;
        reference: the value compared with (0 for a difference).
    Returns:
        one of the three options.
    """
    if estimate.ci[0] > reference:
        return above
    if estimate.ci[1] < reference:
        return below
    return within


def check_prediction(exercise: Exercise, prediction, options: Sequence[str],
                     measure: Callable[[], Measured]) -> PredictionCheck | None:
    """Read a learner's prediction, measure the outcome on the live model, and compare.

    Args:
        exercise: the prediction exercise (its task is printed while unanswered).
        prediction: the learner's ``PREDICTION`` (``...`` while unanswered), one of ``options``
          (case and surrounding spaces ignored).
        options: the valid predictions (empty: the model has no world to name them).
        measure: runs the measurement (only for a valid prediction).
    Returns:
        a ``PredictionCheck`` (after printing what was measured, the verdict and why), or None
        when the prediction is unanswered or the model cannot be measured (after saying so).
    Raises:
        ValueError naming the valid options when ``prediction`` is not one of them.
    """
    if not_written(prediction):
        unanswered(exercise)
        return None
    if not options:
        failed("this model has no world (model.world is None) to name the options of this prediction",
               "run this exercise on massact.load('toy')")
        return None
    choice = prediction.strip().lower() if isinstance(prediction, str) else prediction
    if choice not in options:
        raise ValueError(f"PREDICTION = {prediction!r} is not one of the options: "
                         + ", ".join(repr(o) for o in options))
    try:
        m = measure()
    except CannotMeasure as exc:
        failed(f"this prediction cannot be measured on this model: {exc}", "run this exercise on massact.load('toy')")
        return None
    correct = choice == m.outcome or choice in m.also
    mark, verdict = ("✅", "the measurement agrees") if correct else ("❌", f"the measurement says {m.outcome!r}")
    print(f"{mark} you predicted {choice!r}; {verdict}.")
    print(f"   Measured: {m.text}")
    print(f"   Why: {m.why}")
    return PredictionCheck(choice, choice if correct else m.outcome, correct, m.text, m.why)
