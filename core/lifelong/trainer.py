"""The lifelong trainer: tasks one after another, every task's test accuracy after every epoch.

One epoch is one pass over the current task's training split in batches of `batch_size` (replay
adds its buffer's items to every step; an epoch of joint passes over every task seen so far).
Adam starts afresh at every task, as in van de Ven et al.'s reference code: its moments from the
last task would carry that task's gradient scale into the next. The epochs of the whole stream
are numbered 1, 2, ... (epoch 0 is the untrained network, whose accuracies forward transfer is
measured against), so the run store, resume and the job's progress treat a stream like any other
run.

After the last epoch of a task the method takes its measure of that task (importance, buffer)
and the trainer records what the Explore view draws: each layer's importance summary, the first
layer's importance as a picture of the input, and how far each layer moved while learning it.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch
import torch.nn.functional as F

from core import resume
from core.data.streams import TaskStream, load_stream
from core.device import pick_device, seed_everything
from core.errors import UserError
from core.lifelong.config import LifelongConfig
from core.lifelong.methods import Method, make_method
from core.models.lifelong_nets import first_layer, input_picture, lifelong_net
from core.runs import TrainingDiverged

StepCallback = Callable[[int, int], None]
EVAL_BATCH = 2000


@dataclass(frozen=True)
class TaskRecord:
    """What learning one task did to the network (stored in tasks.json and importance.safetensors)."""

    task: int  # 1-based
    layers: list[dict[str, Any]]  # per weight: name, size, drift, relative_drift, importance mean/max
    picture: torch.Tensor | None  # the first layer's importance over the input; None without importance

    def to_dict(self) -> dict[str, Any]:
        return {"task": self.task, "layers": self.layers, "has_importance": self.picture is not None}


@dataclass(frozen=True)
class EpochResult:
    epoch: int  # over the whole stream; 0: untrained
    metrics: dict[str, Any]
    record: TaskRecord | None = None  # set on a task's last epoch
    extra: dict[str, Any] = field(default_factory=dict)


class LifelongTrainer:
    def __init__(
        self,
        config: LifelongConfig,
        *,
        device: torch.device | str = "cpu",
        stream: TaskStream | None = None,
        on_step: StepCallback | None = None,
        download: bool = True,
    ):
        self.config = config
        # "auto" is the CPU here: a step of these networks is a millisecond on a CPU, less than a
        # GPU's launch and copy overhead per step would cost.
        self.device = pick_device("cpu" if device == "auto" else device) if isinstance(device, str) else device
        if self.device.type != "cpu":
            raise UserError("the lifelong engine trains on the CPU (its networks are small); use --device cpu")
        self.stream = stream or load_stream(
            config.stream,
            config.tasks,
            angle_step=config.angle_step,
            seed=config.seed,
            data=config.data,
            download=download,
        )
        if len(self.stream) != config.tasks:
            raise UserError(f"the stream has {len(self.stream)} tasks, the config {config.tasks}")
        self.on_step = on_step
        self.generator = seed_everything(config.seed)
        self.net = lifelong_net(config.model, config.hidden, config.layers)
        self.method: Method = make_method(config, self.net, self.stream)
        self.optimizer = self._optimizer()
        self.previous = {k: v.detach().clone() for k, v in self.net.named_parameters()}
        sizes = [self.method.epoch_size(t) for t in range(len(self.stream))]
        self.steps_per_task = [-(-n // config.batch_size) * config.epochs for n in sizes]
        self.total_steps = sum(self.steps_per_task)

    def _optimizer(self) -> torch.optim.Optimizer:
        if self.config.optimizer == "sgd":
            return torch.optim.SGD(self.net.parameters(), lr=self.config.lr, momentum=self.config.momentum)
        return torch.optim.Adam(self.net.parameters(), lr=self.config.lr)

    def _head(self, task: int, logits: torch.Tensor) -> torch.Tensor:
        """The logits `task` is scored on: its own classes when the task is known at test."""
        return logits[:, self.stream.tasks[task].classes] if self.config.task_incremental else logits

    def _logits(self, task: int, x: torch.Tensor) -> torch.Tensor:
        return self._head(task, self.net(x))

    def _targets(self, task: int, y: torch.Tensor) -> torch.Tensor:
        return torch.searchsorted(self.stream.tasks[task].classes, y) if self.config.task_incremental else y

    @torch.no_grad()
    def evaluate(self) -> dict[str, float]:
        """acc_j and loss_j on every task's test split (1-based j)."""
        self.net.eval()
        out = {}
        for j, task in enumerate(self.stream.tasks):
            correct, loss, n = 0, 0.0, task.size("test")
            for i in range(0, n, EVAL_BATCH):
                x, y = task.batch("test", torch.arange(i, min(i + EVAL_BATCH, n)))
                logits, target = self._logits(j, x), self._targets(j, y)
                correct += int((logits.argmax(1) == target).sum())
                loss += float(F.cross_entropy(logits, target, reduction="sum"))
            out[f"acc_{j + 1}"] = correct / n
            out[f"loss_{j + 1}"] = loss / n
        self.net.train()
        return out

    def _step(self, task: int, rows: torch.Tensor) -> float:
        parts = self.method.parts(task, rows, self.generator)
        self.optimizer.zero_grad(set_to_none=False)
        batches = [self.stream.tasks[t].batch("train", pos) for t, pos in parts]
        # one forward pass over every part (joint's and replay's batches hold several tasks), then
        # each part's loss through its own task's head
        out = self.net(torch.cat([x for x, _ in batches]))
        loss, start = out.new_zeros(()), 0
        for (t, _), (x, y) in zip(parts, batches, strict=True):
            logits = self._head(t, out[start : start + len(x)])
            start += len(x)
            loss = loss + F.cross_entropy(logits, self._targets(t, y), reduction="sum")
        loss = loss / start
        loss.backward()
        loss_value = float(loss.detach())
        self.method.before_step()
        if self.config.optimizer == "sgd":
            self.optimizer.step()
            self.method.proximal_step(self.config.lr)
        else:
            self.method.add_penalty_grad()
            self.optimizer.step()
        self.method.after_step()
        return loss_value

    def _train_epoch(self, task: int, step0: int) -> tuple[float, int]:
        order = self.method.epoch_order(task, self.generator)
        losses, bad = [], 0
        for i, start in enumerate(range(0, len(order), self.config.batch_size)):
            value = self._step(task, order[start : start + self.config.batch_size])
            if not torch.isfinite(torch.tensor(value)) and not bad:
                bad = i + 1
            losses.append(value)
            if self.on_step is not None:
                self.on_step(step0 + i + 1, self.total_steps)
        return sum(losses) / len(losses), bad

    def _record(self, task: int, omega: dict[str, torch.Tensor] | None) -> TaskRecord:
        layers = []
        with torch.no_grad():
            for k, p in self.net.named_parameters():
                if not k.endswith("weight"):
                    continue
                before = self.previous[k]
                drift = float((p - before).norm())
                entry = {
                    "name": k.removesuffix(".weight"),
                    "size": p.numel(),
                    "drift": drift,
                    "relative_drift": drift / max(float(before.norm()), 1e-12),
                }
                if omega is not None:
                    entry |= {"importance_mean": float(omega[k].mean()), "importance_max": float(omega[k].max())}
                layers.append(entry)
            picture = input_picture(self.net, omega[first_layer(self.net)]).clone() if omega is not None else None
            self.previous = {k: v.detach().clone() for k, v in self.net.named_parameters()}
        return TaskRecord(task + 1, layers, picture)

    def epochs(self, start: int = 0) -> Iterator[EpochResult]:
        """Epoch 0 (untrained), then one result per finished epoch of every task; with `start`
        (after `restore`), the epochs after it."""
        cfg = self.config
        if start == 0:
            t0 = time.perf_counter()
            yield EpochResult(0, {"epoch": 0, "task": 0, **self.evaluate(), "seconds": time.perf_counter() - t0})
        for epoch in range(start, cfg.epochs_planned):
            task, task_epoch = divmod(epoch, cfg.epochs)
            if task_epoch == 0:
                self.optimizer = self._optimizer()
                self.method.begin_task(task)
            t0 = time.perf_counter()
            step0 = sum(self.steps_per_task[:task]) + task_epoch * (self.steps_per_task[task] // cfg.epochs)
            train_loss, bad = self._train_epoch(task, step0)
            _check_finite(self.net, bad, epoch + 1)
            penalty = self.method.penalty()  # before a task's end moves the anchors to these weights
            record = None
            if task_epoch == cfg.epochs - 1:
                omega = self.method.end_task(task, self._measure_generator(task))
                record = self._record(task, omega)
            metrics = {
                "epoch": epoch + 1,
                "task": task + 1,
                "task_epoch": task_epoch + 1,
                "train_loss": train_loss,
                "penalty": penalty,
                **self.evaluate(),
                "seconds": time.perf_counter() - t0,
            }
            yield EpochResult(epoch + 1, metrics, record)

    def _measure_generator(self, task: int) -> torch.Generator:
        """The draws a method makes when a task ends (items to measure importance on, buffer
        items) come from a generator of their own, so they never shift the batch order: at
        strength 0 every regulariser trains on exactly fine-tuning's batches."""
        return torch.Generator().manual_seed((self.config.seed * 1_000_003 + 7_919 * (task + 1)) % 2**63)

    def _resumable(self) -> tuple[dict[str, dict[str, torch.Tensor]], dict[str, torch.Generator]]:
        return {"model": self.net.state_dict(), "previous": self.previous}, {"batches": self.generator}

    def resume_state(self, epoch: int, row: dict) -> tuple[dict[str, torch.Tensor], dict[str, str]]:
        """What continuing after `epoch` needs (core.resume): network, the previous task's weights,
        the method's state, optimizer, generators."""
        tensors, generators = self._resumable()
        tensors = {**tensors, "method": self.method.state()}
        return resume.pack(epoch, row, tensors, self.optimizer, generators)

    def restore(self, state: resume.ResumeState, path: Path) -> None:
        """Take up the state stored after an epoch; `epochs(start=state.epoch)` then goes on."""
        method = {k.removeprefix("method."): v for k, v in state.tensors.items() if k.startswith("method.")}
        self.method.load(method, str(path))
        tensors, generators = self._resumable()
        resume.restore(state, path, tensors, self.optimizer, generators)


def _check_finite(net: torch.nn.Module, first_bad_step: int, epoch: int) -> None:
    if first_bad_step > 0:
        raise TrainingDiverged(
            f"training diverged at epoch {epoch}, step {first_bad_step}: the loss is not finite "
            "(lower --lr or --strength)"
        )
    if not all(bool(torch.isfinite(v).all()) for v in net.state_dict().values()):
        raise TrainingDiverged(f"training diverged in epoch {epoch}: the network's weights are not finite")
