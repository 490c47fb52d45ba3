"""The toy model's quality bar, on held-out captions and seeds (`python -m massact.toy.evaluate`).

Held-out = captions from world.HELDOUT_SEED and seeds 900_000+, used by no other check.
Bar of the default model: mean attribute accuracy >= 0.97, every attribute >= 0.90, a batch
of 16 images at the default step count in <= 6 s on a 2-core CPU, and a top-1/median ratio
of |mean over image tokens| >= 100 in some block (FLUX-class models reach ~1000); a candidate
also needs a toy FID no worse than the current default's (``compare``).

The massive rows carry the top-1 channel's share of a token's squared norm per block. What
zeroing only the top-1 channel costs against setting it to its calibration mean is a claim
(``massact.claims.critical.top1_ablation``), measured by ``massact reproduce``'s massive
section; ``massact.toy.card --signature`` puts it on the card (the toy wing imports only the core).
"""
from __future__ import annotations

import argparse
import json
import statistics
import time

import torch

from ..generation import generate
from ..specs import CaptureSpec
from . import world
from .metrics import ToyMetrics
from .pipeline import ToyModel


#: the bar a toy model must meet to be the default (see the module docstring)
BAR = {"mean_accuracy": 0.97, "attribute_accuracy": 0.90, "batch16_seconds": 6.0, "massive_ratio": 100.0}


def evaluate(model: ToyModel, n_prompts: int = 64, seeds_per_prompt: int = 2, fid_images: int = 128,
             batch: int = 32) -> dict:
    """Quality, speed and massive ratios of one toy model, and whether it meets the default's bar.

    Args:
        model: a loaded toy model.
        n_prompts, seeds_per_prompt: the held-out caption-accuracy set.
        fid_images: images of the toy FID (the accuracy set, topped up with more held-out captions).
        batch: images per generate call.
    Returns:
        the card's ``evaluation`` dict.
    """
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
    result = {
        "caption_accuracy": {k: round(float(v), 4) for k, v in acc.items()},
        "toy_fid": round(float(fid), 3),
        "batch16_seconds": round(statistics.median(times), 3),
        "torch_threads": torch.get_num_threads(),
        "num_accuracy_images": n_acc,
        "num_fid_images": len(images),
        "massive": ratios,
    }
    result["bar"] = bar(result)
    return result


def bar(ev: dict) -> dict:
    """The default model's bar, checked from an evaluation's numbers (``BAR``).

    Args:
        ev: an ``evaluate`` dict (caption_accuracy, batch16_seconds, massive).
    Returns:
        {check: bool}, one entry per bar.
    """
    acc = ev["caption_accuracy"]
    best = max(r["top1_over_median_absmean"] for r in ev["massive"])
    return {f"mean_accuracy_ge_{BAR['mean_accuracy']:g}": acc["mean"] >= BAR["mean_accuracy"],
            f"every_attribute_ge_{BAR['attribute_accuracy']:g}": all(v >= BAR["attribute_accuracy"]
                                                                    for k, v in acc.items() if k != "mean"),
            f"batch16_le_{BAR['batch16_seconds']:g}s": ev["batch16_seconds"] <= BAR["batch16_seconds"],
            f"top1_over_median_absmean_ge_{BAR['massive_ratio']:g}": best >= BAR["massive_ratio"]}


def compare(candidate: dict, default: dict) -> dict:
    """Does a candidate meet the default's bar, including a toy FID no worse than the current
    default's? Both dicts come from ``evaluate`` with the same protocol (the FID depends on
    the number of images, so that must match).

    Args:
        candidate: the candidate's ``evaluate`` dict.
        default: the current default model's ``evaluate`` dict.
    Returns:
        {"bar": {check: bool}, "meets_bar": bool}, every check recomputed from the numbers.
    """
    if candidate["num_fid_images"] != default["num_fid_images"]:
        raise ValueError(f"the toy FIDs were measured on {candidate['num_fid_images']} and "
                         f"{default['num_fid_images']} images: evaluate both with the same protocol")
    checks = bar(candidate)
    checks["toy_fid_le_default"] = candidate["toy_fid"] <= default["toy_fid"]
    return {"bar": checks, "meets_bar": all(checks.values())}


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__)
    p.add_argument("--weights", default=None, help="a toy_dit safetensors file (default: the shipped one)")
    p.add_argument("--name", default="toy", help="a toy model by name (toy, toy-256) when --weights is not given")
    p.add_argument("--out", default=None, help="also write the numbers to this JSON file")
    p.add_argument("--threads", type=int, default=2, help="torch threads (the bar's speed is measured with 2)")
    a = p.parse_args(argv)
    torch.set_num_threads(a.threads)
    res = evaluate(ToyModel.load(a.weights, name=a.name))
    text = json.dumps(res, indent=1)
    print(text)
    if a.out:
        with open(a.out, "w") as f:
            f.write(text)


if __name__ == "__main__":
    main()
