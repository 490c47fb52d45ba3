"""What every section of the report shares: the context, the section record, and the one
rule for which prompts, seeds and pairs a section uses.

The rule (``ReportContext.images`` and ``ReportContext.pairs``):

* **images** are evaluation prompts x evaluation seeds: the prompts given to ``reproduce``
  (a ``--prompts`` file) or, without them, ``model.world.evaluation_prompts``; seeds
  0..num_seeds-1. Channels are never ranked on them.
* **pairs** (transport, interpolation) come from ``model.world.caption_pairs`` when the
  report runs on the world's own prompts, and otherwise from the given prompts: pair i
  takes prompt i+1 as the source and prompt i as the target (consecutive prompts).
* **calibration** (channel ranking) uses ``model.world.calibration_prompts(8)``, or the
  given prompts drawn with the calibration seeds (1000+i), so a ranking image is never a
  judged image.

A section that needs inputs the rule cannot take from the given prompts (composition needs
pairs that differ in one named attribute, subject transfer references the world can draw)
says so: every ``Section`` carries an ``inputs`` record (where its prompts came from and
why), printed on the page and written to results.json under ``"inputs"``.
"""
from __future__ import annotations

from dataclasses import dataclass, field

from ..calibration import calibrate
from ..metrics import Metrics
from ..models import MassactModel

#: the sizes a report can run at (the numbers per section: ``report.sections.SIZES``)
SIZE_NAMES = ("quick", "standard", "full")

#: where the evaluation prompts came from: the model's world, or the caller (a --prompts file)
PROMPT_SOURCES = ("world", "given")


@dataclass
class ReportContext:
    """Everything a section needs.

    Attributes:
        model, metrics: the model and how its images are measured.
        prompts: the evaluation prompts (the claims are judged on these).
        calibration_prompts: channel ranking is done on these (with calibration seeds).
        seeds: evaluation seeds; every prompt is drawn with each seed.
        quick: the smallest sweeps (tests); the same as size="quick".
        progress: show progress bars.
        cache: shared between sections (the calibration statistics, the clean images).
        prompts_from: "world" (``model.world.evaluation_prompts``) or "given" (by the caller).
        size: how large the sweeps are: "quick", "standard" (``make demo``) or "full" (about 4x
          standard); None: "quick" when quick, else "standard". The numbers per section are
          ``report.sections.SIZES``.
    """

    model: MassactModel
    metrics: Metrics
    prompts: list[str]
    calibration_prompts: list[str]
    seeds: list[int]
    quick: bool = False
    progress: bool = True
    cache: dict = field(default_factory=dict)
    prompts_from: str = "world"
    size: str | None = None

    def __post_init__(self):
        if self.size is None:
            self.size = "quick" if self.quick else "standard"
        if self.size not in SIZE_NAMES:
            raise ValueError(f"size {self.size!r} unknown; one of {SIZE_NAMES}")
        if self.quick != (self.size == "quick"):
            raise ValueError(f"quick={self.quick} contradicts size={self.size!r}: give one of them")

    @property
    def prompt_label(self) -> str:
        """Where the evaluation prompts came from, in words."""
        return "the given prompts" if self.prompts_from == "given" else "model.world.evaluation_prompts"

    # -- the rule ------------------------------------------------------------------------------------
    def images(self, num_prompts: int | None = None, num_seeds: int | None = None, limit: int | None = None,
               seed_major: bool = False) -> tuple[list[str], list[int], dict]:
        """Evaluation images: the first num_prompts prompts, each with the first num_seeds seeds.

        Args:
            num_prompts, num_seeds: how many of each (None: all).
            limit: keep only the first limit images.
            seed_major: order seed by seed (the first images then cover every prompt)
              instead of prompt by prompt.
        Returns:
            (prompts, seeds, inputs): one seed per image, and the section's inputs record.
        """
        ps, ss = self.prompts[:num_prompts], self.seeds[:num_seeds]
        pairs = [(p, s) for s in ss for p in ps] if seed_major else [(p, s) for p in ps for s in ss]
        pairs = pairs[:limit]
        prompts, seeds = [p for p, _ in pairs], [s for _, s in pairs]
        note = {"prompts_from": self.prompt_label, "prompts": sorted(set(prompts), key=prompts.index),
                "seeds": sorted(set(seeds)), "images": len(pairs)}
        return prompts, seeds, note

    def pairs(self, n: int, seed: int | None = None) -> tuple[list[str], list[str], list[int], dict]:
        """Source/target caption pairs (see the module docstring for the rule).

        Args:
            n: how many pairs (fewer when the given prompts hold fewer than n + 1).
            seed: the world's pair draw (None: its default stream); unused for given prompts.
        Returns:
            (sources, targets, seeds, inputs): pair i is drawn with seed ``seeds[i]``.
        Raises:
            ValueError when fewer than two prompts are given.
        """
        world = self.model.world
        if self.prompts_from == "world" and world is not None:
            ps = world.caption_pairs(n, seed=seed)
            sources, targets = [p.source for p in ps], [p.target for p in ps]
            how = "model.world.caption_pairs" + ("" if seed is None else f" (draw {seed})")
            why = "the report runs on the world's own prompts"
        else:
            if len(self.prompts) < 2:
                raise ValueError("pairs need at least two prompts: pair i takes prompt i+1 as its source and "
                                 "prompt i as its target")
            m = min(n, len(self.prompts) - 1)
            sources, targets = self.prompts[1:m + 1], self.prompts[:m]
            how = "consecutive given prompts (source = prompt i+1, target = prompt i)"
            why = "prompts were given" if world is not None else "the model has no world"
        seeds = [self.seeds[i % len(self.seeds)] for i in range(len(sources))]
        note = {"pairs_from": how, "why": why,
                "pairs": [{"source": s, "target": t, "seed": d} for s, t, d in zip(sources, targets, seeds)]}
        return sources, targets, seeds, note

    def calibration_note(self) -> dict:
        """The inputs record of the channel ranking."""
        how = ("the given prompts with calibration seeds" if self.prompts_from == "given"
               else "model.world.calibration_prompts")
        return {"prompts_from": how, "prompts": list(self.calibration_prompts)}


@dataclass
class Section:
    """One section of the report.

    Attributes:
        name, title: its key in results.json and its heading (filled from the table).
        results: JSON-able numbers.
        figures: plotly figures.
        images: (caption, data-URI PNG) pairs.
        text: a short reading of the numbers, computed from them.
        inputs: where its prompts, seeds and pairs came from, and why (see the module docstring).
        failed: True when the section raised (results then hold the error).
    """

    name: str = ""
    title: str = ""
    results: object = None
    figures: list = field(default_factory=list)
    images: list = field(default_factory=list)
    text: str = ""
    inputs: dict = field(default_factory=dict)
    failed: bool = False


def calibration_stats(ctx: ReportContext):
    """Channel statistics on the calibration prompts (cached): what every ranking uses."""
    if "calibration" not in ctx.cache:
        ctx.cache["calibration"] = calibrate(ctx.model, ctx.calibration_prompts).stats
    return ctx.cache["calibration"]


def expand(prompts: list[str], seeds: list[int]) -> tuple[list[str], list[int]]:
    """Every prompt with every seed: (prompts', seeds') of length len(prompts) * len(seeds)."""
    return [p for p in prompts for _ in seeds], [s for _ in prompts for s in seeds]
