"""Mouse-stroke sketches: clean shapes and their hand-drawn variations, and rendering them like a
streamlit-drawable-canvas canvas."""

from __future__ import annotations

import numpy as np
import pytest

from core.data import sketches
from core.data.sketches import SHAPES, STROKE_WIDTH, render_paths, sketch_paths
from core.errors import UserError
from core.fewshot import drawing
from core.fewshot.drawing import OK, prepare_drawing

VARIATIONS = 6


def prepared(paths: list[np.ndarray]) -> np.ndarray:
    p = prepare_drawing(render_paths(paths))
    assert p.status == OK
    return p.image.ravel().astype(float)


def test_shapes_fill_the_unit_square() -> None:
    assert len(SHAPES) >= 8
    for name, strokes in SHAPES.items():
        points = np.concatenate(strokes)
        assert all(s.ndim == 2 and s.shape[1] == 2 and len(s) >= 2 for s in strokes), name
        assert points.min() >= -1e-9 and points.max() <= 1 + 1e-9, name
        assert (points.max(0) - points.min(0)).max() == pytest.approx(1), name
        assert np.allclose((points.max(0) + points.min(0)) / 2, 0.5), name


@pytest.mark.parametrize("size", [280, 140])
def test_paths_are_dense_and_stay_inside_the_canvas(size: int) -> None:
    for name in SHAPES:
        clean = sketch_paths(name, size)
        inside = np.concatenate(clean)
        assert inside.min() >= sketches.MARGIN * size - 1e-6 and inside.max() <= (1 - sketches.MARGIN) * size + 1e-6
        for k in range(20):
            paths = sketch_paths(name, size, variation=k)
            assert len(paths) == len(clean)
            points = np.concatenate(paths)
            assert points.dtype == float and points.shape[1] == 2
            assert points.min() >= sketches.EDGE * size - 1e-6 and points.max() <= (1 - sketches.EDGE) * size + 1e-6
            steps = np.concatenate([np.linalg.norm(np.diff(p, axis=0), axis=1) for p in paths])
            assert steps.max() <= 2 * sketches.STEP_PX  # smooth enough to replay as mouse moves


def test_variations_are_deterministic_per_seed() -> None:
    def same(a: list[np.ndarray], b: list[np.ndarray]) -> bool:
        return len(a) == len(b) and all(np.array_equal(x, y) for x, y in zip(a, b))

    for name in ("circle", "arrow"):
        assert same(sketch_paths(name), sketch_paths(name))
        assert same(sketch_paths(name, variation=3, seed=7), sketch_paths(name, variation=3, seed=7))
        assert not same(sketch_paths(name, variation=3, seed=7), sketch_paths(name, variation=3, seed=8))
        assert not same(sketch_paths(name, variation=3), sketch_paths(name, variation=4))
        assert not same(sketch_paths(name, variation=0), sketch_paths(name))


def test_variations_look_like_their_own_shape() -> None:
    names = list(SHAPES)
    clean = np.stack([prepared(sketch_paths(n)) for n in names])
    for i, name in enumerate(names):
        varied = np.stack([prepared(sketch_paths(name, variation=k)) for k in range(VARIATIONS)])
        similarity = np.corrcoef(np.concatenate([varied, clean]))[:VARIATIONS, VARIATIONS:].mean(0)
        assert similarity[i] < 0.99, name  # a variation is not the clean shape again ...
        assert similarity.argmax() == i, (name, dict(zip(names, similarity.round(2))))  # ... but like it


def test_the_brush_gives_omniglot_strokes() -> None:
    widths = [prepare_drawing(render_paths(sketch_paths(n))).stroke_width for n in SHAPES]
    assert np.median(widths) == pytest.approx(drawing.STROKE_WIDTH, abs=0.5)


def test_render_draws_black_antialiased_strokes() -> None:
    line = [np.array([[100.0, 140.0], [180.0, 140.0]])]
    rgba = render_paths(line)
    assert rgba.shape == (280, 280, 4) and rgba.dtype == np.uint8
    alpha = rgba[..., 3]
    assert not rgba[..., :3].any() and alpha[0, 0] == 0  # black ink, transparent paper
    assert alpha[140, 140] == 255 and ((alpha > 0) & (alpha < 255)).any()  # antialiased edges
    assert abs((alpha[:, 140] / 255).sum() - STROKE_WIDTH) <= 1  # as wide as the brush
    half = STROKE_WIDTH // 2
    assert alpha[140, 100 - half + 2] == 255 and alpha[140 - half + 2, 100 - half + 2] == 0  # round cap
    on_white = render_paths(line, background=(255, 255, 255))
    assert (on_white[..., 3] == 255).all()
    assert (on_white[0, 0, :3] == 255).all() and (on_white[140, 140, :3] == 0).all()
    assert np.array_equal(255 - on_white[..., 0], alpha)
    assert np.array_equal(render_paths(line, stroke_width=STROKE_WIDTH + 0.2), rgba)  # a scaled brush


def test_unknown_shape_names_the_shapes() -> None:
    with pytest.raises(UserError, match="circle.*spiral"):
        sketch_paths("hexagon")
