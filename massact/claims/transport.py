"""Claim 3, "transferable": activation transport between two generations from the same noise.

A source prompt and a target prompt are sampled from the same seed, in ONE batched pass
(rows ``[sources..., targets...]``). At chosen blocks and steps the target's image stream is
pulled toward the source's under the joint mask M = p m^T (p: a token mask, m: the
indicator of k channels), weighted by alpha:

    X_t <- X_t (1 - alpha M) + X_s alpha M          (alpha = 1: the paper's replacement)

The edit is an ``EditSpec("mix"/"replace", source_rows=((target_row, source_row), ...))``:
the source rows are computed in the same batch, so no activation is stored.

* p: no mask (every token), or the *spatial mask* of the source (or of the target): its
  clean tokens, restricted to the top-k channels of one block and step, clustered into
  foreground/background (``clustering.token_foreground_mask``). That needs the tokens of a
  first, clean pass (``CaptureSpec(keep=((block, step),))``), which the metrics need
  anyway (the clean source and target images).
* m: the top-k, bottom-k or random-k channels of each transported block, ranked on
  calibration prompts (``calibration_score``), never on the pairs that are measured.

Exactness (the tests pin both):

* alpha = 0 gives the target image bit for bit (x * 1 + x_s * 0 == x), compared with the
  clean pass of the same batch shape;
* alpha = 1 with all channels at all blocks, no mask, gives the source only *almost*: the
  image stream after the last block is the source's, but the transformer's final
  AdaLayerNorm (``norm_out``) is modulated by the target's pooled text embedding.

Baselines: ``pixel_blend`` (any model) and ``embedding_lerp`` (lerp of the two prompts'
text-encoder outputs; models that expose their sampler, others raise NotImplementedError).

Metrics (``metrics_for(model)``; on the toy world the judge reads the attributes):
``measure`` gives, for each attribute, the *source adoption* (over the pairs whose clean
source and target differ in it, how often the output shows the source's value) and the
*target preservation* (mean of: agreement with the target on the attributes source and
target share, and the foreground-mask IoU with the target image).
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Sequence

import numpy as np
import torch

from ..calibration import calibrate
from ..checks import check_seeds
from ..clustering import iou, token_foreground_mask
from ..generation import generate
from ..hooks import CaptureSpec, EditSpec
from ..models import require_sampler
from ..ranking import ARMS, channel_set
from ..world import CaptionPair

MASKS = ("none", "source", "target")
BASELINES = ("pixel_blend", "embedding_lerp")
DEFAULT_K = 4
DEFAULT_MASK_K = 8  # channels the spatial mask clusters on (the spatial claim's default k)


# -- what to transport --------------------------------------------------------------------
@dataclass(frozen=True)
class TransportSpec:
    """One transport setting.

    arm: which k channels per block ("top", "bottom", "random" by the calibration score);
    k: channels per block (k = model width transports every channel, whatever the arm);
    alpha: weight in [0, 1] inside the mask (1 = replacement, 0 = nothing moves);
    mask: "none" (every token), "source" or "target" (that image's spatial mask);
    blocks / steps: where and when (None = every block / every step);
    seed: the random arm's draw.
    """

    arm: str = "top"
    k: int = DEFAULT_K
    alpha: float = 1.0
    mask: str = "none"
    blocks: tuple[int, ...] | None = None
    steps: tuple[int, ...] | None = None
    seed: int = 0

    def __post_init__(self):
        if self.arm not in ARMS:
            raise ValueError(f"unknown arm {self.arm!r}; choose one of {ARMS}")
        if not isinstance(self.k, (int, np.integer)) or isinstance(self.k, bool) or self.k < 1:
            raise ValueError(f"k {self.k!r} out of range: k (channels per block) must be an int >= 1")
        a = self.alpha
        if isinstance(a, bool) or not isinstance(a, (int, float, np.floating)) or not (0.0 <= float(a) <= 1.0):
            raise ValueError(f"alpha {a!r} out of range: alpha must be a number in [0, 1] "
                             "(0 keeps the target, 1 replaces by the source)")
        if self.mask not in MASKS:
            raise ValueError(f"unknown mask {self.mask!r}; choose one of {MASKS}")
        for name in ("blocks", "steps"):
            v = getattr(self, name)
            if v is None:
                continue
            if isinstance(v, (int, np.integer)):
                v = (v,)
            v = tuple(v)
            if not v:
                raise ValueError(f"{name} is empty: give at least one {name[:-1]}, or None for all")
            if any(not isinstance(x, (int, np.integer)) or isinstance(x, bool) for x in v):
                raise ValueError(f"{name} {v!r} must be integers")
            if len(set(v)) != len(v):
                raise ValueError(f"{name} {v!r} contain duplicates")
            object.__setattr__(self, name, tuple(sorted(int(x) for x in v)))
        object.__setattr__(self, "alpha", float(a))
        object.__setattr__(self, "k", int(self.k))

    def validate(self, num_blocks: int, width: int, num_steps: int) -> None:
        if self.k > width:
            raise ValueError(f"k {self.k} out of range: k must be in 1..{width} (the model's channels)")
        if self.blocks is not None:
            bad = [b for b in self.blocks if not 0 <= b < num_blocks]
            if bad:
                raise ValueError(f"blocks {bad} out of range: valid blocks are 0..{num_blocks - 1}")
        if self.steps is not None:
            bad = [s for s in self.steps if not 0 <= s < num_steps]
            if bad:
                raise ValueError(f"steps {bad} out of range: this run has {num_steps} steps, valid steps are "
                                 f"0..{num_steps - 1}")

    def label(self) -> str:
        where = []
        if self.blocks is not None:
            where.append(f"blocks {_span(self.blocks)}")
        if self.steps is not None:
            where.append(f"steps {_span(self.steps)}")
        m = "" if self.mask == "none" else f", {self.mask} mask"
        return f"{self.arm}-{self.k}, alpha {self.alpha:g}{m}" + (f" ({', '.join(where)})" if where else "")

    def row(self) -> dict:
        """The report's description of this setting (schema of the ``transport`` rows)."""
        return {"arm": self.arm, "k": self.k, "alpha": self.alpha, "mask": "none" if self.mask == "none" else "spatial",
                "blocks": "all" if self.blocks is None else list(self.blocks),
                "steps": "all" if self.steps is None else list(self.steps)}


def _span(v: Sequence[int]) -> str:
    v = list(v)
    if len(v) > 2 and v == list(range(v[0], v[-1] + 1)):
        return f"{v[0]}-{v[-1]}"
    return ",".join(map(str, v))


def block_groups(model) -> dict[str, tuple[int, ...]]:
    """The model's block lists by name (toy/FLUX: double-stream then single-stream), e.g.
    {"transformer_blocks": (0, 1, 2), "single_transformer_blocks": (3, 4, 5, 6)}; a model with
    one list is split into its first and second half."""
    groups: dict[str, list[int]] = {}
    for ref in model.blocks:
        groups.setdefault(ref.spec.attr, []).append(ref.index)
    if len(groups) == 1:
        (only,) = groups.values()
        h = len(only) // 2
        return {"first half": tuple(only[:h]), "second half": tuple(only[h:])}
    return {k: tuple(v) for k, v in groups.items()}


# -- inputs -------------------------------------------------------------------------------
def check_pairs(sources: Sequence[str], targets: Sequence[str], seeds) -> tuple[list[str], list[str], list[int]]:
    """Validate the pairs: as many sources as targets, one seed per pair (or one int)."""
    if isinstance(sources, str) or isinstance(targets, str):
        raise TypeError("sources and targets must be lists of prompts, e.g. ['a red circle'], not strings")
    sources, targets = list(sources), list(targets)
    if not sources or not targets:
        raise ValueError("no pairs: give at least one source and one target prompt")
    if len(sources) != len(targets):
        raise ValueError(f"{len(sources)} sources but {len(targets)} targets: transport pairs source i with "
                         "target i, so give lists of the same length")
    seeds = check_seeds(seeds, len(sources), "source/target pairs",
                        "give one seed per pair (source and target share it: the same noise) or a single int")
    return sources, targets, seeds


def calibration_score(model, prompts: Sequence[str] | None = None, seeds=None, steps: int | None = None,
                      stat: str = "absmean") -> torch.Tensor:
    """Channel scores (blocks, channels) on calibration prompts: what the arms rank.

    The default prompts are the model's world's calibration prompts (never the evaluation
    ones); a model without a world needs prompts. ``massact.calibrate(...).score(stat)``."""
    return calibrate(model, prompts, seeds, num_steps=steps).score(stat)


# -- the clean pass -----------------------------------------------------------------------
@dataclass
class PairRun:
    """The clean generation of the pairs (rows [sources..., targets...]) and its kept tokens."""

    sources: list[str]
    targets: list[str]
    seeds: list[int]
    steps: int
    guidance: float
    images: torch.Tensor  # (2n, 3, H, W)
    tokens: dict = field(default_factory=dict)  # (block, step) -> (2n, N, D)

    @property
    def n(self) -> int:
        return len(self.sources)

    @property
    def source_images(self) -> torch.Tensor:
        return self.images[: self.n]

    @property
    def target_images(self) -> torch.Tensor:
        return self.images[self.n:]


def clean_pass(model, sources, targets, seeds=0, steps: int | None = None, guidance: float | None = None,
               keep: Sequence[tuple[int, int]] = (), progress: bool = False) -> PairRun:
    """Sample sources and targets (same seed per pair) in one batch, keeping the tokens of
    the (block, step) pairs in ``keep`` (for spatial masks)."""
    sources, targets, seeds = check_pairs(sources, targets, seeds)
    keep = tuple((int(b), int(s)) for b, s in keep)
    capture = CaptureSpec(blocks=(), keep=keep, stats=False) if keep else None
    g = generate(model, sources + targets, seeds + seeds, steps=steps, guidance=guidance, capture=capture,
                 progress=progress)
    return PairRun(sources, targets, seeds, g.steps, g.guidance, g.images, dict(g.tensors))


def default_mask_at(model, num_steps: int) -> tuple[int, int]:
    """Where the spatial mask is read by default: the middle block at the last step.

    The mask comes from the *clean* pass, which has finished before transport starts, so it
    can be read where the subject is fully formed (the last step, as the public
    reproduction of the spatial claim does) even when transport acts at early steps."""
    return model.num_blocks // 2, num_steps - 1


def spatial_masks(run: PairRun, which: str, score: torch.Tensor, mask_at: tuple[int, int], grid: tuple[int, int],
                  k: int = DEFAULT_MASK_K) -> torch.Tensor:
    """bool (n, tokens): the foreground token mask of the sources ("source") or the targets
    ("target"), clustered on the top-k channels of block mask_at[0] at step mask_at[1]."""
    if which not in ("source", "target"):
        raise ValueError(f"unknown mask {which!r}; spatial masks are 'source' or 'target'")
    block, step = mask_at
    if (block, step) not in run.tokens:
        raise KeyError(f"(block {block}, step {step}) was not kept by the clean pass; kept: {sorted(run.tokens)}; "
                       f"pass keep=(({block}, {step}),) to clean_pass")
    channels = channel_set(score, k, "top", blocks=[block])[block]
    rows = slice(0, run.n) if which == "source" else slice(run.n, 2 * run.n)
    return token_foreground_mask(run.tokens[(block, step)][rows], list(channels), grid)


# -- transport ----------------------------------------------------------------------------
@dataclass
class TransportResult:
    """Clean sources/targets and the transported outputs, one (n, 3, H, W) per spec."""

    specs: list[TransportSpec]
    clean: PairRun
    outputs: torch.Tensor  # (len(specs), n, 3, H, W)
    channels: list[dict]  # per spec: block -> channels
    masks: dict = field(default_factory=dict)  # "source"/"target" -> bool (n, tokens)
    mask_at: tuple[int, int] | None = None

    def output(self, j: int = 0) -> torch.Tensor:
        return self.outputs[j]

    @property
    def sources(self) -> torch.Tensor:
        return self.clean.source_images

    @property
    def targets(self) -> torch.Tensor:
        return self.clean.target_images


def _as_specs(specs) -> list[TransportSpec]:
    if isinstance(specs, TransportSpec):
        return [specs]
    specs = list(specs)
    if not specs or not all(isinstance(s, TransportSpec) for s in specs):
        raise TypeError("specs must be a TransportSpec or a non-empty list of them")
    return specs


def wants_mask_any(specs, given: dict) -> bool:
    return any(s.mask != "none" and s.mask not in given for s in specs)


def edit_for(spec: TransportSpec, channels: dict, pairs: Sequence[tuple[int, int]], num_rows: int,
             token_mask: torch.Tensor | None = None) -> EditSpec:
    """The EditSpec of one transport setting: target rows take from source rows.
    token_mask: bool (len(pairs), tokens), one mask per target row (None = every token)."""
    tm = None
    if token_mask is not None:
        tm = torch.ones(num_rows, token_mask.shape[-1])
        for (t, _), m in zip(pairs, token_mask):
            tm[t] = m.float()
    op = "replace" if spec.alpha == 1.0 else "mix"
    return EditSpec(op, channels, steps=spec.steps, alpha=spec.alpha, token_mask=tm, source_rows=tuple(pairs))


def transport(model, sources, targets, seeds=0, specs=TransportSpec(), score: torch.Tensor | None = None,
              clean: PairRun | None = None, steps: int | None = None, guidance: float | None = None,
              mask_at: tuple[int, int] | None = None, mask_k: int = DEFAULT_MASK_K,
              masks: dict | None = None, progress: bool = False) -> TransportResult:
    """Transport source activations into the targets, for one spec or a list of them.

    One batched generate call holds rows [sources..., targets for spec 0..., targets for
    spec 1..., ...], each spec an EditSpec on its own target rows. ``clean`` (a
    ``clean_pass`` of the same pairs) is computed when not given; with a spatial mask it
    must have kept ``mask_at``. ``score``: calibration scores (blocks, channels), needed
    unless every spec moves all channels without a mask. ``masks``: your own token masks
    {"source"/"target": bool (n, tokens)} instead of the clustered ones.
    """
    sources, targets, seeds = check_pairs(sources, targets, seeds)
    specs = _as_specs(specs)
    n = len(sources)
    if clean is None:
        steps_ = model.default_steps if steps is None else steps
    else:
        if (clean.sources, clean.targets, clean.seeds) != (sources, targets, seeds):
            raise ValueError("clean was computed for other pairs or seeds: pass the same sources, targets and seeds")
        steps_ = clean.steps
        if steps is not None and steps != clean.steps:
            raise ValueError(f"steps {steps} but the clean pass ran {clean.steps} steps")
        if guidance is not None and float(guidance) != clean.guidance:
            raise ValueError(f"guidance {guidance} but the clean pass used {clean.guidance}")
        guidance = clean.guidance
    for s in specs:
        s.validate(model.num_blocks, model.width, steps_)
    given = {} if masks is None else dict(masks)
    for w, tm in given.items():
        if w not in ("source", "target"):
            raise ValueError(f"masks has key {w!r}; use 'source' or 'target'")
        if tuple(tm.shape) != (n, model.num_image_tokens):
            raise ValueError(f"masks[{w!r}] has shape {tuple(tm.shape)}; expected (pairs, tokens) = "
                             f"({n}, {model.num_image_tokens})")
    if (any(s.k < model.width for s in specs) or wants_mask_any(specs, given)) and score is None:
        raise ValueError("the channel arms and the spatial mask rank channels: pass score=calibration_score(model) "
                         "(scores on calibration prompts, shape (blocks, channels))")
    if score is not None and tuple(score.shape) != (model.num_blocks, model.width):
        raise ValueError(f"score has shape {tuple(score.shape)}; expected (blocks, channels) = "
                         f"({model.num_blocks}, {model.width})")
    wants_mask = sorted({s.mask for s in specs} - {"none"} - set(given))
    mask_at = default_mask_at(model, steps_) if mask_at is None else (int(mask_at[0]), int(mask_at[1]))
    if wants_mask:
        if not (0 <= mask_at[0] < model.num_blocks and 0 <= mask_at[1] < steps_):
            raise ValueError(f"mask_at {mask_at} out of range: blocks 0..{model.num_blocks - 1}, steps 0..{steps_ - 1}")
    if clean is None:
        clean = clean_pass(model, sources, targets, seeds, steps=steps_, guidance=guidance,
                           keep=(mask_at,) if wants_mask else (), progress=progress)
    masks = {w: spatial_masks(clean, w, score, mask_at, model.token_grid(), mask_k) for w in wants_mask}
    masks.update({w: tm.bool().cpu() for w, tm in given.items()})

    num_rows = n * (1 + len(specs))
    all_blocks = tuple(range(model.num_blocks))
    edits, channels = [], []
    for j, s in enumerate(specs):
        blocks = s.blocks if s.blocks is not None else all_blocks
        if s.k == model.width:
            ch = {b: tuple(range(model.width)) for b in blocks}
        else:
            ch = channel_set(score, s.k, s.arm, blocks=blocks, seed=s.seed)
        channels.append(ch)
        pairs = [(n * (1 + j) + i, i) for i in range(n)]
        edits.append(edit_for(s, ch, pairs, num_rows, masks.get(s.mask)))
    g = generate(model, sources + targets * len(specs), seeds * (1 + len(specs)), steps=steps_,
                 guidance=clean.guidance, edits=edits, progress=progress)
    outputs = g.images[n:].reshape(len(specs), n, *g.images.shape[1:])
    return TransportResult(specs, clean, outputs, channels, masks, mask_at if wants_mask else None)


# -- baselines ----------------------------------------------------------------------------
def _check_alpha(alpha) -> float:
    if isinstance(alpha, bool) or not isinstance(alpha, (int, float, np.floating)) or not 0.0 <= float(alpha) <= 1.0:
        raise ValueError(f"alpha {alpha!r} out of range: alpha must be a number in [0, 1]")
    return float(alpha)


def pixel_blend(source_images: torch.Tensor, target_images: torch.Tensor, alpha: float) -> torch.Tensor:
    """(1 - alpha) target + alpha source, pixel by pixel: what transport is *not*."""
    alpha = _check_alpha(alpha)
    if source_images.shape != target_images.shape:
        raise ValueError(f"image shapes differ: {tuple(source_images.shape)} vs {tuple(target_images.shape)}")
    return torch.lerp(target_images.float(), source_images.float(), alpha)


def embedding_lerp(model, sources, targets, seeds=0, alphas: Sequence[float] | float = 0.5, steps: int | None = None,
                   guidance: float | None = None) -> torch.Tensor:
    """Interpolate the two prompts' text-encoder outputs (per-token states and pooled vector),
    then sample from the pair's seed. Returns (len(alphas), n, 3, H, W) (or (n, ...) for one alpha).

    Models that expose their sampler only (``model.encode_prompts``, ``model.sample(conditioning=...)``):
    a diffusers pipeline encodes its prompts inside its __call__."""
    require_sampler(model, "embedding_lerp")
    single = isinstance(alphas, (int, float, np.floating)) and not isinstance(alphas, bool)
    alphas = [_check_alpha(a) for a in ([alphas] if single else alphas)]
    if not alphas:
        raise ValueError("alphas is empty: give at least one alpha in [0, 1]")
    sources, targets, seeds = check_pairs(sources, targets, seeds)
    model.validate_prompts(sources + targets)
    n, m = len(sources), len(alphas)
    steps = model.default_steps if steps is None else int(steps)
    if steps < 1:
        raise ValueError(f"steps {steps} out of range: at least 1")
    guidance = model.default_guidance if guidance is None else float(guidance)
    (ts_, ps_), (tt_, pt_) = model.encode_prompts(sources, guidance), model.encode_prompts(targets, guidance)
    u = n if guidance > 1 else 0  # conditioning stacks [uncond; cond] under guidance

    def mixed(s, t):
        cond = torch.cat([torch.lerp(t[u:], s[u:], a) for a in alphas])
        return torch.cat([t[:u].repeat(m, *([1] * (t.dim() - 1))), cond]) if u else cond

    cond = (mixed(ts_, tt_), mixed(ps_, pt_))
    out = model.sample(None, seeds * m, steps, guidance, conditioning=cond)  # the model's own Euler loop
    out = out.reshape(m, n, *out.shape[1:])
    return out[0] if single else out


# -- measuring ----------------------------------------------------------------------------
def measure(metrics, source_images: torch.Tensor, target_images: torch.Tensor, outputs: torch.Tensor) -> dict:
    """Source adoption per attribute and target preservation of outputs (n, 3, H, W).

    source_adoption[a]: over the pairs whose clean source and target differ in a (as the
      metrics read them), the share whose output shows the source's value (None: no pair differs);
    attribute_agreement: over (pair, attribute) where source and target agree, the share the
      output keeps; mask_iou: mean foreground-mask IoU of output and target;
    target_preservation: the mean of the two that are available (None if neither).
    """
    n = len(source_images)
    if not (len(target_images) == len(outputs) == n):
        raise ValueError(f"{n} sources, {len(target_images)} targets, {len(outputs)} outputs: need as many of each")
    out = {"source_adoption": {}, "differing_pairs": {}, "attribute_agreement": None, "mask_iou": None,
           "target_preservation": None, "n": n,
           "pixel_mse_to_target": metrics.pixel_mse(outputs, target_images),
           "pixel_mse_to_source": metrics.pixel_mse(outputs, source_images)}
    attrs = metrics.attributes_of(torch.cat([source_images, target_images, outputs]))
    parts = []
    if attrs:
        kept, shared = 0, 0
        for a, lab in attrs.items():
            lab = np.asarray(lab)
            s, t, o = lab[:n], lab[n:2 * n], lab[2 * n:]
            d = s != t
            out["differing_pairs"][a] = int(d.sum())
            out["source_adoption"][a] = float((o[d] == s[d]).mean()) if d.any() else None
            kept += int((o[~d] == t[~d]).sum())
            shared += int((~d).sum())
        if shared:
            out["attribute_agreement"] = kept / shared
            parts.append(out["attribute_agreement"])
    fg = metrics.foreground_mask(torch.cat([target_images, outputs]))
    if fg is not None:
        fg = np.asarray(fg, bool)
        out["mask_iou"] = float(np.mean([iou(fg[n + i], fg[i]) for i in range(n)]))
        parts.append(out["mask_iou"])
    if parts:
        out["target_preservation"] = float(np.mean(parts))
    return out


def report_row(spec_row: dict, m: dict, ndigits: int = 4) -> dict:
    """One ``transport`` row of results.json (exactly the issue's keys)."""
    r = lambda v: None if v is None else round(float(v), ndigits)  # noqa: E731
    return {**spec_row, "source_adoption": {a: r(v) for a, v in m["source_adoption"].items()},
            "target_preservation": r(m["target_preservation"])}


def baseline_row(arm: str, alpha: float, m: dict) -> dict:
    if arm not in BASELINES:
        raise ValueError(f"unknown baseline {arm!r}; choose one of {BASELINES}")
    return report_row({"arm": arm, "k": None, "alpha": float(alpha), "mask": "none", "blocks": None, "steps": None}, m)


# -- caption pairs ------------------------------------------------------------------------
def attribute_pairs(n: int, differ: Sequence[str] | None = None, per_pair: int = 3, seed: int | None = None,
                    world=None) -> list[CaptionPair]:
    """n (source, target) caption pairs that differ in chosen attributes: ``world.caption_pairs``.

    differ=None: pair i changes ``per_pair`` consecutive attributes starting at attribute i;
    differ=("position",): every pair differs in exactly these attributes. Deterministic from
    seed. world: the world to draw from (``model.world``); None: the default model's world
    (the toy's), for callers that predate ``model.world``."""
    if world is None:
        from ..loading import default_world

        world = default_world()
    return world.caption_pairs(n, differ=differ, per_pair=per_pair, seed=seed)


# -- sweeps and readings ------------------------------------------------------------------
def sweep(model, sources, targets, seeds, specs: Sequence[TransportSpec], score, metrics=None,
          baselines: Sequence[float] = (), clean: PairRun | None = None, mask_at=None, steps=None,
          progress: bool = False) -> dict:
    """Run every spec in one batched transport pass and measure it; baselines at the given
    alphas (pixel blend always, embedding lerp where the model supports it).
    Returns {"rows": [report rows...], "measures": [...], "result": TransportResult, "baselines": {...}}."""
    from ..metrics import metrics_for

    metrics = metrics or metrics_for(model)
    res = transport(model, sources, targets, seeds, list(specs), score=score, clean=clean, mask_at=mask_at,
                    steps=steps, progress=progress)
    rows, measures = [], []
    for s, o in zip(res.specs, res.outputs):
        m = measure(metrics, res.sources, res.targets, o)
        measures.append(m)
        rows.append(report_row(s.row(), m))
    base = {}
    for a in baselines:
        blend = pixel_blend(res.sources, res.targets, a)
        m = measure(metrics, res.sources, res.targets, blend)
        rows.append(baseline_row("pixel_blend", a, m))
        measures.append(m)
        base[("pixel_blend", a)] = blend
    if baselines:
        try:
            lerp = embedding_lerp(model, res.clean.sources, res.clean.targets, res.clean.seeds, list(baselines),
                                  steps=res.clean.steps, guidance=res.clean.guidance)
        except NotImplementedError:
            lerp = None
        if lerp is not None:
            for a, imgs in zip(baselines, lerp):
                m = measure(metrics, res.sources, res.targets, imgs)
                rows.append(baseline_row("embedding_lerp", a, m))
                measures.append(m)
                base[("embedding_lerp", a)] = imgs
    return {"rows": rows, "measures": measures, "result": res, "baselines": base}


def _fmt(v) -> str:
    return "n/a" if v is None else f"{100 * v:.0f}%"


def what_moves(rows: Sequence[dict], k: int | None = None, strong: float = 0.5, margin: float = 0.25,
               weak: float = 0.2) -> dict[str, dict]:
    """Per attribute, the adoption under the top / bottom / random arms (alpha 1, no mask,
    every block and step) and a verdict computed from them:
    "moves" (top >= strong and >= margin above both controls), "unspecific" (top >= strong
    but a control arm moves it about as often), "stays" (top <= weak), "partly" (between),
    "untested" (no pair differs in it)."""
    base = [r for r in rows if r.get("arm") in ARMS and r.get("alpha") == 1.0 and r.get("mask") == "none"
            and r.get("blocks") == "all" and r.get("steps") == "all" and (k is None or r.get("k") == k)]
    by_arm = {}
    for r in base:
        by_arm.setdefault(r["arm"], r)
    if "top" not in by_arm:
        return {}
    out = {}
    for a, top in by_arm["top"]["source_adoption"].items():
        ctrl = [by_arm[x]["source_adoption"].get(a) for x in ("bottom", "random") if x in by_arm]
        ctrl = [c for c in ctrl if c is not None]
        if top is None:
            verdict = "untested"
        elif top >= strong:
            verdict = "moves" if all(top - c >= margin for c in ctrl) else "unspecific"
        elif top <= weak:
            verdict = "stays"
        else:
            verdict = "partly"
        out[a] = {"top": top, **{x: by_arm[x]["source_adoption"].get(a) for x in ("bottom", "random") if x in by_arm},
                  "verdict": verdict}
    return out


def _names(names: list[str]) -> str:
    return names[0] if len(names) == 1 else ", ".join(names[:-1]) + " and " + names[-1]


def reading(rows: Sequence[dict]) -> str:
    """Honest sentences built from the numbers of a sweep (report rows)."""
    moves = what_moves(rows)
    if not moves:
        return "No top-k row at alpha 1 without a mask: nothing to compare."
    top = next(r for r in rows if r["arm"] == "top" and r["alpha"] == 1.0 and r["mask"] == "none"
               and r["blocks"] == "all" and r["steps"] == "all")
    k = top["k"]
    parts = []
    for verdict, phrase in (("moves", ("follows", "follow", " the source's top-{k} channels")),
                            ("unspecific", ("moves", "move", ", but as often with the bottom-{k} or random-{k} channels")),
                            ("partly", ("moves", "move", " in some pairs")),
                            ("stays", ("stays", "stay", " with the target"))):
        names = [a for a, v in moves.items() if v["verdict"] == verdict]
        if names:
            detail = ", ".join(f"{a} {_fmt(moves[a]['top'])}" for a in names)
            verb = phrase[0] if len(names) == 1 else phrase[1]
            parts.append(f"{_names(names)} {verb}{phrase[2].format(k=k)} ({detail})")
    text = f"Transporting the top-{k} channels at every block and step (alpha 1, no mask): " + "; ".join(parts) + "."
    arm_means = {}
    for arm in ("top", "bottom", "random"):
        vals = [v.get(arm) for v in moves.values() if v.get(arm) is not None]
        if vals:
            arm_means[arm] = float(np.mean(vals))
    ctrl = {a: v for a, v in arm_means.items() if a != "top"}
    if ctrl and "top" in arm_means:
        text += (f" Mean adoption over attributes: top-{k} {_fmt(arm_means['top'])} against "
                 + ", ".join(f"{a}-{k} {_fmt(v)}" for a, v in ctrl.items()) + ".")
        if arm_means["top"] > max(ctrl.values()) + 0.1:
            text += " The massive channels carry more of the source than equally many other channels."
        elif arm_means["top"] <= max(ctrl.values()) + 0.05:
            text += (" On these numbers the top channels carry no more of the source than "
                     + _names([f"{a}-{k}" for a, v in ctrl.items() if arm_means["top"] <= v + 0.05]) + ".")
    if top["target_preservation"] is not None:
        text += f" Target preservation under top-{k}: {_fmt(top['target_preservation'])}."
    masked = [r for r in rows if r["arm"] == "top" and r["mask"] == "spatial" and r["k"] == k and r["alpha"] == 1.0]
    if masked and masked[0]["target_preservation"] is not None and top["target_preservation"] is not None:
        mp = masked[0]["target_preservation"]
        ma = [v for v in masked[0]["source_adoption"].values() if v is not None]
        text += (f" Inside the source's spatial mask: preservation {_fmt(mp)}, mean adoption "
                 f"{_fmt(float(np.mean(ma)) if ma else None)}"
                 + (" (the mask keeps more of the target)." if mp > top["target_preservation"] + 0.02 else "."))
    for arm in BASELINES:
        b = [r for r in rows if r["arm"] == arm]
        if b:
            r = b[0]
            vals = [v for v in r["source_adoption"].values() if v is not None]
            text += (f" {arm.replace('_', ' ')} (alpha {r['alpha']:g}): mean adoption {_fmt(float(np.mean(vals)) if vals else None)}, "
                     f"preservation {_fmt(r['target_preservation'])}.")
    return text


# -- the report ---------------------------------------------------------------------------
def report_specs(model, k: int = DEFAULT_K, quick: bool = False, num_steps: int | None = None) -> list[TransportSpec]:
    """The settings the report sweeps: the three arms, the spatial mask, alpha, k, blocks, steps."""
    num_steps = num_steps or model.default_steps
    specs = [TransportSpec(arm, k) for arm in ARMS] + [TransportSpec("top", k, mask="source")]
    if quick:
        return specs
    specs.append(TransportSpec("top", k, alpha=0.5))
    specs.append(TransportSpec("top", min(4 * k, model.width)))
    for blocks in block_groups(model).values():
        specs.append(TransportSpec("top", k, blocks=blocks))
    half = num_steps // 2
    specs.append(TransportSpec("top", k, steps=tuple(range(half))))
    specs.append(TransportSpec("top", k, steps=tuple(range(half, num_steps))))
    return specs


def report_section(ctx):
    """Section("transport"): the sweep rows (exact schema), a reading, figures and strips."""
    from ..plots.common import png_data_uri
    from ..plots.transport import adoption_bars
    from ..report import Section, calibration_stats

    model = ctx.model
    score = calibration_stats(ctx).score("absmean")
    if model.world is not None:
        pairs = model.world.caption_pairs(2 if ctx.quick else 5)
        sources, targets = [p.source for p in pairs], [p.target for p in pairs]
    else:  # a model without a world: consecutive prompts as pairs
        ps = ctx.prompts[: (2 if ctx.quick else 4) + 1]
        if len(ps) < 2:
            raise ValueError("the transport section needs at least two prompts")
        sources, targets = ps[1:], ps[:-1]
    seeds = [ctx.seeds[i % len(ctx.seeds)] for i in range(len(sources))]
    # 10 Euler steps (the default is 20) keep the sweep inside the report's time budget
    steps = 4 if ctx.quick else min(10, model.default_steps)
    num_steps = steps
    specs = report_specs(model, quick=ctx.quick, num_steps=num_steps)
    out = sweep(model, sources, targets, seeds, specs, score, ctx.metrics, baselines=(0.5,), steps=steps,
                progress=False)
    rows = out["rows"]
    res = out["result"]
    n = len(sources)
    strip = [res.sources, res.targets] + [res.outputs[j] for j in range(min(3, len(specs)))]
    strip += [v for key, v in out["baselines"].items()]
    labels = ["source", "target"] + [specs[j].label() for j in range(min(3, len(specs)))] + \
             [f"{a.replace('_', ' ')} {al:g}" for a, al in out["baselines"]]
    grid = torch.stack(strip, 1).reshape(-1, *res.sources.shape[1:])  # rows = pairs, columns = settings
    images = [(f"each row a pair; columns: {'; '.join(labels)}", png_data_uri(grid, cols=len(strip)))]
    text = reading(rows) + (f" ({n} pairs, {res.clean.steps} steps; the spatial mask is the source's, read at "
                            f"block {res.mask_at[0]}, step {res.mask_at[1]}.)" if res.mask_at else "")
    return Section("transport", "Transferable: activation transport", rows, figures=[adoption_bars(rows)],
                   images=images, text=text)
