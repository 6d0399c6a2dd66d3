"""The few-shot run configuration: one frozen dataclass whose hash names the run.

Defaults are the MAML paper's 5-way 1-shot Omniglot recipe (Finn et al. 2017, section 5.1 and
appendix A.1): meta-batch 32, one inner SGD step of 0.4 during meta-training and three at test,
Adam with meta learning rate 0.001, 60,000 meta-steps, rotated characters as extra classes.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from typing import Any

from core.data.fewshot import FEWSHOT_DATA
from core.errors import UserError
from core.fewshot.files import HEAD_INITS, KIND, LEGACY_KIND, SOLVERS
from core.options import check_types, config_dict, config_from_dict, option

# Bumped whenever training changes in a way that makes stored runs of an equal config differ.
ENGINE_VERSION = 1

# Test-time adaptation when the config leaves it at 0. MAML and FO-MAML take as many steps, as
# large, as in meta-training: with a zero head the first step moves the head alone, and steps
# beyond the trained ones move the body in ways it was never trained for (after 80 meta-steps on
# Omniglot, validation fell from 0.86 at one step to 0.55 at three). The paper's protocol (1 step
# in training, 3 at test) is one flag away: --test-steps 3. The transfer baseline trains a fresh
# linear head on the support features (logistic regression; cheap, so many steps). ProtoNet
# takes no steps.
DEFAULT_TRANSFER_TEST_STEPS = 100
DEFAULT_TRANSFER_TEST_LR = 0.5

# Which solvers read a setting: to_dict drops it for the others, so it never changes their ids.
_TASKS = ("maml", "fomaml", "protonet")  # trained on tasks (episodes)
_INNER = ("maml", "fomaml")  # take inner SGD steps in training
_ADAPT = ("maml", "fomaml", "transfer")  # take steps at test
# Upper bounds, so that a typo cannot ask for memory or time no machine has.
_LIMITS = {
    "ways": 100,
    "shots": 50,
    "queries": 50,
    "meta_batch": 1024,
    "inner_steps": 100,
    "test_steps": 1000,
    "epochs": 10_000,
    "steps_per_epoch": 100_000,
    "batch_size": 4096,
    "val_characters": 10_000,
    "val_episodes": 100_000,
}
_SOLVER = "solver and data"
_OPTIMISATION = "optimisation"


@dataclass(frozen=True)
class FewShotConfig:
    """Everything that determines a few-shot run's numbers (the device and the way the meta-batch
    is computed do not: see core.fewshot.solvers.batch_plan). Each field is an `option`
    (core.options): its flag, help and group on the command line come from here."""

    solver: str = option("maml", choices=SOLVERS, group=_SOLVER)
    data: str = option("omniglot", choices=FEWSHOT_DATA, group=_SOLVER)
    ways: int = option(5, "classes per training task and validation episode", group=_SOLVER)
    shots: int = option(1, "support drawings per class", group=_SOLVER)
    # the MAML code: as many queries as shots
    queries: int = option(1, "query drawings per class in a training task", used_by=_TASKS, group=_SOLVER)
    meta_batch: int = option(32, "tasks per meta-step (the paper's 32)", used_by=_TASKS, group=_OPTIMISATION)
    inner_steps: int = option(
        1, "inner SGD steps during meta-training (the paper's, 5-way)", used_by=_INNER, group=_OPTIMISATION
    )
    inner_lr: float = option(
        0.4, "inner SGD step size (the paper's, 5-way Omniglot)", used_by=_INNER, group=_OPTIMISATION
    )
    test_steps: int = option(
        0,
        "inner steps at validation and test; 0: as in training (transfer: 100 head steps)",
        used_by=_ADAPT,
        group=_OPTIMISATION,
    )
    test_lr: float = option(0.0, "their step size; 0: --inner-lr (transfer: 0.5)", used_by=_ADAPT, group=_OPTIMISATION)
    meta_lr: float = option(
        0.001, "Adam learning rate of the meta-parameters (or the transfer network)", group=_OPTIMISATION
    )
    epochs: int = option(
        120, "epochs, each followed by a validation (120 x 500 = the paper's 60,000 meta-steps)", group=_OPTIMISATION
    )
    steps_per_epoch: int = option(500, "meta-steps (transfer: batches) per epoch", group=_OPTIMISATION)
    rotations: bool = option(
        True,
        "do not use rotated characters (90/180/270 degrees) as extra training classes",
        flag="--no-rotations",
        group=_SOLVER,
    )
    task_aug: float = option(
        0.0,
        "probability of rotating a whole training task by 90 or 270 degrees (the course's)",
        used_by=_TASKS,
        group=_SOLVER,
    )
    head_init: str = option(
        "zero",
        "zero: every task starts from a zero head (any number of ways); learned: the MAML paper's; "
        "proto: from the support set's class means (Proto-MAML, Triantafillou et al. 2020), which keeps "
        "first-order MAML's gradient through the support features",
        choices=HEAD_INITS,
        used_by=_INNER,
        group=_SOLVER,
    )
    batch_size: int = option(128, "transfer: images per optimizer step", used_by=("transfer",), group=_OPTIMISATION)
    val_characters: int = option(
        100, "background characters held out for validation (0: no validation)", group=_OPTIMISATION
    )
    # the same episodes every epoch
    val_episodes: int = option(200, "validation episodes per epoch", group=_OPTIMISATION)
    seed: int = option(0, "seed for initialisation and task sampling", group=_OPTIMISATION)

    def __post_init__(self) -> None:
        check_types(self)  # floats finite (an int becomes a float: 1 and 1.0 name the same run)
        if self.solver not in SOLVERS:
            raise UserError(f"unknown solver {self.solver!r}; expected one of {', '.join(SOLVERS)}")
        if self.data not in FEWSHOT_DATA:
            raise UserError(f"unknown data {self.data!r}; expected one of {', '.join(FEWSHOT_DATA)}")
        if self.head_init not in HEAD_INITS:
            raise UserError(f"unknown head_init {self.head_init!r}; expected one of {', '.join(HEAD_INITS)}")
        if self.head_init != "zero" and self.solver in ("transfer", "protonet"):
            raise UserError(f"head_init {self.head_init!r} is for MAML; {self.solver} never adapts a head by MAML")
        for name in ("ways", "shots", "meta_batch", "epochs", "steps_per_epoch", "batch_size", "val_episodes"):
            if getattr(self, name) < 1:
                raise UserError(f"{name} must be at least 1, got {getattr(self, name)}")
        if self.ways < 2:
            raise UserError(f"ways must be at least 2 (one class is no classification), got {self.ways}")
        for name in ("queries", "inner_steps", "test_steps", "val_characters"):
            if getattr(self, name) < 0:
                raise UserError(f"{name} must be 0 or more, got {getattr(self, name)}")
        if self.solver in ("maml", "fomaml", "protonet") and self.queries < 1:
            raise UserError(f"{self.solver} learns from query drawings: queries must be at least 1")
        if self.solver in ("maml", "fomaml") and self.inner_steps < 1:
            raise UserError(f"{self.solver} needs at least one inner step, got {self.inner_steps}")
        for name in ("inner_lr", "test_lr", "meta_lr"):
            if not 0 <= getattr(self, name) < 100:
                raise UserError(f"{name} must be a non-negative rate below 100, got {getattr(self, name)}")
        if self.meta_lr == 0:
            raise UserError("meta_lr must be positive")
        if not 0.0 <= self.task_aug <= 1.0:
            raise UserError(f"task_aug is a probability in [0, 1], got {self.task_aug}")
        for name, most in _LIMITS.items():
            if getattr(self, name) > most:
                raise UserError(f"{name} must be at most {most:,}, got {getattr(self, name):,}")
        if not 0 <= self.seed < 2**63:
            raise UserError(f"seed must be from 0 to 2**63 - 1, got {self.seed}")

    @property
    def meta_learning(self) -> bool:
        """Whether training runs on tasks (all but the transfer baseline, which trains on batches)."""
        return self.solver != "transfer"

    @property
    def eval_steps(self) -> int:
        """Inner steps at test and validation: test_steps, else the solver's default."""
        if self.solver == "protonet":
            return 0
        if self.test_steps:
            return self.test_steps
        return DEFAULT_TRANSFER_TEST_STEPS if self.solver == "transfer" else self.inner_steps

    @property
    def eval_lr(self) -> float:
        """Inner step size at test and validation: test_lr, else inner_lr (MAML) or the transfer default."""
        if self.test_lr:
            return self.test_lr
        return DEFAULT_TRANSFER_TEST_LR if self.solver == "transfer" else self.inner_lr

    def to_dict(self) -> dict[str, Any]:
        """The settings this solver reads (the hash is taken over exactly these)."""
        return config_dict(self, selector="solver")

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> FewShotConfig:
        """Inverse of to_dict; unknown keys are an error (a run from another version or tool)."""
        return config_from_dict(cls, d, "few-shot")

    def _hash(self) -> str:
        canonical = json.dumps({"engine": ENGINE_VERSION, **self.to_dict()}, sort_keys=True)
        return hashlib.sha256(canonical.encode()).hexdigest()[:12]

    def run_id(self) -> str:
        """`fewshot-` + 12 hex digits of a hash over the canonical settings and the engine version."""
        return f"{KIND}-{self._hash()}"

    def legacy_run_id(self) -> str:
        """The id a store written before the engine's rename gave this config (the same hash)."""
        return f"{LEGACY_KIND}-{self._hash()}"
