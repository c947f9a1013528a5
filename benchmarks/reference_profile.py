"""Where along the reference does a model know the domain, and does it use the image there?

RCPA's pre-alignment forces the first tokens of the reference; the policy then writes the rest. On a
knowledge-lacking domain the question is which reference tokens carry the concept, and whether a
trained model predicts them from the image or from the text before them. This script scores the
domain probe's references teacher-forced (no sampling) under each model, twice: with each item's own
image and with another item's image (the images shifted by one, so every image is a real scan of the
domain). Per reference token position it prints the mean NLL with the true image, with the shifted
image, and their gap: the nats the image is worth at that token. A model that learned the domain by
looking has a large gap where the finding is described; one that learned the text alone has none.

    .venv/bin/python benchmarks/reference_profile.py --domain synthetic:scan_report \\
        --model base=currvl-base --model RCPA=runs/.../final --positions 24 --png profile.png
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from currvl.data.prompts import target_text
from currvl.evaluation.probe import domain_split
from currvl.models import load_model
from currvl.models.loading import load_processor
from currvl.models.teacher_forcing import reference_token_nll


def profile(model_dir: str, samples: list[dict], positions: int) -> dict:
    model, processor = load_model(model_dir, dtype="float32")
    # another scan of the domain under each item, the item's own reference kept
    shifted = [{**s, "image": samples[(i + 1) % len(samples)]["image"]} for i, s in enumerate(samples)]
    true = [n.tolist() for n in reference_token_nll(model, processor, samples)]
    other = [n.tolist() for n in reference_token_nll(model, processor, shifted)]
    rows = []
    for k in range(positions):
        t = [n[k] for n in true if len(n) > k]
        o = [n[k] for n, m in zip(other, true, strict=True) if len(m) > k]
        if t:
            rows.append({"position": k, "nll": sum(t) / len(t), "nll_shifted": sum(o) / len(o)})
    mean_true = sum(sum(n) for n in true) / sum(len(n) for n in true)
    mean_other = sum(sum(n) for n in other) / sum(len(n) for n in other)
    # the nats the own image saves over another scan's, summed over each reference, then averaged
    gains = [sum(o) - sum(t) for t, o in zip(true, other, strict=True)]
    mean_gain = sum(gains) / len(gains)
    sd = (sum((g - mean_gain) ** 2 for g in gains) / max(len(gains) - 1, 1)) ** 0.5
    return {
        "model": model_dir,
        "rows": rows,
        "mean_nll": mean_true,
        "mean_nll_shifted": mean_other,
        "image_nats_per_reference": mean_gain,
        "image_nats_ci95": 1.96 * sd / len(gains) ** 0.5,
    }


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--domain", default="synthetic:scan_report")
    parser.add_argument("--n", type=int, default=128, help="domain test items")
    parser.add_argument("--model", action="append", required=True, help="NAME=PATH (repeatable)")
    parser.add_argument("--positions", type=int, default=24)
    parser.add_argument("--png", type=Path, default=None)
    parser.add_argument("--json", type=Path, default=None)
    args = parser.parse_args()

    samples = domain_split(args.domain, args.n)
    tokenizer = load_processor(args.model[0].split("=", 1)[1]).tokenizer
    first = tokenizer(target_text(samples[0]), add_special_tokens=False)["input_ids"]
    results = {}
    for spec in args.model:
        name, path = spec.split("=", 1)
        results[name] = profile(path, samples, args.positions)

    names = list(results)
    print(f"{args.domain}, {len(samples)} test items; NLL in nats, true image / shifted image (gap)")
    print("pos | token (item 0) | " + " | ".join(names))
    for k in range(args.positions):
        token = tokenizer.decode([first[k]]) if k < len(first) else ""
        cells = []
        for name in names:
            row = next((r for r in results[name]["rows"] if r["position"] == k), None)
            cells.append(
                "-"
                if row is None
                else f"{row['nll']:.2f} / {row['nll_shifted']:.2f} ({row['nll_shifted'] - row['nll']:+.2f})"
            )
        print(f"{k:3d} | {token!r:14} | " + " | ".join(cells))
    print(
        "all | (whole reference) | "
        + " | ".join(
            f"{r['mean_nll']:.2f} / {r['mean_nll_shifted']:.2f} ({r['mean_nll_shifted'] - r['mean_nll']:+.2f})"
            for r in results.values()
        )
    )
    print(
        "image information per reference (nats, mean ± 95% half-width): "
        + "; ".join(
            f"{name} {r['image_nats_per_reference']:+.2f} ± {r['image_nats_ci95']:.2f}"
            for name, r in results.items()
        )
    )
    if args.json:
        args.json.write_text(json.dumps(results, indent=2))
    if args.png:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt

        fig, ax = plt.subplots(figsize=(9, 4))
        for name, r in results.items():
            xs = [row["position"] for row in r["rows"]]
            line = ax.plot(xs, [row["nll"] for row in r["rows"]], marker="o", label=f"{name}, true image")[0]
            ax.plot(
                xs,
                [row["nll_shifted"] for row in r["rows"]],
                ls="--",
                color=line.get_color(),
                label=f"{name}, shifted image",
            )
        labels = [tokenizer.decode([t]) for t in first[: args.positions]]
        ax.set_xticks(range(len(labels)), labels, rotation=60, fontsize=7)
        ax.set_ylabel("reference NLL (nats / token)")
        ax.set_title(f"{args.domain}: where the model knows the reference, and whether the image helps")
        ax.legend(fontsize=7)
        fig.tight_layout()
        fig.savefig(args.png, dpi=120)
        print(f"plot: {args.png}")


if __name__ == "__main__":
    main()
