"""Teacher-forced scoring equals the model's own loss on the completion tokens, computed by hand."""

from __future__ import annotations

import torch

from currvl.data.prompts import prompt_messages, target_text
from currvl.data.synthetic import make_samples
from currvl.models import load_model
from currvl.models.teacher_forcing import reference_nll, reference_token_nll, teacher_forced_logits


def _by_hand(model, processor, sample, completion: str) -> torch.Tensor:
    """Per-token NLL of `completion` after the sample's prompt, one unpadded row at a time."""
    prompt = processor.apply_chat_template(
        prompt_messages(sample), add_generation_prompt=True, tokenize=False
    )
    enc = processor(text=[prompt + completion], images=[sample["image"]], return_tensors="pt")
    n = len(processor.tokenizer(completion, add_special_tokens=False)["input_ids"])
    with torch.no_grad():
        logits = model(**enc).logits[0, -n - 1 : -1]
    return torch.nn.functional.cross_entropy(logits.float(), enc["input_ids"][0, -n:], reduction="none")


def test_reference_nll_matches_a_hand_computed_unpadded_forward(tiny_model_dir):
    model, processor = load_model(tiny_model_dir)
    model.eval()
    samples = make_samples("scan", "test", 3)  # different lengths: the batch is left-padded
    token_nll = reference_token_nll(model, processor, samples, batch_size=3)
    for sample, got in zip(samples, token_nll, strict=True):
        expected = _by_hand(model, processor, sample, target_text(sample))
        assert got.shape == expected.shape
        torch.testing.assert_close(got, expected, atol=1e-4, rtol=1e-4)
    means = reference_nll(model, processor, samples, batch_size=2)
    # another batch size pads differently: the same means
    for mean, tokens in zip(means, token_nll, strict=True):
        assert abs(mean - tokens.mean().item()) < 1e-4


def test_teacher_forced_logits_return_the_completion_tokens(tiny_model_dir):
    model, processor = load_model(tiny_model_dir)
    samples = make_samples("general", "test", 2)
    completions = ["<answer>red</answer>", "<think>x</think><answer>3</answer>"]
    rows = teacher_forced_logits(model, processor, samples, completions)
    for (logits, ids), text in zip(rows, completions, strict=True):
        assert processor.tokenizer.decode(ids) == text
        assert logits.shape == (len(ids), model.lm_head.out_features)
