"""Shared pytest configuration for massact's tests.

Kept deliberately minimal. Notebook output sanitizers for nbval live in
``tests/nbval_sanitize.cfg`` (passed by ``make test`` via ``--nbval-sanitize-with``).
Markers (``browser``, ``slow``) are registered in ``pyproject.toml``.
"""


def pytest_collection_modifyitems(config, items):
    """Hook point for collection-time marking; intentionally marks nothing for now."""
    return None
