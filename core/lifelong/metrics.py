"""The scores of a lifelong run, from its accuracy matrix (pure, numpy only).

R[i, j] is the accuracy on task j's test split after learning tasks 1..i+1 (T x T), and b[j] the
accuracy of the untrained network on task j. With T tasks:

- average accuracy    A = 1/T sum_j R[T-1, j]                               (after the last task)
- forgetting of j     f_j = max_{i < T-1} R[i, j] - R[T-1, j], for j < T-1  (Chaudhry et al. 2018)
- backward transfer   BWT = 1/(T-1) sum_{j < T-1} (R[T-1, j] - R[j, j])     (Lopez-Paz & Ranzato 2017)
- forward transfer    FWT = 1/(T-1) sum_{j > 0} (R[j-1, j] - b[j])          (same paper)

A run that stopped early has a matrix with only its first rows: the scores are then those of the
tasks learned so far (`partial_matrix`).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class Scores:
    average_accuracy: float
    forgetting: float | None  # mean over the tasks before the last; None with one task
    bwt: float | None
    fwt: float | None
    forgetting_per_task: tuple[float, ...]  # one per task before the last

    def to_dict(self) -> dict:
        return {
            "average_accuracy": self.average_accuracy,
            "forgetting": self.forgetting,
            "bwt": self.bwt,
            "fwt": self.fwt,
        }


def _check(R: np.ndarray) -> np.ndarray:
    R = np.asarray(R, dtype=float)
    if R.ndim != 2 or R.shape[0] < 1 or R.shape[0] > R.shape[1]:
        raise ValueError(f"an accuracy matrix has one row per learned task and a column per task, got {R.shape}")
    return R


def average_accuracy(R: np.ndarray) -> float:
    """Mean accuracy over the tasks learned so far, after the last of them."""
    R = _check(R)
    k = R.shape[0]
    return float(R[k - 1, :k].mean())


def forgetting_per_task(R: np.ndarray) -> np.ndarray:
    R = _check(R)
    k = R.shape[0]
    if k < 2:
        return np.zeros(0)
    return R[: k - 1, : k - 1].max(axis=0) - R[k - 1, : k - 1]


def forgetting(R: np.ndarray) -> float | None:
    f = forgetting_per_task(R)
    return float(f.mean()) if len(f) else None


def backward_transfer(R: np.ndarray) -> float | None:
    R = _check(R)
    k = R.shape[0]
    if k < 2:
        return None
    return float(np.mean(R[k - 1, : k - 1] - np.diag(R)[: k - 1]))


def forward_transfer(R: np.ndarray, baseline: Sequence[float]) -> float | None:
    """Needs the next task's column: FWT over the tasks after the first that some row precedes."""
    R = _check(R)
    b = np.asarray(baseline, dtype=float)
    k = R.shape[0]
    cols = [j for j in range(1, min(k + 1, R.shape[1]))]
    if not cols:
        return None
    return float(np.mean([R[j - 1, j] - b[j] for j in cols]))


def scores(R: np.ndarray, baseline: Sequence[float]) -> Scores:
    f = forgetting_per_task(R)
    return Scores(
        average_accuracy=average_accuracy(R),
        forgetting=float(f.mean()) if len(f) else None,
        bwt=backward_transfer(R),
        fwt=forward_transfer(R, baseline),
        forgetting_per_task=tuple(float(v) for v in f),
    )


@dataclass(frozen=True)
class RunMatrix:
    """A run's accuracy matrix read from its metric rows: R (rows: tasks learned), the untrained
    accuracies b, and the per-epoch curves (every epoch's accuracy on every task)."""

    R: np.ndarray  # (tasks learned, T)
    baseline: np.ndarray  # (T,)
    epochs: np.ndarray  # (epochs stored,) the global epoch numbers, 0 first
    curves: np.ndarray  # (epochs stored, T) accuracy on every task after each epoch
    losses: np.ndarray  # (epochs stored, T)
    task_of_epoch: np.ndarray  # (epochs stored,) the task (1-based) each epoch trained; 0 for epoch 0

    @property
    def tasks(self) -> int:
        return self.R.shape[1]

    def scores(self) -> Scores | None:
        return scores(self.R, self.baseline) if len(self.R) else None


def run_matrix(rows: Sequence[dict], tasks: int, epochs_per_task: int) -> RunMatrix:
    """The matrix of a run's metric rows (core.lifelong.files): R's row i is the row of the last
    epoch of task i+1; epoch 0's row gives the untrained accuracies. Missing values are NaN."""
    ordered = sorted(rows, key=lambda r: r["epoch"])

    def values(row: dict, prefix: str) -> list[float]:
        out = []
        for j in range(1, tasks + 1):
            v = row.get(f"{prefix}{j}")
            out.append(float(v) if isinstance(v, (int, float)) and not isinstance(v, bool) else np.nan)
        return out

    curves = np.array([values(r, "acc_") for r in ordered]).reshape(-1, tasks)
    losses = np.array([values(r, "loss_") for r in ordered]).reshape(-1, tasks)
    epochs = np.array([r["epoch"] for r in ordered], dtype=int)
    task_of = np.array([int(r.get("task", 0) or 0) for r in ordered], dtype=int)
    baseline = curves[0] if len(ordered) and ordered[0]["epoch"] == 0 else np.full(tasks, np.nan)
    ends = [i for i, e in enumerate(epochs) if e > 0 and e % epochs_per_task == 0]
    R = curves[ends] if ends else np.zeros((0, tasks))
    return RunMatrix(R, baseline, epochs, curves, losses, task_of)
