"""Print how often a base swaps which colour sits where on open position items, before and after more
grounding-heavy instruction steps (is colour-to-token binding data-limited?).

    .venv/bin/python benchmarks/base_binding.py                          # the shipped base as it is
    .venv/bin/python benchmarks/base_binding.py --steps 200 --grounding 48   # then 200 more steps
    .venv/bin/python benchmarks/base_binding.py --model /tmp/pt10 --steps 200 --grounding 48 \
        --compare-scan --arithmetic 8 --out /tmp/pt10c                      # a base built that way

The open position items of the 1,000-item gate probe are answered greedily; a rationale "names both
places right" when the rows or columns it states for the two named shapes are the true ones. The
continued training uses `currvl.training.base_pretrain`'s own items (16 instruction, `--grounding`
grounding and 8 recall items a step, at lr 3e-4, vision frozen), drawn from indices the pretraining
never reached; the continued model is written to `--out` and never over the input.
"""

from __future__ import annotations

import argparse
import re
import time
from pathlib import Path

import torch

from currvl.evaluation.evaluate import score_completions
from currvl.evaluation.gate import gate_probe
from currvl.models import load_model
from currvl.models.generation import generate
from currvl.training import base_pretrain as bp

_PLACE = re.compile(r"(?:column|row) (\d)")


def binding_report(model, processor) -> dict[str, int]:
    """Open position items: answered right, both places named right, and the places swapped."""
    probe = [s for s in gate_probe(1000) if s["category"] == "position" and s["form"] == "open"]
    completions = generate(model, processor, probe, batch_size=34, max_new_tokens=64, show_progress=False)
    records = score_completions(probe, completions)["records"]  # the gate's own scoring
    out = {"items": len(probe), "answer_right": 0, "places_right": 0, "places_swapped": 0}
    for s, c, record in zip(probe, completions, records, strict=True):
        truth, said = _PLACE.findall(s["rationale"]), _PLACE.findall(c)
        out["answer_right"] += int(record["score"])
        out["places_right"] += said == truth
        out["places_swapped"] += len(said) == 2 and said == truth[::-1] and truth[0] != truth[1]
    return out


def continue_training(
    model, processor, steps: int, grounding: int, compare: bool = False, arithmetic: int = 0
) -> None:
    for p in model.model.visual.parameters():
        p.requires_grad_(False)
    model.train()
    params = [p for p in model.parameters() if p.requires_grad]
    optimizer = torch.optim.AdamW(params, lr=3e-4, weight_decay=0.01)
    start = time.perf_counter()
    for step in range(steps):
        index = 7000 + step  # past every index the default pretraining draws
        parts = [
            [bp.instruction_item(index * 16 + j, 0, compare) for j in range(16)],
            [bp.grounding_item(index * grounding + j) for j in range(grounding)],
            [bp.recall_item(index * 8 + j, 0, compare) for j in range(8)],
        ]
        if arithmetic:
            parts.append([bp.arithmetic_item(index * arithmetic + j, 0, compare) for j in range(arithmetic)])
        loss = sum(bp.sft_loss(model, *bp.encode_sft(processor, items, 5.0)) for items in parts)
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(params, 1.0)
        optimizer.step()
        if (step + 1) % 50 == 0:
            print(
                f"  step {step + 1}: loss {loss.item():.3f} ({time.perf_counter() - start:.0f} s)", flush=True
            )
    model.eval()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", default="currvl-base")
    parser.add_argument("--steps", type=int, default=0)
    parser.add_argument("--grounding", type=int, default=48)
    parser.add_argument("--out", default="runs/bench/base-binding")
    parser.add_argument("--compare-scan", action="store_true", help="for a base built with --compare-scan")
    parser.add_argument("--arithmetic", type=int, default=0, help="extra arithmetic items a step")
    parser.add_argument("--gate", action="store_true", help="also run the 1,000-item gate on the result")
    args = parser.parse_args()
    if args.steps and Path(args.out).exists() and any(Path(args.out).iterdir()):
        raise SystemExit(f"{args.out} is not empty; pass another --out")
    model, processor = load_model(args.model)
    model.eval()
    print(f"{args.model}: {binding_report(model, processor)}")
    if args.steps:
        continue_training(model, processor, args.steps, args.grounding, args.compare_scan, args.arithmetic)
        model.save_pretrained(args.out)
        processor.save_pretrained(args.out)
        print(f"after {args.steps} steps with {args.grounding} grounding items each ({args.out}):")
        print(f"  {binding_report(model, processor)}")
        if args.gate:
            from currvl.evaluation.gate import gate_markdown, run_gate, write_gate

            result = run_gate(model, processor, n=1000)
            write_gate(result, args.out)
            print(gate_markdown(result))


if __name__ == "__main__":
    main()
