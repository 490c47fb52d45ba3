"""Shared pytest fixtures for massact's tests.

Notebook output sanitizers for nbval live in ``tests/nbval_sanitize.cfg`` (passed by
``make test`` via ``--nbval-sanitize-with``). Markers (``browser``, ``slow``) are
registered in ``pyproject.toml``.
"""
import pytest


@pytest.fixture(scope="session", autouse=True)
def one_torch_thread():
    """Every test runs on one torch thread, set here once for the session (before any module's
    fixtures) and restored after, so a module run alone computes what it computes in the whole
    suite; no test module changes torch's threads at import."""
    import torch

    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


@pytest.fixture(scope="session")
def model():
    """The shipped toy model, loaded once per session (tests never retrain it)."""
    import massact

    return massact.load("toy")


@pytest.fixture(scope="module")
def tiny():
    """A tiny randomly initialised toy-architecture model (1+2 blocks, width 32, 4 steps): fast plumbing."""
    import torch

    from massact.toy.model import ToyConfig, ToyDiT
    from massact.toy.pipeline import ToyModel

    torch.manual_seed(0)
    cfg = ToyConfig(num_double_layers=1, num_single_layers=2, num_attention_heads=2, attention_head_dim=16,
                    text_width=32, axes_dims_rope=(4, 6, 6))
    model = ToyModel(ToyDiT(cfg))
    model.default_steps = 4
    return model
