"""Synthetic worlds: determinism, fixed test split, balance, vocabulary and picture/answer agreement."""

from __future__ import annotations

import re
from collections import Counter, deque

import numpy as np
import pytest

from currvl.data import WORLDS, validate_samples
from currvl.data.synthetic import COLORS, EXTRA_WORLDS, FINDINGS, get_world, make_sample_at, make_samples
from currvl.data.synthetic.domain import NORMAL_REPORT, REPORT_LOCATIONS
from currvl.data.synthetic.general import arithmetic_pool

N = 40


def _key(sample: dict) -> tuple:
    image = sample["image"]
    pixels = None if image is None else (image.size, image.tobytes())
    return (sample["question"], sample["answer"], sample["rationale"], pixels)


def _box(answer: str) -> list[int]:
    return [int(v) for v in re.findall(r"-?\d+", answer)]


@pytest.fixture(scope="module")
def general() -> list[dict]:
    return make_samples("general", "train", 60, seed=3)


@pytest.fixture(scope="module")
def scan() -> list[dict]:
    return make_samples("scan", "train", 60, seed=3)


@pytest.mark.parametrize("world", list(WORLDS))
def test_same_seed_gives_identical_samples(world: str) -> None:
    a, b = make_samples(world, "train", 12, seed=7), make_samples(world, "train", 12, seed=7)
    assert [_key(s) for s in a] == [_key(s) for s in b]
    assert [s["id"] for s in a] == [f"{world}-train-{i:05d}" for i in range(12)]
    other = make_samples(world, "train", 12, seed=8)
    assert [_key(s) for s in a] != [_key(s) for s in other]


@pytest.mark.parametrize("world", list(WORLDS))
def test_test_split_is_fixed_and_disjoint_from_train(world: str) -> None:
    small, large = make_samples(world, "test", 10), make_samples(world, "test", 25)
    assert [_key(s) for s in small] == [_key(s) for s in large[:10]]
    assert _key(make_sample_at(world, "test", 17)) == _key(large[17])
    train = {_key(s) for s in make_samples(world, "train", 80) if s["image"] is not None}
    assert not train & {_key(s) for s in large}


def test_arithmetic_facts_are_shared_recalled_knowledge() -> None:
    """Arithmetic measures retention of memorised facts, so every split uses the same small pool."""
    for op in ("add", "subtract"):
        pools = {split: set(arithmetic_pool(op, split)) for split in ("train", "val", "test")}
        assert pools["train"] == pools["test"] == pools["val"]
        assert 30 <= len(pools["test"]) <= 60
        assert all(a - b >= 0 for a, b in pools["test"]) if op == "subtract" else True


@pytest.mark.parametrize("world", list(WORLDS))
def test_categories_and_classes_are_balanced(world: str) -> None:
    w = WORLDS[world]
    first = make_samples(world, "train", len(w.categories))
    assert [s["category"] for s in first] == list(w.categories)
    samples = make_samples(world, "train", 60)
    per_category = Counter(s["category"] for s in samples)
    assert max(per_category.values()) - min(per_category.values()) <= 1
    for category, classes in w.categories.items():
        if w.vocabulary[category] is None:
            continue
        answers = Counter(s["answer"] for s in samples if s["category"] == category)
        if category != "arithmetic":  # arithmetic cycles operations, answers are sums
            assert set(answers) == set(classes)
            assert max(answers.values()) - min(answers.values()) <= 1


@pytest.mark.parametrize("world", list(WORLDS))
def test_answers_tasks_and_schema(world: str) -> None:
    w = WORLDS[world]
    samples = make_samples(world, "train", N)
    assert validate_samples(samples) == []
    for s in samples:
        assert s["task"] == w.tasks[s["category"]]
        vocab = w.vocabulary[s["category"]]
        if vocab is not None:
            assert s["answer"] in vocab
        assert s["rationale"] and s["rationale"] == s["rationale"].lower()
        if s["category"] == "arithmetic":
            assert s["image"] is None and 0 <= int(s["answer"]) <= 18
            a, b = map(int, re.findall(r"\d+", s["question"]))
            minus = "-" in s["question"] or "minus" in s["question"]
            assert (a - b if minus else a + b) == int(s["answer"])
        else:
            assert s["image"].size == (112, 112) and s["image"].mode == "RGB"


def test_vocabularies_never_overlap(general: list[dict], scan: list[dict]) -> None:
    domain_words = set(WORLDS["scan"].vocabulary["finding"])
    general_words = {a for v in WORLDS["general"].vocabulary.values() if v for a in v}
    assert not domain_words & general_words
    general_alpha = {w for w in general_words if w.isalpha()}
    for s in general:
        text = f"{s['question']} {s['answer']} {s['rationale']}".lower()
        assert not domain_words & set(re.findall(r"[a-z]+", text)), s
    for s in scan:
        text = f"{s['question']} {s['answer']} {s['rationale']}".lower()
        assert not general_alpha & set(re.findall(r"[a-z]+", text)), s


def test_scan_boxes_are_inside_and_tight_around_the_finding(scan: list[dict]) -> None:
    boxed = [s for s in scan if s["task"] == "box"]
    assert len(boxed) == 30
    for s in boxed:
        gray = np.asarray(s["image"].convert("L"), dtype=np.float32)
        h, w = gray.shape
        x1, y1, x2, y2 = _box(s["answer"])
        assert 0 <= x1 < x2 <= w and 0 <= y1 < y2 <= h
        region = gray[y1:y2, x1:x2]
        organ = gray[(gray > 50) & (gray < 150)]
        assert region.max() > organ.mean() + 80
        # tight: every box edge touches the finding, nothing finding-bright lies outside it
        for edge in (region[0, :], region[-1, :], region[:, 0], region[:, -1]):
            assert edge.max() > 150, s["id"]
        outside = gray.copy()
        outside[y1:y2, x1:x2] = 0
        assert outside.max() < 170, s["id"]


def test_scan_findings_look_different(scan: list[dict]) -> None:
    bright_area: dict[str, list[int]] = {}
    for s in scan:
        if s["category"] == "finding":
            gray = np.asarray(s["image"].convert("L"))
            bright_area.setdefault(s["answer"], []).append(int((gray > 170).sum()))
    assert max(bright_area["normal"]) == 0
    assert max(bright_area["calcification"]) < min(bright_area["nodule"])
    assert max(bright_area["nodule"]) < min(bright_area["mass"])


def _colour_mask(rgb: np.ndarray, name: str) -> np.ndarray:
    base = np.array(COLORS[name], dtype=np.float32)
    return np.abs(rgb - base).max(axis=-1) < 30


def test_position_answers_match_the_picture(general: list[dict]) -> None:
    checked = 0
    for s in general:
        if s["category"] != "position":
            continue
        rgb = np.asarray(s["image"], dtype=np.float32)
        mask = np.abs(rgb - rgb[0, 0]).max(axis=-1) > 60
        y, x = np.argwhere(mask).mean(axis=0)
        h, w = mask.shape
        gaps = {"left": x, "right": w - x, "top": y, "bottom": h - y}  # distance to each edge
        assert min(gaps, key=gaps.get) == s["answer"], s["id"]
        assert sorted(gaps.values())[1] - gaps[s["answer"]] >= 14, s["id"]  # no corner: one edge is nearest
        checked += 1
    assert checked == 12


def _components(mask: np.ndarray) -> int:
    seen = np.zeros_like(mask)
    count = 0
    for y, x in np.argwhere(mask):
        if seen[y, x]:
            continue
        count += 1
        queue = deque([(y, x)])
        seen[y, x] = True
        while queue:
            cy, cx = queue.popleft()
            for ny in range(cy - 1, cy + 2):
                for nx in range(cx - 1, cx + 2):
                    if (
                        0 <= ny < mask.shape[0]
                        and 0 <= nx < mask.shape[1]
                        and mask[ny, nx]
                        and not seen[ny, nx]
                    ):
                        seen[ny, nx] = True
                        queue.append((ny, nx))
    return count


def test_count_answers_match_the_picture(general: list[dict]) -> None:
    for s in general:
        if s["category"] == "count":
            rgb = np.asarray(s["image"], dtype=np.float32)
            background = rgb[0, 0]
            mask = np.abs(rgb - background).max(axis=-1) > 60
            assert _components(mask) == int(s["answer"]), s["id"]


@pytest.mark.parametrize("world", list(WORLDS))
def test_mixed_image_sizes(world: str) -> None:
    samples = make_samples(world, "train", 20, image_size=(56, 180))
    sizes = {s["image"].size for s in samples if s["image"] is not None}
    assert len(sizes) > 1
    assert all(w == h and w % 28 == 0 and 56 <= w <= 168 for w, h in sizes)
    for s in samples:
        if s["task"] == "box":
            x1, y1, x2, y2 = _box(s["answer"])
            assert 0 <= x1 < x2 <= s["image"].width and 0 <= y1 < y2 <= s["image"].height
    with pytest.raises(ValueError, match="multiple of 28"):
        make_samples(world, "train", 1, image_size=(60, 80))


def test_bad_arguments_are_named() -> None:
    with pytest.raises(ValueError, match="unknown synthetic world"):
        make_samples("xray", "train", 1)
    with pytest.raises(ValueError, match="unknown split"):
        make_samples("scan", "dev", 1)


# ---------------------------------------------------------------- scan_report (opt-in world)

_REPORT = re.compile(r"A (small|large) (\w+) in the (\w+) part of the organ\. No other findings\.")


@pytest.fixture(scope="module")
def reports() -> list[dict]:
    return make_samples("scan_report", "train", 80, seed=3)


def test_scan_report_is_opt_in_and_deterministic() -> None:
    # not in WORLDS: that text trains the tiny model's tokenizer, which must not change
    assert "scan_report" in EXTRA_WORLDS and "scan_report" not in WORLDS
    assert get_world("scan_report").name == "scan_report"
    a, b = make_samples("scan_report", "train", 10, seed=7), make_samples("scan_report", "train", 10, seed=7)
    assert [_key(s) for s in a] == [_key(s) for s in b]
    assert [s["id"] for s in a] == [f"scan_report-train-{i:05d}" for i in range(10)]
    assert [_key(s) for s in a] != [_key(s) for s in make_samples("scan_report", "train", 10, seed=8)]
    small, large = make_samples("scan_report", "test", 6), make_samples("scan_report", "test", 12)
    assert [_key(s) for s in small] == [_key(s) for s in large[:6]]
    assert not {_key(s) for s in make_samples("scan_report", "train", 12)} & {_key(s) for s in large}


def test_scan_report_answers_describe_the_drawn_finding(reports: list[dict]) -> None:
    assert validate_samples(reports) == []
    locations: Counter[str] = Counter()
    for i, s in enumerate(reports):
        finding = FINDINGS[i % len(FINDINGS)]  # one category: classes cycle through the findings
        assert s["task"] == "text" and s["category"] == "report"
        assert s["question"] == "Write the findings report for this scan."
        assert s["rationale"] and s["rationale"] == s["rationale"].lower()
        gray = np.asarray(s["image"].convert("L"), dtype=np.float32)
        bright = gray > 170
        if finding == "normal":
            assert s["answer"] == NORMAL_REPORT and not bright.any()
            continue
        match = _REPORT.fullmatch(s["answer"])
        assert match, s["answer"]
        size, named, location = match.groups()
        assert named == finding and location in REPORT_LOCATIONS
        assert f"{size} for its kind" in s["rationale"] and location in s["rationale"]
        locations[location] += 1
        # the stated place agrees with the picture: finding centroid vs organ centroid
        dy, dx = np.argwhere(bright).mean(axis=0) - np.argwhere(gray > 50).mean(axis=0)
        angle, distance = np.degrees(np.arctan2(-dy, dx)), float(np.hypot(dx, dy))
        if location == "central":
            assert distance < 0.15 * gray.shape[0], s["id"]
        else:
            assert distance > 0.1 * gray.shape[0], s["id"]
        if location == "upper":
            assert 25 < angle < 155, s["id"]
        elif location == "lower":
            assert -155 < angle < -25, s["id"]
        elif location == "lateral":
            assert abs(angle) < 35 or abs(angle) > 145, s["id"]
        if finding == "calcification":  # a small cluster has 3 specks, a large one 4 or 5
            assert (_components(bright) == 3) == (size == "small"), s["id"]
    assert set(locations) == set(REPORT_LOCATIONS)


def test_scan_report_sizes_match_the_picture(reports: list[dict]) -> None:
    areas: dict[tuple[str, str], list[int]] = {}
    for s in reports:
        match = _REPORT.fullmatch(s["answer"])
        if match:
            size, finding, _ = match.groups()
            area = int((np.asarray(s["image"].convert("L")) > 170).sum())
            areas.setdefault((finding, size), []).append(area)
    for finding in ("nodule", "cyst", "mass"):
        small, large = areas[(finding, "small")], areas[(finding, "large")]
        assert np.mean(small) < np.mean(large), finding


def test_scan_report_vocabulary_avoids_general_answers(reports: list[dict]) -> None:
    general_alpha = {a for v in WORLDS["general"].vocabulary.values() if v for a in v if a.isalpha()}
    for s in reports:
        text = f"{s['question']} {s['answer']} {s['rationale']}".lower()
        assert not general_alpha & set(re.findall(r"[a-z]+", text)), s


def test_scan_report_references_score_full_marks(reports: list[dict]) -> None:
    from currvl.rewards import findings_f1, rouge_l

    for s in reports[:10]:
        assert rouge_l(s["answer"], s["answer"]) == 1.0
        assert findings_f1(s["answer"], s["answer"]) == 1.0
    assert findings_f1(reports[0]["answer"], reports[1]["answer"]) == 0.0  # nodule vs cyst
    assert findings_f1(reports[4]["answer"], reports[9]["answer"]) == 1.0  # two normal reports


def test_general_questions_come_in_several_wordings() -> None:
    """Real instruction data words one skill many ways; the base should learn the skill, not one string."""
    samples = make_samples("general", "train", 200)
    for category in WORLDS["general"].categories:
        kinds = {re.sub(r"\d+", "N", s["question"]) for s in samples if s["category"] == category}
        assert len(kinds) >= 3, (category, kinds)
