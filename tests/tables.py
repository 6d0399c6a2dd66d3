"""Reading back the markdown tables the app draws (presenters.markdown), for page tests."""

from __future__ import annotations

import re

_SPLIT = re.compile(r"(?<!\\)\|")  # a pipe that is not escaped
_UNESCAPE = re.compile(r"\\(.)")


def parse_markdown_table(text: str) -> list[dict[str, str]]:
    """The rows of a pipe table, each a dict from column to the cell's text, escapes undone."""
    header, _, *lines = text.strip().splitlines()

    def cells(line: str) -> list[str]:
        return [_UNESCAPE.sub(r"\1", c.strip()) for c in _SPLIT.split(line.strip())[1:-1]]

    columns = cells(header)
    return [dict(zip(columns, cells(line))) for line in lines]
