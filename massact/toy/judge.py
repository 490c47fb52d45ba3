"""The judge of the toy world: a small CNN that reads attributes, masks and features off images.

Because the toy world is procedural, every real image comes with exact labels and an
exact foreground mask. A small CNN trained on that world can then *score generated
images*: does the picture show what the caption asked for (``caption_accuracy``), where
is the object (``foreground_mask``), and how far is the image distribution from the real
one (``toy_fid``, a Fréchet distance in the judge's own 64-d feature space, the toy
stand-in for FID's Inception features).

Seed ranges (so the judge never scores images it was trained on):

* judge training batches: seeds >= ``TRAIN_SEED_BASE`` (10_000_000), see ``train_judge.py``;
* held-out evaluation in ``train_judge.py``: ``EVAL_SEED``;
* the real reference set of ``toy_fid``: ``FID_REFERENCE_SEED``;
* tests use their own seeds below 10_000_000.

Train the shipped weights with ``python -m massact.toy.train_judge``.
"""
from __future__ import annotations

import json
from dataclasses import dataclass, asdict
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from . import world

WEIGHTS_DIR = Path(__file__).parent / "weights"
DEFAULT_PATH = WEIGHTS_DIR / "judge.safetensors"

TRAIN_SEED_BASE = 10_000_000
EVAL_SEED = 1_000_001
FID_REFERENCE_SEED = 2_000_003


@dataclass(frozen=True)
class JudgeConfig:
    widths: tuple[int, int, int, int] = (16, 32, 64, 96)  # channels at 32, 16, 8, 4 px
    feature_dim: int = 64  # small, so a few hundred samples give a stable Fréchet distance


def _block(cin: int, cout: int, stride: int = 1) -> nn.Sequential:
    # GroupNorm instead of BatchNorm: identical behaviour in train and eval mode and
    # independent of the batch (generated batches can be tiny or all one class).
    return nn.Sequential(nn.Conv2d(cin, cout, 3, stride, 1), nn.GroupNorm(8, cout), nn.SiLU())


class Judge(nn.Module):
    """Encoder (32->16->8->4 px) + attribute heads + a light U-Net decoder for the mask."""

    def __init__(self, cfg: JudgeConfig = JudgeConfig()):
        super().__init__()
        self.cfg = cfg
        w1, w2, w3, w4 = cfg.widths
        self.enc1 = nn.Sequential(_block(3, w1), _block(w1, w1))  # 32x32
        self.enc2 = nn.Sequential(_block(w1, w2, 2), _block(w2, w2))  # 16x16
        self.enc3 = nn.Sequential(_block(w2, w3, 2), _block(w3, w3))  # 8x8
        self.enc4 = _block(w3, w4, 2)  # 4x4
        # Flatten (not global-average-pool) the 4x4 map: position is an attribute, and
        # averaging would throw away where the object is.
        self.to_features = nn.Sequential(nn.Flatten(), nn.Linear(w4 * 16, cfg.feature_dim), nn.SiLU())
        self.heads = nn.ModuleDict({a: nn.Linear(cfg.feature_dim, len(v)) for a, v in world.ATTRIBUTES.items()})
        # decoder: upsample, 1x1 to the skip's width, *add* the skip (cheaper than concat)
        self.up3 = nn.Conv2d(w3, w2, 1)
        self.dec2 = _block(w2, w2)
        self.up2 = nn.Conv2d(w2, w1, 1)
        self.dec1 = _block(w1, w1)
        self.mask_out = nn.Conv2d(w1, 1, 1)

    def forward(self, images: torch.Tensor) -> dict:
        """images (B,3,32,32) in [-1,1] -> {"logits": {attr: (B,n)}, "mask_logits": (B,32,32), "features": (B,D)}."""
        _check_images(images)
        e1 = self.enc1(images)
        e2 = self.enc2(e1)
        e3 = self.enc3(e2)
        feats = self.to_features(self.enc4(e3))
        d2 = self.dec2(e2 + self.up3(F.interpolate(e3, scale_factor=2, mode="nearest")))
        d1 = self.dec1(e1 + self.up2(F.interpolate(d2, scale_factor=2, mode="nearest")))
        return {
            "logits": {a: h(feats) for a, h in self.heads.items()},
            "mask_logits": self.mask_out(d1)[:, 0],
            "features": feats,
        }


def _check_images(images) -> None:
    s = world.IMAGE_SIZE
    if not isinstance(images, torch.Tensor) or images.ndim != 4 or tuple(images.shape[1:]) != (3, s, s):
        shape = tuple(images.shape) if hasattr(images, "shape") else type(images).__name__
        raise ValueError(f"the judge expects a torch tensor of shape (B,3,{s},{s}) in [-1,1], got {shape}")


def save_judge(judge: Judge, path: Path | str = DEFAULT_PATH, extra: dict | None = None) -> None:
    from safetensors.torch import save_file

    meta = {"config": json.dumps(asdict(judge.cfg))}
    meta.update({k: json.dumps(v) for k, v in (extra or {}).items()})
    Path(path).parent.mkdir(parents=True, exist_ok=True)
    save_file({k: v.detach().contiguous().cpu() for k, v in judge.state_dict().items()}, str(path), metadata=meta)


def load_judge(path: Path | str | None = None) -> Judge:
    """Load the shipped judge (eval mode); the training metrics are in ``judge.metadata``."""
    from safetensors import safe_open
    from safetensors.torch import load_file

    path = Path(path) if path else DEFAULT_PATH
    if not path.exists():
        raise FileNotFoundError(f"judge weights not found at {path}; train them with "
                                "`python -m massact.toy.train_judge` (about 6 minutes on one CPU core)")
    with safe_open(str(path), "pt") as f:
        meta = f.metadata() or {}
    cfg = json.loads(meta.get("config", "{}"))
    if "widths" in cfg:
        cfg["widths"] = tuple(cfg["widths"])
    judge = Judge(JudgeConfig(**cfg))
    judge.load_state_dict(load_file(str(path)))
    judge.metadata = {k: json.loads(v) for k, v in meta.items()}
    return judge.eval()


@torch.no_grad()
def _run(judge: Judge, images: torch.Tensor, batch_size: int = 256) -> dict:
    """Forward in batches under no_grad, float32, on the judge's device; results on the CPU."""
    _check_images(images)
    device = next(judge.parameters()).device
    outs = [judge(images[i:i + batch_size].to(device=device, dtype=torch.float32))
            for i in range(0, len(images), batch_size)]
    return {
        "logits": {a: torch.cat([o["logits"][a] for o in outs]).cpu() for a in world.ATTRIBUTE_NAMES},
        "mask_logits": torch.cat([o["mask_logits"] for o in outs]).cpu(),
        "features": torch.cat([o["features"] for o in outs]).cpu(),
    }


def predict_attributes(judge: Judge, images: torch.Tensor) -> dict[str, np.ndarray]:
    """Attribute -> (B,) predicted label index (index into ``world.ATTRIBUTES[attr]``)."""
    logits = _run(judge, images)["logits"]
    return {a: logits[a].argmax(1).numpy() for a in world.ATTRIBUTE_NAMES}


def caption_accuracy(judge: Judge, images: torch.Tensor, scenes: list) -> dict[str, float]:
    """How often each asked-for attribute is visible in the image.

    Attributes a scene leaves as None were not requested and are not scored; an
    attribute no scene requests is left out. "mean" averages the per-attribute accuracies.
    """
    if len(scenes) != len(images):
        raise ValueError(f"got {len(images)} images but {len(scenes)} scenes")
    pred = predict_attributes(judge, images)
    acc = {}
    for a in world.ATTRIBUTE_NAMES:
        hits = [pred[a][i] == s.labels()[a] for i, s in enumerate(scenes) if getattr(s, a) is not None]
        if hits:
            acc[a] = float(np.mean(hits))
    acc["mean"] = float(np.mean(list(acc.values()))) if acc else float("nan")
    return acc


def foreground_mask(judge: Judge, images: torch.Tensor) -> np.ndarray:
    """(B,32,32) bool: where the judge sees the object."""
    return (_run(judge, images)["mask_logits"] > 0).numpy()


def mask_iou(pred: np.ndarray, target: np.ndarray) -> np.ndarray:
    """Per-image intersection-over-union of two (B,H,W) bool masks."""
    inter = (pred & target).sum(axis=(1, 2))
    union = (pred | target).sum(axis=(1, 2))
    return np.where(union > 0, inter / np.maximum(union, 1), 1.0)


def features(judge: Judge, images: torch.Tensor) -> np.ndarray:
    """(B,D) float64 penultimate features, the toy stand-in for Inception features."""
    return _run(judge, images)["features"].numpy().astype(np.float64)


def frechet_distance(feats_a: np.ndarray, feats_b: np.ndarray) -> float:
    """Fréchet distance between Gaussians fit to two (N,D) feature sets (the FID formula).

    ||mu_a - mu_b||^2 + Tr(S_a + S_b - 2 (S_a S_b)^(1/2))
    """
    from scipy import linalg

    a, b = np.asarray(feats_a, np.float64), np.asarray(feats_b, np.float64)
    if a.ndim != 2 or b.ndim != 2 or a.shape[1] != b.shape[1] or min(len(a), len(b)) < 2:
        raise ValueError(f"need two (N,D) feature sets with the same D and N >= 2, got {a.shape} and {b.shape}")
    mu_a, mu_b = a.mean(0), b.mean(0)
    cov_a, cov_b = np.cov(a, rowvar=False), np.cov(b, rowvar=False)
    covmean = linalg.sqrtm(cov_a @ cov_b)
    if not np.all(np.isfinite(covmean)):
        # singular product (e.g. fewer samples than dimensions): nudge the diagonals, as pytorch-fid does
        eps = 1e-6 * np.eye(len(cov_a))
        covmean = linalg.sqrtm((cov_a + eps) @ (cov_b + eps))
    # sqrtm of a product of PSD matrices is real up to round-off: drop the imaginary dust
    covmean = np.real(covmean)
    d = float(((mu_a - mu_b) ** 2).sum() + np.trace(cov_a) + np.trace(cov_b) - 2 * np.trace(covmean))
    return max(d, 0.0)  # round-off can make identical sets come out at -1e-12


def toy_fid(judge: Judge, images: torch.Tensor, reference_images: torch.Tensor | None = None,
            n_reference: int = 512, seed: int = FID_REFERENCE_SEED) -> float:
    """Fréchet distance between judge features of ``images`` and of real world images.

    Without ``reference_images``, the reference is ``n_reference`` real images from
    ``world.sample_batch(seed, n_reference)`` (cached on the judge). Like FID it is
    biased upwards for small sets: compare values computed with the same sample sizes.
    """
    if reference_images is None:
        cache = judge.__dict__.setdefault("_fid_reference", {})
        key = (n_reference, seed)
        if key not in cache:
            real = torch.from_numpy(world.sample_batch(seed, n_reference)[0])
            cache[key] = features(judge, real)
        ref = cache[key]
    else:
        ref = features(judge, reference_images)
    return frechet_distance(features(judge, images), ref)
