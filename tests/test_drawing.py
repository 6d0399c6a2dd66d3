"""Drawing preprocessing: any canvas -> Omniglot's polarity, size, place and stroke width at 28x28.

Canvases are mouse-stroke sketches rendered like streamlit-drawable-canvas's `image_data`; the
real-data tests (run when EXPLORER_DATA_DIR holds Omniglot's arrays) put Omniglot's own drawings
through and compare them with the loader's 28x28 versions.
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pytest

from core.data.omniglot import INK, resize_characters
from core.data.sketches import render_paths, sketch_paths
from core.errors import UserError
from core.fewshot import drawing
from core.fewshot.drawing import EMPTY, FULL, OK, measure_style, prepare_drawing

WHITE = (255, 255, 255)
# Where CENTRE of the 105 frame lands at 28x28 (resize_characters maps pixel centres linearly).
CENTRE_28 = tuple((c + 0.5) * 28 / 105 - 0.5 for c in drawing.CENTRE)
EXTENT_28 = drawing.EXTENT * 28 / 105


def bbox(image: np.ndarray, level: int = 64) -> tuple[float, float, int, int]:
    """(row centre, column centre, height, width) of the pixels brighter than `level`."""
    rows, cols = np.flatnonzero((image > level).any(1)), np.flatnonzero((image > level).any(0))
    return (rows[0] + rows[-1]) / 2, (cols[0] + cols[-1]) / 2, rows[-1] - rows[0] + 1, cols[-1] - cols[0] + 1


def corr(a: np.ndarray, b: np.ndarray) -> float:
    return float(np.corrcoef(a.ravel().astype(float), b.ravel().astype(float))[0, 1])


def placed(shape: str, scale: float, offset: tuple[float, float], stroke_width: int = 17) -> np.ndarray:
    """The clean sketch of `shape` shrunk by `scale` and moved by `offset` px, on transparent RGBA."""
    paths = [p * scale + np.asarray(offset) for p in sketch_paths(shape)]
    return render_paths(paths, stroke_width=stroke_width)


def test_dark_ink_on_any_page_comes_out_bright_on_black() -> None:
    transparent = render_paths(sketch_paths("triangle"))
    white_rgb = render_paths(sketch_paths("triangle"), background=WHITE)[..., :3]
    a, b = prepare_drawing(transparent), prepare_drawing(white_rgb)
    assert a.status == b.status == OK and a.message == ""
    for p in (a, b):
        assert p.image.shape == (28, 28) and p.image.dtype == np.uint8
        assert p.image.max() >= 200 and np.median(p.image) == 0  # bright strokes, black page
        assert p.image[[0, -1]].max() == 0 and p.image[:, [0, -1]].max() == 0
    assert corr(a.image, b.image) > 0.99  # the same drawing, whichever page it is on
    assert 0.05 < a.ink_fraction < 0.15


def test_omniglot_style_arrays_bool_and_grey_agree() -> None:
    paper = np.ones((105, 105), bool)  # True = paper, as in Omniglot's arrays
    paper[30:75, 50:56] = False
    paper[50:56, 30:75] = False
    from_bool = prepare_drawing(paper)
    from_grey = prepare_drawing(np.where(paper, 255, 0).astype(np.uint8))  # a scanned PNG
    assert from_bool.status == OK and np.array_equal(from_bool.image, from_grey.image)
    assert from_bool.image[13, 13] > 200 and from_bool.image[3, 3] == 0
    # 6 px strokes around a 39 px centre line, scaled so the centre line spans EXTENT - STROKE_WIDTH
    assert from_bool.stroke_width == pytest.approx(6 * (drawing.EXTENT - drawing.STROKE_WIDTH) / 39, rel=0.1)
    as_float = prepare_drawing(render_paths(sketch_paths("plus")).astype(np.float64))
    assert np.array_equal(as_float.image, prepare_drawing(render_paths(sketch_paths("plus"))).image)


def test_small_drawing_in_a_corner_and_a_big_one_match_in_place_and_size() -> None:
    big = prepare_drawing(render_paths(sketch_paths("square")))
    corner = prepare_drawing(placed("square", 0.25, (5, 5)))
    assert big.status == corner.status == OK
    for p in (big, corner):
        row, col, height, width = bbox(p.image)
        assert abs(row - CENTRE_28[0]) <= 1 and abs(col - CENTRE_28[1]) <= 1
        assert abs(row - 13.5) <= 1.5 and abs(col - 13.5) <= 1.5  # the 28x28 frame's middle
        assert abs(max(height, width) - EXTENT_28) <= 1.5
    assert corr(big.image, corner.image) > 0.9


def test_aspect_ratio_is_kept() -> None:
    bar = render_paths([np.array([[40.0, 150.0], [240.0, 150.0]])])
    tall = render_paths([np.array([[150.0, 40.0], [150.0, 240.0]])])
    _, _, height, width = bbox(prepare_drawing(bar).image)
    assert width >= 17 and height <= 4  # still a horizontal bar, as long as a character is wide
    _, _, height, width = bbox(prepare_drawing(tall).image)
    assert height >= 17 and width <= 4


@pytest.mark.parametrize("shape", ["circle", "plus", "spiral", "ladder"])
def test_thin_and_thick_brushes_give_the_same_stroke(shape: str) -> None:
    thin, thick = (prepare_drawing(render_paths(sketch_paths(shape), stroke_width=w)) for w in (3, 30))
    assert thin.stroke_width < 3 and thick.stroke_width > 8  # they differ before matching ...
    mass_thin, mass_thick = thin.image.sum() / INK, thick.image.sum() / INK
    assert mass_thin == pytest.approx(mass_thick, rel=0.25)  # ... and hardly after
    assert corr(thin.image, thick.image) > 0.8


def test_a_thick_small_drawing_is_thinned_not_erased() -> None:
    ring = placed("circle", 0.25, (100, 100), stroke_width=30)  # a hole of a third of its width
    p = prepare_drawing(ring)
    assert p.status == OK and p.stroke_width > 3 * drawing.STROKE_WIDTH
    _, _, height, width = bbox(p.image)
    assert abs(max(height, width) - EXTENT_28) <= 1.5
    assert p.image[13:15, 13:15].max() < 64  # the hole stays open: thinned, not smeared
    assert p.image.sum() / INK > 40  # about an Omniglot character's ink at 28x28, not eroded away


@pytest.mark.parametrize(
    "canvas",
    [
        np.zeros((280, 280, 4), np.uint8),  # an untouched canvas: transparent
        np.full((280, 280, 3), 255, np.uint8),  # a white page
        np.ones((105, 105), bool),  # all paper
    ],
    ids=["transparent", "white", "paper"],
)
def test_nothing_drawn_is_empty(canvas: np.ndarray) -> None:
    p = prepare_drawing(canvas)
    assert p.status == EMPTY and p.message == drawing.NOTHING_DRAWN
    assert p.ink_fraction == 0 and not p.image.any() and p.image.shape == (28, 28)


def test_stray_pixels_and_a_dot_are_empty() -> None:
    page = np.full((280, 280), 255, np.uint8)
    page[tuple(np.random.default_rng(0).integers(0, 280, size=(2, 12)))] = 0
    stray = prepare_drawing(page)
    assert stray.status == EMPTY and stray.message == drawing.NOTHING_DRAWN and not stray.image.any()
    dot = prepare_drawing(render_paths([np.array([[100.0, 100.0], [103.0, 100.0]])]))  # a click
    assert dot.status == EMPTY and dot.message == drawing.ONLY_A_DOT and not dot.image.any()
    assert dot.ink_fraction > 0


def test_an_all_ink_canvas_is_full() -> None:
    for canvas in (np.zeros((280, 280, 3), np.uint8), np.full((280, 280, 4), [0, 0, 0, 255], np.uint8)):
        p = prepare_drawing(canvas)
        assert p.status == FULL and p.message == drawing.ALL_INK
        assert p.ink_fraction == 1 and not p.image.any()


@pytest.mark.parametrize(
    "bad",
    [
        np.zeros((280, 280, 2), np.uint8),
        np.zeros((280, 280, 5), np.uint8),
        np.zeros(280, np.uint8),
        np.zeros((1, 280, 280, 4), np.uint8),
        np.zeros((0, 0), np.uint8),
        np.zeros((0, 280, 4), np.uint8),
        np.full((28, 28), np.nan),
        np.full((28, 28), 300.0),
        np.full((28, 28), -1),
        np.ones((28, 28, 3), bool),
        np.full((28, 28), "ink"),
    ],
    ids=["2ch", "5ch", "1d", "4d", "0x0", "0rows", "nan", "over255", "negative", "bool3d", "str"],
)
def test_bad_input_is_a_user_error(bad: np.ndarray) -> None:
    with pytest.raises(UserError, match="drawing"):
        prepare_drawing(bad)


def test_measure_style_on_known_drawings() -> None:
    ink = np.zeros((3, 105, 105), bool)
    ink[0, 20:80, 30:36] = True  # a bar 60 px tall and 6 px wide, centred at (49.5, 32.5)
    ink[1, 40:46, 10:90] = True  # a bar 80 px wide and 6 px tall, centred at (42.5, 49.5)
    ink[2, 30:90, 40:100] = True
    ink[2, 36:84, 46:94] = False  # a square outline, side 60, walls 6 px, centred at (59.5, 69.5)
    style = measure_style(ink)
    assert style["extent"] == 60 and style["centre"] == (49.5, 49.5) and style["drawings"] == 3
    assert style["stroke_width"] == pytest.approx(6, rel=0.1)
    with pytest.raises(UserError):
        measure_style(np.zeros((2, 105, 105), bool))


# --- real Omniglot -------------------------------------------------------------------------------

REAL_DATA_DIR = os.environ.get("EXPLORER_DATA_DIR")  # read before any test could replace it
NPZ = Path(REAL_DATA_DIR or "") / "omniglot-npz" / "images_background.npz"


@pytest.fixture(scope="module")
def omniglot_paper() -> np.ndarray:
    """Omniglot's background drawings at 105x105, flattened to (19280, 105, 105), True = paper."""
    if REAL_DATA_DIR is None or not NPZ.is_file():
        pytest.skip(f"real Omniglot arrays not found ({NPZ if REAL_DATA_DIR else 'EXPLORER_DATA_DIR is not set'})")
    with np.load(NPZ) as z:
        return z["images"].reshape(-1, 105, 105)


def test_style_constants_match_omniglot(omniglot_paper: np.ndarray) -> None:
    sample = omniglot_paper[np.random.default_rng(0).choice(len(omniglot_paper), 2000, replace=False)]
    style = measure_style(~sample)
    assert style["drawings"] == 2000
    assert style["extent"] == pytest.approx(drawing.EXTENT, rel=0.05)
    assert style["stroke_width"] == pytest.approx(drawing.STROKE_WIDTH, rel=0.05)
    assert np.allclose(style["centre"], drawing.CENTRE, atol=1)


def ours_and_loaders(paper: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Omniglot drawings (N, 105, 105), True = paper, through prepare_drawing and the loader."""
    loader = resize_characters(np.where(paper, 0, INK).astype(np.uint8)).numpy()
    return np.stack([prepare_drawing(p).image for p in paper]), loader


def test_omniglot_drawings_come_through_like_the_loader_makes_them(omniglot_paper: np.ndarray) -> None:
    """Drawings already near Omniglot's typical size and place pass almost unchanged; any others
    are moved and scaled to it (the loader's images are not), so only their ink is weighed."""
    sample = np.random.default_rng(1).permutation(len(omniglot_paper))[:2000]

    def typical(i: int) -> bool:
        style = measure_style(~omniglot_paper[i])
        off_centre = np.abs(np.subtract(style["centre"], drawing.CENTRE)).max()
        return abs(style["extent"] - drawing.EXTENT) <= 6 and off_centre <= 3

    near = [i for i in sample if typical(i)][:40]
    assert len(near) == 40
    ours, loader = ours_and_loaders(omniglot_paper[near])
    assert np.median([corr(a, b) for a, b in zip(ours, loader)]) > 0.75
    mass = ours.sum((1, 2)) / loader.sum((1, 2))
    assert abs(np.median(mass) - 1) < 0.1
    assert np.mean(np.abs(mass - 1) < 0.25) >= 0.9  # drawings of dots read thin and get fatter dots

    ours, loader = ours_and_loaders(omniglot_paper[sample[:40]])
    mass = ours.sum((1, 2)) / loader.sum((1, 2))
    assert abs(np.median(mass) - 1) < 0.1
