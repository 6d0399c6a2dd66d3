"""The Train view's schedule preview, lambda(p) and lr(p), as a small SVG drawn here.

Why not plotly, as every other figure of the page: the preview is the one chart on the page's
first paint, and plotly.js is a 4.7 MB script that the browser loads and compiles before it draws
anything in that column. On 2 CPU cores that cost 0.6 to 1.1 s of a cold start (bench/app_latency.py,
BENCHMARKS.md), and the preview needs no zoom or hover: two lines, two axes, a title. Vega-Lite
(st.line_chart) measured the same as plotly. This module imports neither plotly nor torch.
"""

from __future__ import annotations

import base64
import math
from collections.abc import Sequence
from html import escape
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from core.dann.config import DANNConfig

LAMBDA_COLOUR = "#e4572e"  # the target's colour in the maps: lambda acts on the features
LR_COLOUR = "#1f77b4"
_STYLES = {"lambda": 'stroke-width="3"', "lr": 'stroke-width="2" stroke-dasharray="2 4" stroke-linecap="round"'}


def nice_ticks(low: float, high: float, count: int = 5) -> list[float]:
    """Round tick values covering [low, high], about `count` of them (1, 2, 2.5 or 5 times a power of ten)."""
    if not (math.isfinite(low) and math.isfinite(high)):
        raise ValueError(f"axis range must be finite, got {low}..{high}")
    if high <= low:
        high = low + (abs(low) or 1.0)
    raw = (high - low) / max(1, count - 1)
    power = 10 ** math.floor(math.log10(raw))
    step = next(m * power for m in (1, 2, 2.5, 5, 10) if m * power >= raw)
    first = math.floor(low / step + 1e-9) * step
    ticks = []
    value = first
    while value < high + step * 0.5:
        ticks.append(round(value, 12))
        value += step
    if ticks[-1] < high - 1e-12:
        ticks.append(round(value, 12))
    return ticks


def _label(value: float) -> str:
    return f"{value:.4g}"


def schedule_svg(
    ps: Sequence[float],
    lambdas: Sequence[float],
    lrs: Sequence[float],
    title: str,
    *,
    width: int = 560,
    height: int = 320,
    font_size: int = 13,
) -> str:
    """An SVG line chart of lambda(p) (left axis, solid) and lr(p) (right axis, dotted) over p in [0, 1].

    Every text is XML-escaped: the title can hold an expression the user typed."""
    if not (len(ps) == len(lambdas) == len(lrs)) or len(ps) < 2:
        raise ValueError("ps, lambdas and lrs must be equally long, with at least 2 points")
    f = font_size
    left, right, top, bottom = 4.2 * f, 5.6 * f, 2.6 * f, 4.6 * f
    plot_w, plot_h = width - left - right, height - top - bottom
    lam_ticks = nice_ticks(min(0.0, min(lambdas)), max(lambdas) if max(lambdas) > 0 else 1.0)
    lr_ticks = nice_ticks(0.0, max(lrs) if max(lrs) > 0 else 1.0)

    def x(p: float) -> float:
        return left + p * plot_w

    def y(value: float, ticks: list[float]) -> float:
        return top + plot_h * (1 - (value - ticks[0]) / (ticks[-1] - ticks[0]))

    def line(values: Sequence[float], ticks: list[float], colour: str, extra: str) -> str:
        points = " ".join(f"{x(p):.1f},{y(v, ticks):.1f}" for p, v in zip(ps, values))
        return f'<polyline class="{extra}" points="{points}" fill="none" stroke="{colour}" {_STYLES[extra]}/>'

    small = f'font-size="{f}" fill="#444"'
    parts = [
        (
            f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" viewBox="0 0 {width} {height}" '
            f'font-family="sans-serif" role="img" aria-label="{escape(title)}">'
        ),
        f'<rect width="{width}" height="{height}" fill="white"/>',
        f'<text class="title" x="{left:.1f}" y="{1.5 * f:.1f}" font-size="{round(f * 1.25)}" fill="#222">'
        f"{escape(title)}</text>",
    ]
    for t in lam_ticks:  # grid and left labels
        yy = y(t, lam_ticks)
        parts.append(f'<line x1="{left:.1f}" x2="{left + plot_w:.1f}" y1="{yy:.1f}" y2="{yy:.1f}" stroke="#e5e5e5"/>')
        parts.append(
            f'<text x="{left - 0.4 * f:.1f}" y="{yy + 0.35 * f:.1f}" text-anchor="end" {small}>{_label(t)}</text>'
        )
    for t in lr_ticks:
        yy = y(t, lr_ticks)
        parts.append(f'<text x="{left + plot_w + 0.4 * f:.1f}" y="{yy + 0.35 * f:.1f}" {small}>{_label(t)}</text>')
    for p in (0, 0.25, 0.5, 0.75, 1):
        parts.append(
            f'<text x="{x(p):.1f}" y="{top + plot_h + 1.3 * f:.1f}" text-anchor="middle" {small}>{_label(p)}</text>'
        )
    parts += [
        f'<rect x="{left:.1f}" y="{top:.1f}" width="{plot_w:.1f}" height="{plot_h:.1f}" fill="none" stroke="#999"/>',
        line(lambdas, lam_ticks, LAMBDA_COLOUR, "lambda"),
        line(lrs, lr_ticks, LR_COLOUR, "lr"),
        f'<text x="{left + plot_w / 2:.1f}" y="{top + plot_h + 2.5 * f:.1f}" text-anchor="middle" {small}>'
        "training progress p</text>",
        f'<text transform="translate({0.9 * f:.1f} {top + plot_h / 2:.1f}) rotate(-90)" text-anchor="middle" '
        f"{small}>λ</text>",
        f'<text transform="translate({width - 0.6 * f:.1f} {top + plot_h / 2:.1f}) rotate(90)" text-anchor="middle" '
        f"{small}>learning rate</text>",
    ]
    legend_y = height - 0.9 * f
    for i, (name, colour, extra) in enumerate((("λ(p)", LAMBDA_COLOUR, "lambda"), ("lr(p)", LR_COLOUR, "lr"))):
        x0 = left + i * 7 * f
        parts.append(
            f'<line x1="{x0:.1f}" x2="{x0 + 2 * f:.1f}" y1="{legend_y - 0.35 * f:.1f}" y2="{legend_y - 0.35 * f:.1f}" '
            f'stroke="{colour}" {_STYLES[extra]}/>'
        )
        parts.append(f'<text x="{x0 + 2.4 * f:.1f}" y="{legend_y:.1f}" {small}>{name}</text>')
    parts.append("</svg>")
    return "".join(parts)


def schedule_curves(config: DANNConfig, points: int = 101) -> tuple[list[float], list[float], list[float]]:
    """p, lambda(p) and lr(p) on an even grid; lambda is 0 where the variant is not adversarial."""
    ps = [i / (points - 1) for i in range(points)]
    lambdas = [config.schedule(p) if config.adapts else 0.0 for p in ps]
    return ps, lambdas, [config.lr(p) for p in ps]


def schedule_preview(config: DANNConfig, *, width: int = 560, height: int = 320, font_size: int = 13) -> str:
    """The Train view's preview of lambda(p) and lr(p), as an SVG (the module's docstring says why not plotly)."""
    ps, lambdas, lrs = schedule_curves(config)
    title = config.schedule.describe() if config.adapts else f"λ(p) = 0 ({config.variant})"
    return schedule_svg(ps, lambdas, lrs, title, width=width, height=height, font_size=font_size)


def preview_html(svg: str, height: int = 320) -> str:
    """An <img> of `svg` that is always `height` pixels tall, the drawing scaled to fit its width.

    A fixed height keeps the page's layout still while the column's width changes (a scrollbar
    appearing must not change the page's height, or the two can chase each other). An SVG shown
    through <img> runs no script; the SVG's own texts are escaped."""
    data = base64.b64encode(svg.encode()).decode()
    return (
        f'<img class="schedule-preview" alt="schedule preview" src="data:image/svg+xml;base64,{data}" '
        f'style="width:100%;height:{height}px;object-fit:contain;object-position:left top">'
    )
