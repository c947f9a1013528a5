"""Does a base judge a scene's attributes from skill when asked plainly? (A Curr-ReFT premise aid.)

Curr-ReFT's judge stage needs yes/no questions the base answers from real skill. `diagnose` asks the
generic "<question> Is the answer <reference>?"; this asks about one `place_sentences` scene in
plain yes/no questions instead, each true or false by a seeded coin (a false one changes one
attribute): "Is the red circle next to the left edge?" (full), "Is the shape red?" (colour),
"Is the shape a circle?" (shape), "Is the shape next to the left edge?" (edge). Greedy accuracy per
question kind; chance 0.5.

    .venv/bin/python benchmarks/attribute_judgements.py --model currvl-base-compositional --n 200
"""

from __future__ import annotations

import argparse
import json
import random
import re

from currvl.data.synthetic import make_samples
from currvl.data.synthetic.general import COLORS, POSITIONS, SHAPES
from currvl.evaluation.evaluate import evaluate
from currvl.models.loading import load_model

SENTENCE = re.compile(r"The (\w+) (\w+) is next to the (\w+) edge\.")
KINDS = ("full", "colour", "shape", "edge")


def questions(samples: list[dict], seed: int = 0) -> dict[str, list[dict]]:
    """Per kind, one yes/no item per sample (true or false by a seeded coin)."""
    rng = random.Random(seed)
    out: dict[str, list[dict]] = {k: [] for k in KINDS}
    for s in samples:
        colour, shape, edge = SENTENCE.fullmatch(s["answer"]).groups()
        for kind in KINDS:
            truth = rng.random() < 0.5
            c, sh, e = colour, shape, edge
            if not truth:
                changed = rng.choice(("colour", "shape", "edge")) if kind == "full" else kind
                if changed == "colour":
                    c = rng.choice([x for x in COLORS if x != colour])
                elif changed == "shape":
                    sh = rng.choice([x for x in SHAPES if x != shape])
                else:
                    e = rng.choice([x for x in POSITIONS if x != edge])
            question = {
                "full": f"Is the {c} {sh} next to the {e} edge?",
                "colour": f"Is the shape {c}?",
                "shape": f"Is the shape a {sh}?",
                "edge": f"Is the shape next to the {e} edge?",
            }[kind]
            answer = "yes" if truth else "no"
            out[kind].append(
                dict(s, question=question, answer=answer, task="yes_no", rationale=None, options=None)
            )
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--model", default="currvl-base-compositional")
    ap.add_argument("--n", type=int, default=200)
    ap.add_argument("--seed", type=int, default=0)
    args = ap.parse_args()
    model, processor = load_model(args.model)
    items = questions(make_samples("place_sentences", "train", args.n), args.seed)
    scores = {
        kind: evaluate(model, processor, v, batch_size=32, show_progress=False)["score"]
        for kind, v in items.items()
    }
    print(json.dumps({"model": args.model, "n": args.n, "chance": 0.5, "accuracy": scores}, indent=1))


if __name__ == "__main__":
    main()
