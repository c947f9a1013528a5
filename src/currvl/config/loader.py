"""Typed YAML configs: a YAML mapping checked against a dataclass, errors as `FILE:LINE: key.path: problem`.

Recipes (`currvl.training.recipe`) and compare configs (`currvl.experiments.compare`) both load
through here, so a typo in either fails the same way, before anything is loaded or trained: an
unknown key (with a did-you-mean), a value of the wrong type, or a value a section's own check
(`__post_init__`) rejects, each named by the file and line it came from.
"""

from __future__ import annotations

import dataclasses
import difflib
import types
import typing
from pathlib import Path
from typing import Any

import yaml


class ConfigError(ValueError):
    """A config problem, with the file and line that caused it."""


class _LineLoader(yaml.SafeLoader):
    """SafeLoader whose composed nodes keep their marks (the lines of every key)."""


def load_yaml_with_lines(text: str) -> tuple[Any, dict[str, int]]:
    """The parsed YAML and the line of every mapping key and list item, keyed by dotted path."""
    lines: dict[str, int] = {}
    node = yaml.compose(text, Loader=_LineLoader)
    if node is None:
        return {}, lines

    def walk(n: yaml.Node, prefix: str) -> None:
        if isinstance(n, yaml.MappingNode):
            for k, v in n.value:
                path = f"{prefix}.{k.value}" if prefix else str(k.value)
                lines[path] = k.start_mark.line + 1
                walk(v, path)
        elif isinstance(n, yaml.SequenceNode):
            for i, item in enumerate(n.value):
                path = f"{prefix}.{i}"
                lines[path] = item.start_mark.line + 1
                walk(item, path)

    walk(node, "")
    return yaml.safe_load(text), lines


def read_config_file(path: str | Path, what: str) -> tuple[dict[str, Any], dict[str, int]]:
    """A YAML file's mapping and key lines; ConfigError when missing or not a mapping."""
    path = Path(path)
    if not path.exists():
        raise ConfigError(f"{path}: no such {what} file")
    try:
        data, lines = load_yaml_with_lines(path.read_text())
    except yaml.YAMLError as err:
        raise ConfigError(f"{path}: not valid YAML ({err})") from None
    data = data or {}
    if not isinstance(data, dict):
        raise ConfigError(f"{path}: a {what} must be a YAML mapping, got {type(data).__name__}")
    return data, lines


def where(source: str, lines: dict[str, int], path: str) -> str:
    """`FILE:LINE: path` for messages (the line of the closest enclosing key when `path` has none)."""
    probe = path
    while probe and probe not in lines:
        probe = probe.rpartition(".")[0]
    return f"{source}:{lines.get(probe, '?')}: {path}"


def accepts(annotation: Any, kind: type) -> bool:
    """Whether `annotation` is `kind` or a union containing it."""
    if annotation is kind:
        return True
    if typing.get_origin(annotation) in (typing.Union, types.UnionType):
        return any(a is kind for a in typing.get_args(annotation))
    return False


def type_ok(value: Any, annotation: Any) -> bool:
    origin = typing.get_origin(annotation)
    if annotation is Any:
        return True
    if origin in (typing.Union, types.UnionType):
        return any(type_ok(value, a) for a in typing.get_args(annotation))
    if annotation is type(None):
        return value is None
    if origin is not None:
        return isinstance(value, origin)
    if annotation is float:
        return isinstance(value, (int, float)) and not isinstance(value, bool)
    if annotation is int:
        return isinstance(value, int) and not isinstance(value, bool)
    return isinstance(value, annotation)


def coerce_number(value: Any, annotation: Any) -> Any:
    """YAML 1.1 reads `1e-6` (no dot) as a string; where a float is expected, read it as the number."""
    if isinstance(value, str) and accepts(annotation, float) and not accepts(annotation, str):
        try:
            return float(value)
        except ValueError:
            return value
    return value


def did_you_mean(key: str, names: list[str], prefix: str = "") -> str:
    """ " (did you mean 'PREFIX.NAME'?)" for the known name closest to a mistyped `key`, or ""."""
    close = difflib.get_close_matches(str(key), names, n=1)
    return f" (did you mean '{prefix}{close[0]}'?)" if close else ""


def checked_value(value: Any, annotation: Any, at: str) -> Any:
    """`value` (a YAML number-string read as the number where a float is expected), or ConfigError at
    `at` when it does not have the annotated type."""
    value = coerce_number(value, annotation)
    if not type_ok(value, annotation):
        raise ConfigError(f"{at}: expected {annotation}, got {type(value).__name__} {value!r}")
    return value


def _dataclass_in(annotation: Any) -> Any:
    """X for `X` or `X | None` where X is a dataclass; None otherwise."""
    if dataclasses.is_dataclass(annotation):
        return annotation
    if typing.get_origin(annotation) in (typing.Union, types.UnionType):
        classes = [a for a in typing.get_args(annotation) if dataclasses.is_dataclass(a)]
        if len(classes) == 1:
            return classes[0]
    return None


def _list_item_dataclass(annotation: Any) -> Any:
    """X for `list[X]` or `list[X] | None` where X is a dataclass; None otherwise."""
    candidates = [annotation]
    if typing.get_origin(annotation) in (typing.Union, types.UnionType):
        candidates = list(typing.get_args(annotation))
    for c in candidates:
        if typing.get_origin(c) is list:
            (item,) = typing.get_args(c) or (None,)
            if dataclasses.is_dataclass(item):
                return item
    return None


def build_config(
    cls: type,
    data: Any,
    source: str,
    lines: dict[str, int],
    prefix: str = "",
    skip: tuple[str, ...] = (),
) -> Any:
    """`cls(**data)` with every key and value checked; nested dataclasses and lists of them built too.
    Fields in `skip` (a top-level config's own bookkeeping, such as the file it came from) are not keys."""
    here = prefix.rstrip(".")
    if not isinstance(data, dict):
        raise ConfigError(
            f"{where(source, lines, here) if here else source}: expected a mapping, got {type(data).__name__}"
        )
    hints = typing.get_type_hints(cls)
    names = [f.name for f in dataclasses.fields(cls) if f.name not in skip]
    kwargs: dict[str, Any] = {}
    for key, value in data.items():
        path = f"{prefix}{key}"
        at = where(source, lines, path)
        if key not in names:
            hint = did_you_mean(key, names, prefix) or f" (known keys: {', '.join(names)})"
            raise ConfigError(f"{at}: unknown key{hint}")
        annotation = hints[key]
        section, items = _dataclass_in(annotation), _list_item_dataclass(annotation)
        if section is not None and value is not None:
            value = build_config(section, value, source, lines, f"{path}.")
        elif items is not None and value is not None:
            if not isinstance(value, list):
                raise ConfigError(f"{at}: expected a list, got {type(value).__name__}")
            value = [build_config(items, v, source, lines, f"{path}.{i}.") for i, v in enumerate(value)]
        else:
            value = checked_value(value, annotation, at)
        kwargs[key] = value
    try:
        return cls(**kwargs)
    except ConfigError:
        raise
    except (TypeError, ValueError) as err:  # a section's own check (__post_init__) or a missing field
        field_name, _, problem = str(err).partition(": ")
        if field_name in names and problem:  # "keep: must be ..." belongs to that key's line
            raise ConfigError(f"{where(source, lines, prefix + field_name)}: {problem}") from None
        raise ConfigError(f"{where(source, lines, here) if here else source}: {err}") from None
