"""Result rows: a list of dicts that filters itself.

Every claim that returns a table of rows (the probe's ``ProbeResult.table()``, the spatial
``SpatialResult.table()``, the transport ``Sweep.rows``) returns a ``Rows``, so a notebook
asks ``rows.select(arm="top", k=4)`` instead of writing a comprehension.
"""
from __future__ import annotations

__all__ = ["Rows"]


def _matches(row: dict, where: dict) -> bool:
    for key, want in where.items():
        have = row.get(key)
        if callable(want):
            if not want(have):
                return False
        elif isinstance(want, (set, frozenset)):  # rows hold JSON values, never sets: a set means "one of"
            if have not in want:
                return False
        elif have != want:
            return False
    return True


class Rows(list):
    """A list of row dicts with filters.

    A condition ``key=value`` holds when ``row[key] == value``; a set value means "one of"
    (``arm={"pixel_blend", "embedding_lerp"}``) and a callable is a predicate on the value
    (``k=lambda k: k > 4``). A missing key reads as None.
    """

    def select(self, **where) -> "Rows":
        """The rows meeting every condition, in order.

        Args:
            **where: column=value conditions (a set: one of; a callable: a predicate).
        Returns:
            a new ``Rows``.
        """
        return Rows(r for r in self if _matches(r, where))

    def exclude(self, **where) -> "Rows":
        """The rows that do not meet every condition (the complement of ``select``), in order."""
        return Rows(r for r in self if not _matches(r, where))

    def first(self, **where) -> dict:
        """The first row meeting the conditions.

        Raises:
            LookupError naming the conditions and the values the table holds.
        """
        for r in self:
            if _matches(r, where):
                return r
        seen = {k: sorted({repr(r.get(k)) for r in self}) for k in where}
        raise LookupError(f"no row with {where}; the table holds {seen}")

    def to_pandas(self):
        """A pandas DataFrame (pandas is optional: an ImportError says so when absent)."""
        try:
            import pandas as pd
        except ImportError as exc:  # pragma: no cover - depends on the environment
            raise ImportError("to_pandas needs pandas (pip install pandas); the rows are plain dicts") from exc
        return pd.DataFrame(list(self))

    def __add__(self, other) -> "Rows":
        return Rows(list.__add__(self, list(other)))

