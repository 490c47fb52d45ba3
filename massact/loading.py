"""``massact.load``: a model by name, from a pipeline, or as given.

This module sits above both the core model class (``models.py``) and the toy wing: it is
the one place that turns the name "toy" into the embedded model, so that neither the core
nor the claims need to know the toy exists. It is also the one place that turns a preset
(``massact.presets``, the table of real checkpoints in this layer) or any other checkpoint
into a model: dtype, device, CPU offload and 4-bit weights are options of ``load``, checked
once, here.
"""
from __future__ import annotations

import importlib.util
import os

import torch

from .adapters import supported_classes
from .checks import check_choice, check_finite, check_int
from .models import MassactModel, PipelineModel
from .presets import PRESETS, Preset, get_preset
from .world import SceneWorld, World

#: the model ``load()`` gives without arguments (the embedded toy, CPU-sized)
DEFAULT_MODEL = "toy"
#: where a checkpoint's weights live: "none" (all on ``device``), "model" (each component moves to the
#: GPU while it runs: ``enable_model_cpu_offload``) or "sequential" (layer by layer: slow)
OFFLOADS = ("none", "model", "sequential")
#: a checkpoint's weights: "none" (as published) or "nf4" (4-bit NF4 weights for a preset's
#: transformer and largest text encoder, bitsandbytes on CUDA: a different network numerically)
QUANTIZATIONS = ("none", "nf4")
#: the dtypes ``load`` puts weights in
DTYPES = (torch.float32, torch.bfloat16, torch.float16)
#: ``PipelineModel``'s options: every pipeline takes them
PIPELINE_OPTIONS = ("name", "height_px", "width_px", "num_steps", "guidance", "call_kwargs", "world")
#: the keyword options of ``load`` each kind of source takes
OPTIONS = {"toy": ("checkpoint", "num_steps", "guidance"),
           "tiny": ("seed",) + PIPELINE_OPTIONS,
           "checkpoint": ("pretrained_kwargs",) + PIPELINE_OPTIONS,
           "pipeline": PIPELINE_OPTIONS,
           "model": ()}
#: the first diffusers release whose ``from_pretrained`` reads ``dtype`` (earlier ones read ``torch_dtype``)
DIFFUSERS_DTYPE_ARGUMENT = "0.40"


def load(name_or_pipeline=DEFAULT_MODEL, device: str | torch.device | None = None, dtype: torch.dtype | None = None,
         offload: str = "none", quantize: str = "none", **kwargs) -> MassactModel:
    """The embedded toy model ("toy"), a tiny pipeline, a preset, a checkpoint, or a loaded pipeline.

    Every option is checked here, before anything is built or downloaded.

    Args:
        name_or_pipeline: "toy" (the default toy model, width 128), "toy-256" (a wider toy; see
          ``massact/toy/weights/checkpoints/run_card.md``), a tiny random pipeline ("tiny-flux", "tiny-flux-dev",
          "tiny-flux2", "tiny-sd3", "tiny-sana", "tiny-pixart", "tiny-qwen-image", ...: plumbing fixtures from
          ``massact.testing``, no download), a preset (a key, label or hub id of ``massact.presets.PRESETS``,
          e.g. "flux1-schnell", or a ``Preset``: its checkpoint, with the preset's steps, guidance and
          resolution as the defaults), any other diffusers checkpoint (a hub id "owner/name" or a local
          directory), a loaded diffusers pipeline, or a ``MassactModel`` (returned as is, no options).
        device: where the weights go ("cpu", "cuda", "cuda:1", "mps"; default "cpu"); with offload, the GPU
          the components visit. A loaded pipeline stays where it is (move it first: ``pipe.to(...)``).
        dtype: the weights' dtype, one of ``DTYPES`` (default: float32 for the toy and the tiny
          pipelines, bfloat16 for checkpoints).
        offload: a checkpoint's CPU offload, one of ``OFFLOADS``: "none", "model" (per component,
          needs ``accelerate``) or "sequential" (layer by layer); needs a GPU ``device``.
        quantize: a preset's weights, one of ``QUANTIZATIONS``: "none" or "nf4" (4-bit weights for the
          transformer and the largest text encoder, ``nf4_config``; needs ``bitsandbytes``, CUDA only:
          a different network numerically).
        **kwargs: what each kind of model takes (``OPTIONS``). The toy: ``checkpoint=STEP`` (a training
          step of its own run, ``massact.toy.checkpoints.available(name)``) and its sampler's defaults
          ``num_steps`` and ``guidance``. A pipeline: ``PipelineModel`` options (name, height_px, width_px,
          num_steps, guidance, call_kwargs, world); a tiny pipeline also ``seed=`` (its weights' seed); a
          checkpoint also ``pretrained_kwargs={...}`` (passed to ``DiffusionPipeline.from_pretrained``,
          e.g. ``{"text_encoder_3": None, "tokenizer_3": None}`` for an SD3 saved without T5, or
          ``{"variant": "fp16"}``). ``num_steps`` is a count in 1..1000, ``guidance`` a finite number in
          [0, 100], ``height_px`` / ``width_px`` pixels in 16..8192. Pipelines get the scene world
          (``world.SceneWorld``: default prompts and caption pairs) unless ``world=`` names another
          ``World`` or None (no defaults: every claim then asks for prompts).
    Returns:
        a ``MassactModel``.
    Raises:
        ValueError for a name ``load`` does not know or an option outside its valid values or not for
        this kind of model; TypeError for an option ``load`` does not take; ImportError naming the
        packages a checkpoint needs (and a preset's minimum diffusers version).
    """
    kind, preset = _kind(name_or_pipeline)
    device = _check_options(kind, name_or_pipeline, preset, device, dtype, offload, quantize, kwargs)
    if kind == "toy":
        from .toy.pipeline import ToyModel

        model = ToyModel.load(device=device, dtype=dtype, checkpoint=kwargs.get("checkpoint"), name=name_or_pipeline)
        if kwargs.get("num_steps") is not None:
            model.default_steps = kwargs["num_steps"]
        if kwargs.get("guidance") is not None:
            model.default_guidance = kwargs["guidance"]
        return model
    if kind == "model":
        return name_or_pipeline
    kwargs.setdefault("world", SceneWorld())
    if kind == "tiny":
        return _load_tiny(name_or_pipeline, device, dtype, kwargs)
    if kind == "checkpoint":
        return _load_checkpoint(preset.hub_id if preset else name_or_pipeline, preset, device, dtype, offload,
                                quantize, kwargs)
    return PipelineModel(name_or_pipeline, **kwargs)


def toy_names() -> tuple[str, ...]:
    """The embedded toy models ``load`` knows by name.

    Returns:
        a tuple of names, the default ("toy") first.
    """
    from .toy.pipeline import TOY_MODELS

    return TOY_MODELS


def _tiny_names() -> tuple[str, ...]:
    from .testing import TINY_NAMES

    return TINY_NAMES


def _kind(source) -> tuple[str, Preset | None]:
    """What ``load`` was given: ("toy" | "tiny" | "checkpoint" | "pipeline" | "model", its preset or None).

    Raises:
        ValueError for a name that is none of them, or for something that is not a model.
    """
    if isinstance(source, MassactModel):
        return "model", None
    if isinstance(source, Preset):
        return "checkpoint", source
    if isinstance(source, str):
        if source in toy_names():
            return "toy", None
        if source.startswith("tiny-") and not os.path.isdir(source):
            from . import testing

            if testing.family_of_name(source) is None:
                raise ValueError(f"unknown tiny pipeline {source!r}; valid tiny pipelines: "
                                 f"{', '.join(testing.TINY_NAMES)}")
            return "tiny", None
        try:
            return "checkpoint", get_preset(source)
        except ValueError:
            pass
        if os.path.isdir(source) or (not source.startswith(("/", ".", "~")) and source.count("/") == 1):
            return "checkpoint", None
        raise ValueError(f"cannot load {source!r}: it is neither a local directory nor a hub id (owner/name); "
                         f"massact's own models: {', '.join(toy_names() + _tiny_names())}; presets: "
                         f"{', '.join(PRESETS)}")
    if hasattr(source, "transformer"):
        return "pipeline", None
    raise ValueError(f"cannot load {source!r}: give 'toy', a tiny pipeline, a preset ({', '.join(PRESETS)}), a "
                     f"diffusers checkpoint name, or a pipeline whose transformer is one of: "
                     f"{', '.join(supported_classes())}")


def _check_options(kind: str, source, preset: Preset | None, device, dtype, offload: str, quantize: str,
                   kwargs: dict) -> str | None:
    """Every option of one ``load`` call, checked against its valid values and the kind of source.

    Args:
        kind, preset: from ``_kind``; source: what ``load`` was given; the rest: ``load``'s arguments
          (``kwargs`` gets its numbers as Python ints and floats).
    Returns:
        the device as a string ("cpu" when left out; None for a loaded pipeline or model).
    Raises:
        ValueError, TypeError: see ``load``.
    """
    what = f"load({source!r})" if isinstance(source, str) else f"load({type(source).__name__})"
    check_choice("offload", offload, OFFLOADS)
    check_choice("quantize", quantize, QUANTIZATIONS)
    if dtype is not None and dtype not in DTYPES:
        raise ValueError(f"dtype must be one of {', '.join(map(str, DTYPES))} (or None: the model's default), "
                         f"got {dtype!r}")
    if device is not None:
        if not isinstance(device, (str, torch.device)):
            raise TypeError(f"device must be a device name such as 'cpu', 'cuda', 'cuda:1' or 'mps', got "
                            f"{type(device).__name__}")
        try:
            device = str(torch.device(device))
        except RuntimeError:
            raise ValueError(f"unknown device {device!r}; give a device name such as 'cpu', 'cuda', 'cuda:1' or "
                             "'mps'") from None
    for name, lo, hi, unit in (("num_steps", 1, 1000, "sampler steps"), ("height_px", 16, 8192, "pixels"),
                               ("width_px", 16, 8192, "pixels")):
        if kwargs.get(name) is not None:
            kwargs[name] = check_int(name, kwargs[name], lo, hi, what=unit)
    if kwargs.get("guidance") is not None:
        kwargs["guidance"] = check_finite("guidance", kwargs["guidance"], 0.0, 100.0, what="a guidance scale")
    takes = (("device", "dtype") if kind not in ("pipeline", "model") else ()) + \
        (("offload", "quantize") if kind == "checkpoint" else ()) + OPTIONS[kind]
    unknown = sorted(k for k in kwargs if not any(k in options for options in OPTIONS.values()))
    if unknown:
        raise TypeError(f"{what} takes {', '.join(takes) or 'no options'}, not {unknown}")
    given = {k: v for k, v in (("device", device), ("dtype", dtype)) if v is not None}
    given |= {k: v for k, v in (("offload", offload), ("quantize", quantize)) if v != "none"}
    misplaced = [k for k in list(given) + list(kwargs) if k not in takes]
    do_not = f"{', '.join(misplaced)} {'does' if len(misplaced) == 1 else 'do'} not apply"
    if misplaced and kind == "toy":
        raise ValueError(f"the toy model draws 32x32 images on its own sampler: {do_not} (they configure "
                         "pipelines); it takes " + ", ".join(takes))
    if misplaced:
        why = {"tiny": "offload and quantize configure checkpoints: presets, hub ids, local directories",
               "pipeline": "a loaded pipeline stays where it is: move it first with pipe.to(...)",
               "model": "a massact model is returned as it is"}[kind]
        raise ValueError(f"{what}: {do_not} ({why}); it takes {', '.join(takes) or 'no options'}")
    if kind in ("pipeline", "model"):
        return None
    device = device or "cpu"
    if kind == "checkpoint":
        if offload != "none" and torch.device(device).type == "cpu":
            raise ValueError(f"offload={offload!r} moves the weights between the CPU and a GPU: give the GPU as "
                             f"device (e.g. 'cuda'), not {device!r}")
        if quantize != "none" and preset is None:
            raise ValueError(f"quantize={quantize!r} quantizes a preset's transformer and largest text encoder; "
                             f"{source!r} is not a preset (presets: {', '.join(PRESETS)})")
        if quantize != "none" and torch.device(device).type != "cuda":
            raise ValueError(f"quantize={quantize!r} loads 4-bit weights with bitsandbytes, CUDA only: give a CUDA "
                             f"device (e.g. 'cuda'), not {device!r}")
        pretrained = kwargs.get("pretrained_kwargs")
        if pretrained is not None and not (isinstance(pretrained, dict)
                                           and all(isinstance(k, str) for k in pretrained)):
            raise TypeError("pretrained_kwargs must map from_pretrained argument names (str) to values")
    return device


def _version_tuple(v: str) -> tuple[int, ...]:
    out = []
    for part in v.split(".")[:3]:
        digits = "".join(ch for ch in part if ch.isdigit())
        out.append(int(digits) if digits else 0)
    return tuple(out)


def _load_checkpoint(name: str, preset: Preset | None, device: str, dtype: torch.dtype | None, offload: str,
                     quantize: str, kwargs: dict) -> PipelineModel:
    """A diffusers checkpoint (a preset's hub id, another hub id or a local directory), placed and wrapped.

    Needs the weights locally or a hub connection (never in CI). A preset gives the defaults
    of ``num_steps``, ``guidance``, ``height_px`` and ``width_px``.
    """
    needs = ("diffusers", "transformers") + (("accelerate",) if offload != "none" else ()) + \
        (("bitsandbytes",) if quantize == "nf4" else ())
    missing = [m for m in needs if importlib.util.find_spec(m) is None]
    if missing:
        raise ImportError(f"{preset.label if preset else name} needs {', '.join(missing)}: "
                          f"pip install {' '.join(missing)}")
    import diffusers

    if preset is not None and _version_tuple(diffusers.__version__) < _version_tuple(preset.min_diffusers):
        raise ImportError(f"{preset.label} needs diffusers >= {preset.min_diffusers} (installed: "
                          f"{diffusers.__version__}): pip install -U diffusers")
    torch_dtype = dtype or torch.bfloat16
    pretrained = dict(kwargs.pop("pretrained_kwargs", None) or {})
    if "dtype" not in pretrained and "torch_dtype" not in pretrained:
        new = _version_tuple(diffusers.__version__) >= _version_tuple(DIFFUSERS_DTYPE_ARGUMENT)
        pretrained["dtype" if new else "torch_dtype"] = torch_dtype
    if quantize == "nf4":
        pretrained.setdefault("quantization_config", nf4_config(preset, torch_dtype))
    if offload == "none" and device == "cuda" and importlib.util.find_spec("accelerate") is not None:
        # straight onto the GPU: system RAM never holds the whole pipeline
        pretrained.setdefault("device_map", device)
    pipe = diffusers.DiffusionPipeline.from_pretrained(name, **pretrained)
    if offload == "model":
        pipe.enable_model_cpu_offload(device=device)
    elif offload == "sequential":
        pipe.enable_sequential_cpu_offload(device=device)
    elif "device_map" not in pretrained:
        pipe.to(device)
    if preset is not None:
        for option, default in (("height_px", preset.resolution), ("width_px", preset.resolution),
                                ("num_steps", preset.num_steps), ("guidance", preset.guidance)):
            kwargs.setdefault(option, default)
    kwargs.setdefault("name", name)
    return PipelineModel(pipe, **kwargs)


def nf4_config(preset, torch_dtype: torch.dtype):
    """diffusers' quantisation config for ``quantize="nf4"``: 4-bit NF4 weights (bitsandbytes) for
    the transformer and the largest text encoder, computing in ``torch_dtype``.

    Args:
        preset: a key, label, hub id or ``Preset``; torch_dtype: the compute dtype.
    Returns:
        a ``diffusers.PipelineQuantizationConfig``.
    """
    from diffusers import PipelineQuantizationConfig

    return PipelineQuantizationConfig(quant_backend="bitsandbytes_4bit",
                                      quant_kwargs={"load_in_4bit": True, "bnb_4bit_quant_type": "nf4",
                                                    "bnb_4bit_compute_dtype": torch_dtype},
                                      components_to_quantize=list(get_preset(preset).nf4_components))


def _load_tiny(name: str, device: str, dtype: torch.dtype | None, kwargs: dict) -> PipelineModel:
    """A tiny random pipeline by name: built and saved once in a cache folder (never in the
    repository), then read back with ``DiffusionPipeline.from_pretrained`` like a checkpoint."""
    from . import testing
    from diffusers import DiffusionPipeline

    family = testing.family_of_name(name)
    path = testing.tiny_pipeline_dir(family, seed=kwargs.pop("seed", 0))
    pipe = DiffusionPipeline.from_pretrained(path)  # float32, as saved
    if dtype is not None:
        pipe.to(device=device, dtype=dtype)
    else:
        pipe.to(device)
    options = dict(name=name, height_px=testing.TINY_IMAGE_SIZE, width_px=testing.TINY_IMAGE_SIZE,
                   num_steps=testing.TINY_NUM_STEPS, guidance=testing.family(family).guidance)
    options.update(kwargs)
    return PipelineModel(pipe, **options)


def default_world() -> World:
    """The world of the default model (the toy's), without loading any weights.

    For the few public helpers that predate ``model.world`` and take no model
    (``transport.attribute_pairs``, ``inversion.render_reference``); new code asks the
    model: ``model.world``.
    """
    from .toy.world_api import ToyWorld

    return ToyWorld()
