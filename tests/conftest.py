"""Shared pytest fixtures for massact's tests.

Notebook output sanitizers for nbval live in ``tests/nbval_sanitize.cfg`` (passed by
``make test`` via ``--nbval-sanitize-with``). Markers (``browser``, ``slow``) are
registered in ``pyproject.toml``.
"""
import pytest


@pytest.fixture(scope="session")
def model():
    """The shipped toy model, loaded once per session (tests never retrain it)."""
    import massact

    return massact.load("toy")
