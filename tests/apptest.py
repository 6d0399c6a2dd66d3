"""Helpers of the pages' AppTests: waiting for what a page shows, and reading its figures and texts."""

from __future__ import annotations

import base64
import json
import time

import numpy as np
from streamlit.testing.v1 import AppTest


def until(at: AppTest, predicate, timeout: float = 90.0) -> AppTest:
    """Rerun the page (as its polling fragment would) until `predicate(at)` holds."""
    deadline = time.monotonic() + timeout
    while not predicate(at):
        assert time.monotonic() < deadline, "the page never showed what was expected"
        time.sleep(0.2)
        at.run()
    return at


def chart(at: AppTest, key: str) -> dict:
    """The figure of the plotly chart drawn with `key`."""
    return json.loads(next(c for c in at.get("plotly_chart") if c.proto.id.endswith(f"-{key}")).proto.spec)


def plotly_array(value) -> np.ndarray:
    """A plotly array from a figure's JSON: a list (object dtype where it holds None), or a base64
    typed array (numpy input)."""
    if isinstance(value, dict):
        data = np.frombuffer(base64.b64decode(value["bdata"]), dtype=value["dtype"])
        return data.reshape([int(n) for n in value["shape"].split(",")]) if "shape" in value else data
    return np.array(value, dtype=object if None in value else float)


def texts(elements) -> list[str]:
    return [e.value for e in elements]
