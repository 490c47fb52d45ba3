"""Real checkpoints massact knows, and what to run them with on a given card.

``PRESETS`` holds seven text-to-image checkpoints as small frozen dataclasses (hub id,
pipeline and transformer class, default steps, guidance and resolution, approximate
16-bit weight sizes); ``CHOICES`` is the chooser's list ("toy" first).

``advise(preset, gpu_name, gpu_mem_gb, bf16_supported, ram_gb=None)`` is a pure function
(testable without a GPU) that picks:

* the **dtype**: bfloat16 where the card has it (compute capability >= 8.0: A100, L4, H100,
  RTX 30xx/40xx ...); float16 otherwise (a 16 GB T4 or a V100 have no bf16). FLUX's massive
  activations reach ~9e4, above fp16's maximum 65504: in fp16 diffusers clips FLUX hidden
  states to +-65504 (inside the blocks, so the block outputs massact hooks are already
  clipped), which changes exactly the values massact ranks. The advice says so. massact
  computes every statistic in float32 whatever the model's dtype, but it cannot undo a clip.
* the **CPU offload**: none when the whole pipeline fits in GPU memory with headroom, "model"
  (``enable_model_cpu_offload``: one component on the GPU at a time) when its largest
  component fits, "sequential" (``enable_sequential_cpu_offload``: layer by layer, slow)
  otherwise. Offloading keeps the weights in system RAM, so when the RAM is known and too
  small the advice says the preset does not fit.

``gpu_info()`` describes this machine's first CUDA device. Loading a preset and the
notebook's chooser live in ``massact.widgets.chooser``; installing massact on Colab in
``massact/install.py``. This module imports only the standard library at import time
(``python -m massact.presets --list`` prints the table).
"""
from __future__ import annotations

import math
import os
import sys
from dataclasses import dataclass

#: GPU memory kept free for activations, the CUDA context and the VAE decode (GiB)
HEADROOM_GB = 3.0
#: fp16's largest finite value
FP16_MAX = 65504.0


@dataclass(frozen=True)
class Preset:
    """A real text-to-image checkpoint massact can study on a GPU.

    Sizes are approximate 16-bit weight sizes in GB read from the checkpoints' file lists
    (``largest_gb``: the biggest single component, usually the transformer or the T5 text
    encoder; it decides whether model-level CPU offload fits)."""

    key: str
    label: str
    hub_id: str
    pipeline_class: str
    transformer_class: str
    num_steps: int  # default sampler steps (a count)
    guidance: float  # guidance_scale (true_cfg_scale for Qwen-Image); FLUX.1-dev: distilled guidance
    resolution: int  # square images, pixels
    transformer_gb: float
    largest_gb: float
    total_gb: float
    min_diffusers: str = "0.35"
    licence: str = "see the model page"
    gated: bool = False  # accept the licence on the model page and log in (huggingface-cli login)
    small_resolution: int | None = None  # used on cards under 20 GiB (faster; None = keep resolution)
    note: str = ""

    @property
    def family(self) -> str:
        from massact.adapters import ADAPTERS

        return ADAPTERS[self.transformer_class].family

    @property
    def url(self) -> str:
        return f"https://huggingface.co/{self.hub_id}"


PRESETS: dict[str, Preset] = {p.key: p for p in [
    Preset("flux1-schnell", "FLUX.1-schnell", "black-forest-labs/FLUX.1-schnell", "FluxPipeline",
           "FluxTransformer2DModel", num_steps=4, guidance=0.0, resolution=1024,
           transformer_gb=23.8, largest_gb=23.8, total_gb=33.7, licence="apache-2.0", small_resolution=512,
           note="timestep-distilled: 4 steps, no guidance"),
    Preset("flux1-dev", "FLUX.1-dev", "black-forest-labs/FLUX.1-dev", "FluxPipeline",
           "FluxTransformer2DModel", num_steps=28, guidance=3.5, resolution=1024,
           transformer_gb=23.8, largest_gb=23.8, total_gb=33.7,
           licence="FLUX.1 [dev] Non-Commercial License", gated=True, small_resolution=512,
           note="guidance-distilled: the guidance is an input of the transformer, one call per step"),
    Preset("flux2-klein-4b", "FLUX.2-klein 4B", "black-forest-labs/FLUX.2-klein-4B", "Flux2KleinPipeline",
           "Flux2Transformer2DModel", num_steps=4, guidance=1.0, resolution=1024,
           transformer_gb=7.8, largest_gb=8.1, total_gb=16.1, min_diffusers="0.37", licence="apache-2.0",
           small_resolution=768, note="step-distilled (4 steps); text encoder Qwen3-4B"),
    Preset("sana1.5-1.6b", "SANA 1.5 1.6B", "Efficient-Large-Model/SANA1.5_1.6B_1024px_diffusers", "SanaPipeline",
           "SanaTransformer2DModel", num_steps=20, guidance=4.5, resolution=1024,
           transformer_gb=3.2, largest_gb=5.2, total_gb=9.1, min_diffusers="0.33",
           note="linear attention, 32 px per token; text encoder Gemma-2 2B"),
    Preset("qwen-image", "Qwen-Image", "Qwen/Qwen-Image", "QwenImagePipeline",
           "QwenImageTransformer2DModel", num_steps=50, guidance=4.0, resolution=1328,
           transformer_gb=40.9, largest_gb=40.9, total_gb=57.8, licence="apache-2.0", small_resolution=1024,
           note="20B MMDiT; true classifier-free guidance (two transformer calls per step)"),
    Preset("sd3.5-medium", "SD3.5-medium", "stabilityai/stable-diffusion-3.5-medium", "StableDiffusion3Pipeline",
           "SD3Transformer2DModel", num_steps=40, guidance=4.5, resolution=1024,
           transformer_gb=4.9, largest_gb=9.5, total_gb=16.3,
           licence="Stability AI Community License", gated=True, small_resolution=768,
           note="MMDiT-X; three text encoders (CLIP-L, CLIP-G, T5-XXL)"),
    Preset("pixart-sigma", "PixArt-Sigma", "PixArt-alpha/PixArt-Sigma-XL-2-1024-MS", "PixArtSigmaPipeline",
           "PixArtTransformer2DModel", num_steps=20, guidance=4.5, resolution=1024,
           transformer_gb=1.2, largest_gb=9.5, total_gb=10.9, licence="openrail++",
           note="0.6B DiT, text by cross-attention (T5-XXL)"),
]}

#: the dropdown's choices, in order: "toy" first
CHOICES: tuple[str, ...] = ("toy",) + tuple(PRESETS)


def get_preset(key_or_preset) -> Preset:
    """A preset by key, label or hub id (case-insensitive), or the preset itself.

    Args:
        key_or_preset: e.g. "flux1-schnell", "FLUX.1-schnell", "black-forest-labs/FLUX.1-schnell".
    Returns:
        the ``Preset``.
    Raises:
        ValueError naming the known keys.
    """
    if isinstance(key_or_preset, Preset):
        return key_or_preset
    if key_or_preset in PRESETS:
        return PRESETS[key_or_preset]
    by_label = {p.label.lower(): p for p in PRESETS.values()} | {p.hub_id.lower(): p for p in PRESETS.values()}
    if isinstance(key_or_preset, str) and key_or_preset.lower() in by_label:
        return by_label[key_or_preset.lower()]
    raise ValueError(f"unknown preset {key_or_preset!r}; choose one of {', '.join(PRESETS)}")


# -- advice -----------------------------------------------------------------------------------
@dataclass(frozen=True)
class Advice:
    """What ``advise`` recommends for one preset on one card (see ``text()``)."""

    preset: Preset
    gpu_name: str
    gpu_mem_gb: float
    dtype: str  # "bfloat16" | "float16"
    offload: str  # "none" | "model" | "sequential"
    resolution: int
    num_steps: int
    guidance: float
    fits: bool
    warnings: tuple[str, ...] = ()
    notes: tuple[str, ...] = ()

    @property
    def cpu_offload(self) -> bool:
        return self.offload != "none"

    @property
    def torch_dtype(self):
        import torch

        return getattr(torch, self.dtype)

    def text(self) -> str:
        """Plain text, one item per line (the chooser shows it as HTML)."""
        p = self.preset
        off = {"none": "no CPU offload (everything on the GPU)",
               "model": "CPU offload per component (pipe.enable_model_cpu_offload())",
               "sequential": "sequential CPU offload (pipe.enable_sequential_cpu_offload(): slow)"}[self.offload]
        lines = [f"{p.label} ({p.hub_id}) on {self.gpu_name} ({self.gpu_mem_gb:.0f} GiB):",
                 f"dtype {self.dtype}; {off}; {self.resolution}x{self.resolution} px; {self.num_steps} steps; "
                 f"guidance {self.guidance:g}; about {p.total_gb:.0f} GB to download"]
        if not self.fits:
            lines.append("LIKELY DOES NOT FIT on this machine (see below): pick a smaller preset.")
        lines += [f"warning: {w}" for w in self.warnings]
        lines += [f"note: {n}" for n in self.notes]
        return "\n".join(lines)

    def load_kwargs(self) -> dict:
        """Keyword arguments for ``massact.widgets.chooser.load_preset``."""
        return dict(dtype=self.dtype, offload=self.offload, resolution=self.resolution, num_steps=self.num_steps,
                    guidance=self.guidance)


def fp16_warning(preset: Preset) -> str:
    """What fp16 does to this preset's massive activations (the T4 case).

    Args:
        preset: a ``Preset``.
    Returns:
        one paragraph for the advice's warnings.
    """
    fam = preset.family
    if fam == "flux":
        return ("FLUX's massive activations reach ~9e4, above fp16's maximum 65504; in fp16 diffusers "
                "clips FLUX hidden states to +-65504 inside every block, so the block outputs massact measures are "
                "clipped: the top channels' magnitudes (exactly what massact ranks) are capped and their ratios to "
                "the median shrink. massact computes its statistics in float32, which cannot undo the clip. Use a "
                "card with bfloat16 (A100, L4, H100, RTX 30xx/40xx) for numbers comparable with the paper.")
    if fam in ("flux2", "qwen-image"):
        return (f"diffusers clips {preset.label}'s hidden states to fp16's range (+-65504) inside the "
                "blocks; if its massive activations exceed it (FLUX.1's reach ~9e4; Qwen-Image is reported to give "
                "NaN/black images in fp16) the values massact ranks are capped or lost. Statistics are float32, but "
                "a clip cannot be undone: prefer a card with bfloat16.")
    return (f"fp16's largest value is 65504; {preset.label}'s activations were not measured here. If a "
            "massive channel exceeds it the activation overflows to inf (NaN images). Statistics are float32; check "
            "the ratio table for inf/NaN.")


def _gib(name: str, v) -> float:
    """A memory size in GiB: a finite number > 0 (bools refused)."""
    if isinstance(v, bool) or not isinstance(v, (int, float)):
        raise TypeError(f"{name} must be a number of GiB, e.g. 15.0, got {type(v).__name__}")
    if not math.isfinite(v) or v <= 0:
        raise ValueError(f"{name} must be a finite number of GiB > 0, got {v!r}")
    return float(v)


def advise(preset, gpu_name: str, gpu_mem_gb: float, bf16_supported: bool, ram_gb: float | None = None) -> Advice:
    """Dtype, CPU offload, resolution and steps for ``preset`` on a card. A pure function: no GPU, no download.

    Args:
        preset: a key, label, hub id or ``Preset``.
        gpu_name: e.g. "Tesla T4".
        gpu_mem_gb: total GPU memory in GiB (a finite number > 0).
        bf16_supported: native bfloat16 (compute capability >= 8.0; ``torch.cuda.is_bf16_supported()``
          may say True on a T4 because it counts emulation).
        ram_gb: system RAM in GiB when known (a finite number > 0), else None.
    Returns:
        an ``Advice`` (``.text()`` for a person, ``.load_kwargs()`` for ``load_preset``).
    Raises:
        ValueError / TypeError for a memory size that is not a finite positive number, or a
        bf16 flag that is not a bool.
    """
    p = get_preset(preset)
    mem = _gib("gpu_mem_gb", gpu_mem_gb)
    if ram_gb is not None:
        ram_gb = _gib("ram_gb", ram_gb)
    if not isinstance(bf16_supported, bool):
        raise TypeError(f"bf16_supported must be True or False, got {bf16_supported!r}")
    warnings: list[str] = []
    notes: list[str] = []
    dtype = "bfloat16" if bf16_supported else "float16"
    if not bf16_supported:
        warnings.append(f"{gpu_name} has no bfloat16, so the model runs in float16. " + fp16_warning(p))
    if p.total_gb + HEADROOM_GB <= mem:
        offload = "none"
    elif p.largest_gb + HEADROOM_GB <= mem:
        offload = "model"
        notes.append(f"the whole pipeline (~{p.total_gb:.0f} GB) does not fit in {mem:.0f} GiB with headroom: "
                     "each component moves to the GPU only while it runs (needs `accelerate`)")
    else:
        offload = "sequential"
        warnings.append(f"even its largest component (~{p.largest_gb:.0f} GB) does not fit in {mem:.0f} GiB: "
                        "sequential CPU offload streams the weights layer by layer over PCIe; expect minutes per "
                        "image (needs `accelerate`)")
    fits = True
    if offload != "none" and ram_gb is not None and ram_gb < p.total_gb * 1.05:
        fits = False
        warnings.append(f"CPU offload keeps the weights (~{p.total_gb:.0f} GB) in system RAM, and this machine has "
                        f"{ram_gb:.0f} GiB")
    resolution = p.resolution
    if p.small_resolution and (mem < 20 or offload == "sequential"):
        resolution = p.small_resolution
        notes.append(f"{resolution} px instead of the checkpoint's {p.resolution} px, to keep a run short on this "
                     "card (pass resolution= to load_preset to change it)")
    if p.gated:
        notes.append(f"gated: accept the {p.licence} on {p.url} and log in (huggingface_hub.login()) first")
    elif p.licence != "see the model page":
        notes.append(f"licence: {p.licence}")
    if p.note:
        notes.append(p.note)
    return Advice(p, gpu_name, mem, dtype, offload, resolution, p.num_steps, p.guidance, fits, tuple(warnings), tuple(notes))


# -- the machine ------------------------------------------------------------------------------
@dataclass(frozen=True)
class GPUInfo:
    """What ``advise`` needs to know about a card (``gpu_info()`` reads it from this machine)."""

    name: str
    mem_gb: float  # GiB
    bf16: bool  # native bfloat16 (compute capability >= 8.0)
    ram_gb: float | None = None  # system RAM, GiB


def system_ram_gb() -> float | None:
    """This machine's RAM.

    Returns:
        GiB, or None where the OS does not say.
    """
    try:
        return os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") / 2 ** 30
    except (ValueError, OSError, AttributeError):
        return None


def gpu_info() -> GPUInfo | None:
    """This machine's first CUDA device.

    Returns:
        a ``GPUInfo`` (name, memory, native bf16, RAM), or None on a CPU-only machine.
    """
    import torch

    if not torch.cuda.is_available():
        return None
    props = torch.cuda.get_device_properties(0)
    # is_bf16_supported() counts emulation (True on a T4 in recent torch): ask the hardware
    bf16 = torch.cuda.get_device_capability(0) >= (8, 0)
    return GPUInfo(props.name, props.total_memory / 2 ** 30, bf16, system_ram_gb())


def advise_for(preset, gpu: GPUInfo) -> Advice:
    """``advise`` for a ``GPUInfo`` (the chooser's call).

    Args:
        preset: a key, label, hub id or ``Preset``; gpu: the card.
    Returns:
        the ``Advice``.
    """
    return advise(preset, gpu.name, gpu.mem_gb, gpu.bf16, gpu.ram_gb)


def _main(argv: list[str]) -> int:
    if argv[:1] == ["--list"]:
        for p in PRESETS.values():
            print(f"{p.key:16} {p.hub_id:55} {p.num_steps:3} steps  guidance {p.guidance:<4g} {p.resolution} px  "
                  f"~{p.total_gb:.0f} GB")
        return 0
    print("usage: python -m massact.presets --list")
    return 2


if __name__ == "__main__":
    raise SystemExit(_main(sys.argv[1:]))
