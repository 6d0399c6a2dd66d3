"""Few-shot accuracy of stored runs on the evaluation alphabets, protocol by protocol, against the
papers' numbers and the issue's targets.

Every run is measured on the same episodes (seeded by the protocol), so differences between runs
are paired; each cell is the mean episode accuracy with its 95% confidence interval. Results are
also recorded in each run's evaluations.json (as `python -m core fewshot-eval` does).

    python -m bench.fewshot_accuracy [RUN ...] [--protocols 5w1s,5w5s,20w1s,course] [--episodes N] [--device auto]

Without run ids, every complete few-shot run in the store is measured.
"""

from __future__ import annotations

import argparse
import sys

from bench import report
from core.errors import UserError
from core.fewshot.protocols import PROTOCOLS
from core.fewshot.run import KIND, evaluate_run, run_config
from core.runs import RunStore

# The targets on Omniglot (5-way 1-shot unless named): solver -> protocol -> minimum.
# the few-shot issue's targets (MAML: the paper's 0.987 and 0.958 less their intervals; FO-MAML: the paper's 0.983)
TARGETS = {"maml": {"5w1s": 0.985, "20w1s": 0.95, "course": 0.97}, "fomaml": {"5w1s": 0.975}}
PAPER = {"5w1s": "0.987 +- 0.004", "5w5s": "0.999 +- 0.001", "20w1s": "0.958 +- 0.003", "course": "top grade line 0.95"}


def _describe(config) -> str:
    parts = [config.solver]
    if config.meta_learning and config.solver != "protonet":
        parts.append(f"{config.inner_steps} step(s) lr {config.inner_lr:g}, head {config.head_init}")
    if config.task_aug:
        parts.append(f"task aug {config.task_aug:g}")
    if config.data != "omniglot":
        parts.append(f"{config.data} data")
    return ", ".join(parts)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("run_ids", nargs="*", help="runs to measure (default: every complete few-shot run)")
    ap.add_argument("--protocols", default=",".join(PROTOCOLS), help=f"comma-separated, of {', '.join(PROTOCOLS)}")
    ap.add_argument("--episodes", type=int, default=None, help="override every protocol's episode count (quick checks)")
    ap.add_argument("--device", default="auto")
    ap.add_argument("--checkpoints", default=None, help="run store folder")
    ap.add_argument("--no-write", action="store_true", help="print only; do not append to BENCHMARKS.md")
    a = ap.parse_args()
    store = RunStore(a.checkpoints)
    names = [p.strip() for p in a.protocols.split(",") if p.strip()]
    unknown = [p for p in names if p not in PROTOCOLS]
    if unknown:
        sys.exit(f"unknown protocols {unknown}; expected some of {', '.join(PROTOCOLS)}")
    run_ids = a.run_ids or [r.run_id for r in store.list(kind=KIND) if r.complete]
    if not run_ids:
        sys.exit(f"no complete few-shot runs in {store.root}; train one with python -m core fewshot")
    rows = []
    for run_id in run_ids:
        config = run_config(store.get(run_id))
        row = {"run": run_id, "model": _describe(config)}
        for name in names:
            proto = PROTOCOLS[name]
            episodes = a.episodes or proto.episodes
            try:
                r = evaluate_run(run_id, proto.ways, proto.shots, proto.queries, episodes, store=store, device=a.device)
            except UserError as exc:  # e.g. a learned 5-way head asked for 20-way episodes
                row[name] = f"n/a ({str(exc).split(';')[0]})"
                continue
            target = TARGETS.get(config.solver, {}).get(name) if config.data == "omniglot" else None
            verdict = "" if target is None else f" (target {target}: {'met' if r.accuracy >= target else 'NOT met'})"
            row[name] = f"{r.accuracy:.4f} +- {r.ci95:.4f}{verdict}"
        rows.append(row)
    rows.append({"run": "MAML paper / course", "model": "Finn et al. 2017, Omniglot", **{n: PAPER[n] for n in names}})
    columns = ["run", "model", *names]
    table = report.markdown_table(rows, columns)
    title = "Few-shot accuracy on Omniglot's evaluation alphabets"
    notes = (
        "Protocols: "
        + "; ".join(
            f"{n}: {PROTOCOLS[n].ways}-way {PROTOCOLS[n].shots}-shot, {PROTOCOLS[n].queries} queries per class, "
            f"{a.episodes or PROTOCOLS[n].episodes} episodes"
            for n in names
        )
        + ". Cells: mean accuracy +- 95% confidence interval over episodes; the same episodes for every run."
    )
    report.publish(title, table, notes, write=not a.no_write)


if __name__ == "__main__":
    main()
