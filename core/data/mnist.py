"""MNIST through torchvision, without ever writing next to the user's files.

torchvision only reads the unpacked IDX files, and unpacks the .gz files into the folder they sit
in. The data directory is read-only, so the .gz files are linked into a private temporary folder
in the cache and unpacked there, once per decode; the unpacked copies are thrown away because the
tensor cache holds the result. Checksums come from torchvision's own list, checked before
torchvision sees a file: a bad file there would make torchvision try to download over it.

torchvision is imported where it is used, not at the top: it takes seconds to import, and the
file-presence status (the app's home page) needs only the file names.
"""

from __future__ import annotations

import shutil
import tempfile
from pathlib import Path

from core.data.source import DIGIT_CLASSES, DatasetStatus, NativeSplits, Source
from core.errors import UserError
from core.paths import cache_dir, data_dir


def data_folder() -> Path:
    return data_dir() / "MNIST" / "raw"


def download_folder() -> Path:
    """Where torchvision's download puts the .gz files (cache_dir()/MNIST/raw)."""
    return cache_dir() / "MNIST" / "raw"


# torchvision's MNIST.resources names, in its order (tests/data/test_mnist.py checks they agree).
FILES = (
    "train-images-idx3-ubyte.gz",
    "train-labels-idx1-ubyte.gz",
    "t10k-images-idx3-ubyte.gz",
    "t10k-labels-idx1-ubyte.gz",
)


def expected_md5() -> dict[str, str]:
    """File name -> md5, read from torchvision at call time so tests can register fixtures."""
    import torchvision

    return dict(torchvision.datasets.MNIST.resources)


def _present() -> dict[str, Path]:
    """Each .gz that exists, from the data directory first, else from an earlier download."""
    found = {}
    for name in FILES:
        for folder in (data_folder(), download_folder()):
            if (folder / name).is_file():
                found[name] = folder / name
                break
    return found


def _verified() -> dict[str, Path]:
    """Present files whose md5 matches; a bad file of the user's is an error, a bad download is not."""
    from torchvision.datasets.utils import check_md5

    found = {}
    for name, path in _present().items():
        if check_md5(path, expected_md5()[name]):
            found[name] = path
        elif path.parent == data_folder():
            raise UserError(
                f"{path} is corrupt or incomplete: its md5 differs from the {name} that torchvision "
                f"lists. Replace it with the original MNIST file (or remove it to download one)."
            )
    return found


def _missing_message(missing: list[str], reason: str) -> str:
    return (
        f"MNIST not found: expected {', '.join(missing)} in {data_folder()} ({reason}). "
        f"Put the MNIST .gz files there, or load with download enabled and internet access."
    )


def _download() -> None:
    import torchvision

    try:
        torchvision.datasets.MNIST(cache_dir(), train=True, download=True)
    except (RuntimeError, OSError) as err:
        # torchvision lists every mirror it tried; the last line is the final error.
        lines = [line for line in str(err).splitlines() if line.strip()] or [type(err).__name__]
        reason = f"downloading into {download_folder()} failed: {lines[-1].strip()}"
        raise UserError(_missing_message(list(expected_md5()), reason)) from err


def _link_or_copy(target: Path, link: Path) -> None:
    try:
        link.symlink_to(target.resolve())
    except OSError:  # file systems without symlinks (some Windows setups)
        shutil.copyfile(target, link)


def decode(files: dict[str, Path]) -> NativeSplits:
    """Unpack and read both splits with torchvision, in a temporary folder inside the cache."""
    import torchvision

    cache_dir().mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(dir=cache_dir(), prefix="mnist-unpack-") as root:
        raw = Path(root) / "MNIST" / "raw"
        raw.mkdir(parents=True)
        for name, path in files.items():
            _link_or_copy(path, raw / name)
        # Every .gz is present with the listed md5, so download=True only unpacks (no network).
        train = torchvision.datasets.MNIST(root, train=True, download=True)
        test = torchvision.datasets.MNIST(root, train=False, download=True)
    return NativeSplits(train.data.numpy(), train.targets.numpy(), test.data.numpy(), test.targets.numpy())


def locate(download: bool = True) -> Source:
    """MNIST train (60000) for training, MNIST test (10000) for evaluation."""
    files = _verified()
    if len(files) < len(expected_md5()) and download:
        _download()
        files = _verified()
    missing = [name for name in expected_md5() if name not in files]
    if missing:
        raise UserError(_missing_message(missing, "download disabled" if not download else "download incomplete"))
    folders = sorted({str(p.parent) for p in files.values()})
    return Source(
        kind="mnist-idx",
        name="MNIST",
        files=tuple(files[name] for name in expected_md5()),
        classes=DIGIT_CLASSES,
        transductive=False,
        notes=(f"read from {', '.join(folders)}", "train: MNIST train split; eval: MNIST test split"),
        decode=lambda: decode(files),
    )


def status() -> DatasetStatus:
    present = _present()
    missing = [name for name in FILES if name not in present]
    if not missing:
        folders = sorted({str(p.parent) for p in present.values()})
        return DatasetStatus("MNIST", True, ", ".join(folders), "all four .gz files found")
    return DatasetStatus(
        "MNIST",
        False,
        str(data_folder()),
        f"missing {', '.join(missing)}: put them in {data_folder()}, or load with internet access to download",
    )
