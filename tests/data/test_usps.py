"""USPS on generated LIBSVM .bz2 files: both splits, the test split alone, downloads and damage."""

from __future__ import annotations

import bz2
import hashlib
from pathlib import Path

import numpy as np
import pytest
import torch
import torchvision

import core.data.usps
from core.data import InputSpec, load_domain
from core.errors import UserError
from tests.data.conftest import listing, usps_bz2


@pytest.fixture
def usps_folder(data: Path) -> Path:
    folder = data / "USPS"
    folder.mkdir()
    return folder


@pytest.fixture
def no_download(monkeypatch: pytest.MonkeyPatch) -> None:
    def refuse(*args, **kwargs):
        raise AssertionError("USPS download attempted")

    monkeypatch.setattr("torchvision.datasets.utils.download_url", refuse)


def test_the_file_names_are_torchvisions() -> None:
    assert core.data.usps.FILES == {split: name for split, (_, name, _) in torchvision.datasets.USPS.split_list.items()}


def test_both_splits(usps_folder: Path, no_download: None) -> None:
    (usps_folder / "usps.bz2").write_bytes(usps_bz2(np.arange(12) % 10))
    (usps_folder / "usps.t.bz2").write_bytes(usps_bz2(np.arange(7) % 10, seed=1))
    domain = load_domain("usps", InputSpec(1, 16))
    assert domain.name == "USPS" and not domain.transductive
    assert domain.train_images.shape == (12, 1, 16, 16) and domain.eval_images.shape == (7, 1, 16, 16)
    assert domain.train_labels.tolist() == [i % 10 for i in range(12)]
    assert domain.eval_labels.tolist() == [i % 10 for i in range(7)]


def test_pixels_follow_torchvision_scaling(usps_folder: Path, no_download: None) -> None:
    line = "3 " + " ".join(f"{i + 1}:{-1.0 if i < 128 else 1.0}" for i in range(256))
    (usps_folder / "usps.t.bz2").write_bytes(bz2.compress(line.encode()))
    domain = load_domain("usps", InputSpec(1, 22))  # the framed size: no resampling
    assert domain.train_labels.tolist() == [2]
    inner = domain.train_images[0, 0, 3:19, 3:19]
    assert inner[:8].unique().tolist() == [0]
    assert inner[8:].unique().tolist() == [255]


def test_digits_are_framed_like_mnist(usps_folder: Path, no_download: None) -> None:
    # A digit filling USPS's whole 16x16 frame comes out about 20 pixels tall at 28x28 (MNIST's
    # 20x20 box), centred, with background all around.
    line = "1 " + " ".join(f"{i + 1}:1.0" for i in range(256))
    (usps_folder / "usps.t.bz2").write_bytes(bz2.compress(line.encode()))
    image = load_domain("usps", InputSpec(1, 28)).train_images[0, 0]
    inked_rows = (image > 127).any(1).nonzero().squeeze(1)
    assert 19 <= len(inked_rows) <= 21
    assert inked_rows.min() >= 3 and inked_rows.max() <= 24
    assert image[0].max() == 0 and image[-1].max() == 0 and image[:, 0].max() == 0


def test_test_split_alone_is_transductive(usps_folder: Path, data: Path, no_download: None) -> None:
    (usps_folder / "usps.t.bz2").write_bytes(usps_bz2(np.arange(9) % 10))
    before = listing(data)
    domain = load_domain("usps", InputSpec(3, 28))
    assert domain.transductive
    assert domain.train_images.shape == (9, 3, 28, 28)
    assert domain.eval_images is domain.train_images and domain.eval_labels is domain.train_labels
    assert any("usps.bz2 (train split) not found" in n and str(usps_folder) in n for n in domain.notes)
    assert listing(data) == before


def test_missing_without_download_names_files_and_folder(data: Path) -> None:
    with pytest.raises(UserError) as info:
        load_domain("usps", InputSpec(1, 16), download=False)
    message = str(info.value)
    assert "usps.bz2" in message and "usps.t.bz2" in message and str(data / "USPS") in message
    assert listing(data) == []


def test_offline_download_failure_is_a_user_error(data: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    split_list = {
        split: [f"file://{tmp_path}/gone/{name}", name, md5]
        for split, (_, name, md5) in torchvision.datasets.USPS.split_list.items()
    }
    monkeypatch.setattr(torchvision.datasets.USPS, "split_list", split_list)
    with pytest.raises(UserError, match="usps.t.bz2") as info:
        load_domain("usps", InputSpec(1, 16))
    assert str(data / "USPS") in str(info.value)
    assert listing(data) == []


def test_downloads_into_the_cache_when_nothing_is_present(
    data: Path, cache: Path, http_mirror: tuple[Path, str], monkeypatch: pytest.MonkeyPatch
) -> None:
    mirror, url = http_mirror
    contents = {"train": usps_bz2(np.arange(11) % 10), "test": usps_bz2(np.arange(5) % 10, seed=2)}
    split_list = {}
    for split, (_, name, _) in torchvision.datasets.USPS.split_list.items():
        (mirror / name).write_bytes(contents[split])
        split_list[split] = [url + name, name, hashlib.md5(contents[split]).hexdigest()]
    monkeypatch.setattr(torchvision.datasets.USPS, "split_list", split_list)
    domain = load_domain("usps", InputSpec(1, 16))
    assert (len(domain.train_images), len(domain.eval_images)) == (11, 5)
    assert (cache / "USPS" / "usps.bz2").is_file() and listing(data) == []


def test_malformed_bz2_names_the_file(usps_folder: Path, data: Path) -> None:
    (usps_folder / "usps.t.bz2").write_bytes(b"this is not bzip2 data")
    before = listing(data)
    with pytest.raises(UserError, match="usps.t.bz2") as info:
        load_domain("usps", InputSpec(1, 16))
    assert str(usps_folder / "usps.t.bz2") in str(info.value)
    assert listing(data) == before


@pytest.mark.parametrize(
    "text",
    [
        "1 1:0.5 2:0.5\n",  # too few values for a 16x16 image
        "11 " + " ".join(f"{i + 1}:0.0" for i in range(256)) + "\n",  # label outside 1..10
        "",  # no digits at all
    ],
)
def test_malformed_content_names_the_file(usps_folder: Path, text: str) -> None:
    (usps_folder / "usps.t.bz2").write_bytes(bz2.compress(text.encode()))
    with pytest.raises(UserError, match="usps.t.bz2"):
        load_domain("usps", InputSpec(1, 16))


def test_second_load_reads_the_cache(usps_folder: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    (usps_folder / "usps.t.bz2").write_bytes(usps_bz2(np.arange(4)))
    first = load_domain("usps", InputSpec(1, 28))

    def refuse(path):
        raise AssertionError("USPS decoded again although the tensor cache holds it")

    monkeypatch.setattr("core.data.usps.read_split", refuse)
    assert torch.equal(load_domain("usps", InputSpec(1, 28)).train_images, first.train_images)
