"""Shared fixtures: one tiny Qwen2.5-VL per test session, built offline."""

from __future__ import annotations

import os

import pytest

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")

from currvl.models.tiny import TinyModelSpec, build_tiny_model  # noqa: E402

# Smaller than the demo's model: the tests check plumbing and maths, not learning curves.
TEST_SPEC = TinyModelSpec(
    vocab_size=600,
    hidden_size=32,
    intermediate_size=64,
    num_hidden_layers=2,
    num_attention_heads=4,
    num_key_value_heads=2,
    vision_depth=1,
    vision_hidden_size=32,
    vision_intermediate_size=64,
    vision_num_heads=2,
)


@pytest.fixture(scope="session")
def tiny_model_dir(tmp_path_factory):
    return build_tiny_model(tmp_path_factory.mktemp("tiny-qwen2.5-vl"), TEST_SPEC)
