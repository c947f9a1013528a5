"""A compare's pictures: domain score against general score along training, and the RL curves."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any


def plot_scatter(result: dict[str, Any], path: Path) -> Path:
    """Each run's end point and its path along training, one colour per method and one marker per
    seed; the right panel zooms on the top band, where "general kept" is decided."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    fig = Figure(figsize=(10, 4.6))
    FigureCanvasAgg(fig)
    axes = fig.subplots(1, 2)
    methods = list(dict.fromkeys(r["method"] for r in result["runs"]))
    seeds = sorted({r["seed"] for r in result["runs"]})
    colours = {m: f"C{i % 10}" for i, m in enumerate(methods)}
    markers = {s: "osD^v<>p*h"[i % 10] for i, s in enumerate(seeds)}
    b = result["base"]
    xs = [b["domain"]] + [r["domain_after"] or 0.0 for r in result["runs"]]
    for ax in axes:
        ax.scatter([b["domain"]], [b["general"]], marker="x", color="black", s=60, zorder=3)
        for r in result["runs"]:
            c = colours[r["method"]]
            ax.scatter(
                [r["domain_after"]], [r["general_after"]], color=c, marker=markers[r["seed"]], zorder=3
            )
            if r.get("path"):  # the way there, on the (smaller) curve probe
                ax.plot(
                    [p["domain"] for p in r["path"]], [p["general"] for p in r["path"]], "--", color=c, lw=0.8
                )
        ax.set_xlim(-0.03, max(0.2, max(xs) + 0.05))  # scores live in [0, 1]; keep 0 visible as 0
        ax.set_xlabel("domain score")
        ax.set_ylabel("general score")
    axes[0].set_ylim(-0.03, 1.05)
    axes[0].set_title("domain gain vs general ability")
    axes[1].set_ylim(0.85, 1.01)
    axes[1].set_title("zoom: general >= 0.85 (dashed: along training)")
    handles = [axes[0].scatter([], [], marker="x", color="black", label="base")]
    handles += [axes[0].scatter([], [], color=colours[m], label=m) for m in methods]
    if len(seeds) > 1:
        handles += [
            axes[0].scatter([], [], color="grey", marker=markers[s], label=f"seed {s}") for s in seeds
        ]
    fig.legend(handles=handles, loc="lower center", ncol=min(len(handles), 6), fontsize=8, frameon=False)
    fig.tight_layout(rect=(0, 0.08 + 0.04 * (len(handles) > 6), 1, 1))
    fig.savefig(path, dpi=100)
    return path


def plot_curves(rows: list[dict[str, Any]], path: Path) -> Path:
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    fig = Figure(figsize=(10, 3.5))
    FigureCanvasAgg(fig)
    axes = fig.subplots(1, 2)
    plotted: dict[str, list[str]] = {}  # a derived method shares its source's RL steps: one line, both names
    for r in rows:
        if r["curve"]:
            plotted.setdefault(json.dumps(r["curve"]), []).append(f"{r['method']} (seed {r['seed']})")
    for r in rows:
        names = plotted.pop(json.dumps(r["curve"]), None) if r["curve"] else None
        if not names:
            continue
        label = " = ".join(names)
        steps = [p["step"] for p in r["curve"]]
        axes[0].plot(steps, [p["reward"] for p in r["curve"]], label=label)
        task = [p.get("zero_variance_task") for p in r["curve"]]
        axes[1].plot(steps, [float("nan") if v is None else v for v in task], label=label)
    axes[0].set_title("reward")
    axes[1].set_title("zero-variance groups, task reward (own rollouts)")
    for ax in axes:
        ax.set_xlabel("RL step")
    axes[0].legend(fontsize=7)
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    return path
