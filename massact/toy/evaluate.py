"""The toy model's quality bar, on held-out captions and seeds (`python -m massact.toy.evaluate`).

Held-out = captions from world.HELDOUT_SEED and seeds 900_000+, used by no other check.
Bar: mean attribute accuracy >= 0.90, every attribute >= 0.80, a batch of 16 images at the
default step count in <= 5 s on a 2-core CPU, and a top-1/median ratio of |mean over image
tokens| >= 100 in some block (FLUX-class models reach ~1000).
"""
from __future__ import annotations

import argparse
import json
import statistics
import time

import torch

from ..generation import generate
from ..hooks import CaptureSpec
from . import world
from .metrics import ToyMetrics
from .pipeline import ToyModel


def evaluate(model: ToyModel, n_prompts: int = 64, seeds_per_prompt: int = 2, fid_images: int = 128,
             batch: int = 32) -> dict:
    metrics = ToyMetrics()
    prompts = world.caption_set(n_prompts, world.HELDOUT_SEED)
    rows = [(p, 900_000 + 97 * i + j) for i, p in enumerate(prompts) for j in range(seeds_per_prompt)]
    if fid_images > len(rows):  # more images for the FID than the accuracy set holds
        extra = world.caption_set(fid_images - len(rows), world.HELDOUT_SEED + 1)
        rows += [(p, 950_000 + i) for i, p in enumerate(extra)]
    images = []
    for i in range(0, len(rows), batch):
        chunk = rows[i: i + batch]
        images.append(generate(model, [p for p, _ in chunk], [s for _, s in chunk]).images)
    images = torch.cat(images)
    n_acc = n_prompts * seeds_per_prompt
    acc = metrics.caption_accuracy(images[:n_acc], [p for p, _ in rows[:n_acc]])
    fid = metrics.fid(images)
    # speed: a batch of 16 at the default steps, median of 3 after a warm-up
    b16 = [p for p, _ in rows[:16]]
    generate(model, b16[:2], 0, num_steps=2)
    times = []
    for _ in range(3):
        t0 = time.perf_counter()
        generate(model, b16, list(range(16)))
        times.append(time.perf_counter() - t0)
    g = generate(model, prompts[:16], list(range(16)), capture=CaptureSpec())
    ratios = g.stats.ratio_table()
    return {
        "caption_accuracy": {k: round(float(v), 4) for k, v in acc.items()},
        "toy_fid": round(float(fid), 3),
        "batch16_seconds": round(statistics.median(times), 3),
        "torch_threads": torch.get_num_threads(),
        "num_accuracy_images": n_acc,
        "num_fid_images": len(images),
        "massive": ratios,
        "bar": {
            "mean_accuracy_ge_0.90": acc["mean"] >= 0.90,
            "every_attribute_ge_0.80": all(v >= 0.80 for k, v in acc.items() if k != "mean"),
            "batch16_le_5s": statistics.median(times) <= 5.0,
            "top1_over_median_absmean_ge_100": max(r["top1_over_median_absmean"] for r in ratios) >= 100,
        },
    }


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__)
    p.add_argument("--weights", default=None, help="a toy_dit safetensors file (default: the shipped one)")
    p.add_argument("--out", default=None, help="also write the numbers to this JSON file")
    a = p.parse_args(argv)
    res = evaluate(ToyModel.load(a.weights))
    text = json.dumps(res, indent=1)
    print(text)
    if a.out:
        with open(a.out, "w") as f:
            f.write(text)


if __name__ == "__main__":
    main()
