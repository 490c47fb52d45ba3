"""GPU smoke test at FLUX.1 size: per-step time bare, with massact's capture and with an edit.

    python bench/gpu_smoke.py [--steps 4] [--device cuda] [--schnell] [--small]
    python bench/gpu_smoke.py --small        # a CPU check of the script itself, in seconds

Builds a random-weight ``FluxTransformer2DModel`` with FLUX.1's geometry (19 double-stream +
38 single-stream blocks, 24 heads x 128 = width 3,072, T5 text states of 4,096 features,
a pooled CLIP vector of 768, 64 latent channels, the guidance embedding of FLUX.1-dev unless
``--schnell``) directly on the device in bfloat16: nothing is downloaded, no weights are
read. One row of 4,096 image tokens (a 1024 px image) and 512 text tokens. Three runs of
``--steps`` Euler steps (after a warm-up step), each step one transformer forward with its
timestep and guidance inputs:

1. bare: no hooks;
2. capture: ``massact.Tracer`` with ``CaptureSpec()`` (float32 statistics of every block's
   image stream at every step, the package's own hooks);
3. edit: the top-8 channels of every block (``massact.channel_set`` on the capture's
   ``absmean`` score) zeroed at every step (``EditSpec("zero", ...)``).

For each it prints the median time per step and the peak GPU memory
(``torch.cuda.max_memory_allocated``, weights included; the weights alone are printed
first). Random weights: the times and memory are those of the real model's size, the
activations are not the real model's (no claim about massive activations is made here).

``--small`` builds 2 + 2 blocks at width 256 with 256 image and 64 text tokens on the CPU
(peak memory is then not measured), so the script can be checked on any machine.
Without a CUDA device and without ``--small`` it exits with a message saying so.
"""
from __future__ import annotations

import argparse
import statistics
import sys
import time

import torch

import massact
from massact import BatchLayout, CaptureSpec, EditSpec, Tracer

FLUX1 = dict(num_layers=19, num_single_layers=38, attention_head_dim=128, num_attention_heads=24,
             joint_attention_dim=4096, pooled_projection_dim=768, axes_dims_rope=(16, 56, 56),
             image_tokens=4096, text_tokens=512)
SMALL = dict(num_layers=2, num_single_layers=2, attention_head_dim=64, num_attention_heads=4,
             joint_attention_dim=256, pooled_projection_dim=64, axes_dims_rope=(16, 24, 24),
             image_tokens=256, text_tokens=64)
TOP_K = 8


def build(geometry: dict, device: str, dtype: torch.dtype, guidance_embeds: bool):
    """A random FluxTransformer2DModel of the geometry, created on the device in dtype."""
    from diffusers import FluxTransformer2DModel

    keys = ("num_layers", "num_single_layers", "attention_head_dim", "num_attention_heads", "joint_attention_dim",
            "pooled_projection_dim", "axes_dims_rope")
    torch.manual_seed(0)
    previous = torch.get_default_dtype()
    torch.set_default_dtype(dtype)  # parameters born in dtype: no float32 copy of 12B weights
    try:
        with torch.device(device):
            model = FluxTransformer2DModel(patch_size=1, in_channels=64, guidance_embeds=guidance_embeds,
                                           **{k: geometry[k] for k in keys})
    finally:
        torch.set_default_dtype(previous)
    assert all(p.dtype == dtype for p in model.parameters())
    return model.eval().requires_grad_(False)


def inputs(geometry: dict, device: str, dtype: torch.dtype, guidance_embeds: bool) -> dict:
    """One row: noise, text states, pooled vector, position ids (a square token grid)."""
    g = torch.Generator("cpu").manual_seed(0)
    n, t = geometry["image_tokens"], geometry["text_tokens"]
    side = int(round(n ** 0.5))
    ids = torch.zeros(side, side, 3)
    ids[..., 1], ids[..., 2] = torch.arange(side)[:, None], torch.arange(side)[None, :]
    kw = dict(hidden_states=torch.randn(1, n, 64, generator=g),
              encoder_hidden_states=torch.randn(1, t, geometry["joint_attention_dim"], generator=g),
              pooled_projections=torch.randn(1, geometry["pooled_projection_dim"], generator=g))
    kw = {k: v.to(device, dtype) for k, v in kw.items()}
    kw.update(img_ids=ids.reshape(n, 3).to(device), txt_ids=torch.zeros(t, 3, device=device),
              guidance=torch.full((1,), 3.5, device=device) if guidance_embeds else None, return_dict=False)
    return kw


def sync(device: str) -> None:
    if device.startswith("cuda"):
        torch.cuda.synchronize()


@torch.no_grad()
def euler(model, kw: dict, num_steps: int, device: str) -> list[float]:
    """num_steps Euler steps from kw's noise; the seconds of each step."""
    x = kw["hidden_states"]
    sigmas = torch.linspace(1.0, 0.0, num_steps + 1)
    times = []
    for i in range(num_steps):
        sync(device)
        t0 = time.perf_counter()
        v = model(**{**kw, "hidden_states": x}, timestep=sigmas[i].expand(1).to(device, x.dtype))[0]
        x = (x.float() + (sigmas[i + 1] - sigmas[i]) * v.float()).to(x.dtype)
        sync(device)
        times.append(time.perf_counter() - t0)
    return times


def run(label: str, model, kw: dict, num_steps: int, device: str, tracer_kwargs: dict | None, weights_mb: float):
    """Warm up one step, then time num_steps; print the median step and the peak memory."""
    def once(steps):
        if tracer_kwargs is None:
            return euler(model, kw, steps, device), None
        with Tracer(model, BatchLayout(1), num_steps=steps, **tracer_kwargs) as tr:
            times = euler(model, kw, steps, device)
        return times, tr.result()

    once(1)
    if device.startswith("cuda"):
        torch.cuda.reset_peak_memory_stats()
    times, res = once(num_steps)
    mem = (f", peak GPU memory {torch.cuda.max_memory_allocated() / 2 ** 20:,.0f} MiB "
           f"({torch.cuda.max_memory_allocated() / 2 ** 20 - weights_mb:,.0f} over the weights)"
           if device.startswith("cuda") else "")
    med = statistics.median(times)
    print(f"  {label:8s} {1e3 * med:9.1f} ms per step (median of {num_steps}; min {1e3 * min(times):.1f}){mem}")
    return med, res


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--small", action="store_true", help="2 + 2 blocks, width 256, 256 tokens, on the CPU")
    ap.add_argument("--steps", type=int, default=None,
                    help="timed Euler steps per run, after one warm-up step (default 4; 2 with --small)")
    ap.add_argument("--device", default=None, help="default: cuda (cpu with --small)")
    ap.add_argument("--schnell", action="store_true", help="no guidance embedding (FLUX.1-schnell)")
    ap.add_argument("--threads", type=int, default=1, help="torch CPU threads (--small)")
    args = ap.parse_args()
    device = args.device or ("cpu" if args.small else "cuda")
    if device.startswith("cuda") and not torch.cuda.is_available():
        sys.exit("bench/gpu_smoke.py: no CUDA device (torch.cuda.is_available() is False). It builds a FLUX.1-sized "
                 "transformer (~12B parameters, ~24 GB in bfloat16) and needs a GPU; run it with --small for a "
                 "CPU check of the script.")
    if args.steps is None:
        args.steps = 2 if args.small else 4
    if args.steps < 1:
        sys.exit(f"--steps {args.steps}: at least 1")
    torch.set_num_threads(args.threads)
    geometry = SMALL if args.small else FLUX1
    dtype = torch.bfloat16
    guidance = not args.schnell
    from diffusers import FluxTransformer2DModel  # noqa: F401  (imported before the clock starts)

    t0 = time.perf_counter()
    model = build(geometry, device, dtype, guidance)
    kw = inputs(geometry, device, dtype, guidance)
    sync(device)
    blocks = massact.enumerate_blocks(model)
    params = sum(p.numel() for p in model.parameters())
    weights_mb = torch.cuda.memory_allocated() / 2 ** 20 if device.startswith("cuda") else 0.0
    width = geometry["num_attention_heads"] * geometry["attention_head_dim"]
    print(f"torch {torch.__version__}, {device}"
          f"{' (' + torch.cuda.get_device_name() + ')' if device.startswith('cuda') else ''}, bfloat16; random "
          f"FluxTransformer2DModel: {geometry['num_layers']} + {geometry['num_single_layers']} blocks "
          f"({len(blocks)} seen by massact), width {width}, {params / 1e9:.2f}B parameters, built in "
          f"{time.perf_counter() - t0:.1f} s" + (f", weights {weights_mb:,.0f} MiB" if weights_mb else ""))
    print(f"one row: {geometry['image_tokens']} image + {geometry['text_tokens']} text tokens, guidance embedding "
          f"{'on' if guidance else 'off'}, {args.steps} timed steps per run")
    bare, _ = run("bare", model, kw, args.steps, device, None, weights_mb)
    cap, res = run("capture", model, kw, args.steps, device, dict(capture=CaptureSpec()), weights_mb)
    score = res.stats.score("absmean")
    finite = bool(torch.isfinite(score).all())
    channels = massact.channel_set(torch.nan_to_num(score, nan=0.0, posinf=3e38, neginf=0.0), TOP_K, "top")
    edit = EditSpec("zero", channels=channels)
    ed, _ = run("edit", model, kw, args.steps, device, dict(edits=[edit], width=width), weights_mb)
    print(f"  capture / bare {cap / bare:.3f}; edit (top-{TOP_K} zeroed in all {len(channels)} blocks) / bare "
          f"{ed / bare:.3f}; statistics {tuple(res.stats.shape)} float32, "
          f"{'all finite' if finite else 'NOT all finite (random weights)'}")


if __name__ == "__main__":
    main()
