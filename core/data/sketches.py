"""Mouse-stroke sketches: simple shapes drawn the way a mouse draws them on a canvas.

Each shape is a few strokes (polylines) in unit coordinates (x right, y down, spanning [0, 1]^2).
`sketch_paths` turns one into canvas pixel coordinates, dense enough (STEP_PX apart) to replay as
mouse moves, either clean or as a numbered variation: the same shape drawn by hand again, scaled,
turned, shifted and wobbling a little, deterministic per (seed, shape, variation). `render_paths`
draws strokes the way streamlit-drawable-canvas returns them in `image_data`: black antialiased
strokes with round caps and joins on a transparent (or an opaque) page, RGBA uint8.

They serve the tests and benchmark of the drawing preprocessing, the browser test (which replays
the paths with Playwright's page.mouse) and the few-shot page's example drawings.
"""

from __future__ import annotations

import zlib
from itertools import pairwise

import cv2
import numpy as np
from scipy.ndimage import gaussian_filter1d

from core.errors import UserError

SIZE = 280  # px: the few-shot page's canvas side
# px: the brush for a SIZE canvas, here and on the page's canvas. Clean sketches (MARGIN on each
# side) drawn with it measure 4.8-5.8 px wide after core.fewshot.drawing normalises them (median 5.5,
# Omniglot's; the star, all crossings, reads 6.7), so they need little or no stroke matching.
STROKE_WIDTH = 17
MARGIN = 0.1  # share of the canvas left free on each side of a clean sketch
EDGE = 0.05  # share of the canvas a varied sketch's points keep from the border (half a brush)
STEP_PX = 3.0  # at most this far between consecutive points: mouse moves a replay makes
SCALE_RANGE = (0.75, 1.1)  # a variation's size relative to the clean sketch
MAX_TURN_DEG = 12.0  # a variation turns by up to this much either way
MAX_SHIFT = 0.05  # a variation moves by up to this share of the canvas along each axis
WOBBLE = 0.01  # share of the canvas: standard deviation of a hand's wobble around the path
WOBBLE_LENGTH = 0.08  # share of the canvas: how far along the path the wobble stays correlated
_SUBPIXEL = 4  # cv2 fixed-point bits: strokes are placed at 1/16-pixel precision


def _arc(centre: tuple[float, float], radius: float, start_deg: float, end_deg: float, points: int = 48) -> np.ndarray:
    """Points on a circular arc; angles counter-clockwise as seen on screen (y grows downwards)."""
    t = np.radians(np.linspace(start_deg, end_deg, points))
    return np.stack([centre[0] + radius * np.cos(t), centre[1] - radius * np.sin(t)], axis=1)


def _fit_unit(strokes: list[np.ndarray]) -> list[np.ndarray]:
    """Scale and move strokes so their larger side spans [0, 1], centred at (0.5, 0.5)."""
    points = np.concatenate(strokes)
    low, high = points.min(0), points.max(0)
    scale = 1 / (high - low).max()
    return [(s - (low + high) / 2) * scale + 0.5 for s in strokes]


def _polylines(*strokes: list[tuple[float, float]]) -> list[np.ndarray]:
    return [np.asarray(s, dtype=float) for s in strokes]


_STAR_ANGLES = np.radians(-90 + 144 * np.arange(6))  # five points, every second one, closed
_SPIRAL_T = np.linspace(0, 2.5 * 2 * np.pi, 160)  # two and a half turns

SHAPES: dict[str, list[np.ndarray]] = {
    name: _fit_unit(strokes)
    for name, strokes in {
        "circle": [_arc((0.5, 0.5), 0.5, 90, 450, 72)],
        "plus": _polylines([(0.5, 0), (0.5, 1)], [(0, 0.5), (1, 0.5)]),
        "triangle": _polylines([(0.5, 0), (1, 0.87), (0, 0.87), (0.5, 0)]),
        "square": _polylines([(0, 0), (1, 0), (1, 1), (0, 1), (0, 0)]),
        "zigzag": _polylines([(0, 0.2), (0.25, 0.8), (0.5, 0.2), (0.75, 0.8), (1, 0.2)]),
        "spiral": [np.stack([_SPIRAL_T * np.cos(_SPIRAL_T), _SPIRAL_T * np.sin(_SPIRAL_T)], axis=1)],
        "arrow": _polylines([(0, 0.5), (1, 0.5)], [(0.62, 0.15), (1, 0.5), (0.62, 0.85)]),
        "s-curve": [np.concatenate([_arc((0.5, 0.25), 0.25, 20, 270), _arc((0.5, 0.75), 0.25, 90, -160)])],
        "star": [np.stack([np.cos(_STAR_ANGLES), np.sin(_STAR_ANGLES)], axis=1)],
        "ladder": _polylines(
            [(0.15, 0), (0.15, 1)], [(0.85, 0), (0.85, 1)], *[[(0.15, y), (0.85, y)] for y in (0.2, 0.5, 0.8)]
        ),
    }.items()
}


def _densify(stroke: np.ndarray, step: float) -> np.ndarray:
    """Insert points along each segment so none is more than `step` from the next."""
    pieces = []
    for a, b in pairwise(stroke):
        n = max(1, int(np.ceil(np.linalg.norm(b - a) / step)))
        pieces.append(a + (b - a) * np.arange(n)[:, None] / n)
    return np.concatenate([*pieces, stroke[-1:]])


def _wobble(rng: np.random.Generator, points: int, size: int) -> np.ndarray:
    """(points, 2) smooth random offsets in px with standard deviation WOBBLE * size."""
    sigma = WOBBLE_LENGTH * size / STEP_PX
    # gaussian_filter1d of unit white noise has standard deviation 1 / sqrt(2 sqrt(pi) sigma)
    gain = WOBBLE * size * np.sqrt(2 * np.sqrt(np.pi) * sigma)
    return gaussian_filter1d(rng.normal(size=(points, 2)), sigma, axis=0, mode="nearest") * gain


def sketch_paths(shape: str, size: int = SIZE, *, variation: int | None = None, seed: int = 0) -> list[np.ndarray]:
    """The strokes of `shape` on a size x size canvas: float (n, 2) arrays of (x, y) pixels.

    variation None gives the clean shape; an int k gives the k-th hand-drawn variation (scale in
    SCALE_RANGE, turn up to MAX_TURN_DEG, shift up to MAX_SHIFT, wobble), the same for the same
    (seed, shape, k). Every point keeps at least EDGE * size from the border.
    """
    if shape not in SHAPES:
        raise UserError(f"unknown sketch shape {shape!r}: expected one of {', '.join(SHAPES)}")
    strokes = SHAPES[shape]
    if variation is None:
        return [_densify(MARGIN * size + s * (1 - 2 * MARGIN) * size, STEP_PX) for s in strokes]
    rng = np.random.default_rng([seed, zlib.crc32(shape.encode()), variation])
    turn = np.radians(rng.uniform(-MAX_TURN_DEG, MAX_TURN_DEG))
    rotation = np.array([[np.cos(turn), -np.sin(turn)], [np.sin(turn), np.cos(turn)]])
    scale = rng.uniform(*SCALE_RANGE) * (1 - 2 * MARGIN) * size
    centre = size / 2 + rng.uniform(-MAX_SHIFT, MAX_SHIFT, size=2) * size
    paths = []
    for stroke in strokes:
        placed = _densify((stroke - 0.5) @ rotation.T * scale + centre, STEP_PX)
        paths.append(placed + _wobble(rng, len(placed), size))
    # A big, turned or shifted variation may reach past the border: shrink it towards the middle.
    reach = max(float(np.abs(p - size / 2).max()) for p in paths)
    fit = min(1.0, (0.5 - EDGE) * size / reach)
    return [(p - size / 2) * fit + size / 2 for p in paths]


def render_paths(
    paths: list[np.ndarray],
    size: int = SIZE,
    stroke_width: float = STROKE_WIDTH,
    background: tuple[int, int, int] | None = None,
) -> np.ndarray:
    """Strokes -> (size, size, 4) uint8 RGBA like the canvas's `image_data`: black antialiased
    strokes about `stroke_width` px wide (OpenCV's thick lines have round caps and joins) on
    transparent paper, or on an opaque `background` colour (r, g, b)."""
    coverage = np.zeros((size, size), np.uint8)
    fixed = [np.round(np.asarray(p) * (1 << _SUBPIXEL)).astype(np.int32).reshape(-1, 1, 2) for p in paths]
    # OpenCV's antialiased lines cover about 2 * (thickness // 2) + 3.5 px: thickness w - 2 covers
    # w px (within 1) the way a canvas brush of width w does.
    thickness = max(1, round(stroke_width) - 2)
    cv2.polylines(coverage, fixed, False, 255, thickness, cv2.LINE_AA, _SUBPIXEL)
    rgba = np.zeros((size, size, 4), np.uint8)
    if background is None:
        rgba[..., 3] = coverage
    else:
        paper = 1 - coverage[..., None] / 255.0
        rgba[..., :3] = np.rint(np.asarray(background, dtype=float) * paper).astype(np.uint8)
        rgba[..., 3] = 255
    return rgba
