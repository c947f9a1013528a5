"""Target concepts and the concept check on crafted answers."""

from currvl.rewards.concepts import contains_concept, target_concepts


def test_short_answers_are_their_own_concept():
    assert target_concepts("Nodule", "text") == frozenset({"nodule"})
    assert target_concepts("cat, dog", "labels") == frozenset({"cat", "dog"})
    for task in ("yes_no", "choice", "box", "math"):
        assert target_concepts("yes", task) is None


def test_long_answers_carry_their_asserted_findings():
    report = "A small nodule in the upper part of the organ. No other findings."
    assert target_concepts(report, "text") == frozenset({"nodule"})
    assert target_concepts("No abnormal findings.", "text") is None  # nothing asserted, no concept


def test_contains_concept_needs_whole_words_and_no_negation():
    nodule = frozenset({"nodule"})
    assert contains_concept("<think> a round spot </think> <answer> nodules </answer>", nodule)
    assert not contains_concept("<answer> no nodule </answer>", nodule)  # negated: not asserted
    assert not contains_concept("<answer> nodularity </answer>", nodule)
    assert contains_concept("<answer> 3 </answer>", frozenset({"3"}))
    assert not contains_concept("<answer> 13 </answer>", frozenset({"3"}))
    assert contains_concept("a cat and a dog", frozenset({"cat", "dog"}))
    assert not contains_concept("a cat", frozenset({"cat", "dog"}))
