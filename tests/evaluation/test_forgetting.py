"""Forgetting report numbers on crafted results, its table, chart and files."""

import json

import pytest

from currvl.evaluation import (
    forgetting_report,
    format_markdown,
    format_table,
    plot_forgetting,
    retention_ratio,
    wilson_interval,
    write_forgetting,
)


def _r(score: float, n: int) -> dict:
    return {"score": score, "n": n, "ci95": list(wilson_interval(score * n, n))}


def _suite(cats: dict[str, tuple[float, int]]) -> dict:
    tasks = {c: _r(s, n) for c, (s, n) in cats.items()}
    n = sum(t["n"] for t in tasks.values())
    return {**_r(sum(t["score"] * t["n"] for t in tasks.values()) / n, n), "tasks": tasks}


@pytest.fixture
def base():
    return {
        "general": _suite({"color": (1.0, 100), "count": (0.6, 100)}),
        "domain": _suite({"finding": (0.2, 50), "finding_box": (0.2, 50)}),
    }


@pytest.fixture
def tuned():
    return {
        "general": _suite({"color": (1.0, 100), "count": (0.2, 100)}),
        "domain": _suite({"finding": (0.8, 50), "finding_box": (0.6, 50)}),
    }


def test_report_numbers(base, tuned):
    report = forgetting_report(base, tuned, base_name="B", tuned_name="T")
    s = report["summary"]
    assert s["general_before"] == pytest.approx(0.8) and s["general_after"] == pytest.approx(0.6)
    assert s["general_delta"] == pytest.approx(-0.2)
    assert s["retention"] == pytest.approx(0.75)
    assert s["domain_before"] == pytest.approx(0.2) and s["domain_after"] == pytest.approx(0.7)
    assert s["domain_delta"] == pytest.approx(0.5)
    cats = report["general_categories"]
    assert cats["color"]["retention"] == 1.0 and cats["color"]["delta"] == 0.0
    assert cats["count"]["retention"] == pytest.approx(0.2 / 0.6)
    assert cats["count"]["delta"] == pytest.approx(-0.4) and cats["count"]["n_before"] == 100
    assert cats["count"]["significant"] is True and cats["color"]["significant"] is False
    assert report["forgotten"] == ["count"]  # which ability was lost
    assert report["domain_categories"]["finding"]["delta"] == pytest.approx(0.6)
    assert "retention" not in report["domain"]
    assert report["notes"] == []
    json.dumps(report)  # JSON-ready


def test_before_zero_gives_undefined_retention_not_a_crash():
    zero = {"general": _suite({"color": (0.0, 10), "count": (0.0, 10)})}
    after = {"general": _suite({"color": (0.3, 10), "count": (0.0, 10)})}
    report = forgetting_report(zero, after)
    assert report["summary"]["retention"] is None
    assert report["general_categories"]["color"]["retention"] is None
    assert report["general"]["delta"] == pytest.approx(0.15)
    assert report["domain"] is None and len(report["notes"]) == 2
    table = format_table(report)
    assert "n/a" in table and "retention is undefined" in table
    assert retention_ratio(0.0, 0.0) is None and retention_ratio(0.5, 0.25) == 0.5
    assert retention_ratio(None, 0.3) is None


def test_category_present_in_one_model_only_and_missing_general(base, tuned):
    tuned["general"]["tasks"]["shape"] = _r(0.5, 10)
    del tuned["general"]["tasks"]["count"]
    cats = forgetting_report(base, tuned)["general_categories"]
    assert cats["count"]["after"] is None and cats["count"]["delta"] is None
    assert cats["shape"]["before"] is None and cats["shape"]["after"] == 0.5
    with pytest.raises(ValueError, match="general"):
        forgetting_report({"domain": base["domain"]}, tuned)


def test_table_and_markdown_show_the_numbers(base, tuned):
    report = forgetting_report(base, tuned, base_name="B", tuned_name="T")
    table = format_table(report)
    for text in (
        "B -> T",
        "general retention 0.750",
        "0.800",
        "0.600",
        "-0.200",
        "+0.500",
        "0.333",
        "-0.400",
    ):
        assert text in table
    count_line = next(line for line in table.splitlines() if line.strip().startswith("count"))
    # no per-item records here: no paired intervals ("-"), significance from the unpaired intervals
    assert count_line.split()[1:] == ["0.600", "0.200", "-0.400", "*", "-", "0.333", "-", "100"]
    assert "intervals before and after do not overlap (unpaired)" in table
    assert "forgotten (significant drop): count" in table
    md = format_markdown(report)
    assert "| general / count | 0.600 | 0.200 | -0.400 \\* | - | 0.333 | - | 100 |" in md
    assert "| **domain** | 0.200 | 0.700 | +0.500 \\* | - | - | - | 100 |" in md


def test_png_and_report_files_never_overwritten_silently(base, tuned, tmp_path):
    report = forgetting_report(base, tuned)
    png = plot_forgetting(report, tmp_path / "chart.png")
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" and png.stat().st_size > 5000
    paths = write_forgetting(report, tmp_path / "out")
    assert sorted(p.name for p in paths.values()) == ["forgetting.json", "forgetting.md", "forgetting.png"]
    assert json.loads(paths["json"].read_text()) == report
    before = paths["json"].read_text()
    with pytest.raises(FileExistsError, match="--overwrite"):
        write_forgetting(forgetting_report(tuned, base), tmp_path / "out")
    assert paths["json"].read_text() == before
    write_forgetting(forgetting_report(tuned, base), tmp_path / "out", overwrite=True)
    assert paths["json"].read_text() != before


def test_png_without_domain_or_cis(tmp_path):
    """An lmms-eval report has no domain set and no intervals: the chart still draws its bars."""
    from PIL import Image

    base = {"general": {"score": 0.5, "n": 4, "tasks": {"mme": {"score": 0.5, "n": 4, "ci95": None}}}}
    tuned = {"general": {"score": 0.25, "n": 4, "tasks": {"mme": {"score": 0.25, "n": 4, "ci95": None}}}}
    with Image.open(plot_forgetting(forgetting_report(base, tuned), tmp_path / "p.png")) as im:
        colours = im.convert("RGB").getcolors(maxcolors=1 << 16) or []
    saturated = [c for _, c in colours if max(c) - min(c) > 80]  # bar fills, not text or axes
    assert len(saturated) >= 2, "expected the before and after bars in two colours"


def test_the_footnote_explains_a_star_only_when_a_row_has_one(base):
    report = forgetting_report(base, base)  # no change at all
    table = format_table(report)
    assert "*" not in table and "no significant change" in table
