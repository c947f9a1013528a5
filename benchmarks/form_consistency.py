"""Is a model's yes/no score limited by what it knows or by its yes/no skill? Print both.

    .venv/bin/python benchmarks/form_consistency.py                   # currvl-base, 500 scan_qa test items
    .venv/bin/python benchmarks/form_consistency.py --model runs/x/final --domain synthetic:scan_qa:500

The same items are asked open and as yes/no ("... Is the answer <candidate>?", the evaluation's
conversion). A model that judges by its own open answer says "yes" exactly when that answer matches
the candidate; the yes/no accuracy this predicts follows from the open accuracy alone. Printed per
category: open accuracy, yes/no accuracy, the predicted yes/no accuracy, and how often the yes/no
verdict agrees with the open answer (the judge's consistency). High consistency with yes/no near
chance means the yes/no form is limited by the open skill, not by judging.
"""

from __future__ import annotations

import argparse
import json
from collections import defaultdict

from currvl.data.formats import convert, judge_candidate
from currvl.data.sources import load_source
from currvl.evaluation.evaluate import score_completions
from currvl.models import load_model
from currvl.models.generation import generate
from currvl.rewards.parsing import extract_answer
from currvl.rewards.scoring import parse_yes_no


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", default="currvl-base")
    parser.add_argument("--domain", default="synthetic:scan_qa:500", help="a data source (test split)")
    parser.add_argument("--batch-size", type=int, default=50)
    parser.add_argument("--json", help="also write every figure to this file")
    args = parser.parse_args()

    items = load_source(args.domain, split="test")
    judge = convert(items, "judge")
    # items with no yes/no form (free-text reports) pass through the conversion unchanged: left out
    pairs = [(s, j) for s, j in zip(items, judge, strict=True) if j["task"] == "yes_no"]
    if not pairs:
        raise SystemExit(f"{args.domain}: no item has a yes/no form")
    items, judge = [s for s, _ in pairs], [j for _, j in pairs]
    model, processor = load_model(args.model)
    kwargs = {"batch_size": args.batch_size, "max_new_tokens": 64}
    open_done = generate(model, processor, items, **kwargs)
    judge_done = generate(model, processor, judge, **kwargs)
    open_scores = [r["score"] for r in score_completions(items, open_done)["records"]]
    judge_scores = [r["score"] for r in score_completions(judge, judge_done)["records"]]
    # does the open answer match the candidate? score the open completion as if the candidate were the answer
    as_candidate = [dict(s, answer=judge_candidate(j)) for s, j in zip(items, judge, strict=True)]
    matches = [r["score"] >= 0.5 for r in score_completions(as_candidate, open_done)["records"]]

    rows: dict[str, dict[str, list[float]]] = defaultdict(lambda: defaultdict(list))
    for s, j, o, js, m, text in zip(
        items, judge, open_scores, judge_scores, matches, judge_done, strict=True
    ):
        said_yes = parse_yes_no(extract_answer(text)) == "yes"  # read as the yes/no score reads it
        predicted = "yes" if m else "no"
        for key in (s.get("category") or s["task"], "all"):
            row = rows[key]
            row["open"].append(o)
            row["yes_no"].append(js)
            row["predicted"].append(float(predicted == j["answer"]))
            row["consistency"].append(float(said_yes == m))
            row["says_yes"].append(float(said_yes))
    table = {
        k: {f: sum(v) / len(v) for f, v in row.items()} | {"n": len(row["open"])} for k, row in rows.items()
    }
    print(f"{args.model} on {args.domain} (test, n={len(items)}), greedy")
    print(
        f"{'category':<12} {'n':>4} {'open':>6} {'yes/no':>7} {'predicted':>9} {'consistency':>11} {'says yes':>8}"
    )
    for key, t in sorted(table.items(), key=lambda kv: kv[0] == "all"):
        print(
            f"{key:<12} {t['n']:>4} {t['open']:>6.3f} {t['yes_no']:>7.3f} {t['predicted']:>9.3f}"
            f" {t['consistency']:>11.3f} {t['says_yes']:>8.3f}"
        )
    if args.json:
        with open(args.json, "w") as f:
            json.dump(table, f, indent=2)


if __name__ == "__main__":
    main()
