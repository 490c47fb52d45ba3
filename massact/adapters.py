"""Which block output holds the image stream: one table for every supported transformer.

This is the bottom layer of massact; it imports nothing else from the package.

A *block* is one transformer block, numbered 0..n-1 in execution order across all of a
model's block lists (FLUX.1: 19 double-stream blocks 0..18, then 38 single-stream blocks
19..56). For each block list the table says where the image tokens are in the block's
output:

* ``tuple_index``: the output is a tuple and element ``image_index`` is the image stream
  (``text_index`` the text stream, or None);
* ``tensor``: the output is one tensor of image tokens (text enters by cross-attention);
* ``joint_text_first``: the output is one tensor [text tokens; image tokens]. The text
  length is read from the transformer's own ``encoder_hidden_states`` input at call time,
  never guessed by matching a length (FLUX.1-schnell at 256 px has 256 text and 256 image
  tokens, so "the part whose length equals the image token count" is ambiguous).

diffusers keeps a private table of the same facts (``diffusers.hooks._helpers.
TransformerBlockRegistry``); massact keeps its own and the tests cross-check the two.

``cfg_layout`` is the family's usual way of taking guidance: ``"batch"`` (one call on
[unconditional; conditional] rows), ``"calls"`` (true CFG: separate calls, conditional
first, then unconditional; the pipeline takes ``true_cfg_scale``) or ``"none"``
(guidance-distilled, one branch). It picks how a pipeline is given massact's guidance and
its default guidance, never how many calls a run makes: that depends on the pipeline and
its flags (FLUX.1 with ``true_cfg_scale > 1`` adds a negative call; a non-distilled
FLUX.2-klein at guidance > 1 makes two calls), so ``PipelineModel`` reads the layout from
the run (``hooks.BatchLayout.from_run``).
"""
from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import nn


@dataclass(frozen=True)
class BlockList:
    attr: str  # attribute of the transformer holding an nn.ModuleList
    layout: str  # "tuple_index" | "tensor" | "joint_text_first"
    image_index: int | None = None
    text_index: int | None = None


@dataclass(frozen=True)
class Adapter:
    class_name: str
    family: str
    block_lists: tuple[BlockList, ...]
    cfg_layout: str  # "batch" | "calls" | "none"
    text_input: str | None = "encoder_hidden_states"  # forward kwarg carrying text tokens
    image_input: str = "hidden_states"
    note: str = ""


ADAPTERS: dict[str, Adapter] = {
    a.class_name: a
    for a in [
        Adapter("FluxTransformer2DModel", "flux",
                (BlockList("transformer_blocks", "tuple_index", 1, 0),
                 # diffusers >= 0.35 returns (text, image) from single blocks too; older
                 # versions return the joint tensor, handled by the joint fallback below
                 BlockList("single_transformer_blocks", "tuple_index", 1, 0)),
                cfg_layout="none",
                note="FLUX.1 dev/schnell are guidance-distilled (one call); true_cfg_scale > 1 with a negative "
                     "prompt adds a separate negative call after the cond call"),
        Adapter("Flux2Transformer2DModel", "flux2",
                (BlockList("transformer_blocks", "tuple_index", 1, 0),
                 BlockList("single_transformer_blocks", "joint_text_first")),
                cfg_layout="none",
                note="FLUX.2-klein distilled: one call; the base model (is_distilled=False) at guidance > 1 "
                     "calls cond, then uncond"),
        Adapter("QwenImageTransformer2DModel", "qwen-image",
                (BlockList("transformer_blocks", "tuple_index", 1, 0),),
                cfg_layout="calls", note="true CFG: the pipeline calls the transformer for cond, then uncond"),
        Adapter("SD3Transformer2DModel", "sd3",
                # the last JointTransformerBlock returns (None, image)
                (BlockList("transformer_blocks", "tuple_index", 1, 0),),
                cfg_layout="batch", note="guidance > 1: one call on [uncond; cond] rows"),
        Adapter("SanaTransformer2DModel", "sana",
                (BlockList("transformer_blocks", "tensor"),), cfg_layout="batch", text_input=None),
        Adapter("PixArtTransformer2DModel", "pixart",
                (BlockList("transformer_blocks", "tensor"),), cfg_layout="batch", text_input=None),
    ]
}


def supported_classes() -> list[str]:
    return sorted(ADAPTERS)


def adapter_for(transformer: nn.Module) -> Adapter:
    name = type(transformer).__name__
    if name not in ADAPTERS:
        raise ValueError(f"unsupported transformer class {name!r}; massact supports: {', '.join(supported_classes())}")
    return ADAPTERS[name]


@dataclass(frozen=True)
class BlockRef:
    index: int  # global block number, in execution order
    name: str  # e.g. "single_transformer_blocks.3"
    module: nn.Module
    spec: BlockList


def enumerate_blocks(transformer: nn.Module) -> list[BlockRef]:
    """All blocks of a supported transformer, numbered in execution order."""
    adapter = adapter_for(transformer)
    refs: list[BlockRef] = []
    for bl in adapter.block_lists:
        for i, m in enumerate(getattr(transformer, bl.attr, None) or []):
            refs.append(BlockRef(len(refs), f"{bl.attr}.{i}", m, bl))
    return refs


def block_names(transformer: nn.Module) -> list[str]:
    return [b.name for b in enumerate_blocks(transformer)]


def split_streams(output, spec: BlockList, text_len: int | None):
    """(image tokens, text tokens or None) of a block output, as views (no copy)."""
    if isinstance(output, tuple):
        if spec.layout == "tuple_index":
            txt = output[spec.text_index] if spec.text_index is not None else None
            return output[spec.image_index], txt
        output = output[0]
    if spec.layout == "tensor":
        return output, None
    # one joint tensor: text first (also FLUX single blocks in diffusers < 0.35)
    if text_len is None:
        raise RuntimeError("joint text+image block output but the text length is unknown: "
                           "call the transformer with encoder_hidden_states")
    return output[:, text_len:], output[:, :text_len]


def replace_image_stream(output, spec: BlockList, text_len: int | None, new_image: torch.Tensor):
    """The block output with its image stream replaced by new_image (same shape)."""
    if isinstance(output, tuple) and spec.layout == "tuple_index":
        out = list(output)
        out[spec.image_index] = new_image
        return tuple(out)
    if isinstance(output, tuple):
        return (replace_image_stream(output[0], spec, text_len, new_image),) + tuple(output[1:])
    if spec.layout == "tensor":
        return new_image
    return torch.cat([output[:, :text_len], new_image], dim=1)
