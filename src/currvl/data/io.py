"""Reading and writing datasets: JSON Lines with PNG files beside them, and Hugging Face datasets.

JSONL is the interchange format: one schema sample per line, images as paths relative to the file,
so a dataset folder can be moved or shared as a whole. Readers return schema dicts with every key
present and image paths made absolute, so nothing downstream needs to know where the file was.
"""

from __future__ import annotations

import io as _io
import json
import logging
import os
import re
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

from PIL import Image

from .schema import ALL_FIELDS, REQUIRED_FIELDS, make_sample
from .validation import Problem, apply_on_error, check_on_error, validate_samples

logger = logging.getLogger(__name__)

_SAFE_NAME_RE = re.compile(r"[^A-Za-z0-9._-]+")
_PNG_MODES = {"1", "L", "LA", "I", "I;16", "P", "RGB", "RGBA"}


def open_image(image: Any) -> Image.Image | None:
    """A sample's image as RGB: a PIL image (converted) or a path (read and closed); None stays None."""
    if image is None:
        return None
    if isinstance(image, Image.Image):
        return image.convert("RGB")
    with Image.open(Path(image)) as im:
        return im.convert("RGB")


def normalise_sample(obj: Mapping[str, Any], default_id: str = "") -> dict[str, Any]:
    """Fill absent optional fields with `make_sample` defaults; leave absent required ones absent.

    Required fields stay missing (rather than becoming "") so validation can say "missing" instead
    of "empty". Keys outside the schema are kept, after the schema ones.
    """
    sample = make_sample(
        obj.get("question"),  # type: ignore[arg-type]
        obj.get("answer"),  # type: ignore[arg-type]
        obj.get("task"),  # type: ignore[arg-type]
        image=obj.get("image"),
        category=obj.get("category") or "",
        options=obj.get("options"),
        rationale=obj.get("rationale"),
        id=obj.get("id") or default_id,
    )
    if not obj.get("category"):  # schema default: the task; "" when the task itself is unusable
        sample["category"] = obj.get("task") if isinstance(obj.get("task"), str) else ""
    for name in REQUIRED_FIELDS:
        if name not in obj:
            del sample[name]
    sample.update({k: v for k, v in obj.items() if k not in ALL_FIELDS})
    return sample


def _resolve_image(image: Any, root: Path) -> Any:
    """Relative path -> absolute path string; "" -> None; anything else unchanged."""
    if isinstance(image, (str, os.PathLike)):
        text = os.fspath(image)
        if not text.strip():
            return None
        path = Path(text).expanduser()
        return os.path.abspath(path if path.is_absolute() else root / path)
    return image


def read_jsonl(
    path: str | Path,
    image_root: str | Path | None = None,
    *,
    validate: bool = True,
    on_error: str = "fail",
    check_images: bool = True,
) -> list[dict[str, Any]]:
    """Load a JSONL dataset as schema dicts with absolute image paths (images are not opened).

    Lines are decoded one by one, so bad UTF-8 and bad JSON are reported with their line numbers
    together with schema problems. ``on_error="fail"`` raises `DataValidationError` listing all of
    them; ``"skip"`` drops bad rows and logs how many. Rows without an id get "<stem>-<line>".
    """
    check_on_error(on_error)
    path = Path(path)
    source = str(path)
    root = Path(image_root) if image_root is not None else path.parent
    raw = path.read_bytes()
    problems: list[Problem] = []
    samples: list[dict[str, Any]] = []
    lines: list[int] = []
    rows = 0
    for lineno, chunk in enumerate(raw.split(b"\n"), start=1):
        if lineno == 1 and chunk.startswith(b"\xef\xbb\xbf"):  # tolerate a UTF-8 byte-order mark
            chunk = chunk[3:]
        if not chunk.strip():
            continue
        rows += 1
        try:
            text = chunk.decode("utf-8")
        except UnicodeDecodeError as exc:
            bad = chunk[exc.start : exc.start + 1]
            problems.append(
                Problem(
                    source,
                    lineno,
                    "encoding",
                    f"line is not valid UTF-8 (byte {bad!r} at offset {exc.start}); save the file as UTF-8",
                )
            )
            continue
        try:
            obj = json.loads(text)
        except json.JSONDecodeError as exc:
            problems.append(Problem(source, lineno, "json", f"invalid JSON: {exc.msg} at column {exc.colno}"))
            continue
        if not isinstance(obj, dict):
            problems.append(
                Problem(source, lineno, "line", f"expected a JSON object, got {type(obj).__name__}")
            )
            continue
        sample = normalise_sample(obj, default_id=f"{path.stem}-{lineno}")
        sample["image"] = _resolve_image(sample["image"], root)
        samples.append(sample)
        lines.append(lineno)
    if validate:
        problems += validate_samples(samples, source=source, line_numbers=lines, check_images=check_images)
    return apply_on_error(samples, lines, problems, on_error, source, total_rows=rows)


def _image_filename(sample_id: Any, index: int, used: set[str]) -> str:
    """A file name from the sample id (made filesystem-safe), unique within one write."""
    stem = _SAFE_NAME_RE.sub("_", sample_id).strip("._") if isinstance(sample_id, str) else ""
    stem = stem or f"{index:06d}"
    name, k = f"{stem}.png", 1
    while name in used:
        name, k = f"{stem}_{k}.png", k + 1
    used.add(name)
    return name


def _relative(path: Path, base: Path) -> str:
    """POSIX path of ``path`` relative to ``base`` (absolute when no relative path exists)."""
    try:
        return Path(os.path.relpath(path.resolve(), base.resolve())).as_posix()
    except ValueError:  # different drives on Windows
        return str(path.resolve())


def write_jsonl(
    samples: Iterable[Mapping[str, Any]],
    path: str | Path,
    image_dir: str | Path | None = None,
    *,
    overwrite: bool = False,
) -> Path:
    """Write samples as JSONL; PIL images become PNGs in ``image_dir`` (default ``<parent>/images``).

    Stored image paths are relative to the JSONL's folder so the dataset folder stays movable.
    An existing file is never replaced unless ``overwrite=True``; the JSONL is written to a temporary
    file and renamed, so a crash never leaves a half-written dataset behind.
    """
    path = Path(path)
    if path.exists() and not overwrite:
        raise FileExistsError(f"{path} already exists; pass overwrite=True to replace it")
    path.parent.mkdir(parents=True, exist_ok=True)
    images = Path(image_dir) if image_dir is not None else path.parent / "images"
    used: set[str] = set()
    out_lines: list[str] = []
    for index, sample in enumerate(samples):
        row = dict(sample)
        image = row.get("image")
        if isinstance(image, dict) and image.get("bytes"):  # datasets Image(decode=False)
            image = Image.open(_io.BytesIO(image["bytes"]))
        if isinstance(image, Image.Image):
            images.mkdir(parents=True, exist_ok=True)
            file = images / _image_filename(row.get("id"), index, used)
            (image if image.mode in _PNG_MODES else image.convert("RGB")).save(file, format="PNG")
            row["image"] = _relative(file, path.parent)
        elif isinstance(image, dict):
            row["image"] = image.get("path")
        elif isinstance(image, os.PathLike) or (isinstance(image, str) and os.path.isabs(image)):
            row["image"] = _relative(Path(image), path.parent)
        out_lines.append(json.dumps(row, ensure_ascii=False))
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text("".join(line + "\n" for line in out_lines), encoding="utf-8")
    os.replace(tmp, path)
    return path


def _is_saved_dataset(path: Path) -> bool:
    """True for a folder written by `Dataset.save_to_disk` / `DatasetDict.save_to_disk`."""
    return (path / "dataset_dict.json").is_file() or (path / "state.json").is_file()


def _to_text(value: Any) -> Any:
    """Numbers -> str (HF datasets often store numeric answers as numbers); others unchanged."""
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return value
    return str(int(value)) if float(value).is_integer() else str(value)


def load_hf_dataset(
    name_or_path: str | Path,
    split: str = "train",
    column_map: Mapping[str, str] | None = None,
    *,
    image_root: str | Path | None = None,
    validate: bool = True,
    on_error: str = "fail",
    **load_kwargs: Any,
) -> list[dict[str, Any]]:
    """Load a Hub dataset or local dataset folder as schema dicts.

    ``column_map`` maps the dataset's column names to schema fields (``{"label": "answer"}``);
    columns already named like schema fields are taken as they are, the rest are dropped.
    ClassLabel answers become their label names and numeric answers become strings.
    Saved-to-disk folders go through ``load_from_disk``; anything else through ``load_dataset``
    (``load_kwargs`` are passed on). Relative image paths resolve against ``image_root``
    (default: the dataset folder, else the working directory).
    """
    import datasets  # heavy import, only needed here

    check_on_error(on_error)
    column_map = dict(column_map or {})
    bad_targets = sorted(set(column_map.values()) - set(ALL_FIELDS))
    if bad_targets:
        raise ValueError(f"column_map targets {bad_targets} are not schema fields ({', '.join(ALL_FIELDS)})")
    local = Path(name_or_path)
    if local.is_dir() and _is_saved_dataset(local):
        ds = datasets.load_from_disk(str(local))
        if isinstance(ds, datasets.DatasetDict):
            if split not in ds:
                raise ValueError(f"{local} has no split {split!r}; it has {', '.join(ds)}")
            ds = ds[split]
    else:
        ds = datasets.load_dataset(str(name_or_path), split=split, **load_kwargs)
    missing = sorted(set(column_map) - set(ds.column_names))
    if missing:
        raise ValueError(
            f"column_map names columns {missing} not in the dataset; it has {', '.join(ds.column_names)}"
        )
    source = f"{name_or_path}[{split}]"
    root = Path(image_root) if image_root is not None else (local if local.is_dir() else Path.cwd())
    mapped_targets = set(column_map.values())
    label_names: dict[str, Any] = {}
    for column in ds.column_names:
        feature = ds.features.get(column)
        if isinstance(feature, datasets.ClassLabel):
            label_names[column] = feature
    stem = _SAFE_NAME_RE.sub("_", local.name if local.name else str(name_or_path)).strip("._") or "hf"
    samples: list[dict[str, Any]] = []
    for index, row in enumerate(ds):
        obj: dict[str, Any] = {}
        for column, value in row.items():
            if column in label_names and isinstance(value, int):
                value = label_names[column].int2str(value)
            if column in column_map:
                obj[column_map[column]] = value
            elif column in ALL_FIELDS and column not in mapped_targets:
                obj[column] = value
        if "answer" in obj:
            obj["answer"] = _to_text(obj["answer"])
        image = obj.get("image")
        if isinstance(image, dict) and image.get("bytes"):
            obj["image"] = Image.open(_io.BytesIO(image["bytes"]))
        elif isinstance(image, dict):
            obj["image"] = image.get("path")
        sample = normalise_sample(obj, default_id=f"{stem}-{split}-{index:05d}")
        sample["image"] = _resolve_image(sample["image"], root)
        samples.append(sample)
    lines = list(range(1, len(samples) + 1))
    problems = validate_samples(samples, source=source, line_numbers=lines) if validate else []
    return apply_on_error(samples, lines, problems, on_error, source)
