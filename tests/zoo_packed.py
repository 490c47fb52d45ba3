"""Tiny random instances of the image transformers whose image tokens share a packed sequence
with other tokens, or arrive in an unusual input layout.

Covers Qwen-Image 2.1 (one joint tensor, target image last), Z-Image (lists of per-row inputs,
image first and padded to a multiple of 32; omni mode with condition images), Ideogram 4
(left-padded ``[pad; text; image]``, plus its image-only unconditional model), Cosmos (5-D
``(B, C, T, H, W)`` input), Kandinsky 5 (channels-last 5-D input), JoyImage-Edit (image stream
``[target; refs]``) and JoyImage-Edit-Plus (per-row ``[target; refs; pad]``).

Every slice below is written from the diffusers sources of each class and its pipelines.
"""
from __future__ import annotations

import math

import torch

from zoo_common import ZooCase, first_input, gen, seeded

WIDTH = 32  # 2 heads x 16


def _ceil32(n: int) -> int:
    return n + (-n) % 32


# ---------------------------------------------------------------------------------------------
# Generic slices of one (B, S, D) tensor
# ---------------------------------------------------------------------------------------------


def _first(x: torch.Tensor, n: int) -> torch.Tensor:
    return x[:, :n]


def _last(x: torch.Tensor, n: int) -> torch.Tensor:
    return x[:, x.shape[1] - n:]


def _put_first(x: torch.Tensor, n: int, new: torch.Tensor) -> torch.Tensor:
    out = x.clone()
    out[:, :n] = new
    return out


def _put_last(x: torch.Tensor, n: int, new: torch.Tensor) -> torch.Tensor:
    out = x.clone()
    out[:, x.shape[1] - n:] = new
    return out


def _rows(x: torch.Tensor, starts: list[int], n: int) -> torch.Tensor:
    return torch.stack([x[i, s:s + n] for i, s in enumerate(starts)])


def _put_rows(x: torch.Tensor, starts: list[int], n: int, new: torch.Tensor) -> torch.Tensor:
    out = x.clone()
    for i, s in enumerate(starts):
        out[i, s:s + n] = new[i]
    return out


# ---------------------------------------------------------------------------------------------
# QwenImage21Transformer2DModel
# ---------------------------------------------------------------------------------------------
# forward: the target latents are appended to the VLM text sequence as slots of 2x2 tokens
# (img_mask True), every image slot is expanded x4 and filled with the packed latents
# (condition images first, target last). Each block returns the whole joint tensor; the target
# image is its last prod(img_shapes[0][-1]) tokens. The pipeline slices noise_pred[:, -N:].

_QWEN21_C = 8
_QWEN21_TEXT_DIM = 24

QWEN21_FACTS = {
    "pipelines": ("QwenImage21Pipeline", "QwenImage21ModularPipeline", "QwenImage21TurboModularPipeline"),
    "checkpoints": ("Qwen/Qwen-Image-2.1",),
    "blocks": "num_layers",
    "block_lists": (
        (
            "transformer_blocks",
            "last N of the joint tensor [VLM text with condition-image tokens inside; target image]; "
            "KV-cached steps (kv_cache_mode='cached') pass only the target tokens",
        ),
    ),
    "text": "the rest of the joint tensor (text and condition-image tokens before the target)",
    "n_from_input": "prod(img_shapes[0][-1]) (latent tokens, patch_size 1); grid (rows, cols) = "
    "img_shapes[0][-1][1:]; hidden_states (B, cond + N, C) also holds the condition images",
    "cfg": "calls: cond then uncond (only with true_cfg_scale > 1 and a negative prompt; off by default); "
    "Turbo: one call",
    "timestep_kwarg": "timestep",
    "image_input": "hidden_states",
}


def _build_qwen21():
    from diffusers import QwenImage21Transformer2DModel

    return seeded(
        lambda: QwenImage21Transformer2DModel(
            patch_size=1,
            in_channels=_QWEN21_C,
            out_channels=_QWEN21_C,
            num_layers=2,
            attention_head_dim=16,
            num_attention_heads=2,
            context_in_dim=_QWEN21_TEXT_DIM,
            mlp_ratio=3,
            axes_dims_rope=(4, 6, 6),
        )
    )


def _qwen21_inputs(text_before: int, cond_hw, text_after: int, grid, valid_after=None):
    """[text_before; condition slots; text_after] as the VLM sequence, then the target slots."""

    def inputs(batch: int, seed: int) -> dict:
        g = gen(seed)
        h, w = grid
        n = h * w
        cond_tokens = cond_hw[0] * cond_hw[1] if cond_hw else 0
        text_len = text_before + cond_tokens // 4 + text_after
        row_mask = torch.zeros(text_len + n // 4, dtype=torch.bool)
        if cond_hw:
            row_mask[text_before:text_before + cond_tokens // 4] = True
        row_mask[text_len:] = True
        shapes = ([(1, *cond_hw)] if cond_hw else []) + [(1, h, w)]
        kwargs = {
            "hidden_states": torch.randn(batch, cond_tokens + n, _QWEN21_C, generator=g),
            "encoder_hidden_states": torch.randn(batch, text_len, _QWEN21_TEXT_DIM, generator=g),
            "timestep": torch.rand(batch, generator=g),
            "img_shapes": [shapes] * batch,
            "img_mask": row_mask.unsqueeze(0).repeat(batch, 1),
            "encoder_hidden_states_mask": None,
            "return_dict": False,
        }
        if valid_after is not None:
            mask = torch.ones(batch, text_len, dtype=torch.bool)
            for i in range(batch):
                mask[i, text_len - text_after + valid_after[i % len(valid_after)]:] = False
            kwargs["encoder_hidden_states_mask"] = mask
        return kwargs

    return inputs


def _qwen21_n(inputs: dict) -> int:
    return math.prod(inputs["img_shapes"][0][-1])


def _qwen21_case(name, inputs, n, note):
    return ZooCase(
        name=name,
        class_name="QwenImage21Transformer2DModel",
        build=_build_qwen21,
        inputs=inputs,
        num_image_tokens=n,
        width=WIDTH,
        block_paths=("transformer_blocks",),
        hand_image=lambda path, out, inp: _last(out, _qwen21_n(inp)),
        hand_replace=lambda path, out, inp, new: _put_last(out, _qwen21_n(inp), new),
        final_image=lambda model, inp: _last(first_input(model, model.norm_out, inp), _qwen21_n(inp)),
        num_blocks=2,
        note=note,
        facts=QWEN21_FACTS,
    )


QWEN21_CASES = [
    _qwen21_case(
        "qwenimage21",
        _qwen21_inputs(5, None, 0, (4, 6)),
        24,
        "Text-to-image: joint [5 text; 24 target] tensor, no KV cache.",
    ),
    _qwen21_case(
        "qwenimage21_refs",
        _qwen21_inputs(2, (2, 4), 4, (4, 4), valid_after=(4, 2)),
        16,
        "One 2x4 condition image (8 tokens) sits inside the text, between 2 and 4 text tokens; the "
        "rows' prompts are right-padded to different valid lengths; the 16 target tokens come last.",
    ),
    _qwen21_case(
        "qwenimage21_equal_tokens",
        _qwen21_inputs(16, None, 0, (4, 4)),
        16,
        "16 text tokens and 16 target tokens.",
    ),
]


# ---------------------------------------------------------------------------------------------
# ZImageTransformer2DModel
# ---------------------------------------------------------------------------------------------
# Basic mode: x[i] is [C, F, H, W]; the image is patchified and padded to a multiple of 32
# (x_pad_token), refined alone by noise_refiner, then layers run on [img (pad 32); caption (pad 32)]
# per row, padded to the batch's longest row: image first.
# Omni mode: x[i] is a list [cond images..., target]; cap_feats[i] a list of caption segments;
# noise_refiner runs on [cond_1 (pad 32); ...; target (pad 32)], layers on
# [caption segments (each pad 32); images (each pad 32); siglip (each pad 32)] per row.

_ZIMAGE_C = 4
_ZIMAGE_CAP = 24
_ZIMAGE_SIGLIP = 8
_ZIMAGE_P = 2

ZIMAGE_FACTS = {
    "pipelines": (
        "ZImagePipeline",
        "ZImageImg2ImgPipeline",
        "ZImageInpaintPipeline",
        "ZImageControlNetPipeline",
        "ZImageControlNetInpaintPipeline",
        "ZImageOmniPipeline",
        "ZImageModularPipeline",
    ),
    "checkpoints": (
        "Tongyi-MAI/Z-Image-Turbo",
        "Z-a-o/Z-Image-Turbo",
        "alibaba-pai/Z-Image-Turbo-Fun-Controlnet-Union",
        "alibaba-pai/Z-Image-Turbo-Fun-Controlnet-Union-2.0",
    ),
    "blocks": "2 * n_refiner_layers + n_layers (+ n_refiner_layers siglip_refiner blocks when siglip_feat_dim is set)",
    "block_lists": (
        (
            "noise_refiner",
            "tensor (image only), first N of [target (padded to a multiple of 32)]; omni mode: "
            "[cond images; target], each padded to a multiple of 32, target at the sum of the padded "
            "condition lengths",
        ),
        ("context_refiner", "text only"),
        ("siglip_refiner", "omni only: SigLIP features of the condition images, no target tokens"),
        (
            "layers",
            "first N of [image (padded to a multiple of 32); text (padded to a multiple of 32)] plus batch "
            "padding; omni mode: per-row offset, [caption segments; cond images; target; siglip], target "
            "at sum(ceil32(caption segments)) + sum(ceil32(cond images))",
        ),
    ),
    "text": "the rest of the joint tensor in layers (after the padded image); context_refiner alone before",
    "n_from_input": "x is a list of [C, F, H, W]: (F/f_patch)*(H/patch)*(W/patch) of x[0] (omni: of "
    "x[0][-1]), patch_size/f_patch_size forward kwargs (default 2/1); grid (H/patch, W/patch)",
    "cfg": "batch [cond; uncond] (lists concatenated, guidance_scale > 0); cfg_truncation < 1 drops the "
    "uncond rows in late steps; Turbo: guidance_scale 0, one call",
    "timestep_kwarg": "t",
    "image_input": "x",
}


def _build_zimage(siglip: bool = False):
    def build():
        from diffusers import ZImageTransformer2DModel

        return seeded(
            lambda: ZImageTransformer2DModel(
                all_patch_size=(_ZIMAGE_P,),
                all_f_patch_size=(1,),
                in_channels=_ZIMAGE_C,
                dim=WIDTH,
                n_layers=2,
                n_refiner_layers=1,
                n_heads=2,
                n_kv_heads=2,
                cap_feat_dim=_ZIMAGE_CAP,
                siglip_feat_dim=_ZIMAGE_SIGLIP if siglip else None,
                axes_dims=[4, 6, 6],
                axes_lens=[256, 32, 32],
            )
        )

    return build


def _zimage_inputs(grid, cap_lens):
    def inputs(batch: int, seed: int) -> dict:
        g = gen(seed)
        h, w = grid
        return {
            "x": [torch.randn(_ZIMAGE_C, 1, h * _ZIMAGE_P, w * _ZIMAGE_P, generator=g) for _ in range(batch)],
            "t": torch.rand(batch, generator=g),
            "cap_feats": [torch.randn(cap_lens[i % len(cap_lens)], _ZIMAGE_CAP, generator=g) for i in range(batch)],
            "return_dict": False,
        }

    return inputs


def _zimage_tokens(image: torch.Tensor) -> int:
    _, f, h, w = image.shape
    return f * (h // _ZIMAGE_P) * (w // _ZIMAGE_P)


def _zimage_n(inputs: dict) -> int:
    x0 = inputs["x"][0]
    return _zimage_tokens(x0[-1] if isinstance(x0, list) else x0)


def _zimage_offsets(path: str, inputs: dict) -> list[int]:
    """Where each row's target image starts (omni mode)."""
    starts = []
    for images, segments in zip(inputs["x"], inputs["cap_feats"]):
        refs = sum(_ceil32(_zimage_tokens(im)) for im in images[:-1])
        if path == "noise_refiner":
            starts.append(refs)
        else:
            starts.append(sum(_ceil32(len(s)) for s in segments) + refs)
    return starts


def _zimage_case(name, inputs, n, note):
    return ZooCase(
        name=name,
        class_name="ZImageTransformer2DModel",
        build=_build_zimage(),
        inputs=inputs,
        num_image_tokens=n,
        width=WIDTH,
        block_paths=("noise_refiner", "layers"),
        hand_image=lambda path, out, inp: _first(out, _zimage_n(inp)),
        hand_replace=lambda path, out, inp, new: _put_first(out, _zimage_n(inp), new),
        final_image=lambda model, inp: _first(
            first_input(model, model.all_final_layer[f"{_ZIMAGE_P}-1"], inp), _zimage_n(inp)
        ),
        num_blocks=3,
        note=note,
        facts=ZIMAGE_FACTS,
    )


def _zimage_omni_inputs(cap_lens):
    """One 4x4-latent condition image (2x2 = 4 tokens, padded to 32) and a 4x8 target (32 tokens)."""

    def inputs(batch: int, seed: int) -> dict:
        g = gen(seed)
        x, caps, sig = [], [], []
        for i in range(batch):
            ref = torch.randn(_ZIMAGE_C, 1, 4, 4, generator=g)
            target = torch.randn(_ZIMAGE_C, 1, 8, 16, generator=g)
            x.append([ref, target])
            lens = cap_lens[i % len(cap_lens)]
            caps.append([torch.randn(n, _ZIMAGE_CAP, generator=g) for n in lens])
            sig.append([torch.randn(2, 2, _ZIMAGE_SIGLIP, generator=g), None])
        return {
            "x": x,
            "t": torch.rand(batch, generator=g),
            "cap_feats": caps,
            "siglip_feats": sig,
            "image_noise_mask": [[0, 1] for _ in range(batch)],
            "return_dict": False,
        }

    return inputs


def _zimage_omni_case(name, inputs, note):
    return ZooCase(
        name=name,
        class_name="ZImageTransformer2DModel",
        build=_build_zimage(siglip=True),
        inputs=inputs,
        num_image_tokens=32,
        width=WIDTH,
        block_paths=("noise_refiner", "layers"),
        hand_image=lambda path, out, inp: _rows(out, _zimage_offsets(path, inp), _zimage_n(inp)),
        hand_replace=lambda path, out, inp, new: _put_rows(out, _zimage_offsets(path, inp), _zimage_n(inp), new),
        final_image=lambda model, inp: _rows(
            first_input(model, model.all_final_layer[f"{_ZIMAGE_P}-1"], inp),
            _zimage_offsets("layers", inp),
            _zimage_n(inp),
        ),
        num_blocks=3,
        note=note,
        facts=ZIMAGE_FACTS,
    )


ZIMAGE_CASES = [
    _zimage_case(
        "zimage",
        _zimage_inputs((4, 8), (5, 9)),
        32,
        "Basic mode, 4x8 grid (32 tokens, no image padding); rows have 5 and 9 caption tokens.",
    ),
    _zimage_case(
        "zimage_pad",
        _zimage_inputs((4, 6), (5, 9)),
        24,
        "Basic mode, 4x6 grid: 24 image tokens padded to 32 in noise_refiner and in layers.",
    ),
    _zimage_omni_case(
        "zimage_omni_refs",
        _zimage_omni_inputs([(3, 4, 2)]),
        "Omni mode with one condition image (4 tokens, padded to 32) before the 32-token target and "
        "three caption segments (3, 4, 2 tokens, each padded to 32); all rows share one layout.",
    ),
    _zimage_omni_case(
        "zimage_omni_rows",
        _zimage_omni_inputs([(3, 4, 2), (3, 40, 2)]),
        "Omni mode as in zimage_omni_refs, but the second row's middle caption segment has 40 tokens "
        "(padded to 64), so the target starts at a different offset in each row of layers.",
    ),
]


# ---------------------------------------------------------------------------------------------
# Ideogram4Transformer2DModel
# ---------------------------------------------------------------------------------------------
# The conditional model runs on [left pad; text; image] of length max_text + N, indicator 2 at the
# image; the unconditional model (a second instance of the class) runs on [image] only. Blocks
# return the whole packed tensor; final_layer gets it whole and the pipeline slices [:, max_text:].

_IDEO_C = 8
_IDEO_LLM = 24
_IMAGE_INDICATOR = 2
_TEXT_INDICATOR = 3
_IMAGE_POSITION_OFFSET = 65536

IDEOGRAM4_FACTS = {
    "pipelines": ("Ideogram4Pipeline", "Ideogram4ModularPipeline"),
    "checkpoints": ("ideogram-ai/ideogram-v4",),
    "blocks": "num_layers",
    "block_lists": (
        (
            "layers",
            "last N of the packed tensor [left pad; text; image] (cond model); the whole tensor [image] in "
            "the unconditional model",
        ),
    ),
    "text": "the rest of the packed tensor (left-padded text before the image); none in the unconditional model",
    "n_from_input": "(indicator == 2).sum(1); grid from position_ids[..., 1:] - 65536 at the image positions "
    "(rows = max h + 1, cols = max w + 1)",
    "cfg": "second transformer for uncond (unconditional_transformer on the image-only sequence, "
    "v = w * cond + (1 - w) * uncond per step)",
    "timestep_kwarg": "timestep",
    "image_input": "hidden_states",
}


def _build_ideogram4():
    from diffusers import Ideogram4Transformer2DModel

    return seeded(
        lambda: Ideogram4Transformer2DModel(
            in_channels=_IDEO_C,
            num_layers=2,
            attention_head_dim=16,
            num_attention_heads=2,
            intermediate_size=64,
            adaln_dim=16,
            llm_features_dim=_IDEO_LLM,
            rope_theta=10000,
            mrope_section=(4, 2, 2),
        )
    )


def _ideogram4_inputs(text_lens, max_text, grid, uncond=False):
    def inputs(batch: int, seed: int) -> dict:
        g = gen(seed)
        gh, gw = grid
        n = gh * gw
        h_idx = torch.arange(gh).repeat_interleave(gw)
        w_idx = torch.arange(gw).repeat(gh)
        image_pos = torch.stack([torch.zeros_like(h_idx), h_idx, w_idx], dim=1) + _IMAGE_POSITION_OFFSET
        latents = torch.randn(batch, n, _IDEO_C, generator=g)
        t = torch.rand(batch, generator=g)
        if uncond:
            return {
                "hidden_states": latents,
                "timestep": t,
                "encoder_hidden_states": torch.zeros(batch, n, _IDEO_LLM),
                "position_ids": image_pos.unsqueeze(0).repeat(batch, 1, 1),
                "segment_ids": torch.ones(batch, n, dtype=torch.long),
                "indicator": torch.full((batch, n), _IMAGE_INDICATOR, dtype=torch.long),
                "return_dict": False,
            }
        total = max_text + n
        position_ids = torch.zeros(batch, total, 3, dtype=torch.long)
        segment_ids = torch.full((batch, total), -1, dtype=torch.long)
        indicator = torch.zeros(batch, total, dtype=torch.long)
        features = torch.zeros(batch, total, _IDEO_LLM)
        for b in range(batch):
            num_text = text_lens[b % len(text_lens)]
            off = max_text - num_text
            pos = torch.arange(num_text)
            position_ids[b, off:max_text] = torch.stack([pos, pos, pos], dim=1)
            position_ids[b, max_text:] = image_pos
            indicator[b, off:max_text] = _TEXT_INDICATOR
            indicator[b, max_text:] = _IMAGE_INDICATOR
            segment_ids[b, off:] = 1
            features[b, off:max_text] = torch.randn(num_text, _IDEO_LLM, generator=g)
        return {
            "hidden_states": torch.cat([torch.zeros(batch, max_text, _IDEO_C), latents], dim=1),
            "timestep": t,
            "encoder_hidden_states": features,
            "position_ids": position_ids,
            "segment_ids": segment_ids,
            "indicator": indicator,
            "return_dict": False,
        }

    return inputs


def _ideogram4_n(inputs: dict) -> int:
    counts = (inputs["indicator"] == _IMAGE_INDICATOR).sum(1)
    assert bool((counts == counts[0]).all())
    return int(counts[0])


def _ideogram4_case(name, inputs, n, note):
    return ZooCase(
        name=name,
        class_name="Ideogram4Transformer2DModel",
        build=_build_ideogram4,
        inputs=inputs,
        num_image_tokens=n,
        width=WIDTH,
        block_paths=("layers",),
        hand_image=lambda path, out, inp: _last(out, _ideogram4_n(inp)),
        hand_replace=lambda path, out, inp, new: _put_last(out, _ideogram4_n(inp), new),
        final_image=lambda model, inp: _last(first_input(model, model.final_layer, inp), _ideogram4_n(inp)),
        num_blocks=2,
        note=note,
        facts=IDEOGRAM4_FACTS,
    )


IDEOGRAM4_CASES = [
    _ideogram4_case(
        "ideogram4",
        _ideogram4_inputs((6,), 6, (4, 6)),
        24,
        "Conditional model: [6 text; 24 image], no left padding.",
    ),
    _ideogram4_case(
        "ideogram4_rows",
        _ideogram4_inputs((6, 3), 6, (4, 4)),
        16,
        "Rows with 6 and 3 text tokens, left-padded to 6: the image is still the last 16 tokens of every row.",
    ),
    _ideogram4_case(
        "ideogram4_equal_tokens",
        _ideogram4_inputs((16,), 16, (4, 4)),
        16,
        "16 text tokens and 16 image tokens.",
    ),
    _ideogram4_case(
        "ideogram4_uncond",
        _ideogram4_inputs((), 0, (4, 4), uncond=True),
        16,
        "The unconditional model's call: the image-only sequence with zeroed text features.",
    ),
]


# ---------------------------------------------------------------------------------------------
# CosmosTransformer3DModel
# ---------------------------------------------------------------------------------------------
# 5-D (B, C, T, H, W) input, patchified to (T/pt)*(H/ph)*(W/pw) tokens; the blocks carry only
# image tokens (text by cross-attention) and norm_out receives them.

_COSMOS_C = 4
_COSMOS_TEXT = 24

COSMOS_FACTS = {
    "pipelines": (
        "Cosmos2TextToImagePipeline",
        "Cosmos2VideoToWorldPipeline",
        "CosmosTextToWorldPipeline",
        "CosmosVideoToWorldPipeline",
        "Cosmos2_5_PredictBasePipeline",
        "Cosmos2_5_TransferPipeline",
        "AnimaModularPipeline",
    ),
    "checkpoints": (
        "nvidia/Cosmos-Predict2-2B-Text2Image",
        "nvidia/Cosmos-Predict2-14B-Text2Image",
        "nvidia/Cosmos-Predict2-2B-Video2World",
        "nvidia/Cosmos-Predict2-14B-Video2World",
        "nvidia/Cosmos-1.0-Diffusion-7B-Text2World",
        "nvidia/Cosmos-1.0-Diffusion-7B-Video2World",
        "nvidia/Cosmos-Predict2.5-2B",
        "nvidia/Cosmos-Transfer2.5-2B",
    ),
    "blocks": "num_layers",
    "block_lists": (
        (
            "transformer_blocks",
            "tensor (image only) [B, T*H*W, D] (a (hs, after_proj(hs)) tuple only in blocks built with "
            "after_proj, which this model does not build)",
        ),
    ),
    "text": "none: cross-attention (encoder_hidden_states, or a (text, image context) tuple)",
    "n_from_input": "hidden_states 5-D (B,C,T,H,W): (T/pt)*(H/ph)*(W/pw), patch_size from config; "
    "grid (H/ph, W/pw) with T=1 for images",
    "cfg": "calls: cond then uncond (guidance_scale > 1); Anima: ClassifierFreeGuidance guider, calls",
    "timestep_kwarg": "timestep",
    "image_input": "hidden_states",
}


def _build_cosmos():
    from diffusers import CosmosTransformer3DModel

    # concat_padding_mask=False: with True the forward resizes padding_mask with torchvision (an
    # optional dependency); the mask only adds one input channel and does not change the tokens.
    return seeded(
        lambda: CosmosTransformer3DModel(
            in_channels=_COSMOS_C,
            out_channels=_COSMOS_C,
            num_attention_heads=2,
            attention_head_dim=16,
            num_layers=2,
            mlp_ratio=2.0,
            text_embed_dim=_COSMOS_TEXT,
            adaln_lora_dim=8,
            max_size=(8, 32, 32),
            patch_size=(1, 2, 2),
            concat_padding_mask=False,
            extra_pos_embed_type="learnable",
        )
    )


def _cosmos_inputs(batch: int, seed: int) -> dict:
    g = gen(seed)
    return {
        "hidden_states": torch.randn(batch, _COSMOS_C, 1, 8, 12, generator=g),
        "timestep": torch.rand(batch, generator=g),
        "encoder_hidden_states": torch.randn(batch, 7, _COSMOS_TEXT, generator=g),
        "padding_mask": torch.zeros(1, 1, 8, 12),
        "return_dict": False,
    }


COSMOS_CASES = [
    ZooCase(
        name="cosmos",
        class_name="CosmosTransformer3DModel",
        build=_build_cosmos,
        inputs=_cosmos_inputs,
        num_image_tokens=24,
        width=WIDTH,
        block_paths=("transformer_blocks",),
        hand_image=lambda path, out, inp: out,
        hand_replace=lambda path, out, inp, new: new,
        final_image=lambda model, inp: first_input(model, model.norm_out, inp),
        num_blocks=2,
        note="5-D input (B, 4, T=1, 8, 12): a 4x6 grid of 24 tokens; the blocks hold only image tokens. "
        "Built with concat_padding_mask=False, so the padding_mask the pipeline passes is unused.",
        facts=COSMOS_FACTS,
    )
]


# ---------------------------------------------------------------------------------------------
# Kandinsky5Transformer3DModel
# ---------------------------------------------------------------------------------------------
# Channels-last (B, T, H, W, C) input; text_transformer_blocks refine the text alone, then
# visual_transformer_blocks carry the flattened (T, H/2, W/2) visual tokens, cross-attending to the
# text. With sparse_params["to_fractal"] (video pipelines, attention_type "nabla") the visual tokens
# are regrouped into 8x8 blocks before the visual blocks; the image pipelines pass sparse_params=None.

_KAND_C = 4
_KAND_TEXT = 24
_KAND_POOLED = 12

KANDINSKY5_FACTS = {
    "pipelines": ("Kandinsky5T2IPipeline", "Kandinsky5I2IPipeline", "Kandinsky5T2VPipeline", "Kandinsky5I2VPipeline"),
    "checkpoints": (
        "kandinskylab/Kandinsky-5.0-T2I-Lite-sft-Diffusers",
        "kandinskylab/Kandinsky-5.0-T2I-Lite-pretrain-Diffusers",
        "kandinskylab/Kandinsky-5.0-I2I-Lite-sft-Diffusers",
        "kandinskylab/Kandinsky-5.0-I2I-Lite-pretrain-Diffusers",
        "kandinskylab/Kandinsky-5.0-T2V-Lite-sft-5s-Diffusers",
        "kandinskylab/Kandinsky-5.0-T2V-Lite-sft-10s-Diffusers",
        "kandinskylab/Kandinsky-5.0-T2V-Lite-pretrain-5s-Diffusers",
        "kandinskylab/Kandinsky-5.0-T2V-Lite-pretrain-10s-Diffusers",
        "kandinskylab/Kandinsky-5.0-T2V-Lite-nocfg-5s-Diffusers",
        "kandinskylab/Kandinsky-5.0-T2V-Lite-nocfg-10s-Diffusers",
        "kandinskylab/Kandinsky-5.0-T2V-Lite-distilled16steps-5s-Diffusers",
        "kandinskylab/Kandinsky-5.0-T2V-Lite-distilled16steps-10s-Diffusers",
        "kandinskylab/Kandinsky-5.0-T2V-Pro-sft-5s-Diffusers",
        "kandinskylab/Kandinsky-5.0-I2V-Pro-sft-5s-Diffusers",
    ),
    "blocks": "num_text_blocks + num_visual_blocks",
    "block_lists": (
        ("text_transformer_blocks", "text only"),
        (
            "visual_transformer_blocks",
            "tensor (image only) [B, N, D] in (T, H/2, W/2) order; reordered into 8x8 groups when "
            "sparse_params['to_fractal'] is set (video pipelines with attention_type 'nabla')",
        ),
    ),
    "text": "none: cross-attention (text_transformer_blocks refine encoder_hidden_states first)",
    "n_from_input": "hidden_states 5-D channels-last (B,T,H,W,C): (T/pt)*(H/ph)*(W/pw), patch_size from "
    "config; grid (H/ph, W/pw); I2I concatenates the reference latents along C, not as tokens",
    "cfg": "calls: cond then uncond (guidance_scale > 1 and a negative prompt)",
    "timestep_kwarg": "timestep",
    "image_input": "hidden_states",
}


def _build_kandinsky5():
    from diffusers import Kandinsky5Transformer3DModel

    return seeded(
        lambda: Kandinsky5Transformer3DModel(
            in_visual_dim=_KAND_C,
            in_text_dim=_KAND_TEXT,
            in_text_dim2=_KAND_POOLED,
            time_dim=16,
            out_visual_dim=_KAND_C,
            patch_size=(1, 2, 2),
            model_dim=WIDTH,
            ff_dim=64,
            num_text_blocks=1,
            num_visual_blocks=2,
            axes_dims=(4, 6, 6),
            attention_type="regular",
        )
    )


def _kandinsky5_inputs(batch: int, seed: int) -> dict:
    g = gen(seed)
    text_len = 7
    return {
        "hidden_states": torch.randn(batch, 1, 8, 12, _KAND_C, generator=g),
        "encoder_hidden_states": torch.randn(batch, text_len, _KAND_TEXT, generator=g),
        "timestep": torch.rand(batch, generator=g) * 1000,
        "pooled_projections": torch.randn(batch, _KAND_POOLED, generator=g),
        "visual_rope_pos": [torch.arange(1), torch.arange(4), torch.arange(6)],
        "text_rope_pos": torch.arange(text_len),
        "scale_factor": [1.0, 1.0, 1.0],
        "sparse_params": None,
        "return_dict": False,
    }


KANDINSKY5_CASES = [
    ZooCase(
        name="kandinsky5",
        class_name="Kandinsky5Transformer3DModel",
        build=_build_kandinsky5,
        inputs=_kandinsky5_inputs,
        num_image_tokens=24,
        width=WIDTH,
        block_paths=("visual_transformer_blocks",),
        hand_image=lambda path, out, inp: out,
        hand_replace=lambda path, out, inp, new: new,
        final_image=lambda model, inp: first_input(model, model.out_layer, inp).flatten(1, 3),
        num_blocks=2,
        note="Channels-last (B, T=1, 8, 12, 4) input: a 4x6 grid of 24 tokens. Sparse (fractal) attention "
        "is kept off, as in the image pipelines, because it would reorder the visual tokens into 8x8 "
        "groups. With return_dict=False the forward returns a bare tensor, not a tuple.",
        facts=KANDINSKY5_FACTS,
    )
]


# ---------------------------------------------------------------------------------------------
# JoyImageEditTransformer3DModel
# ---------------------------------------------------------------------------------------------
# The pipeline passes 6-D (B, items, C, T, H, W) latents, [refs...; target]; the model moves the
# target (last item) first, folds the items into the time axis and patchifies, so the image stream
# of each double block (tuple element 0) is [target; refs].

_JOY_C = 4
_JOY_TEXT = 24

JOYIMAGE_FACTS = {
    "pipelines": ("JoyImageEditPipeline",),
    "checkpoints": ("jdopensource/JoyAI-Image-Edit-Diffusers",),
    "blocks": "num_layers",
    "block_lists": (("double_blocks", "tuple element 0, first N of [target; refs]"),),
    "text": "tuple element 1",
    "n_from_input": "hidden_states 6-D (B, items, C, T, H, W) (or 5-D (B,C,T,H,W)): (T/pt)*(H/ph)*(W/pw) "
    "per item, patch_size list from config; the last item is the target; grid (H/ph, W/pw)",
    "cfg": "calls: cond then uncond (guidance_scale > 1), combination rescaled to the cond norm",
    "timestep_kwarg": "timestep",
    "image_input": "hidden_states",
}


def _build_joyimage():
    from diffusers import JoyImageEditTransformer3DModel

    return seeded(
        lambda: JoyImageEditTransformer3DModel(
            patch_size=[1, 2, 2],
            in_channels=_JOY_C,
            hidden_size=WIDTH,
            num_attention_heads=2,
            text_dim=_JOY_TEXT,
            mlp_width_ratio=2.0,
            num_layers=2,
            rope_dim_list=[4, 6, 6],
        )
    )


def _joyimage_inputs(items: int):
    def inputs(batch: int, seed: int) -> dict:
        g = gen(seed)
        return {
            "hidden_states": torch.randn(batch, items, _JOY_C, 1, 8, 12, generator=g),
            "timestep": torch.rand(batch, generator=g) * 1000,
            "encoder_hidden_states": torch.randn(batch, 7, _JOY_TEXT, generator=g),
            "return_dict": False,
        }

    return inputs


def _joyimage_n(inputs: dict) -> int:
    t, h, w = inputs["hidden_states"].shape[-3:]
    return t * (h // 2) * (w // 2)


def _joyimage_case(name, items, note):
    return ZooCase(
        name=name,
        class_name="JoyImageEditTransformer3DModel",
        build=_build_joyimage,
        inputs=_joyimage_inputs(items),
        num_image_tokens=24,
        width=WIDTH,
        block_paths=("double_blocks",),
        hand_image=lambda path, out, inp: _first(out[0], _joyimage_n(inp)),
        hand_replace=lambda path, out, inp, new: (_put_first(out[0], _joyimage_n(inp), new), out[1]),
        final_image=lambda model, inp: _first(first_input(model, model.norm_out, inp), _joyimage_n(inp)),
        num_blocks=2,
        note=note,
        facts=JOYIMAGE_FACTS,
    )


JOYIMAGE_CASES = [
    _joyimage_case("joyimage", 1, "One item (the target), 4x6 grid: the image stream is the 24 target tokens."),
    _joyimage_case(
        "joyimage_refs",
        2,
        "Items [ref; target]: the model moves the target first, so the stream is [24 target; 24 ref].",
    ),
]


# ---------------------------------------------------------------------------------------------
# JoyImageEditPlusTransformer3DModel
# ---------------------------------------------------------------------------------------------
# Pre-patchified input [B, max_patches, C, pt, ph, pw]: per row the target's patches, then each
# reference's, then zero padding to the batch's longest row. Image stream = tuple element 0.

JOYPLUS_FACTS = {
    "pipelines": ("JoyImageEditPlusPipeline",),
    "checkpoints": ("jdopensource/JoyAI-Image-Edit-Plus-Diffusers",),
    "blocks": "num_layers",
    "block_lists": (("double_blocks", "tuple element 0, first N of per-row [target; refs; pad]"),),
    "text": "tuple element 1",
    "n_from_input": "prod(shape_list[0][0]) (target (t, h, w) in patches, first entry of each row); grid "
    "shape_list[0][0][1:]; hidden_states.shape[1] is the padded total, not N",
    "cfg": "batch [uncond; cond] (one call, shape_list * 2)",
    "timestep_kwarg": "timestep",
    "image_input": "hidden_states",
}


def _build_joyplus():
    from diffusers import JoyImageEditPlusTransformer3DModel

    return seeded(
        lambda: JoyImageEditPlusTransformer3DModel(
            patch_size=[1, 2, 2],
            in_channels=_JOY_C,
            hidden_size=WIDTH,
            num_attention_heads=2,
            text_dim=_JOY_TEXT,
            mlp_width_ratio=2.0,
            num_layers=2,
            rope_dim_list=[4, 6, 6],
        )
    )


def _joyplus_inputs(ref_grids):
    """Target 4x4 patches; row i gets the references ref_grids[i % len] (each (h, w) in patches)."""

    def inputs(batch: int, seed: int) -> dict:
        g = gen(seed)
        shape_list = []
        for i in range(batch):
            refs = ref_grids[i % len(ref_grids)] if ref_grids else ()
            shape_list.append([(1, 4, 4)] + [(1, h, w) for h, w in refs])
        lengths = [sum(math.prod(s) for s in shapes) for shapes in shape_list]
        hidden = torch.zeros(batch, max(lengths), _JOY_C, 1, 2, 2)
        for i, n in enumerate(lengths):
            hidden[i, :n] = torch.randn(n, _JOY_C, 1, 2, 2, generator=g)
        text_len = 7
        mask = torch.ones(batch, text_len, dtype=torch.long)
        for i in range(batch):
            mask[i, text_len - (i % 3):] = 0
        return {
            "hidden_states": hidden,
            "timestep": torch.rand(batch, generator=g) * 1000,
            "encoder_hidden_states": torch.randn(batch, text_len, _JOY_TEXT, generator=g),
            "encoder_hidden_states_mask": mask,
            "shape_list": shape_list,
            "return_dict": False,
        }

    return inputs


def _joyplus_n(inputs: dict) -> int:
    return math.prod(inputs["shape_list"][0][0])


def _joyplus_case(name, ref_grids, note):
    return ZooCase(
        name=name,
        class_name="JoyImageEditPlusTransformer3DModel",
        build=_build_joyplus,
        inputs=_joyplus_inputs(ref_grids),
        num_image_tokens=16,
        width=WIDTH,
        block_paths=("double_blocks",),
        hand_image=lambda path, out, inp: _first(out[0], _joyplus_n(inp)),
        hand_replace=lambda path, out, inp, new: (_put_first(out[0], _joyplus_n(inp), new), out[1]),
        final_image=lambda model, inp: _first(first_input(model, model.norm_out, inp), _joyplus_n(inp)),
        num_blocks=2,
        note=note,
        facts=JOYPLUS_FACTS,
    )


JOYPLUS_CASES = [
    _joyplus_case("joyimage_edit_plus", (), "Target only: 16 patches (4x4), no references, no padding."),
    _joyplus_case(
        "joyimage_edit_plus_refs",
        (((2, 2),), ((2, 3), (2, 2))),
        "Rows with different references: row 0 [16 target; 4 ref; 6 pad], row 1 [16 target; 6 ref; 4 ref].",
    ),
]


CASES: list[ZooCase] = [
    *QWEN21_CASES,
    *ZIMAGE_CASES,
    *IDEOGRAM4_CASES,
    *COSMOS_CASES,
    *KANDINSKY5_CASES,
    *JOYIMAGE_CASES,
    *JOYPLUS_CASES,
]
