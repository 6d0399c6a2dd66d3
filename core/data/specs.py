"""Domain specs as text: `mnist`, `usps`, `mnistm` or `folder:PATH` (no imports beyond the standard
library: configs and listings read specs long before any data is loaded)."""

from __future__ import annotations

from pathlib import Path

FOLDER_PREFIX = "folder:"


def canonical_spec(spec: str) -> str:
    """The spec as runs are keyed by it: trimmed, a digit domain's name in lower case, and the
    folder prefix in lower case ("FOLDER: /a" names the same folder as "folder:/a")."""
    text = spec.strip()
    if text.lower().startswith(FOLDER_PREFIX):
        return FOLDER_PREFIX + text[len(FOLDER_PREFIX) :].strip()
    return text.lower()


def short_spec(spec: str) -> str:
    """A domain spec for titles and legends: folder:/a/b/train_data reads "train_data/"."""
    if not spec.startswith(FOLDER_PREFIX):
        return spec
    return Path(spec.removeprefix(FOLDER_PREFIX).rstrip("/")).name + "/"
