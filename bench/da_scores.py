"""How well the label-free scores choose among adaptation runs: each score of each run beside the
run's true target accuracy, and Spearman's rank correlation between them (BENCHMARKS.md).

A score is turned so that larger means "looks better" before it is correlated (the proxy
A-distance and the prediction entropy are negated), so a correlation of +1 means the score ranks
the runs exactly as their target accuracy does, and 0 means it tells nothing.

- Final epoch, across runs: the scores the run recorded while training; for a run trained before
  they were recorded, they are measured now from its stored final weights (the trainer's own
  evaluation, on the run's snapshot items; the target accuracy that evaluation gives is checked
  against the stored one).
- Every epoch, pooled over runs: the proxy A-distance again from each epoch's stored snapshot
  features (the only score a snapshot keeps all that is needed for).

    python -m bench.da_scores                      # the shipped DANN runs of checkpoints/
    python -m bench.da_scores --checkpoints DIR --all   # every complete DANN run of a store
"""

from __future__ import annotations

import argparse
import time

from bench import report
from core.dann.config import DANNConfig
from core.dann.files import INDEX_FILE, KIND, WEIGHTS_FILE, snapshot_file
from core.dann.scores import SCORES, proxy_a_distance, spearman
from core.dann.trainer import DANNTrainer
from core.runs import RunInfo, RunStore
from core.shipped import read_shipped
from presenters.runs import run_label

ACC_CHECK = 0.005  # how far a re-measured target accuracy may be from the stored one


def final_scores(store: RunStore, info: RunInfo) -> tuple[dict, str]:
    """The run's final-epoch scores and target accuracy, and where they come from."""
    last = store.metrics(info.run_id)[-1]
    if all(last.get(k) is not None for k in SCORES):
        return last, "recorded"
    trainer = DANNTrainer(DANNConfig.from_dict(info.config), device="cpu", download=False)
    weights = store.read_tensors(info.run_id, WEIGHTS_FILE)
    trainer.model.load_state_dict({k: v for k, v in weights.items() if not k.startswith("domain_stats.")})
    measured, _ = trainer.evaluate()
    gap = abs(measured["target_acc"] - last["target_acc"])
    if gap > ACC_CHECK:
        raise SystemExit(
            f"{info.run_id}: re-measured target accuracy {measured['target_acc']:.4f}, stored {last['target_acc']:.4f}"
        )
    return {**measured, "target_acc": last["target_acc"]}, f"measured now (accuracy within {gap:.4f})"


def epoch_pads(store: RunStore, info: RunInfo) -> list[tuple[float, float]]:
    """(proxy A-distance of the epoch's snapshot, target accuracy) for every epoch after the first."""
    domain = store.read_tensors(info.run_id, INDEX_FILE)["domain"].numpy()
    out = []
    for row in store.metrics(info.run_id)[1:]:
        feats = store.read_tensors(info.run_id, snapshot_file(row["epoch"]))["features"].float().numpy()
        out.append((proxy_a_distance(feats[domain == 0], feats[domain == 1]), row["target_acc"]))
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--checkpoints", default=None, help="run store (default: checkpoints/)")
    ap.add_argument("--all", action="store_true", help="every complete DANN run of the store, not the shipped ones")
    ap.add_argument("--no-write", action="store_true", help="print only; do not append to BENCHMARKS.md")
    a = ap.parse_args()
    store = RunStore(a.checkpoints)
    shipped = {s.run_id: s.title for s in read_shipped(store)}
    runs = [r for r in store.list() if r.kind == KIND and r.complete and (a.all or r.run_id in shipped)]
    if len(runs) < 3:
        raise SystemExit(f"{len(runs)} complete DANN runs in {store.root}: a ranking needs at least 3")
    rows, finals, pooled = [], [], []
    for info in runs:
        t0 = time.perf_counter()
        scores, source = final_scores(store, info)
        finals.append(scores)
        pooled += epoch_pads(store, info)
        rows.append(
            {
                "run": run_label(info, shipped.get(info.run_id)),
                "target acc": f"{scores['target_acc']:.3f}",
                **{SCORES[k][0]: f"{scores[k]:.3f}" for k in SCORES},
                "scores": source,
            }
        )
        print(f"{info.run_id}: {scores['target_acc']:.3f} {source} ({time.perf_counter() - t0:.0f} s)", flush=True)
    accuracy = [f["target_acc"] for f in finals]
    ranking = []
    for key, (name, sign) in SCORES.items():
        rho = spearman([sign * f[key] for f in finals], accuracy)
        ranking.append(
            {"score": name, "better when": "higher" if sign > 0 else "lower", "Spearman ρ, final epoch": f"{rho:+.2f}"}
        )
    pad_rho = spearman([-p for p, _ in pooled], [acc for _, acc in pooled])
    ranking[0]["Spearman ρ, every epoch pooled"] = f"{pad_rho:+.2f} ({len(pooled)} epochs)"
    best = max(ranking, key=lambda r: float(r["Spearman ρ, final epoch"]))
    table = (
        report.markdown_table(rows, list(rows[0]))
        + "\n\n"
        + report.markdown_table(
            ranking, ["score", "better when", "Spearman ρ, final epoch", "Spearman ρ, every epoch pooled"]
        )
    )
    notes = (
        f"{len(runs)} runs. Each score is computed on the run's snapshot items (1,000 per domain by default; the proxy "
        "A-distance on their stored principal components, with a 5-fold cross-validated logistic regression), from the "
        "last epoch's network. ρ: Spearman's rank correlation between the score, turned so that larger looks better, "
        f"and the true target accuracy over the runs. Best: {best['score']} ({best['Spearman ρ, final epoch']}); "
        "target for the best: ρ ≥ 0.8."
    )
    report.publish("Label-free scores against true target accuracy", table, notes, write=not a.no_write)


if __name__ == "__main__":
    main()
