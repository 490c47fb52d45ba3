"""The paper's claims, the method only: one module each (critical, spatial, transport,
use_cases with inversion, training).

A claim measures and returns numbers (its rows filter themselves: ``Rows.select``). It
never imports the faces (report, plots, widgets, exercises), the readings, loading (with the
presets) or the toy: the sentences built from its results are ``massact.readings``, its part of the report
is ``massact.report.sections``, and everything model-specific comes through the model
interface (``model.world``, ``model.metrics()``).
"""
from .rows import Rows

__all__ = ["Rows"]
