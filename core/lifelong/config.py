"""The lifelong run configuration: one frozen dataclass whose hash names the run.

Defaults: the course's rotated-MNIST stream (5 tasks at 0, 20, 40, 60, 80 degrees), the papers'
784-400-400-10 MLP, Adam reset at every task. Each method's strength defaults to a value that
reaches the targets in BENCHMARKS.md (`DEFAULT_STRENGTH`); `--strength 0` turns any regulariser
into fine-tuning exactly.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, replace
from typing import Any

from core.data.streams import DATA, DEFAULT_TASKS, MAX_TASKS, STREAMS
from core.errors import UserError
from core.lifelong.files import KIND
from core.options import check_types, config_dict, config_from_dict, option

ENGINE_VERSION = 1
# A method whose training changed after runs of it were stored: its version joins the run hash, so
# its old runs are retrained rather than read back, and every other method's runs stay valid.
# joint 2: an epoch passes over every task seen so far (before: batches of one task's size).
METHOD_VERSIONS = {"joint": 2}

METHODS = {
    "finetune": "no protection: the lower reference",
    "joint": "every epoch passes over every task seen so far: the upper reference",
    "l2": "L2 penalty towards the previous task's weights",
    "ewc": "elastic weight consolidation: one Fisher-weighted penalty per earlier task",
    "online_ewc": "online EWC: one running Fisher, decayed by gamma, around the latest weights",
    "mas": "memory aware synapses: importance from the gradient of the output's squared norm",
    "si": "synaptic intelligence: importance from each weight's share of the loss decrease",
    "scp": "sliced Cramer preservation: importance from random slices of the output distribution",
    "replay": "experience replay from a small buffer of earlier tasks' training items",
}
REGULARISERS = ("l2", "ewc", "online_ewc", "mas", "si", "scp")
# lambda of each regulariser when --strength is left at -1: the best of the strengths tried on
# permuted MNIST, 10 tasks, one seed (BENCHMARKS.md, "lifelong recipe trials").
DEFAULT_STRENGTH = {"l2": 0.1, "ewc": 300.0, "online_ewc": 300.0, "mas": 0.3, "si": 20.0, "scp": 100.0}
SCENARIOS = {
    "task": "task-incremental: a head per task (its two digits), the task known at test",
    "class": "class-incremental: one head over all ten digits",
}
MODELS = {"mlp": "fully connected, hidden x layers (the papers' 400 x 2)", "conv": "two conv layers, then one hidden"}
FISHERS = {
    "sampled": "the true Fisher's estimate: one label drawn from the model's own prediction per item",
    "expected": "the true Fisher exactly: the expectation over the ten classes (about 15x the time)",
    "empirical": "the empirical Fisher: the items' true labels",
}
_FISHER = ("ewc", "online_ewc")
_IMPORTANCE = ("ewc", "online_ewc", "mas", "scp")  # importance measured on items of the task just learned
_STREAM = "stream"
_METHOD = "method"
_NETWORK = "network"
_OPTIMISATION = "optimisation"
_LIMITS = {"hidden": 4096, "layers": 8, "epochs": 1000, "batch_size": 4096, "importance_items": 60_000}
MAX_BUFFER = 60_000
OPTIMIZERS = ("adam", "sgd")


@dataclass(frozen=True)
class LifelongConfig:
    """Everything that determines a lifelong run's numbers (the device does not).

    Each field is an `option` (core.options): its flag, help and group on the command line, and
    the Train view's form key, come from here."""

    stream: str = option("rotated", choices=STREAMS, group=_STREAM)
    # Left out of stored configs at "mnist", so the id of an MNIST run does not depend on the field.
    data: str = option("mnist", "the digits", choices=DATA, absent="mnist", group=_STREAM)
    tasks: int = option(0, "tasks in the stream; 0: rotated 5, permuted 10, split 5", group=_STREAM)
    angle_step: float = option(20.0, "rotated: degrees between one task and the next", group=_STREAM)
    scenario: str = option("task", "split: how a task is told apart at test", choices=SCENARIOS, group=_STREAM)
    method: str = option("ewc", choices=METHODS, group=_METHOD)
    strength: float = option(
        -1.0,
        "lambda, the weight of the penalty; -1: the method's default ("
        + ", ".join(f"{m} {v:g}" for m, v in DEFAULT_STRENGTH.items())
        + ")",
        used_by=REGULARISERS,
        group=_METHOD,
    )
    fisher: str = option("sampled", "EWC's Fisher", choices=FISHERS, used_by=_FISHER, group=_METHOD)
    gamma: float = option(
        1.0, "online EWC: decay of the running Fisher per task", used_by=("online_ewc",), group=_METHOD
    )
    si_damping: float = option(0.1, "SI: damping xi of the importance", used_by=("si",), group=_METHOD)
    slices: int = option(100, "SCP: random slices of the output distribution", used_by=("scp",), group=_METHOD)
    importance_items: int = option(
        1000, "training items of a task its importance is measured on", used_by=_IMPORTANCE, group=_METHOD
    )
    buffer_size: int = option(
        1000, "replay: training items kept, shared equally by the tasks seen", used_by=("replay",), group=_METHOD
    )
    model: str = option("mlp", "the network", choices=MODELS, group=_NETWORK)
    hidden: int = option(400, "units per hidden layer", group=_NETWORK)
    layers: int = option(2, "mlp: hidden layers", group=_NETWORK)
    epochs: int = option(1, "epochs per task", group=_OPTIMISATION)
    batch_size: int = option(128, "items per step (replay adds as many from the buffer)", group=_OPTIMISATION)
    optimizer: str = option(
        "adam", "the optimizer, started afresh at every task", choices=OPTIMIZERS, group=_OPTIMISATION
    )
    lr: float = option(0.001, "learning rate", group=_OPTIMISATION)
    momentum: float = option(0.0, "SGD momentum", absent=0.0, group=_OPTIMISATION)
    seed: int = option(0, "seed for initialisation, batch order and the permutations", group=_OPTIMISATION)

    def __post_init__(self) -> None:
        check_types(self)
        for name, allowed in (
            ("stream", STREAMS),
            ("data", DATA),
            ("method", METHODS),
            ("scenario", SCENARIOS),
            ("model", MODELS),
            ("fisher", FISHERS),
            ("optimizer", OPTIMIZERS),
        ):
            if getattr(self, name) not in allowed:
                raise UserError(f"unknown {name} {getattr(self, name)!r}; expected one of {', '.join(allowed)}")
        if self.tasks == 0:
            object.__setattr__(self, "tasks", DEFAULT_TASKS[self.stream])
        if not 1 <= self.tasks <= MAX_TASKS[self.stream]:
            raise UserError(f"tasks: a {self.stream} stream has 1 to {MAX_TASKS[self.stream]} tasks, got {self.tasks}")
        if self.strength == -1.0:
            object.__setattr__(self, "strength", DEFAULT_STRENGTH.get(self.method, 0.0))
        if self.strength < 0:
            raise UserError(f"strength must be 0 or more (or -1: the method's default), got {self.strength:g}")
        if not -360.0 <= self.angle_step <= 360.0:
            raise UserError(f"angle_step must be from -360 to 360 degrees, got {self.angle_step:g}")
        if not 0.0 < self.gamma <= 1.0:
            raise UserError(f"gamma must be in (0, 1], got {self.gamma:g}")
        if self.si_damping <= 0:
            raise UserError(f"si_damping must be positive, got {self.si_damping:g}")
        if not 1 <= self.slices <= 10_000:
            raise UserError(f"slices must be from 1 to 10,000, got {self.slices}")
        if not 0 <= self.buffer_size <= MAX_BUFFER:
            raise UserError(f"buffer_size must be from 0 to {MAX_BUFFER:,}, got {self.buffer_size}")
        for name, most in _LIMITS.items():
            if not 1 <= getattr(self, name) <= most:
                raise UserError(f"{name} must be from 1 to {most:,}, got {getattr(self, name)}")
        if not 0.0 <= self.momentum < 1.0:
            raise UserError(f"momentum must be in [0, 1), got {self.momentum:g}")
        if not 0.0 < self.lr <= 10.0:
            raise UserError(f"lr must be in (0, 10], got {self.lr:g}")
        if not 0 <= self.seed < 2**63:
            raise UserError(f"seed must be from 0 to 2**63 - 1, got {self.seed}")

    @property
    def class_incremental(self) -> bool:
        return self.stream == "split" and self.scenario == "class"

    @property
    def task_incremental(self) -> bool:
        return self.stream == "split" and self.scenario == "task"

    @property
    def epochs_planned(self) -> int:
        return self.tasks * self.epochs

    def with_method(self, method: str, strength: float = -1.0) -> LifelongConfig:
        """The same stream, network and optimisation with another method (Compare's runs)."""
        return replace(self, method=method, strength=strength)

    def to_dict(self) -> dict[str, Any]:
        """The settings that matter for this stream and method (the hash is taken over exactly these)."""
        d = config_dict(self, selector="method")
        if self.stream != "rotated":
            d.pop("angle_step")
        if self.stream != "split":
            d.pop("scenario")
        if self.model != "mlp":
            d.pop("layers")
        if self.optimizer != "sgd":
            d.pop("momentum", None)
        return d

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> LifelongConfig:
        """Inverse of to_dict; unknown keys are an error (a run from another version or tool)."""
        return config_from_dict(cls, d, "lifelong")

    def run_id(self) -> str:
        """`lifelong-` + 12 hex digits of a hash over the canonical settings and the engine version."""
        payload: dict[str, Any] = {"config": self.to_dict(), "engine": ENGINE_VERSION}
        if self.method in METHOD_VERSIONS:
            payload["method_version"] = METHOD_VERSIONS[self.method]
        blob = json.dumps(payload, sort_keys=True)
        return f"{KIND}-{hashlib.sha256(blob.encode()).hexdigest()[:12]}"
