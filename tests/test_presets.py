"""Real-model presets, the per-card advice, ``massact.load`` of a preset and the notebook's model chooser.

Nothing here downloads or needs a GPU: ``advise`` is a pure function, ``massact.load`` of a
preset is run with ``from_pretrained`` replaced by a tiny pipeline, and the chooser is built
from a ``presets.Card`` and a fake loader. (The Colab installer: test_environment.)"""
from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path
from types import SimpleNamespace

import pytest
import torch

import massact
from massact import loading
from massact import presets as P
from massact import testing
from massact.adapters import ADAPTERS
from massact.widgets import chooser as C
from massact.models import PIXELS_PER_TOKEN

ROOT = Path(__file__).resolve().parents[1]
T4 = P.CARDS["t4"]  # Colab's free tier: 15 GiB, no bfloat16, 12.7 GiB of RAM
T4_BIG_HOST = P.Card("Tesla T4", 15.0, bf16=False, ram_gb=64.0, tflops16=65.0)
A100 = P.CARDS["a100-80"]
A100_40 = P.CARDS["a100-40"]
SMALL = ("sana1.5-1.6b", "pixart-sigma", "sd3.5-medium", "flux2-klein-4b")


def test_the_seven_presets():
    labels = {p.label for p in P.PRESETS.values()}
    assert labels == {"FLUX.1-schnell", "FLUX.1-dev", "FLUX.2-klein 4B", "SANA 1.5 1.6B", "Qwen-Image",
                      "SD3.5-medium", "PixArt-Sigma"}
    assert P.CHOICES[0] == "toy" and set(P.CHOICES[1:]) == set(P.PRESETS)
    assert len({p.hub_id for p in P.PRESETS.values()}) == len(P.PRESETS)


@pytest.mark.parametrize("key", list(P.PRESETS))
def test_preset_fields(key):
    import diffusers

    p = P.PRESETS[key]
    assert p.transformer_class in ADAPTERS, f"{key}: {p.transformer_class} has no massact adapter"
    assert hasattr(diffusers, p.pipeline_class), f"{key}: diffusers has no {p.pipeline_class}"
    assert hasattr(diffusers, p.transformer_class)
    assert "/" in p.hub_id and " " not in p.hub_id
    px = PIXELS_PER_TOKEN[p.family]
    for res in (p.resolution, p.small_resolution or p.resolution):
        assert res % px == 0, f"{key}: {res} px is not a multiple of {px}"
    assert p.num_steps >= 1 and p.guidance >= 0
    assert 0 < p.transformer_gb <= p.largest_gb <= p.total_gb
    assert P.get_preset(p.label) is p and P.get_preset(p.hub_id) is p and P.get_preset(p) is p


def test_unknown_preset():
    with pytest.raises(ValueError, match="flux1-schnell"):
        P.get_preset("flux3")


@pytest.mark.parametrize("key", list(P.PRESETS))
def test_t4_chooses_fp16_and_warns(key):
    a = P.advise(key, T4)
    assert a.dtype == "float16"
    assert a.warnings and "bfloat16" in a.warnings[0]
    assert "65504" in a.text() and "SaturationWarning" in a.text()
    assert a.resolution % PIXELS_PER_TOKEN[a.preset.family] == 0


@pytest.mark.parametrize("key", ["flux1-schnell", "flux1-dev"])
def test_t4_flux_warning_says_what_fp16_does(key):
    a = P.advise(key, T4_BIG_HOST)
    w = " ".join(a.warnings)
    assert "9e+04" in w and "65504" in w and "clip" in w and "float32" in w
    assert a.offload == "sequential" and a.quantize == "none"  # 24 GB transformer, 15 GiB card, 64 GiB host
    assert a.resolution < a.preset.resolution
    assert "values clipped in fp16" in a.summary()


@pytest.mark.parametrize("key", SMALL)
def test_a100_bf16_without_offload_for_small_models(key):
    a = P.advise(key, A100)
    assert a.dtype == "bfloat16" and a.offload == "none" and not a.cpu_offload and a.fits and a.quantize == "none"
    assert not any("65504" in w for w in a.warnings)
    assert a.resolution == a.preset.resolution and a.num_steps == a.preset.num_steps


def test_the_memory_plan_follows_memory_and_ram():
    assert P.advise("flux1-dev", A100).offload == "none"
    assert P.advise("qwen-image", A100).offload == "none"
    assert P.advise("qwen-image", A100_40).offload == "sequential"  # a 41 GB transformer, 83.5 GiB host
    assert P.advise("sd3.5-medium", T4_BIG_HOST).offload == "model"  # 16 GB in all, T5 alone ~9.5 GB
    assert P.advise("sana1.5-1.6b", T4).offload == "none"
    # Colab's free T4: 12.7 GiB of RAM cannot hold FLUX.1 offloaded, so 4-bit weights; Qwen-Image not at all
    flux = P.advise("flux1-schnell", T4)
    assert flux.fits and flux.quantize == "nf4" and flux.offload == "none" and flux.gpu_gb + P.HEADROOM_GB <= 15
    assert any("NF4" in w and "different network" in w for w in flux.warnings)
    assert not P.advise("qwen-image", T4).fits and P.advise("qwen-image", T4).summary() == "does not fit"
    assert P.advise("sana1.5-1.6b", T4).fits  # no offload: RAM does not matter


def test_the_plan_per_card_and_what_the_chooser_preselects():
    assert [a.preset.key for a in P.plan("t4")] == list(P.PRESETS)
    assert P.recommended("t4") == "pixart-sigma"  # fits whole in fp16, not reported past fp16's range
    assert P.recommended("l4") == "flux2-klein-4b"  # FLUX.1 would need sequential offload on 22.5 GiB
    assert P.recommended("a100-40") == P.recommended("h100-80") == "flux1-schnell"
    assert P.recommended(P.Card("tiny", 2.0, True)) == "toy"
    table = P.plan_table()
    assert table.count("\n| ") == len(P.PRESETS) and "computed, not measured" in table


def test_times_are_computed_from_the_counted_flops():
    a = P.advise("flux1-schnell", "h100-80")
    counts = a.preset.sizes["tflop_per_call"]
    assert P._tflop_per_call(a.preset, 512) == pytest.approx(counts["512"])
    assert P._tflop_per_call(a.preset, 1024) == pytest.approx(counts["1024"])
    want = 4 * counts["1024"] / (989.0 * P.ASSUMED_UTILISATION)  # 4 steps, one call each, no offload
    assert a.seconds_per_image == pytest.approx(want)
    assert "computed, not measured" in a.text()
    assert P.advise("flux1-schnell", P.Card("some GPU", 80.0, True)).seconds_per_image is None
    qwen = P.advise("qwen-image", "h100-80")  # true CFG: two calls per step
    assert qwen.seconds_per_image == pytest.approx(
        50 * 2 * P._tflop_per_call(qwen.preset, qwen.resolution) / (989.0 * P.ASSUMED_UTILISATION))


def test_sizes_come_from_the_benchmark():
    m = P.measurements()
    for p in P.PRESETS.values():
        row = m["families"][p.key]
        assert p.total_gb == row["total_gb_16bit"] and p.source in ("measured", "computed")
        assert sum(c["params"] for c in row["components"].values()) == row["total_params"]
    measured = {k for k, p in P.PRESETS.items() if p.source == "measured"}
    assert measured == {"pixart-sigma", "sana1.5-1.6b", "sd3.5-medium", "flux2-klein-4b"}
    step = m["families"]["flux2-klein-4b"]["components"]["transformer"]["step"]
    assert step["bare"]["s"] > 0 and step["capture"]["s"] > 0 and step["edit"]["s"] > 0


@pytest.mark.parametrize("bad", [float("nan"), float("inf"), -4.0, 0, True, "15"])
def test_a_card_refuses_a_memory_size_that_is_not_one(bad):
    with pytest.raises((ValueError, TypeError), match="mem_gb"):
        P.Card("Tesla T4", bad, bf16=False)
    with pytest.raises((ValueError, TypeError), match="ram_gb"):
        P.Card("Tesla T4", 15.0, bf16=False, ram_gb=bad)
    with pytest.raises(TypeError, match="bf16"):
        P.Card("Tesla T4", 15.0, bf16="no")


def test_unknown_card():
    with pytest.raises(ValueError, match="t4, l4, a100-40, a100-80, h100-80"):
        P.advise("sana1.5-1.6b", "v100")
    with pytest.raises(TypeError, match="Card"):
        P.advise("sana1.5-1.6b", 15.0)


def test_a_card_read_from_a_machine_finds_its_datasheet_row():
    assert P._table_card("Tesla T4", 14.7).key == "t4"
    assert P._table_card("NVIDIA A100-SXM4-40GB", 39.4).key == "a100-40"
    assert P._table_card("NVIDIA A100-SXM4-80GB", 79.2).key == "a100-80"
    assert P._table_card("NVIDIA RTX 6000 Ada", 48.0) is None


def test_gated_presets_say_so():
    assert "accept" in P.advise("flux1-dev", A100).text()
    assert "accept" in P.advise("sd3.5-medium", A100).text()
    assert "accept" not in P.advise("flux1-schnell", A100).text()


def test_load_kwargs_match_advice():
    a = P.advise("pixart-sigma", T4)
    assert a.load_kwargs() == dict(device="cuda", dtype=torch.float16, offload=a.offload, quantize="none",
                                   height_px=a.resolution, width_px=a.resolution, num_steps=20, guidance=4.5)
    assert a.torch_dtype is torch.float16


def test_nf4_quantises_the_transformer_and_the_largest_text_encoder():
    cfg = loading.nf4_config("flux1-schnell", torch.bfloat16)
    assert list(cfg.components_to_quantize) == ["transformer", "text_encoder_2"]  # T5-XXL is FLUX's second
    assert cfg.quant_kwargs["bnb_4bit_quant_type"] == "nf4"
    assert list(loading.nf4_config("sd3.5-medium", torch.float16).components_to_quantize) == ["transformer",
                                                                                              "text_encoder_3"]
    with pytest.raises(ValueError, match=r"unknown quantize 'int8'; choose one of \('none', 'nf4'\)"):
        massact.load("flux1-schnell", quantize="int8")


# -- massact.load of a preset (from_pretrained replaced: no download) -------------------------------
@pytest.fixture
def fake_hub(monkeypatch):
    """``DiffusionPipeline.from_pretrained`` gives a tiny FLUX.1 pipeline and records its arguments;
    the offload calls are recorded too. Returns the list of calls."""
    import diffusers

    calls = []
    pipe_class = type(testing.tiny_pipeline("flux"))

    def from_pretrained(name, **kwargs):
        calls.append(("from_pretrained", name, kwargs))
        return testing.tiny_pipeline("flux")

    monkeypatch.setattr(diffusers.DiffusionPipeline, "from_pretrained", staticmethod(from_pretrained))
    for how in ("model", "sequential"):
        monkeypatch.setattr(pipe_class, f"enable_{how}_cpu_offload",
                            lambda self, device=None, how=how: calls.append((how, device)))
    monkeypatch.setattr(pipe_class, "to", lambda self, *a, **k: calls.append(("to", a, k)) or self)
    return calls


@pytest.mark.parametrize("name", ["flux1-dev", "FLUX.1-dev", "black-forest-labs/FLUX.1-dev", P.PRESETS["flux1-dev"]])
def test_load_turns_a_preset_into_its_checkpoint_and_defaults(name, fake_hub):
    model = massact.load(name)
    assert fake_hub[0][:2] == ("from_pretrained", "black-forest-labs/FLUX.1-dev")
    assert fake_hub[0][2]["dtype"] is torch.bfloat16 and fake_hub[1] == ("to", ("cpu",), {})
    assert model.name == "black-forest-labs/FLUX.1-dev" and model.world.name == "scenes"
    assert (model.height_px, model.width_px, model.default_steps, model.default_guidance) == (1024, 1024, 28, 3.5)
    # options override the preset's defaults
    fake_hub.clear()
    model = massact.load("flux1-dev", height_px=512, num_steps=2, guidance=0.0, dtype=torch.float16)
    assert (model.height_px, model.width_px, model.default_steps, model.default_guidance) == (512, 1024, 2, 0.0)
    assert fake_hub[0][2]["dtype"] is torch.float16


def test_load_places_a_preset_as_told(fake_hub, monkeypatch):
    massact.load("sana1.5-1.6b", device="cuda")  # accelerate is installed: straight onto the GPU
    assert fake_hub[0][2]["device_map"] == "cuda" and len(fake_hub) == 1  # never moved afterwards
    for how in ("model", "sequential"):
        fake_hub.clear()
        massact.load("sana1.5-1.6b", device="cuda:1", offload=how)
        assert "device_map" not in fake_hub[0][2] and fake_hub[1:] == [(how, "cuda:1")]
    fake_hub.clear()
    spec = loading.importlib.util.find_spec
    monkeypatch.setattr(loading.importlib.util, "find_spec", lambda m: object() if m == "bitsandbytes" else spec(m))
    massact.load("flux1-schnell", device="cuda", quantize="nf4")
    config = fake_hub[0][2]["quantization_config"]
    assert list(config.components_to_quantize) == ["transformer", "text_encoder_2"]
    assert config.quant_kwargs["bnb_4bit_compute_dtype"] is torch.bfloat16


def test_load_of_a_checkpoint_says_what_is_missing(fake_hub, monkeypatch):
    import diffusers

    spec = loading.importlib.util.find_spec
    monkeypatch.setattr(loading.importlib.util, "find_spec",
                        lambda m: None if m in ("accelerate", "bitsandbytes") else spec(m))
    with pytest.raises(ImportError, match="FLUX.1-schnell needs accelerate, bitsandbytes: pip install accelerate "
                                          "bitsandbytes"):
        massact.load("flux1-schnell", device="cuda", offload="model", quantize="nf4")
    monkeypatch.setattr(diffusers, "__version__", "0.36.1")
    with pytest.raises(ImportError, match=r"FLUX.2-klein 4B needs diffusers >= 0.37 \(installed: 0.36.1\)"):
        massact.load("flux2-klein-4b")
    massact.load("flux1-schnell")  # diffusers before 0.40 reads the dtype as torch_dtype
    assert fake_hub[-2][2]["torch_dtype"] is torch.bfloat16 and "dtype" not in fake_hub[-2][2]


# -- the notebook's first cell ---------------------------------------------------------------------
@pytest.mark.parametrize("gpu", [None, False])  # None: detect (this machine has no GPU); False: force the CPU path
def test_chooser_on_this_cpu(gpu, model, capsys):
    if gpu is None and torch.cuda.is_available():
        pytest.skip("detection on a CPU-only machine: this one has a GPU")
    ch = C.ModelChooser.for_this_machine(gpu=gpu, toy=model)
    out = capsys.readouterr().out
    assert ch.model is model and ch.choice == "toy" and ch.widget is None and ch.advice() is None
    assert len(out.strip().splitlines()) == 1 and "toy" in out
    with pytest.raises(RuntimeError, match="nothing to load"):
        ch.load()
    assert C.notebook_model(gpu=gpu).num_blocks == model.num_blocks  # the one-line form: the toy at once
    with pytest.raises(ValueError, match="flux1-schnell"):
        C.ModelChooser.for_this_machine(default="flux3", gpu=False)


def test_chooser_with_a_gpu_shows_the_presets_and_never_blocks(model, capsys):
    loaded = []

    def fake_loader(name, **kwargs):  # no download
        loaded.append((name, kwargs))
        return SimpleNamespace(name=P.get_preset(name).label)

    gpu = P.CARDS["t4"]
    ch = C.ModelChooser.for_this_machine(default="sana1.5-1.6b", gpu=gpu, display=False, toy=model)
    assert ch.model is model and capsys.readouterr().out == ""
    assert [v for _, v in ch.dropdown.options] == list(P.CHOICES)
    assert ch.dropdown.value == "sana1.5-1.6b" and "float16" in ch.advice_html.value
    ch.dropdown.value = "qwen-image"
    assert "65504" in ch.advice_html.value and "DOES NOT FIT" in ch.advice_html.value
    assert "every preset on this card" in ch.plan_html.value and "does not fit" in ch.plan_html.value
    assert ch.button.description == "Load anyway"
    ch.dropdown.value = "toy"
    assert "toy" in ch.advice_html.value and ch.button.description == "Load"
    ch.dropdown.value = "pixart-sigma"
    ch.loader = fake_loader
    seen = []
    ch.on_load(seen.append)
    new = ch.load()
    assert loaded == [("pixart-sigma", P.advise("pixart-sigma", gpu).load_kwargs())]
    assert seen == [new] and ch.model is new and "loaded" in ch.status.value and not ch.button.disabled

    def broken(preset, **kwargs):
        raise OSError("no network")

    ch.loader = broken
    assert ch.load(raise_errors=False) is None
    assert "no network" in ch.status.value and ch.model is new  # the previous model stays
    with pytest.raises(OSError):
        ch.load()
    # an object, not module state: a second chooser starts from its own toy and choice
    other = C.ModelChooser(gpu, toy=model)
    assert other.model is model and other.choice == P.recommended(gpu) == "pixart-sigma" and ch.model is new
    assert C.ModelChooser(gpu, default="toy", toy=model).choice == "toy"


def test_load_refuses_bad_options_before_downloading(monkeypatch):
    import diffusers

    def no_download(*args, **kwargs):
        raise AssertionError("from_pretrained called although an option was bad")

    monkeypatch.setattr(diffusers.DiffusionPipeline, "from_pretrained", staticmethod(no_download))
    with pytest.raises(ValueError, match=r"unknown offload 'disk'; choose one of \('none', 'model', 'sequential'\)"):
        massact.load("sana1.5-1.6b", offload="disk")
    with pytest.raises(ValueError, match="offload='model' moves the weights between the CPU and a GPU"):
        massact.load("sana1.5-1.6b", offload="model")  # the default device is the CPU
    with pytest.raises(ValueError, match="quantize='nf4' loads 4-bit weights with bitsandbytes, CUDA only"):
        massact.load("sana1.5-1.6b", quantize="nf4", device="cpu")
    with pytest.raises(ValueError, match="is not a preset"):
        massact.load("some/hub-id", quantize="nf4", device="cuda")
    with pytest.raises(ValueError, match="dtype must be one of torch.float32, torch.bfloat16, torch.float16"):
        massact.load("sana1.5-1.6b", dtype="bfloat16")
    with pytest.raises(ValueError, match="unknown device 'gpu'"):
        massact.load("sana1.5-1.6b", device="gpu")
    with pytest.raises(ValueError, match=r"num_steps 0 out of range: num_steps must be .*1"):
        massact.load("sana1.5-1.6b", num_steps=0)
    with pytest.raises(ValueError, match="guidance"):
        massact.load("sana1.5-1.6b", guidance=float("nan"))
    with pytest.raises(ValueError, match="height_px 8 out of range"):
        massact.load("sana1.5-1.6b", height_px=8)
    with pytest.raises(TypeError, match="pretrained_kwargs must map"):
        massact.load("sana1.5-1.6b", pretrained_kwargs={1: 2})
    with pytest.raises(TypeError, match=r"takes device, dtype, offload, quantize, pretrained_kwargs, name, "
                                        r".*not \['cpu_offload'\]"):
        massact.load("sana1.5-1.6b", cpu_offload=True)


def test_presets_module_imports_only_the_standard_library():
    """The table and the advice need no third-party package (torch only inside gpu_info)."""
    tree = ast.parse((ROOT / "massact" / "presets.py").read_text())
    top = [n for n in tree.body if isinstance(n, (ast.Import, ast.ImportFrom))]
    names = {a.name.split(".")[0] for n in top if isinstance(n, ast.Import) for a in n.names}
    names |= {n.module.split(".")[0] for n in top if isinstance(n, ast.ImportFrom) and n.module}
    assert names <= set(sys.stdlib_module_names) | {"__future__"}, names
    out = subprocess.run([sys.executable, "-I", str(ROOT / "massact" / "presets.py"), "--list"],
                         capture_output=True, text=True, timeout=60)
    assert out.returncode == 0, out.stderr
    assert len(out.stdout.strip().splitlines()) == len(P.PRESETS)
