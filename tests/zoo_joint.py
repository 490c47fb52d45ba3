"""Tiny random instances of the diffusers image transformers whose blocks run on a joint
text+image sequence laid out in an unusual way: register tokens before the text (AuraFlow),
per-row packing (Lumina 2), sequence-first tensors (ERNIE-Image), image-first streams with
padding (HiDream), an in-sequence LLM (OmniGen), and padded text before the image (Krea 2).

Every case says by hand, from the diffusers sources, where the target image tokens sit in each
block's output.
"""
from __future__ import annotations

import torch
from torch import nn

from zoo_common import ZooCase, first_input, gen, seeded

WIDTH = 32  # 2 heads x 16 channels in every model below


# ---------------------------------------------------------------------------------------------
# Small slicing helpers shared by the cases.
# ---------------------------------------------------------------------------------------------


def _grid_tokens(hidden_states: torch.Tensor, patch_size: int) -> int:
    """N for a 4-D latent (B, C, H, W): (H / p) * (W / p)."""
    h, w = hidden_states.shape[-2:]
    return (h // patch_size) * (w // patch_size)


def _with_element(output: tuple, index: int, new: torch.Tensor) -> tuple:
    """The tuple ``output`` with element ``index`` replaced by ``new``."""
    items = list(output)
    items[index] = new
    return tuple(items)


def _replace_first(output: torch.Tensor, new: torch.Tensor) -> torch.Tensor:
    out = output.clone()
    out[:, : new.shape[1]] = new
    return out


def _replace_last(output: torch.Tensor, new: torch.Tensor) -> torch.Tensor:
    out = output.clone()
    out[:, output.shape[1] - new.shape[1]:] = new
    return out


def _randn(g: torch.Generator, *shape: int) -> torch.Tensor:
    return torch.randn(*shape, generator=g)


# ---------------------------------------------------------------------------------------------
# AuraFlow: MMDiT blocks (text, image) tuples, then single blocks on [8 registers; text; image].
# ---------------------------------------------------------------------------------------------

_AURA_P = 2


def _auraflow_build() -> nn.Module:
    from diffusers import AuraFlowTransformer2DModel

    return AuraFlowTransformer2DModel(
        sample_size=8,
        patch_size=_AURA_P,
        in_channels=4,
        num_mmdit_layers=2,
        num_single_dit_layers=2,
        attention_head_dim=16,
        num_attention_heads=2,
        joint_attention_dim=24,
        caption_projection_dim=WIDTH,
        out_channels=4,
        pos_embed_max_size=64,  # an 8 x 8 table of learned positions, centre-cropped to the grid
    )


def _auraflow_inputs(text_len: int):
    def inputs(batch: int, seed: int) -> dict:
        g = gen(seed)
        t = torch.rand(1, generator=g)
        return {
            "hidden_states": _randn(g, batch, 4, 8, 12),  # 4 x 6 patches
            "encoder_hidden_states": _randn(g, batch, text_len, 24),
            "timestep": t.expand(batch).clone(),  # t / 1000 in the pipeline, one value per row
            "return_dict": False,
        }

    return inputs


def _auraflow_image(path: str, output, inputs: dict) -> torch.Tensor:
    if path == "joint_transformer_blocks":
        return output[1]  # (encoder_hidden_states [8 registers; text], hidden_states)
    n = _grid_tokens(inputs["hidden_states"], _AURA_P)
    return output[:, -n:]  # [8 registers; text; image]


def _auraflow_replace(path: str, output, inputs: dict, new: torch.Tensor):
    if path == "joint_transformer_blocks":
        return _with_element(output, 1, new)
    return _replace_last(output, new)


def _auraflow_final(model: nn.Module, inputs: dict) -> torch.Tensor:
    return first_input(model, model.norm_out, inputs)


_AURA_FACTS = {
    "pipelines": ("AuraFlowPipeline",),
    "checkpoints": ("fal/AuraFlow",),
    "blocks": "num_mmdit_layers + num_single_dit_layers",
    "block_lists": (
        ("joint_transformer_blocks", "tuple element 1"),
        ("single_transformer_blocks", "last N of the joint tensor [8 register tokens; text; image]"),
    ),
    "text": "joint blocks: tuple element 0 ([8 register tokens; text], T + 8 tokens); "
    "single blocks: the rest of the joint tensor (the first 8 + T tokens)",
    "n_from_input": "hidden_states 4-D (B,C,H,W): (H/p)*(W/p), patch_size from config; "
    "grid rows = H/p, cols = W/p",
    "cfg": "batch [uncond; cond]",
    "timestep_kwarg": "timestep",
    "image_input": "hidden_states",
}


def _auraflow_case(name: str, text_len: int, note: str) -> ZooCase:
    return ZooCase(
        name=name,
        class_name="AuraFlowTransformer2DModel",
        build=lambda: seeded(_auraflow_build),
        inputs=_auraflow_inputs(text_len),
        num_image_tokens=24,
        width=WIDTH,
        block_paths=("joint_transformer_blocks", "single_transformer_blocks"),
        hand_image=_auraflow_image,
        hand_replace=_auraflow_replace,
        final_image=_auraflow_final,
        num_blocks=4,
        note=note,
        facts=_AURA_FACTS,
    )


# ---------------------------------------------------------------------------------------------
# Lumina 2: text refiner, image refiner, then layers on per-row [valid text_i; image; pad].
# ---------------------------------------------------------------------------------------------

_LUMINA_P = 2


def _lumina2_build() -> nn.Module:
    from diffusers import Lumina2Transformer2DModel

    return Lumina2Transformer2DModel(
        sample_size=8,
        patch_size=_LUMINA_P,
        in_channels=4,
        hidden_size=WIDTH,
        num_layers=2,
        num_refiner_layers=1,
        num_attention_heads=2,
        num_kv_heads=1,
        multiple_of=16,
        axes_dim_rope=(4, 6, 6),
        axes_lens=(64, 16, 16),
        cap_feat_dim=24,
    )


def _lumina2_inputs(padded_len: int, valid_lens: tuple[int, ...]):
    """Text padded on the right to ``padded_len`` (the pipeline pads to 256), row i having
    ``valid_lens[i % len(valid_lens)]`` real tokens."""

    def inputs(batch: int, seed: int) -> dict:
        g = gen(seed)
        mask = torch.zeros(batch, padded_len, dtype=torch.long)
        for i in range(batch):
            mask[i, : valid_lens[i % len(valid_lens)]] = 1
        t = torch.rand(1, generator=g)
        return {
            "hidden_states": _randn(g, batch, 4, 8, 8),  # 4 x 4 patches
            "timestep": t.expand(batch).clone(),
            "encoder_hidden_states": _randn(g, batch, padded_len, 24),
            "encoder_attention_mask": mask,
            "return_dict": False,
        }

    return inputs


def _lumina2_offsets(inputs: dict) -> list[int]:
    """Where each row's image starts in the joint sequence: after that row's valid text."""
    return [int(v) for v in inputs["encoder_attention_mask"].sum(dim=1)]


def _lumina2_image(path: str, output, inputs: dict) -> torch.Tensor:
    if path == "noise_refiner":
        return output  # image tokens only
    n = _grid_tokens(inputs["hidden_states"], _LUMINA_P)
    return torch.stack([output[i, s: s + n] for i, s in enumerate(_lumina2_offsets(inputs))])


def _lumina2_replace(path: str, output, inputs: dict, new: torch.Tensor):
    if path == "noise_refiner":
        return new
    n = new.shape[1]
    out = output.clone()
    for i, s in enumerate(_lumina2_offsets(inputs)):
        out[i, s: s + n] = new[i]
    return out


def _lumina2_final(model: nn.Module, inputs: dict) -> torch.Tensor:
    # norm_out runs on the whole joint sequence; the model cuts each row's image out afterwards.
    return _lumina2_image("layers", first_input(model, model.norm_out, inputs), inputs)


_LUMINA_FACTS = {
    "pipelines": ("Lumina2Pipeline",),
    "checkpoints": ("Alpha-VLLM/Lumina-Image-2.0",),
    "blocks": "num_refiner_layers + num_layers (plus num_refiner_layers text-only context_refiner blocks)",
    "block_lists": (
        ("context_refiner", "text only"),
        ("noise_refiner", "tensor (image only)"),
        ("layers", "per-row offset: row i starts at encoder_attention_mask[i].sum(), "
                   "[valid text_i; image; pad to the longest row]"),
    ),
    "text": "layers: the first mask[i].sum() tokens of row i (padding text tokens are dropped); "
    "context_refiner output is the padded text alone",
    "n_from_input": "hidden_states 4-D (B,C,H,W): (H/p)*(W/p), patch_size from config; "
    "grid rows = H/p, cols = W/p",
    "cfg": "calls: cond then uncond; late steps drop the uncond call when (i + 1) / steps > cfg_trunc_ratio "
    "(cfg_trunc_ratio < 1)",
    "timestep_kwarg": "timestep",
    "image_input": "hidden_states",
}


def _lumina2_case(name: str, padded_len: int, valid_lens: tuple[int, ...], note: str) -> ZooCase:
    return ZooCase(
        name=name,
        class_name="Lumina2Transformer2DModel",
        build=lambda: seeded(_lumina2_build),
        inputs=_lumina2_inputs(padded_len, valid_lens),
        num_image_tokens=16,
        width=WIDTH,
        block_paths=("noise_refiner", "layers"),
        hand_image=_lumina2_image,
        hand_replace=_lumina2_replace,
        final_image=_lumina2_final,
        num_blocks=3,
        note=note,
        facts=_LUMINA_FACTS,
    )


# ---------------------------------------------------------------------------------------------
# ERNIE-Image: sequence-first [S, B, D] joint tensor, [image; padded text].
# ---------------------------------------------------------------------------------------------


def _ernie_build() -> nn.Module:
    from diffusers import ErnieImageTransformer2DModel

    model = ErnieImageTransformer2DModel(
        hidden_size=WIDTH,
        num_attention_heads=2,
        num_layers=2,
        ffn_hidden_size=64,
        in_channels=8,
        out_channels=8,
        patch_size=1,
        text_in_dim=24,
        rope_axes_dim=(4, 6, 6),
    )
    # The class zero-initialises its shared modulation and its output projection, which would make
    # every block the identity and the output zero; give them ordinary random weights.
    model.adaLN_modulation[-1].reset_parameters()
    model.final_linear.reset_parameters()
    return model


def _ernie_inputs(max_text: int, lens: tuple[int, ...]):
    """Text padded on the right to ``max_text`` (the longest prompt), row i having
    ``lens[i % len(lens)]`` real tokens, as the pipeline's ``_pad_text`` builds it."""

    def inputs(batch: int, seed: int) -> dict:
        g = gen(seed)
        text_lens = torch.tensor([lens[i % len(lens)] for i in range(batch)], dtype=torch.long)
        text = _randn(g, batch, max_text, 24)
        for i in range(batch):
            text[i, int(text_lens[i]):] = 0
        t = torch.rand(1, generator=g) * 1000
        return {
            "hidden_states": _randn(g, batch, 8, 4, 6),  # patch_size 1: 4 x 6 tokens
            "timestep": t.expand(batch).clone(),
            "text_bth": text,
            "text_lens": text_lens,
            "return_dict": False,
        }

    return inputs


def _ernie_image(path: str, output, inputs: dict) -> torch.Tensor:
    n = _grid_tokens(inputs["hidden_states"], 1)
    return output[:n].transpose(0, 1)  # [S, B, D] = [image; text]


def _ernie_replace(path: str, output, inputs: dict, new: torch.Tensor):
    out = output.clone()
    out[: new.shape[1]] = new.transpose(0, 1)
    return out


def _ernie_final(model: nn.Module, inputs: dict) -> torch.Tensor:
    # final_norm runs on the whole [S, B, D] sequence; the model keeps the first N after final_linear.
    return _ernie_image("layers", first_input(model, model.final_norm, inputs), inputs)


_ERNIE_FACTS = {
    "pipelines": ("ErnieImagePipeline", "ErnieImageModularPipeline"),
    "checkpoints": (),
    "blocks": "num_layers",
    "block_lists": (("layers", "sequence-first [S, B, D], first N ([image; text padded to the longest prompt])"),),
    "text": "the rest of the joint tensor along dim 0 (text_bth padded to its longest row; text_lens marks the valid part)",
    "n_from_input": "hidden_states 4-D (B,C,H,W): (H/p)*(W/p), patch_size from config (1 in practice); "
    "grid rows = H/p, cols = W/p",
    "cfg": "batch [uncond; cond] (ErnieImagePipeline); calls: cond then uncond (modular pipeline's CFG guider)",
    "timestep_kwarg": "timestep",
    "image_input": "hidden_states",
}


def _ernie_case(name: str, max_text: int, lens: tuple[int, ...], note: str) -> ZooCase:
    return ZooCase(
        name=name,
        class_name="ErnieImageTransformer2DModel",
        build=lambda: seeded(_ernie_build),
        inputs=_ernie_inputs(max_text, lens),
        num_image_tokens=24,
        width=WIDTH,
        block_paths=("layers",),
        hand_image=_ernie_image,
        hand_replace=_ernie_replace,
        final_image=_ernie_final,
        num_blocks=2,
        note=note,
        facts=_ERNIE_FACTS,
    )


# ---------------------------------------------------------------------------------------------
# HiDream-I1: double blocks (image, text) tuples, single blocks [image; t5; llama; current llama];
# non-square latents pad the image stream to max_seq.
# ---------------------------------------------------------------------------------------------

_HIDREAM_P = 2


def _hidream_build() -> nn.Module:
    from diffusers import HiDreamImageTransformer2DModel

    return HiDreamImageTransformer2DModel(
        patch_size=_HIDREAM_P,
        in_channels=4,
        out_channels=4,
        num_layers=2,
        num_single_layers=2,
        attention_head_dim=16,
        num_attention_heads=2,
        caption_channels=[20, 24],  # [T5 width, Llama width]
        text_emb_dim=12,
        num_routed_experts=2,
        num_activated_experts=1,
        axes_dims_rope=(4, 6, 6),
        max_resolution=(16, 16),  # max_seq = 16 * 16 / 4 = 64 image tokens
        llama_layers=[1, 2, 3, 4],  # one tapped Llama layer per block
    )


def _hidream_inputs(latent_hw: tuple[int, int], t5_len: int, llama_len: int):
    def inputs(batch: int, seed: int) -> dict:
        g = gen(seed)
        t = torch.rand(1, generator=g) * 1000
        return {
            "hidden_states": _randn(g, batch, 4, *latent_hw),
            "timesteps": t.expand(batch).clone(),
            "encoder_hidden_states_t5": _randn(g, batch, t5_len, 20),
            # every Llama hidden state stacked: [num_llama_layers, B, S, D]
            "encoder_hidden_states_llama3": _randn(g, 5, batch, llama_len, 24),
            "pooled_embeds": _randn(g, batch, 12),
            "return_dict": False,
        }

    return inputs


def _hidream_image(path: str, output, inputs: dict) -> torch.Tensor:
    n = _grid_tokens(inputs["hidden_states"], _HIDREAM_P)
    if path == "double_stream_blocks":
        return output[0][:, :n]  # (image padded to max_seq when non-square, text)
    return output[:, :n]  # [image (padded); t5; llama; current llama]


def _hidream_replace(path: str, output, inputs: dict, new: torch.Tensor):
    if path == "double_stream_blocks":
        return _with_element(output, 0, _replace_first(output[0], new))
    return _replace_first(output, new)


def _hidream_final(model: nn.Module, inputs: dict) -> torch.Tensor:
    n = _grid_tokens(inputs["hidden_states"], _HIDREAM_P)
    return first_input(model, model.final_layer, inputs)[:, :n]


_HIDREAM_FACTS = {
    "pipelines": ("HiDreamImagePipeline",),
    "checkpoints": ("HiDream-ai/HiDream-I1-Full",),
    "blocks": "num_layers + num_single_layers",
    "block_lists": (
        ("double_stream_blocks", "tuple element 0, first N (padded to max_seq when the latent is not square)"),
        ("single_stream_blocks", "first N of [image (padded to max_seq when not square); t5; llama_last; "
                                 "current llama layer]"),
    ),
    "text": "double blocks: tuple element 1 ([t5; llama_last; current llama layer]); single blocks: the rest "
    "of the joint tensor",
    "n_from_input": "hidden_states 4-D (B,C,H,W): (H/p)*(W/p), patch_size from config; grid rows = H/p, "
    "cols = W/p; the stream holds max_seq = prod(max_resolution)/p^2 tokens when H != W",
    "cfg": "batch [uncond; cond]",
    "timestep_kwarg": "timesteps",
    "image_input": "hidden_states",
}


def _hidream_case(name: str, latent_hw, t5_len: int, llama_len: int, n: int, note: str) -> ZooCase:
    return ZooCase(
        name=name,
        class_name="HiDreamImageTransformer2DModel",
        build=lambda: seeded(_hidream_build),
        inputs=_hidream_inputs(latent_hw, t5_len, llama_len),
        num_image_tokens=n,
        width=WIDTH,
        block_paths=("double_stream_blocks", "single_stream_blocks"),
        hand_image=_hidream_image,
        hand_replace=_hidream_replace,
        final_image=_hidream_final,
        num_blocks=4,
        note=note,
        facts=_HIDREAM_FACTS,
    )


# ---------------------------------------------------------------------------------------------
# OmniGen: a Phi-3 style decoder over [condition tokens (left-padded); time token; image].
# ---------------------------------------------------------------------------------------------

_OMNIGEN_P = 2
_OMNIGEN_PAD_ID = 0


def _omnigen_build() -> nn.Module:
    from diffusers import OmniGenTransformer2DModel

    head_dim = WIDTH // 2
    return OmniGenTransformer2DModel(
        in_channels=4,
        patch_size=_OMNIGEN_P,
        hidden_size=WIDTH,
        num_attention_heads=2,
        num_key_value_heads=2,
        intermediate_size=64,
        num_layers=2,
        pad_token_id=_OMNIGEN_PAD_ID,
        vocab_size=64,
        rope_scaling={"short_factor": [1.0] * (head_dim // 2), "long_factor": [1.0] * (head_dim // 2)},
        pos_embed_max_size=16,
        time_step_dim=32,
    )


def _omnigen_inputs(lens: tuple[int, ...], with_ref: bool):
    """Prompts of ``lens[i % len(lens)]`` token ids, left-padded to the longest one, with the
    causal-text / bidirectional-image mask and positions of OmniGen's collator. With ``with_ref``
    each row's prompt holds one 2 x 2-token input image, embedded in place of 4 placeholder ids."""
    ref_tokens = 4

    def inputs(batch: int, seed: int) -> dict:
        g = gen(seed)
        latents = _randn(g, batch, 4, 8, 8)  # 4 x 4 patches
        n = _grid_tokens(latents, _OMNIGEN_P)
        row_lens = [lens[i % len(lens)] for i in range(batch)]
        text_len = max(row_lens)
        seq = text_len + 1 + n
        ids = torch.full((batch, text_len), _OMNIGEN_PAD_ID, dtype=torch.long)
        mask = torch.zeros(batch, seq, seq)
        position_ids = torch.zeros(batch, seq, dtype=torch.long)
        image_sizes, ref_latents = {}, []
        for i, valid in enumerate(row_lens):
            pad = text_len - valid
            ids[i, pad:] = torch.randint(1, 64, (valid,), generator=g)
            position_ids[i, pad:] = torch.arange(valid + 1 + n)
            # padding rows see everything, padding columns are hidden from the rest
            mask[i, :pad, :] = 1
            mask[i, pad:, pad: pad + valid + 1] = torch.tril(torch.ones(valid + 1 + n, valid + 1))
            mask[i, pad + valid + 1:, pad:] = 1  # image tokens see all valid tokens
            if with_ref:
                start = pad + 2
                image_sizes[i] = [[start, start + ref_tokens]]
                mask[i, start: start + ref_tokens, start: start + ref_tokens] = 1
                ref_latents.append(_randn(g, 1, 4, 4, 4))  # 2 x 2 patches
        t = torch.rand(1, generator=g)
        return {
            "hidden_states": latents,
            "timestep": t.expand(batch).clone(),
            "input_ids": ids,
            "input_img_latents": ref_latents,
            "input_image_sizes": image_sizes,
            "attention_mask": mask,
            "position_ids": position_ids,
            "return_dict": False,
        }

    return inputs


def _omnigen_image(path: str, output, inputs: dict) -> torch.Tensor:
    n = _grid_tokens(inputs["hidden_states"], _OMNIGEN_P)
    return output[:, -n:]  # [condition tokens; time token; image]


def _omnigen_replace(path: str, output, inputs: dict, new: torch.Tensor):
    return _replace_last(output, new)


def _omnigen_final(model: nn.Module, inputs: dict) -> torch.Tensor:
    # The model's RMSNorm runs on the whole sequence; the image is cut out after it.
    n = _grid_tokens(inputs["hidden_states"], _OMNIGEN_P)
    return first_input(model, model.norm, inputs)[:, -n:]


_OMNIGEN_FACTS = {
    "pipelines": ("OmniGenPipeline",),
    "checkpoints": ("Shitao/OmniGen-v1-diffusers",),
    "blocks": "num_layers",
    "block_lists": (("layers", "last N of the joint tensor [condition tokens (left-padded text with input-image "
                               "embeddings in place of placeholder ids); time token; image]"),),
    "text": "the rest of the joint tensor: left-padded condition tokens (input_ids embedded, input images "
    "spliced in at input_image_sizes), then one time token",
    "n_from_input": "hidden_states 4-D (B,C,H,W): (H/p)*(W/p), patch_size from config; grid rows = H/p, "
    "cols = W/p (input images never enter hidden_states)",
    "cfg": "batch [cond; uncond], or [cond; uncond; image-cond] (3-way) when input images are given",
    "timestep_kwarg": "timestep",
    "image_input": "hidden_states",
}


def _omnigen_case(name: str, lens: tuple[int, ...], with_ref: bool, note: str) -> ZooCase:
    return ZooCase(
        name=name,
        class_name="OmniGenTransformer2DModel",
        build=lambda: seeded(_omnigen_build),
        inputs=_omnigen_inputs(lens, with_ref),
        num_image_tokens=16,
        width=WIDTH,
        block_paths=("layers",),
        hand_image=_omnigen_image,
        hand_replace=_omnigen_replace,
        final_image=_omnigen_final,
        num_blocks=2,
        note=note,
        facts=_OMNIGEN_FACTS,
    )


# ---------------------------------------------------------------------------------------------
# Krea 2: text fusion (text only), then single-stream blocks on [padded text; image].
# ---------------------------------------------------------------------------------------------

_KREA_GRID = (4, 6)


def _krea2_build() -> nn.Module:
    from diffusers import Krea2Transformer2DModel

    return Krea2Transformer2DModel(
        in_channels=16,
        num_layers=2,
        attention_head_dim=16,
        num_attention_heads=2,
        num_key_value_heads=1,
        intermediate_size=64,
        timestep_embed_dim=32,
        text_hidden_dim=24,
        num_text_layers=3,
        text_num_attention_heads=2,
        text_num_key_value_heads=2,
        text_intermediate_size=48,
        num_layerwise_text_blocks=1,
        num_refiner_text_blocks=1,
        axes_dims_rope=(4, 6, 6),
    )


def _krea2_inputs(text_len: int, prompt_lens: tuple[int, ...]):
    """Fixed-length text as the pipeline's template builds it: 2 prefix tokens, the prompt,
    padding, then 2 suffix tokens (the padding sits in the middle)."""

    def inputs(batch: int, seed: int) -> dict:
        g = gen(seed)
        rows, cols = _KREA_GRID
        n = rows * cols
        mask = torch.zeros(batch, text_len, dtype=torch.bool)
        for i in range(batch):
            mask[i, : 2 + prompt_lens[i % len(prompt_lens)]] = True
            mask[i, -2:] = True
        image_ids = torch.zeros(rows, cols, 3)
        image_ids[..., 1] = torch.arange(rows)[:, None]
        image_ids[..., 2] = torch.arange(cols)[None, :]
        position_ids = torch.cat([torch.zeros(text_len, 3), image_ids.reshape(n, 3)])
        t = torch.rand(1, generator=g)
        return {
            "hidden_states": _randn(g, batch, n, 16),  # packed, patchified latents
            "encoder_hidden_states": _randn(g, batch, text_len, 3, 24),  # [B, T, tapped layers, D]
            "timestep": t.expand(batch).clone(),
            "position_ids": position_ids,
            "encoder_attention_mask": mask,
            "return_dict": False,
        }

    return inputs


def _krea2_image(path: str, output, inputs: dict) -> torch.Tensor:
    n = inputs["hidden_states"].shape[1]
    return output[:, -n:]  # [text (fixed length, masked padding); image]


def _krea2_replace(path: str, output, inputs: dict, new: torch.Tensor):
    return _replace_last(output, new)


def _krea2_final(model: nn.Module, inputs: dict) -> torch.Tensor:
    return first_input(model, model.final_layer, inputs)


_KREA_FACTS = {
    "pipelines": ("Krea2Pipeline", "Krea2ModularPipeline", "Krea2TurboModularPipeline"),
    "checkpoints": (),
    "blocks": "num_layers (plus num_layerwise_text_blocks + num_refiner_text_blocks text-only blocks)",
    "block_lists": (
        ("text_fusion.layerwise_blocks", "text only (attends across the tapped-layer axis of each token)"),
        ("text_fusion.refiner_blocks", "text only"),
        ("transformer_blocks", "last N of the joint tensor [text (fixed length, padding masked); image]"),
    ),
    "text": "the rest of the joint tensor: the first encoder_hidden_states.shape[1] tokens",
    "n_from_input": "packed hidden_states (B,N,C): shape[1]; the grid only in position_ids[-N:, 1:] "
    "(rows = max(h) + 1, cols = max(w) + 1)",
    "cfg": "calls: cond then uncond (guidance_scale > 0); turbo / is_distilled checkpoints: one call",
    "timestep_kwarg": "timestep",
    "image_input": "hidden_states",
}


def _krea2_case(name: str, text_len: int, prompt_lens: tuple[int, ...], note: str) -> ZooCase:
    return ZooCase(
        name=name,
        class_name="Krea2Transformer2DModel",
        build=lambda: seeded(_krea2_build),
        inputs=_krea2_inputs(text_len, prompt_lens),
        num_image_tokens=_KREA_GRID[0] * _KREA_GRID[1],
        width=WIDTH,
        block_paths=("transformer_blocks",),
        hand_image=_krea2_image,
        hand_replace=_krea2_replace,
        final_image=_krea2_final,
        num_blocks=2,
        note=note,
        facts=_KREA_FACTS,
    )


# ---------------------------------------------------------------------------------------------

CASES: list[ZooCase] = [
    _auraflow_case("auraflow", 5, "4 x 6 grid, 5 text tokens: the blocks see 8 register tokens before the text"),
    _auraflow_case(
        "auraflow_equal_tokens", 16,
        "16 text tokens + 8 registers = 24 = N: both tuple elements of the joint blocks have N tokens",
    ),
    _lumina2_case("lumina2", 8, (6,), "text padded to 8 with 6 valid tokens in every row: image at offset 6"),
    _lumina2_case(
        "lumina2_rows", 8, (5, 2),
        "rows with 5 and 2 valid text tokens: the image starts at a different offset in each row, "
        "and the shorter row ends with padding",
    ),
    _lumina2_case(
        "lumina2_equal_tokens", 16, (16,), "16 valid text tokens = N: [text; image] halves of equal length",
    ),
    _ernie_case(
        "ernie_image", 5, (3, 5),
        "[S, B, D] with the image first; text padded to 5, rows with 3 and 5 valid tokens ([uncond; cond])",
    ),
    _ernie_case("ernie_image_equal_tokens", 24, (24,), "24 text tokens = N, sequence-first"),
    _hidream_case("hidream", (8, 8), 6, 3, 16, "square 4 x 4 grid: the image stream holds exactly N tokens"),
    _hidream_case(
        "hidream_pad", (8, 12), 6, 3, 24,
        "non-square 4 x 6 grid: the image stream is padded to max_seq = 64 tokens, N = 24 come first",
    ),
    _hidream_case(
        "hidream_equal_tokens", (8, 8), 8, 4, 16,
        "t5 (8) + last llama (4) + current llama (4) = 16 = N: both double-block tuple elements have N tokens",
    ),
    _omnigen_case(
        "omnigen", (7, 4), False,
        "prompts of 7 and 4 ids left-padded ([cond; uncond]), then the time token, then 16 image tokens",
    ),
    _omnigen_case(
        "omnigen_refs", (9, 9), True,
        "an input image (4 tokens) inside each prompt: reference tokens sit in the condition part, "
        "not in hidden_states",
    ),
    _omnigen_case("omnigen_equal_tokens", (16,), False, "16 condition tokens = N, then the time token"),
    _krea2_case(
        "krea2", 10, (4, 2),
        "fixed-length text of 10 with padding in the middle of the template, then a packed 4 x 6 grid",
    ),
    _krea2_case("krea2_equal_tokens", 24, (18, 12), "24 text tokens = N"),
]
