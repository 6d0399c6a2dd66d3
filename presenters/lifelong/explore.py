"""What the lifelong Explore and Compare views read from the run store: which runs they offer
(shipped first), which runs Compare puts side by side (the same stream and seed), a run's figures'
input, stored or live, and what its importance pictures show."""

from __future__ import annotations

import hashlib
from collections.abc import Iterable, Mapping, Sequence
from typing import TYPE_CHECKING, Any

import numpy as np

from core.data.streams import task_specs
from core.lifelong.config import LifelongConfig
from core.lifelong.files import KIND, METHOD_NAMES, stream_label
from core.lifelong.metrics import run_matrix
from core.runs import RunInfo, RunStore
from presenters.lifelong.figures import RunView

if TYPE_CHECKING:
    from core.lifelong.stored import LifelongRun

COMPARED = 4  # runs Compare starts with
NO_IMPORTANCE = {
    "finetune": "it protects nothing",
    "joint": "it trains on every task seen so far instead",
    "replay": "it rehearses earlier tasks' training items from its buffer instead",
}


def lifelong_runs(store: RunStore) -> list[RunInfo]:
    """Lifelong runs with at least one finished epoch (any status), newest first."""
    return [r for r in store.list(KIND) if r.epochs_done >= 1]


def stream_key(config: Mapping[str, Any]) -> tuple:
    """What makes two runs' streams the same: the stream, its tasks (and their angle step or
    scenario) and the seed, which draws the permutations, the initial weights and the batches."""
    stream = config.get("stream")
    return (
        stream,
        config.get("tasks"),
        config.get("angle_step") if stream == "rotated" else None,
        config.get("scenario") if stream == "split" else None,
        config.get("seed"),
    )


def stream_text(config: Mapping[str, Any]) -> str:
    """ "rotated MNIST, 5 tasks, 20° apart · seed 0"."""
    text = stream_label(config)
    if config.get("stream") == "rotated" and isinstance(config.get("angle_step"), (int, float)):
        text += f", {config['angle_step']:g}° apart"
    return f"{text} · seed {config.get('seed')}"


def stream_groups(runs: Iterable[RunInfo]) -> dict[str, list[RunInfo]]:
    """The runs by stream, keyed by their stream_key as text (a widget's option), in the order
    their first run comes."""
    groups: dict[str, list[RunInfo]] = {}
    for run in runs:
        groups.setdefault("|".join(map(str, stream_key(run.config))), []).append(run)
    return groups


def compare_runs_key(group_id: str) -> str:
    """The widget key of Compare's run picker for one stream (a group id of `stream_groups`)."""
    return "ll_compare_runs_" + hashlib.sha256(group_id.encode()).hexdigest()[:12]


def compare_defaults(group: Sequence[RunInfo], most: int = COMPARED) -> list[str]:
    """The runs Compare starts with: the first run of each method (shipped runs come first), up to
    `most`; the first `most` runs when the group holds fewer than two methods."""
    firsts: dict[str, str] = {}
    for run in group:
        firsts.setdefault(str(run.config.get("method")), run.run_id)
    chosen = list(firsts.values())
    return chosen[:most] if len(chosen) >= 2 else [r.run_id for r in group[:most]]


def task_names(info: RunInfo, config: LifelongConfig) -> tuple[str, ...]:
    """The tasks' names as the run recorded them, else as its stream names them."""
    names = info.extra.get("task_names")
    if isinstance(names, list) and len(names) == config.tasks and all(isinstance(n, str) for n in names):
        return tuple(names)
    return tuple(s.name for s in task_specs(config.stream, config.tasks, config.angle_step, config.seed))


def stored_view(run: LifelongRun, title: str) -> RunView:
    return RunView(title, run.matrix, run.task_names, run.config.epochs)


def live_view(info: RunInfo, rows: Sequence[Mapping[str, Any]], title: str) -> RunView:
    """A run being trained, from the metric rows its job has stored so far."""
    config = LifelongConfig.from_dict(info.config)
    return RunView(title, run_matrix(rows, config.tasks, config.epochs), task_names(info, config), config.epochs)


def image_pictures(run: LifelongRun) -> dict[int, np.ndarray]:
    """The run's importance pictures laid out as the digits are: a permuted task's picture, which
    is in the order the network reads the pixels, is put back at the pixels of the original image."""
    config = run.config
    if config.stream != "permuted" or config.model != "mlp":
        return dict(run.pictures)
    from core.data.streams import permutation

    specs = task_specs(config.stream, config.tasks, config.angle_step, config.seed)
    out = {}
    for task, picture in run.pictures.items():
        seed = specs[task - 1].permutation_seed
        if seed is None:
            out[task] = picture
            continue
        # input position i reads pixel order[i] of the image (core.data.streams.Task.transform)
        order = permutation(config.seed, seed).numpy()
        image = np.empty(picture.size, dtype=picture.dtype)
        image[order] = picture.reshape(-1)
        out[task] = image.reshape(picture.shape)
    return out


def importance_note(config: LifelongConfig) -> str:
    """What the importance pictures of a run show, or why it has none, in plain words."""
    name = METHOD_NAMES[config.method]
    if config.method in NO_IMPORTANCE:
        return f"{name} measures no importance ({NO_IMPORTANCE[config.method]}), so there is nothing to picture."
    items = f"{config.importance_items} training items of the task"
    what = {
        "l2": "L2 holds every weight alike (importance 1 each), so its pictures are flat: no pixel is protected "
        "more than another",
        "ewc": f"EWC's importance is the task's diagonal Fisher information ({config.fisher}, on {items})",
        "online_ewc": f"Online EWC's importance is each task's diagonal Fisher information ({config.fisher}, on "
        f"{items}); each picture is its task's own, and the penalty sums them, the older ones decayed by "
        f"γ = {config.gamma:g}",
        "mas": f"MAS's importance is the mean size of the gradient of the output's squared norm (on {items})",
        "si": "SI's importance is each weight's share of the loss decrease along the task's training path",
        "scp": f"SCP's importance comes from {config.slices} random slices of the output distribution (on {items})",
    }[config.method]
    if config.model == "mlp":
        where = (
            f"Each picture sums the first layer's importance over its {config.hidden} hidden units, one value per "
            "input pixel, scaled to the task's largest: bright pixels are where the method holds the weights hardest"
        )
        if config.stream == "rotated":
            where += " (the pixels of the rotated images the network sees)"
        elif config.stream == "permuted":
            where += " (permuted tasks are shown unshuffled: each value at the pixel of the original image it reads)"
    else:
        where = (
            "Each picture sums the first convolution's importance over its 32 filters: one value per position of "
            "its 5×5 kernel, scaled to the task's largest"
        )
    return f"{what}. {where}."
