"""Tiny, randomly initialised but complete diffusers pipelines of every family massact supports.

For tests and for learners without a GPU or weights: each pipeline is the diffusers class
a real checkpoint loads into (``FluxPipeline``, ``Flux2KleinPipeline``,
``StableDiffusion3Pipeline``, ``SanaPipeline``, ``PixArtSigmaPipeline``,
``QwenImagePipeline``) with every component (transformer, VAE, text encoders,
tokenizers, scheduler) built on this machine from configs: nothing is downloaded. Saved
with ``save_pretrained`` and read back with ``from_pretrained``, they run the real loading
path; ``massact.load("tiny-flux")`` does exactly that through a cache folder.

**They are plumbing fixtures.** Their weights are random: their images are noise, and
every number measured on them (massive activations, ratios, distances) says nothing about
the real models. Say so wherever their numbers appear.

Usage::

    from massact.testing import tiny_pipeline, save_tiny_pipeline, TINY_FAMILIES
    pipe = tiny_pipeline("flux")              # built in memory
    save_tiny_pipeline("sd3", "some/folder")  # then StableDiffusion3Pipeline.from_pretrained(...)
    model = massact.load("tiny-sana")         # built once, cached, loaded with from_pretrained

Needs ``transformers`` >= 5 (the ``real`` extra: ``pip install massact[real]``).
Of massact this package imports only ``massact.checks`` (the core's validators).
"""
from __future__ import annotations

import hashlib
import os
import shutil
import tempfile
from pathlib import Path

from ..checks import check_int
from .families import FAMILIES as _FIRST_FAMILIES, TinyFamily
from .families_dual_stream import FAMILIES as _DUAL_STREAM
from .families_single_stream import FAMILIES as _SINGLE_STREAM

#: every tiny family by name: the first seven (``families``), then those of the other DiT classes
FAMILIES: dict[str, TinyFamily] = {**_FIRST_FAMILIES, **{f.name: f for f in _DUAL_STREAM + _SINGLE_STREAM}}

#: family -> what it stands for, e.g. {"flux": "FLUX.1-schnell (...)", ...}
TINY_FAMILIES: dict[str, str] = {name: f.stands_for for name, f in FAMILIES.items()}

#: the names ``massact.load`` knows: "tiny-flux", "tiny-flux-dev", ...
TINY_NAMES: tuple[str, ...] = tuple(f"tiny-{name}" for name in FAMILIES)

#: the image size, step count and seed the tiny pipelines are made for
TINY_IMAGE_SIZE = 64
TINY_NUM_STEPS = 2

__all__ = ["TINY_FAMILIES", "TINY_NAMES", "TINY_IMAGE_SIZE", "TINY_NUM_STEPS", "family", "tiny_pipeline",
           "save_tiny_pipeline", "tiny_pipeline_dir", "family_of_name"]


def family(name: str) -> TinyFamily:
    """The ``TinyFamily`` of a family key.

    Args:
        name: a key of ``TINY_FAMILIES`` ("flux", "flux-dev", "flux2", "sd3", "sana", "pixart", "qwen-image").
    Returns:
        its ``TinyFamily`` (name, stands_for, pipeline_class, build, guidance).
    Raises:
        ValueError naming the valid families.
    """
    if not isinstance(name, str) or name not in FAMILIES:
        raise ValueError(f"unknown tiny pipeline family {name!r}; valid families: {', '.join(FAMILIES)}")
    return FAMILIES[name]


def family_of_name(name: str) -> str | None:
    """The family key of a load name ("tiny-flux" -> "flux"), or None when it names no tiny pipeline."""
    if isinstance(name, str) and name.startswith("tiny-") and name[len("tiny-"):] in FAMILIES:
        return name[len("tiny-"):]
    return None


def _check_seed(seed) -> int:
    return check_int("seed", seed, 0, what="the seed of the tiny pipeline's weights")


def tiny_pipeline(family_name: str, seed: int = 0):
    """A tiny random pipeline of one family, built in memory (no download).

    Args:
        family_name: a key of ``TINY_FAMILIES``.
        seed: the weights' seed (the same seed gives the same weights, bit for bit).
    Returns:
        the diffusers pipeline (float32, CPU, eval mode).
    Raises:
        ValueError for an unknown family or a bad seed.
    """
    fam = family(family_name)
    return fam.build(_check_seed(seed))


def save_tiny_pipeline(family_name: str, directory, seed: int = 0) -> Path:
    """Build a tiny pipeline and ``save_pretrained`` it into ``directory``.

    Args:
        family_name: a key of ``TINY_FAMILIES``.
        directory: the folder to write (created; existing files are overwritten).
        seed: the weights' seed.
    Returns:
        the folder, ready for ``<PipelineClass>.from_pretrained`` or ``DiffusionPipeline.from_pretrained``.
    """
    directory = Path(directory)
    tiny_pipeline(family_name, seed).save_pretrained(directory)
    return directory


def _fingerprint() -> str:
    """What a saved tiny pipeline depends on: this package's source and the library versions."""
    import diffusers
    import transformers

    h = hashlib.sha256(f"diffusers {diffusers.__version__} transformers {transformers.__version__}".encode())
    for path in sorted(Path(__file__).parent.glob("*.py")):
        h.update(path.name.encode() + path.read_bytes())
    return h.hexdigest()[:12]


def cache_root() -> Path:
    """Where saved tiny pipelines are kept: ``$MASSACT_CACHE``, else the user's cache folder
    (``$XDG_CACHE_HOME`` or ``~/.cache``) under ``massact/tiny-pipelines``, else the temp folder."""
    if os.environ.get("MASSACT_CACHE"):
        return Path(os.environ["MASSACT_CACHE"]) / "tiny-pipelines"
    base = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    return Path(base) / "massact" / "tiny-pipelines"


def tiny_pipeline_dir(family_name: str, seed: int = 0, root=None) -> Path:
    """The folder of a saved tiny pipeline, built and saved on first use.

    The folder name carries the family, the seed and a fingerprint of this package's
    source and the diffusers/transformers versions, so a change to either builds anew.
    The pipeline is written to a scratch folder first and renamed into place, so a folder
    that exists is complete.

    Args:
        family_name: a key of ``TINY_FAMILIES``.
        seed: the weights' seed.
        root: the cache folder (default ``cache_root()``; the temp folder when that is not writable).
    Returns:
        the folder, for ``DiffusionPipeline.from_pretrained``.
    """
    family(family_name)
    seed = _check_seed(seed)
    roots = [Path(root)] if root is not None else [cache_root(), Path(tempfile.gettempdir()) / "massact-tiny-pipelines"]
    last_error = None
    for base in roots:
        target = base / f"{family_name}-seed{seed}-{_fingerprint()}"
        if (target / "model_index.json").is_file():
            return target
        try:
            base.mkdir(parents=True, exist_ok=True)
            scratch = Path(tempfile.mkdtemp(prefix=f".{family_name}-", dir=base))
        except OSError as e:  # not writable: try the next place
            last_error = e
            continue
        try:
            save_tiny_pipeline(family_name, scratch, seed)
            try:
                os.replace(scratch, target)
            except OSError:
                if not (target / "model_index.json").is_file():  # not another process's finished copy
                    raise
        finally:
            shutil.rmtree(scratch, ignore_errors=True)
        return target
    raise OSError(f"cannot write a tiny pipeline under {', '.join(map(str, roots))}: {last_error}; "
                  "set MASSACT_CACHE to a writable folder")
