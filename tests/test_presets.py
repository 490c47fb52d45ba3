"""Real-model presets, the per-card advice and the notebook's model chooser.

Nothing here downloads or needs a GPU: ``advise`` is a pure function and the chooser is
built from a fake ``GPUInfo`` and a fake loader. (The Colab installer: test_environment.)"""
from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path
from types import SimpleNamespace

import pytest
import torch

from massact import presets as P
from massact.adapters import ADAPTERS
from massact.widgets import chooser as C
from massact.models import PIXELS_PER_TOKEN

torch.set_num_threads(1)
ROOT = Path(__file__).resolve().parents[1]
T4 = dict(gpu_name="Tesla T4", gpu_mem_gb=15.0, bf16_supported=False)
A100 = dict(gpu_name="NVIDIA A100-SXM4-80GB", gpu_mem_gb=79.2, bf16_supported=True)
A100_40 = dict(gpu_name="NVIDIA A100-SXM4-40GB", gpu_mem_gb=39.4, bf16_supported=True)
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
    a = P.advise(key, **T4)
    assert a.dtype == "float16"
    assert a.warnings and "bfloat16" in a.warnings[0]
    assert "65504" in a.text()
    assert a.resolution % PIXELS_PER_TOKEN[a.preset.family] == 0


@pytest.mark.parametrize("key", ["flux1-schnell", "flux1-dev"])
def test_t4_flux_warning_says_what_fp16_does(key):
    a = P.advise(key, **T4)
    w = " ".join(a.warnings)
    assert "9e4" in w and "65504" in w and "clip" in w and "float32" in w
    assert a.offload == "sequential"  # a 24 GB transformer does not fit in 15 GiB
    assert a.resolution < a.preset.resolution


@pytest.mark.parametrize("key", SMALL)
def test_a100_bf16_without_offload_for_small_models(key):
    a = P.advise(key, **A100)
    assert a.dtype == "bfloat16" and a.offload == "none" and not a.cpu_offload and a.fits
    assert not any("65504" in w for w in a.warnings)
    assert a.resolution == a.preset.resolution and a.num_steps == a.preset.num_steps


def test_offload_follows_memory():
    assert P.advise("flux1-dev", **A100).offload == "none"
    assert P.advise("qwen-image", **A100).offload == "none"
    assert P.advise("qwen-image", **A100_40).offload == "sequential"  # a 41 GB transformer
    assert P.advise("sd3.5-medium", **T4).offload == "model"  # 16 GB in all, T5 alone ~9.5 GB
    assert P.advise("sana1.5-1.6b", **T4).offload == "none"


def test_ram_decides_whether_offload_fits():
    assert not P.advise("flux1-schnell", **T4, ram_gb=12.7).fits  # Colab's free tier
    assert P.advise("flux1-schnell", **T4, ram_gb=64).fits
    assert P.advise("sana1.5-1.6b", **T4, ram_gb=12.7).fits  # no offload: RAM does not matter


@pytest.mark.parametrize("bad", [float("nan"), float("inf"), -4.0, 0, True, "15"])
def test_advice_refuses_a_memory_size_that_is_not_one(bad):
    with pytest.raises((ValueError, TypeError), match="gpu_mem_gb"):
        P.advise("sana1.5-1.6b", "Tesla T4", bad, bf16_supported=False)
    with pytest.raises((ValueError, TypeError), match="ram_gb"):
        P.advise("sana1.5-1.6b", "Tesla T4", 15.0, bf16_supported=False, ram_gb=bad)
    with pytest.raises(TypeError, match="bf16_supported"):
        P.advise("sana1.5-1.6b", "Tesla T4", 15.0, bf16_supported="no")


def test_gated_presets_say_so():
    assert "accept" in P.advise("flux1-dev", **A100).text()
    assert "accept" in P.advise("sd3.5-medium", **A100).text()
    assert "accept" not in P.advise("flux1-schnell", **A100).text()


def test_load_kwargs_match_advice():
    a = P.advise("pixart-sigma", **T4)
    assert a.load_kwargs() == dict(dtype="float16", offload=a.offload, resolution=a.resolution, num_steps=20,
                                   guidance=4.5)
    assert P.advise_for("pixart-sigma", P.GPUInfo("Tesla T4", 15.0, bf16=False)) == a
    assert a.torch_dtype is torch.float16


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

    def fake_loader(preset, **kwargs):  # no download
        loaded.append((preset.key, kwargs))
        return SimpleNamespace(name=preset.label)

    gpu = P.GPUInfo("Tesla T4", 15.0, bf16=False, ram_gb=12.7)
    ch = C.ModelChooser.for_this_machine(default="sana1.5-1.6b", gpu=gpu, display=False, toy=model)
    assert ch.model is model and capsys.readouterr().out == ""
    assert [v for _, v in ch.dropdown.options] == list(P.CHOICES)
    assert ch.dropdown.value == "sana1.5-1.6b" and "float16" in ch.advice_html.value
    ch.dropdown.value = "flux1-schnell"
    assert "65504" in ch.advice_html.value and "DOES NOT FIT" in ch.advice_html.value
    assert ch.button.description == "Load anyway"
    ch.dropdown.value = "toy"
    assert "toy" in ch.advice_html.value and ch.button.description == "Load"
    ch.dropdown.value = "pixart-sigma"
    ch.loader = fake_loader
    seen = []
    ch.on_load(seen.append)
    new = ch.load()
    assert loaded == [("pixart-sigma", P.advise("pixart-sigma", "Tesla T4", 15.0, False, 12.7).load_kwargs())]
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
    assert other.model is model and other.choice == "toy" and ch.model is new


def test_load_preset_refuses_bad_offload_before_downloading():
    with pytest.raises(ValueError, match="none, model or sequential"):
        C.load_preset("sana1.5-1.6b", offload="disk")


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
