"""Notebook 02 explorer: pick blocks, steps, k, K and a channel arm; see the masks and their IoU.

One generation at construction keeps the image tokens of every block and step for a few
prompts (or reuse a ``spatial.SpatialCapture``); every change of a control only reclusters
those cached tensors (milliseconds), so the overlay and the IoU table update live. A range of
blocks or steps clusters the tokens averaged over the captured blocks and steps in it (one block
and one step, the default, is the claim's own setting). "compare arms" clusters top, bottom and
random (and the named channels, when the channels field holds some) side by side.
"""
from __future__ import annotations

import html

import ipywidgets as W
import numpy as np

from ..calibration import calibrate
from ..claims import spatial as S
from ..plots.spatial import overlay_panels
from ..ranking import ARMS
from ..selection import NAMED, Selection, parse_channels, span_label
from .base import Explorer, block_control, channels_field, compare_control, span, step_control


def _subset(cap: S.SpatialCapture, n: int) -> S.SpatialCapture:
    if len(cap.prompts) <= n:
        return cap
    return S.SpatialCapture(cap.prompts[:n], cap.seeds[:n], cap.images[:n], {key: t[:n] for key, t in cap.tensors.items()},
                            cap.grid, cap.num_steps)


def _captured(chosen: tuple[int, ...], captured: tuple[int, ...], name: str) -> tuple[int, ...]:
    out = tuple(i for i in captured if i in chosen)
    if not out:
        raise ValueError(f"no captured {name} in {span_label(chosen)}: the capture kept {name}s "
                         f"{span_label(captured)}; move the {name}s range over one of them")
    return out


class SpatialExplorer(Explorer):
    """Controller: ``.widget`` to display, ``.update()`` to recluster and redraw (every control change does).

    model + prompts: generate once (all blocks and steps kept); or capture=: reuse one.
    score: the (blocks, channels) ranking score; None = rank on calibration prompts.
    metrics / mask_fn: where the true foreground comes from (default: ``model.metrics()``).
    k, K, arm: the initial channels per block, clusters and arm; blocks / steps: the initial
    blocks and steps (block and step specifications; default: the last captured block and step);
    named: the initial named channels ("98, 32"; "" = none); compare: start comparing the arms."""

    def __init__(self, model=None, prompts=None, seeds=0, capture: S.SpatialCapture | None = None, score=None,
                 calibration_prompts=None, metrics=None, mask_fn=None, k: int = S.DEFAULT_K, K: int = 2,
                 arm: str = "top", blocks=None, steps=None, named: str = "", compare: bool = False,
                 max_images: int = 4):
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
        style = {"description_width": "initial"}
        self.blocks = block_control(int(score.shape[0]), self.cap.blocks[-1] if blocks is None else blocks)
        self.steps = step_control(self.cap.num_steps, self.cap.steps[-1] if steps is None else steps)
        self.k = W.IntSlider(value=k, min=1, max=width, description="k (channels)", style=style)
        self.K = W.IntSlider(value=K, min=2, max=6, description="K (clusters)", style=style)
        self.arm = W.ToggleButtons(options=list(ARMS), value=arm, description="channels", style=style)
        self.draw = W.IntSlider(value=0, min=0, max=9, description="random draw", style=style)
        self.named = channels_field()
        self.named.value = named
        self.compare = compare_control()
        self.compare.value = compare
        self.masks: S.SpatialMasks | None = None
        self.arm_masks: dict[str, S.SpatialMasks] = {}
        self._build([[self.blocks, self.steps], [self.k, self.K], [self.arm, self.draw], [self.named, self.compare]],
                    always_live=True, side_by_side=True, history=True)

    def where(self) -> tuple[tuple[int, ...], tuple[int, ...]]:
        """The captured blocks and steps in the chosen ranges (their tokens are averaged)."""
        return (_captured(span(self.blocks), self.cap.blocks, "block"),
                _captured(span(self.steps), self.cap.steps, "step"))

    def selection(self, arm: str | None = None) -> Selection:
        """The channel selection the controls describe for one arm (default: the chosen arm; "named": the named
        channels) at the chosen blocks (the random draw is its seed)."""
        arm = self.arm.value if arm is None else arm
        named = parse_channels(self.named.value) if arm == NAMED else ()
        return Selection(arm, None if arm == NAMED else self.k.value, blocks=self.where()[0], seed=self.draw.value,
                         named=named)

    def channels(self, arm: str | None = None) -> tuple[int, ...]:
        """The channels one arm selects at the last chosen block (``selection(arm).channels(score)``); a range
        of blocks clusters their averaged tokens on these channels."""
        return self.selection(arm).channels(self.score)[self.where()[0][-1]]

    def compute(self) -> str:
        """Recluster the cached tokens with the current controls; redraw the image and the table."""
        blocks, steps = self.where()
        arms = self.arms_to_run(self.arm.value, self.compare.value, self.named.value)
        self.draw.disabled = "random" not in arms
        block, step = (blocks[0] if len(blocks) == 1 else blocks), (steps[0] if len(steps) == 1 else steps)
        self.arm_masks = {self.selection(a).arm_label: S.cluster(self.cap, block, step, self.channels(a), self.K.value)
                          for a in arms}
        self.masks = m = next(iter(self.arm_masks.values()))
        if len(arms) == 1:
            panels, titles = overlay_panels(self.cap.images, {"border rule": m.mask, "activation rule": m.mask_activation},
                                            truth=self.truth, score=m.score, image_column=False)
        else:
            panels, titles = overlay_panels(self.cap.images, {label: a.mask for label, a in self.arm_masks.items()},
                                            truth=self.truth, image_column=False)
        self.show_images(panels, cols=len(titles), scale=4)
        self.html.value = self._table(m, titles) if len(arms) == 1 else self._compare_table(titles)
        where = f"block{'s' * (len(blocks) > 1)} {span_label(blocks)}, step{'s' * (len(steps) > 1)} {span_label(steps)}"
        draw = f", draw {self.draw.value}" if "random" in arms else ""
        return f"{where}: {', '.join(self.arm_masks)} channels, K={self.K.value}{draw}"

    def mean_ious(self) -> dict[str, dict[str, float]]:
        """{arm label: {rule: mean IoU over the images}} of the last run (empty without a foreground mask)."""
        if self.truth is None:
            return {}
        return {label: {rule: float(v.mean()) for rule, v in m.ious(self.truth).items()}
                for label, m in self.arm_masks.items()}

    def record(self) -> dict:
        """The last run as a history row: the settings and each arm's mean IoU (border rule)."""
        blocks, steps = self.where()
        ious = self.mean_ious()
        return {"blocks": span_label(blocks), "steps": span_label(steps), "k": self.k.value, "K": self.K.value,
                "arms": ", ".join(self.arm_masks),
                "mIoU border rule": "; ".join(f"{a} {v['border']:.2f}" for a, v in ious.items()) or "n/a"}

    def _compare_table(self, titles) -> str:
        head = (f"<p><b>columns:</b> {html.escape(' | '.join(titles))}<br>"
                "magenta = predicted foreground (border rule), green = true foreground</p>")
        if self.truth is None:
            return head + "<p>No foreground mask to score against (pass <code>mask_fn=</code>).</p>"
        ious = self.mean_ious()
        rows = [(label, ", ".join(map(str, m.channels[:8])) + (" ..." if len(m.channels) > 8 else ""),
                 ious[label]["border"], ious[label]["activation"], ious[label]["oracle"])
                for label, m in self.arm_masks.items()]
        return (head + self.table(["arm", "channels", "mIoU border rule", "mIoU activation rule", "oracle"], rows,
                                  fmt=".2f") + f"<p>all-foreground mask: {np.mean(self.truth):.2f}</p>")

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
