"""Tiny datasets generated in the real file formats, and a data/cache directory per test.

Every fixture writes the bytes the real loaders read (IDX .gz, LIBSVM .bz2, PNG folders and zips
with label files), so the tests run the same code paths as real data, in milliseconds.
"""

from __future__ import annotations

import bz2
import gzip
import hashlib
import io
import os
import struct
import threading
import zipfile
from collections.abc import Iterator
from functools import partial
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import numpy as np
import pytest
import torchvision
from PIL import Image

# Read before any test replaces it: real-data tests run only when CI points this at the data.
REAL_DATA_DIR = os.environ.get("EXPLORER_DATA_DIR")


def listing(root: Path) -> list[tuple[str, int, int]]:
    """Every file and folder under root with size and mtime: equal listings mean untouched."""
    entries = []
    for path in sorted(root.rglob("*")):
        stat = path.lstat()
        entries.append((str(path.relative_to(root)), stat.st_size, stat.st_mtime_ns))
    return entries


@pytest.fixture(autouse=True)
def cache(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """Each test gets an empty cache, so nothing leaks between tests or into ~/.cache."""
    folder = tmp_path / "cache"
    monkeypatch.setenv("EXPLORER_CACHE_DIR", str(folder))
    return folder


@pytest.fixture
def data(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    folder = tmp_path / "data"
    folder.mkdir()
    monkeypatch.setenv("EXPLORER_DATA_DIR", str(folder))
    return folder


def digit_images(labels: np.ndarray, size: int = 28) -> np.ndarray:
    """(N, size, size) uint8: a white block on black whose place depends on the label.

    Hard edges give Canny (thresholds 170/300) something to find, like real digit strokes do.
    """
    images = np.zeros((len(labels), size, size), dtype=np.uint8)
    for image, label in zip(images, labels):
        top = 2 + int(label) % 5 * 3
        left = 2 + int(label) // 5 * 8
        image[top : top + size // 3, left : left + size // 4] = 255
    return images


def idx_images(images: np.ndarray) -> bytes:
    n, h, w = images.shape
    return struct.pack(">IIII", 0x00000803, n, h, w) + images.tobytes()


def idx_labels(labels: np.ndarray) -> bytes:
    return struct.pack(">II", 0x00000801, len(labels)) + labels.astype(np.uint8).tobytes()


def mnist_files(n_train: int = 30, n_test: int = 20) -> dict[str, bytes]:
    """The four MNIST .gz files (file name -> bytes) for a tiny MNIST, labels i % 10."""
    train, test = np.arange(n_train) % 10, np.arange(n_test) % 10
    raw = {
        "train-images-idx3-ubyte.gz": idx_images(digit_images(train)),
        "train-labels-idx1-ubyte.gz": idx_labels(train),
        "t10k-images-idx3-ubyte.gz": idx_images(digit_images(test)),
        "t10k-labels-idx1-ubyte.gz": idx_labels(test),
    }
    return {name: gzip.compress(content, mtime=0) for name, content in raw.items()}


def register_mnist_md5s(files: dict[str, bytes], monkeypatch: pytest.MonkeyPatch) -> None:
    """Make generated .gz files the ones torchvision expects.

    torchvision checks each MNIST .gz against the md5s in `MNIST.resources` before unpacking, and
    the loader reads its expected md5s from that same list. Registering the fixture's md5s there
    runs the real code path unchanged (our check, then torchvision's check and unpacking) on
    tiny files, instead of teaching the loader a test-only way around its checks.
    """
    resources = [(name, hashlib.md5(content).hexdigest()) for name, content in files.items()]
    monkeypatch.setattr(torchvision.datasets.MNIST, "resources", resources)


@pytest.fixture
def fake_mnist(data: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """data/MNIST/raw/ with 30 train and 20 test images; returns the raw folder."""
    files = mnist_files()
    raw = data / "MNIST" / "raw"
    raw.mkdir(parents=True)
    for name, content in files.items():
        (raw / name).write_bytes(content)
    register_mnist_md5s(files, monkeypatch)
    return raw


def usps_bz2(labels: np.ndarray, seed: int = 0) -> bytes:
    """LIBSVM lines "label 1:value ... 256:value", labels 1..10, values in [-1, 1]."""
    rng = np.random.default_rng(seed)
    lines = []
    for label in labels:
        values = rng.uniform(-1, 1, 256)
        lines.append(f"{int(label) + 1} " + " ".join(f"{i + 1}:{v:.6f}" for i, v in enumerate(values)))
    return bz2.compress(("\n".join(lines) + "\n").encode())


def png_bytes(array: np.ndarray) -> bytes:
    buffer = io.BytesIO()
    Image.fromarray(array).save(buffer, format="PNG")
    return buffer.getvalue()


def mnistm_members(split: str, labels: np.ndarray, size: int = 32) -> dict[str, bytes]:
    """Relative path -> bytes of one MNIST-M split: mnist_m_<split>/*.png and its label file."""
    rng = np.random.default_rng(len(labels))
    members = {}
    for i in range(len(labels)):
        members[f"mnist_m_{split}/{i:08d}.png"] = png_bytes(rng.integers(0, 256, (size, size, 3), dtype=np.uint8))
    text = "".join(f"{i:08d}.png {int(label)}\n" for i, label in enumerate(labels))
    members[f"mnist_m_{split}_labels.txt"] = text.encode()
    return members


def write_zip(path: Path, members: dict[str, bytes]) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    with zipfile.ZipFile(path, "w") as zf:
        for name, content in members.items():
            zf.writestr(name, content)
    return path


def write_tree(root: Path, members: dict[str, bytes]) -> Path:
    for name, content in members.items():
        (root / name).parent.mkdir(parents=True, exist_ok=True)
        (root / name).write_bytes(content)
    return root


def write_image_folder(root: Path, counts: dict[str, int], size: int = 32, mode: str = "RGB") -> Path:
    """root/<class>/<i>.png with `counts[class]` random images each."""
    rng = np.random.default_rng(sum(counts.values()))
    shape = (size, size, 3) if mode == "RGB" else (size, size)
    for name, count in counts.items():
        for i in range(count):
            (root / name).mkdir(parents=True, exist_ok=True)
            Image.fromarray(rng.integers(0, 256, shape, dtype=np.uint8)).save(root / name / f"{i:03d}.png")
    return root


class _QuietHandler(SimpleHTTPRequestHandler):
    def log_message(self, format: str, *args: object) -> None:
        pass


@pytest.fixture
def http_mirror(tmp_path: Path) -> Iterator[tuple[Path, str]]:
    """A local HTTP server over a folder: (folder, base URL), to test downloads without internet."""
    folder = tmp_path / "mirror"
    folder.mkdir()
    server = ThreadingHTTPServer(("127.0.0.1", 0), partial(_QuietHandler, directory=str(folder)))
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
    thread.start()
    yield folder, f"http://127.0.0.1:{server.server_address[1]}/"
    server.shutdown()
    server.server_close()
