"""A drawn character -> the 28x28 image the few-shot learner sees, styled like Omniglot.

A MAML model trained on Omniglot has only seen Omniglot's style: bright strokes about 5.5 px wide
(at 105x105) on black, the character's bounding box about 69 px across and centred near the
middle. A canvas drawing differs in all of that (a tiny sketch in a corner, a thin or fat brush,
dark ink on a light or transparent page), so `prepare_drawing` puts it into that style before the
same 105 -> 28 resize the training data went through:

    ink map (alpha * darkness) -> binary mask
    -> EMPTY (no ink, a few stray pixels, a dot) or FULL (ink over most of the canvas): stop
    -> one scale for both axes (the bounding box padded to a square, in effect) so the larger side
       spans EXTENT px counting the stroke it will end with, the box's centre moved to CENTRE of a
       FRAME x FRAME canvas, binarised (a fine pen on a big canvas is thickened first, so its
       strokes survive the shrinking)
    -> grow or shrink the strokes towards STROKE_WIDTH (by distance to the paper or the ink:
       round, where repeated cross-shaped erosions would turn a fat ring into a diamond), never
       erasing or splitting a piece of the drawing
    -> core.data.omniglot.resize_characters (105 -> 28, bilinear with antialiasing)

Scaling and matching run at SUPERSAMPLE times FRAME's resolution, and the matched mask is averaged
down to FRAME (grey edge pixels) before the resize: moving both edges of a stroke changes its width
by 2 px of the grid, so at 105 px a drawing would end anywhere in 4.5-6.5 px (its ink mass +-18%),
at 210 px within half a pixel of STROKE_WIDTH.

The style constants were measured with `measure_style` on all 19,280 drawings of Omniglot's
background split at 105x105 (ink = ~images of omniglot-npz/images_background.npz):
    larger side of the ink's bounding box   median 68.5 px  (10th-90th percentile 50-84)
    bounding-box centre (row, column)       median (50.5, 51.0)  (the frame's middle is 52)
    stroke width, 2 * area / boundary       median 5.48 px  (10th-90th percentile 5.1-5.9)
A random 2,000 of them give 69, (50.5, 50.75) and 5.49.
tests/test_drawing.py re-derives them from the real data when it is present.
"""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np
from scipy import ndimage

from core.data.convert import LUMA
from core.data.omniglot import IMAGE_SIZE, INK, resize_characters
from core.errors import UserError

OK, EMPTY, FULL = "ok", "empty", "full"

FRAME = 105  # Omniglot's native resolution: the canonical frame drawings are normalised in
EXTENT = 68.5  # px: median larger bounding-box side of an Omniglot drawing in FRAME
CENTRE = (50.5, 51.0)  # (row, column): median bounding-box centre of an Omniglot drawing in FRAME
STROKE_WIDTH = 5.5  # px: median Omniglot stroke width in FRAME by `estimate_stroke_width`

INK_THRESHOLD = 0.5  # ink strength (0..1) above which a pixel is ink
MIN_INK_PIXELS = 20  # fewer ink pixels than this are stray pixels, not a character
# A bounding box under this many stroke widths across is a dab or a click: a disc reads 2 (its
# width estimate is its radius), a click-and-drag of under half a brush about 2.1, a plus drawn
# small with a fat brush 2.5.
MIN_EXTENT_STROKES = 2.2
MAX_INK_FRACTION = 0.5  # more of the canvas than this inked is a scribble-over, not a character
SUPERSAMPLE = 2  # drawings are normalised and matched at FRAME * SUPERSAMPLE px, then averaged down
MAX_SIDE = FRAME - 8  # px: the scaled box leaves room on every side for the stroke to grow
MIN_FRAME_WIDTH = 2.0  # px: strokes thinner than this in FRAME break up when shrunk: thicken first
SPECK = 0.01  # share of the ink: smaller connected pieces may vanish when strokes are thinned
MAX_STROKE_STEPS = 40  # px of the supersampled grid that matching may move a stroke's edge at most

_CROSS = ndimage.generate_binary_structure(2, 1)
_SQUARE = ndimage.generate_binary_structure(2, 2)

NOTHING_DRAWN = "Nothing drawn yet: draw a character here."
ONLY_A_DOT = "Only a dot so far: draw a whole character here."
ALL_INK = "This canvas is almost all ink: clear it and draw one character."


@dataclass(frozen=True)
class Prepared:
    """A drawing made ready for the learner, or the reason it could not be."""

    image: np.ndarray  # (28, 28) uint8, ink INK on 0: what the learner sees (all 0 unless OK)
    status: str  # OK | EMPTY | FULL
    message: str  # "" when OK, else a short instruction for the user
    ink_fraction: float  # share of the input canvas covered by ink
    stroke_width: float  # px, of the normalised drawing in FRAME before matching (0 unless OK)


def ink_strength(image: np.ndarray) -> np.ndarray:
    """Any accepted input -> (H, W) float32 ink strength in [0, 1] (alpha * darkness).

    Accepted: (H, W, 4) RGBA as streamlit-drawable-canvas's `image_data` (dark strokes on a
    transparent or an opaque light page), (H, W, 3) RGB, (H, W) greyscale with light paper and
    dark ink, all on the 0-255 scale in any real dtype; and (H, W) bool with True = paper, as in
    Omniglot's arrays.
    """
    image = np.asarray(image)
    if image.dtype == bool:
        if image.ndim != 2 or image.size == 0:
            raise UserError(
                f"a bool drawing must be a non-empty (height, width) array with True = paper, got shape {image.shape}"
            )
        return (~image).astype(np.float32)
    if not (np.issubdtype(image.dtype, np.integer) or np.issubdtype(image.dtype, np.floating)):
        raise UserError(f"a drawing must be a numeric or bool image array, got dtype {image.dtype}")
    if not (image.ndim == 2 or (image.ndim == 3 and image.shape[2] in (3, 4))) or image.size == 0:
        raise UserError(
            f"a drawing must be (height, width) greyscale, (height, width, 3) RGB or (height, width, 4) RGBA "
            f"with at least one pixel, got shape {image.shape}"
        )
    values = image.astype(np.float32)
    if not np.isfinite(values).all() or values.min() < 0 or values.max() > 255:
        raise UserError("a drawing's pixel values must be finite and on the 0-255 scale")
    values /= 255
    if image.ndim == 2:
        return 1 - values
    darkness = 1 - values[..., :3] @ np.asarray(LUMA, dtype=np.float32)
    alpha = values[..., 3] if image.shape[2] == 4 else 1.0
    return np.clip(alpha * darkness, 0, 1)


def estimate_stroke_width(mask: np.ndarray) -> float:
    """Mean stroke width of a bool ink mask: 2 * area / boundary pixels (ink minus its erosion).

    A stroke of width w and length L has area w * L and 2 * L boundary pixels; strokes of 1-2 px
    are all boundary and read as 2. 0 for an empty mask.
    """
    boundary = int((mask & ~ndimage.binary_erosion(mask, _CROSS)).sum())
    return 2 * float(mask.sum()) / boundary if boundary else 0.0


def _bbox(mask: np.ndarray) -> tuple[int, int, int, int]:
    """(top, bottom, left, right) of the ink, bottom and right exclusive."""
    rows, cols = np.flatnonzero(mask.any(1)), np.flatnonzero(mask.any(0))
    return int(rows[0]), int(rows[-1]) + 1, int(cols[0]), int(cols[-1]) + 1


def _normalise(ink: np.ndarray, mask: np.ndarray, drawn_width: float) -> np.ndarray:
    """Scale and move the ink into a bool mask of FRAME x FRAME at SUPERSAMPLE times the
    resolution, its bounding box centred at CENTRE.

    One scale for both axes keeps the aspect ratio. It makes the centre-line extent (bounding box
    minus the drawn stroke width) EXTENT - STROKE_WIDTH, so the box spans EXTENT once the stroke
    is matched, whichever brush drew it.
    """
    top, bottom, left, right = _bbox(mask)
    side = max(bottom - top, right - left)
    scale = min((EXTENT - STROKE_WIDTH) / max(side - drawn_width, side / 2), MAX_SIDE / side) * SUPERSAMPLE
    thin = MIN_FRAME_WIDTH * SUPERSAMPLE / scale - drawn_width
    if thin > 0:  # a fine pen on a big canvas: averaged down, its strokes would fade below threshold
        grown = ndimage.binary_dilation(mask, _CROSS, iterations=int(np.ceil(thin / 2)))
        ink = np.maximum(ink, grown)
    shrink_y = shrink_x = 1.0
    if scale < 1:  # average pixels away first: bilinear sampling alone would break thin strokes
        height, width = ink.shape
        size = (max(1, round(width * scale)), max(1, round(height * scale)))
        ink = cv2.resize(ink, size, interpolation=cv2.INTER_AREA)
        shrink_y, shrink_x = ink.shape[0] / height, ink.shape[1] / width
    # With pixel i covering [i, i + 1), the box's centre (top + bottom) / 2 goes to (CENTRE + 0.5)
    # * SUPERSAMPLE; warpAffine maps pixel indices (centres at i + 0.5), hence the half pixels.
    sy, sx = scale / shrink_y, scale / shrink_x
    cy, cx = (top + bottom) / 2 * shrink_y, (left + right) / 2 * shrink_x
    centre_y, centre_x = ((c + 0.5) * SUPERSAMPLE - 0.5 for c in CENTRE)
    matrix = np.array([[sx, 0, centre_x + sx * (0.5 - cx)], [0, sy, centre_y + sy * (0.5 - cy)]])
    size = FRAME * SUPERSAMPLE
    return cv2.warpAffine(ink, matrix, (size, size), flags=cv2.INTER_LINEAR, borderValue=0) > INK_THRESHOLD


def _pieces(mask: np.ndarray) -> int:
    """Connected pieces of ink (8-neighbours) holding at least SPECK of it."""
    labels, count = ndimage.label(mask, _SQUARE)
    sizes = np.bincount(labels.ravel(), minlength=count + 1)[1:]
    return int((sizes >= SPECK * mask.sum()).sum())


def _match_stroke(mask: np.ndarray, width: float, target: float) -> np.ndarray:
    """Grow or shrink the strokes towards `target` width, moving their edges out or in 1 px at a
    time while that brings the width closer.

    A pixel's Euclidean distance to the paper (to the ink, when growing) says at which step it
    goes (comes): the first step is a dilation or erosion by a cross, later ones stay round,
    where repeated crosses would turn a fat ring into a diamond. Thinning stops where a step
    would erase or split a piece of the drawing: a fat ring becomes a thin one, but a thin stroke
    beside fat ones is never eroded away.
    """
    thinning = width > target
    distance = ndimage.distance_transform_edt(mask if thinning else ~mask)
    pieces = _pieces(mask)
    for step in range(1, MAX_STROKE_STEPS + 1):
        if abs(width - target) <= 1:
            break
        candidate = distance > step if thinning else distance <= step
        candidate_width = estimate_stroke_width(candidate)
        if abs(candidate_width - target) >= abs(width - target) or (thinning and _pieces(candidate) != pieces):
            break
        mask, width = candidate, candidate_width
    return mask


def prepare_drawing(image: np.ndarray) -> Prepared:
    """A drawing (see `ink_strength` for the accepted arrays) -> the learner's 28x28 view of it.

    EMPTY when there is (almost) no ink or only a dot, FULL when ink covers most of the canvas;
    both come with an all-zero image and a message for the user. UserError for arrays that are
    not images.
    """
    ink = ink_strength(image)
    mask = ink > INK_THRESHOLD
    fraction = float(mask.mean())
    blank = np.zeros((IMAGE_SIZE, IMAGE_SIZE), np.uint8)
    if mask.sum() < MIN_INK_PIXELS:
        return Prepared(blank, EMPTY, NOTHING_DRAWN, fraction, 0.0)
    if fraction > MAX_INK_FRACTION:
        return Prepared(blank, FULL, ALL_INK, fraction, 0.0)
    top, bottom, left, right = _bbox(mask)
    drawn_width = estimate_stroke_width(mask)
    if max(bottom - top, right - left) < MIN_EXTENT_STROKES * drawn_width:
        return Prepared(blank, EMPTY, ONLY_A_DOT, fraction, 0.0)
    fine = _normalise(ink, mask, drawn_width)
    width = estimate_stroke_width(fine)
    matched = _match_stroke(fine, width, STROKE_WIDTH * SUPERSAMPLE)
    frame = matched.reshape(FRAME, SUPERSAMPLE, FRAME, SUPERSAMPLE).mean((1, 3))
    resized = resize_characters(np.rint(frame[None] * INK).astype(np.uint8))[0].numpy()
    return Prepared(resized, OK, "", fraction, width / SUPERSAMPLE)


def measure_style(ink_105: np.ndarray) -> dict:
    """Median style of a stack of bool ink images (N, H, W) (True = ink; empty images skipped):
    {"extent": larger bounding-box side, "centre": (row, column) of the box, "stroke_width":
    `estimate_stroke_width`, "drawings": how many were measured}; how the constants were found."""
    extents, centres, widths = [], [], []
    for mask in np.asarray(ink_105, bool).reshape(-1, *np.shape(ink_105)[-2:]):
        if not mask.any():
            continue
        top, bottom, left, right = _bbox(mask)
        extents.append(max(bottom - top, right - left))
        centres.append(((top + bottom - 1) / 2, (left + right - 1) / 2))
        widths.append(estimate_stroke_width(mask))
    if not extents:
        raise UserError("measure_style needs at least one image with ink")
    centre = np.median(np.asarray(centres), axis=0)
    return {
        "extent": float(np.median(extents)),
        "centre": (float(centre[0]), float(centre[1])),
        "stroke_width": float(np.median(widths)),
        "drawings": len(extents),
    }
