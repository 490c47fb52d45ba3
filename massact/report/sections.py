"""The report's sections: one builder per section and ONE static table, ``SECTIONS``.

A builder takes the ``ReportContext`` and returns a ``Section`` (numbers, figures, images,
a reading and its inputs record); ``build(name, ctx)`` runs one by name and fills in its
name and title from the table. Which prompts, seeds and pairs each builder uses follows
the rule of ``report.context`` (``ctx.images``, ``ctx.pairs``); the few inputs the rule
cannot take from given prompts are named in the section's ``inputs``.

The sizes below keep the whole report inside a few minutes on a CPU: sections sample with
fewer steps than the model's default (clean and edited images alike, so every comparison
stays fair).
"""
from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Callable

import numpy as np
import torch

from .. import readings
from ..calibration import CALIBRATION_SEED_BASE, calibrate
from ..claims import critical as C
from ..claims import spatial as S
from ..claims import transport as T
from ..claims import use_cases as U
from ..claims.channels import decompose_top
from ..claims.results import rounded
from ..generation import generate
from ..plots import block_ratios, channel_profile, image_data_uri
from ..plots.massive import decomposition_figure, step_profile_figure
from ..plots.critical import control_intervals_figure, dose_response_figure, early_late_figure
from ..plots.spatial import miou_curves, miou_heatmap, over_k_figure, overlay_panels
from ..plots.transport import adoption_bars, carry_bars, method_lines
from ..plots.transport import over_k_figure as transport_over_k_figure
from ..ranking import ARMS, ENERGY_TOLERANCE, energy_match_ceiling
from ..specs import CaptureSpec
from ..stats import bootstrap_mean
from .context import ReportContext, Section, calibration_stats

__all__ = ["SECTIONS", "SectionSpec", "build", "names", "SIZES", "Sizes", "energy_control", "transport_specs"]


# -- the model and its massive channels ------------------------------------------------------------
def model_section(ctx: ReportContext) -> Section:
    """The model, its clean images (reused by later sections) and the time of a batch of 16."""
    model = ctx.model
    prompts, seeds, inputs = ctx.images()
    g = generate(model, prompts, seeds)
    res = {"name": model.name, "num_blocks": model.num_blocks, "width": model.width,
           "num_image_tokens": model.num_image_tokens, "steps": g.num_steps, "guidance": g.guidance,
           "num_images": len(prompts)}
    acc = ctx.metrics.caption_accuracy(g.images, prompts)
    if acc is not None:
        res["caption_accuracy"] = {k: round(float(v), 4) for k, v in acc.items()}
    fid = ctx.metrics.fid(g.images)
    if fid is not None:
        res["toy_fid"] = round(float(fid), 3)
    batch = (ctx.prompts * 16)[:16]
    generate(model, batch[:2], 0, num_steps=2)  # warm-up
    t0 = time.perf_counter()
    generate(model, batch, list(range(16)))
    res["batch16_seconds"] = round(time.perf_counter() - t0, 3)
    ctx.cache["clean_generation"] = g
    n = min(16, len(prompts))
    text = (f"{len(prompts)} images ({len(ctx.prompts)} prompts x {len(ctx.seeds)} seeds), {g.num_steps} Euler steps, "
            f"guidance {g.guidance}. A batch of 16 took {res['batch16_seconds']} s.")
    if acc is not None:
        text += " Judge caption accuracy: " + ", ".join(f"{k} {v:.2f}" for k, v in acc.items()) + "."
    return Section(results=res, images=[("first generated images", image_data_uri(g.images[:n], cols=8))], text=text,
                   inputs={**inputs, "timing_batch": "the first 16 prompts (repeated), seeds 0..15"})


def massive_section(ctx: ReportContext) -> Section:
    """Per block: the top channels and how far they stand above the median; and whether the
    model needs its largest channel (zeroing against mean-setting the top-1 channel)."""
    prompts, seeds, inputs = ctx.images(num_seeds=2)
    g = generate(ctx.model, prompts, seeds, capture=CaptureSpec())
    rows = g.stats.ratio_table()
    score = g.stats.score("absmean")
    best = max(rows, key=lambda r: r["top1_over_median_absmean"])
    figs = [block_ratios(rows), channel_profile(score[best["block"]],
                                               title=f"block {best['block']}: |mean| per channel (all steps, "
                                                     f"{len(prompts)} images)")]
    text = (f"Strongest block {best['block']}: channel {best['top_channels'][0]} is "
            f"{best['top1_over_median_absmean']:.1f}x the median channel by |mean| "
            f"(top-5 average {best['top5_over_median_absmean']:.1f}x); max|x|/median is {best['max_over_median']:.1f}.")
    if "energy_share_top1" in best:
        text += f" It holds {best['energy_share_top1']:.0%} of a token's squared norm there."
    text += "\n" + readings.massive_set(rows) + (
        f" These counts are on the {len(prompts)} images above; the claims rank channels on the calibration prompts, "
        f"whose median block has {calibration_stats(ctx).massive_set_size():g} massive channels: the size the curves "
        "over k mark and add as a k.")
    saturation = g.stats.saturation()
    text += " " + saturation.text()
    profile = g.stats.step_profile()
    figs.append(step_profile_figure(profile, best["block"]))
    text += "\n" + readings.step_profile(profile, best["block"])
    # the signature of a massive channel, on the critical probe's images, steps and calibration
    sz = sizes_of(ctx)
    num_steps = sz.critical_num_steps or ctx.model.default_steps
    ev_prompts, ev_seeds, _ = ctx.images(limit=sz.critical_images, seed_major=True)
    clean = generate(ctx.model, ev_prompts, ev_seeds, num_steps=num_steps).images
    ctx.cache["probe_clean"] = (tuple(ev_prompts), tuple(ev_seeds), num_steps, clean)
    top1 = C.top1_ablation(ctx.model, _probe_calibration(ctx, num_steps), ev_prompts, ev_seeds, num_steps=num_steps,
                           metrics=ctx.metrics, baseline_images=clean, progress=ctx.progress)
    top1_text = readings.top1_ablation(top1)
    inputs["top1_ablation"] = {"prompts_from": "the critical probe's evaluation images", "num_steps": num_steps,
                               "n_images": len(ev_prompts)}
    decomposition, decomposition_inputs = channel_decomposition(ctx, score[best["block"]], best["block"])
    figs.append(decomposition_figure(decomposition["rows"], best["block"]))
    inputs["decomposition"] = decomposition_inputs
    return Section(results={"rows": rows, "step_profile": profile,
                            "step_trend": readings.step_trend(profile, best["block"]), "top1_ablation": top1 | {"reading": top1_text},
                            "saturation": {"dtype": saturation.dtype, "blocks": list(saturation.blocks)},
                            "decomposition": decomposition},
                   figures=figs,
                   text="\n".join([text, top1_text, decomposition["reading"]]), inputs=inputs)


def channel_decomposition(ctx: ReportContext, scores: torch.Tensor, block: int, top: int = 4) -> tuple[dict, dict]:
    """What the strongest block's top channels are, beside its median channel: the shares of their
    mean square (offset, step, prompt, seed, token, interaction) and, when the model's world names
    attributes, how much of their across-prompt variation each attribute explains
    (``claims.channels.decompose_top``).

    Args:
        ctx: the report context (its evaluation images: ``Sizes.decomposition_images``).
        scores: the block's (channels,) |mean| scores (the ratio table's).
        block: the block.
        top: how many top channels.
    Returns:
        (results: {"block", "rows", "reading"}, inputs record); each row holds channel, rank,
        ratio_to_median, median, the shares, attribute_shares / attribute_chance when read,
        num_prompts, num_seeds and num_steps.
    """
    num_prompts, num_seeds = sizes_of(ctx).decomposition_images
    _, _, inputs = ctx.images(num_prompts=num_prompts, num_seeds=num_seeds)
    prompts, seeds = inputs["prompts"], inputs["seeds"]
    world = ctx.model.world
    attributes = world is not None and bool(world.attributes)
    parts = decompose_top(ctx.model, prompts, seeds, block, scores, top=top, attributes=attributes)
    num_steps = ctx.model.default_steps
    rows = [{**rounded(r, 4), "num_prompts": len(prompts), "num_seeds": len(seeds), "num_steps": num_steps}
            for r in parts]
    inputs["attributes"] = ("the prompts' attribute words, read by model.world.prompt_attributes" if attributes
                            else "not read: the model has no world that names attributes")
    inputs["num_steps"] = num_steps
    return {"block": block, "rows": rows, "reading": readings.decomposition(rows, block)}, inputs


# -- the claims across training -----------------------------------------------------------------------
def training_section(ctx: ReportContext) -> Section:
    """Every shipped checkpoint of the model's training run, measured with one protocol."""
    from ..claims.training import TrainingProtocol, across_training
    from ..plots.training import claims_across_training

    model = ctx.model
    steps = model.checkpoints()
    if len(steps) < 2:
        return Section(results={"skipped": "this model has no training checkpoints"},
                       text="Skipped: this model ships no checkpoints along its training run.",
                       inputs={"prompts_from": "none"})
    protocol = TrainingProtocol(**sizes_of(ctx).training)
    measures = across_training({s: (lambda s=s: model.at_checkpoint(s)) for s in steps}, protocol,
                               progress=ctx.progress)
    rows = [m.row() for m in measures]
    text = readings.training(rows)
    inputs = {"prompts_from": "the world's evaluation prompts and caption pairs",
              "why": "every checkpoint must see the same prompts, seeds and pairs, so the rows differ only by the "
                     "weights", "calibration": f"the world's first {protocol.n_calibration} calibration prompts",
              "checkpoints": f"the model's checkpoint series, steps {steps} (for a toy model: its own training run, whose "
                             "last step is the model itself)"}
    return Section(results={"rows": rows, "protocol": protocol.summary(), "reading": text},
                   figures=[claims_across_training(rows)], text=text, inputs=inputs)


# -- how large each section's sweep is -----------------------------------------------------------
@dataclass(frozen=True)
class Sizes:
    """How large every section's sweep is at one report size (``SIZES``).

    Attributes:
        evaluation_prompts: world prompts judged when none are given (x the seeds = images).
        critical_images: images per (arm, k, blocks, steps) of the disruption probe.
        critical_ks, critical_draws: the dose-response ks and the random arm's draws (every curve
          over k also runs the massive set's size beyond quick: ``curve_ks``).
        critical_num_steps: sampler steps of every probe image (clean and edited alike).
        control_k: the k of the controls (mean ablation, energy-matched random channels).
        early_late_arms, early_late_draws: the arms of the early/late comparison, its random draws.
        independence: (prompts, seeds) of the prompt-independence check.
        grid_seeds: images per row of the critical grid.
        spatial_images, spatial_draws: images clustered, random draws per block and step.
        transport_pairs, transport_num_steps: caption pairs and sampler steps of the sweep.
        transport_ks: the ks of the transport curve (its largest is also the carry table's k).
        interpolation_pairs, interpolation_points: pairs and alphas of the interpolation.
        composition_per_attribute: pairs per named attribute (composition).
        composition_attributes: the attributes composed (None: all the world names).
        subject_references: reference images of subject transfer.
        use_case_num_steps: sampler steps of interpolation and composition (None: 10 at most).
        training: the per-checkpoint protocol's sizes (``TrainingProtocol`` fields).
        decomposition_images: (prompts, seeds) of the massive section's channel decomposition, at
          the model's default steps (``channel_decomposition``).
    """

    evaluation_prompts: int
    critical_images: int
    critical_ks: tuple
    critical_draws: int
    critical_num_steps: int
    control_k: int
    early_late_arms: tuple
    early_late_draws: int
    independence: tuple
    grid_seeds: int
    spatial_images: int
    spatial_draws: int
    transport_pairs: int
    transport_num_steps: int | None
    transport_ks: tuple
    interpolation_pairs: int
    interpolation_points: int
    composition_per_attribute: int
    composition_attributes: tuple | None
    subject_references: int
    use_case_num_steps: int | None
    training: dict
    decomposition_images: tuple = (16, 2)

    def summary(self) -> dict:
        """The sizes as JSON."""
        return {k: (list(v) if isinstance(v, tuple) else v) for k, v in self.__dict__.items()}


#: the sizes of "quick" (tests), "standard" (``make demo``: at least 64 images per probe
#: condition and for clustering, 32 transport pairs, 16 interpolation and composition pairs,
#: 8 subject-transfer references) and "full" (about 4x standard: ``massact reproduce --full``).
#: Sampling uses fewer steps than the model's default where noted (clean and edited images
#: alike, so every comparison stays fair).
SIZES: dict[str, Sizes] = {
    "quick": Sizes(evaluation_prompts=4, critical_images=3, critical_ks=(2, 8), critical_draws=2,
                   critical_num_steps=6, control_k=8, early_late_arms=("top", "random"), early_late_draws=1,
                   independence=(2, 2), grid_seeds=3,
                   spatial_images=4, spatial_draws=2, transport_pairs=2, transport_num_steps=4,
                   transport_ks=(4, 16),
                   interpolation_pairs=1, interpolation_points=3, composition_per_attribute=1,
                   composition_attributes=("position",), subject_references=1, use_case_num_steps=4,
                   training=dict(n_images=8, n_pairs=6, n_calibration=4, num_steps=6),
                   decomposition_images=(4, 2)),
    "standard": Sizes(evaluation_prompts=16, critical_images=64, critical_ks=(1, 2, 4, 8, 16), critical_draws=2,
                      critical_num_steps=8, control_k=8, early_late_arms=("top",), early_late_draws=1,
                      independence=(3, 3), grid_seeds=6,
                      spatial_images=64, spatial_draws=3, transport_pairs=32, transport_num_steps=10,
                      transport_ks=T.OVER_K,
                      interpolation_pairs=16, interpolation_points=5, composition_per_attribute=4,
                      composition_attributes=None, subject_references=8, use_case_num_steps=10,
                      training=dict()),
    "full": Sizes(evaluation_prompts=64, critical_images=256, critical_ks=C.DEFAULT_KS, critical_draws=3,
                  critical_num_steps=8, control_k=8, early_late_arms=("top", "random"), early_late_draws=2,
                  independence=(6, 4), grid_seeds=6,
                  spatial_images=256, spatial_draws=5, transport_pairs=128, transport_num_steps=10,
                  transport_ks=T.OVER_K,
                  interpolation_pairs=64, interpolation_points=5, composition_per_attribute=16,
                  composition_attributes=None, subject_references=32, use_case_num_steps=10,
                  training=dict(n_images=64, n_pairs=32)),
}


def sizes_of(ctx: ReportContext) -> Sizes:
    """The sizes of the context's report size."""
    return SIZES[ctx.size]


# -- claim 1: critical -------------------------------------------------------------------------------
#: prompt independence draws the calibration prompts with seeds CALIBRATION_SEED_BASE + 500 + i:
#: neither ranking images (1000+i) nor judged images (0..)
INDEPENDENCE_SEED_BASE = CALIBRATION_SEED_BASE + 500


def clean_random_outside(ks, width: int) -> int:
    """How many top channels per block the report's random arm leaves out: the largest k of the
    section's curve, so that no random set holds a channel of any top set it is compared with;
    0 (a uniform draw, which may hold massive channels) when the width is too small for that."""
    largest = max(ks)
    return largest if 2 * largest <= width else 0


def curve_ks(ctx: ReportContext, ks, limit: int | None = None) -> tuple[int, ...]:
    """The ks of a claim's curve: the size's ks up to ``limit`` and, beyond quick, the massive
    set's size (``ChannelStats.massive_set_size``, rounded) where it is not one of them, so that
    every curve has a point where k is the number of channels that are massive.

    Args:
        ctx: the report context (its model and calibration statistics).
        ks: the size's ks (e.g. ``Sizes.critical_ks``).
        limit: the largest k (None: half the width, which leaves room for a clean random arm).
    Returns:
        the ks, ascending.
    """
    limit = ctx.model.width // 2 if limit is None else limit
    out = {int(k) for k in ks if k <= limit}
    if not ctx.quick:
        m = int(np.floor(calibration_stats(ctx).massive_set_size() + 0.5))
        if 1 <= m <= limit:
            out.add(m)
    return tuple(sorted(out))


def _probe_calibration(ctx: ReportContext, num_steps: int):
    """The calibration at the probe's sampler steps (cached): mean ablation sets each channel
    to its calibration mean at that step, so the calibration must have the probe's steps."""
    key = ("calibration", num_steps)
    if key not in ctx.cache:
        if num_steps == ctx.model.default_steps:
            ctx.cache[key] = calibrate(ctx.model, ctx.calibration_prompts, stats=calibration_stats(ctx))
        else:
            ctx.cache[key] = calibrate(ctx.model, ctx.calibration_prompts, num_steps=num_steps)
    return ctx.cache[key]


def energy_control(calibration, ks, tolerance: float = ENERGY_TOLERANCE, outside: int = 0) -> dict:
    """Whether an energy-matched random control exists at each k, and at which k it is run.

    Args:
        calibration: the ranking (its absmean score and its statistics' energy).
        ks: the ks to check, each in 1..width / 2 (and at most ``outside`` when it is given).
        tolerance: the relative tolerance of the match.
        outside: the control's pool, as ``Selection("energy", k, outside=...)`` draws it: 0 (the
          channels outside each block's top-k) or n (outside the top-n, for every k).
    Returns:
        {"tolerance", "outside", "per_k": [{"k", "ceiling_min", "ceiling_per_block", "feasible"}],
        "k_run"}: ``ceiling`` is the most of the top-k's summed energy that k channels of the pool
        hold (``ranking.energy_match_ceiling``); ``k_run`` is the largest feasible k (None: none).
    """
    score, energy = calibration.score("absmean"), calibration.stats.energy()
    per_k = []
    for k in ks:
        c = energy_match_ceiling(score, energy, k, outside=outside)
        per_k.append({"k": int(k), "ceiling_min": round(min(c), 4), "ceiling_per_block": [round(v, 4) for v in c],
                      "feasible": min(c) >= 1 - tolerance})
    feasible = [r["k"] for r in per_k if r["feasible"]]
    return {"tolerance": tolerance, "outside": int(outside), "per_k": per_k,
            "k_run": max(feasible) if feasible else None}


def _energy_text(ec: dict) -> str:
    if ec["k_run"] is not None:
        return ""
    worst = max(ec["per_k"], key=lambda r: r["ceiling_min"])
    pool = (f"the k largest channels outside each block's top-{ec['outside']}" if ec["outside"]
            else "the k largest channels outside each block's top-k")
    return (f" No energy-matched control exists at any k tried ({', '.join(str(r['k']) for r in ec['per_k'])}): "
            f"{pool} hold at most {worst['ceiling_min']:.0%} of the top-{worst['k']}'s summed "
            f"squared activation in the weakest block (a match needs {1 - ec['tolerance']:.0%}), so here the top "
            "channels are larger than any equal set of others and the energy control cannot separate 'large' from "
            "'special'.")


def critical_section(ctx: ReportContext) -> Section:
    """The disruption probe: the dose-response rows, the controls (mean ablation, energy-matched
    random channels), early vs late zeroing, prompt independence."""
    sz = sizes_of(ctx)
    model = ctx.model
    num_steps = sz.critical_num_steps or model.default_steps
    cal = _probe_calibration(ctx, num_steps)
    # evaluation images: seed-major so the first few cover every prompt
    prompts, seeds, inputs = ctx.images(limit=sz.critical_images, seed_major=True)
    clean = None
    g = ctx.cache.get("clean_generation")
    if g is not None and g.num_steps == num_steps:  # reuse the model section's clean images (same seed, same image)
        idx = {(p, s): i for i, (p, s) in enumerate(zip(g.prompts, g.seeds))}
        if all(pair in idx for pair in zip(prompts, seeds)):
            clean = g.images[[idx[pair] for pair in zip(prompts, seeds)]]
    if clean is None and ctx.cache.get("probe_clean", (None,) * 4)[:3] == (tuple(prompts), tuple(seeds), num_steps):
        clean = ctx.cache["probe_clean"][3]  # the massive section's clean images of the same images
    # the clean controls (random and energy-matched): drawn outside the top set of the curve's largest k
    ks = curve_ks(ctx, sz.critical_ks, limit=model.width)
    # (where the width allows)
    outside = clean_random_outside(ks, model.width)
    common = dict(num_steps=num_steps, metrics=ctx.metrics, progress=ctx.progress, random_outside=outside)
    res = C.probe(model, cal, prompts, seeds, ks=ks, draws=sz.critical_draws, baseline_images=clean,
                  **common)
    # the controls, on the same images (their zeroed rows are the dose-response's): mean ablation at
    # k_c, and energy-matched random channels at the largest k where such a set exists
    fits = [k for k in res.meta["ks"] if k <= model.width // 2] or [min(res.meta["ks"])]
    k_c = sz.control_k if sz.control_k in fits else max(fits)  # a narrow model: the largest k that fits
    ec = energy_control(cal, [k for k in ks if k <= model.width // 2], outside=outside)
    combined = res.merged(C.probe(model, cal, prompts, seeds, ks=(k_c,), arms=ARMS, draws=sz.critical_draws,
                                  ablation=("mean",), baseline_images=res.clean_images, **common))
    if ec["k_run"] is not None:
        combined = combined.merged(C.probe(model, cal, prompts, seeds, ks=(ec["k_run"],), arms=("energy",),
                                           draws=sz.critical_draws, baseline_images=res.clean_images, **common))
    k_el = min(8, model.width)
    el = C.probe(model, cal, prompts, seeds, ks=(k_el,), arms=sz.early_late_arms, steps=["early", "late"],
                 draws=sz.early_late_draws, baseline_images=res.clean_images, **common)
    breakdown = C.attribute_breakdown(res, el)
    P, S_ = sz.independence
    ind_prompts = list(ctx.calibration_prompts)[:P]
    ind_seeds = [INDEPENDENCE_SEED_BASE + i for i in range(S_)]
    ind = C.prompt_independence(model, ind_prompts, seeds=ind_seeds, k=min(4, model.width), num_steps=num_steps)
    controls_text = readings.critical_controls(combined, k=k_c)
    if ec["k_run"] is not None and ec["k_run"] != k_c:
        controls_text += " " + readings.critical_controls(combined, k=ec["k_run"])
    text = "\n".join(t for t in (readings.critical(res, breakdown, ind), controls_text, _energy_text(ec).strip()) if t)
    rows = list(combined.table(ndigits=C.ROW_DECIMALS))
    massive_set = calibration_stats(ctx).massive_set_size()
    control_rows = [r for r in rows if r["k"] == k_c or r["arm"] in ("none", "energy")]
    results = {"rows": rows, "baseline": rounded(res.baseline, C.ROW_DECIMALS), "n_images": len(prompts),
               "verdict": readings.critical_verdict(res), "over_k": readings.critical_over_k(res),
               "controls": {"k": k_c, "rows": control_rows, "verdict": readings.critical_verdict(combined, k=k_c),
                            "reading": controls_text},
               "energy_control": ec, "massive_set_10x_median": massive_set,
               "early_late": list(el.table(ndigits=C.ROW_DECIMALS)),
               "attribute_breakdown": rounded(breakdown, C.ROW_DECIMALS),
               "prompt_independence": {k: v for k, v in ind.items() if k != "per_block"} | {
                   "per_block": [{k: v for k, v in b.items() if k != "step_vs_pooled"} for b in ind["per_block"]]},
               "meta": res.meta, "reading": text}
    ims, labels = res.grid(k=max(ks), n=sz.grid_seeds)
    figs = [dose_response_figure(res, massive_set),
            control_intervals_figure([r for r in control_rows if r["arm"] != "energy" or r["k"] == k_c]),
            early_late_figure(breakdown)]
    images = [(f"rows: {', '.join(labels)} (channels zeroed at blocks {res.meta['blocks'][0]}, steps "
               f"{res.meta['steps'][0]}); columns: the same seeds",
               image_data_uri(ims, cols=min(sz.grid_seeds, len(prompts))))]
    inputs["prompt_independence"] = {
        "prompts_from": "the calibration prompts", "prompts": ind_prompts, "seeds": ind_seeds,
        "why": "whether the ranking depends on the prompt is a property of the ranking images, not of the judged ones"}
    return Section(results=results, figures=figs, images=images, text=text, inputs=inputs)


# -- claim 2: spatial --------------------------------------------------------------------------------
def spatial_rows(res: S.SpatialResult):
    """The spatial rows of results.json: ``res.table(ndigits=4)``. Without true masks each row
    also says that there is no IoU (``miou`` None, ``scored`` False) and carries the failure
    modes of draw 0 (``minority_share``, ``speckle_share``, ``offset_channels``).

    Args:
        res: a ``SpatialResult``.
    Returns:
        a ``Rows``, one row per arm, block and step.
    """
    rows = res.table(ndigits=4)
    if not res.scored:
        for r in rows:
            modes = res.failure_modes(r["arm"], r["step"]).first(block=r["block"])
            r.update(miou=None, scored=False, minority_share=rounded(modes["minority_share"], 4),
                     speckle_share=rounded(modes["speckle_share"], 4), offset_channels=modes["offset_channels"])
    return rows


def spatial_section(ctx: ReportContext) -> Section:
    """Rows per arm, block and step, the curve, the heatmap and a grid of mask overlays."""
    sz = sizes_of(ctx)
    model = ctx.model
    n = model.default_steps
    prompts, seeds, inputs = ctx.images(limit=sz.spatial_images, seed_major=True)
    steps = tuple(sorted({0, n // 2, n - 1})) if ctx.quick else S.sampled_steps(n)
    draws = sz.spatial_draws
    score = calibration_stats(ctx).score("absmean")
    cap = S.capture(model, prompts, seeds, steps=steps)
    truth = S.truth_masks(cap.images, ctx.metrics)
    ks = list(curve_ks(ctx, S.OVER_K))
    outside = clean_random_outside(ks + [S.DEFAULT_K], model.width)
    res = S.evaluate(cap, score, truth, k=S.DEFAULT_K, random_draws=draws, random_outside=outside)
    results = {"rows": spatial_rows(res), "k": res.k, "random_outside": outside, "K": res.K, "blocks": list(res.blocks), "steps": list(res.steps),
               "curve_step": res.curve_step, "random_draws": draws, "num_images": res.num_images,
               "scored": res.scored, "ranking": "absmean on the calibration prompts, all steps",
               "rules": S.RULE_HELP}
    figures, images = [], []
    if res.scored:
        best = res.best_block()
        results["best_block_top"] = best
        results["all_foreground_iou"] = round(res.all_foreground_iou, 4)
        results["grid_ceiling_iou"] = round(res.grid_ceiling, 4)
        ov = S.over_k(cap, score, truth, ks=ks, random_draws=draws, random_outside=outside)
        massive = calibration_stats(ctx).massive_set_size()
        results["over_k"] = ov
        results["massive_set_10x_median"] = massive
        figures = [miou_curves(res), miou_heatmap(res), over_k_figure(ov, massive)]
    else:
        best = cap.blocks[len(cap.blocks) // 2]
    m = min(6, len(prompts))
    cols = S.arm_masks(cap, res, best)
    panels, titles = overlay_panels(cap.images[:m], {name: c.mask[:m] for name, c in cols.items()},
                                    truth=None if truth is None else truth[:m], score=cols[f"top-{res.k}"].score[:m])
    images.append((f"rows: images; columns: {', '.join(titles)} (block {best}, step {res.curve_step}, border rule)",
                   image_data_uri(panels, cols=len(titles))))
    text = readings.spatial(res) + ("\n" + readings.spatial_over_k(results["over_k"]) if "over_k" in results else "")
    return Section(results=results, figures=figures, images=images, text=text, inputs=inputs)


# -- claim 3: transport --------------------------------------------------------------------------------
def transport_specs(model, ks=(T.DEFAULT_K,), outside: int = 0, k: int = T.DEFAULT_K, quick: bool = False,
                    num_steps: int | None = None) -> list[T.TransportSpec]:
    """The settings the transport section sweeps, each once: the three arms at k, the spatial mask
    and (beyond quick) alpha 0.5, each block list, the early and the late steps; then the curve
    over k (the three arms at every k of ks) and the carry table at the largest k (every channel,
    all but the top channels).

    Args:
        model: the model (its width, blocks and default steps).
        ks: the ks of the curve (each at most half the width).
        outside: the random arm draws outside each block's top-``outside`` channels (0: uniform).
        k: the k of the single settings (mask, alpha, blocks, steps); one of ks.
        quick: only the arms, the mask, the curve and the carry table.
        num_steps: the sampler's steps (None: the model's default).
    Returns:
        the specs, without duplicates, those at k first (the strip shows the first three).
    """
    num_steps = num_steps or model.default_steps
    specs = [T.TransportSpec(arm, k, outside=outside if arm == "random" else 0) for arm in ARMS]
    specs.append(T.TransportSpec("top", k, mask="source"))
    if not quick:
        specs.append(T.TransportSpec("top", k, alpha=0.5))
        for blocks in T.block_groups(model).values():
            specs.append(T.TransportSpec("top", k, blocks=blocks))
        half = num_steps // 2
        specs.append(T.TransportSpec("top", k, steps=tuple(range(half))))
        specs.append(T.TransportSpec("top", k, steps=tuple(range(half, num_steps))))
    specs += T.over_k_specs(ks, outside) + T.carry_specs(max(ks), model.width, outside)
    return list(dict.fromkeys(specs))


def transport_section(ctx: ReportContext) -> Section:
    """The sweep rows (exact schema), the curve over k with the clean random control, what the
    channels carry, the readings, the figures and a strip per pair."""
    model = ctx.model
    stats = calibration_stats(ctx)
    score = stats.score("absmean")
    sz = sizes_of(ctx)
    sources, targets, seeds, inputs = ctx.pairs(sz.transport_pairs)
    # 10 Euler steps (the default is 20) keep the sweep inside the report's time budget
    num_steps = min(sz.transport_num_steps or model.default_steps, model.default_steps)
    ks = list(curve_ks(ctx, sz.transport_ks))
    outside = clean_random_outside(ks, model.width)
    k = T.DEFAULT_K if T.DEFAULT_K in ks else min(ks)
    specs = transport_specs(model, ks, outside, k=k, quick=ctx.quick, num_steps=num_steps)
    sw = T.sweep(model, sources, targets, seeds, specs, score, ctx.metrics, baselines=(0.5,), num_steps=num_steps,
                 progress=False)
    res = sw.result
    shown = min(3, len(specs))
    strip = [res.sources, res.targets] + [res.outputs[j] for j in range(shown)] + list(sw.baselines.values())
    labels = ["source", "target"] + [specs[j].label for j in range(shown)] + \
             [f"{a.replace('_', ' ')} {al:g}" for a, al in sw.baselines]
    grid = torch.stack(strip, 1).reshape(-1, *res.sources.shape[1:])  # rows = pairs, columns = settings
    images = [(f"each row a pair; columns: {'; '.join(labels)}", image_data_uri(grid, cols=len(strip)))]
    rows = sw.rows()
    ov = T.over_k(sw, ks)
    carried = T.carry(sw, max(ks), model.width)
    massive = stats.massive_set_size()
    # the curve first (where the claim holds), then what the channels carry, then one k in detail
    text = "\n".join(t for t in (readings.transport_over_k(ov), readings.transport_carry(carried) if carried else "",
                                  readings.transport(rows, k=k)) if t)
    if res.mask_at:
        text += (f" ({len(sources)} pairs, {res.clean.num_steps} steps; the spatial mask is the source's, read at "
                 f"block {res.mask_at[0]}, step {res.mask_at[1]}.)")
    results = {"rows": rows, "over_k": ov, "carry": carried, "random_outside": outside,
               "massive_set_10x_median": massive}
    figures = [adoption_bars(rows.select(k={k, None})), transport_over_k_figure(ov, massive)]
    if carried:
        figures.append(carry_bars(carried))
    return Section(results=results, figures=figures, images=images, text=text, inputs=inputs)


# -- the use cases -------------------------------------------------------------------------------------
#: the world's pair draws of the use cases (fixed, so the report is the same every run)
INTERPOLATION_PAIR_SEED = 777
SUBJECT_TRANSFER_PAIR_SEED = 4242


def use_cases_section(ctx: ReportContext) -> Section:
    """Interpolation numbers and strip, composition, subject transfer."""
    model = ctx.model
    score = calibration_stats(ctx).score("absmean")
    sz = sizes_of(ctx)
    num_steps = min(sz.use_case_num_steps or model.default_steps, model.default_steps)
    results, images, figures, texts = {}, [], [], []
    sources, targets, seeds, pair_note = ctx.pairs(sz.interpolation_pairs, seed=INTERPOLATION_PAIR_SEED)
    inputs = {"interpolation": pair_note}
    it = U.interpolation(model, sources, targets, seeds, by="alpha", points=sz.interpolation_points, score=score,
                         metrics=ctx.metrics, num_steps=num_steps)
    results["interpolation"] = {"by": "alpha", "pairs": [{"source": s, "target": t} for s, t in zip(sources, targets)],
                                "steps": it["clean"].num_steps, "spec": T.TransportSpec().row(), **it["curves"],
                                "end_differences": it["end_differences"]}
    methods = list(it["images"])
    strip = torch.cat([it["images"][name][:, 0] for name in methods])  # rows = methods, columns = alphas
    images.append((f"interpolation of pair 1 ({sources[0]!r} into {targets[0]!r}); rows: "
                   f"{', '.join(methods)}; columns: alpha {', '.join(f'{a:g}' for a in it['x'])}",
                   image_data_uri(strip, cols=len(it["x"]))))
    figures.append(method_lines(dict(it["curves"]), title="Mean source adoption against alpha"))
    texts.append(readings.interpolation(it))
    # composition reads exact attributes; subject transfer also drives the sampler and renders references
    world = model.world
    if world is None or not world.attributes or not ctx.metrics.attributes:
        why = "they need a world with named attributes and metrics that read them; this model has none"
        inputs["composition"] = inputs["subject_transfer"] = {"skipped": True, "why": why}
        return Section(results=results, figures=figures, images=images, text="\n".join(texts), inputs=inputs)
    comp = U.composition(model, per_attribute=sz.composition_per_attribute, spec=T.TransportSpec(), score=score,
                         metrics=ctx.metrics, num_steps=num_steps, attributes=sz.composition_attributes)
    results["composition"] = {"spec": T.TransportSpec().row(), "steps": num_steps, **comp["per_attribute"]}
    inputs["composition"] = {
        "pairs_from": "model.world.caption_pairs(differ=(attribute,))",
        "why": "each pair must differ in exactly one named attribute, which only the world can guarantee",
        "pairs": [{"source": p.source, "target": p.target} for p in comp["pairs"]]}
    r = comp["result"]
    images.append(("composition, one pair per attribute; columns: source, target, transported",
                   image_data_uri(torch.stack([r.sources, r.targets, r.outputs[0]], 1).reshape(-1, *r.sources.shape[1:])
                                [: 3 * (len(comp["per_attribute"]))], cols=3)))
    texts.append(readings.composition(comp))
    st = U.subject_transfer_demo(model, n=sz.subject_references, score=score, metrics=ctx.metrics,
                                 num_steps=4 if ctx.quick else model.default_steps, seed=SUBJECT_TRANSFER_PAIR_SEED)
    inv, tr, m = st["inversion"], st["transfer"], st["measure"]
    rr = lambda v: None if v is None else round(float(v), 4)  # noqa: E731
    results["subject_transfer"] = {
        "inversion": {"steps": inv.num_steps, "guidance": inv.guidance, "mse": rr(inv.mse), "psnr": rr(inv.psnr),
                      "per_reference_mse": [rr(v) for v in inv.per_image_mse],
                      "median_mse": rr(float(np.median(inv.per_image_mse))) if inv.per_image_mse else None,
                      "mse_ci": (bootstrap_mean(inv.per_image_mse).summary()["ci"] if inv.per_image_mse else None),
                      "n": len(inv.per_image_mse), "prompt": "caption"},
        "spec": tr.spec.row(), "guidance": tr.guidance,
        "carried": {a: rr(v) for a, v in m["carried"].items()}, "carried_ci": m["carried_ci"],
        "kept": {a: rr(v) for a, v in m["kept"].items()}, "kept_ci": m["kept_ci"],
        "stable": rr(m["stable"]), "stable_ci": m["stable_ci"],
        "iou_reference": rr(m["iou_reference"]), "iou_clean": rr(m["iou_clean"]),
        "n": m["n"], "references": [p.source for p in st["pairs"]], "captions": [p.target for p in st["pairs"]]}
    inputs["subject_transfer"] = {
        "pairs_from": f"model.world.caption_pairs (draw {SUBJECT_TRANSFER_PAIR_SEED})",
        "why": "the reference images are drawn by the world's renderer, which needs its own complete captions",
        "pairs": [{"reference": p.source, "caption": p.target} for p in st["pairs"]]}
    grid = torch.stack([inv.reference, inv.reconstruction, tr.clean, tr.output], 1).reshape(-1, *inv.reference.shape[1:])
    images.append(("subject transfer; columns: reference, its reconstruction from the inverted noise, "
                   "the new caption, the new caption with the reference's channels", image_data_uri(grid, cols=4)))
    texts.append(readings.subject_transfer(inv, m))
    return Section(results=results, figures=figures, images=images, text="\n".join(texts), inputs=inputs)


# -- the table -----------------------------------------------------------------------------------------
@dataclass(frozen=True)
class SectionSpec:
    """One row of the table: the section's key, its heading and its builder."""

    name: str
    title: str
    build: Callable[[ReportContext], Section]


#: every section of the report, in page order ("model" always runs: later sections reuse its images)
SECTIONS: tuple[SectionSpec, ...] = (
    SectionSpec("model", "The model and its images", model_section),
    SectionSpec("massive", "Massive channels, per block", massive_section),
    SectionSpec("critical", "Claim 1: are the massive channels critical? (the disruption probe)", critical_section),
    SectionSpec("spatial", "Spatial: clustering tokens on the massive channels finds the subject", spatial_section),
    SectionSpec("transport", "Transferable: activation transport", transport_section),
    SectionSpec("use_cases", "Use cases: prompt interpolation and subject transfer", use_cases_section),
    SectionSpec("training", "The claims across training: do they strengthen as the outliers grow?", training_section),
)


def names() -> list[str]:
    """The section keys, in page order."""
    return [s.name for s in SECTIONS]


def spec(name: str) -> SectionSpec:
    """The table row of one section.

    Raises:
        ValueError naming the sections.
    """
    for s in SECTIONS:
        if s.name == name:
            return s
    raise ValueError(f"unknown section {name!r}; available: {names()}")


def build(name: str, ctx: ReportContext) -> Section:
    """Run one section's builder (exceptions propagate; ``reproduce`` records them).

    Args:
        name: a key of ``SECTIONS``.
        ctx: the report's context.
    Returns:
        the ``Section``, its name and title taken from the table.
    """
    row = spec(name)
    s = row.build(ctx)
    s.name, s.title = row.name, row.title
    return s
