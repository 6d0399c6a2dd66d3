"""User-typed formulas in the training progress p, parsed by a whitelist and never executed as code.

`ast.parse` is used only to obtain a syntax tree; the tree is then checked node by node against
an explicit whitelist and turned into a tree of small Python closures over floats. Nothing the
user types ever reaches the interpreter as code, so names, attributes, strings, subscripts and
the like are not "sandboxed" but simply have no meaning here.

Grammar: numbers (1, 0.5, 1e-3), the name `p`, the constants `pi` and `e`, unary + and -,
binary + - * / **, parentheses, and calls of the functions in `ALLOWED_FUNCTIONS` with
positional arguments only.

Limits, so that a typo cannot hang or blow up a training run:
- at most `MAX_TEXT_LENGTH` characters and `MAX_NODES` syntax nodes;
- powers: the exponent of `**` may not itself contain `**` (so no towers such as p**p**p or
  2**(2**10)), and it must lie within [-MAX_EXPONENT, MAX_EXPONENT]: checked when the expression
  is parsed if the exponent is constant, and at every evaluation if it depends on p;
- all arithmetic is on floats, and every intermediate value must be finite.

After parsing, the expression is evaluated on the grid p = 0, 0.01, ..., 1; a division by zero,
a domain error (log or sqrt of a negative number), an overflow or a non-finite value anywhere on
that grid rejects it with a message naming the failing part and the p where it failed.
"""

from __future__ import annotations

import ast
import math
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import NamedTuple

from core.errors import UserError

MAX_TEXT_LENGTH = 200
MAX_NODES = 100
MAX_EXPONENT = 64.0
# 101 points, each computed from an integer so that 0.5 and 1.0 are hit exactly.
VALIDATION_GRID = tuple(i / 100 for i in range(101))

_CONSTANTS = {"pi": math.pi, "e": math.e}
ALLOWED_NAMES = ("p", *_CONSTANTS)

Evaluator = Callable[[float], float]


class _Undefined(Exception):
    """An operation has no result: `reason` completes "<part> ...", `detail` says why."""

    def __init__(self, reason: str, detail: str = "") -> None:
        super().__init__(reason)
        self.reason = reason
        self.detail = detail


class _EvaluationError(Exception):
    """An `_Undefined` tagged with the part of the text it came from."""

    def __init__(self, segment: str, uses_p: bool, reason: str, detail: str = "") -> None:
        super().__init__(reason)
        self.segment = segment
        self.uses_p = uses_p
        self.reason = reason
        self.detail = detail

    def describe(self, text: str, p: float | None) -> str:
        where = f" at p={p:g}" if self.uses_p and p is not None else ""
        context = "" if self.segment == text else f"in {text!r}: "
        detail = f" ({self.detail})" if self.detail else ""
        return f"{context}{self.segment} {self.reason}{where}{detail}"


def _log(x: float) -> float:
    if x == 0.0:
        raise _Undefined("is not finite", "the log of 0 is -infinity")
    if x < 0.0:
        raise _Undefined("is undefined", "the log of a negative number")
    return math.log(x)


def _sqrt(x: float) -> float:
    if x < 0.0:
        raise _Undefined("is undefined", "the square root of a negative number")
    return math.sqrt(x)


def _sigmoid(x: float) -> float:
    # Two branches so that exp never sees a large positive argument and overflows.
    if x >= 0.0:
        return 1.0 / (1.0 + math.exp(-x))
    z = math.exp(x)
    return z / (1.0 + z)


def _clip(x: float, lo: float, hi: float) -> float:
    if lo > hi:
        raise _Undefined(f"has its lower bound {lo:g} above its upper bound {hi:g}")
    return min(max(x, lo), hi)


def _power(base: float, exponent: float) -> float:
    if not -MAX_EXPONENT <= exponent <= MAX_EXPONENT:
        raise _Undefined(f"has exponent {exponent:g}, outside [-{MAX_EXPONENT:g}, {MAX_EXPONENT:g}]")
    if base == 0.0 and exponent < 0.0:
        raise _Undefined("is not finite", "0 to a negative power")
    if base < 0.0 and not exponent.is_integer():
        raise _Undefined("is undefined", "a negative number to a fractional power")
    return math.pow(base, exponent)


class _Function(NamedTuple):
    min_args: int
    max_args: int | None  # None: any number from min_args up
    apply: Callable[..., float]


_FUNCTIONS: dict[str, _Function] = {
    "exp": _Function(1, 1, math.exp),
    "log": _Function(1, 1, _log),
    "sqrt": _Function(1, 1, _sqrt),
    "sin": _Function(1, 1, math.sin),
    "cos": _Function(1, 1, math.cos),
    "tanh": _Function(1, 1, math.tanh),
    "sigmoid": _Function(1, 1, _sigmoid),
    "abs": _Function(1, 1, abs),
    "min": _Function(2, None, min),
    "max": _Function(2, None, max),
    "clip": _Function(3, 3, _clip),
}
ALLOWED_FUNCTIONS = tuple(_FUNCTIONS)

_BINARY: dict[type[ast.operator], Callable[[float, float], float]] = {
    ast.Add: lambda a, b: a + b,
    ast.Sub: lambda a, b: a - b,
    ast.Mult: lambda a, b: a * b,
    ast.Div: lambda a, b: a / b,
    ast.Pow: _power,
}
_UNARY: dict[type[ast.unaryop], Callable[[float], float]] = {
    ast.UAdd: lambda a: a,
    ast.USub: lambda a: -a,
}
_OPERATOR_SYMBOLS: dict[type[ast.AST], str] = {
    ast.FloorDiv: "//",
    ast.Mod: "%",
    ast.MatMult: "@",
    ast.LShift: "<<",
    ast.RShift: ">>",
    ast.BitOr: "|",
    ast.BitXor: "^",
    ast.BitAnd: "&",
    ast.Not: "not",
    ast.Invert: "~",
}
# Why a node type outside the grammar is rejected, in the user's words.
_REJECTED: dict[type[ast.AST], str] = {
    ast.Attribute: "attribute access (a.b) is not allowed",
    ast.Subscript: "subscripts (a[i]) are not allowed",
    ast.Compare: "comparisons are not allowed",
    ast.BoolOp: "boolean operators (and, or) are not allowed",
    ast.IfExp: "conditional expressions (a if c else b) are not allowed",
    ast.Lambda: "lambda is not allowed",
    ast.NamedExpr: "assignment (:=) is not allowed",
    ast.JoinedStr: "strings are not allowed",
    ast.ListComp: "comprehensions are not allowed",
    ast.SetComp: "comprehensions are not allowed",
    ast.DictComp: "comprehensions are not allowed",
    ast.GeneratorExp: "comprehensions are not allowed",
    ast.List: "lists are not allowed",
    ast.Tuple: "tuples are not allowed",
    ast.Set: "sets are not allowed",
    ast.Dict: "dicts are not allowed",
    ast.Starred: "unpacking (*a) is not allowed",
}


_ALLOWED = f"{', '.join(ALLOWED_NAMES)} and the functions {', '.join(ALLOWED_FUNCTIONS)}"


@dataclass(frozen=True)
class Expression:
    """A parsed, validated formula in p; calling it returns a float or raises UserError."""

    text: str
    _evaluate: Evaluator = field(repr=False, compare=False)

    def __call__(self, p: float) -> float:
        try:
            x = float(p)
        except (TypeError, ValueError, OverflowError):
            raise UserError(f"{self.text}: p must be a finite number, got {repr(p)[:40]}") from None
        if not math.isfinite(x):
            raise UserError(f"{self.text}: p must be a finite number, got {x}")
        try:
            return self._evaluate(x)
        except _EvaluationError as err:
            raise UserError(err.describe(self.text, x)) from None

    def __reduce__(self) -> tuple[Callable[[str], Expression], tuple[str]]:
        # Closures do not pickle; re-parsing the text rebuilds an equal expression.
        return parse_expression, (self.text,)


def parse_expression(text: str) -> Expression:
    """Parse and validate `text`; every problem is a UserError that says what and where."""
    if not isinstance(text, str):
        raise UserError(f"an expression must be text, got {type(text).__name__}")
    text = text.strip()
    if not text:
        raise UserError("the expression is empty; write a formula in p, e.g. 2/(1+exp(-10*p))-1")
    if len(text) > MAX_TEXT_LENGTH:
        raise UserError(f"the expression is too long: {len(text)} characters, at most {MAX_TEXT_LENGTH}")
    try:
        tree = ast.parse(text, mode="eval")
    except SyntaxError as err:
        column = f" at column {err.offset}" if err.offset else ""
        raise UserError(f"{text!r} is not a valid formula{column}: {err.msg}") from None
    except (ValueError, RecursionError, MemoryError) as err:
        raise UserError(f"{text!r} is not a valid formula: {err}") from None
    nodes = sum(isinstance(node, ast.expr) for node in ast.walk(tree))
    if nodes > MAX_NODES:
        raise UserError(f"the expression is too complex: {nodes} parts, at most {MAX_NODES}")
    evaluate, _ = _Builder(text).build(tree.body)
    expression = Expression(text, evaluate)
    for p in VALIDATION_GRID:
        expression(p)
    return expression


class _Builder:
    """Turns a checked syntax tree into closures; constant parts are folded once, here."""

    def __init__(self, text: str) -> None:
        self.text = text
        self._line_bytes = text.encode().split(b"\n")

    def where(self, node: ast.expr) -> str:
        # col_offset counts UTF-8 bytes; users count characters from 1.
        prefix = self._line_bytes[node.lineno - 1][: node.col_offset]
        column = len(prefix.decode(errors="ignore")) + 1
        return f"at column {column}" if node.lineno == 1 else f"at line {node.lineno}, column {column}"

    def segment(self, node: ast.expr) -> str:
        return ast.get_source_segment(self.text, node) or self.text

    def reject(self, node: ast.expr, reason: str) -> UserError:
        return UserError(f"{reason} ({self.where(node)} of {self.text!r})")

    def build(self, node: ast.expr) -> tuple[Evaluator, bool]:
        """(evaluator, whether it depends on p) for `node`, or a UserError for what it can't be."""
        if isinstance(node, ast.Constant):
            return self._constant(node), False
        if isinstance(node, ast.Name):
            return self._name(node)
        if isinstance(node, ast.UnaryOp):
            op = _UNARY.get(type(node.op))
            if op is None:
                raise self.reject(node, f"the operator '{_OPERATOR_SYMBOLS[type(node.op)]}' is not allowed")
            children = [self.build(node.operand)]
        elif isinstance(node, ast.BinOp):
            op = _BINARY.get(type(node.op))
            if op is None:
                raise self.reject(node, f"the operator '{_OPERATOR_SYMBOLS[type(node.op)]}' is not allowed")
            if isinstance(node.op, ast.Pow):
                children = self._power_operands(node)
            else:
                children = [self.build(node.left), self.build(node.right)]
        elif isinstance(node, ast.Call):
            op, children = self._call(node)
        else:
            reason = _REJECTED.get(type(node), f"{type(node).__name__} is not allowed")
            raise self.reject(node, reason)
        return self._combine(node, op, children)

    def _constant(self, node: ast.Constant) -> Evaluator:
        value = node.value
        if isinstance(value, (str, bytes)):
            raise self.reject(node, "strings are not allowed")
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            raise self.reject(node, f"{value!r} is not allowed; allowed: numbers, {_ALLOWED}")
        try:
            number = float(value)
        except OverflowError:
            number = math.inf
        if not math.isfinite(number):
            raise self.reject(node, f"the number {self.segment(node)} is not finite")
        return lambda p: number

    def _name(self, node: ast.Name) -> tuple[Evaluator, bool]:
        if node.id == "p":
            return (lambda p: p), True
        if node.id in _CONSTANTS:
            value = _CONSTANTS[node.id]
            return (lambda p: value), False
        if node.id in _FUNCTIONS:
            raise self.reject(node, f"{node.id} is a function; call it, e.g. {node.id}(p)")
        raise self.reject(node, f"unknown name {node.id!r}; allowed: {_ALLOWED}")

    def _power_operands(self, node: ast.BinOp) -> list[tuple[Evaluator, bool]]:
        if any(isinstance(n, ast.BinOp) and isinstance(n.op, ast.Pow) for n in ast.walk(node.right)):
            raise self.reject(node, "the exponent of ** may not contain another ** (power towers are not allowed)")
        base = self.build(node.left)
        exponent, exponent_uses_p = self.build(node.right)
        if not exponent_uses_p:
            value = exponent(0.0)
            if not -MAX_EXPONENT <= value <= MAX_EXPONENT:
                raise self.reject(
                    node.right,
                    f"the exponent {value:g} is out of range: exponents must lie within "
                    f"[-{MAX_EXPONENT:g}, {MAX_EXPONENT:g}]",
                )
        return [base, (exponent, exponent_uses_p)]

    def _call(self, node: ast.Call) -> tuple[Callable[..., float], list[tuple[Evaluator, bool]]]:
        if isinstance(node.func, ast.Attribute):
            raise self.reject(node.func, _REJECTED[ast.Attribute])
        if not isinstance(node.func, ast.Name):
            raise self.reject(node, f"only named functions can be called; allowed: {_ALLOWED}")
        name = node.func.id
        function = _FUNCTIONS.get(name)
        if function is None:
            raise self.reject(node, f"unknown function {name!r} (not allowed); allowed: {_ALLOWED}")
        if node.keywords:
            raise self.reject(node, f"keyword arguments are not allowed; pass {name}'s arguments by position")
        count = len(node.args)
        if count < function.min_args or (function.max_args is not None and count > function.max_args):
            if function.max_args is None:
                expected = f"at least {function.min_args} arguments"
            else:
                expected = f"{function.min_args} argument{'s' if function.min_args > 1 else ''}"
            raise self.reject(node, f"{name}() takes {expected}, got {count}")
        return function.apply, [self.build(arg) for arg in node.args]

    def _combine(
        self, node: ast.expr, op: Callable[..., float], children: list[tuple[Evaluator, bool]]
    ) -> tuple[Evaluator, bool]:
        segment = self.segment(node)
        uses_p = any(child_uses_p for _, child_uses_p in children)
        evaluators = [evaluate for evaluate, _ in children]

        def evaluate(p: float) -> float:
            try:
                value = op(*[child(p) for child in evaluators])
            except _Undefined as err:
                raise _EvaluationError(segment, uses_p, err.reason, err.detail) from None
            except ZeroDivisionError:
                raise _EvaluationError(segment, uses_p, "divides by zero") from None
            except OverflowError:
                raise _EvaluationError(segment, uses_p, "overflows", "too large for a float") from None
            except ValueError:
                raise _EvaluationError(segment, uses_p, "is undefined", "math domain error") from None
            if not math.isfinite(value):
                raise _EvaluationError(segment, uses_p, "is not finite")
            return float(value)

        if uses_p:
            return evaluate, True
        try:
            value = evaluate(0.0)
        except _EvaluationError as err:
            raise self.reject(node, err.describe(err.segment, None)) from None
        return (lambda p: value), False
