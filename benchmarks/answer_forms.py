"""Which answer forms does a base write freely for a world's items? (A domain design aid.)

A domain is fixed from premise figures before any method runs. This samples k free completions per
item (T=1, the rollouts' setting) and counts, per candidate answer form, the share of samples whose
`<answer>` is exactly that form of the item's own attributes (case, articles kept, final period
ignored), the share of groups of k with a match and with spread, and the most common answers.

    .venv/bin/python benchmarks/answer_forms.py --model currvl-base-compositional \
        --data synthetic:object_names:200 --forms "{colour} {shape}" "a {colour} {shape}" "one {colour} {shape}"

Form fields are read from the item's answer by the world: for `object_names`, `colour` and `shape`.
"""

from __future__ import annotations

import argparse
import json
import re
from collections import Counter

import torch

from currvl.data.sources import load_source
from currvl.models.generation import generate
from currvl.models.loading import load_model

ANSWER = re.compile(r"<answer>(.*?)(?:</answer>|$)", re.S)


def fields(sample: dict) -> dict[str, str]:
    """The attributes a form may name: an object_names answer is "<colour> <shape>"."""
    colour, shape = str(sample["answer"]).split()
    return {"colour": colour, "shape": shape}


def normalise(text: str) -> str:
    return text.strip().lower().rstrip(".").strip()


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--model", default="currvl-base-compositional")
    ap.add_argument("--data", default="synthetic:object_names:200")
    ap.add_argument(
        "--forms", nargs="+", default=["{colour} {shape}", "a {colour} {shape}", "one {colour} {shape}"]
    )
    ap.add_argument("--k", type=int, default=8)
    ap.add_argument("--seed", type=int, default=0)
    args = ap.parse_args()
    samples = load_source(args.data, split="train")
    model, processor = load_model(args.model)
    torch.manual_seed(args.seed)
    completions = generate(
        model, processor, samples, num_samples=args.k, temperature=1.0, show_progress=False
    )
    answers = [normalise(m.group(1)) if (m := ANSWER.search(c)) else "" for c in completions]
    out: dict = {"model": args.model, "data": args.data, "k": args.k, "forms": {}}
    for form in args.forms:
        targets = [normalise(form.format(**fields(s))) for s in samples]
        hits = [answers[i * args.k + j] == targets[i] for i in range(len(samples)) for j in range(args.k)]
        groups = [hits[i * args.k : (i + 1) * args.k] for i in range(len(samples))]
        out["forms"][form] = {
            "samples": sum(hits) / len(hits),
            "groups_with_a_match": sum(any(g) for g in groups) / len(groups),
            "groups_with_spread": sum(any(g) and not all(g) for g in groups) / len(groups),
        }
    out["common"] = Counter(answers).most_common(15)
    print(json.dumps(out, indent=1))


if __name__ == "__main__":
    main()
