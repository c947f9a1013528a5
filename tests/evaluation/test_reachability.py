"""Premise checks: where a forced prefix stops, and the reachability figures on a hand-counted case."""

import pytest

from currvl.data.prompts import target_text
from currvl.data.schema import make_sample
from currvl.data.synthetic import make_samples
from currvl.data.synthetic.unseen_forms import CONCEPT_WORDS
from currvl.evaluation import reachability as reach
from currvl.models.loading import load_processor


@pytest.fixture(scope="module")
def tokenizer():
    return load_processor("currvl-base").tokenizer


def _report(answer: str, rationale: str) -> dict:
    return make_sample(
        "Write the report.", answer, "text", image=None, category="report", rationale=rationale
    )


@pytest.mark.parametrize(
    ("sample", "vocabulary", "prefix"),
    [
        # a finding in the rationale: the cut stops before its first mention, not the answer's
        (
            _report(
                "A small nodule in the upper part. No other findings.", "there is a round spot, so a nodule"
            ),
            (),
            "<think>there is a round spot, so a",
        ),
        # a short answer: the concept is the answer itself
        (
            make_sample("What colour?", "red", "text", rationale="i look"),
            (),
            "<think>i look</think>\n<answer>",
        ),
        # a sentence answer: the first vocabulary word it holds
        (
            make_sample("Describe.", "A red circle next to the left edge.", "text", rationale="i look"),
            CONCEPT_WORDS,
            "<think>i look</think>\n<answer>A",
        ),
        # a number
        (
            make_sample("How many?", "12", "math", rationale="i count them"),
            (),
            "<think>i count them</think>\n<answer>",
        ),
    ],
)
def test_the_cut_lands_just_before_the_first_concept_token(tokenizer, sample, vocabulary, prefix):
    (got,) = reach.forced_prefixes(tokenizer, [sample], "before_concept", vocabulary=vocabulary)
    assert got == prefix
    reference = target_text(sample)
    rest = reference[len(got) :]
    assert rest.lstrip().lower().startswith(tuple(reach.concept_terms(sample, vocabulary)))
    # the cut is a token boundary of the reference's own tokenisation
    assert len(got) in reach.token_ends(tokenizer, reference)


def test_no_concept_leaves_the_item_out(tokenizer):
    box = make_sample("Box it.", "[1, 2, 3, 4]", "box", rationale="there")
    assert reach.forced_prefixes(tokenizer, [box], "before_concept") == [None]


def test_a_share_forces_ceil_of_the_reference_tokens(tokenizer):
    sample = make_samples("unseen_forms", "train", 1)[0]
    reference = target_text(sample)
    ends = reach.token_ends(tokenizer, reference)
    for share in (0.0, 0.3, 0.6, 1.0):
        (got,) = reach.forced_prefixes(tokenizer, [sample], "share", share=share)
        k = -(-int(share * len(ends) * 1000) // 1000)  # ceil without float noise
        assert got == (reference[: ends[k - 1]] if k else "")
    assert reach.forced_prefixes(tokenizer, [sample], "free") == [""]


def test_hand_counted_table():
    samples = [
        make_sample("q", "a", "text", category="x"),
        make_sample("q", "b", "text", category="x"),
        make_sample("q", "c", "text", category="y"),
    ]
    scores = [0, 0, 0, 0, 1, 0, 0, 0, 1, 1, 1, 1]  # k = 4: x: none, then one; y: all paid (no spread)
    table = reach.reachability_table(samples, scores, k=4)
    assert table["x"] == {
        "items": 2,
        "samples_paid": 1 / 8,
        "mean_score": 1 / 8,
        "groups_with_a_paid_sample": 0.5,
        "groups_with_spread": 0.5,
    }
    assert table["y"]["samples_paid"] == 1.0 and table["y"]["groups_with_spread"] == 0.0
    assert table["all"]["samples_paid"] == 5 / 12
    assert table["all"]["groups_with_spread"] == pytest.approx(1 / 3)
    with pytest.raises(ValueError, match="scores for 3 samples"):
        reach.reachability_table(samples, scores[:-1], k=4)


def test_free_and_prefix_runs_score_what_was_sampled(monkeypatch, tokenizer):
    """The figures equal a hand count of crafted completions, and each run forces its own prefix."""
    samples = [
        make_sample(
            "Describe.", "A red circle next to the left edge.", "text", category="edge", rationale="i look"
        ),
        make_sample(
            "Describe.", "A blue star next to the top edge.", "text", category="edge", rationale="i look"
        ),
    ]
    seen = {}

    def fake_generate(model, processor, items, *, num_samples, prefixes, **kwargs):
        seen[kwargs["description"]] = list(prefixes)
        out = []
        for s, p in zip(items, prefixes, strict=True):
            right = f"<think>i look</think>\n<answer>{s['answer']}</answer>"
            wrong = "<think>i look</think>\n<answer>star</answer>"
            # the first item is answered right once in 4, the second never
            texts = [right if s is samples[0] and j == 0 else wrong for j in range(num_samples)]
            out += [t if t.startswith(p) else p + t for t in texts]
        return out

    monkeypatch.setattr(reach, "generate", fake_generate)
    processor = type("P", (), {"tokenizer": tokenizer})()
    free = reach.reachability(None, processor, samples, k=4, mode="free")
    assert seen["sampling (free)"] == ["", ""]
    assert free["categories"]["edge"]["samples_paid"] == 1 / 8
    assert free["categories"]["edge"]["groups_with_spread"] == 0.5
    concept = reach.reachability(
        None, processor, samples, k=4, mode="before_concept", vocabulary=CONCEPT_WORDS
    )
    assert seen["sampling (before_concept)"] == ["<think>i look</think>\n<answer>A"] * 2
    assert concept["categories"]["edge"]["groups_with_a_paid_sample"] == 0.5
