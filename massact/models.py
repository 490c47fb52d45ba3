"""A model massact can study: the transformer, its adapter, its world and a sampler that makes images.

``MassactModel`` is the interface every claim uses: the transformer and its blocks, the
token grid, ``sample``, ``model.world`` (the prompts it understands: a ``world.World`` or
None) and ``model.metrics()`` (how its images are measured). ``PipelineModel`` wraps a
diffusers text-to-image pipeline whose transformer class is in ``adapters.ADAPTERS``;
``massact.load`` (``loading.py``) builds models by name. Every sampler returns float32
images (B, 3, H, W) in [0, 1] and takes one seed per image (a ``torch.Generator("cpu")``
each), so the same seed gives the same image whatever else is in the batch.

A model that exposes its sampler step by step (``exposes_sampler = True``: initial noise,
timesteps, prompt encoding, velocity, one Euler loop, inversion) supports the claims that
drive the sampler themselves (embedding interpolation, image inversion); the base class
raises NotImplementedError for those pieces.
"""
from __future__ import annotations

import inspect
import math
import warnings
from typing import Sequence

import torch
from torch import nn

from .adapters import Adapter, BlockRef, adapter_for, enumerate_blocks, supported_classes
from . import flow
from .metrics import Metrics, RealMetrics
from .checks import check_prompts
from .specs import BatchLayout
from .world import World


def require_sampler(model, what: str) -> None:
    """Refuse models that do not expose their sampler step by step.

    Args:
        model: the model a claim was given.
        what: the feature that needs the sampler, e.g. "image inversion".
    Raises:
        NotImplementedError naming the model and what it lacks.
    """
    if not getattr(model, "exposes_sampler", False):
        why = getattr(model, "sampler_refusal", None)
        if why:
            raise NotImplementedError(f"{what} on {getattr(model, 'name', type(model).__name__)!r} needs the sampler "
                                      f"step by step: {why}")
        raise NotImplementedError(
            f"{what} needs a model that exposes its sampler step by step (model.initial_noise, model.timesteps, "
            f"model.encode_prompts, model.euler): the toy model and flow-matching pipelines (FLUX.1, FLUX.2, SD3, "
            f"SANA, Qwen-Image as a massact PipelineModel), and "
            f"{getattr(model, 'name', type(model).__name__)!r} does not expose them")


class MassactModel:
    """Base class: subclasses set ``transformer`` and implement ``sample`` and ``token_grid``.

    ``world``: the model's ``World`` (default prompts, caption pairs, vocabulary) or None;
    ``exposes_sampler``: whether the step-by-step sampler pieces below are implemented.
    """

    name: str = "model"
    world: World | None = None
    exposes_sampler: bool = False
    transformer: nn.Module
    default_steps: int = 20
    default_guidance: float = 1.0
    height_px: int
    width_px: int

    @property
    def adapter(self) -> Adapter:
        return adapter_for(self.transformer)

    @property
    def blocks(self) -> list[BlockRef]:
        return enumerate_blocks(self.transformer)

    @property
    def num_blocks(self) -> int:
        return len(self.blocks)

    @property
    def width(self) -> int:
        """Hidden size (number of channels) of the image stream, from the transformer's config
        (heads x head size, or the config's hidden size where a class names it so)."""
        cfg = self.transformer.config
        heads, head_dim = getattr(cfg, "num_attention_heads", None), getattr(cfg, "attention_head_dim", None)
        if heads and head_dim:
            return int(heads * head_dim)
        for key in ("hidden_size", "dim", "inner_dim", "model_dim"):
            if getattr(cfg, key, None):
                return int(getattr(cfg, key))
        raise AttributeError(f"cannot read the width of {type(self.transformer).__name__} from its config")

    def token_grid(self) -> tuple[int, int]:
        """(rows, cols) of image tokens, row-major, at the model's current resolution."""
        raise NotImplementedError

    @property
    def num_image_tokens(self) -> int:
        h, w = self.token_grid()
        return h * w

    def batch_layout(self, num_rows: int, guidance: float) -> BatchLayout:
        """How the rows reach the transformer in a run of num_rows prompts at this guidance
        (subclasses whose sampler is not the adapter's default override it)."""
        cfg = self.adapter.cfg_layout
        if guidance > 1.0 and cfg in ("batch", "batch_cond_first"):
            return BatchLayout(num_rows, batch_branches=self.adapter.batch_branches)
        if guidance > 1.0 and cfg == "calls":
            return BatchLayout(num_rows, calls_per_step=2, call_branches=("cond", "uncond"))
        return BatchLayout(num_rows)

    def sample(self, prompts: Sequence[str], seeds: Sequence[int] | None, num_steps: int, guidance: float,
               progress: bool = False, latents: torch.Tensor | None = None, conditioning=None) -> torch.Tensor:
        """Sample images (B, 3, H, W) float32 in [0, 1].

        Args:
            prompts: one prompt per image (validated by the caller).
            seeds: one seed per image (ignored when ``latents`` is given).
            num_steps: denoising steps (a count).
            guidance: classifier-free guidance scale (1 = none).
            progress: show a progress bar.
            latents: initial noise instead of the seeds' (models that expose their sampler).
            conditioning: ``encode_prompts`` output instead of the prompts' (same models).
        """
        raise NotImplementedError

    def metrics(self, **kwargs) -> Metrics:
        """How this model's images are measured: ``RealMetrics(**kwargs)`` (pixel distances,
        an optional CLIP score and mask function); models with exact metrics override it.

        Args:
            **kwargs: ``RealMetrics`` options (``clip_model``, ``mask_fn``).
        Returns:
            a ``metrics.Metrics``.
        """
        return RealMetrics(**kwargs)

    def checkpoints(self) -> list[int]:
        """Training steps at which this model's weights can be loaded (empty: only these weights)."""
        return []

    def at_checkpoint(self, step: int) -> "MassactModel":
        """The same model with the weights of training step ``step`` (one of ``checkpoints()``)."""
        raise NotImplementedError(f"{type(self).__name__} has no training checkpoints")

    def validate_prompts(self, prompts: Sequence[str]) -> None:
        """Refuse prompts the model cannot read (the world's check when it has one).

        Raises:
            TypeError / ValueError naming what a valid prompt looks like.
        """
        if self.world is not None:
            self.world.validate_prompts(prompts)
        else:
            check_prompts(prompts)

    # -- the sampler step by step (models with exposes_sampler = True) ----------------------
    def _no_sampler(self, what: str):
        require_sampler(self, what)
        raise NotImplementedError(f"{type(self).__name__} sets exposes_sampler but does not implement {what}")

    def initial_noise(self, seeds: Sequence[int]) -> torch.Tensor:
        """The sampler's starting noise, one ``torch.Generator("cpu")`` per seed."""
        return self._no_sampler("initial_noise")

    def timesteps(self, num_steps: int) -> torch.Tensor:
        """The num_steps + 1 times of the sampler, from noise (first) to image (last)."""
        return self._no_sampler("timesteps")

    def encode_prompts(self, prompts: Sequence[str], guidance: float):
        """Text conditioning for prompts (with the unconditional branch when guidance > 1)."""
        return self._no_sampler("encode_prompts")

    def velocity(self, x: torch.Tensor, t: float, conditioning, guidance: float) -> torch.Tensor:
        """The guided velocity at time t."""
        return self._no_sampler("velocity")

    def euler(self, x: torch.Tensor, prompts, num_steps: int, guidance: float, reverse: bool = False,
              progress: bool = False, conditioning=None, refine: int = 0) -> torch.Tensor:
        """Integrate the sampler's ODE from x (noise -> image, or image -> noise when reverse)."""
        return self._no_sampler("euler")

    def invert(self, images: torch.Tensor, prompts: Sequence[str], num_steps: int, guidance: float,
               refine: int = 0) -> torch.Tensor:
        """Images in [0, 1] -> the noise the sampler maps onto them."""
        return self._no_sampler("image inversion")

    def from_images(self, images: torch.Tensor) -> torch.Tensor:
        """[0, 1] images -> the sampler's space."""
        return self._no_sampler("from_images")

    def to_images(self, x: torch.Tensor) -> torch.Tensor:
        """The sampler's space -> [0, 1] images."""
        return self._no_sampler("to_images")


#: family -> the multiple of pixels an image side must be (VAE factor x patch size); other
#: families: the pipeline's ``vae_scale_factor`` x 2. The token grid itself is read from
#: what the transformer receives (``PipelineModel.token_grid``)
PIXELS_PER_TOKEN = {"flux": 16, "flux2": 16, "qwen-image": 16, "sd3": 16, "pixart": 16, "sana": 32}


#: families whose pipelines write guidance as cond + g (cond - uncond), on whenever g > 0 (Z-Image,
#: Krea 2): massact's guidance g (uncond + g (cond - uncond), 1 = none) reaches them as g - 1
GUIDANCE_MINUS_ONE = ("z-image", "krea2")


def pixels_per_token(pipe, family: str) -> int:
    """The multiple of pixels an image side must be for a pipeline of this family."""
    return PIXELS_PER_TOKEN.get(family) or int(getattr(pipe, "vae_scale_factor", 8)) * 2


class _FirstCall(Exception):
    """Raised by the token-grid probe at the transformer's first call, to stop the pipeline there."""


def grid_of_call(transformer: nn.Module, args: tuple, kwargs: dict) -> tuple[int, int]:
    """(rows, cols) of the target image tokens in one call of a transformer, read from its
    inputs by its adapter's token reader (``adapters.Adapter.read_tokens``): latents
    (B, C, h, w) cut into patches (SD3, PixArt, SANA), packed tokens with ``img_ids`` (FLUX.1,
    FLUX.2) or ``img_shapes`` (Qwen-Image).

    Args:
        transformer: the pipeline's transformer.
        args, kwargs: the arguments of its forward call (a forward pre-hook's view).
    Returns:
        (rows, cols), row-major: token i sits at (i // cols, i % cols).
    Raises:
        RuntimeError when the inputs show no grid.
    """
    grid = adapter_for(transformer).read_tokens(transformer, args, kwargs).grid
    if grid is None:
        raise RuntimeError(f"cannot read the image token grid from the inputs of {type(transformer).__name__}")
    return grid


class PipelineModel(MassactModel):
    """A diffusers text-to-image pipeline with a supported transformer.

    ``world``: the prompts this model is studied on (a ``World``); None (the default) means
    every claim asks for explicit prompts.

    The token grid is what the transformer receives, not pixels over a patch size: PixArt
    and SANA pipelines snap the requested size to a bin of their transformer's
    ``sample_size`` (and resize the image back), so a 512 px request on PixArt-Sigma-1024
    runs on 64x64 tokens. ``token_grid()`` asks the pipeline itself, once per image size:
    it runs the pipeline up to the transformer's first call (prompt encoding and latent
    preparation, no denoising) and reads the grid off that call's inputs; every run
    records the grid again and refuses a disagreement.

    The CFG layout is read from the run as well (``BatchLayout.from_run``): a call on
    2 x rows rows is batched [uncond; cond] (SD3, SANA, PixArt at guidance > 1); one call
    per step at 1 x rows is cond only (FLUX.1, FLUX.2-klein distilled, guidance 1); two
    calls per step are cond, then uncond (Qwen-Image, FLUX.1 with true_cfg_scale > 1,
    FLUX.2-klein base at guidance > 1).

    Args:
        pipe: the diffusers pipeline.
        name: a display name (default: the pipeline class).
        height_px, width_px: the requested image size (default 512; width = height).
        num_steps: default denoising steps (20).
        guidance: default guidance (1 for guidance-distilled families, else 4.5).
        world: a ``World`` or None.
        call_kwargs: extra keyword arguments for every pipeline call, e.g.
          ``{"true_cfg_scale": 3.5, "negative_prompt": " "}`` for FLUX.1 true CFG (a string
          negative prompt is given to every row).
    """

    def __init__(self, pipe, name: str | None = None, height_px: int | None = None, width_px: int | None = None,
                 num_steps: int | None = None, guidance: float | None = None, world: World | None = None,
                 call_kwargs: dict | None = None):
        if world is not None and not isinstance(world, World):
            raise TypeError(f"world must be a massact.world.World or None, got {type(world).__name__}")
        if call_kwargs is not None and not isinstance(call_kwargs, dict):
            raise TypeError(f"call_kwargs must be a dict of pipeline keyword arguments, e.g. "
                            f"{{'true_cfg_scale': 3.5, 'negative_prompt': ' '}}, got {type(call_kwargs).__name__}")
        self.world = world
        transformer = getattr(pipe, "transformer", None)
        if transformer is None:
            raise ValueError(f"pipeline {type(pipe).__name__} has no .transformer; massact supports pipelines whose "
                             f"transformer is one of: {', '.join(supported_classes())}")
        adapter_for(transformer)  # clear error for unsupported classes
        self.pipe, self.transformer = pipe, transformer
        self.name = name or type(pipe).__name__
        self.height_px = height_px or 512
        self.width_px = width_px or self.height_px
        px = pixels_per_token(pipe, self.adapter.family)
        for what, v in (("height_px", self.height_px), ("width_px", self.width_px)):
            if v % px:
                raise ValueError(f"image {what} {v} must be a multiple of {px} px for {self.adapter.family}")
        self.default_steps = num_steps or 20
        self.default_guidance = guidance if guidance is not None else (1.0 if self.adapter.cfg_layout == "none" else 4.5)
        self.call_kwargs = dict(call_kwargs or {})
        self._grids: dict[tuple[int, int], tuple[int, int]] = {}  # (height_px, width_px) -> token grid
        dtype = next(transformer.parameters()).dtype
        if dtype == torch.float16 and self.adapter.family in ("flux", "flux2"):
            warnings.warn("FLUX runs in float16 here: its massive activations (~9e4) exceed fp16's maximum "
                          "(65504) and diffusers clips them, which changes exactly the values massact ranks. "
                          "Use bfloat16 or float32 where the card allows; statistics are float32 regardless.")

    def batch_layout(self, num_rows, guidance):
        """The layout read from the run (``BatchLayout.from_run``): the pipeline's own flags
        (guidance, true_cfg_scale, is_distilled) decide how many calls and rows it makes."""
        return BatchLayout.from_run(num_rows, self.adapter.batch_branches)

    def token_grid(self):
        """(rows, cols) of the image tokens the transformer receives at the model's size.

        Read from the pipeline itself (once per size): it runs up to the transformer's first
        call and the grid is taken from that call's inputs (``grid_of_call``).
        """
        key = (self.height_px, self.width_px)
        if key not in self._grids:
            self._grids[key] = self._probe_grid()
        return self._grids[key]

    def _probe_grid(self) -> tuple[int, int]:
        seen = {}

        def first_call(module, args, kwargs):
            seen["grid"] = grid_of_call(module, args, kwargs)
            raise _FirstCall

        # prepend: runs before (and stops before) any Tracer's step counter
        handle = self.transformer.register_forward_pre_hook(first_call, with_kwargs=True, prepend=True)
        try:
            self.pipe.set_progress_bar_config(disable=True)
            self.pipe(**self._call_args([" "], [0], 1, 1.0))
        except _FirstCall:
            pass
        finally:
            handle.remove()
        if "grid" not in seen:
            raise RuntimeError(f"{type(self.pipe).__name__} returned without calling its transformer; "
                               "massact cannot read its token grid")
        return seen["grid"]

    def _call_args(self, prompts, seeds, num_steps, guidance) -> dict:
        """The pipeline's keyword arguments for one run (guidance the way this family takes it)."""
        gens = [torch.Generator("cpu").manual_seed(int(s)) for s in seeds]
        kwargs = dict(prompt=list(prompts), num_inference_steps=num_steps, generator=gens,
                      height=self.height_px, width=self.width_px, output_type="pt")
        if self.adapter.cfg_layout == "calls" and "true_cfg_scale" in self._call_parameters():
            kwargs.update(true_cfg_scale=guidance, negative_prompt=[" "] * len(prompts) if guidance > 1 else None)
        elif not self._guide_by_guider(guidance):
            kwargs.update(guidance_scale=guidance)
        if self.adapter.family in GUIDANCE_MINUS_ONE:
            kwargs["guidance_scale"] = max(guidance - 1.0, 0.0)  # below 1: one unguided branch
        if "guidance_schedule" in self._call_parameters():
            kwargs["guidance_schedule"] = None  # Ideogram 4: the constant guidance_scale, not its per-step schedule
        # pipelines that would run (and return) another size than the requested one: the requested size
        # (their native sizes are unchanged)
        if self.adapter.family == "hunyuan-dit":
            kwargs["use_resolution_binning"] = False  # else snapped to a 1024 px-class bin, returned at that size
        if self.adapter.family == "hidream" and hasattr(self.pipe, "default_sample_size"):
            # HiDreamImagePipeline rescales every request to the area (default_sample_size x vae_scale_factor)^2
            # (1024^2 px); a hair above the requested area, so its flooring to 16 px keeps the size
            self.pipe.default_sample_size = (math.sqrt(self.height_px * self.width_px) / self.pipe.vae_scale_factor
                                             * (1 + 1e-9))
        if "clean_caption" in self._call_parameters():
            # PixArt / SANA: caption cleaning needs bs4 and ftfy and warns on every call without them;
            # massact's prompts are plain text, so it is off unless call_kwargs turns it on
            kwargs["clean_caption"] = False
        extra = dict(self.call_kwargs)
        if isinstance(extra.get("negative_prompt"), str):
            extra["negative_prompt"] = [extra["negative_prompt"]] * len(prompts)
        kwargs.update(extra)
        return kwargs

    def _guide_by_guider(self, guidance) -> bool:
        """Pipelines whose ``__call__`` takes no guidance scale (no ``guidance_scale``, no ``**kwargs``)
        but read it from guider components (HunyuanImage-2.1: ``guider`` and ``ocr_guider``): each
        guider is replaced by a copy with this run's scale (``guider.new(guidance_scale=...)``, as
        diffusers documents); 1 turns the unconditional call off. False when there is no such guider."""
        if "guidance_scale" in self._call_parameters():
            return False
        try:
            if any(p.kind is p.VAR_KEYWORD for p in inspect.signature(self.pipe.__call__).parameters.values()):
                return False
        except (TypeError, ValueError):
            return False
        names = [n for n in ("guider", "ocr_guider")
                 if hasattr(getattr(self.pipe, n, None), "new") and "guidance_scale" in getattr(self.pipe, n).config]
        for n in names:
            if getattr(self.pipe, n).config.guidance_scale != guidance:
                setattr(self.pipe, n, getattr(self.pipe, n).new(guidance_scale=float(guidance)))
        return bool(names)

    def _call_parameters(self) -> frozenset[str]:
        """The keyword arguments the pipeline's ``__call__`` takes (read once)."""
        if getattr(self, "_parameters", None) is None:
            try:
                self._parameters = frozenset(inspect.signature(self.pipe.__call__).parameters)
            except (TypeError, ValueError):  # not introspectable: pass nothing optional
                self._parameters = frozenset()
        return self._parameters

    def sample(self, prompts, seeds, num_steps, guidance, progress=False, latents=None, conditioning=None):
        if latents is not None or conditioning is not None:
            require_sampler(self, "sampling from given latents or conditioning")
        grid = self.token_grid()
        args = self._run_args(prompts, seeds, num_steps, guidance, latents, conditioning)

        def check_grid(module, args, kwargs):
            seen = grid_of_call(module, args, kwargs)
            if seen != grid:
                raise RuntimeError(f"the transformer receives a {seen[0]}x{seen[1]} token grid, but "
                                   f"{self.name} expected {grid[0]}x{grid[1]} at {self.height_px}x{self.width_px} px")

        # prepend: before a Tracer's hooks, so a wrong grid is named before any edit reads it
        handle = self.transformer.register_forward_pre_hook(check_grid, with_kwargs=True, prepend=True)
        try:
            self.pipe.set_progress_bar_config(disable=not progress)
            out = self.pipe(**args)
        finally:
            handle.remove()
        return out.images.float().cpu().clamp(0, 1)

    # -- the sampler step by step (flow-matching families, through massact.flow) -----------
    @property
    def sampler_refusal(self) -> str | None:
        """Why this pipeline's sampler cannot be driven step by step (None: it can)."""
        return flow.refusal(self.pipe, self.adapter.family)

    @property
    def exposes_sampler(self) -> bool:
        """True for flow-matching pipelines with Euler steps (FLUX.1, FLUX.2, SD3, SANA, Qwen-Image)."""
        return self.sampler_refusal is None

    def _run_args(self, prompts, seeds, num_steps, guidance, latents=None, conditioning=None) -> dict:
        """The pipeline's keyword arguments for a run from prompts and seeds, or from given
        latents (transformer layout) and conditioning (``encode_prompts`` output)."""
        rows = len(latents) if latents is not None else len(seeds) if seeds is not None else len(prompts)
        seeds = [0] * rows if seeds is None else seeds
        args = self._call_args(list(prompts) if prompts is not None else [" "] * rows, seeds, num_steps, guidance)
        if conditioning is not None:
            args.pop("prompt"), args.pop("negative_prompt", None)
            if any(k.startswith("negative_") for k in conditioning) and "negative_prompt" in self._call_parameters():
                args["negative_prompt"] = None  # SANA's default negative prompt "" would clash with the embeddings
            args.update(conditioning)
        if latents is not None:
            dtype = next(self.transformer.parameters()).dtype
            args["latents"] = flow.pipeline_latents(self.adapter.family, latents, self.token_grid()).to(
                self.transformer.device, dtype)
        return args

    def _probe_run(self, prompts, rows: int, num_steps: int, guidance: float, conditioning=None) -> flow.Probe:
        require_sampler(self, "the sampler step by step")
        return flow.probe(self.pipe, self._run_args(prompts, [0] * rows, num_steps, guidance,
                                                    conditioning=conditioning))

    def initial_noise(self, seeds):
        """The pipeline's starting noise for each seed (transformer layout, float32 on the CPU),
        read from its first transformer call."""
        require_sampler(self, "initial_noise")
        return flow.probe(self.pipe, self._run_args(None, list(seeds), 1, 1.0)).noise.float().cpu()

    def timesteps(self, num_steps):
        """The run's num_steps + 1 sigmas from 1 (noise) to 0 (image), as the pipeline's scheduler
        sets them at this size (resolution shift included)."""
        return self._probe_run(None, 1, num_steps, 1.0).sigmas

    def encode_prompts(self, prompts, guidance):
        """The pipeline keyword arguments of the prompts' text conditioning (``prompt_embeds`` and
        the family's pooled vectors and masks, with ``negative_`` twins under guidance), as the
        pipeline computes them; pass them back as ``sample(conditioning=...)``."""
        prompts = list(prompts)
        return flow.conditioning_of(self.adapter.family, self._probe_run(prompts, len(prompts), 1, guidance))

    def from_images(self, images):
        """[0, 1] images (B, 3, H, W) at the model's size -> the transformer's latent layout (float32)."""
        require_sampler(self, "encoding images")
        if images.dim() != 4 or tuple(images.shape[1:]) != (3, self.height_px, self.width_px):
            raise ValueError(f"image size {tuple(images.shape)} not supported: {self.name} takes "
                             f"(B, 3, {self.height_px}, {self.width_px}) images in [0, 1]")
        with torch.no_grad():
            return flow.encode_images(self.pipe, self.adapter.family, images, self.token_grid(),
                                      pixels_per_token(self.pipe, self.adapter.family)).cpu()

    def to_images(self, x):
        """The transformer's latent layout -> [0, 1] images (B, 3, H, W) at the model's size."""
        require_sampler(self, "decoding latents")
        with torch.no_grad():
            return flow.decode_latents(self.pipe, self.adapter.family, x, self.token_grid(),
                                       (self.height_px, self.width_px), pixels_per_token(self.pipe, self.adapter.family),
                                       dtype=next(self.transformer.parameters()).dtype)

    @torch.no_grad()
    def euler(self, x, prompts, num_steps, guidance, reverse=False, progress=False, conditioning=None, refine=0):
        """Integrate the pipeline's flow ODE on its own sigmas with its own text conditioning:
        noise -> latents (reverse=False, the pipeline's loop step for step) or latents -> noise.

        Args:
            x: (B, ...) the start, in the transformer's layout (``from_images``, ``initial_noise``).
            prompts: one prompt per row (ignored when ``conditioning`` is given).
            num_steps: Euler steps; guidance: the pipeline's guidance (one transformer call per
              step: 1, or FLUX.1-dev's guidance embedding).
            reverse: integrate latents -> noise; refine: reverse only, fixed-point iterations
              per step solving for the point the forward step maps onto the current one.
            progress: a progress bar; conditioning: ``encode_prompts`` output.
        Returns:
            the end point, float32 on the CPU.
        Raises:
            ValueError for refine without reverse, or a run with classifier-free guidance.
        """
        from tqdm.auto import tqdm

        if refine and not reverse:
            raise ValueError(f"refine {refine} applies to the reverse pass only (reverse=True)")
        pr = self._probe_run(None if conditioning is not None else prompts, len(x), num_steps, guidance,
                             conditioning=conditioning)
        if not pr.single_call:
            raise ValueError(f"{self.name} at guidance {guidance} makes {len(pr.calls)} transformer call(s) of "
                             f"{2 * pr.rows if pr.batched else pr.rows} rows per step (classifier-free guidance); "
                             "the step-by-step sampler runs one call per step: use guidance 1")
        sig, ts = pr.sigmas, pr.timesteps
        t_at = lambda i: ts[i] if i < len(ts) else torch.zeros_like(ts[0])  # noqa: E731  sigma 0 at the end
        tr = self.transformer
        x = x.to(tr.device, torch.float32)
        order = range(num_steps - 1, -1, -1) if reverse else range(num_steps)
        for i in tqdm(order, disable=not progress, desc="inverting" if reverse else "sampling", leave=False):
            if not reverse:
                v = pr.velocity(tr, x, t_at(i))
                x = flow.euler_step(x, v, sig[i], sig[i + 1]).to(v.dtype).float()
                continue
            # from sigma_{i+1} back to sigma_i, with the velocity at the current point and time
            x_prev = flow.euler_step(x, pr.velocity(tr, x, t_at(i + 1)), sig[i + 1], sig[i])
            for _ in range(int(refine)):
                # the forward step from x_prev (at sigma_i) must land on x
                x_prev = flow.euler_step(x, pr.velocity(tr, x_prev, t_at(i)), sig[i + 1], sig[i])
            x = x_prev
        return x.cpu()

    def invert(self, images, prompts, num_steps, guidance, refine=0):
        """Images (B, 3, H, W) in [0, 1] -> the noise the pipeline maps onto them: the VAE's
        latents (``from_images``), then the reverse Euler pass on the pipeline's sigmas with
        ``refine`` fixed-point corrections per step (inputs validated by ``claims.inversion.invert``)."""
        return self.euler(self.from_images(images), prompts, num_steps, guidance, reverse=True, refine=refine)
