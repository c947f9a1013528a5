"""Datasets for currvl: the sample schema, JSONL / Hugging Face I/O, validation and synthetic worlds."""

from .io import load_hf_dataset, normalise_sample, read_jsonl, write_jsonl
from .schema import (
    ALL_FIELDS,
    OPTION_LETTERS,
    OPTIONAL_FIELDS,
    REQUIRED_FIELDS,
    TASK_TYPES,
    format_box,
    format_options,
    make_sample,
)
from .sources import load_source
from .synthetic import WORLDS, World, contact_sheet, get_world, make_samples, write_synthetic
from .validation import DataValidationError, Problem, validate_samples

__all__ = [
    "ALL_FIELDS",
    "OPTIONAL_FIELDS",
    "OPTION_LETTERS",
    "REQUIRED_FIELDS",
    "TASK_TYPES",
    "WORLDS",
    "DataValidationError",
    "Problem",
    "World",
    "contact_sheet",
    "format_box",
    "format_options",
    "get_world",
    "load_hf_dataset",
    "load_source",
    "make_sample",
    "make_samples",
    "normalise_sample",
    "read_jsonl",
    "validate_samples",
    "write_jsonl",
    "write_synthetic",
]
