"""Atomic file writes: write a temporary file beside the target, fsync, then rename over it.

A reader never sees a half-written file, and a process killed mid-write leaves the previous
version (or nothing) behind, never a truncated one.
"""

from __future__ import annotations

import json
import os
import tempfile
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import torch


def write_bytes(path: str | os.PathLike, data: bytes) -> None:
    """Write `data` to `path` atomically, creating parent folders."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def write_json(path: str | os.PathLike, obj: Any) -> None:
    """Write `obj` as indented JSON, atomically; NaN or infinity is a ValueError (it is not JSON)."""
    write_bytes(path, (json.dumps(obj, indent=2, sort_keys=False, allow_nan=False) + "\n").encode())


def write_tensors(
    path: str | os.PathLike, tensors: dict[str, torch.Tensor], metadata: dict[str, str] | None = None
) -> None:
    """Write tensors as a safetensors file, atomically (contiguous CPU copies are taken)."""
    from safetensors.torch import save as safetensors_bytes  # imports torch: only when writing tensors

    cpu = {k: v.detach().to("cpu").contiguous() for k, v in tensors.items()}
    write_bytes(path, safetensors_bytes(cpu, metadata=metadata))
