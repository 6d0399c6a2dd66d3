"""The lifelong methods: what each adds to plain training on the current task.

Regularisers add a quadratic penalty around earlier weights,

    strength / 2 * sum_k sum_i Omega_k,i (theta_i - theta*_k,i)^2,

and differ in Omega (core.lifelong.importance has the measures) and in which anchors theta*_k
they keep:
- l2: Omega = 1, around the previous task's weights;
- ewc: one term per earlier task, its own Fisher around its own final weights;
- online_ewc (Schwarz et al. 2018): one term, Omega <- gamma Omega + F_new, around the latest weights;
- mas, scp: Omega summed over tasks, around the latest weights;
- si (Zenke et al. 2017): during a task, omega_i += -g_i * delta_theta_i at every step, with g the
  gradient of the task's loss alone (not the penalty's); at its end
  Omega_i += max(0, omega_i / (Delta_i^2 + xi)), Delta_i how far theta_i moved over the task
  (a negative share, a weight whose moves raised the loss, counts as 0, so the penalty never
  pushes a weight away); around the latest weights.
With Adam, the penalty's gradient, strength * sum_k Omega_k (theta - theta*_k), is added to the task
loss's gradient (after SI has read g). With SGD the penalty is taken as a proximal step after the
optimizer's step on the task loss alone,

    theta <- (theta + eta strength B) / (1 + eta strength A),  A = sum_k Omega_k,  B = sum_k Omega_k theta*_k,

the exact minimiser of the penalty plus (theta - theta_after_step)^2 / (2 eta): its fixed points are
those of gradient descent on the whole loss, and unlike an explicit step it cannot overshoot, however
large eta * strength * Omega grows (an explicit SGD step diverges once it passes 2, which EWC's
Fisher reaches at lr 0.1 and strength 100 on permuted MNIST). At strength 0 nothing is added or
taken at all: every regulariser is then fine-tuning exactly.

The references change the batches instead: an epoch of `joint` passes over every task seen so
far, shuffled together; `replay` adds a batch from a buffer of earlier tasks' training items
(their share of `buffer_size` each, chosen at random when a task ends; test items never enter it).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import torch
from torch import nn

from core.errors import UserError
from core.lifelong import importance

if TYPE_CHECKING:
    from core.data.streams import TaskStream
    from core.lifelong.config import LifelongConfig

Params = dict[str, torch.Tensor]
Part = tuple[int, torch.Tensor]  # (task index, positions in its training split)


def by_task(rows: torch.Tensor) -> list[Part]:
    """Rows of (task, position) as one part per task, in task order."""
    return [(int(t), rows[rows[:, 0] == t, 1]) for t in rows[:, 0].unique()]


class Method:
    """Fine-tuning: no protection. The base of every method."""

    def __init__(self, config: LifelongConfig, net: nn.Module, stream: TaskStream):
        self.config = config
        self.net = net
        self.stream = stream

    def epoch_size(self, task: int) -> int:
        """Training items in one epoch of `task` (0-based): its own training split."""
        return self.stream.tasks[task].size("train")

    def epoch_order(self, task: int, generator: torch.Generator) -> torch.Tensor:
        """One epoch's items in the order they are batched: rows of (task, position)."""
        positions = torch.randperm(self.epoch_size(task), generator=generator)
        return torch.stack([torch.full_like(positions, task), positions], 1)

    def parts(self, task: int, rows: torch.Tensor, generator: torch.Generator) -> list[Part]:
        """What one step trains on, given the epoch's next batch of rows (task, position)."""
        return [(task, rows[:, 1])]

    def begin_task(self, task: int) -> None:
        """Called before the first step of `task` (0-based)."""

    def before_step(self) -> None:
        """Called with the task loss's gradient in .grad, before anything else touches it."""

    def add_penalty_grad(self) -> None:
        """Add the penalty's gradient to the parameters' .grad (which hold the task loss's)."""

    def proximal_step(self, lr: float) -> None:
        """Take the penalty's proximal step of size `lr` (after the optimizer's step)."""

    def after_step(self) -> None:
        """Called once the step, the penalty's part included, is taken."""

    def penalty(self) -> float:
        """The penalty's value at the current weights (for the metrics)."""
        return 0.0

    def end_task(self, task: int, generator: torch.Generator) -> Params | None:
        """Called after the last step of `task`; returns that task's importance, if the method has one."""
        return None

    def state(self) -> dict[str, torch.Tensor]:
        """What continuing needs, as named tensors (core.resume stores them)."""
        return {}

    def load(self, state: dict[str, torch.Tensor], where: str) -> None:
        """Take up `state()` as stored; UserError naming `where` when it does not fit."""


class Joint(Method):
    """An epoch of task t is one pass over the training splits of tasks 1..t together, shuffled
    as one set: the network learns as if every task seen so far had come at once, so an epoch
    of the t-th task costs t times one of fine-tuning (a stream of T tasks T(T+1)/2 times)."""

    def epoch_size(self, task: int) -> int:
        return sum(self.stream.tasks[j].size("train") for j in range(task + 1))

    def epoch_order(self, task: int, generator: torch.Generator) -> torch.Tensor:
        sizes = [self.stream.tasks[j].size("train") for j in range(task + 1)]
        tasks = torch.repeat_interleave(torch.arange(task + 1), torch.tensor(sizes))
        union = torch.stack([tasks, torch.cat([torch.arange(n) for n in sizes])], 1)
        return union[torch.randperm(len(union), generator=generator)]

    def parts(self, task: int, rows: torch.Tensor, generator: torch.Generator) -> list[Part]:
        return by_task(rows)


class Replay(Method):
    """Each step adds `batch_size` items drawn from the buffer of earlier tasks' items."""

    def __init__(self, config: LifelongConfig, net: nn.Module, stream: TaskStream):
        super().__init__(config, net, stream)
        self.buffer = torch.zeros(0, 2, dtype=torch.long)  # rows: (task, position in its train split)

    def parts(self, task: int, rows: torch.Tensor, generator: torch.Generator) -> list[Part]:
        out = [(task, rows[:, 1])]
        if len(self.buffer):
            out += by_task(self.buffer[torch.randint(len(self.buffer), (len(rows),), generator=generator)])
        return out

    def end_task(self, task: int, generator: torch.Generator) -> None:
        quota = self.config.buffer_size // (task + 1)
        kept = [self.buffer[self.buffer[:, 0] == t][:quota] for t in range(task)]
        size = self.stream.tasks[task].size("train")
        chosen = torch.randperm(size, generator=generator)[: min(quota, size)]
        new = torch.stack([torch.full_like(chosen, task), chosen], dim=1)
        self.buffer = torch.cat([*kept, new]) if kept else new
        return None

    def state(self) -> dict[str, torch.Tensor]:
        return {"buffer": self.buffer}

    def load(self, state: dict[str, torch.Tensor], where: str) -> None:
        buffer = state.get("buffer")
        if buffer is None or buffer.dtype != torch.long or buffer.dim() != 2 or buffer.shape[1] != 2:
            raise UserError(f"{where}: the replay buffer is missing or damaged")
        for t in buffer[:, 0].unique().tolist():
            if not 0 <= t < len(self.stream.tasks):
                raise UserError(f"{where}: the replay buffer names task {t}, which this stream does not have")
            pos = buffer[buffer[:, 0] == t, 1]
            if len(pos) and not (0 <= int(pos.min()) and int(pos.max()) < self.stream.tasks[t].size("train")):
                raise UserError(f"{where}: the replay buffer holds items outside task {t}'s training split")
        self.buffer = buffer.clone()


class Quadratic(Method):
    """strength/2 * sum_k sum_i Omega_k,i (theta_i - theta*_k,i)^2 (see the module docstring)."""

    keeps_every_task = False  # ewc: one term per task; the others one consolidated term

    def __init__(self, config: LifelongConfig, net: nn.Module, stream: TaskStream):
        super().__init__(config, net, stream)
        self.terms: list[tuple[Params, Params]] = []  # (Omega, anchor) pairs
        self._cached: tuple[int, Params, Params] | None = None  # (terms, A, B) of _sums

    def importance(self, task: int, generator: torch.Generator) -> Params:
        raise NotImplementedError

    def end_task(self, task: int, generator: torch.Generator) -> Params:
        omega = self.importance(task, generator)
        anchor = {k: v.detach().clone() for k, v in self.net.named_parameters()}
        if self.keeps_every_task or not self.terms:
            self.terms.append((omega, anchor))
        else:
            self.terms = [(self.consolidate(self.terms[0][0], omega), anchor)]
        return omega

    def consolidate(self, old: Params, new: Params) -> Params:
        return {k: old[k] + new[k] for k in old}

    def add_penalty_grad(self) -> None:
        if self.config.strength == 0 or not self.terms:
            return
        with torch.no_grad():
            if len(self.terms) == 1:
                omega, anchor = self.terms[0]
                for k, p in self.net.named_parameters():
                    p.grad.add_(omega[k] * (p - anchor[k]), alpha=self.config.strength)
                return
            # EWC's sum over tasks, sum_k F_k (theta - theta*_k) = A theta - B with A = sum_k F_k and
            # B = sum_k F_k theta*_k: two tensors per parameter at every step instead of 2 per task.
            total, weighted = self._sums()
            for k, p in self.net.named_parameters():
                p.grad.add_(total[k] * p - weighted[k], alpha=self.config.strength)

    def proximal_step(self, lr: float) -> None:
        if self.config.strength == 0 or not self.terms:
            return
        rate = lr * self.config.strength
        total, weighted = self._sums()
        with torch.no_grad():
            for k, p in self.net.named_parameters():
                p.add_(weighted[k], alpha=rate).div_(total[k] * rate + 1.0)

    def _sums(self) -> tuple[Params, Params]:
        if self._cached is None or self._cached[0] != len(self.terms):
            total = {k: sum(omega[k] for omega, _ in self.terms) for k in self.terms[0][0]}
            weighted = {k: sum(omega[k] * anchor[k] for omega, anchor in self.terms) for k in self.terms[0][0]}
            self._cached = (len(self.terms), total, weighted)
        return self._cached[1], self._cached[2]

    def penalty(self) -> float:
        if not self.terms:
            return 0.0
        with torch.no_grad():
            total = sum(
                float((omega[k] * (p - anchor[k]).pow(2)).sum())
                for omega, anchor in self.terms
                for k, p in self.net.named_parameters()
            )
        return 0.5 * self.config.strength * total

    def _items(self, task: int, generator: torch.Generator) -> tuple[torch.Tensor, torch.Tensor]:
        t = self.stream.tasks[task]
        count = min(self.config.importance_items, t.size("train"))
        return t.batch("train", torch.randperm(t.size("train"), generator=generator)[:count])

    def _classes(self, task: int) -> torch.Tensor | None:
        return self.stream.tasks[task].classes if self.config.task_incremental else None

    def state(self) -> dict[str, torch.Tensor]:
        out = {}
        for i, (omega, anchor) in enumerate(self.terms):
            out |= {f"term{i}.omega.{k}": v for k, v in omega.items()}
            out |= {f"term{i}.anchor.{k}": v for k, v in anchor.items()}
        return out

    def load(self, state: dict[str, torch.Tensor], where: str) -> None:
        shapes = {k: v.shape for k, v in self.net.named_parameters()}
        terms = []
        while any(k.startswith(f"term{len(terms)}.") for k in state):
            i = len(terms)
            pair = []
            for part in ("omega", "anchor"):
                named = {}
                for k, shape in shapes.items():
                    value = state.get(f"term{i}.{part}.{k}")
                    if value is None or value.shape != shape or value.dtype != torch.float32:
                        raise UserError(f"{where}: the method's state term {i} ({part} of {k}) is missing or damaged")
                    named[k] = value.clone()
                pair.append(named)
            terms.append((pair[0], pair[1]))
        self.terms = terms
        self._cached = None


class L2(Quadratic):
    def importance(self, task: int, generator: torch.Generator) -> Params:
        return {k: torch.ones_like(v) for k, v in self.net.named_parameters()}

    def consolidate(self, old: Params, new: Params) -> Params:
        return new  # towards the previous task's weights only, each weight alike


class EWC(Quadratic):
    keeps_every_task = True

    def importance(self, task: int, generator: torch.Generator) -> Params:
        x, y = self._items(task, generator)
        return importance.fisher_diagonal(self.net, x, y, self.config.fisher, self._classes(task), generator)


class OnlineEWC(EWC):
    keeps_every_task = False

    def consolidate(self, old: Params, new: Params) -> Params:
        return {k: self.config.gamma * old[k] + new[k] for k in old}


class MAS(Quadratic):
    def importance(self, task: int, generator: torch.Generator) -> Params:
        x, _ = self._items(task, generator)
        return importance.mas_importance(self.net, x)


class SCP(Quadratic):
    def importance(self, task: int, generator: torch.Generator) -> Params:
        x, _ = self._items(task, generator)
        return importance.scp_importance(self.net, x, self.config.slices, generator)


class SI(Quadratic):
    """Synaptic intelligence: the path integral gathered step by step (see the module docstring)."""

    def __init__(self, config: LifelongConfig, net: nn.Module, stream: TaskStream):
        super().__init__(config, net, stream)
        self.omega = {k: torch.zeros_like(v) for k, v in net.named_parameters()}
        self.start = {k: v.detach().clone() for k, v in net.named_parameters()}
        self._before: Params = {}

    def begin_task(self, task: int) -> None:
        self.omega = {k: torch.zeros_like(v) for k, v in self.net.named_parameters()}
        self.start = {k: v.detach().clone() for k, v in self.net.named_parameters()}

    def before_step(self) -> None:
        # the task loss's gradient, kept for the path integral before the penalty's is added
        self._task_grad = {k: p.grad.detach().clone() for k, p in self.net.named_parameters()}
        self._before = {k: p.detach().clone() for k, p in self.net.named_parameters()}

    def after_step(self) -> None:
        """omega += -g * delta_theta for the step just taken (the penalty's part of it included)."""
        with torch.no_grad():
            for k, p in self.net.named_parameters():
                self.omega[k] -= self._task_grad[k] * (p - self._before[k])

    def importance(self, task: int, generator: torch.Generator) -> Params:
        with torch.no_grad():
            return {
                k: (self.omega[k] / ((p - self.start[k]).pow(2) + self.config.si_damping)).clamp_(min=0)
                for k, p in self.net.named_parameters()
            }

    def state(self) -> dict[str, torch.Tensor]:
        out = super().state()
        out |= {f"omega.{k}": v for k, v in self.omega.items()}
        out |= {f"start.{k}": v for k, v in self.start.items()}
        return out

    def load(self, state: dict[str, torch.Tensor], where: str) -> None:
        super().load(state, where)
        for part in ("omega", "start"):
            named = {}
            for k, p in self.net.named_parameters():
                value = state.get(f"{part}.{k}")
                if value is None or value.shape != p.shape or value.dtype != torch.float32:
                    raise UserError(f"{where}: SI's {part} of {k} is missing or damaged")
                named[k] = value.clone()
            setattr(self, part, named)


_METHODS: dict[str, type[Method]] = {
    "finetune": Method,
    "joint": Joint,
    "replay": Replay,
    "l2": L2,
    "ewc": EWC,
    "online_ewc": OnlineEWC,
    "mas": MAS,
    "si": SI,
    "scp": SCP,
}


def make_method(config: LifelongConfig, net: nn.Module, stream: TaskStream) -> Method:
    return _METHODS[config.method](config, net, stream)
