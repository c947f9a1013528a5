"""Batched generation with forced prefixes: what the premise checks sample from."""

import pytest

from currvl.data.synthetic import make_samples
from currvl.models import load_model
from currvl.models.generation import generate


def test_a_forced_prefix_starts_the_completion_and_conditions_it(tiny_model_dir):
    model, processor = load_model(tiny_model_dir)
    items = make_samples("general", "test", 3)
    prefixes = ["<think>the shape", "", "<answer>"]
    out = generate(model, processor, items, prefixes=prefixes, max_new_tokens=3, show_progress=False)
    assert [o.startswith(p) for o, p in zip(out, prefixes, strict=True)] == [True] * 3
    one = items[1:2]  # an empty prefix is free generation
    free = generate(model, processor, one, max_new_tokens=3, show_progress=False)
    assert generate(model, processor, one, prefixes=[""], max_new_tokens=3, show_progress=False) == free
    sampled = generate(
        model, processor, items, prefixes=prefixes, num_samples=2, temperature=1.0, max_new_tokens=2,
        show_progress=False,
    )  # fmt: skip
    assert len(sampled) == 6 and all(s.startswith(prefixes[i // 2]) for i, s in enumerate(sampled))
    with pytest.raises(ValueError, match="2 prefixes for 3 samples"):
        generate(model, processor, items, prefixes=prefixes[:2])
