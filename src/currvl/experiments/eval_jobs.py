"""`currvl eval`'s jobs: one model on one dataset, base against tuned (the forgetting report), and the
same report with lmms-eval's benchmarks as the general probe.

Every job checks its options and that no report would be replaced before any model loads (nothing the
user had is lost), then evaluates, prints a table and writes its files.
"""

from __future__ import annotations

import sys
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

DEFAULT_GENERAL_N = 1000  # = currvl.evaluation.probe's (a 0.05 drop shows in the paired interval)
DEFAULT_DOMAIN_N = 500


class EvalUsageError(ValueError):
    """Options that do not make one job (the CLI prints it as an error, exit status 2)."""


@dataclass
class EvalJob:
    """The options of `currvl eval` (see its --help)."""

    model: str
    data: str | None = None
    base: str | None = None
    domain: str | None = None
    general_n: int = DEFAULT_GENERAL_N
    domain_n: int = DEFAULT_DOMAIN_N
    seed: int = 0
    no_kl: bool = False
    split: str = "test"
    format: str = "open"
    image_root: str | None = None
    out: str | None = None
    overwrite: bool = False
    batch_size: int = 16
    max_new_tokens: int = 64
    limit: int | None = None
    device: str = "auto"
    dtype: str = "float32"
    harness: str = "currvl"
    tasks: str | None = None
    lmms_model: str = "qwen2_5_vl"
    model_args: str | None = None
    log_samples: bool = False


def run_eval(job: EvalJob) -> int:
    """Run the job the options name; returns the exit status."""
    if job.harness == "lmms-eval":
        if job.format != "open":
            raise EvalUsageError("--format is for the currvl harness (lmms-eval tasks fix their own form)")
        return evaluate_lmms_job(job)
    if job.tasks:
        raise EvalUsageError("--tasks is for --harness lmms-eval")
    if job.base:
        return forgetting_job(job)
    if not job.data:
        raise EvalUsageError(
            "currvl eval: give --data SOURCE (one model), or --base BASE for a forgetting report"
        )
    return single_job(job)


def _device(job: EvalJob) -> str:
    """auto: the GPU when there is one (greedy eval of a 3B model on CPU takes hours)."""
    if job.device != "auto":
        return job.device
    import torch

    return "cuda" if torch.cuda.is_available() else "cpu"


def _load_kwargs(job: EvalJob) -> dict[str, Any]:
    """How a job loads and runs a model: its batch size, new tokens, dtype, device."""
    return {
        "batch_size": job.batch_size,
        "max_new_tokens": job.max_new_tokens,
        "dtype": job.dtype,
        "device": _device(job),
    }


def refuse_existing(paths: list[Path], overwrite: bool) -> None:
    """Check before any evaluation runs that no report would be replaced."""
    existing = [str(p) for p in paths if p.exists()]
    if existing and not overwrite:
        raise FileExistsError(f"{', '.join(existing)} already exist(s); pass --overwrite to replace")


def single_job(job: EvalJob) -> int:
    """One model on one dataset, asked in the job's form; prints the scores, writes them with --out."""
    from currvl.data.formats import convert
    from currvl.data.sources import load_source
    from currvl.evaluation.evaluate import evaluate_model, format_scores, write_report

    if job.out:
        refuse_existing([Path(job.out)], job.overwrite)
    samples = load_source(job.data, image_root=job.image_root, split=job.split)
    if job.limit:
        samples = samples[: job.limit]
    samples = convert(samples, job.format)  # the curriculum's rule for judge/choice; open unchanged
    result = evaluate_model(job.model, {"data": samples}, **_load_kwargs(job))["data"]
    print(format_scores({Path(job.model).name: result}))
    if job.out:
        write_report(result, job.out)
        print(f"wrote {job.out}")
    return 0


def _domain_source(job: EvalJob) -> str | None:
    if job.domain and job.data and job.domain != job.data:
        raise EvalUsageError("give the domain set once: --domain (or --data), not both")
    return job.domain or job.data


def _report_out(job: EvalJob, default: str) -> Path:
    from currvl.evaluation.forgetting import REPORT_FILES

    out = Path(job.out or default)
    refuse_existing([out / name for name in (*REPORT_FILES, "evaluations.json")], job.overwrite)
    return out


def _finish_report(
    job: EvalJob, base: dict, tuned: dict, out: Path, meta: dict, kl: dict | None = None
) -> int:
    """Build, print and write the forgetting report (+ every model's results in evaluations.json)."""
    from currvl.evaluation.evaluate import write_report
    from currvl.evaluation.forgetting import forgetting_report, format_table, write_forgetting

    report = forgetting_report(base, tuned, base_name=str(job.base), tuned_name=str(job.model), kl=kl)
    report["meta"] = {"date": datetime.now(timezone.utc).isoformat(timespec="seconds"), **meta}
    print(format_table(report))
    paths = write_forgetting(report, out, overwrite=job.overwrite)
    write_report({"base": base, "tuned": tuned}, out / "evaluations.json")
    print("wrote " + ", ".join(str(p) for p in [*paths.values(), out / "evaluations.json"]))
    return 0


def forgetting_job(job: EvalJob) -> int:
    """Base and tuned on the general probe and the domain's held-out split, the paired deltas, and
    KL(base || tuned) along the base's general-probe completions."""
    from currvl.data.formats import convert
    from currvl.evaluation.evaluate import evaluate_model
    from currvl.evaluation.probe import probe_sets

    if job.limit:
        raise EvalUsageError("with --base, size the sets with --general-n and --domain-n (not --limit)")
    out = _report_out(job, "runs/forgetting")
    domain = _domain_source(job)
    sets = probe_sets(
        domain,
        general_n=job.general_n,
        domain_n=job.domain_n,
        seed=job.seed,
        split=job.split,
        image_root=job.image_root,
    )
    if "domain" in sets:
        sets["domain"] = convert(sets["domain"], job.format)
    results = {}
    for label, path in (("base", job.base), ("tuned", job.model)):
        print(f"evaluating {label} model {path} on {', '.join(f'{k} ({len(v)})' for k, v in sets.items())}")
        results[label] = evaluate_model(path, sets, **_load_kwargs(job))
    kl = None
    if not job.no_kl:
        from currvl.evaluation.divergence import general_kl_of

        print("measuring KL(base || tuned) along the base's general-probe completions")
        kl = general_kl_of(
            job.base,
            job.model,
            sets["general"],
            results["base"]["general"],
            batch_size=job.batch_size,
            dtype=job.dtype,
            device=_device(job),
        )
    meta = {
        "harness": "currvl",
        "domain_source": domain,
        "general_n": len(sets["general"]),
        "domain_n": len(sets["domain"]) if "domain" in sets else 0,
        "split": job.split,
        "format": job.format,
        "seed": job.seed,
        "max_new_tokens": job.max_new_tokens,
    }
    return _finish_report(job, results["base"], results["tuned"], out, meta, kl=kl)


def evaluate_lmms_job(job: EvalJob) -> int:
    """lmms-eval's tasks on one model, or on base and tuned for the forgetting report (the domain set,
    when given, scored by currvl's evaluator in this process)."""
    from currvl.evaluation import lmms_eval
    from currvl.evaluation.evaluate import write_report

    if not job.tasks:
        raise EvalUsageError("--harness lmms-eval needs --tasks, e.g. --tasks mmbench_en_dev,mme")
    domain = _domain_source(job)
    if domain and not job.base:
        raise EvalUsageError(
            "--domain with --harness lmms-eval needs --base (it feeds the forgetting report)"
        )
    models = {"base": job.base, "tuned": job.model} if job.base else {"tuned": job.model}
    samples: list[dict[str, Any]] = []
    if domain:  # checked, and the split loaded, before the (long) lmms-eval runs
        from currvl.evaluation.probe import domain_split

        for path in models.values():
            if lmms_eval.is_results_file(path):
                raise EvalUsageError(f"--domain needs a checkpoint to evaluate, not a results file: {path}")
        try:
            samples = domain_split(domain, job.domain_n, split=job.split, image_root=job.image_root)
        except ValueError as err:
            raise EvalUsageError(f"--domain {domain}: {err}") from None
    if job.base:
        out = _report_out(job, "runs/lmms-eval")
    else:
        out = Path(job.out or "runs/lmms-eval")
        refuse_existing([out / "lmms_scores.json"], job.overwrite)
    run_kwargs = {
        "lmms_model": job.lmms_model,
        "batch_size": job.batch_size,
        "model_args": job.model_args,
        "limit": job.limit,
        "log_samples": job.log_samples,
    }
    try:
        general = {
            label: lmms_eval.evaluate_lmms(path, job.tasks, out / "lmms-eval" / label, **run_kwargs)
            for label, path in models.items()
        }
    except lmms_eval.LmmsEvalError as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    if not job.base:
        from currvl.evaluation.evaluate import format_scores

        print(format_scores({Path(job.model).name: general["tuned"]}))
        write_report(general["tuned"], out / "lmms_scores.json")
        print(f"wrote {out / 'lmms_scores.json'}")
        return 0
    results: dict[str, dict[str, Any]] = {label: {"general": r} for label, r in general.items()}
    if domain:
        from currvl.evaluation.evaluate import evaluate_model

        for label, path in models.items():
            scored = evaluate_model(path, {"domain": samples}, **_load_kwargs(job))
            results[label]["domain"] = scored["domain"]
    meta = {
        "harness": "lmms-eval",
        "tasks": lmms_eval.task_list(job.tasks),
        "lmms_model": job.lmms_model,
        "limit": job.limit,
        "lmms_results": {label: r["general"].get("source") for label, r in results.items()},
        "domain_source": domain,
    }
    return _finish_report(job, results["base"], results["tuned"], out, meta)
