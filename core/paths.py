"""Where data, caches and runs live; each overridable by an environment variable."""

from __future__ import annotations

import os
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
