"""The report and the CLI: one static table of sections, one rule for prompts and pairs, a
failing section reported (not dropped), results.json and index.html after every section.

The end-to-end runs use a tiny random toy-shaped model (same world, same judge-backed
metrics): these properties are about the report's plumbing, not about what a model learned.
"""
from __future__ import annotations

import ast
import json
from pathlib import Path

import pytest

import massact
from massact import report
from massact.cli import main
from massact.report import ReportContext, sections
from massact.toy import world


PACKAGE = Path(massact.__file__).parent
#: a prompt file in the toy's vocabulary (complete captions, so every section could use them)
GIVEN = ["a large red circle at the left on a black background",
         "a small blue square at the right on a white background",
         "a large green triangle at the top on a gray background"]


def _ctx(model, prompts, prompts_from):
    return ReportContext(model, model.metrics(), list(prompts), list(prompts), [0, 1], quick=True, progress=False,
                         prompts_from=prompts_from)


# -- the table -------------------------------------------------------------------------------------------
def test_sections_are_one_static_table():
    assert sections.names() == ["model", "massive", "critical", "spatial", "transport", "use_cases", "training"]
    assert report.SECTIONS is sections.SECTIONS and all(callable(s.build) and s.title for s in sections.SECTIONS)
    with pytest.raises(ValueError, match="unknown section 'nope'; available"):
        sections.spec("nope")
    # no import machinery and no swallowed import errors anywhere in the report
    for path in (PACKAGE / "report").glob("*.py"):
        tree = ast.parse(path.read_text())
        names = {n.id for n in ast.walk(tree) if isinstance(n, ast.Name)} | \
                {a.name for n in ast.walk(tree) if isinstance(n, (ast.Import, ast.ImportFrom)) for a in n.names}
        assert "importlib" not in names and "ModuleNotFoundError" not in names, path.name
    # the claims hold no report sections any more
    from massact.claims import critical, spatial, transport, use_cases

    for mod in (critical, spatial, transport, use_cases):
        assert not hasattr(mod, "report_section"), mod.__name__


# -- the rule for prompts and pairs -------------------------------------------------------------------
def test_given_prompts_make_consecutive_pairs_world_prompts_the_worlds_pairs(tiny):
    given = _ctx(tiny, GIVEN, "given")
    src, tgt, seeds, note = given.pairs(5)
    assert (src, tgt, seeds) == (GIVEN[1:], GIVEN[:2], [0, 1])  # only 2 pairs fit in 3 prompts
    assert note["pairs_from"].startswith("consecutive given prompts") and note["why"] == "prompts were given"
    assert note["pairs"][0] == {"source": GIVEN[1], "target": GIVEN[0], "seed": 0}
    with pytest.raises(ValueError, match="at least two prompts"):
        _ctx(tiny, GIVEN[:1], "given").pairs(1)
    own = _ctx(tiny, world.caption_set(4, world.EVALUATION_SEED), "world")
    src, tgt, _, note = own.pairs(3, seed=777)
    pairs = tiny.world.caption_pairs(3, seed=777)
    assert (src, tgt) == ([p.source for p in pairs], [p.target for p in pairs])
    assert note["pairs_from"] == "model.world.caption_pairs (draw 777)"


def test_images_are_prompts_times_seeds(tiny):
    ctx = _ctx(tiny, GIVEN, "given")
    prompts, seeds, note = ctx.images(num_seeds=2)
    assert prompts == [GIVEN[0], GIVEN[0], GIVEN[1], GIVEN[1], GIVEN[2], GIVEN[2]] and seeds == [0, 1] * 3
    prompts, seeds, _ = ctx.images(limit=4, seed_major=True)
    assert prompts == GIVEN + GIVEN[:1] and seeds == [0, 0, 0, 1]
    assert note == {"prompts_from": "the given prompts", "prompts": GIVEN, "seeds": [0, 1], "images": 6}


def test_every_section_uses_the_given_prompts_or_says_why_not(tiny, tmp_path):
    res = massact.report.reproduce(tiny, tmp_path, prompts=GIVEN, num_seeds=1, quick=True, progress=False,
                                   only=["transport", "use_cases"])
    assert res["failed"] == [] and list(res["inputs"]) == ["calibration", "model", "transport", "use_cases"]
    assert res["inputs"]["calibration"] == {"prompts_from": "the given prompts with calibration seeds",
                                            "prompts": GIVEN}
    assert res["inputs"]["model"]["prompts"] == GIVEN
    used = {(p["source"], p["target"]) for p in res["inputs"]["transport"]["pairs"]}
    assert used == {(GIVEN[1], GIVEN[0]), (GIVEN[2], GIVEN[1])}
    assert res["use_cases"]["interpolation"]["pairs"] == [{"source": GIVEN[1], "target": GIVEN[0]}]
    # what the file cannot provide is named, with the reason
    for part in ("composition", "subject_transfer"):
        note = res["inputs"]["use_cases"][part]
        assert note["pairs_from"].startswith("model.world.caption_pairs") and note["why"]
    on_disk = json.loads((tmp_path / "results.json").read_text())
    assert on_disk["inputs"] == json.loads(json.dumps(res["inputs"]))
    assert "Inputs" in (tmp_path / "index.html").read_text()


# -- failures are reported, not dropped -------------------------------------------------------------------
def test_a_failing_section_is_reported_and_the_others_survive(tiny, tmp_path, monkeypatch):
    seen = {}

    def broken(ctx):
        # results.json already holds the sections before this one
        seen["before"] = sorted(json.loads((tmp_path / "results.json").read_text()))
        raise ModuleNotFoundError("No module named 'some_optional_dependency'")

    table = tuple(sections.SectionSpec(s.name, s.title, broken) if s.name == "massive" else s
                  for s in sections.SECTIONS)
    monkeypatch.setattr(sections, "SECTIONS", table)
    res = massact.report.reproduce(tiny, tmp_path, prompts=GIVEN[:2], num_seeds=1, quick=True, progress=False,
                                   only=["massive", "spatial"])
    assert "model" in seen["before"] and "massive" not in seen["before"]
    assert res["failed"] == ["massive"]
    assert res["massive"]["failed"] is True and "some_optional_dependency" in res["massive"]["error"]
    assert res["spatial"]["rows"] and res["model"]["num_images"] == 2  # the others are complete
    on_disk = json.loads((tmp_path / "results.json").read_text())
    assert on_disk["failed"] == ["massive"] and on_disk["spatial"]["rows"] == res["spatial"]["rows"]
    page = (tmp_path / "index.html").read_text()
    assert "Failed sections: massive" in page and "This section failed: ModuleNotFoundError" in page


def test_bad_arguments_are_refused_before_anything_runs(tiny, tmp_path):
    with pytest.raises(ValueError, match="unknown sections"):
        massact.report.reproduce(tiny, tmp_path / "a", prompts=GIVEN, only=["nope"])
    with pytest.raises(ValueError, match="num_seeds 0 out of range"):
        massact.report.reproduce(tiny, tmp_path / "b", prompts=GIVEN, num_seeds=0)
    with pytest.raises(ValueError, match="vocabulary"):
        massact.report.reproduce(tiny, tmp_path / "c", prompts=["a red dragon"])
    with pytest.raises(TypeError, match="list of strings"):
        massact.report.reproduce(tiny, tmp_path / "d", prompts="a red circle")
    assert not any((tmp_path / d).exists() for d in "abcd")


# -- the CLI ----------------------------------------------------------------------------------------------
def test_cli_refuses_bad_prompt_files_with_a_clear_message(tmp_path, capsys):
    empty = tmp_path / "empty.txt"
    empty.write_text("\n  \n")
    assert main(["reproduce", "--prompts", str(empty), "--out", str(tmp_path / "r")]) == 2
    assert "holds no prompts" in capsys.readouterr().err
    assert main(["reproduce", "--prompts", str(tmp_path / "missing.txt"), "--out", str(tmp_path / "r")]) == 2
    assert "cannot read the prompt file" in capsys.readouterr().err
    bad = tmp_path / "bad.txt"
    bad.write_text("a red dragon\n")
    assert main(["reproduce", "--prompts", str(bad), "--out", str(tmp_path / "r")]) == 2
    assert "vocabulary" in capsys.readouterr().err
    assert not (tmp_path / "r").exists()
