"""Adapting a stored learner on drawings, and the evaluation episodes the drawing page browses.

`classify` adapts a learner on one support drawing per class (already through
core.fewshot.drawing.prepare_drawing) step by step and returns the query probabilities after
every step; `draw_episode` picks a reproducible 5-way 1-shot episode of the evaluation characters.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import torch

from core.errors import UserError
from core.fewshot.episodes import ClassPool, sample_episode
from core.fewshot.evaluation import Adaptation, Learner, adapt_and_predict

MAX_STEPS = 10  # inner steps the page offers (the latency benchmark covers this many), or the model's
# own test-time steps when it takes more (the transfer baseline fits its head in 100 cheap steps)


def max_steps(default_steps: int) -> int:
    """The most inner steps offered for a model evaluated with `default_steps`."""
    return max(MAX_STEPS, default_steps)


def _stack(images: Sequence[np.ndarray], what: str) -> torch.Tensor:
    if not images:
        raise UserError(f"no {what}: draw at least one")
    arrays = [np.asarray(im) for im in images]
    for i, a in enumerate(arrays):
        if a.shape != (28, 28):
            raise UserError(f"{what} {i + 1} is {a.shape}, expected a prepared 28x28 drawing")
    return torch.from_numpy(np.stack(arrays).astype(np.uint8)).unsqueeze(1)


def classify(
    learner: Learner,
    supports: Sequence[np.ndarray],
    queries: Sequence[np.ndarray],
    steps: int | None = None,
    lr: float | None = None,
) -> Adaptation:
    """Adapt on one support drawing per class (label i = supports[i]) and predict the queries.

    Drawings are prepared 28x28 uint8 images (ink 255 on 0). steps/lr default to the learner's
    test-time settings; steps is capped at MAX_STEPS.
    """
    if len(supports) < 2:
        raise UserError("draw at least two classes to tell apart")
    if learner.head_ways is not None and learner.head_ways != len(supports):
        raise UserError(f"this model meta-learned a {learner.head_ways}-way head; give it {learner.head_ways} classes")
    steps = learner.steps if steps is None else int(steps)
    if not 0 <= steps <= max_steps(learner.steps):
        raise UserError(f"inner steps must be between 0 and {max_steps(learner.steps)}, got {steps}")
    if lr is not None and not (np.isfinite(lr) and 0 <= lr < 100):
        raise UserError(f"inner lr must be a non-negative number below 100, got {lr}")
    sx = _stack(supports, "support drawing")
    qx = _stack(queries, "query drawing")
    sy = torch.arange(len(supports))
    return adapt_and_predict(learner, sx, sy, qx, steps=steps, lr=lr)


@dataclass(frozen=True)
class BrowserEpisode:
    """An evaluation episode to browse: one support drawing per class, `queries` per class."""

    seed: int
    support: np.ndarray  # (ways, 28, 28) uint8, support[i] is class i
    queries: np.ndarray  # (ways * queries, 28, 28) uint8
    query_labels: np.ndarray  # (ways * queries,)
    names: tuple[str, ...]  # per class: "Alphabet/characterNN"


def draw_episode(pool: ClassPool, seed: int, ways: int = 5, queries: int = 1) -> BrowserEpisode:
    """A 5-way 1-shot episode of the pool (the evaluation characters), reproducible by seed."""
    episode = sample_episode(pool, ways, 1, queries, torch.Generator().manual_seed(int(seed)))
    order = episode.support_y.argsort()
    return BrowserEpisode(
        seed=int(seed),
        support=episode.support_x[order, 0].cpu().numpy(),
        queries=episode.query_x[:, 0].cpu().numpy(),
        query_labels=episode.query_y.cpu().numpy(),
        names=tuple(pool.class_name(int(c)) for c in episode.classes),
    )
