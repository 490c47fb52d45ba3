"""The two use cases of claim 3, training-free.

1. Text-conditioned transport: a prompt-interpolation strip between two captions, by alpha
   (0..1) or by the number of transported blocks (0..all), beside the two baselines (pixel
   blend, text-embedding interpolation); and composition: source and target differ in ONE
   attribute, does the output take that attribute and keep the rest?
2. Image-conditioned transport: subject transfer from a reference image (inverted to noise,
   its trajectory recorded, its massive channels transported inside its subject mask into
   a new caption's generation): which of the reference's attributes the output carries,
   which of the new caption's it keeps.

The method only: the sentences are ``massact.readings.interpolation(res)``,
``.composition(comp)`` and ``.subject_transfer(inversion, measure)``; the report's
section is ``massact.report.sections``.
"""
from __future__ import annotations

from typing import Sequence

import numpy as np
import torch

from .. import stats
from ..models import require_sampler
from ..world import world_of
from . import inversion as inv_mod
from .results import interval, rounded, significant, summary_of
from .transport import (TransportSpec, check_pairs, clean_pass, default_mask_at, embedding_lerp, measure, pixel_blend,
                        transport)

METHODS = ("transport", "pixel_blend", "embedding_lerp")


def mean_adoption(m: dict) -> float | None:
    vals = [v for v in m["source_adoption"].values() if v is not None]
    return float(np.mean(vals)) if vals else None


def _adoption_table(m: dict) -> np.ndarray | None:
    """(pairs, attributes): 1 where the output took the source's value, 0 where not, NaN where
    the pair's source and target agree; None when the metrics read no attribute."""
    cols = list(m.get("per_pair", {}).get("source_adoption", {}).values())
    return np.stack([np.asarray(c, dtype=float) for c in cols], axis=1) if cols else None


def _point(x_name: str, x, m: dict) -> dict:
    """One measured point of a curve: its numbers, ``n`` (pairs) and the 95% bootstrap interval
    over the pairs of each (``<name>_ci``; mean adoption's resamples whole pairs and averages
    each attribute over the resampled pairs that differ in it)."""
    pp = m.get("per_pair", {})
    table = _adoption_table(m)
    mean_est = None if table is None else stats.bootstrap_statistic(table, stats.macro_mean)
    return {x_name: x, "n": int(m["n"]), "source_adoption": rounded(m["source_adoption"], 4),
            "mean_adoption": rounded(mean_adoption(m), 4), "mean_adoption_ci": interval(mean_est, 4),
            "target_preservation": rounded(m["target_preservation"], 4),
            "target_preservation_ci": interval(summary_of(pp.get("target_preservation")), 4),
            "pixel_mse_to_target": significant(m["pixel_mse_to_target"]),
            "pixel_shift": rounded(m.get("pixel_shift"), 4),
            "pixel_shift_ci": interval(summary_of(pp.get("pixel_shift")), 4)}


def end_differences(measures: dict[str, dict]) -> dict:
    """Transport against each baseline at the same point, paired over the same pairs.

    Args:
        measures: method -> ``transport.measure(...)`` of one point (e.g. alpha = 1).
    Returns:
        {baseline: {"metric", "mean", "ci", "n"}}: transport minus the baseline, on mean
        adoption where the metrics read attributes, else on pixel shift (None where neither
        is measured).
    """
    t = measures["transport"]
    out = {}
    for name, m in measures.items():
        if name == "transport":
            continue
        ta, ba = _adoption_table(t), _adoption_table(m)
        if ta is not None and ba is not None:
            both = np.concatenate([ta, ba], axis=1)
            na = ta.shape[1]
            est = stats.bootstrap_statistic(
                both, lambda v, na=na: stats.macro_mean(v[..., :na]) - stats.macro_mean(v[..., na:]))
            metric = "mean_adoption"
        else:
            a = np.asarray(t["per_pair"]["pixel_shift"], float) - np.asarray(m["per_pair"]["pixel_shift"], float)
            est, metric = summary_of(a), "pixel_shift"
        out[name] = None if est is None else {"metric": metric, **est.summary()}
    return out


# -- use case 1: interpolation ------------------------------------------------------------
def interpolation(model, sources, targets, seeds=0, by: str = "alpha", points: int = 5,
                  spec: TransportSpec = TransportSpec(), score: torch.Tensor | None = None, metrics=None,
                  num_steps: int | None = None, baselines: bool = True, clean=None, progress: bool = False) -> dict:
    """Interpolate targets toward sources.

    by="alpha": alpha = 0, 1/(points-1), ..., 1 (spec's other settings kept);
    by="blocks": transport at the first j blocks, j = 0..all (alpha = spec.alpha); the
    baselines use alpha = j / num_blocks.
    The alpha = 0 / j = 0 column is the clean target (transport at alpha 0 is the target bit
    for bit), and the embedding lerp's endpoints are the clean target and source (lerp
    weights 0 and 1 return one embedding exactly), so they are not sampled again.

    Args:
        model, sources, targets, seeds: the pairs (``transport.clean_pass``).
        by: "alpha" or "blocks"; points: alpha points (by="alpha").
        spec: the transport setting the strip varies.
        score: calibration scores (blocks, channels).
        metrics: the model's metrics (None: ``model.metrics()``).
        num_steps: sampler steps (None: the clean pass's, or the model's default).
        baselines: also the pixel blend and (where the model exposes its sampler) the
          embedding lerp.
        clean: a ``clean_pass`` of the pair to reuse.
    Returns:
        {"by", "x", "alphas", "images" (per method (points, n, 3, H, W)), "curves" (per
        method, one measured point per x, ``_point``: with ``n`` and ``<metric>_ci``),
        "end_differences" (transport minus each baseline at the last point, ``end_differences``),
        "clean", "spec", "sources", "targets", "seeds"}.
    """
    if by not in ("alpha", "blocks"):
        raise ValueError(f"unknown by={by!r}; interpolate by 'alpha' or 'blocks'")
    sources, targets, seeds = check_pairs(sources, targets, seeds)
    metrics = metrics or model.metrics()
    nb = model.num_blocks
    if by == "alpha":
        if not isinstance(points, int) or points < 2:
            raise ValueError(f"points {points!r} out of range: at least 2 (alpha 0 and 1)")
        xs = [i / (points - 1) for i in range(points)]
        alphas = xs
        specs = [spec.replace(alpha=a) for a in xs[1:]]
    else:
        xs = list(range(nb + 1))
        alphas = [j / nb for j in xs]
        specs = [spec.replace(blocks=tuple(range(j))) for j in xs[1:]]
    need_mask = spec.mask != "none"
    num_steps = clean.num_steps if clean is not None else (model.default_steps if num_steps is None else num_steps)
    mask_at = default_mask_at(model, num_steps)
    if clean is None:
        clean = clean_pass(model, sources, targets, seeds, num_steps=num_steps, keep=(mask_at,) if need_mask else (),
                           progress=progress)
    res = transport(model, sources, targets, seeds, specs, score=score, clean=clean, mask_at=mask_at, progress=progress)
    images = {"transport": torch.cat([clean.target_images[None], res.outputs])}
    if baselines:
        images["pixel_blend"] = torch.stack([pixel_blend(clean.source_images, clean.target_images, a) for a in alphas])
        inner = [a for a in alphas if 0 < a < 1]
        try:
            lerp = embedding_lerp(model, sources, targets, seeds, inner, num_steps=clean.num_steps,
                                  guidance=clean.guidance) \
                if inner else torch.empty(0, *clean.target_images.shape)
            it = iter(lerp)
            images["embedding_lerp"] = torch.stack([clean.target_images if a == 0 else clean.source_images if a == 1
                                                    else next(it) for a in alphas])
        except NotImplementedError:
            pass
    x_name = "alpha" if by == "alpha" else "blocks"
    measures = {name: [measure(metrics, clean.source_images, clean.target_images, imgs) for imgs in ims]
                for name, ims in images.items()}
    curves = {name: [_point(x_name, x, m) for x, m in zip(xs, ms)] for name, ms in measures.items()}
    if by == "blocks":
        for name in curves:
            if name != "transport":
                for p, a in zip(curves[name], alphas):
                    p["alpha"] = round(a, 4)
    return {"by": by, "x": xs, "alphas": alphas, "images": images, "curves": curves,
            "end_differences": end_differences({name: ms[-1] for name, ms in measures.items()}),
            "clean": clean, "spec": spec, "sources": sources, "targets": targets, "seeds": seeds}


# -- use case 1b: composition ---------------------------------------------------------------
def composition(model, attributes: Sequence[str] | None = None, per_attribute: int = 2, seeds=0,
                spec: TransportSpec = TransportSpec(), score: torch.Tensor | None = None, metrics=None,
                num_steps: int | None = None, seed: int | None = None, progress: bool = False) -> dict:
    """For each attribute of the model's world, pairs whose captions differ in that attribute
    only; transport and read whether the output takes it (adoption) and keeps the rest
    (attribute agreement on the shared attributes, mask IoU). One batched pass for all.

    Args:
        model: a model whose world names attributes (the toy).
        attributes: the attributes to test (None: all of the world's).
        per_attribute: pairs per attribute.
        seeds: one seed per pair, or an int (pair i then uses seeds + i).
        spec, score, metrics, num_steps: as in ``interpolation``.
        seed: the pair draw (None: the world's evaluation stream, offset per attribute).
    Returns:
        {"per_attribute": {attribute: {"adoption", "adoption_ci", "differing_pairs",
        "attribute_agreement", "mask_iou", "target_preservation", "target_preservation_ci",
        "pairs", "n"}}, "pairs", "result", "spec"} (intervals: 95% bootstrap over the pairs;
        adoption's over the pairs that differ in the attribute as the metrics read them).
    """
    world = getattr(model, "world", None)
    if world is None or not world.attributes:
        raise NotImplementedError("composition pairs vary named attributes of the model's world (model.world."
                                  "attributes), and this model's world has none: the toy model only")
    metrics = metrics or model.metrics()
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
    num_steps = model.default_steps if num_steps is None else num_steps
    mask_at = default_mask_at(model, num_steps)
    res = transport(model, sources, targets, seeds, spec, score=score, num_steps=num_steps, mask_at=mask_at,
                    progress=progress)
    owner = np.array(owner)
    per = {}
    for a in attributes:
        idx = np.flatnonzero(owner == a)
        m = measure(metrics, res.sources[idx], res.targets[idx], res.outputs[0][idx])
        pp = m.get("per_pair", {})
        per[a] = {"adoption": rounded(m["source_adoption"].get(a), 4),
                  "adoption_ci": interval(summary_of(pp.get("source_adoption", {}).get(a)), 4),
                  "differing_pairs": m["differing_pairs"].get(a, 0),
                  "attribute_agreement": rounded(m["attribute_agreement"], 4), "mask_iou": rounded(m["mask_iou"], 4),
                  "target_preservation": rounded(m["target_preservation"], 4),
                  "target_preservation_ci": interval(summary_of(pp.get("target_preservation")), 4),
                  "pairs": int(len(idx)), "n": int(len(idx))}
    return {"per_attribute": per, "pairs": pairs, "result": res, "spec": spec}


# -- use case 2: subject transfer from an image -------------------------------------------------
def subject_transfer_demo(model, n: int = 3, spec: TransportSpec = TransportSpec(mask="source"), score: torch.Tensor | None = None,
                          metrics=None, num_steps: int | None = None, invert_with_caption: bool = True,
                          guidance: float | None = None, seed: int | None = None) -> dict:
    """n reference scenes drawn by the model's world, each with a new caption that differs in
    some attributes; invert, record, transfer, measure.

    Args:
        model: a model that exposes its sampler and whose world renders references (the toy).
        n: how many references.
        spec, score, metrics: as in ``interpolation`` (spec.mask "source": inside the
          reference's subject).
        num_steps: inversion and sampling steps (None: the model's default).
        invert_with_caption: invert with the reference's caption (else the empty prompt).
        guidance: the new captions' guidance (None: the model's default).
        seed: the pair draw (None: 4242).
    Returns:
        {"inversion", "transfer", "measure", "pairs"}.
    """
    require_sampler(model, "subject transfer from an image")
    world = world_of(model, "reference scenes: render or load references and call inversion.invert_and_record")
    metrics = metrics or model.metrics()
    pairs = world.caption_pairs(n, per_pair=3, seed=seed if seed is not None else 4242)
    refs, ref_caps = world.render_references([p.source for p in pairs])
    inv = inv_mod.invert_and_record(model, refs, ref_caps if invert_with_caption else None, num_steps=num_steps)
    tr = inv_mod.subject_transfer(model, inv, [p.target for p in pairs], spec, score=score, guidance=guidance)
    m = inv_mod.measure_transfer(metrics, inv.reference, tr.clean, tr.output)
    return {"inversion": inv, "transfer": tr, "measure": m, "pairs": pairs}
