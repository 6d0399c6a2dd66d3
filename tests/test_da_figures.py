"""The domain-adaptation page's figures and exports: fixed axes, traces, animation, HTML, PNG."""

from __future__ import annotations

import io
import xml.etree.ElementTree as ET

import numpy as np
import pytest
from PIL import Image

from core.dann.config import DANNConfig
from core.dann.maps import MapSettings, RunMaps
from core.dann.points import Points
from core.dann.schedules import LambdaSchedule
from presenters.dann import figures, schedule_preview

NAMES = ("source (mnist)", "target (usps)")


@pytest.fixture
def maps_and_points() -> tuple[RunMaps, Points]:
    rng = np.random.default_rng(0)
    epochs = [0, 1, 2]
    coords = np.stack([rng.normal(size=(40, 2)) * (1 + e) for e in epochs]).astype(np.float32)
    maps = RunMaps(
        "dann-x", MapSettings(method="pca"), epochs, coords, [0.9, 0.9, 0.9], [None, 1.0, 1.0], [0.1, 0.1, 0.1]
    )
    domain = np.repeat([0, 1], 20).astype(np.uint8)
    label = np.concatenate([np.arange(20) % 10, np.full(20, -1)])  # an unlabelled target
    points = Points(domain, np.arange(40), label, {e: (np.arange(40) + e) % 10 for e in epochs})
    return maps, points


def _xy(trace) -> np.ndarray:
    return np.stack([np.asarray(trace.x, dtype=float), np.asarray(trace.y, dtype=float)], axis=1)


def test_a_frame_draws_every_point_once_on_the_axes_of_the_whole_run(maps_and_points):
    maps, points = maps_and_points
    for epoch in maps.epochs:
        fig = figures.map_figure(maps, points, epoch, NAMES, title="PCA")
        assert fig.layout.title.text == f"PCA · epoch {epoch}"
        x0, x1, y0, y1 = maps.bounds()
        assert fig.layout.xaxis.range[0] < x0 and fig.layout.xaxis.range[1] > x1  # same for every epoch
        assert fig.layout.yaxis.range[0] < y0 and fig.layout.yaxis.range[1] > y1
        drawn = np.concatenate([_xy(t) for t in fig.data])
        assert sorted(map(tuple, drawn)) == sorted(map(tuple, maps.frame(epoch).astype(float)))
    source, target = fig.data
    assert (source.name, source.marker.symbol, target.marker.symbol) == (NAMES[0], "circle", "diamond")
    assert "label" in source.hovertemplate and "no label" in target.hovertemplate
    assert list(source.customdata[3]) == [3, 3, (3 + 2) % 10, 3]  # item, label, prediction at epoch 2, row
    assert list(target.customdata[5]) == [25, -1, (25 + 2) % 10, 25]


LONG_TITLE = "t-SNE · DANN, the defaults (λ up to 0.3, invert augmentation, target entropy)"


@pytest.mark.parametrize("chars", [20, 30, 45, 76, 200])
def test_a_long_title_is_wrapped_to_the_width_and_still_ends_with_its_epoch(chars):
    lines = figures.title_lines(LONG_TITLE, 12, chars)
    assert lines[-1].endswith("epoch 12")
    assert all(len(line) <= chars for line in lines)
    assert " ".join(lines) == f"{LONG_TITLE} · epoch 12"  # nothing lost, only broken at spaces
    assert (len(lines) == 1) == (chars >= len(f"{LONG_TITLE} · epoch 12"))


def test_the_map_makes_room_above_it_for_every_title_line(maps_and_points):
    maps, points = maps_and_points
    wide = figures.map_figure(maps, points, 1, NAMES, title=LONG_TITLE, style=figures.MapStyle(width=2000))
    narrow = figures.map_figure(maps, points, 1, NAMES, title=LONG_TITLE, style=figures.MapStyle(width=300))
    assert "<br>" not in wide.layout.title.text
    breaks = narrow.layout.title.text.count("<br>")
    assert breaks >= 2 and narrow.layout.title.text.endswith("epoch 1")
    assert narrow.layout.margin.t > wide.layout.margin.t
    assert narrow.layout.title.yanchor == "top"  # the first line at the top of the figure, not centred on the margin
    frames = figures.map_animation(maps, points, NAMES, title=LONG_TITLE, style=figures.MapStyle(width=300)).frames
    assert all(f.layout.title.text.count("<br>") == breaks for f in frames)


def test_a_legend_that_wraps_into_more_rows_in_a_narrow_column_gets_room_above_the_map(maps_and_points):
    maps, points = maps_and_points
    by_class = {"colour_by": "class", "font_size": 12}
    wide = figures.map_figure(maps, points, 1, NAMES, style=figures.MapStyle(**by_class, width=2400))
    narrow = figures.map_figure(maps, points, 1, NAMES, style=figures.MapStyle(**by_class, width=250))
    assert wide.layout.title.text == narrow.layout.title.text == "epoch 1"  # one title line in both
    assert narrow.layout.margin.t >= wide.layout.margin.t + 4 * 12 * 1.9  # 13 legend entries: many more rows


def test_the_png_wraps_a_long_title_instead_of_running_off_the_image(maps_and_points):
    maps, points = maps_and_points
    title = LONG_TITLE + ", a run name that goes on for a while longer than the image is wide"
    png = figures.map_png(maps, points, 2, NAMES, title=title, size=(800, 600))
    image = np.asarray(Image.open(io.BytesIO(png)).convert("L"))
    assert image.shape == (600, 800)
    title_band = image[10:90]
    assert (title_band[:, 760:] == 255).all()  # no title text reaches the right edge
    assert (image[40:80, 20:400] < 128).any()  # the second line is drawn


def test_a_selected_row_is_drawn_selected_in_its_trace_and_the_rest_unselected(maps_and_points):
    maps, points = maps_and_points
    assert all("selectedpoints" not in t for t in figures.map_figure(maps, points, 1, NAMES).to_dict()["data"])
    source, target = figures.map_figure(maps, points, 1, NAMES, selected_row=23).data
    assert list(target.selectedpoints) == [3] and list(source.selectedpoints) == []
    assert target.customdata[3][3] == 23


def test_colour_by_class_gives_a_trace_per_class_and_domain_and_a_legend_for_the_shapes(maps_and_points):
    maps, points = maps_and_points
    fig = figures.map_figure(maps, points, 1, NAMES, style=figures.MapStyle(colour_by="class"))
    names = [t.name for t in fig.data if t.showlegend]
    assert names == [f"class {c}" for c in range(10)] + ["unlabelled", *NAMES]
    assert sum(len(t.x) for t in fig.data if t.name not in NAMES) == 40  # the shape legends hold no points


def test_the_animation_has_a_frame_per_epoch_and_starts_where_asked(maps_and_points):
    maps, points = maps_and_points
    fig = figures.map_animation(maps, points, NAMES, title="t", start_epoch=1)
    assert [f.name for f in fig.frames] == ["0", "1", "2"]
    assert fig.layout.sliders[0].active == 1 and fig.layout.title.text == "t · epoch 1"
    assert [b.label for b in fig.layout.updatemenus[0].buttons] == ["▶ Play", "❚❚ Pause"]
    html = figures.animation_html(fig)
    assert "<html>" in html and '"name":"2"' in html.replace(" ", "")
    assert len(html) > 1_000_000 and "<script src=" not in html  # plotly.js inlined: it plays offline


def test_the_png_frame_is_an_image_of_the_asked_size_with_both_domains_coloured(maps_and_points):
    maps, points = maps_and_points
    png = figures.map_png(maps, points, 2, NAMES, title="PCA", size=(800, 600))
    image = Image.open(io.BytesIO(png)).convert("RGB")
    assert image.size == (800, 600)
    colours = {c for _, c in image.getcolors(maxcolors=1 << 16)}
    for hex_colour in figures.DOMAIN_COLOURS:
        assert tuple(int(hex_colour[i : i + 2], 16) for i in (1, 3, 5)) in colours


def _polyline(svg: str, name: str) -> list[tuple[float, float]]:
    line = next(e for e in ET.fromstring(svg).iter("{http://www.w3.org/2000/svg}polyline") if e.get("class") == name)
    return [tuple(map(float, point.split(","))) for point in line.get("points").split()]


def test_schedule_preview_draws_lambda_and_lr_on_their_own_axes():
    step = DANNConfig(schedule=LambdaSchedule(kind="step", start=0.0, value=1.0, step_at=0.5))
    svg = schedule_preview.schedule_preview(step, width=600, height=300)
    lam, lr = _polyline(svg, "lambda"), _polyline(svg, "lr")
    assert len(lam) == len(lr) == 101
    xs = [x for x, _ in lam]
    assert xs == sorted(xs) and xs[0] < 100 and xs[-1] > 450  # p from 0 at the left to 1 at the right
    ys = [y for _, y in lam]  # SVG y grows downwards: 0 at the bottom, 1 at the top of the plot
    assert ys[:50] == [ys[0]] * 50 and ys[50:] == [ys[50]] * 51 and ys[50] < ys[0]
    lr_ys = [y for _, y in lr]
    assert lr_ys == sorted(lr_ys)  # lr anneals: its line only goes down the chart
    constant = _polyline(
        schedule_preview.schedule_preview(DANNConfig(schedule=LambdaSchedule(kind="constant", value=0.3))), "lambda"
    )
    assert len({y for _, y in constant}) == 1


def test_schedule_preview_escapes_its_title_and_ticks_are_round():
    svg = schedule_preview.schedule_svg([0, 1], [0, 1], [0.01, 0.001], 'λ(p) = p<2 & "x"')
    ET.fromstring(svg)  # well-formed
    assert "λ(p) = p&lt;2 &amp; &quot;x&quot;" in svg and "<2" not in svg
    assert schedule_preview.nice_ticks(0, 1) == [0, 0.25, 0.5, 0.75, 1]
    assert schedule_preview.nice_ticks(0, 0.01) == [0, 0.0025, 0.005, 0.0075, 0.01]
    assert schedule_preview.nice_ticks(-0.3, 1.0) == [-0.5, 0, 0.5, 1.0]
    with pytest.raises(ValueError):
        schedule_preview.nice_ticks(0, float("inf"))


def test_metric_figures_show_what_they_are_given():
    rows = [
        {"epoch": 0, "target_acc": 0.1, "source_acc": 0.1, "domain_acc": 0.5},
        {"epoch": 1, "target_acc": 0.4, "source_acc": 0.9, "domain_acc": 0.6, "lambda": 0.3},
    ]
    fig = figures.metrics_figure(rows, epoch=1)
    assert {t.name: list(t.y) for t in fig.data}["λ"] == [0.3]
    assert fig.layout.shapes[0].x0 == 1
    both = figures.compare_figure({"a": rows, "b": rows[:1]})
    assert [t.name for t in both.data if t.showlegend] == ["a", "b"]


def test_the_scores_figure_draws_the_scores_a_run_recorded():
    old = [{"epoch": 0, "target_acc": 0.1}, {"epoch": 1, "target_acc": 0.4}]
    assert figures.scores_figure(old) is None  # a run from before the scores
    rows = [
        {"epoch": 0, "pad": 1.5, "target_pred_entropy": 2.0, "im": 0.5, "snd": 3.0},
        {"epoch": 1, "pad": 0.9, "target_pred_entropy": 0.7, "im": 1.8, "snd": 4.0},
    ]
    fig = figures.scores_figure(rows, epoch=1)
    assert [list(t.y) for t in fig.data] == [[1.5, 0.9], [2.0, 0.7], [0.5, 1.8], [3.0, 4.0]]
    titles = [a.text for a in fig.layout.annotations]
    assert (
        titles[0] == "proxy A-distance (lower is better)" and titles[2] == "information maximisation (higher is better)"
    )
    assert len(fig.layout.shapes) == 4  # the epoch marked in every panel
