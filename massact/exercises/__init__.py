"""Exercises with checker functions, in the style of ARENA's ``tests.py``.

A learner writes a small piece of the method, passes it to a checker, and reads a verdict::

    from massact import exercises as ex
    ex.check_top_channels(model, 4, [106, 7, 123])   # prints "✅ ..." or "❌ ..." and a hint

One module per notebook (``massive``, ``critical``, ``spatial``, ``transport``,
``use_cases``), each holding its ``Exercise``s (the task text, written once: the notebook's
exercise cells are generated from it, and the checker prints it when the starter is run
unchanged), their checkers and reference answers; ``common`` holds the verdicts, the
prediction check and the cached reference runs. ``EXERCISES`` lists them; ``list_exercises()``
prints them.

Every notebook opens one of its sections with a prediction: the learner sets ``PREDICTION`` to
one named option before the section measures it, and the checker measures it on the live
model (small sizes, seconds on a CPU, through the claims' own functions, with a 95% bootstrap
interval) and says what it found, whether the prediction matched and why.

====================  ===================================  =======================================
notebook              checker                              the learner writes
====================  ===================================  =======================================
00 massive            ``predict_top_channel_over_steps``   first / last / same: when the top
                                                           channel is largest
00 massive            ``check_top_channels``               the top-k channels of one block at one
                                                           step
01 critical           ``predict_random_against_bottom``    more / less / same: random-8 against
                                                           bottom-8
01 critical           ``check_disruption``                 ``f(score, k) -> EditSpec`` zeroing
                                                           top-k
02 spatial            ``predict_mask_channels``            top / random / same: which channels
                                                           find the subject
02 spatial            ``check_cluster_mask``               ``f(tokens, channels, grid) -> mask``
03 transferable       ``predict_transported_attribute``    the attribute top-16 transport moves
                                                           most
03 transferable       ``check_transport``                  ``mix(x_target, x_source, channels,
                                                           alpha, token_mask)`` on tensors
04 use cases          ``predict_interpolation_midpoint``   target / halfway / source: alpha 0.5
                                                           in pixels
04 use cases          ``check_use_case``                   ``f(channels, alpha) -> EditSpec``
                                                           moving channels from row 0 into row 1
04 use cases          ``check_inversion``                  ``invert(model, images, prompts,
                                                           num_steps)``
====================  ===================================  =======================================

Default prompts come from ``model.world`` (evaluation prompts for the images judged,
calibration prompts for rankings); a model without a world gets a ❌ naming the argument
to pass. ``check_inversion`` needs a model that exposes its sampler (the toy).
"""
from __future__ import annotations

from . import critical, massive, spatial, transport, use_cases
from .common import Exercise, PredictionCheck, clear_cache
from .critical import check_disruption, predict_random_against_bottom, reference_disruption
from .massive import check_top_channels, predict_top_channel_over_steps
from .spatial import check_cluster_mask, predict_mask_channels, reference_cluster_mask
from .transport import check_transport, predict_transported_attribute, reference_mix
from .use_cases import (USE_CASE_SOURCE, USE_CASE_TARGET, check_inversion, check_use_case,
                        predict_interpolation_midpoint, reference_interpolation)

#: every exercise, in notebook order
EXERCISES: tuple[Exercise, ...] = (
    massive.PREDICTION_EXERCISE, massive.EXERCISE, critical.PREDICTION_EXERCISE, critical.EXERCISE,
    spatial.PREDICTION_EXERCISE, spatial.EXERCISE, transport.PREDICTION_EXERCISE, transport.EXERCISE,
    use_cases.PREDICTION_EXERCISE, use_cases.EXERCISE, use_cases.INVERSION_EXERCISE)

#: the prediction exercises, one per notebook
PREDICTIONS: tuple[Exercise, ...] = tuple(e for e in EXERCISES if e.checker.startswith("predict_"))


def list_exercises() -> None:
    """Print every exercise: notebook, checker, task."""
    for e in EXERCISES:
        print(f"{e.notebook:24} {e.checker:20} {e.plain_task}")


def evaluation_prompts(n: int, model=None) -> list[str]:
    """Evaluation prompts of an exercise (the images checkers judge).

    Args:
        n: how many; model: whose world (None: the default model's world, nothing loaded).
    Returns:
        a list of n prompts.
    """
    return list(_world(model).evaluation_prompts(n))


def calibration_prompts(n: int, model=None) -> list[str]:
    """Calibration prompts of an exercise (where checkers rank channels).

    Args:
        n: how many; model: whose world (None: the default model's world, nothing loaded).
    Returns:
        a list of n prompts.
    """
    return list(_world(model).calibration_prompts(n))


def _world(model):
    if model is not None:
        from ..world import world_of

        return world_of(model, "exercise prompts: pass prompts=[...] to the checker")
    from ..loading import default_world

    return default_world()


def for_notebook(stem: str) -> tuple[Exercise, ...]:
    """The exercises a notebook shows (those with a starter cell).

    Args:
        stem: the notebook's file name without ".ipynb", e.g. "02_spatial".
    Returns:
        its exercises, possibly none.
    """
    return tuple(e for e in EXERCISES if e.notebook == stem and e.starter is not None)


__all__ = ["Exercise", "EXERCISES", "PREDICTIONS", "PredictionCheck", "list_exercises", "for_notebook", "clear_cache",
           "predict_top_channel_over_steps", "predict_random_against_bottom", "predict_mask_channels",
           "predict_transported_attribute", "predict_interpolation_midpoint", "check_top_channels",
           "check_disruption", "reference_disruption", "check_cluster_mask", "reference_cluster_mask",
           "check_transport", "reference_mix", "check_use_case", "reference_interpolation", "check_inversion",
           "USE_CASE_SOURCE", "USE_CASE_TARGET", "evaluation_prompts", "calibration_prompts"]
