"""Generate images while capturing channel statistics and applying edits.

``generate(model, prompts, seeds, num_steps=..., capture=..., edits=...)`` is the one
entry point the claims use, whether the initial noise comes from seeds or is given
(``latents=``: an inverted reference's noise, ``model.initial_noise(seeds)``). It is the
boundary: it checks every argument once (types, finite numbers, ranges against the model),
installs a ``hooks.Tracer`` for exactly the duration of sampling, and returns a
``Generation`` holding the images and whatever was captured. Nothing below it re-checks.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Sequence

import torch

from .channel_stats import ChannelStats
from .checks import WrongType, check_bool, check_finite, check_int, check_seeds
from .hooks import Tracer
from .models import MassactModel, require_sampler
from .specs import CaptureSpec, EditSpec

#: the most denoising steps a run may ask for (a typo guard: 1e4 steps would take hours)
MAX_STEPS = 1000

#: what generate needs of a model (a MassactModel has all of them)
MODEL_INTERFACE = ("transformer", "sample", "batch_layout", "validate_prompts", "default_steps",
                   "default_guidance", "num_blocks", "width", "num_image_tokens")


@dataclass
class Generation:
    """The images of one ``generate`` call and what was captured.

    Attributes:
        prompts: one prompt per row.
        seeds: one seed per row; None when the run started from given ``latents``.
        images: (rows, 3, H, W) float32 in [0, 1].
        num_steps: the number of denoising steps.
        guidance: the guidance scale used.
        stats / text_stats: streamed statistics (None when not captured).
        tensors: (block, step) -> (rows, tokens, channels) float32, the kept tensors.
        edits: the edits applied.
    """

    prompts: list[str]
    seeds: list[int] | None
    images: torch.Tensor  # (rows, 3, H, W) float32 in [0, 1]
    num_steps: int
    guidance: float
    stats: ChannelStats | None = None
    text_stats: ChannelStats | None = None
    tensors: dict = field(default_factory=dict)  # (block, step) -> (rows, tokens, channels) float32
    edits: tuple[EditSpec, ...] = ()

    def token_map(self, block: int, step: int) -> torch.Tensor:
        """The kept image-token tensor of (block, step); a clear error if it was not kept."""
        if (block, step) not in self.tensors:
            raise KeyError(f"(block {block}, step {step}) was not kept; kept pairs: {sorted(self.tensors)}; "
                           f"pass capture=CaptureSpec(keep=(({block}, {step}),)) to generate")
        return self.tensors[(block, step)]


def normalise_seeds(prompts: Sequence[str], seeds) -> list[int]:
    """One seed per prompt: None (0 for all), one int for all, or one int each.

    Args:
        prompts: the prompts (only their number matters).
        seeds: None, an int >= 0 or a sequence of ints >= 0 (floats and bools are refused).
    Returns:
        a list of len(prompts) ints.
    """
    return check_seeds(seeds, len(prompts))


def check_model(model) -> None:
    """Refuse anything that is not a massact model, naming how to get one.

    Raises:
        TypeError naming the missing parts and ``massact.load``.
    """
    if isinstance(model, MassactModel):
        return
    missing = [a for a in MODEL_INTERFACE if not hasattr(model, a)]
    if missing:
        hint = (" (a diffusers pipeline: wrap it with massact.load(pipeline))" if hasattr(model, "transformer")
                else "")
        raise WrongType(f"model must be a massact model, e.g. massact.load('toy'), massact.load('<hub id>') or "
                        f"massact.load(pipeline); got {type(model).__name__}{hint}, which lacks {', '.join(missing)}")


def _as_prompts(prompts) -> list[str]:
    if isinstance(prompts, (str, bytes)):
        raise WrongType("prompts must be a list of strings, e.g. ['a red circle'], not one string")
    try:
        return list(prompts)
    except TypeError:
        raise WrongType(f"prompts must be a list of strings, e.g. ['a red circle'], got {type(prompts).__name__}") \
            from None


def _as_capture(capture) -> CaptureSpec | None:
    if capture is None or capture is False:
        return None
    if capture is True:
        return CaptureSpec()
    if isinstance(capture, CaptureSpec):
        return capture
    raise WrongType(f"capture must be None, True (every block and step) or a CaptureSpec(...), got {capture!r}")


def _as_edits(edits) -> tuple[EditSpec, ...]:
    if isinstance(edits, EditSpec):
        return (edits,)
    if isinstance(edits, (str, bytes, dict)) or not isinstance(edits, (list, tuple)):
        raise WrongType(f"edits must be an EditSpec or a list of them, e.g. [EditSpec('zero', {{3: (5, 9)}})], "
                        f"got {edits!r}")
    bad = [e for e in edits if not isinstance(e, EditSpec)]
    if bad:
        raise WrongType(f"edits must be EditSpec objects, e.g. EditSpec('zero', {{3: (5, 9)}}); got {bad[0]!r}")
    return tuple(edits)


def _check_prompts_from_latents(model, prompts: list[str]) -> None:
    """From given latents the empty prompt ``""`` is a caption too (the one an uncaptioned
    reference is inverted with); every other prompt is the model's to check."""
    nonempty = [p for p in prompts if p != ""]
    if nonempty or not prompts:
        model.validate_prompts(nonempty)


def _as_latents(latents, rows: int) -> torch.Tensor:
    """The given initial noise, unchanged: a finite float tensor with one row per prompt."""
    if not isinstance(latents, torch.Tensor) or not latents.is_floating_point():
        raise WrongType(f"latents must be a float tensor of initial noise in the model's sampler layout, one row per "
                        f"prompt (e.g. model.initial_noise(seeds) or an inversion's noise), got "
                        f"{type(latents).__name__ if not isinstance(latents, torch.Tensor) else latents.dtype}")
    if latents.dim() < 2 or len(latents) != rows:
        raise ValueError(f"latents of shape {tuple(latents.shape)} for {rows} prompt(s): give one row of initial "
                         f"noise per prompt, shaped like model.initial_noise(seeds)")
    if not bool(torch.isfinite(latents).all()):
        raise ValueError("latents hold NaN or infinite values: initial noise must be finite")
    return latents


def generate(model: MassactModel, prompts: Sequence[str], seeds=None, num_steps: int | None = None,
             guidance: float | None = None, capture: CaptureSpec | bool | None = None,
             edits: Sequence[EditSpec] | EditSpec = (), progress: bool = False,
             latents: torch.Tensor | None = None) -> Generation:
    """Sample images for prompts (one seed each, or from given initial noise), capturing and
    editing the image stream.

    Args:
        model: a massact model (``massact.load(...)``).
        prompts: a list of prompts, one row each.
        seeds: None (0 for every row), an int for every row, or one int per row; each row
          draws its noise from its own ``torch.Generator("cpu")``, so the same seed gives
          the same image whatever else is in the batch. With ``latents`` no noise is drawn:
          seeds must then be None (the ``Generation`` records None).
        num_steps: the number of denoising steps, 1..1000 (None: the model's default).
        guidance: the guidance scale, a finite number >= 0 (None: the model's default).
        capture: None/False (nothing), True (statistics of every block and step) or a
          ``CaptureSpec``.
        edits: an ``EditSpec`` or a list of them.
        progress: show a progress bar.
        latents: None (noise from the seeds) or the initial noise itself, one row per prompt in
          the model's sampler layout (what ``model.initial_noise`` returns and ``model.sample``
          takes: (rows, 3, H, W) for the toy, the transformer's token layout for a pipeline),
          e.g. an inverted reference's noise; models that expose their sampler only. From
          given latents the empty prompt ``""`` is accepted (an uncaptioned reference's caption).
    Returns:
        a ``Generation``.
    Raises:
        TypeError / ValueError naming what is valid (seeds and latents together included);
        NotImplementedError for latents on a model that does not expose its sampler; no hook
        is left installed.
    """
    check_model(model)
    prompts = _as_prompts(prompts)
    if latents is None:
        model.validate_prompts(prompts)
        seeds = normalise_seeds(prompts, seeds)
    else:
        require_sampler(model, "sampling from given latents")
        if seeds is not None:
            raise ValueError(f"seeds {seeds!r} and latents given together: latents are the initial noise, so no seed "
                             "is drawn; pass seeds=None with latents, or seeds without latents")
        _check_prompts_from_latents(model, prompts)
        latents = _as_latents(latents, len(prompts))
    num_steps = check_int("num_steps", model.default_steps if num_steps is None else num_steps, 1, MAX_STEPS,
                          what="the number of denoising steps")
    guidance = check_finite("guidance", model.default_guidance if guidance is None else guidance, 0.0,
                            what="1 = no classifier-free guidance")
    capture = _as_capture(capture)
    edits = _as_edits(edits)
    progress = check_bool("progress", progress)
    layout = model.batch_layout(len(prompts), guidance)
    # the Tracer checks blocks, channels, steps, rows and tokens of capture and edits, once
    tracer = Tracer(model.transformer, layout, capture=capture, edits=edits, num_steps=num_steps,
                    width=model.width, num_tokens=model.num_image_tokens)
    with tracer as tr:
        images = model.sample(prompts, seeds, num_steps, guidance, progress=progress, latents=latents)
    res = tr.result()
    return Generation(prompts, seeds, images, num_steps, guidance, res.stats, res.text_stats, res.tensors, edits)
