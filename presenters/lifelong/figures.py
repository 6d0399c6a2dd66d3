"""Plotly figures of the lifelong page: the accuracy curves over the stream, the accuracy matrix,
forgetting per task, the importance pictures, the layers' drift, and Compare's side-by-side views.

Every figure is built from plain dicts in one go (no add_trace / add_vrect calls, each of which
validates the whole figure again): a 50-task stream has 50 curves and 50 shaded spans, and the
Explore view draws five figures per script run.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import plotly.graph_objects as go
from plotly.colors import hex_to_rgb, qualitative, sequential

from core.lifelong.metrics import RunMatrix, Scores

TASK_COLOURS = tuple(c.lower() for c in qualitative.D3)  # plotly's ten D3 colours
MATRIX_COLOURS = "Viridis"
# Inferno as rgb() text: its first stop, "#000004", is one of the placeholder colours Streamlit's
# chart code replaces with a theme colour (streamlit/elements/lib/streamlit_plotly_theme.py), which
# drew every picture's zeros violet.
IMPORTANCE_COLOURS = [
    [i / (len(sequential.Inferno) - 1), "rgb({}, {}, {})".format(*hex_to_rgb(c))]
    for i, c in enumerate(sequential.Inferno)
]
ACCURACY = "accuracy on the test split"
LABELLED_SPANS = 12  # more tasks than this: the shaded spans carry no "task i" labels (they would overlap)
MATRIX_TEXT = 15  # more tasks than this: the matrix's cells carry no numbers (too small to read)
COMPARE_COLUMNS = 3
PICTURE_COLUMNS = 5
LAYER_NAMES = {"head": "output head", "conv1": "conv 1", "conv2": "conv 2", "fc": "hidden (after the convs)"}


@dataclass(frozen=True)
class RunView:
    """One run as the figures draw it: stored, or live from a training job's rows."""

    title: str
    matrix: RunMatrix
    names: tuple[str, ...]  # the tasks' names, "0°", "permutation 3", "2/3"
    epochs_per_task: int

    @property
    def tasks(self) -> int:
        return len(self.names)

    @property
    def learned(self) -> int:
        return len(self.matrix.R)


def task_colour(j: int) -> str:
    return TASK_COLOURS[j % len(TASK_COLOURS)]


def task_label(j: int, names: Sequence[str]) -> str:
    """ "task 2 (20°)" for the 0-based task j."""
    return f"task {j + 1} ({names[j]})"


def layer_label(name: str) -> str:
    """A weight's module name in words: "layers.0" is "hidden 1", "head" the "output head"."""
    if name.startswith("layers."):
        return f"hidden {int(name.split('.')[1]) + 1}"
    return LAYER_NAMES.get(name, name)


def _rgba(colour: str, alpha: float) -> str:
    r, g, b = (int(colour[i : i + 2], 16) for i in (1, 3, 5))
    return f"rgba({r}, {g}, {b}, {alpha})"


def _layout(font_size: int, height: int, title: str) -> dict[str, Any]:
    return {
        "title": {"text": title, "font": {"size": round(font_size * 1.25)}},
        "font": {"size": font_size},
        "height": height,
        "margin": {"l": 10, "r": 10, "t": round(font_size * 4), "b": 10},
        "legend": {"orientation": "h", "y": -0.2, "yanchor": "top", "x": 0},
        "uirevision": "keep",  # zoom and legend clicks survive the live redraws
        "plot_bgcolor": "white",
    }


def _axis(n: int, kind: str) -> str:
    """Plotly's name of the n-th (1-based) x or y axis in a layout: xaxis, xaxis2, ..."""
    return f"{kind}axis" if n == 1 else f"{kind}axis{n}"


def _ref(n: int, kind: str) -> str:
    """The same axis as a trace or shape refers to it: x, x2, ..."""
    return kind if n == 1 else f"{kind}{n}"


def _grid(count: int, columns: int, gap: float = 0.06, row_gap: float = 0.12) -> list[tuple[list[float], list[float]]]:
    """(x domain, y domain) of `count` panels in rows of `columns`, top row first."""
    cols = min(count, columns)
    rows = math.ceil(count / cols)
    width = (1 - gap * (cols - 1)) / cols
    height = (1 - row_gap * (rows - 1)) / rows
    cells = []
    for i in range(count):
        r, c = divmod(i, cols)
        x0 = c * (width + gap)
        y1 = 1 - r * (height + row_gap)
        cells.append(([x0, x0 + width], [y1 - height, y1]))
    return cells


# ---- accuracy over the stream ------------------------------------------------------------------


def _moments(view: RunView) -> list[str]:
    """What each stored epoch was, for the hover: "before training", "epoch 7, learning task 2 (20°)"."""
    out = []
    for epoch, task in zip(view.matrix.epochs.tolist(), view.matrix.task_of_epoch.tolist()):
        out.append("before training" if epoch == 0 else f"epoch {epoch}, learning {task_label(task - 1, view.names)}")
    return out


def _curve_traces(view: RunView, panel: int = 1, legend: bool = True) -> list[dict[str, Any]]:
    """One line per task, dotted before the task is learned (what the network does on a task it has
    not seen yet) and solid from the start of its own span on."""
    x = view.matrix.epochs
    moments = np.array(_moments(view), dtype=object)
    traces = []
    for j in range(view.tasks):
        y = view.matrix.curves[:, j]
        start = j * view.epochs_per_task  # the last epoch before task j+1's own span
        colour = task_colour(j)
        name = task_label(j, view.names)
        common = {
            "type": "scatter",
            "legendgroup": f"task {j + 1}",
            "xaxis": _ref(panel, "x"),
            "yaxis": _ref(panel, "y"),
            "hovertemplate": f"%{{text}}<br>{name}: accuracy %{{y:.3f}}<extra></extra>",
        }
        before = x <= start
        if before.sum() > 1:
            traces.append(
                {
                    **common,
                    "x": x[before],
                    "y": y[before],
                    "text": moments[before],
                    "name": f"{name}, not learned yet",
                    "mode": "lines",
                    "line": {"color": colour, "width": 1.5, "dash": "dot"},
                    "showlegend": False,
                }
            )
        after = x >= start
        traces.append(
            {
                **common,
                "x": x[after],
                "y": y[after],
                "text": moments[after],
                "name": name,
                "mode": "lines+markers" if view.epochs_per_task * view.tasks <= 60 else "lines",
                "marker": {"size": 5},
                "line": {"color": colour, "width": 2.5},
                "showlegend": legend,
            }
        )
    return traces


def _spans(view: RunView, panel: int = 1, font_size: int = 13) -> tuple[list[dict], list[dict]]:
    """Shapes and labels: each task's span of epochs shaded in its colour, a dotted line at each boundary."""
    e = view.epochs_per_task
    xref, yref = _ref(panel, "x"), f"{_ref(panel, 'y')} domain"
    shapes, labels = [], []
    for j in range(view.tasks):
        shapes.append(
            {
                "type": "rect",
                "xref": xref,
                "yref": yref,
                "x0": j * e,
                "x1": (j + 1) * e,
                "y0": 0,
                "y1": 1,
                "fillcolor": _rgba(task_colour(j), 0.08),
                "line": {"width": 0},
                "layer": "below",
            }
        )
        if j > 0:
            shapes.append(
                {
                    "type": "line",
                    "xref": xref,
                    "yref": yref,
                    "x0": j * e,
                    "x1": j * e,
                    "y0": 0,
                    "y1": 1,
                    "line": {"color": "#888", "width": 1, "dash": "dot"},
                }
            )
        if view.tasks <= LABELLED_SPANS:
            labels.append(
                {
                    "xref": xref,
                    "yref": yref,
                    "x": (j + 0.5) * e,
                    "y": 1.0,
                    "yanchor": "bottom",
                    "text": f"task {j + 1}",
                    "showarrow": False,
                    "font": {"size": round(font_size * 0.8), "color": task_colour(j)},
                }
            )
    return shapes, labels


def _epoch_axis(view: RunView, title: bool = True) -> dict[str, Any]:
    total = view.tasks * view.epochs_per_task
    axis: dict[str, Any] = {"range": [-0.3, total + 0.3], "showgrid": False, "zeroline": False}
    if total <= 20:
        axis["dtick"] = 1
    if title:
        axis["title"] = {"text": "epoch over the stream (0: before training)"}
    return axis


def _accuracy_axis(title: bool = True) -> dict[str, Any]:
    axis: dict[str, Any] = {"range": [0, 1.04], "gridcolor": "#eee", "zeroline": False}
    if title:
        axis["title"] = {"text": ACCURACY}
    return axis


def curves_figure(view: RunView, *, title: str = "", font_size: int = 13, height: int = 440) -> go.Figure:
    """The classic picture: the accuracy on every task's test split after every epoch, one line per
    task, the tasks' spans of epochs shaded. A live run's axis already spans the whole stream."""
    shapes, labels = _spans(view, font_size=font_size)
    layout = _layout(font_size, height, title)
    layout |= {"xaxis": _epoch_axis(view), "yaxis": _accuracy_axis(), "shapes": shapes, "annotations": labels}
    layout["hovermode"] = "closest"
    return go.Figure({"data": _curve_traces(view), "layout": layout})


# ---- the accuracy matrix -----------------------------------------------------------------------


def padded(R: np.ndarray, rows: int) -> np.ndarray:
    """R with NaN rows for the tasks not learned yet, `rows` in all (a live run's matrix fills in)."""
    out = np.full((rows, R.shape[1]), np.nan)
    out[: len(R)] = R
    return out


def _matrix_trace(view: RunView, panel: int = 1, scale: bool = True) -> dict[str, Any]:
    z = padded(view.matrix.R, view.tasks)
    names = view.names
    hover = [
        [
            f"after learning {task_label(i, names)}:<br>accuracy {z[i, j]:.3f} on {task_label(j, names)}'s test split"
            if np.isfinite(z[i, j])
            else f"{task_label(i, names)} not learned yet"
            for j in range(view.tasks)
        ]
        for i in range(view.tasks)
    ]
    trace = {
        "type": "heatmap",
        "z": z,
        "x": [str(j + 1) for j in range(view.tasks)],
        "y": [str(i + 1) for i in range(view.tasks)],
        "coloraxis": "coloraxis",
        "hovertext": hover,
        "hoverinfo": "text",
        "xgap": 1,
        "ygap": 1,
        "xaxis": _ref(panel, "x"),
        "yaxis": _ref(panel, "y"),
    }
    if view.tasks <= MATRIX_TEXT:
        trace["text"] = [[f"{v:.2f}" if np.isfinite(v) else "" for v in row] for row in z]
        trace["texttemplate"] = "%{text}"
    return trace


def _matrix_axes(view: RunView, row_title: bool = True) -> tuple[dict[str, Any], dict[str, Any]]:
    x = {"title": {"text": "accuracy on task … (its test split)"}, "side": "bottom", "type": "category"}
    y = {"autorange": "reversed", "type": "category"}
    if row_title:
        y["title"] = {"text": "after learning task …"}
    return x, y


def _coloraxis() -> dict[str, Any]:
    return {
        "colorscale": MATRIX_COLOURS,
        "cmin": 0,
        "cmax": 1,
        "colorbar": {"title": {"text": "accuracy", "side": "right"}, "thickness": 14, "len": 0.9},
    }


def matrix_figure(view: RunView, *, title: str = "", font_size: int = 13, height: int = 440) -> go.Figure:
    """The accuracy matrix: row i after learning task i, column j the accuracy on task j's test
    split; rows of tasks not learned yet are blank. Above the diagonal: tasks not learned yet."""
    layout = _layout(font_size, height, title)
    x, y = _matrix_axes(view)
    layout |= {"xaxis": x, "yaxis": y, "coloraxis": _coloraxis()}
    layout["margin"]["l"] = round(font_size * 4)
    return go.Figure({"data": [_matrix_trace(view)], "layout": layout})


# ---- scores ------------------------------------------------------------------------------------


def forgetting_figure(view: RunView, scores: Scores, *, font_size: int = 13, height: int = 340) -> go.Figure:
    """Per task before the last one learned: how much of its best accuracy it lost by the end
    (forgetting) and its accuracy at the end minus just after it was learned (backward transfer)."""
    R = view.matrix.R
    k = len(R)
    tasks = [task_label(j, view.names) for j in range(k - 1)]
    bwt = [float(R[k - 1, j] - R[j, j]) for j in range(k - 1)]
    data = [
        {
            "type": "bar",
            "x": tasks,
            "y": list(scores.forgetting_per_task),
            "name": "forgetting: best accuracy before the end − at the end",
            "marker": {"color": "#d62728"},
            "hovertemplate": "%{x}: forgot %{y:.3f}<extra></extra>",
        },
        {
            "type": "bar",
            "x": tasks,
            "y": bwt,
            "name": "backward transfer: at the end − just after learning it",
            "marker": {"color": "#1f77b4"},
            "hovertemplate": "%{x}: %{y:+.3f} since it was learned<extra></extra>",
        },
    ]
    title = f"after learning {task_label(k - 1, view.names)}: what the earlier tasks lost"
    layout = _layout(font_size, height, title)
    layout |= {
        "barmode": "group",
        "xaxis": {"type": "category"},
        "yaxis": {"title": {"text": "change of accuracy (test split)"}, "gridcolor": "#eee", "zerolinecolor": "#444"},
    }
    return go.Figure({"data": data, "layout": layout})


# ---- importance pictures and drift -------------------------------------------------------------


def importance_figure(
    pictures: Mapping[int, np.ndarray],
    names: Sequence[str],
    *,
    title: str = "",
    font_size: int = 13,
    panel_height: int = 220,
) -> go.Figure:
    """One heatmap per learned task (1-based keys), each scaled to its own largest value: where in
    the input the method holds the first layer's weights hardest. Rows of PICTURE_COLUMNS."""
    tasks = sorted(pictures)
    rows = math.ceil(len(tasks) / PICTURE_COLUMNS)
    cells = _grid(len(tasks), PICTURE_COLUMNS, gap=0.02, row_gap=0.3 / rows)
    layout = _layout(font_size, round(panel_height * rows + font_size * 5), title)
    data, annotations = [], []
    for n, (task, (xd, yd)) in enumerate(zip(tasks, cells), start=1):
        picture = np.asarray(pictures[task], dtype=float)
        top = float(picture.max())
        data.append(
            {
                "type": "heatmap",
                "z": picture / top if top > 0 else picture,
                "coloraxis": "coloraxis",
                "xaxis": _ref(n, "x"),
                "yaxis": _ref(n, "y"),
                "hovertemplate": f"task {task}: row %{{y}}, column %{{x}}: %{{z:.2f}} of its largest<extra></extra>",
            }
        )
        layout[_axis(n, "x")] = {"domain": xd, "visible": False, "constrain": "domain"}
        layout[_axis(n, "y")] = {
            "domain": yd,
            "visible": False,
            "autorange": "reversed",
            "scaleanchor": _ref(n, "x"),
            "constrain": "domain",
        }
        annotations.append(
            {
                # the axes' own box: with equal scales it is narrower than its share of the paper
                "xref": f"{_ref(n, 'x')} domain",
                "yref": f"{_ref(n, 'y')} domain",
                "x": 0.5,
                "y": 1.0,
                "yanchor": "bottom",
                "text": f"task {task}<br>{names[task - 1]}",
                "showarrow": False,
                "font": {"size": font_size, "color": task_colour(task - 1)},
            }
        )
    layout |= {
        "annotations": annotations,
        "coloraxis": {
            "colorscale": IMPORTANCE_COLOURS,
            "cmin": 0,
            "cmax": 1,
            "colorbar": {"title": {"text": "share of the task's largest", "side": "right"}, "thickness": 12},
        },
    }
    return go.Figure({"data": data, "layout": layout})


def drift_figure(
    records: Sequence[Mapping[str, Any]], names: Sequence[str], *, font_size: int = 13, height: int = 360
) -> go.Figure:
    """How far each layer's weights moved while each task was learned, relative to where they
    started that task: one bar per layer and task, grouped by layer."""
    data = []
    for record in records:
        task = int(record["task"])
        layers = record["layers"]
        data.append(
            {
                "type": "bar",
                "x": [layer_label(layer["name"]) for layer in layers],
                "y": [layer["relative_drift"] for layer in layers],
                "customdata": [layer["drift"] for layer in layers],
                "name": task_label(task - 1, names),
                "marker": {"color": task_colour(task - 1)},
                "hovertemplate": f"while learning {task_label(task - 1, names)}<br>%{{x}}: moved %{{y:.3f}} of its "
                "norm (‖Δw‖ = %{customdata:.3f})<extra></extra>",
            }
        )
    layout = _layout(font_size, height, "how far each layer moved while each task was learned")
    layout |= {
        "barmode": "group",
        "xaxis": {"type": "category"},
        "yaxis": {"title": {"text": "‖Δw‖ / ‖w at the task's start‖"}, "gridcolor": "#eee", "rangemode": "tozero"},
    }
    return go.Figure({"data": data, "layout": layout})


# ---- Compare -----------------------------------------------------------------------------------


def _panel_titles(views: Sequence[RunView], cells, font_size: int) -> list[dict[str, Any]]:
    return [
        {
            "xref": "paper",
            "yref": "paper",
            "x": (xd[0] + xd[1]) / 2,
            "y": yd[1] + 0.02,
            "yanchor": "bottom",
            "text": f"{i + 1}: {view.title}",
            "showarrow": False,
            "font": {"size": font_size},
        }
        for i, (view, (xd, yd)) in enumerate(zip(views, cells))
    ]


def compare_curves_figure(views: Sequence[RunView], *, font_size: int = 13, panel_height: int = 380) -> go.Figure:
    """Each run's curves in a panel of its own, on one accuracy scale; the tasks' colours and the
    legend are shared (the runs learn the same stream)."""
    rows = math.ceil(len(views) / COMPARE_COLUMNS)
    cells = _grid(len(views), COMPARE_COLUMNS, row_gap=0.3 / rows)
    layout = _layout(font_size, round(panel_height * rows + font_size * 6), "")
    data, shapes = [], []
    annotations = _panel_titles(views, cells, font_size)
    for n, (view, (xd, yd)) in enumerate(zip(views, cells), start=1):
        data += _curve_traces(view, panel=n, legend=n == 1)
        spans, _ = _spans(view, panel=n, font_size=font_size)
        shapes += spans
        first_column = xd[0] == 0
        layout[_axis(n, "x")] = {**_epoch_axis(view, title=n > len(views) - COMPARE_COLUMNS), "domain": xd}
        layout[_axis(n, "y")] = {
            **_accuracy_axis(title=first_column),
            "domain": yd,
            "anchor": _ref(n, "x"),
            "showticklabels": first_column,
        }
        layout[_axis(n, "x")]["anchor"] = _ref(n, "y")
    layout |= {"shapes": shapes, "annotations": annotations, "hovermode": "closest"}
    layout["legend"]["y"] = -0.08 if rows > 1 else -0.2
    return go.Figure({"data": data, "layout": layout})


def compare_matrices_figure(views: Sequence[RunView], *, font_size: int = 13, panel_height: int = 360) -> go.Figure:
    """The runs' accuracy matrices side by side on one colour scale."""
    rows = math.ceil(len(views) / COMPARE_COLUMNS)
    cells = _grid(len(views), COMPARE_COLUMNS, row_gap=0.3 / rows)
    layout = _layout(font_size, round(panel_height * rows + font_size * 6), "")
    data = []
    for n, (view, (xd, yd)) in enumerate(zip(views, cells), start=1):
        data.append(_matrix_trace(view, panel=n))
        x, y = _matrix_axes(view, row_title=xd[0] == 0)
        layout[_axis(n, "x")] = {**x, "domain": xd, "anchor": _ref(n, "y")}
        layout[_axis(n, "y")] = {**y, "domain": yd, "anchor": _ref(n, "x")}
    layout |= {"annotations": _panel_titles(views, cells, font_size), "coloraxis": _coloraxis()}
    layout["margin"]["l"] = round(font_size * 4)
    return go.Figure({"data": data, "layout": layout})
