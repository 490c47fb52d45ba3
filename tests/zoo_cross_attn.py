"""Tiny random instances of diffusers image transformers whose image stream is either its own
tensor (cross-attention or class-label conditioning) or one element of a two-stream
``(image, text)`` tuple with the image first.

Classes: DiT (class labels, no text), HunyuanDiT (U-Net-style long skips), Lumina-Next,
PRX (latent and pixel variants), CogView3-Plus, CogView4, GLM-Image and HunyuanImage-2.1
(tuple ``patch_size``; base and 5-D refiner variants). The four tuple classes also get an
"_equal_tokens" variant in which the text stream is exactly as long as the image stream, so
that only the tuple position (never a length) can tell the two apart.

Everything below is read from the diffusers sources (the model's ``forward`` and the
pipelines that call it); nothing is taken from massact's adapter table.
"""
from __future__ import annotations

import torch

from zoo_common import ZooCase, first_input, gen, seeded

WIDTH = 32  # 2 heads x 16 channels everywhere
HEADS = 2
HEAD_DIM = 16


# --------------------------------------------------------------------------- helpers


def _randn(g: torch.Generator, *shape: int) -> torch.Tensor:
    return torch.randn(*shape, generator=g)


def _uniform(g: torch.Generator, batch: int, lo: float, hi: float) -> torch.Tensor:
    return lo + (hi - lo) * torch.rand(batch, generator=g)


def _valid_mask(batch: int, length: int, dtype=torch.long) -> torch.Tensor:
    """A right-padded tokenizer mask: row i has ``length - 2*(i % 2)`` valid tokens (at least 1)."""
    mask = torch.zeros(batch, length, dtype=dtype)
    for i in range(batch):
        mask[i, : max(1, length - 2 * (i % 2))] = 1
    return mask


def _whole(path, out, inputs):
    """The block returns a tensor of image tokens only."""
    return out


def _whole_replace(path, out, inputs, new):
    return new


def _first_of_pair(path, out, inputs):
    """The block returns ``(image, text)``: the image stream is tuple element 0."""
    return out[0]


def _first_of_pair_replace(path, out, inputs, new):
    return (new, *out[1:])


def _image_sizes(batch: int, latent_h: int, latent_w: int, vae_scale: int = 8) -> dict:
    """SDXL-style micro-conditioning rows (pixel sizes), as the CogView/GLM pipelines build them."""
    hw = torch.tensor([[latent_h * vae_scale, latent_w * vae_scale]], dtype=torch.float32)
    return {
        "original_size": hw.repeat(batch, 1),
        "target_size": hw.repeat(batch, 1),
        "crop_coords": torch.zeros(batch, 2),
    }


# --------------------------------------------------------------------------- DiT


def _build_dit():
    from diffusers import DiTTransformer2DModel

    return seeded(
        lambda: DiTTransformer2DModel(
            num_attention_heads=HEADS,
            attention_head_dim=HEAD_DIM,
            in_channels=4,
            num_layers=2,
            sample_size=8,
            patch_size=2,
            num_embeds_ada_norm=1000,
        )
    )


def _dit_inputs(batch: int, seed: int) -> dict:
    g = gen(seed)
    labels = torch.randint(0, 1000, (batch,), generator=g)
    if batch >= 2:
        # DiTPipeline's guidance batch is [conditional labels; null label 1000].
        labels[batch // 2 :] = 1000
    t = torch.randint(0, 1000, (1,), generator=g)
    return {
        "hidden_states": _randn(g, batch, 4, 8, 8),
        "timestep": t.expand(batch).clone(),
        "class_labels": labels,
        "return_dict": False,
    }


DIT = ZooCase(
    name="dit",
    class_name="DiTTransformer2DModel",
    build=_build_dit,
    inputs=_dit_inputs,
    num_image_tokens=16,
    width=WIDTH,
    block_paths=("transformer_blocks",),
    hand_image=_whole,
    hand_replace=_whole_replace,
    num_blocks=2,
    final_image=lambda model, inputs: first_input(model, model.norm_out, inputs),
    note="Class-label conditioning through AdaLN-Zero, no text at all; square grid only "
    "(the model unpatchifies with sqrt(N)). 8x8 latent, patch 2 -> 4x4 tokens.",
    facts={
        "pipelines": ("DiTPipeline",),
        "checkpoints": ("facebook/DiT-XL-2-256",),
        "blocks": "num_layers",
        "block_lists": (("transformer_blocks", "tensor (image only)"),),
        "text": "none: class labels (class_labels) enter through AdaLayerNormZero; no text stream",
        "n_from_input": "hidden_states 4-D (B,C,H,W): (H/p)*(W/p), patch_size from config; "
        "grid (H/p, W/p), always square (the output reshape assumes sqrt(N))",
        "cfg": "batch [cond; uncond] (uncond rows use the null class label 1000), "
        "only when guidance_scale > 1",
        "timestep_kwarg": "timestep",
        "image_input": "hidden_states",
    },
)


# --------------------------------------------------------------------------- HunyuanDiT


def _build_hunyuandit():
    from diffusers import HunyuanDiT2DModel

    return seeded(
        lambda: HunyuanDiT2DModel(
            num_attention_heads=HEADS,
            attention_head_dim=HEAD_DIM,
            in_channels=4,
            patch_size=2,
            sample_size=8,
            hidden_size=WIDTH,
            num_layers=4,
            mlp_ratio=2.0,
            cross_attention_dim=24,
            cross_attention_dim_t5=32,
            pooled_projection_dim=16,
            text_len=5,
            text_len_t5=7,
            use_style_cond_and_image_meta_size=True,
        )
    )


def _hunyuandit_rope(grid_h: int, grid_w: int, patch: int = 2):
    """The pipeline's 2-D RoPE: a crop region of a 512-px base grid, then get_2d_rotary_pos_embed."""
    from diffusers.models.embeddings import get_2d_rotary_pos_embed

    base = 512 // 8 // patch
    if grid_h / grid_w > 1:
        rh, rw = base, int(round(base / grid_h * grid_w))
    else:
        rw, rh = base, int(round(base / grid_w * grid_h))
    top, left = int(round((base - rh) / 2.0)), int(round((base - rw) / 2.0))
    crops = ((top, left), (top + rh, left + rw))
    return get_2d_rotary_pos_embed(HEAD_DIM, crops, (grid_h, grid_w), output_type="pt")


def _hunyuandit_inputs(batch: int, seed: int) -> dict:
    g = gen(seed)
    lat_h, lat_w = 8, 12
    t = _uniform(g, 1, 0, 1000)
    sizes = torch.tensor([[lat_h * 8, lat_w * 8, lat_h * 8, lat_w * 8, 0, 0]], dtype=torch.float32)
    return {
        "hidden_states": _randn(g, batch, 4, lat_h, lat_w),
        "timestep": t.expand(batch).clone(),
        "encoder_hidden_states": _randn(g, batch, 5, 24),
        "text_embedding_mask": _valid_mask(batch, 5),
        "encoder_hidden_states_t5": _randn(g, batch, 7, 32),
        "text_embedding_mask_t5": _valid_mask(batch, 7),
        "image_meta_size": sizes.repeat(batch, 1),
        "style": torch.zeros(batch, dtype=torch.long),
        "image_rotary_emb": _hunyuandit_rope(lat_h // 2, lat_w // 2),
        "return_dict": False,
    }


HUNYUANDIT = ZooCase(
    name="hunyuandit",
    class_name="HunyuanDiT2DModel",
    build=_build_hunyuandit,
    inputs=_hunyuandit_inputs,
    num_image_tokens=24,
    width=WIDTH,
    block_paths=("blocks",),
    hand_image=_whole,
    hand_replace=_whole_replace,
    num_blocks=4,
    final_image=lambda model, inputs: first_input(model, model.norm_out, inputs),
    note="Four blocks so that the U-Net-style long skip runs: block 0's output is pushed and "
    "popped again by block 3 (layer > L//2), so an edit at block 0 also reaches block 3 through "
    "the skip. Text (BERT + projected T5) is cross-attention only. 8x12 latent -> 4x6 tokens.",
    facts={
        "pipelines": ("HunyuanDiTPipeline", "HunyuanDiTPAGPipeline", "HunyuanDiTControlNetPipeline"),
        "checkpoints": (
            "Tencent-Hunyuan/HunyuanDiT-Diffusers",
            "Tencent-Hunyuan/HunyuanDiT-v1.2-Diffusers",
            "Tencent-Hunyuan/HunyuanDiT-v1.1-Diffusers",
            "Tencent-Hunyuan/HunyuanDiT-v1.1-ControlNet-Diffusers-Canny",
        ),
        "blocks": "num_layers (blocks with layer < num_layers//2 - 1 push a skip, "
        "blocks with layer > num_layers//2 pop one)",
        "block_lists": (("blocks", "tensor (image only)"),),
        "text": "none: cross-attention (encoder_hidden_states [BERT] concatenated with the "
        "projected encoder_hidden_states_t5, masked positions replaced by a learned padding)",
        "n_from_input": "hidden_states 4-D (B,C,H,W): (H/p)*(W/p), patch_size from config; "
        "grid (H/p, W/p)",
        "cfg": "batch [uncond; cond]; PAG pipeline: [uncond; cond; perturbed cond] "
        "(or [cond; perturbed] without CFG)",
        "timestep_kwarg": "timestep",
        "image_input": "hidden_states",
    },
)


# --------------------------------------------------------------------------- Lumina-Next


def _build_lumina_next():
    from diffusers import LuminaNextDiT2DModel

    return seeded(
        lambda: LuminaNextDiT2DModel(
            sample_size=8,
            patch_size=2,
            in_channels=4,
            hidden_size=WIDTH,
            num_layers=2,
            num_attention_heads=HEADS,
            num_kv_heads=HEADS,
            multiple_of=16,
            cross_attention_dim=24,
        )
    )


def _lumina_next_inputs(batch: int, seed: int) -> dict:
    from diffusers.models.embeddings import get_2d_rotary_pos_embed_lumina

    g = gen(seed)
    t = _uniform(g, 1, 0, 1000)
    return {
        "hidden_states": _randn(g, batch, 4, 8, 12),
        # The pipeline reverses the scheduler time: 1 - t / num_train_timesteps.
        "timestep": (1 - t / 1000).expand(batch).clone(),
        "encoder_hidden_states": _randn(g, batch, 6, 24),
        "encoder_mask": _valid_mask(batch, 6),
        "image_rotary_emb": get_2d_rotary_pos_embed_lumina(HEAD_DIM, 384, 384),
        # proportional_attn (on by default): base length (sample_size * 8 // 16) ** 2.
        "cross_attention_kwargs": {"base_sequence_length": (8 * 8 // 16) ** 2},
        "return_dict": False,
    }


LUMINA_NEXT = ZooCase(
    name="lumina_next",
    class_name="LuminaNextDiT2DModel",
    build=_build_lumina_next,
    inputs=_lumina_next_inputs,
    num_image_tokens=24,
    width=WIDTH,
    block_paths=("layers",),
    hand_image=_whole,
    hand_replace=_whole_replace,
    num_blocks=2,
    final_image=lambda model, inputs: first_input(model, model.norm_out, inputs)[:, :24],
    note="Gated cross-attention to Gemma features (encoder_hidden_states + encoder_mask); the "
    "blocks carry image tokens only. 8x12 latent -> 4x6 tokens; the RoPE table is the "
    "pipeline's 384x384 one, sliced by the patch embedder.",
    facts={
        "pipelines": ("LuminaPipeline",),
        "checkpoints": ("Alpha-VLLM/Lumina-Next-SFT-diffusers",),
        "blocks": "num_layers",
        "block_lists": (("layers", "tensor (image only)"),),
        "text": "none: cross-attention (encoder_hidden_states with encoder_mask, gated by tanh(gate))",
        "n_from_input": "hidden_states 4-D (B,C,H,W): (H/p)*(W/p), patch_size from config; "
        "grid (H/p, W/p)",
        "cfg": "batch [cond; uncond] (guidance applied to the first 3 channels only)",
        "timestep_kwarg": "timestep",
        "image_input": "hidden_states",
    },
)


# --------------------------------------------------------------------------- PRX


def _build_prx(pixel: bool):
    from diffusers import PRXTransformer2DModel

    if pixel:
        kw = dict(in_channels=3, patch_size=4, bottleneck_size=16, resolution_embeds=True)
    else:
        kw = dict(in_channels=4, patch_size=2)
    return seeded(
        lambda: PRXTransformer2DModel(
            context_in_dim=24,
            hidden_size=WIDTH,
            mlp_ratio=2.0,
            num_heads=HEADS,
            depth=2,
            axes_dim=[8, 8],
            **kw,
        )
    )


def _prx_inputs(pixel: bool):
    def inputs(batch: int, seed: int) -> dict:
        g = gen(seed)
        t = _uniform(g, 1, 0, 1000)
        image = _randn(g, batch, 3, 16, 24) if pixel else _randn(g, batch, 4, 8, 12)
        return {
            "hidden_states": image,
            "timestep": (t / 1000).expand(batch).clone(),
            "encoder_hidden_states": _randn(g, batch, 6, 24),
            "attention_mask": _valid_mask(batch, 6, dtype=torch.bool),
            "return_dict": False,
        }

    return inputs


def _prx_facts(pixel: bool) -> dict:
    return {
        "pipelines": ("PRXPipeline", "PRXPixelPipeline"),
        "checkpoints": ("Photoroom/prx-512-t2i-sft", "Photoroom/prxpixel-t2i"),
        "blocks": "depth",
        "block_lists": (("blocks", "tensor (image only)"),),
        "text": "none: image queries attend over [text; image] keys/values; the text "
        "(txt_in(encoder_hidden_states), masked by attention_mask) is never updated",
        "n_from_input": "hidden_states 4-D (B,C,H,W): (H/p)*(W/p), patch_size from config "
        + ("(pixel model: C=3, RGB pixels)" if pixel else "(latent)")
        + "; grid (H/p, W/p)",
        "cfg": "batch [uncond; cond]; the pipeline's timestep has shape (2,) with CFG and (1,) "
        "without, whatever the prompt batch",
        "timestep_kwarg": "timestep",
        "image_input": "hidden_states",
    }


def _prx_case(pixel: bool) -> ZooCase:
    return ZooCase(
        name="prx_pixel" if pixel else "prx",
        class_name="PRXTransformer2DModel",
        build=lambda: _build_prx(pixel),
        inputs=_prx_inputs(pixel),
        num_image_tokens=24,
        width=WIDTH,
        block_paths=("blocks",),
        hand_image=_whole,
        hand_replace=_whole_replace,
        num_blocks=2,
        final_image=lambda model, inputs: first_input(model, model.final_layer, inputs),
        note=(
            "Pixel-space PRX: RGB input (3x16x24), patch 4, bottleneck img_in and resolution "
            "embedding -> 4x6 tokens."
            if pixel
            else "Latent PRX: 8x12 latent, patch 2 -> 4x6 tokens; text enters only as extra "
            "keys/values."
        ),
        facts=_prx_facts(pixel),
    )


# --------------------------------------------------------------------------- CogView3-Plus


def _build_cogview3plus():
    from diffusers import CogView3PlusTransformer2DModel

    return seeded(
        lambda: CogView3PlusTransformer2DModel(
            patch_size=2,
            in_channels=4,
            num_layers=2,
            attention_head_dim=HEAD_DIM,
            num_attention_heads=HEADS,
            out_channels=4,
            text_embed_dim=24,
            time_embed_dim=16,
            condition_dim=8,
            pos_embed_max_size=16,
            sample_size=8,
        )
    )


def _cogview3plus_inputs(text_len: int):
    def inputs(batch: int, seed: int) -> dict:
        g = gen(seed)
        t = torch.randint(0, 1000, (1,), generator=g)
        return {
            "hidden_states": _randn(g, batch, 4, 8, 12),
            "encoder_hidden_states": _randn(g, batch, text_len, 24),
            "timestep": t.expand(batch).clone(),
            **_image_sizes(batch, 8, 12),
            "return_dict": False,
        }

    return inputs


def _cogview3plus_case(equal: bool) -> ZooCase:
    text_len = 24 if equal else 5
    return ZooCase(
        name="cogview3plus_equal_tokens" if equal else "cogview3plus",
        class_name="CogView3PlusTransformer2DModel",
        build=_build_cogview3plus,
        inputs=_cogview3plus_inputs(text_len),
        num_image_tokens=24,
        width=WIDTH,
        block_paths=("transformer_blocks",),
        hand_image=_first_of_pair,
        hand_replace=_first_of_pair_replace,
        num_blocks=2,
        final_image=lambda model, inputs: first_input(model, model.norm_out, inputs),
        note="Blocks return (image, text): image FIRST, unlike SD3/Flux. 8x12 latent -> 4x6 "
        "tokens; the patch embedder builds [text; image] and the model splits it before block 0."
        + (" Text length 24 == N: both tuple elements are (B, 24, 32)." if equal else ""),
        facts={
            "pipelines": ("CogView3PlusPipeline",),
            "checkpoints": ("THUDM/CogView3-Plus-3B",),
            "blocks": "num_layers",
            "block_lists": (("transformer_blocks", "tuple element 0"),),
            "text": "tuple element 1",
            "n_from_input": "hidden_states 4-D (B,C,H,W): (H/p)*(W/p), patch_size from config; "
            "grid (H/p, W/p)",
            "cfg": "batch [uncond; cond]",
            "timestep_kwarg": "timestep",
            "image_input": "hidden_states",
        },
    )


# --------------------------------------------------------------------------- CogView4


def _build_cogview4():
    from diffusers import CogView4Transformer2DModel

    return seeded(
        lambda: CogView4Transformer2DModel(
            patch_size=2,
            in_channels=4,
            out_channels=4,
            num_layers=2,
            attention_head_dim=HEAD_DIM,
            num_attention_heads=HEADS,
            text_embed_dim=24,
            time_embed_dim=16,
            condition_dim=8,
        )
    )


def _cogview4_inputs(text_len: int):
    def inputs(batch: int, seed: int) -> dict:
        g = gen(seed)
        t = _uniform(g, 1, 0, 1000)
        return {
            "hidden_states": _randn(g, batch, 4, 8, 12),
            "encoder_hidden_states": _randn(g, batch, text_len, 24),
            "timestep": t.expand(batch).clone(),
            **_image_sizes(batch, 8, 12),
            "attention_kwargs": None,
            "return_dict": False,
        }

    return inputs


def _cogview4_case(equal: bool) -> ZooCase:
    text_len = 24 if equal else 7
    return ZooCase(
        name="cogview4_equal_tokens" if equal else "cogview4",
        class_name="CogView4Transformer2DModel",
        build=_build_cogview4,
        inputs=_cogview4_inputs(text_len),
        num_image_tokens=24,
        width=WIDTH,
        block_paths=("transformer_blocks",),
        hand_image=_first_of_pair,
        hand_replace=_first_of_pair_replace,
        num_blocks=2,
        final_image=lambda model, inputs: first_input(model, model.norm_out, inputs),
        note="Blocks return (image, text), image first; 8x12 latent -> 4x6 tokens."
        + (" Text length 24 == N: both tuple elements are (B, 24, 32)." if equal else ""),
        facts={
            "pipelines": ("CogView4Pipeline", "CogView4ControlPipeline"),
            "checkpoints": ("THUDM/CogView4-6B", "THUDM/CogView4-6B-Control"),
            "blocks": "num_layers",
            "block_lists": (("transformer_blocks", "tuple element 0"),),
            "text": "tuple element 1",
            "n_from_input": "hidden_states 4-D (B,C,H,W): (H/p)*(W/p), patch_size from config "
            "(the Control pipeline concatenates the control latent on channels, not tokens); "
            "grid (H/p, W/p)",
            "cfg": "calls: cond then uncond",
            "timestep_kwarg": "timestep",
            "image_input": "hidden_states",
        },
    )


# --------------------------------------------------------------------------- GLM-Image


def _build_glm_image():
    from diffusers import GlmImageTransformer2DModel

    return seeded(
        lambda: GlmImageTransformer2DModel(
            patch_size=2,
            in_channels=4,
            out_channels=4,
            num_layers=2,
            attention_head_dim=HEAD_DIM,
            num_attention_heads=HEADS,
            text_embed_dim=24,
            time_embed_dim=16,
            condition_dim=8,
            prior_vq_quantizer_codebook_size=64,
        )
    )


def _glm_image_inputs(text_len: int):
    def inputs(batch: int, seed: int) -> dict:
        from diffusers.models.transformers.transformer_glm_image import GlmImageKVCache

        g = gen(seed)
        n = 24
        t = _uniform(g, 1, 1, 1000)
        sizes = _image_sizes(batch, 8, 12)
        prior = torch.randint(0, 64, (batch, n), generator=g)
        return {
            "hidden_states": _randn(g, batch, 4, 8, 12),
            "encoder_hidden_states": _randn(g, batch, text_len, 24),
            "prior_token_id": prior,
            "prior_token_drop": torch.zeros(batch, n, dtype=torch.bool),
            # The pipeline passes t - 1 and an (empty, mode None) KV cache on text-to-image calls.
            "timestep": (t - 1).expand(batch).clone(),
            "target_size": sizes["target_size"],
            "crop_coords": sizes["crop_coords"],
            "attention_kwargs": None,
            "return_dict": False,
            "kv_caches": GlmImageKVCache(num_layers=2),
        }

    return inputs


def _glm_image_case(equal: bool) -> ZooCase:
    text_len = 24 if equal else 5
    return ZooCase(
        name="glm_image_equal_tokens" if equal else "glm_image",
        class_name="GlmImageTransformer2DModel",
        build=_build_glm_image,
        inputs=_glm_image_inputs(text_len),
        num_image_tokens=24,
        width=WIDTH,
        block_paths=("transformer_blocks",),
        hand_image=_first_of_pair,
        hand_replace=_first_of_pair_replace,
        num_blocks=2,
        final_image=lambda model, inputs: first_input(model, model.norm_out, inputs),
        note="Blocks return (image, text), image first; the AR prior tokens (B, N) are embedded "
        "and ADDED to the image tokens, the glyph embeddings are the text stream. 8x12 latent "
        "-> 4x6 tokens."
        + (" Text length 24 == N: both tuple elements are (B, 24, 32)." if equal else ""),
        facts={
            "pipelines": ("GlmImagePipeline",),
            "checkpoints": ("zai-org/GLM-Image",),
            "blocks": "num_layers",
            "block_lists": (("transformer_blocks", "tuple element 0"),),
            "text": "tuple element 1 (glyph embeddings; the uncond call zeroes the prior "
            "embeddings via prior_token_drop)",
            "n_from_input": "hidden_states 4-D (B,C,H,W): (H/p)*(W/p), patch_size from config; "
            "grid (H/p, W/p); prior_token_id has shape (B, N) too",
            "cfg": "calls: cond then uncond; image-edit mode first runs one KV-write call per "
            "condition image (t=0, batch 1, zero text tokens, the CONDITION image as "
            "hidden_states), then the loop's calls read those K/V (cond) or skip them (uncond); "
            "condition images never enter the block outputs",
            "timestep_kwarg": "timestep",
            "image_input": "hidden_states",
        },
    )


# --------------------------------------------------------------------------- HunyuanImage-2.1


def _build_hunyuanimage(refiner: bool):
    from diffusers import HunyuanImageTransformer2DModel

    if refiner:
        kw = dict(in_channels=8, out_channels=4, patch_size=(1, 1, 1), rope_axes_dim=(4, 6, 6),
                  text_embed_2_dim=None, guidance_embeds=True)
    else:
        kw = dict(in_channels=4, out_channels=4, patch_size=(2, 2), rope_axes_dim=(8, 8),
                  text_embed_2_dim=20, guidance_embeds=False)
    return seeded(
        lambda: HunyuanImageTransformer2DModel(
            num_attention_heads=HEADS,
            attention_head_dim=HEAD_DIM,
            num_layers=2,
            num_single_layers=2,
            num_refiner_layers=1,
            mlp_ratio=2.0,
            qk_norm="rms_norm",
            text_embed_dim=24,
            rope_theta=256.0,
            **kw,
        )
    )


def _hunyuanimage_inputs(text_len: int, byt5_len: int):
    def inputs(batch: int, seed: int) -> dict:
        g = gen(seed)
        t = _uniform(g, 1, 0, 1000)
        return {
            "hidden_states": _randn(g, batch, 4, 8, 12),
            "timestep": t.expand(batch).clone(),
            "timestep_r": None,
            "guidance": None,
            "attention_kwargs": {},
            "return_dict": False,
            "encoder_hidden_states": _randn(g, batch, text_len, 24),
            "encoder_attention_mask": _valid_mask(batch, text_len),
            "encoder_hidden_states_2": _randn(g, batch, byt5_len, 20),
            "encoder_attention_mask_2": _valid_mask(batch, byt5_len),
        }

    return inputs


def _hunyuanimage_refiner_inputs(batch: int, seed: int) -> dict:
    g = gen(seed)
    t = _uniform(g, 1, 0, 1000)
    # The refiner pipeline concatenates [latents, cond_latents] on channels of a 5-D (B,C,1,H,W)
    # latent and passes a distilled guidance scale * 1000.
    latents = _randn(g, batch, 4, 1, 4, 6)
    cond = _randn(g, batch, 4, 1, 4, 6)
    return {
        "hidden_states": torch.cat([latents, cond], dim=1),
        "timestep": t.expand(batch).clone(),
        "guidance": torch.full((batch,), 3.25 * 1000.0),
        "attention_kwargs": {},
        "return_dict": False,
        "encoder_hidden_states": _randn(g, batch, 6, 24),
        "encoder_attention_mask": _valid_mask(batch, 6),
    }


def _hunyuanimage_facts(refiner: bool) -> dict:
    return {
        "pipelines": ("HunyuanImagePipeline", "HunyuanImageRefinerPipeline"),
        "checkpoints": (
            "hunyuanvideo-community/HunyuanImage-2.1-Diffusers",
            "hunyuanvideo-community/HunyuanImage-2.1-Refiner-Diffusers",
        ),
        "blocks": "num_layers + num_single_layers (plus num_refiner_layers text-only refiner blocks)",
        "block_lists": (
            ("context_embedder.token_refiner.refiner_blocks", "text only"),
            ("transformer_blocks", "tuple element 0"),
            ("single_transformer_blocks", "tuple element 0 (the block joins [image; text] "
             "internally and splits it again before returning)"),
        ),
        "text": "tuple element 1: the refined Qwen text (plus, with encoder_hidden_states_2, the "
        "projected ByT5 tokens, reordered per row as [valid ByT5; valid text; pad ByT5; pad text])",
        "n_from_input": "hidden_states 4-D (B,C,H,W): (H/ph)*(W/pw) or 5-D (B,C,T,H,W): "
        "(T/pt)*(H/ph)*(W/pw); patch_size is a TUPLE from config (2 or 3 entries); grid "
        "(H/ph, W/pw)",
        "cfg": "calls: cond then uncond (AdaptiveProjectedMixGuidance guider; the uncond call is "
        "dropped outside the guider's [start, stop) step range; the OCR guider replaces it when "
        "the prompt has glyph text); distilled and refiner checkpoints: one call, guidance "
        "embedded",
        "timestep_kwarg": "timestep",
        "image_input": "hidden_states",
    }


def _hunyuanimage_case(equal: bool) -> ZooCase:
    # Text stream length = Qwen tokens + ByT5 tokens.
    text_len, byt5_len = (16, 8) if equal else (6, 3)
    return ZooCase(
        name="hunyuanimage_equal_tokens" if equal else "hunyuanimage",
        class_name="HunyuanImageTransformer2DModel",
        build=lambda: _build_hunyuanimage(False),
        inputs=_hunyuanimage_inputs(text_len, byt5_len),
        num_image_tokens=24,
        width=WIDTH,
        block_paths=("transformer_blocks", "single_transformer_blocks"),
        hand_image=_first_of_pair,
        hand_replace=_first_of_pair_replace,
        num_blocks=4,
        final_image=lambda model, inputs: first_input(model, model.norm_out, inputs),
        note="patch_size=(2, 2) is a tuple; 8x12 latent -> 4x6 tokens. Both block lists return "
        "(image, text). The text refiner (context_embedder.token_refiner.refiner_blocks) is "
        "text-only and not listed."
        + (" Text stream 16 + 8 ByT5 = 24 == N: both tuple elements are (B, 24, 32)."
           if equal else ""),
        facts=_hunyuanimage_facts(False),
    )


HUNYUANIMAGE_REFINER = ZooCase(
    name="hunyuanimage_refiner",
    class_name="HunyuanImageTransformer2DModel",
    build=lambda: _build_hunyuanimage(True),
    inputs=_hunyuanimage_refiner_inputs,
    num_image_tokens=24,
    width=WIDTH,
    block_paths=("transformer_blocks", "single_transformer_blocks"),
    hand_image=_first_of_pair,
    hand_replace=_first_of_pair_replace,
    num_blocks=4,
    final_image=lambda model, inputs: first_input(model, model.norm_out, inputs),
    note="The refiner's layout: 5-D (B, 2C, 1, H, W) input (latents and the image to refine "
    "concatenated on channels), 3-entry patch_size=(1, 1, 1), guidance embedded, no ByT5. "
    "1x4x6 latent -> 24 tokens.",
    facts=_hunyuanimage_facts(True),
)


# --------------------------------------------------------------------------- all cases

CASES: list[ZooCase] = [
    DIT,
    HUNYUANDIT,
    LUMINA_NEXT,
    _prx_case(False),
    _prx_case(True),
    _cogview3plus_case(False),
    _cogview3plus_case(True),
    _cogview4_case(False),
    _cogview4_case(True),
    _glm_image_case(False),
    _glm_image_case(True),
    _hunyuanimage_case(False),
    _hunyuanimage_case(True),
    HUNYUANIMAGE_REFINER,
]
