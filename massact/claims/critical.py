"""Claim 1, "critical": the disruption probe.

The paper: zeroing the top-k massive channels of the image stream during generation makes
image quality and prompt alignment collapse; zeroing the k lowest-statistic channels
barely matters. The probe measures it with three arms of equal size per block:

* ``top``: the k channels with the highest statistic,
* ``bottom``: the k channels with the lowest statistic,
* ``random``: k channels drawn uniformly (several seeded draws, reported as mean and std;
  a draw's sets are nested across k, as the top-k sets are).

Channels are ranked per block on a **calibration** set (``calibrate``: prompts and seeds of
their own, statistics over every denoising step), never on the images being judged:
``probe`` refuses evaluation images (prompt, seed) that the calibration saw. The statistic
is ``"absmean"`` = |mean over image tokens| (the paper) or ``"meanabs"`` = mean |x|.

The zeroing acts at chosen blocks (``"all"``, one block, a range) and denoising steps
(``"early"`` = first half, ``"late"`` = second half, ``"all"``, or explicit step numbers).
A ``list`` of such specifications is a sweep: ``blocks=["all", 3]`` runs both.

Metrics come from ``model.metrics()`` only: on the toy world the judge's caption
accuracy (per attribute and mean), the toy FID and the pixel MSE to the clean image of the
same seed; on real models the pixel MSE and, when CLIP weights are available, a CLIP
score. Every row also carries ``detail_ratio``: the high-frequency (Laplacian) energy of the
edited images over that of the clean images (below 1 = detail lost), a pixel statistic
that needs no judge.

Controls that decide between readings (one step past the paper):

* ``ablation=("zero", "mean")``: besides zeroing, *mean ablation* (Sun et al. 2024) sets the
  same channels to their calibration mean at that block and step (``EditSpec("set")``);
  harmless mean ablation with destructive zeroing reads as "bias-like", both destructive as
  "carries information";
* the arm ``"energy"``: random channels outside the top-k (outside the top-``random_outside``
  when given, the same pool as the clean random arm) whose summed squared activation matches the
  top-k's (``massact.ranking.energy_matched``), separating "large" from "special".

Uncertainty: every arm is run on the same (prompt, seed) images, so the result keeps each
metric *per image* (caption score, pixel distance, detail ratio) and gives paired bootstrap
intervals through the one result shape (``massact.claims.results.Results``):
``ProbeResult.estimate("caption_accuracy", arm="top", k=8)`` and ``.difference(metric,
dict(arm="top"), dict(arm="random"), k=8)``; every row of ``table()`` carries ``n`` and
``<metric>_ci``.

One step past the paper (the literature disagrees: this paper reads the channels as
prompt-conditioned semantics, Gan et al. 2025 as timestep-driven local detail):

* ``probe(..., steps=["early", "late"])``: the same zeroing restricted to the early or to the late half of the
  steps, and ``attribute_breakdown``: which attributes break (shape/position vs colour vs
  background/size) and how much detail is lost, per arm and step range;
* ``prompt_independence``: are the top channels the same for every prompt (and every
  seed, and every step)? Jaccard overlap of per-prompt, per-seed and per-step top-k sets
  with the pooled ranking, against the overlap two random k-sets would have.

This module is the method only: the sentences built from its results are
``massact.readings.critical(result, ...)`` and its part of the report is
``massact.report.sections``.
"""
from __future__ import annotations

import warnings
from itertools import combinations
from typing import Sequence

import numpy as np
import torch

from .. import calibration as _calibration
from ..calibration import Calibration, check_separation
from ..channel_stats import STATISTICS, ChannelStats
from ..checks import is_int as _is_int
from ..generation import generate, normalise_seeds
from ..metrics import Metrics
from ..ranking import ALL_ARMS
from ..specs import CaptureSpec
from ..selection import (ARMS, NAMED, Selection, blocks_label, parse_channels, resolve_blocks,  # noqa: F401
                         resolve_steps, steps_label)
from ..world import world_of
from .results import Results
from .rows import Rows

DEFAULT_KS = (1, 2, 4, 8, 16)
DEFAULT_DRAWS = 3
#: the toy world's attributes, grouped by what they are about (used by attribute_breakdown)
ATTRIBUTE_GROUPS = {"shape/position": ("shape", "position"), "colour": ("color",),
                    "background/size": ("background", "size")}
#: the metric columns of a row (None where the model's metrics do not provide one)
METRICS = ("caption_accuracy", "toy_fid", "pixel_mse", "detail_ratio", "clip_score")
#: the metrics measured per image (the paired unit); toy_fid and clip_score are set-level
PER_IMAGE_METRICS = ("caption_accuracy", "pixel_mse", "detail_ratio")
#: how the selected channels are removed: "zero" (the paper) or "mean" (set to the calibration mean)
ABLATIONS = ("zero", "mean")


# -- inputs ------------------------------------------------------------------------------
def check_statistic(statistic: str) -> str:
    if statistic not in STATISTICS:
        raise ValueError(f"unknown statistic {statistic!r}; choose one of {STATISTICS} "
                         "(absmean = |mean over image tokens|, the paper's; meanabs = mean |x|; maxabs = max |x|)")
    return statistic


def check_ablation(ablation) -> tuple[str, ...]:
    """The ablations as a tuple of distinct names from ``ABLATIONS``."""
    ab = (ablation,) if isinstance(ablation, str) else tuple(ablation)
    if not ab:
        raise ValueError(f"no ablation given; choose from {ABLATIONS}")
    for a in ab:
        if not isinstance(a, str) or a not in ABLATIONS:
            raise ValueError(f"unknown ablation {a!r}; choose from {ABLATIONS} (zero = set the channels to 0, "
                             "mean = set them to their calibration mean at that block and step)")
    if len(set(ab)) != len(ab):
        raise ValueError(f"ablation {list(ab)} names one twice")
    return ab


def _as_sweep(spec) -> list:
    """A list is a sweep over specifications; anything else is one specification."""
    return list(spec) if isinstance(spec, list) else [spec]


def _check_prompts(model, prompts) -> list[str]:
    if isinstance(prompts, str):
        raise ValueError("prompts must be a list of strings, e.g. ['a red circle']")
    prompts = list(prompts) if prompts is not None else []
    if not prompts:
        raise ValueError("empty prompt list: give at least one evaluation prompt")
    model.validate_prompts(prompts)
    return prompts


# -- calibration: where channels are ranked (massact.calibration) ------------------------
def default_calibration_prompts(model, n: int = 8) -> list[str]:
    """The model's world's calibration prompts (see ``massact.calibration``)."""
    return _calibration.default_calibration_prompts(model, n)


def default_evaluation_prompts(model, n: int = 8) -> list[str]:
    """The model's world's evaluation prompts (never used for ranking)."""
    return world_of(model, "evaluation prompts: probe(model, calibration, prompts=[...])").evaluation_prompts(n)


# -- metrics ----------------------------------------------------------------------------
_LAPLACE = torch.tensor([[0.0, 1.0, 0.0], [1.0, -4.0, 1.0], [0.0, 1.0, 0.0]])


def detail_energy(images: torch.Tensor) -> torch.Tensor:
    """Per image, mean |Laplacian| of the luminance: high-frequency (edge, texture) energy."""
    x = images.float()
    lum = (0.299 * x[:, 0] + 0.587 * x[:, 1] + 0.114 * x[:, 2])[:, None]
    lap = torch.nn.functional.conv2d(lum, _LAPLACE.view(1, 1, 3, 3))
    return lap.abs().mean(dim=(1, 2, 3))


class _Measurer:
    def __init__(self, metrics: Metrics, prompts: list[str], clean: torch.Tensor):
        self.metrics, self.prompts, self.clean = metrics, prompts, clean
        self.clean_detail = float(detail_energy(clean).mean())
        self.clip_ok = hasattr(metrics, "clip_score")
        self.notes: list[str] = []

    def __call__(self, images: torch.Tensor) -> dict:
        m = self.metrics
        out: dict = {}
        acc = m.caption_accuracy(images, self.prompts)
        out["caption_accuracy"] = None if acc is None else float(acc["mean"])
        if acc is not None:
            for a, v in acc.items():
                if a != "mean":
                    out[f"acc_{a}"] = float(v)
        with warnings.catch_warnings():  # tiny sets give singular covariances (the FID notes say so)
            warnings.simplefilter("ignore")
            fid = m.fid(images) if len(images) >= 2 else None
        out["toy_fid"] = None if fid is None else float(fid)
        out["pixel_mse"] = float(m.pixel_mse(images, self.clean))
        out["detail_ratio"] = float(detail_energy(images).mean()) / max(self.clean_detail, 1e-12)
        clip = None
        if self.clip_ok:
            clip = m.clip_score(images, self.prompts)
            if clip is None:  # no CLIP weights: say so once, then stop asking
                self.clip_ok = False
                self.notes.append(getattr(m, "clip_message", "CLIP score unavailable"))
        out["clip_score"] = None if clip is None else float(clip)
        return out

    def per_image(self, images: torch.Tensor) -> dict[str, np.ndarray]:
        """The per-image metrics (float64 arrays (n,)); their means are the row's values
        (caption accuracy: when every prompt asks for the same number of attributes)."""
        out = {}
        cs = self.metrics.caption_scores(images, self.prompts)
        if cs is not None:
            out["caption_accuracy"] = np.asarray(cs, dtype=np.float64)
        if images.shape == self.clean.shape:
            out["pixel_mse"] = ((images.float() - self.clean.float()) ** 2).mean(dim=(1, 2, 3)).double().numpy()
        out["detail_ratio"] = (detail_energy(images).double() / max(self.clean_detail, 1e-12)).numpy()
        return out


# -- the result -------------------------------------------------------------------------
_KEY = ("arm", "k", "blocks", "steps", "ablation")
#: the condition of the clean images (nothing zeroed)
CLEAN = {"arm": "none", "k": 0, "blocks": "none", "steps": "none", "ablation": "none"}
#: decimals of the rows' values and their intervals in results.json
ROW_DECIMALS = 5


def condition(arm: str, k: int | None = None, blocks: str | None = None, steps: str | None = None,
              ablation: str = "zero") -> dict:
    """The condition of one arm of a probe, as ``ProbeResult.estimate``/``difference`` take it:
    ``CLEAN`` for arm "none", else the given columns (those left None are not constrained)."""
    if arm == "none":
        return dict(CLEAN)
    out = {"arm": arm, "k": k, "blocks": blocks, "steps": steps, "ablation": ablation}
    return {c: v for c, v in out.items() if v is not None}


class ProbeResult(Results):
    """The probe's measurements: one condition per (arm, k, blocks, steps, ablation, draw) plus
    the clean images (``CLEAN``), each with its per-image metrics (``PER_IMAGE_METRICS``, the
    paired unit) and the numbers measured on the whole set (the row's metrics of ``METRICS``
    and ``acc_<attribute>``).

    Every question is the shared ``Results`` one: ``estimate("caption_accuracy", arm="top",
    k=8)``, ``difference("caption_accuracy", condition("none"), condition("top", 8))`` (the drop
    of top-8 against the clean images), ``select(k=8).table()``. ``images`` keys are (arm, k,
    blocks, steps, draw) for zeroing and (arm, k, blocks, steps, draw, "mean") for mean ablation.
    """

    claim = "critical"

    def __init__(self, conditions, per_item, scalars, meta: dict, prompts: Sequence[str], seeds: Sequence[int],
                 images: dict | None = None):
        super().__init__(conditions, per_item, scalars, item="image", meta=meta)
        self.prompts, self.seeds = list(prompts), list(seeds)
        self.images = {} if images is None else images

    def table(self, draws: str = "mean", ndigits: int | None = None) -> Rows:
        """``Results.table`` with ``n_images`` on every row (the set the set-level numbers were measured on)."""
        rows = super().table(draws, ndigits)
        for r in rows:
            r["n_images"] = len(self.prompts)
        return rows

    @property
    def baseline(self) -> dict:
        """The clean images' row of ``table()``."""
        return self.select(**CLEAN).table().first()

    def edited_conditions(self) -> list[tuple]:
        """The distinct (k, blocks, steps) of the edited conditions, in run order."""
        return list(dict.fromkeys((c["k"], c["blocks"], c["steps"]) for c in self._conditions if c["arm"] != "none"))

    def merged(self, other: "ProbeResult") -> "ProbeResult":
        """This probe and another on the same images (same prompts, seeds and clean images),
        as one result: e.g. a dose-response over k beside mean ablation at one k, without
        running the shared conditions twice. Conditions the two share (the clean images, a
        condition run by both) are kept once, from this result.

        Raises:
            ValueError when the two were not run on the same images or steps.
        """
        if not isinstance(other, ProbeResult):
            raise TypeError(f"merged takes a ProbeResult, got {type(other).__name__}")
        same = (self.prompts == other.prompts and list(self.seeds) == list(other.seeds)
                and self.meta["num_steps"] == other.meta["num_steps"]
                and self.meta.get("random_outside", 0) == other.meta.get("random_outside", 0)
                and torch.equal(self.clean_images, other.clean_images))
        if not same:
            raise ValueError("merged needs two probes of the same prompts, seeds, steps, random control and clean images "
                             "(pass baseline_images=first.clean_images to the second probe)")
        key = lambda c: tuple(c.get(col) for col in _KEY + ("draw",))  # noqa: E731
        have = {key(c) for c in self._conditions}
        new = [i for i, c in enumerate(other._conditions) if key(c) not in have]
        meta = dict(self.meta)
        for field_ in ("ks", "arms", "ablations"):
            meta[field_] = list(dict.fromkeys(list(self.meta[field_]) + list(other.meta[field_])))
        meta["draws"] = max(self.meta["draws"], other.meta["draws"])
        return ProbeResult(self._conditions + [other._conditions[i] for i in new],
                           self._per_item + [other._per_item[i] for i in new],
                           self._scalars + [other._scalars[i] for i in new], meta, self.prompts, self.seeds,
                           {**other.images, **self.images})

    @property
    def clean_images(self) -> torch.Tensor:
        return self.images[("none", 0, "none", "none", None)]

    def grid(self, k: int | None = None, blocks: str | None = None, steps: str | None = None, n: int = 4,
             draw: int = 0) -> tuple[torch.Tensor, list[str]]:
        """Images (rows clean / top / bottom / random, n seeds each) for one condition (default:
        the largest k of the first blocks/steps) and the row labels."""
        conds = self.edited_conditions()
        if not conds:
            raise ValueError("the result holds no edited images")
        blocks = conds[0][1] if blocks is None else blocks
        steps = conds[0][2] if steps is None else steps
        ks = [c[0] for c in conds if c[1] == blocks and c[2] == steps]
        if not ks:
            raise ValueError(f"no rows for blocks {blocks!r}, steps {steps!r}; have {sorted({c[1:] for c in conds})}")
        k = max(ks) if k is None else k
        if k not in ks:
            raise ValueError(f"k {k} was not run for blocks {blocks!r}, steps {steps!r}; available: {sorted(ks)}")
        n = min(n, len(self.prompts))
        parts, labels = [self.clean_images[:n]], ["clean"]
        for arm in ALL_ARMS:
            key = (arm, k, blocks, steps, draw if arm in ("random", "energy") else None)
            if key in self.images:
                parts.append(self.images[key][:n])
                labels.append(f"{arm}-{k}" + (f" (draw {draw})" if arm in ("random", "energy") else ""))
        return torch.cat(parts), labels


# -- the probe --------------------------------------------------------------------------
def probe(model, calibration: Calibration, prompts: Sequence[str], seeds=0, ks=DEFAULT_KS, arms=ARMS,
          blocks="all", steps="all", draws: int = DEFAULT_DRAWS, statistic: str = "absmean",
          num_steps: int | None = None, guidance: float | None = None, metrics: Metrics | None = None,
          random_seed: int = 0, baseline_images: torch.Tensor | None = None, batch_rows: int = 32,
          progress: bool = False, ablation=("zero",), random_outside: int = 0, named=()) -> ProbeResult:
    """Zero each arm's k channels per block at ``blocks`` x ``steps`` while generating
    ``prompts`` (one seed each, or one int), and measure against the clean images.

    ks: an int or a sequence (the sweep); arms: subset of ("top", "bottom", "random");
    blocks / steps: one specification (see ``resolve_blocks`` / ``resolve_steps``) or a
    list of them (a sweep); draws: random-arm draws (seeds random_seed + d); num_steps:
    sampler steps (default: the model's); baseline_images: the clean images of exactly
    these prompts and seeds, if already generated. Many edited copies go through one
    ``generate`` call (each zeroing restricted to its rows), ``batch_rows`` rows per call.

    arms may also hold ``"energy"`` (draws like random; the calibration's energies, see
    ``massact.ranking.energy_matched``); ablation: ``"zero"``, ``"mean"`` (set the channels to
    their calibration mean at that block and step: needs a calibration with the same
    num_steps) or both, each arm run with each ablation on the same images.

    random_outside: the random arm draws outside each block's top-``random_outside`` channels
    (0: among all of them, so a draw may hold the massive channels; a curve over k passes its
    largest k, the clean control), and the energy arm matches among the same channels (0:
    outside the top-k; else at least every k the energy arm runs at). Recorded in
    ``meta["random_outside"]``.

    named: the channels of the arm "named" ("98, 32" or a tuple of ints, the same at every
    block; ``Selection(NAMED, named=...)``), run once per blocks and steps beside the other arms
    (its k is the number of channels, whatever ``ks``); arms must hold "named" to run it.

    Each condition's channels and edit are ``Selection(arm, k, blocks, steps, seed=random_seed +
    draw).edit(...)`` ("zero", or "set" to the calibration mean), all built (and so arm, k and
    the seeds checked) before any image is generated.
    """
    prompts = _check_prompts(model, prompts)
    seeds = normalise_seeds(prompts, seeds)
    if not isinstance(calibration, Calibration):
        raise TypeError("calibration must be a Calibration: massact.calibrate(model) (or "
                        "massact.calibrate(model, prompts=[...]))")
    overlap = check_separation(calibration, prompts, seeds)
    num_steps = model.default_steps if num_steps is None else num_steps
    if not _is_int(num_steps) or not 1 <= num_steps <= 1000:
        raise ValueError(f"num_steps {num_steps!r} out of range: 1..1000 sampler steps")
    ks = (ks,) if _is_int(ks) else tuple(ks)  # k, arm and seed are checked by the Selections below
    if not ks:
        raise ValueError(f"no k given; k must be in 1..{model.width} (the number of channels)")
    arms = (arms,) if isinstance(arms, str) else tuple(arms)
    if not arms:
        raise ValueError(f"no arm given; choose from {ALL_ARMS + (NAMED,)}")
    if (NAMED in arms) != bool(named):
        raise ValueError("the arm 'named' runs the channels given as named=(98, 32): give both, or neither")
    ablations = check_ablation(ablation)
    check_statistic(statistic)
    if not _is_int(draws) or draws < 1:
        raise ValueError(f"draws {draws!r} out of range: at least 1 random draw")
    score = calibration.score(statistic)
    if tuple(score.shape) != (model.num_blocks, model.width):
        raise ValueError(f"calibration scores have shape {tuple(score.shape)}; the model has "
                         f"{model.num_blocks} blocks x {model.width} channels")
    energy = calibration.stats.energy() if "energy" in arms else None
    mean_values = None
    if "mean" in ablations:
        mean_values = calibration.stats.channel_mean()
        if mean_values.shape[1] != num_steps:
            raise ValueError(f"mean ablation sets each channel to its calibration mean at that step, but the "
                             f"calibration has {mean_values.shape[1]} steps and the probe runs {num_steps}: "
                             f"calibrate with num_steps={num_steps}")
    block_specs = [(resolve_blocks(b, model.num_blocks), b) for b in _as_sweep(blocks)]
    step_specs = [(resolve_steps(s, num_steps), s) for s in _as_sweep(steps)]
    metrics = model.metrics() if metrics is None else metrics
    n = len(prompts)

    # every condition's edit, named by a Selection (one per arm, k, blocks, steps and draw), before any image
    per_call = max(1, batch_rows // n)
    configs = []  # (row fields, EditSpec on the rows of its place in a generate call)
    for bl, bspec in block_specs:
        for st, sspec in step_specs:
            for j, k in enumerate(ks):
                for arm in arms:
                    if arm == NAMED and j:  # the named channels are one set, whatever k
                        continue
                    for d in (range(draws) if arm in ("random", "energy") else [None]):
                        sel = Selection(arm, None if arm == NAMED else k, blocks=bl, steps="all" if st is None else st,
                                        seed=random_seed + (d or 0),
                                        outside=random_outside if arm in ("random", "energy") else 0,
                                        named=named if arm == NAMED else ())
                        for ab in ablations:
                            fields = {"arm": sel.arm, "k": sel.k, "blocks": blocks_label(bl, model.num_blocks),
                                      "steps": steps_label(sspec, st), "ablation": ab, "draw": d}
                            i = len(configs) % per_call
                            rows_i = range(i * n, (i + 1) * n)
                            edit = (sel.edit(score, num_steps, "zero", rows=rows_i, energy=energy) if ab == "zero"
                                    else sel.edit(score, num_steps, "set", rows=rows_i, values=mean_values,
                                                  energy=energy))
                            configs.append((fields, edit))

    if baseline_images is None:
        baseline_images = generate(model, prompts, seeds, num_steps=num_steps, guidance=guidance).images
    elif tuple(baseline_images.shape[:1]) != (n,):
        raise ValueError(f"baseline_images has {len(baseline_images)} images for {n} prompts")
    measure = _Measurer(metrics, prompts, baseline_images)

    chunks = [configs[i:i + per_call] for i in range(0, len(configs), per_call)]
    from tqdm.auto import tqdm

    images: dict = {("none", 0, "none", "none", None): baseline_images}
    conditions, per_item, scalars = [dict(CLEAN, draw=None)], [measure.per_image(baseline_images)], \
        [measure(baseline_images)]
    for chunk in tqdm(chunks, desc="critical probe", disable=not progress, leave=False):
        g = generate(model, prompts * len(chunk), seeds * len(chunk), num_steps=num_steps, guidance=guidance,
                     edits=[e for _, e in chunk])
        for i, (fields, _) in enumerate(chunk):
            ims = g.images[i * n:(i + 1) * n]
            key = tuple(fields[c] for c in ("arm", "k", "blocks", "steps", "draw"))
            images[key if fields["ablation"] == "zero" else key + (fields["ablation"],)] = ims
            conditions.append(fields)
            per_item.append(measure.per_image(ims))
            scalars.append(measure(ims))
    meta = {"statistic": statistic, "num_steps": num_steps, "guidance": guidance if guidance is not None
            else model.default_guidance, "ks": [int(k) for k in ks], "arms": list(arms), "ablations": list(ablations),
            "draws": draws, **({"named": list(parse_channels(named))} if named else {}),
            "random_seed": random_seed, "random_outside": random_outside, "blocks": [blocks_label(b, model.num_blocks) for b, _ in block_specs],
            "steps": [steps_label(s, st) for st, s in step_specs],
            "step_numbers": {steps_label(s, st): (list(st) if st is not None else "all") for st, s in step_specs},
            "n_images": n, "calibration_prompts": list(calibration.prompts),
            "calibration_seeds": list(calibration.seeds), "overlap_with_calibration": overlap,
            "notes": measure.notes + ["toy FID is biased upwards for small sets: compare rows of equal n_images",
                                      "<metric>_ci: 95% percentile bootstrap interval over the images "
                                      "(massact.stats); caption accuracy per image = caption_scores"]}
    return ProbeResult(conditions, per_item, scalars, meta, prompts, seeds, images)


# -- the signature of a massive channel: does the network need the largest channel? ----------
def top1_ablation(model, calibration: Calibration, prompts: Sequence[str], seeds=0, num_steps: int | None = None,
                  guidance: float | None = None, metrics: Metrics | None = None,
                  baseline_images: torch.Tensor | None = None, progress: bool = False) -> dict:
    """Zero only each block's top-1 channel at every block and step, against setting it to its
    calibration mean, on the same images.

    The signature that separates a FLUX-like model from one that merely has a large channel:
    in language models zeroing the massive activations destroys the output while setting them
    to their mean is harmless (the network needs the channel's constant value, not its
    variation), and the paper reports collapse when FLUX's are zeroed. A model that survives
    both does not need its largest channel.

    Args:
        model: a massact model.
        calibration: the ranking (``massact.calibrate``) with the same ``num_steps`` (mean ablation
          sets each step's calibration mean).
        prompts, seeds: the judged images (disjoint from the calibration's).
        num_steps, guidance, metrics, baseline_images, progress: as in ``probe``.
    Returns:
        a dict: ``n``, ``top_channel`` per block, and for each per-image metric the model's metrics
        provide (``caption_accuracy``, ``pixel_mse``): ``<metric>_zero`` and ``<metric>_mean`` (the
        drop of caption accuracy against the clean images, or the pixel MSE to them) and
        ``<metric>_zero_minus_mean`` (the paired difference: what zeroing costs beyond mean-setting),
        each an ``Estimate`` summary (mean, 95% interval, n).
    """
    res = probe(model, calibration, prompts, seeds, ks=(1,), arms=("top",), ablation=("zero", "mean"),
                num_steps=num_steps, guidance=guidance, metrics=metrics, baseline_images=baseline_images,
                progress=progress)
    score = calibration.score(res.meta["statistic"])
    out: dict = {"k": 1, "n": len(res.prompts), "blocks": "all", "steps": "all", "num_steps": res.meta["num_steps"],
                 "top_channel": [int(c) for c in score.argmax(dim=1)]}
    available = res.metrics
    top = lambda ab: condition("top", 1, ablation=ab)  # noqa: E731
    if "caption_accuracy" in available:
        for ab in ("zero", "mean"):
            out[f"caption_accuracy_{ab}"] = res.difference("caption_accuracy", CLEAN, top(ab)).summary()
        out["caption_accuracy_zero_minus_mean"] = res.difference("caption_accuracy", top("mean"),
                                                                 top("zero")).summary()
    if "pixel_mse" in available:
        for ab in ("zero", "mean"):
            out[f"pixel_mse_{ab}"] = res.estimate("pixel_mse", **top(ab)).summary(6)
        out["pixel_mse_zero_minus_mean"] = res.difference("pixel_mse", top("zero"), top("mean")).summary(6)
    return out


# -- one step past the paper: early vs late, and which attributes break ------------------------
def attribute_breakdown(*results: ProbeResult) -> list[dict]:
    """Per (arm, k, blocks, steps): the drop of each attribute's accuracy against the clean
    images (positive = the attribute breaks), the per-group drops (ATTRIBUTE_GROUPS) and
    the detail loss (1 - detail_ratio). Several results (same prompts) are merged."""
    if not results:
        raise ValueError("give at least one ProbeResult")
    base = results[0].baseline
    attrs = [k[4:] for k in base if k.startswith("acc_")]
    seen, out = set(), []
    for res in results:
        for r in res.table():
            key = tuple(r[c] for c in _KEY)
            if r["arm"] == "none" or key in seen:
                continue
            seen.add(key)
            row = dict(zip(_KEY, key))
            for a in attrs:
                row[f"drop_{a}"] = base[f"acc_{a}"] - r[f"acc_{a}"]
                if r.get(f"acc_{a}_std") is not None:
                    row[f"drop_{a}_std"] = r[f"acc_{a}_std"]
            if base.get("caption_accuracy") is not None:
                row["drop_mean"] = base["caption_accuracy"] - r["caption_accuracy"]
            for g, members in ATTRIBUTE_GROUPS.items():
                m = [row[f"drop_{a}"] for a in members if f"drop_{a}" in row]
                if m:
                    row[f"group_{g}"] = float(np.mean(m))
            row["detail_loss"] = 1.0 - r["detail_ratio"]
            row["pixel_mse"] = r["pixel_mse"]
            out.append(row)
    return out


# -- one step past the paper: are the top channels the same for every prompt? --------------
def _jaccard(a: set, b: set) -> float:
    return len(a & b) / len(a | b) if a | b else 1.0


def chance_jaccard(k: int, width: int) -> float:
    """Expected Jaccard overlap of two independent uniform k-subsets of width channels."""
    # E|A∩B| = k^2 / width; Jaccard ≈ E|A∩B| / (2k - E|A∩B|) (exact enough for a reference line)
    inter = k * k / width
    return inter / (2 * k - inter)


def prompt_independence(model, prompts: Sequence[str] | None = None, seeds: Sequence[int] = (1000, 1001, 1002),
                        k: int = 4, statistic: str = "absmean", num_steps: int | None = None,
                        blocks="all", stats: ChannelStats | None = None) -> dict:
    """Are the top-k channels the same across prompts, seeds and steps?

    Generates every prompt with every seed (rows prompt-major), capturing every step, and
    compares top-k sets per block by Jaccard overlap:

    * ``prompt_vs_pooled``: each prompt (its seeds pooled) against the ranking pooled over all;
    * ``across_prompts``: pairs of different prompts drawn with the same seed;
    * ``across_seeds``: pairs of different seeds of the same prompt (the noise floor);
    * ``step_vs_pooled``: each step's top-k (rows pooled) against the all-steps ranking;
    * ``chance``: two random k-sets.

    Prompt-independent channels: prompt_vs_pooled near 1 and across_prompts about equal to
    across_seeds; prompt-conditioned: across_prompts clearly below across_seeds. Use
    calibration prompts (the default on the toy), not the ones being judged.
    """
    prompts = default_calibration_prompts(model, 4) if prompts is None else list(prompts)
    if not prompts:
        raise ValueError("empty prompt list: give at least one prompt")
    seeds = [int(s) for s in seeds]
    if not seeds:
        raise ValueError("give at least one seed")
    check_statistic(statistic)
    top_k = Selection("top", k, blocks=blocks)  # the top-k sets compared below; k and blocks checked here
    bl = top_k.block_indices(model.num_blocks, model.width)
    P, S = len(prompts), len(seeds)
    if stats is None:
        stats = generate(model, [p for p in prompts for _ in seeds], [s for _ in prompts for s in seeds],
                         num_steps=num_steps, capture=CaptureSpec()).stats
    elif stats.shape[0] != P * S:
        raise ValueError(f"stats hold {stats.shape[0]} rows; expected {P} prompts x {S} seeds, prompt-major")
    row = lambda p, s: p * S + s  # noqa: E731

    def sets(**which) -> dict[int, set]:
        """{block: the top-k channels} of the score over some rows or steps."""
        return {b: set(c) for b, c in top_k.channels(stats.score(statistic, **which)).items()}

    pooled = sets()
    per_prompt = [sets(rows=[row(p, s) for s in range(S)]) for p in range(P)]
    single = {(p, s): sets(rows=[row(p, s)]) for p in range(P) for s in range(S)}
    per_step = [sets(steps=[t]) for t in stats.steps]
    per_block = []
    for b in bl:
        top = pooled[b]
        pv = [_jaccard(per_prompt[p][b], top) for p in range(P)]
        ap = [_jaccard(single[(p, s)][b], single[(q, s)][b]) for s in range(S) for p, q in combinations(range(P), 2)]
        aseed = [_jaccard(single[(p, s)][b], single[(p, t)][b]) for p in range(P) for s, t in combinations(range(S), 2)]
        steps = [_jaccard(st[b], top) for st in per_step]
        per_block.append({"block": b, "top_channels": sorted(top), "prompt_vs_pooled": float(np.mean(pv)),
                          "prompt_vs_pooled_min": float(np.min(pv)),
                          "across_prompts": float(np.mean(ap)) if ap else None,
                          "across_seeds": float(np.mean(aseed)) if aseed else None,
                          "step_vs_pooled": [float(v) for v in steps]})

    def avg(key):
        vals = [r[key] for r in per_block if r[key] is not None]
        return float(np.mean(vals)) if vals else None

    nsteps = len(stats.steps)
    half = nsteps // 2
    step_curve = [float(np.mean([r["step_vs_pooled"][t] for r in per_block])) for t in range(nsteps)]
    return {"k": k, "statistic": statistic, "prompts": prompts, "seeds": seeds,
            "blocks": list(bl), "chance": chance_jaccard(k, model.width),
            "prompt_vs_pooled": avg("prompt_vs_pooled"), "across_prompts": avg("across_prompts"),
            "across_seeds": avg("across_seeds"), "step_vs_pooled": step_curve,
            "early_steps_vs_pooled": float(np.mean(step_curve[:half])) if half else None,
            "late_steps_vs_pooled": float(np.mean(step_curve[half:])),
            "per_block": per_block}
