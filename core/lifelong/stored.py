"""A stored lifelong run read back for the pages, every part of it checked (no torch here: the
page's Explore and Compare views read runs without importing it; pictures through safetensors.numpy).

The folder's layout is in core/lifelong/files.py.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from core.errors import UserError
from core.lifelong.config import LifelongConfig
from core.lifelong.files import IMPORTANCE_FILE, KIND, TASKS_FILE, importance_key
from core.lifelong.metrics import RunMatrix, run_matrix
from core.runs import RunInfo, RunStore


def run_config(info: RunInfo) -> LifelongConfig:
    """The config of a stored lifelong run; UserError when the run is of another kind."""
    if info.kind != KIND:
        raise UserError(f"run {info.run_id} is a {info.kind!r} run, not a lifelong ({KIND!r}) run")
    return LifelongConfig.from_dict(info.config)


@dataclass(frozen=True)
class LifelongRun:
    """What the Explore view draws of a stored run, every part of it validated."""

    info: RunInfo
    config: LifelongConfig
    task_names: tuple[str, ...]
    matrix: RunMatrix
    records: tuple[dict[str, Any], ...]  # tasks.json's entries, in task order
    pictures: dict[int, np.ndarray]  # task (1-based) -> the first layer's importance over the input


def read_entries(path) -> list[dict[str, Any]]:
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


def read_pictures(path) -> dict[str, np.ndarray]:
    from safetensors import SafetensorError
    from safetensors.numpy import load_file

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
    records = [_check_entry(path, e, config.tasks) for e in read_entries(path)] if path.exists() else []
    pictures: dict[int, np.ndarray] = {}
    pictures_path = info.path / IMPORTANCE_FILE
    if pictures_path.exists():
        for key, value in read_pictures(pictures_path).items():
            task = task_of_key(key)
            if key != importance_key(task) or not 1 <= task <= config.tasks:
                raise UserError(f"{pictures_path}: unexpected entry {key!r:.40}; the run is damaged")
            if value.ndim != 2 or max(value.shape) > 64 or not np.isfinite(value).all():
                raise UserError(f"{pictures_path}: {key} is not a finite picture; the run is damaged")
            pictures[task] = value.astype(np.float32)
    return LifelongRun(info, config, tuple(names), matrix, tuple(sorted(records, key=lambda e: e["task"])), pictures)


def task_of_key(key: str) -> int:
    try:
        return int(key.split(".")[0].removeprefix("task_"))
    except ValueError:
        return 10**9
