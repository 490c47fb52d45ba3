"""Notebook 01's exercises: predict which control hurts more, and write the disruption edit
(zeroing the top-k channels everywhere)."""
from __future__ import annotations

from typing import Callable, Sequence

import torch

from ..claims.critical import condition, probe
from ..ranking import channel_set
from ..selection import Selection
from ..specs import EditSpec
from .common import (CannotMeasure, Exercise, Measured, PredictionCheck, calibration, calibration_score,
                     call_learner, check_prediction, default_seeds, failed, images, outcome_of, passed,
                     world_prompts)

#: the options of ``predict_random_against_bottom``
CONTROL_OPTIONS = ("more", "less", "same")

PREDICTION_EXERCISE = Exercise(
    "01_critical", "predict_random_against_bottom",
    "**Predict first.** Both controls zero 8 channels per block at every block and step. Will zeroing **random-8** "
    "channels change the image **more**, **less** or about the **same** as zeroing the **bottom-8** (the lowest "
    "scores)? Write your prediction, then run the cell: the checker runs the probe on a few evaluation images and "
    "compares each edited image's pixel MSE to its clean image, random-8 minus bottom-8, paired over the images "
    "with a 95% interval. The probe below then measures every arm and k.",
    "from massact.exercises import predict_random_against_bottom\n"
    "PREDICTION = ...  # \"more\", \"less\" or \"same\"\n"
    "prediction = predict_random_against_bottom(model, PREDICTION)",
    before="## 3 · The probe",
    heading="### Predict, then measure")

_CONTROL_WHY = {
    "more": "a random draw of 8 channels per block can land on one of the few massive channels, and zeroing one of "
            "those moves the image; the bottom-8 are the channels with the smallest |mean|, which the network "
            "barely uses. That is why massact also draws a clean random arm outside the top channels "
            "(random_outside): a control that can hit a massive channel is not a control.",
    "less": "the bottom-8 move the image more than a random draw: a small |mean| does not make a channel unused (a "
            "channel that is positive on the subject and negative on the background averages to a small |mean| "
            "but carries a pattern).",
    "same": "the interval of the difference holds 0: on these images neither control moves the image more than "
            "the other; both remove channels the network relies on little, which is what a control should do.",
}


def measure_random_against_bottom(model, k: int = 8, n_images: int = 6, draws: int = 2, num_steps: int = 8,
                                  prompts: Sequence[str] | None = None, seeds: Sequence[int] | None = None,
                                  calibration_prompts: Sequence[str] | None = None) -> Measured:
    """Pixel MSE to the clean image, random-k minus bottom-k zeroing, paired over images.

    Args:
        model: the live model.
        k: channels per block; n_images: evaluation images (the world's, seeds 0..);
        draws: random draws (averaged per image); num_steps: sampler steps.
        prompts, seeds: the images instead of the world's.
        calibration_prompts: where the channels are ranked (default: 4 of the world's).
    Returns:
        a ``Measured`` whose outcome is "more" (random moves the image more), "less" or "same".
    Raises:
        CannotMeasure when the model has no world and no prompts are given.
    """
    try:
        cal = calibration(model, num_steps, 4, calibration_prompts)
        prompts = world_prompts(model, "evaluation", n_images, prompts)
    except ValueError as exc:
        raise CannotMeasure(str(exc)) from None
    result = probe(model, cal, prompts, default_seeds(prompts, seeds), ks=(k,), arms=("bottom", "random"),
                   draws=draws, num_steps=num_steps)
    bottom = result.estimate("pixel_mse", **condition("bottom", k))
    random = result.estimate("pixel_mse", **condition("random", k))
    diff = result.difference("pixel_mse", condition("random", k), condition("bottom", k))
    text = (f"pixel MSE to the clean image, zeroing at every block and step: random-{k} {random:.4f} "
            f"({draws} draws), bottom-{k} {bottom:.4f}; random minus bottom {diff:.4f} over {diff.n} images "
            "(paired 95% interval)")
    outcome = outcome_of(diff, "more", "less", "same")
    return Measured(outcome, text, _CONTROL_WHY[outcome])


def predict_random_against_bottom(model, prediction, k: int = 8, n_images: int = 6, num_steps: int = 8,
                                  prompts: Sequence[str] | None = None) -> PredictionCheck | None:
    """Check a prediction: does zeroing random-k channels move the image more, less or as much as bottom-k?

    Args:
        model: the notebook's model.
        prediction: one of ``CONTROL_OPTIONS`` (``...`` while unanswered).
        k, n_images, num_steps, prompts: the measurement (``measure_random_against_bottom``).
    Returns:
        a ``PredictionCheck``, or None while unanswered.
    Raises:
        ValueError naming the options when ``prediction`` is not one of them.
    """
    return check_prediction(PREDICTION_EXERCISE, prediction, CONTROL_OPTIONS,
                            lambda: measure_random_against_bottom(model, k, n_images, num_steps=num_steps,
                                                                  prompts=prompts))

EXERCISE = Exercise(
    "01_critical", "check_disruption",
    "Write `zero_top_k(score, k)` that returns a `massact.EditSpec` zeroing the top-k channels of **every** block "
    "at every step (`score` is a (blocks, channels) tensor). The checker runs it and compares the images with the "
    "reference edit.",
    "from massact.exercises import check_disruption\n"
    "def zero_top_k(score, k):\n"
    "    ...  # return a massact.EditSpec; help(massact.EditSpec) lists its operations\n"
    "check_disruption(model, zero_top_k)")


def reference_disruption(score: torch.Tensor, k: int, num_steps: int | None = None) -> EditSpec:
    """The reference answer of ``check_disruption``: the top-k selection's zeroing edit.

    Args:
        score: (blocks, channels) calibration scores; k: channels per block;
        num_steps: the run's steps (only checked: the edit acts at every step).
    Returns:
        ``EditSpec("zero", channel_set(score, k, "top"))``, every block, every step.
    """
    return Selection("top", k).edit(score, num_steps or 1)


def _diagnose(spec: EditSpec, ref: EditSpec, score: torch.Tensor, k: int, num_steps: int) -> tuple[str, str]:
    """The usual mistake behind a zeroing edit that does not match the reference."""
    nb = score.shape[0]
    if spec.op != "zero":
        return f"op is {spec.op!r}", "zeroing is EditSpec('zero', channels)"
    if spec.alpha != 1.0:
        return f"alpha is {spec.alpha}", "alpha = 1 zeroes the channels completely (x * (1 - alpha))"
    if spec.steps is not None and set(spec.steps) != set(range(num_steps)):
        return f"your edit acts at steps {list(spec.steps)} only", "steps=None acts at every step"
    if spec.token_mask is not None:
        return "your edit has a token mask", "zero the channels on every image token: token_mask=None"
    if spec.rows is not None:
        return "your edit is restricted to some rows", "rows=None edits every image of the batch"
    missing = [b for b in range(nb) if b not in spec.channels]
    if missing:
        return f"blocks {missing} are not edited", "give channels for every block: {b: (...) for b in range(blocks)}"
    bottom = channel_set(score, k, "bottom")
    for b in range(nb):
        mine = set(spec.channels[b])
        if len(mine) != k:
            return f"block {b} has {len(mine)} channels", f"k = {k} channels per block"
        if mine == set(bottom[b]) and mine != set(ref.channels[b]):
            return f"block {b}: {sorted(mine)} are the {k} lowest scores", "the top arm takes the highest: topk"
        if mine != set(ref.channels[b]):
            return (f"block {b}: channels {sorted(mine)}, expected the top-{k} {sorted(ref.channels[b])}",
                    "massact.channel_set(score, k, 'top') or score[b].topk(k).indices for each block")
    return "your edit gives different images from the reference", "compare spec.summary() with the reference's"


def check_disruption(model, your_function: Callable, k: int = 4, prompts: Sequence[str] | None = None,
                     seeds: Sequence[int] | None = None, num_steps: int = 8,
                     calibration_prompts: Sequence[str] | None = None) -> bool:
    """Run ``your_function(score, k) -> EditSpec`` and compare its images with the reference edit's.

    Args:
        model: the notebook's model.
        your_function: the learner's ``zero_top_k(score, k)``.
        k: channels per block.
        prompts, seeds: the images edited (default: 2 evaluation prompts, seeds 0, 1).
        num_steps: sampler steps.
        calibration_prompts: where ``score`` is ranked (default: 4 of the world's calibration
          prompts, with the calibration seeds).
    Returns:
        True when the learner's edit gives the reference images.
    """
    try:
        score = calibration_score(model, num_steps, 4, calibration_prompts)
        prompts = world_prompts(model, "evaluation", 2, prompts)
    except ValueError as exc:
        return failed(str(exc), "or run this exercise on massact.load('toy')")
    seeds = default_seeds(prompts, seeds)
    ok, spec = call_learner("your function", your_function, score.clone(), k, exercise=EXERCISE)
    if not ok:
        return False
    if not isinstance(spec, EditSpec):
        return failed(f"your function returned {type(spec).__name__}, not an EditSpec",
                      "return massact.EditSpec('zero', {block: (channel, ...), ...})")
    try:
        spec.validate(model.num_blocks, model.width, num_steps, len(prompts), model.num_image_tokens)
    except (TypeError, ValueError) as exc:
        return failed(f"your EditSpec is not valid for this model: {exc}",
                      f"blocks 0..{model.num_blocks - 1}, channels 0..{model.width - 1}")
    ref = reference_disruption(score, k, num_steps)
    clean = images(model, prompts, seeds, num_steps, tag="clean")
    expected = images(model, prompts, seeds, num_steps, [ref], tag=("zero", tuple(sorted(ref.channels.items()))))
    mine = images(model, prompts, seeds, num_steps, [spec])
    if torch.allclose(mine, expected, atol=1e-5):
        mse = float(((mine - clean) ** 2).mean())
        return passed(f"your edit zeroes the top-{k} channels of all {model.num_blocks} blocks: the images match the "
                      f"reference (pixel MSE to the clean images {mse:.4f})")
    return failed(*_diagnose(spec, ref, score, k, num_steps))
