"""The `currvl` command line: train, eval, data and model utilities, and the embedded demo."""

from __future__ import annotations

import argparse
import logging
import sys
import warnings
from pathlib import Path
from typing import Any

import yaml

# currvl.experiments.eval_jobs imports no torch at module level: `currvl --help` stays instant
from currvl.experiments.eval_jobs import DEFAULT_DOMAIN_N, DEFAULT_GENERAL_N


def _positive_int(text: str) -> int:
    value = int(text)
    if value <= 0:
        raise argparse.ArgumentTypeError(f"must be a positive integer, got {value}")
    return value


def _parse_overrides(pairs: list[str]) -> dict[str, Any]:
    out = {}
    for pair in pairs:
        if "=" not in pair:
            from currvl.config.loader import ConfigError

            raise ConfigError(f"--set expects KEY=VALUE, got {pair!r}")
        key, value = pair.split("=", 1)
        out[key] = yaml.safe_load(value)
    return out


def cmd_train(args: argparse.Namespace) -> int:
    from currvl.training.recipe import load_recipe
    from currvl.training.reliability import TrainingInterrupted
    from currvl.training.run import train

    recipe = load_recipe(args.config, _parse_overrides(args.set))
    try:
        final = train(recipe, overwrite=args.overwrite, resume=args.resume)
    except TrainingInterrupted as stop:  # Ctrl-C / SIGTERM: a checkpoint was saved, say how to continue
        print(stop, file=sys.stderr)
        return 130
    from currvl.training.distributed import end_process_group, is_main_process

    end_process_group()
    if is_main_process():  # one line per launch, not one per process
        print(f"final model: {final}")
    return 0


def cmd_compare(args: argparse.Namespace) -> int:
    from currvl.experiments.compare.run import run_compare_file
    from currvl.training.reliability import TrainingInterrupted

    try:
        report = run_compare_file(
            args.config,
            quick=args.quick,
            seeds=args.seeds,
            output_dir=args.out,
            base=args.base,
            overwrite=args.overwrite,
            methods=args.methods,
        )
    except TrainingInterrupted as stop:  # Ctrl-C: the compare has no --resume; a rerun continues it
        print(
            f"compare interrupted: {stop.output_dir} stopped at step {stop.step}. Rerun the same command "
            "(without --overwrite) to continue: finished runs and evaluations are kept, and this run "
            "resumes from its last checkpoint.",
            file=sys.stderr,
        )
        return 130
    print(report.read_text())
    return 0


def cmd_eval(args: argparse.Namespace) -> int:
    """`currvl eval`: one model on one dataset, base vs tuned (forgetting report), or lmms-eval tasks."""
    from dataclasses import fields

    from currvl.experiments.eval_jobs import EvalJob, run_eval

    return run_eval(EvalJob(**{f.name: getattr(args, f.name) for f in fields(EvalJob)}))


def cmd_self_improve(args: argparse.Namespace) -> int:
    from currvl.algorithms.self_improve import SelfImproveConfig, self_improve_folder

    cfg = SelfImproveConfig(
        num_samples=args.num_samples,
        temperature=args.temperature,
        max_new_tokens=args.max_new_tokens,
        threshold=args.threshold,
        keep=args.keep,
    )
    self_improve_folder(
        args.model,
        args.data,
        args.out,
        cfg,
        split=args.split,
        image_root=args.image_root,
        limit=args.limit,
        overwrite=args.overwrite,
    )
    return 0


def cmd_make_synthetic(args: argparse.Namespace) -> int:
    from currvl.data.synthetic import get_world, write_synthetic

    try:
        get_world(args.world)
    except ValueError as err:
        print(f"error: --world: {err}", file=sys.stderr)
        return 2
    paths = write_synthetic(
        args.out,
        args.world,
        args.n_train,
        args.n_test,
        seed=args.seed,
        image_size=args.image_size,
        overwrite=args.overwrite,
    )
    for split, path in paths.items():
        print(f"{split}: {path}")
    return 0


def cmd_validate(args: argparse.Namespace) -> int:
    from currvl.data.io import read_jsonl
    from currvl.data.validation import DataValidationError

    target = Path(args.file)
    files = sorted(target.glob("*.jsonl")) if target.is_dir() else [target]
    if not files:
        raise FileNotFoundError(f"{target}: a folder with no .jsonl file in it")
    status = 0
    for file in files:
        try:
            samples = read_jsonl(file, args.image_root, validate=True, on_error="fail")
        except DataValidationError as err:
            for problem in err.problems:
                print(problem)
            print(f"{len(err.problems)} problem(s) in {file}", file=sys.stderr)
            status = 1
            continue
        print(f"{file}: {len(samples)} samples, no problems")
    return status


def cmd_make_tiny(args: argparse.Namespace) -> int:
    from currvl.models import build_tiny_model

    out = build_tiny_model(args.out)
    print(f"tiny Qwen2.5-VL written to {out}")
    return 0


PRETRAIN_KNOBS = (
    "vision_steps",
    "lm_steps",
    "arithmetic_batch_size",
    "recall_batch_size",
    "grounding_batch_size",
    "describe_batch_size",
    "describe_grammar",
    "english_batch_size",
    "facts_batch_size",
    "constructions_batch_size",
    "constructions_scene_words",
    "compare_scan",
    "judge_compare",
    "train_merger",
    "tokenizer_corpus",
    "lm_width",
    "lm_layers",
)


def cmd_pretrain(args: argparse.Namespace) -> int:
    """Build the bench's base model (vision proxy pretraining + instruction SFT), then gate it."""
    from currvl.experiments.pretraining import run_pretraining

    knobs = {k: getattr(args, k) for k in PRETRAIN_KNOBS if getattr(args, k) is not None}
    result = run_pretraining(
        args.out,
        knobs,
        seed=args.seed,
        overwrite=args.overwrite,
        gate_n=args.gate_n,
        batch_size=args.batch_size,
    )
    return 0 if result is None or result["passed"] else 1  # None: built, gate skipped (--gate-n 0)


def cmd_gate(args: argparse.Namespace) -> int:
    from currvl.experiments.pretraining import gate_model

    result = gate_model(args.model, n=args.n, batch_size=args.batch_size, write=args.write)
    return 0 if result["passed"] else 1


def cmd_diagnose(args: argparse.Namespace) -> int:
    """`currvl diagnose`: the premise figures of a domain on a model, and the method they point to."""
    from currvl.evaluation.premises import premise_table
    from currvl.experiments.diagnose import run_diagnosis

    figures = run_diagnosis(
        args.model,
        args.data,
        out_dir=args.out,
        split=args.split,
        n=args.n,
        k=args.k,
        share=args.share,
        temperature=args.temperature,
        concepts=[w.strip() for w in args.concepts.split(",") if w.strip()] if args.concepts else None,
        image_root=args.image_root,
        control_n=args.control_n,
        seed=args.seed,
        overwrite=args.overwrite,
    )
    print(premise_table(figures))
    print(f"\n{figures['seconds']:.0f} s; wrote diagnosis.json, diagnosis.md, diagnosis.png to {args.out}")
    return 0


def cmd_demo(args: argparse.Namespace) -> int:
    from currvl.experiments.demo import run_demo

    run_demo(Path(args.workdir), quick=args.quick, rebuild_base=args.rebuild_base)
    return 0


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="currvl", description=__doc__)
    p.add_argument(
        "-v", "--verbose", action="store_true", help="debug logging, and TRL's full metric dict at every step"
    )
    sub = p.add_subparsers(dest="command", required=True)

    def verbose_flag(parser: argparse.ArgumentParser) -> None:
        """`--verbose` after the subcommand too (SUPPRESS keeps a top-level -v from being reset)."""
        parser.add_argument(
            "-v",
            "--verbose",
            action="store_true",
            default=argparse.SUPPRESS,
            help="print TRL's full metric dict at every step (it always goes to metrics.jsonl)",
        )

    t = sub.add_parser("train", help="train with a YAML recipe (method: sft, grpo or rcpa)")
    verbose_flag(t)
    t.add_argument("config")
    t.add_argument("--overwrite", action="store_true", help="replace an existing run in output_dir")
    t.add_argument("--resume", action="store_true", help="continue from the last checkpoint in output_dir")
    t.add_argument("--set", action="append", default=[], metavar="KEY=VALUE", help="override a recipe key")
    t.set_defaults(func=cmd_train)

    c = sub.add_parser(
        "compare", help="run every method of a compare config from one base model; write report.md + plots"
    )
    c.add_argument("config")
    verbose_flag(c)
    c.add_argument("--quick", action="store_true", help="apply the config's quick: section (smaller runs)")
    c.add_argument("--seeds", type=int, nargs="+", help="override the config's seeds")
    c.add_argument("--out", help="override the config's output_dir")
    c.add_argument("--base", help="override the config's base model (a folder, a hub id or currvl-base)")
    c.add_argument("--overwrite", action="store_true", help="write a new report over an existing one")
    c.add_argument(
        "--methods",
        nargs="+",
        metavar="NAME",
        help="run only these methods of the config (and the runs they need); the contrasts among them",
    )
    c.set_defaults(func=cmd_compare)

    e = sub.add_parser(
        "eval",
        help="greedy evaluation with per-category scores; --base for a forgetting report",
        description=(
            "One model on one dataset: --model M --data SOURCE [--out FILE.json]. "
            "Forgetting report: --base BASE --model TUNED [--domain SOURCE] [--out DIR] evaluates both on "
            "the general probe (synthetic general test split) and the domain's held-out split, prints the "
            "table and writes forgetting.json/.png/.md. Real benchmarks: --harness lmms-eval --tasks T1,T2 "
            "--model CKPT [--base BASE] runs lmms-eval (pip install lmms-eval)."
        ),
    )
    e.add_argument("--model", required=True, help="model folder or hub id (the tuned model with --base)")
    e.add_argument(
        "--data", help="JSONL file, HF dataset, or synthetic:WORLD[:N] (with --base: the domain set)"
    )
    e.add_argument("--base", help="base model: evaluate base and --model, and write a forgetting report")
    e.add_argument("--domain", help="domain source for the forgetting report, e.g. synthetic:scan or data/x")
    e.add_argument(
        "--general-n",
        type=int,
        default=DEFAULT_GENERAL_N,
        help=f"general probe size (default {DEFAULT_GENERAL_N}: a 0.05 drop shows in the paired interval)",
    )
    e.add_argument(
        "--domain-n",
        type=int,
        default=DEFAULT_DOMAIN_N,
        help=f"domain samples, first N of the split (default {DEFAULT_DOMAIN_N})",
    )
    e.add_argument("--seed", type=int, default=0, help="seed of the synthetic general probe")
    e.add_argument(
        "--no-kl",
        action="store_true",
        help="skip KL(base || tuned) on the general probe (it holds both models in memory at once)",
    )
    e.add_argument("--split", default="test")
    e.add_argument(
        "--format",
        choices=["open", "judge", "choice"],
        default="open",
        help="ask the --data (or domain) questions as they are (open), as yes/no (judge) or as multiple "
        "choice: the curriculum's forms",
    )
    e.add_argument("--image-root")
    e.add_argument(
        "--out",
        help="one model: JSON file for scores and completions; with --base: report folder "
        "(default runs/forgetting, runs/lmms-eval for lmms-eval)",
    )
    e.add_argument("--overwrite", action="store_true", help="replace an existing report")
    e.add_argument("--batch-size", type=int, default=16)
    e.add_argument("--max-new-tokens", type=int, default=64)
    e.add_argument("--limit", type=int, help="first N samples of --data; per-task limit for lmms-eval")
    e.add_argument("--device", default="auto", help="auto (cuda when available), cpu, cuda, cuda:1 ...")
    e.add_argument("--dtype", default="float32", choices=["float32", "bfloat16", "float16", "auto"])
    e.add_argument("--harness", choices=["currvl", "lmms-eval"], default="currvl")
    e.add_argument("--tasks", help="lmms-eval tasks, comma-separated (e.g. mmbench_en_dev,mme)")
    e.add_argument("--lmms-model", default="qwen2_5_vl", help="lmms-eval --model (default qwen2_5_vl)")
    e.add_argument(
        "--model-args", help="extra lmms-eval model_args after pretrained=, e.g. max_pixels=1003520"
    )
    e.add_argument("--log-samples", action="store_true", help="lmms-eval --log_samples")
    e.set_defaults(func=cmd_eval)

    si = sub.add_parser("self-improve", help="rejection sampling: sample, score 0-100, keep >= threshold")
    verbose_flag(si)
    si.add_argument("--model", required=True)
    si.add_argument("--data", required=True, help="JSONL file, HF dataset, or synthetic:WORLD[:N]")
    si.add_argument("--split", default="train")
    si.add_argument("--image-root")
    si.add_argument("--out", required=True, help="folder for kept.jsonl (+ images) and stats.json")
    si.add_argument("--num-samples", type=int, default=4)
    si.add_argument("--temperature", type=float, default=1.0)
    si.add_argument("--max-new-tokens", type=int, default=256)
    si.add_argument("--threshold", type=float, default=85.0)
    si.add_argument("--keep", choices=["best", "all"], default="best")
    si.add_argument("--limit", type=int)
    si.add_argument("--overwrite", action="store_true")
    si.set_defaults(func=cmd_self_improve)

    d = sub.add_parser("data", help="dataset utilities").add_subparsers(dest="data_command", required=True)
    ms = d.add_parser("make-synthetic", help="write a synthetic world as JSONL + PNG images")
    ms.add_argument(
        "--world", default="scan", help="which synthetic world (default scan; a wrong name lists them)"
    )
    ms.add_argument("--out", required=True, help="folder for train.jsonl, test.jsonl and images/")
    ms.add_argument("--n-train", type=_positive_int, default=512, help="training items (default 512)")
    ms.add_argument("--n-test", type=_positive_int, default=128, help="test items (default 128)")
    ms.add_argument("--seed", type=int, default=0)
    ms.add_argument("--image-size", type=_positive_int, default=112, help="image side in pixels")
    ms.add_argument("--overwrite", action="store_true", help="replace a dataset already in --out")
    ms.set_defaults(func=cmd_make_synthetic)
    v = d.add_parser("validate", help="check a JSONL dataset; prints FILE:LINE: field: problem")
    v.add_argument("file", help="a .jsonl file, or a folder: each of its .jsonl files")
    v.add_argument("--image-root")
    v.set_defaults(func=cmd_validate)

    m = sub.add_parser("model", help="model utilities").add_subparsers(dest="model_command", required=True)
    mt = m.add_parser("make-tiny", help="build a random tiny Qwen2.5-VL (offline) as a HF folder")
    mt.add_argument("--out", required=True)
    mt.set_defaults(func=cmd_make_tiny)
    mp = m.add_parser(
        "pretrain",
        help="build the bench's base model: tokenizer, vision proxy pretraining, instruction SFT, gate "
        "(resumes a stopped run in --out; unset knobs keep the shipped recipe)",
    )
    mp.add_argument("--out", required=True)
    mp.add_argument("--overwrite", action="store_true", help="rebuild over a finished model in --out")
    mp.add_argument("--seed", type=int, default=0)
    # defaults: BasePretrainConfig (the shipped base's recipe, written to pretrain_config.json)
    mp.add_argument("--vision-steps", type=int, help="vision proxy steps")
    mp.add_argument("--lm-steps", type=int, help="instruction SFT steps")
    mp.add_argument(
        "--compare-scan",
        action=argparse.BooleanOptionalAction,
        help='choice rationales restate the answer beside each option ("A. star vs circle no")',
    )
    mp.add_argument(
        "--judge-compare",
        action=argparse.BooleanOptionalAction,
        help='yes/no rationales end by comparing the read answer with the asked one ("left vs right no")',
    )
    mp.add_argument(
        "--train-merger",
        action=argparse.BooleanOptionalAction,
        help="the vision-language projector keeps learning in the instruction stage (vision blocks frozen)",
    )
    mp.add_argument("--arithmetic-batch-size", type=int, help="extra text-only arithmetic items a step")
    mp.add_argument(
        "--recall-batch-size", type=int, help="text-only recall items a step (the forms' mechanics)"
    )
    mp.add_argument(
        "--grounding-batch-size",
        type=int,
        help='grounding items a step ("the red shape is in row 2, column 3")',
    )
    mp.add_argument(
        "--describe-batch-size",
        type=int,
        help="scenes described in free answer forms a step (never the held-out forms of unseen_forms)",
    )
    mp.add_argument(
        "--describe-grammar",
        choices=("phrases", "compositional"),
        help="the describe stage's forms: phrases (session 15's) or compositional (every attribute in "
        "every slot, lists in the asked order)",
    )
    mp.add_argument(
        "--english-batch-size", type=int, help="windows of plain English language modelling a step"
    )
    mp.add_argument(
        "--facts-batch-size", type=int, help="text-only facts a step (what signs mean: the signs domain)"
    )
    mp.add_argument(
        "--constructions-batch-size",
        type=int,
        help='everyday English sentences a step ("the number of chairs is 12"; none of the scenes\' words)',
    )
    mp.add_argument(
        "--constructions-scene-words",
        action=argparse.BooleanOptionalAction,
        help="half of those sentences put the scenes' shapes and colours in the constructions no held-out "
        'form has ("there are 12 stars in the hall")',
    )
    mp.add_argument(
        "--tokenizer-corpus",
        choices=("frozen", "frozen+signs", "current"),
        help="frozen: the shipped base's tokenizer corpus (default; the rebuild reproduces the shipped "
        "base); current: today's synthetic worlds' text (a world you added gets its words as tokens)",
    )
    mp.add_argument(
        "--lm-width",
        type=int,
        help="language model width (default 128; head dim 32, MLP 2x width): a larger base within the "
        "25 MB package budget",
    )
    mp.add_argument("--lm-layers", type=int, help="language model layers (default 4)")
    mp.add_argument(
        "--gate-n",
        type=int,
        default=1000,
        help="general test items of the gate (enough to ask every category in every form; 0: build without "
        "the gate)",
    )
    mp.add_argument("--batch-size", type=int, default=50)
    mp.set_defaults(func=cmd_pretrain)
    mg = m.add_parser("gate", help="check a base model against the bench's gate (writes gate.json/gate.md)")
    mg.add_argument(
        "--model", default="currvl-base", help="a folder, hub id or currvl-base (the shipped one)"
    )
    mg.add_argument("--n", type=int, default=1000)
    mg.add_argument("--batch-size", type=int, default=50)
    mg.add_argument("--write", action="store_true", help="write gate.json / gate.md beside the model")
    mg.set_defaults(func=cmd_gate)

    dg = sub.add_parser(
        "diagnose",
        help="measure a domain's premises on a model (reachability, prefix, sight, yes/no density) "
        "and recommend a method",
    )
    dg.add_argument("--model", default="currvl-base", help="a folder, hub id or currvl-base")
    dg.add_argument("--data", required=True, help="JSONL file or folder, HF dataset, or synthetic:WORLD[:N]")
    dg.add_argument("--split", default="train", help="the split training would use (default train)")
    dg.add_argument("--n", type=int, default=200, help="items sampled from the split (seeded)")
    dg.add_argument("--k", type=int, default=8, help="samples per item: a GRPO group")
    dg.add_argument("--share", type=float, default=0.6, help="share of the reference forced (RCPA's rho)")
    dg.add_argument("--temperature", type=float, default=1.0)
    dg.add_argument(
        "--concepts", help="comma-separated domain words the prefix cut stops before (added to a world's own)"
    )
    dg.add_argument("--image-root")
    dg.add_argument(
        "--control-n", type=int, default=200, help="general shapes for the sight control (0: none)"
    )
    dg.add_argument("--seed", type=int, default=0)
    dg.add_argument("--out", default="runs/diagnose", help="folder for diagnosis.json / .md / .png")
    dg.add_argument("--overwrite", action="store_true", help="replace an earlier diagnosis there")
    dg.set_defaults(func=cmd_diagnose)

    demo = sub.add_parser("demo", help="the embedded default: tiny VLM, synthetic worlds, CPU")
    verbose_flag(demo)
    demo.add_argument("--workdir", default="runs/demo")
    demo.add_argument("--quick", action="store_true", help="smaller everything (smoke test)")
    demo.add_argument("--rebuild-base", action="store_true", help="ignore the cached pretrained base model")
    demo.set_defaults(func=cmd_demo)
    return p


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    # TRL's configs still touch transformers' renamed `gradient_checkpointing`; the notice is not for our users.
    warnings.filterwarnings("ignore", message=".*gradient_checkpointing.*deprecated", category=FutureWarning)
    logging.basicConfig(
        level=logging.DEBUG if args.verbose else logging.INFO, format="%(levelname)s %(name)s: %(message)s"
    )
    from currvl.config.loader import ConfigError
    from currvl.data.validation import DataValidationError
    from currvl.experiments.eval_jobs import EvalUsageError
    from currvl.training.console import set_verbose

    set_verbose(args.verbose)

    try:
        return args.func(args)
    except (
        ConfigError,
        DataValidationError,
        EvalUsageError,
        FileExistsError,
        FileNotFoundError,
    ) as err:  # recipes and compare configs
        print(f"error: {err}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
