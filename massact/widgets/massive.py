"""Notebook 00 explorer: pick a block, a step and a statistic; see the channel profile.

    ex = MassiveExplorer(model, prompts, seeds=0)
    ex.widget                       # display it; every control change redraws
    ex.block.value = 2              # what moving the slider does (tests set values directly)

One generation at construction captures the statistics of every block and step; a control
change only re-reads them (milliseconds), so the explorer updates live.
"""
from __future__ import annotations

import ipywidgets as W

from ..channel_stats import STATISTICS
from ..generation import generate
from ..plots.common import channel_profile
from ..specs import CaptureSpec
from .base import Explorer


class MassiveExplorer(Explorer):
    """Captures statistics once (a few prompts, every block and step), then redraws on every change.

    Args:
        model: a MassactModel.
        prompts: the prompts to capture (a few: each costs one generation).
        seeds: one int per prompt, or one for all.
        top: how many of the top channels the metrics panel lists.
    """

    def __init__(self, model, prompts, seeds=0, top: int = 5):
        self.gen = generate(model, prompts, seeds, capture=CaptureSpec())
        self.top = top
        st = self.gen.stats
        self.block = W.IntSlider(value=st.blocks[-1], min=0, max=model.num_blocks - 1, description="block")
        self.step = W.IntSlider(value=self.gen.num_steps - 1, min=-1, max=self.gen.num_steps - 1, description="step",
                                tooltip="-1 = average over all steps")
        self.stat = W.Dropdown(options=list(STATISTICS), value="absmean", description="statistic")
        self._build([[self.block, self.step, self.stat]], always_live=True, figure=True)

    def compute(self) -> str:
        steps = None if self.step.value < 0 else [self.step.value]
        score = self.gen.stats.score(self.stat.value, steps=steps)[self.block.value]
        when = "all steps" if steps is None else f"step {self.step.value}"
        self.show_figure(channel_profile(score, title=f"block {self.block.value}, {when}: {self.stat.value} per channel",
                                         stat_label=self.stat.value))
        median = float(score.median())
        top = score.topk(min(self.top, score.numel()))
        ratio = (lambda v: float(v) / median) if median > 0 else (lambda v: None)
        self.html.value = self.table(["channel", self.stat.value, "x median"],
                                     [(int(c), float(v), ratio(v)) for v, c in zip(top.values, top.indices)])
        return f"block {self.block.value}, {when}, {self.stat.value}"
