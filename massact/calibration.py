"""Calibration: the images channels are ranked on, never the images a claim is judged on.

``calibrate(model)`` generates the calibration prompts (by default the model's world's
``calibration_prompts(8)``), drawing prompt i with seed ``CALIBRATION_SEED_BASE + i``,
captures statistics of every block at every denoising step, and returns a
``Calibration``; ``.score("absmean")`` is the (blocks, channels) ranking score every arm
uses. Evaluation images use small seeds (``EVALUATION_SEED_BASE + i``), so a calibration
image and an evaluation image are never the same picture; ``check_separation`` refuses
evaluation (prompt, seed) pairs the calibration saw.

The seeds are defined here and only here.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Sequence

import torch

from .channel_stats import STATISTICS, ChannelStats
from .checks import WrongType, check_choice, check_int, check_prompts, check_seeds
from .generation import generate
from .specs import CaptureSpec

__all__ = ["CALIBRATION_SEED_BASE", "EVALUATION_SEED_BASE", "DEFAULT_CALIBRATION_PROMPTS", "calibration_seeds",
           "evaluation_seeds", "default_calibration_prompts", "Calibration", "calibrate", "check_separation"]

#: calibration image i is drawn with seed CALIBRATION_SEED_BASE + i
CALIBRATION_SEED_BASE = 1000
#: evaluation image i is drawn with seed EVALUATION_SEED_BASE + i
EVALUATION_SEED_BASE = 0
#: how many calibration prompts ``calibrate`` takes from the model's world by default
DEFAULT_CALIBRATION_PROMPTS = 8


def calibration_seeds(n: int) -> list[int]:
    """The seeds of n calibration images: CALIBRATION_SEED_BASE + 0..n-1."""
    n = check_int("n", n, 0, what="the number of calibration images")
    return [CALIBRATION_SEED_BASE + i for i in range(n)]


def evaluation_seeds(n: int) -> list[int]:
    """The seeds of n evaluation images: EVALUATION_SEED_BASE + 0..n-1."""
    n = check_int("n", n, 0, what="the number of evaluation images")
    return [EVALUATION_SEED_BASE + i for i in range(n)]


def default_calibration_prompts(model, n: int = DEFAULT_CALIBRATION_PROMPTS) -> list[str]:
    """The model's world's first n calibration prompts.

    Raises:
        ValueError when the model has no world (a bare pipeline): pass prompts yourself.
    """
    world = getattr(model, "world", None)
    if world is None:
        raise ValueError("this model has no world: pass calibrate(model, prompts=[...]) (the prompts to rank "
                         "channels on, never the ones you judge)")
    return list(world.calibration_prompts(n))


@dataclass(frozen=True)
class Calibration:
    """Channel statistics on the calibration images (prompt i drawn with seeds[i]), every
    block and every denoising step.

    Attributes:
        prompts: the calibration prompts.
        seeds: one seed per prompt.
        stats: the captured ``ChannelStats`` (rows = prompts).
    """

    prompts: tuple[str, ...]
    seeds: tuple[int, ...]
    stats: ChannelStats

    def score(self, statistic: str = "absmean") -> torch.Tensor:
        """(blocks, channels): the statistic averaged over calibration images and steps.

        Args:
            statistic: "absmean" (|mean over image tokens|, the paper's), "meanabs" or "maxabs".
        Returns:
            a float32 tensor (blocks, channels).
        """
        return self.stats.score(check_choice("statistic", statistic, STATISTICS))

    @property
    def images(self) -> set[tuple[str, int]]:
        """The (prompt, seed) pairs the ranking saw."""
        return set(zip(self.prompts, self.seeds))

    def summary(self) -> dict:
        """A JSON-able description: prompts, seeds, and the captured shape."""
        return {"prompts": list(self.prompts), "seeds": list(self.seeds), "shape": list(self.stats.shape)}


def calibrate(model, prompts: Sequence[str] | None = None, seeds=None, num_steps: int | None = None,
              guidance: float | None = None, stats: ChannelStats | None = None) -> Calibration:
    """Rank on these images: generate the calibration prompts capturing every block and step.

    Args:
        model: a massact model.
        prompts: the calibration prompts (None: ``model.world.calibration_prompts(8)``).
        seeds: one per prompt or one int (None: CALIBRATION_SEED_BASE + i).
        num_steps: denoising steps (None: the model's default).
        guidance: the guidance scale (None: the model's default).
        stats: statistics already captured on exactly these prompts and seeds (then nothing
          is generated).
    Returns:
        a ``Calibration``.
    Raises:
        ValueError when the model has no world and no prompts are given, or for bad input.
    """
    prompts = default_calibration_prompts(model) if prompts is None else check_prompts(prompts)
    seeds = calibration_seeds(len(prompts)) if seeds is None else check_seeds(seeds, len(prompts))
    if stats is None:
        stats = generate(model, prompts, seeds, num_steps=num_steps, guidance=guidance, capture=CaptureSpec()).stats
    elif not isinstance(stats, ChannelStats):
        raise WrongType(f"stats must be ChannelStats (Generation.stats), got {type(stats).__name__}")
    elif stats.shape[0] != len(prompts):
        raise ValueError(f"stats hold {stats.shape[0]} rows for {len(prompts)} calibration prompts")
    return Calibration(tuple(prompts), tuple(seeds), stats)


def check_separation(calibration: Calibration, prompts: Sequence[str], seeds: Sequence[int]) -> dict:
    """Refuse evaluation images the ranking saw.

    A (prompt, seed) pair in both sets is the same image, so ranking and judging would
    not be independent. Prompts shared with other seeds are allowed (e.g. a user's own
    prompt file).

    Args:
        calibration: the ``Calibration`` the channels are ranked on.
        prompts, seeds: the evaluation images (one seed per prompt).
    Returns:
        {"shared_prompts": n, "shared_seeds": n}, the overlap counts.
    Raises:
        ValueError naming some shared images.
    """
    shared = calibration.images & set(zip(prompts, seeds))
    if shared:
        ex = sorted(shared)[:3]
        raise ValueError(f"{len(shared)} evaluation image(s) were used for channel ranking (same prompt and seed), "
                         f"e.g. {ex}: rank on a separate calibration set (other prompts or other seeds; "
                         f"calibration seeds default to {CALIBRATION_SEED_BASE}+i)")
    return {"shared_prompts": len(set(calibration.prompts) & set(prompts)),
            "shared_seeds": len(set(calibration.seeds) & set(seeds))}
