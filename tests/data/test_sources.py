import pytest

from currvl.data.sources import DEFAULT_SYNTHETIC_N, load_source, parse_synthetic, source_concepts


def test_synthetic_specs_parse_with_optional_count_and_seed():
    assert parse_synthetic("synthetic:scan") == ("scan", DEFAULT_SYNTHETIC_N, 0)
    assert parse_synthetic("synthetic:scan:12") == ("scan", 12, 0)
    assert parse_synthetic("synthetic:scan:12:3") == ("scan", 12, 3)
    for bad in ("synthetic:", "synthetic:scan:many", "synthetic:scan:1:2:3"):
        with pytest.raises(ValueError, match=r"synthetic:WORLD\[:N\[:SEED\]\]"):
            parse_synthetic(bad)


def test_a_mapping_and_a_string_name_the_same_synthetic_samples():
    a = load_source({"synthetic": "general", "n": 4, "seed": 1}, split="test")
    b = load_source("synthetic:general:4:1", split="test")
    assert [s["question"] for s in a] == [s["question"] for s in b]
    with pytest.raises(ValueError, match="'synthetic' world name"):
        load_source({"world": "general"})


def test_a_synthetic_spec_without_a_count_takes_the_callers_count():
    assert len(load_source("synthetic:general", split="test", synthetic_n=3)) == 3
    assert parse_synthetic("synthetic:scan", default_n=7) == ("scan", 7, 0)
    assert len(load_source("synthetic:general:2", split="test", synthetic_n=3)) == 2  # a stated count wins


def test_a_list_of_sources_is_their_samples_in_order():
    mixed = load_source([{"synthetic": "scan_report", "n": 3}, "synthetic:general:2"])
    assert [s["id"].split("-")[0] for s in mixed] == ["scan_report"] * 3 + ["general"] * 2
    assert mixed[3] == load_source("synthetic:general:2")[0]
    with pytest.raises(ValueError, match="empty list"):
        load_source([])


def test_source_concepts_come_from_the_synthetic_worlds_of_a_source():
    counts = ["1", "2", "3", "4", "5"]
    assert source_concepts("synthetic:picture_counts:10") == counts
    assert source_concepts({"synthetic": "picture_counts", "n": 4}) == counts
    mixed = [{"synthetic": "picture_counts", "n": 4}, "data/mine.jsonl", "synthetic:count_sentences"]
    assert source_concepts(mixed) == counts  # in order, each word once; a file names none
    assert source_concepts("data/mine.jsonl") == []
