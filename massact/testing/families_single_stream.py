"""Tiny complete pipelines of more image DiT families (see families.py): built from configs on
this machine, no download; plumbing fixtures with random weights.

The single-stream families (one joint or image-only token stream per block, with text by
concatenation, cross-attention or a second model): Lumina-Image 2.0, Z-Image, Krea 2,
ERNIE-Image, HunyuanDiT, Lumina-Next, HiDream-I1 and Ideogram 4. As in families.py every
component comes from its own seed, the widths are tiny and the geometry (latent channels,
VAE factor, patch size, text-encoder kind and the layers the pipeline reads, prompt
templates) follows the real checkpoints where it is cheap.
"""
from __future__ import annotations

from functools import lru_cache

import torch

from . import tokenizers as tok
from .families import (HEAD_DIM, HEADS, WIDTH, TinyFamily, _autoencoder_kl, _eval, _seed, _t5_encoder,
                       _vocab_size)


# -- tokenizers ------------------------------------------------------------------------------
#: a minimal Qwen-VL chat template: string content or a list of text/image parts
QWEN_VL_CHAT_TEMPLATE = (
    "{% for message in messages %}<|im_start|>{{ message['role'] }}\n"
    "{% if message['content'] is string %}{{ message['content'] }}{% else %}{% for part in message['content'] %}"
    "{% if part['type'] == 'text' %}{{ part['text'] }}{% elif part['type'] == 'image' %}"
    "<|vision_start|><|image_pad|><|vision_end|>{% endif %}{% endfor %}{% endif %}<|im_end|>\n"
    "{% endfor %}{% if add_generation_prompt %}<|im_start|>assistant\n{% endif %}"
)


def tekken_tokenizer():
    """A Mistral Tekken-like tokenizer (ERNIE-Image's Mistral-3 text model): "<s>" before every text."""
    return tok.byte_bpe_tokenizer(["<unk>", "<s>", "</s>", "<pad>", "[INST]", "[/INST]", "[IMG]"], bos="<s>",
                                  eos="</s>", pad="<pad>", unk="<unk>", prefix=("<s>",))


def llama3_tokenizer(max_length: int = 128):
    """A Llama-3-like tokenizer (HiDream's Llama-3.1): "<|begin_of_text|>" first; the pipeline pads with eos."""
    return tok.byte_bpe_tokenizer(["<|begin_of_text|>", "<|end_of_text|>", "<|eot_id|>"], bos="<|begin_of_text|>",
                                  eos="<|end_of_text|>", prefix=("<|begin_of_text|>",), max_length=max_length)


@lru_cache(maxsize=None)
def _bert_vocab() -> tuple[tuple[str, int], ...]:
    from .vocabulary import words

    vocab: dict[str, int] = {}
    for t in ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"]:
        vocab[t] = len(vocab)
    # every character alone and as a word-piece continuation, so unknown words are spelt out
    chars = sorted({c for w in words() for c in w.lower()} | set("0123456789.,:;!?'\"-()"))
    for c in chars:
        vocab.setdefault(c, len(vocab))
        vocab.setdefault("##" + c, len(vocab))
    for w in words():
        vocab.setdefault(w.lower(), len(vocab))
    return tuple(vocab.items())


def bert_tokenizer(max_length: int = 77):
    """A WordPiece ``BertTokenizer`` (lower-cased; HunyuanDiT's bilingual CLIP-BERT tokenizer, 77 tokens)."""
    from transformers import BertTokenizer

    return BertTokenizer(vocab=dict(_bert_vocab()), do_lower_case=True, model_max_length=max_length)


# -- text encoders ---------------------------------------------------------------------------
def _gemma2(tokenizer, seed: int, offset: int):
    """A Gemma-2 model (Lumina-Image 2.0's Gemma-2-2B; the pipeline reads hidden_states[-2])."""
    from transformers import Gemma2Config, Gemma2Model

    config = Gemma2Config(vocab_size=_vocab_size(tokenizer), hidden_size=32, intermediate_size=64,
                          num_hidden_layers=2, num_attention_heads=2, num_key_value_heads=1, head_dim=16,
                          max_position_embeddings=2048, sliding_window=512, attn_implementation="eager",
                          pad_token_id=tokenizer.pad_token_id, bos_token_id=tokenizer.bos_token_id,
                          eos_token_id=tokenizer.eos_token_id)
    _seed(seed, offset)
    return Gemma2Model(config)


def _gemma(tokenizer, seed: int, offset: int):
    """A Gemma (v1) model (Lumina-Next's Gemma-2B; the pipeline reads hidden_states[-2])."""
    from transformers import GemmaConfig, GemmaModel

    config = GemmaConfig(vocab_size=_vocab_size(tokenizer), hidden_size=32, intermediate_size=64,
                         num_hidden_layers=2, num_attention_heads=2, num_key_value_heads=1, head_dim=16,
                         max_position_embeddings=2048, pad_token_id=tokenizer.pad_token_id,
                         bos_token_id=tokenizer.bos_token_id, eos_token_id=tokenizer.eos_token_id)
    _seed(seed, offset)
    return GemmaModel(config)


def _qwen3(tokenizer, seed: int, offset: int):
    """A Qwen3 model (Z-Image's Qwen3-4B; the pipeline reads hidden_states[-2])."""
    from transformers import Qwen3Config, Qwen3Model

    config = Qwen3Config(vocab_size=_vocab_size(tokenizer), hidden_size=32, intermediate_size=64,
                         num_hidden_layers=2, num_attention_heads=2, num_key_value_heads=1, head_dim=16,
                         max_position_embeddings=4096, tie_word_embeddings=True, bos_token_id=None,
                         eos_token_id=tokenizer.eos_token_id, pad_token_id=tokenizer.pad_token_id)
    _seed(seed, offset)
    return Qwen3Model(config)


def _qwen3_vl(tokenizer, hidden: int, layers: int, seed: int, offset: int):
    """A Qwen3-VL model without the LM head (``Qwen3VLModel``: the text model Krea 2 and Ideogram 4
    tap), with a one-block vision tower (patch 16, merge 2) the text-only pipelines never run."""
    from transformers import Qwen3VLConfig, Qwen3VLModel

    ids = tokenizer.convert_tokens_to_ids
    head_dim = 16
    half = head_dim // 2
    config = Qwen3VLConfig(
        text_config=dict(vocab_size=_vocab_size(tokenizer), hidden_size=hidden, intermediate_size=2 * hidden,
                         num_hidden_layers=layers, num_attention_heads=2, num_key_value_heads=1, head_dim=head_dim,
                         max_position_embeddings=4096, pad_token_id=tokenizer.pad_token_id,
                         rope_parameters={"rope_type": "default", "rope_theta": 5000000.0,
                                          "mrope_section": [half - 2 * (half // 3), half // 3, half // 3],
                                          "mrope_interleaved": True}),
        vision_config=dict(depth=1, hidden_size=16, intermediate_size=32, num_heads=2, out_hidden_size=hidden,
                           patch_size=16, spatial_merge_size=2, temporal_patch_size=2, num_position_embeddings=64,
                           deepstack_visual_indexes=[0]),
        image_token_id=ids("<|image_pad|>"), video_token_id=ids("<|video_pad|>"),
        vision_start_token_id=ids("<|vision_start|>"), vision_end_token_id=ids("<|vision_end|>"),
        tie_word_embeddings=False)
    _seed(seed, offset)
    return Qwen3VLModel(config)


def _mistral3(tokenizer, seed: int, offset: int):
    """A Mistral-3 model (ERNIE-Image's text model; a tiny Pixtral vision tower the pipeline never runs)."""
    from transformers import Mistral3Config, Mistral3Model

    config = Mistral3Config(
        text_config=dict(model_type="mistral", vocab_size=_vocab_size(tokenizer), hidden_size=32,
                         intermediate_size=64, num_hidden_layers=2, num_attention_heads=2, num_key_value_heads=1,
                         head_dim=16, max_position_embeddings=4096, bos_token_id=tokenizer.bos_token_id,
                         eos_token_id=tokenizer.eos_token_id, pad_token_id=tokenizer.pad_token_id),
        vision_config=dict(model_type="pixtral", hidden_size=16, intermediate_size=32, num_hidden_layers=1,
                           num_attention_heads=2, head_dim=8, image_size=64, patch_size=16),
        image_token_index=tokenizer.convert_tokens_to_ids("[IMG]"), spatial_merge_size=2)
    _seed(seed, offset)
    return Mistral3Model(config)


def _bert(tokenizer, seed: int, offset: int):
    """A BERT encoder with its pooler (HunyuanDiT's CLIP-BERT; the pipeline reads the last hidden states)."""
    from transformers import BertConfig, BertModel

    config = BertConfig(vocab_size=_vocab_size(tokenizer), hidden_size=32, num_hidden_layers=2,
                        num_attention_heads=2, intermediate_size=64, max_position_embeddings=512, pad_token_id=0)
    _seed(seed, offset)
    return BertModel(config)


def _long_clip(hidden: int, vocab_size: int, seed: int, offset: int):
    """A CLIP text encoder with projection and 248 positions (HiDream's Long-CLIP encoders)."""
    from transformers import CLIPTextConfig, CLIPTextModelWithProjection

    config = CLIPTextConfig(vocab_size=vocab_size, hidden_size=hidden, intermediate_size=2 * hidden,
                            num_hidden_layers=2, num_attention_heads=2, max_position_embeddings=248,
                            projection_dim=hidden, hidden_act="quick_gelu", bos_token_id=0, eos_token_id=1,
                            pad_token_id=1)
    _seed(seed, offset)
    return CLIPTextModelWithProjection(config)


def _llama(tokenizer, seed: int, offset: int):
    """A Llama causal LM (HiDream's Llama-3.1-8B-Instruct; the pipeline stacks every layer's hidden states)."""
    from transformers import LlamaConfig, LlamaForCausalLM

    config = LlamaConfig(vocab_size=_vocab_size(tokenizer), hidden_size=32, intermediate_size=64,
                         num_hidden_layers=2, num_attention_heads=2, num_key_value_heads=1, head_dim=16,
                         max_position_embeddings=4096, bos_token_id=tokenizer.bos_token_id,
                         eos_token_id=tokenizer.eos_token_id, pad_token_id=tokenizer.eos_token_id)
    _seed(seed, offset)
    return LlamaForCausalLM(config)


# -- VAEs ------------------------------------------------------------------------------------
def _flux2_vae(seed: int, offset: int):
    """FLUX.2's ``AutoencoderKLFlux2``: 32 latent channels, 8x, batch-normalised 2x2 patches (128 channels at 16x)."""
    from diffusers import AutoencoderKLFlux2

    _seed(seed, offset)
    return AutoencoderKLFlux2(in_channels=3, out_channels=3, block_out_channels=(8, 8, 16, 16), layers_per_block=1,
                              latent_channels=32, norm_num_groups=4, sample_size=64)


def _qwen_image_vae(seed: int, offset: int):
    """Qwen-Image's ``AutoencoderKLQwenImage``: 16 latent channels, 8x, a frame axis."""
    from diffusers import AutoencoderKLQwenImage

    _seed(seed, offset)
    return AutoencoderKLQwenImage(base_dim=8, z_dim=16, dim_mult=[1, 2, 4, 4], num_res_blocks=1,
                                  temperal_downsample=[False, True, True])


# -- the families ----------------------------------------------------------------------------
def build_lumina2(seed: int = 0):
    """Lumina-Image 2.0: ``Lumina2Pipeline``.

    Lumina2Transformer2DModel (1 image-only noise refiner block, 1 text-only context refiner
    block, 2 joint blocks on [valid text; image; padding], 2x2 patches, 3-axis RoPE) on the
    16-channel 8x FLUX.1 VAE (scaling 0.3611, shift 0.1159); the text is a Gemma-2 model's
    penultimate hidden states after the pipeline's system prompt. True CFG: a conditional
    call, then an unconditional one, each step.
    """
    from diffusers import FlowMatchEulerDiscreteScheduler, Lumina2Pipeline, Lumina2Transformer2DModel

    tokenizer = tok.gemma_tokenizer()
    text_encoder = _gemma2(tokenizer, seed, 1)
    vae = _autoencoder_kl(16, 0.3611, 0.1159, False, seed, 3)
    _seed(seed, 4)
    # RoPE axes (caption position, row, column) split the head: 4 + 6 + 6 = HEAD_DIM
    transformer = Lumina2Transformer2DModel(
        sample_size=8, patch_size=2, in_channels=16, hidden_size=WIDTH, num_layers=2, num_refiner_layers=1,
        num_attention_heads=HEADS, num_kv_heads=1, multiple_of=16, axes_dim_rope=(4, 6, 6), axes_lens=(300, 64, 64),
        cap_feat_dim=32)
    scheduler = FlowMatchEulerDiscreteScheduler(shift=6.0)  # Lumina-Image 2.0's scheduler
    _eval(text_encoder, vae, transformer)
    return Lumina2Pipeline(transformer=transformer, scheduler=scheduler, vae=vae, text_encoder=text_encoder,
                           tokenizer=tokenizer)


def build_z_image(seed: int = 0):
    """Z-Image-Turbo: ``ZImagePipeline``.

    ZImageTransformer2DModel (1 image-only noise refiner block, 1 text-only context refiner
    block, 2 joint blocks on [image; caption], each part padded to a multiple of 32 tokens,
    2x2 patches) on the 16-channel 8x FLUX.1 VAE; the text is a Qwen3 model's penultimate
    hidden states of the chat-formatted prompt (thinking on, as the pipeline asks). Shift 3
    like Z-Image-Turbo.
    """
    from diffusers import FlowMatchEulerDiscreteScheduler, ZImagePipeline, ZImageTransformer2DModel

    tokenizer = tok.qwen2_tokenizer(chat_template=tok.QWEN3_CHAT_TEMPLATE)
    text_encoder = _qwen3(tokenizer, seed, 1)
    vae = _autoencoder_kl(16, 0.3611, 0.1159, False, seed, 3)
    _seed(seed, 4)
    transformer = ZImageTransformer2DModel(
        all_patch_size=(2,), all_f_patch_size=(1,), in_channels=16, dim=WIDTH, n_layers=2, n_refiner_layers=1,
        n_heads=HEADS, n_kv_heads=HEADS, cap_feat_dim=32, axes_dims=[4, 6, 6], axes_lens=[1024, 64, 64])
    scheduler = FlowMatchEulerDiscreteScheduler(shift=3.0)
    _eval(text_encoder, vae, transformer)
    return ZImagePipeline(scheduler=scheduler, vae=vae, text_encoder=text_encoder, tokenizer=tokenizer,
                          transformer=transformer)


#: the Qwen3-VL hidden states the tiny Krea 2 stacks per token (the real one: 12 of 36 layers, 2, 5, ..., 35)
KREA2_TEXT_LAYERS = (1, 2)


def build_krea2(seed: int = 0):
    """Krea 2: ``Krea2Pipeline`` (the base model: true CFG, a conditional call, then an unconditional one).

    Krea2Transformer2DModel (text fusion blocks on the stacked text layers, then 2
    single-stream blocks on [text; image], 2x2 packed latents) on the 16-channel 8x
    Qwen-Image VAE; the text is a Qwen3-VL text model's hidden states of several layers,
    stacked per token, after Qwen-Image's 34-token system prompt (the tiny tokenizer
    splits it into 34 tokens, as Qwen's does).
    """
    from diffusers import FlowMatchEulerDiscreteScheduler, Krea2Pipeline, Krea2Transformer2DModel

    tokenizer = tok.qwen2_tokenizer()
    text_encoder = _qwen3_vl(tokenizer, 16, len(KREA2_TEXT_LAYERS), seed, 1)
    vae = _qwen_image_vae(seed, 3)
    _seed(seed, 4)
    transformer = Krea2Transformer2DModel(
        in_channels=16 * 4, num_layers=2, attention_head_dim=HEAD_DIM, num_attention_heads=HEADS,
        num_key_value_heads=1, intermediate_size=2 * WIDTH, timestep_embed_dim=32, text_hidden_dim=16,
        num_text_layers=len(KREA2_TEXT_LAYERS), text_num_attention_heads=1, text_num_key_value_heads=1,
        text_intermediate_size=32, num_layerwise_text_blocks=1, num_refiner_text_blocks=1, axes_dims_rope=(4, 6, 6))
    scheduler = FlowMatchEulerDiscreteScheduler(shift=1.0, use_dynamic_shifting=True, base_shift=0.5, max_shift=1.15,
                                                base_image_seq_len=256, max_image_seq_len=4096)
    _eval(text_encoder, vae, transformer)
    return Krea2Pipeline(scheduler=scheduler, vae=vae, text_encoder=text_encoder, tokenizer=tokenizer,
                         transformer=transformer, text_encoder_select_layers=KREA2_TEXT_LAYERS, is_distilled=False,
                         patch_size=2)


def build_ernie_image(seed: int = 0):
    """ERNIE-Image: ``ErnieImagePipeline`` (no prompt enhancer).

    ErnieImageTransformer2DModel (2 blocks on a sequence-first [image; text] stream, patch 1
    on 2x2-patchified latents) on FLUX.2's 32-channel 8x ``AutoencoderKLFlux2``; the text is
    a Mistral-3 model's penultimate hidden states, one prompt at a time (Tekken-like
    tokenizer, "<s>" first). Guidance: one call on [uncond; cond] rows.
    """
    from diffusers import ErnieImagePipeline, ErnieImageTransformer2DModel, FlowMatchEulerDiscreteScheduler

    tokenizer = tekken_tokenizer()
    text_encoder = _mistral3(tokenizer, seed, 1)
    vae = _flux2_vae(seed, 3)
    _seed(seed, 4)
    transformer = ErnieImageTransformer2DModel(
        hidden_size=WIDTH, num_attention_heads=HEADS, num_layers=2, ffn_hidden_size=2 * WIDTH, in_channels=32 * 4,
        out_channels=32 * 4, patch_size=1, text_in_dim=32, rope_axes_dim=(4, 6, 6))
    # the class zero-initialises its shared modulation and output layers (a trained model's are not): random
    # here, or every block would be the identity and the velocity zero
    transformer.adaLN_modulation[-1].reset_parameters()
    transformer.final_linear.reset_parameters()
    scheduler = FlowMatchEulerDiscreteScheduler(shift=3.0)
    _eval(text_encoder, vae, transformer)
    return ErnieImagePipeline(transformer=transformer, vae=vae, text_encoder=text_encoder, tokenizer=tokenizer,
                              scheduler=scheduler, pe=None, pe_tokenizer=None)


def build_hunyuan_dit(seed: int = 0):
    """HunyuanDiT v1.2: ``HunyuanDiTPipeline`` (no safety checker).

    HunyuanDiT2DModel (4 blocks with U-Net-style long skips, 2x2 patches, learned sigma:
    8 output channels) on a 4-channel 8x VAE (SDXL's scaling 0.13025); the text is a
    bilingual BERT (77 tokens, cross-attention) and an mT5 encoder (256 tokens, T5 here).
    DDPM with v-prediction. The pipeline snaps sizes to its resolution bins (768 px and up)
    unless ``use_resolution_binning=False``.
    """
    from diffusers import DDPMScheduler, HunyuanDiT2DModel, HunyuanDiTPipeline

    tokenizer, tokenizer_2 = bert_tokenizer(77), tok.t5_tokenizer(256)
    text_encoder = _bert(tokenizer, seed, 1)
    text_encoder_2 = _t5_encoder(64, _vocab_size(tokenizer_2), seed, 2)
    vae = _autoencoder_kl(4, 0.13025, None, True, seed, 3)
    _seed(seed, 4)
    # an even block count (the long skips pair block i with block L-1-i); the T5 pooler has 8 heads
    transformer = HunyuanDiT2DModel(
        num_attention_heads=HEADS, attention_head_dim=HEAD_DIM, in_channels=4, patch_size=2, sample_size=8,
        hidden_size=WIDTH, num_layers=4, mlp_ratio=2.0, learn_sigma=True, cross_attention_dim=32,
        cross_attention_dim_t5=64, pooled_projection_dim=32, text_len=77, text_len_t5=256,
        use_style_cond_and_image_meta_size=False)
    scheduler = DDPMScheduler(beta_schedule="scaled_linear", beta_start=0.00085, beta_end=0.03, clip_sample=False,
                              steps_offset=1, prediction_type="v_prediction", timestep_spacing="leading")
    _eval(text_encoder, text_encoder_2, vae, transformer)
    return HunyuanDiTPipeline(vae=vae, text_encoder=text_encoder, tokenizer=tokenizer, transformer=transformer,
                              scheduler=scheduler, safety_checker=None, feature_extractor=None,
                              requires_safety_checker=False, text_encoder_2=text_encoder_2, tokenizer_2=tokenizer_2)


def build_lumina_next(seed: int = 0):
    """Lumina-Next-SFT: ``LuminaPipeline``.

    LuminaNextDiT2DModel (2 blocks, 2x2 patches, learned sigma, text by cross-attention) on
    a 4-channel 8x VAE (SDXL's scaling 0.13025); the text is a Gemma model's penultimate
    hidden states. Guidance: one call on [cond; uncond] rows.
    """
    from diffusers import FlowMatchEulerDiscreteScheduler, LuminaNextDiT2DModel, LuminaPipeline

    tokenizer = tok.gemma_tokenizer()
    text_encoder = _gemma(tokenizer, seed, 1)
    vae = _autoencoder_kl(4, 0.13025, None, True, seed, 3)
    _seed(seed, 4)
    transformer = LuminaNextDiT2DModel(
        sample_size=8, patch_size=2, in_channels=4, hidden_size=WIDTH, num_layers=2, num_attention_heads=HEADS,
        num_kv_heads=1, multiple_of=16, learn_sigma=True, qk_norm=True, cross_attention_dim=32)
    # the class leaves its (unused) pad token uninitialised (torch.empty): seeded like the rest
    torch.nn.init.normal_(transformer.pad_token, std=0.02)
    scheduler = FlowMatchEulerDiscreteScheduler()
    _eval(text_encoder, vae, transformer)
    return LuminaPipeline(transformer=transformer, scheduler=scheduler, vae=vae, text_encoder=text_encoder,
                          tokenizer=tokenizer)


def build_hidream(seed: int = 0):
    """HiDream-I1-Full: ``HiDreamImagePipeline``.

    HiDreamImageTransformer2DModel (2 dual-stream + 2 single-stream blocks with
    mixture-of-experts feed-forwards, 2x2 patches) on the 16-channel 8x FLUX.1 VAE; the text
    is two Long-CLIP encoders with projections (pooled), a T5 encoder and a Llama model
    whose layers feed one block each. Guidance: one call on [uncond; cond] rows.

    The pipeline rescales every size to the area (8 x ``default_sample_size``)^2, 1024^2 px
    (massact keeps the requested size: ``PipelineModel``).
    """
    from diffusers import FlowMatchEulerDiscreteScheduler, HiDreamImagePipeline, HiDreamImageTransformer2DModel

    tokenizer, tokenizer_2 = tok.clip_tokenizer(248), tok.clip_tokenizer(248)
    text_encoder = _long_clip(16, _vocab_size(tokenizer), seed, 1)
    text_encoder_2 = _long_clip(32, _vocab_size(tokenizer_2), seed, 2)
    # the pipeline pads the T5 and Llama texts to min(max_sequence_length (128), model_max_length): 32 here, so
    # the single-stream blocks run on 16 + 32 + 32 tokens, not 16 + 128 + 128 (a real run: 4096 + 128 + 128)
    tokenizer_3 = tok.t5_tokenizer(32)
    text_encoder_3 = _t5_encoder(64, _vocab_size(tokenizer_3), seed, 5)
    tokenizer_4 = llama3_tokenizer(32)
    text_encoder_4 = _llama(tokenizer_4, seed, 6)
    vae = _autoencoder_kl(16, 0.3611, 0.1159, False, seed, 3)
    _seed(seed, 4)
    # llama_layers: the Llama hidden state each block reads (one per dual- and single-stream block)
    transformer = HiDreamImageTransformer2DModel(
        patch_size=2, in_channels=16, out_channels=16, num_layers=2, num_single_layers=2, attention_head_dim=HEAD_DIM,
        num_attention_heads=HEADS, caption_channels=[64, 32], text_emb_dim=16 + 32, num_routed_experts=2,
        num_activated_experts=1, axes_dims_rope=(4, 6, 6), max_resolution=(16, 16), llama_layers=[0, 1, 1, 1])
    scheduler = FlowMatchEulerDiscreteScheduler(shift=3.0)
    _eval(text_encoder, text_encoder_2, text_encoder_3, text_encoder_4, vae, transformer)
    return HiDreamImagePipeline(scheduler=scheduler, vae=vae, text_encoder=text_encoder, tokenizer=tokenizer,
                                text_encoder_2=text_encoder_2, tokenizer_2=tokenizer_2, text_encoder_3=text_encoder_3,
                                tokenizer_3=tokenizer_3, text_encoder_4=text_encoder_4, tokenizer_4=tokenizer_4,
                                transformer=transformer)


#: Ideogram 4 concatenates the hidden states of 13 Qwen3-VL layers (0, 3, ..., 33, 35) per token
IDEOGRAM4_TAPS = 13


def build_ideogram4(seed: int = 0):
    """Ideogram 4: ``Ideogram4Pipeline`` (no prompt enhancer).

    Two Ideogram4Transformer2DModel (2 blocks each): ``transformer`` runs the conditional
    branch on [left-padded text; image], ``unconditional_transformer`` the unconditional one
    on the image alone. On FLUX.2's ``AutoencoderKLFlux2`` (2x2-patchified, 16x); the text is
    the hidden states of 13 layers of a Qwen3-VL text model, concatenated per token, so the
    tiny Qwen3-VL has 36 layers of width 16.

    The pipeline left-pads every prompt to ``max_sequence_length`` (2048) text tokens, so a
    call on this tiny pipeline takes about a second; the padding is its own attention
    segment, so ``call_kwargs={"max_sequence_length": 64}`` gives the same images (to float
    rounding) in a few hundredths of a second.
    """
    from diffusers import FlowMatchEulerDiscreteScheduler, Ideogram4Pipeline, Ideogram4Transformer2DModel

    tokenizer = tok.qwen2_tokenizer(chat_template=QWEN_VL_CHAT_TEMPLATE)
    text_encoder = _qwen3_vl(tokenizer, 16, 36, seed, 1)
    vae = _flux2_vae(seed, 3)
    config = dict(in_channels=32 * 4, num_layers=2, attention_head_dim=HEAD_DIM, num_attention_heads=HEADS,
                  intermediate_size=2 * WIDTH, adaln_dim=32, llm_features_dim=IDEOGRAM4_TAPS * 16,
                  mrope_section=(4, 2, 2))
    _seed(seed, 4)
    transformer = Ideogram4Transformer2DModel(**config)
    _seed(seed, 5)
    unconditional_transformer = Ideogram4Transformer2DModel(**config)
    scheduler = FlowMatchEulerDiscreteScheduler()
    _eval(text_encoder, vae, transformer, unconditional_transformer)
    return Ideogram4Pipeline(scheduler=scheduler, vae=vae, text_encoder=text_encoder, tokenizer=tokenizer,
                             transformer=transformer, unconditional_transformer=unconditional_transformer,
                             prompt_enhancer_head=None)


#: the families of this module, merged into massact.testing.FAMILIES
FAMILIES: list[TinyFamily] = [
    TinyFamily("lumina2", "Lumina-Image 2.0 (Gemma-2 text, true CFG)", "Lumina2Pipeline", build_lumina2, 4.0),
    # Z-Image-Turbo runs unguided (the pipeline's guidance_scale 0, massact's 1)
    TinyFamily("z-image", "Z-Image-Turbo (Qwen3 text, image padded to 32 tokens)", "ZImagePipeline", build_z_image,
               1.0),
    # Krea 2's default 4.5 is cond + 4.5 (cond - uncond): 5.5 as massact (and most pipelines) write guidance
    TinyFamily("krea2", "Krea 2 base (Qwen3-VL text layers, true CFG)", "Krea2Pipeline", build_krea2, 5.5),
    TinyFamily("ernie-image", "ERNIE-Image (Mistral-3 text, FLUX.2 VAE, sequence-first stream)", "ErnieImagePipeline",
               build_ernie_image, 4.0),
    TinyFamily("hunyuan-dit", "HunyuanDiT v1.2 (bilingual BERT + mT5 text, long skips)", "HunyuanDiTPipeline",
               build_hunyuan_dit, 5.0),
    TinyFamily("lumina-next", "Lumina-Next-SFT (Gemma text by cross-attention)", "LuminaPipeline", build_lumina_next,
               4.0),
    TinyFamily("hidream", "HiDream-I1-Full (Long-CLIP x2, T5, Llama-3.1 text; MoE blocks)", "HiDreamImagePipeline",
               build_hidream, 5.0),
    # the real default is a per-step schedule (7 for 45 steps, then 3 for 3): massact runs a constant scale
    TinyFamily("ideogram4", "Ideogram 4 (Qwen3-VL text layers; a second transformer for the uncond branch)",
               "Ideogram4Pipeline", build_ideogram4, 7.0),
]
