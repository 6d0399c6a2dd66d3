"""Lambda and learning-rate schedules, checked at the start, middle and end of training."""

from __future__ import annotations

import json
import math
import pickle

import pytest

from core.dann.expression import parse_expression
from core.dann.schedules import SCHEDULE_KINDS, LambdaSchedule, LrSchedule, lr_at, sample
from core.errors import UserError

DANN_AT_1 = 2 / (1 + math.exp(-10)) - 1


def test_dann_edges() -> None:
    schedule = LambdaSchedule()  # the default is the paper's schedule
    assert schedule(0.0) == 0.0
    assert schedule(0.5) == pytest.approx(2 / (1 + math.exp(-5)) - 1, rel=1e-15)
    assert schedule(0.5) == pytest.approx(math.tanh(2.5), rel=1e-12)
    assert schedule(1.0) == pytest.approx(DANN_AT_1, rel=1e-15)
    assert schedule(1.0) == pytest.approx(0.9999092, abs=1e-7)


def test_dann_scale_and_gamma() -> None:
    schedule = LambdaSchedule(kind="dann", value=0.5, gamma=2.0)
    assert schedule(0.0) == 0.0
    assert schedule(0.5) == pytest.approx(0.5 * (2 / (1 + math.exp(-1)) - 1), rel=1e-15)
    assert schedule(1.0) == pytest.approx(0.5 * (2 / (1 + math.exp(-2)) - 1), rel=1e-15)


def test_log_edges() -> None:
    schedule = LambdaSchedule(kind="log")
    assert schedule(0.0) == pytest.approx(math.log(1.02), rel=1e-15)
    assert schedule(0.5) == pytest.approx(math.log(1.87), rel=1e-15)
    assert schedule(1.0) == pytest.approx(math.log(2.72), rel=1e-15)
    assert LambdaSchedule(kind="log", value=2.0)(1.0) == pytest.approx(2 * math.log(2.72), rel=1e-15)


def test_constant() -> None:
    schedule = LambdaSchedule(kind="constant", value=0.3)
    assert [schedule(p) for p in (0.0, 0.5, 1.0)] == [0.3, 0.3, 0.3]


def test_linear_edges() -> None:
    schedule = LambdaSchedule(kind="linear", start=0.2, value=1.0, ramp_end=0.5)
    assert schedule(0.0) == 0.2
    assert schedule(0.25) == pytest.approx(0.6, rel=1e-15)
    assert schedule(0.5) == 1.0
    assert schedule(0.75) == 1.0
    assert schedule(1.0) == 1.0


def test_linear_down_over_the_whole_run() -> None:
    schedule = LambdaSchedule(kind="linear", start=1.0, value=0.1)
    assert schedule(0.0) == 1.0
    assert schedule(0.5) == pytest.approx(0.55, rel=1e-15)
    assert schedule(1.0) == 0.1


def test_step_edges() -> None:
    schedule = LambdaSchedule(kind="step", start=0.1, value=1.0, step_at=0.5)
    assert schedule(0.0) == 0.1
    assert schedule(0.4999) == 0.1
    assert schedule(0.5) == 1.0  # at step_at the new value already holds
    assert schedule(1.0) == 1.0


@pytest.mark.parametrize("step_at, at_0, at_1", [(0.0, 1.0, 1.0), (1.0, 0.0, 1.0)])
def test_step_at_the_ends(step_at: float, at_0: float, at_1: float) -> None:
    schedule = LambdaSchedule(kind="step", step_at=step_at)
    assert (schedule(0.0), schedule(1.0)) == (at_0, at_1)


def test_expr_kind_equals_the_dann_kind_everywhere() -> None:
    typed = LambdaSchedule(kind="expr", expr="2/(1+exp(-10*p))-1")
    ps, values = sample(typed, 1001)
    assert values == sample(LambdaSchedule(kind="dann"), 1001)[1]
    assert values[0] == 0.0 and values[-1] == pytest.approx(DANN_AT_1, rel=1e-15)


@pytest.mark.parametrize("kind", list(SCHEDULE_KINDS))
def test_progress_is_clamped(kind: str) -> None:
    schedule = LambdaSchedule(kind=kind, start=0.2, expr="1 + p")
    assert schedule(-1.0) == schedule(0.0)
    assert schedule(2.0) == schedule(1.0)
    assert type(schedule(0.5)) is float


def test_nan_progress_is_a_bug_not_a_user_error() -> None:
    with pytest.raises(ValueError):
        LambdaSchedule()(math.nan)


@pytest.mark.parametrize(
    "schedule, expected",
    [
        (LambdaSchedule(kind="constant", value=0.3), {"kind": "constant", "value": 0.3}),
        (LambdaSchedule(), {"kind": "dann", "value": 1.0, "gamma": 10.0}),
        (LambdaSchedule(kind="log", value=2.0), {"kind": "log", "value": 2.0}),
        (
            LambdaSchedule(kind="linear", start=0.1, ramp_end=0.5),
            {"kind": "linear", "value": 1.0, "start": 0.1, "ramp_end": 0.5},
        ),
        (LambdaSchedule(kind="step", step_at=0.3), {"kind": "step", "value": 1.0, "start": 0.0, "step_at": 0.3}),
        (LambdaSchedule(kind="expr", expr="  p**2 "), {"kind": "expr", "expr": "p**2"}),
    ],
    ids=lambda x: x.kind if isinstance(x, LambdaSchedule) else "",
)
def test_to_dict_keeps_what_the_kind_reads_and_round_trips(schedule: LambdaSchedule, expected: dict) -> None:
    assert schedule.to_dict() == expected
    restored = LambdaSchedule.from_dict(json.loads(json.dumps(schedule.to_dict())))
    assert restored == schedule
    assert restored.to_dict() == expected


def test_irrelevant_fields_change_neither_to_dict_nor_validity() -> None:
    noisy = LambdaSchedule(kind="dann", start=0.7, ramp_end=-3.0, step_at=9.0, expr="half typed (")
    assert noisy.to_dict() == LambdaSchedule().to_dict()
    assert noisy(0.5) == LambdaSchedule()(0.5)


def test_ints_are_stored_as_floats_so_the_run_hash_is_stable() -> None:
    from_ints = LambdaSchedule(kind="linear", value=1, start=0, ramp_end=1)
    from_floats = LambdaSchedule(kind="linear", value=1.0, start=0.0, ramp_end=1.0)
    assert json.dumps(from_ints.to_dict()) == json.dumps(from_floats.to_dict())
    assert LrSchedule(lr0=1, alpha=10, beta=1).to_dict() == {"lr0": 1.0, "alpha": 10.0, "beta": 1.0}


def test_expr_schedule_pickles_for_worker_processes() -> None:
    schedule = LambdaSchedule(kind="expr", expr="sigmoid(10*(p-0.5))")
    copy = pickle.loads(pickle.dumps(schedule))
    assert copy == schedule and copy(0.3) == schedule(0.3)


@pytest.mark.parametrize(
    "kwargs, reason",
    [
        ({"kind": "cosine"}, "expected one of constant, dann, log, linear, step, expr"),
        ({"kind": None}, "unknown lambda schedule kind"),
        ({"kind": "dann", "gamma": 0.0}, "gamma must be positive"),
        ({"kind": "dann", "gamma": -1.0}, "gamma must be positive"),
        ({"kind": "dann", "value": math.nan}, "value must be finite"),
        ({"kind": "constant", "value": math.inf}, "value must be finite"),
        ({"kind": "constant", "value": "1"}, "value must be a number"),
        ({"kind": "constant", "value": True}, "value must be a number"),
        ({"kind": "linear", "ramp_end": 0.0}, "ramp_end must be in (0, 1]"),
        ({"kind": "linear", "ramp_end": 1.5}, "ramp_end must be in (0, 1]"),
        ({"kind": "linear", "start": math.inf}, "start must be finite"),
        ({"kind": "step", "step_at": -0.1}, "step_at must be in [0, 1]"),
        ({"kind": "step", "step_at": 1.1}, "step_at must be in [0, 1]"),
        ({"kind": "expr", "expr": ""}, "empty"),
        ({"kind": "expr", "expr": "x*p"}, "unknown name 'x'"),
        ({"kind": "expr", "expr": "log(p)"}, "not finite at p=0"),
        ({"kind": "expr", "expr": None}, "expr must be text"),
    ],
)
def test_lambda_schedule_rejects(kwargs: dict, reason: str) -> None:
    with pytest.raises(UserError) as info:
        LambdaSchedule(**kwargs)
    assert reason in str(info.value)


def test_expr_errors_name_the_field() -> None:
    with pytest.raises(UserError, match=r"^LambdaSchedule\.expr: "):
        LambdaSchedule(kind="expr", expr="open('x')")


@pytest.mark.parametrize("cls", [LambdaSchedule, LrSchedule])
def test_from_dict_rejects_unknown_keys_and_non_mappings(cls: type) -> None:
    with pytest.raises(UserError, match="unknown .* keys \\['lamda'\\]"):
        cls.from_dict({"lamda": 1.0})
    with pytest.raises(UserError, match="must be a mapping"):
        cls.from_dict([("kind", "dann")])


def test_from_dict_fills_defaults() -> None:
    assert LambdaSchedule.from_dict({}) == LambdaSchedule()
    assert LambdaSchedule.from_dict({"kind": "step"}) == LambdaSchedule(kind="step")
    assert LrSchedule.from_dict({}) == LrSchedule()


@pytest.mark.parametrize(
    "schedule, text",
    [
        (LambdaSchedule(), "λ(p) = 2/(1+exp(−10p)) − 1"),
        (LambdaSchedule(value=0.5, gamma=5.0), "λ(p) = 0.5·(2/(1+exp(−5p)) − 1)"),
        (LambdaSchedule(kind="constant", value=0.3), "λ(p) = 0.3"),
        (LambdaSchedule(kind="log"), "λ(p) = ln(1.02 + 1.7p)"),
        (LambdaSchedule(kind="log", value=2.0), "λ(p) = 2·ln(1.02 + 1.7p)"),
        (LambdaSchedule(kind="linear"), "λ(p) = linear from 0 at p = 0 to 1 at p = 1"),
        (LambdaSchedule(kind="linear", ramp_end=0.3), "λ(p) = linear from 0 at p = 0 to 1 at p = 0.3, then 1"),
        (LambdaSchedule(kind="step", start=0.1, step_at=0.5), "λ(p) = 0.1 for p < 0.5, then 1"),
        (LambdaSchedule(kind="expr", expr="min(2*p, 1)"), "λ(p) = min(2*p, 1)"),
        (LrSchedule(), "lr(p) = 0.01/(1 + 10p)^0.75"),
        (LrSchedule(lr0=0.001, alpha=0.0), "lr(p) = 0.001 (constant)"),
    ],
)
def test_describe(schedule: LambdaSchedule | LrSchedule, text: str) -> None:
    assert schedule.describe() == text


def test_every_kind_has_a_one_line_description() -> None:
    assert list(SCHEDULE_KINDS) == ["constant", "dann", "log", "linear", "step", "expr"]
    for kind, description in SCHEDULE_KINDS.items():
        assert description and "\n" not in description
        LambdaSchedule(kind=kind, expr="p")  # every listed kind is constructible


def test_lr_at_edges() -> None:
    assert lr_at(0.0, 0.01) == 0.01
    assert lr_at(0.5, 0.01) == 0.01 / 6**0.75
    assert lr_at(1.0, 0.01) == 0.01 / 11**0.75
    assert lr_at(1.0, 0.01) == pytest.approx(0.0016556, rel=1e-4)
    assert lr_at(1.0, 0.1, alpha=1.0, beta=1.0) == 0.05


def test_lr_alpha_zero_is_constant() -> None:
    schedule = LrSchedule(lr0=0.003, alpha=0.0)
    assert [schedule(p) for p in (0.0, 0.5, 1.0)] == [0.003, 0.003, 0.003]


def test_lr_schedule_matches_lr_at_and_clamps() -> None:
    schedule = LrSchedule()
    for p in (0.0, 0.3, 1.0):
        assert schedule(p) == lr_at(p, 0.01)
    assert schedule(-1.0) == 0.01 and schedule(5.0) == schedule(1.0)


def test_lr_to_dict_drops_beta_when_it_has_no_effect() -> None:
    assert LrSchedule().to_dict() == {"lr0": 0.01, "alpha": 10.0, "beta": 0.75}
    assert LrSchedule(alpha=0.0, beta=2.0).to_dict() == LrSchedule(alpha=0.0).to_dict() == {"lr0": 0.01, "alpha": 0.0}
    for schedule in (LrSchedule(), LrSchedule(lr0=0.1, alpha=5.0, beta=1.0), LrSchedule(alpha=0.0)):
        assert LrSchedule.from_dict(json.loads(json.dumps(schedule.to_dict()))) == schedule


@pytest.mark.parametrize(
    "kwargs, reason",
    [
        ({"lr0": 0.0}, "lr0 must be positive"),
        ({"lr0": -0.1}, "lr0 must be positive"),
        ({"lr0": math.inf}, "lr0 must be finite"),
        ({"alpha": -1.0}, "alpha must be 0 (constant) or positive"),
        ({"beta": -0.5}, "beta must be 0 or positive"),
        ({"beta": "0.75"}, "beta must be a number"),
    ],
)
def test_lr_schedule_rejects(kwargs: dict, reason: str) -> None:
    with pytest.raises(UserError) as info:
        LrSchedule(**kwargs)
    assert reason in str(info.value)
    with pytest.raises(UserError):
        lr_at(0.5, **{"lr0": 0.01, **kwargs})


def test_sample_spans_the_run_and_matches_calls() -> None:
    schedule = LambdaSchedule()
    ps, values = sample(schedule)
    assert len(ps) == len(values) == 101
    assert ps[0] == 0.0 and ps[50] == 0.5 and ps[-1] == 1.0
    assert values == [schedule(p) for p in ps]
    assert sample(LrSchedule(), 2) == ([0.0, 1.0], [0.01, 0.01 / 11**0.75])
    assert sample(parse_expression("p*2"), 3) == ([0.0, 0.5, 1.0], [0.0, 1.0, 2.0])
    with pytest.raises(ValueError):
        sample(schedule, 1)
