"""Train a lifelong config into the run store, find it there, read what it recorded.

The folder's layout is in core/lifelong/files.py.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch

from core import atomic
from core.data.streams import TaskStream
from core.device import environment
from core.errors import UserError
from core.lifelong.config import LifelongConfig
from core.lifelong.files import IMPORTANCE_FILE, KIND, TASKS_FILE, importance_key
from core.lifelong.metrics import RunMatrix, run_matrix
from core.lifelong.trainer import EpochResult, LifelongTrainer, StepCallback
from core.paths import portable
from core.resume import RESUME_FILE, continue_run
from core.runs import RunInfo, RunOutcome, RunStore, RunWriter, record_epochs, stored_or_trained


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
    entries = _read_entries(path) if path.exists() else []
    entries = [e for e in entries if e.get("task") != record.task and e.get("task", 0) < record.task]
    atomic.write_json(path, [*entries, record.to_dict()])
    pictures_path = writer.folder / IMPORTANCE_FILE
    pictures = _read_pictures(pictures_path) if pictures_path.exists() else {}
    pictures = {k: v for k, v in pictures.items() if _task_of_key(k) < record.task}
    if record.picture is not None:
        pictures[importance_key(record.task)] = record.picture.float().contiguous()
    if pictures:
        writer.write_tensors(IMPORTANCE_FILE, pictures)


def _task_of_key(key: str) -> int:
    try:
        return int(key.split(".")[0].removeprefix("task_"))
    except ValueError:
        return 10**9


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


def run_config(info: RunInfo) -> LifelongConfig:
    """The config of a stored lifelong run; UserError when the run is of another kind."""
    if info.kind != KIND:
        raise UserError(f"run {info.run_id} is a {info.kind!r} run, not a lifelong ({KIND!r}) run")
    return LifelongConfig.from_dict(info.config)


# ---- reading a stored run back -------------------------------------------------------------------


@dataclass(frozen=True)
class LifelongRun:
    """What the Explore view draws of a stored run, every part of it validated."""

    info: RunInfo
    config: LifelongConfig
    task_names: tuple[str, ...]
    matrix: RunMatrix
    records: tuple[dict[str, Any], ...]  # tasks.json's entries, in task order
    pictures: dict[int, np.ndarray]  # task (1-based) -> the first layer's importance over the input


def _read_entries(path) -> list[dict[str, Any]]:
    import json

    try:
        doc = json.loads(path.read_text())
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise UserError(f"{path} is not readable JSON ({exc}); the run is damaged") from None
    if not isinstance(doc, list) or not all(isinstance(e, dict) for e in doc):
        raise UserError(f"{path} should hold a list of per-task entries; the run is damaged")
    return doc


def _check_entry(path, entry: dict[str, Any], tasks: int) -> dict[str, Any]:
    task = entry.get("task")
    if isinstance(task, bool) or not isinstance(task, int) or not 1 <= task <= tasks:
        raise UserError(f"{path}: an entry has task {task!r:.20}, expected 1 to {tasks}; the run is damaged")
    layers = entry.get("layers")
    if not isinstance(layers, list) or not all(isinstance(layer, dict) for layer in layers):
        raise UserError(f"{path}: task {task}'s layers are damaged")
    for layer in layers:
        if not isinstance(layer.get("name"), str):
            raise UserError(f"{path}: task {task} has a layer without a name")
        for key in ("drift", "relative_drift", "importance_mean", "importance_max"):
            value = layer.get(key)
            if key in layer and (
                isinstance(value, bool) or not isinstance(value, (int, float)) or not np.isfinite(value)
            ):
                raise UserError(f"{path}: task {task}'s {key} of {layer['name']!s:.40} is not a finite number")
    return entry


def _read_pictures(path) -> dict[str, torch.Tensor]:
    from safetensors import SafetensorError
    from safetensors.torch import load_file

    try:
        return load_file(path)
    except (SafetensorError, OSError, ValueError) as exc:
        raise UserError(f"{path} is not a readable safetensors file ({exc}); the run is damaged") from None


def load_run(store: RunStore, run_id: str) -> LifelongRun:
    """A stored lifelong run's matrix, task records and importance pictures; UserError when any
    part is damaged (the store's own checks first: run.json, metrics.json)."""
    info = store.get(run_id)
    config = run_config(info)
    rows = store.metrics(run_id)
    matrix = run_matrix(rows, config.tasks, config.epochs)
    names = info.extra.get("task_names")
    if not (isinstance(names, list) and len(names) == config.tasks and all(isinstance(n, str) for n in names)):
        names = [f"task {j + 1}" for j in range(config.tasks)]
    path = info.path / TASKS_FILE
    records = [_check_entry(path, e, config.tasks) for e in _read_entries(path)] if path.exists() else []
    pictures: dict[int, np.ndarray] = {}
    pictures_path = info.path / IMPORTANCE_FILE
    if pictures_path.exists():
        for key, value in _read_pictures(pictures_path).items():
            task = _task_of_key(key)
            if key != importance_key(task) or not 1 <= task <= config.tasks:
                raise UserError(f"{pictures_path}: unexpected entry {key!r:.40}; the run is damaged")
            if value.dim() != 2 or max(value.shape) > 64 or not bool(torch.isfinite(value).all()):
                raise UserError(f"{pictures_path}: {key} is not a finite picture; the run is damaged")
            pictures[task] = value.float().numpy()
    return LifelongRun(info, config, tuple(names), matrix, tuple(sorted(records, key=lambda e: e["task"])), pictures)
