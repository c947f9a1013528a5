"""The `currvl` command line: train, eval, data and model utilities, and the embedded demo."""

from __future__ import annotations

import argparse
import json
import logging
import sys
import warnings
from pathlib import Path
from typing import Any

import yaml


def _parse_overrides(pairs: list[str]) -> dict[str, Any]:
    out = {}
    for pair in pairs:
        if "=" not in pair:
            raise SystemExit(f"--set expects KEY=VALUE, got {pair!r}")
        key, value = pair.split("=", 1)
        out[key] = yaml.safe_load(value)
    return out


def cmd_train(args: argparse.Namespace) -> int:
    from currvl.training.recipe import load_recipe
    from currvl.training.run import train

    recipe = load_recipe(args.config, _parse_overrides(args.set))
    final = train(recipe, overwrite=args.overwrite, resume=args.resume)
    print(f"final model: {final}")
    return 0


def cmd_eval(args: argparse.Namespace) -> int:
    from currvl.evaluation.evaluate import evaluate, write_report
    from currvl.models import load_model
    from currvl.training.datasets import load_source

    samples = load_source(args.data, image_root=args.image_root, split=args.split)
    if args.limit:
        samples = samples[: args.limit]
    model, processor = load_model(args.model)
    result = evaluate(
        model, processor, samples, batch_size=args.batch_size, max_new_tokens=args.max_new_tokens
    )
    print(format_scores({Path(args.model).name: result}))
    if args.out:
        write_report(result, args.out)
        print(f"wrote {args.out}")
    return 0


def format_scores(results: dict[str, dict[str, Any]]) -> str:
    """A plain table: one row per category, one column per model."""
    cats = sorted({c for r in results.values() for c in r["tasks"]})
    names = list(results)
    width = max([8, *map(len, cats)])
    lines = [f"{'category':<{width}}  " + "  ".join(f"{n:>12}" for n in names)]
    for c in cats:
        cells = []
        for n in names:
            t = results[n]["tasks"].get(c)
            cells.append(f"{t['score']:>12.3f}" if t else f"{'-':>12}")
        lines.append(f"{c:<{width}}  " + "  ".join(cells))
    lines.append(f"{'overall':<{width}}  " + "  ".join(f"{results[n]['score']:>12.3f}" for n in names))
    return "\n".join(lines)


def cmd_self_improve(args: argparse.Namespace) -> int:
    from currvl.algorithms.self_improve import SelfImproveConfig, self_improvement_set, write_kept
    from currvl.models import load_model
    from currvl.training.datasets import load_source

    out = Path(args.out)
    if (out / "kept.jsonl").exists() and not args.overwrite:
        raise FileExistsError(f"{out / 'kept.jsonl'} exists; pass --overwrite to replace it")
    samples = load_source(args.data, image_root=args.image_root, split=args.split)[: args.limit]
    model, processor = load_model(args.model)
    cfg = SelfImproveConfig(
        num_samples=args.num_samples,
        temperature=args.temperature,
        max_new_tokens=args.max_new_tokens,
        threshold=args.threshold,
        keep=args.keep,
    )
    kept, stats = self_improvement_set(model, processor, samples, cfg)
    out.mkdir(parents=True, exist_ok=True)
    if kept:
        write_kept(kept, out / "kept.jsonl", overwrite=True)
    else:
        (out / "kept.jsonl").write_text("")
    (out / "stats.json").write_text(json.dumps(stats, indent=2))
    print(json.dumps(stats, indent=2))
    print(f"kept set: {out / 'kept.jsonl'} (fine-tune on it with a method: sft recipe, e.g. lr 2e-7)")
    return 0


def cmd_make_synthetic(args: argparse.Namespace) -> int:
    from currvl.data.synthetic import write_synthetic

    paths = write_synthetic(
        args.out, args.world, args.n_train, args.n_test, seed=args.seed, image_size=args.image_size
    )
    for split, path in paths.items():
        print(f"{split}: {path}")
    return 0


def cmd_validate(args: argparse.Namespace) -> int:
    from currvl.data.io import read_jsonl
    from currvl.data.validation import DataValidationError

    try:
        samples = read_jsonl(args.file, args.image_root, validate=True, on_error="fail")
    except DataValidationError as err:
        for problem in err.problems:
            print(problem)
        print(f"{len(err.problems)} problem(s) in {args.file}", file=sys.stderr)
        return 1
    print(f"{args.file}: {len(samples)} samples, no problems")
    return 0


def cmd_make_tiny(args: argparse.Namespace) -> int:
    from currvl.models import build_tiny_model

    out = build_tiny_model(args.out)
    print(f"tiny Qwen2.5-VL written to {out}")
    return 0


def cmd_demo(args: argparse.Namespace) -> int:
    from currvl.cli.demo import run_demo

    run_demo(Path(args.workdir), quick=args.quick, rebuild_base=args.rebuild_base)
    return 0


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="currvl", description=__doc__)
    p.add_argument("-v", "--verbose", action="store_true", help="debug logging")
    sub = p.add_subparsers(dest="command", required=True)

    t = sub.add_parser("train", help="train with a YAML recipe (method: sft or grpo)")
    t.add_argument("config")
    t.add_argument("--overwrite", action="store_true", help="replace an existing run in output_dir")
    t.add_argument("--resume", action="store_true", help="continue from the last checkpoint in output_dir")
    t.add_argument("--set", action="append", default=[], metavar="KEY=VALUE", help="override a recipe key")
    t.set_defaults(func=cmd_train)

    e = sub.add_parser("eval", help="greedy evaluation with per-category scores")
    e.add_argument("--model", required=True, help="model folder or hub id")
    e.add_argument("--data", required=True, help="JSONL file, HF dataset, or synthetic:WORLD[:N]")
    e.add_argument("--split", default="test")
    e.add_argument("--image-root")
    e.add_argument("--out", help="write the scores (and every completion) as JSON here")
    e.add_argument("--batch-size", type=int, default=16)
    e.add_argument("--max-new-tokens", type=int, default=64)
    e.add_argument("--limit", type=int)
    e.set_defaults(func=cmd_eval)

    si = sub.add_parser("self-improve", help="rejection sampling: sample, score 0-100, keep >= threshold")
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
    ms.add_argument("--world", default="scan")
    ms.add_argument("--out", required=True)
    ms.add_argument("--n-train", type=int, default=512)
    ms.add_argument("--n-test", type=int, default=128)
    ms.add_argument("--seed", type=int, default=0)
    ms.add_argument("--image-size", type=int, default=112)
    ms.set_defaults(func=cmd_make_synthetic)
    v = d.add_parser("validate", help="check a JSONL dataset; prints FILE:LINE: field: problem")
    v.add_argument("file")
    v.add_argument("--image-root")
    v.set_defaults(func=cmd_validate)

    m = sub.add_parser("model", help="model utilities").add_subparsers(dest="model_command", required=True)
    mt = m.add_parser("make-tiny", help="build a random tiny Qwen2.5-VL (offline) as a HF folder")
    mt.add_argument("--out", required=True)
    mt.set_defaults(func=cmd_make_tiny)

    demo = sub.add_parser("demo", help="the embedded default: tiny VLM, synthetic worlds, CPU")
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
    from currvl.data.validation import DataValidationError
    from currvl.training.recipe import RecipeError

    try:
        return args.func(args)
    except (RecipeError, DataValidationError, FileExistsError) as err:
        print(f"error: {err}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
