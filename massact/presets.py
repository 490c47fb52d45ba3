"""Which model a notebook studies: the toy on a CPU, a real checkpoint on a GPU.

The first cell of every notebook calls::

    model = massact.presets.notebook_model()

* **On a CPU** it returns ``massact.load("toy")`` and prints one line saying so. Nothing is
  downloaded, nothing waits for a click: this is what nbval, Binder and CI run.
* **On a GPU** it also returns the toy model at once (the cell never blocks), and shows a
  chooser: a dropdown of the presets below (plus "toy"), the advice for this card (dtype,
  CPU offload, steps, resolution, warnings) and a **Load** button. Pressing Load downloads
  the checkpoint from the Hugging Face Hub (the user's choice: nothing is fetched before)
  and builds a ``PipelineModel``. The loaded model is then::

      model = massact.presets.chosen_model()      # the loaded model (the toy until Load)

  or, to react when loading finishes, ``massact.presets.current_chooser().on_load(fn)``
  (``fn(model)`` is called with the new model).

Presets are small frozen dataclasses (hub id, pipeline and transformer class, default steps,
guidance and resolution, approximate 16-bit weight sizes). ``advise(preset, gpu_name,
gpu_mem_gb, bf16_supported)`` is a pure function (testable without a GPU) that picks:

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

Colab: ``in_colab()`` and ``colab_setup()`` (pip-installs massact from the repository with
the installed torch held fixed, and says to restart the runtime when numpy changed). This
module imports only the standard library at import time, so ``python massact/presets.py
--colab-setup`` also works before massact's dependencies are installed.
"""
from __future__ import annotations

import importlib.util
import os
import subprocess
import sys
import tempfile
from dataclasses import dataclass
from typing import Callable

#: GPU memory kept free for activations, the CUDA context and the VAE decode (GiB)
HEADROOM_GB = 3.0
#: fp16's largest finite value
FP16_MAX = 65504.0
#: the repository the Colab setup installs from
REPO_URL = "https://github.com/massact/massact"


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
    steps: int
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
           "FluxTransformer2DModel", steps=4, guidance=0.0, resolution=1024,
           transformer_gb=23.8, largest_gb=23.8, total_gb=33.7, licence="apache-2.0", small_resolution=512,
           note="timestep-distilled: 4 steps, no guidance"),
    Preset("flux1-dev", "FLUX.1-dev", "black-forest-labs/FLUX.1-dev", "FluxPipeline",
           "FluxTransformer2DModel", steps=28, guidance=3.5, resolution=1024,
           transformer_gb=23.8, largest_gb=23.8, total_gb=33.7,
           licence="FLUX.1 [dev] Non-Commercial License", gated=True, small_resolution=512,
           note="guidance-distilled: the guidance is an input of the transformer, one call per step"),
    Preset("flux2-klein-4b", "FLUX.2-klein 4B", "black-forest-labs/FLUX.2-klein-4B", "Flux2KleinPipeline",
           "Flux2Transformer2DModel", steps=4, guidance=1.0, resolution=1024,
           transformer_gb=7.8, largest_gb=8.1, total_gb=16.1, min_diffusers="0.37", licence="apache-2.0",
           small_resolution=768, note="step-distilled (4 steps); text encoder Qwen3-4B"),
    Preset("sana1.5-1.6b", "SANA 1.5 1.6B", "Efficient-Large-Model/SANA1.5_1.6B_1024px_diffusers", "SanaPipeline",
           "SanaTransformer2DModel", steps=20, guidance=4.5, resolution=1024,
           transformer_gb=3.2, largest_gb=5.2, total_gb=9.1, min_diffusers="0.33",
           note="linear attention, 32 px per token; text encoder Gemma-2 2B"),
    Preset("qwen-image", "Qwen-Image", "Qwen/Qwen-Image", "QwenImagePipeline",
           "QwenImageTransformer2DModel", steps=50, guidance=4.0, resolution=1328,
           transformer_gb=40.9, largest_gb=40.9, total_gb=57.8, licence="apache-2.0", small_resolution=1024,
           note="20B MMDiT; true classifier-free guidance (two transformer calls per step)"),
    Preset("sd3.5-medium", "SD3.5-medium", "stabilityai/stable-diffusion-3.5-medium", "StableDiffusion3Pipeline",
           "SD3Transformer2DModel", steps=40, guidance=4.5, resolution=1024,
           transformer_gb=4.9, largest_gb=9.5, total_gb=16.3,
           licence="Stability AI Community License", gated=True, small_resolution=768,
           note="MMDiT-X; three text encoders (CLIP-L, CLIP-G, T5-XXL)"),
    Preset("pixart-sigma", "PixArt-Sigma", "PixArt-alpha/PixArt-Sigma-XL-2-1024-MS", "PixArtSigmaPipeline",
           "PixArtTransformer2DModel", steps=20, guidance=4.5, resolution=1024,
           transformer_gb=1.2, largest_gb=9.5, total_gb=10.9, licence="openrail++",
           note="0.6B DiT, text by cross-attention (T5-XXL)"),
]}

#: the dropdown's choices, in order: "toy" first
CHOICES: tuple[str, ...] = ("toy",) + tuple(PRESETS)


def get_preset(key_or_preset) -> Preset:
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
    steps: int
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
                 f"dtype {self.dtype}; {off}; {self.resolution}x{self.resolution} px; {self.steps} steps; "
                 f"guidance {self.guidance:g}; about {p.total_gb:.0f} GB to download"]
        if not self.fits:
            lines.append("LIKELY DOES NOT FIT on this machine (see below): pick a smaller preset.")
        lines += [f"warning: {w}" for w in self.warnings]
        lines += [f"note: {n}" for n in self.notes]
        return "\n".join(lines)

    def load_kwargs(self) -> dict:
        """Keyword arguments for ``load_preset``."""
        return dict(dtype=self.dtype, offload=self.offload, resolution=self.resolution, steps=self.steps,
                    guidance=self.guidance)


def fp16_warning(preset: Preset) -> str:
    """What fp16 does to this preset's massive activations (the T4 case)."""
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


def advise(preset, gpu_name: str, gpu_mem_gb: float, bf16_supported: bool, ram_gb: float | None = None) -> Advice:
    """Dtype, CPU offload, resolution and steps for ``preset`` on a card.

    gpu_name: e.g. "Tesla T4"; gpu_mem_gb: total GPU memory in GiB; bf16_supported: native
    bfloat16 (compute capability >= 8.0; note that ``torch.cuda.is_bf16_supported()`` may
    say True on a T4 because it counts emulation); ram_gb: system RAM in GiB, when known.
    A pure function: no GPU, no download."""
    p = get_preset(preset)
    mem = float(gpu_mem_gb)
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
    return Advice(p, gpu_name, mem, dtype, offload, resolution, p.steps, p.guidance, fits, tuple(warnings), tuple(notes))


# -- the machine ------------------------------------------------------------------------------
@dataclass(frozen=True)
class GPUInfo:
    name: str
    mem_gb: float  # GiB
    bf16: bool  # native bfloat16 (compute capability >= 8.0)
    ram_gb: float | None = None  # system RAM, GiB


def system_ram_gb() -> float | None:
    try:
        return os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") / 2 ** 30
    except (ValueError, OSError, AttributeError):
        return None


def gpu_info() -> GPUInfo | None:
    """The first CUDA device (name, memory, native bf16), or None on a CPU-only machine."""
    import torch

    if not torch.cuda.is_available():
        return None
    props = torch.cuda.get_device_properties(0)
    # is_bf16_supported() counts emulation (True on a T4 in recent torch): ask the hardware
    bf16 = torch.cuda.get_device_capability(0) >= (8, 0)
    return GPUInfo(props.name, props.total_memory / 2 ** 30, bf16, system_ram_gb())


# -- loading ----------------------------------------------------------------------------------
def _version_tuple(v: str) -> tuple[int, ...]:
    out = []
    for part in v.split(".")[:3]:
        digits = "".join(ch for ch in part if ch.isdigit())
        out.append(int(digits) if digits else 0)
    return tuple(out)


def load_preset(preset, dtype: str = "bfloat16", offload: str = "none", resolution: int | None = None,
                steps: int | None = None, guidance: float | None = None, device: str = "cuda"):
    """Download (if not cached) and wrap a preset's pipeline as a massact ``PipelineModel``.

    Network use is the caller's choice: this is the only function here that downloads, and
    only ``ModelChooser``'s Load button (or your own call) runs it."""
    import torch

    import massact

    p = get_preset(preset)
    missing = [m for m in ("diffusers", "transformers") + (("accelerate",) if offload != "none" else ())
               if importlib.util.find_spec(m) is None]
    if missing:
        raise ImportError(f"{p.label} needs {', '.join(missing)}: pip install {' '.join(missing)}")
    import diffusers

    if _version_tuple(diffusers.__version__) < _version_tuple(p.min_diffusers):
        raise ImportError(f"{p.label} needs diffusers >= {p.min_diffusers} (installed: {diffusers.__version__}): "
                          "pip install -U diffusers")
    if offload not in ("none", "model", "sequential"):
        raise ValueError(f"unknown offload {offload!r}; choose none, model or sequential")
    torch_dtype = getattr(torch, dtype)
    if offload == "none" and importlib.util.find_spec("accelerate") is not None:
        # straight onto the GPU: system RAM never holds the whole pipeline
        pipe = diffusers.DiffusionPipeline.from_pretrained(p.hub_id, torch_dtype=torch_dtype, device_map=device)
    elif offload == "none":
        pipe = diffusers.DiffusionPipeline.from_pretrained(p.hub_id, torch_dtype=torch_dtype)
        pipe.to(device)
    else:
        pipe = diffusers.DiffusionPipeline.from_pretrained(p.hub_id, torch_dtype=torch_dtype)
        if offload == "model":
            pipe.enable_model_cpu_offload()
        else:
            pipe.enable_sequential_cpu_offload()
    res = resolution or p.resolution
    return massact.load(pipe, name=p.label, height=res, width=res, steps=steps or p.steps,
                        guidance=p.guidance if guidance is None else guidance)


# -- the notebook chooser -----------------------------------------------------------------------
def _html_advice(advice: Advice | None, toy_line: str) -> str:
    import html

    if advice is None:
        return f"<div style='font-size:90%'>{html.escape(toy_line)}</div>"
    rows = []
    for line in advice.text().splitlines():
        esc = html.escape(line)
        if line.startswith("warning:") or line.startswith("LIKELY DOES NOT FIT"):
            esc = f"<span style='color:#b35900'>&#9888; {esc}</span>"
        rows.append(esc)
    return "<div style='font-size:90%'>" + "<br>".join(rows) + "</div>"


class ModelChooser:
    """A dropdown of presets (plus "toy"), the advice for this card and a Load button.

    ``.widget`` is the box to display; ``.model`` the current model (the toy until a
    preset has loaded); ``.on_load(fn)`` registers ``fn(model)``, called after each
    successful load; ``.load()`` is what the button does. ``loader`` (tests) replaces
    ``load_preset``."""

    TOY_LINE = ("toy: the embedded 7-block model (32x32 images); runs every notebook on a CPU in minutes. "
                "Nothing to download.")

    def __init__(self, gpu: GPUInfo, default: str = "toy", toy=None, loader: Callable | None = None):
        import ipywidgets as W

        self.gpu = gpu
        self.model = toy
        self.loader = loader or load_preset
        self._callbacks: list[Callable] = []
        if default not in CHOICES:
            default = get_preset(default).key
        options = [("toy (embedded, CPU-sized)", "toy")] + [(f"{p.label} · {p.hub_id}", k) for k, p in PRESETS.items()]
        self.dropdown = W.Dropdown(options=options, value=default, description="model",
                                   layout=W.Layout(width="max-content"))
        self.advice_html = W.HTML()
        self.button = W.Button(description="Load", button_style="primary", icon="download",
                               tooltip="download (if not cached) and load the chosen checkpoint")
        self.status = W.Label(value="using the toy model")
        self.dropdown.observe(lambda _: self.update(), names="value")
        self.button.on_click(lambda _: self.load(raise_errors=False))
        self.widget = W.VBox([W.HBox([self.dropdown, self.button]), self.advice_html, self.status])
        self.update()

    @property
    def choice(self) -> str:
        return self.dropdown.value

    def advice(self) -> Advice | None:
        if self.choice == "toy":
            return None
        return advise(self.choice, self.gpu.name, self.gpu.mem_gb, self.gpu.bf16, self.gpu.ram_gb)

    def update(self) -> None:
        adv = self.advice()
        self.advice_html.value = _html_advice(adv, self.TOY_LINE)
        self.button.description = "Load" if adv is None or adv.fits else "Load anyway"

    def on_load(self, fn: Callable) -> None:
        self._callbacks.append(fn)

    def load(self, raise_errors: bool = True):
        """Load the chosen model (downloads a real checkpoint if it is not cached). On failure
        the previous model stays and the status line says why (the button does not raise)."""
        self.button.disabled = True
        try:
            if self.choice == "toy":
                import massact

                self.model = massact.load("toy")
            else:
                adv = self.advice()
                self.status.value = (f"loading {adv.preset.label} ({adv.dtype}, offload {adv.offload}): downloading "
                                     f"~{adv.preset.total_gb:.0f} GB the first time, this can take minutes ...")
                self.model = self.loader(adv.preset, **adv.load_kwargs())
            self.status.value = (f"loaded {getattr(self.model, 'name', self.choice)}: "
                                 "model = massact.presets.chosen_model()")
            for fn in self._callbacks:
                fn(self.model)
            return self.model
        except Exception as exc:  # shown in the status line; the previous model stays
            self.status.value = f"could not load {self.choice}: {type(exc).__name__}: {exc}"
            if raise_errors:
                raise
            return None
        finally:
            self.button.disabled = False


_CHOOSER: ModelChooser | None = None


def current_chooser() -> ModelChooser | None:
    """The chooser the last ``notebook_model()`` call displayed (None on a CPU)."""
    return _CHOOSER


def chosen_model():
    """The model picked in the chooser (the toy until a preset has loaded; the toy on a CPU)."""
    if _CHOOSER is not None:
        return _CHOOSER.model
    import massact

    return massact.load("toy")


def notebook_model(default: str = "toy", gpu: GPUInfo | None | bool = None, display: bool = True):
    """The first notebook cell's model: always returns the toy model immediately.

    On a CPU (or ``gpu=False``) it prints one line. On a GPU (detected, or given as a
    ``GPUInfo`` for tests) it also displays a ``ModelChooser`` preselecting ``default``;
    after Load, ``chosen_model()`` returns the real model. Never blocks, never downloads."""
    global _CHOOSER
    import massact

    toy = massact.load("toy")
    info = None if gpu is False else (gpu if isinstance(gpu, GPUInfo) else gpu_info())
    if info is None:
        extra = "" if default == "toy" else f" (preset {get_preset(default).label} needs a GPU)"
        print(f"No GPU: using the embedded toy model, massact.load('toy'){extra}.")
        _CHOOSER = None
        return toy
    _CHOOSER = ModelChooser(info, default=default, toy=toy)
    if display:
        from IPython.display import display as show

        show(_CHOOSER.widget)
        print(f"GPU {info.name} ({info.mem_gb:.0f} GiB): using the toy model for now. Pick a preset and press Load, "
              "then run `model = massact.presets.chosen_model()`.")
    return toy


# -- Colab ------------------------------------------------------------------------------------
def in_colab() -> bool:
    """True inside a Google Colab runtime."""
    return "google.colab" in sys.modules or "COLAB_RELEASE_TAG" in os.environ or "COLAB_GPU" in os.environ


def installed_version(dist: str, python: str | None = None) -> str | None:
    """The version pip sees now (asked in a fresh interpreter: this process may hold an older import)."""
    code = ("import importlib.metadata as m, sys\n"
            "try: print(m.version(sys.argv[1]))\n"
            "except m.PackageNotFoundError: print('')")
    out = subprocess.run([python or sys.executable, "-c", code, dist], capture_output=True, text=True)
    v = out.stdout.strip()
    return v or None


def colab_setup(ref: str = "main", repo: str = REPO_URL, run: Callable = subprocess.run,
                version: Callable[[str], str | None] = installed_version, quiet: bool = True) -> dict:
    """Install massact (and its dependencies) from ``repo`` at ``ref`` without touching torch.

    The installed torch (Colab's CUDA build) is held by a pip constraint ``torch==<installed>``,
    so pip neither upgrades nor replaces it. If numpy changed version (or this kernel had
    already imported a different numpy), the runtime must be restarted: the message says so
    and the result has ``restart_needed=True``. ``run``/``version`` are injectable for tests.
    Returns {"command", "torch", "numpy_before", "numpy_after", "restart_needed"}."""
    torch_v = version("torch")
    numpy_before = version("numpy")
    cmd = [sys.executable, "-m", "pip", "install"] + (["-q"] if quiet else [])
    with tempfile.TemporaryDirectory() as tmp:
        if torch_v:
            constraints = os.path.join(tmp, "constraints.txt")
            with open(constraints, "w") as f:
                f.write(f"torch=={torch_v}\n")
            cmd += ["-c", constraints]
        cmd.append(f"massact @ git+{repo}@{ref}")
        run(cmd, check=True)
    numpy_after = version("numpy")
    imported = getattr(sys.modules.get("numpy"), "__version__", None)
    restart = (numpy_before != numpy_after) or (imported is not None and imported != numpy_after)
    if not torch_v:
        print("massact installed; no torch was installed before, so pip chose one (pin a CPU or CUDA build yourself "
              "if that matters).")
    if restart:
        print(f"numpy changed ({imported or numpy_before} -> {numpy_after}): restart the runtime now "
              "(Runtime > Restart session), then run this cell again.")
    else:
        print(f"massact installed from {repo}@{ref}; torch {torch_v or '(new)'} kept.")
    return {"command": cmd, "torch": torch_v, "numpy_before": numpy_before, "numpy_after": numpy_after,
            "restart_needed": restart}


def _main(argv: list[str]) -> int:
    if argv[:1] == ["--colab-setup"]:
        ref = argv[1] if len(argv) > 1 else "main"
        res = colab_setup(ref=ref)
        return 3 if res["restart_needed"] else 0
    if argv[:1] == ["--list"]:
        for p in PRESETS.values():
            print(f"{p.key:16} {p.hub_id:55} {p.steps:3} steps  guidance {p.guidance:<4g} {p.resolution} px  "
                  f"~{p.total_gb:.0f} GB")
        return 0
    print("usage: python -m massact.presets --list | python massact/presets.py --colab-setup [ref]")
    return 2


if __name__ == "__main__":
    raise SystemExit(_main(sys.argv[1:]))
