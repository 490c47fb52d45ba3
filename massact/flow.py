"""The flow-matching sampler of a diffusers pipeline, step by step.

A diffusers pipeline runs its denoising loop inside ``__call__``. Image inversion and
embedding interpolation need that loop in pieces: the image in the sampler's space, the
velocity at a given point and time, one Euler step forwards or backwards. This module
takes those pieces from the pipeline itself, so the loop it drives is the pipeline's:

* **what the transformer is given** (``probe``): the pipeline runs up to the end of its
  first step and stops at the scheduler's ``step``; every transformer call of that step is
  recorded (text states, pooled vectors, masks, position ids, guidance embedding) with the
  noise it started from, and the scheduler holds the run's own sigmas and timesteps
  (shifted for the resolution, ``mu``, as the pipeline sets them).
* **the velocity** (``Probe.velocity``): the recorded call with another point and time;
  the timestep is scaled the way the pipeline scales it (FLUX, FLUX.2, Qwen-Image pass
  t / 1000, SD3 t, SANA t x its ``timestep_scale``), read off the recorded call.
* **one Euler step** (``euler_step``): ``FlowMatchEulerDiscreteScheduler.step`` without
  noise: x + (sigma_next - sigma) v, upcast to float32.
* **the VAE** (``encode_images`` / ``decode_latents``): the pipeline's latent conventions,
  between [0, 1] images and the transformer's input layout: FLUX.1 (scaling and shift
  factors, 2x2 packing), FLUX.2 (2x2 patchify, the VAE's batch-norm statistics, packing),
  SD3 (scaling and shift, no packing), SANA (scaling, resolution binning: the image is
  resized to the size the transformer sees and back), Qwen-Image (per-channel latent mean
  and std, a frame axis, 2x2 packing).

Families: FLUX.1, FLUX.2, SD3, SANA and Qwen-Image with a ``FlowMatchEulerDiscreteScheduler``
(no stochastic sampling). PixArt predicts noise for a DPM solver and is refused, as is a
pipeline whose scheduler is another one (``refusal`` says which and why).
"""
from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import nn

#: the families whose pipelines integrate a flow-matching ODE with Euler steps
FLOW_FAMILIES = ("flux", "flux2", "sd3", "sana", "qwen-image")

#: family -> {transformer keyword: pipeline keyword} for the text conditioning
CONDITIONING_KEYS = {
    "flux": {"encoder_hidden_states": "prompt_embeds", "pooled_projections": "pooled_prompt_embeds"},
    "flux2": {"encoder_hidden_states": "prompt_embeds"},
    "sd3": {"encoder_hidden_states": "prompt_embeds", "pooled_projections": "pooled_prompt_embeds"},
    "sana": {"encoder_hidden_states": "prompt_embeds", "encoder_attention_mask": "prompt_attention_mask"},
    "qwen-image": {"encoder_hidden_states": "prompt_embeds", "encoder_hidden_states_mask": "prompt_embeds_mask"},
}


def refusal(pipe, family: str) -> str | None:
    """Why the pipeline's sampler cannot be driven step by step, or None when it can.

    Args:
        pipe: a diffusers pipeline.
        family: its adapter family ("flux", "flux2", "sd3", "sana", "pixart", "qwen-image").
    Returns:
        a sentence naming what is wrong and what is supported, or None.
    """
    name = type(pipe).__name__
    if family not in FLOW_FAMILIES:
        return (f"{name} ({family}) is not a flow-matching pipeline: it predicts noise for "
                f"{type(getattr(pipe, 'scheduler', None)).__name__}, so there is no velocity ODE to run backwards. "
                "Inversion, sampling from given noise and embedding interpolation run on flow-matching pipelines "
                "(FLUX.1, FLUX.2, SD3, SANA, Qwen-Image) and on the toy model")
    sched = getattr(pipe, "scheduler", None)
    if sched is None or not hasattr(pipe, "vae"):
        return (f"{name} has no scheduler or no VAE (a transformer without its pipeline): the sampler step by step "
                "needs a complete diffusers pipeline")
    if type(sched).__name__ != "FlowMatchEulerDiscreteScheduler":
        return (f"{name} uses {type(sched).__name__}; massact drives the sampler step by step with Euler steps "
                "and needs a FlowMatchEulerDiscreteScheduler: set pipe.scheduler = "
                "FlowMatchEulerDiscreteScheduler.from_config(pipe.scheduler.config) (SANA checkpoints ship a "
                "DPM solver with flow prediction)")
    if sched.config.get("stochastic_sampling", False):
        return f"{name}'s scheduler samples stochastically (stochastic_sampling=True): the ODE has no inverse"
    return None


class _EndOfFirstStep(Exception):
    """Raised by the probe at the scheduler's first step, to stop the pipeline there."""


@dataclass
class Probe:
    """What a pipeline gives its transformer in one run, read at the run's first step.

    calls: the keyword arguments of each transformer call of a step (the point and the time
      removed): one call (cond only) or more (cond, then uncond for true CFG);
    rows: the rows of the run; batched: whether one call carries [uncond; cond] (2 x rows);
    noise: the point of the first call (the run's starting noise, transformer layout, one
      copy of the rows);
    sigmas: (num_steps + 1,) float32 from 1 to 0; timesteps: (num_steps,) the scheduler's;
    divisor, multiplier: how the pipeline scales the scheduler's timestep for the transformer;
    model_output: what the pipeline gave the scheduler at the first step (a check);
    time_dtype: the dtype of the timestep the transformer receives.
    """

    calls: list
    rows: int
    batched: bool
    noise: torch.Tensor
    sigmas: torch.Tensor
    timesteps: torch.Tensor
    divisor: float = 1.0
    multiplier: float = 1.0
    model_output: torch.Tensor | None = None
    time_dtype: torch.dtype = torch.float32

    @property
    def single_call(self) -> bool:
        """Whether each step is one transformer call on the rows (no classifier-free guidance)."""
        return len(self.calls) == 1 and not self.batched

    def transformer_time(self, t: torch.Tensor, rows: int) -> torch.Tensor:
        """The scheduler's timestep t as this pipeline hands it to its transformer (rows copies)."""
        ts = t.expand(rows).to(self.time_dtype)
        if self.divisor != 1.0:
            return ts / self.divisor
        return ts * self.multiplier if self.multiplier != 1.0 else ts

    def velocity(self, transformer: nn.Module, x: torch.Tensor, t: torch.Tensor) -> torch.Tensor:
        """The pipeline's velocity at point x (transformer layout) and scheduler time t.

        Args:
            transformer: the pipeline's transformer.
            x: (rows, ...) the point, in the layout of ``noise``.
            t: a scheduler timestep (one of ``timesteps``, or 0 at the clean end).
        Returns:
            the prediction the pipeline would hand its scheduler (after its own post-processing).
        Raises:
            ValueError when the run makes more than one call per step (classifier-free guidance).
        """
        if not self.single_call:
            raise ValueError("the run makes more than one transformer pass per step (classifier-free guidance); "
                             "the step-by-step sampler runs without it: use guidance 1 (or the guidance embedding "
                             "of a guidance-distilled FLUX)")
        dtype = next(transformer.parameters()).dtype
        kwargs = dict(self.calls[0])
        kwargs["hidden_states"] = x.to(dtype)
        kwargs["timestep"] = self.transformer_time(t.to(x.device), len(x))
        out = transformer(**kwargs)
        out = out[0] if isinstance(out, (tuple, list)) else getattr(out, "sample", out)
        return postprocess_prediction(transformer, out, x)


def postprocess_prediction(transformer: nn.Module, out: torch.Tensor, x: torch.Tensor) -> torch.Tensor:
    """The pipelines' treatment of a transformer output: packed families keep the image tokens
    (``[:, :N]``), SANA drops a learned-variance half (out_channels = 2 x in_channels) and
    works in float32."""
    if out.dim() == 3:
        out = out[:, : x.shape[1]]
    cfg = transformer.config
    if type(transformer).__name__ == "SanaTransformer2DModel":
        out = out.float()
        if int(cfg.out_channels) // 2 == int(cfg.in_channels):
            out = out.chunk(2, dim=1)[0]
    return out


def probe(pipe, call_args: dict) -> Probe:
    """Run the pipeline up to the end of its first denoising step and read what it gives its
    transformer (``Probe``); the scheduler keeps the run's sigmas and timesteps.

    Args:
        pipe: a flow-matching diffusers pipeline (``refusal`` is None).
        call_args: the keyword arguments of the run (prompts or embeddings, steps, size,
          generators, guidance).
    Returns:
        a ``Probe``.
    """
    transformer, sched = pipe.transformer, pipe.scheduler
    calls, seen = [], {}

    def record(module, args, kwargs):
        kw = dict(kwargs)
        if args:  # SANA passes the point positionally
            kw["hidden_states"] = args[0]
        calls.append(kw)

    def stop(model_output, timestep, sample, *args, **kwargs):
        seen["model_output"], seen["timestep"] = model_output.detach(), timestep
        raise _EndOfFirstStep

    handle = transformer.register_forward_pre_hook(record, with_kwargs=True, prepend=True)
    sched.step = stop  # an instance attribute shadows the method until it is deleted
    try:
        pipe.set_progress_bar_config(disable=True)
        pipe(**call_args)
    except _EndOfFirstStep:
        pass
    finally:
        handle.remove()
        del sched.step
    if not calls or "model_output" not in seen:
        raise RuntimeError(f"{type(pipe).__name__} returned before its first scheduler step; massact cannot read "
                           "its sampler")
    first = calls[0]
    hs, t_passed = first.pop("hidden_states"), first.pop("timestep")
    for c in calls[1:]:
        c.pop("hidden_states"), c.pop("timestep")
    rows = len(seen["model_output"])
    batched = len(hs) == 2 * rows
    noise = hs[rows:] if batched else hs
    t0 = sched.timesteps[0].to(torch.float32)
    ratio = float(t_passed.reshape(-1)[0].float()) / float(t0)
    divisor, multiplier = 1.0, 1.0
    if abs(ratio - 1) > 1e-6:
        if abs(1 / ratio - 1000) < 1e-2:
            divisor = 1000.0
        else:
            multiplier = ratio
    return Probe(calls, rows, batched, noise.detach(), sched.sigmas.detach().to(torch.float32).cpu().clone(),
                 sched.timesteps.detach().clone(), divisor, multiplier, seen["model_output"], t_passed.dtype)


def euler_step(x: torch.Tensor, v: torch.Tensor, sigma: torch.Tensor, sigma_next: torch.Tensor) -> torch.Tensor:
    """One Euler step of the flow ODE as ``FlowMatchEulerDiscreteScheduler.step`` takes it:
    x (upcast to float32) + (sigma_next - sigma) v, the product in v's dtype (bit for bit the
    scheduler's rounding in a bfloat16 run). Backwards when sigma_next > sigma."""
    return x.to(torch.float32) + (sigma_next - sigma).to(x.device) * v  # the product in v's dtype, as step() has it


def conditioning_of(family: str, pr: Probe) -> dict:
    """The pipeline keyword arguments (``prompt_embeds``, ``pooled_prompt_embeds``, masks, and
    their ``negative_`` twins under guidance) that reproduce the probed run's text conditioning."""
    keys = CONDITIONING_KEYS[family]
    out = {}
    for i, call in enumerate(pr.calls):
        for tk, pk in keys.items():
            v = call.get(tk)
            if not isinstance(v, torch.Tensor):
                continue
            if pr.batched:
                out["negative_" + pk], out[pk] = v[: pr.rows], v[pr.rows:]
            else:
                out[pk if i == 0 else "negative_" + pk] = v
    return out


def lerp_conditioning(target: dict, source: dict, alphas) -> dict:
    """Interpolated pipeline conditioning, one copy of the rows per alpha (0 = target).

    Embeddings and pooled vectors are interpolated; attention masks take the union of the
    two prompts' tokens; a sequence axis of different lengths (Qwen-Image trims its text
    to the batch's longest prompt) is padded with zeros (mask 0) first; the ``negative_``
    (unconditional) entries are the target's, repeated.

    Args:
        target, source: ``conditioning_of`` outputs for the same rows.
        alphas: the lerp weights.
    Returns:
        a dict of the same keys with len(alphas) x rows rows.
    """
    out = {}
    for k, t in target.items():
        s = source.get(k)
        if not isinstance(t, torch.Tensor) or s is None:
            out[k] = t
            continue
        if t.dim() >= 2 and s.shape[1] != t.shape[1]:
            n = max(s.shape[1], t.shape[1])
            pad = lambda a: torch.cat([a, a.new_zeros(a.shape[0], n - a.shape[1], *a.shape[2:])], 1)  # noqa: E731
            s, t = pad(s), pad(t)
        if k.startswith("negative_"):
            out[k] = torch.cat([t] * len(alphas))
        elif not torch.is_floating_point(t):
            out[k] = torch.cat([torch.maximum(t, s)] * len(alphas))
        else:
            out[k] = torch.cat([torch.lerp(t.float(), s.float(), float(a)).to(t.dtype) for a in alphas])
    if "prompt_embeds_mask" in out and "prompt_embeds_mask" not in target:
        out.pop("prompt_embeds_mask")
    return out


# -- the VAE ----------------------------------------------------------------------------
def _latent_of(encoded) -> torch.Tensor:
    dist = getattr(encoded, "latent_dist", None)
    return dist.mode() if dist is not None else encoded.latent


def encode_images(pipe, family: str, images: torch.Tensor, grid: tuple[int, int], pixels_per_token: int
                  ) -> torch.Tensor:
    """[0, 1] images (B, 3, H, W) -> the transformer's input layout, float32, as the pipeline
    would hold a clean image (its VAE's mode, its scaling, its packing).

    Args:
        pipe: the pipeline; family: its adapter family.
        images: float in [0, 1]; resized (bilinear) to the size the transformer sees when it
          differs (resolution binning).
        grid: the token grid (rows, cols) the transformer receives.
        pixels_per_token: image pixels per token side (VAE factor x patch size).
    """
    vae = pipe.vae
    px = int(pixels_per_token)
    size = (grid[0] * px, grid[1] * px)
    x = images.float()
    if tuple(x.shape[-2:]) != size:
        x = torch.nn.functional.interpolate(x, size=size, mode="bilinear", align_corners=False)
    x = (x * 2 - 1).to(vae.device, vae.dtype)
    b = len(x)
    if family == "qwen-image":
        z = _latent_of(vae.encode(x[:, :, None])).float()  # (B, C, 1, h, w)
        mean = torch.tensor(vae.config.latents_mean).view(1, -1, 1, 1, 1).to(z)
        std = torch.tensor(vae.config.latents_std).view(1, -1, 1, 1, 1).to(z)
        z = (z - mean) / std
        return pipe._pack_latents(z, b, z.shape[1], z.shape[-2], z.shape[-1]).float()
    z = _latent_of(vae.encode(x)).float()
    cfg = vae.config
    if family == "flux2":
        z = pipe._patchify_latents(z)
        mean = vae.bn.running_mean.view(1, -1, 1, 1).to(z)
        std = torch.sqrt(vae.bn.running_var.view(1, -1, 1, 1) + cfg.batch_norm_eps).to(z)
        return pipe._pack_latents((z - mean) / std).float()
    shift = cfg.get("shift_factor", None) or 0.0
    z = (z - shift) * cfg.scaling_factor
    if family == "flux":
        return pipe._pack_latents(z, b, z.shape[1], z.shape[2], z.shape[3]).float()
    return z  # sd3, sana: (B, C, h, w)


def decode_latents(pipe, family: str, x: torch.Tensor, grid: tuple[int, int], size: tuple[int, int],
                   pixels_per_token: int, dtype: torch.dtype | None = None) -> torch.Tensor:
    """The transformer's layout -> [0, 1] images (B, 3, H, W) float32 on the CPU, as the
    pipeline decodes its last latents (resized back to ``size`` after resolution binning).

    The arithmetic is the pipeline's, in its latents' dtype (``dtype``: the transformer's;
    default the VAE's), so a bfloat16 run decodes to the pipeline's own pixels.
    """
    vae = pipe.vae
    cfg = vae.config
    rows, cols = grid
    dtype = dtype or vae.dtype
    z = x.to(vae.device, dtype)
    if family == "qwen-image":
        z = z.view(len(z), rows, cols, -1, 2, 2).permute(0, 3, 1, 4, 2, 5).reshape(len(z), -1, 1, 2 * rows, 2 * cols)
        z = z.to(vae.dtype)
        mean = torch.tensor(cfg.latents_mean).view(1, -1, 1, 1, 1).to(z.device, z.dtype)
        std_inv = 1.0 / torch.tensor(cfg.latents_std).view(1, -1, 1, 1, 1).to(z.device, z.dtype)
        img = vae.decode(z / std_inv + mean, return_dict=False)[0][:, :, 0]
    elif family == "flux2":
        z = z.reshape(len(z), rows, cols, -1).permute(0, 3, 1, 2)
        mean = vae.bn.running_mean.view(1, -1, 1, 1).to(z.device, z.dtype)
        std = torch.sqrt(vae.bn.running_var.view(1, -1, 1, 1) + cfg.batch_norm_eps).to(z.device, z.dtype)
        img = vae.decode(pipe._unpatchify_latents(z * std + mean), return_dict=False)[0]
    elif family == "flux":
        z = z.view(len(z), rows, cols, -1, 2, 2).permute(0, 3, 1, 4, 2, 5).reshape(len(z), -1, 2 * rows, 2 * cols)
        img = vae.decode(z / cfg.scaling_factor + cfg.shift_factor, return_dict=False)[0]
    elif family == "sana":
        img = vae.decode(z.to(vae.dtype) / cfg.scaling_factor, return_dict=False)[0]
    else:  # sd3
        img = vae.decode(z / cfg.scaling_factor + (cfg.get("shift_factor", None) or 0.0), return_dict=False)[0]
    px = int(pixels_per_token)
    if tuple(size) != (rows * px, cols * px):
        img = torch.nn.functional.interpolate(img, size=tuple(size), mode="bilinear", align_corners=False)
    return (img / 2 + 0.5).clamp(0, 1).float().cpu()


def pipeline_latents(family: str, x: torch.Tensor, grid: tuple[int, int]) -> torch.Tensor:
    """The transformer's layout -> what the pipeline's ``latents=`` argument takes: FLUX.2
    packs its latents itself (it takes (B, C, h, w)); the others take the transformer's layout."""
    if family == "flux2":
        return x.reshape(len(x), grid[0], grid[1], -1).permute(0, 3, 1, 2).contiguous()
    return x
