"""Small tokenizers built on this machine, one per tokenizer class the pipelines expect.

Nothing is downloaded. Each tokenizer is the ``transformers`` class a real checkpoint
ships (``CLIPTokenizer``, ``T5Tokenizer``, ``GemmaTokenizer``, ``Qwen2Tokenizer``), with that
class's own normalizer, pre-tokenizer and special tokens, and a vocabulary of about a
thousand words (``vocabulary.words()``): BPE merges learned here (``_learn_merges``, a
small deterministic learner) on the words as the class's own normalizer and pre-tokenizer
split them, so the class rebuilds the same tokenizer from its saved vocab and merges in
``from_pretrained``; or a Unigram table for T5. Words outside the vocabulary split into pieces; byte-level classes never need an
unknown token.

Requires ``transformers`` >= 5 (tokenizer classes backed by ``tokenizers``).
"""
from __future__ import annotations

from functools import lru_cache

from .vocabulary import words

#: Qwen chat and vision tokens (the ids differ from Qwen's; the strings are the same)
QWEN_SPECIAL = ("<|endoftext|>", "<|im_start|>", "<|im_end|>", "<|vision_start|>", "<|vision_end|>",
                "<|image_pad|>", "<|video_pad|>")

#: a minimal chat template for Qwen3-style chat (what Flux2KleinPipeline applies to a prompt):
#: one turn per message, then the assistant turn with an empty thinking block when thinking is off
QWEN3_CHAT_TEMPLATE = (
    "{% for message in messages %}<|im_start|>{{ message['role'] }}\n{{ message['content'] }}<|im_end|>\n"
    "{% endfor %}{% if add_generation_prompt %}<|im_start|>assistant\n"
    "{% if enable_thinking is defined and not enable_thinking %}<think>\n\n</think>\n\n{% endif %}{% endif %}"
)


def _corpus() -> list[str]:
    # each word alone (the start of a text) and after a space (inside a text)
    ws = words()
    return ws + [" " + w for w in ws]


def _learn_merges(words: dict[tuple[str, ...], int]) -> list[tuple[str, str]]:
    """BPE merges that turn every word into one symbol, most frequent pair first.

    Deterministic (ties go to the smallest pair), unlike a trainer whose symbol ids follow
    hash-map order: the same corpus always gives the same merges, hence the same tokenizer.

    Args:
        words: symbol sequence -> count.
    Returns:
        the merges, in rank order.
    """
    import heapq

    seqs = [list(w) for w in sorted(words)]
    counts = [words[w] for w in sorted(words)]
    pair_count: dict[tuple[str, str], int] = {}
    where: dict[tuple[str, str], set[int]] = {}

    def add(i: int, sign: int) -> None:
        s = seqs[i]
        for pair in zip(s, s[1:]):
            pair_count[pair] = pair_count.get(pair, 0) + sign * counts[i]
            if sign > 0:
                where.setdefault(pair, set()).add(i)

    for i in range(len(seqs)):
        add(i, 1)
    heap = [(-c, p) for p, c in pair_count.items()]
    heapq.heapify(heap)
    merges = []
    while heap:
        neg, pair = heapq.heappop(heap)
        if pair_count.get(pair, 0) != -neg or -neg <= 0:
            continue  # a stale entry: the count changed since it was pushed
        merges.append(pair)
        joined = pair[0] + pair[1]
        for i in sorted(where.pop(pair, ())):
            add(i, -1)
            s, out, j = seqs[i], [], 0
            while j < len(s):
                if j + 1 < len(s) and (s[j], s[j + 1]) == pair:
                    out.append(joined)
                    j += 2
                else:
                    out.append(s[j])
                    j += 1
            seqs[i] = out
            add(i, 1)
            for p in zip(out, out[1:]):
                heapq.heappush(heap, (-pair_count[p], p))
        pair_count.pop(pair, None)
    return merges


def _train_bpe(cls, special_tokens: list[str], suffix: str = "", alphabet: list[str] | None = None,
               **init_kwargs) -> tuple[dict, list]:
    """(vocab, merges) of a BPE learned on the corpus as ``cls``'s own normalizer and pre-tokenizer see it.

    Args:
        cls: the transformers tokenizer class (its default instance supplies the pipeline).
        special_tokens: tokens placed first in the vocabulary.
        suffix: the class's end-of-word suffix (CLIP: ``</w>``).
        alphabet: the base symbols (default: the characters the corpus uses).
    Returns:
        (token -> id, merges in rank order).
    """
    backend = cls(**init_kwargs).backend_tokenizer
    words: dict[tuple[str, ...], int] = {}
    for text in _corpus():
        if backend.normalizer is not None:
            text = backend.normalizer.normalize_str(text)
        for piece, _ in backend.pre_tokenizer.pre_tokenize_str(text):
            symbols = tuple(piece[:-1]) + (piece[-1] + suffix,)
            words[symbols] = words.get(symbols, 0) + 1
    base = set(alphabet or ()) | {c for w in words for c in w}
    merges = _learn_merges(words)
    vocab: dict[str, int] = {}
    for token in list(special_tokens) + sorted(base) + [a + b for a, b in merges]:
        vocab.setdefault(token, len(vocab))
    return vocab, merges


def _byte_alphabet(suffix: str = "") -> list[str]:
    from tokenizers import pre_tokenizers

    chars = sorted(pre_tokenizers.ByteLevel.alphabet())
    return chars + [c + suffix for c in chars] if suffix else chars


@lru_cache(maxsize=None)
def _clip_vocab():
    from transformers import CLIPTokenizer

    return _train_bpe(CLIPTokenizer, ["<|startoftext|>", "<|endoftext|>"], suffix="</w>",
                      alphabet=_byte_alphabet("</w>"))


def clip_tokenizer(max_length: int = 77):
    """A ``CLIPTokenizer`` (lower-cased byte-level BPE, word-end suffix ``</w>``).

    Args:
        max_length: ``model_max_length`` (CLIP's text encoders take 77 positions).
    Returns:
        a ``transformers.CLIPTokenizer``.
    """
    from transformers import CLIPTokenizer

    vocab, merges = _clip_vocab()
    return CLIPTokenizer(vocab=dict(vocab), merges=list(merges), model_max_length=max_length)


def t5_tokenizer(max_length: int = 512):
    """A ``T5Tokenizer`` (Unigram over ``▁``-prefixed words, 100 sentinel tokens like T5's).

    Args:
        max_length: ``model_max_length``.
    Returns:
        a ``transformers.T5Tokenizer``.
    """
    from transformers import T5Tokenizer

    # whole words score well above their pieces, so Unigram keeps known words whole
    table = [("<pad>", 0.0), ("</s>", 0.0), ("<unk>", 0.0), ("▁", -6.0)]
    seen = {t for t, _ in table}
    for w in words():
        for piece, score in (("▁" + w, -4.0 - 0.01 * len(w)), (w, -5.0 - 0.01 * len(w))):
            if piece not in seen:
                seen.add(piece)
                table.append((piece, score))
    for ch in sorted({c for w in words() for c in w}):  # any letter of a word, for unknown words
        for piece in (ch, "▁" + ch):
            if piece not in seen:
                seen.add(piece)
                table.append((piece, -12.0))
    return T5Tokenizer(vocab=table, model_max_length=max_length)


@lru_cache(maxsize=None)
def _gemma_vocab():
    from transformers import GemmaTokenizer

    specials = ["<pad>", "<eos>", "<bos>", "<unk>", "<mask>", "<start_of_turn>", "<end_of_turn>"]
    # byte-fallback pieces, as in Gemma's vocabulary: characters outside the vocabulary become bytes
    specials += [f"<0x{b:02X}>" for b in range(256)]
    return _train_bpe(GemmaTokenizer, specials)


def gemma_tokenizer(max_length: int = 8192):
    """A ``GemmaTokenizer`` (BPE over ``▁``-joined text with byte fallback, ``<bos>`` first).

    Args:
        max_length: ``model_max_length``.
    Returns:
        a ``transformers.GemmaTokenizer``.
    """
    from transformers import GemmaTokenizer

    vocab, merges = _gemma_vocab()
    return GemmaTokenizer(vocab=dict(vocab), merges=list(merges), model_max_length=max_length,
                          add_bos_token=True, add_eos_token=False,
                          additional_special_tokens=["<start_of_turn>", "<end_of_turn>"])


@lru_cache(maxsize=None)
def _qwen_vocab():
    from transformers import Qwen2Tokenizer

    return _train_bpe(Qwen2Tokenizer, list(QWEN_SPECIAL) + ["<think>", "</think>"], alphabet=_byte_alphabet())


def qwen2_tokenizer(chat_template: str | None = None, max_length: int = 32768):
    """A ``Qwen2Tokenizer`` (byte-level BPE with Qwen's chat and vision tokens).

    Args:
        chat_template: a Jinja chat template (e.g. ``QWEN3_CHAT_TEMPLATE``) or None.
        max_length: ``model_max_length``.
    Returns:
        a ``transformers.Qwen2Tokenizer``.
    """
    from transformers import Qwen2Tokenizer

    vocab, merges = _qwen_vocab()
    kwargs = {"chat_template": chat_template} if chat_template else {}
    return Qwen2Tokenizer(vocab=dict(vocab), merges=list(merges), model_max_length=max_length,
                          additional_special_tokens=list(QWEN_SPECIAL[1:]), **kwargs)


def byte_bpe_tokenizer(special_tokens, bos=None, eos=None, pad=None, unk=None, prefix=(), max_length=4096,
                        padding_side="right", extra_special_tokens=None):
    """A byte-level BPE ``PreTrainedTokenizerFast``: the stand-in for checkpoints that ship a plain
    ``tokenizer.json`` (Llama-3 / SmolLM3, GLM-4). Qwen's learned vocabulary and merges
    (``tokenizers._qwen_vocab``) with Qwen's normalizer and pre-tokenizer, and other special tokens.

    Args:
        special_tokens: the checkpoint's special tokens (appended to the vocabulary).
        bos, eos, pad: which of them play these roles.
        prefix: special tokens the post-processor puts before every text (GLM-4: "[gMASK]", "<sop>").
        max_length: ``model_max_length``; padding_side: "right" or "left".
        extra_special_tokens: named roles ({"image_token": "<|image|>", ...}) saved with the tokenizer.
    """
    from tokenizers import Tokenizer, decoders, models, processors
    from transformers import PreTrainedTokenizerFast

    vocab, merges = _qwen_vocab()
    vocab = dict(vocab)
    for s in special_tokens:
        vocab.setdefault(s, len(vocab))
    backend = Tokenizer(models.BPE(vocab=vocab, merges=list(merges), ignore_merges=True))
    qwen = qwen2_tokenizer().backend_tokenizer
    backend.normalizer, backend.pre_tokenizer = qwen.normalizer, qwen.pre_tokenizer
    backend.decoder = decoders.ByteLevel()
    if prefix:
        p = " ".join(prefix)
        backend.post_processor = processors.TemplateProcessing(
            single=f"{p} $A", pair=f"{p} $A $B", special_tokens=[(t, vocab[t]) for t in prefix])
    roles = {k: v for k, v in (("bos_token", bos), ("eos_token", eos), ("pad_token", pad), ("unk_token", unk))
             if v is not None}
    extra = {"extra_special_tokens": extra_special_tokens} if extra_special_tokens else {}
    return PreTrainedTokenizerFast(tokenizer_object=backend, model_max_length=max_length, padding_side=padding_side,
                                   additional_special_tokens=[s for s in special_tokens if s not in roles.values()],
                                   **roles, **extra)
