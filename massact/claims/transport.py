"""Claim 3, "transferable": activation transport between two generations from the same noise.

A source prompt and a target prompt are sampled from the same seed, in ONE batched pass
(rows ``[sources..., targets...]``). At chosen blocks and steps the target's image stream is
pulled toward the source's under the joint mask M = p m^T (p: a token mask, m: the
indicator of k channels), weighted by alpha:

    X_t <- X_t (1 - alpha M) + X_s alpha M          (alpha = 1: the paper's replacement)

One setting is a ``TransportSpec``: a ``massact.Selection`` (arm, k, blocks, steps, seed:
which channels, where and when) plus alpha and the token mask. Its selection builds one
``EditSpec("mix", source_rows=((target_row, source_row), ...))`` (``Selection.edit``): the
source rows are computed in the same batch, so no activation is stored.

* p: no mask (every token), or the *spatial mask* of the source (or of the target): its
  clean tokens, restricted to the top-k channels of one block and step, clustered into
  foreground/background (``clustering.token_foreground_mask``). That needs the tokens of a
  first, clean pass (``CaptureSpec(keep=((block, step),))``), which the metrics need
  anyway (the clean source and target images).
* m: the top-k, bottom-k, random-k or energy-matched channels of each transported block,
  ranked on calibration prompts (``massact.calibrate(model).score()``), never on the pairs
  that are measured (k = the width: every channel, whatever the arm, with no score needed).

Exactness (the tests pin both):

* alpha = 0 gives the target image bit for bit (x * 1 + x_s * 0 == x), compared with the
  clean pass of the same batch shape;
* alpha = 1 with all channels at all blocks, no mask, gives the source only *almost*: the
  image stream after the last block is the source's, but the transformer's final
  AdaLayerNorm (``norm_out``) is modulated by the target's pooled text embedding.

Baselines: ``pixel_blend`` (any model) and ``embedding_lerp`` (lerp of the two prompts'
text-encoder outputs; models that expose their sampler, others raise NotImplementedError).

Metrics (``model.metrics()``; on the toy world the judge reads the attributes):
``measure`` gives, for each attribute, the *source adoption* (over the pairs whose clean
source and target differ in it, how often the output shows the source's value) and the
*target preservation* (mean of: agreement with the target on the attributes source and
target share, and the foreground-mask IoU with the target image).

By kind of attribute (``ATTRIBUTE_KINDS``): *layout* (position, size), *identity* (shape,
colour) and *background*; per pair, the share of that kind's differing attributes the
output takes from the source, so the pairs are the paired unit of a bootstrap interval.

``sweep`` runs many settings in one batched pass and returns a ``Sweep``, the one result shape
of every claim (``massact.claims.results.Results``) over the caption pairs: one condition per
setting and baseline, one value per pair of each metric (``pair_metrics``), so
``sw.estimate(metric, **where)`` and ``sw.difference(metric, a, b, **where)`` give
``massact.stats.Estimate``s paired on the same pairs, and ``sw.select(**where)`` is a
``Sweep`` again. ``sw.rows()`` are the rows of the report's ``results.json`` (``n`` pairs,
``adoption_ci``, ``source_adoption_ci``, ``target_preservation_ci``, ...). The sentences built
from them are ``massact.readings.transport(sw.rows())``; the report's section is
``massact.report.sections``.

The claim over k and what the channels carry, read from one sweep: ``over_k_specs(ks)`` (the three
arms at each k, the random arm drawn outside each block's top-``max(ks)`` channels, so that it never
holds a channel of a top set it is compared with) and ``carry_specs(k, width)`` (every channel, the
top-k, the random-k and all but the top-k: the bottom width - k, the top-k's complement). Then
``over_k(sw)`` gives each arm's adoption at each k per kind of attribute, per attribute and for the
pixel shift, with top - random and top - bottom paired on the same pairs and a verdict
(``massact.stats.verdict``) per k; ``carry(sw, k, width)`` gives, per attribute, the four sets'
adoption, top-k - random-k and all-but-top-k - top-k. Their sentences are
``massact.readings.transport_over_k`` and ``massact.readings.transport_carry``.
"""
from __future__ import annotations

import warnings
from dataclasses import dataclass, field
from typing import Sequence

import numpy as np
import torch

from ..checks import WrongType, check_choice, check_index, check_int, check_seeds
from ..clustering import iou, token_foreground_mask
from ..generation import generate
from ..flow import lerp_conditioning
from ..models import require_sampler
from ..ranking import ARMS
from ..selection import Selection, span_label
from ..specs import CaptureSpec, check_alpha
from ..stats import VERDICTS, verdict
from .results import Results, rounded, significant
from .rows import Rows

MASKS = ("none", "source", "target")
BASELINES = ("pixel_blend", "embedding_lerp")
DEFAULT_K = 4
DEFAULT_MASK_K = 8  # channels the spatial mask clusters on (the spatial claim's default k)
#: what an attribute is about: where and how large (layout), what it is (identity), the backdrop
ATTRIBUTE_KINDS = {"layout": ("position", "size"), "identity": ("shape", "color"), "background": ("background",)}


# -- what to transport --------------------------------------------------------------------
def _spec_text(v) -> str:
    return v if isinstance(v, str) else span_label(v)


@dataclass(frozen=True, init=False)
class TransportSpec:
    """One transport setting: a ``Selection`` plus alpha and the token mask.

    Build it from a selection, ``TransportSpec(selection=Selection("top", 4, steps="early"),
    alpha=0.5)``, or with the selection's keywords, ``TransportSpec("top", 4, alpha=0.5,
    steps="early")`` (the same setting).

    Args:
        arm: "top", "bottom" or "random" (by the calibration score), or "energy" (``transport``
          then needs ``energy=``);
        k: channels per block (k = the model's width transports every channel, whatever the arm);
        alpha: weight in [0, 1] inside the mask (1 = replacement, 0 = nothing moves);
        mask: "none" (every token), "source" or "target" (that image's spatial mask);
        blocks / steps: block and step specifications as in ``Selection`` ("all" or None =
          every block / step, "early", "late", "2-5", a tuple of ints);
        seed: the random arm's draw;
        outside: the random arm draws outside each block's top-``outside`` channels (0: among
          all channels, so a draw may hold massive channels; ``Selection.outside``);
        selection: a ``Selection`` instead of arm/k/blocks/steps/seed/outside.

    Alpha (``specs.check_alpha``, kept as an ``Alpha`` that the edit trusts) and mask are
    checked here, arm, k, seed and the block/step syntax by ``Selection``; k, block and step
    ranges once, against the model and run, when ``transport`` builds the edit
    (``Selection.edit``).
    """

    selection: Selection
    alpha: float
    mask: str

    def __init__(self, arm: str = "top", k: int = DEFAULT_K, alpha: float = 1.0, mask: str = "none", blocks=None,
                 steps=None, seed: int = 0, *, outside: int = 0, selection: Selection | None = None):
        if selection is None:
            selection = Selection(arm, k, "all" if blocks is None else blocks, "all" if steps is None else steps,
                                  seed, outside)
        elif not isinstance(selection, Selection):
            raise WrongType(f"selection must be a massact.Selection, got {type(selection).__name__}")
        elif (arm, k, blocks, steps, seed, outside) != ("top", DEFAULT_K, None, None, 0, 0):
            raise ValueError("give selection=... or arm/k/blocks/steps/seed, not both")
        object.__setattr__(self, "selection", selection)
        object.__setattr__(self, "alpha", check_alpha(alpha))
        object.__setattr__(self, "mask", check_choice("mask", mask, MASKS))

    # the selection's parts, read through
    arm = property(lambda self: self.selection.arm, doc="the channel arm")
    k = property(lambda self: self.selection.k, doc="channels per block")
    blocks = property(lambda self: self.selection.blocks, doc='the block specification ("all" or a tuple)')
    steps = property(lambda self: self.selection.steps, doc='the step specification ("all" or a tuple)')
    seed = property(lambda self: self.selection.seed, doc="the random arm's draw")
    outside = property(lambda self: self.selection.outside, doc="the top channels a random draw leaves out")

    def replace(self, **changes) -> "TransportSpec":
        """A copy with some of alpha, mask, arm, k, blocks, steps, seed, outside (or selection) changed."""
        sel = changes.pop("selection", self.selection)
        parts = {name: changes.pop(name) for name in ("arm", "k", "blocks", "steps", "seed", "outside")
                 if name in changes}
        if parts:
            sel = Selection(**{**sel.summary(), **{k: (tuple(v) if isinstance(v, list) else v)
                                                    for k, v in parts.items()}})
        alpha, mask = changes.pop("alpha", self.alpha), changes.pop("mask", self.mask)
        if changes:
            raise TypeError(f"TransportSpec has no {sorted(changes)}: change alpha, mask, arm, k, blocks, steps, seed, "
                            "outside")
        return TransportSpec(alpha=alpha, mask=mask, selection=sel)

    @property
    def label(self) -> str:
        """Short text, e.g. "top-4, alpha 1, source mask (blocks 0-2)" or "named 98,32, alpha 1"."""
        where = [f"{name} {_spec_text(v)}" for name, v in (("blocks", self.blocks), ("steps", self.steps)) if v != "all"]
        if self.arm in ("random", "energy"):
            where.append(f"seed {self.seed}")
        if self.outside:
            where.append(f"outside the top-{self.outside}")
        m = "" if self.mask == "none" else f", {self.mask} mask"
        return f"{self.selection.arm_label}, alpha {self.alpha:g}{m}" + (f" ({', '.join(where)})" if where else "")

    def row(self, num_blocks: int | None = None, num_steps: int | None = None) -> dict:
        """This setting as the first columns of a sweep row: arm, k, alpha, mask ("none" or
        "spatial"), blocks and steps ("all" or a list; "early"/"late" resolved when the
        counts are given), and ``outside`` for a random arm drawn outside the top channels."""
        def span(v, n, resolve):
            if v == "all":
                return "all"
            if isinstance(v, str) and n is not None:
                out = resolve(v, n)
                return "all" if out is None else list(out)
            return v if isinstance(v, str) else list(v)

        sel = self.selection
        row = {"arm": self.arm, "k": self.k, "alpha": self.alpha, "mask": "none" if self.mask == "none" else "spatial",
               "blocks": span(sel.blocks, num_blocks, lambda v, n: Selection(blocks=v).block_indices(n)),
               "steps": span(sel.steps, num_steps, lambda v, n: Selection(steps=v).step_indices(n))}
        if sel.outside:
            row["outside"] = sel.outside
        return row

    def __str__(self) -> str:
        return self.label


def block_groups(model) -> dict[str, tuple[int, ...]]:
    """The model's block lists by name (toy/FLUX: double-stream then single-stream), e.g.
    {"transformer_blocks": (0, 1, 2), "single_transformer_blocks": (3, 4, 5, 6)}; a model with
    one list is split into its first and second half."""
    groups: dict[str, list[int]] = {}
    for ref in model.blocks:
        groups.setdefault(ref.spec.path, []).append(ref.index)
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


# -- the clean pass -----------------------------------------------------------------------
@dataclass
class PairRun:
    """The clean generation of the pairs (rows [sources..., targets...]) and its kept tokens."""

    sources: list[str]
    targets: list[str]
    seeds: list[int]
    num_steps: int
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


def clean_pass(model, sources, targets, seeds=0, num_steps: int | None = None, guidance: float | None = None,
               keep: Sequence[tuple[int, int]] = (), progress: bool = False) -> PairRun:
    """Sample sources and targets (same seed per pair) in one batch.

    Args:
        model: a massact model.
        sources, targets: lists of prompts of the same length (pair i = sources[i], targets[i]).
        seeds: one seed per pair or one int (source and target share it: the same noise).
        num_steps, guidance: the sampler's settings (None: the model's defaults).
        keep: (block, step) pairs whose image tokens are kept (for spatial masks).
        progress: show a progress bar.
    Returns:
        a ``PairRun``.
    """
    sources, targets, seeds = check_pairs(sources, targets, seeds)
    capture = CaptureSpec(blocks=(), keep=tuple(keep), stats=False) if keep else None
    g = generate(model, sources + targets, seeds + seeds, num_steps=num_steps, guidance=guidance, capture=capture,
                 progress=progress)
    return PairRun(sources, targets, seeds, g.num_steps, g.guidance, g.images, dict(g.tensors))


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
    channels = Selection("top", k, blocks=(block,)).channels(score)[block]
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
    if isinstance(specs, (str, bytes)) or not isinstance(specs, (list, tuple)):
        raise WrongType(f"specs must be a TransportSpec or a non-empty list of them, got {type(specs).__name__}")
    specs = list(specs)
    if not specs or not all(isinstance(s, TransportSpec) for s in specs):
        raise WrongType("specs must be a TransportSpec or a non-empty list of them")
    return specs


def _row_mask(pairs: Sequence[tuple[int, int]], num_rows: int, token_mask: torch.Tensor | None) -> torch.Tensor | None:
    """float (num_rows, tokens): token_mask[i] on target row pairs[i][0], ones elsewhere (None: no mask)."""
    if token_mask is None:
        return None
    tm = torch.ones(num_rows, token_mask.shape[-1])
    for (t, _), m in zip(pairs, token_mask):
        tm[t] = m.float()
    return tm


def transport(model, sources, targets, seeds=0, specs=TransportSpec(), score: torch.Tensor | None = None,
              clean: PairRun | None = None, num_steps: int | None = None, guidance: float | None = None,
              mask_at: tuple[int, int] | None = None, mask_k: int = DEFAULT_MASK_K,
              masks: dict | None = None, progress: bool = False, energy: torch.Tensor | None = None
              ) -> TransportResult:
    """Transport source activations into the targets, for one setting or a list of them.

    One batched generate call holds rows [sources..., targets for spec 0..., targets for
    spec 1..., ...], each spec an ``EditSpec("mix")`` on its own target rows, built by the
    spec's selection (``Selection.edit``).

    Args:
        model: a massact model.
        sources, targets, seeds: the pairs (see ``clean_pass``).
        specs: a ``TransportSpec`` or a list of them.
        score: calibration scores (blocks, channels), needed unless every spec moves all
          channels without a mask (``massact.calibrate(model).score()``).
        clean: a ``clean_pass`` of the same pairs (computed when None); with a spatial mask
          it must have kept ``mask_at``.
        num_steps, guidance: the sampler's settings (None: the clean pass's, or the model's).
        mask_at: (block, step) where the spatial masks are read (default ``default_mask_at``).
        mask_k: channels the spatial masks cluster on.
        masks: your own token masks {"source"/"target": bool (pairs, tokens)} instead of
          the clustered ones.
        progress: show a progress bar.
        energy: for specs of the "energy" arm, (blocks, channels) squared activations
          (``massact.calibrate(model).stats.energy()``).
    Returns:
        a ``TransportResult``.
    Raises:
        ValueError / TypeError naming what is valid (a spec's k, blocks or steps out of range
        when its edit is built, before the edited generation); no hook is left installed.
    """
    sources, targets, seeds = check_pairs(sources, targets, seeds)
    specs = _as_specs(specs)
    n = len(sources)
    if clean is None:
        num_steps = model.default_steps if num_steps is None else num_steps
    else:
        if (clean.sources, clean.targets, clean.seeds) != (sources, targets, seeds):
            raise ValueError("clean was computed for other pairs or seeds: pass the same sources, targets and seeds")
        if num_steps is not None and num_steps != clean.num_steps:
            raise ValueError(f"num_steps {num_steps} but the clean pass ran {clean.num_steps} steps")
        if guidance is not None and float(guidance) != clean.guidance:
            raise ValueError(f"guidance {guidance} but the clean pass used {clean.guidance}")
        num_steps, guidance = clean.num_steps, clean.guidance
    given = {} if masks is None else dict(masks)
    for w, tm in given.items():
        if w not in ("source", "target"):
            raise ValueError(f"masks has key {w!r}; use 'source' or 'target'")
        if tuple(tm.shape) != (n, model.num_image_tokens):
            raise ValueError(f"masks[{w!r}] has shape {tuple(tm.shape)}; expected (pairs, tokens) = "
                             f"({n}, {model.num_image_tokens})")
    wants_mask = sorted({s.mask for s in specs} - {"none"} - set(given))
    if (any(s.k < model.width for s in specs) or wants_mask) and score is None:
        raise ValueError("the channel arms and the spatial mask rank channels: pass "
                         "score=massact.calibrate(model).score() (scores on calibration prompts, shape "
                         "(blocks, channels))")
    if score is not None and tuple(score.shape) != (model.num_blocks, model.width):
        raise ValueError(f"score has shape {tuple(score.shape)}; expected (blocks, channels) = "
                         f"({model.num_blocks}, {model.width})")
    if score is None:  # every spec moves every channel: a flat score ranks them all alike
        score = torch.zeros(model.num_blocks, model.width)
    if mask_at is None:
        mask_at = default_mask_at(model, num_steps)
    elif wants_mask:
        mask_at = (check_index("block", mask_at[0], model.num_blocks), check_index("step", mask_at[1], num_steps))
    if clean is None:
        clean = clean_pass(model, sources, targets, seeds, num_steps=num_steps, guidance=guidance,
                           keep=(mask_at,) if wants_mask else (), progress=progress)
    masks = {w: spatial_masks(clean, w, score, mask_at, model.token_grid(), mask_k) for w in wants_mask}
    masks.update({w: tm.bool().cpu() for w, tm in given.items()})

    num_rows = n * (1 + len(specs))
    edits = []
    for j, s in enumerate(specs):
        pairs = [(n * (1 + j) + i, i) for i in range(n)]
        edits.append(s.selection.edit(score, num_steps, "mix", alpha=s.alpha, source_rows=pairs,
                                      token_mask=_row_mask(pairs, num_rows, masks.get(s.mask)), energy=energy))
    g = generate(model, sources + targets * len(specs), seeds * (1 + len(specs)), num_steps=num_steps,
                 guidance=clean.guidance, edits=edits, progress=progress)
    outputs = g.images[n:].reshape(len(specs), n, *g.images.shape[1:])
    return TransportResult(specs, clean, outputs, [dict(e.channels) for e in edits], masks,
                           mask_at if wants_mask else None)


# -- baselines ----------------------------------------------------------------------------
def pixel_blend(source_images: torch.Tensor, target_images: torch.Tensor, alpha: float) -> torch.Tensor:
    """(1 - alpha) target + alpha source, pixel by pixel: what transport is *not*."""
    alpha = check_alpha(alpha)
    if source_images.shape != target_images.shape:
        raise ValueError(f"image shapes differ: {tuple(source_images.shape)} vs {tuple(target_images.shape)}")
    return torch.lerp(target_images.float(), source_images.float(), alpha)


def embedding_lerp(model, sources, targets, seeds=0, alphas: Sequence[float] | float = 0.5,
                   num_steps: int | None = None, guidance: float | None = None) -> torch.Tensor:
    """Interpolate the two prompts' text-encoder outputs (per-token states and pooled vector),
    then sample from the pair's seed.

    Models that expose their sampler only (``model.encode_prompts``, ``model.sample(conditioning=...)``):
    the toy (text states and pooled vector) and flow-matching pipelines (their ``prompt_embeds``,
    pooled embeddings and masks passed back to the pipeline, ``flow.lerp_conditioning``).

    Args:
        model: a massact model that exposes its sampler.
        sources, targets, seeds: the pairs (see ``clean_pass``).
        alphas: one lerp weight in [0, 1] or a list of them (0 = the target's embedding).
        num_steps, guidance: the sampler's settings (None: the model's defaults).
    Returns:
        (len(alphas), n, 3, H, W), or (n, 3, H, W) for a single alpha.
    """
    require_sampler(model, "embedding_lerp")
    single = isinstance(alphas, (int, float, np.floating)) and not isinstance(alphas, bool)
    alphas = [check_alpha(a) for a in ([alphas] if single else alphas)]
    if not alphas:
        raise ValueError("alphas is empty: give at least one alpha in [0, 1]")
    sources, targets, seeds = check_pairs(sources, targets, seeds)
    model.validate_prompts(sources + targets)
    n, m = len(sources), len(alphas)
    num_steps = check_int("num_steps", model.default_steps if num_steps is None else num_steps, 1,
                          what="the number of denoising steps")
    guidance = model.default_guidance if guidance is None else float(guidance)
    cs, ct = model.encode_prompts(sources, guidance), model.encode_prompts(targets, guidance)
    if isinstance(cs, dict):  # a pipeline's keyword arguments (prompt_embeds, ...): massact.flow
        cond = lerp_conditioning(ct, cs, alphas)
        out = model.sample(None, seeds * m, num_steps, guidance, conditioning=cond)
        out = out.reshape(m, n, *out.shape[1:])
        return out[0] if single else out
    (ts_, ps_), (tt_, pt_) = cs, ct
    u = n if guidance > 1 else 0  # conditioning stacks [uncond; cond] under guidance

    def mixed(s, t):
        cond = torch.cat([torch.lerp(t[u:], s[u:], a) for a in alphas])
        return torch.cat([t[:u].repeat(m, *([1] * (t.dim() - 1))), cond]) if u else cond

    cond = (mixed(ts_, tt_), mixed(ps_, pt_))
    out = model.sample(None, seeds * m, num_steps, guidance, conditioning=cond)  # the model's own Euler loop
    out = out.reshape(m, n, *out.shape[1:])
    return out[0] if single else out


# -- measuring ----------------------------------------------------------------------------
def measure(metrics, source_images: torch.Tensor, target_images: torch.Tensor, outputs: torch.Tensor) -> dict:
    """Source adoption per attribute and target preservation of outputs (n, 3, H, W).

    source_adoption[a]: over the pairs whose clean source and target differ in a (as the
      metrics read them), the share whose output shows the source's value (None: no pair differs);
    attribute_agreement: over (pair, attribute) where source and target agree, the share the
      output keeps; mask_iou: mean foreground-mask IoU of output and target;
    target_preservation: the mean of the two that are available (None if neither);
    pixel_mse_to_target / pixel_mse_to_source: mean pixel MSE of the outputs to the clean
      target / source images; pixel_shift: per pair d_t / (d_t + d_s) of those two MSEs,
      averaged (0: the output is the target, 1: it is the source; NaN for a pair whose
      output equals both). The pixel numbers need no judge: they exist on every model.
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
    # per pair (the paired unit): NaN where the pair does not test the quantity
    per_pair = {"source_adoption": {}, "adoption": {}, "target_preservation": None}
    d_t = ((outputs.float() - target_images.float()) ** 2).flatten(1).mean(1).double().numpy()
    d_s = ((outputs.float() - source_images.float()) ** 2).flatten(1).mean(1).double().numpy()
    with np.errstate(invalid="ignore", divide="ignore"):
        per_pair["pixel_shift"] = np.where(d_t + d_s > 0, d_t / (d_t + d_s), np.nan)
    out["pixel_shift"] = None if np.isnan(per_pair["pixel_shift"]).all() else float(np.nanmean(per_pair["pixel_shift"]))
    pair_parts = []
    if attrs:
        kept, shared = 0, 0
        k_pair, s_pair = np.zeros(n), np.zeros(n)
        adopted, differs = {}, {}
        for a, lab in attrs.items():
            lab = np.asarray(lab)
            s, t, o = lab[:n], lab[n:2 * n], lab[2 * n:]
            d = s != t
            out["differing_pairs"][a] = int(d.sum())
            out["source_adoption"][a] = float((o[d] == s[d]).mean()) if d.any() else None
            per_pair["source_adoption"][a] = np.where(d, (o == s).astype(float), np.nan)
            adopted[a], differs[a] = d & (o == s), d
            kept += int((o[~d] == t[~d]).sum())
            shared += int((~d).sum())
            k_pair += (o == t) & ~d
            s_pair += ~d
        if shared:
            out["attribute_agreement"] = kept / shared
            parts.append(out["attribute_agreement"])
        with np.errstate(invalid="ignore", divide="ignore"):
            pair_parts.append(np.where(s_pair > 0, k_pair / np.maximum(s_pair, 1), np.nan))
            # every attribute pooled: the share of a pair's differing attributes the output takes from the source
            dif_all = sum(d.astype(float) for d in differs.values())
            hit_all = sum(h.astype(float) for h in adopted.values())
            per_pair["all_attributes"] = np.where(dif_all > 0, hit_all / np.maximum(dif_all, 1), np.nan)
            for kind, members in ATTRIBUTE_KINDS.items():
                ms = [a for a in members if a in attrs]
                if ms:
                    dif = sum(differs[a].astype(float) for a in ms)
                    hit = sum(adopted[a].astype(float) for a in ms)
                    per_pair["adoption"][kind] = np.where(dif > 0, hit / np.maximum(dif, 1), np.nan)
    fg = metrics.foreground_mask(torch.cat([target_images, outputs]))
    if fg is not None:
        fg = np.asarray(fg, bool)
        ious = np.array([iou(fg[n + i], fg[i]) for i in range(n)], dtype=float)
        out["mask_iou"] = float(ious.mean())
        parts.append(out["mask_iou"])
        pair_parts.append(ious)
    if parts:
        out["target_preservation"] = float(np.mean(parts))
        with warnings.catch_warnings():  # a pair sharing no attribute has only its mask IoU
            warnings.simplefilter("ignore", RuntimeWarning)
            per_pair["target_preservation"] = np.nanmean(np.stack(pair_parts), axis=0)
    out["adoption"] = {kind: (None if np.isnan(v).all() else float(np.nanmean(v)))
                       for kind, v in per_pair["adoption"].items()}
    out["per_pair"] = per_pair
    return out


# -- the sweep's result ---------------------------------------------------------------------
#: how a ``Sweep`` names an attribute's source adoption: the toy's attribute "background" shares
#: its name with the kind of attribute "background"
_ADOPTION = "source_adoption_"
#: the set-level numbers of ``measure`` that are not the mean of its per-pair values
SET_LEVEL = ("target_preservation", "attribute_agreement", "mask_iou", "pixel_mse_to_target", "pixel_mse_to_source")


def adoption_metric(attribute: str) -> str:
    """The per-pair metric of one attribute's source adoption in a ``Sweep``.

    Args:
        attribute: an attribute the metrics read ("position", "color", "background", ...).
    Returns:
        its metric name, e.g. "source_adoption_position" (prefixed, so that an attribute never
        shares its name with a kind of attribute of ``ATTRIBUTE_KINDS``).
    """
    return _ADOPTION + attribute


def baseline_condition(arm: str, alpha: float) -> dict:
    """The condition of a baseline in a ``Sweep`` (the columns of ``TransportSpec.row``).

    Args:
        arm: "pixel_blend" or "embedding_lerp".
        alpha: its weight in [0, 1].
    Returns:
        {"arm", "k": None, "alpha", "mask": "none", "blocks": None, "steps": None}.
    """
    if arm not in BASELINES:
        raise ValueError(f"unknown baseline {arm!r}; choose one of {BASELINES}")
    return {"arm": arm, "k": None, "alpha": float(alpha), "mask": "none", "blocks": None, "steps": None}


def pair_metrics(m: dict) -> tuple[dict[str, np.ndarray], dict]:
    """One ``measure`` output as a ``Sweep`` keeps it.

    Args:
        m: a ``measure`` output.
    Returns:
        (per pair, set level): per pair, {metric: float array (pairs,)} with the adoption of
        each kind of attribute (``ATTRIBUTE_KINDS``: "layout", "identity", "background"), each
        attribute's source adoption (``adoption_metric``), "target_preservation" (where the
        metrics measure it) and "pixel_shift", NaN where a pair does not test the metric; set
        level, {name: number or None} for the names of ``SET_LEVEL``.
    """
    pp = m["per_pair"]
    per_pair = dict(pp["adoption"])
    per_pair.update({adoption_metric(a): v for a, v in pp["source_adoption"].items()})
    if pp["target_preservation"] is not None:
        per_pair["target_preservation"] = pp["target_preservation"]
    per_pair["pixel_shift"] = pp["pixel_shift"]
    return per_pair, {name: m[name] for name in SET_LEVEL}


# -- sweeps ---------------------------------------------------------------------------------
class Sweep(Results):
    """The measured settings of one ``sweep``: a ``Results`` whose items are the caption pairs.

    Conditions: one per setting (the columns of ``TransportSpec.row``: arm, k, alpha, mask,
    blocks, steps, and ``outside`` for a random arm drawn outside the top channels), then one per baseline (``baseline_condition``). Per-pair metrics and
    set-level numbers: ``pair_metrics``. Every question has the spelling of every claim::

        where = dict(k=4, alpha=1.0, mask="none", blocks="all", steps="all")
        sw.estimate("layout", arm="top", **where)                              # mean, 95% interval
        sw.difference("pixel_shift", dict(arm="top"), dict(arm="random"), **where)  # paired
        sw.select(arm="top").rows()                                            # results.json's rows

    Args:
        conditions, per_item, scalars, meta: as in ``Results`` (one item per caption pair).
        result: the ``TransportResult`` of the whole sweep (clean images and the settings'
          outputs), None without images.
        baselines: {(method, alpha): images} of the baselines.
    """

    claim = "transport"

    def __init__(self, conditions: Sequence[dict], per_item: Sequence[dict], scalars: Sequence[dict] | None = None,
                 result: TransportResult | None = None, baselines: dict | None = None, meta: dict | None = None):
        super().__init__(conditions, per_item, scalars, item="pair", meta=meta)
        self.result = result
        self.baselines = {} if baselines is None else dict(baselines)

    @classmethod
    def from_measures(cls, conditions: Sequence[dict], measures: Sequence[dict], result: TransportResult | None = None,
                      baselines: dict | None = None, meta: dict | None = None) -> "Sweep":
        """A ``Sweep`` from one ``measure`` output per condition (``pair_metrics``).

        Args:
            conditions: one dict of columns per measured setting (``TransportSpec.row``,
              ``baseline_condition``).
            measures: the ``measure`` output of each, in the same order.
            result, baselines, meta: as in ``Sweep``.
        Returns:
            a ``Sweep``.
        """
        parts = [pair_metrics(m) for m in measures]
        return cls(conditions, [p for p, _ in parts], [s for _, s in parts], result, baselines, meta)

    def rows(self, ndigits: int = 4) -> Rows:
        """One row per setting, in the schema of the report's ``results.json``, built from ``table``.

        Each row: the setting's columns; ``source_adoption`` {attribute: share} and ``adoption``
        {kind of attribute: share}, with their 95% bootstrap intervals over the pairs that
        differ in it (``source_adoption_ci``, ``adoption_ci``; None where no pair does);
        ``target_preservation`` (set level) with ``target_preservation_ci`` (over the per-pair
        mean of attribute agreement and mask IoU); ``n`` (pairs); ``pixel_mse_to_target`` and
        ``pixel_mse_to_source`` (``results.significant``); ``pixel_shift`` with
        ``pixel_shift_ci``. Every model has the pixel numbers, with or without a judge.

        Args:
            ndigits: decimals of the shares and intervals (``results.rounded``).
        Returns:
            a ``Rows``.
        """
        pairs = max((len(v) for p in self._per_item for v in p.values()), default=0)
        attributes = [m[len(_ADOPTION):] for m in self.metrics if m.startswith(_ADOPTION)]
        out = Rows()
        for flat in self.table():
            attrs = [a for a in attributes if adoption_metric(a) in flat]
            kinds = [kind for kind in ATTRIBUTE_KINDS if kind in flat]
            row = {c: flat[c] for c in self.columns if c in flat}
            row.update({
                "source_adoption": {a: rounded(flat[adoption_metric(a)], ndigits) for a in attrs},
                "target_preservation": rounded(flat.get("target_preservation"), ndigits), "n": pairs,
                "adoption": {kind: rounded(flat[kind], ndigits) for kind in kinds},
                "adoption_ci": {kind: rounded(flat[f"{kind}_ci"], ndigits) for kind in kinds},
                "source_adoption_ci": {a: rounded(flat[f"{adoption_metric(a)}_ci"], ndigits) for a in attrs},
                "target_preservation_ci": rounded(flat.get("target_preservation_ci"), ndigits),
                "pixel_mse_to_target": significant(flat.get("pixel_mse_to_target")),
                "pixel_mse_to_source": significant(flat.get("pixel_mse_to_source")),
                "pixel_shift": rounded(flat.get("pixel_shift"), ndigits),
                "pixel_shift_ci": rounded(flat.get("pixel_shift_ci"), ndigits)})
            out.append(row)
        return out


def sweep(model, sources, targets, seeds, specs: Sequence[TransportSpec], score, metrics=None,
          baselines: Sequence[float] = (), clean: PairRun | None = None, mask_at=None, num_steps: int | None = None,
          progress: bool = False, energy: torch.Tensor | None = None) -> Sweep:
    """Run every setting in one batched transport pass and measure it, plus baselines.

    Args:
        model, sources, targets, seeds, score, clean, mask_at, num_steps, progress, energy: as in
          ``transport``.
        specs: the settings.
        metrics: the model's metrics (None: ``model.metrics()``).
        baselines: alphas of the baselines (pixel blend always, embedding lerp where the
          model exposes its sampler).
    Returns:
        a ``Sweep``: the settings in order, then the baselines.
    """
    metrics = metrics or model.metrics()
    res = transport(model, sources, targets, seeds, list(specs), score=score, clean=clean, mask_at=mask_at,
                    num_steps=num_steps, progress=progress, energy=energy)
    conditions = [s.row(model.num_blocks, res.clean.num_steps) for s in res.specs]
    measures = [measure(metrics, res.sources, res.targets, o) for o in res.outputs]
    base = {}
    for a in baselines:
        base[("pixel_blend", a)] = pixel_blend(res.sources, res.targets, a)
    if baselines:
        try:
            lerp = embedding_lerp(model, res.clean.sources, res.clean.targets, res.clean.seeds, list(baselines),
                                  num_steps=res.clean.num_steps, guidance=res.clean.guidance)
        except NotImplementedError:
            lerp = None
        if lerp is not None:
            base.update({("embedding_lerp", a): imgs for a, imgs in zip(baselines, lerp)})
    for (method, a), imgs in base.items():
        conditions.append(baseline_condition(method, a))
        measures.append(measure(metrics, res.sources, res.targets, imgs))
    meta = {"sources": res.clean.sources, "targets": res.clean.targets, "seeds": res.clean.seeds,
            "num_steps": res.clean.num_steps, "guidance": res.clean.guidance,
            "mask_at": None if res.mask_at is None else list(res.mask_at)}
    return Sweep.from_measures(conditions, measures, res, base, meta)


# -- the claim over k, and what the channels carry ------------------------------------------------
#: the channel counts of the curve over k (the critical and spatial claims use the same)
OVER_K = (1, 2, 4, 8, 16)
#: the smallest paired adoption difference that counts (a tenth of the pairs that differ)
OVER_K_MINIMUM = 0.1
#: the setting every point of the curve shares: replacement at every block and step, no mask
CURVE_WHERE = {"alpha": 1.0, "mask": "none", "blocks": "all", "steps": "all"}
#: the four channel sets of the carry table, as (arm, k) given the carry's k and the width
CARRY_SETS = ("all", "top", "random", "all_but_top")


def over_k_specs(ks: Sequence[int] = OVER_K, outside: int | None = None) -> list[TransportSpec]:
    """The settings of the curve over k: the top, bottom and random arms at each k, alpha 1,
    every block and step, no mask.

    Args:
        ks: the channel counts (each >= 1; checked against the width when the sweep builds the edits).
        outside: the random arm draws outside each block's top-``outside`` channels (None: the
          largest k, so that no random set holds a top channel of the curve; 0: among all channels).
    Returns:
        the specs, k by k (top, bottom, random at each).
    """
    ks = [check_int("k", k, 1, what="channels per block") for k in ks]
    if not ks:
        raise ValueError("ks is empty: give at least one k, e.g. (1, 2, 4, 8, 16)")
    outside = max(ks) if outside is None else outside
    return [TransportSpec(arm, k, outside=outside if arm == "random" else 0) for k in ks for arm in ARMS]


def carry_specs(k: int, width: int, outside: int | None = None) -> list[TransportSpec]:
    """The settings of the carry table: every channel (k = width), the top-k, the random-k (drawn
    outside the top-``outside``) and all but the top-k (the bottom width - k, the top-k's
    complement), alpha 1, every block and step, no mask.

    Args:
        k: the top set's size (1 <= k < width).
        width: the model's channels per block.
        outside: as in ``over_k_specs`` (None: k).
    Returns:
        four specs in the order of ``CARRY_SETS``.
    """
    width = check_int("width", width, 2, what="channels per block")
    k = check_int("k", k, 1, width - 1, what="the top set's channels (below the width, so that a rest remains)")
    outside = k if outside is None else check_int("outside", outside, 0, what="top channels left out")
    if k + outside > width:
        raise ValueError(f"a random-{k} drawn outside the top-{outside} needs {k + outside} channels, the model has "
                         f"{width}: pass outside=0 (a uniform draw) or a smaller k")
    return [TransportSpec("top", width), TransportSpec("top", k), TransportSpec("random", k, outside=outside),
            TransportSpec("bottom", width - k)]


def _summary(sw: "Sweep", metric: str, **where) -> dict | None:
    """The estimate's summary (mean, ci, n), None where no pair tests the metric."""
    if np.isnan(sw.per_item(metric, **where)).all():
        return None
    return sw.estimate(metric, **where).summary()


def _difference(sw: "Sweep", metric: str, a: dict, b: dict, **where):
    """The paired difference a - b, None where no pair tests the metric under both."""
    va, vb = sw.per_item(metric, **{**where, **a}), sw.per_item(metric, **{**where, **b})
    if (np.isnan(va) | np.isnan(vb)).all():
        return None
    return sw.difference(metric, a, b, **where)


def _attributes(sw: "Sweep") -> list[str]:
    """The attributes whose adoption the sweep measured, kind by kind (``ATTRIBUTE_KINDS``), then any other."""
    have = [m[len(_ADOPTION):] for m in sw.metrics if m.startswith(_ADOPTION)]
    ordered = [a for members in ATTRIBUTE_KINDS.values() for a in members if a in have]
    return ordered + [a for a in have if a not in ordered]


def _curve_metrics(sw: "Sweep") -> dict[str, dict[str, str]]:
    """What the curve reads, by group: {group: {name: the sweep's metric}} for the kinds of
    attribute, the attributes and the pixel shift."""
    have = set(sw.metrics)
    return {"kinds": {kind: kind for kind in ATTRIBUTE_KINDS if kind in have},
            "attributes": {a: adoption_metric(a) for a in _attributes(sw)},
            "pixel_shift": {"pixel_shift": "pixel_shift"} if "pixel_shift" in have else {}}


def random_outside_of(sw: "Sweep", **where) -> int:
    """The ``outside`` of the sweep's random arms that meet ``where`` (0: uniform draws).

    Raises:
        ValueError when those random arms were drawn in different ways.
    """
    seen = {c.get("outside") or 0 for c in sw.conditions.select(arm="random", **where)}
    if len(seen) > 1:
        raise ValueError(f"the random arms were drawn outside different top sets {sorted(seen)}; "
                         "select one with sw.select(outside=...)")
    return seen.pop() if seen else 0


def over_k(sw: "Sweep", ks: Sequence[int] | None = None, minimum: float = OVER_K_MINIMUM) -> dict:
    """The transport claim as a curve over k: at each k, each arm's adoption and the paired
    differences top - random and top - bottom on the same pairs, with their verdicts.

    Read per kind of attribute (``ATTRIBUTE_KINDS``), per attribute and for the pixel shift
    toward the source (which every model has), at alpha 1, every block and step, no mask
    (``CURVE_WHERE``; build the settings with ``over_k_specs``).

    Args:
        sw: a ``Sweep`` holding the three arms at each k.
        ks: the ks to read (None: every k where the sweep holds top, bottom and random).
        minimum: the smallest mean difference that counts (``stats.verdict``).
    Returns:
        {"ks", "minimum", "random_outside", "n" (pairs), "kinds" / "attributes" / "pixel_shift":
        {metric: {"per_k": [{"k", "adoption": {arm: {"mean", "ci", "n"} or None},
        "top-random", "top-bottom" (difference summaries or None), "verdict" {control: word},
        "status"}], "holds": [k...], "fails": [k...]}}}: ``status`` is the weaker verdict of the
        two comparisons (``stats.VERDICTS``), None where no pair differs in the metric;
        ``holds`` the ks "reproduced", ``fails`` those "not reproduced".
    Raises:
        ValueError when a k lacks an arm or the random arms were drawn in different ways.
    """
    curve = sw.select(**CURVE_WHERE)
    if ks is None:
        ks = sorted({c["k"] for c in curve.conditions if c["arm"] == "top"}
                    & {c["k"] for c in curve.conditions if c["arm"] == "bottom"}
                    & {c["k"] for c in curve.conditions if c["arm"] == "random"})
    ks = [int(k) for k in ks]
    if not ks:
        raise ValueError("the sweep holds no k with the top, bottom and random arms at alpha 1, every block and "
                         "step, no mask: build the settings with over_k_specs(ks)")
    out = {"ks": ks, "minimum": minimum, "random_outside": random_outside_of(curve, k=set(ks)),
           "n": len(sw.per_item("pixel_shift", arm="top", k=ks[0], **CURVE_WHERE))}
    for group, metrics in _curve_metrics(sw).items():
        out[group] = {}
        for name, metric in metrics.items():
            per_k = []
            for k in ks:
                row = {"k": k, "adoption": {arm: _summary(curve, metric, arm=arm, k=k) for arm in ARMS},
                       "verdict": {}}
                for control in ("random", "bottom"):
                    d = _difference(curve, metric, dict(arm="top"), dict(arm=control), k=k)
                    row[f"top-{control}"] = None if d is None else d.summary()
                    if d is not None:
                        row["verdict"][control] = verdict(d, minimum)
                # the weaker of the two comparisons (VERDICTS runs strongest first)
                row["status"] = max(row["verdict"].values(), key=VERDICTS.index) if row["verdict"] else None
                per_k.append(row)
            out[group][name] = {"per_k": per_k, "holds": [r["k"] for r in per_k if r["status"] == VERDICTS[0]],
                                  "fails": [r["k"] for r in per_k if r["status"] == VERDICTS[-1]]}
    return out


def carry(sw: "Sweep", k: int, width: int, minimum: float = OVER_K_MINIMUM) -> list[dict]:
    """What the channels carry: per attribute, the adoption with every channel, the top-k, the
    random-k and all but the top-k, and the two paired differences that say where it lives.

    Args:
        sw: a ``Sweep`` holding the settings of ``carry_specs(k, width)`` (alpha 1, every block
          and step, no mask).
        k: the top set's size.
        width: the model's channels per block.
        minimum: the smallest mean difference that counts (``stats.verdict``).
    Returns:
        one row per attribute (kind by kind): {"attribute", "kind", "k", "width", "random_outside",
        "adoption": {set: {"mean", "ci", "n"} or None for each of ``CARRY_SETS``},
        "top-random" and "all_but_top-top" (paired difference summaries or None),
        "verdict": {"top-random", "all_but_top-top": word}}; [] for a model whose metrics read no
        attribute.
    """
    sets = {"all": dict(arm="top", k=width), "top": dict(arm="top", k=k), "random": dict(arm="random", k=k),
            "all_but_top": dict(arm="bottom", k=width - k)}
    curve = sw.select(**CURVE_WHERE)
    missing = [name for name, where in sets.items() if not curve.conditions.select(**where)]
    if missing:
        raise ValueError(f"the sweep lacks the carry table's {missing} settings at k = {k} of {width}: add "
                         f"carry_specs({k}, {width}) to the sweep")
    outside = random_outside_of(curve, k=k)
    kind_of = {a: kind for kind, members in ATTRIBUTE_KINDS.items() for a in members}
    rows = []
    for a in _attributes(sw):
        metric = adoption_metric(a)
        row = {"attribute": a, "kind": kind_of.get(a), "k": k, "width": width, "random_outside": outside,
               "adoption": {name: _summary(curve, metric, **where) for name, where in sets.items()}, "verdict": {}}
        for name, (x, y) in (("top-random", ("top", "random")), ("all_but_top-top", ("all_but_top", "top"))):
            d = _difference(curve, metric, sets[x], sets[y])
            row[name] = None if d is None else d.summary()
            if d is not None:
                row["verdict"][name] = verdict(d, minimum)
        rows.append(row)
    return rows
