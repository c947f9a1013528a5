"""The graded similarity rewards in TRL's signature, their threshold gate and CIDEr corpus."""

import pickle

import pytest

from currvl.rewards import (
    REWARD_NAMES,
    REWARD_OPTIONS,
    CiderCorpus,
    CiderReward,
    RougeLReward,
    accuracy_reward,
    cider_d,
    gate,
    get_reward_funcs,
)
from tests.rewards.test_rule_rewards import conv
from tests.rewards.test_similarity import CAPTIONS


def test_gate_keeps_scores_at_or_above_the_threshold():
    assert gate(0.5, 0.6) == 0.0 and gate(0.7, 0.6) == 0.7 and gate(0.6, 0.6) == 0.6
    assert gate(None, 0.5) is None


# ---------------------------------------------------------------- TRL rewards


def test_similarity_rewards_are_registered():
    assert {"rouge_l", "cider", "findings_f1"} <= set(REWARD_NAMES)
    assert {"similarity_threshold", "cider_corpus", "findings_vocabulary"} <= set(REWARD_OPTIONS)
    funcs = get_reward_funcs(["rouge_l", "cider", "findings_f1"])
    assert [f.__name__ for f in funcs] == ["rouge_l", "cider", "findings_f1"]
    for func in funcs:
        clone = pickle.loads(pickle.dumps(func))
        assert clone.__name__ == func.__name__ and clone.similarity_threshold == 0.0


def test_rouge_l_reward_trl_signature():
    (reward,) = get_reward_funcs(["rouge_l"])
    completions = [
        "<think>look</think><answer>a small nodule</answer>",
        "a small nodule",  # no answer tag: the whole completion is compared
        "<think>the report says a small nodule in the upper zone</think><answer></answer>",  # empty answer
        "<answer>A small nodule in the upper zone.</answer>",
        "<answer>anything</answer>",
    ]
    answers = ["A small nodule in the upper zone."] * 4 + [None]
    extras = {"completion_ids": [[1]] * 5, "trainer_state": None, "log_metric": None, "task": ["text"] * 5}
    expected = [pytest.approx(0.6), pytest.approx(0.6), 0.0, 1.0, None]
    assert reward([None] * 5, completions, answer=answers, **extras) == expected
    assert reward([None] * 5, [conv(c) for c in completions], answer=answers) == expected
    # several references per row: best one
    assert reward(
        prompts=[None], completions=["<answer>the cat</answer>"], answer=[["a dog", "The cat!"]]
    ) == [1.0]
    with pytest.raises(ValueError, match="answer"):  # a data bug (get_reward_funcs' guard logs it)
        RougeLReward()([None], ["x"])


def test_similarity_threshold_gate():
    completions = [
        "<answer>a small nodule</answer>",
        "<answer>the cat sat on the mat</answer>",
        "<answer>x</answer>",
    ]
    answers = ["A small nodule in the upper zone.", "the cat lay on the mat", "y"]
    (plain,) = get_reward_funcs(["rouge_l"])
    (gated,) = get_reward_funcs(["rouge_l"], similarity_threshold=0.7)
    assert plain([None] * 3, completions, answer=answers) == [pytest.approx(0.6), pytest.approx(5 / 6), 0.0]
    logged = {}
    out = gated([None] * 3, completions, answer=answers, log_metric=lambda k, v: logged.__setitem__(k, v))
    assert out == [0.0, pytest.approx(5 / 6), 0.0]
    assert logged == {"rewards/rouge_l/ungated_mean": pytest.approx((0.6 + 5 / 6) / 3)}
    gated.set_similarity_threshold(0.5)  # a curriculum moves delta during training
    assert gated([None], completions[:1], answer=answers[:1]) == [pytest.approx(0.6)]
    gated.set_similarity_threshold(0.6)  # s >= delta keeps s
    assert gated([None], ["<answer>a small nodule</answer>"], answer=answers[:1]) == [pytest.approx(0.6)]
    with pytest.raises(ValueError, match="similarity_threshold"):
        gated.set_similarity_threshold(1.5)
    with pytest.raises(ValueError, match="similarity_threshold"):
        get_reward_funcs(["cider"], similarity_threshold=-0.1)


def test_findings_f1_reward_and_vocabulary_option():
    (reward,) = get_reward_funcs(["findings_f1"])
    completions = [
        "<answer>A small nodule. No mass or cyst.</answer>",
        "<answer>No abnormal findings.</answer>",
    ]
    answers = ["A nodule and a cyst.", "No abnormal findings."]
    assert reward([None] * 2, completions, answer=answers) == [pytest.approx(2 / 3), 1.0]
    (custom,) = get_reward_funcs(["findings_f1"], findings_vocabulary=["nodule"])
    assert custom([None] * 2, completions, answer=answers) == [1.0, 1.0]
    with pytest.raises(ValueError, match="findings_vocabulary"):
        get_reward_funcs(["findings_f1"], findings_vocabulary="nodule")
    with pytest.raises(ValueError, match="findings_vocabulary"):
        get_reward_funcs(["findings_f1"], findings_vocabulary=[])


def test_cider_reward_grows_its_corpus_lazily():
    (reward,) = get_reward_funcs(["cider"])
    assert reward.lazy and len(reward.corpus) == 0
    ids = ["s0", "s0", "s1", "s1"]  # TRL repeats each row once per generation
    answers = [
        "a cat sits on the mat",
        "a cat sits on the mat",
        "a dog runs on the grass",
        "a dog runs on the grass",
    ]
    completions = [
        "<answer>a cat sits on the mat</answer>",
        "<answer>a cat on a mat</answer>",
        "horses",
        "a on the",
    ]
    out = reward([None] * 4, completions, answer=answers, id=ids)
    assert len(reward.corpus) == 2
    assert out[0] == pytest.approx(1.0) and 0.0 < out[1] < 1.0 and out[2] == 0.0
    assert out[3] == 0.0  # "a", "on", "the" are in both documents: IDF 0, no credit for them
    reward([None] * 4, completions, answer=answers, id=ids)  # seen ids are not counted again
    assert len(reward.corpus) == 2
    reward([None], ["x"], answer=["two men ride horses"])  # no id column: keyed by the references
    reward([None], ["x"], answer=["two men ride horses"])
    assert len(reward.corpus) == 3


def test_cider_reward_with_a_fixed_corpus():
    (from_file,) = get_reward_funcs(["cider"], cider_corpus=list(CAPTIONS))  # as a recipe's spec resolves
    from_list = CiderReward(corpus=CAPTIONS)
    assert not from_file.lazy and len(from_file.corpus) == len(from_list.corpus) == 4
    completions = ["a cat sitting on a mat", "a dog runs on the grass"]
    args = ([None] * 2, completions)
    expected = [cider_d(c, "a cat sits on the mat", CiderCorpus(CAPTIONS)) for c in completions]
    assert from_file(*args, answer=["a cat sits on the mat"] * 2) == pytest.approx(expected)
    assert from_list(*args, answer=["a cat sits on the mat"] * 2) == pytest.approx(expected)
    assert len(from_list.corpus) == 4  # a fixed corpus never grows
    with pytest.raises(ValueError, match="at least 2 documents"):
        CiderReward(corpus=["only one"])
    with pytest.raises(ValueError, match="cider_corpus"):
        CiderReward(corpus=42)
    with pytest.raises(ValueError, match="list of references"):
        CiderReward(corpus="train.jsonl")  # the rewards read no files: the training layer does


def test_geometry_qa_is_covered_by_accuracy():
    """Geo170K-style items need no new reward name: ``accuracy`` scores task "math" with math-verify."""
    completions = ["<answer>\\frac{1}{2}</answer>", "<answer>2\\sqrt{3}</answer>", "<answer>B</answer>"]
    answers = ["0.5", "\\sqrt{12}", "B"]
    assert (
        accuracy_reward([None] * 3, completions, answer=answers, task=["math", "math", "choice"]) == [1.0] * 3
    )
