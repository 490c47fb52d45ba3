"""Tiny complete pipelines of more image DiT families (see families.py): built from configs on
this machine, no download; plumbing fixtures with random weights."""
from __future__ import annotations

from .families import TinyFamily

#: the families of this module, merged into families.FAMILIES
FAMILIES: list[TinyFamily] = []
