"""The recommendation follows its documented rules on crafted premise figures."""

import pytest

from currvl.data.schema import make_sample
from currvl.evaluation.premises import (
    JUDGE_MARGIN,
    PREFIX_REACH,
    SIGNAL_GROUPS,
    blind_floor,
    open_chance,
    premise_table,
    recommend,
)


def _figures(
    spread: dict, judge: dict | None = None, concept: dict | None = None, paid: dict | None = None
) -> dict:
    paid = paid or {}
    free = {
        c: {
            "items": 10,
            "samples_paid": paid.get(c, s),
            "groups_with_a_paid_sample": 1 - (1 - paid.get(c, s)) ** 8,  # items paid at one rate, k = 8
            "groups_with_spread": s,
        }
        for c, s in spread.items()
    }
    free["all"] = {"items": 10 * len(spread), "samples_paid": 0.0, "groups_with_spread": 0.0}
    judge = judge or {}
    return {
        "share": 0.6,
        "free": {"categories": free},
        "forms": {"judge": {"score": None, "categories": judge, "chance": {c: 0.5 for c in judge}}},
        "prefix_concept": {"categories": {c: {"samples_paid": v} for c, v in (concept or {}).items()}},
    }


def test_grpo_when_every_category_has_signal():
    assert recommend(_figures({"a": 0.5, "b": SIGNAL_GROUPS}))["method"] == "grpo"


def test_dynamic_sampling_where_a_sparse_category_has_a_few_groups_with_signal():
    """scan_qa and picture_counts (sessions 19, 20): GRPO+DS led Curr-ReFT on every seed of both, where
    Curr-ReFT's premise held too; the recommendation names those categories."""
    figures = _figures({"a": 0.5, "b": 0.05}, judge={"b": 0.5 + JUDGE_MARGIN})
    rec = recommend(figures)
    assert rec["method"] == "grpo_dynamic_sampling" and rec["sparse"] == ["b"]
    assert rec["curr_reft_premise"] == ["b"] and "Curr-ReFT's premise holds in b" in rec["reason"]
    coin = _figures({"a": 0.5, "b": 0.05}, judge={"b": 0.55})
    assert recommend(coin)["method"] == "grpo_dynamic_sampling" and recommend(coin)["curr_reft_premise"] == []


def test_curr_reft_where_the_open_answer_is_written_but_no_group_has_spread():
    """Paid groups all right, none spread: nothing for dynamic sampling to keep; the judge stage can."""
    figures = _figures({"b": 0.0}, judge={"b": 0.78}, paid={"b": 0.03})
    rec = recommend(figures)
    assert rec["method"] == "curr_reft" and rec["curr_reft_premise"] == ["b"]


def test_no_curr_reft_where_no_free_sample_writes_the_open_answer():
    """object_names and count_sentences (session 18): judged from skill, but the open form out of reach,
    and Curr-ReFT ended at 0 on both; RCPA where a prefix reaches the concept, else a supervised start."""
    object_names = _figures({"b": 0.0}, judge={"b": 0.78}, concept={"b": 0.0}, paid={"b": 0.0})
    assert recommend(object_names)["method"] == "sft_then_grpo"
    count_sentences = _figures({"b": 0.0}, judge={"b": 0.685}, concept={"b": 0.793}, paid={"b": 0.0})
    assert recommend(count_sentences)["method"] == "rcpa"
    barely = _figures({"b": 0.0}, judge={"b": 0.78}, concept={"b": 0.0}, paid={"b": 0.03})
    assert recommend(barely)["method"] == "curr_reft"


def test_reach_is_read_off_groups_where_every_item_is_paid_at_one_low_rate():
    """Reach is read off groups: samples paid at 0.01 on every item put a paid sample in 0.077 of
    groups (above OPEN_REACH) and spread in as many (below SIGNAL_GROUPS); a samples bar at 0.02 would
    have turned such a category away."""
    from currvl.evaluation.premises import OPEN_REACH

    p = 0.01
    spread = 1 - (1 - p) ** 8 - p**8
    figures = _figures({"b": spread}, judge={"b": 0.78}, concept={"b": 0.0}, paid={"b": p})
    assert (
        spread < SIGNAL_GROUPS
        and figures["free"]["categories"]["b"]["groups_with_a_paid_sample"] > OPEN_REACH
    )
    assert recommend(figures)["curr_reft_premise"] == ["b"]
    never = _figures({"b": 0.0}, judge={"b": 0.78}, concept={"b": 0.0}, paid={"b": 0.001})
    assert recommend(never)["method"] == "sft_then_grpo"  # 0.008 of groups: out of reach


def test_a_coin_judgement_does_not_count():
    figures = _figures({"a": 0.5, "b": 0.0}, judge={"b": 0.59}, concept={"b": PREFIX_REACH}, paid={"b": 0.0})
    assert recommend(figures)["method"] == "rcpa"


def test_no_rcpa_where_free_samples_already_reach_the_concept():
    """Confident answers: 0.4 of samples right, but each group all right or all wrong (no spread)."""
    figures = _figures({"b": 0.0}, judge={"b": 0.6}, concept={"b": 0.43}, paid={"b": 0.4})
    assert recommend(figures)["method"] == "sft_then_grpo"
    figures["free"]["categories"]["b"]["groups_with_spread"] = 0.05  # a few groups spread: DS keeps them
    assert recommend(figures)["method"] == "grpo_dynamic_sampling"


def test_supervised_start_when_nothing_reaches():
    figures = _figures({"b": 0.0}, judge={"b": 0.5}, concept={"b": PREFIX_REACH - 0.01})
    rec = recommend(figures)
    assert rec["method"] == "sft_then_grpo"
    assert "b" in rec["reason"]


def test_chance_only_for_closed_answer_sets():
    closed = [make_sample("q", w, "text", category="edge") for w in ("left", "right") * 3]
    free_text = [make_sample("q", f"report {i}", "text", category="report") for i in range(6)]
    assert open_chance(closed + free_text) == {"edge": 0.5, "report": None}


def test_blind_floor_fits_on_even_items_and_scores_odd_ones():
    items = [make_sample("Which edge?", "left", "text", category="edge") for _ in range(4)]
    items[3]["answer"] = "right"  # odd items: left, right; the prior says left
    assert blind_floor(items)["score"] == pytest.approx(0.5)


def test_curr_reft_premise_where_only_the_concept_is_judged_from_skill():
    """picture_counts (session 20): the sentence judged at 0.600, the number it names at 0.805; the
    recommendation says to ask the judge and choice stages about the concept."""
    figures = _figures({"count": 0.115}, judge={"count": 0.600}, paid={"count": 0.018})
    assert recommend(figures)["curr_reft_premise"] == []
    figures["forms"]["judge_concept"] = {"categories": {"count": 0.805}, "chance": {"count": 0.5}}
    rec = recommend(figures)
    assert rec["method"] == "grpo_dynamic_sampling" and rec["curr_reft_premise"] == ["count"]
    assert rec["about"] == "concept" and "about: concept" in rec["reason"]
    figures["forms"]["judge"]["categories"]["count"] = 0.7  # the sentence judged too: ask about it
    assert recommend(figures)["about"] == "answer"


def test_table_names_the_recommendation():
    figures = _figures({"a": 0.5})
    figures["recommendation"] = recommend(figures)
    table = premise_table(figures)
    assert "| a | 10 |" in table and "Recommendation: grpo" in table
    header, rule, row = table.splitlines()[:3]
    assert header.count("|") == rule.count("|") == row.count("|")  # a concept column even when unmeasured


def test_a_worlds_own_answer_set_gives_chance_on_a_few_items():
    from currvl.evaluation.premises import closed_answer_sets

    few = [
        make_sample("q", "cyst", "text", category="finding"),
        make_sample("q", "[1, 2, 3, 4]", "box", category="finding_box"),
    ]
    known = closed_answer_sets("synthetic:scan:3")
    assert open_chance(few, known) == {"finding": pytest.approx(0.2), "finding_box": None}
    assert open_chance(few) == {"finding": None, "finding_box": None}  # too few to read a closed set off
    assert closed_answer_sets("data/mine") is None
