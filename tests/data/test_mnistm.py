"""MNIST-M from zips and folders of generated PNGs, and generated from a tiny MNIST."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch

import core.data.mnistm
from core.data import InputSpec, load_domain
from core.data.mnistm import generate
from core.errors import UserError
from tests.data.conftest import listing, mnistm_members, png_bytes, write_tree, write_zip


def _prefixed(members: dict[str, bytes], prefix: str) -> dict[str, bytes]:
    return {prefix + name: content for name, content in members.items()}


def test_test_split_in_a_zip_is_transductive(data: Path) -> None:
    labels = np.arange(12) % 10
    write_zip(data / "MNIST-M" / "mnist_m_test.zip", _prefixed(mnistm_members("test", labels), "mnist_m/"))
    before = listing(data)
    domain = load_domain("mnistm", InputSpec(3, 28))
    assert domain.name == "MNIST-M" and domain.transductive
    assert domain.train_images.shape == (12, 3, 28, 28) and domain.train_images.dtype == torch.uint8
    assert domain.train_labels.tolist() == labels.tolist()
    assert domain.eval_images is domain.train_images
    assert any("mnist_m_train_labels.txt (train split) not found" in note for note in domain.notes)
    assert listing(data) == before


def test_extracted_folder_one_level_down_with_both_splits(data: Path) -> None:
    root = data / "mnist_m" / "mnist_m"
    write_tree(root, {**mnistm_members("train", np.arange(6) % 10), **mnistm_members("test", np.arange(4) % 10, 28)})
    domain = load_domain("MNISTM", InputSpec(1, 32))
    assert not domain.transductive
    assert domain.train_images.shape == (6, 1, 32, 32) and domain.eval_images.shape == (4, 1, 32, 32)
    assert domain.eval_labels.tolist() == [0, 1, 2, 3]


def test_pixels_are_kept_in_label_file_order(data: Path) -> None:
    colours = [(255, 0, 0), (0, 255, 0), (0, 0, 255)]
    members = {f"mnist_m_test/{i:08d}.png": png_bytes(np.full((32, 32, 3), c, np.uint8)) for i, c in enumerate(colours)}
    members["mnist_m_test_labels.txt"] = b"00000002.png 9\n00000000.png 1\n00000001.png 5\n"
    write_zip(data / "MNIST-M" / "repacked.zip", members)
    domain = load_domain("mnistm", InputSpec(3, 32))
    assert domain.train_labels.tolist() == [9, 1, 5]
    assert domain.train_images[:, :, 0, 0].tolist() == [[0, 0, 255], [255, 0, 0], [0, 255, 0]]


def test_label_count_mismatch_names_the_label_file(data: Path) -> None:
    members = mnistm_members("test", np.arange(5))
    members["mnist_m_test_labels.txt"] += b"00000005.png 3\n"
    archive = write_zip(data / "MNIST-M" / "mnist_m_test.zip", _prefixed(members, "mnist_m/"))
    before = listing(data)
    with pytest.raises(UserError) as info:
        load_domain("mnistm", InputSpec(3, 28))
    assert str(archive) in str(info.value) and "mnist_m_test_labels.txt" in str(info.value)
    assert "6" in str(info.value) and "5" in str(info.value)
    assert listing(data) == before


def test_bad_label_line_names_file_and_line(data: Path) -> None:
    members = mnistm_members("test", np.arange(3))
    members["mnist_m_test_labels.txt"] = b"00000000.png 1\n00000001.png seven\n00000002.png 2\n"
    write_tree(data / "MNIST-M", members)
    with pytest.raises(UserError, match="line 2") as info:
        load_domain("mnistm", InputSpec(3, 28))
    assert str(data / "MNIST-M" / "mnist_m_test_labels.txt") in str(info.value)


def test_undecodable_png_names_the_image(data: Path) -> None:
    members = mnistm_members("test", np.arange(3))
    members["mnist_m_test/00000001.png"] = b"\x89PNG but not really"
    archive = write_zip(data / "MNIST-M" / "mnist_m_test.zip", members)
    with pytest.raises(UserError, match="mnist_m_test/00000001.png") as info:
        load_domain("mnistm", InputSpec(3, 28))
    assert str(archive) in str(info.value)


def test_corrupt_zip_names_the_zip(data: Path) -> None:
    (data / "MNIST-M").mkdir()
    (data / "MNIST-M" / "mnist_m_test.zip").write_bytes(b"PK but truncated")
    with pytest.raises(UserError, match="mnist_m_test.zip"):
        load_domain("mnistm", InputSpec(3, 28))


def test_second_load_reads_the_cache(data: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    write_zip(data / "MNIST-M" / "mnist_m_test.zip", mnistm_members("test", np.arange(5)))
    first = load_domain("mnistm", InputSpec(3, 28))

    def refuse(data: bytes, where: str):
        raise AssertionError("PNG decoded again although the tensor cache holds it")

    monkeypatch.setattr(core.data.mnistm, "decode_png", refuse)
    assert torch.equal(load_domain("mnistm", InputSpec(3, 28)).train_images, first.train_images)


def test_generated_from_mnist_when_absent(
    fake_mnist: Path, data: Path, cache: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    before = listing(data)
    domain = load_domain("mnistm", InputSpec(3, 28))
    assert domain.name == "MNIST-M (generated from MNIST)" and not domain.transductive
    assert domain.train_images.shape == (30, 3, 28, 28) and domain.eval_images.shape == (20, 3, 28, 28)
    assert domain.train_labels.tolist() == [i % 10 for i in range(30)]
    assert any("generated from MNIST" in note for note in domain.notes)
    assert listing(data) == before
    # Colour: the channels differ, unlike the grey digits it came from.
    assert not torch.equal(domain.train_images[:, 0], domain.train_images[:, 1])

    monkeypatch.setenv("EXPLORER_CACHE_DIR", str(cache.parent / "another-cache"))
    again = load_domain("mnistm", InputSpec(3, 28))
    assert torch.equal(again.train_images, domain.train_images) and torch.equal(again.eval_images, domain.eval_images)


def test_generate_inverts_the_photo_under_the_ink() -> None:
    photo = np.random.default_rng(0).integers(0, 256, (40, 50, 3), dtype=np.uint8)
    digits = np.zeros((3, 28, 28), dtype=np.uint8)
    digits[:, 10:18, 12:16] = 90  # any ink counts as ink: the digit is a binary mask
    out = generate(digits, [photo], np.random.default_rng(1))
    assert out.shape == (3, 28, 28, 3) and out.dtype == np.uint8
    for image, digit in zip(out, digits):
        ink = digit > 0
        matches = [
            (y, x)
            for y in range(40 - 28 + 1)
            for x in range(50 - 28 + 1)
            if np.array_equal(image[~ink], photo[y : y + 28, x : x + 28][~ink])
        ]
        assert matches, "background is not a crop of the photo"
        y, x = matches[0]
        assert np.array_equal(image[ink], 255 - photo[y : y + 28, x : x + 28][ink])


def test_missing_mnistm_and_mnist_names_both(data: Path) -> None:
    with pytest.raises(UserError) as info:
        load_domain("mnistm", InputSpec(3, 28), download=False)
    message = str(info.value)
    assert str(data / "MNIST-M") in message and "mnist_m_test_labels.txt" in message
    assert str(data / "MNIST" / "raw") in message and "train-images-idx3-ubyte.gz" in message
    assert listing(data) == []
