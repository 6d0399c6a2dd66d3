"""The two-parameter picture of lifelong learning: task 1's loss over two weights, the path plain
training takes out of its valley while it learns task 2, and the paths a penalty bends.

The model, for both tasks: logistic regression without bias on x in R^2,

    p(y = 1 | x, theta) = sigma(f(x)),   f(x) = theta . x = w1 x1 + w2 x2,

and a task's loss is the real mean negative log-likelihood of its N = 400 items,

    L(theta) = 1/N sum_n [ log(1 + exp(f(x_n))) - y_n f(x_n) ].

Each task's items are drawn once from a fixed seed: x ~ N(0, diag(s1^2, s2^2)), and the labels from
the model itself, y ~ Bernoulli(sigma(theta_true . x)). Labels drawn that way are noisy, so the
items are never separable and each optimum is finite without a weight decay (the loss is the
model's likelihood, nothing added). The curvature, grad^2 L = 1/N sum_n sigma'(f_n) x_n x_n^T, is
large along a weight whose input varies widely and small along one whose input barely varies:

- task 1: s = (2, 0.4), theta_true = (1, -1.5): a valley narrow along w1 and broad along w2;
- task 2: s = (0.4, 2), theta_true = (-2, 1.5): narrow along w2, broad along w1, its optimum far
  from task 1's in both weights. The two valleys cross, near (theta1*_1, theta2*_2): there both
  tasks are nearly as good as at their own optima, and that is where a good penalty ends.

theta1* and theta2* are the optima, by Newton's method from theta = 0. Then, from theta1*, a path
learns task 2 under a penalty

    L2(theta) + lambda/2 sum_i w_i (theta_i - theta1*_i)^2

with the importance w of each weight:
- finetune: w = 0 (no penalty);
- l2: w = 1;
- ewc (Kirkpatrick et al. 2017): w = F, the diagonal Fisher of task 1 at theta1* under the model's
  own predictive distribution, F_i = 1/N sum_n E_{y ~ p(y|x_n, theta1*)} [(d/dtheta_i log p(y|x_n))^2];
  the score is (y - p) x, so F_i = 1/N sum_n p_n (1 - p_n) x_n,i^2, the diagonal of task 1's Hessian
  (logistic regression's link is canonical), and EWC's penalty is the diagonal Laplace
  approximation of task 1's loss around theta1*;
- mas (Aljundi et al. 2018): w = Omega, Omega_i = 1/N sum_n |d f(x_n)^2 / d theta_i| = 1/N sum_n
  |2 f(x_n) x_n,i| at theta1*, the gradient of the squared L2 norm of the output (here one logit).

The path is gradient descent on that sum, `steps` steps of size eta = 1.9 / C, where
C = lambda_max(1/N sum_n x_n x_n^T) / 4 bounds task 2's curvature everywhere (sigma' <= 1/4), so
every step on task 2's loss descends (eta < 2 / C) from any start. The penalty's part of the step
is taken implicitly, a proximal step, exact for a quadratic:

    theta <- (theta - eta grad L2(theta) + eta lambda w * theta1*) / (1 + eta lambda w)

(elementwise). Its fixed point is the penalised optimum, grad L2 + lambda w (theta - theta1*) = 0,
the same as the explicit step's; for eta lambda w_i << 1 the two steps agree to first order, and
unlike the explicit step (which diverges once eta lambda w_i > 2: at lambda = 1 for MAS here) it
stays stable however strong the penalty. At lambda = 0 or w = 0 it is the plain step exactly
(adding 0 and dividing by 1 are exact in floating point), so every method at strength 0 is
fine-tuning, bit for bit.

What does not depend on the method or strength (the items, the optima, the loss grids, the
importances, the step size) is cached, so a slider move only recomputes the path.
"""

from __future__ import annotations

import math
import numbers
from dataclasses import dataclass
from functools import lru_cache

import numpy as np

from core.errors import UserError

METHODS = ("finetune", "l2", "ewc", "mas")
DEFAULT_STEPS = 300
DEFAULT_GRID = 81
STEPS_RANGE = (1, 10_000)
GRID_RANGE = (11, 301)
MAX_STRENGTH = 1e6  # beyond it eta * lambda * w * theta1* approaches float overflow; 1e6 already pins theta1*

_ITEMS = 400
# (seed, input standard deviation per axis, the weights that draw the labels)
_TASKS = ((1, (2.0, 0.4), (1.0, -1.5)), (2, (0.4, 2.0), (-2.0, 1.5)))
_MARGIN = 1.0  # how far the grid reaches beyond the two optima, in weight units
_GRID_CHUNK = 2_000_000  # logits evaluated at once while filling a loss grid (16 MB of float64)


@dataclass(frozen=True, eq=False)
class ToyPicture:
    """One path over the two tasks' loss surfaces. Grids are indexed [i2, i1] (rows w2, columns w1)."""

    method: str
    strength: float
    step_size: float
    w1: np.ndarray  # (grid,) the first weight's axis
    w2: np.ndarray  # (grid,) the second weight's axis
    loss1: np.ndarray  # (grid, grid) task 1's mean NLL
    loss2: np.ndarray  # (grid, grid) task 2's mean NLL
    theta1: np.ndarray  # (2,) task 1's optimum, where the path starts
    theta2: np.ndarray  # (2,) task 2's optimum
    optimum_loss2: float  # task 2's loss at theta2*, the best any path can reach on task 2
    importance: np.ndarray  # (2,) w of the penalty: F, Omega, ones (l2) or zeros (finetune)
    path: np.ndarray  # (steps + 1, 2) theta after each step, path[0] = theta1*
    path_loss1: np.ndarray  # (steps + 1,) task 1's loss along the path
    path_loss2: np.ndarray  # (steps + 1,)
    path_acc1: np.ndarray  # (steps + 1,) task 1's accuracy (share of items with sign(f) right)
    path_acc2: np.ndarray  # (steps + 1,)

    @property
    def steps(self) -> int:
        return len(self.path) - 1

    @property
    def final_loss1(self) -> float:
        return float(self.path_loss1[-1])

    @property
    def final_loss2(self) -> float:
        return float(self.path_loss2[-1])

    @property
    def final_acc1(self) -> float:
        return float(self.path_acc1[-1])

    @property
    def final_acc2(self) -> float:
        return float(self.path_acc2[-1])


def mean_nll(theta: np.ndarray, x: np.ndarray, y: np.ndarray) -> np.ndarray:
    """The mean negative log-likelihood of items (x, y) at each theta of shape (..., 2)."""
    z = np.asarray(theta, dtype=float) @ x.T
    return np.mean(np.logaddexp(0.0, z) - y * z, axis=-1)


def accuracy(theta: np.ndarray, x: np.ndarray, y: np.ndarray) -> np.ndarray:
    """The share of items whose label the sign of f(x) gets right, at each theta of shape (..., 2)."""
    return np.mean((np.asarray(theta, dtype=float) @ x.T > 0) == (y == 1), axis=-1)


def _sigmoid(z: np.ndarray) -> np.ndarray:
    return 0.5 + 0.5 * np.tanh(0.5 * z)  # never overflows, unlike 1 / (1 + exp(-z)) for z << 0


def _frozen(a: np.ndarray) -> np.ndarray:
    # cached arrays are shared by every picture: a caller writing into one would change them all
    a.setflags(write=False)
    return a


@lru_cache(maxsize=2)
def task_data(task: int) -> tuple[np.ndarray, np.ndarray]:
    """Task 1's or task 2's items: inputs (N, 2) and labels (N,) in {0, 1}, read-only."""
    if task not in (1, 2):
        raise ValueError(f"the toy has tasks 1 and 2, not {task!r}")
    seed, std, theta_true = _TASKS[task - 1]
    rng = np.random.default_rng(seed)
    x = rng.normal(size=(_ITEMS, 2)) * np.array(std)
    y = (rng.random(_ITEMS) < _sigmoid(x @ np.array(theta_true))).astype(float)
    return _frozen(x), _frozen(y)


@lru_cache(maxsize=2)
def optimum(task: int) -> np.ndarray:
    """The task's maximum-likelihood weights, by Newton's method from theta = 0."""
    x, y = task_data(task)
    theta = np.zeros(2)
    for _ in range(50):
        p = _sigmoid(x @ theta)
        gradient = x.T @ (p - y) / len(y)
        if np.linalg.norm(gradient) < 1e-12:
            return _frozen(theta)
        hessian = (x * (p * (1 - p))[:, None]).T @ x / len(y)
        theta = theta - np.linalg.solve(hessian, gradient)
    raise RuntimeError(f"Newton's method did not converge on task {task}: |gradient| = {np.linalg.norm(gradient)}")


def fisher(theta: np.ndarray, x: np.ndarray) -> np.ndarray:
    """The diagonal Fisher at theta: the squared score (y - p) x averaged over y ~ p(y | x, theta), the
    model's own predictive distribution (not the items' labels), then over the items."""
    p = _sigmoid(x @ theta)[:, None]
    return (p * ((1 - p) * x) ** 2 + (1 - p) * ((0 - p) * x) ** 2).mean(axis=0)


def mas_importance(theta: np.ndarray, x: np.ndarray) -> np.ndarray:
    """MAS's Omega at theta: the items' mean |d f(x)^2 / d theta|, with d f / d theta = x for the linear logit."""
    f = (x @ theta)[:, None]
    return np.abs(2 * f * x).mean(axis=0)


@lru_cache(maxsize=len(METHODS))
def importance(method: str) -> np.ndarray:
    """The penalty's weight per axis for a method, at task 1's optimum."""
    x, _ = task_data(1)
    theta1 = optimum(1)
    weights = {
        "finetune": lambda: np.zeros(2),
        "l2": lambda: np.ones(2),
        "ewc": lambda: fisher(theta1, x),
        "mas": lambda: mas_importance(theta1, x),
    }
    return _frozen(weights[method]())


@lru_cache(maxsize=1)
def step_size() -> float:
    """1.9 / C, C = lambda_max(mean x x^T) / 4 bounding task 2's curvature (module docstring)."""
    x, _ = task_data(2)
    return 1.9 / (np.linalg.eigvalsh(x.T @ x / len(x)).max() / 4)


@lru_cache(maxsize=1)
def bounds() -> tuple[tuple[float, float], tuple[float, float]]:
    """(w1 low, high), (w2 low, high): both optima and a margin, rounded outwards to half units."""
    optima = np.stack([optimum(1), optimum(2)])
    low = np.floor((optima.min(axis=0) - _MARGIN) * 2) / 2
    high = np.ceil((optima.max(axis=0) + _MARGIN) * 2) / 2
    return (float(low[0]), float(high[0])), (float(low[1]), float(high[1]))


@lru_cache(maxsize=4)
def loss_grids(grid: int) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """w1 axis, w2 axis, task 1's and task 2's loss on the grid ([i2, i1]), read-only."""
    (a1, b1), (a2, b2) = bounds()
    w1, w2 = np.linspace(a1, b1, grid), np.linspace(a2, b2, grid)
    thetas = np.stack(np.meshgrid(w1, w2), axis=-1)  # (grid, grid, 2), [i2, i1]
    rows = max(1, _GRID_CHUNK // (grid * _ITEMS))
    losses = []
    for task in (1, 2):
        x, y = task_data(task)
        losses.append(np.concatenate([mean_nll(thetas[i : i + rows], x, y) for i in range(0, grid, rows)]))
    return _frozen(w1), _frozen(w2), _frozen(losses[0]), _frozen(losses[1])


def _whole(value, name: str, valid: tuple[int, int]) -> int:
    low, high = valid
    if isinstance(value, bool) or not isinstance(value, numbers.Integral) or not low <= value <= high:
        raise UserError(f"{name} must be a whole number from {low} to {high}, not {value!r}")
    return int(value)


def _check(method, strength) -> float:
    if method not in METHODS:
        raise UserError(f"method must be one of {', '.join(METHODS)}, not {method!r}")
    if isinstance(strength, bool) or not isinstance(strength, numbers.Real):
        raise UserError(f"strength must be a number from 0 to {MAX_STRENGTH:g}, not {strength!r}")
    value = float(strength)
    if not math.isfinite(value) or not 0 <= value <= MAX_STRENGTH:
        raise UserError(f"strength must be a finite number from 0 to {MAX_STRENGTH:g}, not {strength!r}")
    return value


def descend(weights: np.ndarray, strength: float, steps: int) -> np.ndarray:
    """The path (steps + 1, 2) from theta1* by the penalised, proximal gradient steps of the module docstring."""
    x, y = task_data(2)
    x_mean = x.T / len(y)  # the gradient's average over the items, folded into one matrix product
    theta1 = optimum(1)
    eta = step_size()
    shrink = eta * strength * weights
    pull = shrink * theta1
    keep = 1 + shrink
    path = np.empty((steps + 1, 2))
    path[0] = theta = theta1
    for k in range(1, steps + 1):
        gradient = x_mean @ (_sigmoid(x @ theta) - y)
        theta = (theta - eta * gradient + pull) / keep
        path[k] = theta
    return path


def two_parameter_picture(
    method: str, strength: float, steps: int = DEFAULT_STEPS, grid: int = DEFAULT_GRID
) -> ToyPicture:
    """Task 2 learned from task 1's optimum under `method`'s penalty at `strength` (lambda), over
    both tasks' loss surfaces on a `grid` x `grid` grid."""
    strength = _check(method, strength)
    steps = _whole(steps, "steps", STEPS_RANGE)
    grid = _whole(grid, "grid", GRID_RANGE)
    w1, w2, loss1, loss2 = loss_grids(grid)
    weights = importance(method)
    path = descend(weights, strength, steps)
    (x1, y1), (x2, y2) = task_data(1), task_data(2)
    theta2 = optimum(2)
    return ToyPicture(
        method=method,
        strength=strength,
        step_size=step_size(),
        w1=w1,
        w2=w2,
        loss1=loss1,
        loss2=loss2,
        theta1=optimum(1),
        theta2=theta2,
        optimum_loss2=float(mean_nll(theta2, x2, y2)),
        importance=weights,
        path=path,
        path_loss1=mean_nll(path, x1, y1),
        path_loss2=mean_nll(path, x2, y2),
        path_acc1=accuracy(path, x1, y1),
        path_acc2=accuracy(path, x2, y2),
    )
