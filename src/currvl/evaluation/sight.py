"""Can the frozen base see a concept? A linear probe on its merged vision tokens.

RCPA assumes the model sees the domain's images and only lacks the link to the words; Curr-ReFT
assumes its yes/no answers come from real sight. Both are claims about the frozen vision tower and
merger, checked here before any method runs: per image, the merged vision tokens (what the language
model reads) pooled by mean and by max, standardised, then a multinomial logistic regression trained
on a stratified 70% of the items and scored on the rest. Chance is the share of the test part's most
common label. The general suite's shapes are the control a working tower must separate.
"""

from __future__ import annotations

import random
from collections import defaultdict
from collections.abc import Callable
from typing import Any

import torch

from currvl.data.io import open_image
from currvl.rewards.concepts import target_concepts
from currvl.rewards.scoring import normalize_text
from currvl.rewards.similarity import asserted_findings


def concept_label(sample: dict[str, Any], vocabulary: tuple[str, ...] = ()) -> str | None:
    """What a probe predicts for a sample: its short answer (normalised), or the findings a report
    asserts, or else the `vocabulary` words a sentence names ("The number of shapes is 3." -> "3"),
    "none" when it names none of either; None for items without an image or an answer word (boxes,
    yes/no, choice)."""
    if sample.get("image") is None or sample.get("task") not in ("text", "labels", "math"):
        return None
    answer = str(sample.get("answer") or "")
    if sample["task"] == "math":
        return normalize_text(answer)
    concepts = target_concepts(answer, sample["task"])
    if concepts is not None and len(answer.split()) <= 3 and not answer.strip().endswith("."):
        return normalize_text(answer)
    findings = "+".join(sorted(asserted_findings(answer)))
    if findings or not vocabulary:
        return findings or "none"
    words = set(vocabulary)
    named = [w for w in normalize_text(answer).split() if w in words]
    return " ".join(named) or "none"


@torch.no_grad()
def vision_features(model, processor, images: list[Any], batch_size: int = 32) -> torch.Tensor:
    """(n, 2 * hidden): each image's merged vision tokens, mean- and max-pooled."""
    model.eval()
    device = next(model.parameters()).device
    rows = []
    for start in range(0, len(images), batch_size):
        batch = [open_image(im) for im in images[start : start + batch_size]]
        enc = processor.image_processor(images=batch, return_tensors="pt").to(device)
        tokens = model.get_image_features(enc["pixel_values"], enc["image_grid_thw"]).pooler_output
        rows += [torch.cat([t.float().mean(0), t.float().amax(0)]).cpu() for t in tokens]
    return torch.stack(rows)


def stratified_split(labels: list[str], train_fraction: float, seed: int) -> tuple[list[int], list[int]]:
    """Indices of a train and a test part holding each label in about the same proportion."""
    by_label: dict[str, list[int]] = defaultdict(list)
    for i, y in enumerate(labels):
        by_label[y].append(i)
    rng = random.Random(seed)
    train, test = [], []
    for y in sorted(by_label):
        idx = by_label[y]
        rng.shuffle(idx)
        cut = round(len(idx) * train_fraction) if len(idx) > 1 else len(idx)
        train += idx[:cut]
        test += idx[cut:]
    return sorted(train), sorted(test)


def linear_probe(
    features: torch.Tensor,
    labels: list[str],
    *,
    train_fraction: float = 0.7,
    seed: int = 0,
    weight_decay: float = 1e-2,
    max_iter: int = 200,
) -> dict[str, Any]:
    """Held-out accuracy of a multinomial logistic regression (L-BFGS, L2) on standardised features."""
    if len(features) != len(labels):
        raise ValueError(f"{len(features)} feature rows for {len(labels)} labels")
    classes = sorted(set(labels))
    train, test = stratified_split(labels, train_fraction, seed)
    if len(classes) < 2 or not test:
        return {
            "accuracy": None,
            "chance": None,
            "n_train": len(train),
            "n_test": len(test),
            "classes": classes,
        }
    y = torch.tensor([classes.index(v) for v in labels])
    x = features.float()
    mean, std = x[train].mean(0), x[train].std(0).clamp(min=1e-6)
    x = (x - mean) / std
    torch.manual_seed(seed)
    linear = torch.nn.Linear(x.shape[1], len(classes))
    optimiser = torch.optim.LBFGS(linear.parameters(), max_iter=max_iter, line_search_fn="strong_wolfe")

    def closure() -> torch.Tensor:
        optimiser.zero_grad()
        loss = torch.nn.functional.cross_entropy(linear(x[train]), y[train])
        loss = loss + weight_decay * linear.weight.pow(2).sum()
        loss.backward()
        return loss

    with torch.enable_grad():
        optimiser.step(closure)
    with torch.no_grad():
        predicted = linear(x[test]).argmax(-1)
    counts = torch.bincount(y[test], minlength=len(classes))
    return {
        "accuracy": (predicted == y[test]).float().mean().item(),
        "chance": counts.max().item() / len(test),
        "n_train": len(train),
        "n_test": len(test),
        "classes": classes,
    }


def sight_probe(
    model,
    processor,
    samples: list[dict[str, Any]],
    *,
    label_of: Callable[[dict[str, Any]], str | None] | None = None,
    vocabulary: tuple[str, ...] = (),
    seed: int = 0,
    batch_size: int = 32,
) -> dict[str, Any]:
    """`linear_probe` per category (and over every probed item) on the samples' concept labels
    (`concept_label` with the domain's `vocabulary` unless `label_of` is given)."""
    label = label_of or (lambda s: concept_label(s, vocabulary))
    kept = [(s, label(s)) for s in samples]
    kept = [(s, y) for s, y in kept if y is not None]
    if not kept:
        return {"categories": {}, "left_out": len(samples)}
    features = vision_features(model, processor, [s["image"] for s, _ in kept], batch_size)
    by_category: dict[str, list[int]] = defaultdict(list)
    for i, (s, _) in enumerate(kept):
        by_category[s.get("category") or s["task"]].append(i)
    out: dict[str, Any] = {}
    for category, idx in sorted(by_category.items()):
        out[category] = linear_probe(features[idx], [kept[i][1] for i in idx], seed=seed)
    return {"categories": out, "left_out": len(samples) - len(kept)}
