"""``massact.load``: a model by name, from a pipeline, or as given.

This module sits above both the core model class (``models.py``) and the toy wing: it is
the one place that turns the name "toy" into the embedded model, so that neither the core
nor the claims need to know the toy exists.
"""
from __future__ import annotations

import os

import torch

from .adapters import supported_classes
from .models import MassactModel, PipelineModel
from .world import SceneWorld, World

#: the model ``load()`` gives without arguments (the embedded toy, CPU-sized)
DEFAULT_MODEL = "toy"


def load(name_or_pipeline=DEFAULT_MODEL, device: str = "cpu", dtype: torch.dtype | None = None,
         **kwargs) -> MassactModel:
    """The embedded toy model ("toy"), a hub checkpoint (diffusers ``from_pretrained``) or a pipeline.

    Args:
        name_or_pipeline: "toy" (the default toy model, width 128), "toy-256" (a wider toy; see
          ``massact/toy/weights/checkpoints/run_card.md``), a tiny random pipeline ("tiny-flux", "tiny-flux-dev",
          "tiny-flux2", "tiny-sd3", "tiny-sana", "tiny-pixart", "tiny-qwen-image": plumbing
          fixtures from ``massact.testing``, no download), a diffusers checkpoint name or local
          directory, a loaded diffusers pipeline, or a ``MassactModel`` (returned as is).
        device: where the weights go ("cpu", "cuda", ...).
        dtype: the weights' dtype (default: float32 for the toy, bfloat16 for checkpoints).
        **kwargs: for a toy model, ``checkpoint=STEP`` (a training step of its own run,
          ``massact.toy.checkpoints.available(name)``); for a tiny pipeline ``seed=`` (its weights' seed)
          and ``PipelineModel`` options; otherwise ``PipelineModel`` options (name, height_px, width_px,
          num_steps, guidance, call_kwargs, world), ``cpu_offload=True`` (model-level CPU offload
          instead of moving the pipeline to ``device``) and ``pretrained_kwargs={...}`` (passed to
          ``DiffusionPipeline.from_pretrained``, e.g. ``{"text_encoder_3": None, "tokenizer_3": None}``
          for an SD3 saved without T5, or ``{"variant": "fp16"}``). Pipelines get the scene world
          (``world.SceneWorld``: default prompts and caption pairs) unless ``world=`` names another
          ``World`` or None (no defaults: every claim then asks for prompts).
    Returns:
        a ``MassactModel``.
    """
    if isinstance(name_or_pipeline, str) and name_or_pipeline in toy_names():
        checkpoint = kwargs.pop("checkpoint", None)
        if kwargs:
            raise TypeError(f"load({name_or_pipeline!r}) takes device, dtype and checkpoint only, not {sorted(kwargs)}")
        from .toy.pipeline import ToyModel

        return ToyModel.load(device=device, dtype=dtype, checkpoint=checkpoint, name=name_or_pipeline)
    if not isinstance(name_or_pipeline, MassactModel):
        kwargs.setdefault("world", SceneWorld())
    if (isinstance(name_or_pipeline, str) and name_or_pipeline.startswith("tiny-")
            and not os.path.isdir(name_or_pipeline)):
        return _load_tiny(name_or_pipeline, device, dtype, kwargs)
    if isinstance(name_or_pipeline, str):
        # real checkpoints: needs the weights locally or a hub connection (never in CI)
        from diffusers import DiffusionPipeline

        if not os.path.isdir(name_or_pipeline) and (name_or_pipeline.startswith(("/", ".", "~"))
                                                    or name_or_pipeline.count("/") != 1):
            raise ValueError(f"cannot load {name_or_pipeline!r}: it is neither a local directory nor a hub id "
                             f"(owner/name); massact's own models: {', '.join(toy_names() + _tiny_names())}")
        pretrained = dict(kwargs.pop("pretrained_kwargs", None) or {})
        if not all(isinstance(k, str) for k in pretrained):
            raise TypeError("pretrained_kwargs must map from_pretrained argument names (str) to values")
        pretrained.setdefault("dtype", dtype or torch.bfloat16)
        pipe = DiffusionPipeline.from_pretrained(name_or_pipeline, **pretrained)
        if kwargs.pop("cpu_offload", False):
            pipe.enable_model_cpu_offload()
        else:
            pipe.to(device)
        return PipelineModel(pipe, name=name_or_pipeline, **kwargs)
    if hasattr(name_or_pipeline, "transformer"):
        return PipelineModel(name_or_pipeline, **kwargs)
    if isinstance(name_or_pipeline, MassactModel):
        return name_or_pipeline
    raise ValueError(f"cannot load {name_or_pipeline!r}: give 'toy', a diffusers checkpoint name, or a pipeline "
                     f"whose transformer is one of: {', '.join(supported_classes())}")


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


def _load_tiny(name: str, device: str, dtype: torch.dtype | None, kwargs: dict) -> PipelineModel:
    """A tiny random pipeline by name: built and saved once in a cache folder (never in the
    repository), then read back with ``DiffusionPipeline.from_pretrained`` like a checkpoint."""
    from . import testing

    family = testing.family_of_name(name)
    if family is None:
        raise ValueError(f"unknown tiny pipeline {name!r}; valid tiny pipelines: {', '.join(testing.TINY_NAMES)}")
    from diffusers import DiffusionPipeline

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
