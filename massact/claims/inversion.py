"""Image-conditioned transport: bring a reference image into a new caption's generation.

1. ``load_reference``: a reference image (a PNG, a PIL image, an array, a tensor, a
   generated image, or a scene drawn by the world's renderer,
   ``model.world.render_references(captions)``) as a (B, 3, H, W) tensor in [0, 1].
2. ``invert``: integrate the flow ODE *backwards* (image -> noise) with the Euler sampler,
   conditioned on the image's caption or on the empty prompt, guidance 1; each backward
   step is corrected by a few fixed-point iterations (``refine``) so that the forward
   sampler maps the noise back onto the image.
3. ``invert_and_record``: regenerate from the inverted noise (same caption, guidance 1:
   ``generate(..., latents=noise)``), measure the reconstruction error (MSE, PSNR) and
   keep the image-stream tensors of that trajectory at the chosen (block, step) pairs.
4. ``subject_transfer``: sample a new caption from the inverted noise while its massive
   channels, inside the reference's subject mask (clustering of the recorded tokens), are
   pulled toward the recorded ones: ``EditSpec("mix", recorded=...)``.

Models that expose their sampler step by step only (``model.exposes_sampler``: ``invert``,
``from_images``, ``initial_noise``, ``sample`` with ``latents``): the toy model and flow-matching
pipelines (FLUX.1, FLUX.2, SD3, SANA, Qwen-Image: the pipeline's VAE, sigmas and text
conditioning, ``massact.flow``); others (PixArt) raise NotImplementedError. The sentences built from a transfer are
``massact.readings.subject_transfer(inversion, measure)``.
"""
from __future__ import annotations

import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Sequence

import numpy as np
import torch

from ..checks import check_int, is_int
from ..clustering import iou, token_foreground_mask
from ..generation import generate
from ..models import require_sampler
from ..selection import Selection
from ..specs import CaptureSpec
from .results import interval, summary_of
from .transport import DEFAULT_MASK_K, TransportSpec


# -- references ---------------------------------------------------------------------------
def load_reference(image, resize: bool = False, size: int = 32) -> torch.Tensor:
    """A reference image as float (B, 3, size, size) in [0, 1].

    image: a path to a PNG/JPEG, a PIL image, a uint8/float array (H, W, 3) or (B, H, W, 3),
    or a float tensor (3, H, W) / (B, 3, H, W) in [0, 1]. Images of another size raise a
    ValueError unless resize=True (bilinear, aspect ratio not kept)."""
    from PIL import Image

    if isinstance(image, (str, Path)):
        p = Path(image)
        if not p.exists():
            raise FileNotFoundError(f"reference image {str(p)!r} not found")
        image = Image.open(p)
    if isinstance(image, Image.Image):
        image = image.convert("RGB")
        if image.size != (size, size):
            if not resize:
                raise ValueError(f"reference image is {image.size[0]}x{image.size[1]} px; the model takes "
                                 f"{size}x{size} RGB images: pass resize=True to resize it")
            image = image.resize((size, size), Image.BILINEAR)
        x = torch.from_numpy(np.asarray(image, dtype=np.float32) / 255.0).permute(2, 0, 1)[None]
        return x.contiguous()
    if isinstance(image, np.ndarray):
        a = image
        if a.ndim == 3:
            a = a[None]
        if a.ndim != 4 or a.shape[-1] != 3:
            raise ValueError(f"array reference must be (H, W, 3) or (B, H, W, 3), got {image.shape}")
        a = a.astype(np.float32) / 255.0 if image.dtype == np.uint8 else a.astype(np.float32)
        image = torch.from_numpy(a).permute(0, 3, 1, 2)
    if not isinstance(image, torch.Tensor):
        raise TypeError(f"cannot read a reference image from {type(image).__name__}: give a path, a PIL image, "
                        "an array or a tensor")
    x = image.detach().float().cpu()
    if x.dim() == 3:
        x = x[None]
    if x.dim() != 4 or x.shape[1] != 3:
        raise ValueError(f"tensor reference must be (3, H, W) or (B, 3, H, W), got {tuple(image.shape)}")
    if float(x.min()) < -1e-6 or float(x.max()) > 1 + 1e-6:
        raise ValueError("reference image values must be in [0, 1]")
    if tuple(x.shape[-2:]) != (size, size):
        if not resize:
            raise ValueError(f"reference image is {x.shape[-1]}x{x.shape[-2]} px; the model takes {size}x{size} "
                             "RGB images: pass resize=True to resize it")
        x = torch.nn.functional.interpolate(x, size=(size, size), mode="bilinear", align_corners=False).clamp(0, 1)
    return x.contiguous()


# -- inversion ----------------------------------------------------------------------------
def _prompts_for(images: torch.Tensor, prompts) -> list[str]:
    if prompts is None:
        return [""] * len(images)
    if isinstance(prompts, str):
        prompts = [prompts] * len(images)
    prompts = list(prompts)
    if len(prompts) != len(images):
        raise ValueError(f"{len(prompts)} captions for {len(images)} reference images: give one each (or None "
                         "for the empty prompt)")
    return prompts


def _check_prompts(model, prompts: Sequence[str]) -> None:
    nonempty = [p for p in prompts if p != ""]
    if nonempty:
        model.validate_prompts(nonempty)


DEFAULT_REFINE = 4


@torch.no_grad()
def invert(model, images: torch.Tensor, prompts=None, num_steps: int | None = None, guidance: float = 1.0,
           refine: int = DEFAULT_REFINE) -> torch.Tensor:
    """Integrate the flow ODE backwards: images (B, 3, H, W) in [0, 1] -> noise (B, 3, H, W).
    prompts: one caption per image, or None for the empty prompt.

    refine=0 is the plain backward Euler pass (``model.euler(reverse=True)``): the backward
    step from x_{i+1} uses v(x_{i+1}, t_{i+1}), but the forward step that must undo it uses
    v(x_i, t_i), so the round trip is exact only in the limit of small steps. refine=r > 0 corrects each backward step with r
    fixed-point iterations x_i <- x_{i+1} - (t_{i+1} - t_i) v(x_i, t_i), i.e. solves for the
    x_i that the forward Euler step maps onto x_{i+1} (converges when the step is small
    against the velocity field's variation): a far smaller round-trip error for (1 + r)
    times the model calls."""
    require_sampler(model, "image inversion")
    prompts = _prompts_for(images, prompts)
    _check_prompts(model, prompts)
    num_steps = check_int("num_steps", model.default_steps if num_steps is None else num_steps, 1,
                          what="the number of Euler steps")
    refine = check_int("refine", refine, 0, what="fixed-point iterations per step")
    # the integrator is the model's own Euler loop run backwards (models.MassactModel.invert)
    return model.invert(images, prompts, num_steps, float(guidance), refine=refine)


def psnr(mse: float, peak: float = 1.0) -> float:
    return float("inf") if mse <= 0 else float(10 * math.log10(peak ** 2 / mse))


@dataclass
class InversionResult:
    reference: torch.Tensor  # (B, 3, H, W) in [0, 1]
    prompts: list[str]
    noise: torch.Tensor  # the sampler's space: (B, 3, H, W) for the toy, the transformer's latent layout for a pipeline
    reconstruction: torch.Tensor  # (B, 3, H, W)
    mse: float
    psnr: float
    num_steps: int
    guidance: float
    tensors: dict = field(default_factory=dict)  # (block, step) -> (B, N, D), the reconstruction's trajectory
    per_image_mse: list = field(default_factory=list)
    refine: int = DEFAULT_REFINE
    #: the error no inversion can beat: decode(encode(reference)) against the reference (0 for the toy)
    codec_mse: float = 0.0
    #: the round trip in the sampler's own space, mean((x' - x)^2) / mean(x^2): x the reference
    #: encoded, x' the forward pass from its inverted noise
    latent_rel_mse: float | None = None


def invert_and_record(model, reference, prompts=None, num_steps: int | None = None, guidance: float = 1.0,
                      keep_blocks: Sequence[int] | None = None, keep_steps: Sequence[int] | None = None,
                      resize: bool = False, refine: int = DEFAULT_REFINE) -> InversionResult:
    """Invert the reference (``invert``, with refine fixed-point iterations per step),
    regenerate from its noise (same caption, same guidance) and keep the image-stream
    tensors of that trajectory at keep_blocks x keep_steps (None = all).

    The reconstruction error is reported three ways: ``mse``/``psnr`` of the regenerated image
    against the reference; ``codec_mse``, the floor set by the model's image codec (a
    pipeline's VAE: decode(encode(reference)), 0 for the toy); ``latent_rel_mse``, the round
    trip of the ODE alone in the sampler's space (one more forward pass)."""
    require_sampler(model, "image inversion")
    images = load_reference(reference, resize=resize, size=model.height_px)
    prompts = _prompts_for(images, prompts)
    num_steps = check_int("num_steps", model.default_steps if num_steps is None else num_steps, 1,
                          what="the number of Euler steps")
    noise = invert(model, images, prompts, num_steps, guidance, refine=refine)
    blocks = range(model.num_blocks) if keep_blocks is None else keep_blocks
    stepl = range(num_steps) if keep_steps is None else keep_steps
    keep = tuple((b, s) for b in blocks for s in stepl)
    # the reconstruction is an ordinary generation from the inverted noise
    recon = generate(model, prompts, num_steps=num_steps, guidance=float(guidance), latents=noise,
                     capture=CaptureSpec(blocks=(), keep=keep, stats=False) if keep else None)
    per = ((recon.images - images) ** 2).mean(dim=(1, 2, 3))
    mse = float(per.mean())
    with torch.no_grad():
        x = model.from_images(images)
        codec = float(((model.to_images(x).float().cpu() - images) ** 2).mean())
        back = model.euler(noise, prompts, num_steps, float(guidance)).float().cpu()
        x = x.float().cpu()
        latent = float(((back - x) ** 2).mean() / (x ** 2).mean().clamp_min(1e-12))
    return InversionResult(images, prompts, noise, recon.images, mse, psnr(mse), num_steps, float(guidance),
                           dict(recon.tensors), [float(v) for v in per], int(refine), codec, latent)


def subject_mask(inv: InversionResult, score: torch.Tensor, mask_at: tuple[int, int], grid: tuple[int, int],
                 k: int = DEFAULT_MASK_K) -> torch.Tensor:
    """bool (B, tokens): the reference's subject, clustered on the top-k channels of the
    recorded tokens at (block, step)."""
    if tuple(mask_at) not in inv.tensors:
        raise KeyError(f"(block, step) {tuple(mask_at)} was not recorded; recorded pairs: {sorted(inv.tensors)[:8]}...")
    b = int(mask_at[0])
    channels = Selection("top", k, blocks=(b,)).channels(score)[b]
    return token_foreground_mask(inv.tensors[tuple(mask_at)], list(channels), grid)


# -- transfer -----------------------------------------------------------------------------
@dataclass
class TransferResult:
    inversion: InversionResult
    captions: list[str]
    spec: TransportSpec
    clean: torch.Tensor  # the new captions from the same noise, no transport
    output: torch.Tensor  # with transport
    mask: torch.Tensor | None  # bool (B, tokens) or None
    channels: dict
    guidance: float


def subject_transfer(model, inv: InversionResult, captions, spec: TransportSpec = TransportSpec(mask="source"),
                     score: torch.Tensor | None = None, mask_at: tuple[int, int] | None = None,
                     mask_k: int = DEFAULT_MASK_K, guidance: float | None = None, start: str | int = "inverted",
                     energy: torch.Tensor | None = None) -> TransferResult:
    """Generate the new captions from the inverted noise (start="inverted") or a seed (int),
    transporting the recorded trajectory's channels (spec.arm/k/alpha/blocks/steps) inside
    the reference's subject mask (spec.mask="source") or everywhere (spec.mask="none").

    The edit is the spec's selection's ``EditSpec("mix", recorded=...)`` (``Selection.edit``);
    energy: for the "energy" arm, (blocks, channels) squared activations."""
    require_sampler(model, "subject transfer from an image")
    if spec.mask == "target":
        raise ValueError("subject transfer transports inside the reference's subject: use mask 'source' (the "
                         "reference's mask) or 'none'")
    mask = spec.mask == "source"
    captions = [captions] * len(inv.reference) if isinstance(captions, str) else list(captions)
    if len(captions) != len(inv.reference):
        raise ValueError(f"{len(captions)} captions for {len(inv.reference)} references: give one each")
    model.validate_prompts(captions)
    sel = spec.selection  # its ranges (k, blocks, steps) checked here, before any sampling
    blocks, steps = sel.block_indices(model.num_blocks, model.width), sel.step_indices(inv.num_steps)
    guidance = model.default_guidance if guidance is None else float(guidance)
    stepl = steps if steps is not None else tuple(range(inv.num_steps))
    missing = [(b, s) for b in blocks for s in stepl if (b, s) not in inv.tensors]
    if missing:
        raise ValueError(f"the inversion did not record {len(missing)} of the (block, step) pairs this transport needs, "
                         f"e.g. {missing[:3]}: record them with invert_and_record(keep_blocks=..., keep_steps=...)")
    if (spec.k < model.width or mask) and score is None:
        raise ValueError("pass score=massact.calibrate(model).score(): the channel arms and the subject mask rank "
                         "channels")
    if score is None:  # every channel moves: a flat score ranks them all alike
        score = torch.zeros(model.num_blocks, model.width)
    if mask_at is None:  # the middle block at the last step of the recorded trajectory
        mask_at = (model.num_blocks // 2, inv.num_steps - 1)
    tm = subject_mask(inv, score, mask_at, model.token_grid(), mask_k) if mask else None
    if start == "inverted":
        latents = inv.noise
    elif is_int(start):
        latents = model.initial_noise([int(start)] * len(captions))
    else:
        raise ValueError(f"start {start!r}: use 'inverted' (the reference's noise) or an int seed")
    recorded = {(b, s): inv.tensors[(b, s)] for b in blocks for s in stepl}
    edit = sel.edit(score, inv.num_steps, "mix", alpha=spec.alpha, token_mask=None if tm is None else tm.float(),
                    recorded=recorded, energy=energy)
    clean = generate(model, captions, num_steps=inv.num_steps, guidance=guidance, latents=latents).images
    out = generate(model, captions, num_steps=inv.num_steps, guidance=guidance, latents=latents, edits=[edit]).images
    return TransferResult(inv, captions, spec, clean, out, tm, dict(edit.channels), guidance)


def measure_transfer(metrics, reference: torch.Tensor, clean: torch.Tensor, output: torch.Tensor) -> dict:
    """Which of the reference's attributes the output carries, and whether it keeps the new
    caption's others. Over the items where the reference and the clean new-caption image
    differ in attribute a: carried[a] = share of outputs showing the reference's value,
    kept[a] = share still showing the clean image's value. stable: over the attributes where
    they agree, the share the output keeps. Mask IoU of the output with each.

    Each share comes with ``n`` (items) and its 95% bootstrap interval over the items
    (``carried_ci[a]``, ``kept_ci[a]``: over the items that differ in a; ``stable_ci``: over
    the per-item share kept); ``per_item`` holds the per-item values (NaN where an item does
    not test the quantity)."""
    n = len(reference)
    out = {"carried": {}, "kept": {}, "differing": {}, "stable": None, "iou_reference": None, "iou_clean": None,
           "n": n, "carried_ci": {}, "kept_ci": {}, "stable_ci": None,
           "per_item": {"carried": {}, "kept": {}, "stable": None}}
    attrs = metrics.attributes_of(torch.cat([reference, clean, output]))
    if attrs:
        same, total = 0, 0
        same_i, total_i = np.zeros(n), np.zeros(n)
        for a, lab in attrs.items():
            lab = np.asarray(lab)
            r, c, o = lab[:n], lab[n:2 * n], lab[2 * n:]
            d = r != c
            out["differing"][a] = int(d.sum())
            out["carried"][a] = float((o[d] == r[d]).mean()) if d.any() else None
            out["kept"][a] = float((o[d] == c[d]).mean()) if d.any() else None
            for key, hit in (("carried", o == r), ("kept", o == c)):
                vals = np.where(d, hit.astype(float), np.nan)
                out["per_item"][key][a] = vals
                out[f"{key}_ci"][a] = interval(summary_of(vals), 4)
            same += int((o[~d] == c[~d]).sum())
            total += int((~d).sum())
            same_i += (o == c) & ~d
            total_i += ~d
        out["stable"] = same / total if total else None
        with np.errstate(invalid="ignore", divide="ignore"):
            out["per_item"]["stable"] = np.where(total_i > 0, same_i / np.maximum(total_i, 1), np.nan)
        out["stable_ci"] = interval(summary_of(out["per_item"]["stable"]), 4)
    fg = metrics.foreground_mask(torch.cat([reference, clean, output]))
    if fg is not None:
        fg = np.asarray(fg, bool)
        out["iou_reference"] = float(np.mean([iou(fg[2 * n + i], fg[i]) for i in range(n)]))
        out["iou_clean"] = float(np.mean([iou(fg[2 * n + i], fg[n + i]) for i in range(n)]))
    return out

