"""Image folders, including the course homework layout (train_data/<class>/, test_data/0/)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from core.data import InputSpec, load_domain
from core.errors import UserError
from tests.data.conftest import listing, write_image_folder


def test_homework_source_is_labelled_by_sorted_class_folders(tmp_path: Path) -> None:
    root = write_image_folder(tmp_path / "hw" / "train_data", {"2": 2, "0": 3, "1": 1})
    before = listing(root)
    domain = load_domain(f"folder:{root}", InputSpec(1, 28))
    assert domain.classes == ("0", "1", "2")
    assert domain.train_labels.tolist() == [0, 0, 0, 1, 2, 2]
    assert domain.train_images.shape == (6, 1, 28, 28) and domain.train_images.dtype == torch.uint8
    assert domain.transductive and domain.eval_images is domain.train_images
    assert domain.name == "train_data" and domain.spec == f"folder:{root}"
    assert listing(root) == before


def test_homework_target_with_one_subfolder_is_unlabelled(tmp_path: Path) -> None:
    root = write_image_folder(tmp_path / "hw" / "test_data", {"0": 4}, size=28, mode="L")
    domain = load_domain(f"FOLDER:{root}", InputSpec(3, 32))
    assert domain.train_labels is None and domain.eval_labels is None
    assert domain.classes == ()
    assert domain.train_images.shape == (4, 3, 32, 32)
    assert any("unlabelled" in note for note in domain.notes)


def test_mixed_sizes_and_modes_are_converted_alike(tmp_path: Path) -> None:
    root = tmp_path / "mixed"
    (root / "a").mkdir(parents=True)
    (root / "b").mkdir()
    Image.fromarray(np.full((20, 30, 3), (255, 0, 0), np.uint8)).save(root / "a" / "red.jpg", quality=100)
    Image.fromarray(np.full((16, 16), 128, np.uint8)).save(root / "b" / "grey.png")
    Image.fromarray(np.full((8, 8, 4), 200, np.uint8), "RGBA").save(root / "b" / "alpha.PNG")
    (root / "b" / "notes.txt").write_text("not an image")
    domain = load_domain(f"folder:{root}", InputSpec(3, 24))
    assert domain.train_images.shape == (3, 3, 24, 24)
    assert domain.train_labels.tolist() == [0, 1, 1]
    red, alpha, grey = domain.train_images[:, :, 12, 12].tolist()
    assert red[0] > 240 and red[1] < 15
    assert alpha == [200, 200, 200] and grey == [128, 128, 128]


def test_edges_on_a_folder(tmp_path: Path) -> None:
    root = tmp_path / "shapes"
    (root / "0").mkdir(parents=True)
    image = np.zeros((32, 32, 3), np.uint8)
    image[8:24, 8:24] = (30, 220, 120)
    Image.fromarray(image).save(root / "0" / "square.png")
    domain = load_domain(f"folder:{root}", InputSpec(1, 32), edges=True)
    assert set(domain.train_images.unique().tolist()) == {0, 255}


@pytest.mark.parametrize("layout", ["missing", "empty", "flat", "empty-classes"])
def test_unusable_folder_names_path_and_layout(tmp_path: Path, layout: str) -> None:
    root = tmp_path / "target"
    if layout != "missing":
        root.mkdir()
    if layout == "flat":
        Image.fromarray(np.zeros((8, 8), np.uint8)).save(root / "x.png")
    if layout == "empty-classes":
        (root / "0").mkdir()
        (root / "1").mkdir()
    with pytest.raises(UserError) as info:
        load_domain(f"folder:{root}", InputSpec(1, 28))
    assert str(root) in str(info.value) and "<class>" in str(info.value)


def test_unreadable_image_names_it(tmp_path: Path) -> None:
    root = write_image_folder(tmp_path / "imgs", {"cat": 1, "dog": 1})
    broken = root / "dog" / "broken.png"
    broken.write_bytes(b"not a png")
    with pytest.raises(UserError, match="broken.png") as info:
        load_domain(f"folder:{root}", InputSpec(3, 28))
    assert str(broken) in str(info.value)


def test_second_load_reads_the_cache(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    root = write_image_folder(tmp_path / "imgs", {"a": 2, "b": 2})
    first = load_domain(f"folder:{root}", InputSpec(3, 28))

    def refuse(path: Path):
        raise AssertionError("image decoded again although the tensor cache holds it")

    monkeypatch.setattr("core.data.folders.read_image", refuse)
    assert torch.equal(load_domain(f"folder:{root}", InputSpec(3, 28)).train_images, first.train_images)
