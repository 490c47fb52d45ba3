"""The spatial figure's protocol at FLUX.1 size, timed on synthetic activations.

    python bench/spatial_protocol.py [--blocks 57] [--tokens 4096] [--width 3072] [--k 12] [--draws 5]

For one prompt: every block x (top-k, bottom-k, `draws` random k-sets) x K = 2 k-means on
`tokens` image tokens restricted to k channels (FLUX.1 at 1024 px: 57 blocks, 4,096 tokens,
3,072 channels, k = 12). The activations are synthetic (a few large channels with a spatial
pattern on top of Gaussian noise) but have the real shape, so the time is the protocol's:
ranking, selecting, min-max normalising, clustering (massact's batched k-means, 4 inits)
and the border polarity rule. A public reproduction reports 50.3 s per prompt on an A100,
most of it clustering; this prints massact's time on this machine beside it.
"""
from __future__ import annotations

import argparse
import time

import numpy as np
import torch

from massact.clustering import kmeans, normalise, polarity_masks
from massact.ranking import channel_set

PUBLIC_A100_SECONDS = 50.3


def synthetic_block(gen: torch.Generator, tokens: int, width: int, grid: int) -> torch.Tensor:
    """(tokens, width) float32: noise, plus 8 large channels lit on a disc of tokens."""
    x = torch.randn(tokens, width, generator=gen)
    yy, xx = torch.meshgrid(torch.arange(grid), torch.arange(grid), indexing="ij")
    disc = (((yy - grid / 2) ** 2 + (xx - grid / 3) ** 2) < (grid / 4) ** 2).reshape(-1).float()
    big = torch.randperm(width, generator=gen)[:8]
    x[:, big] += 50.0 + 30.0 * disc[:, None]
    return x


def main(argv=None) -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--blocks", type=int, default=57)
    p.add_argument("--tokens", type=int, default=4096)
    p.add_argument("--width", type=int, default=3072)
    p.add_argument("--k", type=int, default=12)
    p.add_argument("--draws", type=int, default=5)
    p.add_argument("--repeats", type=int, default=2, help="timed prompts (after one untimed warm-up block)")
    p.add_argument("--threads", type=int, default=torch.get_num_threads())
    a = p.parse_args(argv)
    torch.set_num_threads(a.threads)
    grid = int(round(a.tokens ** 0.5))
    if grid * grid != a.tokens:
        raise SystemExit(f"--tokens {a.tokens} must be a square number (a token grid)")
    gen = torch.Generator("cpu").manual_seed(0)
    n_sets = 2 + a.draws
    times = {"make activations": 0.0, "rank + select + normalise": 0.0, "k-means": 0.0, "polarity": 0.0}
    kmeans(torch.rand(2, 64, a.k), 2)  # warm-up
    for _ in range(a.repeats):
        problems = []
        for _b in range(a.blocks):
            t0 = time.perf_counter()
            x = synthetic_block(gen, a.tokens, a.width, grid)
            t1 = time.perf_counter()
            score = x.mean(0).abs()[None]  # (1 block, width): the paper's |mean over tokens|
            sets = [channel_set(score, a.k, "top")[0], channel_set(score, a.k, "bottom")[0]]
            sets += [channel_set(score, a.k, "random", seed=d)[0] for d in range(a.draws)]
            for cs in sets:
                problems.append(normalise(x[:, list(cs)][None])[0])
            t2 = time.perf_counter()
            times["make activations"] += t1 - t0
            times["rank + select + normalise"] += t2 - t1
        z = torch.stack(problems)  # (blocks * sets, tokens, k)
        t0 = time.perf_counter()
        labels = kmeans(z, 2)
        t1 = time.perf_counter()
        polarity_masks(labels, z.sum(-1).numpy(), (grid, grid), 2)
        t2 = time.perf_counter()
        times["k-means"] += t1 - t0
        times["polarity"] += t2 - t1
    per_prompt = {k: v / a.repeats for k, v in times.items()}
    protocol = sum(v for k, v in per_prompt.items() if k != "make activations")
    print(f"spatial protocol: {a.blocks} blocks x {n_sets} channel sets (top, bottom, {a.draws} random) = "
          f"{a.blocks * n_sets} k-means problems of {a.tokens} tokens x {a.k} channels (K = 2, 4 inits); "
          f"{a.threads} CPU thread(s), {a.repeats} prompt(s)")
    for k, v in per_prompt.items():
        print(f"  {k:28s} {v:7.2f} s per prompt")
    print(f"massact protocol time (without making the activations): {protocol:.2f} s per prompt on this CPU; "
          f"public reproduction: {PUBLIC_A100_SECONDS} s per prompt on an A100 "
          f"(ratio {PUBLIC_A100_SECONDS / protocol:.1f}x)")


if __name__ == "__main__":
    main()
