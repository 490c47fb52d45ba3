"""Notebook 00's exercises: predict how the top channel changes over the denoising steps, and
name the top channels of one block at one step."""
from __future__ import annotations

from typing import Sequence

import numpy as np

from ..stats import paired_difference
from .common import (CannotMeasure, Exercise, Measured, PredictionCheck, as_channels, check_prediction,
                     default_seeds, failed, outcome_of, passed, stats, unanswered, world_prompts)

EXERCISE = Exercise(
    "00_massive_activations", "check_top_channels",
    "Which are the **top-3 channels of block 1 at the last denoising step**, by the paper's score (|mean| over "
    "image tokens, averaged over the prompts captured above), largest first? The table of §3 averages over every "
    "step, so its channels need not be the answer. Replace `...` with your list and run the checker. "
    "*Hint: `gen.stats.score` reduces over the steps you give it (read its docstring).*",
    "from massact.exercises import check_top_channels\n"
    "my_answer = ...  # e.g. [12, 34, 56]\n"
    "check_top_channels(model, block=1, step=-1, your_answer=my_answer)")

#: the options of ``predict_top_channel_over_steps``
STEP_OPTIONS = ("first", "last", "same")

PREDICTION_EXERCISE = Exercise(
    "00_massive_activations", "predict_top_channel_over_steps",
    "**Predict first.** Take the strongest block's top channel (the one §3 found). Is its |mean| over the image "
    "tokens larger at the **first** denoising step (pure noise), at the **last** step (the finished image), or "
    "about the **same** at both? Write your prediction, then run the cell: the checker generates the evaluation "
    "images, reads the channel at both steps on each image and compares them with a paired 95% interval. The "
    "next cells show the whole curve.",
    "from massact.exercises import predict_top_channel_over_steps\n"
    "PREDICTION = ...  # \"first\", \"last\" or \"same\"\n"
    "prediction = predict_top_channel_over_steps(model, PREDICTION)",
    before="from massact.plots.massive import over_steps",
    heading="### Predict, then measure")

_STEP_WHY = {
    "last": "the channel grows as the image forms, as published analyses of SD3 and FLUX report (t -> 0): what it "
            "holds builds up over the denoising steps instead of being fixed from the first step.",
    "first": "the channel is largest on pure noise and shrinks as the image forms: a value set by the timestep more "
             "than by the image (Gan et al. 2025 argue that massive activations are driven by the timestep).",
    "same": "the interval of the difference holds 0: on these images the channel is about as large on pure noise as "
            "on the finished image, more a constant offset than a function of the step (§5 splits it into offset, "
            "step, prompt, seed and token shares).",
}


def measure_top_channel_over_steps(model, prompts: Sequence[str] | None = None, seeds: Sequence[int] | None = None,
                                   num_steps: int | None = None) -> Measured:
    """The strongest block's top channel: |mean| at the last step minus at the first, paired over images.

    Args:
        model: the live model.
        prompts, seeds: the images (default: the world's 8 evaluation prompts, seeds 0..7).
        num_steps: sampler steps (default: the model's).
    Returns:
        a ``Measured`` whose outcome is "last" (the interval above 0), "first" (below) or "same".
    Raises:
        CannotMeasure when the model has no world and no prompts are given.
    """
    try:
        prompts = world_prompts(model, "evaluation", 8, prompts)
    except ValueError as exc:
        raise CannotMeasure(str(exc)) from None
    st = stats(model, prompts, default_seeds(prompts, seeds), num_steps)
    score = st.score("absmean")
    ratio = score.max(dim=1).values / score.median(dim=1).values
    block = int(ratio.nan_to_num(float("-inf")).argmax())
    channel = int(score[block].argmax())
    per_image = st.absmean[:, block, :, channel].float()  # (images, steps)
    first, last = per_image[:, 0].numpy(), per_image[:, -1].numpy()
    diff = paired_difference(last, first)
    text = (f"block {block}'s top channel {channel}: |mean| {float(first.mean()):.3g} at the first step, "
            f"{float(last.mean()):.3g} at the last (step {st.steps[-1]}); last minus first {diff:.3g} "
            f"over {diff.n} images (paired 95% interval)")
    outcome = outcome_of(diff, "last", "first", "same")
    return Measured(outcome, text, _STEP_WHY[outcome])


def predict_top_channel_over_steps(model, prediction, prompts: Sequence[str] | None = None,
                                   seeds: Sequence[int] | None = None,
                                   num_steps: int | None = None) -> PredictionCheck | None:
    """Check a prediction: is the strongest block's top channel larger at the first step, the last, or the same?

    Args:
        model: the notebook's model.
        prediction: one of ``STEP_OPTIONS`` (``...`` while unanswered).
        prompts, seeds, num_steps: the images measured (``measure_top_channel_over_steps``).
    Returns:
        a ``PredictionCheck``, or None while unanswered.
    Raises:
        ValueError naming the options when ``prediction`` is not one of them.
    """
    return check_prediction(PREDICTION_EXERCISE, prediction, STEP_OPTIONS,
                            lambda: measure_top_channel_over_steps(model, prompts, seeds, num_steps))


def check_top_channels(model, block: int, your_answer, k: int = 3, step: int | None = None,
                       prompts: Sequence[str] | None = None, seeds: Sequence[int] | None = None,
                       num_steps: int | None = None) -> bool:
    """Is ``your_answer`` the top-k channels of ``block`` (at ``step``), largest first, by absmean?

    Args:
        model: the notebook's model.
        block: the block (0..num_blocks-1).
        your_answer: k channel indices (list, tensor, or ``channel_set``'s {block: channels}).
        k: how many channels the exercise asks for.
        step: the denoising step the score is read at (0 = the first; negative counts from the
          last, -1); None: averaged over every step.
        prompts, seeds: the images the ranking is read on (default: the notebook's
          generation, the world's 8 evaluation prompts with seeds 0..7).
        num_steps: sampler steps (default: the model's).
    Returns:
        True when right (channels whose scores tie to within 1e-5 of the largest may swap).
    """
    if your_answer is Ellipsis:
        return unanswered(EXERCISE)
    if isinstance(block, bool) or not isinstance(block, (int, np.integer)) or not 0 <= int(block) < model.num_blocks:
        return failed(f"block {block!r} out of range", f"blocks are numbered 0..{model.num_blocks - 1}")
    block = int(block)
    if isinstance(your_answer, dict):
        if block not in your_answer:
            return failed(f"your dict has no entry for block {block}", "pass the channel list of that block")
        your_answer = your_answer[block]
    try:
        ans = as_channels(your_answer)
    except TypeError as exc:
        return failed(str(exc), "e.g. score[block].topk(3).indices.tolist()")
    try:
        prompts = world_prompts(model, "evaluation", 8, prompts)
    except ValueError as exc:
        return failed(str(exc), "the prompts (and seeds) of the generation you ranked the channels on")
    if len(ans) != k:
        return failed(f"{len(ans)} channels given, the exercise asks for the top {k}", f"take the first {k} of the ranking")
    if len(set(ans)) != k:
        return failed(f"your answer {ans} repeats a channel", "each channel appears once in a ranking")
    if any(not 0 <= c < model.width for c in ans):
        return failed(f"channel out of range in {ans}", f"channels are numbered 0..{model.width - 1}")
    st = stats(model, prompts, default_seeds(prompts, seeds), num_steps)
    n_steps = len(st.steps)
    if step is not None and (isinstance(step, bool) or not isinstance(step, (int, np.integer))
                             or not -n_steps <= int(step) < n_steps):
        return failed(f"step {step!r} out of range", f"steps are numbered 0..{n_steps - 1} (-1: the last)")
    at = None if step is None else [st.steps[int(step)]]
    where = f"block {block}" if at is None else f"block {block} at step {at[0]}"
    score = st.score("absmean", steps=at)
    s = score[block]
    order = s.argsort(descending=True).tolist()
    top = order[:k]
    tol = 1e-5 * float(s.abs().max())
    if all(abs(float(s[a]) - float(s[t])) <= tol for a, t in zip(ans, top)):
        ratio = float(s[top[0]] / s.median())
        return passed(f"{where}: the top-{k} channels are {top} (|mean| "
                      f"{', '.join(f'{float(s[c]):.3g}' for c in top)}; the first is {ratio:.1f}x the median channel)")
    if set(ans) == set(top):
        return failed(f"right channels, wrong order: {ans}", "rank from the largest score down (topk returns them in "
                      "that order)")
    if set(ans) == set(order[-k:]):
        return failed(f"{ans} are the {k} *smallest* scores of {where}",
                      "sort in descending order: score[block].topk(k)")
    if at is not None and set(ans) == set(st.score("absmean")[block].topk(k).indices.tolist()):
        return failed(f"{ans} are the top-{k} of block {block} averaged over every step, not at step {at[0]}",
                      "gen.stats.score('absmean', steps=[...]) averages over the steps you name only")
    for stat, name in (("meanabs", "mean |x| ('meanabs')"), ("maxabs", "max |x| ('maxabs')")):
        if set(ans) == set(st.score(stat, steps=at)[block].topk(k).indices.tolist()):
            return failed(f"{ans} is the top-{k} by {name}", "the paper's score takes the mean over tokens first, then "
                          "the absolute value: gen.stats.score('absmean')")
    for b in range(model.num_blocks):
        if b != block and set(ans) == set(score[b].topk(k).indices.tolist()):
            return failed(f"{ans} are the top channels of block {b}, not block {block}",
                          "blocks are numbered from 0 in execution order: score[block] is one row")
    hits = len(set(ans) & set(top))
    return failed(f"{hits} of your {k} channels are in the top-{k} of {where}",
                  "gen.stats.score('absmean', steps=...) has shape (blocks, channels); "
                  "score[block].topk(k).indices gives the ranking")
