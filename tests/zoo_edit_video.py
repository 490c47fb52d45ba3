"""Tiny random instances of image-editing transformers that run the edit as a short video.

ChronoEdit (a Wan-2.1 image-to-video transformer) edits one image by denoising a few latent
frames ``[input image frame; (reasoning frames;) edited frame]`` in 5-D latents
``(B, C, T, H, W)``; the edited image is the last latent frame. The blocks carry the video
tokens of all frames in one ``(B, T*h*w, D)`` tensor, frame-major, and the text (plus the CLIP
image embedding) enters only by cross-attention. The target image tokens are therefore the
last ``h*w`` tokens of every block's output.

Everything below is read from the diffusers sources of the model's ``forward`` and of the
pipeline that calls it; nothing is taken from massact's adapter table.
"""
from __future__ import annotations

import torch

from zoo_common import ZooCase, first_input, gen, seeded

# 2 heads x 12 channels: with a head size that is a multiple of 6, the rotary table the model
# builds (t, h, w = d - 4*(d//6), 2*(d//6), 2*(d//6)) and the split its forward applies
# (d - 2*(d//3), d//3, d//3) agree, as they do for the real head size 128.
HEADS = 2
HEAD_DIM = 12
WIDTH = HEADS * HEAD_DIM  # 24


# ---------------------------------------------------------------------------------------------
# ChronoEditTransformer3DModel
# ---------------------------------------------------------------------------------------------
# ChronoEditPipeline (diffusers/pipelines/chronoedit/pipeline_chronoedit.py):
# - num_frames is forced to 5 unless enable_temporal_reasoning, so T = (5 - 1) // 4 + 1 = 2 latent
#   frames: [input image frame; edited frame]. With temporal reasoning, T = (num_frames - 1) // 4 + 1
#   (reasoning frames in between) until step num_temporal_reasoning_steps, after which the latents
#   are cut to frames [0, -1] (T = 2 again). The edited image is always the last latent frame.
# - hidden_states = cat([latents (z), condition], dim=1), condition = [mask (4 channels:
#   vae_scale_factor_temporal; ones on frame 0, zeros after); VAE latents of [image; zero frames]],
#   so in_channels = 2*z + 4 (36 for the 14B checkpoint, z = 16).
# - encoder_hidden_states: UMT5 embeddings zero-padded to max_sequence_length = 512 tokens (the
#   attention processor hard-codes 512 to split the CLIP tokens off the front of the context).
# - encoder_hidden_states_image: CLIP penultimate hidden states of the input image, repeated over
#   the batch (the same for the cond and the uncond call).
# - timestep: t.expand(batch); CFG: a cond call then an uncond call (negative prompt) when
#   guidance_scale > 1.
#
# The model: patch_embedding (Conv3d, patch (1, 2, 2)) -> flatten(2).transpose(1, 2), i.e. tokens in
# (T', H', W') row-major order (frame-major); every WanTransformerBlock maps (B, S, D) -> (B, S, D)
# over the video tokens only (self-attention with 3-D RoPE, cross-attention to
# [CLIP image tokens; text], FFN); then norm_out / proj_out / unpatchify over all S tokens.

_Z = 4  # latent channels (VAE z_dim)
_MASK_C = 4  # vae_scale_factor_temporal mask channels
_TEXT_DIM = 16
_TEXT_LEN = 512  # fixed by the attention processor when CLIP tokens are present
_CLIP_DIM = 8
_CLIP_TOKENS = 5  # 257 for the real CLIP ViT-H/14
_LAT_H, _LAT_W = 8, 12  # latent grid -> 4 x 6 tokens per frame
_PATCH = (1, 2, 2)
_N = (_LAT_H // _PATCH[1]) * (_LAT_W // _PATCH[2])  # 24 tokens per frame

CHRONOEDIT_FACTS = {
    "pipelines": ("ChronoEditPipeline",),
    "checkpoints": ("nvidia/ChronoEdit-14B-Diffusers",),
    "blocks": "num_layers",
    "block_lists": (
        (
            "blocks",
            "tensor (B, T'*h*w, D) of video tokens only, frame-major (Conv3d patch embedding, "
            "flatten(2).transpose(1, 2): token index t*h*w + y*w + x); the target (edited) image "
            "is the last latent frame = the last N tokens; frame 0 (first N) is the input image's "
            "frame, frames in between are temporal-reasoning frames",
        ),
    ),
    "text": "none: cross-attention (attn2) to the context [CLIP image tokens; text]: "
    "encoder_hidden_states (UMT5, padded to 512) through text_embedder, and "
    "encoder_hidden_states_image (CLIP penultimate hidden states, 257 tokens) through "
    "image_embedder, concatenated IN FRONT of the text along the sequence; attn2 splits the first "
    "len-512 tokens off again and attends to them with add_k_proj/add_v_proj, adding the result "
    "to the text attention. No text or CLIP tokens ever enter a block's output",
    "n_from_input": "hidden_states 5-D (B,C,T,H,W): N = (H/ph)*(W/pw) for the last frame (the "
    "stream holds (T/pt)*(H/ph)*(W/pw)), patch_size (1,2,2) from config; grid (H/ph, W/pw)",
    "cfg": "calls: cond then uncond (negative prompt, same image embeddings), when "
    "guidance_scale > 1; one call otherwise (e.g. the 8-step distilled LoRA). With "
    "enable_temporal_reasoning the stream has T = (num_frames-1)//4+1 frames until step "
    "num_temporal_reasoning_steps, then frames [0, -1] only (T = 2)",
    "timestep_kwarg": "timestep",
    "image_input": "hidden_states",
}


def _build_chronoedit():
    from diffusers import ChronoEditTransformer3DModel

    # The I2V configuration of the 14B checkpoint: CLIP image embeddings (image_dim) with their
    # own key/value projections in every cross-attention (added_kv_proj_dim = the model width).
    return seeded(
        lambda: ChronoEditTransformer3DModel(
            patch_size=_PATCH,
            num_attention_heads=HEADS,
            attention_head_dim=HEAD_DIM,
            in_channels=2 * _Z + _MASK_C,
            out_channels=_Z,
            text_dim=_TEXT_DIM,
            freq_dim=16,
            ffn_dim=48,
            num_layers=2,
            cross_attn_norm=True,
            image_dim=_CLIP_DIM,
            added_kv_proj_dim=WIDTH,
            rope_max_seq_len=32,
            rope_temporal_skip_len=8,
        )
    )


def _chronoedit_inputs(frames: int):
    """Forward kwargs as ChronoEditPipeline passes them, for ``frames`` latent frames."""

    def inputs(batch: int, seed: int) -> dict:
        g = gen(seed)
        latents = torch.randn(batch, _Z, frames, _LAT_H, _LAT_W, generator=g)
        # Condition: the same input image for every row (the pipeline repeats its VAE latents).
        mask = torch.zeros(1, _MASK_C, frames, _LAT_H, _LAT_W)
        mask[:, :, 0] = 1.0
        image_latents = torch.randn(1, _Z, frames, _LAT_H, _LAT_W, generator=g)
        condition = torch.cat([mask, image_latents], dim=1).expand(batch, -1, -1, -1, -1)
        # UMT5 embeddings: a few valid tokens per prompt, zero-padded to 512.
        text = torch.zeros(batch, _TEXT_LEN, _TEXT_DIM)
        for i in range(batch):
            valid = 6 - 2 * (i % 2)
            text[i, :valid] = torch.randn(valid, _TEXT_DIM, generator=g)
        clip = torch.randn(1, _CLIP_TOKENS, _CLIP_DIM, generator=g).repeat(batch, 1, 1)
        t = 1000 * torch.rand(1, generator=g)
        return {
            "hidden_states": torch.cat([latents, condition], dim=1),
            "timestep": t.expand(batch).clone(),
            "encoder_hidden_states": text,
            "encoder_hidden_states_image": clip,
            "return_dict": False,
        }

    return inputs


def _target_count(inputs: dict) -> int:
    """Tokens of one latent frame: (H/ph)*(W/pw) of the 5-D hidden_states."""
    h, w = inputs["hidden_states"].shape[-2:]
    return (h // _PATCH[1]) * (w // _PATCH[2])


def _chronoedit_image(path, out, inputs):
    """The last latent frame's tokens: the last N of the frame-major (B, T*h*w, D) tensor."""
    n = _target_count(inputs)
    return out[:, out.shape[1] - n:]


def _chronoedit_replace(path, out, inputs, new):
    n = _target_count(inputs)
    return torch.cat([out[:, : out.shape[1] - n], new.to(out.dtype)], dim=1)


def _chronoedit_final(model, inputs):
    """norm_out receives every video token; the edited frame is its last N."""
    x = first_input(model, model.norm_out, inputs)
    return x[:, x.shape[1] - _target_count(inputs):]


def _chronoedit_case(name: str, frames: int, note: str) -> ZooCase:
    return ZooCase(
        name=name,
        class_name="ChronoEditTransformer3DModel",
        build=_build_chronoedit,
        inputs=_chronoedit_inputs(frames),
        num_image_tokens=_N,
        width=WIDTH,
        block_paths=("blocks",),
        hand_image=_chronoedit_image,
        hand_replace=_chronoedit_replace,
        final_image=_chronoedit_final,
        num_blocks=2,
        note=note,
        facts=CHRONOEDIT_FACTS,
    )


CHRONOEDIT_CASES = [
    _chronoedit_case(
        "chronoedit",
        2,
        "The pipeline's default edit: 5-D input (B, 2*4+4, T=2, 8, 12), i.e. [input image frame; "
        "edited frame], 4x6 tokens each, so every block returns (B, 48, 24) and the target is the "
        "last 24 tokens; the first 24 belong to the input image's frame (a reference frame inside "
        "the stream). With T=2 the RoPE puts the two frames at temporal positions 0 and "
        "rope_temporal_skip_len-1. Text is 512 tokens (a few valid, zero-padded), CLIP image "
        "tokens are cross-attention context only.",
    ),
    _chronoedit_case(
        "chronoedit_temporal",
        3,
        "Temporal reasoning (enable_temporal_reasoning, early steps): num_frames=9 gives T=3 latent "
        "frames [input; reasoning; edited], so every block returns (B, 72, 24) and the target is "
        "still the last 24 tokens (the middle reasoning frame is not part of the edited image).",
    ),
]


CASES: list[ZooCase] = [*CHRONOEDIT_CASES]
