"""Evaluation: greedy per-task scores, the general-ability probe, forgetting reports, lmms-eval results."""

from currvl.evaluation.evaluate import (
    METRIC_NAMES,
    evaluate,
    evaluate_sets,
    generate,
    score_completions,
    summarize,
    wilson_interval,
    write_report,
)
from currvl.evaluation.forgetting import (
    forgetting_report,
    format_markdown,
    format_table,
    plot_forgetting,
    retention_ratio,
    write_forgetting,
)
from currvl.evaluation.probe import domain_split, general_probe, probe_sets

__all__ = [
    "METRIC_NAMES",
    "domain_split",
    "evaluate",
    "evaluate_sets",
    "forgetting_report",
    "format_markdown",
    "format_table",
    "general_probe",
    "generate",
    "plot_forgetting",
    "probe_sets",
    "retention_ratio",
    "score_completions",
    "summarize",
    "wilson_interval",
    "write_forgetting",
    "write_report",
]
