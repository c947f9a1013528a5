"""Where a base fails to continue a held-out answer form: per reference token after the forced prefix.

`currvl diagnose` says how often T=1 samples finish a form right with 60% of the reference forced;
this says which token costs it. For each `unseen_forms` category, the mean log-probability (nats,
teacher-forced) of every reference token after the cut, over `--n` items: a function word the base
never wrote in that position costs several nats, a word read off the image near 0.

    python benchmarks/continuation_tokens.py --model currvl-base --n 80
"""

from __future__ import annotations

import argparse
import json

from currvl.data.prompts import target_text
from currvl.data.synthetic import make_samples
from currvl.evaluation.reachability import prefix_of_share, token_ends
from currvl.models import load_model
from currvl.models.teacher_forcing import reference_token_nll


def continuation_costs(model, processor, samples, share: float = 0.6) -> dict[str, list[tuple[str, float]]]:
    """Per category: (token text, mean log-prob) of each reference token after ceil(share * L), by
    position after the cut (labelled with the first item's tokens: the values differ in their words)."""
    tokenizer = processor.tokenizer
    nlls = reference_token_nll(model, processor, samples)
    sums: dict[str, list[list]] = {}
    for s, nll in zip(samples, nlls, strict=True):
        reference = target_text(s)
        cut = len(prefix_of_share(tokenizer, reference, share))
        ends = token_ends(tokenizer, reference)
        starts = [0, *ends[:-1]]
        after = [(i, reference[a:b]) for i, (a, b) in enumerate(zip(starts, ends, strict=True)) if a >= cut]
        rows = sums.setdefault(s["category"], [])
        if not rows:
            rows.extend([tok, 0.0, 0] for _, tok in after)
        for slot, (i, _) in zip(rows, after, strict=False):
            slot[1] -= nll[i].item()
            slot[2] += 1
    return {c: [(tok, round(total / n, 2)) for tok, total, n in rows] for c, rows in sums.items()}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", default="currvl-base")
    parser.add_argument("--n", type=int, default=80, help="items (split over the four categories)")
    parser.add_argument("--share", type=float, default=0.6)
    parser.add_argument("--json", help="also write the figures here")
    args = parser.parse_args()
    model, processor = load_model(args.model)
    samples = make_samples("unseen_forms", "test", args.n)
    costs = continuation_costs(model, processor, samples, args.share)
    for category, tokens in costs.items():
        print(f"{category:16s} " + " ".join(f"{tok!r}:{lp:+.2f}" for tok, lp in tokens))
    if args.json:
        with open(args.json, "w") as f:
            json.dump(costs, f, indent=1)


if __name__ == "__main__":
    main()
