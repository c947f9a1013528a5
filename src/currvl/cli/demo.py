"""The embedded default job: a whole domain-adaptation run on a laptop CPU, nothing downloaded.

1. Take the bench's base model shipped in the package (`currvl-base`: a tiny Qwen2.5-VL pretrained by
   `currvl model pretrain`, our stand-in for a pretrained VLM) and print its gate figures; with
   --rebuild-base, pretrain one under WORKDIR/base first (13 to 23 minutes by machine).
2. Measure general and domain ("scan") accuracy of that base model.
3. Run a short GRPO on the scan domain's open-ended questions.
4. Measure both again and print the before/after table (also written to WORKDIR/demo_report.json).
"""

from __future__ import annotations

import json
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from rich.console import Console
from rich.table import Table

from currvl.algorithms.signals import ZERO_VARIANCE_TASK_KEY
from currvl.training.recipe import Recipe, load_recipe

GRPO_LOG_KEYS = ("step", "reward", "rewards/accuracy/mean", ZERO_VARIANCE_TASK_KEY, "frac_reward_zero_std")

console = Console()


CONFIGS = Path(__file__).resolve().parents[1] / "configs"  # the repo's configs/, shipped with the package


@dataclass
class DemoSizes:
    """What the demo varies on top of configs/demo_grpo.yaml."""

    general_test: int = 200
    domain_train: int = 256
    domain_test: int = 100
    grpo_steps: int = 30


QUICK = DemoSizes(domain_train=16, general_test=40, domain_test=20, grpo_steps=2)


def grpo_recipe(base: Path, out: Path, sizes: DemoSizes) -> Recipe:
    return load_recipe(
        CONFIGS / "demo_grpo.yaml",
        {
            "output_dir": str(out),
            "model.name_or_path": str(base),
            "data.train.n": sizes.domain_train,
            "trainer.max_steps": sizes.grpo_steps,
        },
    )


def _evaluate(model_dir: Path, sizes: DemoSizes) -> dict[str, dict[str, Any]]:
    from currvl.evaluation.evaluate import evaluate_model
    from currvl.evaluation.probe import probe_sets

    sets = probe_sets("synthetic:scan", general_n=sizes.general_test, domain_n=sizes.domain_test)
    results = evaluate_model(model_dir, sets, batch_size=32, max_new_tokens=64)
    return {"general": results["general"], "scan": results["domain"]}


def run_demo(workdir: Path, quick: bool = False, rebuild_base: bool = False) -> dict[str, Any]:
    from currvl.training.run import train

    sizes = QUICK if quick else DemoSizes()
    workdir.mkdir(parents=True, exist_ok=True)
    timings: dict[str, float] = {}
    t0 = time.perf_counter()
    base = _base_model(workdir / "base", rebuild_base)
    timings["base_s"] = time.perf_counter() - t0

    t0 = time.perf_counter()
    console.print("[bold]2/4[/] evaluating the base model (general suite + scan domain, held-out splits)")
    before = _evaluate(base, sizes)
    timings["eval_before_s"] = time.perf_counter() - t0

    t0 = time.perf_counter()
    console.print(f"[bold]3/4[/] GRPO on the scan domain for {sizes.grpo_steps} steps")
    tuned = train(grpo_recipe(base, workdir / "grpo", sizes), overwrite=True)
    timings["grpo_s"] = time.perf_counter() - t0
    history = json.loads((workdir / "grpo" / "log_history.json").read_text())

    t0 = time.perf_counter()
    console.print("[bold]4/4[/] evaluating the tuned model")
    after = _evaluate(tuned, sizes)
    timings["eval_after_s"] = time.perf_counter() - t0

    report = {
        "sizes": sizes.__dict__,
        "timings": timings,
        "before": {w: _summary(r) for w, r in before.items()},
        "after": {w: _summary(r) for w, r in after.items()},
        "grpo_log": [{k: h[k] for k in GRPO_LOG_KEYS if k in h} for h in history if "reward" in h],
    }
    (workdir / "demo_report.json").write_text(json.dumps(report, indent=2))
    _print_report(report)
    return report


def _base_model(built: Path, rebuild: bool) -> Path:
    """The shipped base, or one pretrained under `built` (reused when it is already there)."""
    from currvl.evaluation.gate import pretrain_and_gate
    from currvl.models.loading import SHIPPED_BASE
    from currvl.training.base_pretrain import is_finished

    if not rebuild:
        console.print(f"[bold]1/4[/] base model: the shipped bench base ({SHIPPED_BASE})")
        base = SHIPPED_BASE
    elif is_finished(built):
        console.print(f"[bold]1/4[/] reusing the base model pretrained in {built}")
        base = built
    else:
        console.print(f"[bold]1/4[/] pretraining a base model in {built} (vision proxy + instruction SFT)")
        pretrain_and_gate(built)
        base = built
    _print_gate(base)
    return base


def _print_gate(base: Path) -> None:
    from currvl.evaluation.gate import FORMS, gate_rows

    gate = base / "gate.json"
    if not gate.exists():
        console.print(f"no gate figures beside {base}; check it with `currvl model gate --model {base}`")
        return
    result = json.loads(gate.read_text())
    table = Table(
        title=f"base model gate ({result['n']} general test items, greedy; pass >= "
        f"{result['thresholds']['min_accuracy']} per cell)"
    )
    table.add_column("category")
    for form in FORMS:
        table.add_column(form, justify="right")
    for cat, cells in gate_rows(result):
        table.add_row(cat, *(f"{c['accuracy']:.3f}" if c else "-" for c in cells))
    console.print(table)
    verdict = "PASS" if result["passed"] else "FAIL: " + "; ".join(result["failures"])
    console.print(
        f"in format {result['format_rate']:.3f}, longest token run {result['longest_run']}; gate {verdict}"
    )


def _summary(result: dict[str, Any]) -> dict[str, Any]:
    return {
        "score": result["score"],
        "n": result["n"],
        "tasks": {k: v["score"] for k, v in result["tasks"].items()},
    }


def _print_report(report: dict[str, Any]) -> None:
    table = Table(title="general vs domain accuracy, before and after GRPO (greedy, held-out splits)")
    table.add_column("suite / category")
    table.add_column("base", justify="right")
    table.add_column("after GRPO", justify="right")
    for world in ("general", "scan"):
        b, a = report["before"][world], report["after"][world]
        for cat in b["tasks"]:
            table.add_row(f"{world} / {cat}", f"{b['tasks'][cat]:.3f}", f"{a['tasks'].get(cat, 0.0):.3f}")
        table.add_row(f"[bold]{world} (all)[/]", f"[bold]{b['score']:.3f}[/]", f"[bold]{a['score']:.3f}[/]")
    console.print(table)
    log = report["grpo_log"]
    if log:
        task = [h[ZERO_VARIANCE_TASK_KEY] for h in log if h.get(ZERO_VARIANCE_TASK_KEY) is not None]
        if task:
            console.print(
                f"GRPO: mean fraction of groups whose task reward ties over its own rollouts "
                f"{sum(task) / len(task):.2f} over {len(task)} steps"
            )
    t = report["timings"]
    console.print("timings: " + ", ".join(f"{k}={v:.1f}" for k, v in t.items()))
