"""Notebook 02 explorer: pick a block, a step, k, K and a channel arm; see the masks and their IoU.

One generation at construction keeps the image tokens of every block and step for a few
prompts (or reuse a ``spatial.SpatialCapture``); every change of a control only reclusters
those cached tensors (milliseconds), so the overlay and the IoU table update live.
"""
from __future__ import annotations

import html

import ipywidgets as W
import numpy as np

from ..calibration import calibrate
from ..claims import spatial as S
from ..plots.spatial import overlay_panels
from ..ranking import ARMS
from ..selection import Selection
from .base import Explorer


def _subset(cap: S.SpatialCapture, n: int) -> S.SpatialCapture:
    if len(cap.prompts) <= n:
        return cap
    return S.SpatialCapture(cap.prompts[:n], cap.seeds[:n], cap.images[:n], {key: t[:n] for key, t in cap.tensors.items()},
                            cap.grid, cap.num_steps)


class SpatialExplorer(Explorer):
    """Controller: ``.widget`` to display, ``.update()`` to recluster and redraw (every control change does).

    model + prompts: generate once (all blocks and steps kept); or capture=: reuse one.
    score: the (blocks, channels) ranking score; None = rank on calibration prompts.
    metrics / mask_fn: where the true foreground comes from (default: ``model.metrics()``)."""

    def __init__(self, model=None, prompts=None, seeds=0, capture: S.SpatialCapture | None = None, score=None,
                 calibration_prompts=None, metrics=None, mask_fn=None, k: int = S.DEFAULT_K, K: int = 2,
                 arm: str = "top", block: int | None = None, step: int | None = None, max_images: int = 4):
        if capture is None:
            if model is None or prompts is None:
                raise ValueError("give model= and prompts= (one generation), or capture= (a spatial.capture result)")
            capture = S.capture(model, list(prompts)[:max_images], seeds if isinstance(seeds, int) else list(seeds)[:max_images])
        self.cap = _subset(capture, max_images)
        if score is None:
            if model is None:
                raise ValueError("give score= (e.g. massact.calibrate(model).score()) or model= to rank channels")
            score = calibrate(model, calibration_prompts).score("absmean")
        self.score = score
        if metrics is None and model is not None and mask_fn is None:
            metrics = model.metrics()
        self.truth = S.truth_masks(self.cap.images, metrics, mask_fn)
        width = int(self.cap.tensors[next(iter(self.cap.tensors))].shape[-1])
        blocks, steps = list(self.cap.blocks), list(self.cap.steps)
        style = {"description_width": "initial"}
        self.block = W.SelectionSlider(options=blocks, value=blocks[-1] if block is None else block,
                                       description="block", style=style)
        self.step = W.SelectionSlider(options=steps, value=steps[-1] if step is None else step,
                                      description="step", style=style)
        self.k = W.IntSlider(value=k, min=1, max=width, description="k (channels)", style=style)
        self.K = W.IntSlider(value=K, min=2, max=6, description="K (clusters)", style=style)
        self.arm = W.ToggleButtons(options=list(ARMS), value=arm, description="channels", style=style)
        self.draw = W.IntSlider(value=0, min=0, max=9, description="random draw", style=style)
        self.masks: S.SpatialMasks | None = None
        self._build([[self.block, self.step], [self.k, self.K], [self.arm, self.draw]], always_live=True,
                    side_by_side=True)

    def selection(self) -> Selection:
        """The channel selection the controls describe: the arm's k channels of the block (the random draw is
        its seed)."""
        return Selection(self.arm.value, self.k.value, blocks=(self.block.value,), seed=self.draw.value)

    def channels(self) -> tuple[int, ...]:
        """The block's channels the controls select (``selection().channels(score)``)."""
        return self.selection().channels(self.score)[self.block.value]

    def compute(self) -> str:
        """Recluster the cached tokens with the current controls; redraw the image and the table."""
        b, s, arm, k = self.block.value, self.step.value, self.arm.value, self.k.value
        self.draw.disabled = arm != "random"
        ch = self.channels()
        self.masks = m = S.cluster(self.cap, b, s, ch, self.K.value)
        panels, titles = overlay_panels(self.cap.images, {"border rule": m.mask, "activation rule": m.mask_activation},
                                        truth=self.truth, score=m.score, image_column=False)
        self.show_images(panels, cols=len(titles), scale=4)
        self.html.value = self._table(m, titles)
        return (f"block {b}, step {s}: {arm}-{k} channels, K={self.K.value}"
                + (f", draw {self.draw.value}" if arm == "random" else ""))

    def _table(self, m: S.SpatialMasks, titles) -> str:
        ch = ", ".join(map(str, m.channels[:16])) + (" ..." if len(m.channels) > 16 else "")
        head = (f"<p><b>columns:</b> {html.escape(' | '.join(titles))}<br><b>channels:</b> {ch}<br>"
                "magenta = predicted foreground, green = true foreground</p>")
        if self.truth is None:
            return head + "<p>No foreground mask to score against (pass <code>mask_fn=</code>).</p>"
        iou = m.ious(self.truth)
        rows = "".join(f"<tr><td>{html.escape(p[:40])}</td><td>{iou['border'][i]:.2f}</td>"
                       f"<td>{iou['activation'][i]:.2f}</td><td>{iou['oracle'][i]:.2f}</td></tr>"
                       for i, p in enumerate(self.cap.prompts))
        mean = (f"<tr><td><b>mean</b></td><td><b>{iou['border'].mean():.2f}</b></td>"
                f"<td><b>{iou['activation'].mean():.2f}</b></td><td><b>{iou['oracle'].mean():.2f}</b></td></tr>")
        return (head + "<table><tr><th>prompt</th><th>IoU border rule</th><th>IoU activation rule</th>"
                f"<th>oracle</th></tr>{rows}{mean}</table>"
                f"<p>all-foreground mask: {np.mean(self.truth):.2f}</p>")
