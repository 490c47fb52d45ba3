"""Wall-time cost of capturing every block's channel statistics (target: ratio <= 1.05).

    python bench/capture_overhead.py [--repeats 5] [--threads 1] [--quick]

(a) the toy model: ``massact.generate`` on a batch of 16 prompts at the default step count,
    with ``capture=True`` (every block, every step) against plain generation;
(b) a tiny random ``FluxTransformer2DModel`` with realistic token counts (1024 image tokens,
    512 text tokens, width 256, 2 double + 2 single blocks): a plain 4-step Euler loop calling
    the transformer, bare against under ``massact.Tracer(..., CaptureSpec())``.

Plain and captured runs alternate (so load on a shared machine hits both alike) and the
ratio is of the medians (the ratio of the minima is printed too). Because a busy machine
makes wall-time ratios noisy, it also prints the hooks' own cost, measured directly: the
wall time spent inside massact's hooks during one instrumented captured run, over the
plain run time.
"""
from __future__ import annotations

import argparse
import statistics
import time

import torch

import massact
from massact.hooks import BatchLayout, CaptureSpec, Tracer

TARGET = 1.05


def timed(fn) -> float:
    t0 = time.perf_counter()
    fn()
    return time.perf_counter() - t0


def compare(plain, captured, repeats: int) -> tuple[list[float], list[float]]:
    plain(), captured()  # warm-up (allocator, kernels)
    tp, tc = [], []
    for i in range(repeats):  # alternate the order, so drift in the machine's load hits both alike
        for fn, ts in ((plain, tp), (captured, tc))[:: 1 if i % 2 == 0 else -1]:
            ts.append(timed(fn))
    return tp, tc


class TimedTracer(Tracer):
    """A Tracer that also adds up the wall time spent inside its own hooks (instrumented runs only)."""

    hook_seconds = 0.0

    def _timed(self, fn):
        def wrapper(*a, **k):
            t0 = time.perf_counter()
            try:
                return fn(*a, **k)
            finally:
                TimedTracer.hook_seconds += time.perf_counter() - t0

        return wrapper

    def _make_post(self, ref):
        return self._timed(super()._make_post(ref))

    def _pre(self, module, args, kwargs):
        return self._timed(super()._pre)(module, args, kwargs)


def in_hook_seconds(run_captured) -> float:
    """Seconds spent inside massact's hooks during one captured run."""
    TimedTracer.hook_seconds = 0.0
    run_captured(TimedTracer)
    return TimedTracer.hook_seconds


def report(name: str, tp: list[float], tc: list[float], hook_s: float) -> None:
    ratio = statistics.median(tc) / statistics.median(tp)
    print(f"{name}:\n  plain {statistics.median(tp):.3f} s, captured {statistics.median(tc):.3f} s (medians of "
          f"{len(tp)}): ratio {ratio:.3f} ({'within' if ratio <= TARGET else 'ABOVE'} target {TARGET}); "
          f"ratio of minima {min(tc) / min(tp):.3f}\n"
          f"  time inside massact's hooks (instrumented run) {hook_s * 1e3:.1f} ms = "
          f"{1 + hook_s / statistics.median(tp):.4f}x of plain")


def bench_toy(repeats: int, quick: bool) -> None:
    from massact.toy.world import caption_set

    model = massact.load("toy")
    prompts = caption_set(16, seed=0)
    steps = 4 if quick else model.default_steps
    seeds = list(range(16))
    tp, tc = compare(lambda: massact.generate(model, prompts, seeds, steps=steps),
                     lambda: massact.generate(model, prompts, seeds, steps=steps, capture=True), repeats)

    def instrumented(tracer_cls):
        layout = model.batch_layout(len(prompts), model.default_guidance)
        with tracer_cls(model.transformer, layout, CaptureSpec(), num_steps=steps):
            model.sample(prompts, seeds, steps, model.default_guidance)

    report(f"(a) toy, batch 16, {steps} steps, {model.num_blocks} blocks", tp, tc, in_hook_seconds(instrumented))


def build_flux(width: int = 256, heads: int = 4):
    from diffusers import FluxTransformer2DModel

    torch.manual_seed(0)
    hd = width // heads
    return FluxTransformer2DModel(patch_size=1, in_channels=64, num_layers=2, num_single_layers=2,
                                  attention_head_dim=hd, num_attention_heads=heads, joint_attention_dim=256,
                                  pooled_projection_dim=256, guidance_embeds=False,
                                  axes_dims_rope=(hd // 4, 3 * hd // 8, 3 * hd // 8)).eval().requires_grad_(False)


def bench_flux(repeats: int, quick: bool) -> None:
    batch, grid, text_tokens, steps = 1, 32, 512, 4
    if quick:
        grid, text_tokens = 16, 128
    n = grid * grid
    tr = build_flux()
    g = torch.Generator("cpu").manual_seed(0)
    x0 = torch.randn(batch, n, 64, generator=g)
    text = torch.randn(batch, text_tokens, 256, generator=g)
    pooled = torch.randn(batch, 256, generator=g)
    ids = torch.zeros(grid, grid, 3)
    ids[..., 1], ids[..., 2] = torch.arange(grid)[:, None], torch.arange(grid)[None, :]
    img_ids, txt_ids = ids.reshape(n, 3), torch.zeros(text_tokens, 3)
    ts = torch.linspace(1.0, 0.0, steps + 1)

    @torch.no_grad()
    def euler():
        x = x0
        for i in range(steps):
            v = tr(hidden_states=x, encoder_hidden_states=text, pooled_projections=pooled,
                   timestep=ts[i].expand(batch), img_ids=img_ids, txt_ids=txt_ids, return_dict=False)[0]
            x = x + (ts[i + 1] - ts[i]) * v
        return x

    def captured(tracer_cls=Tracer):
        with tracer_cls(tr, BatchLayout(batch), CaptureSpec(), num_steps=steps) as t:
            euler()
        assert t.result().stats.shape == (batch, 4, steps, 256)

    tp, tc = compare(euler, captured, repeats * 3)  # cheap: three times the repeats
    report(f"(b) random Flux, {n} image + {text_tokens} text tokens, width 256, 4 blocks, {steps} steps", tp, tc,
           in_hook_seconds(captured))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--repeats", type=int, default=5)
    ap.add_argument("--threads", type=int, default=1, help="torch threads (1 on the shared machine)")
    ap.add_argument("--quick", action="store_true", help="fewer steps and tokens (a smoke run)")
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    print(f"torch {torch.__version__}, {torch.get_num_threads()} thread(s), {args.repeats} repeats, medians")
    bench_toy(args.repeats, args.quick)
    bench_flux(args.repeats, args.quick)


if __name__ == "__main__":
    main()
