"""The few-shot page's two targets: adapt-and-predict latency, and hand-drawn shapes told apart.

1. Latency: prepare six 280-px canvas drawings (five supports, a query) and adapt a shipped model
   on the supports for 1, 3, 5 and 10 inner steps, then predict the query: what one press of
   "Adapt and predict" costs on this machine (median of `--repeats`). Target: <= 300 ms on 2 CPU
   cores for up to 10 steps.
2. Hand-drawn shapes: mouse-stroke sketches (core.data.sketches); each trial draws 5 of the 10
   shapes cleanly as supports and `--variations` redrawn variations of each as queries. Reported:
   the share of queries right per model. Target: the shipped MAML model gets at least 4 in 5.

    python -m bench.fewshot_demo [--repeats 20 --trials 20 --variations 4] [--checkpoints DIR]
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time

import numpy as np
import torch

from bench import report
from core.data.sketches import SHAPES, render_paths, sketch_paths
from core.fewshot import demo
from core.fewshot.drawing import prepare_drawing
from core.fewshot.run import load_learner
from core.runs import RunStore
from core.shipped import read_shipped
from presenters.fewshot import models


def canvas(shape: str, variation: int | None, seed: int) -> np.ndarray:
    return render_paths(sketch_paths(shape, 280, variation=variation, seed=seed))


def latency(learner, repeats: int, steps: int) -> float:
    """Median seconds of preparing six canvases and adapting on five of them."""
    shapes = list(SHAPES)[:5]
    canvases = [canvas(s, None, 0) for s in shapes] + [canvas(shapes[2], 1, 0)]
    times = []
    for _ in range(repeats + 2):
        t0 = time.perf_counter()
        images = [prepare_drawing(c).image for c in canvases]
        demo.classify(learner, images[:5], images[5:], steps=steps)
        times.append(time.perf_counter() - t0)
    return statistics.median(times[2:])


def recognition(learner, trials: int, variations: int) -> tuple[int, int]:
    """(right, total) over `trials` random 5-shape sets, `variations` queries per shape."""
    names = list(SHAPES)
    rng = np.random.default_rng(0)
    right = total = 0
    for trial in range(trials):
        shapes = [names[i] for i in rng.choice(len(names), 5, replace=False)]
        supports = [prepare_drawing(canvas(s, None, trial)).image for s in shapes]
        queries, labels = [], []
        for label, s in enumerate(shapes):
            for v in range(1, variations + 1):
                queries.append(prepare_drawing(canvas(s, v, trial)).image)
                labels.append(label)
        predictions = demo.classify(learner, supports, queries).predictions.numpy()
        right += int((predictions == np.array(labels)).sum())
        total += len(labels)
    return right, total


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--repeats", type=int, default=20)
    ap.add_argument("--trials", type=int, default=20)
    ap.add_argument("--variations", type=int, default=4)
    ap.add_argument("--checkpoints", default=None, help="run store (default: checkpoints/)")
    ap.add_argument("--no-write", action="store_true", help="print only; do not append to BENCHMARKS.md")
    a = ap.parse_args()
    store = RunStore(a.checkpoints) if a.checkpoints else RunStore()
    choices = [c for c in models.fewshot_models(store, read_shipped(store)) if c.shipped]
    if not choices:
        sys.exit(f"no shipped few-shot runs in {store.root}")
    rows = []
    for choice in choices:
        learner = load_learner(choice.run_id, store, "cpu")
        right, total = recognition(learner, a.trials, a.variations)
        row = {
            "model": choice.label.split(" · ")[0],
            "run": choice.run_id,
            "test steps": choice.steps,
            "shapes right": f"{right}/{total} = {right / total:.1%}",
        }
        if choice.solver == "maml":
            row["shapes right"] += " (target 80%: " + ("met)" if right / total >= 0.8 else "NOT met)")
        for steps in (1, 3, 5, 10):
            ms = 1000 * latency(learner, a.repeats, steps)
            row[f"{steps} step(s), ms"] = f"{ms:.0f}" + (" (target 300: NOT met)" if ms > 300 else "")
        rows.append(row)
        print(row, flush=True)
    columns = ["model", "run", "test steps", "shapes right"] + [f"{s} step(s), ms" for s in (1, 3, 5, 10)]
    table = report.markdown_table(rows, columns)
    notes = (
        f"Latency: median of {a.repeats} presses, each preparing six 280-px canvases and adapting on five "
        f"(CPU, torch threads: {torch.get_num_threads()}). Shapes: {a.trials} random sets of 5 of the "
        f"{len(SHAPES)} sketch shapes, {a.variations} redrawn variations of each as queries, at each "
        "model's own test-time steps."
    )
    report.publish("Few-shot page: adapt-and-predict latency and hand-drawn shapes", table, notes, write=not a.no_write)


if __name__ == "__main__":
    main()
