"""The two use cases of claim 3, training-free.

1. Text-conditioned transport: a prompt-interpolation strip between two captions, by alpha
   (0..1) or by the number of transported blocks (0..all), beside the two baselines (pixel
   blend, text-embedding interpolation); and composition: source and target differ in ONE
   attribute, does the output take that attribute and keep the rest?
2. Image-conditioned transport: subject transfer from a reference image (inverted to noise,
   its trajectory recorded, its massive channels transported inside its subject mask into
   a new caption's generation): which of the reference's attributes the output carries,
   which of the new caption's it keeps.
"""
from __future__ import annotations

from dataclasses import replace
from typing import Sequence

import numpy as np
import torch

from ..models import require_sampler
from ..world import world_of
from . import inversion as inv_mod
from .transport import (TransportSpec, check_pairs, clean_pass, default_mask_at, embedding_lerp,
                        measure, pixel_blend, transport)

METHODS = ("transport", "pixel_blend", "embedding_lerp")


def mean_adoption(m: dict) -> float | None:
    vals = [v for v in m["source_adoption"].values() if v is not None]
    return float(np.mean(vals)) if vals else None


def _point(x_name: str, x, m: dict) -> dict:
    r = lambda v: None if v is None else round(float(v), 4)  # noqa: E731
    return {x_name: x, "source_adoption": {a: r(v) for a, v in m["source_adoption"].items()},
            "mean_adoption": r(mean_adoption(m)), "target_preservation": r(m["target_preservation"]),
            "pixel_mse_to_target": r(m["pixel_mse_to_target"])}


# -- use case 1: interpolation ------------------------------------------------------------
def interpolation(model, sources, targets, seeds=0, by: str = "alpha", points: int = 5,
                  spec: TransportSpec = TransportSpec(), score: torch.Tensor | None = None, metrics=None,
                  steps: int | None = None, baselines: bool = True, clean=None, progress: bool = False) -> dict:
    """Interpolate targets toward sources.

    by="alpha": alpha = 0, 1/(points-1), ..., 1 (spec's other settings kept);
    by="blocks": transport at the first j blocks, j = 0..all (alpha = spec.alpha); the
    baselines use alpha = j / num_blocks.
    The alpha = 0 / j = 0 column is the clean target (transport at alpha 0 is the target bit
    for bit), and the embedding lerp's endpoints are the clean target and source (lerp
    weights 0 and 1 return one embedding exactly), so they are not sampled again.
    Returns images per method (points, n, 3, H, W), the x values and measurements."""
    from ..metrics import metrics_for

    if by not in ("alpha", "blocks"):
        raise ValueError(f"unknown by={by!r}; interpolate by 'alpha' or 'blocks'")
    sources, targets, seeds = check_pairs(sources, targets, seeds)
    metrics = metrics or metrics_for(model)
    nb = model.num_blocks
    if by == "alpha":
        if not isinstance(points, int) or points < 2:
            raise ValueError(f"points {points!r} out of range: at least 2 (alpha 0 and 1)")
        xs = [i / (points - 1) for i in range(points)]
        alphas = xs
        specs = [replace(spec, alpha=a) for a in xs[1:]]
    else:
        xs = list(range(nb + 1))
        alphas = [j / nb for j in xs]
        specs = [replace(spec, blocks=tuple(range(j))) for j in xs[1:]]
    need_mask = spec.mask != "none"
    steps_ = clean.steps if clean is not None else (model.default_steps if steps is None else steps)
    mask_at = default_mask_at(model, steps_)
    if clean is None:
        clean = clean_pass(model, sources, targets, seeds, steps=steps_, keep=(mask_at,) if need_mask else (),
                           progress=progress)
    res = transport(model, sources, targets, seeds, specs, score=score, clean=clean, mask_at=mask_at, progress=progress)
    images = {"transport": torch.cat([clean.target_images[None], res.outputs])}
    if baselines:
        images["pixel_blend"] = torch.stack([pixel_blend(clean.source_images, clean.target_images, a) for a in alphas])
        inner = [a for a in alphas if 0 < a < 1]
        try:
            lerp = embedding_lerp(model, sources, targets, seeds, inner, steps=clean.steps, guidance=clean.guidance) \
                if inner else torch.empty(0, *clean.target_images.shape)
            it = iter(lerp)
            images["embedding_lerp"] = torch.stack([clean.target_images if a == 0 else clean.source_images if a == 1
                                                    else next(it) for a in alphas])
        except NotImplementedError:
            pass
    x_name = "alpha" if by == "alpha" else "blocks"
    curves = {name: [_point(x_name, x, measure(metrics, clean.source_images, clean.target_images, imgs))
                     for x, imgs in zip(xs, ims)] for name, ims in images.items()}
    if by == "blocks":
        for name in curves:
            if name != "transport":
                for p, a in zip(curves[name], alphas):
                    p["alpha"] = round(a, 4)
    return {"by": by, "x": xs, "alphas": alphas, "images": images, "curves": curves, "clean": clean, "spec": spec,
            "sources": sources, "targets": targets, "seeds": seeds}


def interpolation_reading(res: dict) -> str:
    """Sentences from an interpolation's numbers: where transport lands against the baselines."""
    def pct(v):
        return "n/a" if v is None else f"{100 * v:.0f}%"

    cur = res["curves"]
    t = cur["transport"]
    mid = len(t) // 2
    text = (f"Transport by {res['by']}: mean source adoption goes {pct(t[0]['mean_adoption'])} -> "
            f"{pct(t[mid]['mean_adoption'])} -> {pct(t[-1]['mean_adoption'])} from the first to the middle to the last "
            f"point, target preservation {pct(t[0]['target_preservation'])} -> {pct(t[-1]['target_preservation'])}.")
    for name in ("pixel_blend", "embedding_lerp"):
        if name in cur:
            c = cur[name]
            text += (f" {name.replace('_', ' ')}: adoption {pct(c[mid]['mean_adoption'])} at the middle point, "
                     f"{pct(c[-1]['mean_adoption'])} at the end.")
    ends = [cur[n][-1]["mean_adoption"] for n in cur if n != "transport" and cur[n][-1]["mean_adoption"] is not None]
    if t[-1]["mean_adoption"] is not None and ends:
        if t[-1]["mean_adoption"] < min(ends) - 0.1:
            text += (" At full strength transport takes less of the source than the baselines: it moves some attributes "
                     "and keeps others, not the whole prompt.")
        elif t[-1]["mean_adoption"] >= max(ends) - 0.1:
            text += " At full strength transport takes about as much of the source as the baselines."
    return text


# -- use case 1b: composition ---------------------------------------------------------------
def composition(model, attributes: Sequence[str] | None = None, per_attribute: int = 2, seeds=0,
                spec: TransportSpec = TransportSpec(), score: torch.Tensor | None = None, metrics=None,
                steps: int | None = None, seed: int | None = None, progress: bool = False) -> dict:
    """Toy world: for each attribute, pairs whose captions differ in that attribute only;
    transport and read whether the output takes it (adoption) and keeps the rest
    (attribute agreement on the shared attributes, mask IoU). One batched pass for all."""
    from ..metrics import metrics_for

    world = getattr(model, "world", None)
    if world is None or not world.attributes:
        raise NotImplementedError("composition pairs vary named attributes of the model's world (model.world."
                                  "attributes), and this model's world has none: the toy model only")
    metrics = metrics or metrics_for(model)
    attributes = tuple(world.attributes if attributes is None else attributes)
    pairs, owner = [], []
    for i, a in enumerate(attributes):
        ps = world.caption_pairs(per_attribute, differ=(a,), seed=(world.evaluation_seed + 31 * (i + 1)) if seed is None
                                 else seed + i)
        pairs += ps
        owner += [a] * len(ps)
    sources, targets = [p.source for p in pairs], [p.target for p in pairs]
    if isinstance(seeds, (int, np.integer)):
        seeds = [int(seeds) + i for i in range(len(pairs))]
    steps_ = model.default_steps if steps is None else steps
    mask_at = default_mask_at(model, steps_)
    res = transport(model, sources, targets, seeds, spec, score=score, steps=steps_, mask_at=mask_at, progress=progress)
    owner = np.array(owner)
    per = {}
    for a in attributes:
        idx = np.flatnonzero(owner == a)
        m = measure(metrics, res.sources[idx], res.targets[idx], res.outputs[0][idx])
        r = lambda v: None if v is None else round(float(v), 4)  # noqa: E731
        per[a] = {"adoption": r(m["source_adoption"].get(a)), "differing_pairs": m["differing_pairs"].get(a, 0),
                  "attribute_agreement": r(m["attribute_agreement"]), "mask_iou": r(m["mask_iou"]),
                  "target_preservation": r(m["target_preservation"]), "pairs": int(len(idx))}
    return {"per_attribute": per, "pairs": pairs, "result": res, "spec": spec}


def composition_reading(comp: dict) -> str:
    def pct(v):
        return "n/a" if v is None else f"{100 * v:.0f}%"

    per = comp["per_attribute"]
    good = [a for a, v in per.items() if v["adoption"] is not None and v["adoption"] >= 0.5
            and (v["target_preservation"] or 0) >= 0.5]
    text = ("Composition (source and target differ in one attribute): " +
            "; ".join(f"{a}: taken {pct(v['adoption'])}, rest kept {pct(v['target_preservation'])}"
                      for a, v in per.items()) + ".")
    text += (f" One attribute can be taken while keeping the rest for: {', '.join(good)}." if good else
             " No attribute is taken from the source in most pairs while keeping the rest.")
    return text


# -- use case 2: subject transfer from an image -------------------------------------------------
def subject_transfer_demo(model, n: int = 3, spec: TransportSpec = TransportSpec(mask="source"), score: torch.Tensor | None = None,
                          metrics=None, steps: int | None = None, invert_with_caption: bool = True,
                          guidance: float | None = None, seed: int | None = None) -> dict:
    """Toy world: n rendered reference scenes, each with a new caption that differs in some
    attributes; invert, record, transfer, measure. Returns the inversion, the transfer and
    the measurement."""
    from ..metrics import metrics_for

    require_sampler(model, "subject transfer from an image")
    world = world_of(model, "reference scenes: render or load references and call inversion.invert_and_record")
    metrics = metrics or metrics_for(model)
    pairs = world.caption_pairs(n, per_pair=3, seed=seed if seed is not None else 4242)
    refs, ref_caps = world.render_references([p.source for p in pairs])
    inv = inv_mod.invert_and_record(model, refs, ref_caps if invert_with_caption else None, steps=steps)
    tr = inv_mod.subject_transfer(model, inv, [p.target for p in pairs], spec, score=score, guidance=guidance)
    m = inv_mod.measure_transfer(metrics, inv.reference, tr.clean, tr.output)
    return {"inversion": inv, "transfer": tr, "measure": m, "pairs": pairs}


# -- the report -----------------------------------------------------------------------------
def report_section(ctx):
    """Section("use_cases"): interpolation numbers and strip, composition, subject transfer."""
    from ..plots.common import png_data_uri
    from ..plots.transport import method_lines
    from ..report import Section, calibration_stats

    model = ctx.model
    score = calibration_stats(ctx).score("absmean")
    quick = ctx.quick
    steps = 4 if quick else min(10, model.default_steps)
    results, images, figures, texts = {}, [], [], []
    if model.world is not None:
        pairs = model.world.caption_pairs(1 if quick else 2, seed=777)
        sources, targets = [p.source for p in pairs], [p.target for p in pairs]
    else:
        if len(ctx.prompts) < 2:
            raise ValueError("the use-cases section needs at least two prompts")
        sources, targets = ctx.prompts[1:2], ctx.prompts[:1]
    seeds = [ctx.seeds[i % len(ctx.seeds)] for i in range(len(sources))]
    it = interpolation(model, sources, targets, seeds, by="alpha", points=3 if quick else 5, score=score,
                       metrics=ctx.metrics, steps=steps)
    results["interpolation"] = {"by": "alpha", "pairs": [{"source": s, "target": t} for s, t in zip(sources, targets)],
                                "steps": it["clean"].steps, "spec": TransportSpec().row(), **it["curves"]}
    methods = list(it["images"])
    strip = torch.cat([it["images"][name][:, 0] for name in methods])  # rows = methods, columns = alphas
    images.append((f"interpolation of pair 1 ({sources[0]!r} into {targets[0]!r}); rows: "
                   f"{', '.join(methods)}; columns: alpha {', '.join(f'{a:g}' for a in it['x'])}",
                   png_data_uri(strip, cols=len(it["x"]))))
    figures.append(method_lines({k: v for k, v in it["curves"].items()}, title="Mean source adoption against alpha"))
    texts.append(interpolation_reading(it))
    # composition reads exact attributes; subject transfer also drives the sampler and renders references
    if model.world is not None and model.world.attributes and ctx.metrics.attributes:
        comp = composition(model, per_attribute=1 if quick else 2, spec=TransportSpec(), score=score,
                           metrics=ctx.metrics, steps=steps,
                           attributes=("position",) if quick else None)
        results["composition"] = {"spec": TransportSpec().row(), "steps": steps, **comp["per_attribute"]}
        r = comp["result"]
        images.append(("composition, one pair per attribute; columns: source, target, transported",
                       png_data_uri(torch.stack([r.sources, r.targets, r.outputs[0]], 1).reshape(-1, *r.sources.shape[1:])
                                    [: 3 * (len(comp["per_attribute"]))], cols=3)))
        texts.append(composition_reading(comp))
        st = subject_transfer_demo(model, n=1 if quick else 3, score=score, metrics=ctx.metrics,
                                   steps=4 if quick else model.default_steps)
        inv, tr, m = st["inversion"], st["transfer"], st["measure"]
        rr = lambda v: None if v is None else round(float(v), 4)  # noqa: E731
        results["subject_transfer"] = {
            "inversion": {"steps": inv.steps, "guidance": inv.guidance, "mse": rr(inv.mse), "psnr": rr(inv.psnr),
                          "prompt": "caption"},
            "spec": tr.spec.row(), "guidance": tr.guidance,
            "carried": {a: rr(v) for a, v in m["carried"].items()}, "kept": {a: rr(v) for a, v in m["kept"].items()},
            "stable": rr(m["stable"]), "iou_reference": rr(m["iou_reference"]), "iou_clean": rr(m["iou_clean"]),
            "n": m["n"], "references": [p.source for p in st["pairs"]], "captions": [p.target for p in st["pairs"]]}
        grid = torch.stack([inv.reference, inv.reconstruction, tr.clean, tr.output], 1).reshape(-1, *inv.reference.shape[1:])
        images.append(("subject transfer; columns: reference, its reconstruction from the inverted noise, "
                       "the new caption, the new caption with the reference's channels", png_data_uri(grid, cols=4)))
        texts.append(inv_mod.transfer_reading(inv, m))
    return Section("use_cases", "Use cases: prompt interpolation and subject transfer", results, figures=figures,
                   images=images, text=" ".join(texts))
