"""Findings-report attribute scoring on crafted reports, and on the scan_report world's references."""

from currvl.data.synthetic import make_samples
from currvl.evaluation.evaluate import score_completions
from currvl.rewards.report import report_attributes, report_scores

REF = "A small nodule in the upper part of the organ. No other findings."


def test_attributes_of_a_report():
    attrs = report_attributes(REF)
    assert attrs == {"findings": frozenset({"nodule"}), "size": "small", "location": "upper"}
    assert report_attributes("No abnormal findings.")["findings"] == frozenset()


def test_scores_per_attribute():
    assert report_scores(REF, REF) == {"finding": 1.0, "size": 1.0, "location": 1.0}
    wrong_place = "A small nodule in the lower part of the organ."
    assert report_scores(wrong_place, REF) == {"finding": 1.0, "size": 1.0, "location": 0.0}
    assert report_scores("A large cyst in the upper part.", REF) == {
        "finding": 0.0,
        "size": 0.0,
        "location": 1.0,
    }
    assert report_scores("No nodule.", REF)["finding"] == 0.0  # negated: not asserted
    assert report_scores("No abnormal findings.", "No abnormal findings.") == {"finding": 1.0}
    assert report_scores("", "No abnormal findings.") == {"finding": 0.0}  # saying nothing is no report
    # naming nothing is not "normal"
    assert report_scores("spar", "No abnormal findings.") == {"finding": 0.0}
    assert report_scores("The organ is normal.", "No abnormal findings.") == {"finding": 1.0}
    assert report_scores("Unremarkable, no abnormality.", "No abnormal findings.") == {"finding": 1.0}
    assert report_scores("A nodule. Otherwise normal.", "No abnormal findings.") == {"finding": 0.0}


def test_every_scan_report_reference_scores_full_marks_and_evaluation_reads_attributes():
    samples = make_samples("scan_report", "test", 20)
    for s in samples:
        assert set(report_scores(s["answer"], s["answer"]).values()) == {1.0}
    perfect = score_completions(samples, [f"<answer> {s['answer']} </answer>" for s in samples])
    assert perfect["score"] == 1.0 and perfect["tasks"]["report_location"]["score"] == 1.0
    normal = score_completions(samples, ["<answer> No abnormal findings. </answer>"] * len(samples))
    assert normal["tasks"]["report"]["score"] == 0.2  # one class in five is normal
    assert normal["tasks"]["report_size"]["score"] == 0.0
    assert normal["macro_score"] == normal["tasks"]["report"]["score"]  # attribute rows stay out of it
