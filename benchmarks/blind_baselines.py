"""Print how far each domain's yes/no, choice and open splits can be answered without the image.

    .venv/bin/python benchmarks/blind_baselines.py            # 800 train / 800 test items per split
    .venv/bin/python benchmarks/blind_baselines.py --n 2000

Every baseline (answer prior, option position, option text prior, nearest-centre box) is fitted on
the training split in the same form and scored on the held-out one; see currvl.evaluation.blind.
The open form's answer prior is the floor a method's open domain score must clear to mean anything.
"""

from __future__ import annotations

import argparse
import json

from currvl.data.formats import convert
from currvl.data.synthetic import make_samples
from currvl.evaluation.blind import blind_baselines, open_answer_prior, worst_excess

SPLITS = (("scan_qa", "test"), ("scan_qa", "test_ood"), ("scan", "test"))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=800)
    parser.add_argument("--json", help="also write every figure to this file")
    args = parser.parse_args()
    results = {}
    print(f"{'world/split':<18} {'form':<7} {'n':>5} {'chance':>7}  baselines (accuracy)  worst excess")
    for world, split in SPLITS:
        train = make_samples(world, "train", args.n)
        test = make_samples(world, split, args.n)
        for form in ("judge", "choice"):
            r = blind_baselines(convert(train, form, seed=0), convert(test, form, seed=0))
            results[f"{world}/{split}/{form}"] = r
            shown = "  ".join(f"{k} {v:.3f}" for k, v in r["baselines"].items())
            print(
                f"{world + '/' + split:<18} {form:<7} {r['n']:>5} {r['chance']:>7.3f}  {shown}  {worst_excess(r):+.3f}"
            )
            for c, row in r["categories"].items():
                cells = "  ".join(f"{k} {v:.3f}" for k, v in row.items() if k not in ("n", "chance"))
                print(f"{'':<18} {'':<7} {row['n']:>5} {row['chance']:>7.3f}    {c}: {cells}")
        prior = open_answer_prior(train, test)
        results[f"{world}/{split}/open"] = prior
        cells = "  ".join(f"{c} {v:.3f}" for c, v in prior["categories"].items())
        print(
            f"{world + '/' + split:<18} {'open':<7} {len(test):>5} {'':>7}  answer_prior {prior['score']:.3f}  ({cells})"
        )
    if args.json:
        with open(args.json, "w") as f:
            json.dump(results, f, indent=2)


if __name__ == "__main__":
    main()
