"""The lecture preset, timed as a lecturer would wait for it: training MNIST -> MNIST-M
with `--preset lecture` (core/dann/config.py PRESETS) and the t-SNE map of every epoch, from
start to the last frame, on this machine, over seeds. Each run trains afresh in a scratch store.

    python -m bench.da_lecture                 # 3 seeds
    python -m bench.da_lecture --seeds 1 --no-write
    python -m bench.da_lecture --seeds 1 --set steps_per_epoch=800 --no-write   # a recipe trial

Targets: target accuracy >= 0.88 in <= 60 s, maps included, on 2 CPU cores.
"""

from __future__ import annotations

import argparse
import os
import statistics
import tempfile
import time
from pathlib import Path

from bench import report
from core.dann.config import PRESETS, DANNConfig
from core.dann.maps import MapSettings, compute_maps
from core.dann.run import run_dann
from core.options import from_flat, settings
from core.runs import RunStore

TARGET_ACC, TARGET_SECONDS = 0.88, 60.0


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--seeds", type=int, default=3)
    ap.add_argument("--device", default="auto")
    ap.add_argument(
        "--set",
        action="append",
        default=[],
        metavar="FIELD=VALUE",
        help="change a setting of the preset (its flag with _ for -), e.g. steps_per_epoch=800 or lr=0.03 (repeatable)",
    )
    ap.add_argument("--no-write", action="store_true", help="print only; do not append to BENCHMARKS.md")
    a = ap.parse_args()
    preset = PRESETS["lecture"]
    plain = {s.key for s in settings(DANNConfig)}
    overrides = dict(report.parse_override(t, plain) for t in a.set)
    rows, accs, walls = [], [], []
    load = os.getloadavg()[0]
    for seed in range(a.seeds):
        store = RunStore(Path(tempfile.mkdtemp(prefix="lecture-")))
        config = from_flat(DANNConfig, {**preset.settings, "seed": seed, **overrides})
        t0 = time.perf_counter()
        outcome = run_dann(config, store, device=a.device)
        trained = time.perf_counter() - t0
        compute_maps(store, outcome.info.run_id, MapSettings(method="tsne"))
        total = time.perf_counter() - t0
        acc = outcome.metrics[-1]["target_acc"]
        accs.append(acc)
        walls.append(total)
        rows.append(
            {
                "seed": seed,
                "target acc": f"{acc:.3f}",
                "training s": f"{trained:.1f}",
                "with t-SNE maps s": f"{total:.1f}",
                "run": outcome.info.run_id,
            }
        )
        print(f"seed {seed}: target {acc:.3f}, {trained:.1f} s training, {total:.1f} s with maps", flush=True)
    met_acc = "met" if statistics.mean(accs) >= TARGET_ACC else "NOT met"
    met_time = "met" if statistics.median(walls) <= TARGET_SECONDS else "NOT met"
    changed = "".join(f", {k}={v}" for k, v in overrides.items())
    notes = (
        f"`--preset lecture`{changed}: {preset.summary}. {preset.why} Target accuracy over seeds {report.spread(accs)} "
        f"(target >= {TARGET_ACC}: {met_acc}); wall time with maps min / median / max {min(walls):.1f} / "
        f"{statistics.median(walls):.1f} / {max(walls):.1f} s (target <= {TARGET_SECONDS:g} s: {met_time}). Wall time "
        "from the start of training (data already converted in the cache) to the last t-SNE frame, the untrained "
        f"epoch's included. The machine's load average at the start: {load:.1f}."
    )
    table = report.markdown_table(rows, list(rows[0]))
    report.publish("The lecture preset, MNIST → MNIST-M", table, notes, write=not a.no_write)


if __name__ == "__main__":
    main()
