"""Train the embedded toy DiT from a seed, resumably (`python -m massact.toy.train`).

Rectified flow: x_t = (1 - t) x_0 + t eps, the model predicts v = eps - x_0, with t drawn
logit-normal; 10% of captions are dropped to "" for classifier-free guidance, and each
optional attribute is left out of the caption with probability 0.1 so that partial
prompts work. Every batch is drawn from (seed, step), so a resumed run sees the same data.

Nothing here plants large activations: the initialisation is diffusers' default and the
loss is plain MSE. The massive-channel ratio is only *measured* (every --log-every steps,
on the EMA model) and written to history.jsonl for the model card's growth figure.
"""
from __future__ import annotations

import argparse
import copy
import json
import os
import time
from pathlib import Path

import numpy as np
import torch

from . import world
from .model import ToyConfig, ToyDiT, pack, save_weights, WEIGHTS_DIR

PROBE_CAPTIONS = [
    "a large red circle at the left on a black background",
    "a small blue square at the top on a gray background",
    "a large yellow triangle at the center on a white background",
    "a small green circle at the bottom on a black background",
    "a large purple square at the right on a gray background",
    "a small red triangle at the center on a white background",
    "a large green triangle at the top on a black background",
    "a small yellow square at the left on a gray background",
]


@torch.no_grad()
def massive_ratios(model: ToyDiT, t: float = 0.5, seed: int = 0) -> list[dict]:
    """Per block: top-1 |mean over image tokens| / median over channels, and max|x|/median|x|.

    A self-contained measurement (plain forward hooks) so training does not depend on
    the analysis package; massact.capture gives the same numbers with more options.
    """
    tr = model.transformer
    blocks = list(tr.transformer_blocks) + list(tr.single_transformer_blocks)
    outs: list[torch.Tensor] = []
    handles = [b.register_forward_hook(lambda m, i, o: outs.append(o[1].float())) for b in blocks]
    try:
        g = torch.Generator("cpu").manual_seed(seed)
        x0 = torch.from_numpy(world.sample_batch(seed + 12345, len(PROBE_CAPTIONS))[0])
        eps = torch.randn(x0.shape, generator=g)
        dev = model.img_ids.device
        xt = pack((1 - t) * x0 + t * eps, model.cfg.patch).to(dev)
        text, pooled = model.encode(PROBE_CAPTIONS)
        model.velocity(xt, torch.full((len(xt),), t, device=dev), text, pooled)
    finally:
        for h in handles:
            h.remove()
    rows = []
    for i, h in enumerate(outs):
        absmean = h.mean(dim=1).abs().mean(0)  # |mean over tokens| per channel, averaged over prompts
        srt = absmean.sort(descending=True).values
        med = absmean.median()
        rows.append({
            "block": i,
            "top1_over_median_absmean": float(srt[0] / med),
            "top5_over_median_absmean": float(srt[:5].mean() / med),
            "max_over_median": float(h.abs().max() / h.abs().median()),
            "top_channel": int(absmean.argmax()),
        })
    return rows


def _device(name: str) -> torch.device:
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if name.startswith("cuda") and not torch.cuda.is_available():
        raise SystemExit(f"--device {name}: no CUDA device here; use --device cpu or auto")
    return torch.device(name)


def save_snapshot(ema: ToyDiT, out: Path, step: int, wall: float, seed: int) -> Path:
    """A float16 copy of the EMA weights at this step, for the claims-across-training view."""
    snap_dir = out / "snapshots"
    snap_dir.mkdir(exist_ok=True)
    half = copy.deepcopy(ema).half()
    path = snap_dir / f"toy_dit_step{step:05d}.safetensors"
    save_weights(half, path, {"steps": step, "train_minutes": round(wall / 60, 1), "seed": seed,
                              "dtype": "float16"})
    return path


def train(args) -> None:
    torch.manual_seed(args.seed)
    torch.set_num_threads(args.threads)
    device = _device(args.device)
    snapshot_steps = {int(s) for s in args.snapshots.split(",") if s.strip()} if args.snapshots else set()
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    ckpt_path = out / "checkpoint.pt"
    cfg = ToyConfig(num_double_layers=args.double, num_single_layers=args.single,
                    num_attention_heads=args.heads, attention_head_dim=args.head_dim, patch=args.patch)
    model = ToyDiT(cfg)  # built on the CPU from the seed, so CPU and CUDA runs start identically
    ema = copy.deepcopy(model).eval().requires_grad_(False)
    model.to(device)
    ema.to(device)
    opt = torch.optim.AdamW(model.parameters(), lr=args.lr, weight_decay=args.weight_decay, betas=(0.9, 0.99))
    step, wall = 0, 0.0
    if ckpt_path.exists():
        ck = torch.load(ckpt_path, weights_only=False, map_location=device)
        model.load_state_dict(ck["model"])
        ema.load_state_dict(ck["ema"])
        opt.load_state_dict(ck["opt"])
        step, wall = ck["step"], ck["wall"]
        print(f"resumed from step {step} ({wall/60:.1f} min so far)", flush=True)
    n_params = sum(p.numel() for p in model.parameters())
    print(f"toy DiT: {n_params/1e6:.2f}M parameters, config {cfg}", flush=True)
    log = open(out / "history.jsonl", "a")

    def save_checkpoint():
        tmp = out / "checkpoint.tmp"
        torch.save({"model": model.state_dict(), "ema": ema.state_dict(), "opt": opt.state_dict(),
                    "step": step, "wall": wall, "args": vars(args)}, tmp)
        os.replace(tmp, ckpt_path)
        save_weights(ema, out / "toy_dit_ema.safetensors",
                     {"steps": step, "train_minutes": round(wall / 60, 1), "seed": args.seed})

    model.train()
    t_last = time.time()
    while step < args.steps:
        imgs, _, _, caps = world.sample_batch(args.seed * 1_000_003 + step, args.batch, drop_prob=0.1)
        rng = np.random.default_rng(args.seed + 7 * step)
        caps = ["" if rng.random() < args.cfg_drop else c for c in caps]
        g = torch.Generator("cpu").manual_seed(args.seed * 7919 + step)
        x0 = torch.from_numpy(imgs)
        eps = torch.randn(x0.shape, generator=g)  # drawn on the CPU: the same data on any device
        t = torch.sigmoid(torch.randn(len(x0), generator=g))  # logit-normal
        x0, eps, t = x0.to(device), eps.to(device), t.to(device)
        xt = (1 - t[:, None, None, None]) * x0 + t[:, None, None, None] * eps
        target = pack(eps - x0, cfg.patch)
        text, pooled = model.encode(caps)
        pred = model.velocity(pack(xt, cfg.patch), t, text, pooled)
        loss = torch.nn.functional.mse_loss(pred, target)
        lr = args.lr * min(1.0, (step + 1) / args.warmup)
        decay_from = int(args.decay_start * args.steps)
        if step >= decay_from:  # linear decay to 10% over the last part of the run
            lr *= 1.0 - 0.9 * (step - decay_from) / max(1, args.steps - decay_from)
        for pg in opt.param_groups:
            pg["lr"] = lr
        opt.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        opt.step()
        decay = min(args.ema, (1 + step) / (10 + step))
        with torch.no_grad():
            for pe, pm in zip(ema.parameters(), model.parameters()):
                pe.lerp_(pm, 1 - decay)
        step += 1
        now = time.time()
        wall += now - t_last
        t_last = now
        rec = {"step": step, "loss": loss.item(), "lr": lr, "wall_s": round(wall, 1)}
        if step % args.log_every == 0 or step == args.steps:
            rec["massive"] = massive_ratios(ema)
            best = max(r["top1_over_median_absmean"] for r in rec["massive"])
            print(f"step {step} loss {float(loss):.4f} wall {wall/60:.1f} min  best top1/median |mean| {best:.1f}",
                  flush=True)
        log.write(json.dumps(rec) + "\n")
        log.flush()
        if step in snapshot_steps:
            save_snapshot(ema, out, step, wall, args.seed)
        if step % args.ckpt_every == 0 or step == args.steps:
            save_checkpoint()
            t_last = time.time()
    if args.export:
        WEIGHTS_DIR.mkdir(exist_ok=True)
        save_weights(ema, WEIGHTS_DIR / "toy_dit.safetensors",
                     {"steps": step, "train_minutes": round(wall / 60, 1), "seed": args.seed})
        print(f"exported EMA weights to {WEIGHTS_DIR / 'toy_dit.safetensors'}")


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--out", default="runs/toy", help="run folder (checkpoint, history.jsonl); resumes if present")
    p.add_argument("--steps", type=int, default=6500)  # the shipped run
    p.add_argument("--batch", type=int, default=64)
    p.add_argument("--patch", type=int, default=4, help="pixels per token side (4: 8x8 = 64 image tokens)")
    p.add_argument("--decay-start", type=float, default=0.75,
                   help="fraction of --steps after which the learning rate decays linearly to 10%%")
    p.add_argument("--lr", type=float, default=5e-4)
    p.add_argument("--warmup", type=int, default=200)
    p.add_argument("--ema", type=float, default=0.999)
    p.add_argument("--cfg-drop", type=float, default=0.1)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--double", type=int, default=3)
    p.add_argument("--single", type=int, default=4)
    p.add_argument("--heads", type=int, default=4)
    p.add_argument("--head-dim", type=int, default=32)
    p.add_argument("--weight-decay", type=float, default=0.0, help="AdamW decoupled weight decay")
    p.add_argument("--device", default="cpu", help="cpu, cuda, cuda:N or auto")
    p.add_argument("--snapshots", default="", help="comma-separated steps at which a float16 EMA copy is kept")
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--log-every", type=int, default=250)
    p.add_argument("--ckpt-every", type=int, default=200)
    p.add_argument("--export", action="store_true", help="copy the final EMA weights into the package")
    train(p.parse_args(argv))


if __name__ == "__main__":
    main()
