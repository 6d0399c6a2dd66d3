"""Tiny task streams for the lifelong tests: digit-like images whose class is a bar's position."""

from __future__ import annotations

import torch

from core.data.streams import TaskStream, task_specs


def coded_digits(n: int, seed: int) -> tuple[torch.Tensor, torch.Tensor]:
    """(n, 28, 28) uint8 images and labels: digit d is a bright horizontal bar at rows 2d+4..2d+5,
    on faint noise, so every stream's transform still leaves a learnable task."""
    g = torch.Generator().manual_seed(seed)
    labels = torch.arange(n) % 10
    images = torch.randint(0, 40, (n, 28, 28), generator=g, dtype=torch.uint8)
    for i, d in enumerate(labels.tolist()):
        images[i, 2 * d + 4 : 2 * d + 6, 4:24] = 230
    return images, labels


def tiny_stream(stream: str = "permuted", tasks: int = 3, n_train: int = 200, n_test: int = 100, seed: int = 0):
    train, train_labels = coded_digits(n_train, seed)
    test, test_labels = coded_digits(n_test, seed + 1)
    specs = task_specs(stream, tasks, seed=seed)
    return TaskStream(specs, train, train_labels, test, test_labels, seed=seed, name="coded digits")
