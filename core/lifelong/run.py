"""Train a lifelong config into the run store, find it there, read what it recorded.

The folder's layout is in core/lifelong/files.py.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator

import torch

from core import atomic
from core.data.streams import TaskStream
from core.device import environment
from core.lifelong.config import LifelongConfig
from core.lifelong.files import IMPORTANCE_FILE, KIND, TASKS_FILE, importance_key
from core.lifelong.stored import read_entries, read_pictures, task_of_key
from core.lifelong.trainer import EpochResult, LifelongTrainer, StepCallback
from core.paths import portable
from core.resume import RESUME_FILE, continue_run
from core.runs import RunOutcome, RunStore, RunWriter, record_epochs, stored_or_trained


def _write_epoch(writer: RunWriter, trainer: LifelongTrainer, result: EpochResult) -> None:
    if result.record is not None:
        _write_record(writer, result)
    if result.epoch > 0:
        writer.write_tensors(RESUME_FILE, *trainer.resume_state(result.epoch, result.metrics))  # before the row
    writer.add_epoch(result.metrics, epochs_done=result.epoch)


def _write_record(writer: RunWriter, result: EpochResult) -> None:
    """Replace the task's entry in tasks.json and its picture (a task resumed after a crash
    between these writes and its row is recorded again, never twice)."""
    record = result.record
    path = writer.folder / TASKS_FILE
    entries = read_entries(path) if path.exists() else []
    entries = [e for e in entries if e.get("task") != record.task and e.get("task", 0) < record.task]
    atomic.write_json(path, [*entries, record.to_dict()])
    pictures_path = writer.folder / IMPORTANCE_FILE
    pictures = read_pictures(pictures_path) if pictures_path.exists() else {}
    pictures = {k: torch.from_numpy(v) for k, v in pictures.items() if task_of_key(k) < record.task}
    if record.picture is not None:
        pictures[importance_key(record.task)] = record.picture.float().contiguous()
    if pictures:
        writer.write_tensors(IMPORTANCE_FILE, pictures)


def train_epochs(
    config: LifelongConfig,
    store: RunStore,
    *,
    device: torch.device | str = "auto",
    stream: TaskStream | None = None,
    on_step: StepCallback | None = None,
    on_start: Callable[[LifelongTrainer], None] | None = None,
    download: bool = True,
    retrain: bool = False,
    resume: bool = False,
) -> Iterator[EpochResult]:
    """Train `config` into the store, yielding each epoch once it is stored: from scratch, or with
    `resume` from the state an interrupted run stored after its last finished epoch. A stored run
    with finished epochs is replaced only with `retrain` (RunStore.create says why).

    The run is marked complete at the end, "cancelled" when a step callback raises
    TrainingCancelled (finished epochs and tasks stay), and "failed" with the message on any
    other error."""
    trainer = LifelongTrainer(config, device=device, stream=stream, on_step=on_step, download=download)
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
            epochs_planned=config.epochs_planned,
            replace=retrain,
            extra={
                **facts,
                "data": {"name": trainer.stream.name, "notes": [portable(n) for n in trainer.stream.notes]},
                "task_names": [t.name for t in trainer.stream.tasks],
                "train_items": [t.size("train") for t in trainer.stream.tasks],
                "test_items": [t.size("test") for t in trainer.stream.tasks],
            },
        )
        start = 0
    yield from record_epochs(writer, trainer.epochs(start), lambda result: _write_epoch(writer, trainer, result))


def run_lifelong(
    config: LifelongConfig, store: RunStore | None = None, *, retrain: bool = False, **kwargs
) -> RunOutcome:
    """The stored run for `config` when one finished, else train it now (kwargs: train_epochs')."""
    store = store or RunStore()
    train = lambda mode: train_epochs(config, store, retrain=mode == "retrain", resume=mode == "resume", **kwargs)
    return stored_or_trained(store, config.run_id(), train, retrain)
