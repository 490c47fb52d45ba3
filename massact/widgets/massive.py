"""Notebook 00 explorer: pick a block, a step and a statistic; see the channel profile."""
from __future__ import annotations

import ipywidgets as W
from IPython.display import display

from ..generation import generate
from ..hooks import STATISTICS, CaptureSpec
from ..plots.common import channel_profile


class MassiveExplorer:
    """Captures statistics once (a few prompts, every block and step), then redraws on every change."""

    def __init__(self, model, prompts, seeds=0):
        self.gen = generate(model, prompts, seeds, capture=CaptureSpec())
        st = self.gen.stats
        self.block = W.IntSlider(value=st.blocks[-1], min=0, max=model.num_blocks - 1, description="block")
        self.step = W.IntSlider(value=self.gen.steps - 1, min=-1, max=self.gen.steps - 1, description="step",
                                tooltip="-1 = average over all steps")
        self.stat = W.Dropdown(options=list(STATISTICS), value="absmean", description="statistic")
        self.out = W.Output()
        self.figure = None
        for w in (self.block, self.step, self.stat):
            w.observe(lambda _: self.update(), names="value")
        self.widget = W.VBox([W.HBox([self.block, self.step, self.stat]), self.out])
        self.update()

    def update(self):
        steps = None if self.step.value < 0 else [self.step.value]
        score = self.gen.stats.score(self.stat.value, steps=steps)[self.block.value]
        when = "all steps" if steps is None else f"step {self.step.value}"
        self.figure = channel_profile(score, title=f"block {self.block.value}, {when}: {self.stat.value} per channel",
                                      stat_label=self.stat.value)
        self.out.clear_output(wait=True)
        with self.out:
            display(self.figure)
