"""The ``massact`` command line."""
from __future__ import annotations

import argparse
import os
import sys


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


def main(argv=None) -> int:
    p = argparse.ArgumentParser(prog="massact", description="massive activations in diffusion transformers")
    sub = p.add_subparsers(dest="cmd", required=True)
    r = sub.add_parser("reproduce", help="run the claims on a model; write report/index.html and results.json")
    r.add_argument("--model", default="toy", help="'toy' (embedded, CPU) or a diffusers checkpoint name")
    r.add_argument("--out", default="report")
    r.add_argument("--prompts", help="a text file, one prompt per line (toy: see `massact vocab`); every section "
                                     "uses it or says in its inputs why not")
    r.add_argument("--seeds", type=int, default=4, help="seeds per prompt (default 4)")
    r.add_argument("--only", help="comma-separated sections, e.g. massive,critical")
    r.add_argument("--quick", action="store_true", help="smaller sweeps (for tests)")
    sub.add_parser("vocab", help="print the default model's (the toy's) prompt vocabulary")
    sub.add_parser("models", help="list supported transformer classes")
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
        from .adapters import supported_classes

        print("toy (embedded)\n" + "\n".join(supported_classes()))
        return 0
    from .report import reproduce

    try:
        prompts = read_prompts(a.prompts) if a.prompts else None
        res = reproduce(a.model, a.out, prompts=prompts, num_seeds=a.seeds,
                        only=a.only.split(",") if a.only else None, quick=a.quick,
                        progress=not os.environ.get("CI"))
    except ValueError as exc:
        print(f"massact: {exc}", file=sys.stderr)
        return 2
    print(f"wrote {a.out}/index.html and {a.out}/results.json ({res['meta']['seconds']:.0f} s)")
    for name in res["failed"]:
        print(f"massact: section {name!r} failed: {res[name]['error']}", file=sys.stderr)
    return 1 if res["failed"] else 0


if __name__ == "__main__":
    sys.exit(main())
