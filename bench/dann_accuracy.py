"""Target accuracy of the DANN variants and lambda schedules, over seeds, on real digit domains.

Each (pair, setting, seed) is one run of the engine with its defaults plus the setting's changes,
stored in the run store like any other run. A run already stored is read back rather than
retrained, so the grid can be filled over several sittings; its wall time is the one recorded
when it trained (the device it trained on is in its run.json).

    python -m bench.dann_accuracy                                  # the whole grid, 3 seeds
    python -m bench.dann_accuracy --pairs mnist:mnistm --settings source_only,dann --seeds 3
    python -m bench.dann_accuracy --epochs 4                        # a shorter grid (say so when citing it)
    python -m bench.dann_accuracy --settings dann --set batch_size=128   # any config field, changed
"""

from __future__ import annotations

import argparse
import statistics
import time

from bench import report
from core.dann.config import DANNConfig
from core.dann.run import run_dann
from core.dann.schedules import LambdaSchedule
from core.runs import RunStore

SETTINGS: dict[str, dict] = {
    "source_only": {"variant": "source_only"},
    "dann constant 0.1": {"schedule": LambdaSchedule(kind="constant", value=0.1)},
    "dann, the defaults": {},
    "dann paper schedule": {"schedule": LambdaSchedule()},
    "dann log schedule": {"schedule": LambdaSchedule(kind="log")},
    "dann linear ramp": {"schedule": LambdaSchedule(kind="linear")},
    "dann step at 0.3": {"schedule": LambdaSchedule(kind="step", step_at=0.3)},
    "dann + pseudo-labels": {"variant": "dann_pseudo"},
    "dan": {"variant": "dan"},
    "cdan": {"variant": "cdan"},
    "cdan+e": {"variant": "cdan_e"},
    "cdan+e constant 0.1": {"variant": "cdan_e", "schedule": LambdaSchedule(kind="constant", value=0.1)},
}
ALIASES = {
    "source_only": "source_only",
    "dann": "dann, the defaults",
    "constant": "dann constant 0.1",
    "paper": "dann paper schedule",
    "log": "dann log schedule",
    "linear": "dann linear ramp",
    "step": "dann step at 0.3",
    "pseudo": "dann + pseudo-labels",
    "dan": "dan",
    "cdan": "cdan",
    "cdan_e": "cdan+e",
    "cdan_e_constant": "cdan+e constant 0.1",
}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--pairs", default="mnist:mnistm,mnist:usps", help="comma-separated source:target pairs")
    ap.add_argument("--settings", default=",".join(ALIASES), help=f"comma-separated, from {', '.join(ALIASES)}")
    ap.add_argument("--seeds", type=int, default=3)
    ap.add_argument("--epochs", type=int, default=None, help="override the default number of epochs")
    ap.add_argument(
        "--set",
        action="append",
        default=[],
        metavar="FIELD=VALUE",
        help="change a config field for every run, e.g. batch_size=128 (repeatable)",
    )
    ap.add_argument("--device", default="auto")
    ap.add_argument("--checkpoints", default=None, help="run store (default: checkpoints/)")
    ap.add_argument("--no-write", action="store_true", help="print only; do not append to BENCHMARKS.md")
    a = ap.parse_args()
    store = RunStore(a.checkpoints)
    plain = {f for f in DANNConfig.__dataclass_fields__ if f not in ("schedule", "lr")}
    overrides = dict(report.parse_override(t, plain) for t in a.set)
    rows = []
    for pair in a.pairs.split(","):
        source, target = pair.split(":")
        for alias in a.settings.split(","):
            name = ALIASES[alias.strip()]
            accs, src_accs, walls, devices = [], [], [], set()
            for seed in range(a.seeds):
                changes = dict(SETTINGS[name], source=source, target=target, seed=seed) | overrides
                if a.epochs is not None:
                    changes["epochs"] = a.epochs
                config = DANNConfig(**changes)
                t0 = time.perf_counter()
                outcome = run_dann(config, store, device=a.device)
                last = outcome.metrics[-1]
                accs.append(last["target_acc"])
                src_accs.append(last["source_acc"])
                walls.append(sum(r["seconds"] for r in outcome.metrics))
                devices.add(outcome.info.extra.get("device", "?"))
                how = "trained" if outcome.trained else "stored"
                print(
                    f"{pair} {name} seed {seed}: target {last['target_acc']:.4f} source {last['source_acc']:.4f} "
                    f"({how}, {time.perf_counter() - t0:.0f} s) {config.run_id()}",
                    flush=True,
                )
            rows.append(
                {
                    "pair": f"{source} → {target}",
                    "setting": name,
                    "seeds": a.seeds,
                    "target acc (mean ± sd)": report.spread(accs),
                    "min–max": f"{min(accs):.3f}–{max(accs):.3f}",
                    "source acc": f"{statistics.mean(src_accs):.3f}",
                    "train time / run": f"{statistics.mean(walls) / 60:.1f} min",
                    "device": ", ".join(sorted(devices)),
                }
            )
    columns = list(rows[0])
    table = report.markdown_table(rows, columns)
    epochs = a.epochs if a.epochs is not None else DANNConfig().epochs
    changed = "".join(f", {k}={v}" for k, v in overrides.items())
    notes = (
        f"{epochs} epochs per run{changed}; target accuracy on the whole target evaluation split (MNIST-M test 9,001; "
        "USPS test 2,007), which also serves as the unlabelled target during training (transductive)."
    )
    report.publish("DANN target accuracy by variant and lambda schedule", table, notes, write=not a.no_write)


if __name__ == "__main__":
    main()
