"""Real checkpoints massact knows, and a plan for running them on a given card.

``PRESETS`` holds seven text-to-image checkpoints as small frozen dataclasses (hub id,
pipeline and transformer class, default steps, guidance and resolution); ``CHOICES`` is the
chooser's list ("toy" first). Their sizes are not typed in: they come from
``massact/data/real_size.json``, written by ``bench/real_size.py``, which builds every
component at its published shape with random weights (``measured``: instantiated, saved and
loaded on the machine it names) or counts it on the meta device (``computed``: FLUX.1 and
Qwen-Image, too large for that machine). ``massact.load`` takes a preset's key, label or hub id
(this table sits in the loading layer, beside ``massact.loading``, below the faces that show it).

``CARDS`` are the cards a course meets (a free Colab T4, an L4, A100 40/80 GB, H100 80 GB);
``advise(preset, card)`` is a pure function (no GPU, no download) that picks:

* the **dtype**: bfloat16 where the card has it (compute capability >= 8.0); float16
  otherwise (T4, V100), with a warning: massive activations are exactly the values fp16
  cannot hold (its largest is 65,504). massact checks every float16 capture for values at
  that limit (``ChannelStats.saturation()``, a ``SaturationWarning``).
* the **memory plan**: everything on the GPU when the pipeline fits with ``HEADROOM_GB`` to
  spare; else per-component CPU offload when the largest component fits; else sequential
  offload (layer by layer, slow) when the system RAM holds the weights; else 4-bit NF4
  weights for the transformer and the largest text encoder (bitsandbytes; a different
  network numerically, and the advice says so); else it does not fit.
* the **resolution** (the preset's smaller one on cards under 20 GiB) and a **rough time
  per image**: the transformer's floating-point operations per call (counted by the
  benchmark) x calls per image, at ``ASSUMED_UTILISATION`` of the card's dense 16-bit peak,
  plus the weights offload moves over PCIe. It is computed, not measured, and says so.

``plan(card)`` gives the advice for every preset; ``plan_table(cards)`` the table printed
in the README; ``recommended(card)`` the preset the notebook chooser preselects.
``gpu_info()`` describes this machine's first CUDA device as a ``Card``. This module imports
only the standard library at import time (``python -m massact.presets --list`` / ``--plan``).
"""
from __future__ import annotations

import functools
import json
import math
import os
import sys
from dataclasses import dataclass
from pathlib import Path

#: GPU memory kept free for activations, the CUDA context and the VAE decode (GiB)
HEADROOM_GB = 3.0
#: fp16's largest finite value
FP16_MAX = 65504.0
#: the share of a card's dense 16-bit peak the time estimates assume (computed times only)
ASSUMED_UTILISATION = 0.3
#: host-to-GPU bandwidth the offload estimates assume, GB/s (PCIe 3/4 x16 in practice)
PCIE_GBPS = 12.0
#: bytes of a 4-bit NF4 weight over a 16-bit one (4 bits, block scales and the unquantised norms)
NF4_FRACTION = 0.3
#: the benchmark's output: sizes, load and step times, FLOPs per transformer call
MEASUREMENTS = Path(__file__).resolve().parent / "data" / "real_size.json"


#: the notebooks' load: transformer calls and image-equivalents per notebook (bench/notebook_load.py)
NOTEBOOK_LOAD = MEASUREMENTS.with_name("notebook_load.json")


@functools.lru_cache(maxsize=1)
def measurements() -> dict:
    """The benchmark's JSON (``bench/real_size.py``): what the sizes and times here come from."""
    return json.loads(MEASUREMENTS.read_text())


@functools.lru_cache(maxsize=1)
def notebook_images() -> dict[str, float]:
    """Image-equivalents each notebook generates (``bench/notebook_load.py``, counted on the toy):
    the transformer's row-calls over the toy's default steps x its rows per image and step."""
    return {k: v["image_equivalents"] for k, v in json.loads(NOTEBOOK_LOAD.read_text())["notebooks"].items()}


@dataclass(frozen=True)
class Preset:
    """A real text-to-image checkpoint massact can study on a GPU.

    ``fp16_peak`` is the magnitude published for the model's largest activations (None: not
    reported); above 65,504 float16 clips or overflows them."""

    key: str
    label: str
    hub_id: str
    pipeline_class: str
    transformer_class: str
    num_steps: int  # default sampler steps (a count)
    guidance: float  # guidance_scale (true_cfg_scale for Qwen-Image); FLUX.1-dev: distilled guidance
    resolution: int  # square images, pixels
    min_diffusers: str = "0.35"
    licence: str = "see the model page"
    gated: bool = False  # accept the licence on the model page and log in (huggingface-cli login)
    small_resolution: int | None = None  # used on cards under 20 GiB (faster; None = keep resolution)
    fp16_peak: float | None = None
    note: str = ""

    @property
    def family(self) -> str:
        from massact.adapters import ADAPTERS

        return ADAPTERS[self.transformer_class].family

    @property
    def url(self) -> str:
        return f"https://huggingface.co/{self.hub_id}"

    @property
    def sizes(self) -> dict:
        """This preset's row of the benchmark (``measurements()["families"][key]``)."""
        return measurements()["families"][self.key]

    @property
    def source(self) -> str:
        """"measured" (instantiated at its real size by the benchmark) or "computed" (from its config)."""
        return self.sizes["components"]["transformer"]["source"]

    @property
    def nf4_components(self) -> tuple[str, ...]:
        """What ``quantize="nf4"`` loads with 4-bit weights: the transformer and the largest text encoder."""
        comps = self.sizes["components"]
        encoders = [r for r in comps if r.startswith("text_encoder")]
        return ("transformer",) + ((max(encoders, key=lambda r: comps[r]["gb_bf16"]),) if encoders else ())

    @property
    def transformer_gb(self) -> float:
        return self.sizes["transformer_gb_16bit"]

    @property
    def largest_gb(self) -> float:
        return self.sizes["largest_gb_16bit"]

    @property
    def total_gb(self) -> float:
        return self.sizes["total_gb_16bit"]


PRESETS: dict[str, Preset] = {p.key: p for p in [
    Preset("flux1-schnell", "FLUX.1-schnell", "black-forest-labs/FLUX.1-schnell", "FluxPipeline",
           "FluxTransformer2DModel", num_steps=4, guidance=0.0, resolution=1024, licence="apache-2.0",
           small_resolution=512, fp16_peak=9e4, note="timestep-distilled: 4 steps, no guidance"),
    Preset("flux1-dev", "FLUX.1-dev", "black-forest-labs/FLUX.1-dev", "FluxPipeline",
           "FluxTransformer2DModel", num_steps=28, guidance=3.5, resolution=1024,
           licence="FLUX.1 [dev] Non-Commercial License", gated=True, small_resolution=512, fp16_peak=9e4,
           note="guidance-distilled: the guidance is an input of the transformer, one call per step"),
    Preset("flux2-klein-4b", "FLUX.2-klein 4B", "black-forest-labs/FLUX.2-klein-4B", "Flux2KleinPipeline",
           "Flux2Transformer2DModel", num_steps=4, guidance=1.0, resolution=1024, min_diffusers="0.37",
           licence="apache-2.0", small_resolution=768, note="step-distilled (4 steps); text encoder Qwen3-4B"),
    Preset("sana1.5-1.6b", "SANA 1.5 1.6B", "Efficient-Large-Model/SANA1.5_1.6B_1024px_diffusers", "SanaPipeline",
           "SanaTransformer2DModel", num_steps=20, guidance=4.5, resolution=1024, min_diffusers="0.33",
           fp16_peak=1.3e6, note="linear attention, 32 px per token; text encoder Gemma-2 2B"),
    Preset("qwen-image", "Qwen-Image", "Qwen/Qwen-Image", "QwenImagePipeline",
           "QwenImageTransformer2DModel", num_steps=50, guidance=4.0, resolution=1328, licence="apache-2.0",
           small_resolution=1024, fp16_peak=2e7,
           note="20B MMDiT; true classifier-free guidance (two transformer calls per step)"),
    Preset("sd3.5-medium", "SD3.5-medium", "stabilityai/stable-diffusion-3.5-medium", "StableDiffusion3Pipeline",
           "SD3Transformer2DModel", num_steps=40, guidance=4.5, resolution=1024,
           licence="Stability AI Community License", gated=True, small_resolution=768,
           note="MMDiT-X; three text encoders (CLIP-L, CLIP-G, T5-XXL)"),
    Preset("pixart-sigma", "PixArt-Sigma", "PixArt-alpha/PixArt-Sigma-XL-2-1024-MS", "PixArtSigmaPipeline",
           "PixArtTransformer2DModel", num_steps=20, guidance=4.5, resolution=1024, licence="openrail++",
           note="0.6B DiT, text by cross-attention (T5-XXL)"),
]}

#: the dropdown's choices, in order: "toy" first
CHOICES: tuple[str, ...] = ("toy",) + tuple(PRESETS)
#: the order ``recommended`` tries presets in: nearest the paper's FLUX first, gated ones last
PREFERENCE = ("flux1-schnell", "flux2-klein-4b", "sana1.5-1.6b", "pixart-sigma", "sd3.5-medium", "flux1-dev",
              "qwen-image")


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


def _gib(name: str, v) -> float:
    """A memory size in GiB: a finite number > 0 (bools refused)."""
    if isinstance(v, bool) or not isinstance(v, (int, float)):
        raise TypeError(f"{name} must be a number of GiB, e.g. 15.0, got {type(v).__name__}")
    if not math.isfinite(v) or v <= 0:
        raise ValueError(f"{name} must be a finite number of GiB > 0, got {v!r}")
    return float(v)


# -- cards ------------------------------------------------------------------------------------
@dataclass(frozen=True)
class Card:
    """A GPU and the machine around it: what ``advise`` needs.

    Attributes:
        name: e.g. "Tesla T4".
        mem_gb: GPU memory in GiB as torch reports it.
        bf16: native bfloat16 (compute capability >= 8.0).
        ram_gb: the host's RAM in GiB (None: unknown; offload is then assumed to fit).
        tflops16: the card's dense 16-bit tensor peak from its datasheet (None: unknown, no time estimate).
        key: its key in ``CARDS`` (None for a card read from a machine and not in the table).
    """

    name: str
    mem_gb: float
    bf16: bool
    ram_gb: float | None = None
    tflops16: float | None = None
    key: str | None = None

    def __post_init__(self):
        object.__setattr__(self, "mem_gb", _gib("mem_gb", self.mem_gb))
        if self.ram_gb is not None:
            object.__setattr__(self, "ram_gb", _gib("ram_gb", self.ram_gb))
        if not isinstance(self.bf16, bool):
            raise TypeError(f"bf16 must be True or False, got {self.bf16!r}")


#: the cards a course meets: memory as torch reports it, the host RAM of the Colab machine that
#: comes with it (T4 free tier, L4, A100 40 GB; None where the host varies), dense 16-bit peaks
#: from the datasheets (T4 65 fp16, L4 121, A100 312, H100 SXM 989)
CARDS: dict[str, Card] = {c.key: c for c in [
    Card("Tesla T4 (Colab free tier)", 15.0, False, ram_gb=12.7, tflops16=65.0, key="t4"),
    Card("NVIDIA L4 (Colab)", 22.5, True, ram_gb=53.0, tflops16=121.0, key="l4"),
    Card("NVIDIA A100 40GB (Colab)", 39.6, True, ram_gb=83.5, tflops16=312.0, key="a100-40"),
    Card("NVIDIA A100 80GB", 79.2, True, tflops16=312.0, key="a100-80"),
    Card("NVIDIA H100 80GB SXM", 79.2, True, tflops16=989.0, key="h100-80"),
]}
#: what a card's name contains -> its row of CARDS (for a card read from a machine)
_NAME_KEYS = (("T4", "t4"), ("L4", "l4"), ("H100", "h100-80"), ("A100", None))


def get_card(card) -> Card:
    """A card by key ("t4", "l4", "a100-40", "a100-80", "h100-80"), or the ``Card`` itself.

    Raises:
        ValueError naming the known keys; TypeError for anything else.
    """
    if isinstance(card, Card):
        return card
    if isinstance(card, str):
        if card.lower() in CARDS:
            return CARDS[card.lower()]
        raise ValueError(f"unknown card {card!r}; choose one of {', '.join(CARDS)} or pass a Card")
    raise TypeError(f"card must be a key ({', '.join(CARDS)}) or a Card, got {type(card).__name__}")


def _table_card(name: str, mem_gb: float) -> Card | None:
    """The row of CARDS a card read from a machine matches by name (A100 by memory), or None."""
    for part, key in _NAME_KEYS:
        if part in name:
            return CARDS[key] if key else CARDS["a100-80" if mem_gb > 45 else "a100-40"]
    return None


# -- advice -----------------------------------------------------------------------------------
@dataclass(frozen=True)
class Advice:
    """What ``advise`` recommends for one preset on one card (see ``text()``)."""

    preset: Preset
    card: Card
    dtype: str  # "bfloat16" | "float16"
    offload: str  # "none" | "model" | "sequential"
    quantize: str  # "none" | "nf4"
    resolution: int
    num_steps: int
    guidance: float
    fits: bool
    gpu_gb: float  # weights on the GPU at the peak (GB)
    seconds_per_image: float | None  # computed (None: the card's peak is unknown)
    warnings: tuple[str, ...] = ()
    notes: tuple[str, ...] = ()

    @property
    def cpu_offload(self) -> bool:
        return self.offload != "none"

    @property
    def notebooks_seconds(self) -> float | None:
        """All five notebooks on this card (computed): their image-equivalents x ``seconds_per_image``."""
        if self.seconds_per_image is None:
            return None
        return sum(notebook_images().values()) * self.seconds_per_image

    @property
    def torch_dtype(self):
        import torch

        return getattr(torch, self.dtype)

    def summary(self) -> str:
        """One cell of the plan table: "bf16 · 1024 px · ~4 s/image", or "does not fit"."""
        if not self.fits:
            return "does not fit"
        parts = [{"bfloat16": "bf16", "float16": "fp16"}[self.dtype]]
        if self.quantize != "none":
            parts.append(f"{self.quantize} weights")
        if self.offload != "none":
            parts.append(f"{self.offload} offload")
        parts.append(f"{self.resolution} px")
        if self.seconds_per_image is not None:
            parts.append(f"~{_round_s(self.seconds_per_image)}/image, notebooks ~{_round_s(self.notebooks_seconds)}")
        if self.dtype == "float16" and (self.preset.fp16_peak or 0) > FP16_MAX:
            parts.append("values clipped in fp16")
        return " · ".join(parts)

    def text(self) -> str:
        """Plain text, one item per line (the chooser shows it as HTML)."""
        p = self.preset
        off = {"none": "no CPU offload (everything on the GPU)",
               "model": "CPU offload per component (pipe.enable_model_cpu_offload())",
               "sequential": "sequential CPU offload (pipe.enable_sequential_cpu_offload(): slow)"}[self.offload]
        quant = "" if self.quantize == "none" else f"; {self.quantize} 4-bit weights (bitsandbytes)"
        lines = [f"{p.label} ({p.hub_id}) on {self.card.name} ({self.card.mem_gb:.0f} GiB):",
                 f"dtype {self.dtype}{quant}; {off}; {self.resolution}x{self.resolution} px; {self.num_steps} steps; "
                 f"guidance {self.guidance:g}; about {p.total_gb:.0f} GB to download"]
        if self.seconds_per_image is not None:
            lines.append(f"about {_round_s(self.seconds_per_image)} per image (computed, not measured: "
                         f"{ASSUMED_UTILISATION:.0%} of the card's {self.card.tflops16:g} TFLOPS, offload at "
                         f"{PCIE_GBPS:g} GB/s); the five notebooks about {_round_s(self.notebooks_seconds)} "
                         f"({sum(notebook_images().values()):.0f} image-equivalents counted by bench/notebook_load.py)")
        if not self.fits:
            lines.append("LIKELY DOES NOT FIT on this machine (see below): pick a smaller preset.")
        lines += [f"warning: {w}" for w in self.warnings]
        lines += [f"note: {n}" for n in self.notes]
        return "\n".join(lines)

    def load_kwargs(self) -> dict:
        """Keyword arguments for ``massact.load(advice.preset.key, **advice.load_kwargs())``.

        Returns:
            device ("cuda": the card), dtype (a ``torch.dtype``), offload, quantize, height_px and
            width_px (the advised resolution), num_steps and guidance.
        """
        return dict(device="cuda", dtype=self.torch_dtype, offload=self.offload, quantize=self.quantize,
                    height_px=self.resolution, width_px=self.resolution, num_steps=self.num_steps,
                    guidance=self.guidance)


def _round_s(seconds: float) -> str:
    if seconds < 10:
        return f"{seconds:.1f} s"
    if seconds < 120:
        return f"{seconds:.0f} s"
    if seconds < 3 * 3600:
        return f"{seconds / 60:.0f} min"
    return f"{seconds / 3600:.0f} h"


def fp16_warning(preset: Preset) -> str:
    """What fp16 does to this preset's massive activations (the T4 case).

    Args:
        preset: a ``Preset``.
    Returns:
        one paragraph for the advice's warnings.
    """
    check = (" massact checks every float16 capture and names the blocks and channels at the limit "
             "(ChannelStats.saturation(), a SaturationWarning).")
    if preset.fp16_peak and preset.fp16_peak > FP16_MAX:
        clip = (" diffusers clips FLUX's hidden states to +-65504 inside its blocks, so the block outputs massact "
                "measures are capped" if preset.family == "flux" else
                " values past it overflow to inf or are clipped where diffusers clamps them")
        return (f"{preset.label}'s largest activations are reported at about {preset.fp16_peak:.0e}, above fp16's "
                f"maximum 65504:{clip}; the top channels' magnitudes (exactly what massact ranks) and their ratios "
                "to the median shrink, and a statistic in float32 cannot undo a clip. Use a card with bfloat16 "
                "(A100, L4, H100, RTX 30xx/40xx) for numbers comparable with the paper." + check)
    return (f"fp16's largest value is 65504; {preset.label}'s largest activations are not reported. If a massive "
            "channel exceeds it the value is clipped or overflows." + check)


def _tflop_per_call(preset: Preset, px: int) -> float:
    """FLOPs of one transformer call at ``px`` (TFLOP), from the benchmark's counts at 512 and
    1024 px: with r the image tokens over those at 512 px, f(r) = u r + w r^2 (the linear
    layers grow with the tokens, attention with their square) through f(1) and f(4)."""
    counts = preset.sizes["tflop_per_call"]
    f512, f1024 = counts["512"], counts["1024"]
    r = (px / 512) ** 2
    w = (f1024 - 4 * f512) / 12
    return max((f512 - w) * r + w * r * r, 0.0)


def _memory_plan(p: Preset, card: Card) -> tuple[str, str, float, bool, list[str], list[str]]:
    """(offload, quantize, GPU GB at the peak, fits, warnings, notes) for a preset on a card."""
    mem, ram = card.mem_gb, card.ram_gb
    warnings: list[str] = []
    notes: list[str] = []
    ram_ok = ram is None or ram >= p.total_gb * 1.05
    if p.total_gb + HEADROOM_GB <= mem:
        return "none", "none", p.total_gb, True, warnings, notes
    if p.largest_gb + HEADROOM_GB <= mem and ram_ok:
        notes.append(f"the whole pipeline (~{p.total_gb:.0f} GB) does not fit in {mem:.0f} GiB with headroom: "
                     "each component moves to the GPU only while it runs (needs `accelerate`)")
        return "model", "none", p.largest_gb, True, warnings, notes
    if ram_ok:
        warnings.append(f"its largest component (~{p.largest_gb:.0f} GB) does not fit in {mem:.0f} GiB: sequential "
                        "CPU offload streams the weights layer by layer over PCIe; expect minutes per image "
                        "(needs `accelerate`)")
        return "sequential", "none", min(p.largest_gb, mem - HEADROOM_GB), True, warnings, notes
    # 4-bit weights for the transformer and the largest text encoder
    q = {r: c["gb_bf16"] * (NF4_FRACTION if r in p.nf4_components else 1.0) for r, c in p.sizes["components"].items()}
    q_total, q_largest = sum(q.values()), max(q.values())
    q_ram_ok = ram is None or ram >= q_total * 1.05
    why = (f"in 16 bits it does not fit {mem:.0f} GiB" + ("" if ram_ok else f" nor, offloaded, {ram:.0f} GiB of RAM"))
    quant_warning = (f"{why}: the transformer and the largest text encoder are loaded with 4-bit NF4 weights "
                     "(bitsandbytes, CUDA only). That is a different network numerically: its activations, massive "
                     "ones included, are not exactly the published model's; say so beside any number")
    if q_total + HEADROOM_GB <= mem:
        return "none", "nf4", q_total, True, [quant_warning], notes
    if q_largest + HEADROOM_GB <= mem and q_ram_ok:
        return "model", "nf4", q_largest, True, [quant_warning], notes
    warnings.append(f"does not fit: {p.total_gb:.0f} GB in 16 bits (largest component ~{p.largest_gb:.0f} GB), "
                    f"~{q_total:.0f} GB with 4-bit weights, against {mem:.0f} GiB of GPU memory"
                    + ("" if ram is None else f" and {ram:.0f} GiB of RAM"))
    return "none", "none", mem, False, warnings, notes


def advise(preset, card) -> Advice:
    """Dtype, memory plan, resolution, steps and a rough time for ``preset`` on ``card``.

    A pure function: no GPU, no download.

    Args:
        preset: a key, label, hub id or ``Preset``.
        card: a key of ``CARDS`` ("t4", "l4", "a100-40", "a100-80", "h100-80") or a ``Card``
          (``gpu_info()`` reads one from this machine).
    Returns:
        an ``Advice`` (``.text()`` for a person, ``.summary()`` for a table cell,
        ``.load_kwargs()`` for ``massact.load``).
    Raises:
        ValueError for an unknown preset or card key; TypeError for a card of another type.
    """
    p = get_preset(preset)
    card = get_card(card)
    dtype = "bfloat16" if card.bf16 else "float16"
    offload, quantize, gpu_gb, fits, warnings, notes = _memory_plan(p, card)
    if not card.bf16:
        warnings.insert(0, f"{card.name} has no bfloat16, so the model runs in float16. " + fp16_warning(p))
    resolution = p.resolution
    if p.small_resolution and (card.mem_gb < 20 or offload == "sequential"):
        resolution = p.small_resolution
        notes.append(f"{resolution} px instead of the checkpoint's {p.resolution} px, to keep a run short on this "
                     "card (pass height_px= and width_px= to massact.load to change it)")
    seconds = None
    if card.tflops16 and fits:
        fam = p.sizes
        calls = p.num_steps * fam["calls_per_step"]
        seconds = calls * _tflop_per_call(p, resolution) / (card.tflops16 * ASSUMED_UTILISATION)
        if offload == "model":
            seconds += p.total_gb / PCIE_GBPS
        elif offload == "sequential":
            seconds += calls * p.transformer_gb / PCIE_GBPS
    if p.gated:
        notes.append(f"gated: accept the {p.licence} on {p.url} and log in (huggingface_hub.login()) first")
    elif p.licence != "see the model page":
        notes.append(f"licence: {p.licence}")
    notes.append(f"sizes {p.source} by bench/real_size.py ({measurements()['date']})")
    if p.note:
        notes.append(p.note)
    return Advice(p, card, dtype, offload, quantize, resolution, p.num_steps, p.guidance, fits, round(gpu_gb, 2),
                  seconds, tuple(warnings), tuple(notes))


def plan(card) -> list[Advice]:
    """The advice for every preset on one card, in ``PRESETS`` order.

    Args:
        card: a key of ``CARDS`` or a ``Card``.
    """
    return [advise(p, card) for p in PRESETS]


def recommended(card) -> str:
    """The preset the chooser preselects on ``card``: the first of ``PREFERENCE`` that runs
    whole in 16 bits (no quantisation, no sequential offload), ungated, and, on a card
    without bfloat16, not reported to exceed fp16's range; "toy" when none does.

    Args:
        card: a key of ``CARDS`` or a ``Card``.
    """
    card = get_card(card)
    for key in PREFERENCE:
        a = advise(key, card)
        if (a.fits and a.quantize == "none" and a.offload != "sequential" and not a.preset.gated
                and (card.bf16 or not (a.preset.fp16_peak or 0) > FP16_MAX)):
            return key
    return "toy"


def plan_table(cards=tuple(CARDS)) -> str:
    """A markdown table: one row per preset, one column per card, each cell ``Advice.summary()``.

    Args:
        cards: keys of ``CARDS`` or ``Card`` objects.
    """
    cards = [get_card(c) for c in cards]
    m = measurements()
    head = "| preset | sizes | " + " | ".join(f"{c.name} ({c.mem_gb:.0f} GiB)" for c in cards) + " |"
    lines = [head, "|" + "---|" * (len(cards) + 2)]
    for p in PRESETS.values():
        lines.append(f"| {p.label} | {p.total_gb:.1f} GB ({p.source}) | "
                     + " | ".join(advise(p, c).summary() for c in cards) + " |")
    lines.append("")
    lines.append(f"Sizes: 16-bit weights of the whole pipeline from bench/real_size.py ({m['date']}, {m['machine']}); "
                 f"'measured' = built at the real size, saved and loaded there; 'computed' = counted from the "
                 f"config. Times are computed, not measured: FLOPs per transformer call counted by the benchmark, at "
                 f"{ASSUMED_UTILISATION:.0%} of the card's dense 16-bit peak, plus offload traffic at {PCIE_GBPS:g} GB/s; "
                 f"'notebooks' is the five notebooks' {sum(notebook_images().values()):.0f} image-equivalents "
                 f"(bench/notebook_load.py, counted on the toy) at that rate. "
                 f"The recommended preset per card: "
                 + ", ".join(f"{c.key or c.name} {recommended(c)}" for c in cards) + ".")
    return "\n".join(lines)


# -- the machine ------------------------------------------------------------------------------
def system_ram_gb() -> float | None:
    """This machine's RAM.

    Returns:
        GiB, or None where the OS does not say.
    """
    try:
        return os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") / 2 ** 30
    except (ValueError, OSError, AttributeError):
        return None


def gpu_info() -> Card | None:
    """This machine's first CUDA device.

    Returns:
        a ``Card`` (name, memory, native bf16, RAM; the datasheet peak where the name matches a
        row of ``CARDS``), or None on a CPU-only machine.
    """
    import torch

    if not torch.cuda.is_available():
        return None
    props = torch.cuda.get_device_properties(0)
    # is_bf16_supported() counts emulation (True on a T4 in recent torch): ask the hardware
    bf16 = torch.cuda.get_device_capability(0) >= (8, 0)
    mem = props.total_memory / 2 ** 30
    known = _table_card(props.name, mem)
    return Card(props.name, mem, bf16, system_ram_gb(), known.tflops16 if known else None,
                known.key if known else None)


def _main(argv: list[str]) -> int:
    if argv[:1] == ["--list"]:
        for p in PRESETS.values():
            print(f"{p.key:16} {p.hub_id:55} {p.num_steps:3} steps  guidance {p.guidance:<4g} {p.resolution} px  "
                  f"~{p.total_gb:.0f} GB")
        return 0
    if argv[:1] == ["--plan"]:
        print(plan_table())
        return 0
    print("usage: python -m massact.presets --list | --plan")
    return 2


if __name__ == "__main__":
    raise SystemExit(_main(sys.argv[1:]))
