"""Does a construction learnt from plain English reach an answer? Teacher-forced costs, two contexts.

`--constructions-batch-size` (pretraining) gives the base everyday English with the held-out forms'
constructions ("The number of chairs is 12."). This asks where that knowledge shows:
- plain text: the mean log-probability (nats) of each token of crafted sentences, no chat, no image;
- an answer: `unseen_forms`' count and colour items (the picture, the question, the neutral
  rationale), with the scene noun of the reference swapped for an everyday one ("The number of
  chairs is 3."), by token after half the answer (`continuation_tokens.py` reads the same way).

    python benchmarks/construction_transfer.py --model runs/v7
"""

from __future__ import annotations

import argparse
import re

import torch
from continuation_tokens import continuation_costs

from currvl.data.synthetic import make_samples
from currvl.data.synthetic.general import SHAPES
from currvl.models import load_model

SENTENCES = (
    "The number of chairs is 12.",
    "The number of shapes is 3.",
    "The colour of the coat is pink.",
    "The colour of the circle is red.",
    "A small dog next to the door.",
    "A red circle next to the left edge.",
)
SWAPS = {"count_sentence": ("shapes", "chairs"), "colour_sentence": ("|".join(SHAPES), "coat")}


def plain_costs(model, tokenizer, text: str) -> list[tuple[str, float]]:
    """(token, log-probability) of every token of `text` after the first, as plain text."""
    ids = tokenizer(text, add_special_tokens=False, return_tensors="pt")["input_ids"]
    with torch.no_grad():
        logp = model(input_ids=ids).logits.log_softmax(-1)[0, :-1].gather(-1, ids[0, 1:, None])[:, 0]
    return [
        (tokenizer.decode(t), round(v, 2)) for t, v in zip(ids[0, 1:].tolist(), logp.tolist(), strict=True)
    ]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", default="currvl-base")
    parser.add_argument("--n", type=int, default=160, help="unseen_forms items drawn (half are count/colour)")
    args = parser.parse_args()
    model, processor = load_model(args.model)
    model.eval()
    print("plain text:")
    for text in SENTENCES:
        costs = plain_costs(model, processor.tokenizer, text)
        print(f"  {text:38s} " + " ".join(f"{tok!r}:{lp:+.1f}" for tok, lp in costs))
    print("in an answer, after half of it (scene noun -> everyday noun):")
    items = make_samples("unseen_forms", "test", args.n)
    for category, (scene, everyday) in SWAPS.items():
        chosen = [s for s in items if s["category"] == category]
        for swap in (False, True):
            batch = [
                {**s, "answer": re.sub(scene, everyday, s["answer"]) if swap else s["answer"]} for s in chosen
            ]
            costs = continuation_costs(model, processor, batch, share=0.5)[category]
            label = f"{category} ({everyday if swap else 'as held out'})"
            print(f"  {label:38s} " + " ".join(f"{tok!r}:{lp:+.1f}" for tok, lp in costs))


if __name__ == "__main__":
    main()
