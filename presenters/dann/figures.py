"""Figures of the domain-adaptation page, and its exports (HTML animation, PNG frame).

Plotly figures for the page; the PNG of a frame is drawn with Pillow, because plotly's own image
export (kaleido) needs a headless Chrome that it downloads on first use, and the app must work
offline on a bare install. Every map figure has the same traces for every epoch (one per domain,
or per domain and class), so an animation only moves points and fixed axes keep them comparable.
"""

from __future__ import annotations

import io
import textwrap
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np
import plotly.graph_objects as go
from PIL import Image, ImageDraw, ImageFont
from plotly.colors import qualitative
from plotly.subplots import make_subplots

from core.dann.points import Points
from core.dann.scores import SCORES

if TYPE_CHECKING:
    from core.dann.maps import RunMaps

COLOUR_BY = ("domain", "class")
DOMAIN_COLOURS = ("#1f77b4", "#e4572e")  # source, target
CLASS_COLOURS = tuple(c.lower() for c in qualitative.D3)  # plotly's ten D3 colours
UNKNOWN_COLOUR = "#9e9e9e"
SYMBOLS = ("circle", "diamond")  # source, target, when markers tell the domains apart
METRIC_NAMES = {
    "target_acc": "target accuracy",
    "source_acc": "source accuracy",
    "domain_acc": "domain-classifier accuracy",
    "lambda": "λ",
}
RUN_COLOURS = ("#1f77b4", "#e4572e", "#2ca02c", "#9467bd")


def _layout(font_size: int, height: int, title: str, legend_y: float | None = None) -> dict[str, Any]:
    """The layout every figure shares; `legend_y` puts the legend in a row below the plot."""
    legend = {"itemsizing": "constant"}
    if legend_y is not None:
        legend |= {"orientation": "h", "y": legend_y}
    return {
        "title": {"text": title, "font": {"size": round(font_size * 1.25)}},
        "font": {"size": font_size},
        "height": height,
        "margin": {"l": 10, "r": 10, "t": round(font_size * 3.5), "b": 10},
        "legend": legend,
        "uirevision": "keep",  # keep zoom and legend clicks across redraws
    }


# ---- schedule preview and metric curves ------------------------------------------------------


def _series(rows: Sequence[Mapping[str, Any]], key: str) -> tuple[list[int], list[float]]:
    points = [(r["epoch"], r[key]) for r in rows if r.get(key) is not None]
    return [e for e, _ in points], [v for _, v in points]


def metrics_figure(
    rows: Sequence[Mapping[str, Any]],
    *,
    epoch: int | None = None,
    title: str = "",
    font_size: int = 13,
    height: int = 340,
) -> go.Figure:
    """Accuracies and lambda per epoch; a vertical line marks `epoch` (the map's)."""
    fig = go.Figure()
    styles = {
        "target_acc": ("#e4572e", "solid"),
        "source_acc": ("#1f77b4", "solid"),
        "domain_acc": ("#2ca02c", "dash"),
        "lambda": ("#7f7f7f", "dot"),
    }
    for key, (colour, dash) in styles.items():
        x, y = _series(rows, key)
        if x:
            fig.add_scatter(
                x=x, y=y, name=METRIC_NAMES[key], mode="lines+markers", line={"color": colour, "dash": dash, "width": 3}
            )
    if epoch is not None:
        fig.add_vline(x=epoch, line={"color": "#444", "width": 1, "dash": "dot"})
    fig.update_layout(**_layout(font_size, height, title, legend_y=-0.3))
    fig.update_xaxes(title_text="epoch", dtick=1)
    fig.update_yaxes(rangemode="tozero")
    return fig


def scores_figure(
    rows: Sequence[Mapping[str, Any]],
    *,
    epoch: int | None = None,
    font_size: int = 13,
    height: int = 340,
) -> go.Figure | None:
    """The label-free scores per epoch (core.dann.scores), one small panel each with the way that
    is better; None when the run recorded none (it was trained before they were)."""
    keys = [k for k in SCORES if any(r.get(k) is not None for r in rows)]
    if not keys:
        return None
    titles = [f"{SCORES[k][0]} ({'higher' if SCORES[k][1] > 0 else 'lower'} is better)" for k in keys]
    fig = make_subplots(rows=1, cols=len(keys), subplot_titles=titles, horizontal_spacing=0.06)
    for i, key in enumerate(keys):
        x, y = _series(rows, key)
        fig.add_scatter(
            x=x, y=y, name=SCORES[key][0], mode="lines+markers", line={"color": "#7f3c8d", "width": 3}, row=1, col=i + 1
        )
        if epoch is not None:
            fig.add_vline(x=epoch, line={"color": "#444", "width": 1, "dash": "dot"}, row=1, col=i + 1)
    fig.update_layout(**_layout(font_size, height, "scores that need no target labels"), showlegend=False)
    fig.update_annotations(font_size=font_size)
    fig.update_xaxes(title_text="epoch", dtick=1)
    return fig


def compare_figure(
    runs: Mapping[str, Sequence[Mapping[str, Any]]], *, font_size: int = 13, height: int = 560
) -> go.Figure:
    """One panel per metric, one colour per run (keys: short run names)."""
    keys = list(METRIC_NAMES)
    fig = make_subplots(
        rows=2, cols=2, subplot_titles=[METRIC_NAMES[k] for k in keys], horizontal_spacing=0.08, vertical_spacing=0.16
    )
    for i, (name, rows) in enumerate(runs.items()):
        colour = RUN_COLOURS[i % len(RUN_COLOURS)]
        for j, key in enumerate(keys):
            x, y = _series(rows, key)
            fig.add_scatter(
                x=x,
                y=y,
                name=name,
                legendgroup=name,
                showlegend=j == 0,
                mode="lines+markers",
                line={"color": colour, "width": 3},
                row=j // 2 + 1,
                col=j % 2 + 1,
            )
    fig.update_layout(**_layout(font_size, height, "", legend_y=-0.12))
    fig.update_xaxes(title_text="epoch", dtick=1)
    return fig


# ---- feature maps ------------------------------------------------------------------------------


@dataclass(frozen=True)
class MapStyle:
    colour_by: str = "domain"  # "domain" or "class"
    marker_by_domain: bool = True  # circles for source items, diamonds for target items
    font_size: int = 13
    height: int = 620
    point_size: int = 6
    # About how wide the figure is drawn, in pixels: plotly does not wrap a title, it cuts it at the
    # figure's edge, so a long run name would hide the epoch. Titles are wrapped to fit this width.
    width: int = 760

    def title_chars(self) -> int:
        """How many characters of the title (drawn at 1.25 x the font size) fit on one line."""
        return max(16, int(self.width / (0.62 * 1.25 * self.font_size)))


@dataclass(frozen=True)
class _Group:
    """The points one trace draws: the same items at every epoch."""

    name: str
    rows: np.ndarray
    colour: str
    symbol: str
    legendgroup: str
    showlegend: bool
    labelled: bool


def _groups(points: Points, domain_names: Sequence[str], style: MapStyle) -> list[_Group]:
    groups, named = [], set()
    for d in (0, 1):
        symbol = SYMBOLS[d] if style.marker_by_domain else SYMBOLS[0]
        in_domain = points.domain == d
        if style.colour_by == "domain":
            rows = np.flatnonzero(in_domain)
            labelled = bool((points.label[rows] >= 0).all())
            groups.append(_Group(domain_names[d], rows, DOMAIN_COLOURS[d], symbol, domain_names[d], True, labelled))
            continue
        for c in np.unique(points.label[in_domain]):
            known = c >= 0
            name = f"class {c}" if known else "unlabelled"
            colour = CLASS_COLOURS[int(c) % len(CLASS_COLOURS)] if known else UNKNOWN_COLOUR
            rows = np.flatnonzero(in_domain & (points.label == c))
            groups.append(_Group(name, rows, colour, symbol, name, name not in named, bool(known)))
            named.add(name)
    if style.colour_by == "class" and style.marker_by_domain:
        # Legend entries for the two marker shapes; the class legend says nothing about them.
        for d in (0, 1):
            groups.append(_Group(domain_names[d], np.empty(0, np.int64), "#444", SYMBOLS[d], f"domain {d}", True, True))
    return groups


def _hover(domain: str, labelled: bool) -> str:
    label = "label %{customdata[1]}<br>" if labelled else "no label<br>"
    return f"<b>{domain}</b> item %{{customdata[0]}}<br>{label}predicted %{{customdata[2]}}<extra></extra>"


def _frame_traces(
    maps: RunMaps,
    points: Points,
    groups: list[_Group],
    epoch: int,
    domain_names: Sequence[str],
    style: MapStyle,
    selected_row: int | None = None,
) -> list[dict[str, Any]]:
    xy = maps.frame(epoch)
    predictions = points.predictions[epoch]
    traces = []
    for g in groups:
        rows = g.rows
        # The row lets a click on the map find the item again (presenters.dann.explore.selected_row).
        data = np.stack([points.item[rows], points.label[rows], predictions[rows], rows], axis=1) if len(rows) else None
        domain = domain_names[int(points.domain[rows[0]])] if len(rows) else g.name
        traces.append(
            {
                "type": "scatter",
                "mode": "markers",
                "name": g.name,
                "legendgroup": g.legendgroup,
                "showlegend": g.showlegend,
                "x": xy[rows, 0] if len(rows) else [None],
                "y": xy[rows, 1] if len(rows) else [None],
                "customdata": data,
                "marker": {
                    "color": g.colour,
                    "symbol": g.symbol,
                    "size": style.point_size,
                    "opacity": 0.75,
                    "line": {"width": 0},
                },
                # A clicked point (the page's inspect panel) stands out; the rest stays readable.
                "selected": {"marker": {"size": style.point_size * 3, "opacity": 1.0}},
                "unselected": {"marker": {"opacity": 0.35}},
                "hovertemplate": _hover(domain, g.labelled),
            }
        )
        if selected_row is not None:
            traces[-1]["selectedpoints"] = np.flatnonzero(rows == selected_row).tolist()
    return traces


def _axes(maps: RunMaps) -> tuple[list[float], list[float]]:
    x0, x1, y0, y1 = maps.bounds()
    px, py = 0.05 * (x1 - x0 or 1.0), 0.05 * (y1 - y0 or 1.0)
    return [x0 - px, x1 + px], [y0 - py, y1 + py]


def _legend_rows(names: Sequence[str], style: MapStyle) -> int:
    """How many rows the legend above the map takes at the figure's width (plotly wraps it)."""
    rows, used = 1, 0.0
    for name in names:
        item = 0.6 * style.font_size * len(name) + 45  # the text, its marker and the gap after it
        if used and used + item > style.width:
            rows, used = rows + 1, 0.0
        used += item
    return rows


def _map_layout(maps: RunMaps, title: str, style: MapStyle, groups: Sequence[_Group]) -> dict[str, Any]:
    xrange, yrange = _axes(maps)
    axis = {
        "showticklabels": False,
        "showgrid": False,
        "zeroline": False,
        "showline": True,
        "mirror": True,
        "linecolor": "#bbb",
        "fixedrange": False,
    }
    layout = _layout(style.font_size, style.height, title)
    # The legend in rows above the map, so that the map keeps the full width; the title at the top,
    # with room below it for every line of the title and every row of the legend.
    layout["legend"] |= {"orientation": "h", "x": 0, "y": 1.0, "yanchor": "bottom"}
    layout["title"] |= {"y": 1.0, "yref": "container", "yanchor": "top", "pad": {"t": round(style.font_size)}}
    lines = title.count("<br>") + 1
    legend = [g.name for g in groups if g.showlegend]
    layout["margin"]["t"] = round(style.font_size * (2.0 + 1.6 * lines + 1.9 * _legend_rows(legend, style)))
    return {
        **layout,
        "xaxis": {**axis, "range": xrange},
        "yaxis": {**axis, "range": yrange},
        "hovermode": "closest",
        "plot_bgcolor": "white",
    }


def title_lines(title: str, epoch: int, chars: int) -> list[str]:
    """`title` and the epoch, wrapped to lines of about `chars` characters; the epoch ends the last line."""
    tail = f"epoch {epoch}"
    if not title:
        return [tail]
    lines = textwrap.wrap(title, max(chars - 2, 1), break_long_words=False) or [title]  # room for " ·"
    if len(lines[-1]) + len(tail) + 3 <= chars:
        lines[-1] += f" · {tail}"
    else:
        lines[-1] += " ·"
        lines.append(tail)
    return lines


def frame_title(title: str, epoch: int, chars: int = 10_000) -> str:
    """The map's title at `epoch` ("t-SNE · dann · epoch 2"), wrapped with <br> to `chars` a line."""
    return "<br>".join(title_lines(title, epoch, chars))


def map_figure(
    maps: RunMaps,
    points: Points,
    epoch: int,
    domain_names: Sequence[str],
    *,
    title: str = "",
    style: MapStyle = MapStyle(),
    selected_row: int | None = None,
) -> go.Figure:
    """The map at one epoch, on the axes of the whole run; `selected_row` (a row of `points`) is
    drawn selected, so a clicked item stays marked while the epoch changes."""
    groups = _groups(points, domain_names, style)
    return go.Figure(
        {
            "data": _frame_traces(maps, points, groups, epoch, domain_names, style, selected_row),
            "layout": _map_layout(maps, frame_title(title, epoch, style.title_chars()), style, groups),
        }
    )


def map_animation(
    maps: RunMaps,
    points: Points,
    domain_names: Sequence[str],
    *,
    title: str = "",
    start_epoch: int | None = None,
    style: MapStyle = MapStyle(),
) -> go.Figure:
    """Every epoch of the map as one animated figure, with Play/Pause and an epoch slider."""
    groups = _groups(points, domain_names, style)
    epochs = [e for e in maps.epochs if e in points.predictions]
    start = start_epoch if start_epoch in epochs else epochs[0]
    frames = [
        {
            "name": str(e),
            "data": _frame_traces(maps, points, groups, e, domain_names, style),
            "layout": {"title": {"text": frame_title(title, e, style.title_chars())}},
        }
        for e in epochs
    ]
    play = {
        "frame": {"duration": 900, "redraw": False},
        "transition": {"duration": 600, "easing": "cubic-in-out"},
        "fromcurrent": True,
        "mode": "immediate",
    }
    pause = {"frame": {"duration": 0, "redraw": False}, "transition": {"duration": 0}, "mode": "immediate"}
    layout = _map_layout(maps, frame_title(title, start, style.title_chars()), style, groups)
    layout["margin"]["b"] = round(style.font_size * 6)
    layout["updatemenus"] = [
        {
            "type": "buttons",
            "direction": "left",
            "x": 0.0,
            "y": -0.04,
            "xanchor": "left",
            "yanchor": "top",
            "pad": {"r": 10, "t": 10},
            "showactive": False,
            "buttons": [
                {"label": "▶ Play", "method": "animate", "args": [None, play]},
                {"label": "❚❚ Pause", "method": "animate", "args": [[None], pause]},
            ],
        }
    ]
    layout["sliders"] = [
        {
            "active": epochs.index(start),
            "x": 0.2,
            "len": 0.8,
            "y": -0.02,
            "yanchor": "top",
            "currentvalue": {"prefix": "epoch "},
            "pad": {"t": 10},
            "steps": [
                {
                    "label": str(e),
                    "method": "animate",
                    "args": [[str(e)], {**play, "frame": {"duration": 0, "redraw": False}}],
                }
                for e in epochs
            ],
        }
    ]
    return go.Figure({"data": frames[epochs.index(start)]["data"], "layout": layout, "frames": frames})


def animation_html(fig: go.Figure) -> str:
    """One self-contained HTML file (plotly.js inlined): it plays offline, e.g. in a lecture."""
    return fig.to_html(include_plotlyjs=True, full_html=True, config={"displaylogo": False})


def map_png(
    maps: RunMaps,
    points: Points,
    epoch: int,
    domain_names: Sequence[str],
    *,
    title: str = "",
    style: MapStyle = MapStyle(),
    size: tuple[int, int] = (1600, 1200),
) -> bytes:
    """The map at `epoch` as a PNG, drawn with Pillow (same colours, markers and fixed axes)."""
    width, height = size
    scale = width / 1600
    font = ImageFont.load_default(size=round(28 * scale))
    small = ImageFont.load_default(size=round(22 * scale))
    image = Image.new("RGB", size, "white")
    draw = ImageDraw.Draw(image)
    lines = title_lines(title, epoch, chars=int((width - 80 * scale) / (15 * scale)))
    left, right, bottom = round(40 * scale), width - round(300 * scale), height - round(40 * scale)
    top = round((90 + 36 * (len(lines) - 1)) * scale)
    draw.multiline_text((left, round(30 * scale)), "\n".join(lines), fill="black", font=font, spacing=round(8 * scale))
    draw.rectangle((left, top, right, bottom), outline="#bbbbbb", width=2)
    (x0, x1), (y0, y1) = _axes(maps)
    xy = maps.frame(epoch)
    radius = max(2.0, style.point_size * 0.6 * scale)
    groups = _groups(points, domain_names, style)
    for g in groups:
        for x, y in xy[g.rows]:
            px = left + (x - x0) / (x1 - x0) * (right - left)
            py = bottom - (y - y0) / (y1 - y0) * (bottom - top)
            _marker(draw, px, py, radius, g.symbol, g.colour)
    legend_y = top
    for g in groups:
        if not g.showlegend:
            continue
        _marker(draw, right + 40 * scale, legend_y + 14 * scale, 9 * scale, g.symbol, g.colour)
        draw.text((right + 60 * scale, legend_y), g.name, fill="black", font=small)
        legend_y += round(36 * scale)
    out = io.BytesIO()
    image.save(out, format="PNG", optimize=True)
    return out.getvalue()


def _marker(draw: ImageDraw.ImageDraw, x: float, y: float, r: float, symbol: str, colour: str) -> None:
    if symbol == "diamond":
        draw.polygon([(x, y - r * 1.3), (x + r * 1.3, y), (x, y + r * 1.3), (x - r * 1.3, y)], fill=colour)
    else:
        draw.ellipse((x - r, y - r, x + r, y + r), fill=colour)
