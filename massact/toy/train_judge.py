"""Train the toy-world judge (`python -m massact.toy.train_judge`), about 6 minutes on one CPU core.

Every step draws a fresh batch ``world.sample_batch(TRAIN_SEED_BASE + seed * 1_000_000 + step)``,
so training seeds are >= 10_000_000 and never overlap the evaluation / FID-reference seeds
(below 10_000_000, see ``judge.py``). Images are augmented to look like *generated* ones
(noise, blur, colour shifts); the targets stay the exact labels and masks of the world.
"""
from __future__ import annotations

import argparse
import time

import torch
import torch.nn.functional as F

from . import world
from .judge import (DEFAULT_PATH, EVAL_SEED, TRAIN_SEED_BASE, Judge, JudgeConfig, _run, mask_iou,
                    save_judge)


def augment(x: torch.Tensor, g: torch.Generator) -> torch.Tensor:
    """Make clean renders look like samples of a slightly imperfect diffusion model."""
    b = len(x)
    # colour jitter: per-image, per-channel gain and offset of a few percent
    gain = 1 + 0.08 * (torch.rand(b, 3, 1, 1, generator=g) - 0.5) * 2
    offset = 0.08 * (torch.rand(b, 3, 1, 1, generator=g) - 0.5) * 2
    x = x * gain + offset
    # slight blur on ~1/3 of the images (a 3x3 binomial kernel mixed in by a random amount)
    k = torch.tensor([1.0, 2.0, 1.0])
    k = (k[:, None] * k[None, :] / 16).expand(3, 1, 3, 3)
    blurred = F.conv2d(F.pad(x, (1, 1, 1, 1), mode="replicate"), k, groups=3)
    amount = torch.rand(b, 1, 1, 1, generator=g) * (torch.rand(b, 1, 1, 1, generator=g) < 1 / 3)
    x = x + amount * (blurred - x)
    # additive gaussian noise, std uniform in [0, 0.15] (a quarter of the images stay noise-free)
    std = 0.15 * torch.rand(b, 1, 1, 1, generator=g) * (torch.rand(b, 1, 1, 1, generator=g) > 0.25)
    x = x + std * torch.randn(x.shape, generator=g)
    return x.clamp(-1, 1)


def loss_fn(out: dict, labels: torch.Tensor, masks: torch.Tensor) -> torch.Tensor:
    ce = sum(F.cross_entropy(out["logits"][a], labels[:, i]) for i, a in enumerate(world.ATTRIBUTE_NAMES))
    return ce + F.binary_cross_entropy_with_logits(out["mask_logits"], masks.float())


def evaluate(judge: Judge, n: int = 1024, noise_std: float = 0.0) -> dict[str, float]:
    """Held-out accuracy per attribute and mean per-image mask IoU on n fresh samples (EVAL_SEED)."""
    imgs, masks, labels, _ = world.sample_batch(EVAL_SEED, n)
    x = torch.from_numpy(imgs)
    if noise_std:
        x = (x + noise_std * torch.randn(x.shape, generator=torch.Generator().manual_seed(0))).clamp(-1, 1)
    judge.eval()
    out = _run(judge, x)
    res = {a: float((out["logits"][a].argmax(1).numpy() == labels[:, i]).mean())
           for i, a in enumerate(world.ATTRIBUTE_NAMES)}
    res["mask_iou"] = float(mask_iou(out["mask_logits"].numpy() > 0, masks).mean())
    return {k: round(v, 4) for k, v in res.items()}


def main(argv=None) -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--steps", type=int, default=1200)
    p.add_argument("--batch", type=int, default=64)
    p.add_argument("--lr", type=float, default=3e-3)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--out", default=str(DEFAULT_PATH))
    p.add_argument("--threads", type=int, default=1)
    args = p.parse_args(argv)
    torch.set_num_threads(args.threads)
    torch.manual_seed(args.seed)
    g = torch.Generator().manual_seed(args.seed)

    judge = Judge(JudgeConfig())
    n_params = sum(p.numel() for p in judge.parameters())
    print(f"judge: {n_params:,} parameters; {args.steps} steps of batch {args.batch}")
    opt = torch.optim.Adam(judge.parameters(), lr=args.lr)
    # cosine decay: the mask boundary pixels need a small final learning rate to settle
    sched = torch.optim.lr_scheduler.OneCycleLR(opt, args.lr, total_steps=args.steps, pct_start=0.05)
    t0 = time.time()
    for step in range(args.steps):
        imgs, masks, labels, _ = world.sample_batch(TRAIN_SEED_BASE + args.seed * 1_000_000 + step, args.batch)
        judge.train()
        out = judge(augment(torch.from_numpy(imgs), g))
        loss = loss_fn(out, torch.from_numpy(labels), torch.from_numpy(masks))
        opt.zero_grad()
        loss.backward()
        opt.step()
        sched.step()
        if step % 100 == 0 or step == args.steps - 1:
            print(f"step {step:5d}  loss {loss.item():.4f}  {time.time() - t0:6.1f}s", flush=True)
    minutes = (time.time() - t0) / 60

    clean, noisy = evaluate(judge), evaluate(judge, noise_std=0.1)
    print(f"trained in {minutes:.1f} min")
    print("held-out (1024 samples), clean:     ", clean)
    print("held-out (1024 samples), noise 0.1: ", noisy)
    save_judge(judge, args.out, {"eval_clean": clean, "eval_noise_0.1": noisy, "steps": args.steps,
                                 "batch": args.batch, "seed": args.seed, "train_minutes": round(minutes, 1),
                                 "parameters": n_params})
    print(f"saved {args.out}")


if __name__ == "__main__":
    main()
