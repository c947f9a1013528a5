"""Evaluator aggregation: per category and per task type, the task's own metric, counts and 95% CIs."""

import json

import pytest

from currvl.data.schema import make_sample
from currvl.evaluation import METRIC_NAMES, score_completions, summarize, wilson_interval, write_report


def _a(text: str) -> str:
    return f"<think>...</think><answer>{text}</answer>"


@pytest.fixture
def crafted():
    samples = [
        make_sample("colour?", "red", "text", category="color"),
        make_sample("colour?", "blue", "text", category="color"),
        make_sample("half?", "0.5", "math", category="arithmetic"),
        make_sample("7-2?", "5", "math", category="arithmetic"),
        make_sample("where?", "[10, 10, 50, 50]", "box", category="finding_box"),
        make_sample("where?", "[10, 10, 50, 50]", "box", category="finding_box"),
        make_sample("which?", "cat, dog", "labels", category="objects"),
    ]
    completions = [
        _a("Red."),  # normalised exact match
        _a("green"),
        _a("\\frac{1}{2}"),  # math-verify: equal to 0.5
        _a("4"),
        _a("[12, 12, 50, 50]"),  # IoU 0.9 > 0.5
        _a("[10, 10, 20, 20]"),  # IoU 0.0625
        _a("cat, bird"),  # Jaccard 1/3
    ]
    return samples, completions


def test_per_category_and_task_type_scores_use_each_tasks_metric(crafted):
    result = score_completions(*crafted)
    tasks = result["tasks"]
    assert tasks["color"]["score"] == 0.5 and tasks["color"]["n"] == 2
    assert tasks["arithmetic"]["score"] == 0.5
    assert tasks["finding_box"]["score"] == 0.5
    assert tasks["objects"]["score"] == pytest.approx(1 / 3)
    assert tasks["finding_box"]["metric"] == "IoU@0.5" and tasks["finding_box"]["task"] == "box"
    assert tasks["objects"]["metric"] == "Jaccard"
    assert "math-verify" in tasks["arithmetic"]["metric"]
    types = result["task_types"]
    assert set(types) == {"text", "math", "box", "labels"}
    assert types["labels"]["metric"] == METRIC_NAMES["labels"]
    assert sum(t["n"] for t in types.values()) == result["n"] == 7
    assert result["score"] == pytest.approx((1 + 0 + 1 + 0 + 1 + 0 + 1 / 3) / 7)
    assert result["macro_score"] == pytest.approx((0.5 + 0.5 + 0.5 + 1 / 3) / 4)
    for row in [*tasks.values(), *types.values(), result]:
        lo, hi = row["ci95"]
        assert 0.0 <= lo <= row["score"] <= hi <= 1.0
    assert [r["task"] for r in result["records"]] == [s["task"] for s in crafted[0]]


def test_category_mixing_task_types_is_marked_mixed():
    samples = [make_sample("q", "red", "text", category="c"), make_sample("q", "3", "math", category="c")]
    result = score_completions(samples, [_a("red"), _a("3")])
    assert result["tasks"]["c"]["task"] == "mixed" and result["tasks"]["c"]["score"] == 1.0


def test_wilson_and_summarize_edge_cases():
    assert wilson_interval(0, 0) == (0.0, 0.0)
    lo, hi = wilson_interval(0, 5)
    assert lo == 0.0 and 0.3 < hi < 0.6  # never a zero-width interval on a handful of samples
    lo, hi = wilson_interval(1.5, 3)  # fractional successes (Jaccard) are accepted
    assert 0.0 < lo < 0.5 < hi < 1.0
    assert summarize([]) == {"score": 0.0, "n": 0, "ci95": [0.0, 0.0]}


def test_write_report_refuses_to_overwrite_when_asked(tmp_path, crafted):
    path = write_report(score_completions(*crafted), tmp_path / "r.json", keep_records=False)
    assert "records" not in json.loads(path.read_text())
    with pytest.raises(FileExistsError, match="--overwrite"):
        write_report({"score": 1.0}, path, overwrite=False)
    assert json.loads(path.read_text())["n"] == 7


def test_format_leak_counts_yes_no_and_letters_on_open_questions_only():
    samples = [
        make_sample("What color is the shape?", "red", "text"),
        make_sample("What shape is shown?", "star", "text"),
        make_sample("How many shapes are there?", "3", "math"),
        make_sample("Is it on?", "yes", "text"),  # an open question whose true answer is "yes": no leak
        make_sample("Which one? Options: A. x B. y", "B", "choice", options=["x", "y"]),
    ]
    completions = [
        "<think>t</think><answer>yes</answer>",
        "<think>t</think><answer>B.</answer>",
        "<think>t</think><answer>3</answer>",
        "<think>t</think><answer>yes</answer>",
        "<think>t</think><answer>B</answer>",  # a letter where a letter is asked
    ]
    leak = score_completions(samples, completions)["format_leak"]
    assert leak == {"rate": 0.5, "leaked": 2, "n": 4}


def test_a_report_asked_yes_no_is_scored_as_yes_no_not_by_its_finding():
    """A findings report converted to yes/no keeps category "report"; its answer is "yes"/"no"."""
    report = "A small nodule in the upper part of the organ. No other findings."
    samples = [
        make_sample("describe", report, "text", category="report"),
        make_sample("describe. Is the answer X?", "yes", "yes_no", category="report"),
        make_sample("describe. Is the answer Y?", "no", "yes_no", category="report"),
    ]
    records = score_completions(samples, [_a(report), _a("yes"), _a("yes")])["records"]
    assert [r["score"] for r in records] == [1.0, 1.0, 0.0]
    assert "report_scores" in records[0] and "report_scores" not in records[1]
