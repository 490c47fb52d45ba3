"""Result rows: a list of dicts that filters itself.

Every table of rows (``Results.table()`` of every claim, a result's ``conditions``) is a
``Rows``, so a notebook asks ``rows.select(arm="top", k=4)`` instead of writing a
comprehension.
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

    def text(self, columns, spec: str = ".2f") -> str:
        """A small fixed-width table of the columns that matter, for a notebook to print.

        A number with a ``<column>_ci`` beside it prints as "mean [low, high]"; other values as
        they are ("n/a" for None).

        Args:
            columns: the columns to show, in order (a row without one shows "n/a").
            spec: the number format.
        Returns:
            the header and one line per row.
        """
        columns = list(columns)
        if not columns:
            raise ValueError("columns is empty: name the columns to show, e.g. ['arm', 'k', 'pixel_mse']")

        def cell(r, c):
            v = r.get(c)
            if v is None:
                return "n/a"
            if isinstance(v, float):
                ci = r.get(f"{c}_ci")
                return f"{v:{spec}}" + (f" [{ci[0]:{spec}}, {ci[1]:{spec}}]" if ci else "")
            return str(v)

        table = [columns] + [[cell(r, c) for c in columns] for r in self]
        widths = [max(len(line[i]) for line in table) for i in range(len(columns))]
        return "\n".join("  ".join(v.rjust(w) for v, w in zip(line, widths)) for line in table)

    def to_pandas(self):
        """A pandas DataFrame (pandas is optional: an ImportError says so when absent)."""
        try:
            import pandas as pd
        except ImportError as exc:  # pragma: no cover - depends on the environment
            raise ImportError("to_pandas needs pandas (pip install pandas); the rows are plain dicts") from exc
        return pd.DataFrame(list(self))

    def __add__(self, other) -> "Rows":
        return Rows(list.__add__(self, list(other)))

