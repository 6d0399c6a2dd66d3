"""N-way K-shot episodes drawn from a pool of character classes.

A class is a character, or with rotations a character turned by 0, 90, 180 or 270 degrees (the
MAML paper's augmentation: four classes per character). An episode draws `ways` classes, gives
them labels 0..ways-1 in random order (so a label means nothing across episodes), and draws
`shots + queries` distinct drawings per class: the first `shots` are the support set, the rest the
queries, so a query is never also a support image. Task augmentation (the course's) rotates a
whole episode, support and queries alike, by 90 or 270 degrees with probability p.

Sampling runs on the CPU with the caller's generator (reproducible), then gathers the images on
the pool's device in one indexing step for a whole batch of episodes.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch

from core.data.omniglot import CharacterSet
from core.errors import UserError
from core.models.conv4 import prepare


@dataclass(frozen=True)
class ClassPool:
    """The classes episodes are drawn from: each character of `characters`, times `rotations`."""

    characters: CharacterSet
    rotations: int = 1  # 1: characters as they are; 4: each turned by 0/90/180/270 degrees is a class
    images: torch.Tensor | None = None  # the characters' images on the sampling device (default: as stored)

    def __post_init__(self) -> None:
        if self.rotations not in (1, 4):
            raise ValueError(f"rotations must be 1 or 4, got {self.rotations}")
        if self.images is None:
            object.__setattr__(self, "images", self.characters.images)

    def to(self, device: torch.device | str) -> ClassPool:
        return ClassPool(self.characters, self.rotations, self.characters.images.to(device))

    @property
    def num_classes(self) -> int:
        return len(self.characters) * self.rotations

    @property
    def drawings(self) -> int:
        return self.characters.drawings

    def class_name(self, cls: int) -> str:
        char, turn = divmod(int(cls), self.rotations)
        name = self.characters.characters[char]
        return name if turn == 0 else f"{name} (rotated {90 * turn} deg)"

    def check(self, ways: int, shots: int, queries: int) -> None:
        """UserError when episodes of this shape cannot be drawn from the pool."""
        if ways < 1 or shots < 1 or queries < 0:
            raise UserError(f"episodes need ways >= 1, shots >= 1 and queries >= 0; got {ways}, {shots}, {queries}")
        if ways > self.num_classes:
            raise UserError(
                f"{ways}-way episodes need {ways} classes, but {self.characters.name} has only "
                f"{self.num_classes} ({len(self.characters)} characters x {self.rotations} rotations)"
            )
        if shots + queries > self.drawings:
            raise UserError(
                f"{shots} shots + {queries} queries per class need {shots + queries} distinct drawings "
                f"per character, but {self.characters.name} has {self.drawings}"
            )


@dataclass(frozen=True)
class Tasks:
    """A batch of T episodes, support and query sets as uint8 images (ink INK on 0).

    support_x (T, ways*shots, 1, 28, 28), support_y (T, ways*shots): class-major, label of class j
    is j; query_x (T, ways*queries, 1, 28, 28), query_y likewise; classes (T, ways): the pool class
    that label j stands for; turned (T,): the task augmentation's extra rotation (0, 1 or 3 quarter
    turns).
    """

    support_x: torch.Tensor
    support_y: torch.Tensor
    query_x: torch.Tensor
    query_y: torch.Tensor
    classes: torch.Tensor
    turned: torch.Tensor

    def __len__(self) -> int:
        return int(self.support_x.shape[0])

    @property
    def ways(self) -> int:
        return int(self.classes.shape[1])

    def episode(self, i: int) -> Episode:
        return Episode(self.support_x[i], self.support_y[i], self.query_x[i], self.query_y[i], self.classes[i])

    def prepared(self, device: torch.device) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor]:
        """(support_x, support_y, query_x, query_y) as the learner's float input on `device`."""
        sx, qx = (prepare(x.flatten(0, 1)).view(x.shape).to(device) for x in (self.support_x, self.query_x))
        return sx, self.support_y.to(device), qx, self.query_y.to(device)


@dataclass(frozen=True)
class Episode:
    """One episode: support_x (ways*shots, 1, 28, 28) uint8, support_y, query_x, query_y, and the
    pool class of each label (ClassPool.class_name gives its name)."""

    support_x: torch.Tensor
    support_y: torch.Tensor
    query_x: torch.Tensor
    query_y: torch.Tensor
    classes: torch.Tensor


def rotate(images: torch.Tensor, quarter_turns: torch.Tensor) -> torch.Tensor:
    """Turn each image (..., H, W) counter-clockwise by its own number of quarter turns (0-3)."""
    turned = torch.stack([torch.rot90(images, k, dims=(-2, -1)) for k in range(4)])
    return turned.gather(0, quarter_turns.view(1, *quarter_turns.shape, 1, 1).expand(1, *images.shape)).squeeze(0)


def sample_tasks(
    pool: ClassPool,
    ways: int,
    shots: int,
    queries: int,
    count: int,
    generator: torch.Generator,
    task_aug: float = 0.0,
) -> Tasks:
    """`count` episodes of `ways` classes with `shots` support and `queries` query drawings each."""
    pool.check(ways, shots, queries)
    per_class = shots + queries
    classes = torch.rand(count, pool.num_classes, generator=generator).argsort(1)[:, :ways]
    drawings = torch.rand(count, ways, pool.drawings, generator=generator).argsort(2)[:, :, :per_class]
    chars, turns = classes.div(pool.rotations, rounding_mode="floor"), classes % pool.rotations
    aug = torch.zeros(count, dtype=torch.long)
    if task_aug > 0:
        flip = torch.rand(count, generator=generator) < task_aug
        quarter = torch.where(torch.rand(count, generator=generator) < 0.5, 1, 3)
        aug = torch.where(flip, quarter, 0)
    turns = (turns + aug[:, None]) % 4
    device = pool.images.device
    picked = pool.images[chars[:, :, None].to(device), drawings.to(device)]  # (T, ways, per_class, 28, 28)
    picked = rotate(picked, turns[:, :, None].expand(-1, -1, per_class).to(device)).unsqueeze(3)
    labels = torch.arange(ways, device=device).view(1, ways, 1).expand(count, ways, per_class)
    size = picked.shape[-2:]
    return Tasks(
        support_x=picked[:, :, :shots].reshape(count, ways * shots, 1, *size),
        support_y=labels[:, :, :shots].reshape(count, ways * shots),
        query_x=picked[:, :, shots:].reshape(count, ways * queries, 1, *size),
        query_y=labels[:, :, shots:].reshape(count, ways * queries),
        classes=classes,
        turned=aug,
    )


def sample_episode(pool: ClassPool, ways: int, shots: int, queries: int, generator: torch.Generator) -> Episode:
    """One episode, e.g. for browsing the evaluation alphabets."""
    return sample_tasks(pool, ways, shots, queries, 1, generator).episode(0)
