"""One builder per family: a complete diffusers pipeline with tiny random weights.

Each ``build_<family>(seed)`` returns the pipeline class a real checkpoint of that family
loads into, with every component a real checkpoint has (transformer, VAE, text
encoder(s), tokenizer(s), scheduler), all built from configs on this machine: no
download. The geometry follows the real models (latent channels, VAE downsampling 8x or
SANA's 32x, latent scaling and shift factors, patch sizes, text-encoder kinds and the
layers the pipeline reads, prompt templates) while every width is tiny, so a pipeline
makes a 64x64 image in two steps in well under a second on one CPU core.

These are plumbing fixtures: their weights are random, so their images are noise and
their activations say nothing about the real models.

Checked against diffusers 0.42.1 and transformers 5.x.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

import torch

from . import tokenizers as tok

#: transformer width of every tiny pipeline: 3 heads x 16 channels
HEADS, HEAD_DIM = 3, 16
WIDTH = HEADS * HEAD_DIM


def _seed(seed: int, offset: int) -> None:
    # every component from its own seed, so adding a component does not change the others
    torch.manual_seed(seed * 1000 + offset)


def _eval(*modules):
    for m in modules:
        m.eval().requires_grad_(False)


# -- text encoders -----------------------------------------------------------------------
def _clip_text(hidden: int, projection: int | None, vocab_size: int, seed: int, offset: int):
    """A CLIP text encoder (with a projection head when ``projection`` is given)."""
    from transformers import CLIPTextConfig, CLIPTextModel, CLIPTextModelWithProjection

    config = CLIPTextConfig(vocab_size=vocab_size, hidden_size=hidden, intermediate_size=2 * hidden,
                            num_hidden_layers=2, num_attention_heads=2, max_position_embeddings=77,
                            projection_dim=projection or hidden, hidden_act="quick_gelu",
                            bos_token_id=0, eos_token_id=1, pad_token_id=1)
    _seed(seed, offset)
    return (CLIPTextModelWithProjection if projection else CLIPTextModel)(config)


def _t5_encoder(d_model: int, vocab_size: int, seed: int, offset: int):
    """A T5 v1.1-style encoder (gated GELU feed-forward, relative position buckets)."""
    from transformers import T5Config, T5EncoderModel

    config = T5Config(vocab_size=vocab_size, d_model=d_model, d_kv=8, d_ff=2 * d_model, num_layers=2,
                      num_heads=d_model // 8, relative_attention_num_buckets=8,
                      relative_attention_max_distance=32, feed_forward_proj="gated-gelu",
                      is_encoder_decoder=False, use_cache=False, tie_word_embeddings=False)
    _seed(seed, offset)
    return T5EncoderModel(config)


def _vocab_size(tokenizer) -> int:
    # embedding rows for every token id, rounded up like real checkpoints pad their tables
    return -(-len(tokenizer) // 64) * 64


# -- VAEs -----------------------------------------------------------------------------------
def _autoencoder_kl(latent_channels: int, scaling: float, shift: float | None, quant_conv: bool,
                    seed: int, offset: int):
    """An ``AutoencoderKL`` with four stages (8x downsampling) of tiny widths."""
    from diffusers import AutoencoderKL

    _seed(seed, offset)
    return AutoencoderKL(in_channels=3, out_channels=3, down_block_types=("DownEncoderBlock2D",) * 4,
                         up_block_types=("UpDecoderBlock2D",) * 4, block_out_channels=(8, 8, 16, 16),
                         layers_per_block=1, latent_channels=latent_channels, norm_num_groups=4,
                         sample_size=64, scaling_factor=scaling, shift_factor=shift,
                         use_quant_conv=quant_conv, use_post_quant_conv=quant_conv)


# -- the families ---------------------------------------------------------------------------
def build_flux(seed: int = 0, guidance_embeds: bool = False):
    """FLUX.1: ``FluxPipeline`` (schnell-like; ``guidance_embeds=True`` for dev-like).

    FluxTransformer2DModel (2 double- + 2 single-stream blocks) on 2x2-packed latents of a
    16-channel 8x VAE (FLUX.1's scaling 0.3611, shift 0.1159), CLIP-L-like pooled text and
    T5-like token text.
    """
    from diffusers import FlowMatchEulerDiscreteScheduler, FluxPipeline, FluxTransformer2DModel

    tokenizer, tokenizer_2 = tok.clip_tokenizer(), tok.t5_tokenizer()
    text_encoder = _clip_text(32, None, _vocab_size(tokenizer), seed, 1)
    text_encoder_2 = _t5_encoder(64, _vocab_size(tokenizer_2), seed, 2)
    vae = _autoencoder_kl(16, 0.3611, 0.1159, False, seed, 3)
    _seed(seed, 4)
    transformer = FluxTransformer2DModel(
        patch_size=1, in_channels=16 * 4, num_layers=2, num_single_layers=2, attention_head_dim=HEAD_DIM,
        num_attention_heads=HEADS, joint_attention_dim=64, pooled_projection_dim=32,
        guidance_embeds=guidance_embeds, axes_dims_rope=(4, 6, 6))
    # FLUX.1's shifted schedule (schnell: fixed shift 1; dev: resolution-dependent shift)
    scheduler = (FlowMatchEulerDiscreteScheduler(shift=3.0, use_dynamic_shifting=True, base_shift=0.5,
                                                 max_shift=1.15, base_image_seq_len=256, max_image_seq_len=4096)
                 if guidance_embeds else FlowMatchEulerDiscreteScheduler(shift=1.0))
    _eval(text_encoder, text_encoder_2, vae, transformer)
    return FluxPipeline(scheduler=scheduler, vae=vae, text_encoder=text_encoder, tokenizer=tokenizer,
                        text_encoder_2=text_encoder_2, tokenizer_2=tokenizer_2, transformer=transformer)


def build_flux_dev(seed: int = 0):
    """FLUX.1-dev-like: ``build_flux`` with guidance embeddings (guidance enters as an input)."""
    return build_flux(seed, guidance_embeds=True)


def build_flux2(seed: int = 0):
    """FLUX.2-klein: ``Flux2KleinPipeline``.

    Flux2Transformer2DModel (2 double- + 2 single-stream blocks) on 2x2-patchified latents
    of a 32-channel 8x ``AutoencoderKLFlux2``; the text is a Qwen3 causal LM's hidden states
    of layers 9, 18 and 27 (the pipeline's default), stacked, so the tiny Qwen3 has 27 layers
    of width 16. Step-distilled like FLUX.2-klein-4B (``is_distilled=True``).
    """
    from diffusers import (AutoencoderKLFlux2, FlowMatchEulerDiscreteScheduler, Flux2KleinPipeline,
                           Flux2Transformer2DModel)
    from transformers import Qwen3Config, Qwen3ForCausalLM

    tokenizer = tok.qwen2_tokenizer(chat_template=tok.QWEN3_CHAT_TEMPLATE)
    config = Qwen3Config(vocab_size=_vocab_size(tokenizer), hidden_size=16, intermediate_size=32,
                         num_hidden_layers=27, num_attention_heads=2, num_key_value_heads=1, head_dim=8,
                         max_position_embeddings=1024, tie_word_embeddings=True,
                         bos_token_id=None, eos_token_id=tokenizer.eos_token_id,
                         pad_token_id=tokenizer.pad_token_id)
    _seed(seed, 1)
    text_encoder = Qwen3ForCausalLM(config)
    _seed(seed, 3)
    vae = AutoencoderKLFlux2(in_channels=3, out_channels=3, block_out_channels=(8, 8, 16, 16), layers_per_block=1,
                             latent_channels=32, norm_num_groups=4, sample_size=64)
    _seed(seed, 4)
    transformer = Flux2Transformer2DModel(
        patch_size=1, in_channels=32 * 4, num_layers=2, num_single_layers=2, attention_head_dim=HEAD_DIM,
        num_attention_heads=HEADS, joint_attention_dim=3 * 16, timestep_guidance_channels=32,
        axes_dims_rope=(4, 4, 4, 4), guidance_embeds=False)
    scheduler = FlowMatchEulerDiscreteScheduler(shift=3.0, use_dynamic_shifting=True)
    _eval(text_encoder, vae, transformer)
    return Flux2KleinPipeline(scheduler=scheduler, vae=vae, text_encoder=text_encoder, tokenizer=tokenizer,
                              transformer=transformer, is_distilled=True)


def build_sd3(seed: int = 0):
    """Stable Diffusion 3: ``StableDiffusion3Pipeline``.

    SD3Transformer2DModel (3 joint blocks, 2x2 patches) on a 16-channel 8x VAE (SD3's
    scaling 1.5305, shift 0.0609); two CLIP encoders with projections (CLIP-L-like and
    CLIP-G-like: their penultimate hidden states side by side, their projections the pooled
    text) and a T5 encoder, as SD3 has.
    """
    from diffusers import FlowMatchEulerDiscreteScheduler, SD3Transformer2DModel, StableDiffusion3Pipeline

    tokenizer, tokenizer_2, tokenizer_3 = tok.clip_tokenizer(), tok.clip_tokenizer(), tok.t5_tokenizer(256)
    text_encoder = _clip_text(16, 16, _vocab_size(tokenizer), seed, 1)
    text_encoder_2 = _clip_text(32, 32, _vocab_size(tokenizer_2), seed, 2)
    text_encoder_3 = _t5_encoder(64, _vocab_size(tokenizer_3), seed, 5)
    vae = _autoencoder_kl(16, 1.5305, 0.0609, False, seed, 3)
    _seed(seed, 4)
    transformer = SD3Transformer2DModel(
        sample_size=8, patch_size=2, in_channels=16, out_channels=16, num_layers=3, attention_head_dim=HEAD_DIM,
        num_attention_heads=HEADS, joint_attention_dim=64, caption_projection_dim=WIDTH,
        pooled_projection_dim=16 + 32, pos_embed_max_size=32)
    scheduler = FlowMatchEulerDiscreteScheduler(shift=3.0)
    _eval(text_encoder, text_encoder_2, text_encoder_3, vae, transformer)
    return StableDiffusion3Pipeline(scheduler=scheduler, vae=vae, text_encoder=text_encoder, tokenizer=tokenizer,
                                    text_encoder_2=text_encoder_2, tokenizer_2=tokenizer_2,
                                    text_encoder_3=text_encoder_3, tokenizer_3=tokenizer_3,
                                    transformer=transformer)


def build_sana(seed: int = 0):
    """SANA: ``SanaPipeline``.

    SanaTransformer2DModel (2 linear-attention blocks, patch 1) on a 32-channel 32x DC-AE
    (``AutoencoderDC``, six stages, scaling 0.41407); the text is a Gemma-2 model's last
    hidden states. ``sample_size`` 16 like SANA-512px, so the pipeline's resolution binning
    uses its 512 px table.
    """
    from diffusers import AutoencoderDC, FlowMatchEulerDiscreteScheduler, SanaPipeline, SanaTransformer2DModel
    from transformers import Gemma2Config, Gemma2Model

    tokenizer = tok.gemma_tokenizer()
    config = Gemma2Config(vocab_size=_vocab_size(tokenizer), hidden_size=32, intermediate_size=64,
                          num_hidden_layers=2, num_attention_heads=2, num_key_value_heads=1, head_dim=16,
                          max_position_embeddings=2048, sliding_window=512, attn_implementation="eager",
                          pad_token_id=tokenizer.pad_token_id, bos_token_id=tokenizer.bos_token_id,
                          eos_token_id=tokenizer.eos_token_id)
    _seed(seed, 1)
    text_encoder = Gemma2Model(config)
    _seed(seed, 3)
    vae = AutoencoderDC(
        in_channels=3, latent_channels=32, attention_head_dim=4,
        encoder_block_types=("ResBlock",) * 3 + ("EfficientViTBlock",) * 3,
        decoder_block_types=("ResBlock",) * 3 + ("EfficientViTBlock",) * 3,
        # the last stage as wide as the latent: the in/out shortcuts repeat or average channels
        encoder_block_out_channels=(8, 8, 16, 16, 32, 32), decoder_block_out_channels=(8, 8, 16, 16, 32, 32),
        encoder_layers_per_block=(1,) * 6, decoder_layers_per_block=(1,) * 6,
        encoder_qkv_multiscales=((), (), (), (5,), (5,), (5,)), decoder_qkv_multiscales=((), (), (), (5,), (5,), (5,)),
        upsample_block_type="interpolate", downsample_block_type="pixel_unshuffle",
        decoder_norm_types="rms_norm", decoder_act_fns="silu", scaling_factor=0.41407)
    _seed(seed, 4)
    transformer = SanaTransformer2DModel(
        in_channels=32, out_channels=32, num_attention_heads=HEADS, attention_head_dim=HEAD_DIM, num_layers=2,
        num_cross_attention_heads=HEADS, cross_attention_head_dim=HEAD_DIM, cross_attention_dim=WIDTH,
        caption_channels=32, mlp_ratio=2.5, sample_size=16, patch_size=1)
    scheduler = FlowMatchEulerDiscreteScheduler(shift=3.0)
    _eval(text_encoder, vae, transformer)
    return SanaPipeline(tokenizer=tokenizer, text_encoder=text_encoder, vae=vae, transformer=transformer,
                        scheduler=scheduler)


def build_pixart(seed: int = 0):
    """PixArt-Sigma: ``PixArtSigmaPipeline``.

    PixArtTransformer2DModel (2 blocks, 2x2 patches, adaLN-single, learned sigma: 8 output
    channels) on a 4-channel 8x VAE (SDXL's scaling 0.13025); T5 text by cross-attention.
    ``sample_size`` 32 like PixArt-Sigma-256, so resolution binning uses its 256 px table.
    """
    from diffusers import DPMSolverMultistepScheduler, PixArtSigmaPipeline, PixArtTransformer2DModel

    tokenizer = tok.t5_tokenizer(300)
    text_encoder = _t5_encoder(64, _vocab_size(tokenizer), seed, 1)
    vae = _autoencoder_kl(4, 0.13025, None, True, seed, 3)
    _seed(seed, 4)
    transformer = PixArtTransformer2DModel(
        num_attention_heads=HEADS, attention_head_dim=HEAD_DIM, in_channels=4, out_channels=8, num_layers=2,
        cross_attention_dim=WIDTH, caption_channels=64, sample_size=32, patch_size=2, attention_bias=True,
        activation_fn="gelu-approximate", num_embeds_ada_norm=1000, norm_type="ada_norm_single",
        norm_elementwise_affine=False, norm_eps=1e-6, use_additional_conditions=False)
    scheduler = DPMSolverMultistepScheduler()
    _eval(text_encoder, vae, transformer)
    return PixArtSigmaPipeline(tokenizer=tokenizer, text_encoder=text_encoder, vae=vae, transformer=transformer,
                               scheduler=scheduler)


def build_qwen_image(seed: int = 0):
    """Qwen-Image: ``QwenImagePipeline``.

    QwenImageTransformer2DModel (2 dual-stream blocks) on 2x2-packed latents of the
    16-channel 8x ``AutoencoderKLQwenImage`` (Qwen-Image's latent means and deviations);
    the text is a Qwen2.5-VL model's last hidden states after the pipeline's 34-token
    system prompt (the tiny tokenizer splits that prompt into 34 tokens, as Qwen's does).
    """
    from diffusers import (AutoencoderKLQwenImage, FlowMatchEulerDiscreteScheduler, QwenImagePipeline,
                           QwenImageTransformer2DModel)
    from transformers import Qwen2_5_VLConfig, Qwen2_5_VLForConditionalGeneration

    tokenizer = tok.qwen2_tokenizer()
    ids = tokenizer.convert_tokens_to_ids
    config = Qwen2_5_VLConfig(
        text_config=dict(vocab_size=_vocab_size(tokenizer), hidden_size=32, intermediate_size=64,
                         num_hidden_layers=2, num_attention_heads=2, num_key_value_heads=1,
                         max_position_embeddings=2048, bos_token_id=None,
                         eos_token_id=tokenizer.eos_token_id, pad_token_id=tokenizer.pad_token_id,
                         rope_parameters={"rope_type": "default", "rope_theta": 1000000.0,
                                          "mrope_section": [2, 3, 3]}),
        vision_config=dict(depth=1, hidden_size=16, intermediate_size=32, num_heads=2, out_hidden_size=32,
                           fullatt_block_indexes=[0]),
        image_token_id=ids("<|image_pad|>"), video_token_id=ids("<|video_pad|>"),
        vision_start_token_id=ids("<|vision_start|>"), vision_end_token_id=ids("<|vision_end|>"),
        tie_word_embeddings=False)
    _seed(seed, 1)
    text_encoder = Qwen2_5_VLForConditionalGeneration(config)
    _seed(seed, 3)
    vae = AutoencoderKLQwenImage(base_dim=8, z_dim=16, dim_mult=[1, 2, 4, 4], num_res_blocks=1,
                                 temperal_downsample=[False, True, True])
    _seed(seed, 4)
    transformer = QwenImageTransformer2DModel(
        patch_size=2, in_channels=16 * 4, out_channels=16, num_layers=2, attention_head_dim=HEAD_DIM,
        num_attention_heads=HEADS, joint_attention_dim=32, guidance_embeds=False, axes_dims_rope=(4, 6, 6))
    scheduler = FlowMatchEulerDiscreteScheduler(shift=1.0, use_dynamic_shifting=True, base_shift=0.5,
                                                max_shift=0.9, base_image_seq_len=256, max_image_seq_len=8192,
                                                shift_terminal=0.02, time_shift_type="exponential")
    _eval(text_encoder, vae, transformer)
    return QwenImagePipeline(scheduler=scheduler, vae=vae, text_encoder=text_encoder, tokenizer=tokenizer,
                             transformer=transformer)


@dataclass(frozen=True)
class TinyFamily:
    """One tiny pipeline: its name, what it stands for and how it is built."""

    name: str  # family key, e.g. "flux-dev"; massact.load names it "tiny-" + name
    stands_for: str  # the real checkpoints it mimics
    pipeline_class: str  # the diffusers pipeline class
    build: Callable[[int], object]
    guidance: float  # the guidance a run uses by default (the real checkpoint's)


FAMILIES: dict[str, TinyFamily] = {f.name: f for f in [
    TinyFamily("flux", "FLUX.1-schnell (guidance-distilled, no guidance input)", "FluxPipeline", build_flux, 1.0),
    TinyFamily("flux-dev", "FLUX.1-dev (guidance embedding)", "FluxPipeline", build_flux_dev, 3.5),
    TinyFamily("flux2", "FLUX.2-klein-4B (step-distilled, Qwen3 text)", "Flux2KleinPipeline", build_flux2, 1.0),
    TinyFamily("sd3", "Stable Diffusion 3 / 3.5 (CLIP-L, CLIP-G, T5)", "StableDiffusion3Pipeline", build_sd3, 4.5),
    TinyFamily("sana", "SANA 512px (Gemma-2 text, 32x DC-AE)", "SanaPipeline", build_sana, 4.5),
    TinyFamily("pixart", "PixArt-Sigma 256px (T5 text)", "PixArtSigmaPipeline", build_pixart, 4.5),
    TinyFamily("qwen-image", "Qwen-Image (Qwen2.5-VL text, true CFG)", "QwenImagePipeline", build_qwen_image, 4.0),
]}
