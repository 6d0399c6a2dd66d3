"""The lambda and learning-rate schedules of a DANN run, as pure functions of training progress.

Progress p runs from 0 at the first step to 1 at the last; every schedule clamps p into [0, 1].
Both schedules are frozen configs: `to_dict` returns only the fields the chosen kind reads, so a
run's id (a hash over its config) does not change when a field that has no effect does.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping
from dataclasses import dataclass, fields
from functools import lru_cache
from numbers import Real
from types import MappingProxyType
from typing import Any

from core.dann.expression import VALIDATION_GRID, Expression, parse_expression
from core.errors import UserError
from core.options import config_from_dict, option

SCHEDULE_KINDS: Mapping[str, str] = MappingProxyType(
    {
        "constant": "lambda = value throughout training",
        "dann": "value * (2/(1+exp(-gamma*p)) - 1): the DANN paper's ramp from 0 up to value",
        "log": "value * ln(1.02 + 1.7*p): from about 0.02 to about 1 (the course's strong baseline)",
        "linear": "from start at p=0 to value at p=ramp_end, then value",
        "step": "start before p=step_at, value from there on",
        "expr": "a formula in p typed by you, e.g. 2/(1+exp(-10*p))-1",
    }
)

# The largest |lambda| a schedule may reach: the DANN paper's goes to 1; far beyond, the reversed
# gradient swamps the class loss and the run diverges.
LAMBDA_LIMIT = 100.0

# The fields each kind reads: exactly what to_dict keeps and what validation checks.
_KIND_FIELDS: Mapping[str, tuple[str, ...]] = MappingProxyType(
    {
        "constant": ("value",),
        "dann": ("value", "gamma"),
        "log": ("value",),
        "linear": ("value", "start", "ramp_end"),
        "step": ("value", "start", "step_at"),
        "expr": ("expr",),
    }
)


def _progress(p: float) -> float:
    # A NaN progress is a bug in the caller, not something a user can fix.
    x = float(p)
    if math.isnan(x):
        raise ValueError("training progress p is NaN")
    return min(max(x, 0.0), 1.0)


def _number(owner: str, name: str, value: Any) -> float:
    """`value` as a finite float; ints become floats so that 1 and 1.0 hash to the same run."""
    if isinstance(value, bool) or not isinstance(value, Real):
        raise UserError(f"{owner}.{name} must be a number, got {value!r}")
    number = float(value)
    if not math.isfinite(number):
        raise UserError(f"{owner}.{name} must be finite, got {number}")
    return number


@lru_cache(maxsize=64)
def _parsed(text: str) -> Expression:
    # Schedules are called once per training step; parse (and validate) each text only once.
    return parse_expression(text)


@dataclass(frozen=True)
class LambdaSchedule:
    """lambda(p), the weight of the reversed domain gradient, as a function of progress p."""

    kind: str = option("dann", key="schedule", choices=SCHEDULE_KINDS)
    value: float = option(1.0, "constant: lambda; dann/log: scale; linear/step: final value", key="lambda_value")
    gamma: float = option(10.0, "dann: steepness gamma (10 in the paper)")
    start: float = option(0.0, "linear/step: value at the start", key="lambda_start")
    ramp_end: float = option(1.0, "linear: p where the ramp ends and lambda stays, in (0, 1]")
    step_at: float = option(0.5, "step: p where lambda jumps, in [0, 1]")
    expr: str = option(
        "",
        'expr: an expression in p, e.g. "2/(1+exp(-10*p))-1" (numbers, p, pi, e, + - * / **, '
        "exp, log, sqrt, sin, cos, tanh, sigmoid, abs, min, max, clip)",
    )

    def __post_init__(self) -> None:
        if not isinstance(self.kind, str) or self.kind not in SCHEDULE_KINDS:
            raise UserError(f"unknown lambda schedule kind {self.kind!r}; expected one of {', '.join(SCHEDULE_KINDS)}")
        # Only the fields this kind reads are checked: a UI keeps every widget's value while the
        # user switches kinds, and a half-typed formula must not block a "dann" run it never
        # affects (nor can it change the run's id, since to_dict leaves it out).
        used = _KIND_FIELDS[self.kind]
        for name in used:
            if name != "expr":
                object.__setattr__(self, name, _number("LambdaSchedule", name, getattr(self, name)))
        if "gamma" in used and self.gamma <= 0.0:
            raise UserError(f"LambdaSchedule.gamma must be positive, got {self.gamma:g}")
        if "ramp_end" in used and not 0.0 < self.ramp_end <= 1.0:
            raise UserError(f"LambdaSchedule.ramp_end must be in (0, 1], got {self.ramp_end:g}")
        if "step_at" in used and not 0.0 <= self.step_at <= 1.0:
            raise UserError(f"LambdaSchedule.step_at must be in [0, 1], got {self.step_at:g}")
        if self.kind == "expr":
            # Parsed now so that a bad formula is reported when the config is made, not mid-run;
            # the stripped text is canonical, so " p" and "p" name the same run.
            if not isinstance(self.expr, str):
                raise UserError(f"LambdaSchedule.expr must be text, got {type(self.expr).__name__}")
            try:
                expression = _parsed(self.expr)
            except UserError as err:
                raise UserError(f"LambdaSchedule.expr: {err}") from None
            object.__setattr__(self, "expr", expression.text)
        self.check_steps(len(VALIDATION_GRID) - 1)

    def check_steps(self, total: int) -> None:
        """UserError unless lambda is finite and within LAMBDA_LIMIT at each of `total` steps'
        progress 0, 1/total, ..., 1: a run checks its own steps before it starts (an expression can
        be singular between the points checked when it was typed)."""
        for step in range(total + 1):
            p = step / total if total else 0.0
            where = f"at p = {p:g} (step {step} of {total})"
            try:
                value = self(p)
            except UserError as err:
                raise UserError(f"{err}: λ(p) is undefined {where}") from None
            if not math.isfinite(value) or abs(value) > LAMBDA_LIMIT:
                raise UserError(f"λ(p) = {value:g} {where}; keep |λ| at most {LAMBDA_LIMIT:g} (the paper's goes to 1)")

    def __call__(self, p: float) -> float:
        p = _progress(p)
        if self.kind == "constant":
            return self.value
        if self.kind == "dann":
            return self.value * (2.0 / (1.0 + math.exp(-self.gamma * p)) - 1.0)
        if self.kind == "log":
            return self.value * math.log(1.02 + 1.7 * p)
        if self.kind == "linear":
            t = min(p / self.ramp_end, 1.0)
            # Written as a blend so that both ends are exact: start at t=0, value at t=1.
            return (1.0 - t) * self.start + t * self.value
        if self.kind == "step":
            return self.start if p < self.step_at else self.value
        return _parsed(self.expr)(p)

    def to_dict(self) -> dict[str, Any]:
        """kind plus the fields this kind reads; the run id is hashed over exactly this."""
        return {"kind": self.kind, **{name: getattr(self, name) for name in _KIND_FIELDS[self.kind]}}

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> LambdaSchedule:
        """Inverse of to_dict; unknown keys are a UserError (a config from another version)."""
        return config_from_dict(cls, d, cls.__name__)

    def describe(self) -> str:
        """A one-line formula for the UI and the CLI, e.g. λ(p) = 2/(1+exp(−10p)) − 1."""
        v = self.value
        if self.kind == "constant":
            return f"λ(p) = {v:g}"
        if self.kind == "dann":
            ramp = f"2/(1+exp(−{self.gamma:g}p)) − 1"
            return f"λ(p) = {ramp}" if v == 1.0 else f"λ(p) = {v:g}·({ramp})"
        if self.kind == "log":
            return "λ(p) = ln(1.02 + 1.7p)" if v == 1.0 else f"λ(p) = {v:g}·ln(1.02 + 1.7p)"
        if self.kind == "linear":
            then = f", then {v:g}" if self.ramp_end < 1.0 else ""
            return f"λ(p) = linear from {self.start:g} at p = 0 to {v:g} at p = {self.ramp_end:g}{then}"
        if self.kind == "step":
            return f"λ(p) = {self.start:g} for p < {self.step_at:g}, then {v:g}"
        return f"λ(p) = {self.expr}"


@dataclass(frozen=True)
class LrSchedule:
    """The DANN paper's learning-rate annealing, lr0 / (1 + alpha p)^beta."""

    lr0: float = option(0.01, "initial learning rate mu0 (0.01 in the paper)", key="lr")
    alpha: float = option(10.0, "lr annealing mu0/(1+alpha p)^beta; 0: constant", key="lr_alpha")
    beta: float = option(0.75, "lr annealing exponent beta; at p=1 the rate is lr0 / (1 + alpha)^beta", key="lr_beta")

    def __post_init__(self) -> None:
        for f in fields(self):
            object.__setattr__(self, f.name, _number("LrSchedule", f.name, getattr(self, f.name)))
        if self.lr0 <= 0.0:
            raise UserError(f"LrSchedule.lr0 must be positive, got {self.lr0:g}")
        if self.alpha < 0.0:
            raise UserError(f"LrSchedule.alpha must be 0 (constant) or positive, got {self.alpha:g}")
        if self.beta < 0.0:
            raise UserError(f"LrSchedule.beta must be 0 or positive, got {self.beta:g}")

    def __call__(self, p: float) -> float:
        return self.lr0 / (1.0 + self.alpha * _progress(p)) ** self.beta

    def to_dict(self) -> dict[str, Any]:
        """lr0 and alpha, plus beta unless alpha is 0 (then beta has no effect on the rate)."""
        d = {"lr0": self.lr0, "alpha": self.alpha}
        if self.alpha != 0.0:
            d["beta"] = self.beta
        return d

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> LrSchedule:
        """Inverse of to_dict; unknown keys are a UserError (a config from another version)."""
        return config_from_dict(cls, d, cls.__name__)

    def describe(self) -> str:
        """A one-line formula for the UI and the CLI, e.g. lr(p) = 0.01/(1 + 10p)^0.75."""
        if self.alpha == 0.0:
            return f"lr(p) = {self.lr0:g} (constant)"
        return f"lr(p) = {self.lr0:g}/(1 + {self.alpha:g}p)^{self.beta:g}"


def lr_at(p: float, lr0: float, alpha: float = 10.0, beta: float = 0.75) -> float:
    """The DANN paper's annealed learning rate mu0 / (1 + alpha p)^beta at progress p."""
    return LrSchedule(lr0, alpha, beta)(p)


def sample(schedule: Callable[[float], float], n: int = 101) -> tuple[list[float], list[float]]:
    """(ps, values) on n evenly spaced points of [0, 1], for plotting any schedule.

    Values come from calling the schedule itself rather than from a separate array formula, so
    the plotted curve is exactly what training uses.
    """
    if n < 2:
        raise ValueError(f"sample needs at least 2 points to span [0, 1], got n={n}")
    ps = [i / (n - 1) for i in range(n)]
    return ps, [schedule(p) for p in ps]
