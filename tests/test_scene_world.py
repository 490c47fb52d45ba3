"""The scene world of real text-to-image models (``world.SceneWorld``), given by ``massact.load``.

Prompt streams (disjoint, deterministic, prefix-consistent, natural-language scenes), caption
pairs that change named attributes, a permissive prompt check, ``load`` giving pipelines the
world by default (``world=None`` or another world on request), and PixArt/SANA calls that
no longer warn about caption cleaning.
"""
from __future__ import annotations

import logging

import pytest

import massact
from massact.world import SCENE_ATTRIBUTES, CaptionPair, SceneWorld, World, scene_caption



def parts_of(caption: str) -> dict[str, str]:
    """The attribute words of a scene caption (the inverse of ``scene_caption``)."""
    found = {a: [w for w in words if w in caption] for a, words in SCENE_ATTRIBUTES.items()}
    return {a: max(ws, key=len) for a, ws in found.items() if ws}


def test_streams_are_disjoint_deterministic_and_prefix_consistent():
    w = SceneWorld()
    cal, ev = w.calibration_prompts(64), w.evaluation_prompts(64)
    assert len(set(cal)) == 64 and len(set(ev)) == 64
    assert not set(w.calibration_prompts(w.stream_size)) & set(w.evaluation_prompts(w.stream_size))
    assert cal[:8] == w.calibration_prompts(8) and ev == SceneWorld().evaluation_prompts(64)
    assert SceneWorld(order_seed=1).evaluation_prompts(8) != ev[:8]  # another shuffle, another stream
    for p in cal + ev:  # one subject on a described background, in one style and light
        assert set(parts_of(p)) == set(SCENE_ATTRIBUTES) and scene_caption(**parts_of(p)) == p
    # the first 64 evaluation scenes are varied, not one subject repeated
    assert len({parts_of(p)["subject"] for p in ev}) >= 12 and len({parts_of(p)["setting"] for p in ev}) >= 10


@pytest.mark.parametrize("bad, error", [(0, ValueError), (10_000, ValueError), (2.0, TypeError), (True, TypeError)])
def test_streams_refuse_bad_counts(bad, error):
    with pytest.raises(error, match="n "):
        SceneWorld().evaluation_prompts(bad)


def test_caption_pairs_change_the_named_attributes_only():
    w = SceneWorld()
    pairs = w.caption_pairs(8)
    assert all(isinstance(p, CaptionPair) for p in pairs) and pairs == w.caption_pairs(8)
    assert [p.changed for p in pairs[:4]] == [("subject",), ("setting",), ("lighting",), ("style",)]
    for p in pairs + w.caption_pairs(6, differ="subject", seed=3) + w.caption_pairs(4, per_pair=2):
        s, t = parts_of(p.source), parts_of(p.target)
        assert {a for a in SCENE_ATTRIBUTES if s[a] != t[a]} == set(p.changed)
    assert w.caption_pairs(3, seed=5) != w.caption_pairs(3)
    with pytest.raises(ValueError, match="choose from"):
        w.caption_pairs(2, differ="colour")
    with pytest.raises(ValueError, match="per_pair"):
        w.caption_pairs(2, per_pair=5)


def test_any_non_empty_prompt_is_valid_and_there_is_no_renderer():
    w = SceneWorld()
    w.validate_prompts(["an astronaut riding a horse", "x"])
    with pytest.raises(ValueError, match="empty"):
        w.validate_prompts(["a cat", " "])
    with pytest.raises(TypeError, match="list of strings"):
        w.validate_prompts("a cat")
    with pytest.raises(NotImplementedError, match="load_reference"):
        w.render_references(["a cat"])
    assert "any non-empty text prompt" in w.vocabulary_help()


def test_load_gives_pipelines_the_scene_world():
    model = massact.load("tiny-flux")
    assert isinstance(model.world, SceneWorld)
    cal = massact.calibrate(model)  # no prompts needed any more
    assert list(cal.prompts) == model.world.calibration_prompts(8)
    assert massact.load("tiny-flux", world=None).world is None
    assert massact.load(model.pipe).world.name == "scenes"  # a loaded pipeline too

    class Mine(World):
        name = "mine"

    assert massact.load("tiny-flux", world=Mine()).world.name == "mine"
    with pytest.raises(TypeError, match="World or None"):
        massact.load("tiny-flux", world=["a cat"])
    assert massact.load("toy").world.name == "toy"  # the toy keeps its own


class _Records(logging.Handler):
    def __init__(self):
        super().__init__()
        self.messages = []

    def emit(self, record):
        self.messages.append(record.getMessage())


@pytest.mark.parametrize("family", ["pixart", "sana"])
def test_no_caption_cleaning_warning(family):
    handler = _Records()
    logger = logging.getLogger("diffusers")
    logger.addHandler(handler)
    try:
        massact.generate(massact.load(f"tiny-{family}"), ["a cat on a mat"], seeds=0)
        assert not [m for m in handler.messages if "clean_caption" in m]
        # the check can fail: asking for cleaning (without ftfy/bs4) brings the warning back
        asked = massact.load(f"tiny-{family}", call_kwargs={"clean_caption": True})
        massact.generate(asked, ["a cat on a mat"], seeds=0)
    finally:
        logger.removeHandler(handler)
    import importlib.util

    if importlib.util.find_spec("ftfy") is None or importlib.util.find_spec("bs4") is None:
        assert [m for m in handler.messages if "clean_caption" in m]
