"""The general-ability probe and the domain's held-out split."""

import pytest

from currvl.evaluation import domain_split, general_probe, probe_sets


def test_general_probe_is_the_held_out_general_split_with_text_only_items():
    probe = general_probe(10)
    assert len(probe) == 10
    assert {s["category"] for s in probe} == {"color", "shape", "count", "position", "arithmetic"}
    assert all(s["id"].startswith("general-test-") for s in probe)
    arithmetic = [s for s in probe if s["category"] == "arithmetic"]
    assert arithmetic and all(s["image"] is None for s in arithmetic)
    # a bigger probe starts with the same samples
    assert [s["id"] for s in general_probe(15)[:10]] == [s["id"] for s in probe]


def test_domain_split_takes_n_from_a_synthetic_world_or_cuts_a_source():
    scan = domain_split("synthetic:scan", 4)
    assert len(scan) == 4 and all(s["id"].startswith("scan-test-") for s in scan)
    assert len(domain_split("synthetic:scan:6", None)) == 6
    assert len(domain_split("synthetic:scan:6", 3)) == 3


def test_probe_sets_names_and_bad_sizes():
    assert list(probe_sets(None, general_n=5)) == ["general"]
    sets = probe_sets("synthetic:scan", general_n=5, domain_n=2)
    assert list(sets) == ["general", "domain"] and len(sets["domain"]) == 2
    with pytest.raises(ValueError):
        general_probe(0)
    with pytest.raises(ValueError):
        domain_split("synthetic:scan", 0)
