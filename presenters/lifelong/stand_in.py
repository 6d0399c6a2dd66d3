"""A stand-in for MNIST that the lifelong page trains on when EXPLORER_LIFELONG_STAND_IN is set: the
browser tests' way to train a whole stream from the page in seconds.

The real stream reads all of MNIST (60,000 training images per task's epoch, 10,000 test images
per task after every epoch): about 10-25 s an epoch on 2 busy cores even for a tiny network, too
slow for a browser test that watches a stream of tasks being learned. EXPLORER_LIFELONG_STAND_IN=N
swaps in N synthetic training and N/2 test images (digit d a bright bar at rows 2d+4 and 2d+5 on
faint noise) that every stream's rotation or permutation leaves learnable. A run trained on them
has the config's run id like any other, so the variable is for a server with a store of its own:
the page says so on every view, and the run records the stand-in's name as its data.
"""

from __future__ import annotations

import os

from core.data.streams import TaskStream, task_specs
from core.errors import UserError
from core.lifelong.config import LifelongConfig

ENV = "EXPLORER_LIFELONG_STAND_IN"
NAME = f"synthetic bar digits ({ENV}), not MNIST"
MOST = 60_000


def stand_in_items() -> int | None:
    """The training images per stand-in split that the environment asks for; None when it asks for none."""
    text = os.environ.get(ENV, "").strip()
    if not text:
        return None
    if not text.isdigit() or not 10 <= int(text) <= MOST:
        raise UserError(f"{ENV} must be a whole number of training images from 10 to {MOST:,}, got {text!r:.40}")
    return int(text)


def bar_digits(n: int, seed: int):
    """(n, 28, 28) uint8 images and their labels 0-9 in turn: digit d is a bar at rows 2d+4..2d+5."""
    import torch

    generator = torch.Generator().manual_seed(seed)
    labels = torch.arange(n) % 10
    images = torch.randint(0, 40, (n, 28, 28), generator=generator, dtype=torch.uint8)
    rows = 2 * labels + 4
    for offset in (0, 1):
        images[torch.arange(n), rows + offset, 4:24] = 230
    return images, labels


def stand_in_stream(config: LifelongConfig, items: int) -> TaskStream:
    """The config's stream of tasks over `items` stand-in training images and half as many test images."""
    train, train_labels = bar_digits(items, config.seed)
    test, test_labels = bar_digits(max(10, items // 2), config.seed + 1)
    specs = task_specs(config.stream, config.tasks, config.angle_step, config.seed)
    return TaskStream(specs, train, train_labels, test, test_labels, seed=config.seed, name=NAME)
