"""The typed YAML loader: every error names the file, the line and the key it came from."""

from __future__ import annotations

from dataclasses import dataclass, field

import pytest

from currvl.config.loader import ConfigError, build_config, load_yaml_with_lines, read_config_file, where


@dataclass
class Section:
    rate: float = 1.0
    keep: str = "best"

    def __post_init__(self) -> None:
        if self.keep not in ("best", "all"):
            raise ValueError(f"keep: must be best or all, got {self.keep!r}")


@dataclass
class Item:
    name: str
    steps: int = 1


@dataclass
class Top:
    section: Section = field(default_factory=Section)
    items: list[Item] = field(default_factory=list)
    maybe: Section | None = None
    label: str | None = None


TEXT = """\
section:
  rate: 1e-6
items:
  - name: a
  - name: b
    steps: two
"""


def _build(text: str, tmp_path):
    path = tmp_path / "c.yaml"
    path.write_text(text)
    data, lines = read_config_file(path, "test config")
    return build_config(Top, data, str(path), lines), str(path)


def test_lines_of_nested_keys_and_list_items():
    _, lines = load_yaml_with_lines(TEXT)
    assert lines == {
        "section": 1,
        "section.rate": 2,
        "items": 3,
        "items.0": 4,
        "items.0.name": 4,
        "items.1": 5,
        "items.1.name": 5,
        "items.1.steps": 6,
    }


def test_where_falls_back_to_the_closest_enclosing_key():
    lines = {"a": 1, "a.b": 3}
    assert where("f.yaml", lines, "a.b.c") == "f.yaml:3: a.b.c"
    assert where("f.yaml", lines, "z") == "f.yaml:?: z"


def test_a_valid_file_builds_nested_sections_and_reads_1e_minus_6_as_a_float(tmp_path):
    cfg, _ = _build(
        "section:\n  rate: 1e-6\nitems:\n  - name: a\n    steps: 3\nmaybe: {keep: all}\n", tmp_path
    )
    assert cfg.section == Section(rate=1e-6) and isinstance(cfg.section.rate, float)
    assert cfg.items == [Item("a", 3)] and cfg.maybe == Section(keep="all") and cfg.label is None


def test_a_wrong_type_in_a_list_item_names_its_line(tmp_path):
    with pytest.raises(ConfigError) as err:
        _build(TEXT, tmp_path)
    assert str(err.value).startswith(
        f"{tmp_path / 'c.yaml'}:6: items.1.steps: expected <class 'int'>, got str"
    )


def test_an_unknown_key_suggests_the_closest_one(tmp_path):
    with pytest.raises(
        ConfigError, match=r"c.yaml:2: section.rat: unknown key \(did you mean 'section.rate'\?\)"
    ):
        _build("section:\n  rat: 2\n", tmp_path)
    with pytest.raises(ConfigError, match=r"c.yaml:1: zzz: unknown key \(known keys: section, items"):
        _build("zzz: 1\n", tmp_path)


def test_a_sections_own_check_is_reported_at_its_keys_line(tmp_path):
    with pytest.raises(ConfigError, match=r"c.yaml:3: section.keep: must be best or all, got 'some'"):
        _build("section:\n  rate: 2\n  keep: some\n", tmp_path)


def test_a_missing_required_field_is_reported_at_its_section(tmp_path):
    with pytest.raises(ConfigError, match=r"c.yaml:2: items.0: .*name"):
        _build("items:\n  - steps: 2\n", tmp_path)


def test_a_list_where_a_section_belongs_and_a_scalar_where_a_list_belongs(tmp_path):
    with pytest.raises(ConfigError, match=r"c.yaml:1: section: expected a mapping, got list"):
        _build("section: [1, 2]\n", tmp_path)
    with pytest.raises(ConfigError, match=r"c.yaml:1: items: expected a list, got int"):
        _build("items: 3\n", tmp_path)


def test_missing_file_bad_yaml_and_a_non_mapping_top_level(tmp_path):
    with pytest.raises(ConfigError, match="no such test config file"):
        read_config_file(tmp_path / "absent.yaml", "test config")
    bad = tmp_path / "bad.yaml"
    bad.write_text("a: [1, 2\n")
    with pytest.raises(ConfigError, match="not valid YAML"):
        read_config_file(bad, "test config")
    bad.write_text("- 1\n- 2\n")
    with pytest.raises(ConfigError, match="must be a YAML mapping, got list"):
        read_config_file(bad, "test config")
    bad.write_text("")
    assert read_config_file(bad, "test config") == ({}, {})
