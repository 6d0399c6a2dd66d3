"""The two-parameter picture's cost per slider move: compute, figure, JSON.

For each method at a few strengths, `--repeats` times each: `two_parameter_picture` with its caches
warm (what a slider move costs: only the path), `toy_figure` on the result, and `fig.to_json()`
(what Streamlit sends). Once more with every cache cleared before each call: a server's first
picture (the items, the optima and both loss grids). Also the four-path comparison figure.
Pinned to one CPU core. Target: well under 300 ms per move, under 50 ms of it compute.

    python -m bench.lifelong_toy [--repeats 25 --steps 300 --grid 81] [--no-write]
"""

from __future__ import annotations

import argparse
import os
import statistics
import time
from collections.abc import Callable
from functools import partial

from bench import report
from core.lifelong import toy
from presenters.lifelong import toy as figures

STRENGTHS = (0.0, 0.1, 1.0, 10.0)
CACHED = (toy.task_data, toy.optimum, toy.importance, toy.step_size, toy.bounds, toy.loss_grids)


def timings(fn: Callable[[], object], repeats: int, before: Callable[[], None] = lambda: None) -> list[float]:
    """Milliseconds of `repeats` calls of fn, each after `before` (untimed)."""
    times = []
    for _ in range(repeats):
        before()
        t0 = time.perf_counter()
        fn()
        times.append(1000 * (time.perf_counter() - t0))
    return times


def spread(ms: list[float]) -> str:
    return f"{min(ms):.1f} / {statistics.median(ms):.1f} / {max(ms):.1f}"


def clear_caches() -> None:
    for cached in CACHED:
        cached.cache_clear()


def every_method(strength: float, steps: int, grid: int) -> list[toy.ToyPicture]:
    return [toy.two_parameter_picture(m, strength, steps, grid) for m in toy.METHODS]


def measure(what: str, compute: Callable[[], object], build: Callable[[object], object], repeats: int) -> dict:
    """One row: compute() the picture(s), build(result) the figure, and the figure's to_json()."""
    result = compute()
    fig = build(result)
    computing = timings(compute, repeats)
    building = timings(partial(build, result), repeats)
    sending = timings(fig.to_json, repeats)
    row = {
        "what": what,
        "compute ms": spread(computing),
        "figure ms": spread(building),
        "to_json ms": spread(sending),
        "total ms": spread([c + b + s for c, b, s in zip(computing, building, sending)]),
        "JSON KB": f"{len(fig.to_json()) / 1000:.0f}",
    }
    print(row, flush=True)
    return row


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--repeats", type=int, default=25)
    ap.add_argument("--steps", type=int, default=toy.DEFAULT_STEPS)
    ap.add_argument("--grid", type=int, default=toy.DEFAULT_GRID)
    ap.add_argument("--no-write", action="store_true", help="print only; do not append to BENCHMARKS.md")
    a = ap.parse_args()
    if hasattr(os, "sched_setaffinity"):
        os.sched_setaffinity(0, {min(os.sched_getaffinity(0))})
    ewc = partial(toy.two_parameter_picture, "ewc", 1.0, a.steps, a.grid)
    cold = timings(ewc, a.repeats, before=clear_caches)
    rows = [{"what": "ewc, λ 1, caches cleared (a server's first picture)", "compute ms": spread(cold)}]
    for method in toy.METHODS:
        for strength in STRENGTHS if method != "finetune" else (0.0,):
            compute = partial(toy.two_parameter_picture, method, strength, a.steps, a.grid)
            rows.append(measure(f"{method}, λ {strength:g}", compute, figures.toy_figure, a.repeats))
    for strength in STRENGTHS[1:]:
        compute = partial(every_method, strength, a.steps, a.grid)
        rows.append(
            measure(f"all four methods, λ {strength:g}, one figure", compute, figures.compare_figure, a.repeats)
        )
    columns = ["what", "compute ms", "figure ms", "to_json ms", "total ms", "JSON KB"]
    table = report.markdown_table(rows, columns)
    items = len(toy.task_data(1)[1])
    notes = (
        f"Cells: min / median / max of {a.repeats} calls, milliseconds, on one CPU core (the process pinned). "
        f"{a.steps} steps, a {a.grid} x {a.grid} grid of both tasks' losses ({items} items each). Compute is "
        "`two_parameter_picture` with its caches warm unless said: the path and its losses only; total adds "
        "`toy_figure` (or `compare_figure`) and `fig.to_json()`, what Streamlit sends on a slider move. "
        "Target: well under 300 ms per move, under 50 ms of it compute."
    )
    report.publish("Lifelong learning: the two-parameter picture, per slider move", table, notes, write=not a.no_write)


if __name__ == "__main__":
    main()
