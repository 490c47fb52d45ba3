"""Wall-time cost of capturing every block's channel statistics (target: ratio <= 1.05).

    python bench/capture_overhead.py [--repeats 5] [--threads 1] [--quick] [--stats]

(a) the toy model: ``massact.generate`` on a batch of 16 prompts at the default step count,
    with ``capture=True`` (every block, every step) against plain generation;
(b) a tiny random ``FluxTransformer2DModel`` with realistic token counts (1024 image tokens,
    512 text tokens, width 256, 2 double + 2 single blocks): a plain 4-step Euler loop calling
    the transformer, bare against under ``massact.Tracer(..., CaptureSpec())``.

(c) ``--stats``: the statistics of one block output at FLUX.1 size (2 rows x 4,096 tokens x
    3,072 channels, bfloat16), ms per block per step and the peak extra memory: before, the
    float32-copy formulas (``x.float()``, then ``|x|`` and ``x * x`` copies of it); after,
    ``massact.channel_stats._StreamStats`` (``STATS_CHUNK_TOKENS`` tokens upcast at a time). Each runs
    in a fresh process with glibc's mmap threshold lowered, so its peak resident memory over
    the input's tracks what it allocates; the two results are compared.

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
from massact.hooks import Tracer
from massact.specs import BatchLayout, CaptureSpec

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


# -- (c) the statistics of one FLUX.1-sized block output ----------------------------------------
STATS_SHAPE = (2, 4096, 3072)


def float32_copy_stats(x: torch.Tensor) -> tuple[torch.Tensor, ...]:
    """The formulas before: one float32 copy of x, then |x| and x * x copies of that."""
    f = x.float()
    a = f.abs()
    return f.sum(1), a.sum(1), a.amax(1), (f * f).sum(1)


def package_stats(x: torch.Tensor) -> tuple[torch.Tensor, ...]:
    from massact.channel_stats import _StreamStats

    st = _StreamStats(x)
    return st.sum, st.sum_abs, st.max_abs, st.sum_sq


def stats_worker(which: str, repeats: int) -> None:
    """In a fresh process: time one formula and measure its peak memory over the input's."""
    import json
    import resource

    g = torch.Generator("cpu").manual_seed(0)
    x = torch.empty(STATS_SHAPE, dtype=torch.bfloat16)
    for i in range(0, STATS_SHAPE[1], 256):  # filled in slices: no float32 buffer of the input's size
        x[:, i:i + 256] = torch.randn(STATS_SHAPE[0], 256, STATS_SHAPE[2], generator=g) * 3
    x[:, :, 7] += 400  # a massive channel
    fn = float32_copy_stats if which == "before" else package_stats
    rss0 = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    out = fn(x)
    peak_mb = (resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - rss0) / 1024
    ts = []
    for _ in range(repeats):
        ts.append(timed(lambda: fn(x)))
    print(json.dumps({"ms": 1e3 * statistics.median(ts), "ms_min": 1e3 * min(ts), "peak_extra_mb": peak_mb,
                      "out": [t.tolist() for t in out]}))


def bench_stats(repeats: int) -> None:
    import json
    import os
    import subprocess
    import sys

    def run(which: str, env: dict) -> dict:
        cmd = [sys.executable, __file__, "--stats-worker", which, "--repeats", str(repeats),
               "--threads", str(torch.get_num_threads())]
        out = subprocess.run(cmd, env=env, check=True, capture_output=True, text=True).stdout
        return json.loads(out.strip().splitlines()[-1])

    res = {}
    for which in ("before", "after"):
        # time in an ordinary process; memory where every allocation over 64 KiB is its own mmap
        # (returned at free), so the peak resident size counts what the formula holds at once
        res[which] = run(which, dict(os.environ))
        res[which]["peak_extra_mb"] = run(which, dict(os.environ, MALLOC_MMAP_THRESHOLD_="65536"))["peak_extra_mb"]
    b, a = ([torch.tensor(t) for t in res[w]["out"]] for w in ("before", "after"))
    scale = [b[1], b[1], b[2], b[3]]  # sums against sum |x| (signed sums may cancel to ~0), the others relative
    err = [float(((x - y).abs() / s.clamp_min(1e-30)).max()) for x, y, s in zip(a, b, scale)]
    mb = STATS_SHAPE[0] * STATS_SHAPE[1] * STATS_SHAPE[2] * 2 / 2 ** 20
    print(f"(c) statistics of one block output {STATS_SHAPE[0]} x {STATS_SHAPE[1]} x {STATS_SHAPE[2]} bfloat16 "
          f"({mb:.0f} MiB), median of {repeats}:")
    for w, label in (("before", "float32 copy"), ("after", "massact (chunked)")):
        r = res[w]
        print(f"  {label:18s} {r['ms']:7.1f} ms per block per step (min {r['ms_min']:.1f}); "
              f"peak extra memory {r['peak_extra_mb']:.0f} MiB")
    print(f"  max difference after vs before: sum {err[0]:.1e}, sum|x| {err[1]:.1e} (of sum|x|), "
          f"max|x| {err[2]:.1e}, sum x^2 {err[3]:.1e} (relative)")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--repeats", type=int, default=5)
    ap.add_argument("--threads", type=int, default=1, help="torch threads (1 on the shared machine)")
    ap.add_argument("--quick", action="store_true", help="fewer steps and tokens (a smoke run)")
    ap.add_argument("--stats", action="store_true", help="only (c): one FLUX.1-sized block output's statistics")
    ap.add_argument("--stats-worker", choices=("before", "after"), help=argparse.SUPPRESS)
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    if args.stats_worker:
        stats_worker(args.stats_worker, args.repeats)
        return
    if args.stats:
        bench_stats(args.repeats)
        return
    print(f"torch {torch.__version__}, {torch.get_num_threads()} thread(s), {args.repeats} repeats, medians")
    bench_toy(args.repeats, args.quick)
    bench_flux(args.repeats, args.quick)
    bench_stats(args.repeats)


if __name__ == "__main__":
    main()
