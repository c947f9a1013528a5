"""Blind baselines stay near chance on the domains' yes/no and choice splits, and do catch a leak."""

import random

import pytest

from currvl.data.formats import box_distractors, convert
from currvl.data.schema import OPTION_LETTERS
from currvl.data.synthetic import make_samples
from currvl.evaluation.blind import blind_baselines, open_answer_prior, worst_excess

N = 400


@pytest.fixture(scope="module")
def worlds():
    return {
        ("scan_qa", "test"): (make_samples("scan_qa", "train", N), make_samples("scan_qa", "test", N)),
        ("scan_qa", "test_ood"): (
            make_samples("scan_qa", "train", N),
            make_samples("scan_qa", "test_ood", N),
        ),
        ("scan", "test"): (make_samples("scan", "train", N), make_samples("scan", "test", N)),
        **{
            ("object_names", split): (
                make_samples("object_names", "train", N),
                make_samples("object_names", split, N),
            )
            for split in ("test", "test_ood")
        },
        **{
            (world, split): (make_samples(world, "train", N), make_samples(world, split, N))
            for world in ("count_sentences", "picture_counts", "edge_objects", "place_sentences")
            for split in ("test", "test_ood")
        },
    }


@pytest.mark.parametrize("form", ["judge", "choice"])
@pytest.mark.parametrize(
    "split",
    [
        ("scan_qa", "test"),
        ("scan_qa", "test_ood"),
        ("scan", "test"),
        ("object_names", "test"),
        ("object_names", "test_ood"),
        ("count_sentences", "test"),
        ("count_sentences", "test_ood"),
        ("picture_counts", "test"),
        ("picture_counts", "test_ood"),
        ("edge_objects", "test"),
        ("edge_objects", "test_ood"),
        ("place_sentences", "test"),
        ("place_sentences", "test_ood"),
    ],
)
def test_no_text_only_shortcut(worlds, split, form):
    train, test = worlds[split]
    result = blind_baselines(convert(train, form, seed=0), convert(test, form, seed=0))
    assert worst_excess(result) <= 0.1, result
    if split[0] == "scan_qa":  # the box category is checked by the nearest-centre rule too
        assert "nearest_centre_box" in result["categories"]["cell_box"]


def test_the_baselines_catch_a_leaky_split(worlds):
    """Random-placement box distractors (the old rule) leak the answer: a box inside the organ is
    nearer the centre than one anywhere in the image."""
    train, test = worlds[("scan", "test")]

    def leaky_choice(samples):
        out = []
        for s in samples:
            if s["task"] != "box":
                continue
            rng = random.Random(s["id"])
            options = [s["answer"], *box_distractors(s, rng, 3)]
            rng.shuffle(options)
            out.append(
                {
                    **s,
                    "task": "choice",
                    "options": options,
                    "answer": OPTION_LETTERS[options.index(s["answer"])],
                }
            )
        return out

    result = blind_baselines(leaky_choice(train), leaky_choice(test))
    assert result["categories"]["finding_box"]["nearest_centre_box"] > 0.5  # chance is 0.25
    # an answer that follows the question text is caught by the answer prior
    leaky = [{**s, "question": f"{s['question']} ({s['answer']})"} for s in convert(test, "judge", seed=0)]
    assert blind_baselines(leaky, leaky)["baselines"]["answer_prior"] == 1.0


def test_blind_baselines_refuse_open_items(worlds):
    train, test = worlds[("scan", "test")]
    with pytest.raises(ValueError, match="one yes_no or choice form"):
        blind_baselines(train, test)


def test_open_answer_prior_is_the_floor_of_two_answer_questions(worlds):
    """Open scan_qa: "left" every time scores half of the size questions and a quarter of the edge
    questions, and no count answer beats a quarter; the floor a method's open score must clear."""
    train, test = worlds[("scan_qa", "test")]
    prior = open_answer_prior(train, test)
    assert prior["categories"]["cell_larger"] == pytest.approx(0.5, abs=0.02)
    assert prior["categories"]["cell_edge"] == pytest.approx(0.25, abs=0.02)
    assert prior["categories"]["cell_count"] == pytest.approx(0.25, abs=0.02)
    assert prior["categories"]["cell_box"] < 0.05
    assert 0.2 < prior["score"] < 0.3


@pytest.mark.parametrize("split", ["test", "test_ood"])
@pytest.mark.parametrize("world", ["count_sentences", "picture_counts"])
def test_count_open_floors_are_near_chance(worlds, world, split):
    """Five counts, one sentence each: no question wording gives the number away (chance 0.2)."""
    train, test = worlds[(world, split)]
    assert open_answer_prior(train, test)["score"] <= 0.2 + 0.1


@pytest.mark.parametrize("split", ["test", "test_ood"])
@pytest.mark.parametrize("world", ["edge_objects", "place_sentences"])
def test_colour_shape_open_floors_are_near_chance(worlds, world, split):
    """24 pairs (6 on test_ood), any of them at any edge: no question wording gives a pair away."""
    train, test = worlds[(world, split)]
    assert open_answer_prior(train, test)["score"] <= 1 / 24 + 0.1


@pytest.mark.parametrize("form", ["judge", "choice"])
@pytest.mark.parametrize("split", ["test", "test_ood"])
def test_concept_forms_have_no_text_only_shortcut(worlds, split, form):
    """picture_counts' judge and choice asked about the number ("Is the answer 3?"), as its Curr-ReFT
    stages ask: no question wording gives the number away."""
    from currvl.data.formats import concept_items
    from currvl.data.sources import source_concepts

    train, test = (
        concept_items(s, source_concepts("synthetic:picture_counts"))
        for s in worlds[("picture_counts", split)]
    )
    result = blind_baselines(convert(train, form, seed=0), convert(test, form, seed=0))
    assert worst_excess(result) <= 0.1, result
