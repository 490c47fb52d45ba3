"""How a reading is laid out: one bullet per line."""
from __future__ import annotations


def bullets(*groups) -> str:
    """Sentences grouped into bullets: each group (a string or a list of sentences) becomes one
    line; empty groups are dropped. The report shows each line as a bullet, a notebook prints
    them as lines.

    Args:
        groups: strings or lists of strings.
    Returns:
        the lines joined by newlines.
    """
    lines = []
    for g in groups:
        text = g if isinstance(g, str) else " ".join(s for s in g if s)
        if text.strip():
            lines.append(text.strip())
    return "\n".join(lines)
