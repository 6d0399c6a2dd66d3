"""Names of a lifelong run's files, and how a lifelong run is described (no torch here: the app's
pages import this before anything heavy).

Layout of a lifelong run folder (see core/runs.py for run.json and metrics.json):
    metrics.json            one row per finished epoch of every task: "epoch" (1, 2, ... over the
                            whole stream; 0 is the untrained network), "task" and "task_epoch"
                            (1-based), "train_loss", "penalty", and for every task j of the stream
                            "acc_j" and "loss_j" on its test split
    tasks.json              one entry per learned task: how far each layer moved while learning it,
                            and each layer's importance summary (core.lifelong.record)
    importance.safetensors  per learned task, the first layer's importance reduced to a picture of
                            the input (`task_N.input`, 28 x 28 for the MLP; the kernel's shape for
                            the conv net)
    resume.safetensors      while the run is unfinished: the network, the method's state and the
                            optimizer's after the last finished epoch (core.resume)

A finished run keeps no weights: nothing it shows needs them, and the MLP's are 1.9 MB a run.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from core.describe import RunDescription, progress
from core.errors import UserError

if TYPE_CHECKING:
    from core.runs import RunInfo, RunStore

KIND = "lifelong"
TASKS_FILE = "tasks.json"
IMPORTANCE_FILE = "importance.safetensors"

METHOD_NAMES = {
    "finetune": "fine-tuning",
    "joint": "joint",
    "l2": "L2",
    "ewc": "EWC",
    "online_ewc": "online EWC",
    "mas": "MAS",
    "si": "SI",
    "scp": "SCP",
    "replay": "replay",
}
STREAM_NAMES = {"rotated": "rotated MNIST", "permuted": "permuted MNIST", "split": "split MNIST"}


def importance_key(task: int) -> str:
    """The key of task `task`'s (1-based) input picture in importance.safetensors."""
    return f"task_{task}.input"


def stream_label(config: dict) -> str:
    """ "rotated MNIST, 5 tasks", "split MNIST (class-incremental), 5 tasks"."""
    stream = str(config.get("stream", "?"))
    label = STREAM_NAMES.get(stream, stream)
    if config.get("data") == "synthetic":
        label = label.replace("MNIST", "synthetic bar digits (not MNIST)")
    if stream == "split":
        label += " (class-incremental)" if config.get("scenario") == "class" else " (task-incremental)"
    tasks = config.get("tasks")
    return f"{label}, {tasks} tasks" if isinstance(tasks, int) else label


def method_label(config: dict) -> str:
    """ "EWC (λ 5000)", "replay (500 items)", "fine-tuning"."""
    method = str(config.get("method", "?"))
    label = METHOD_NAMES.get(method, method)
    strength = config.get("strength")
    if isinstance(strength, (int, float)):
        label += f" (λ {strength:g})"
    elif method == "replay" and isinstance(config.get("buffer_size"), int):
        label += f" ({config['buffer_size']} items)"
    return label


def describe(info: RunInfo) -> RunDescription:
    """The stream, the method with its strength, the network, and the epochs done."""
    cfg = info.config
    model = str(cfg.get("model", "?"))
    net = f"MLP {cfg.get('hidden', '?')}x{cfg.get('layers', '?')}" if model == "mlp" else model
    detail = f"{method_label(cfg)} · {net} · {cfg.get('epochs', '?')} epoch(s) per task"
    return RunDescription(info.run_id, KIND, stream_label(cfg), method_label(cfg), detail, progress(info))


def headline(store: RunStore, info: RunInfo) -> float | None:
    """The average accuracy over the tasks learned so far, after the last of them (None when the run
    has learned none or is unreadable)."""
    try:
        rows = store.metrics(info.run_id)
    except UserError:
        return None
    ends = [r for r in rows if isinstance(r.get("task"), int) and r.get("task_epoch") == info.config.get("epochs")]
    if not ends:
        return None
    learned = ends[-1]["task"]
    accs = [ends[-1].get(f"acc_{j}") for j in range(1, learned + 1)]
    if not all(isinstance(v, (int, float)) and not isinstance(v, bool) for v in accs):
        return None
    return sum(accs) / len(accs)
