"""MNIST-M: the original release if present, else generated from MNIST by the original recipe.

The original layout (Ganin's mnist_m.tar.gz) is `mnist_m_<split>/` PNG folders beside
`mnist_m_<split>_labels.txt` files of lines "00000000.png 7". It is accepted extracted (in
MNIST-M/ or mnist_m/, or one folder below) or inside any .zip there, whatever prefix the members
carry, because people unpack and repack it in every way. A split found nowhere is not fatal: one
real split serves as both train and eval (transductive), and with none at all the dataset is
generated, so a DANN demo always has its classic MNIST -> MNIST-M pair.
"""

from __future__ import annotations

import io
import zipfile
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from PIL import Image

from core.data import mnist
from core.data.source import DIGIT_CLASSES, DatasetStatus, NativeSplits, Source
from core.errors import UserError
from core.paths import data_dir

SPLITS = ("train", "test")
GENERATOR_SEED = 2015  # fixed: the generated dataset is the same everywhere (the year of the paper)
GENERATOR_VERSION = 1  # bump if the recipe changes, so cached tensors are rebuilt


def search_folders() -> tuple[Path, ...]:
    return data_dir() / "MNIST-M", data_dir() / "mnist_m"


def labels_name(split: str) -> str:
    return f"mnist_m_{split}_labels.txt"


@dataclass(frozen=True)
class SplitLocation:
    """One split: on disk (`container` is the folder holding the labels file) or in a zip."""

    split: str
    container: Path
    member_prefix: str | None = None  # set inside a zip: what precedes the labels file's name

    @property
    def images_name(self) -> str:
        return f"mnist_m_{self.split}"

    def describe(self) -> str:
        if self.member_prefix is None:
            return str(self.container)
        return f"{self.container} (members {self.member_prefix}{self.images_name}/)"

    def files(self) -> tuple[Path, ...]:
        """What the cache key fingerprints; a folder's mtime changes when images come or go."""
        if self.member_prefix is None:
            return self.container / labels_name(self.split), self.container / self.images_name
        return (self.container,)


def _zip_prefix(archive: Path, labels: str) -> str | None:
    try:
        with zipfile.ZipFile(archive) as zf:
            names = zf.namelist()
    except (zipfile.BadZipFile, OSError) as err:
        raise UserError(f"{archive} is not a readable zip file (expected an MNIST-M archive): {err}") from err
    for name in names:
        if name == labels or name.endswith("/" + labels):
            return name[: -len(labels)]
    return None


def find_split(split: str) -> SplitLocation | None:
    """The first place holding the split's labels file: extracted folders first, then zips."""
    for root in search_folders():
        if not root.is_dir():
            continue
        for folder in (root, *sorted(p for p in root.iterdir() if p.is_dir())):
            if (folder / labels_name(split)).is_file():
                return SplitLocation(split, folder)
        for archive in sorted(root.glob("*.zip")):
            prefix = _zip_prefix(archive, labels_name(split))
            if prefix is not None:
                return SplitLocation(split, archive, prefix)
    return None


def parse_labels(text: str, where: str) -> list[tuple[str, int]]:
    """Lines "00000000.png 7" -> [(file name, label)], rejecting anything else by line number."""
    entries = []
    for number, line in enumerate(text.splitlines(), start=1):
        if not line.strip():
            continue
        fields = line.split()
        if len(fields) != 2 or not fields[1].isdigit() or int(fields[1]) > 9:
            raise UserError(f"{where}, line {number}: expected '<image>.png <label 0-9>', got {line!r}")
        entries.append((fields[0], int(fields[1])))
    return entries


def decode_png(data: bytes, where: str) -> np.ndarray:
    try:
        with Image.open(io.BytesIO(data)) as image:
            return np.asarray(image.convert("RGB"))
    except (OSError, SyntaxError, ValueError) as err:
        raise UserError(f"{where} is not a readable PNG image: {err}") from err


@dataclass(frozen=True)
class _SplitFiles:
    """A split's label text and images, wherever they are stored, with names for messages."""

    labels_text: str
    labels_where: str
    image_names: set[str]
    images_where: str  # ends with "/", so images_where + name names one image
    read: Callable[[str], bytes]


def _load(files: _SplitFiles, name: str) -> np.ndarray:
    where = files.images_where + name
    try:
        data = files.read(name)
    except (OSError, zipfile.BadZipFile) as err:  # a damaged member fails its CRC check here
        raise UserError(f"{where} could not be read: {err}") from err
    return decode_png(data, where)


def _checked(files: _SplitFiles) -> tuple[list[np.ndarray], np.ndarray]:
    """Images in label-file order, checked one label per image and one image per label."""
    entries = parse_labels(files.labels_text, files.labels_where)
    if len(entries) != len(files.image_names):
        raise UserError(
            f"{files.labels_where} lists {len(entries)} images but {files.images_where} holds "
            f"{len(files.image_names)} PNG files: expected one label line per image"
        )
    absent = [name for name, _ in entries if name not in files.image_names]
    if absent:
        raise UserError(f"{files.labels_where} names {absent[0]}, which is not in {files.images_where}")
    images = [_load(files, name) for name, _ in entries]
    return images, np.asarray([label for _, label in entries], dtype=np.int64)


def _read_folder(loc: SplitLocation) -> tuple[list[np.ndarray], np.ndarray]:
    labels = loc.container / labels_name(loc.split)
    images = loc.container / loc.images_name
    if not images.is_dir():
        raise UserError(f"{images} not found: expected the folder of PNG images beside {labels}")
    names = {p.name for p in images.iterdir() if p.suffix.lower() == ".png"}
    text = labels.read_text(errors="replace")
    return _checked(_SplitFiles(text, str(labels), names, f"{images}/", lambda n: (images / n).read_bytes()))


def _read_zip(loc: SplitLocation) -> tuple[list[np.ndarray], np.ndarray]:
    prefix = f"{loc.member_prefix}{loc.images_name}/"
    labels = loc.member_prefix + labels_name(loc.split)
    with zipfile.ZipFile(loc.container) as zf:
        names = {m[len(prefix) :] for m in zf.namelist() if m.startswith(prefix) and m.lower().endswith(".png")}
        text = zf.read(labels).decode(errors="replace")
        where = f"{loc.container} member "
        return _checked(_SplitFiles(text, where + labels, names, where + prefix, lambda n: zf.read(prefix + n)))


def read_split(loc: SplitLocation) -> tuple[list[np.ndarray], np.ndarray]:
    """(images in label-file order, int64 labels) of one split, from its folder or zip."""
    return _read_folder(loc) if loc.member_prefix is None else _read_zip(loc)


def generate(digits: np.ndarray, photos: Sequence[np.ndarray], rng: np.random.Generator) -> np.ndarray:
    """(N, H, W) grey digits -> (N, H, W, 3) MNIST-M images, as in Ganin et al. (2016).

    Each digit, binarised (any ink is 255) and repeated to RGB, is blended with a random crop of
    a random photo by absolute difference: ink inverts the photo's colours, background keeps them.
    """
    n, h, w = digits.shape
    which = rng.integers(len(photos), size=n)
    out = np.empty((n, h, w, 3), dtype=np.uint8)
    for index, photo in enumerate(photos):
        chosen = np.flatnonzero(which == index)
        ys = rng.integers(photo.shape[0] - h + 1, size=len(chosen))
        xs = rng.integers(photo.shape[1] - w + 1, size=len(chosen))
        windows = np.lib.stride_tricks.sliding_window_view(photo, (h, w, 3))[:, :, 0]
        patches = windows[ys, xs]
        ink = (digits[chosen] > 0)[..., None]
        out[chosen] = np.where(ink, 255 - patches, patches)
    return out


def _generated(native_mnist: NativeSplits) -> NativeSplits:
    from sklearn.datasets import load_sample_images  # scikit-learn takes seconds to import; only generating needs it

    photos = [np.asarray(p, dtype=np.uint8) for p in load_sample_images().images]
    train_rng, test_rng = (np.random.default_rng([GENERATOR_SEED, i]) for i in range(2))
    return NativeSplits(
        generate(native_mnist.train_images, photos, train_rng),
        native_mnist.train_labels,
        generate(native_mnist.eval_images, photos, test_rng),
        native_mnist.eval_labels,
    )


def _expected() -> str:
    return (
        f"{labels_name('test')} with mnist_m_test/ (and/or the train pair), extracted or in a .zip, "
        f"in {' or '.join(str(f) for f in search_folders())}"
    )


def _generated_source(download: bool) -> Source:
    try:
        source = mnist.locate(download)
    except UserError as err:
        raise UserError(f"MNIST-M not found (expected {_expected()}), and it cannot be generated: {err}") from err
    return Source(
        kind=f"mnistm-generated-v{GENERATOR_VERSION}-seed{GENERATOR_SEED}",
        name="MNIST-M (generated from MNIST)",
        files=source.files,
        classes=DIGIT_CLASSES,
        transductive=False,
        notes=(
            f"MNIST-M not found in {' or '.join(str(f) for f in search_folders())}: generated from MNIST "
            f"(train from train, test from test) by blending each digit with a random crop of "
            f"scikit-learn's sample photos (seed {GENERATOR_SEED})",
        ),
        decode=lambda: _generated(source.decode()),
    )


def _transductive_note(loc: SplitLocation) -> str:
    other = "test" if loc.split == "train" else "train"
    role = "unlabelled target" if loc.split == "test" else "train and eval set"
    return (
        f"{labels_name(other)} ({other} split) not found in {' or '.join(str(f) for f in search_folders())}: "
        f"the {loc.split} split serves as the {role} (transductive)"
    )


def locate(download: bool = True) -> Source:
    """The real splits where found (train for training, test for evaluation), else generated."""
    found = [loc for loc in (find_split(s) for s in SPLITS) if loc is not None]
    if not found:
        return _generated_source(download)
    notes = [f"{loc.split} split read from {loc.describe()}" for loc in found]
    if len(found) == 1:
        notes.append(_transductive_note(found[0]))
    return Source(
        kind="mnistm-png",
        name="MNIST-M",
        files=tuple(f for loc in found for f in loc.files()),
        classes=DIGIT_CLASSES,
        transductive=len(found) == 1,
        notes=tuple(notes),
        decode=lambda: NativeSplits(*(part for loc in found for part in read_split(loc))),
    )


def status() -> DatasetStatus:
    where = " or ".join(str(f) for f in search_folders())
    try:
        found = [loc for loc in (find_split(s) for s in SPLITS) if loc is not None]
    except UserError as err:
        return DatasetStatus("MNIST-M", False, where, str(err))
    if len(found) == 2:
        return DatasetStatus("MNIST-M", True, where, "train and test splits found")
    if found:
        return DatasetStatus("MNIST-M", True, found[0].describe(), _transductive_note(found[0]))
    if mnist.status().available:
        return DatasetStatus("MNIST-M", True, where, "not found: it will be generated from MNIST")
    return DatasetStatus(
        "MNIST-M", False, where, f"not found, and MNIST (needed to generate it) is missing too: put {_expected()}"
    )
