"""Meta-step time: the per-task loop, the vectorised (vmapped) meta-batch and the compiled fast path.

One meta-step is the meta-gradient of `--meta-batch` N-way K-shot tasks (inner loop, query loss,
backward), the hot path of meta-training; second-order MAML, first-order MAML and first-order
MAML from the prototype head (the shipped FO-MAML's recipe) are timed with each way of computing
it, on the same tasks, interleaved, and the median is reported with images per second and the
projected wall time of the MAML paper's 60,000 meta-steps (meta-steps only: no validation, no
task sampling). The trainer's rule ("auto", core.fewshot.solvers.batch_plan) is marked.

Before timing, every way is checked against a float64 computation of the same meta-gradient:
the table's "error vs float64" is the largest difference over all parameters, relative to each
parameter's largest gradient component. Eager float32 has rounding error of its own; the compiled
step is accepted ("agrees") when its error is at most 4x the eager vmap's (or below 1e-5): the two
compute the same mathematics (equal to 1e-14 in float64, tests/test_fewshot_fast.py), so more than
that would be a wrong graph, not rounding.

    python -m bench.maml_speed [--meta-batch 32 --ways 5 --shots 1 --queries 1 --repeats 7] [--device auto]
        [--compiled] [--no-compiled]

The compiled way ("--batch-mode compiled" in training) is timed by default on a GPU; on a CPU only
with --compiled, since each solver's first step compiles for minutes there.
"""

from __future__ import annotations

import argparse
import statistics
import time

import torch

from bench import report
from core.device import pick_device
from core.fewshot.config import FewShotConfig
from core.fewshot.solvers import CPU_CHUNK, BatchPlan, batch_plan, meta_step_function
from core.models.conv4 import HEAD_KEYS, Conv4


def random_tasks(count: int, ways: int, shots: int, queries: int, device: torch.device):
    """Character-like inputs: sparse bright strokes on black (timing does not depend on content)."""
    g = torch.Generator().manual_seed(0)
    sx = (torch.rand(count, ways * shots, 1, 28, 28, generator=g) > 0.9).float()
    qx = (torch.rand(count, ways * queries, 1, 28, 28, generator=g) > 0.9).float()
    sy = torch.arange(ways).repeat_interleave(shots).expand(count, -1)
    qy = torch.arange(ways).repeat_interleave(queries).expand(count, -1)
    return [t.to(device) for t in (sx, sy, qx, qy)]


SOLVERS = {  # --solvers name -> (name in the table, solver, head_init)
    "maml": ("MAML (second order)", "maml", "zero"),
    "fomaml": ("FO-MAML", "fomaml", "zero"),
    "fomaml-proto": ("FO-MAML, prototype head", "fomaml", "proto"),
}
PAPER_STEPS = 60_000


def _errors(got: dict, truth: dict) -> float:
    return max(float((got[k].double() - truth[k]).abs().max() / truth[k].abs().max()) for k in truth)


def time_plans(solver: str, head: str, plans: dict[str, BatchPlan], args, device: torch.device) -> dict[str, dict]:
    """Per plan: median seconds per meta-step, the first call's seconds (compiling, for the
    compiled plan) and the error against float64; the plans interleaved so that load drifts hit all."""
    torch.manual_seed(0)
    net = Conv4(args.ways).to(device)
    meta = {k: v.detach() for k, v in net.named_parameters() if k not in HEAD_KEYS}
    tasks = random_tasks(args.meta_batch, args.ways, args.shots, args.queries, device)
    kw = dict(ways=args.ways, steps=args.inner_steps, lr=0.4, head_init=head)
    net64 = Conv4(args.ways).to(device, torch.float64)
    meta64 = {k: v.double() for k, v in meta.items()}
    tasks64 = [t.double() if t.is_floating_point() else t for t in tasks]
    truth = meta_step_function(solver, net64, plan=BatchPlan(True, args.meta_batch), **kw)(meta64, *tasks64).grads
    functions = {name: meta_step_function(solver, net, plan=plan, **kw) for name, plan in plans.items()}

    def step(name: str) -> tuple[float, dict]:
        t0 = time.perf_counter()
        out = functions[name](meta, *tasks)
        if device.type == "cuda":
            torch.cuda.synchronize(device)
        return time.perf_counter() - t0, out.grads

    results: dict[str, dict] = {}
    for name in plans:  # warm-up: allocators, kernels, vmap's first trace, compiling
        first, grads = step(name)
        step(name)
        results[name] = {"first": first, "error": _errors(grads, truth), "times": []}
    for _ in range(args.repeats):
        for name in plans:
            results[name]["times"].append(step(name)[0])
    for r in results.values():
        r["median"] = statistics.median(r.pop("times"))
    return results


def main() -> None:
    d = FewShotConfig()
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--meta-batch", type=int, default=d.meta_batch)
    ap.add_argument("--ways", type=int, default=d.ways)
    ap.add_argument("--shots", type=int, default=d.shots)
    ap.add_argument("--queries", type=int, default=d.queries)
    ap.add_argument("--inner-steps", type=int, default=d.inner_steps)
    ap.add_argument("--repeats", type=int, default=7, help="timed meta-steps per way of computing it")
    ap.add_argument("--device", default="auto")
    ap.add_argument("--compiled", action="store_true", help="time the compiled way on a CPU too")
    ap.add_argument("--no-compiled", action="store_true", help="do not time the compiled way")
    ap.add_argument("--no-loop", action="store_true", help="do not time the per-task loop (slow on a CPU)")
    ap.add_argument(
        "--solvers", default=",".join(SOLVERS), help=f"comma-separated, of: {', '.join(SOLVERS)} (default: all)"
    )
    ap.add_argument("--no-write", action="store_true", help="print only; do not append to BENCHMARKS.md")
    a = ap.parse_args()
    chosen = [name.strip() for name in a.solvers.split(",")]
    unknown = [name for name in chosen if name not in SOLVERS]
    if unknown:
        ap.error(f"unknown solver(s) {', '.join(unknown)}; choose from: {', '.join(SOLVERS)}")
    device = pick_device(a.device)
    plans = {} if a.no_loop else {"loop": BatchPlan(False)}
    plans["vmap"] = BatchPlan(True, None)
    if device.type == "cpu":
        plans[f"vmap, {CPU_CHUNK} at a time"] = BatchPlan(True, CPU_CHUNK)
    if not a.no_compiled and (device.type == "cuda" or a.compiled):
        plans["compiled"] = batch_plan(device, "compiled")
    auto = batch_plan(device, "auto")
    images = a.meta_batch * a.ways * (a.shots + a.queries)
    rows = []
    for key in chosen:
        label, solver, head = SOLVERS[key]
        results = time_plans(solver, head, plans, a, device)
        eager = results["vmap"]
        for name, r in results.items():
            seconds = r["median"]
            agrees = (
                ""
                if name != "compiled"
                else (" (agrees)" if r["error"] <= max(4 * eager["error"], 1e-5) else " (DIFFERS)")
            )
            rows.append(
                {
                    "solver": label,
                    "meta-batch computed as": name + (" (trainer's auto)" if plans[name] == auto else ""),
                    "ms per meta-step": f"{1000 * seconds:,.1f}",
                    "images/s": f"{images / seconds:,.0f}",
                    "vs eager vmap": f"{eager['median'] / seconds:.2f}x",
                    f"{PAPER_STEPS:,} steps": f"{PAPER_STEPS * seconds / 60:,.1f} min",
                    "error vs float64": f"{r['error']:.1e}" + agrees,
                    "first step": f"{r['first']:.1f} s",
                }
            )
    columns = list(rows[0])
    table = report.markdown_table(rows, columns)
    title = (
        f"MAML meta-step time, {a.meta_batch} tasks of {a.ways}-way {a.shots}-shot, {a.queries} "
        f"queries per class, {a.inner_steps} inner step(s), {device.type}"
    )
    notes = (
        f"Median of {a.repeats} meta-steps each, interleaved, after two warm-up steps; torch threads: "
        f"{torch.get_num_threads()}. Images: {images} per meta-step (support and query drawings of all tasks). "
        f"'vs eager vmap' > 1 means faster than the eager vmapped step; '{PAPER_STEPS:,} steps' is the "
        "projected time of the meta-steps alone. 'first step' includes compiling for the compiled way."
    )
    report.publish(title, table, notes, write=not a.no_write)


if __name__ == "__main__":
    main()
