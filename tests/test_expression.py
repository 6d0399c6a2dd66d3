"""The whitelist parser for user-typed formulas: what it accepts, what it refuses and why."""

from __future__ import annotations

import ast
import math
import pickle
import random
from pathlib import Path

import pytest

import core.dann.expression as expression_module
from core.dann.expression import MAX_NODES, MAX_TEXT_LENGTH, VALIDATION_GRID, parse_expression
from core.errors import UserError

# (text, [(p, expected), ...]): the whole grammar, checked at its start, middle and end.
ACCEPTED = [
    ("1", [(0.0, 1.0), (0.5, 1.0), (1.0, 1.0)]),
    ("0.25", [(0.0, 0.25), (1.0, 0.25)]),
    ("1e-3", [(0.0, 0.001), (1.0, 0.001)]),
    ("2.5E+1*p", [(0.0, 0.0), (0.5, 12.5), (1.0, 25.0)]),
    ("p", [(0.0, 0.0), (0.5, 0.5), (1.0, 1.0)]),
    ("pi", [(0.0, math.pi), (1.0, math.pi)]),
    ("e", [(0.3, math.e)]),
    ("-p", [(0.0, 0.0), (0.5, -0.5), (1.0, -1.0)]),
    ("+p", [(0.5, 0.5)]),
    ("--p", [(0.5, 0.5)]),
    ("1 + p", [(0.0, 1.0), (0.5, 1.5), (1.0, 2.0)]),
    ("1 - p", [(0.0, 1.0), (0.5, 0.5), (1.0, 0.0)]),
    ("3*p", [(0.5, 1.5), (1.0, 3.0)]),
    ("p/4", [(0.0, 0.0), (0.5, 0.125), (1.0, 0.25)]),
    ("p**2", [(0.0, 0.0), (0.5, 0.25), (1.0, 1.0)]),
    ("-p**2", [(0.5, -0.25)]),
    ("(1 + p)*(1 - p)", [(0.0, 1.0), (0.5, 0.75), (1.0, 0.0)]),
    ("2 + 3*p**2", [(0.5, 2.75)]),
    ("exp(p)", [(0.0, 1.0), (0.5, math.exp(0.5)), (1.0, math.e)]),
    ("log(1 + p)", [(0.0, 0.0), (0.5, math.log(1.5)), (1.0, math.log(2.0))]),
    ("sqrt(p)", [(0.0, 0.0), (0.25, 0.5), (1.0, 1.0)]),
    ("sin(pi*p)", [(0.0, 0.0), (0.5, 1.0), (1.0, math.sin(math.pi))]),
    ("cos(pi*p)", [(0.0, 1.0), (0.5, math.cos(math.pi / 2)), (1.0, -1.0)]),
    ("tanh(5*p)", [(0.0, 0.0), (0.5, math.tanh(2.5)), (1.0, math.tanh(5.0))]),
    ("sigmoid(10*(p - 0.5))", [(0.0, 1 / (1 + math.exp(5.0))), (0.5, 0.5), (1.0, 1 / (1 + math.exp(-5.0)))]),
    ("sigmoid(-1000*p)", [(0.0, 0.5), (1.0, 0.0)]),
    ("abs(p - 0.5)", [(0.0, 0.5), (0.5, 0.0), (1.0, 0.5)]),
    ("min(p, 0.3)", [(0.0, 0.0), (0.5, 0.3), (1.0, 0.3)]),
    ("max(p, 0.1, 0.2)", [(0.0, 0.2), (0.5, 0.5), (1.0, 1.0)]),
    ("clip(2*p, 0.1, 0.8)", [(0.0, 0.1), (0.25, 0.5), (1.0, 0.8)]),
    ("2**(10*p)", [(0.0, 1.0), (0.5, 32.0), (1.0, 1024.0)]),
    ("(p**2)**3", [(0.5, 0.5**6), (1.0, 1.0)]),
    ("(1 + p)**-64", [(0.0, 1.0), (1.0, 2.0**-64)]),
    ("p**64", [(1.0, 1.0)]),
    ("2**64", [(0.0, 2.0**64)]),
    ("(-2)**3", [(0.0, -8.0)]),
    ("2/(1+exp(-10*p))-1", [(0.0, 0.0), (0.5, 2 / (1 + math.exp(-5)) - 1), (1.0, 2 / (1 + math.exp(-10)) - 1)]),
    ("  p  ", [(0.5, 0.5)]),
]


@pytest.mark.parametrize("text, points", ACCEPTED, ids=[t for t, _ in ACCEPTED])
def test_accepts_the_grammar(text: str, points: list[tuple[float, float]]) -> None:
    expression = parse_expression(text)
    for p, expected in points:
        value = expression(p)
        assert type(value) is float
        assert value == pytest.approx(expected, rel=1e-12, abs=1e-15)


def test_dann_formula_matches_the_paper_exactly_on_the_grid() -> None:
    expression = parse_expression("2/(1+exp(-10*p))-1")
    for p in VALIDATION_GRID:
        assert expression(p) == 2.0 / (1.0 + math.exp(-10.0 * p)) - 1.0


def test_text_is_stripped_and_identifies_the_expression() -> None:
    a, b = parse_expression(" p*2 "), parse_expression("p*2")
    assert a.text == "p*2"
    assert a == b and hash(a) == hash(b)


def test_survives_pickling_by_reparsing() -> None:
    expression = parse_expression("sigmoid(10*p)")
    copy = pickle.loads(pickle.dumps(expression))
    assert copy == expression
    assert copy(0.3) == expression(0.3)


# (text, a word the message must contain to say why)
REJECTED = [
    ("", "empty"),
    ("   ", "empty"),
    ("__import__('os')", "unknown function"),
    ("__import__('os').system('true')", "not allowed"),
    ("().__class__.__bases__", "attribute access"),
    ("p.real", "attribute access"),
    ("math.exp(p)", "attribute access"),
    ("open('x')", "unknown function"),
    ("eval('1')", "unknown function"),
    ("x + 1", "unknown name 'x'"),
    ("P", "unknown name 'P'"),
    ("exp", "is a function"),
    ("'a'*3", "strings are not allowed"),
    ("b'a'", "strings are not allowed"),
    ("f'{p}'", "strings are not allowed"),
    ("True", "not allowed"),
    ("None", "not allowed"),
    ("1j", "not allowed"),
    ("...", "not allowed"),
    ("p if p else 1", "conditional expressions"),
    ("lambda: 1", "lambda is not allowed"),
    ("[p][0]", "subscripts"),
    ("[p]", "lists are not allowed"),
    ("(p, 1)", "tuples are not allowed"),
    ("{}", "dicts are not allowed"),
    ("[x for x in (1, 2)]", "comprehensions"),
    ("p < 1", "comparisons"),
    ("p and 1", "boolean operators"),
    ("not p", "'not' is not allowed"),
    ("~p", "'~' is not allowed"),
    ("p // 2", "'//' is not allowed"),
    ("p % 2", "'%' is not allowed"),
    ("(p := 1)", "assignment"),
    ("max(*[p, 1], 2)", "unpacking"),
    ("clip(p, lo=0, hi=1)", "keyword arguments"),
    ("exp(p, 1)", "takes 1 argument, got 2"),
    ("log(p, 2)", "takes 1 argument, got 2"),
    ("clip(p, 0)", "takes 3 arguments, got 2"),
    ("max(p)", "takes at least 2 arguments, got 1"),
    ("(1)(2)", "only named functions"),
    ("p +", "not a valid formula"),
    ("p\x00", "not a valid formula"),
    ("9**9**9", "exponent"),
    ("p**p**p", "exponent"),
    ("2**(2**10)", "exponent"),
    ("2**1000", "exponent"),
    ("p**100", "exponent"),
    ("p**-65", "exponent"),
    ("2**(100*p)", "exponent"),
    ("1e999", "not finite"),
    ("1e308*10", "not finite"),
    ("exp(1000)", "overflow"),
    ("exp(1000*p)", "overflow"),
    ("log(p)", "not finite"),
    ("log(p - 1)", "negative"),
    ("sqrt(p - 0.5)", "negative"),
    ("1/(p-0.5)", "divides by zero"),
    ("1/p", "divides by zero"),
    ("p**-1", "not finite"),
    ("(-1)**p", "fractional power"),
    ("clip(p, 1, 0)", "lower bound"),
    ("p" + "+p" * 100, "too long"),
    ("+".join(["p"] * 60), "too complex"),
]


@pytest.mark.parametrize("text, reason", REJECTED, ids=[repr(t)[:40] for t, _ in REJECTED])
def test_rejects_with_the_reason(text: str, reason: str) -> None:
    with pytest.raises(UserError) as info:
        parse_expression(text)
    assert reason in str(info.value)


@pytest.mark.parametrize(
    "text, message",
    [
        ("log(p)", "log(p) is not finite at p=0 (the log of 0 is -infinity)"),
        ("1/(p-0.5)", "1/(p-0.5) divides by zero at p=0.5"),
        ("1 + sqrt(p - 0.07)", "in '1 + sqrt(p - 0.07)': sqrt(p - 0.07) is undefined"),
        ("2**(100*p)", "2**(100*p) has exponent 65, outside [-64, 64] at p=0.65"),
    ],
)
def test_evaluation_errors_name_the_part_and_the_p(text: str, message: str) -> None:
    with pytest.raises(UserError) as info:
        parse_expression(text)
    assert message in str(info.value)


@pytest.mark.parametrize(
    "text, where", [("x + 1", "column 1"), ("p + x", "column 5"), ("p*2**1000", "column 6"), ("(p\n+ x)", "line 2")]
)
def test_static_errors_say_where(text: str, where: str) -> None:
    with pytest.raises(UserError) as info:
        parse_expression(text)
    assert where in str(info.value)


def test_unknown_name_lists_what_is_allowed() -> None:
    with pytest.raises(UserError) as info:
        parse_expression("x + 1")
    for allowed in ("p", "pi", "e", "exp", "log", "sqrt", "sigmoid", "clip"):
        assert allowed in str(info.value)


def test_limits_are_inclusive() -> None:
    longest = "p*1." + "0" * (MAX_TEXT_LENGTH - 4)
    assert len(longest) == MAX_TEXT_LENGTH
    assert parse_expression(longest)(0.5) == 0.5
    with pytest.raises(UserError, match="too long"):
        parse_expression(longest + "0")
    fifty = "+".join(["p"] * 50)  # 50 names and 49 additions
    assert parse_expression(f"-({fifty})")(1.0) == -50.0  # exactly MAX_NODES parts
    with pytest.raises(UserError, match="too complex"):
        parse_expression(f"-(-({fifty}))")
    assert MAX_NODES == 100


@pytest.mark.parametrize("p", [2.0, "x", None, float("nan"), float("inf"), 10**400])
def test_calling_raises_only_user_errors(p: object) -> None:
    expression = parse_expression("1/(p-2)")  # fine on [0, 1], a pole at p=2
    with pytest.raises(UserError):
        expression(p)


# The parser warns about oddities such as "1if" on its way to rejecting them.
@pytest.mark.filterwarnings("ignore::SyntaxWarning")
def test_random_token_soup_only_ever_raises_user_errors() -> None:
    tokens = [
        "p",
        "pi",
        "e",
        "x",
        "1",
        "0",
        "2.5",
        "1e3",
        "64",
        "(",
        ")",
        "+",
        "-",
        "*",
        "/",
        "**",
        ",",
        ".",
        "exp(",
        "log(",
        "sqrt(",
        "min(",
        "max(",
        "clip(",
        "sigmoid(",
        "abs(",
        "[",
        "]",
        "'a'",
        "__class__",
        "lambda",
        ":",
        "if",
        "else",
        "<",
        "and",
        " ",
    ]
    rng = random.Random(0)
    accepted = 0
    for _ in range(2000):
        text = "".join(rng.choice(tokens) for _ in range(rng.randint(1, 12)))
        try:
            expression = parse_expression(text)
        except UserError:
            continue
        accepted += 1
        for p in (rng.uniform(-2.0, 3.0), 0.0, 1.0):
            try:
                assert isinstance(expression(p), float)
            except UserError:
                pass
    assert accepted > 50


def test_the_module_never_runs_text_as_code() -> None:
    source = Path(expression_module.__file__).read_text()
    forbidden = {"eval", "exec", "compile", "__import__", "getattr", "globals", "locals", "vars"}
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Call):
            func = node.func
            name = func.id if isinstance(func, ast.Name) else getattr(func, "attr", "")
            assert name not in forbidden, f"line {node.lineno} calls {name}"
    stripped = source.replace('mode="eval"', "")
    assert "eval(" not in stripped and "exec(" not in stripped
