"""Canvas drawings as streamlit-drawable-canvas stores them (Fabric.js JSON): example strokes
turned into a drawing, a drawing scaled for a canvas of another size, its stroke count."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from core.errors import UserError

FABRIC_VERSION = "7.4.0"  # the Fabric.js that streamlit-drawable-canvas 0.13 bundles


def fabric_drawing(paths: Sequence[np.ndarray], stroke_width: float, color: str = "#000000") -> dict:
    """Strokes ((n, 2) x, y canvas pixels each) as a canvas drawing, to show example drawings."""
    objects = []
    for stroke in paths:
        pts = np.asarray(stroke, dtype=float)
        if pts.ndim != 2 or pts.shape[1] != 2 or len(pts) < 2:
            raise UserError(f"a stroke needs at least two (x, y) points, got shape {pts.shape}")
        x0, y0 = pts.min(0)
        objects.append(
            {
                "type": "path",
                "originX": "left",
                "originY": "top",
                "left": round(float(x0) - stroke_width / 2, 2),
                "top": round(float(y0) - stroke_width / 2, 2),
                "fill": None,
                "stroke": color,
                "strokeWidth": stroke_width,
                "strokeLineCap": "round",
                "strokeLineJoin": "round",
                "path": [["M", *map(float, pts[0].round(2))]] + [["L", *map(float, p.round(2))] for p in pts[1:]],
            }
        )
    return {"version": FABRIC_VERSION, "objects": objects}


def scale_drawing(drawing: dict | None, factor: float) -> dict | None:
    """A canvas drawing scaled about the canvas origin (for a canvas of another size)."""
    if drawing is None or factor == 1:
        return drawing
    objects = []
    for obj in drawing.get("objects", []):
        obj = dict(obj)
        for k in ("left", "top"):
            obj[k] = float(obj.get(k, 0)) * factor
        for k in ("scaleX", "scaleY"):
            obj[k] = float(obj.get(k, 1)) * factor
        objects.append(obj)
    return {**drawing, "objects": objects}


def drawing_objects(drawing: dict | None) -> int:
    """How many strokes (objects) a canvas drawing holds."""
    return len((drawing or {}).get("objects") or [])
