"""Tiny task streams for the lifelong tests, over the engine's synthetic bar digits."""

from __future__ import annotations

from core.data.streams import TaskStream, bar_digits, task_specs


def tiny_stream(stream: str = "permuted", tasks: int = 3, n_train: int = 200, n_test: int = 100, seed: int = 0):
    train, train_labels = bar_digits(n_train, seed)
    test, test_labels = bar_digits(n_test, seed + 1)
    specs = task_specs(stream, tasks, seed=seed)
    return TaskStream(specs, train, train_labels, test, test_labels, seed=seed, name="bar digits")
