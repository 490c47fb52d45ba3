"""The claims across training: do they strengthen as the outliers grow?

Each checkpoint of one training run is measured with the same small protocol, on the same
prompts and seeds, so the rows differ only by the weights:

* **massive ratio** per block: top-1 over median of the calibration score
  |mean over image tokens| (every step, calibration prompts);
* **quality**: caption accuracy of the clean images (per image: the share of the prompt's
  attributes the metrics read back);
* **critical**: the caption-accuracy drop when the top-k / random-k / bottom-k channels of
  every block are zeroed at every step, and the paired differences top - bottom and
  top - random (the claim says top hurts more);
* **spatial**: mIoU of the K = 2 k-means foreground mask on the top-k and the bottom-k
  channels at the last step, at the block where top-k scores best, and their paired
  difference;
* **transport**: per caption pair, the share of the attributes that differ between source
  and target (as the metrics read the clean images) that the output takes from the source,
  for top-k and bottom-k transport at every block and step, and the paired difference.

Every number is a mean over images (or pairs) with a paired bootstrap interval
(``massact.stats``). A model needs a world (prompts, caption pairs) and metrics that read
attributes and foreground masks; the toy has both.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Iterable, Mapping

import numpy as np
from tqdm.auto import tqdm

from ..calibration import calibrate, evaluation_seeds
from ..checks import check_int
from ..stats import Estimate, bootstrap_mean, paired_difference
from . import critical, spatial, transport
from .results import interval, rounded

__all__ = ["TrainingProtocol", "CheckpointMeasure", "measure_checkpoint", "across_training"]


@dataclass(frozen=True)
class TrainingProtocol:
    """The per-checkpoint protocol (the same for every checkpoint of a comparison)."""

    n_images: int = 32  # evaluation images (critical, spatial, quality)
    n_pairs: int = 16  # caption pairs (transport)
    n_calibration: int = 8  # calibration prompts (ranking)
    num_steps: int = 8  # sampler steps
    critical_k: int = 8
    spatial_k: int = 8
    transport_k: int = 16
    random_seed: int = 0

    def __post_init__(self):
        for name in ("n_images", "n_pairs", "n_calibration", "num_steps", "critical_k", "spatial_k", "transport_k"):
            check_int(name, getattr(self, name), 1)
        check_int("random_seed", self.random_seed, 0)

    def summary(self) -> dict:
        return dict(self.__dict__)


@dataclass
class CheckpointMeasure:
    """One checkpoint's numbers; ``row()`` is its JSON row."""

    step: int
    massive_ratio: list[float]
    top_channel: list[int]
    caption_accuracy: Estimate
    critical_drop: dict[str, Estimate]  # arm -> drop of caption accuracy against clean
    critical_difference: dict[str, Estimate]  # "top-bottom", "top-random": paired drop differences
    spatial_block: int
    spatial_miou: dict[str, Estimate]  # arm -> mIoU at spatial_block
    spatial_difference: Estimate  # top - bottom
    transport_adoption: dict[str, Estimate]  # arm -> mean adoption per pair
    transport_difference: Estimate  # top - bottom
    n_transport_pairs: int
    extra: dict = field(default_factory=dict)

    @property
    def best_massive_ratio(self) -> float:
        return max(self.massive_ratio)

    def row(self, ndigits: int = 4) -> dict:
        def put(out: dict, name: str, est: Estimate) -> None:
            out[name] = rounded(est.mean, ndigits)
            out[f"{name}_ci"] = interval(est, ndigits)

        row: dict = {"step": int(self.step), "massive_ratio": [round(v, 2) for v in self.massive_ratio],
                     "best_massive_ratio": round(self.best_massive_ratio, 2), "top_channel": self.top_channel,
                     "n": self.caption_accuracy.n, "n_pairs": self.n_transport_pairs}
        put(row, "caption_accuracy", self.caption_accuracy)
        for arm, est in self.critical_drop.items():
            put(row, f"critical_drop_{arm}", est)
        for name, est in self.critical_difference.items():
            put(row, f"critical_drop_{name.replace('-', '_minus_')}", est)
        row["spatial_block"] = int(self.spatial_block)
        for arm, est in self.spatial_miou.items():
            put(row, f"spatial_miou_{arm}", est)
        put(row, "spatial_miou_top_minus_bottom", self.spatial_difference)
        for arm, est in self.transport_adoption.items():
            put(row, f"transport_adoption_{arm}", est)
        put(row, "transport_adoption_top_minus_bottom", self.transport_difference)
        row.update(self.extra)
        return row


def measure_checkpoint(model, step: int, protocol: TrainingProtocol = TrainingProtocol(),
                       progress: bool = False) -> CheckpointMeasure:
    """Measure one checkpoint with ``protocol`` (see the module docstring).

    Args:
        model: a model with a world and attribute-reading metrics (the toy at any checkpoint).
        step: the training step of these weights (a label for the row).
        protocol: sample sizes, k and steps.
        progress: show progress bars.

    Returns:
        A ``CheckpointMeasure``.
    """
    world = getattr(model, "world", None)
    metrics = model.metrics()
    if world is None or not metrics.attributes:
        raise ValueError("the claims across training need a model with a world and metrics that read attributes "
                         "(the toy model); this model has none")
    P = protocol
    cal = calibrate(model, world.calibration_prompts(P.n_calibration), num_steps=P.num_steps)
    score = cal.score("absmean")
    med = score.median(dim=1).values.clamp_min(1e-12)
    ratio = (score.max(dim=1).values / med).tolist()
    top_channel = score.argmax(dim=1).tolist()

    prompts = world.evaluation_prompts(P.n_images)
    seeds = evaluation_seeds(P.n_images)

    # critical: one probe, every block and step, the three arms at one k
    probe = critical.probe(model, cal, prompts, seeds, ks=(P.critical_k,), arms=("top", "bottom", "random"),
                           draws=1, num_steps=P.num_steps, random_seed=P.random_seed, progress=progress)
    clean = critical.CLEAN
    drop = {arm: probe.difference("caption_accuracy", clean, critical.condition(arm))
            for arm in ("top", "bottom", "random")}
    diff = {f"top-{c}": probe.difference("caption_accuracy", critical.condition(c), critical.condition("top"))
            for c in ("bottom", "random")}

    # spatial: the last step, every block, top vs bottom
    last = P.num_steps - 1
    cap = spatial.capture(model, prompts, seeds, steps=(last,), num_steps=P.num_steps)
    truth = metrics.foreground_mask(cap.images)
    sres = spatial.evaluate(cap, score, truth, k=P.spatial_k, arms=("top", "bottom"), random_draws=1,
                            seed=P.random_seed)
    best = sres.best_block("top", step=last)
    miou = {arm: sres.estimate("miou", arm=arm, block=best, step=last) for arm in ("top", "bottom")}
    sdiff = sres.difference("miou", dict(arm="top"), dict(arm="bottom"), block=best, step=last)

    # transport: every block and step, top vs bottom
    pairs = world.caption_pairs(P.n_pairs)
    specs = [transport.TransportSpec(arm="top", k=P.transport_k), transport.TransportSpec(arm="bottom", k=P.transport_k)]
    tres = transport.transport(model, [p.source for p in pairs], [p.target for p in pairs],
                               evaluation_seeds(P.n_pairs), specs, score=score, num_steps=P.num_steps)
    adopt = {s.arm: transport.measure(metrics, tres.sources, tres.targets, o)["per_pair"]["all_attributes"]
             for s, o in zip(specs, tres.outputs)}
    ok = ~(np.isnan(adopt["top"]) | np.isnan(adopt["bottom"]))
    if not ok.any():
        raise RuntimeError("no caption pair differs in any attribute the metrics read: the model draws neither "
                           "prompt faithfully; measure a later checkpoint")
    tadopt = {arm: bootstrap_mean(v[ok]) for arm, v in adopt.items()}
    tdiff = paired_difference(adopt["top"][ok], adopt["bottom"][ok])

    return CheckpointMeasure(int(step), [float(v) for v in ratio], [int(c) for c in top_channel],
                             probe.estimate("caption_accuracy", **clean), drop, diff, int(best), miou, sdiff,
                             tadopt, tdiff, int(ok.sum()))


def across_training(models: Mapping[int, object] | Iterable[tuple[int, object]],
                    protocol: TrainingProtocol = TrainingProtocol(), progress: bool = False) -> list[CheckpointMeasure]:
    """Measure every checkpoint with the same protocol, in training order.

    Args:
        models: {training step: model} (or (step, model) pairs); a model may also be a
          zero-argument callable that loads it, so only one checkpoint is in memory at a time.
        protocol: the per-checkpoint protocol.
        progress: show a progress bar over checkpoints.

    Returns:
        One ``CheckpointMeasure`` per checkpoint, sorted by step.
    """
    items = sorted(models.items() if isinstance(models, Mapping) else list(models), key=lambda kv: kv[0])
    if not items:
        raise ValueError("no checkpoints given: pass {step: model}")
    out = []
    for step, m in tqdm(items, desc="checkpoints", disable=not progress, leave=False):
        model = m() if callable(m) and not hasattr(m, "transformer") else m
        out.append(measure_checkpoint(model, step, protocol))
    return out
