"""A model knows its world: ``model.world``, ``model.metrics()``, and a loader above both.

The toy world's prompt streams, caption pairs and renderer; a bare pipeline (no world) and
the clear errors its callers get; each model's own metrics; ``load("toy")`` without
``models.py`` knowing the toy.
"""
import ast
import subprocess
import sys
import types
from pathlib import Path

import pytest
import torch

import massact
from massact import metrics as M
from massact.models import MassactModel, PipelineModel, require_sampler
from massact.world import CaptionPair, World, world_of


PACKAGE = Path(massact.__file__).parent


@pytest.fixture(scope="module")
def bare():
    """A PipelineModel around a tiny random Flux transformer: a model without a world."""
    sys.path.insert(0, str(Path(__file__).parent))
    from tiny_models import build_flux

    return PipelineModel(types.SimpleNamespace(transformer=build_flux()), name="tiny-flux")


# -- the toy world's prompt streams --------------------------------------------------------
def test_toy_streams_are_disjoint_deterministic_and_prefix_consistent(model):
    w = model.world
    assert isinstance(w, World) and w.name == "toy"
    cal, ev = w.calibration_prompts(200), w.evaluation_prompts(200)
    assert not set(cal) & set(ev)  # disjoint by construction, not by luck of the draw
    assert len(set(cal)) == len(cal) and len(set(ev)) == len(ev)  # no repeats within a stream
    assert cal[:8] == w.calibration_prompts(8) and ev[:5] == w.evaluation_prompts(5)
    assert w.calibration_prompts(8) == type(w)().calibration_prompts(8)  # a fresh world draws the same
    w.validate_prompts(cal + ev)  # every caption is one the model reads


def test_toy_streams_keep_the_earlier_caption_sets(model):
    # behaviour unchanged: the first 16 captions of each stream are the seed streams' draws
    from massact.toy import world

    assert model.world.calibration_prompts(16) == world.caption_set(16, world.CALIBRATION_SEED)
    assert model.world.evaluation_prompts(16) == world.caption_set(16, world.EVALUATION_SEED)


@pytest.mark.parametrize("bad, error", [(0, ValueError), (10_000, ValueError), (2.0, TypeError), (True, TypeError)])
def test_toy_streams_refuse_bad_counts(model, bad, error):
    with pytest.raises(error, match="n "):
        model.world.calibration_prompts(bad)
    with pytest.raises(error, match="n "):
        model.world.evaluation_prompts(bad)


# -- caption pairs -------------------------------------------------------------------------
def test_caption_pairs_differ_in_exactly_the_requested_attributes(model):
    from massact.toy import world

    w = model.world

    def differing(p):
        s, t = world.parse_caption(p.source), world.parse_caption(p.target)
        return {a for a in w.attributes if getattr(s, a) != getattr(t, a)}

    for differ in (("position",), ("color", "background"), "size"):
        pairs = w.caption_pairs(6, differ=differ, seed=3)
        want = {differ} if isinstance(differ, str) else set(differ)
        assert len(pairs) == 6 and all(isinstance(p, CaptionPair) for p in pairs)
        assert all(differing(p) == want == set(p.changed) for p in pairs)
    cycled = w.caption_pairs(10, per_pair=2)
    assert all(len(p.changed) == 2 and differing(p) == set(p.changed) for p in cycled)
    assert {a for p in cycled for a in p.changed} == set(w.attributes)  # every attribute gets its turn
    assert w.caption_pairs(4) == w.caption_pairs(4) and w.caption_pairs(4, seed=1) != w.caption_pairs(4, seed=2)


def test_caption_pairs_refuse_bad_input(model):
    w = model.world
    with pytest.raises(ValueError, match="unknown attributes"):
        w.caption_pairs(2, differ=("mood",))
    with pytest.raises(ValueError, match="per_pair"):
        w.caption_pairs(2, per_pair=6)
    with pytest.raises(TypeError, match="n "):
        w.caption_pairs(1.5)


def test_toy_prompt_errors_name_the_vocabulary(model):
    with pytest.raises(ValueError, match="vocabulary"):
        model.validate_prompts(["a red banana"])
    with pytest.raises(ValueError, match="vocabulary"):
        model.validate_prompts([])
    with pytest.raises(TypeError, match="list of strings"):
        model.validate_prompts("a red circle")
    assert "shape" in model.world.vocabulary_help()
    values = model.world.attribute_values
    assert tuple(values) == model.world.attributes and values["color"][0] == "red" and World.attribute_values == {}


# -- a model without a world ---------------------------------------------------------------
def test_a_bare_pipeline_has_no_world(bare):
    assert MassactModel.world is None and bare.world is None
    assert bare.exposes_sampler is False
    with pytest.raises(TypeError, match="World"):
        PipelineModel(types.SimpleNamespace(transformer=bare.transformer), world="toy")
    bare.validate_prompts(["any words at all"])  # no world: only the shape check
    with pytest.raises(ValueError, match="empty"):
        bare.validate_prompts([" "])


def test_callers_of_the_world_get_a_clear_error_on_a_bare_pipeline(bare):
    from massact.claims import critical, use_cases
    from massact.report import reproduce

    with pytest.raises(ValueError, match=r"no world.*prompts=\["):
        massact.calibration.calibrate(bare)
    with pytest.raises(ValueError, match=r"no world.*prompts=\["):
        critical.default_evaluation_prompts(bare)
    with pytest.raises(ValueError, match=r"no world.*reproduce\(model, prompts="):
        reproduce(bare, out="unused")
    with pytest.raises(NotImplementedError, match="attributes"):
        use_cases.composition(bare)
    with pytest.raises(ValueError, match="tiny-flux"):
        world_of(bare, "anything")


def test_the_sampler_pieces_are_refused_where_the_model_does_not_expose_them(bare, model):
    for call in (lambda: bare.initial_noise([0]), lambda: bare.timesteps(4),
                 lambda: bare.encode_prompts(["a cat"], 1.0), lambda: bare.invert(torch.rand(1, 3, 32, 32), [""], 2, 1.0),
                 lambda: bare.sample(["a cat"], [0], 2, 1.0, latents=torch.zeros(1, 3, 8, 8)),
                 lambda: massact.generate(bare, ["a cat"], num_steps=2, latents=torch.zeros(1, 3, 8, 8))):
        with pytest.raises(NotImplementedError, match="tiny-flux"):
            call()
    require_sampler(model, "anything")  # the toy exposes its sampler
    with pytest.raises(ValueError, match="reverse"):
        model.euler(torch.zeros(1, 3, 32, 32), ["a red circle"], 2, 1.0, refine=1)


def test_the_base_world_says_what_to_pass():
    w = World()
    for call, hint in ((lambda: w.calibration_prompts(2), "prompts="), (lambda: w.evaluation_prompts(2), "prompts="),
                       (lambda: w.caption_pairs(2), "sources="), (lambda: w.render_references(["x"]), "load_reference")):
        with pytest.raises(NotImplementedError, match=hint):
            call()
    w.validate_prompts(["anything"])
    with pytest.raises(TypeError):
        w.validate_prompts("anything")


# -- metrics -------------------------------------------------------------------------------
def test_each_model_has_its_own_metrics(model, bare):
    from massact.toy.metrics import ToyMetrics

    assert type(model.metrics()) is ToyMetrics
    assert model.metrics().attributes == model.world.attributes
    assert type(bare.metrics()) is M.RealMetrics
    assert bare.metrics().attributes == ()
    mask = bare.metrics(mask_fn=lambda im: torch.ones(len(im), 4, 4)).foreground_mask(torch.zeros(2, 3, 4, 4))
    assert mask.shape == (2, 4, 4) and mask.all()  # the kwargs reach RealMetrics


# -- the loader sits above the model class and the toy -------------------------------------
def _imports(path: Path) -> set[str]:
    """Every module a file imports (function-level imports included), relative ones resolved
    against the massact package."""
    out = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            out |= {a.name for a in node.names}
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                pkg = ".".join(path.relative_to(PACKAGE.parent).with_suffix("").parts[: -node.level])
                base = f"{pkg}.{base}" if base else pkg
            out.add(base)
            out |= {f"{base}.{a.name}" for a in node.names}
    return out


@pytest.mark.parametrize("name", ["models.py", "metrics.py", "world.py", "generation.py"])
def test_core_modules_do_not_import_the_toy(name):
    toy = sorted(m for m in _imports(PACKAGE / name) if m == "massact.toy" or m.startswith("massact.toy."))
    assert not toy, f"{name} imports {toy}"


def test_no_claim_imports_the_toy_or_tests_its_name():
    for path in sorted((PACKAGE / "claims").glob("*.py")):
        toy = sorted(m for m in _imports(path) if m.startswith("massact.toy"))
        assert not toy, f"{path.name} imports {toy}"
        assert '== "toy"' not in path.read_text() and '!= "toy"' not in path.read_text(), path.name


def test_load_toy_works_and_models_py_never_pulls_the_toy_in():
    code = ("import sys, massact.models, massact.metrics, massact.world\n"
            "assert not [m for m in sys.modules if m.startswith('massact.toy')], 'core imported the toy'\n"
            "import massact\n"
            "assert 'massact.toy' not in sys.modules, 'import massact loaded the toy'\n"
            "m = massact.load('toy')\n"
            "assert type(m).__name__ == 'ToyModel' and m.world.name == 'toy'\n"
            "assert m.metrics().attributes == m.world.attributes\n"
            "print('ok')\n")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=300,
                         env={"OMP_NUM_THREADS": "1", "PATH": "/usr/bin:/bin"})
    assert out.returncode == 0 and out.stdout.strip() == "ok", out.stderr[-2000:]
    assert massact.load is massact.loading.load


def test_load_refuses_what_it_cannot_load():
    with pytest.raises(TypeError, match=r"load\('toy'\) takes device, dtype, checkpoint, num_steps, guidance, "
                                        r"not \['height'\]"):
        massact.load("toy", height=64)
    with pytest.raises(ValueError, match="cannot load 3"):
        massact.load(3)
    with pytest.raises(ValueError, match="cannot load 'flux3'.*presets: flux1-schnell"):
        massact.load("flux3")
    # each option where it applies, refused elsewhere with the reason
    for options in (dict(height_px=64), dict(offload="model", device="cuda"), dict(quantize="nf4")):
        with pytest.raises(ValueError, match=f"the toy model draws 32x32 images .*: {next(iter(options))}"):
            massact.load("toy", **options)
    with pytest.raises(ValueError, match=r"load\('tiny-flux'\): offload does not apply \(.*configure checkpoints"):
        massact.load("tiny-flux", offload="model", device="cuda")
    with pytest.raises(ValueError, match=r"checkpoint does not apply"):
        massact.load("tiny-flux", checkpoint=1)
    model = massact.load("toy", num_steps=6, guidance=1.5)
    assert (model.default_steps, model.default_guidance) == (6, 1.5)
    with pytest.raises(ValueError, match=r"device, dtype do not apply \(a massact model is returned as it is\)"):
        massact.load(model, device="cpu", dtype=torch.float32)
    assert massact.load(model) is model
    with pytest.raises(ValueError, match=r"num_steps 1001 out of range"):
        massact.load("toy", num_steps=1001)
