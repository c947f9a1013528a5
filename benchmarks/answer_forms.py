r"""Which answer forms does a base write freely for a world's items? (A domain design aid.)

A domain is fixed from premise figures before any method runs. This samples k free completions per
item (T=1, the rollouts' setting) and counts, per candidate answer form, the share of samples whose
`<answer>` equals that form of the item's own attributes under the task reward's text rule
(`normalize_text`: case, edge punctuation and one leading article ignored), the share of groups of k
with a match and with spread, and the most common answers.

    .venv/bin/python benchmarks/answer_forms.py --model currvl-base-compositional \
        --data synthetic:object_names:200 --forms "{colour} {shape}" "a {colour} {shape}" "one {colour} {shape}"

Form fields are the named groups of `--parse` matched on each item's reference answer (default: an
`object_names` answer, "<colour> <shape>"); `unseen_forms`' edge sentences, for instance:
`--data synthetic:unseen_forms:400 --parse "A (?P<colour>\w+) (?P<shape>\w+) next to the (?P<edge>\w+) edge."`
(items whose answer does not match are left out).
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
from currvl.rewards.scoring import normalize_text

ANSWER = re.compile(r"<answer>(.*?)(?:</answer>|$)", re.S)


OBJECT_NAME = r"(?P<colour>\w+) (?P<shape>\w+)"


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--model", default="currvl-base-compositional")
    ap.add_argument("--data", default="synthetic:object_names:200")
    ap.add_argument(
        "--forms", nargs="+", default=["{colour} {shape}", "a {colour} {shape}", "one {colour} {shape}"]
    )
    ap.add_argument("--k", type=int, default=8)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--parse", default=OBJECT_NAME, help="regex with named groups, on the reference answer")
    args = ap.parse_args()
    parse = re.compile(args.parse)
    samples = [s for s in load_source(args.data, split="train") if parse.fullmatch(str(s["answer"]))]
    fields = [parse.fullmatch(str(s["answer"])).groupdict() for s in samples]
    model, processor = load_model(args.model)
    torch.manual_seed(args.seed)
    completions = generate(
        model, processor, samples, num_samples=args.k, temperature=1.0, show_progress=False
    )
    answers = [normalize_text(m.group(1)) if (m := ANSWER.search(c)) else "" for c in completions]
    out: dict = {"model": args.model, "data": args.data, "items": len(samples), "k": args.k, "forms": {}}
    for form in args.forms:
        targets = [normalize_text(form.format(**f)) for f in fields]
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
