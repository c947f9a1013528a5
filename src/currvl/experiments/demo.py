"""The embedded default job: from a dataset to a decision, on a laptop CPU, nothing downloaded.

1. Take the bench's base model shipped in the package (`currvl-base`: a tiny Qwen2.5-VL pretrained by
   `currvl model pretrain`, our stand-in for a pretrained VLM) and print its gate figures; with
   --rebuild-base, pretrain one under WORKDIR/base first (13 to 23 minutes by machine).
2. Diagnose the demo domain ("scan": name a finding, box it) on a sample of its training items: the
   premise checks of `currvl diagnose` and the method they recommend.
3. Measure general and domain accuracy of the base model.
4. Train SFT, plain GRPO and the recommended method on the same number of domain prompts.
5. Measure each and print domain and general score side by side with retention, chance and the
   diagnosis that chose the method (also written to WORKDIR/demo_report.json).
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
DOMAIN = "synthetic:scan"

console = Console()


CONFIGS = Path(__file__).resolve().parents[1] / "configs"  # the repo's configs/, shipped with the package


@dataclass
class DemoSizes:
    """What the demo varies on top of the demo recipes. Every method sees `prompts` domain prompts:
    GRPO-style runs `prompts / 4` steps of 4 prompts x 4 rollouts, SFT `prompts / 16` steps of 16."""

    general_test: int = 200
    domain_train: int = 256
    domain_test: int = 100
    prompts: int = 320
    diagnose_n: int = 60
    diagnose_k: int = 4


QUICK = DemoSizes(domain_train=16, general_test=40, domain_test=20, prompts=8, diagnose_n=8, diagnose_k=2)

RECIPES = {
    "grpo": "demo_grpo.yaml",
    "grpo_dynamic_sampling": "demo_grpo.yaml",
    "curr_reft": "currreft_demo.yaml",
    "rcpa": "rcpa_demo.yaml",
}
NAMES = {
    "sft": "SFT",
    "grpo": "GRPO",
    "curr_reft": "Curr-ReFT",
    "rcpa": "RCPA",
    "sft_then_grpo": "SFT -> GRPO",
    "grpo_dynamic_sampling": "GRPO+DS",
}


def _recipe(name: str, base: Path, out: Path, sizes: DemoSizes, prompts: int) -> Recipe:
    """A demo recipe from `base` into `out`, cut to `prompts` domain prompts."""
    if name == "sft":
        return load_recipe(
            CONFIGS / "sft_demo.yaml",
            {
                "output_dir": str(out),
                "model.name_or_path": str(base),
                "data.train.n": max(prompts, 1),
                "trainer.num_train_epochs": 1,
                "trainer.max_steps": max(1, prompts // 16),
                "trainer.per_device_train_batch_size": min(16, prompts),
            },
        )
    overrides: dict[str, Any] = {
        "output_dir": str(out),
        "model.name_or_path": str(base),
        "data.train.n": sizes.domain_train,
        "trainer.max_steps": max(1, prompts // 4),
    }
    if name == "rcpa":
        overrides["rcpa.steps"] = max(1, (2 * prompts // 4) // 3)  # the recipe's 2:1 pre-alignment : GRPO
    if name == "grpo_dynamic_sampling":
        overrides["rollout.dynamic_sampling"] = {"max_rounds": 3}  # as the compare configs' GRPO+DS
    if name == "curr_reft":
        overrides["self_improve"] = None  # the demo compares the RL curriculum at the same budget
    return load_recipe(CONFIGS / RECIPES[name], overrides)


def grpo_recipe(base: Path, out: Path, sizes: DemoSizes) -> Recipe:
    return _recipe("grpo", base, out, sizes, sizes.prompts)


def _evaluate(model_dir: Path, sizes: DemoSizes) -> dict[str, dict[str, Any]]:
    from currvl.evaluation.evaluate import evaluate_model
    from currvl.evaluation.probe import probe_sets

    sets = probe_sets(DOMAIN, general_n=sizes.general_test, domain_n=sizes.domain_test)
    results = evaluate_model(model_dir, sets, batch_size=32, max_new_tokens=64)
    return {"general": results["general"], "scan": results["domain"]}


def _diagnose(base: Path, sizes: DemoSizes) -> dict[str, Any]:
    from currvl.data.sources import load_source
    from currvl.evaluation.premises import closed_answer_sets, premise_checks, premise_table, shuffled
    from currvl.evaluation.reachability import concept_vocabulary
    from currvl.models.loading import free_memory, load_model

    items = shuffled(load_source(DOMAIN, split="train", synthetic_n=sizes.domain_train), sizes.diagnose_n)
    model, processor = load_model(base)
    try:
        figures = premise_checks(
            model,
            processor,
            items,
            k=sizes.diagnose_k,
            vocabulary=concept_vocabulary(DOMAIN),
            known=closed_answer_sets(DOMAIN),
            show_progress=False,
        )
    finally:
        del model, processor
        free_memory()
    console.print(premise_table(figures))
    return figures


def _train(name: str, base: Path, workdir: Path, sizes: DemoSizes) -> Path:
    """Train method `name` from `base` on `sizes.prompts` domain prompts; its final model."""
    from currvl.training.run import train

    if name != "sft_then_grpo":
        return train(_recipe(name, base, workdir / name, sizes, sizes.prompts), overwrite=True)
    warm = sizes.prompts // 2  # half the prompts as supervised demonstrations, half as GRPO prompts
    sft = train(_recipe("sft", base, workdir / "sft_then_grpo" / "sft", sizes, warm), overwrite=True)
    rest = sizes.prompts - max(1, warm // 16) * min(16, warm)
    return train(_recipe("grpo", sft, workdir / "sft_then_grpo" / "grpo", sizes, rest), overwrite=True)


def run_demo(workdir: Path, quick: bool = False, rebuild_base: bool = False) -> dict[str, Any]:
    sizes = QUICK if quick else DemoSizes()
    workdir.mkdir(parents=True, exist_ok=True)
    timings: dict[str, float] = {}
    t0 = time.perf_counter()
    base = _base_model(workdir / "base", rebuild_base)
    timings["base_s"] = time.perf_counter() - t0

    t0 = time.perf_counter()
    console.print(f"[bold]2/5[/] diagnosing the scan domain ({sizes.diagnose_n} training items)")
    figures = _diagnose(base, sizes)
    recommended = figures["recommendation"]["method"]
    timings["diagnose_s"] = time.perf_counter() - t0

    t0 = time.perf_counter()
    console.print("[bold]3/5[/] evaluating the base model (general suite + scan domain, held-out splits)")
    before = _evaluate(base, sizes)
    timings["eval_base_s"] = time.perf_counter() - t0

    methods = list(dict.fromkeys(["sft", "grpo", recommended]))
    after: dict[str, dict[str, Any]] = {}
    for method in methods:
        t0 = time.perf_counter()
        console.print(f"[bold]4/5[/] {NAMES[method]} on the scan domain ({sizes.prompts} domain prompts)")
        tuned = _train(method, base, workdir, sizes)
        timings[f"{method}_s"] = time.perf_counter() - t0
        t0 = time.perf_counter()
        console.print(f"[bold]5/5[/] evaluating {NAMES[method]}")
        after[method] = _evaluate(tuned, sizes)
        timings[f"eval_{method}_s"] = time.perf_counter() - t0
    history = json.loads((workdir / "grpo" / "log_history.json").read_text())
    report = {
        "sizes": sizes.__dict__,
        "timings": timings,
        "diagnosis": {
            "recommendation": figures["recommendation"],
            "free": figures["free"]["categories"],
            "prefix_concept": figures["prefix_concept"]["categories"],
            "judge": figures["forms"]["judge"],
            "chance": figures["forms"]["open"]["chance"],
        },
        "before": {w: _summary(r) for w, r in before.items()},
        "after": {m: {w: _summary(r) for w, r in res.items()} for m, res in after.items()},
        "grpo_log": [{k: h[k] for k in GRPO_LOG_KEYS if k in h} for h in history if "reward" in h],
    }
    (workdir / "demo_report.json").write_text(json.dumps(report, indent=2))
    _print_report(report)
    return report


def _base_model(built: Path, rebuild: bool) -> Path:
    """The shipped base, or one pretrained under `built` (reused when it is already there)."""
    from currvl.experiments.pretraining import is_finished, pretrain_and_gate
    from currvl.models.loading import SHIPPED_BASE

    if not rebuild:
        console.print(f"[bold]1/5[/] base model: the shipped bench base ({SHIPPED_BASE})")
        base = SHIPPED_BASE
    elif is_finished(built):
        console.print(f"[bold]1/5[/] reusing the base model pretrained in {built}")
        base = built
    else:
        console.print(f"[bold]1/5[/] pretraining a base model in {built} (vision proxy + instruction SFT)")
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
    methods = list(report["after"])
    table = Table(title="domain vs general accuracy after each method (greedy, held-out splits)")
    table.add_column("suite / category")
    table.add_column("chance", justify="right")
    table.add_column("base", justify="right")
    for m in methods:
        table.add_column(
            NAMES[m] + (" (recommended)" if m == report["diagnosis"]["recommendation"]["method"] else ""),
            justify="right",
        )
    chance = report["diagnosis"]["chance"]
    for world in ("scan", "general"):
        b = report["before"][world]
        for cat in b["tasks"]:
            level = chance.get(cat) if world == "scan" else None
            cells = [f"{report['after'][m][world]['tasks'].get(cat, 0.0):.3f}" for m in methods]
            table.add_row(
                f"{world} / {cat}", "-" if level is None else f"{level:.2f}", f"{b['tasks'][cat]:.3f}", *cells
            )
        cells = [f"[bold]{report['after'][m][world]['score']:.3f}[/]" for m in methods]
        table.add_row(f"[bold]{world} (all)[/]", "", f"[bold]{b['score']:.3f}[/]", *cells)
    general = report["before"]["general"]["score"]
    table.add_row(
        "retention (general after / before)",
        "",
        "1.000",
        *(f"{report['after'][m]['general']['score'] / general:.3f}" if general else "-" for m in methods),
    )
    console.print(table)
    rec = report["diagnosis"]["recommendation"]
    console.print(f"diagnosis: [bold]{NAMES[rec['method']]}[/], because {rec['reason']}.")
    log = report["grpo_log"]
    task = [h[ZERO_VARIANCE_TASK_KEY] for h in log if h.get(ZERO_VARIANCE_TASK_KEY) is not None]
    if task:
        console.print(
            f"GRPO: mean fraction of groups whose task reward ties over its own rollouts "
            f"{sum(task) / len(task):.2f} over {len(task)} steps"
        )
    t = report["timings"]
    console.print("timings (s): " + ", ".join(f"{k}={v:.1f}" for k, v in t.items()))
