"""Native images -> the requested channels and size, once, cached as uint8 tensors.

Every domain is converted at load time (not per batch), so training and embedding read ready
tensors. Conversion is deterministic given the source files and the request, which is what the
cache key hashes; the cache is our own scratch space, so a bad entry is rebuilt, never reported.
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import cv2
import numpy as np
import torch
import torch.nn.functional as F
from safetensors import SafetensorError
from safetensors.torch import load_file

from core.atomic import write_tensors
from core.data.source import NativeImages, Source
from core.paths import cache_dir

LUMA = (0.299, 0.587, 0.114)  # ITU-R 601, the weights PIL and OpenCV use for RGB -> grey
CANNY_THRESHOLDS = (170, 300)  # the course homework's source transform
CACHE_FORMAT = 1  # bump when conversion changes, so old cache entries stop matching
_CHUNK = 4096  # images converted per float batch: bounds peak memory on 60000-image sets


def luminance(rgb: np.ndarray) -> np.ndarray:
    """Grey levels of (..., 3) uint8 RGB, rounded to uint8."""
    grey = rgb.astype(np.float32) @ np.asarray(LUMA, dtype=np.float32)
    return np.rint(grey).clip(0, 255).astype(np.uint8)


def canny_edges(images: np.ndarray) -> np.ndarray:
    """(N, H, W[, 3]) uint8 -> (N, H, W) edge maps of 0/255, at the images' own resolution."""
    grey = images if images.ndim == 3 else luminance(images)
    return np.stack([cv2.Canny(np.ascontiguousarray(g), *CANNY_THRESHOLDS) for g in grey])


def _convert_chunk(x: torch.Tensor, channels: int, size: int) -> torch.Tensor:
    """(n, c, h, w) uint8 -> (n, 1 or channels, size, size) uint8, rounding once at the end."""
    to_grey = x.shape[1] == 3 and channels == 1
    resize = tuple(x.shape[-2:]) != (size, size)
    if to_grey or resize:
        f = x.float()
        if to_grey:
            f = (f * torch.tensor(LUMA).view(1, 3, 1, 1)).sum(1, keepdim=True)
        if resize:
            f = F.interpolate(f, size=(size, size), mode="bilinear", align_corners=False, antialias=True)
        x = f.round_().clamp_(0, 255).to(torch.uint8)
    return x


def _convert_uniform(images: np.ndarray, channels: int, size: int, edges: bool) -> torch.Tensor:
    if edges:
        images = canny_edges(images)
    x = torch.from_numpy(np.ascontiguousarray(images))
    x = x.unsqueeze(1) if x.ndim == 3 else x.permute(0, 3, 1, 2)
    out = torch.empty((len(x), channels, size, size), dtype=torch.uint8)
    for start in range(0, len(x), _CHUNK):
        # A grey chunk broadcasts over 3 output channels: grey -> RGB repeats the channel.
        out[start : start + _CHUNK] = _convert_chunk(x[start : start + _CHUNK], channels, size)
    return out


def convert_images(images: NativeImages, channels: int, size: int, edges: bool = False) -> torch.Tensor:
    """Native (H, W) / (H, W, 3) uint8 images -> (N, channels, size, size) uint8.

    Grey -> RGB repeats the channel, RGB -> grey uses ITU-R 601 luminance, and resizing is
    bilinear with antialiasing (non-square images are stretched to the square). With `edges`,
    Canny runs first, on the image as stored, so thresholds mean what the homework meant.
    Mixed-shape lists are converted shape by shape and keep their order.
    """
    if isinstance(images, np.ndarray):
        return _convert_uniform(images, channels, size, edges)
    groups: dict[tuple[int, ...], list[int]] = {}
    for i, image in enumerate(images):
        groups.setdefault(image.shape, []).append(i)
    out = torch.empty((len(images), channels, size, size), dtype=torch.uint8)
    for indices in groups.values():
        stacked = np.stack([images[i] for i in indices])
        out[torch.tensor(indices)] = _convert_uniform(stacked, channels, size, edges)
    return out


def _fingerprint(path: Path) -> list[str | int]:
    stat = path.stat()
    return [str(path.resolve()), stat.st_size, stat.st_mtime_ns]


def cache_key(source: Source, channels: int, size: int, edges: bool) -> str:
    """Changes when a source file is replaced or touched, or anything about the request changes."""
    parts = {
        "format": CACHE_FORMAT,
        "kind": source.kind,
        "files": [_fingerprint(p) for p in source.files],
        "channels": channels,
        "size": size,
        "edges": edges,
    }
    return hashlib.sha256(json.dumps(parts, sort_keys=True).encode()).hexdigest()


def cache_path(key: str) -> Path:
    return cache_dir() / "tensors" / f"{key}.safetensors"


def tensor_names(source: Source) -> tuple[str, ...]:
    """What a cache entry holds: eval is absent when it is train, labels when there are none."""
    splits = ("train",) if source.transductive else ("train", "eval")
    kinds = ("images", "labels") if source.labelled else ("images",)
    return tuple(f"{split}_{kind}" for split in splits for kind in kinds)


def _read_cached(path: Path, names: tuple[str, ...]) -> dict[str, torch.Tensor] | None:
    if not path.is_file():
        return None
    try:
        tensors = load_file(path)
    except (SafetensorError, OSError, ValueError):
        return None
    return tensors if set(tensors) == set(names) else None


def _build(source: Source, channels: int, size: int, edges: bool) -> dict[str, torch.Tensor]:
    native = source.decode()
    splits = {"train": (native.train_images, native.train_labels)}
    if not source.transductive:
        splits["eval"] = (native.eval_images, native.eval_labels)
    tensors = {}
    for split, (images, labels) in splits.items():
        tensors[f"{split}_images"] = convert_images(images, channels, size, edges)
        if source.labelled:
            tensors[f"{split}_labels"] = torch.as_tensor(np.asarray(labels), dtype=torch.int64)
    return tensors


def converted_tensors(source: Source, channels: int, size: int, edges: bool) -> dict[str, torch.Tensor]:
    """The source's splits at the requested spec: from the tensor cache, else decoded and stored."""
    path = cache_path(cache_key(source, channels, size, edges))
    names = tensor_names(source)
    cached = _read_cached(path, names)
    if cached is not None:
        return cached
    tensors = _build(source, channels, size, edges)
    write_tensors(path, tensors, metadata={"source": source.name, "format": str(CACHE_FORMAT)})
    return tensors
