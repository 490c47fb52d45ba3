"""Notebook 01 explorer: zero a channel set at chosen blocks and steps, see the images and metrics.

    ex = CriticalExplorer(model)
    ex.widget            # display it; change the controls, press Run
    ex.k.value = 16; ex.update()   # what the Run button does (tests call it directly)

The clean images are generated once; each Run generates the edited images for the same
prompts and seeds (one batched call). Hooks never outlive a run: ``generate`` removes them
even when it fails, and a failure is shown in the status line instead of the images.
"""
from __future__ import annotations

import html
import warnings

import ipywidgets as W
import torch

from ..calibration import Calibration, calibrate, check_separation
from ..claims.critical import detail_energy
from ..generation import generate, normalise_seeds
from ..selection import ARMS, Selection
from ..world import world_of
from .base import Explorer


class CriticalExplorer(Explorer):
    """Controls: blocks (range), steps (early / late / all), k, arm, random draw; Run.

    Args:
        model: a MassactModel.
        calibration: a ``Calibration`` (default: ``massact.calibrate(model)`` on the world's
          calibration prompts).
        prompts, seeds: the images to disturb (default: 4 of the world's evaluation prompts,
          seeds 0..3).
        num_steps: sampler steps (default: the model's).
        k, arm, steps: the initial selection ("all", "early" or "late" steps).
        statistic: the ranking statistic; metrics: a ``Metrics`` (default ``model.metrics()``).
        run: generate at once.
    """

    def __init__(self, model, calibration: Calibration | None = None, prompts=None, seeds=None,
                 num_steps: int | None = None, k: int = 8, arm: str = "top", steps: str = "all",
                 statistic: str = "absmean", metrics=None, run: bool = True):
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
        self.statistic = statistic
        self.score = self.calibration.score(statistic)
        self.metrics = model.metrics() if metrics is None else metrics
        nb = model.num_blocks
        self.blocks = W.IntRangeSlider(value=(0, nb - 1), min=0, max=nb - 1, description="blocks",
                                       continuous_update=False)
        self.steps = W.Dropdown(options=["all", "early", "late"], value=steps, description="steps",
                                tooltip="early = first half of the denoising steps (noisiest), late = second half")
        self.k = W.IntSlider(value=min(k, model.width), min=1, max=min(64, model.width), description="k",
                             continuous_update=False)
        self.arm = W.Dropdown(options=list(ARMS), value=arm, description="arm")
        self.draw = W.BoundedIntText(value=0, min=0, max=999, description="random draw", layout=W.Layout(width="180px"))
        self.clean_images: torch.Tensor | None = None
        self.images: torch.Tensor | None = None
        self._clean_metrics: dict | None = None
        self._build([[self.blocks, self.steps, self.arm], [self.k, self.draw]], run=run)

    def selection(self) -> Selection:
        """The channel selection the controls describe (the random draw is its seed)."""
        lo, hi = self.blocks.value
        return Selection(self.arm.value, self.k.value, blocks=tuple(range(lo, hi + 1)), steps=self.steps.value,
                         seed=self.draw.value)

    def edit(self, rows: tuple[int, ...] | None = None):
        """The zeroing EditSpec the controls describe."""
        return self.selection().edit(self.score, self.num_steps, rows=rows)

    def _measure(self, images: torch.Tensor) -> dict:
        m = self.metrics
        acc = m.caption_accuracy(images, self.prompts)
        out = {"caption accuracy": None if acc is None else acc["mean"]}
        if acc is not None:
            out.update({f"  {a}": v for a, v in acc.items() if a != "mean"})
        with warnings.catch_warnings():  # a handful of images gives singular covariances
            warnings.simplefilter("ignore")
            out["toy FID"] = m.fid(images) if len(images) >= 2 else None
        out["pixel MSE to clean"] = m.pixel_mse(images, self.clean_images)
        out["detail energy / clean"] = float(detail_energy(images).mean() / detail_energy(self.clean_images).mean())
        return out

    def compute(self) -> None:
        """Generate the edited images for the current controls; redraw the grid and metrics."""
        n = len(self.prompts)
        e = self.edit()
        if self.clean_images is None:  # first run: clean and edited rows in one batched call
            self.say(f"running: {2 * n} images ({self.num_steps} steps)...")
            g = generate(self.model, self.prompts * 2, self.seeds * 2, num_steps=self.num_steps,
                         edits=[self.edit(rows=tuple(range(n, 2 * n)))])
            self.clean_images, self.images = g.images[:n], g.images[n:]
        else:
            self.say(f"running: {n} images ({self.num_steps} steps)...")
            self.images = generate(self.model, self.prompts, self.seeds, num_steps=self.num_steps, edits=[e]).images
        if self._clean_metrics is None:
            self._clean_metrics = self._measure(self.clean_images)
        edited = self._measure(self.images)
        label = f"{self.arm.value}-{self.k.value}"
        self.show_images(torch.cat([self.clean_images, self.images]), cols=n, row_labels=["clean", label])
        self.html.value = self._table(edited, label, e)

    def _table(self, edited: dict, label: str, e) -> str:
        table = self.table(["metric", "clean", label], [(k, self._clean_metrics.get(k), v) for k, v in edited.items()])
        chans = "; ".join(f"block {b}: {list(c)}" for b, c in list(e.channels.items())[:3])
        more = " ..." if len(e.channels) > 3 else ""
        when = "all steps" if e.steps is None else f"steps {e.steps[0]}-{e.steps[-1]}"
        return (f"{table}<p style='font-size:small'>zeroed ({self.statistic} ranking, {when}): "
                f"{html.escape(chans)}{more}<br>"
                f"{len(self.prompts)} images: the toy FID of so few images is only a rough signal.</p>")
