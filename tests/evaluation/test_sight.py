"""The sight probe: a separable feature is read near 1, a shuffled one near chance."""

import random

import torch

from currvl.data.schema import make_sample
from currvl.evaluation.sight import concept_label, linear_probe, stratified_split


def _crafted(n: int = 300, classes: int = 5, seed: int = 0):
    g = torch.Generator().manual_seed(seed)
    labels = [f"c{i % classes}" for i in range(n)]
    x = torch.randn(n, 16, generator=g)
    for i, y in enumerate(labels):  # one direction per class, well above the noise
        x[i, int(y[1:])] += 4.0
    return x, labels


def test_a_separable_feature_is_read_near_one():
    x, labels = _crafted()
    result = linear_probe(x, labels)
    assert result["accuracy"] >= 0.97
    assert abs(result["chance"] - 0.2) < 0.03
    assert result["n_train"] + result["n_test"] == len(labels)


def test_a_shuffled_feature_is_read_near_chance():
    x, labels = _crafted()
    shuffled = labels[:]
    random.Random(1).shuffle(shuffled)
    result = linear_probe(x, shuffled)
    assert result["accuracy"] <= result["chance"] + 0.12


def test_the_split_keeps_each_label_on_both_sides():
    labels = ["a"] * 10 + ["b"] * 20
    train, test = stratified_split(labels, 0.7, seed=0)
    assert sorted(train + test) == list(range(30))
    assert sum(labels[i] == "a" for i in test) == 3 and sum(labels[i] == "b" for i in test) == 6


def test_one_class_gives_no_figure():
    x, _ = _crafted(n=20)
    assert linear_probe(x, ["same"] * 20)["accuracy"] is None


def test_concept_labels():
    image = object()
    assert concept_label(make_sample("q", "Red", "text", image=image)) == "red"
    assert concept_label(make_sample("q", "3", "math", image=image)) == "3"
    report = "A small nodule in the upper part of the organ. No other findings."
    assert concept_label(make_sample("q", report, "text", image=image)) == "nodule"
    assert concept_label(make_sample("q", "No abnormal findings.", "text", image=image)) == "none"
    assert concept_label(make_sample("q", "[1, 2, 3, 4]", "box", image=image)) is None
    assert concept_label(make_sample("q", "red", "text")) is None  # no image


def test_a_sentence_is_labelled_by_the_concept_words_it_names():
    image = object()
    sentence = make_sample("q", "The number of shapes is 3.", "text", image=image)
    assert concept_label(sentence) == "none"  # no vocabulary: nothing to read off a sentence
    assert concept_label(sentence, ("1", "2", "3")) == "3"
    edge = make_sample("q", "A red circle next to the left edge.", "text", image=image)
    assert concept_label(edge, ("red", "circle", "left", "3")) == "red circle left"
    report = "A small nodule in the upper part of the organ. No other findings."
    assert (
        concept_label(make_sample("q", report, "text", image=image), ("small",)) == "nodule"
    )  # findings first
