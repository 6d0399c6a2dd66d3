"""Task streams from MNIST for lifelong learning: a sequence of tasks, each with train and test
splits, made from MNIST's train split (training) and test split (testing) only, so no task's test
items are ever trained on.

- rotated: task i rotates every digit by i x `angle_step` degrees (the course's homework stream:
  5 tasks at 0, 20, 40, 60, 80 degrees), bilinear, about the image centre;
- permuted: task i applies its own fixed pixel permutation, seeded by (seed, i); task 1 is the
  identity (the EWC paper's stream, 10 tasks);
- split: task i holds the digits 2i and 2i+1 (0/1, 2/3, ... as 5 tasks).

Tasks are views, not copies: every task shares MNIST's uint8 images and applies its transform to
the batch it is asked for, so ten permuted tasks cost one MNIST in memory. A transform is a pure
function of the task, so the same batch indices always give the same pixels.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import TYPE_CHECKING

from core.errors import UserError

if TYPE_CHECKING:
    import torch

STREAMS = {
    "rotated": "every task rotates all digits by its own angle (the course's homework)",
    "permuted": "every task applies its own fixed pixel permutation, task 1 the identity (the EWC paper's)",
    "split": "digit pairs 0/1, 2/3, 4/5, 6/7, 8/9 as 5 tasks",
}
DATA = {
    "mnist": "MNIST's 60,000 training and 10,000 test digits",
    "synthetic": "synthetic bar digits (2,000 training, 1,000 test images; no download): for tests, offline demos",
}
SYNTHETIC_ITEMS = (2000, 1000)
SYNTHETIC_NAME = "synthetic bar digits (not MNIST)"
DEFAULT_TASKS = {"rotated": 5, "permuted": 10, "split": 5}
MAX_TASKS = {"rotated": 50, "permuted": 50, "split": 5}
SIDE = 28
PIXELS = SIDE * SIDE
CLASSES = 10


@dataclass(frozen=True)
class TaskSpec:
    """What a task is, without its pixels: its name and transform, and which digits it holds."""

    index: int  # 0-based position in the stream
    name: str  # "0°", "permutation 3", "2/3"
    classes: tuple[int, ...]  # the digits it holds (all ten unless split)
    angle: float = 0.0  # rotated: degrees, counter-clockwise
    permutation_seed: int | None = None  # permuted: the seed of its permutation (None: identity)


def task_specs(stream: str, tasks: int, angle_step: float = 20.0, seed: int = 0) -> list[TaskSpec]:
    """The stream's tasks in order (pure: no data needed)."""
    if stream not in STREAMS:
        raise UserError(f"unknown stream {stream!r}; expected one of {', '.join(STREAMS)}")
    if not 1 <= tasks <= MAX_TASKS[stream]:
        raise UserError(f"a {stream} stream has 1 to {MAX_TASKS[stream]} tasks, got {tasks}")
    digits = tuple(range(CLASSES))
    if stream == "rotated":
        return [TaskSpec(i, f"{_degrees(i * angle_step)}°", digits, angle=i * angle_step) for i in range(tasks)]
    if stream == "permuted":
        return [
            TaskSpec(i, "identity" if i == 0 else f"permutation {i}", digits, permutation_seed=None if i == 0 else i)
            for i in range(tasks)
        ]
    return [TaskSpec(i, f"{2 * i}/{2 * i + 1}", (2 * i, 2 * i + 1)) for i in range(tasks)]


def _degrees(angle: float) -> str:
    return f"{angle:g}"


def permutation(seed: int, task_seed: int) -> torch.Tensor:
    """The fixed pixel permutation of a permuted task: a function of the stream's seed and the task."""
    import torch

    generator = torch.Generator().manual_seed(1_000_003 * seed + task_seed)
    return torch.randperm(PIXELS, generator=generator)


def rotation_grid(angle: float) -> torch.Tensor:
    """The (1, 28, 28, 2) sampling grid of a rotation by `angle` degrees about the image centre."""
    import torch
    import torch.nn.functional as F

    theta = math.radians(angle)
    c, s = math.cos(theta), math.sin(theta)
    # affine_grid maps each output point (x right, y down) to the input point it samples; turning
    # the picture counter-clockwise on screen (torchvision's sense) samples the output point
    # turned clockwise in these coordinates, which is [[c, -s], [s, c]] with y pointing down.
    matrix = torch.tensor([[[c, -s, 0.0], [s, c, 0.0]]], dtype=torch.float32)
    return F.affine_grid(matrix, [1, 1, SIDE, SIDE], align_corners=False)


class Task:
    """One task of a stream: its split's items (indices into MNIST) and its transform."""

    def __init__(self, spec: TaskSpec, stream: TaskStream):
        import torch

        self.spec = spec
        self._stream = stream
        self.train_index = _items(stream.train_labels, spec.classes)
        self.test_index = _items(stream.test_labels, spec.classes)
        self._permutation = (
            permutation(stream.seed, spec.permutation_seed) if spec.permutation_seed is not None else None
        )
        self._grid = rotation_grid(spec.angle) if spec.angle % 360 else None
        self.classes = torch.tensor(spec.classes)

    @property
    def name(self) -> str:
        return self.spec.name

    def batch(self, split: str, positions: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Images as float (n, 784) in [0, 1] after the task's transform, and their digit labels,
        for `positions` within the task's split ("train" or "test")."""
        index = (self.train_index if split == "train" else self.test_index)[positions]
        images = self._stream.train_images if split == "train" else self._stream.test_images
        labels = self._stream.train_labels if split == "train" else self._stream.test_labels
        return self.transform(images[index]), labels[index]

    def transform(self, images: torch.Tensor) -> torch.Tensor:
        """(n, 28, 28) uint8 -> (n, 784) float in [0, 1], rotated or permuted as the task says."""
        import torch.nn.functional as F

        x = images.float().div_(255.0)
        if self._grid is not None:
            grid = self._grid.expand(len(x), -1, -1, -1)
            x = F.grid_sample(x.unsqueeze(1), grid, mode="bilinear", padding_mode="zeros", align_corners=False)
        x = x.reshape(len(x), PIXELS)
        if self._permutation is not None:
            x = x[:, self._permutation]
        return x

    def size(self, split: str) -> int:
        return len(self.train_index if split == "train" else self.test_index)


def _items(labels: torch.Tensor, classes: tuple[int, ...]) -> torch.Tensor:
    import torch

    if len(classes) == CLASSES:
        return torch.arange(len(labels))
    return torch.nonzero(torch.isin(labels, torch.tensor(classes)), as_tuple=True)[0]


class TaskStream:
    """A sequence of tasks over one set of digit images (MNIST's, or any (N, 28, 28) uint8 set)."""

    def __init__(
        self,
        specs: list[TaskSpec],
        train_images: torch.Tensor,
        train_labels: torch.Tensor,
        test_images: torch.Tensor,
        test_labels: torch.Tensor,
        *,
        seed: int = 0,
        name: str = "MNIST",
        notes: tuple[str, ...] = (),
    ):
        for what, images, labels in (("train", train_images, train_labels), ("test", test_images, test_labels)):
            if images.dtype.is_floating_point or images.shape[1:] != (SIDE, SIDE) or len(images) != len(labels):
                raise UserError(f"{name} {what}: expected (N, 28, 28) uint8 images with N labels")
        self.train_images, self.train_labels = train_images, train_labels.long()
        self.test_images, self.test_labels = test_images, test_labels.long()
        self.seed = seed
        self.name = name
        self.notes = notes
        self.tasks = [Task(spec, self) for spec in specs]

    def __len__(self) -> int:
        return len(self.tasks)


def bar_digits(n: int, seed: int) -> tuple[torch.Tensor, torch.Tensor]:
    """(n, 28, 28) uint8 images and labels 0-9 in turn: digit d is a bright bar at rows 2d+4 and
    2d+5 on faint noise, which every stream's rotation or permutation leaves learnable."""
    import torch

    generator = torch.Generator().manual_seed(seed)
    labels = torch.arange(n) % CLASSES
    images = torch.randint(0, 40, (n, SIDE, SIDE), generator=generator, dtype=torch.uint8)
    rows = 2 * labels + 4
    for offset in (0, 1):
        images[torch.arange(n), rows + offset, 4:24] = 230
    return images, labels


def load_stream(
    stream: str,
    tasks: int,
    *,
    angle_step: float = 20.0,
    seed: int = 0,
    data: str = "mnist",
    download: bool = True,
) -> TaskStream:
    """The stream's tasks over real MNIST (core.data: read from EXPLORER_DATA_DIR, converted once),
    or over synthetic bar digits."""
    from core.data.domains import InputSpec, load_domain

    specs = task_specs(stream, tasks, angle_step, seed)
    if data == "synthetic":
        train, train_labels = bar_digits(SYNTHETIC_ITEMS[0], seed)
        test, test_labels = bar_digits(SYNTHETIC_ITEMS[1], seed + 1)
        return TaskStream(specs, train, train_labels, test, test_labels, seed=seed, name=SYNTHETIC_NAME)
    if data != "mnist":
        raise UserError(f"unknown data {data!r}; expected one of {', '.join(DATA)}")
    mnist = load_domain("mnist", InputSpec(1, SIDE), download=download)
    return TaskStream(
        specs,
        mnist.train_images[:, 0],
        mnist.train_labels,
        mnist.eval_images[:, 0],
        mnist.eval_labels,
        seed=seed,
        name=mnist.name,
        notes=mnist.notes,
    )
