"""A tiny Qwen2.5-VL built entirely offline: random weights, a locally trained tokenizer, real processor.

Why: tests, CI and the embedded demo must exercise the exact code path a user runs on
Qwen2.5-VL-3B (same model class, same processor class, same chat-template conventions) without any
hub download. The result is a normal Hugging Face folder that `currvl.models.load_model` loads.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from dataclasses import asdict, dataclass, replace
from pathlib import Path

import torch
from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers
from transformers import (
    PreTrainedTokenizerFast,
    Qwen2_5_VLConfig,
    Qwen2_5_VLForConditionalGeneration,
    Qwen2_5_VLProcessor,
    Qwen2VLImageProcessor,
)
from transformers.models.qwen2_vl.video_processing_qwen2_vl import Qwen2VLVideoProcessor

# Qwen2.5-VL's special tokens, in Qwen's order, so prompts render exactly as for the real model.
QWEN_SPECIAL_TOKENS = [
    "<|endoftext|>",
    "<|im_start|>",
    "<|im_end|>",
    "<|vision_start|>",
    "<|vision_end|>",
    "<|image_pad|>",
    "<|video_pad|>",
]
# Reasoning/answer tags are ordinary (non-special) added tokens: they survive decoding, as with Qwen's BPE.
TAG_TOKENS = ["<think>", "</think>", "<answer>", "</answer>"]

# The Qwen2.5-VL chat template, restricted to text and image parts (no video, no tools).
CHAT_TEMPLATE = (
    "{% set image_count = namespace(value=0) %}"
    "{% for message in messages %}"
    "{% if loop.first and message['role'] != 'system' %}"
    "<|im_start|>system\nYou are a helpful assistant.<|im_end|>\n"
    "{% endif %}"
    "<|im_start|>{{ message['role'] }}\n"
    "{% if message['content'] is string %}{{ message['content'] }}"
    "{% else %}{% for content in message['content'] %}"
    "{% if content['type'] == 'image' or 'image' in content or 'image_url' in content %}"
    "{% set image_count.value = image_count.value + 1 %}"
    "<|vision_start|><|image_pad|><|vision_end|>"
    "{% elif 'text' in content %}{{ content['text'] }}"
    "{% endif %}{% endfor %}{% endif %}"
    "<|im_end|>\n"
    "{% endfor %}"
    "{% if add_generation_prompt %}<|im_start|>assistant\n{% endif %}"
)

DEFAULT_CORPUS = [
    "You are a helpful assistant.",
    "First output the thinking process in <think> </think> tags and then output the final answer in "
    "<answer> </answer> tags.",
    "0 1 2 3 4 5 6 7 8 9 10 11 12 13 14 15 16 17 18 19 20 + - = . , ? ! [ ] ( ) yes no A B C D E",
]


@dataclass
class TinyModelSpec:
    """Sizes of the tiny model. Defaults give ~1.5M parameters: learns the synthetic worlds on 2 CPU cores."""

    vocab_size: int = 1024
    hidden_size: int = 128
    intermediate_size: int = 256
    num_hidden_layers: int = 4
    num_attention_heads: int = 4
    num_key_value_heads: int = 2
    vision_depth: int = 3
    vision_hidden_size: int = 128
    vision_intermediate_size: int = 256
    vision_num_heads: int = 4
    min_pixels: int = 28 * 28 * 4
    max_pixels: int = 28 * 28 * 16
    seed: int = 0

    def with_language(self, width: int, layers: int) -> TinyModelSpec:
        """This spec with a language model `width` wide and `layers` deep, in the default's proportions
        (head dim 32, MLP twice the width, two query heads per key-value head); the vision tower stays."""
        if width % 64:
            raise ValueError(f"language model width must be a multiple of 64, got {width}")
        if layers < 1:
            raise ValueError(f"language model layers must be at least 1, got {layers}")
        heads = width // 32
        return replace(
            self,
            hidden_size=width,
            intermediate_size=2 * width,
            num_hidden_layers=layers,
            num_attention_heads=heads,
            num_key_value_heads=heads // 2,
        )


def train_tokenizer(corpus: Iterable[str], vocab_size: int = 1024) -> PreTrainedTokenizerFast:
    """Train a byte-level BPE (like Qwen's) on `corpus`, with Qwen's special tokens and the reasoning tags."""
    tok = Tokenizer(models.BPE())
    tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tok.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(
        vocab_size=vocab_size,
        special_tokens=QWEN_SPECIAL_TOKENS,
        initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
        show_progress=False,
    )
    tok.train_from_iterator(list(corpus) + DEFAULT_CORPUS, trainer=trainer)
    fast = PreTrainedTokenizerFast(
        tokenizer_object=tok,
        eos_token="<|im_end|>",
        pad_token="<|endoftext|>",
        padding_side="left",  # right padding breaks Qwen-VL rope indices with mixed image sizes
        model_max_length=4096,
        extra_special_tokens={
            "image_token": "<|image_pad|>",
            "video_token": "<|video_pad|>",
            "vision_bos_token": "<|vision_start|>",
            "vision_eos_token": "<|vision_end|>",
        },
    )
    fast.add_tokens(TAG_TOKENS)
    fast.chat_template = CHAT_TEMPLATE
    return fast


def default_corpus() -> list[str]:
    """Text of the synthetic worlds (questions, answers, rationales, format instructions)."""
    from currvl.data.prompts import FORMAT_SUFFIXES
    from currvl.data.synthetic import WORLDS, make_samples

    texts: list[str] = list(FORMAT_SUFFIXES.values())
    for world in WORLDS:
        for split in ("train", "test"):
            for s in make_samples(world, split, n=200, seed=0):
                texts.extend([s["question"], s["answer"], s.get("rationale") or ""])
    return texts


ENGLISH_CORPUS = Path(__file__).parent / "data" / "corpus_en.txt"
"""About 80 KB of plain general English (home, travel, science, medicine, stories...), written for
currvl: what a real tokenizer is trained on, so domain words are whole tokens as in Qwen's BPE."""


def corpus_with_english() -> list[str]:
    """A tokenizer corpus from today's code: general English plus every synthetic world's text (no
    answers are learnt from it; it only decides how text splits into tokens). The shipped base was
    built from `frozen_tokenizer_corpus`, this function's output when it was built."""
    from currvl.data.synthetic import EXTRA_WORLDS, make_samples

    texts = [line for line in ENGLISH_CORPUS.read_text().splitlines() if line.strip()]
    texts += default_corpus()
    for world in EXTRA_WORLDS:
        for s in make_samples(world, "train", n=200, seed=0):
            texts.extend([s["question"], s["answer"], s.get("rationale") or ""])
    return texts


TOKENIZER_CORPUS = Path(__file__).parent / "data" / "tokenizer_corpus.jsonl"
"""The shipped base's tokenizer corpus, frozen: `corpus_with_english()` as of commit a083964, one JSON
string per line. A world's wording change (scan_qa's, in 48dfe88) changes today's corpus, hence the
BPE merges, the token ids and the whole pretraining run; the frozen file keeps `currvl model pretrain`
rebuilding the shipped base."""


def frozen_tokenizer_corpus() -> list[str]:
    """The corpus the shipped base's tokenizer was trained on (see `TOKENIZER_CORPUS`)."""
    with TOKENIZER_CORPUS.open(encoding="utf-8") as f:
        return [json.loads(line) for line in f if line.strip()]


def build_tiny_model(
    out_dir: str | Path,
    spec: TinyModelSpec | None = None,
    corpus: Iterable[str] | None = None,
) -> Path:
    """Build a random-weight Qwen2.5-VL + processor and save both as a normal HF folder at `out_dir`."""
    spec = spec or TinyModelSpec()
    out = Path(out_dir)
    torch.manual_seed(spec.seed)
    tokenizer = train_tokenizer(corpus if corpus is not None else default_corpus(), spec.vocab_size)
    image_processor = Qwen2VLImageProcessor(min_pixels=spec.min_pixels, max_pixels=spec.max_pixels)
    processor = Qwen2_5_VLProcessor(
        image_processor=image_processor,
        tokenizer=tokenizer,
        video_processor=Qwen2VLVideoProcessor(),
        chat_template=CHAT_TEMPLATE,
    )
    head_dim = spec.hidden_size // spec.num_attention_heads
    quarter = head_dim // 4  # mrope splits head_dim/2 rotary pairs over (time, height, width)
    mrope_section = [head_dim // 2 - 2 * quarter, quarter, quarter]
    ids = {t: tokenizer.convert_tokens_to_ids(t) for t in QWEN_SPECIAL_TOKENS}
    config = Qwen2_5_VLConfig(
        text_config={
            "vocab_size": len(tokenizer),
            "hidden_size": spec.hidden_size,
            "intermediate_size": spec.intermediate_size,
            "num_hidden_layers": spec.num_hidden_layers,
            "num_attention_heads": spec.num_attention_heads,
            "num_key_value_heads": spec.num_key_value_heads,
            "max_position_embeddings": 4096,
            "rope_parameters": {
                "rope_type": "default",
                "rope_theta": 10000.0,
                "mrope_section": mrope_section,
            },
            "bos_token_id": ids["<|endoftext|>"],
            "eos_token_id": ids["<|im_end|>"],
            "pad_token_id": ids["<|endoftext|>"],
            "tie_word_embeddings": True,
        },
        vision_config={
            "depth": spec.vision_depth,
            "hidden_size": spec.vision_hidden_size,
            "intermediate_size": spec.vision_intermediate_size,
            "num_heads": spec.vision_num_heads,
            "out_hidden_size": spec.hidden_size,
            "fullatt_block_indexes": [spec.vision_depth - 1],
            "window_size": 112,
        },
        image_token_id=ids["<|image_pad|>"],
        video_token_id=ids["<|video_pad|>"],
        vision_start_token_id=ids["<|vision_start|>"],
        vision_end_token_id=ids["<|vision_end|>"],
        tie_word_embeddings=True,
    )
    model = Qwen2_5_VLForConditionalGeneration(config)
    model.generation_config.eos_token_id = ids["<|im_end|>"]
    model.generation_config.pad_token_id = ids["<|endoftext|>"]
    model.generation_config.bos_token_id = ids["<|endoftext|>"]
    out.mkdir(parents=True, exist_ok=True)
    model.save_pretrained(out)
    processor.save_pretrained(out)
    (out / "currvl_tiny_spec.json").write_text(json.dumps(asdict(spec), indent=2))
    return out
