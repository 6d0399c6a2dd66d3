"""Train a DANN config into the run store, or find it there already trained.

Layout of a DANN run folder (see core/runs.py for run.json and metrics.json):
    snapshots/index.safetensors       source_ids, target_ids, labels (-1: unknown), domain (0/1)
    snapshots/epoch_NNNN.safetensors  features (float16, leading principal components),
                                      predictions (uint8), domain_prob (float16)
    weights.safetensors               the network after the last finished epoch, plus each domain's
                                      normalisation statistics (domain_stats.<source|target>.features.*)
"""

from __future__ import annotations

from collections.abc import Callable, Iterator

import torch

from core.dann.config import DANNConfig
from core.dann.files import INDEX_FILE, KIND, WEIGHTS_FILE, snapshot_file
from core.dann.trainer import DANNTrainer, EpochResult, StepCallback
from core.data import Domain
from core.device import environment
from core.paths import portable
from core.resume import RESUME_FILE, continue_run
from core.runs import RunOutcome, RunStore, RunWriter, record_epochs, stored_or_trained


def _domain_facts(d: Domain) -> dict:
    return {
        "spec": d.spec,
        "name": d.name,
        "train_items": len(d.train_images),
        "eval_items": len(d.eval_images),
        "labelled_eval": d.eval_labels is not None,
        "transductive": d.transductive,
        "notes": [portable(n) for n in d.notes],
    }


def _write_epoch(writer: RunWriter, trainer: DANNTrainer, result: EpochResult) -> None:
    snap = result.snapshot
    writer.write_tensors(
        snapshot_file(result.epoch),
        {"features": snap.features, "predictions": snap.predictions, "domain_prob": snap.domain_prob},
        {"epoch": str(result.epoch), "explained_variance": f"{snap.explained_variance:.6f}"},
    )
    if result.epoch > 0:
        weights = dict(trainer.model.state_dict())
        for domain, stats in trainer.domain_stats.items():
            weights |= {f"domain_stats.{domain}.features.{k}": v for k, v in stats.items()}
        writer.write_tensors(WEIGHTS_FILE, weights, {"epoch": str(result.epoch)})
        writer.write_tensors(RESUME_FILE, *trainer.resume_state(result.epoch, result.metrics))  # before the row
    writer.add_epoch(result.metrics, epochs_done=result.epoch)


def train_epochs(
    config: DANNConfig,
    store: RunStore,
    *,
    device: torch.device | str = "auto",
    domains: tuple[Domain, Domain] | None = None,
    on_step: StepCallback | None = None,
    on_start: Callable[[DANNTrainer], None] | None = None,
    download: bool = True,
    retrain: bool = False,
    resume: bool = False,
) -> Iterator[EpochResult]:
    """Train `config` into the store, yielding each epoch once it is stored: from scratch, or with
    `resume` from the state an interrupted run stored after its last finished epoch. A stored run
    with finished epochs is replaced only with `retrain` (RunStore.create says why).

    The run is marked complete at the end, "cancelled" when a step callback raises
    TrainingCancelled (finished epochs stay), and "failed" with the message on any other error.
    """
    trainer = DANNTrainer(config, device=device, domains=domains, on_step=on_step, download=download)
    if on_start is not None:
        on_start(trainer)
    facts = environment(trainer.device)
    run_id = config.run_id()
    if resume:
        writer, start = continue_run(store, run_id, trainer, facts)
    else:
        writer = store.create(
            run_id,
            KIND,
            config.to_dict(),
            epochs_planned=config.epochs,
            replace=retrain,
            extra={
                **facts,
                "source": _domain_facts(trainer.source),
                "target": _domain_facts(trainer.target),
                "feature_dim": trainer.model.feature_dim,
                "steps_per_epoch": trainer.steps_per_epoch,
            },
        )
        idx = trainer.snapshot_index
        writer.write_tensors(
            INDEX_FILE,
            {"source_ids": idx.source_ids, "target_ids": idx.target_ids, "labels": idx.labels, "domain": idx.domain},
        )
        start = 0
    yield from record_epochs(writer, trainer.epochs(start), lambda result: _write_epoch(writer, trainer, result))


def run_dann(config: DANNConfig, store: RunStore | None = None, *, retrain: bool = False, **kwargs) -> RunOutcome:
    """The stored run for `config` when one finished, else train it now (kwargs: train_epochs')."""
    store = store or RunStore()
    return stored_or_trained(
        store,
        config.run_id(),
        lambda mode: train_epochs(config, store, retrain=mode == "retrain", resume=mode == "resume", **kwargs),
        retrain,
    )
