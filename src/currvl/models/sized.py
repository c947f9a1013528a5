"""A Qwen2.5-VL of a real model's size, built in memory from its published sizes, random weights.

Why: the GPU figures users need (step time, tokens/s, peak memory of a 3B model) depend on the
architecture's sizes, not on trained weights, and the bench downloads nothing. `QWEN25VL_3B` holds
the sizes of Qwen2.5-VL-3B-Instruct's published config.json; `build_sized_model` instantiates
`Qwen2_5_VLForConditionalGeneration` with them (the shipped base's processor and tokenizer supply
the chat template and token ids; the embedding keeps the real vocabulary's 151,936 rows, so its
memory is the real one). `scaled` shrinks every width by a factor and keeps every depth: the same
code path on a CPU in seconds.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field

import torch
from transformers import Qwen2_5_VLConfig, Qwen2_5_VLForConditionalGeneration

from currvl.models.loading import load_processor


@dataclass(frozen=True)
class VLMSizes:
    """The sizes of a Qwen2.5-VL (language model and vision tower)."""

    name: str
    vocab_size: int
    hidden_size: int
    intermediate_size: int
    num_hidden_layers: int
    num_attention_heads: int
    num_key_value_heads: int
    mrope_section: tuple[int, int, int]
    rope_theta: float
    tie_word_embeddings: bool
    vision_depth: int
    vision_hidden_size: int
    vision_intermediate_size: int
    vision_num_heads: int
    fullatt_block_indexes: tuple[int, ...] = field(default=())
    window_size: int = 112


QWEN25VL_3B = VLMSizes(
    name="qwen2.5-vl-3b",
    vocab_size=151936,
    hidden_size=2048,
    intermediate_size=11008,
    num_hidden_layers=36,
    num_attention_heads=16,
    num_key_value_heads=2,
    mrope_section=(16, 24, 24),
    rope_theta=1000000.0,
    tie_word_embeddings=True,
    vision_depth=32,
    vision_hidden_size=1280,
    vision_intermediate_size=3420,
    vision_num_heads=16,
    fullatt_block_indexes=(7, 15, 23, 31),
)
"""Qwen/Qwen2.5-VL-3B-Instruct's config.json, as published."""


SMOKE_FACTOR = 16
"""`scaled(QWEN25VL_3B, SMOKE_FACTOR)`: every depth of the 3B model, 8-wide language heads (~13M
parameters), what the CPU runs to check the GPU script's code path."""


def _head_width(width: int, heads: int, factor: int) -> int:
    """A head's width divided by `factor`, kept even (rotary pairs) and at least 2."""
    return max(2, (width // heads // factor) // 2 * 2)


def scaled(sizes: VLMSizes, factor: int) -> VLMSizes:
    """Every width (heads' widths, intermediate, vocabulary) divided by `factor`, head counts and
    depths kept; the rotary sections keep their proportions."""
    head = _head_width(sizes.hidden_size, sizes.num_attention_heads, factor)
    half = head // 2
    hw = max(1, int(half * sizes.mrope_section[1] / sum(sizes.mrope_section)))
    if half - 2 * hw < 1:
        raise ValueError(f"factor {factor} leaves {head}-wide heads: too narrow for three rotary sections")
    return dataclasses.replace(
        sizes,
        name=f"{sizes.name}/{factor}",
        vocab_size=max(4096, sizes.vocab_size // factor),
        hidden_size=head * sizes.num_attention_heads,
        intermediate_size=sizes.intermediate_size // factor,
        mrope_section=(half - 2 * hw, hw, hw),
        vision_hidden_size=_head_width(sizes.vision_hidden_size, sizes.vision_num_heads, factor)
        * sizes.vision_num_heads,
        vision_intermediate_size=sizes.vision_intermediate_size // factor,
    )


def build_sized_model(sizes: VLMSizes, dtype: torch.dtype = torch.float32, device: str | None = None):
    """(model, processor): random weights of `sizes`, the shipped base's processor."""
    processor = load_processor("currvl-base")
    tok = processor.tokenizer
    ids = {t: tok.convert_tokens_to_ids(t) for t in ("<|endoftext|>", "<|im_end|>", "<|image_pad|>")}
    ids.update(
        {t: tok.convert_tokens_to_ids(t) for t in ("<|video_pad|>", "<|vision_start|>", "<|vision_end|>")}
    )
    if len(tok) > sizes.vocab_size:
        raise ValueError(
            f"{sizes.name}: vocabulary {sizes.vocab_size} is smaller than the tokenizer's {len(tok)}"
        )
    config = Qwen2_5_VLConfig(
        text_config={
            "vocab_size": sizes.vocab_size,
            "hidden_size": sizes.hidden_size,
            "intermediate_size": sizes.intermediate_size,
            "num_hidden_layers": sizes.num_hidden_layers,
            "num_attention_heads": sizes.num_attention_heads,
            "num_key_value_heads": sizes.num_key_value_heads,
            "max_position_embeddings": 32768,
            "rope_parameters": {
                "rope_type": "default",
                "rope_theta": sizes.rope_theta,
                "mrope_section": list(sizes.mrope_section),
            },
            "bos_token_id": ids["<|endoftext|>"],
            "eos_token_id": ids["<|im_end|>"],
            "pad_token_id": ids["<|endoftext|>"],
            "tie_word_embeddings": sizes.tie_word_embeddings,
        },
        vision_config={
            "depth": sizes.vision_depth,
            "hidden_size": sizes.vision_hidden_size,
            "intermediate_size": sizes.vision_intermediate_size,
            "num_heads": sizes.vision_num_heads,
            "out_hidden_size": sizes.hidden_size,
            "fullatt_block_indexes": list(sizes.fullatt_block_indexes) or [sizes.vision_depth - 1],
            "window_size": sizes.window_size,
        },
        image_token_id=ids["<|image_pad|>"],
        video_token_id=ids["<|video_pad|>"],
        vision_start_token_id=ids["<|vision_start|>"],
        vision_end_token_id=ids["<|vision_end|>"],
        tie_word_embeddings=sizes.tie_word_embeddings,
    )
    with torch.device(device or "cpu"):
        model = Qwen2_5_VLForConditionalGeneration(config).to(dtype)
    model.generation_config.eos_token_id = ids["<|im_end|>"]
    model.generation_config.pad_token_id = ids["<|endoftext|>"]
    return model, processor


def parameter_count(model: torch.nn.Module) -> int:
    return sum(p.numel() for p in model.parameters())
