"""The ``massact`` command line."""
from __future__ import annotations

import argparse
import os
import sys

from .loading import DTYPES as LOAD_DTYPES


def read_prompts(path: str) -> list[str]:
    """The prompts of a text file, one per non-empty line.

    Raises:
        ValueError when the file cannot be read or holds no prompts.
    """
    try:
        with open(path, encoding="utf-8") as f:
            prompts = [line.strip() for line in f if line.strip()]
    except OSError as exc:
        raise ValueError(f"cannot read the prompt file {path!r}: {exc.strerror}") from None
    if not prompts:
        raise ValueError(f"{path} holds no prompts (one prompt per line)")
    return prompts


#: ``--dtype``'s choices: ``massact.load``'s dtypes by name
DTYPES = tuple(str(d).removeprefix("torch.") for d in LOAD_DTYPES)


def load_mask_fn(spec: str):
    """``module:function`` -> the function (images (B, 3, H, W) in [0, 1] -> bool masks (B, H, W)).

    Raises:
        ValueError when the module cannot be imported or has no such callable.
    """
    import pkgutil

    if not isinstance(spec, str) or spec.count(":") != 1 or not all(spec.split(":")):
        raise ValueError(f"--mask-fn {spec!r}: give module:function, e.g. mypkg.saliency:foreground_masks")
    if spec.split(":")[0].split(".")[0] == "massact":
        raise ValueError(f"--mask-fn {spec!r}: a mask function is the user's own (a saliency or segmentation "
                         "model); massact's modules are not loaded by name")
    try:
        fn = pkgutil.resolve_name(spec)
    except (ImportError, AttributeError, ValueError) as exc:
        raise ValueError(f"--mask-fn {spec!r}: {type(exc).__name__}: {exc}") from None
    if not callable(fn):
        raise ValueError(f"--mask-fn {spec!r} is not callable")
    return fn


def model_from_args(a):
    """The model a ``reproduce`` command line names: its options as ``massact.load`` arguments.

    ``--model`` is ``load``'s name ("toy", a tiny pipeline, a preset key or label, a hub id or a
    local directory); ``--dtype`` becomes a ``torch.dtype``, ``--offload`` ``offload="model"``,
    ``--width`` defaults to ``--height``. Options left out are not passed, so the preset's (or the
    model's) defaults hold. ``load`` checks them all.

    Args:
        a: the parsed ``reproduce`` arguments (model, device, dtype, height, width, num_steps, guidance, offload).
    Returns:
        the loaded model.
    Raises:
        ValueError (from ``massact.load``) for options the model cannot take (e.g. an image size for the toy).
    """
    import torch

    from .loading import load

    options = dict(height_px=a.height, width_px=a.width or a.height, num_steps=a.num_steps, guidance=a.guidance)
    return load(a.model, device=a.device, dtype=None if a.dtype is None else getattr(torch, a.dtype),
                offload="model" if a.offload else "none", **{k: v for k, v in options.items() if v is not None})


def main(argv=None) -> int:
    p = argparse.ArgumentParser(prog="massact", description="massive activations in diffusion transformers")
    sub = p.add_subparsers(dest="cmd", required=True)
    r = sub.add_parser("reproduce", help="run the claims on a model; write report/index.html and results.json")
    r.add_argument("--model", default="toy", help="'toy' or 'toy-256' (embedded, CPU), a tiny pipeline ('tiny-flux', ...), a "
                                                 "preset (`massact models`), a hub id or a local directory")
    r.add_argument("--out", default="report")
    r.add_argument("--prompts", help="a text file, one prompt per line (toy: see `massact vocab`); every section "
                                     "uses it or says in its inputs why not")
    r.add_argument("--seeds", type=int, default=4, help="seeds per prompt (default 4)")
    r.add_argument("--only", help="comma-separated sections, e.g. massive,critical")
    size = r.add_mutually_exclusive_group()
    size.add_argument("--quick", action="store_true", help="the smallest sweeps (for tests)")
    size.add_argument("--full", action="store_true", help="about 4x the default sample sizes (see the README)")
    g = r.add_argument_group("real pipelines (defaults from the preset, else the model's)")
    g.add_argument("--device", default="cpu", help="where the weights go: cpu, cuda, cuda:1, mps (default cpu)")
    g.add_argument("--dtype", choices=DTYPES, help="weights' dtype (default: float32 for the toy, bfloat16 for "
                                                  "checkpoints); statistics are float32 whatever it is")
    g.add_argument("--height", type=int, help="image height in pixels")
    g.add_argument("--width", type=int, help="image width in pixels (default: the height)")
    g.add_argument("--num-steps", type=int, help="sampler steps (a count)")
    g.add_argument("--guidance", type=float, help="guidance scale (FLUX.1-dev: the distilled guidance input)")
    g.add_argument("--offload", action="store_true", help="model-level CPU offload (GPUs short of memory)")
    g.add_argument("--clip", metavar="MODEL", help="a local CLIP model id or path for the CLIP score")
    g.add_argument("--mask-fn", metavar="MODULE:FUNCTION",
                   help="foreground masks for the spatial claim: images (B,3,H,W) in [0,1] -> bool (B,H,W)")
    sub.add_parser("vocab", help="print the default model's (the toy's) prompt vocabulary")
    models = sub.add_parser("models", help="list the presets and every diffusers image transformer class with its "
                                           "status (end to end, transformer, refused)")
    models.add_argument("--markdown", action="store_true", help="print only the class table, in Markdown")
    from .sweep import add_parsers as add_sweep_parsers, run_cli as run_sweep

    add_sweep_parsers(sub)
    a = p.parse_args(argv)
    if a.cmd in ("sweep", "merge"):
        return run_sweep(a, read_prompts)
    if a.cmd == "vocab":
        from .loading import default_world

        print(default_world().vocabulary_help())
        return 0
    if a.cmd == "models":
        from .adapters import supported
        from .presets import PRESETS
        from .testing import TINY_NAMES

        table = supported()
        if a.markdown:
            print(table.markdown())
            return 0
        print("toy (embedded)")
        print("tiny pipelines (random weights, plumbing only): " + ", ".join(TINY_NAMES))
        print("presets (--model KEY; needs the weights and a GPU):")
        for p in PRESETS.values():
            print(f"  {p.key:16s} {p.hub_id}  ({p.num_steps} steps, guidance {p.guidance:g}, {p.resolution} px)")
        print(f"\ndiffusers image transformer classes ({', '.join(f'{n} {k}' for k, n in table.counts().items())}):")
        print(table)
        return 0
    from .report import reproduce

    try:
        prompts = read_prompts(a.prompts) if a.prompts else None
        metrics_options = {}
        if a.clip:
            metrics_options["clip_model"] = a.clip
        if a.mask_fn:
            metrics_options["mask_fn"] = load_mask_fn(a.mask_fn)
        model = model_from_args(a)
        res = reproduce(model, a.out, prompts=prompts, num_seeds=a.seeds,
                        only=a.only.split(",") if a.only else None,
                        size="quick" if a.quick else "full" if a.full else "standard",
                        progress=not os.environ.get("CI"), metrics_options=metrics_options)
    except (ValueError, OSError, ImportError) as exc:  # bad options, weights that are not there (no hub, no
        # folder), or packages a checkpoint needs
        print(f"massact: {exc}", file=sys.stderr)
        return 2
    print(f"wrote {a.out}/index.html and {a.out}/results.json ({res['meta']['seconds']:.0f} s)")
    for name in res["failed"]:
        print(f"massact: section {name!r} failed: {res[name]['error']}", file=sys.stderr)
    return 1 if res["failed"] else 0


if __name__ == "__main__":
    sys.exit(main())
