"""Adapting a trained learner to new characters, and measuring it the way the papers do.

`adapt_and_predict` is what the few-shot page calls with five drawings: it adapts on the support
set and reports, for every inner step, the support loss and accuracy and the queries'
probabilities. `evaluate` runs many N-way K-shot episodes on held-out characters and reports the
mean accuracy with a 95% confidence interval (1.96 standard errors over episodes). Episodes come
from a generator seeded by the protocol's seed alone, so every model sees the same episodes and
comparisons between models are paired.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass

import torch
import torch.nn.functional as F
from torch.func import vmap

from core.errors import UserError
from core.fewshot.episodes import ClassPool, Tasks, sample_tasks
from core.fewshot.solvers import (
    BatchPlan,
    Params,
    adapt,
    adapt_functional,
    context_features,
    finetune_head,
    forward,
    linear_head,
    protonet_logits,
    query_logits,
    task_start,
    transfer_logits,
    zero_head,
)
from core.models.conv4 import Conv4, prepare

EVAL_SEED = 0  # every model is measured on the same episodes
EVAL_BATCH = 100  # episodes adapted at once


@dataclass(frozen=True)
class Learner:
    """A trained few-shot learner, ready to adapt: its skeleton, meta-parameters and defaults."""

    solver: str  # maml | fomaml | transfer | protonet
    net: Conv4  # the skeleton that functional_call swaps parameters into
    params: Params  # meta-parameters (no head unless it was meta-learned), on `device`
    steps: int  # test-time inner steps the run was evaluated with
    lr: float  # test-time inner step size
    train_steps: int  # inner steps during meta-training (0 for transfer and ProtoNet)
    train_lr: float  # their step size
    device: torch.device
    run_id: str | None = None
    data: str = "omniglot"  # what it was trained on (omniglot | synthetic)
    head_init: str = "zero"  # where MAML's inner loop starts its head (core.fewshot.solvers.task_start)

    @property
    def head_ways(self) -> int | None:
        """The ways of a meta-learned head; None when any number of ways works."""
        w = self.params.get("head.weight")
        return None if w is None else int(w.shape[0])


@dataclass(frozen=True)
class Adaptation:
    """What adapting to one support set did, step by step (index 0: before the first step)."""

    support_loss: tuple[float, ...]  # steps + 1 values
    support_acc: tuple[float, ...]
    query_probs: torch.Tensor  # (steps + 1, queries, ways), CPU

    @property
    def predictions(self) -> torch.Tensor:
        """The predicted class of each query after the last step."""
        return self.query_probs[-1].argmax(1)


def _check_support(support_y: torch.Tensor) -> int:
    labels = support_y.unique().tolist()
    ways = len(labels)
    if labels != list(range(ways)) or ways < 2:
        raise UserError(f"support labels must cover 0..ways-1 with ways >= 2, got labels {sorted(labels)}")
    return ways


@torch.no_grad()
def adapt_and_predict(
    learner: Learner,
    support_x: torch.Tensor,
    support_y: torch.Tensor,
    query_x: torch.Tensor,
    steps: int | None = None,
    lr: float | None = None,
) -> Adaptation:
    """Adapt on the support set, recording support loss/accuracy and query probabilities per step.

    support_x (S, 1, 28, 28) and query_x (Q, 1, 28, 28): uint8 with ink 255 on 0, or float in
    [0, 1] with ink 1.0 (core.data.omniglot.INK); support_y (S,) labels 0..ways-1, each at least
    once. steps and lr default to the learner's test-time settings. MAML adapts every parameter;
    the transfer baseline trains a fresh head on fixed features; ProtoNet takes no steps: its one
    entry is the nearest-prototype answer.
    """
    ways = _check_support(support_y)
    dev = learner.device
    sx, qx, sy = prepare(support_x).to(dev), prepare(query_x).to(dev), support_y.to(dev)
    steps = learner.steps if steps is None else steps
    lr = learner.lr if lr is None else lr
    net, params = learner.net, learner.params
    if learner.solver == "protonet":
        support, query = (protonet_logits(net, params, sx, sy, x, ways) for x in (sx, qx))
        return _record([(support, query)], sy)
    if learner.solver == "transfer":
        fs, fq = context_features(net, params, sx, qx)
        head = zero_head(ways, fs)
        states = [(linear_head(head, fs), linear_head(head, fq))]
        for _ in range(steps):
            head = finetune_head(head, fs, sy, 1, lr, functional=False)
            states.append((linear_head(head, fs), linear_head(head, fq)))
        return _record(states, sy)
    params = task_start(net, params, sx, sy, ways, learner.head_init)
    states = [(forward(net, params, sx), query_logits(net, params, sx, qx))]
    for _ in range(steps):
        params = {k: v.detach() for k, v in adapt(net, params, sx, sy, 1, lr).items()}
        states.append((forward(net, params, sx), query_logits(net, params, sx, qx)))
    return _record(states, sy)


def _record(states: list[tuple[torch.Tensor, torch.Tensor]], sy: torch.Tensor) -> Adaptation:
    """(support logits, query logits) per step -> the step-by-step Adaptation."""
    return Adaptation(
        support_loss=tuple(float(F.cross_entropy(s, sy)) for s, _ in states),
        support_acc=tuple(float((s.argmax(1) == sy).float().mean()) for s, _ in states),
        query_probs=torch.stack([q.softmax(1) for _, q in states]).cpu(),
    )


def _correct_one(learner: Learner, steps: int, lr: float, ways: int, functional: bool) -> Callable:
    """(sx, sy, qx, qy) of one prepared task -> its query accuracy after adaptation."""

    def correct(sx, sy, qx, qy):
        if learner.solver == "protonet":
            logits = protonet_logits(learner.net, learner.params, sx, sy, qx, ways)
        elif learner.solver == "transfer":
            logits = transfer_logits(learner.net, learner.params, sx, sy, qx, ways, steps, lr, functional)
        else:
            start = task_start(learner.net, learner.params, sx, sy, ways, learner.head_init)
            if functional:
                adapted = adapt_functional(learner.net, start, sx, sy, steps, lr, first_order=True)
            else:
                adapted = adapt(learner.net, start, sx, sy, steps, lr)
            logits = query_logits(learner.net, adapted, sx, qx)
        return (logits.argmax(-1) == qy).float().mean()

    return correct


@torch.no_grad()
def episode_accuracy(
    learner: Learner, tasks: Tasks, plan: BatchPlan, steps: int | None = None, lr: float | None = None
) -> torch.Tensor:
    """Query accuracy of each episode in `tasks` after adaptation: (T,) on the CPU."""
    steps = learner.steps if steps is None else steps
    lr = learner.lr if lr is None else lr
    sx, sy, qx, qy = tasks.prepared(learner.device)
    correct = _correct_one(learner, steps, lr, tasks.ways, functional=plan.vectorised)
    if plan.vectorised:
        return vmap(correct, chunk_size=plan.chunk)(sx, sy, qx, qy).cpu()
    return torch.stack([correct(sx[t], sy[t], qx[t], qy[t]) for t in range(len(tasks))]).cpu()


@dataclass(frozen=True)
class Evaluation:
    """Mean episode accuracy with its 95% confidence interval (half-width)."""

    ways: int
    shots: int
    queries: int
    episodes: int
    steps: int
    lr: float
    accuracy: float
    ci95: float
    seconds: float
    characters: str  # which character set the episodes came from

    def to_dict(self) -> dict:
        return asdict(self)


def confidence_interval(per_episode: torch.Tensor) -> float:
    """Half-width of the 95% interval of the mean: 1.96 standard errors (0 for one episode)."""
    n = len(per_episode)
    if n < 2:
        return 0.0
    return 1.96 * float(per_episode.double().std()) / math.sqrt(n)


def check_protocol(ways: int, shots: int, queries: int, episodes: int, steps: int | None, lr: float | None) -> None:
    """UserError unless the episodes asked for make sense (checked before any data is loaded)."""
    if not 1 <= episodes <= 1_000_000:
        raise UserError(f"episodes must be from 1 to 1,000,000, got {episodes}")
    if not 2 <= ways <= 100:
        raise UserError(f"ways must be from 2 to 100 (one class is no classification), got {ways}")
    if not 1 <= shots <= 50:
        raise UserError(f"shots must be from 1 to 50, got {shots}")
    if not 1 <= queries <= 50:
        raise UserError(f"queries must be from 1 to 50, got {queries}")
    if steps is not None and not 0 <= steps <= 1000:
        raise UserError(f"steps must be from 0 to 1000, got {steps}")
    if lr is not None and not (math.isfinite(lr) and 0 <= lr < 100):
        raise UserError(f"lr must be a non-negative number below 100, got {lr}")


def evaluate(
    learner: Learner,
    pool: ClassPool,
    ways: int,
    shots: int,
    queries: int,
    episodes: int,
    *,
    plan: BatchPlan,
    steps: int | None = None,
    lr: float | None = None,
    seed: int = EVAL_SEED,
    on_batch: Callable[[int, int], None] | None = None,
) -> Evaluation:
    """Accuracy over `episodes` N-way K-shot episodes drawn from `pool` (the same ones for every
    model at a given seed). `on_batch(done, episodes)` reports progress."""
    check_protocol(ways, shots, queries, episodes, steps, lr)
    pool.check(ways, shots, queries)
    if learner.head_ways is not None and learner.head_ways != ways:
        raise UserError(
            f"this model has a learned {learner.head_ways}-way head, so it cannot run {ways}-way "
            f"episodes; evaluate it with --ways {learner.head_ways}"
        )
    steps = learner.steps if steps is None else steps
    lr = learner.lr if lr is None else lr
    generator = torch.Generator().manual_seed(seed)
    t0 = time.perf_counter()
    accs = []
    for start in range(0, episodes, EVAL_BATCH):
        count = min(EVAL_BATCH, episodes - start)
        tasks = sample_tasks(pool, ways, shots, queries, count, generator)
        accs.append(episode_accuracy(learner, tasks, plan, steps, lr))
        if on_batch is not None:
            on_batch(start + count, episodes)
    per_episode = torch.cat(accs)
    return Evaluation(
        ways=ways,
        shots=shots,
        queries=queries,
        episodes=episodes,
        steps=steps,
        lr=lr,
        accuracy=float(per_episode.double().mean()),
        ci95=confidence_interval(per_episode),
        seconds=time.perf_counter() - t0,
        characters=pool.characters.name,
    )
