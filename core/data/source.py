"""What a dataset loader found on disk, kept apart from decoding it.

Finding files is cheap and decoding them is not, so each source module answers "where is it and
what will it be" first (a `Source`), and only decodes when the tensor cache misses.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

# Native images: one (N, H, W) or (N, H, W, 3) uint8 array when all share a shape, else a list of
# (H, W) / (H, W, 3) arrays (image folders mix sizes and modes).
NativeImages = np.ndarray | Sequence[np.ndarray]

DIGIT_CLASSES = tuple(str(d) for d in range(10))


@dataclass(frozen=True)
class NativeSplits:
    """Decoded images at their native resolution; eval is None when train doubles as eval."""

    train_images: NativeImages
    train_labels: np.ndarray | None
    eval_images: NativeImages | None = None
    eval_labels: np.ndarray | None = None


@dataclass(frozen=True)
class Source:
    """A located dataset: enough to name it, key its cache entry and decode it later."""

    kind: str  # what produces the pixels (a format name plus its version), part of the cache key
    name: str
    files: tuple[Path, ...]  # fingerprinted (path, size, mtime) for the cache key
    classes: tuple[str, ...]
    transductive: bool
    notes: tuple[str, ...]
    decode: Callable[[], NativeSplits]

    @property
    def labelled(self) -> bool:
        return bool(self.classes)


@dataclass(frozen=True)
class DatasetStatus:
    """One line for a home page: is a dataset usable offline, where, and what to do if not."""

    name: str
    available: bool
    where: str
    detail: str
