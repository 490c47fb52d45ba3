"""Per-channel statistics of the image stream: streamed sums, ``ChannelStats`` and fp16 saturation.

For each (block, step) ``_StreamStats`` keeps, per row and channel, the float32 sum of x,
sum of |x|, sum of x^2 and max |x| over image tokens (``STATS_CHUNK_TOKENS`` tokens upcast
at a time); ``hooks.Tracer`` assembles them into a ``ChannelStats`` of shape (rows, blocks,
steps, channels), whose methods rank, reduce and read the channels; ``ChannelStats.pooled``
pools its rows over images in a fixed size, and ``ChannelStats.merge_pooled`` merges such parts.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Sequence

import torch

from .checks import check_indices, check_int

STATISTICS = ("absmean", "meanabs", "maxabs")
#: float16's largest finite value (65,504)
FP16_MAX = float(torch.finfo(torch.float16).max)
#: in a float16 run, an activation with |x| at or above this level (99% of ``FP16_MAX``), or not
#: finite, counts as saturated: diffusers clips some models' hidden states to +-65,504 in float16
#: (FLUX), and a value past it overflows to inf, so such a value is the dtype's, not the model's
SATURATION_LEVEL = 0.99 * FP16_MAX
#: the massive set of a block: the channels whose |mean over image tokens| is at least r times the
#: block's median channel's (10x here; 100x to compare with the ~1000x of large models)
MASSIVE_SET_RATIOS = (10, 100)
STATISTIC_HELP = {
    "absmean": "|mean over image tokens| (the paper's score)",
    "meanabs": "mean over image tokens of |x|",
    "maxabs": "max over image tokens of |x|",
}


#: image tokens upcast to float32 at a time by the statistics: a block output of 4,096 tokens
#: x 3,072 channels in bfloat16 never has a float32 copy (nor |x|, x^2 copies) of its own,
#: only 256-token slices of one; the sums are those of the whole tensor to float32 rounding
#: (bit for bit on this CPU build, where a reduction over tokens also runs in 256-token blocks)
STATS_CHUNK_TOKENS = 256


class _StreamStats:
    """Running per-row, per-channel sums for one (block, step), in float32 whatever x's dtype.

    x (rows, tokens, channels) is read ``STATS_CHUNK_TOKENS`` tokens at a time: each slice is
    upcast, its sums are added to the running ones and its maximum taken, so the extra memory
    is a few slices, not copies of the whole output.
    """

    __slots__ = ("sum", "sum_abs", "sum_sq", "max_abs", "count", "saturated", "dtype")

    def __init__(self, x: torch.Tensor, chunk: int = STATS_CHUNK_TOKENS):
        self.sum = self.sum_abs = self.sum_sq = self.max_abs = None
        # float16 only: per row and channel, the tokens at fp16's limit (SATURATION_LEVEL) or not finite
        self.saturated = None
        self.dtype = str(x.dtype).removeprefix("torch.")
        fp16 = x.dtype == torch.float16
        for part in x.split(chunk, dim=1):
            f = part.float()  # no copy when x is already float32
            a = f.abs()  # once, shared by sum |x| and max |x|
            s, sa, mx, sq = f.sum(1), a.sum(1), a.amax(1), (f * f).sum(1)
            sat = (~(a < SATURATION_LEVEL)).sum(1, dtype=torch.float32) if fp16 else None  # NaN counts too
            if self.sum is None:
                self.sum, self.sum_abs, self.max_abs, self.sum_sq, self.saturated = s, sa, mx, sq, sat
            else:
                self.sum += s
                self.sum_abs += sa
                self.sum_sq += sq
                torch.maximum(self.max_abs, mx, out=self.max_abs)
                if fp16:
                    self.saturated += sat
        self.count = x.shape[1]


class ChannelStats:
    """Per-channel statistics of the image stream: tensors of shape (rows, blocks, steps, channels).

    Blocks/steps that were not captured are NaN. ``score(stat)`` reduces over rows and
    steps to (blocks, channels): the numbers channel ranking uses.

    The moments ``mean`` (signed mean over image tokens) and ``meansq`` (mean over image
    tokens of x^2), same shape, float32, are there for captures made by ``Tracer`` (None for
    statistics built by hand without them); ``channel_mean`` (the values of mean ablation),
    ``energy`` (squared activation per channel) and ``severity`` (gamma = ||mu|| / ||sigma||)
    read them.

    ``dtype`` is the dtype the image stream had in the run ("float16", "bfloat16", ...; None
    when unknown); in a float16 run ``saturated`` (same shape) holds the share of image
    tokens at fp16's limit (``SATURATION_LEVEL``) or not finite, and ``saturation()`` says
    where (None in any other dtype, whose range holds the values).

    The pooled form (``pooled()``, ``merge_pooled``) holds statistics pooled over any number of
    images in a fixed size: one row (the mean over images of |mean| and of mean |x|, the maximum
    of max |x|) that also carries what it pools, ``sum_absmean`` and ``sum_meanabs`` (float64
    sums over images, (blocks, steps, channels)) and ``count`` (int64 images per (block, step));
    pooled forms merge exactly by adding sums and counts and taking maxima. The moments and the
    saturation are not pooled (None). ``sum_absmean``, ``sum_meanabs`` and ``count`` are None
    outside the pooled form.
    """

    def __init__(self, absmean: torch.Tensor, meanabs: torch.Tensor, maxabs: torch.Tensor,
                 blocks: tuple[int, ...], steps: tuple[int, ...], mean: torch.Tensor | None = None,
                 meansq: torch.Tensor | None = None, saturated: torch.Tensor | None = None,
                 dtype: str | None = None):
        self.absmean, self.meanabs, self.maxabs = absmean, meanabs, maxabs
        self.blocks, self.steps = blocks, steps
        for name, t in (("mean", mean), ("meansq", meansq), ("saturated", saturated)):
            if t is not None and tuple(t.shape) != tuple(absmean.shape):
                raise ValueError(f"{name} has shape {tuple(t.shape)}; the statistics are {tuple(absmean.shape)} "
                                 "(rows, blocks, steps, channels)")
        self.mean, self.meansq = mean, meansq
        self.saturated, self.dtype = saturated, dtype
        self.sum_absmean = self.sum_meanabs = self.count = None  # the pooled form's (``_from_sums``)

    @classmethod
    def _from_sums(cls, sum_absmean: torch.Tensor, sum_meanabs: torch.Tensor, max_maxabs: torch.Tensor,
                   count: torch.Tensor) -> "ChannelStats":
        """The pooled form of float64 sums (blocks, steps, channels), maxima (float32, any value
        where nothing was captured) and image counts (blocks, steps): its row is sum / count
        (float32) and the maxima, NaN where nothing was captured."""
        n = count.double()[..., None]
        seen = n > 0
        nan = torch.tensor(float("nan"), dtype=torch.float64)
        am = torch.where(seen, sum_absmean / n.clamp_min(1), nan).float()[None]
        ma = torch.where(seen, sum_meanabs / n.clamp_min(1), nan).float()[None]
        mx = max_maxabs.masked_fill(~seen, float("nan"))[None]
        blocks = tuple(int(b) for b in torch.nonzero(count.sum(1) > 0).flatten())
        steps = tuple(int(s) for s in torch.nonzero(count.sum(0) > 0).flatten())
        out = cls(am, ma, mx, blocks, steps)
        out.sum_absmean, out.sum_meanabs, out.count = sum_absmean, sum_meanabs, count
        return out

    @property
    def is_pooled(self) -> bool:
        """Whether these are the pooled form (``pooled()``): one row carrying its sums and counts."""
        return self.count is not None

    @property
    def images(self) -> int:
        """How many images the statistics hold: the rows, or in the pooled form the images pooled
        (the most any (block, step) saw)."""
        if self.is_pooled:
            return int(self.count.max()) if self.count.numel() else 0
        return self.absmean.shape[0]

    def pooled(self) -> "ChannelStats":
        """The statistics pooled over their rows (images): the pooled form (see the class), whose
        ``score`` and ``ratio_table`` equal those of these statistics up to float rounding, and
        which ``merge_pooled`` merges with others. Blocks or steps not captured count 0 images.

        Returns:
            a one-row ``ChannelStats`` with ``sum_absmean``, ``sum_meanabs`` and ``count``
            (itself when already pooled).
        """
        if self.is_pooled:
            return self
        seen = ~self.absmean.isnan()  # (rows, blocks, steps, channels)
        count = seen[..., 0].sum(0).to(torch.int64)  # (blocks, steps)
        return self._from_sums(torch.nansum(self.absmean.double(), 0), torch.nansum(self.meanabs.double(), 0),
                               self.maxabs.masked_fill(~seen, float("-inf")).amax(0).float(), count)

    @classmethod
    def merge_pooled(cls, parts) -> "ChannelStats":
        """The statistics of several parts pooled together: float64 sums and counts added in the
        order given (another order changes only the sums' last bits), maxima taken (exact).
        The size is that of one part whatever the number of images.

        Args:
            parts: ``ChannelStats`` of the same model and run (each pooled with ``pooled()``
              first, unless it already is).
        Returns:
            the pooled form of all the parts' images.
        Raises:
            ValueError when there is no part or the shapes differ.
        """
        parts = [p.pooled() for p in parts]
        if not parts:
            raise ValueError("nothing to merge: give at least one ChannelStats")
        shape = tuple(parts[0].sum_absmean.shape)
        sum_am, sum_ma, count = parts[0].sum_absmean, parts[0].sum_meanabs, parts[0].count
        mx = parts[0].maxabs[0].masked_fill(~(count > 0)[..., None], float("-inf"))
        for p in parts[1:]:
            if tuple(p.sum_absmean.shape) != shape:
                raise ValueError(f"cannot merge statistics of shape {tuple(p.sum_absmean.shape)} into {shape} "
                                 "(blocks, steps, channels): not the same model and run")
            sum_am, sum_ma = sum_am + p.sum_absmean, sum_ma + p.sum_meanabs
            mx = torch.maximum(mx, p.maxabs[0].masked_fill(~(p.count > 0)[..., None], float("-inf")))
            count = count + p.count
        return cls._from_sums(sum_am, sum_ma, mx, count)

    def to_dict(self) -> dict:
        """The statistics as plain data (tensors, lists), for ``torch.save`` and ``from_dict``; the
        pooled form writes its sums, maxima and counts (blocks x steps x channels x 3 numbers)."""
        if self.is_pooled:
            return {"sum_absmean": self.sum_absmean, "sum_meanabs": self.sum_meanabs, "max_maxabs": self.maxabs[0],
                    "count": self.count}
        return {"absmean": self.absmean, "meanabs": self.meanabs, "maxabs": self.maxabs, "mean": self.mean,
                "meansq": self.meansq, "saturated": self.saturated, "dtype": self.dtype,
                "blocks": list(self.blocks), "steps": list(self.steps)}

    @classmethod
    def from_dict(cls, d: dict) -> "ChannelStats":
        """The statistics ``to_dict`` wrote (the same tensors; the pooled form when it wrote one)."""
        if "count" in d:
            return cls._from_sums(d["sum_absmean"], d["sum_meanabs"], d["max_maxabs"], d["count"])
        return cls(d["absmean"], d["meanabs"], d["maxabs"], tuple(d["blocks"]), tuple(d["steps"]),
                   mean=d.get("mean"), meansq=d.get("meansq"), saturated=d.get("saturated"), dtype=d.get("dtype"))

    def saturation(self) -> "Saturation":
        """Where a float16 run's activations sat at fp16's limit (see ``Saturation``).

        Returns:
            a ``Saturation``; ``.found`` is False in any dtype but float16, and in a float16
            run whose captured values all stayed below ``SATURATION_LEVEL``.
        """
        if self.saturated is None:
            return Saturation(self.dtype, ())
        share = self.saturated.nan_to_num(0.0)  # (rows, blocks, steps, channels)
        per_channel = share.amax(dim=(0, 2))  # (blocks, channels): the worst row and step
        found = []
        for b in self.blocks:
            channels = (per_channel[b] > 0).nonzero().flatten()
            if len(channels):
                order = per_channel[b, channels].argsort(descending=True)
                found.append({"block": int(b), "channels": [int(c) for c in channels[order]],
                              "max_token_share": float(per_channel[b].max()),
                              "steps": [int(s) for s in self.steps if bool((share[:, b, s] > 0).any())]})
        return Saturation(self.dtype, tuple(found))

    @property
    def has_moments(self) -> bool:
        """Whether the signed mean and the mean of x^2 were captured (``Tracer`` captures both)."""
        return self.mean is not None and self.meansq is not None

    def _moments(self, what: str):
        if not self.has_moments:
            raise ValueError(f"{what} needs the streamed moments (signed mean and mean of x^2 over image tokens), "
                             "which these statistics lack: capture them with massact.calibrate / generate(capture=...)")
        return self.mean, self.meansq

    def _reduce_rows_steps(self, x: torch.Tensor, steps, rows) -> torch.Tensor:
        if rows is not None:
            x = x[list(check_indices("row", rows, x.shape[0]))]
        if steps is not None:
            steps = check_indices("step", steps)
            missing = [s for s in steps if s not in self.steps]
            if missing:
                raise ValueError(f"steps {missing} were not captured; captured steps: {list(self.steps)}")
            x = x[:, :, list(steps)]
        return x

    def channel_mean(self, rows: Sequence[int] | None = None) -> torch.Tensor:
        """(blocks, steps, channels) float32: the signed mean over image tokens, averaged over
        rows, per block and step (NaN where not captured): the values of mean ablation
        (``EditSpec("set", values=...)``).

        Args:
            rows: rows to average over (None = all).
        """
        mean, _ = self._moments("channel_mean")
        return self._reduce_rows_steps(mean, None, rows).nanmean(dim=0).float()

    def energy(self, steps: Sequence[int] | None = None, rows: Sequence[int] | None = None) -> torch.Tensor:
        """(blocks, channels) float32: the mean over image tokens of x^2, averaged over rows and
        the given steps (None = all captured): each channel's squared activation.

        Args:
            steps: captured steps to average over (None = all).
            rows: rows to average over (None = all).
        """
        _, msq = self._moments("energy")
        return self._reduce_rows_steps(msq, steps, rows).nanmean(dim=(0, 2)).float()

    def severity(self, steps: Sequence[int] | None = None, rows: Sequence[int] | None = None) -> torch.Tensor:
        """(blocks, channels) float32: the outlier severity gamma = ||mu|| / ||sigma|| of each
        channel (Simon et al. 2026), mu and sigma its mean and standard deviation over the image
        tokens of one row and step, the norms taken over the (row, step) contexts. gamma >> 1:
        the channel is a near-constant offset at every token; gamma << 1: its mean is small
        against its spread. A channel with no spread at all gets inf.

        Args:
            steps: captured steps (None = all).
            rows: rows (None = all).
        """
        mean, msq = self._moments("severity")
        mu = self._reduce_rows_steps(mean, steps, rows).double()
        var = (self._reduce_rows_steps(msq, steps, rows).double() - mu * mu).clamp_min(0)
        num = torch.nansum(mu * mu, dim=(0, 2)).sqrt()
        den = torch.nansum(var, dim=(0, 2)).sqrt()
        out = torch.where(den > 0, num / den.clamp_min(1e-300), torch.full_like(num, float("inf")))
        captured = (~mu.isnan()).any(dim=2).any(dim=0)
        return out.masked_fill(~captured, float("nan")).float()

    def energy_share(self, k: int, stat: str = "absmean", steps: Sequence[int] | None = None) -> torch.Tensor:
        """(blocks,) float32: the share of the image stream's squared norm held by the top-k
        channels (ranked by ``score(stat, steps)``), pooled over tokens, rows and steps:
        sum over top-k of ``energy`` / sum over all channels. (The mean over tokens of each
        token's share needs the tokens: ``massact.ranking.token_energy_share``.)

        Args:
            k: channels, 1..width.
            stat: the ranking statistic.
            steps: captured steps (None = all).
        """
        e = self.energy(steps)
        k = check_int("k", k, 1, e.shape[1], what="the number of channels")
        sc = self.score(stat, steps)
        out = torch.full((e.shape[0],), float("nan"))
        for b in self.blocks:
            top = sc[b].topk(k).indices
            out[b] = e[b, top].sum() / e[b].sum().clamp_min(1e-30)
        return out

    @property
    def shape(self):
        return tuple(self.absmean.shape)

    def get(self, stat: str) -> torch.Tensor:
        if stat not in STATISTICS:
            raise ValueError(f"unknown statistic {stat!r}; choose one of {STATISTICS}: "
                             + "; ".join(f"{k} = {v}" for k, v in STATISTIC_HELP.items()))
        return getattr(self, stat)

    def score(self, stat: str = "absmean", steps: Sequence[int] | None = None, rows: Sequence[int] | None = None):
        """(blocks, channels): the statistic averaged over rows and the given steps (max for maxabs).

        Args:
            stat: one of ``STATISTICS``.
            steps: step indices to reduce over (a sequence of captured steps; None = all captured).
            rows: rows to reduce over (a sequence of ints; None = all).
        Returns:
            a float32 tensor (blocks, channels), NaN for blocks that were not captured.
        """
        x = self._reduce_rows_steps(self.get(stat), steps, rows)
        if stat == "maxabs":  # max over the captured entries (steps not captured are NaN)
            m = x.masked_fill(x.isnan(), float("-inf")).amax(dim=(0, 2))
            return m.masked_fill(m == float("-inf"), float("nan"))
        return x.nanmean(dim=(0, 2))

    def step_profile(self, stat: str = "absmean") -> list[dict]:
        """The timestep profile: per captured step, each block's top-1 / median ratio of ``stat``
        at that step, and the value at that step of the block's top channel (pooled over every
        step, the channel the claims rank first).

        Args:
            stat: one of ``STATISTICS``.
        Returns:
            one dict per captured step, in sampling order (step 0 = pure noise):
            {"step", "top1_over_median": [per block], "top_channel": [per block],
            "top_channel_value": [per block]}; NaN for blocks not captured.
        """
        pooled = self.score(stat)
        top = pooled.nan_to_num(float("-inf")).argmax(dim=1)
        out = []
        for st in self.steps:
            sc = self.score(stat, steps=[st])
            srt = sc.sort(dim=1, descending=True).values
            med = sc.median(dim=1).values
            out.append({"step": int(st),
                        "top1_over_median": [float(v) for v in srt[:, 0] / med],
                        "top_channel": [int(c) for c in top],
                        "top_channel_value": [float(sc[b, c]) for b, c in enumerate(top)]})
        return out

    def massive_set_size(self, ratio: int = MASSIVE_SET_RATIOS[0], steps: Sequence[int] | None = None) -> float:
        """The size of a typical block's massive set: the median over blocks of the number of
        channels whose |mean over image tokens| is at least ``ratio`` times their block's median
        channel's (``ratio_table``'s ``massive_set_<ratio>x``). The curves over k mark it.

        Args:
            ratio: one of ``MASSIVE_SET_RATIOS``.
            steps: the steps averaged (None: all).
        Returns:
            channels per block (a half-integer when the median falls between two blocks).
        """
        if ratio not in MASSIVE_SET_RATIOS:
            raise ValueError(f"ratio {ratio!r} unknown; one of {MASSIVE_SET_RATIOS}")
        return float(torch.tensor([float(r[f"massive_set_{ratio}x"]) for r in self.ratio_table(steps)]).quantile(0.5))

    def ratio_table(self, steps: Sequence[int] | None = None, k: int = 8) -> list[dict]:
        """Per block: top channels and top-1 / top-5 over median, for each statistic (Sun et al. style),
        the size of the massive set (``massive_set_{r}x``: how many channels are at least r times the
        block's median channel by |mean over image tokens|, r in ``MASSIVE_SET_RATIOS``);
        with the moments also the squared-norm share of the top-k channels (``energy_share_top{k}``,
        and of the top-1) and the outlier severity gamma (``severity``) of the top-1 channel, its
        maximum and its median over channels."""
        rows = []
        am, ma, mx = self.score("absmean", steps), self.score("meanabs", steps), self.score("maxabs", steps)
        if self.has_moments:
            k = min(int(k), am.shape[1])
            share_k, share_1, gam = self.energy_share(k, steps=steps), self.energy_share(1, steps=steps), \
                self.severity(steps)
        for b in self.blocks:
            srt = am[b].sort(descending=True)
            med = am[b].median()
            rows.append({
                "block": int(b),
                "top_channels": [int(c) for c in srt.indices[:5]],
                "top1_over_median_absmean": float(srt.values[0] / med),
                # the massive set: channels at least r x the block's median channel by |mean|
                **{f"massive_set_{r}x": int((am[b] >= r * med).sum()) for r in MASSIVE_SET_RATIOS},
                "top5_over_median_absmean": float(srt.values[:5].mean() / med),
                "top1_over_median_meanabs": float(ma[b].max() / ma[b].median()),
                # Sun et al.: max |x| against the median |x|; the median over channels of
                # mean |x| stands in for the median over all activations (not stored)
                "max_over_median": float(mx[b].max() / ma[b].median()),
            })
            if self.has_moments:
                g = gam[b]
                rows[-1].update({"energy_share_top1": float(share_1[b]), f"energy_share_top{k}": float(share_k[b]),
                                 "severity_top1": float(g[srt.indices[0]]), "severity_max": float(g.max()),
                                 "severity_median": float(g.median())})
        return rows


class SaturationWarning(UserWarning):
    """A float16 run's captured activations reached fp16's limit (see ``ChannelStats.saturation``)."""


@dataclass(frozen=True)
class Saturation:
    """Where a float16 run's activations sat at fp16's limit (``ChannelStats.saturation()``).

    Attributes:
        dtype: the image stream's dtype in the run ("float16", "bfloat16", "float32"; None unknown).
        blocks: one dict per block with saturated values: {"block", "channels" (worst first),
          "max_token_share" (the largest share of one row's image tokens at the limit, at one
          step), "steps"}; empty when none (always, outside float16).
    """

    dtype: str | None
    blocks: tuple[dict, ...]

    @property
    def found(self) -> bool:
        return bool(self.blocks)

    def text(self) -> str:
        """One paragraph: what was found and what to do instead."""
        if self.dtype is None:
            return ("These statistics do not record the run's dtype, so fp16 saturation cannot be checked "
                    "(statistics captured by massact.generate or Tracer record it).")
        if self.dtype != "float16":
            return (f"The model ran in {self.dtype}: no value is clipped at fp16's limit (only float16 runs are "
                    f"checked).")
        if not self.found:
            return (f"The model ran in float16 and no captured activation reached fp16's limit "
                    f"(|x| >= {SATURATION_LEVEL:,.0f} of {FP16_MAX:,.0f}).")
        where = "; ".join(f"block {d['block']}: channels {', '.join(map(str, d['channels'][:4]))}"
                          f"{' ...' if len(d['channels']) > 4 else ''} (up to {d['max_token_share']:.0%} of a row's "
                          f"image tokens, {len(d['steps'])} steps)" for d in self.blocks)
        return (f"SATURATED: the model ran in float16 and activations reached fp16's limit (|x| >= "
                f"{SATURATION_LEVEL:,.0f}, or inf) in {len(self.blocks)} blocks: {where}. Those values were clipped "
                f"or overflowed by the dtype, so the statistics rank and measure capped numbers: the massive channels' "
                f"magnitudes and ratios are understated, and edits act on clipped values. Load the model in bfloat16 "
                f"where the card has it (A100, L4, H100, RTX 30xx/40xx), or in float32; on a card without bfloat16 "
                f"(T4), run the transformer in float32 for the blocks and steps you study.")
