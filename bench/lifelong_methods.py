"""Every lifelong method on each MNIST stream, over seeds: average accuracy, forgetting and BWT
with their spread, and the wall time of a run on this machine.

Each (stream, method, seed) is one run of the engine with its defaults (plus --set changes),
stored in a run store like any other run, so the grid can be filled over several sittings: a run
already stored is read back, and its wall time is the one recorded when it trained.

    python -m bench.lifelong_methods                                   # every stream and method, 3 seeds
    python -m bench.lifelong_methods --streams permuted --methods finetune,ewc,si,mas --seeds 3
    python -m bench.lifelong_methods --set epochs=1 --set lr=0.001     # any config field, changed
"""

from __future__ import annotations

import argparse
import json
import statistics
from pathlib import Path

from bench import report
from core.lifelong.config import METHODS, LifelongConfig
from core.lifelong.files import METHOD_NAMES, stream_label
from core.lifelong.run import run_lifelong
from core.lifelong.stored import load_run
from core.paths import cache_dir
from core.runs import RunStore

STREAMS = {
    "rotated": {"stream": "rotated"},
    "permuted": {"stream": "permuted"},
    "split-task": {"stream": "split", "scenario": "task"},
    "split-class": {"stream": "split", "scenario": "class"},
}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--streams", default=",".join(STREAMS), help=f"comma-separated, from {', '.join(STREAMS)}")
    ap.add_argument("--methods", default=",".join(METHODS), help=f"comma-separated, from {', '.join(METHODS)}")
    ap.add_argument("--seeds", type=int, default=3)
    ap.add_argument("--set", action="append", default=[], metavar="FIELD=VALUE", help="change a config field")
    ap.add_argument(
        "--checkpoints",
        default=str(cache_dir() / "bench-lifelong"),
        help="run store of the bench's runs (default: the cache's bench-lifelong)",
    )
    ap.add_argument("--no-write", action="store_true", help="print only; do not append to BENCHMARKS.md")
    a = ap.parse_args()
    overrides = dict(report.parse_override(t, set(LifelongConfig.__dataclass_fields__)) for t in a.set)
    store = RunStore(Path(a.checkpoints))
    for stream in a.streams.split(","):
        rows = []
        for method in a.methods.split(","):
            scores, seconds, config = [], [], None
            for seed in range(a.seeds):
                config = LifelongConfig(**{**STREAMS[stream], "method": method, "seed": seed, **overrides})
                outcome = run_lifelong(config, store)
                scores.append(load_run(store, outcome.info.run_id).matrix.scores())
                seconds.append(sum(r.get("seconds", 0.0) for r in outcome.metrics))
                print(f"{stream} {method} seed {seed}: {scores[-1].average_accuracy:.3f} in {seconds[-1]:.0f} s")
            rows.append(
                {
                    "method": METHOD_NAMES[method],
                    "strength": f"{config.strength:g}" if config.to_dict().get("strength") is not None else "-",
                    "average accuracy": report.spread([s.average_accuracy for s in scores]),
                    "forgetting": report.spread([s.forgetting for s in scores if s.forgetting is not None]),
                    "BWT": report.spread([s.bwt for s in scores if s.bwt is not None]),
                    "wall s (median)": f"{statistics.median(seconds):.0f}",
                }
            )
        table = report.markdown_table(rows, list(rows[0]))
        title = f"Lifelong methods on {stream_label(config.to_dict())}, {a.seeds} seed(s)"
        notes = (
            f"Settings: the engine's defaults{' with ' + json.dumps(overrides) if overrides else ''} "
            f"({config.model} {config.hidden}x{config.layers}, {config.epochs} epoch(s) per task, batch "
            f"{config.batch_size}, Adam lr {config.lr:g} reset per task). Average accuracy: over every task "
            "after the last; forgetting: best earlier accuracy minus final, averaged over the tasks before the "
            "last; BWT: final minus just-learned accuracy, averaged likewise; spread: standard deviation over "
            "seeds. Wall time: the run's training and evaluation on 2 CPU cores, shared with other work."
        )
        if a.no_write:
            print(report.section(title, table, notes))
        else:
            report.append(title, table, notes)


if __name__ == "__main__":
    main()
