"""Image folders in torchvision's ImageFolder layout: PATH/<class>/<image>.

This is how one brings one's own domain, including the course homework's data: train_data/<class>/
(labelled source photos) and test_data/0/ (unlabelled target doodles). A folder with exactly one
class subfolder is therefore read as UNLABELLED (labels None, no classes): one class teaches a
classifier nothing, and that is how the homework marks its target. A folder has only one split,
so its images serve as both train and eval (transductive).
"""

from __future__ import annotations

import hashlib
import os
from pathlib import Path

import numpy as np
from PIL import Image

from core.data.source import NativeSplits, Source
from core.errors import UserError

EXPECTED_LAYOUT = (
    "PATH/<class>/<image> with one subfolder per class (png, jpg, bmp, ...); "
    "a single subfolder (like test_data/0/) means unlabelled"
)
_GREY_MODES = {"1", "L", "LA", "I", "I;16", "F"}
# Bounds on what one folder may hold, so that a mistyped path (a home directory, a symlink to /)
# ends in a message instead of a walk that never finishes or an image that fills the memory.
MAX_IMAGES = 200_000
MAX_FOLDERS = 20_000
MAX_PIXELS = 50_000_000  # per image, before decoding (a 7,000 x 7,000 photo)
MAX_SIDE = 256  # images are decoded at most this large: the networks take 28 or 32 pixels


def images_in(folder: Path) -> list[Path]:
    """Image files under `folder` (one class), recursively and in a stable order, as ImageFolder
    finds them.

    Symbolic links are followed only while they stay inside `folder`, and each real directory is
    walked once, so a link to a parent, to another class or to another part of the disk neither
    loops nor brings in images from elsewhere. More than MAX_IMAGES images or MAX_FOLDERS folders
    is a UserError."""
    from torchvision.datasets.folder import IMG_EXTENSIONS  # torchvision: seconds to import, so only when needed

    from core.interrupt import checkpoint

    boundary = folder.resolve()
    seen: set[tuple[int, int]] = set()
    found: list[Path] = []
    folders = 0
    for parent, dirs, files in os.walk(folder, followlinks=True):
        checkpoint()
        here = Path(parent)
        try:
            real = here.resolve()
            key = (os.stat(real).st_dev, os.stat(real).st_ino)
        except OSError:
            dirs[:] = []
            continue
        if key in seen or not real.is_relative_to(boundary):
            dirs[:] = []
            continue
        seen.add(key)
        folders += 1
        if folders > MAX_FOLDERS:
            raise UserError(f"{folder} holds more than {MAX_FOLDERS:,} folders; point at the image folder itself")
        dirs.sort()
        for name in sorted(files):
            path = here / name
            if name.lower().endswith(IMG_EXTENSIONS) and _inside(path, boundary):
                found.append(path)
        if len(found) > MAX_IMAGES:
            raise UserError(f"{folder} holds more than {MAX_IMAGES:,} images; at most that many are read")
    return found


def _inside(path: Path, boundary: Path) -> bool:
    try:
        return path.resolve().is_relative_to(boundary)
    except OSError:
        return False


def read_image(path: Path) -> np.ndarray:
    """(H, W) for grey images, (H, W, 3) for anything else; alpha and palettes are flattened.
    An image larger than MAX_SIDE on a side is shrunk (antialiased) as it is decoded; one of more
    than MAX_PIXELS pixels is refused before anything is decoded."""
    try:
        with Image.open(path) as image:
            width, height = image.size
            if width * height > MAX_PIXELS:
                raise UserError(
                    f"{path} is {width:,} x {height:,} pixels; images of at most {MAX_PIXELS // 1_000_000} "
                    "megapixels are read (the networks see 28 or 32)"
                )
            image.draft("RGB" if image.mode not in _GREY_MODES else "L", (MAX_SIDE, MAX_SIDE))  # JPEG: decode smaller
            converted = image.convert("L" if image.mode in _GREY_MODES else "RGB")
            if max(converted.size) > MAX_SIDE:
                converted.thumbnail((MAX_SIDE, MAX_SIDE), Image.Resampling.LANCZOS)
            return np.asarray(converted)
    except (OSError, SyntaxError, ValueError, Image.DecompressionBombError) as err:
        raise UserError(f"{path} could not be read as an image: {err}") from err


def fingerprint(path: str) -> str:
    """A hash of the images a folder holds (relative path, size and modification time of each), so
    that a run on a folder whose images changed is a new run; "missing" when it cannot be read."""
    root = Path(path).expanduser()
    try:
        entries = []
        for folder in _class_folders(root):
            for image in images_in(folder):
                stat = image.stat()
                entries.append(f"{image.relative_to(root)}\t{stat.st_size}\t{stat.st_mtime_ns}")
    except (UserError, OSError, ValueError):
        return "missing"
    return hashlib.sha256("\n".join(entries).encode()).hexdigest()[:16]


def within(path: str, roots: list[Path]) -> bool:
    """Whether `path` (resolved) lies under one of `roots`: what a shared server may read."""
    try:
        real = Path(path).expanduser().resolve()
    except (OSError, RuntimeError, ValueError):
        return False
    return any(real.is_relative_to(r.expanduser().resolve()) for r in roots)


def _class_folders(root: Path) -> list[Path]:
    if not root.is_dir():
        raise UserError(f"Image folder {root} not found: expected {EXPECTED_LAYOUT}")
    return sorted(p for p in root.iterdir() if p.is_dir() and not p.name.startswith("."))


def locate(path: str) -> Source:
    """All images of `path`, labelled by class subfolder unless there is only one."""
    root = Path(path).expanduser()
    classes = _class_folders(root)
    files_by_class = [images_in(folder) for folder in classes]
    paths = [p for files in files_by_class for p in files]
    if len(paths) > MAX_IMAGES:
        raise UserError(f"{root} holds more than {MAX_IMAGES:,} images; at most that many are read")
    if not paths:
        raise UserError(f"No images found in {root}: expected {EXPECTED_LAYOUT}")
    labelled = len(classes) > 1
    labels = np.repeat(np.arange(len(classes), dtype=np.int64), [len(f) for f in files_by_class])
    if labelled:
        kind_note = f"{len(paths)} images in {len(classes)} class folders under {root}"
    else:
        kind_note = f"{len(paths)} images in the single subfolder {classes[0].name}/ of {root}: read as unlabelled"
    return Source(
        kind="image-folder-2",  # 2: images over MAX_SIDE pixels are shrunk as they are decoded
        name=root.resolve().name or str(root),
        files=tuple(paths),
        classes=tuple(folder.name for folder in classes) if labelled else (),
        transductive=True,
        notes=(kind_note, "one split only: the same images serve as train and eval (transductive)"),
        decode=lambda: NativeSplits(_read_all(paths), labels if labelled else None),
    )


def _read_all(paths: list[Path]) -> list[np.ndarray]:
    from core.interrupt import checkpoint

    images = []
    for i, path in enumerate(paths):
        if i % 64 == 0:
            checkpoint()
        images.append(read_image(path))
    return images
