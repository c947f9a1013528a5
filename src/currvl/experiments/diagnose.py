"""`currvl diagnose`: a domain's premise figures on a model, the method they point to, and the files.

One call loads the model once, draws a seeded sample of the training items, runs `premise_checks`
(with the general suite's shapes as the sight control), prints the table and the recommendation,
and writes `diagnosis.json`, `diagnosis.md` and `diagnosis.png` into the output folder (refusing to
overwrite an earlier diagnosis unless asked).
"""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any

from currvl.data.sources import load_source
from currvl.data.synthetic import get_world, make_samples
from currvl.evaluation.premises import closed_answer_sets, premise_checks, premise_table, shuffled
from currvl.evaluation.reachability import concept_vocabulary
from currvl.models.loading import free_memory, inference_placement, load_model

FILES = ("diagnosis.json", "diagnosis.md", "diagnosis.png")
CONTROL_N = 200


def _control_items(n: int) -> list[dict[str, Any]]:
    """The general suite's shapes: a vision tower that works separates them."""
    items = make_samples("general", "train", n * len(get_world("general").categories))
    return [s for s in items if s["category"] == "shape"][:n]


def run_diagnosis(
    model_name: str,
    data: Any,
    *,
    out_dir: str | Path,
    split: str = "train",
    n: int = 200,
    k: int = 8,
    share: float = 0.6,
    temperature: float = 1.0,
    concepts: list[str] | None = None,
    image_root: str | None = None,
    control_n: int = CONTROL_N,
    seed: int = 0,
    overwrite: bool = False,
) -> dict[str, Any]:
    """Measure, write and return the premise figures of `data` (its `split`) on `model_name`."""
    out = Path(out_dir)
    existing = [out / f for f in FILES if (out / f).exists()]
    if existing and not overwrite:
        raise FileExistsError(f"{existing[0]} already exists; pass --overwrite to replace it")
    items = shuffled(load_source(data, split=split, image_root=image_root), n, seed)
    if not items:
        raise ValueError(f"{data}: no items in split {split!r}")
    start = time.perf_counter()
    model, processor = load_model(model_name, **inference_placement())
    try:
        figures = premise_checks(
            model,
            processor,
            items,
            k=k,
            temperature=temperature,
            share=share,
            vocabulary=concept_vocabulary(data, concepts),
            control=_control_items(control_n) if control_n else None,
            known=closed_answer_sets(data),
            seed=seed,
        )
    finally:
        del model, processor
        free_memory()
    figures.update(model=str(model_name), data=str(data), split=split, seconds=time.perf_counter() - start)
    out.mkdir(parents=True, exist_ok=True)
    (out / "diagnosis.json").write_text(json.dumps(figures, indent=2))
    (out / "diagnosis.md").write_text(f"# Diagnosis of {data} on {model_name}\n\n{premise_table(figures)}\n")
    plot_diagnosis(figures, out / "diagnosis.png")
    return figures


def plot_diagnosis(figures: dict[str, Any], path: str | Path) -> Path:
    """Grouped bars per category: free groups with spread, paid with the prefix share and up to the
    concept, yes/no above chance, and the sight probe above chance."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    categories = [c for c in figures["free"]["categories"] if c != "all"]

    def cat(section: str, c: str, key: str) -> float:
        return float((figures.get(section, {}).get("categories", {}).get(c) or {}).get(key) or 0.0)

    judge = figures.get("forms", {}).get("judge", {})
    bars = {
        "free: groups with spread": [cat("free", c, "groups_with_spread") for c in categories],
        f"{figures['share']:.0%} forced: paid": [cat("prefix_share", c, "samples_paid") for c in categories],
        "to concept: paid": [cat("prefix_concept", c, "samples_paid") for c in categories],
        "yes/no - chance": [
            (judge.get("categories", {}).get(c) or 0.0) - (judge.get("chance", {}).get(c) or 0.0)
            for c in categories
        ],
        "sight probe - chance": [cat("sight", c, "accuracy") - cat("sight", c, "chance") for c in categories],
    }
    fig = Figure(figsize=(max(6.0, 1.6 * len(categories) + 2), 4.2))
    FigureCanvasAgg(fig)
    ax = fig.add_subplot(1, 1, 1)
    width = 0.8 / len(bars)
    for j, (label, values) in enumerate(bars.items()):
        ax.bar([i + j * width for i in range(len(categories))], values, width, label=label)
    ax.set_xticks([i + 0.4 - width / 2 for i in range(len(categories))], categories)
    ax.axhline(0, color="black", linewidth=0.8)
    ax.set_ylim(-0.5, 1.0)
    rec = figures.get("recommendation", {})
    ax.set_title(f"{figures.get('data', '')}: recommends {rec.get('method', '?')}", fontsize=10)
    ax.legend(fontsize=7, loc="upper right")
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    return Path(path)
