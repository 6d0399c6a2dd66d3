"""MNIST on generated IDX .gz files: loading, conversion, caching and every way it can be missing."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch
import torchvision

import core.data.mnist
from core.data import InputSpec, load_domain
from core.errors import UserError
from tests.data.conftest import listing, mnist_files, register_mnist_md5s

FILES = (
    "train-images-idx3-ubyte.gz",
    "train-labels-idx1-ubyte.gz",
    "t10k-images-idx3-ubyte.gz",
    "t10k-labels-idx1-ubyte.gz",
)


@pytest.fixture
def offline(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """Any download attempt fails at once, as without internet (and without touching it)."""
    monkeypatch.setattr(torchvision.datasets.MNIST, "mirrors", [f"file://{tmp_path}/no-such-mirror/"])


def test_the_file_names_are_torchvisions() -> None:
    assert core.data.mnist.FILES == tuple(name for name, _ in torchvision.datasets.MNIST.resources) == FILES


def test_loads_train_and_test_splits(fake_mnist: Path) -> None:
    domain = load_domain("MNIST", InputSpec(1, 28))
    assert domain.name == "MNIST" and domain.spec == "MNIST"
    assert domain.train_images.shape == (30, 1, 28, 28) and domain.train_images.dtype == torch.uint8
    assert domain.eval_images.shape == (20, 1, 28, 28)
    assert domain.train_labels.dtype == torch.int64
    assert domain.train_labels.tolist() == [i % 10 for i in range(30)]
    assert domain.eval_labels.tolist() == [i % 10 for i in range(20)]
    assert domain.classes == tuple("0123456789")
    assert not domain.transductive
    assert set(np.unique(domain.train_images.numpy())) == {0, 255}


def test_converts_to_rgb_and_resizes(fake_mnist: Path) -> None:
    domain = load_domain("mnist", InputSpec(3, 32))
    assert domain.train_images.shape == (30, 3, 32, 32)
    assert torch.equal(domain.train_images[:, 0], domain.train_images[:, 1])


def test_edges_give_binary_edge_images(fake_mnist: Path) -> None:
    plain = load_domain("mnist", InputSpec(1, 28))
    edges = load_domain("mnist", InputSpec(1, 28), edges=True)
    assert set(edges.train_images.unique().tolist()) == {0, 255}
    assert not torch.equal(edges.train_images, plain.train_images)
    # Edges outline the block: fewer lit pixels than the filled block itself.
    assert (edges.train_images > 0).sum() < (plain.train_images > 0).sum()
    resized = load_domain("mnist", InputSpec(1, 32), edges=True)
    binary = ((resized.train_images == 0) | (resized.train_images == 255)).float().mean()
    assert binary > 0.8
    assert any("Canny" in note for note in edges.notes)


def test_data_dir_untouched_and_unpacked_files_cleaned_up(fake_mnist: Path, data: Path, cache: Path) -> None:
    before = listing(data)
    load_domain("mnist", InputSpec(1, 28))
    assert listing(data) == before
    assert [p.name for p in cache.iterdir()] == ["tensors"]


def test_second_load_reads_the_cache(fake_mnist: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    first = load_domain("mnist", InputSpec(1, 28))

    def refuse(*args, **kwargs):
        raise AssertionError("MNIST decoded again although the tensor cache holds it")

    monkeypatch.setattr(core.data.mnist, "decode", refuse)
    second = load_domain("mnist", InputSpec(1, 28))
    assert torch.equal(first.train_images, second.train_images)
    assert torch.equal(first.eval_labels, second.eval_labels)


@pytest.mark.parametrize("download", [False, True])
def test_corrupt_gz_names_the_file(fake_mnist: Path, data: Path, offline: None, download: bool) -> None:
    broken = fake_mnist / "t10k-images-idx3-ubyte.gz"
    broken.write_bytes(broken.read_bytes()[:-10])
    before = listing(data)
    with pytest.raises(UserError, match="t10k-images-idx3-ubyte.gz") as info:
        load_domain("mnist", InputSpec(1, 28), download=download)
    assert str(broken) in str(info.value)
    assert listing(data) == before


def test_missing_without_download_names_files_and_folder(data: Path) -> None:
    with pytest.raises(UserError) as info:
        load_domain("mnist", InputSpec(1, 28), download=False)
    message = str(info.value)
    assert all(name in message for name in FILES)
    assert str(data / "MNIST" / "raw") in message
    assert listing(data) == []


def test_offline_download_failure_is_a_user_error(data: Path, offline: None) -> None:
    with pytest.raises(UserError) as info:
        load_domain("mnist", InputSpec(1, 28))
    assert all(name in str(info.value) for name in FILES)
    assert "download" in str(info.value)
    assert listing(data) == []


def test_downloads_into_the_cache(
    data: Path, cache: Path, tmp_path: Path, http_mirror: tuple[Path, str], monkeypatch: pytest.MonkeyPatch
) -> None:
    mirror, url = http_mirror
    files = mnist_files()
    for name, content in files.items():
        (mirror / name).write_bytes(content)
    register_mnist_md5s(files, monkeypatch)
    monkeypatch.setattr(torchvision.datasets.MNIST, "mirrors", [url])
    domain = load_domain("mnist", InputSpec(1, 28))
    assert domain.train_images.shape == (30, 1, 28, 28)
    assert all((cache / "MNIST" / "raw" / name).is_file() for name in FILES)
    assert listing(data) == []
    monkeypatch.setattr(torchvision.datasets.MNIST, "mirrors", [f"file://{tmp_path}/gone/"])
    assert load_domain("mnist", InputSpec(1, 32), download=False).train_images.shape == (30, 1, 32, 32)
