"""Synthetic stroke alphabets: an offline stand-in for Omniglot, always labelled synthetic.

Each alphabet owns a few primitive strokes (cubic Bezier curves); each of its characters places
one to four of them with its own offset, scale and rotation, so characters of an alphabet share a
style the way real scripts do. Every drawing of a character redraws its strokes with the jitter
of a hand: control points wander, the whole character shifts, turns and scales a little, and the
pen width varies. Drawings are rendered at Omniglot's 105x105 and go through the same resize to
28x28 and the same ink polarity as the real data, so a model, a test or the app can run the whole
few-shot pipeline without Omniglot. It is far easier than Omniglot: never report its accuracies as
Omniglot's.
"""

from __future__ import annotations

import cv2
import numpy as np

from core.data.omniglot import (
    IMAGE_SIZE,
    INK,
    CharacterSet,
    Omniglot,
    cached_set,
    resize_characters,
)

NAME = "synthetic stroke alphabets"
NOTE = "synthetic: procedurally generated stroke characters, not Omniglot"
FORMAT = 1  # bump when generation changes, so old cache entries stop matching
CANVAS = 105  # Omniglot's native resolution
_SUBPIXEL = 4  # cv2 fixed-point bits: strokes are placed at 1/16-pixel precision
PRIMITIVES = 8  # primitive strokes per alphabet
_CURVE = np.linspace(0.0, 1.0, 24)[:, None]


def _bezier(points: np.ndarray) -> np.ndarray:
    """(4, 2) control points -> (24, 2) points along the cubic curve."""
    p0, p1, p2, p3 = points
    t = _CURVE
    return (1 - t) ** 3 * p0 + 3 * (1 - t) ** 2 * t * p1 + 3 * (1 - t) * t**2 * p2 + t**3 * p3


def _rotation(angle: float) -> np.ndarray:
    c, s = np.cos(angle), np.sin(angle)
    return np.array([[c, -s], [s, c]])


def _alphabet(rng: np.random.Generator) -> np.ndarray:
    """(PRIMITIVES, 4, 2) control points, centred on 0, spanning up to 0.6 of the canvas."""
    return rng.uniform(-0.3, 0.3, size=(PRIMITIVES, 4, 2))


def _character(rng: np.random.Generator, primitives: np.ndarray) -> list[np.ndarray]:
    """A character: 1-4 of the alphabet's strokes, each placed, scaled and turned its own way,
    then centred and shrunk where needed to fit the middle 70% of the page, as Omniglot's do."""
    strokes = []
    for k in rng.choice(PRIMITIVES, size=rng.integers(1, 5), replace=True):
        placed = primitives[k] * rng.uniform(0.8, 1.5) @ _rotation(rng.uniform(0, 2 * np.pi)).T
        strokes.append(placed + rng.uniform(0.3, 0.7, size=2))
    points = np.concatenate(strokes)  # a Bezier curve stays inside its control points' hull
    low, high = points.min(0), points.max(0)
    scale = min(1.0, 0.7 / max(float((high - low).max()), 1e-6))
    return [(stroke - (low + high) / 2) * scale + 0.5 for stroke in strokes]


def _draw(rng: np.random.Generator, strokes: list[np.ndarray]) -> np.ndarray:
    """One drawing of a character: jittered control points, a small affine wobble, a pen width."""
    turn = _rotation(rng.normal(0, 0.12))
    scale = rng.uniform(0.88, 1.12)
    shift = rng.normal(0, 0.03, size=2)
    canvas = np.zeros((CANVAS, CANVAS), dtype=np.uint8)
    width = int(rng.integers(2, 5))
    for control in strokes:
        wobbly = control + rng.normal(0, 0.02, size=control.shape)
        points = ((wobbly - 0.5) * scale) @ turn.T + 0.5 + shift
        pixels = np.round(_bezier(points) * CANVAS * (1 << _SUBPIXEL)).astype(np.int32)
        cv2.polylines(canvas, [pixels.reshape(-1, 1, 2)], False, INK, width, cv2.LINE_AA, _SUBPIXEL)
    return canvas


def synthetic_split(split: str, alphabets: int, characters: int, drawings: int, seed: int) -> CharacterSet:
    """`alphabets` x `characters` synthetic characters with `drawings` drawings each."""
    rng = np.random.default_rng([seed, 0 if split == "background" else 1])
    images, alphabet_names, character_names = [], [], []
    for a in range(alphabets):
        primitives = _alphabet(rng)
        name = f"Synthetic_{split[:4]}_{a + 1:02d}"
        for c in range(characters):
            strokes = _character(rng, primitives)
            images.extend(_draw(rng, strokes) for _ in range(drawings))
            alphabet_names.append(name)
            character_names.append(f"{name}/character{c + 1:02d}")
    tensor = resize_characters(np.stack(images)).view(alphabets * characters, drawings, IMAGE_SIZE, IMAGE_SIZE)
    return CharacterSet(
        name=f"{NAME} ({split})",
        images=tensor,
        alphabets=tuple(alphabet_names),
        characters=tuple(character_names),
        synthetic=True,
        notes=(NOTE,),
    )


def synthetic_omniglot(
    alphabets: tuple[int, int] = (30, 20), characters: int = 20, drawings: int = 20, seed: int = 0
) -> Omniglot:
    """Background and evaluation sets shaped like Omniglot's (30 and 20 alphabets, 20 drawings
    per character), generated once per setting and cached."""
    splits = []
    for split, count in zip(("background", "evaluation"), alphabets):
        key = {
            "format": FORMAT,
            "synthetic": split,
            "alphabets": count,
            "characters": characters,
            "drawings": drawings,
            "seed": seed,
        }
        splits.append(cached_set(key, lambda s=split, n=count: synthetic_split(s, n, characters, drawings, seed)))
    return Omniglot(*splits)
