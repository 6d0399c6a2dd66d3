"""Plotly figures of the two-parameter picture (core.lifelong.toy): task 1's loss as filled contours,
task 2's as orange lines, both optima, and the path task 2's training takes from task 1's optimum.

One method's figure also draws the penalty's level set through the path's end,

    sum_i w_i (theta_i - theta1*_i)^2 = sum_i w_i (end_i - theta1*_i)^2,

an ellipse with semi-axes proportional to 1 / sqrt(w_i): narrow along the weight the method
protects. At the end of a converged path the gradients of task 2's loss and of the penalty cancel,
so there the ellipse touches a task-2 contour; the caption and an annotation give the numbers.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import plotly.graph_objects as go

from core.lifelong.toy import ToyPicture

METHOD_LABELS = {"finetune": "fine-tuning", "l2": "L2", "ewc": "EWC", "mas": "MAS"}
METHOD_COLORS = {"finetune": "#d62728", "l2": "#9467bd", "ewc": "#2ca02c", "mas": "#000000"}
TASK1 = "#08519c"
TASK2 = "#e6550d"
START = "#444444"  # the comparison's one start ring: it belongs to no method
_LEVEL_SIZES = (0.05, 0.1, 0.2, 0.25, 0.5, 1.0, 2.0)
# Contours from each minimum up to this much above it: the valleys get the colours and lines, and
# everything worse than that (the other task's optimum, for task 1) reads as one "bad" colour.
_SPAN = 2.0
_LEVELS = {"fill": 20, "lines": 10}  # task 1's fill can take more levels than task 2's lines before they merge
_ELLIPSE_POINTS = 121


def _levels(loss: np.ndarray, count: int) -> dict:
    """About `count` evenly spaced contour levels at a round spacing, from just above the minimum."""
    low = float(loss.min())
    size = next((s for s in _LEVEL_SIZES if s >= _SPAN / count), _LEVEL_SIZES[-1])
    return {"start": (np.floor(low / size) + 1) * size, "end": low + _SPAN, "size": size}


def _surfaces(picture: ToyPicture) -> list[go.Contour]:
    # float32 halves what every slider move sends (the grids are most of the figure's JSON); contours
    # need nowhere near its 7 digits
    loss1, loss2 = picture.loss1.astype(np.float32), picture.loss2.astype(np.float32)
    low1 = float(picture.loss1.min())
    task1 = go.Contour(
        x=picture.w1,
        y=picture.w2,
        z=loss1,
        name="task 1 loss",
        colorscale="Blues",
        zmin=low1,
        zmax=low1 + _SPAN,
        contours={**_levels(picture.loss1, _LEVELS["fill"]), "coloring": "fill"},
        line={"width": 0.5, "color": "rgba(8, 48, 107, 0.35)"},
        colorbar={"title": {"text": "task 1 loss", "side": "right"}, "thickness": 12, "len": 0.8},
        hovertemplate="w1 %{x:.2f}, w2 %{y:.2f}<br>task 1 loss %{z:.3f}<extra></extra>",
    )
    task2 = go.Contour(
        x=picture.w1,
        y=picture.w2,
        z=loss2,
        name="task 2 loss",
        showlegend=True,
        showscale=False,
        colorscale=[[0, TASK2], [1, TASK2]],
        contours={**_levels(picture.loss2, _LEVELS["lines"]), "coloring": "lines"},
        line={"width": 1.3},
        hoverinfo="skip",
    )
    return [task1, task2]


def _optima(picture: ToyPicture) -> list[go.Scatter]:
    def star(theta: np.ndarray, name: str, color: str) -> go.Scatter:
        return go.Scatter(
            x=[theta[0]],
            y=[theta[1]],
            mode="markers",
            name=name,
            marker={"symbol": "star", "size": 17, "color": color, "line": {"color": "white", "width": 1.5}},
            hovertemplate=f"{name}: w1 %{{x:.3f}}, w2 %{{y:.3f}}<extra></extra>",
        )

    return [star(picture.theta1, "task 1 optimum θ1*", TASK1), star(picture.theta2, "task 2 optimum θ2*", TASK2)]


def _path(picture: ToyPicture, name: str, color: str, start_color: str | None, width: float = 3) -> list[go.Scatter]:
    """The path as a line (hover: step and both losses), a dot at its end and, given its colour, a ring at
    its start."""
    label = METHOD_LABELS[picture.method]
    steps = np.arange(len(picture.path))
    line = go.Scatter(
        x=picture.path[:, 0],
        y=picture.path[:, 1],
        mode="lines",
        name=name,
        line={"color": color, "width": width},
        customdata=np.stack([steps, picture.path_loss1, picture.path_loss2], axis=1),
        hovertemplate="step %{customdata[0]}: task 1 loss %{customdata[1]:.3f}, task 2 loss %{customdata[2]:.3f}"
        f"<extra>{label}</extra>",
    )
    end = go.Scatter(
        x=[picture.path[-1, 0]],
        y=[picture.path[-1, 1]],
        mode="markers",
        name=f"{label} end",
        showlegend=False,
        marker={"symbol": "circle", "size": 12, "color": color, "line": {"color": "white", "width": 1.5}},
        hovertemplate=f"{label} after {picture.steps} steps: task 1 loss {picture.final_loss1:.3f}, "
        f"task 2 loss {picture.final_loss2:.3f}<extra></extra>",
    )
    if start_color is None:
        return [line, end]
    start = go.Scatter(
        x=[picture.path[0, 0]],
        y=[picture.path[0, 1]],
        mode="markers",
        name="start",
        showlegend=False,
        marker={"symbol": "circle-open", "size": 24, "color": start_color, "line": {"width": 2.5}},
        hovertemplate="start: task 1's optimum<extra></extra>",
    )
    return [line, start, end]


def _penalty_ellipse(picture: ToyPicture) -> go.Scatter | None:
    """The penalty's level set through the path's end, or None where there is no penalty to draw."""
    w = picture.importance
    level = float(np.sum(w * (picture.path[-1] - picture.theta1) ** 2))
    if picture.strength == 0 or not np.all(w > 0) or level <= 0:
        return None
    t = np.linspace(0, 2 * np.pi, _ELLIPSE_POINTS)
    radius = np.sqrt(level / w)
    return go.Scatter(
        x=picture.theta1[0] + radius[0] * np.cos(t),
        y=picture.theta1[1] + radius[1] * np.sin(t),
        mode="lines",
        name="penalty level through the end",
        line={"color": METHOD_COLORS[picture.method], "width": 1.5, "dash": "dash"},
        hoverinfo="skip",
    )


def importance_text(picture: ToyPicture) -> str:
    """What the method's penalty weighs each weight by, and which it holds harder: for the figure."""
    w = picture.importance
    if picture.method == "finetune":
        return "fine-tuning: no penalty, nothing protected"
    if picture.method == "l2":
        text = "L2 holds both weights alike (1 and 1)"
    else:
        symbol, meaning = {"ewc": ("F", "task 1's Fisher"), "mas": ("Ω", "mean |∂f²/∂w|")}[picture.method]
        held, loose = (0, 1) if w[0] >= w[1] else (1, 0)
        text = (
            f"{METHOD_LABELS[picture.method]} weighs by {symbol}, {meaning}:<br>"
            f"{symbol}<sub>1</sub> = {w[0]:.3g} for w1, {symbol}<sub>2</sub> = {w[1]:.3g} for w2:<br>"
            f"holds w{held + 1} {w[held] / w[loose]:.1f}× harder than w{loose + 1}"
        )
    if picture.strength == 0:
        text += "<br>at λ = 0 the penalty is off: this is fine-tuning's path"
    return text


def _layout(fig: go.Figure, picture: ToyPicture, title: str, height: int, font_size: int) -> go.Figure:
    fig.update_layout(
        title={"text": title},
        xaxis={"title": "w1", "range": [picture.w1[0], picture.w1[-1]], "constrain": "domain"},
        yaxis={"title": "w2", "range": [picture.w2[0], picture.w2[-1]], "scaleanchor": "x", "scaleratio": 1},
        height=height,
        margin={"l": 50, "r": 10, "t": 40, "b": 30},
        legend={"orientation": "h", "yanchor": "top", "y": -0.12, "x": 0},
        hovermode="closest",
        font={"size": font_size},
    )
    return fig


def toy_figure(picture: ToyPicture, height: int = 560, font_size: int = 13) -> go.Figure:
    """One method's path over both tasks' contours, with its penalty's ellipse and importances."""
    label = METHOD_LABELS[picture.method]
    color = METHOD_COLORS[picture.method]
    fig = go.Figure(_surfaces(picture))
    ellipse = _penalty_ellipse(picture)
    if ellipse is not None:
        fig.add_trace(ellipse)
    fig.add_traces(_path(picture, f"{label} path", color, start_color=color))
    fig.add_traces(_optima(picture))
    fig.add_annotation(
        text=importance_text(picture),
        xref="x domain",  # the axes' own box: with equal scales it is narrower than the paper
        yref="y domain",
        x=0.01,
        y=0.01,
        xanchor="left",
        yanchor="bottom",
        align="left",
        showarrow=False,
        bgcolor="rgba(255, 255, 255, 0.85)",
        bordercolor=color,
        borderwidth=1.5,
    )
    title = f"{label}, λ = {picture.strength:g}: {picture.steps} steps on task 2"
    return _layout(fig, picture, title, height, font_size)


def compare_figure(pictures: Sequence[ToyPicture], height: int = 560, font_size: int = 13) -> go.Figure:
    """Several methods' paths over the same contours, each ending in a dot; the legend gives the losses."""
    if not pictures:
        raise ValueError("compare_figure needs at least one picture")
    first = pictures[0]
    if any(not (np.array_equal(p.w1, first.w1) and np.array_equal(p.w2, first.w2)) for p in pictures):
        raise ValueError("compare_figure draws pictures of one grid only")
    fig = go.Figure(_surfaces(first))
    # the paths share their first stretch (task 2's gradient at theta1* points along w2 for all of
    # them): each is drawn thinner than the one below, so every colour stays visible there
    widths = 2 + 1.5 * np.arange(len(pictures))[::-1]
    for i, picture in enumerate(pictures):
        strength = "" if picture.method == "finetune" else f" (λ {picture.strength:g})"
        name = (
            f"{METHOD_LABELS[picture.method]}{strength}: "
            f"task 1 {picture.final_loss1:.2f}, task 2 {picture.final_loss2:.2f}"
        )
        fig.add_traces(
            _path(picture, name, METHOD_COLORS[picture.method], start_color=START if i == 0 else None, width=widths[i])
        )
    fig.add_traces(_optima(first))
    strengths = {p.strength for p in pictures}
    title = f"the methods at λ = {first.strength:g}" if len(strengths) == 1 else "the methods compared"
    title += f": {first.steps} steps on task 2"
    return _layout(fig, first, title, height, font_size)


def _change(before: float, after: float, digits: int) -> str:
    a, b = f"{before:.{digits}f}", f"{after:.{digits}f}"
    if a == b:
        return f"stayed at {a}"
    return f"{'rose' if after > before else 'fell'} from {a} to {b}"


def caption(picture: ToyPicture) -> str:
    """The path's outcome in plain words: both tasks' losses and accuracies, before and after."""
    label = METHOD_LABELS[picture.method]
    how = label if picture.method == "finetune" else f"{label} at strength λ = {picture.strength:g}"
    acc1, acc2 = picture.path_acc1, picture.path_acc2
    return (
        f"{how[0].upper()}{how[1:]}, {picture.steps} steps of gradient descent on task 2 from task 1's optimum: "
        f"task 1's loss {_change(picture.path_loss1[0], picture.final_loss1, 2)} "
        f"(accuracy {acc1[0]:.0%} → {acc1[-1]:.0%}); "
        f"task 2's loss {_change(picture.path_loss2[0], picture.final_loss2, 2)} "
        f"(accuracy {acc2[0]:.0%} → {acc2[-1]:.0%}; at task 2's own optimum the loss is {picture.optimum_loss2:.2f})."
    )
