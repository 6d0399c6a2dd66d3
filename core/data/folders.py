"""Image folders in torchvision's ImageFolder layout: PATH/<class>/<image>.

This is how one brings one's own domain, including the course homework's data: train_data/<class>/
(labelled source photos) and test_data/0/ (unlabelled target doodles). A folder with exactly one
class subfolder is therefore read as UNLABELLED (labels None, no classes): one class teaches a
classifier nothing, and that is how the homework marks its target. A folder has only one split,
so its images serve as both train and eval (transductive).
"""

from __future__ import annotations

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


def images_in(folder: Path) -> list[Path]:
    """Image files under `folder`, recursively and in a stable order, as ImageFolder finds them."""
    from torchvision.datasets.folder import IMG_EXTENSIONS  # torchvision: seconds to import, so only when needed

    found = []
    for parent, dirs, files in os.walk(folder, followlinks=True):
        dirs.sort()
        found.extend(Path(parent) / f for f in sorted(files) if f.lower().endswith(IMG_EXTENSIONS))
    return found


def read_image(path: Path) -> np.ndarray:
    """(H, W) for grey images, (H, W, 3) for anything else; alpha and palettes are flattened."""
    try:
        with Image.open(path) as image:
            return np.asarray(image.convert("L" if image.mode in _GREY_MODES else "RGB"))
    except (OSError, SyntaxError, ValueError) as err:
        raise UserError(f"{path} could not be read as an image: {err}") from err


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
    if not paths:
        raise UserError(f"No images found in {root}: expected {EXPECTED_LAYOUT}")
    labelled = len(classes) > 1
    labels = np.repeat(np.arange(len(classes), dtype=np.int64), [len(f) for f in files_by_class])
    if labelled:
        kind_note = f"{len(paths)} images in {len(classes)} class folders under {root}"
    else:
        kind_note = f"{len(paths)} images in the single subfolder {classes[0].name}/ of {root}: read as unlabelled"
    return Source(
        kind="image-folder",
        name=root.resolve().name or str(root),
        files=tuple(paths),
        classes=tuple(folder.name for folder in classes) if labelled else (),
        transductive=True,
        notes=(kind_note, "one split only: the same images serve as train and eval (transductive)"),
        decode=lambda: NativeSplits([read_image(p) for p in paths], labels if labelled else None),
    )
