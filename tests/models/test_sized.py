"""A Qwen2.5-VL of the 3B model's sizes, built without a download; and the GPU check's CPU path."""

import json
import subprocess
import sys
from pathlib import Path

import pytest
import torch

from currvl.models.sized import QWEN25VL_3B, SMOKE_FACTOR, build_sized_model, parameter_count, scaled


def test_the_3b_sizes_give_the_published_parameter_count():
    model, _ = build_sized_model(QWEN25VL_3B, dtype=torch.bfloat16, device="meta")  # no memory
    assert parameter_count(model) == pytest.approx(3.75e9, rel=0.01)  # Qwen2.5-VL-3B: 3.75B
    text = model.config.text_config
    assert (text.hidden_size, text.num_hidden_layers, text.vocab_size) == (2048, 36, 151936)
    assert model.config.vision_config.fullatt_block_indexes == [7, 15, 23, 31]


def test_scaling_keeps_every_depth_and_valid_heads():
    small = scaled(QWEN25VL_3B, SMOKE_FACTOR)
    assert (small.num_hidden_layers, small.vision_depth) == (36, 32)
    assert small.hidden_size % small.num_attention_heads == 0
    assert sum(small.mrope_section) == small.hidden_size // small.num_attention_heads // 2
    model, processor = build_sized_model(small)
    enc = processor(
        text=["<|vision_start|><|image_pad|><|vision_end|>hi"],
        images=[torch.zeros(3, 56, 56)],
        return_tensors="pt",
    )
    assert model(**enc).logits.shape[-1] == small.vocab_size


@pytest.mark.slow
def test_the_gpu_check_runs_its_cpu_path(tmp_path):
    script = Path(__file__).resolve().parents[2] / "benchmarks" / "gpu_check.py"
    out = tmp_path / "check.json"
    cmd = [sys.executable, str(script), "--size", "smoke", "--steps", "2", "--settings", "small"]
    cmd += ["--modes", "full,lora", "--trainers", "currvl", "--new-tokens", "4", "--json", str(out)]
    done = subprocess.run(cmd, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stdout[-2000:] + done.stderr[-2000:]
    runs = json.loads(out.read_text())["runs"]
    assert [(r["mode"], r["trainer"]) for r in runs] == [("full", "currvl"), ("lora", "currvl")]
    for r in runs:
        assert r["mean_completion_length"] == 4  # fixed length: EOS held back
        assert r["tokens_per_s"] > 0 and r["steps"] == 2
