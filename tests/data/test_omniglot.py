"""Omniglot loaders on small generated files in its real layouts (folders, zips, npz arrays),
and the synthetic stroke alphabets."""

from __future__ import annotations

import io
import os
import zipfile
from pathlib import Path

import numpy as np
import pytest
import torch
import torchvision
from PIL import Image

from core.data import dataset_status, omniglot
from core.data.omniglot import INK, load_omniglot, load_split, locate, status
from core.data.strokes import synthetic_omniglot, synthetic_split
from core.errors import UserError
from tests.data.conftest import listing

ALPHABETS = {"Beta_script": 2, "Alpha_script": 3}  # alphabet -> characters; sorted order: Alpha first
DRAWINGS = 4
SIDE = 105


def character_page(char: int, drawing: int) -> np.ndarray:
    """A 105x105 paper-white (True) page with a black bar whose row says the character and whose
    column says the drawing, as Omniglot's 1-bit PNGs store ink (False)."""
    page = np.ones((SIDE, SIDE), dtype=bool)
    top, left = 10 + 15 * char, 10 + 20 * drawing
    page[top : top + 8, left : left + 12] = False
    return page


def png_1bit(page: np.ndarray) -> bytes:
    buffer = io.BytesIO()
    Image.fromarray(page).convert("1").save(buffer, format="PNG")
    return buffer.getvalue()


def omniglot_members(split: str) -> dict[str, bytes]:
    """images_<split>/<Alphabet>/characterNN/<id>_<drawer>.png, characters numbered in sorted order."""
    members, char = {}, 0
    for alphabet in sorted(ALPHABETS):
        for c in range(ALPHABETS[alphabet]):
            for d in range(DRAWINGS):
                name = f"images_{split}/{alphabet}/character{c + 1:02d}/{char + 1:04d}_{d + 1:02d}.png"
                members[name] = png_1bit(character_page(char, d))
            char += 1
    return members


def write_zip(path: Path, members: dict[str, bytes]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    with zipfile.ZipFile(path, "w") as zf:
        for name, content in members.items():
            zf.writestr(name, content)


def write_folder(root: Path, members: dict[str, bytes]) -> None:
    for name, content in members.items():
        (root / name).parent.mkdir(parents=True, exist_ok=True)
        (root / name).write_bytes(content)


def check_split(split) -> None:
    n = sum(ALPHABETS.values())
    assert split.images.shape == (n, DRAWINGS, 28, 28) and split.images.dtype == torch.uint8
    assert split.alphabets == ("Alpha_script",) * 3 + ("Beta_script",) * 2
    assert split.characters[0] == "Alpha_script/character01" and split.characters[3] == "Beta_script/character01"
    assert not split.synthetic
    for char in range(n):
        for d in range(DRAWINGS):
            image = split.images[char, d].float()
            # ink is bright: the bar (rows 10+15c.., cols 10+20d.. at 105 px) at 28 px, background 0
            r, c = round((14 + 15 * char) * 28 / SIDE), round((16 + 20 * d) * 28 / SIDE)
            assert image[r, c] > 0.6 * INK, (char, d)
            assert image[26:, :].max() == 0 and image.mean() < 0.1 * INK


@pytest.mark.parametrize("layout", ["zip", "folder"])
def test_torchvision_layout_zipped_or_extracted(data: Path, layout: str) -> None:
    root = data / "omniglot-py"
    for split in ("background", "evaluation"):
        members = omniglot_members(split)
        if layout == "zip":
            write_zip(root / f"images_{split}.zip", members)
        else:
            write_folder(root, members)
    before = listing(data)
    omni = load_omniglot(download=False)
    check_split(omni.background)
    check_split(omni.evaluation)
    assert omni.background.name == "Omniglot background" and not omni.synthetic
    assert listing(data) == before  # read in place, nothing written next to the data


def test_zip_folder_and_arrays_give_the_same_pixels(data: Path, tmp_path: Path, monkeypatch) -> None:
    write_zip(data / "omniglot-py" / "images_background.zip", omniglot_members("background"))
    from_zip = load_split("background", download=False)
    other = tmp_path / "other"
    write_folder(other / "omniglot-py", omniglot_members("background"))
    pages = np.stack([np.stack([character_page(c, d) for d in range(DRAWINGS)]) for c in range(5)])
    (other / "omniglot-npz").mkdir()
    np.savez(other / "omniglot-npz" / "images_evaluation.npz", images=pages, labels=np.zeros((5, DRAWINGS)))
    monkeypatch.setenv("EXPLORER_DATA_DIR", str(other))
    from_folder = load_split("background", download=False)
    from_arrays = load_split("evaluation", download=False)
    assert torch.equal(from_zip.images, from_folder.images)
    assert torch.equal(from_zip.images, from_arrays.images)
    assert from_arrays.alphabets == ("",) * 5 and from_arrays.characters[0] == "character 0965"
    assert any("no alphabet names" in note for note in from_arrays.notes)


def test_second_load_comes_from_the_cache(data: Path, cache: Path, monkeypatch) -> None:
    path = data / "omniglot-py" / "images_evaluation.zip"
    write_zip(path, omniglot_members("evaluation"))
    first = load_split("evaluation", download=False)
    assert len(list((cache / "tensors").glob("omniglot-*.safetensors"))) == 1

    def no_decoding(source):
        raise AssertionError(f"decoded {source.path} again")

    monkeypatch.setitem(omniglot._DECODERS, "zip", no_decoding)
    again = load_split("evaluation", download=False)
    assert torch.equal(first.images, again.images) and again.characters == first.characters
    stat = path.stat()
    os.utime(path, ns=(stat.st_atime_ns, stat.st_mtime_ns + 10**9))  # a touched file is decoded afresh
    with pytest.raises(AssertionError, match="decoded"):
        load_split("evaluation", download=False)


def test_missing_data_names_the_files_and_the_fallback(data: Path) -> None:
    with pytest.raises(UserError) as err:
        locate("background", download=False)
    message = str(err.value)
    assert "images_background" in message and "omniglot-py" in message and "omniglot-npz" in message
    assert "--data synthetic" in message
    s = status()
    assert not s.available and "background and evaluation splits" in s.detail
    assert [d.name for d in dataset_status()][-1] == "Omniglot"


def test_ragged_characters_are_reported(data: Path) -> None:
    members = omniglot_members("background")
    del members["images_background/Beta_script/character02/0005_04.png"]
    write_folder(data / "omniglot-py", members)
    with pytest.raises(UserError, match=r"Beta_script/character02 has 3"):
        load_split("background", download=False)


def test_a_corrupt_png_is_named(data: Path) -> None:
    members = omniglot_members("background")
    members["images_background/Alpha_script/character01/0001_01.png"] = b"not a png"
    write_zip(data / "omniglot-py" / "images_background.zip", members)
    with pytest.raises(UserError, match="0001_01.png is not a readable PNG"):
        load_split("background", download=False)


def test_synthetic_alphabets_are_deterministic_labelled_and_character_like() -> None:
    a = synthetic_split("background", alphabets=3, characters=4, drawings=5, seed=0)
    b = synthetic_split("background", alphabets=3, characters=4, drawings=5, seed=0)
    other = synthetic_split("evaluation", alphabets=3, characters=4, drawings=5, seed=0)
    assert torch.equal(a.images, b.images) and not torch.equal(a.images, other.images)
    assert a.images.shape == (12, 5, 28, 28) and a.synthetic and "synthetic" in a.name
    assert len(set(a.alphabets)) == 3 and a.characters[0].startswith(a.alphabets[0])
    ink = a.images.float() / INK
    assert 0.02 < ink.mean() < 0.3 and ink[:, :, 0, :].max() < 0.5  # strokes inside the frame, dark paper
    # drawings of one character are closer to each other than to other characters' drawings
    flat = ink.flatten(2)
    means = flat.mean(1)
    own = (flat - means[:, None]).pow(2).sum(2).mean()
    across = torch.cdist(means, means).pow(2).fill_diagonal_(float("nan")).nanmean()
    assert own < across


def test_synthetic_omniglot_is_cached(cache: Path) -> None:
    first = synthetic_omniglot((2, 1), characters=3, drawings=4, seed=1)
    assert first.synthetic and len(first.background) == 6 and len(first.evaluation) == 3
    assert len(list((cache / "tensors").glob("omniglot-*.safetensors"))) == 2
    again = synthetic_omniglot((2, 1), characters=3, drawings=4, seed=1)
    assert torch.equal(first.background.images, again.background.images)
    assert again.background.notes == first.background.notes and "not Omniglot" in again.background.notes[0]


def test_download_goes_into_the_cache_and_its_failure_is_explained(data: Path, cache: Path, monkeypatch) -> None:
    asked = []

    class FakeOmniglot:  # torchvision's download, without the network: the zip lands where it would
        def __init__(self, root: str, background: bool, download: bool) -> None:
            split = "background" if background else "evaluation"
            asked.append((Path(root), split, download))
            write_zip(Path(root) / "omniglot-py" / f"images_{split}.zip", omniglot_members(split))

    monkeypatch.setattr(torchvision.datasets, "Omniglot", FakeOmniglot)
    split = load_split("evaluation", download=True)
    assert asked == [(cache, "evaluation", True)] and listing(data) == []
    assert str(cache / "omniglot-py" / "images_evaluation.zip") in split.notes[0]
    check_split(split)

    class Offline:
        def __init__(self, *args, **kwargs) -> None:
            raise RuntimeError("Error downloading images_background.zip:\nTried https://..., got:\n<urlopen error>")

    monkeypatch.setattr(torchvision.datasets, "Omniglot", Offline)
    with pytest.raises(UserError, match=r"downloading into .*omniglot-py failed: <urlopen error>"):
        load_split("background", download=True)
