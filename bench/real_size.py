"""Real checkpoints' sizes, measured: every component built with random weights at its published shape.

    python bench/real_size.py [--families pixart-sigma,sana1.5-1.6b,sd3.5-medium,flux2-klein-4b]
                              [--px 512] [--repeats 2] [--threads 2] [--out FILE]
    python bench/real_size.py --table massact/data/real_size.json   # the README's tables
    python bench/real_size.py --device cuda --px 1024   # on a GPU: every family, FLUX.1 and Qwen-Image too,
                                                        # written to massact/data/real_size_gpu.json
    python bench/real_size.py --small      # the script itself at tiny widths, in seconds

For each family the configs below are written from the published architectures (layers,
widths, heads, text-encoder sizes, as the checkpoints' ``config.json`` and diffusers'
conversion scripts give them); no weights are downloaded or read. For each component
(transformer, each text encoder, VAE) it records:

* parameters and bytes at float16 / bfloat16 / float32 (counted on the ``meta`` device: exact);
* for the families listed in ``--families`` (those that fit this machine's memory at 16 bits):
  the component is materialised with random bfloat16 weights, written with
  ``save_pretrained`` (safetensors) and read back with ``from_pretrained`` - the load time is
  that of the real loading path at the real size, up to every weight read from disk (the page
  cache is dropped first where the machine allows it; the JSON says whether it was;
  ``open_s`` is when ``from_pretrained`` returned, before a memory-mapped load has read);
* for the transformer: one denoising step at ``--px`` pixels with the rows the pipeline sends
  per step (two for batched classifier-free guidance, one for a distilled model), bare, under
  ``massact.Tracer`` capturing every block's statistics, and under an edit (the top-8 channels
  of every block zeroed): the median seconds of ``--repeats`` steps after a warm-up step, and
  the peak resident memory over the resting process (glibc's mmap threshold is lowered, by
  re-running the script with ``MALLOC_MMAP_THRESHOLD_`` set, so resident memory tracks what
  is allocated; the peak is read from ``VmHWM`` after resetting it);
* the floating-point operations of one transformer call at 512 and 1024 px, counted on the
  meta device (``torch.utils.flop_counter``), for every family: what ``advise`` turns into
  a rough time on a card it has no measurement of;
* the capture statistics' own size at the real width: what a whole run keeps (five float32
  tensors of rows x blocks x steps x channels) and what a kept block output weighs.

FLUX.1 (12B) and Qwen-Image (20B) do not fit 24 GiB at 16 bits beside their encoders: on the
CPU their parameters and bytes are computed from their configs on the ``meta`` device, not
instantiated. With ``--device cuda`` every family is instantiated by default, each component
built on the GPU (one at a time), and peaks are the CUDA allocator's over the weights.
Random weights: times and memory are those of the real size; the activations are noise and
say nothing about massive activations. The JSON it writes (``massact/data/real_size.json`` by
default) is what ``massact.presets.advise`` reads.
"""
from __future__ import annotations

import argparse
import datetime
import gc
import json
import os
import platform
import shutil
import statistics
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

import torch

MMAP_ENV = "MALLOC_MMAP_THRESHOLD_"
DEFAULT_OUT = Path(__file__).resolve().parents[1] / "massact" / "data" / "real_size.json"
MEASURED = ("pixart-sigma", "sana1.5-1.6b", "sd3.5-medium", "flux2-klein-4b")
COMPUTED = ("flux1-dev", "flux1-schnell", "qwen-image")
TOP_K = 8
#: denoising steps of a run, for the size of the statistics a whole run keeps
RUN_STEPS = 20

# -- published configurations -----------------------------------------------------------------
T5_XXL = dict(d_model=4096, d_ff=10240, d_kv=64, num_heads=64, num_layers=24, vocab_size=32128,
              feed_forward_proj="gated-gelu", relative_attention_num_buckets=32,
              relative_attention_max_distance=128, layer_norm_epsilon=1e-6, tie_word_embeddings=False,
              is_encoder_decoder=False, use_cache=False)
CLIP_L = dict(vocab_size=49408, hidden_size=768, intermediate_size=3072, num_hidden_layers=12,
              num_attention_heads=12, projection_dim=768, hidden_act="quick_gelu", max_position_embeddings=77)
CLIP_G = dict(vocab_size=49408, hidden_size=1280, intermediate_size=5120, num_hidden_layers=32,
              num_attention_heads=20, projection_dim=1280, hidden_act="gelu", max_position_embeddings=77)
GEMMA2_2B = dict(vocab_size=256000, hidden_size=2304, intermediate_size=9216, num_hidden_layers=26,
                 num_attention_heads=8, num_key_value_heads=4, head_dim=256, tie_word_embeddings=True)
QWEN3_4B = dict(vocab_size=151936, hidden_size=2560, intermediate_size=9728, num_hidden_layers=36,
                num_attention_heads=32, num_key_value_heads=8, head_dim=128, tie_word_embeddings=True)
QWEN25_VL_7B = dict(
    text_config=dict(vocab_size=152064, hidden_size=3584, intermediate_size=18944, num_hidden_layers=28,
                     num_attention_heads=28, num_key_value_heads=4, tie_word_embeddings=False),
    vision_config=dict(depth=32, hidden_size=1280, intermediate_size=3420, num_heads=16, out_hidden_size=3584,
                       patch_size=14, spatial_merge_size=2, temporal_patch_size=2, window_size=112,
                       fullatt_block_indexes=[7, 15, 23, 31]))
KL4 = dict(block_out_channels=(128, 256, 512, 512), layers_per_block=2, latent_channels=4,
           down_block_types=("DownEncoderBlock2D",) * 4, up_block_types=("UpDecoderBlock2D",) * 4,
           scaling_factor=0.13025)
KL16 = dict(KL4, latent_channels=16, use_quant_conv=False, use_post_quant_conv=False, scaling_factor=1.5305,
            shift_factor=0.0609)
DC_AE = dict(latent_channels=32, attention_head_dim=32,
             encoder_block_types=("ResBlock",) * 3 + ("EfficientViTBlock",) * 3,
             decoder_block_types=("ResBlock",) * 3 + ("EfficientViTBlock",) * 3,
             encoder_block_out_channels=(128, 256, 512, 512, 1024, 1024),
             decoder_block_out_channels=(128, 256, 512, 512, 1024, 1024),
             encoder_layers_per_block=(2, 2, 2, 3, 3, 3), decoder_layers_per_block=(3, 3, 3, 3, 3, 3),
             encoder_qkv_multiscales=((), (), (), (5,), (5,), (5,)),
             decoder_qkv_multiscales=((), (), (), (5,), (5,), (5,)),
             downsample_block_type="conv", upsample_block_type="interpolate", decoder_norm_types="rms_norm",
             decoder_act_fns="silu", scaling_factor=0.41407)
FLUX1 = dict(patch_size=1, in_channels=64, num_layers=19, num_single_layers=38, attention_head_dim=128,
             num_attention_heads=24, joint_attention_dim=4096, pooled_projection_dim=768, axes_dims_rope=(16, 56, 56))


@dataclass(frozen=True)
class Part:
    """One component: its role, the library and class that build it, its constructor arguments."""

    role: str  # transformer | text_encoder | text_encoder_2 | ... | vae
    library: str  # "diffusers" | "transformers"
    cls: str
    kwargs: dict
    config_cls: str | None = None  # transformers: the config class


@dataclass(frozen=True)
class Family:
    key: str  # a massact.presets key
    parts: tuple[Part, ...]
    rows: int  # transformer rows per denoising step (2: batched classifier-free guidance)
    text_tokens: int  # text tokens the pipeline gives the transformer (its max_sequence_length)
    vae_factor: int  # pixels per latent pixel
    latent_channels: int
    tokens_side: int = 2  # latent pixels per image token along a side (patch size or packing)
    calls_per_step: int = 1  # transformer calls per denoising step (2: true classifier-free guidance)
    notes: tuple[str, ...] = field(default_factory=tuple)

    @property
    def transformer(self) -> Part:
        return self.parts[0]

    def image_tokens(self, px: int) -> int:
        return (px // self.vae_factor // self.tokens_side) ** 2


def _flux1(key: str, guidance_embeds: bool, text_tokens: int, notes: tuple[str, ...] = ()) -> Family:
    """FLUX.1-dev (guidance embedding) or -schnell: the same transformer, CLIP-L, T5-XXL and VAE."""
    return Family(key, (
        Part("transformer", "diffusers", "FluxTransformer2DModel", dict(FLUX1, guidance_embeds=guidance_embeds)),
        Part("text_encoder", "transformers", "CLIPTextModel", CLIP_L, "CLIPTextConfig"),
        Part("text_encoder_2", "transformers", "T5EncoderModel", T5_XXL, "T5Config"),
        Part("vae", "diffusers", "AutoencoderKL", dict(KL16, scaling_factor=0.3611, shift_factor=0.1159))),
        rows=1, text_tokens=text_tokens, vae_factor=8, latent_channels=16, notes=notes)


FAMILIES: dict[str, Family] = {f.key: f for f in [
    Family("pixart-sigma", (
        Part("transformer", "diffusers", "PixArtTransformer2DModel", dict(
            num_attention_heads=16, attention_head_dim=72, in_channels=4, out_channels=8, num_layers=28,
            cross_attention_dim=1152, caption_channels=4096, attention_bias=True, sample_size=128, patch_size=2,
            activation_fn="gelu-approximate", num_embeds_ada_norm=1000, norm_type="ada_norm_single",
            norm_elementwise_affine=False, norm_eps=1e-6, interpolation_scale=2, use_additional_conditions=False)),
        Part("text_encoder", "transformers", "T5EncoderModel", T5_XXL, "T5Config"),
        Part("vae", "diffusers", "AutoencoderKL", KL4)),
        rows=2, text_tokens=300, vae_factor=8, latent_channels=4),
    Family("sana1.5-1.6b", (
        Part("transformer", "diffusers", "SanaTransformer2DModel", dict(
            in_channels=32, out_channels=32, num_attention_heads=70, attention_head_dim=32, num_layers=20,
            num_cross_attention_heads=20, cross_attention_head_dim=112, cross_attention_dim=2240,
            caption_channels=2304, mlp_ratio=2.5, sample_size=32, patch_size=1, norm_elementwise_affine=False,
            norm_eps=1e-6, qk_norm="rms_norm_across_heads")),
        Part("text_encoder", "transformers", "Gemma2Model", GEMMA2_2B, "Gemma2Config"),
        Part("vae", "diffusers", "AutoencoderDC", DC_AE)),
        rows=2, text_tokens=300, vae_factor=32, latent_channels=32, tokens_side=1),
    Family("sd3.5-medium", (
        Part("transformer", "diffusers", "SD3Transformer2DModel", dict(
            sample_size=128, patch_size=2, in_channels=16, out_channels=16, num_layers=24, attention_head_dim=64,
            num_attention_heads=24, joint_attention_dim=4096, caption_projection_dim=1536,
            pooled_projection_dim=2048, pos_embed_max_size=384, dual_attention_layers=tuple(range(13)),
            qk_norm="rms_norm")),
        Part("text_encoder", "transformers", "CLIPTextModelWithProjection", CLIP_L, "CLIPTextConfig"),
        Part("text_encoder_2", "transformers", "CLIPTextModelWithProjection", CLIP_G, "CLIPTextConfig"),
        Part("text_encoder_3", "transformers", "T5EncoderModel", T5_XXL, "T5Config"),
        Part("vae", "diffusers", "AutoencoderKL", KL16)),
        rows=2, text_tokens=77 + 256, vae_factor=8, latent_channels=16),
    Family("flux2-klein-4b", (
        Part("transformer", "diffusers", "Flux2Transformer2DModel", dict(
            patch_size=1, in_channels=128, num_layers=5, num_single_layers=20, attention_head_dim=128,
            num_attention_heads=24, joint_attention_dim=7680, timestep_guidance_channels=256, mlp_ratio=3.0,
            axes_dims_rope=(32, 32, 32, 32), rope_theta=2000, eps=1e-6, guidance_embeds=False)),
        Part("text_encoder", "transformers", "Qwen3ForCausalLM", QWEN3_4B, "Qwen3Config"),
        Part("vae", "diffusers", "AutoencoderKLFlux2", {})),
        rows=1, text_tokens=512, vae_factor=8, latent_channels=32,
        notes=("step-distilled: one row per step (no classifier-free guidance)",)),
    _flux1("flux1-dev", guidance_embeds=True, text_tokens=512, notes=("guidance-distilled: one row per step",)),
    _flux1("flux1-schnell", guidance_embeds=False, text_tokens=256),
    Family("qwen-image", (
        Part("transformer", "diffusers", "QwenImageTransformer2DModel", dict(
            patch_size=2, in_channels=64, out_channels=16, num_layers=60, attention_head_dim=128,
            num_attention_heads=24, joint_attention_dim=3584, axes_dims_rope=(16, 56, 56))),
        Part("text_encoder", "transformers", "Qwen2_5_VLForConditionalGeneration", QWEN25_VL_7B,
             "Qwen2_5_VLConfig"),
        Part("vae", "diffusers", "AutoencoderKLQwenImage", {})),
        rows=1, text_tokens=1024, vae_factor=8, latent_channels=16, calls_per_step=2,
        notes=("true classifier-free guidance: two transformer calls of one row per step",)),
]}


def small(family: Family) -> Family:
    """The family at tiny widths (``--small``): the script's own check, seconds on a CPU."""
    t = family.transformer
    kw = dict(t.kwargs)
    for key, value in (("num_layers", 2), ("num_single_layers", 2), ("num_attention_heads", 2),
                       ("attention_head_dim", 16), ("num_cross_attention_heads", 2), ("cross_attention_head_dim", 16),
                       ("cross_attention_dim", 32), ("caption_channels", 24), ("joint_attention_dim", 24),
                       ("caption_projection_dim", 32), ("pooled_projection_dim", 16), ("timestep_guidance_channels", 32)):
        if key in kw:
            kw[key] = value
    if "dual_attention_layers" in kw:
        kw["dual_attention_layers"] = (0,)
    if "axes_dims_rope" in kw:
        kw["axes_dims_rope"] = (4, 4, 4, 4) if len(kw["axes_dims_rope"]) == 4 else (4, 6, 6)
    if "pos_embed_max_size" in kw:
        kw["pos_embed_max_size"] = 32
    if t.cls == "PixArtTransformer2DModel":
        kw["cross_attention_dim"] = 32
    return Family(family.key, (Part("transformer", t.library, t.cls, kw),), family.rows, 16, family.vae_factor,
                  family.latent_channels, family.tokens_side)


# -- building ------------------------------------------------------------------------------------
def _classes(part: Part):
    import importlib

    lib = importlib.import_module(part.library)
    return getattr(lib, part.cls), (getattr(lib, part.config_cls) if part.config_cls else None)


def on_meta(part: Part):
    """The component on the ``meta`` device: shapes only, no memory."""
    cls, config_cls = _classes(part)
    with torch.device("meta"):
        return cls(config_cls(**part.kwargs)) if config_cls else cls(**part.kwargs)


def count(module) -> dict:
    """Parameters (shared tensors once), the persistent floating-point buffers a checkpoint also
    stores (SD3's position table, for one), and their bytes at each 16/32-bit dtype."""
    seen, n = set(), 0
    for p in module.parameters():
        if id(p) not in seen:
            seen.add(id(p))
            n += p.numel()
    buffers = 0
    for mod in module.modules():
        for name, b in mod._buffers.items():
            if b is not None and b.is_floating_point() and name not in mod._non_persistent_buffers_set:
                buffers += b.numel()
    total = n + buffers
    return {"params": n, "buffers": buffers, "gb_fp16": total * 2 / 1e9, "gb_bf16": total * 2 / 1e9,
            "gb_fp32": total * 4 / 1e9}


def materialise(part: Part, dtype: torch.dtype, seed: int = 0, device: str = "cpu"):
    """The component with random weights in ``dtype`` (no float32 copy is ever made).

    Built on the meta device, then each parameter gets fresh memory: matrices normal with
    std 1/sqrt(fan-in), vectors named ``weight`` ones (norm scales), other vectors zeros;
    buffers are built for real (rotary tables, position ids). On ``device`` directly (a GPU
    never sees a CPU copy).
    """
    from accelerate import init_empty_weights
    from accelerate.utils import set_module_tensor_to_device

    cls, config_cls = _classes(part)
    with init_empty_weights(include_buffers=False):
        model = cls(config_cls(**part.kwargs)) if config_cls else cls(**part.kwargs)
    g = torch.Generator(device).manual_seed(seed)
    for name, p in list(model.named_parameters(remove_duplicate=True)):
        value = torch.empty(p.shape, dtype=dtype, device=device)
        if p.dim() >= 2:
            value.normal_(0.0, p[0].numel() ** -0.5 if p.dim() > 1 else 1.0, generator=g)
        elif name.endswith("weight"):
            value.fill_(1.0)
        else:
            value.zero_()
        set_module_tensor_to_device(model, name, device, value=value, dtype=dtype)
    if hasattr(model, "tie_weights"):
        model.tie_weights()
    wrong = {p.dtype for p in model.parameters()} - {dtype}
    if wrong:
        raise RuntimeError(f"{part.cls}: parameters in {wrong}, not {dtype}")
    for name, b in list(model.named_buffers()):
        keep = b.dtype if not b.is_floating_point() or b.dtype == torch.float32 else dtype
        set_module_tensor_to_device(model, name, device, value=b.to(keep), dtype=keep)
    return model.eval().requires_grad_(False)


def drop_page_cache() -> bool:
    """Ask the kernel to drop its page cache (root on Linux); whether it did."""
    try:
        os.sync()
        Path("/proc/sys/vm/drop_caches").write_text("3\n")
        return True
    except OSError:
        return False


def sync(device: str) -> None:
    if device.startswith("cuda"):
        torch.cuda.synchronize()


def save_and_load(part: Part, model, dtype: torch.dtype, folder: Path, device: str = "cpu") -> dict:
    """Write the component with ``save_pretrained``, drop it, time ``from_pretrained`` (and the
    move to ``device``) until every weight has been read."""
    cls, _ = _classes(part)
    path = folder / part.role
    t0 = time.perf_counter()
    model.save_pretrained(path)
    save_s = time.perf_counter() - t0
    size = sum(f.stat().st_size for f in path.rglob("*") if f.is_file())
    del model
    gc.collect()
    cold = drop_page_cache()
    t0 = time.perf_counter()
    kw = {"torch_dtype": dtype} if part.library == "diffusers" else {"dtype": dtype}
    loaded = cls.from_pretrained(path, **kw)
    open_s = time.perf_counter() - t0
    loaded = loaded.to(device)
    # a memory-mapped load returns before the weights are read: touch every page of every tensor
    with torch.no_grad():
        for t in list(loaded.parameters()) + list(loaded.buffers()):
            t.detach().reshape(-1)[::1024].float().sum()
    sync(device)
    load_s = time.perf_counter() - t0
    return {"save_s": round(save_s, 1), "open_s": round(open_s, 1), "load_s": round(load_s, 1),
            "files_gb": round(size / 1e9, 3), "cold_cache": cold}, loaded.eval().requires_grad_(False)


# -- one transformer step ---------------------------------------------------------------------
def step_inputs(family: Family, model, px: int, dtype: torch.dtype) -> dict:
    """The keyword arguments of one transformer call: noise, text states, timestep, ids."""
    g = torch.Generator("cpu").manual_seed(0)
    kw = dict(model.config)
    rows, t = family.rows, family.text_tokens
    side = px // family.vae_factor
    cls = family.transformer.cls

    def rnd(*shape):
        return torch.randn(*shape, generator=g).to(dtype)

    timestep = torch.full((rows,), 500.0 if cls != "Flux2Transformer2DModel" else 0.5)
    if cls == "PixArtTransformer2DModel":
        return dict(hidden_states=rnd(rows, family.latent_channels, side, side),
                    encoder_hidden_states=rnd(rows, t, kw["caption_channels"]), timestep=timestep,
                    added_cond_kwargs={"resolution": None, "aspect_ratio": None}, return_dict=False)
    if cls == "SanaTransformer2DModel":
        return dict(hidden_states=rnd(rows, family.latent_channels, side, side),
                    encoder_hidden_states=rnd(rows, t, kw["caption_channels"]), timestep=timestep, return_dict=False)
    if cls == "SD3Transformer2DModel":
        return dict(hidden_states=rnd(rows, family.latent_channels, side, side),
                    encoder_hidden_states=rnd(rows, t, kw["joint_attention_dim"]),
                    pooled_projections=rnd(rows, kw["pooled_projection_dim"]), timestep=timestep, return_dict=False)
    if cls == "Flux2Transformer2DModel":
        n_side = side // 2
        ids = torch.zeros(n_side, n_side, 4)
        ids[..., 1], ids[..., 2] = torch.arange(n_side)[:, None], torch.arange(n_side)[None, :]
        txt_ids = torch.zeros(t, 4)
        txt_ids[:, 3] = torch.arange(t)
        return dict(hidden_states=rnd(rows, n_side * n_side, kw["in_channels"]),
                    encoder_hidden_states=rnd(rows, t, kw["joint_attention_dim"]), timestep=timestep,
                    img_ids=ids.reshape(1, -1, 4).expand(rows, -1, -1), txt_ids=txt_ids[None].expand(rows, -1, -1),
                    guidance=None, return_dict=False)
    if cls == "FluxTransformer2DModel":
        n_side = side // 2
        ids = torch.zeros(n_side, n_side, 3)
        ids[..., 1], ids[..., 2] = torch.arange(n_side)[:, None], torch.arange(n_side)[None, :]
        return dict(hidden_states=rnd(rows, n_side * n_side, kw["in_channels"]),
                    encoder_hidden_states=rnd(rows, t, kw["joint_attention_dim"]),
                    pooled_projections=rnd(rows, kw["pooled_projection_dim"]), timestep=timestep / 1000,
                    img_ids=ids.reshape(-1, 3), txt_ids=torch.zeros(t, 3),
                    guidance=torch.full((rows,), 3.5) if kw["guidance_embeds"] else None, return_dict=False)
    if cls == "QwenImageTransformer2DModel":
        n_side = side // 2
        return dict(hidden_states=rnd(rows, n_side * n_side, kw["in_channels"]),
                    encoder_hidden_states=rnd(rows, t, kw["joint_attention_dim"]),
                    encoder_hidden_states_mask=torch.ones(rows, t, dtype=torch.long), timestep=timestep / 1000,
                    img_shapes=[[(1, n_side, n_side)]] * rows, return_dict=False)
    raise ValueError(f"no step inputs for {cls}")


def step_tflop(family: Family, px: int) -> float | None:
    """Floating-point operations of one transformer step at ``px`` (all its rows), counted by
    ``torch.utils.flop_counter`` on the meta device (matrix products and attention; no memory)."""
    from torch.utils.flop_counter import FlopCounterMode

    import logging

    logging.getLogger("diffusers").setLevel(logging.ERROR)  # the meta cast's float32-modules note
    model = on_meta(family.transformer).to(torch.bfloat16)
    kw = {k: (v.to("meta") if torch.is_tensor(v) else v) for k, v in step_inputs(family, model, px, torch.bfloat16).items()}
    try:
        with FlopCounterMode(display=False) as counter, torch.no_grad():
            model(**kw)
    except Exception as exc:  # a forward that needs real values on the meta device
        print(f"    (FLOPs at {px} px not counted: {type(exc).__name__}: {str(exc)[:120]})", flush=True)
        return None
    return counter.get_total_flops() / 1e12


def _peak_rss_reset() -> bool:
    try:
        Path("/proc/self/clear_refs").write_text("5\n")
        return True
    except OSError:
        return False


def _status_mib(field: str) -> float | None:
    """A memory line of /proc/self/status ("VmHWM": the peak since the last reset, "VmRSS"), MiB."""
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith(field + ":"):
                return int(line.split()[1]) / 1024
    except OSError:
        pass
    return None


@torch.no_grad()
def time_steps(family: Family, model, px: int, dtype: torch.dtype, repeats: int, device: str = "cpu") -> dict:
    """Bare, captured and edited transformer steps: median seconds and peak extra memory (on a
    GPU the allocator's peak over what was allocated before the step)."""
    import massact
    from massact import BatchLayout, CaptureSpec, EditSpec, Tracer

    kw = {k: (v.to(device) if torch.is_tensor(v) else v) for k, v in step_inputs(family, model, px, dtype).items()}
    cuda = device.startswith("cuda")
    layout = BatchLayout(1, batch_branches=("uncond", "cond")) if family.rows == 2 else BatchLayout(1)
    width = model.config.num_attention_heads * model.config.attention_head_dim
    blocks = massact.enumerate_blocks(model)

    def step(tracer_kwargs):
        if tracer_kwargs is None:
            model(**kw)
            return None
        with Tracer(model, layout, num_steps=1, **tracer_kwargs) as tr:
            model(**kw)
        return tr.result()

    def measure(label, tracer_kwargs):
        res = step(tracer_kwargs)  # warm-up
        times, peaks = [], []
        for _ in range(repeats):
            gc.collect()
            if cuda:
                sync(device)
                torch.cuda.reset_peak_memory_stats()
                base, reset = torch.cuda.memory_allocated() / 2 ** 20, True
            else:
                base, reset = _status_mib("VmRSS"), _peak_rss_reset()
            t0 = time.perf_counter()
            res = step(tracer_kwargs)
            sync(device)
            times.append(time.perf_counter() - t0)
            peak = torch.cuda.max_memory_allocated() / 2 ** 20 if cuda else _status_mib("VmHWM")
            if reset and peak is not None and base is not None:
                peaks.append(peak - base)
        med = statistics.median(times)
        where = "the weights (GPU allocator)" if cuda else "the resting process"
        extra = f", peak +{max(peaks):,.0f} MiB over {where}" if peaks else ""
        print(f"    {label:8s} {med:8.2f} s per step (median of {repeats}; min {min(times):.2f}){extra}", flush=True)
        return {"s": round(med, 3), "min_s": round(min(times), 3), "n": repeats,
                "peak_extra_mib": round(max(peaks), 1) if peaks else None}, res

    bare, _ = measure("bare", None)
    cap, res = measure("capture", dict(capture=CaptureSpec()))
    score = torch.nan_to_num(res.stats.score("absmean"), nan=0.0, posinf=3e38)
    edit = EditSpec("zero", channels=massact.channel_set(score, TOP_K, "top"))
    ed, _ = measure("edit", dict(edits=[edit], width=width))
    n_tok = family.image_tokens(px)
    stats_run = 5 * 1 * len(blocks) * RUN_STEPS * width * 4
    return {"px": px, "rows": family.rows, "image_tokens": n_tok, "text_tokens": family.text_tokens,
            "width": width, "blocks": len(blocks), "bare": bare, "capture": cap, "edit": ed,
            "capture_over_bare": round(cap["s"] / bare["s"], 3), "edit_over_bare": round(ed["s"] / bare["s"], 3),
            "stats_bytes_per_row_run": stats_run, "stats_run_steps": RUN_STEPS,
            "kept_block_output_mib_per_row": round(n_tok * width * 4 / 2 ** 20, 2)}


# -- the run ------------------------------------------------------------------------------------
def measure_family(family: Family, args, dtype: torch.dtype, folder: Path | None, loads: dict) -> dict:
    out = {"key": family.key, "rows_per_call": family.rows, "calls_per_step": family.calls_per_step,
           "text_tokens": family.text_tokens, "notes": list(family.notes), "components": {},
           "tflop_per_call": {str(px): step_tflop(family, px) for px in (512, 1024)}}
    print(f"  one transformer call: {out['tflop_per_call']['512']:.2f} TFLOP at 512 px, "
          f"{out['tflop_per_call']['1024']:.2f} at 1024 px (counted on the meta device)", flush=True)
    instantiate = folder is not None
    for part in family.parts:
        t0 = time.perf_counter()
        meta = on_meta(part)
        entry = {"class": part.cls, **count(meta)}
        del meta
        print(f"  {part.role:15s} {part.cls:36s} {entry['params'] / 1e9:7.3f}B parameters, "
              f"{entry['gb_bf16']:6.2f} GB at 16 bits", flush=True)
        if instantiate:
            cache_key = (part.cls, json.dumps(part.kwargs, sort_keys=True, default=str))
            if cache_key in loads and part.role != "transformer":
                entry.update(loads[cache_key], same_as=loads[cache_key]["measured_in"])
                print(f"    load: as measured in {entry['same_as']}", flush=True)
            else:
                t0 = time.perf_counter()
                model = materialise(part, dtype, device=args.device)
                sync(args.device)
                built_s = time.perf_counter() - t0
                io, model = save_and_load(part, model, dtype, folder, args.device)
                io["build_s"] = round(built_s, 1)
                io["measured_in"] = family.key
                entry.update(io)
                loads[cache_key] = io
                print(f"    built {built_s:.1f} s; save_pretrained {io['save_s']} s ({io['files_gb']} GB); "
                      f"from_pretrained {io['open_s']} s, every weight read {io['load_s']} s "
                      f"(page cache {'dropped' if io['cold_cache'] else 'warm'})",
                      flush=True)
                if part.role == "transformer":
                    entry["step"] = time_steps(family, model, args.px, dtype, args.repeats, args.device)
                del model
                gc.collect()
                shutil.rmtree(folder / part.role, ignore_errors=True)
        entry["source"] = "measured" if instantiate else "computed"
        out["components"][part.role] = entry
    comps = out["components"].values()
    out["total_params"] = sum(c["params"] for c in comps)
    out["total_gb_16bit"] = round(sum(c["gb_bf16"] for c in comps), 3)
    out["largest_gb_16bit"] = round(max(c["gb_bf16"] for c in comps), 3)
    out["transformer_gb_16bit"] = round(out["components"]["transformer"]["gb_bf16"], 3)
    return out


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--families", default=None,
                    help=f"families to instantiate, or 'all' (of {', '.join(MEASURED + COMPUTED)}); the others are "
                         f"computed (default: {', '.join(MEASURED)} on the CPU, all on a GPU)")
    ap.add_argument("--device", default="cpu", help="cpu, or cuda on a GPU machine (default cpu)")
    ap.add_argument("--px", type=int, default=512, help="square image size of the transformer step")
    ap.add_argument("--repeats", type=int, default=2, help="timed steps per variant, after one warm-up")
    ap.add_argument("--threads", type=int, default=None, help="torch CPU threads (default: torch's)")
    ap.add_argument("--tmp", default=None, help="folder for the save_pretrained files (default: a temp folder)")
    ap.add_argument("--out", default=None, help=f"JSON to write (default {DEFAULT_OUT.name} in massact/data)")
    ap.add_argument("--small", action="store_true", help="tiny transformers only, no loading: a check of the script")
    ap.add_argument("--table", metavar="JSON", help="print the markdown tables of a results JSON and exit")
    args = ap.parse_args(argv)
    if args.table:
        print(table(json.loads(Path(args.table).read_text())))
        return 0
    if MMAP_ENV not in os.environ and argv is None and not args.small:
        # glibc hands large freed blocks back to the OS only above its mmap threshold: lowered, the
        # resident memory tracks what is allocated, so the peaks measured are the steps' own
        os.execve(sys.executable, [sys.executable] + sys.argv, {**os.environ, MMAP_ENV: "131072"})
    cuda = args.device.startswith("cuda")
    if cuda and not torch.cuda.is_available():
        ap.error(f"--device {args.device}: no CUDA device here (torch.cuda.is_available() is False)")
    families = args.families or ("all" if cuda else ",".join(MEASURED))
    chosen = list(FAMILIES) if families == "all" else [f.strip() for f in families.split(",") if f.strip()]
    unknown = [f for f in chosen if f not in FAMILIES]
    if unknown:
        ap.error(f"unknown families {unknown}; choose from {', '.join(FAMILIES)}")
    if args.px % 64:
        ap.error(f"--px {args.px}: a multiple of 64 (every family's latent grid must divide evenly)")
    if args.threads:
        torch.set_num_threads(args.threads)
    dtype = torch.bfloat16
    import diffusers
    import transformers

    result = {"date": datetime.date.today().isoformat(), "machine": f"{platform.machine()} CPU, "
              f"{os.cpu_count()} cores, torch threads {torch.get_num_threads()}",
              "cpu": _cpu_name(), "ram_gib": round(os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") / 2 ** 30, 1),
              "malloc_mmap_threshold": os.environ.get(MMAP_ENV),
              "device": torch.cuda.get_device_name(args.device) if cuda else "cpu", "dtype": "bfloat16", "px": args.px, "repeats": args.repeats,
              "versions": {"torch": torch.__version__, "diffusers": diffusers.__version__,
                           "transformers": transformers.__version__},
              "command": " ".join(["python bench/real_size.py"] + _settings(sys.argv[1:] if argv is None else argv)),
              "families": {}}
    if args.small:
        for key in chosen:
            fam = small(FAMILIES[key])
            print(f"{key} (small)", flush=True)
            model = materialise(fam.transformer, torch.float32, device=args.device)
            result["families"][key] = {"step": time_steps(fam, model, 128, torch.float32, 1, args.device)}
        print(json.dumps(result["families"], indent=1)[:2000])
        return 0
    tmp = Path(args.tmp) if args.tmp else Path(tempfile.mkdtemp(prefix="massact-real-size-"))
    tmp.mkdir(parents=True, exist_ok=True)
    loads: dict = {}
    try:
        for key in list(chosen) + [k for k in FAMILIES if k not in chosen]:
            fam = FAMILIES[key]
            print(f"{key}: {'instantiated' if key in chosen else 'computed from its config'}", flush=True)
            result["families"][key] = measure_family(fam, args, dtype, tmp if key in chosen else None, loads)
    finally:
        if not args.tmp:
            shutil.rmtree(tmp, ignore_errors=True)
    out = Path(args.out) if args.out else DEFAULT_OUT.with_name("real_size_gpu.json") if cuda else DEFAULT_OUT
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(result, indent=1) + "\n")
    print(f"wrote {out}")
    return 0


def table(result: dict) -> str:
    """The README's tables of a results JSON: components, then the transformer steps."""
    lines = [f"Measured {result['date']} on {result['cpu']} ({result['machine']}, {result['ram_gib']} GiB), "
             f"{result['dtype']}, torch {result['versions']['torch']}, diffusers {result['versions']['diffusers']}, "
             f"transformers {result['versions']['transformers']}.", "",
             "| family | component | class | parameters | GB at 16 bits | load (s) | source |", "|---|---|---|---|---|---|---|"]
    for key, fam in result["families"].items():
        for role, c in fam["components"].items():
            load = c.get("load_s")
            lines.append(f"| {key} | {role} | `{c['class']}` | {c['params'] / 1e9:.3f}B | {c['gb_bf16']:.2f} | "
                         f"{'' if load is None else load} | {c['source']} |")
    lines += ["", f"One transformer step at {result['px']} px (the rows the pipeline sends per call), seconds, median of "
              f"{result['repeats']} after a warm-up; peak resident memory over the resting process:", "",
              "| family | rows x tokens (image + text) | width x blocks | TFLOP per call (512 / 1024 px) | bare | "
              "capture | edit | capture / bare (medians; minima) | peak MiB (bare / capture) | statistics per row, "
              "20 steps |", "|---|---|---|---|---|---|---|---|---|---|"]
    for key, fam in result["families"].items():
        st = fam["components"]["transformer"].get("step")
        fl = fam["tflop_per_call"]
        flops = f"{fl['512']:.1f} / {fl['1024']:.1f}"
        if st is None:
            lines.append(f"| {key} | | | {flops} | computed only | | | | | |")
            continue
        lines.append(f"| {key} | {st['rows']} x ({st['image_tokens']} + {st['text_tokens']}) | {st['width']} x "
                     f"{st['blocks']} | {flops} | {st['bare']['s']:.2f} | {st['capture']['s']:.2f} | "
                     f"{st['edit']['s']:.2f} | {st['capture_over_bare']:.2f}; {st['capture']['min_s'] / st['bare']['min_s']:.2f} | "
                     f"{st['bare']['peak_extra_mib']:.0f} / "
                     f"{st['capture']['peak_extra_mib']:.0f} | {st['stats_bytes_per_row_run'] / 2 ** 20:.1f} MiB |")
    return "\n".join(lines)


def _settings(argv: list[str]) -> list[str]:
    """The command-line arguments that decide the numbers: where files go (--out, --tmp) is left out,
    so the JSON names no folder of the machine it ran on."""
    out, skip = [], False
    for a in argv:
        if skip:
            skip = False
        elif a in ("--out", "--tmp"):
            skip = True
        elif not a.startswith(("--out=", "--tmp=")):
            out.append(a)
    return out


def _cpu_name() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown"


if __name__ == "__main__":
    raise SystemExit(main())
