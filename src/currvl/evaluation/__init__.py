"""Greedy evaluation with per-category scores."""

from currvl.evaluation.evaluate import evaluate, generate, score_completions, wilson_interval, write_report

__all__ = ["evaluate", "generate", "score_completions", "wilson_interval", "write_report"]
