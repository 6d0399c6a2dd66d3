"""Markdown tables: the app's static tables and the benchmark reports."""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from typing import Any

# Characters markdown (and Streamlit's flavour of it: :emoji: shortcodes, $math$) reads as formatting.
_SPECIAL = str.maketrans({c: "\\" + c for c in "\\`*_{}[]<>()#+!|$~:"})


def escape(text: str) -> str:
    """`text` shown as itself in markdown, on one line (paths hold underscores, formulas stars)."""
    return " ".join(text.split()).translate(_SPECIAL)


def cell(value: Any) -> str:
    """A value as table text: floats to 3 decimals, a dash for nothing."""
    if value is None or value == "":
        return "—"
    return f"{value:.3f}" if isinstance(value, float) else str(value)


def markdown_table(rows: Iterable[Mapping[str, Any]], columns: Sequence[str], *, escaped: bool = True) -> str:
    """A pipe table of `rows` under `columns`. `escaped=False` writes the text as it is, for reports
    whose cells hold markdown on purpose."""
    show = (lambda v: escape(cell(v))) if escaped else (lambda v: str(v))
    lines = ["| " + " | ".join(show(c) for c in columns) + " |", "|" + "---|" * len(columns)]
    lines += ["| " + " | ".join(show(r.get(c, "")) for c in columns) + " |" for r in rows]
    return "\n".join(lines)
