"""Where data, caches and runs live; each overridable by an environment variable."""

from __future__ import annotations

import os
import re
from pathlib import Path

PROJECT_ROOT = Path(__file__).resolve().parent.parent


def data_dir() -> Path:
    """Read-only datasets in torchvision's layout (`EXPLORER_DATA_DIR`, default ./data)."""
    return Path(os.environ.get("EXPLORER_DATA_DIR", "data")).expanduser()


def cache_dir() -> Path:
    """The project's own scratch space for unpacked, converted and generated data.

    `EXPLORER_CACHE_DIR`, else `$XDG_CACHE_HOME/transfer-explorer`, else ~/.cache/transfer-explorer.
    Never inside the data directory, which is treated as read-only.
    """
    explicit = os.environ.get("EXPLORER_CACHE_DIR")
    if explicit:
        return Path(explicit).expanduser()
    base = os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache"
    return Path(base).expanduser() / "transfer-explorer"


def checkpoints_dir() -> Path:
    """The run store (`EXPLORER_CHECKPOINTS_DIR`, default checkpoints/ in the project)."""
    explicit = os.environ.get("EXPLORER_CHECKPOINTS_DIR")
    return Path(explicit).expanduser() if explicit else PROJECT_ROOT / "checkpoints"


def folder_roots() -> list[Path]:
    """Where the app may read image folders: the data directory and the folders listed in
    `EXPLORER_FOLDER_ROOTS` (separated by the system's path separator, ':' on Linux). A class
    sharing one server must not make it read, or show, anything else on its disk."""
    listed = [Path(p).expanduser() for p in os.environ.get("EXPLORER_FOLDER_ROOTS", "").split(os.pathsep) if p.strip()]
    return [data_dir(), *listed]


def portable(text: str) -> str:
    """`text` with this machine's data, cache and home folders written as $EXPLORER_DATA_DIR,
    $EXPLORER_CACHE_DIR and ~, for what a run records about where its data came from."""
    for folder, name in ((data_dir(), "$EXPLORER_DATA_DIR"), (cache_dir(), "$EXPLORER_CACHE_DIR"), (Path.home(), "~")):
        for spelled in sorted({str(folder.resolve()), str(folder.absolute())}, key=len, reverse=True):
            if len(spelled) > 1:
                text = re.sub(re.escape(spelled) + r"(?=[/\\\s,;:)]|$)", lambda _, name=name: name, text)
    return text
