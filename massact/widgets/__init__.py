"""Notebook widgets: one small controller class per claim (``.widget`` to display, ``.update()`` to recompute)."""
