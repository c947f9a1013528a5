"""Can the policy ever sample what the reward pays for? Per category, over a model's own samples.

    .venv/bin/python benchmarks/reachability.py                       # currvl-base, 200 scan_qa train items
    .venv/bin/python benchmarks/reachability.py --domain synthetic:scan_report:100 --k 8

GRPO can only reinforce an answer some rollout already gives: a category where no sample of the start
model ever scores is out of RL's reach, whatever the curriculum, until something else (SFT, a forced
prefix) puts the answer within reach. For each category: the share of samples that score > 0 (at the
rollouts' temperature), the share of items with at least one scoring sample among k (a group of k
rollouts with any signal at all), and how many samples hold a parseable box.
"""

from __future__ import annotations

import argparse
import json
from collections import defaultdict

from currvl.data.sources import load_source
from currvl.evaluation.evaluate import score_completions
from currvl.models import load_model
from currvl.models.generation import generate
from currvl.rewards.parsing import extract_answer
from currvl.rewards.scoring import parse_box


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", default="currvl-base")
    parser.add_argument("--domain", default="synthetic:scan_qa:200", help="a data source")
    parser.add_argument("--split", default="train", help="the split RL trains on (default train)")
    parser.add_argument("--k", type=int, default=8, help="samples per item (a GRPO group)")
    parser.add_argument("--temperature", type=float, default=1.0)
    parser.add_argument("--json", help="also write every figure to this file")
    args = parser.parse_args()

    items = load_source(args.domain, split=args.split)
    model, processor = load_model(args.model)
    done = generate(model, processor, items, num_samples=args.k, temperature=args.temperature)
    repeated = [s for s in items for _ in range(args.k)]
    records = score_completions(repeated, done)["records"]
    rows: dict[str, dict[str, float]] = defaultdict(lambda: defaultdict(float))
    for i, s in enumerate(items):
        group = records[i * args.k : (i + 1) * args.k]
        for key in (s.get("category") or s["task"], "all"):
            row = rows[key]
            row["items"] += 1
            row["paid"] += sum(r["score"] > 0 for r in group)
            row["groups_with_signal"] += any(r["score"] > 0 for r in group)
            row["boxes"] += sum(parse_box(extract_answer(r["completion"])) is not None for r in group)
    table = {
        key: {
            "items": int(r["items"]),
            "samples_paid": r["paid"] / (r["items"] * args.k),
            "items_with_a_paid_sample": r["groups_with_signal"] / r["items"],
            "parseable_boxes": int(r["boxes"]),
        }
        for key, r in sorted(rows.items(), key=lambda kv: kv[0] == "all")
    }
    print(f"\n{args.model} on {args.domain} ({args.split}), {args.k} samples per item at T={args.temperature}")
    print(f"{'category':14s} {'items':>5s} {'paid':>6s} {f'any in {args.k}':>9s} {'boxes':>7s}")
    for key, r in table.items():
        print(
            f"{key:14s} {r['items']:5d} {r['samples_paid']:6.3f} {r['items_with_a_paid_sample']:9.3f} "
            f"{r['parseable_boxes']:7d}"
        )
    if args.json:
        with open(args.json, "w") as f:
            json.dump(table, f, indent=2)


if __name__ == "__main__":
    main()
