"""USPS in torchvision's LIBSVM format (usps.bz2 train, usps.t.bz2 test), 16x16 grey digits.

Only the test split is commonly at hand offline (the shared data has just usps.t.bz2), and in
domain adaptation USPS is usually the target, whose labels training never sees. So one split alone
is enough: it serves as both the unlabelled training target and the evaluation set (transductive),
and no download is attempted while any split is present.

Framing: USPS digits fill their whole 16x16 frame, while MNIST's sit in a 20x20 box centred in
28x28 (LeCun et al.'s normalisation). Resized as they are, USPS digits would be a third larger
than MNIST's at any common size, a shift of framing rather than of style. So each image gets a
background border of FRAME_PAD pixels first (16 -> 22): at 28x28 a USPS digit is then 20 pixels
tall, as in MNIST.

torchvision is imported where it is used, not at the top: it takes seconds to import, and the
file-presence status (the app's home page) needs only the file names.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from core.data.source import DIGIT_CLASSES, DatasetStatus, NativeSplits, Source
from core.errors import UserError
from core.paths import cache_dir, data_dir

SPLITS = ("train", "test")
FILES = {"train": "usps.bz2", "test": "usps.t.bz2"}  # torchvision's USPS.split_list names (tested to agree)
FRAME_PAD = 3  # background pixels added on each side of the native 16x16 image (see above)


def data_folder() -> Path:
    return data_dir() / "USPS"


def download_folder() -> Path:
    return cache_dir() / "USPS"


def file_name(split: str) -> str:
    return FILES[split]


def _split_md5(split: str) -> str:
    import torchvision

    return torchvision.datasets.USPS.split_list[split][2]


def _present() -> dict[str, Path]:
    """Split -> file: the user's copy, else an earlier complete download into the cache."""
    found = {}
    for split in SPLITS:
        name = FILES[split]
        if (data_folder() / name).is_file():
            found[split] = data_folder() / name
        elif (download_folder() / name).is_file():
            from torchvision.datasets.utils import check_md5

            if check_md5(download_folder() / name, _split_md5(split)):
                found[split] = download_folder() / name
    return found


def _expected_names() -> str:
    return f"{file_name('train')} (train) and/or {file_name('test')} (test)"


def _download() -> None:
    import torchvision
    from torchvision.datasets.utils import download_url

    try:
        for split in SPLITS:
            url, name, md5 = torchvision.datasets.USPS.split_list[split]
            download_url(url, download_folder(), name, md5)
    except (RuntimeError, OSError) as err:
        raise UserError(
            f"USPS not found: expected {_expected_names()} in {data_folder()}; downloading into {download_folder()} "
            f"failed ({err}). Put the LIBSVM files there, or retry with internet access."
        ) from err


def read_split(path: Path) -> tuple[np.ndarray, np.ndarray]:
    """(N, 16, 16) uint8 images and int64 labels 0..9 from one LIBSVM bz2 file."""
    import torchvision

    expected = "a bzip2 LIBSVM file of lines 'label 1:value ... 256:value', labels 1..10, values in [-1, 1]"
    split = "train" if path.name == file_name("train") else "test"
    try:
        dataset = torchvision.datasets.USPS(root=path.parent, train=split == "train", download=False)
    except (OSError, EOFError, ValueError, IndexError) as err:
        raise UserError(f"{path} could not be read: expected {expected} ({err})") from err
    images, labels = np.asarray(dataset.data), np.asarray(dataset.targets, dtype=np.int64)
    if len(images) == 0 or len(images) != len(labels) or labels.min() < 0 or labels.max() > 9:
        raise UserError(f"{path} is malformed: expected {expected}, one digit per line")
    return images, labels


def _transductive_note(found: dict[str, Path]) -> str:
    [split] = found
    other = "test" if split == "train" else "train"
    role = "unlabelled target" if split == "test" else "train and eval set"
    return (
        f"{file_name(other)} ({other} split) not found in {data_folder()}: "
        f"the {split} split serves as the {role} (transductive)"
    )


def locate(download: bool = True) -> Source:
    """USPS train for training and test for evaluation, or the one split present for both."""
    found = _present()
    if not found and download:
        _download()
        found = _present()
    if not found:
        raise UserError(
            f"USPS not found: expected {_expected_names()} in {data_folder()} (download disabled). "
            f"Put the LIBSVM .bz2 files there, or load with download enabled and internet access."
        )
    transductive = len(found) == 1
    notes = [f"read from {', '.join(sorted({str(p.parent) for p in found.values()}))}"]
    if transductive:
        notes.append(_transductive_note(found))
    return Source(
        kind=f"usps-libsvm-pad{FRAME_PAD}",
        name="USPS",
        files=tuple(found.values()),
        classes=DIGIT_CLASSES,
        transductive=transductive,
        notes=tuple(notes),
        decode=lambda: _decode(found),
    )


def framed(images: np.ndarray) -> np.ndarray:
    """(N, 16, 16) -> (N, 22, 22): the MNIST-like border (module docstring); background is 0."""
    return np.pad(images, ((0, 0), (FRAME_PAD, FRAME_PAD), (FRAME_PAD, FRAME_PAD)))


def _read_framed(path: Path) -> tuple[np.ndarray, np.ndarray]:
    images, labels = read_split(path)
    return framed(images), labels


def _decode(found: dict[str, Path]) -> NativeSplits:
    if len(found) == 1:
        return NativeSplits(*_read_framed(next(iter(found.values()))))
    return NativeSplits(*_read_framed(found["train"]), *_read_framed(found["test"]))


def status() -> DatasetStatus:
    found = _present()
    if not found:
        detail = f"missing: put {_expected_names()} in {data_folder()}, or load with internet access to download"
        return DatasetStatus("USPS", False, str(data_folder()), detail)
    where = ", ".join(sorted({str(p.parent) for p in found.values()}))
    if len(found) == 2:
        return DatasetStatus("USPS", True, where, "train and test splits found")
    return DatasetStatus("USPS", True, where, _transductive_note(found))
