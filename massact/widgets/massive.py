"""Notebook 00 explorer: pick blocks, steps and a statistic; see the channel profile.

    ex = MassiveExplorer(model, prompts, seeds=0)
    ex.widget                       # display it; every control change redraws
    ex.blocks.value = (2, 2)        # what moving the slider does (tests set values directly)

One generation at construction captures the statistics of every block and step; a control
change only re-reads them (milliseconds), so the explorer updates live. The profile is the
statistic averaged over the chosen steps (all of them: the whole run) and the chosen blocks
(one block, the default, is that block's profile).
"""
from __future__ import annotations

import ipywidgets as W

from ..channel_stats import STATISTICS
from ..generation import generate
from ..plots.common import channel_profile
from ..selection import span_label
from ..specs import CaptureSpec
from .base import Explorer, block_control, span, step_control


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
        self.blocks = block_control(model.num_blocks, st.blocks[-1])
        self.steps = step_control(self.gen.num_steps)
        self.stat = W.Dropdown(options=list(STATISTICS), value="absmean", description="statistic")
        self._build([[self.blocks, self.steps, self.stat]], always_live=True, figure=True)

    def compute(self) -> str:
        blocks, steps = span(self.blocks), span(self.steps)
        full = steps == tuple(range(self.gen.num_steps))
        per_block = self.gen.stats.score(self.stat.value, steps=None if full else list(steps))
        score = per_block[blocks[0]] if len(blocks) == 1 else per_block[list(blocks)].mean(0)
        where = (f"block{'s' * (len(blocks) > 1)} {span_label(blocks)}"
                 + (" (mean)" if len(blocks) > 1 else "")
                 + (", all steps" if full else f", step{'s' * (len(steps) > 1)} {span_label(steps)}"))
        self.show_figure(channel_profile(score, title=f"{where}: {self.stat.value} per channel",
                                         stat_label=self.stat.value))
        median = float(score.median())
        top = score.topk(min(self.top, score.numel()))
        ratio = (lambda v: float(v) / median) if median > 0 else (lambda v: None)
        self.html.value = self.table(["channel", self.stat.value, "x median"],
                                     [(int(c), float(v), ratio(v)) for v, c in zip(top.values, top.indices)])
        return f"{where}, {self.stat.value}"
