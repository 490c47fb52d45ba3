"""Notebook 04's exercises: predict where an interpolation's midpoint lands, prompt interpolation
as an edit, and image inversion."""
from __future__ import annotations

from typing import Callable, Sequence

import torch

from ..claims.transport import TransportSpec, sweep
from ..ranking import channel_set
from ..specs import EditSpec
from .common import (CannotMeasure, Exercise, Measured, PredictionCheck, calibration_score, call_learner,
                     check_prediction, crashed, failed, images, not_written, outcome_of, passed, unanswered)

EXERCISE = Exercise(
    "04_use_cases", "check_use_case",
    "Write `interpolate(channels, alpha)`: the `EditSpec` that mixes the source (row 0) into the target (row 1) on "
    "the given per-block channels with weight alpha, at every step. It is notebook 03's transport formula as an "
    "edit of one batch: which operation mixes two rows, and how does an edit name the row it writes and the row "
    "it reads?",
    "from massact.exercises import check_use_case\n"
    "def interpolate(channels, alpha):\n"
    "    ...  # return a massact.EditSpec; help(massact.EditSpec) says how it names rows\n"
    "check_use_case(model, interpolate)")

INVERSION_EXERCISE = Exercise(
    "04_use_cases", "check_inversion",
    "Write `invert(model, images, prompts, num_steps)`: the noise that regenerates the images, found by integrating "
    "the model's flow ODE **backwards**, from the image (t = 0) to noise (t = 1), with `num_steps` plain Euler steps "
    "on the model's own time grid and guidance 1 (the conditional velocity only). §3 explains the idea; the "
    "pieces are `model.from_images`, `model.encode_prompts`, `model.timesteps` and `model.velocity` (read their "
    "docstrings). The checker compares your noise with the backward Euler pass and regenerates the image from it.",
    "from massact.exercises import check_inversion\n"
    "def invert(model, images, prompts, num_steps):\n"
    "    ...  # return the noise, shaped like model.from_images(images)\n"
    "check_inversion(model, invert)",
    before="## 5 · ")

#: the options of ``predict_interpolation_midpoint``
MIDPOINT_OPTIONS = ("target", "halfway", "source")

PREDICTION_EXERCISE = Exercise(
    "04_use_cases", "predict_interpolation_midpoint",
    "**Predict first.** Transport the top-4 channels of every block at **alpha 0.5**. In pixels, will the output "
    "sit nearer the **target**, about **halfway**, or nearer the **source**? Write your prediction, then run the "
    "cell: the checker transports caption pairs of the world and measures, per pair, the pixel shift d_t / (d_t + "
    "d_s) (d: the pixel MSE of the output to the clean target and to the clean source; 0 is the target, 1 the "
    "source, 0.5 halfway), with a 95% interval over the pairs. The next cells measure the whole strip on 12 pairs.",
    "from massact.exercises import predict_interpolation_midpoint\n"
    "PREDICTION = ...  # \"target\", \"halfway\" or \"source\"\n"
    "prediction = predict_interpolation_midpoint(model, PREDICTION)",
    before="One pair shows what the strip looks like",
    heading="### Predict, then measure")

_MIDPOINT_WHY = {
    "target": "transport replaces only a few channels per block, and every block reads the rest of the target's "
              "activations and the target's prompt again, which pull the image back toward the target; a pixel "
              "blend at 0.5 would sit at exactly 0.5 by construction.",
    "source": "the few transported channels dominate the blocks' outputs (they are massive), so half of their "
              "source values already carry most of the source image; a pixel blend at 0.5 would sit at exactly 0.5.",
    "halfway": "the interval holds 0.5: in pixels the output is about as far from the target as from the source, "
               "where a pixel blend sits by construction; the strips show the difference: one object, not a "
               "double exposure.",
}


def measure_interpolation_midpoint(model, k: int = 4, alpha: float = 0.5, n_pairs: int = 8,
                                   num_steps: int = 10) -> Measured:
    """The pixel shift of top-k transport at ``alpha`` over the world's caption pairs, against 0.5.

    Args:
        model: the live model; k: channels per block; alpha: the transport's weight;
        n_pairs: the world's caption pairs (seed i for pair i); num_steps: sampler steps.
    Returns:
        a ``Measured`` whose outcome is "target" (the interval below 0.5), "source" (above) or
        "halfway".
    Raises:
        CannotMeasure when the model has no world.
    """
    world = getattr(model, "world", None)
    if world is None:
        raise CannotMeasure("model.world is None, so there are no caption pairs")
    pairs = world.caption_pairs(n_pairs)
    sw = sweep(model, [p.source for p in pairs], [p.target for p in pairs], list(range(n_pairs)),
               [TransportSpec("top", k, alpha=alpha)], calibration_score(model, num_steps, 4), num_steps=num_steps)
    shift = sw.estimate("pixel_shift", arm="top")
    text = (f"pixel shift of top-{k} transport at alpha {alpha:g}: {shift:.2f} over {shift.n} pairs "
            "(95% interval; 0 = the target, 0.5 = halfway, 1 = the source)")
    outcome = outcome_of(shift, "source", "target", "halfway", reference=0.5)
    return Measured(outcome, text, _MIDPOINT_WHY[outcome])


def predict_interpolation_midpoint(model, prediction, k: int = 4, alpha: float = 0.5, n_pairs: int = 8,
                                   num_steps: int = 10) -> PredictionCheck | None:
    """Check a prediction: at alpha 0.5, is top-k transport nearer the target, halfway, or nearer the source?

    Args:
        model: the notebook's model.
        prediction: one of ``MIDPOINT_OPTIONS`` (``...`` while unanswered).
        k, alpha, n_pairs, num_steps: the measurement (``measure_interpolation_midpoint``).
    Returns:
        a ``PredictionCheck``, or None while unanswered.
    Raises:
        ValueError naming the options when ``prediction`` is not one of them.
    """
    return check_prediction(PREDICTION_EXERCISE, prediction, MIDPOINT_OPTIONS,
                            lambda: measure_interpolation_midpoint(model, k, alpha, n_pairs, num_steps))

#: the prompt pair of the interpolation exercise (and the inversion exercise's reference)
USE_CASE_SOURCE = "a large red circle at the left on a black background"
USE_CASE_TARGET = "a small blue square at the right on a white background"


def reference_interpolation(channels: dict, alpha: float) -> EditSpec:
    """The reference answer of ``check_use_case``: row 1 (target) takes the channels of row 0 (source).

    Args:
        channels: {block: (channel, ...)}; alpha: the mixing weight in [0, 1].
    Returns:
        ``EditSpec("mix", channels, alpha=alpha, source_rows=((1, 0),))``.
    """
    return EditSpec("mix", channels, alpha=alpha, source_rows=((1, 0),))


def check_use_case(model, your_function: Callable, k: int = 4, alpha: float = 0.5, num_steps: int = 8,
                   seed: int = 0, source: str = USE_CASE_SOURCE, target: str = USE_CASE_TARGET,
                   calibration_prompts: Sequence[str] | None = None) -> bool:
    """Run ``your_function(channels, alpha) -> EditSpec`` on the batch [source, target] (same
    seed) and compare both rows' images with the reference interpolation edit.

    Args:
        model: the notebook's model.
        your_function: the learner's ``interpolate``; it gets the top-k channels of every
          block ({block: (channel, ...)}, ranked on 4 calibration prompts) and alpha.
        k, alpha: channels per block and the mixing weight.
        num_steps: sampler steps; seed: the one seed of both rows.
        source, target: the prompt pair (row 0, row 1).
        calibration_prompts: where the channels are ranked (default: the world's).
    Returns:
        True when the learner's edit gives the reference images (the source row untouched).
    """
    try:
        score = calibration_score(model, num_steps, 4, calibration_prompts)
    except ValueError as exc:
        return failed(str(exc), "or run this exercise on massact.load('toy')")
    channels = channel_set(score, k, "top")
    if not callable(your_function):
        return call_learner("your function", your_function, exercise=EXERCISE)[1]
    try:
        spec = your_function({b: tuple(c) for b, c in channels.items()}, alpha)
    except ValueError as exc:
        if "replace" in str(exc):
            return failed(f"EditSpec refused: {exc}", "op 'replace' is alpha = 1; op 'mix' takes any alpha in [0, 1]")
        return crashed("your function", exc)
    except Exception as exc:
        return crashed("your function", exc)
    if not_written(spec):
        return unanswered(EXERCISE)
    if not isinstance(spec, EditSpec):
        return failed(f"your function returned {type(spec).__name__}, not an EditSpec",
                      "return massact.EditSpec('mix', channels, alpha=alpha, source_rows=((target_row, source_row),))")
    prompts, seeds = [source, target], [seed, seed]
    try:
        spec.validate(model.num_blocks, model.width, num_steps, 2, model.num_image_tokens)
    except (TypeError, ValueError) as exc:
        return failed(f"your EditSpec is not valid for this batch: {exc}", "rows are 0 (source) and 1 (target)")
    ref = reference_interpolation(channels, alpha)
    clean = images(model, prompts, seeds, num_steps, tag="clean")
    expected = images(model, prompts, seeds, num_steps, [ref], tag=("interpolation", alpha,
                                                                    tuple(sorted(channels.items()))))
    mine = images(model, prompts, seeds, num_steps, [spec])
    if torch.allclose(mine, expected, atol=1e-5):
        to_t = float(((mine[1] - clean[1]) ** 2).mean())
        to_s = float(((mine[1] - clean[0]) ** 2).mean())
        return passed(f"your edit matches the reference: at alpha {alpha:g} the target moved by pixel MSE {to_t:.4f} "
                      f"from its clean image and is at MSE {to_s:.4f} from the source (source row untouched)")
    if set(spec.source_rows) == {(0, 1)}:
        return failed("your edit copies from the target into the source", "source_rows holds (target_row, source_row) "
                      "pairs: ((1, 0),) writes row 0's channels into row 1")
    if not spec.source_rows:
        return failed("your edit has no source rows", "mix from another row of the batch: source_rows=((1, 0),)")
    if spec.op == "zero":
        return failed("your edit zeroes channels instead of mixing them in", "op 'mix' (alpha 1 replaces)")
    if abs(spec.alpha - alpha) > 1e-9:
        return failed(f"your edit uses alpha {spec.alpha}, the exercise passes alpha {alpha}", "use the alpha argument")
    if spec.steps is not None:
        return failed(f"your edit acts at steps {list(spec.steps)} only", "steps=None acts at every step")
    if spec.token_mask is not None:
        return failed("your edit has a token mask", "this exercise moves the channels on every token: token_mask=None")
    if dict(spec.channels) != dict(channels):
        return failed("your edit moves other channels than the ones passed in", "pass `channels` through unchanged")
    return failed("your edit gives different images from the reference", "compare spec.summary() with the reference's")


def check_inversion(model, your_invert: Callable, num_steps: int = 5, reference: str = USE_CASE_SOURCE) -> bool:
    """Compare ``your_invert(model, images, prompts, num_steps) -> noise`` with the backward Euler pass.

    The reference image is drawn by the model's world (``world.render_references``); the
    right answer is ``model.euler(model.from_images(images), prompts, num_steps, 1.0,
    reverse=True)``; massact's refined inversion (``claims.inversion.invert``) also passes.
    Needs a model that exposes its sampler step by step and a world that renders (the toy).

    Args:
        model: the notebook's model.
        your_invert: the learner's function.
        num_steps: Euler steps.
        reference: the caption the world renders.
    Returns:
        True when the learner's noise matches either inversion.
    """
    if not getattr(model, "exposes_sampler", False):
        return failed(f"this exercise drives the sampler step by step, and {getattr(model, 'name', 'this model')!r} "
                      "does not expose it (model.exposes_sampler is False)", "run it with massact.load('toy')")
    if getattr(model, "world", None) is None:
        return failed("this exercise needs a reference image drawn by the model's world, and model.world is None",
                      "run it with massact.load('toy')")
    from ..claims.inversion import DEFAULT_REFINE

    try:
        ims, prompts = model.world.render_references(reference)
    except NotImplementedError:
        return failed(f"this exercise needs a reference image drawn by the model's world, and its world "
                      f"({type(model.world).__name__}) has no renderer", "run it with massact.load('toy')")
    ok, mine = call_learner("your invert", your_invert, model, ims.clone(), list(prompts), num_steps,
                            exercise=INVERSION_EXERCISE)
    if not ok:
        return False
    mine = torch.as_tensor(mine).float().cpu()
    x0 = model.from_images(ims)
    # the plain backward Euler pass (the library's inversion adds optional refinement on top)
    ref = model.euler(x0.clone(), prompts, num_steps, 1.0, reverse=True).float().cpu()
    if tuple(mine.shape) != tuple(ref.shape):
        return failed(f"shape {tuple(mine.shape)}, expected {tuple(ref.shape)}",
                      "return the noise in the model's space, shaped like model.from_images(images)")
    plain = torch.allclose(mine, ref, atol=1e-4)
    refined = (not plain and DEFAULT_REFINE > 0 and torch.allclose(
        mine, model.invert(ims, prompts, num_steps, 1.0, refine=DEFAULT_REFINE).float().cpu(), atol=1e-4))
    if plain or refined:
        recon = model.to_images(model.euler(mine.clone(), prompts, num_steps, 1.0))
        mse = float(((recon - ims) ** 2).mean())
        how = "the backward Euler pass" if plain else "massact's refined inversion"
        return passed(f"your inversion matches {how}; regenerating from it gives back the image with "
                      f"pixel MSE {mse:.4f} at {num_steps} steps (Euler inversion is exact only for small steps)")
    forward = model.euler(x0.clone(), prompts, num_steps, 1.0, reverse=False).float().cpu()
    if torch.allclose(mine, forward, atol=1e-4):
        return failed("you integrated forwards (noise -> image)",
                      "go from t = 0 to t = 1: ts = model.timesteps(num_steps).flip(0), x += (t_next - t) * v")
    guided = model.euler(x0.clone(), prompts, num_steps, model.default_guidance, reverse=True).float().cpu()
    if torch.allclose(mine, guided, atol=1e-4):
        return failed("you inverted with classifier-free guidance", "invert with guidance 1: the conditional velocity")
    if torch.allclose(mine, x0.float().cpu(), atol=1e-6):
        return failed("you returned the image itself", "apply `num_steps` Euler steps with model.velocity")
    ts = model.timesteps(num_steps).flip(0)
    return failed(f"max difference {float((mine - ref).abs().max()):.3g} from the reference",
                  f"x = model.from_images(images); cond = model.encode_prompts(prompts, 1.0); for i in "
                  f"range({num_steps}): x = x + (t[i+1] - t[i]) * model.velocity(x, t[i], cond, 1.0) with "
                  f"t = {[round(float(t), 4) for t in ts]}")
