"""Readings: the prose built from a claim's results.

A claim (``massact.claims``) measures and returns numbers; a reading turns those numbers
into sentences, including "the effect is weak" or "not reproduced" when that is what they
say. Readings never run a model, so a notebook can re-read a result under other
thresholds without generating anything::

    from massact import readings
    print(readings.critical(result, breakdown, independence))
    print(readings.transport(sweep.rows()))

The scoreboard, one line per claim from its curve over k: ``scoreboard(results)`` (a report's
results), ``scoreboard_row(claim, over_k)`` (one claim, e.g. in a notebook) and
``scoreboard_line(row)`` (a row as a sentence).

One function per claim result:

* ``massive_set(ratio_rows)`` and ``step_profile(profile, block)`` (how massive, and over the steps; its numbers:
  ``step_trend(profile, block)``),
  ``decomposition(rows, block)`` (what the top channels are: an offset, or an attribute code);
* ``critical(probe_result, breakdown=None, independence=None)`` and ``critical_verdict(...)``
  (the numbers the sentences rest on), ``critical_over_k(probe_result)`` (the verdict at every
  k run: where the claim holds and where not), ``critical_controls(probe_result, k)`` (mean ablation,
  energy-matched channels), ``top1_ablation(res)`` (zeroing against mean-setting the top-1 channel);
* ``spatial(spatial_result)`` and ``spatial_over_k(ov)`` (the curve over k, ``claims.spatial.over_k``);
* ``transport(rows, k=None)``, ``what_moves(rows)`` (per attribute: does it follow the top-k?),
  ``transport_by_kind(rows)`` (layout / identity / background, from the intervals),
  ``transport_over_k(ov)`` (the curve over k, ``claims.transport.over_k``) and
  ``transport_carry(rows)`` (what the top channels and the rest carry, ``claims.transport.carry``);
* ``interpolation(res)``, ``composition(comp)``, ``subject_transfer(inversion, measure)``;
* ``training(rows)`` (the claims across training checkpoints).

Layering: readings import the claims (for their result types and constants), never the
faces (report, plots, widgets, exercises) or the toy.
"""
from __future__ import annotations

from ._critical import STRONG_DROP, WEAK_DROP, critical
from ._critical import controls as critical_controls
from ._critical import verdict as critical_verdict
from ._critical import over_k as critical_over_k
from ._critical import top1_ablation
from ._massive import decomposition, massive_set, step_profile, step_trend
from ._scoreboard import scoreboard, scoreboard_line, scoreboard_row
from ._spatial import spatial
from ._spatial import over_k as spatial_over_k
from ._training import training
from ._transport import by_kind as transport_by_kind
from ._transport import carry as transport_carry
from ._transport import over_k as transport_over_k
from ._transport import transport, what_moves
from ._use_cases import composition, interpolation, subject_transfer

__all__ = ["scoreboard", "scoreboard_row", "scoreboard_line", "massive_set", "step_profile", "step_trend", "decomposition", "critical",
           "critical_verdict", "critical_over_k", "critical_controls", "top1_ablation", "spatial", "spatial_over_k",
           "transport", "what_moves", "transport_by_kind", "transport_over_k", "transport_carry", "interpolation",
           "composition",
           "subject_transfer", "training", "STRONG_DROP", "WEAK_DROP"]
