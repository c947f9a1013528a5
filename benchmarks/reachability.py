"""Can the policy ever sample what the reward pays for? Per category, over a model's own samples.

    .venv/bin/python benchmarks/reachability.py                       # currvl-base, 200 scan_qa train items
    .venv/bin/python benchmarks/reachability.py --domain synthetic:scan_report:100 --k 8
    .venv/bin/python benchmarks/reachability.py --domain synthetic:signs:200 --mode before_concept

A thin front to `currvl.evaluation.reachability` (the measurement `currvl diagnose` runs, one
implementation): free samples, a share of the reference forced (`--mode share --share 0.6`), or the
reference forced up to just before its first concept (`--mode before_concept`). `currvl diagnose`
adds the sight probe, the yes/no and choice forms, chance, the blind floor and a recommendation.
"""

from __future__ import annotations

import argparse
import json

from currvl.data.sources import load_source
from currvl.evaluation.reachability import PREFIX_MODES, concept_vocabulary, reachability
from currvl.models import load_model


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", default="currvl-base")
    parser.add_argument("--domain", default="synthetic:scan_qa:200", help="a data source")
    parser.add_argument("--split", default="train", help="the split RL trains on (default train)")
    parser.add_argument("--k", type=int, default=8, help="samples per item (a GRPO group)")
    parser.add_argument("--temperature", type=float, default=1.0)
    parser.add_argument("--mode", choices=PREFIX_MODES, default="free")
    parser.add_argument("--share", type=float, default=0.6, help="with --mode share: rho")
    parser.add_argument("--json", help="also write every figure to this file")
    args = parser.parse_args()

    items = load_source(args.domain, split=args.split)
    model, processor = load_model(args.model)
    result = reachability(
        model,
        processor,
        items,
        k=args.k,
        temperature=args.temperature,
        mode=args.mode,
        share=args.share,
        vocabulary=concept_vocabulary(args.domain),
    )
    print(
        f"\n{args.model} on {args.domain} ({args.split}), {args.k} samples per item at T={args.temperature}, {args.mode}"
    )
    print(f"{'category':16s} {'items':>5s} {'paid':>6s} {f'any in {args.k}':>9s} {'spread':>7s}")
    for key, r in result["categories"].items():
        print(
            f"{key:16s} {r['items']:5d} {r['samples_paid']:6.3f} {r['groups_with_a_paid_sample']:9.3f} "
            f"{r['groups_with_spread']:7.3f}"
        )
    if args.json:
        with open(args.json, "w") as f:
            json.dump(result, f, indent=2)


if __name__ == "__main__":
    main()
