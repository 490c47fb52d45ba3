"""Notebook 00's exercise: name the top channels of one block."""
from __future__ import annotations

from typing import Sequence

import numpy as np

from .common import Exercise, as_channels, default_seeds, failed, passed, stats, unanswered, world_prompts

EXERCISE = Exercise(
    "00_massive_activations", "check_top_channels",
    "Which are the **top-3 channels of block 4** by the paper's score (|mean| over image tokens, averaged over "
    "the prompts and steps captured above), largest first? Replace `...` with your list and run the checker. "
    "*Hint: `gen.stats.score(...)` gives a (blocks, channels) tensor.*",
    "from massact.exercises import check_top_channels\n"
    "my_answer = ...  # e.g. [12, 34, 56]\n"
    "check_top_channels(model, block=4, your_answer=my_answer)")


def check_top_channels(model, block: int, your_answer, k: int = 3, prompts: Sequence[str] | None = None,
                       seeds: Sequence[int] | None = None, num_steps: int | None = None) -> bool:
    """Is ``your_answer`` the top-k channels of ``block``, largest first, by absmean?

    Args:
        model: the notebook's model.
        block: the block (0..num_blocks-1).
        your_answer: k channel indices (list, tensor, or ``channel_set``'s {block: channels}).
        k: how many channels the exercise asks for.
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
    score = st.score("absmean")
    s = score[block]
    order = s.argsort(descending=True).tolist()
    top = order[:k]
    tol = 1e-5 * float(s.abs().max())
    if all(abs(float(s[a]) - float(s[t])) <= tol for a, t in zip(ans, top)):
        ratio = float(s[top[0]] / s.median())
        return passed(f"block {block}: the top-{k} channels are {top} (|mean| "
                      f"{', '.join(f'{float(s[c]):.3g}' for c in top)}; the first is {ratio:.1f}x the median channel)")
    if set(ans) == set(top):
        return failed(f"right channels, wrong order: {ans}", "rank from the largest score down (topk returns them in "
                      "that order)")
    if set(ans) == set(order[-k:]):
        return failed(f"{ans} are the {k} *smallest* scores of block {block}",
                      "sort in descending order: score[block].topk(k)")
    for stat, name in (("meanabs", "mean |x| ('meanabs')"), ("maxabs", "max |x| ('maxabs')")):
        if set(ans) == set(st.score(stat)[block].topk(k).indices.tolist()):
            return failed(f"{ans} is the top-{k} by {name}", "the paper's score takes the mean over tokens first, then "
                          "the absolute value: gen.stats.score('absmean')")
    for b in range(model.num_blocks):
        if b != block and set(ans) == set(score[b].topk(k).indices.tolist()):
            return failed(f"{ans} are the top channels of block {b}, not block {block}",
                          "blocks are numbered from 0 in execution order: score[block] is one row")
    hits = len(set(ans) & set(top))
    return failed(f"{hits} of your {k} channels are in the top-{k} of block {block}",
                  "score = gen.stats.score('absmean') has shape (blocks, channels); "
                  "score[block].topk(k).indices gives the ranking")
