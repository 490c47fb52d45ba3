"""Notebook 01 explorer: remove a channel set at chosen blocks and steps, see the images and metrics.

    ex = CriticalExplorer(model)
    ex.widget            # display it; change the controls, press Run
    ex.k.value = 16; ex.update()   # what the Run button does (tests call it directly)
    ex.compare.value = True; ex.named.value = "98"; ex.update()   # clean | top | bottom | random | named 98

Each Run is one ``critical.probe`` on the same prompts and seeds (the clean images are generated
once and reused): the chosen arm, or every arm with "compare arms", and the named channels when
the channels field holds some, zeroed (or set to their calibration mean) at the chosen blocks and
steps. Hooks never outlive a run: ``generate`` removes them even when it fails, and a failure is
shown in the status line instead of the images.
"""
from __future__ import annotations

import html

import ipywidgets as W
import torch

from ..calibration import Calibration, calibrate, check_separation
from ..channel_stats import STATISTICS
from ..claims import critical as C
from ..generation import normalise_seeds
from ..selection import ARMS, NAMED, Selection, parse_channels
from ..world import world_of
from .base import Explorer, block_control, channels_field, compare_control, spec, step_control

#: the numbers each column of the compare table shows: (row name, ProbeResult metric)
HEADLINE = (("caption accuracy", "caption_accuracy"), ("pixel MSE to clean", "pixel_mse"),
            ("detail energy / clean", "detail_ratio"), ("toy FID", "toy_fid"))


def _short(v) -> str:
    return "n/a" if v is None else format(v, ".3g")


class CriticalExplorer(Explorer):
    """Controls: blocks, steps, arm, k, random draw, ranking statistic, ablation (zero / mean), named
    channels, compare arms; Run and Reset; a history of past runs.

    Args:
        model: a MassactModel.
        calibration: a ``Calibration`` (default: ``massact.calibrate(model)`` on the world's
          calibration prompts, with ``num_steps``).
        prompts, seeds: the images to disturb (default: 4 of the world's evaluation prompts,
          seeds 0..3).
        num_steps: sampler steps (default: the model's).
        k, arm, blocks, steps: the initial selection (block and step specifications as in
          ``Selection``: "all", "early", "late", "2-5", ...).
        statistic: the initial ranking statistic (``channel_stats.STATISTICS``).
        ablation: the initial ablation, "zero" or "mean" (each channel set to its calibration mean
          at that block and step, as ``critical.probe``'s ablation="mean").
        named: the initial named channels ("98, 32"; "" = none).
        compare: start in compare mode (every arm on the same images).
        metrics: a ``Metrics`` (default ``model.metrics()``).
        run: generate at once.
    """

    def __init__(self, model, calibration: Calibration | None = None, prompts=None, seeds=None,
                 num_steps: int | None = None, k: int = 8, arm: str = "top", blocks="all", steps="all",
                 statistic: str = "absmean", ablation: str = "zero", named: str = "", compare: bool = False,
                 metrics=None, run: bool = True):
        self.model = model
        self.calibration = calibrate(model, num_steps=num_steps) if calibration is None else calibration
        if prompts is None:
            prompts = world_of(model, "evaluation prompts: CriticalExplorer(model, prompts=[...])").evaluation_prompts(4)
        self.prompts = list(prompts)
        if not self.prompts:
            raise ValueError("empty prompt list: give at least one prompt")
        model.validate_prompts(self.prompts)
        self.seeds = normalise_seeds(self.prompts, list(range(len(self.prompts))) if seeds is None else seeds)
        check_separation(self.calibration, self.prompts, self.seeds)
        self.num_steps = num_steps or model.default_steps
        self.metrics = model.metrics() if metrics is None else metrics
        self.blocks = block_control(model.num_blocks, blocks)
        self.steps = step_control(self.num_steps, steps)
        self.k = W.IntSlider(value=min(k, model.width), min=1, max=min(64, model.width), description="k",
                             continuous_update=False)
        self.arm = W.Dropdown(options=list(ARMS), value=arm, description="arm")
        self.draw = W.BoundedIntText(value=0, min=0, max=999, description="random draw", layout=W.Layout(width="180px"))
        self.statistic = W.Dropdown(options=list(STATISTICS), value=C.check_statistic(statistic),
                                    description="ranking", tooltip="the calibration statistic the arms rank on")
        self.ablation = W.ToggleButtons(options=list(C.ABLATIONS), value=C.check_ablation(ablation)[0],
                                        description="ablation",
                                        tooltips=["set the channels to 0", "set them to their calibration mean"])
        self.named = channels_field()
        self.named.value = named
        self.compare = compare_control()
        self.compare.value = compare
        self.clean_images: torch.Tensor | None = None
        self.images: torch.Tensor | None = None
        self.result: C.ProbeResult | None = None
        self.arm_images: dict[str, torch.Tensor] = {}
        self.arms_run: list[str] = []
        self._build([[self.blocks, self.steps], [self.arm, self.k, self.draw],
                     [self.statistic, self.ablation], [self.named, self.compare]], run=run, history=True)

    @property
    def score(self) -> torch.Tensor:
        """The calibration scores of the chosen ranking statistic, (blocks, channels)."""
        return self.calibration.score(self.statistic.value)

    def selection(self, arm: str | None = None) -> Selection:
        """The channel selection the controls describe for one arm (default: the chosen arm; "named":
        the named channels); the random draw is its seed."""
        arm = self.arm.value if arm is None else arm
        named = parse_channels(self.named.value) if arm == NAMED else ()
        return Selection(arm, None if arm == NAMED else self.k.value, blocks=spec(self.blocks), steps=spec(self.steps),
                         seed=self.draw.value, named=named)

    def edit(self, arm: str | None = None):
        """The EditSpec the controls describe for one arm (zeroing, or the calibration mean): what the
        probe of a run applies to that arm's images."""
        sel = self.selection(arm)
        if self.ablation.value == "zero":
            return sel.edit(self.score, self.num_steps, "zero")
        return sel.edit(self.score, self.num_steps, "set", values=self.calibration.stats.channel_mean())

    def compute(self) -> None:
        """One probe with the current controls; redraw the images (one row per arm) and the table."""
        arms = self.arms_to_run(self.arm.value, self.compare.value, self.named.value)
        n = len(self.prompts)
        self.say(f"running: {n * (len(arms) + (self.clean_images is None))} images ({self.num_steps} steps)...")
        res = C.probe(self.model, self.calibration, self.prompts, self.seeds, ks=(self.k.value,), arms=arms,
                      blocks=spec(self.blocks), steps=spec(self.steps), draws=1, statistic=self.statistic.value,
                      num_steps=self.num_steps, metrics=self.metrics, random_seed=self.draw.value,
                      baseline_images=self.clean_images, ablation=(self.ablation.value,),
                      named=self.named.value if NAMED in arms else ())
        self.result, self.clean_images, self.arms_run = res, res.clean_images, arms
        self.arm_images = {self.selection(a).arm_label: ims for a in arms
                           for key, ims in res.images.items() if key[0] == a}
        self.images = next(iter(self.arm_images.values()))
        self.show_images(torch.cat([self.clean_images, *self.arm_images.values()]), cols=n,
                         row_labels=["clean", *self.arm_images])
        self.html.value = self._table()

    def numbers(self, arm: str) -> dict[str, float | None]:
        """The headline numbers of one arm of the last run ("none" = the clean images): {name: value}."""
        row = self.result.select(arm=arm).table().first()
        return {name: row.get(metric) for name, metric in HEADLINE}

    def record(self) -> dict:
        """The last run as a history row: the settings, then the caption accuracy of the clean images and
        of each arm, and each arm's pixel MSE to the clean images."""
        per_arm = {label: self.numbers(arm) for label, arm in zip(self.arm_images, self.arms_run)}
        clean = _short(self.numbers("none")["caption accuracy"])
        return {"blocks": "-".join(map(str, self.blocks.value)), "steps": "-".join(map(str, self.steps.value)),
                "k": self.k.value, "ranking": self.statistic.value, "ablation": self.ablation.value,
                "caption accuracy": f"clean {clean}; " + "; ".join(f"{label} {_short(v['caption accuracy'])}"
                                                                  for label, v in per_arm.items()),
                "pixel MSE to clean": "; ".join(f"{label} {_short(v['pixel MSE to clean'])}"
                                                for label, v in per_arm.items())}

    def _table(self) -> str:
        arms = self.arms_run
        columns = {"clean": self.numbers("none")} | {label: self.numbers(a) for label, a in zip(self.arm_images, arms)}
        table = self.table(["metric", *columns], [(name, *(c[name] for c in columns.values())) for name, _ in HEADLINE])
        e = self.edit(arms[0])
        chans = "; ".join(f"block {b}: {list(c)}" for b, c in list(e.channels.items())[:3])
        more = " ..." if len(e.channels) > 3 else ""
        when = "all steps" if e.steps is None else f"steps {e.steps[0]}-{e.steps[-1]}"
        how = "zeroed" if self.ablation.value == "zero" else "set to their calibration mean"
        return (f"{table}<p style='font-size:small'>{html.escape(self.selection(arms[0]).arm_label)} {how} "
                f"({self.statistic.value} ranking, {when}): {html.escape(chans)}{more}<br>"
                f"{len(self.prompts)} images: the toy FID of so few images is only a rough signal.</p>")
