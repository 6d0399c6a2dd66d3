"""Meta-step time: the per-task loop against the vectorised (vmapped) meta-batch, side by side.

One meta-step is the meta-gradient of `--meta-batch` N-way K-shot tasks (inner loop, query loss,
backward), the hot path of meta-training; second-order MAML and first-order MAML are timed with
each way of computing it, on the same tasks, interleaved, and the median is reported. The trainer's
rule ("auto", core.fewshot.solvers.batch_plan) is marked.

    python -m bench.maml_speed [--meta-batch 32 --ways 5 --shots 1 --queries 1 --repeats 7] [--device auto]
"""

from __future__ import annotations

import argparse
import statistics
import time

import torch

from bench import report
from core.device import pick_device
from core.fewshot.config import FewShotConfig
from core.fewshot.solvers import CPU_CHUNK, BatchPlan, batch_plan, meta_gradient
from core.models.conv4 import HEAD_KEYS, Conv4


def random_tasks(count: int, ways: int, shots: int, queries: int, device: torch.device):
    """Character-like inputs: sparse bright strokes on black (timing does not depend on content)."""
    g = torch.Generator().manual_seed(0)
    sx = (torch.rand(count, ways * shots, 1, 28, 28, generator=g) > 0.9).float()
    qx = (torch.rand(count, ways * queries, 1, 28, 28, generator=g) > 0.9).float()
    sy = torch.arange(ways).repeat_interleave(shots).expand(count, -1)
    qy = torch.arange(ways).repeat_interleave(queries).expand(count, -1)
    return [t.to(device) for t in (sx, sy, qx, qy)]


def time_plans(solver: str, plans: dict[str, BatchPlan], args, device: torch.device) -> dict[str, float]:
    """Median seconds per meta-step of each plan, the plans interleaved so that load drifts hit all."""
    torch.manual_seed(0)
    net = Conv4(args.ways).to(device)
    meta = {k: v.detach() for k, v in net.named_parameters() if k not in HEAD_KEYS}
    tasks = random_tasks(args.meta_batch, args.ways, args.shots, args.queries, device)

    def step(plan: BatchPlan) -> float:
        t0 = time.perf_counter()
        meta_gradient(solver, net, meta, *tasks, ways=args.ways, steps=args.inner_steps, lr=0.4, plan=plan)
        if device.type == "cuda":
            torch.cuda.synchronize(device)
        return time.perf_counter() - t0

    for plan in plans.values():  # warm-up: allocators, kernels, vmap's first trace
        step(plan)
        step(plan)
    times: dict[str, list[float]] = {name: [] for name in plans}
    for _ in range(args.repeats):
        for name, plan in plans.items():
            times[name].append(step(plan))
    return {name: statistics.median(ts) for name, ts in times.items()}


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
    ap.add_argument("--no-write", action="store_true", help="print only; do not append to BENCHMARKS.md")
    a = ap.parse_args()
    device = pick_device(a.device)
    plans = {"loop": BatchPlan(False), "vmap": BatchPlan(True, None)}
    if device.type == "cpu":
        plans[f"vmap, {CPU_CHUNK} at a time"] = BatchPlan(True, CPU_CHUNK)
    auto = batch_plan(device, "auto")
    results = {solver: time_plans(solver, plans, a, device) for solver in ("maml", "fomaml")}
    rows = []
    for solver, medians in results.items():
        loop = medians["loop"]
        for name, seconds in medians.items():
            rows.append(
                {
                    "solver": "MAML (second order)" if solver == "maml" else "FO-MAML",
                    "meta-batch computed as": name + (" (trainer's auto)" if plans[name] == auto else ""),
                    "ms per meta-step": f"{1000 * seconds:,.1f}",
                    "vs loop": f"{loop / seconds:.2f}x",
                    "second / first order": f"{seconds / results['fomaml'][name]:.2f}x",
                }
            )
    columns = ["solver", "meta-batch computed as", "ms per meta-step", "vs loop", "second / first order"]
    table = report.markdown_table(rows, columns)
    title = (
        f"MAML meta-step time, {a.meta_batch} tasks of {a.ways}-way {a.shots}-shot, {a.queries} "
        f"queries per class, {a.inner_steps} inner step(s), {device.type}"
    )
    notes = (
        f"Median of {a.repeats} meta-steps each, interleaved, after two warm-up steps; torch threads: "
        f"{torch.get_num_threads()}. 'vs loop' > 1 means faster than the per-task loop."
    )
    report.publish(title, table, notes, write=not a.no_write)


if __name__ == "__main__":
    main()
