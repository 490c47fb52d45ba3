"""The tiny pipelines of massact.testing, end to end through the real loading path.

Each family is built from configs (no download), saved with ``save_pretrained``, read back
with its pipeline class's ``from_pretrained`` and run through ``massact.generate``. What the
model should look like (block count, width, image tokens) is read from the transformer's
own config and inputs, never from massact's tables. Random weights: the images are noise,
so the tests check plumbing (shapes, determinism, edits reaching the image), not quality.
"""
from __future__ import annotations

import os

import pytest
import torch

import diffusers
import massact
from massact.models import PipelineModel
from massact.specs import CaptureSpec, EditSpec

import transformers  # noqa: E402,F401  (the test extra requires transformers>=5: missing, this module fails)

from massact import testing  # noqa: E402
from massact.testing import tokenizers as tok  # noqa: E402


FAMILIES = list(testing.TINY_FAMILIES)
PROMPT = "a red cat sits on a blue mat"
SIZE = testing.TINY_IMAGE_SIZE

#: families whose pipeline resizes the request to a bin of the transformer's sample_size
#: (PixArt-Sigma 256 px table, SANA 512 px table): the token grid is what the transformer
#: receives, not the requested pixels over a patch size (issue 11)
BINNING = {"pixart", "sana"}


#: the config keys whose sum is the number of image-carrying blocks, where they are not
#: num_layers (+ num_single_layers), read from each class's diffusers source
BLOCK_KEYS = {"AuraFlowTransformer2DModel": ("num_mmdit_layers", "num_single_dit_layers"),
              "Lumina2Transformer2DModel": ("num_refiner_layers", "num_layers"),  # image refiner, then joint layers
              "ZImageTransformer2DModel": ("n_refiner_layers", "n_layers")}
#: the config key of the stream width, where it is not heads x head size
WIDTH_KEY = {"Lumina2Transformer2DModel": "hidden_size", "ZImageTransformer2DModel": "dim",
             "ErnieImageTransformer2DModel": "hidden_size", "LuminaNextDiT2DModel": "hidden_size"}


def expected_blocks(transformer) -> int:
    """Block count from the transformer's config (the double- plus single-stream counts)."""
    cfg = transformer.config
    keys = BLOCK_KEYS.get(type(transformer).__name__, ("num_layers", "num_single_layers"))
    return sum(int(getattr(cfg, k, 0) or 0) for k in keys)


def expected_width(transformer) -> int:
    cfg = transformer.config
    key = WIDTH_KEY.get(type(transformer).__name__)
    return int(getattr(cfg, key)) if key else int(cfg.num_attention_heads) * int(cfg.attention_head_dim)


_BUILT: dict[str, object] = {}
_RELOADED: dict[str, object] = {}


def built(family):
    if family not in _BUILT:
        _BUILT[family] = testing.tiny_pipeline(family)
    return _BUILT[family]


@pytest.fixture(scope="module")
def reloaded(tmp_path_factory):
    """family -> the pipeline saved with save_pretrained and read back with its class's from_pretrained."""

    def get(family):
        if family not in _RELOADED:
            folder = tmp_path_factory.mktemp(family)
            built(family).save_pretrained(folder)
            cls = getattr(diffusers, testing.family(family).pipeline_class)
            _RELOADED[family] = cls.from_pretrained(folder)
        return _RELOADED[family]

    return get


def model_of(pipe) -> PipelineModel:
    return massact.load(pipe, height_px=SIZE, width_px=SIZE)


def run(model, **kwargs):
    return massact.generate(model, [PROMPT], seeds=0, num_steps=2, **kwargs)


# -- the families ----------------------------------------------------------------------------
def test_families_and_names():
    assert FAMILIES == ["flux", "flux-dev", "flux2", "sd3", "sana", "pixart", "qwen-image",
                        "auraflow", "bria", "bria-fibo", "chroma", "cogview3plus", "cogview4", "glm-image",
                        "ovis-image", "hunyuan-image", "lumina2", "z-image", "krea2", "ernie-image", "hunyuan-dit",
                        "lumina-next", "hidream", "ideogram4"]
    assert testing.TINY_NAMES == tuple("tiny-" + f for f in FAMILIES)
    assert all(testing.family_of_name("tiny-" + f) == f for f in FAMILIES)
    assert testing.family_of_name("flux") is None and testing.family_of_name("tiny-nope") is None


@pytest.mark.parametrize("family", FAMILIES)
def test_pipeline_class_and_components(family):
    pipe = built(family)
    assert type(pipe).__name__ == testing.family(family).pipeline_class
    # every component the pipeline class declares is present (complete, not a bare transformer)
    expected = set(pipe._get_signature_keys(pipe)[0]) - set(pipe._optional_components)
    missing = [k for k in expected if getattr(pipe, k, None) is None]
    assert not missing, missing
    assert all(not p.requires_grad for p in pipe.transformer.parameters())


def test_flux_variants_differ_in_guidance_embedding():
    assert built("flux").transformer.config.guidance_embeds is False
    assert built("flux-dev").transformer.config.guidance_embeds is True
    assert built("flux2").config.is_distilled is True


@pytest.mark.parametrize("family,latent_channels,factor", [
    ("flux", 16, 8), ("flux2", 32, 8), ("sd3", 16, 8), ("sana", 32, 32), ("pixart", 4, 8), ("qwen-image", 16, 8)])
def test_vae_geometry_like_the_real_models(family, latent_channels, factor):
    """Latent channels and downsampling measured by encoding a 64x64 image."""
    vae = built(family).vae
    x = torch.zeros(1, 3, SIZE, SIZE)
    if family == "qwen-image":
        x = x[:, :, None]  # a video VAE: (B, C, frames, H, W)
    with torch.no_grad():
        z = vae.encode(x).latent if family == "sana" else vae.encode(x).latent_dist.mean
    assert z.shape[1] == latent_channels and z.shape[-1] == SIZE // factor


def test_qwen_template_prefix_is_34_tokens_like_qwens():
    """QwenImagePipeline drops the first 34 hidden states (its system prompt, as Qwen's tokenizer splits it)."""
    pipe = built("qwen-image")
    prefix = pipe.prompt_template_encode.split("{}")[0]
    assert len(pipe.tokenizer(prefix).input_ids) == pipe.prompt_template_encode_start_idx == 34


@pytest.mark.parametrize("make", [tok.clip_tokenizer, tok.t5_tokenizer, tok.gemma_tokenizer, tok.qwen2_tokenizer],
                         ids=["clip", "t5", "gemma", "qwen2"])
def test_tokenizers_keep_known_words_whole_and_spell_unknown_ones(make):
    t = make()
    pieces = t.convert_ids_to_tokens(t("a red cat", add_special_tokens=False).input_ids)
    assert len(pieces) == 3, pieces
    unknown = t("xqzv", add_special_tokens=False).input_ids
    assert len(unknown) > 1 and t.unk_token_id not in unknown


@pytest.mark.parametrize("family", FAMILIES)
def test_same_seed_same_weights(family):
    a = built(family).transformer.state_dict()
    b = testing.tiny_pipeline(family, seed=0).transformer.state_dict()
    c = testing.tiny_pipeline(family, seed=1).transformer.state_dict()
    assert all(torch.equal(a[k], b[k]) for k in a)
    assert any(not torch.equal(a[k], c[k]) for k in a)


# -- through from_pretrained and massact.generate -----------------------------------------------
@pytest.mark.parametrize("family", FAMILIES)
def test_reloaded_weights_and_tokenizers_are_the_saved_ones(family, reloaded):
    pipe, back = built(family), reloaded(family)
    assert type(back) is type(pipe)
    for name, component in pipe.components.items():
        if isinstance(component, torch.nn.Module):
            a, b = component.state_dict(), getattr(back, name).state_dict()
            assert a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a), name
        elif hasattr(component, "convert_ids_to_tokens"):
            assert type(getattr(back, name)) is type(component), name
            assert getattr(back, name)(PROMPT).input_ids == component(PROMPT).input_ids, name


@pytest.mark.parametrize("family", FAMILIES)
def test_generate_capture_and_edit(family, reloaded):
    model = model_of(reloaded(family))
    transformer = model.transformer
    g = run(model, capture=True)
    assert g.images.shape == (1, 3, SIZE, SIZE) and g.images.dtype == torch.float32
    assert torch.isfinite(g.images).all() and 0 <= g.images.min() and g.images.max() <= 1
    assert torch.equal(run(model).images, g.images)  # same seed, same image
    n_blocks, width = expected_blocks(transformer), expected_width(transformer)
    assert model.num_blocks == n_blocks and model.width == width
    assert g.stats.shape == (1, n_blocks, 2, width)
    assert torch.isfinite(g.stats.get("maxabs")).all() and (g.stats.get("maxabs") > 0).all()
    block = n_blocks // 2
    zeroed = run(model, edits=[EditSpec("zero", {block: tuple(range(width))})]).images
    assert (zeroed - g.images).abs().max() > 1e-3
    # alpha 0 is the identity, bit for bit
    assert torch.equal(run(model, edits=[EditSpec("zero", {block: (0, 1)}, alpha=0.0)]).images, g.images)


def _image_tokens_seen(model):
    """The image-token count at the last block, measured from what the transformer really ran on."""
    g = run(model, capture=CaptureSpec(keep=((model.num_blocks - 1, 0),)))
    return g.tensors[(model.num_blocks - 1, 0)].shape[1]


@pytest.mark.parametrize("family", FAMILIES)
def test_token_grid_is_what_the_transformer_sees(family, reloaded):
    model = model_of(reloaded(family))
    assert _image_tokens_seen(model) == model.num_image_tokens


def test_binning_families_run_on_the_binned_grid(reloaded):
    """64 px requested; PixArt-Sigma-256 and SANA-512 snap it to their smallest square bin, 256 and 512 px:
    16x16 tokens for both (256 / 8 / 2 and 512 / 32 / 1), while the image comes back at 64 px."""
    for family in sorted(BINNING):
        model = model_of(reloaded(family))
        assert model.token_grid() == (16, 16) != (SIZE // 16, SIZE // 16)
        assert run(model).images.shape == (1, 3, SIZE, SIZE)


def test_token_grid_follows_the_size(reloaded):
    model = model_of(reloaded("sd3"))
    assert model.token_grid() == (SIZE // 16, SIZE // 16)
    model.height_px = 2 * SIZE  # a new size is probed anew
    assert model.token_grid() == (2 * SIZE // 16, SIZE // 16)
    assert _image_tokens_seen(model) == model.num_image_tokens


def test_a_grid_the_run_contradicts_is_named(reloaded):
    model = model_of(reloaded("pixart"))
    model._grids[(model.height_px, model.width_px)] = (4, 4)  # what pixels / 16 would say
    with pytest.raises(RuntimeError, match="receives a 16x16 token grid, but .* expected 4x4"):
        run(model)
    assert sum(len(m._forward_pre_hooks) + len(m._forward_hooks) for m in model.transformer.modules()) == 0


@pytest.mark.parametrize("family", FAMILIES)
def test_token_masked_edit(family, reloaded):
    """A zero edit on the left half of the token grid changes the image (crashed in the edit hook on binning)."""
    model = model_of(reloaded(family))
    rows, cols = model.token_grid()
    mask = torch.zeros(rows, cols)
    mask[:, : cols // 2] = 1
    base = run(model).images
    edited = run(model, edits=[EditSpec("zero", {0: tuple(range(model.width))}, token_mask=mask.flatten())]).images
    assert (edited - base).abs().max() > 1e-3


@pytest.mark.parametrize("family", sorted(BINNING))
@pytest.mark.parametrize("guidance", [1.0, 4.5])
def test_token_masked_edit_touches_exactly_the_masked_tokens(family, guidance, reloaded):
    """massact's token-masked zero edit on a binning pipeline gives, bit for bit, the image of a hand-written
    hook that zeroes the same channels at the same tokens of every row of every call (both CFG branches), and
    the kept block output is zero exactly at the masked tokens."""
    model = model_of(reloaded(family))
    rows, cols = model.token_grid()
    mask = torch.zeros(rows, cols, dtype=torch.bool)
    mask[2:9, 3:7] = True  # an off-centre rectangle: rows and columns both matter
    mask = mask.flatten()
    channels = (0, 5, 17, 40)
    edit = EditSpec("zero", {0: channels}, token_mask=mask)
    g = massact.generate(model, [PROMPT, "a green bird"], seeds=[0, 1], num_steps=2, guidance=guidance,
                         edits=[edit], capture=CaptureSpec(blocks=(), keep=((0, 1),), stats=False))
    out = g.tensors[(0, 1)]
    assert out.shape == (2, rows * cols, model.width)
    assert (out[:, mask][..., list(channels)] == 0).all()
    assert (out[:, ~mask][..., list(channels)] != 0).all() and (out[:, mask] != 0).any()

    def hand(module, args, output):  # one tensor (rows or 2 x rows, tokens, channels)
        x = output.clone()
        m = mask.to(x.dtype)[None, :, None]
        x[..., list(channels)] = x[..., list(channels)] * (1 - m)
        return x

    handle = model.blocks[0].module.register_forward_hook(hand)
    try:
        by_hand = model.sample([PROMPT, "a green bird"], [0, 1], 2, guidance)
    finally:
        handle.remove()
    assert torch.equal(g.images, by_hand)
    assert not torch.equal(g.images, run(model, guidance=guidance).images.expand(2, -1, -1, -1))


# -- massact.load("tiny-...") -------------------------------------------------------------------
@pytest.mark.parametrize("family", FAMILIES)
def test_load_by_name(family, tmp_path, monkeypatch):
    monkeypatch.setenv("MASSACT_CACHE", str(tmp_path))
    model = massact.load(f"tiny-{family}")
    assert isinstance(model, PipelineModel) and model.name == f"tiny-{family}"
    assert (model.height_px, model.width_px) == (SIZE, SIZE) and model.default_steps == testing.TINY_NUM_STEPS
    assert model.default_guidance == testing.family(family).guidance
    folder = testing.tiny_pipeline_dir(family)
    assert folder.parent == tmp_path / "tiny-pipelines" and (folder / "model_index.json").is_file()
    assert type(model.pipe).__name__ == testing.family(family).pipeline_class
    # the saved weights are the built ones
    a, b = built(family).transformer.state_dict(), model.transformer.state_dict()
    assert all(torch.equal(a[k], b[k]) for k in a)
    g = massact.generate(model, [PROMPT], seeds=3)
    assert g.images.shape == (1, 3, SIZE, SIZE) and g.num_steps == testing.TINY_NUM_STEPS


def test_load_reuses_the_saved_folder(tmp_path, monkeypatch):
    monkeypatch.setenv("MASSACT_CACHE", str(tmp_path))
    first = testing.tiny_pipeline_dir("sd3")
    stamp = (first / "model_index.json").stat().st_mtime_ns

    def no_build(seed):
        raise AssertionError("rebuilt although the saved folder exists")

    monkeypatch.setattr(testing, "save_tiny_pipeline", lambda *a, **k: no_build(0))
    model = massact.load("tiny-sd3", num_steps=3, height_px=128)
    assert testing.tiny_pipeline_dir("sd3") == first and (first / "model_index.json").stat().st_mtime_ns == stamp
    assert model.default_steps == 3 and model.height_px == 128  # options override the tiny defaults
    # another seed is another folder
    monkeypatch.undo()
    monkeypatch.setenv("MASSACT_CACHE", str(tmp_path))
    assert testing.tiny_pipeline_dir("sd3", seed=1) != first


def test_load_a_local_checkpoint_folder(tmp_path, monkeypatch):
    """A saved tiny pipeline read as any checkpoint folder: from_pretrained with load's dtype, no download."""
    monkeypatch.setenv("MASSACT_CACHE", str(tmp_path))
    folder = str(testing.tiny_pipeline_dir("flux"))
    ref = massact.load("tiny-flux")
    model = massact.load(folder, dtype=torch.float32, height_px=SIZE, num_steps=testing.TINY_NUM_STEPS)
    assert model.name == folder and (model.height_px, model.width_px) == (SIZE, SIZE)
    a, b = ref.transformer.state_dict(), model.transformer.state_dict()
    assert all(torch.equal(a[k], b[k]) for k in a)
    assert torch.equal(massact.generate(model, [PROMPT], seeds=3, guidance=ref.default_guidance).images,
                       massact.generate(ref, [PROMPT], seeds=3).images)
    assert next(massact.load(folder).transformer.parameters()).dtype == torch.bfloat16  # a checkpoint's default
    with pytest.raises(ValueError, match=r"device does not apply \(a loaded pipeline stays where it is"):
        massact.load(ref.pipe, device="cuda")


def test_cache_is_outside_the_repository(monkeypatch, tmp_path):
    monkeypatch.delenv("MASSACT_CACHE", raising=False)
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path))
    assert testing.cache_root() == tmp_path / "massact" / "tiny-pipelines"
    repo = os.path.dirname(os.path.dirname(os.path.abspath(massact.__file__)))
    monkeypatch.delenv("XDG_CACHE_HOME")
    assert not str(testing.cache_root()).startswith(repo)


@pytest.mark.parametrize("bad,error", [("tiny-nope", "valid tiny pipelines: tiny-flux"),
                                        ("tiny-", "valid tiny pipelines")])
def test_load_refuses_unknown_tiny_names(bad, error):
    with pytest.raises(ValueError, match=error):
        massact.load(bad)


@pytest.mark.parametrize("seed", [True, 1.5, -1, "0"])
def test_bad_seeds_refused(seed):
    with pytest.raises(ValueError, match="seed"):
        testing.tiny_pipeline("flux", seed=seed)
    with pytest.raises(ValueError, match="valid families: flux"):
        testing.tiny_pipeline("flux3")


GUIDED = [f for f in FAMILIES if massact.ADAPTERS[next(n for n, a in massact.ADAPTERS.items() if
                                                      testing.family(f).pipeline_class in a.pipelines)].cfg_layout
          not in ("none", "second_model") and testing.family(f).guidance > 1]


@pytest.mark.parametrize("family", GUIDED)
def test_guided_run_reads_the_conditional_branch(family, reloaded):
    """At step 0 the conditional branch of a guided run sees exactly what an unguided run sees
    (same noise, same prompt), so its statistics must equal the unguided run's: a branch order
    read wrongly ([uncond; cond] against [cond; uncond], or the second call taken for the
    first) would give the unconditional branch's instead."""
    model = model_of(reloaded(family))
    spec = CaptureSpec(steps=(0,))
    plain = massact.generate(model, [PROMPT], seeds=0, num_steps=2, guidance=1.0, capture=spec)
    guided = massact.generate(model, [PROMPT], seeds=0, num_steps=2, guidance=testing.family(family).guidance,
                              capture=spec)
    assert not torch.equal(guided.images, plain.images)  # guidance ran
    torch.testing.assert_close(guided.stats.get("maxabs")[:, :, 0], plain.stats.get("maxabs")[:, :, 0],
                               rtol=1e-4, atol=1e-5)
