"""The lifelong page's downloads: the metric rows as CSV, the accuracy matrix and the curves as PNG
(drawn with Pillow: plotly's image export needs a Chrome it downloads, and the app works offline),
and the figures as one self-contained HTML file (plotly.js inlined: it opens offline, in a lecture)."""

from __future__ import annotations

import csv
import html
import io
import math
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

import numpy as np
import plotly.graph_objects as go
from PIL import Image, ImageDraw, ImageFont
from plotly.colors import sample_colorscale

from presenters.lifelong.figures import MATRIX_COLOURS, RunView, padded, task_colour, task_label

LEADING = ("epoch", "task", "task_epoch", "train_loss", "penalty")
BLANK = "#f2f2f2"  # a cell of a task not learned yet


def metrics_csv(rows: Iterable[Mapping[str, Any]], tasks: int) -> str:
    """One line per stored epoch (0: before training), in epoch order: the task being learned, the
    training loss and penalty, then acc_j and loss_j on every task j's test split; blank where a
    row has no value."""
    rows = sorted(rows, key=lambda r: r["epoch"])
    per_task = [f"{kind}_{j}" for kind in ("acc", "loss") for j in range(1, tasks + 1)]
    known = [*LEADING, *per_task]
    columns = known + [k for k in dict.fromkeys(k for r in rows for k in r) if k not in known]
    out = io.StringIO()
    writer = csv.DictWriter(out, columns, restval="", lineterminator="\n")
    writer.writeheader()
    writer.writerows({k: ("" if v is None else v) for k, v in r.items()} for r in rows)
    return out.getvalue()


def figures_html(figures: Sequence[go.Figure], title: str) -> str:
    """The figures in one HTML page that needs nothing else: plotly.js is inlined once."""
    parts = [
        fig.to_html(include_plotlyjs=i == 0, full_html=False, config={"displaylogo": False})
        for i, fig in enumerate(figures)
    ]
    return (
        f'<!DOCTYPE html>\n<html>\n<head>\n<meta charset="utf-8">\n<title>{html.escape(title)}</title>\n</head>\n'
        f"<body>\n<h2>{html.escape(title)}</h2>\n" + "\n".join(parts) + "\n</body>\n</html>\n"
    )


# ---- PNG -------------------------------------------------------------------------------------------


def _font(size: float) -> ImageFont.FreeTypeFont:
    return ImageFont.load_default(size=max(8, round(size)))


def _rgb(colour: str) -> tuple[int, int, int]:
    """ "#1f77b4" or "rgb(31, 119, 180)" as a tuple."""
    if colour.startswith("#"):
        return tuple(int(colour[i : i + 2], 16) for i in (1, 3, 5))
    return tuple(int(float(v)) for v in colour[colour.index("(") + 1 : -1].split(","))


def _tint(colour: str, amount: float) -> tuple[int, int, int]:
    """`colour` mixed with white: `amount` of the colour."""
    return tuple(round(amount * c + (1 - amount) * 255) for c in _rgb(colour))


def _png(image: Image.Image) -> bytes:
    out = io.BytesIO()
    image.save(out, format="PNG", optimize=True)
    return out.getvalue()


def _accuracy_colour(value: float) -> tuple[int, int, int]:
    return _rgb(sample_colorscale(MATRIX_COLOURS, [min(1.0, max(0.0, value))])[0])


def _dark(rgb: tuple[int, int, int]) -> bool:
    return 0.299 * rgb[0] + 0.587 * rgb[1] + 0.114 * rgb[2] < 140


def matrix_png(view: RunView, title: str = "") -> bytes:
    """The accuracy matrix as the page draws it: row i after learning task i, column j the
    accuracy on task j's test split, blank rows for tasks not learned yet, a colour bar."""
    n = view.tasks
    cell = max(16, min(90, 900 // n))
    scale = cell / 90
    label = _font(max(13, 20 * scale))
    left = round(max(label.getlength(f"after {task_label(i, view.names)}") for i in range(n))) + 30
    top, right, bottom = 140, 170, 70
    size = (left + n * cell + right, top + n * cell + bottom)
    image = Image.new("RGB", size, "white")
    draw = ImageDraw.Draw(image)
    draw.text((20, 20), title or "accuracy matrix", fill="black", font=_font(30))
    draw.text(
        (20, 62), "accuracy on each task's test split (columns) after learning each task (rows)", "#444", _font(20)
    )
    z = padded(view.matrix.R, n)
    value_font = _font(26 * scale)
    for i in range(n):
        y = top + i * cell
        draw.text((left - 12, y + cell / 2), f"after {task_label(i, view.names)}", "black", label, anchor="rm")
        for j in range(n):
            x = left + j * cell
            v = z[i, j]
            fill = _accuracy_colour(v) if np.isfinite(v) else _rgb(BLANK)
            draw.rectangle((x, y, x + cell - 2, y + cell - 2), fill=fill)
            if np.isfinite(v) and cell >= 40:
                colour = "white" if _dark(fill) else "black"
                draw.text((x + cell / 2, y + cell / 2), f"{v:.2f}", colour, value_font, anchor="mm")
    for j in range(n):
        heading = f"task {j + 1}" if cell >= 70 else str(j + 1)
        draw.text((left + j * cell + cell / 2, top - 8), heading, "black", label, anchor="md")
    draw.text((left, top + n * cell + 12), "column j: task j's test split", "#444", _font(18))
    _colour_bar(draw, (left + n * cell + 40, top, left + n * cell + 70, top + n * cell))
    return _png(image)


def _colour_bar(draw: ImageDraw.ImageDraw, box: tuple[int, int, int, int]) -> None:
    x0, y0, x1, y1 = box
    steps = max(1, y1 - y0)
    for k in range(steps):
        draw.line((x0, y1 - k, x1, y1 - k), fill=_accuracy_colour(k / steps))
    font = _font(18)
    for v in (0.0, 0.5, 1.0):
        y = y1 - v * steps
        draw.line((x1, y, x1 + 6, y), fill="black")
        draw.text((x1 + 10, y), f"{v:.1f}", "black", font, anchor="lm")
    draw.text(((x0 + x1) / 2, y0 - 10), "accuracy", "black", font, anchor="md")


def _dashed(draw: ImageDraw.ImageDraw, points: Sequence[tuple[float, float]], fill, width: int, dash: float) -> None:
    """A polyline drawn in dashes of `dash` pixels (Pillow draws only solid lines)."""
    on, left = True, dash
    for (xa, ya), (xb, yb) in zip(points, points[1:]):
        length = math.hypot(xb - xa, yb - ya)
        done = 0.0
        while done < length:
            step = min(left, length - done)
            t0, t1 = done / length, (done + step) / length
            if on:
                draw.line(
                    (xa + t0 * (xb - xa), ya + t0 * (yb - ya), xa + t1 * (xb - xa), ya + t1 * (yb - ya)), fill, width
                )
            done += step
            left -= step
            if left <= 1e-9:
                on, left = not on, dash


def _runs(xs: np.ndarray, ys: np.ndarray) -> list[list[tuple[float, float]]]:
    """The stretches of a curve between missing values."""
    runs, current = [], []
    for x, y in zip(xs, ys):
        if np.isfinite(y):
            current.append((x, y))
        elif current:
            runs.append(current)
            current = []
    if current:
        runs.append(current)
    return runs


def curves_png(view: RunView, title: str = "", size: tuple[int, int] = (1600, 1000)) -> bytes:
    """The accuracy curves as the page draws them: one line per task (dotted before the task is
    learned), each task's span of epochs shaded in its colour, the legend below."""
    width, height = size
    image = Image.new("RGB", size, "white")
    draw = ImageDraw.Draw(image)
    font, small = _font(22), _font(18)
    legend_rows = math.ceil(view.tasks / 4)
    left, right, top, bottom = 110, width - 40, 110, height - 110 - 34 * legend_rows
    total = view.tasks * view.epochs_per_task
    x_lo, x_hi, y_hi = -0.3, total + 0.3, 1.04

    def px(x: float, y: float) -> tuple[float, float]:
        return left + (x - x_lo) / (x_hi - x_lo) * (right - left), bottom - y / y_hi * (bottom - top)

    draw.text((20, 20), title or "accuracy over the stream", "black", _font(30))
    e = view.epochs_per_task
    for j in range(view.tasks):
        (xa, _), (xb, _) = px(j * e, 0), px((j + 1) * e, 0)
        draw.rectangle((xa, top, xb, bottom), fill=_tint(task_colour(j), 0.1))
        if j > 0:
            _dashed(draw, [(xa, top), (xa, bottom)], (136, 136, 136), 1, 5)
        if view.tasks <= 12:
            draw.text(((xa + xb) / 2, top - 6), f"task {j + 1}", task_colour(j), small, anchor="md")
    for k in range(6):
        y = k / 5
        _, py = px(0, y)
        draw.line((left, py, right, py), fill=(230, 230, 230))
        draw.text((left - 10, py), f"{y:.1f}", "black", small, anchor="rm")
    step = max(1, math.ceil(total / 20))
    for epoch in range(0, total + 1, step):
        x, _ = px(epoch, 0)
        draw.line((x, bottom, x, bottom + 6), fill="black")
        draw.text((x, bottom + 10), str(epoch), "black", small, anchor="ma")
    draw.rectangle((left, top, right, bottom), outline=(180, 180, 180))
    draw.text(
        ((left + right) / 2, bottom + 40), "epoch over the stream (0: before training)", "black", font, anchor="ma"
    )
    axis = Image.new("RGB", (round(font.getlength("accuracy on the test split")) + 10, 30), "white")
    ImageDraw.Draw(axis).text((5, 2), "accuracy on the test split", "black", font)
    rotated = axis.rotate(90, expand=True)
    image.paste(rotated, (20, round((top + bottom - rotated.height) / 2)))
    xs = view.matrix.epochs.astype(float)
    for j in range(view.tasks):
        ys = view.matrix.curves[:, j]
        start = j * e
        colour = _rgb(task_colour(j))
        for stretch in _runs(xs[xs <= start], ys[xs <= start]):
            if len(stretch) > 1:
                _dashed(draw, [px(x, y) for x, y in stretch], colour, 2, 6)
        for stretch in _runs(xs[xs >= start], ys[xs >= start]):
            points = [px(x, y) for x, y in stretch]
            if len(points) > 1:
                draw.line(points, fill=colour, width=4, joint="curve")
            for x, y in points:
                draw.ellipse((x - 4, y - 4, x + 4, y + 4), fill=colour)
    for j in range(view.tasks):
        row, col = divmod(j, 4)
        x, y = left + col * (right - left) / 4, bottom + 90 + row * 34
        draw.line((x, y + 11, x + 40, y + 11), fill=_rgb(task_colour(j)), width=4)
        draw.text((x + 50, y), task_label(j, view.names), "black", small)
    return _png(image)
