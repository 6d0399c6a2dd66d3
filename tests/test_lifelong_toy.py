"""The two-parameter picture (core.lifelong.toy, presenters.lifelong.toy): the losses are the models'
likelihoods, the importances their analytic values, the paths what the methods promise at the edges."""

from __future__ import annotations

import json

import numpy as np
import plotly.graph_objects as go
import pytest

from core.errors import UserError
from core.lifelong import toy
from presenters.lifelong import toy as figures

PENALTIES = ("l2", "ewc", "mas")


def _sigmoid(z: np.ndarray) -> np.ndarray:
    return 1 / (1 + np.exp(-z))


def _task2_gradient(theta: np.ndarray) -> np.ndarray:
    x, y = toy.task_data(2)
    return x.T @ (_sigmoid(x @ theta) - y) / len(y)


def test_a_loss_is_the_mean_negative_log_likelihood_on_the_grid_too():
    x, y = toy.task_data(1)
    theta = np.array([0.3, -0.7])
    p = _sigmoid(x @ theta)
    by_hand = -np.mean(y * np.log(p) + (1 - y) * np.log(1 - p))
    assert toy.mean_nll(theta, x, y) == pytest.approx(by_hand, rel=1e-12)
    picture = toy.two_parameter_picture("finetune", 0.0, grid=21)
    i1, i2 = 7, 13
    node = np.array([picture.w1[i1], picture.w2[i2]])
    for task, grid in ((1, picture.loss1), (2, picture.loss2)):
        assert grid[i2, i1] == pytest.approx(toy.mean_nll(node, *toy.task_data(task)), rel=1e-12)
    assert set(np.unique(y)) == {0.0, 1.0} and len(y) == len(x)


def test_the_optima_are_finite_stationary_and_the_valleys_cross():
    for task in (1, 2):
        x, y = toy.task_data(task)
        theta = toy.optimum(task)
        assert np.all(np.isfinite(theta))
        assert np.abs(x.T @ (_sigmoid(x @ theta) - y) / len(y)).max() < 1e-10
    # task 1 is narrow along w1 and broad along w2 (its Hessian, here its Fisher), task 2 the other way
    f1 = toy.fisher(toy.optimum(1), toy.task_data(1)[0])
    f2 = toy.fisher(toy.optimum(2), toy.task_data(2)[0])
    assert f1[0] > 5 * f1[1] and f2[1] > 5 * f2[0]
    picture = toy.two_parameter_picture("finetune", 0.0)
    assert np.all(np.abs(picture.theta1 - picture.theta2) > 2)  # far apart in both weights
    low = np.unravel_index(picture.loss1.argmin(), picture.loss1.shape)
    assert abs(picture.w1[low[1]] - picture.theta1[0]) < 0.1  # the grid's lowest node is next to theta1*
    for task in (0, 3):
        with pytest.raises(ValueError, match="tasks 1 and 2"):
            toy.task_data(task)


def test_the_fisher_is_the_models_own_expectation_in_closed_form():
    x, y = toy.task_data(1)
    theta1 = toy.optimum(1)
    p = _sigmoid(x @ theta1)
    by_hand = np.mean(p * (1 - p) * x.T**2, axis=1)  # F_i = mean_x p (1 - p) x_i^2
    np.testing.assert_allclose(toy.importance("ewc"), by_hand, rtol=1e-12)
    empirical = np.mean((y - p) ** 2 * x.T**2, axis=1)  # the labels' squared score: not the Fisher
    assert np.abs(empirical / by_hand - 1).max() > 0.05


def test_mas_importance_is_the_mean_magnitude_of_the_squared_outputs_gradient():
    x, _ = toy.task_data(1)
    theta1 = toy.optimum(1)
    f = x @ theta1
    np.testing.assert_allclose(toy.importance("mas"), np.mean(np.abs(2 * f * x.T), axis=1), rtol=1e-12)
    h = 1e-4  # f^2 is quadratic in theta: central differences are exact up to rounding
    by_differences = [
        np.mean(np.abs(((x @ (theta1 + h * e)) ** 2 - (x @ (theta1 - h * e)) ** 2) / (2 * h))) for e in np.eye(2)
    ]
    np.testing.assert_allclose(toy.importance("mas"), by_differences, rtol=1e-8)
    np.testing.assert_array_equal(toy.importance("l2"), [1.0, 1.0])
    np.testing.assert_array_equal(toy.importance("finetune"), [0.0, 0.0])


def test_at_strength_zero_every_method_is_fine_tuning_exactly():
    finetune = toy.two_parameter_picture("finetune", 0.0)
    assert finetune.path.shape == (toy.DEFAULT_STEPS + 1, 2)
    np.testing.assert_array_equal(finetune.path[0], finetune.theta1)
    for method in toy.METHODS:
        for strength in (0, 0.0):
            np.testing.assert_array_equal(toy.two_parameter_picture(method, strength).path, finetune.path)
    np.testing.assert_array_equal(toy.two_parameter_picture("finetune", 50.0).path, finetune.path)


def test_fine_tuning_reaches_task_2s_optimum_and_forgets_task_1():
    picture = toy.two_parameter_picture("finetune", 0.0)
    assert np.linalg.norm(picture.path[-1] - picture.theta2) < 0.01
    assert picture.final_loss2 - picture.optimum_loss2 < 1e-6
    assert picture.final_loss1 > picture.path_loss1[0] + 2
    assert picture.final_acc1 < 0.5 < picture.path_acc1[0]


@pytest.mark.parametrize("method", PENALTIES)
@pytest.mark.parametrize("strength", [0.1, 1.0, 10.0])
def test_a_penalty_keeps_task_1_and_pays_on_task_2(method, strength):
    finetune = toy.two_parameter_picture("finetune", 0.0)
    picture = toy.two_parameter_picture(method, strength)
    assert picture.final_loss1 < finetune.final_loss1
    assert picture.final_loss2 > finetune.final_loss2
    # the path has converged to the penalised optimum: grad L2 + lambda w (theta - theta1*) = 0
    end = picture.path[-1]
    residual = _task2_gradient(end) + strength * picture.importance * (end - picture.theta1)
    assert np.abs(residual).max() < 1e-9
    # the losses along the path are the tasks' losses at its points
    assert picture.final_loss1 == pytest.approx(float(toy.mean_nll(end, *toy.task_data(1))), rel=1e-12)


def test_a_stronger_penalty_ends_nearer_task_1s_optimum():
    for method in PENALTIES:
        distances = [
            np.linalg.norm(toy.two_parameter_picture(method, s).path[-1] - toy.optimum(1)) for s in (0.1, 1, 10, 1e6)
        ]
        assert distances == sorted(distances, reverse=True) and distances[-1] < 1e-3


def test_ewc_ends_where_the_valleys_cross_and_l2_stops_short():
    ewc, l2 = toy.two_parameter_picture("ewc", 1.0), toy.two_parameter_picture("l2", 1.0)
    best1 = ewc.path_loss1[0]
    assert ewc.final_loss1 < best1 + 0.1 and ewc.final_loss2 < ewc.optimum_loss2 + 0.15
    assert ewc.final_loss1 + ewc.final_loss2 < l2.final_loss1 + l2.final_loss2


@pytest.mark.parametrize(
    "kwargs, message",
    [
        ({"method": "sgd"}, "method must be one of finetune, l2, ewc, mas"),
        ({"method": "EWC"}, "method must be one of"),
        ({"strength": -1.0}, "strength must be a finite number from 0"),
        ({"strength": float("nan")}, "strength must be a finite number"),
        ({"strength": float("inf")}, "strength must be a finite number"),
        ({"strength": 1e7}, "strength must be a finite number from 0 to 1e\\+06"),
        ({"strength": "1"}, "strength must be a number"),
        ({"strength": True}, "strength must be a number"),
        ({"steps": 0}, "steps must be a whole number from 1 to 10000"),
        ({"steps": 10**6}, "steps must be a whole number"),
        ({"steps": 2.5}, "steps must be a whole number"),
        ({"steps": True}, "steps must be a whole number"),
        ({"grid": 3}, "grid must be a whole number from 11 to 301"),
        ({"grid": 5000}, "grid must be a whole number"),
        ({"grid": 50.0}, "grid must be a whole number"),
    ],
)
def test_bad_inputs_say_what_was_expected(kwargs, message):
    arguments = {"method": "ewc", "strength": 1.0, **kwargs}
    with pytest.raises(UserError, match=message):
        toy.two_parameter_picture(**arguments)


def test_numpy_numbers_are_accepted():
    picture = toy.two_parameter_picture("mas", np.float32(0.5), steps=np.int64(20), grid=np.int32(31))
    assert picture.strength == 0.5 and picture.steps == 20 and picture.loss1.shape == (31, 31)


def test_a_slider_move_recomputes_only_the_path_and_the_cache_cannot_be_written():
    a = toy.two_parameter_picture("ewc", 1.0)
    b = toy.two_parameter_picture("mas", 3.0)
    assert a.loss1 is b.loss1 and a.w1 is b.w1 and a.theta1 is b.theta1
    for shared in (a.loss1, a.loss2, a.w1, a.theta1, a.importance, toy.task_data(1)[0]):
        with pytest.raises(ValueError):
            shared[0] = 0.0


def _names(fig: go.Figure) -> list[str]:
    return [trace.name for trace in fig.data]


def test_one_methods_figure_has_its_contours_path_markers_and_ellipse():
    picture = toy.two_parameter_picture("ewc", 1.0)
    fig = figures.toy_figure(picture, height=500, font_size=15)
    assert _names(fig) == [
        "task 1 loss",
        "task 2 loss",
        "penalty level through the end",
        "EWC path",
        "start",
        "EWC end",
        "task 1 optimum θ1*",
        "task 2 optimum θ2*",
    ]
    task1, task2, ellipse, path, start, end, star1, star2 = fig.data
    assert isinstance(task1, go.Contour) and task1.contours.coloring == "fill"
    assert isinstance(task2, go.Contour) and task2.contours.coloring == "lines"
    np.testing.assert_array_equal(np.asarray(path.x), picture.path[:, 0])
    np.testing.assert_array_equal(np.asarray(path.y), picture.path[:, 1])
    assert (start.x[0], start.y[0]) == tuple(picture.theta1) and (end.x[0], end.y[0]) == tuple(picture.path[-1])
    assert (star2.x[0], star2.y[0]) == tuple(picture.theta2)
    # the ellipse is the penalty's level set through the end
    points = np.stack([np.asarray(ellipse.x), np.asarray(ellipse.y)], axis=1)
    levels = np.sum(picture.importance * (points - picture.theta1) ** 2, axis=1)
    np.testing.assert_allclose(levels, np.sum(picture.importance * (picture.path[-1] - picture.theta1) ** 2))
    note = fig.layout.annotations[0].text
    assert "F" in note and "holds w1 9.5× harder than w2" in note
    assert fig.layout.yaxis.scaleanchor == "x" and fig.layout.height == 500 and fig.layout.font.size == 15
    assert json.loads(fig.to_json())["data"][0]["type"] == "contour"


def test_fine_tuning_draws_no_ellipse_and_says_it_protects_nothing():
    fig = figures.toy_figure(toy.two_parameter_picture("finetune", 0.0))
    assert "penalty level through the end" not in _names(fig)
    assert fig.layout.annotations[0].text == "fine-tuning: no penalty, nothing protected"
    off = figures.toy_figure(toy.two_parameter_picture("mas", 0.0))
    assert "penalty level through the end" not in _names(off) and "penalty is off" in off.layout.annotations[0].text


def test_the_comparison_draws_every_path_over_one_pair_of_contours():
    pictures = [toy.two_parameter_picture(m, 1.0) for m in toy.METHODS]
    fig = figures.compare_figure(pictures)
    names = _names(fig)
    assert names.count("task 1 loss") == 1 and names.count("task 2 loss") == 1 and names.count("start") == 1
    lines = [t for t in fig.data if isinstance(t, go.Scatter) and t.mode == "lines"]
    assert [t.line.color for t in lines] == [figures.METHOD_COLORS[m] for m in toy.METHODS]
    assert lines[0].name == f"fine-tuning: task 1 {pictures[0].final_loss1:.2f}, task 2 {pictures[0].final_loss2:.2f}"
    assert lines[2].name.startswith("EWC (λ 1): task 1 ")
    assert [t.line.width for t in lines] == sorted((t.line.width for t in lines), reverse=True)
    assert fig.layout.title.text.startswith("the methods at λ = 1")
    with pytest.raises(ValueError):
        figures.compare_figure([pictures[0], toy.two_parameter_picture("ewc", 1.0, grid=21)])
    with pytest.raises(ValueError):
        figures.compare_figure([])


def test_the_caption_says_what_happened_to_both_tasks():
    picture = toy.two_parameter_picture("finetune", 0.0)
    text = figures.caption(picture)
    assert text.startswith(f"Fine-tuning, {picture.steps} steps of gradient descent on task 2")
    assert f"task 1's loss rose from {picture.path_loss1[0]:.2f} to {picture.final_loss1:.2f}" in text
    assert f"task 2's loss fell from {picture.path_loss2[0]:.2f} to {picture.final_loss2:.2f}" in text
    assert f"{picture.final_acc1:.0%}" in text and f"{picture.optimum_loss2:.2f}" in text
    pinned = figures.caption(toy.two_parameter_picture("l2", 1e6))
    assert pinned.startswith("L2 at strength λ = 1e+06") and "task 1's loss stayed at" in pinned
