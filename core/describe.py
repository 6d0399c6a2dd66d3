"""One description of a stored run, for every place that names runs: the CLI's `runs list`, Home's
tables, the pages' pickers and legends. Each engine describes its own kind (core.kinds says where);
a run of a kind no engine knows still gets a plain description."""

from __future__ import annotations

import importlib
from dataclasses import dataclass
from typing import TYPE_CHECKING

from core.kinds import KINDS

if TYPE_CHECKING:
    from core.runs import RunInfo, RunStore


@dataclass(frozen=True)
class RunDescription:
    run_id: str
    kind: str
    data: str  # what it learned from: "mnist → mnistm", "omniglot"
    method: str  # short, for legends: "dann (log) + invert", "MAML"
    detail: str  # the method in full, for pickers: "dann · λ(p) = ln(1.02 + 1.7p) · invert augmentation"
    progress: str  # "6/6 epochs", "39/40 epochs · incomplete"


def progress(info: RunInfo) -> str:
    state = "" if info.complete else f" · {info.status}"
    return f"{info.epochs_done}/{info.epochs_planned} epochs{state}"


def describe_run(info: RunInfo) -> RunDescription:
    """The run described by its engine (core.kinds), or plainly when its kind is unknown."""
    kind = KINDS.get(info.kind)
    if kind is None:
        return RunDescription(info.run_id, info.kind, "?", info.kind, info.kind, progress(info))
    return importlib.import_module(kind.describer).describe(info)


def headline_accuracy(store: RunStore, info: RunInfo) -> float | None:
    """The one accuracy that sums a run up (DANN: the last target accuracy; few-shot: 5-way 1-shot
    on the evaluation alphabets, else the last validation accuracy); None when there is none."""
    kind = KINDS.get(info.kind)
    return None if kind is None else importlib.import_module(kind.describer).headline(store, info)
