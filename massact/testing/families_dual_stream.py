"""Tiny complete pipelines of more image DiT families (see families.py): built from configs on
this machine, no download; plumbing fixtures with random weights.

The dual-stream families: AuraFlow, BRIA 3.2, FIBO, Chroma, CogView3-Plus, CogView4,
GLM-Image, Ovis-Image and HunyuanImage-2.1. As in families.py every component comes from
its own seed, the widths are tiny and the geometry (latent channels, VAE factor, patch
size, text-encoder kind, prompt templates) follows the real checkpoints where it is cheap.
"""
from __future__ import annotations

from . import tokenizers as tok
from .families import (HEAD_DIM, HEADS, WIDTH, TinyFamily, _autoencoder_kl, _eval, _seed, _t5_encoder,
                       _vocab_size)


# -- tokenizers ------------------------------------------------------------------------------
#: GLM-4's special tokens (CogView4's text model; GLM-Image's has image roles on top)
GLM4_SPECIAL = ("<|endoftext|>", "[MASK]", "[gMASK]", "[sMASK]", "<sop>", "<eop>", "<|system|>", "<|user|>",
                "<|assistant|>", "<|observation|>", "<|begin_of_image|>", "<|end_of_image|>")


def glm4_tokenizer(max_length: int = 1024):
    """A GLM-4-style tokenizer (CogView4's): byte-level BPE with "[gMASK]<sop>" before every text,
    padded on the left with "<|endoftext|>"."""
    return tok.byte_bpe_tokenizer(GLM4_SPECIAL, eos="<|endoftext|>", pad="<|endoftext|>",
                                  prefix=("[gMASK]", "<sop>"), max_length=max_length, padding_side="left")


#: GLM-Image's vision codebook (real: 16384 codes); the AR model's lm_head covers exactly these ids
GLM_IMAGE_CODES = 64

#: a minimal GLM chat template: "[gMASK]<sop>", then "<|role|>\n" turns; an image part becomes
#: <|begin_of_image|><|image|><|end_of_image|> (the processor repeats <|image|> per patch)
GLM_IMAGE_CHAT_TEMPLATE = (
    "[gMASK]<sop>{% for m in messages %}<|{{ m['role'] }}|>\n{% if m['content'] is string %}{{ m['content'] }}"
    "{% else %}{% for c in m['content'] %}{% if c['type'] == 'image' %}<|begin_of_image|><|image|><|end_of_image|>"
    "{% elif c['type'] == 'text' %}{{ c['text'] }}{% endif %}{% endfor %}{% endif %}{% endfor %}"
    "{% if add_generation_prompt %}<|assistant|>\n{% endif %}")


def glm_image_processor():
    """GLM-Image's ``GlmImageProcessor``: a GLM byte-level BPE tokenizer whose image roles (image,
    grid start and end, image start = bos "<|dit_start|>", image end = eos "<|dit_end|>") are
    saved as named special tokens, left padding, and the PIL image processor (16 px patches)."""
    from transformers import GlmImageImageProcessorPil, GlmImageProcessor

    specials = ("[gMASK]", "<sop>", "<|user|>", "<|assistant|>", "<|system|>", "<|endoftext|>", "<|image|>",
                "<|begin_of_image|>", "<|end_of_image|>", "<|grid_bos|>", "<|grid_eos|>", "<|dit_start|>",
                "<|dit_end|>")
    tokenizer = tok.byte_bpe_tokenizer(specials, bos="<|dit_start|>", eos="<|dit_end|>", pad="<|endoftext|>",
                                       padding_side="left", extra_special_tokens={
                                       "image_token": "<|image|>", "grid_bos_token": "<|grid_bos|>",
                                       "grid_eos_token": "<|grid_eos|>"})
    image_processor = GlmImageImageProcessorPil(patch_size=16, temporal_patch_size=1, merge_size=1)
    return GlmImageProcessor(image_processor=image_processor, tokenizer=tokenizer,
                             chat_template=GLM_IMAGE_CHAT_TEMPLATE)


# -- text encoders ---------------------------------------------------------------------------
def _umt5_encoder(d_model: int, vocab_size: int, seed: int, offset: int):
    """A UMT5 encoder (AuraFlow's text model): T5 v1.1 layers with per-layer position buckets.
    One attention head: AuraFlow pads every prompt to 256 tokens, and each layer's position
    bias over 256 x 256 pairs per head would dominate a tiny run."""
    from transformers import UMT5Config, UMT5EncoderModel

    config = UMT5Config(vocab_size=vocab_size, d_model=d_model, d_kv=d_model // 2, d_ff=2 * d_model, num_layers=2,
                        num_heads=1, relative_attention_num_buckets=8,
                        relative_attention_max_distance=32, feed_forward_proj="gated-gelu",
                        is_encoder_decoder=False, use_cache=False, tie_word_embeddings=False)
    _seed(seed, offset)
    return UMT5EncoderModel(config)


def _t5_one_head(d_model: int, vocab_size: int, seed: int, offset: int):
    """A T5 v1.1-style encoder with one attention head, for pipelines that pad every prompt to
    512 tokens (Chroma): there the per-head relative-position bias over 512 x 512 pairs would
    dominate a tiny run."""
    from transformers import T5Config, T5EncoderModel

    config = T5Config(vocab_size=vocab_size, d_model=d_model, d_kv=d_model // 2, d_ff=2 * d_model, num_layers=2,
                      num_heads=1, relative_attention_num_buckets=8, relative_attention_max_distance=32,
                      feed_forward_proj="gated-gelu", is_encoder_decoder=False, use_cache=False,
                      tie_word_embeddings=False)
    _seed(seed, offset)
    return T5EncoderModel(config)


def _glm_model(tokenizer, hidden: int, layers: int, seed: int, offset: int):
    """A GLM-4 text model (``GlmModel``; CogView4 reads its hidden_states[-2])."""
    from transformers import GlmConfig, GlmModel

    config = GlmConfig(vocab_size=_vocab_size(tokenizer), hidden_size=hidden, intermediate_size=2 * hidden,
                       num_hidden_layers=layers, num_attention_heads=2, num_key_value_heads=1, head_dim=16,
                       max_position_embeddings=2048, pad_token_id=tokenizer.pad_token_id,
                       eos_token_id=tokenizer.eos_token_id, bos_token_id=None)
    _seed(seed, offset)
    return GlmModel(config)


def _glm_image_ar(processor, seed: int, offset: int):
    """GLM-Image's autoregressive model (``GlmImageForConditionalGeneration``: GLM text layers, a
    one-block vision encoder and a VQ codebook) that samples the prior image tokens.

    Its output vocabulary (``vision_vocab_size``) is the codebook alone, ids 0..GLM_IMAGE_CODES-1,
    while the tokenizer's special tokens sit above: every sampled id is a valid prior token and
    the image end token is never sampled, so ``generate`` always runs the full token count. One
    text layer: a run samples 261 tokens at 64 px, one forward each."""
    from transformers import GlmImageConfig, GlmImageForConditionalGeneration

    t = processor.tokenizer
    ids = t.convert_tokens_to_ids
    config = GlmImageConfig(
        text_config=dict(vocab_size=_vocab_size(t), hidden_size=32, intermediate_size=64, num_hidden_layers=1,
                         num_attention_heads=2, num_key_value_heads=1, max_position_embeddings=4096,
                         pad_token_id=t.pad_token_id, vision_vocab_size=GLM_IMAGE_CODES, eos_token_id=t.eos_token_id,
                         rope_parameters={"rope_type": "default", "rope_theta": 10000.0, "mrope_section": [4, 2, 2],
                                          "partial_rotary_factor": 1.0}),
        vision_config=dict(depth=1, hidden_size=16, num_heads=2, intermediate_size=32, patch_size=16, image_size=64,
                           spatial_merge_size=1),
        vq_config=dict(embed_dim=16, num_embeddings=GLM_IMAGE_CODES, latent_channels=16),
        image_token_id=ids("<|image|>"), image_start_token_id=ids("<|dit_start|>"),
        image_end_token_id=ids("<|dit_end|>"))
    _seed(seed, offset)
    return GlmImageForConditionalGeneration(config)


# -- the families ---------------------------------------------------------------------------
def build_auraflow(seed: int = 0):
    """AuraFlow: ``AuraFlowPipeline``.

    AuraFlowTransformer2DModel (2 joint MMDiT + 2 single DiT blocks, 2x2 patches, 8 register
    tokens before the text) on a 4-channel 8x VAE (SDXL's, scaling 0.13025); the text is a
    UMT5 encoder (the real tokenizer is a Pile-T5 SentencePiece, a T5 tokenizer here).
    """
    from diffusers import AuraFlowPipeline, AuraFlowTransformer2DModel, FlowMatchEulerDiscreteScheduler

    tokenizer = tok.t5_tokenizer(256)
    text_encoder = _umt5_encoder(64, _vocab_size(tokenizer), seed, 1)
    vae = _autoencoder_kl(4, 0.13025, None, True, seed, 3)
    _seed(seed, 4)
    # pos_embed_max_size: a square table of positions (16x16 patches) cropped to the latent grid
    transformer = AuraFlowTransformer2DModel(
        sample_size=8, patch_size=2, in_channels=4, out_channels=4, num_mmdit_layers=2, num_single_dit_layers=2,
        attention_head_dim=HEAD_DIM, num_attention_heads=HEADS, joint_attention_dim=64,
        caption_projection_dim=WIDTH, pos_embed_max_size=256)
    scheduler = FlowMatchEulerDiscreteScheduler(shift=1.73)
    _eval(text_encoder, vae, transformer)
    return AuraFlowPipeline(tokenizer=tokenizer, text_encoder=text_encoder, vae=vae, transformer=transformer,
                            scheduler=scheduler)


def build_bria(seed: int = 0):
    """BRIA 3.2: ``BriaPipeline``.

    BriaTransformer2DModel (FLUX-like: 2 double- + 2 single-stream blocks, no pooled text,
    no guidance embedding) on 2x2-packed latents of a 16-channel 8x VAE whose shift factor
    is unset (the pipeline makes it 0); the text is a T5 encoder's, padded to 128 tokens.
    The pipeline's ``vae_scale_factor`` is 2 ** (number of VAE stages) = 16, as for the real
    checkpoint, so sides are multiples of 32 px. The IP-Adapter parts are left out.
    """
    from diffusers import BriaPipeline, BriaTransformer2DModel, FlowMatchEulerDiscreteScheduler

    tokenizer = tok.t5_tokenizer(512)
    text_encoder = _t5_encoder(64, _vocab_size(tokenizer), seed, 1)
    vae = _autoencoder_kl(16, 0.3611, None, False, seed, 3)
    _seed(seed, 4)
    transformer = BriaTransformer2DModel(
        patch_size=1, in_channels=16 * 4, num_layers=2, num_single_layers=2, attention_head_dim=HEAD_DIM,
        num_attention_heads=HEADS, joint_attention_dim=64, pooled_projection_dim=None, guidance_embeds=False,
        axes_dims_rope=[4, 6, 6])
    scheduler = FlowMatchEulerDiscreteScheduler(shift=3.0, use_dynamic_shifting=True, base_shift=0.5,
                                                max_shift=1.15, base_image_seq_len=256, max_image_seq_len=4096)
    _eval(text_encoder, vae, transformer)
    return BriaPipeline(transformer=transformer, scheduler=scheduler, vae=vae, text_encoder=text_encoder,
                        tokenizer=tokenizer, image_encoder=None, feature_extractor=None)


#: FIBO's text model is SmolLM3: its embedding keeps the real 128256 rows, because the pipeline
#: encodes an empty prompt (the default negative prompt) as the hard-coded id 128000
SMOLLM3_VOCAB = 128256


def build_bria_fibo(seed: int = 0):
    """FIBO: ``BriaFiboPipeline``.

    BriaFiboTransformer2DModel (2 double- + 2 single-stream blocks, patch 1) on the latents
    of a 48-channel 16x Wan-2.2-style ``AutoencoderKLWan`` (residual, 2x2 pixel patches; the
    pipeline hard-codes the 16x); the text is a SmolLM3 causal LM's last two hidden states
    side by side, and every layer's hidden states feed one transformer block each. The
    tokenizer is a byte-level BPE ``PreTrainedTokenizerFast`` with Llama-3's special tokens.
    The real model takes JSON prompts (from its VLM prompt generator); plain text runs too.
    """
    from diffusers import (AutoencoderKLWan, BriaFiboPipeline, BriaFiboTransformer2DModel,
                           FlowMatchEulerDiscreteScheduler)
    from transformers import SmolLM3Config, SmolLM3ForCausalLM

    tokenizer = tok.byte_bpe_tokenizer(["<|begin_of_text|>", "<|end_of_text|>", "<|finetune_right_pad_id|>",
                                       "<|im_start|>", "<|im_end|>"], bos="<|begin_of_text|>", eos="<|im_end|>",
                                       pad="<|finetune_right_pad_id|>", max_length=3000)
    config = SmolLM3Config(vocab_size=SMOLLM3_VOCAB, hidden_size=32, intermediate_size=64, num_hidden_layers=4,
                           num_attention_heads=2, num_key_value_heads=1, head_dim=16, max_position_embeddings=4096,
                           tie_word_embeddings=True, pad_token_id=tokenizer.pad_token_id,
                           bos_token_id=tokenizer.bos_token_id, eos_token_id=tokenizer.eos_token_id)
    _seed(seed, 1)
    text_encoder = SmolLM3ForCausalLM(config)
    z = 48
    _seed(seed, 3)
    vae = AutoencoderKLWan(base_dim=8, decoder_base_dim=8, z_dim=z, dim_mult=[1, 2, 2, 2], num_res_blocks=1,
                           temperal_downsample=[False, True, True], latents_mean=[0.0] * z, latents_std=[1.0] * z,
                           is_residual=True, in_channels=12, out_channels=12, patch_size=2,
                           scale_factor_temporal=4, scale_factor_spatial=16)
    _seed(seed, 4)
    # joint_attention_dim: the two concatenated hidden states; text_encoder_dim: one layer's width
    transformer = BriaFiboTransformer2DModel(
        patch_size=1, in_channels=z, num_layers=2, num_single_layers=2, attention_head_dim=HEAD_DIM,
        num_attention_heads=HEADS, joint_attention_dim=2 * 32, text_encoder_dim=32, guidance_embeds=False,
        axes_dims_rope=[4, 6, 6])
    scheduler = FlowMatchEulerDiscreteScheduler(shift=3.0, use_dynamic_shifting=True)
    _eval(text_encoder, vae, transformer)
    return BriaFiboPipeline(transformer=transformer, scheduler=scheduler, vae=vae, text_encoder=text_encoder,
                            tokenizer=tokenizer)


def build_chroma(seed: int = 0):
    """Chroma1-HD: ``ChromaPipeline``.

    ChromaTransformer2DModel (FLUX.1-schnell-derived: 2 double- + 2 single-stream blocks, the
    per-block modulations made by a small approximator network instead of pooled CLIP text)
    on 2x2-packed latents of FLUX.1's 16-channel 8x VAE (scaling 0.3611, shift 0.1159); the
    text is a T5 encoder's. True CFG: separate cond and uncond calls. The IP-Adapter parts
    are left out.

    The pipeline pads every prompt to 512 T5 tokens, so the joint sequence is 528 tokens
    long and each step makes two calls: the transformer has 2 heads (width 32) and the T5
    one head, to keep a ``reproduce --quick`` run short.
    """
    from diffusers import ChromaPipeline, ChromaTransformer2DModel, FlowMatchEulerDiscreteScheduler

    tokenizer = tok.t5_tokenizer(512)
    text_encoder = _t5_one_head(64, _vocab_size(tokenizer), seed, 1)  # prompts padded to 512 tokens
    vae = _autoencoder_kl(16, 0.3611, 0.1159, False, seed, 3)
    _seed(seed, 4)
    transformer = ChromaTransformer2DModel(
        patch_size=1, in_channels=16 * 4, num_layers=2, num_single_layers=2, attention_head_dim=HEAD_DIM,
        num_attention_heads=2, joint_attention_dim=64, axes_dims_rope=(4, 6, 6),
        approximator_num_channels=16, approximator_hidden_dim=32, approximator_layers=1)
    scheduler = FlowMatchEulerDiscreteScheduler(shift=3.0, use_dynamic_shifting=True, base_shift=0.5,
                                                max_shift=1.15, base_image_seq_len=256, max_image_seq_len=4096)
    _eval(text_encoder, vae, transformer)
    return ChromaPipeline(scheduler=scheduler, vae=vae, text_encoder=text_encoder, tokenizer=tokenizer,
                          transformer=transformer, image_encoder=None, feature_extractor=None)


def build_cogview3plus(seed: int = 0):
    """CogView3-Plus: ``CogView3PlusPipeline``.

    CogView3PlusTransformer2DModel (2 blocks, 2x2 patches; each block returns (image, text))
    on a 16-channel 8x VAE (scaling 1.0); the text is a T5 encoder's, padded to 224 tokens.
    Not flow matching: CogVideoX's DDIM scheduler with v-prediction and zero terminal SNR, as
    the real checkpoint ships. CFG in one call on [uncond; cond] rows.
    """
    from diffusers import CogVideoXDDIMScheduler, CogView3PlusPipeline, CogView3PlusTransformer2DModel

    tokenizer = tok.t5_tokenizer(224)
    text_encoder = _t5_encoder(64, _vocab_size(tokenizer), seed, 1)
    vae = _autoencoder_kl(16, 1.0, None, False, seed, 3)
    _seed(seed, 4)
    # pos_embed_max_size: a 16x16 table of patch positions (up to 256 px here)
    transformer = CogView3PlusTransformer2DModel(
        patch_size=2, in_channels=16, out_channels=16, num_layers=2, attention_head_dim=HEAD_DIM,
        num_attention_heads=HEADS, text_embed_dim=64, time_embed_dim=32, condition_dim=16, pos_embed_max_size=16,
        sample_size=8)
    scheduler = CogVideoXDDIMScheduler(beta_schedule="scaled_linear", beta_start=0.00085, beta_end=0.012,
                                       prediction_type="v_prediction", rescale_betas_zero_snr=True,
                                       set_alpha_to_one=True, snr_shift_scale=4.0, timestep_spacing="trailing",
                                       clip_sample=False)
    _eval(text_encoder, vae, transformer)
    return CogView3PlusPipeline(tokenizer=tokenizer, text_encoder=text_encoder, vae=vae, transformer=transformer,
                                scheduler=scheduler)


def build_cogview4(seed: int = 0):
    """CogView4: ``CogView4Pipeline``.

    CogView4Transformer2DModel (2 blocks, 2x2 patches, 2-D rotary positions; each block
    returns (image, text)) on a 16-channel 8x VAE (scaling 1.0); the text is a GLM-4 model's
    hidden_states[-2], the prompt left-padded to a multiple of 16 tokens after GLM-4's
    "[gMASK]<sop>" prefix. CogView4's flow-matching schedule (linear resolution shift,
    base 0.25, max 0.75). True CFG: separate cond and uncond calls (``guidance_scale``).
    """
    from diffusers import CogView4Pipeline, CogView4Transformer2DModel, FlowMatchEulerDiscreteScheduler

    tokenizer = glm4_tokenizer()
    text_encoder = _glm_model(tokenizer, 32, 2, seed, 1)
    vae = _autoencoder_kl(16, 1.0, None, False, seed, 3)
    _seed(seed, 4)
    transformer = CogView4Transformer2DModel(
        patch_size=2, in_channels=16, out_channels=16, num_layers=2, attention_head_dim=HEAD_DIM,
        num_attention_heads=HEADS, text_embed_dim=32, time_embed_dim=32, condition_dim=16,
        pos_embed_max_size=16, sample_size=8, rope_axes_dim=(32, 32))
    scheduler = FlowMatchEulerDiscreteScheduler(base_shift=0.25, max_shift=0.75, base_image_seq_len=256,
                                                use_dynamic_shifting=True, time_shift_type="linear")
    _eval(text_encoder, vae, transformer)
    return CogView4Pipeline(tokenizer=tokenizer, text_encoder=text_encoder, vae=vae, transformer=transformer,
                            scheduler=scheduler)


def build_glm_image(seed: int = 0):
    """GLM-Image: ``GlmImagePipeline``.

    An autoregressive GLM-Image model first samples prior image tokens (a 16x16 preview grid,
    then the target's grid at 1/32 of the pixels, upsampled 2x); GlmImageTransformer2DModel
    (2 blocks, 2x2 patches; each block returns (image, text)) adds them to its image tokens.
    The transformer's text is a ByT5 encoder's reading of the prompt's quoted text (glyphs).
    16-channel 8x VAE (scaling 1.0) with per-channel latent means and deviations. CogView4's
    flow-matching schedule; CFG in separate cond and uncond calls (``guidance_scale``).
    ``ByT5Tokenizer`` needs no vocabulary file; the ByT5 stand-in is a T5 encoder with its
    384-id byte vocabulary. Text-to-image only: the edit mode fails in diffusers 0.42.1.
    """
    from diffusers import FlowMatchEulerDiscreteScheduler, GlmImagePipeline, GlmImageTransformer2DModel
    from transformers import ByT5Tokenizer

    processor = glm_image_processor()
    vision_language_encoder = _glm_image_ar(processor, seed, 6)
    tokenizer = ByT5Tokenizer()
    text_encoder = _t5_encoder(64, 384, seed, 1)
    vae = _autoencoder_kl(16, 1.0, None, False, seed, 3)
    vae.register_to_config(latents_mean=[0.0] * 16, latents_std=[1.0] * 16)
    _seed(seed, 4)
    transformer = GlmImageTransformer2DModel(
        patch_size=2, in_channels=16, out_channels=16, num_layers=2, attention_head_dim=HEAD_DIM,
        num_attention_heads=HEADS, text_embed_dim=64, time_embed_dim=32, condition_dim=16,
        prior_vq_quantizer_codebook_size=GLM_IMAGE_CODES)
    scheduler = FlowMatchEulerDiscreteScheduler(base_shift=0.25, max_shift=0.75, base_image_seq_len=256,
                                                use_dynamic_shifting=True, time_shift_type="linear")
    _eval(vision_language_encoder, text_encoder, vae, transformer)
    return GlmImagePipeline(tokenizer=tokenizer, processor=processor, text_encoder=text_encoder,
                            vision_language_encoder=vision_language_encoder, vae=vae, transformer=transformer,
                            scheduler=scheduler)


def build_ovis_image(seed: int = 0):
    """Ovis-Image: ``OvisImagePipeline``.

    OvisImageTransformer2DModel (FLUX-like: 2 double- + 2 single-stream blocks) on 2x2-packed
    latents of FLUX.1's 16-channel 8x VAE; the text is a Qwen3 model's last hidden states for
    the Qwen3 chat-formatted prompt behind the pipeline's fixed description instruction, padded
    to 256 tokens after the instruction. True CFG: separate cond and uncond calls
    (``guidance_scale``).

    The pipeline drops a fixed 28 tokens (``user_prompt_begin_id``, set in its ``__init__``, so
    ``from_pretrained`` always restores it): Qwen3's split of the chat header and instruction.
    The tiny tokenizer splits them into 29, so one instruction token stays in the text here.
    """
    from diffusers import FlowMatchEulerDiscreteScheduler, OvisImagePipeline, OvisImageTransformer2DModel
    from transformers import Qwen3Config, Qwen3Model

    tokenizer = tok.qwen2_tokenizer(chat_template=tok.QWEN3_CHAT_TEMPLATE)
    config = Qwen3Config(vocab_size=_vocab_size(tokenizer), hidden_size=32, intermediate_size=64, num_hidden_layers=2,
                         num_attention_heads=2, num_key_value_heads=1, head_dim=16, max_position_embeddings=1024,
                         tie_word_embeddings=True, bos_token_id=None, eos_token_id=tokenizer.eos_token_id,
                         pad_token_id=tokenizer.pad_token_id)
    _seed(seed, 1)
    text_encoder = Qwen3Model(config)
    vae = _autoencoder_kl(16, 0.3611, 0.1159, False, seed, 3)
    _seed(seed, 4)
    transformer = OvisImageTransformer2DModel(
        patch_size=1, in_channels=16 * 4, out_channels=16 * 4, num_layers=2, num_single_layers=2,
        attention_head_dim=HEAD_DIM, num_attention_heads=HEADS, joint_attention_dim=32, axes_dims_rope=(4, 6, 6))
    scheduler = FlowMatchEulerDiscreteScheduler(shift=3.0, use_dynamic_shifting=True, base_shift=0.5,
                                                max_shift=1.15, base_image_seq_len=256, max_image_seq_len=4096)
    _eval(text_encoder, vae, transformer)
    return OvisImagePipeline(scheduler=scheduler, vae=vae, text_encoder=text_encoder, tokenizer=tokenizer,
                             transformer=transformer)


def build_hunyuan_image(seed: int = 0):
    """HunyuanImage-2.1: ``HunyuanImagePipeline``.

    HunyuanImageTransformer2DModel (2 double- + 2 single-stream blocks after a 1-block text
    refiner, patch 1; each block returns (image, text)) on the 16-channel latents of the 32x
    ``AutoencoderKLHunyuanImage`` (six stages; GroupNorm(32) is hard-coded, so every width is
    32). Two texts: a Qwen2.5-VL model's hidden_states[-3] after Qwen-Image's 34-token
    template (3 layers; the tiny tokenizer splits the template into 34 tokens, padded to
    1000 after it) and a ByT5 encoder's reading of the quoted text (``ByT5Tokenizer`` needs
    no file; a T5 with the 384-id byte vocabulary). Guidance is the ``guider`` component's
    (AdaptiveProjectedMixGuidance with the real checkpoint's defaults: CFG 3.5, APG from step
    5); the pipeline's ``__call__`` takes no guidance scale.

    At 64 px the 32x VAE leaves a 2x2 token grid: 128 px gives 4x4. The pipeline pads the text
    to 1000 Qwen + 128 ByT5 tokens, so every call runs on ~1150 tokens: the transformer has
    2 heads (width 32) to keep runs short; a ``reproduce --quick`` still takes about a minute.
    """
    from diffusers import (AdaptiveProjectedMixGuidance, AutoencoderKLHunyuanImage, FlowMatchEulerDiscreteScheduler,
                           HunyuanImagePipeline, HunyuanImageTransformer2DModel)
    from transformers import ByT5Tokenizer, Qwen2_5_VLConfig, Qwen2_5_VLForConditionalGeneration

    tokenizer = tok.qwen2_tokenizer()
    ids = tokenizer.convert_tokens_to_ids
    config = Qwen2_5_VLConfig(
        text_config=dict(vocab_size=_vocab_size(tokenizer), hidden_size=32, intermediate_size=64,
                         num_hidden_layers=3, num_attention_heads=2, num_key_value_heads=1,
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
    tokenizer_2 = ByT5Tokenizer()
    text_encoder_2 = _t5_encoder(64, 384, seed, 2)
    _seed(seed, 3)
    # the last width must be divisible by 2 x latent channels (real: 1024 and 64)
    vae = AutoencoderKLHunyuanImage(in_channels=3, out_channels=3, latent_channels=16, block_out_channels=(32,) * 6,
                                    layers_per_block=1, spatial_compression_ratio=32, sample_size=128,
                                    scaling_factor=0.75289)
    _seed(seed, 4)
    transformer = HunyuanImageTransformer2DModel(
        in_channels=16, out_channels=16, num_attention_heads=2, attention_head_dim=HEAD_DIM, num_layers=2,
        num_single_layers=2, num_refiner_layers=1, mlp_ratio=2.0, patch_size=(1, 1), guidance_embeds=False,
        text_embed_dim=32, text_embed_2_dim=64, rope_axes_dim=(8, 8), use_meanflow=False)
    scheduler = FlowMatchEulerDiscreteScheduler(shift=5.0)
    guider = AdaptiveProjectedMixGuidance()
    _eval(text_encoder, text_encoder_2, vae, transformer)
    return HunyuanImagePipeline(scheduler=scheduler, vae=vae, text_encoder=text_encoder, tokenizer=tokenizer,
                                text_encoder_2=text_encoder_2, tokenizer_2=tokenizer_2, transformer=transformer,
                                guider=guider, ocr_guider=None)


#: the families of this module, merged into massact.testing.FAMILIES
FAMILIES: list[TinyFamily] = [
    TinyFamily("auraflow", "AuraFlow v0.3 (UMT5 text, SDXL VAE)", "AuraFlowPipeline", build_auraflow, 3.5),
    TinyFamily("bria", "BRIA 3.2 (T5 text, FLUX-like)", "BriaPipeline", build_bria, 5.0),
    TinyFamily("bria-fibo", "FIBO (SmolLM3 text, Wan-2.2 VAE, JSON prompts)", "BriaFiboPipeline", build_bria_fibo,
               5.0),
    TinyFamily("chroma", "Chroma1-HD (T5 text, FLUX.1 VAE, true CFG)", "ChromaPipeline", build_chroma, 5.0),
    TinyFamily("cogview3plus", "CogView3-Plus-3B (T5 text, v-prediction DDIM)", "CogView3PlusPipeline",
               build_cogview3plus, 7.0),
    TinyFamily("cogview4", "CogView4-6B (GLM-4 text)", "CogView4Pipeline", build_cogview4, 5.0),
    TinyFamily("glm-image", "GLM-Image (autoregressive prior tokens, ByT5 glyphs)", "GlmImagePipeline",
               build_glm_image, 1.5),
    TinyFamily("ovis-image", "Ovis-Image-7B (Qwen3 text, FLUX-like)", "OvisImagePipeline", build_ovis_image, 5.0),
    TinyFamily("hunyuan-image", "HunyuanImage-2.1 (Qwen2.5-VL + ByT5 text, 32x VAE, APG guider)",
               "HunyuanImagePipeline", build_hunyuan_image, 3.5),
]
