"""Omniglot (Lake et al. 2015) as uint8 character tensors, read in place and cached once.

Two splits, as the dataset ships them: *background* (30 alphabets, 964 characters) for
(meta-)training and *evaluation* (20 alphabets, 659 characters) for testing; every character has
20 drawings by different people. Each split becomes one uint8 tensor (characters, drawings, 28,
28) with the ink polarity below, plus its alphabet and character names.

Where a split is read from, first found wins (<data> is EXPLORER_DATA_DIR, <cache> the cache dir):
    <data>/omniglot-py/images_<split>/<Alphabet>/<character>/*.png   torchvision's layout, extracted
    <data>/omniglot-py/images_<split>.zip                              the same, zipped (read in place)
    <cache>/omniglot-py/images_<split>[.zip]                           an earlier torchvision download
    <data>/omniglot-npz/images_<split>.npz                             arrays: `images` bool (N, 20, 105,
                                                                       105), True = paper (no alphabet names)
Nothing is written next to the data: torchvision's download goes into the cache, and no checksum
is checked on files found on disk (rebuilt copies of the zips hold the same pixels in other bytes).
"""

from __future__ import annotations

import hashlib
import io
import json
import re
import zipfile
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
from PIL import Image, UnidentifiedImageError
from safetensors import SafetensorError, safe_open

from core.atomic import write_tensors
from core.data.source import DatasetStatus
from core.errors import UserError
from core.paths import cache_dir, data_dir

if TYPE_CHECKING:
    import torch

# The project's ink polarity for characters, Omniglot's and drawn ones alike: strokes are bright
# (uint8 INK = 255, 1.0 as learner input) on a black background (0), as in MNIST and the MAML
# code's Omniglot (`1 - image`). Omniglot's PNGs are the opposite (black ink on white paper) and
# are inverted on load; the drawing preprocessing converts canvases to this polarity too.
INK = 255
IMAGE_SIZE = 28  # the MAML paper's Omniglot resolution (downsampled from 105x105)
SPLITS = ("background", "evaluation")
FORMAT = 1  # bump when decoding changes, so old cache entries stop matching
_MEMBER = re.compile(r"(?:.*/)?images_(background|evaluation)/([^/]+)/([^/]+)/([^/]+\.png)$", re.IGNORECASE)


@dataclass(frozen=True)
class CharacterSet:
    """The characters of one split: `images[c, d]` is drawing d of character c."""

    name: str  # e.g. "Omniglot background" or "synthetic stroke alphabets (evaluation)"
    images: torch.Tensor  # uint8 (characters, drawings, 28, 28), ink INK on 0
    alphabets: tuple[str, ...]  # per character ("" when the source has no alphabet names)
    characters: tuple[str, ...]  # per character, e.g. "Alphabet_of_the_Magi/character01"
    synthetic: bool = False
    notes: tuple[str, ...] = ()

    def __len__(self) -> int:
        return int(self.images.shape[0])

    @property
    def drawings(self) -> int:
        return int(self.images.shape[1])

    def subset(self, ids: torch.Tensor, name: str) -> CharacterSet:
        """The characters `ids` (in that order) as a set of their own."""
        keep = ids.tolist()
        return CharacterSet(
            name=name,
            images=self.images[ids],
            alphabets=tuple(self.alphabets[i] for i in keep),
            characters=tuple(self.characters[i] for i in keep),
            synthetic=self.synthetic,
            notes=self.notes,
        )


@dataclass(frozen=True)
class Omniglot:
    """Both splits; `background` trains, `evaluation` tests."""

    background: CharacterSet
    evaluation: CharacterSet

    @property
    def synthetic(self) -> bool:
        return self.background.synthetic


@dataclass(frozen=True)
class SplitSource:
    """Where one split was found: enough to key its cache entry and decode it."""

    split: str
    kind: str  # "folder" | "zip" | "npz"
    path: Path


def py_folder() -> Path:
    return data_dir() / "omniglot-py"


def npz_folder() -> Path:
    return data_dir() / "omniglot-npz"


def download_folder() -> Path:
    """Where torchvision's download puts Omniglot (<cache>/omniglot-py)."""
    return cache_dir() / "omniglot-py"


def _candidates(split: str) -> list[SplitSource]:
    name = f"images_{split}"
    return [
        SplitSource(split, "folder", py_folder() / name),
        SplitSource(split, "zip", py_folder() / f"{name}.zip"),
        SplitSource(split, "folder", download_folder() / name),
        SplitSource(split, "zip", download_folder() / f"{name}.zip"),
        SplitSource(split, "npz", npz_folder() / f"{name}.npz"),
    ]


def _find(split: str) -> SplitSource | None:
    for c in _candidates(split):
        if (c.kind == "folder" and c.path.is_dir()) or (c.kind != "folder" and c.path.is_file()):
            return c
    return None


def _expected_files(split: str = "{background,evaluation}") -> str:
    return (
        f"{py_folder()}/images_{split}.zip (torchvision's layout, zipped or extracted) "
        f"or {npz_folder()}/images_{split}.npz"
    )


def _download(split: str) -> None:
    import torchvision

    try:
        torchvision.datasets.Omniglot(str(cache_dir()), background=split == "background", download=True)
    except (RuntimeError, OSError) as err:
        lines = [line for line in str(err).splitlines() if line.strip()] or [type(err).__name__]
        raise UserError(
            f"Omniglot {split} split not found: expected {_expected_files(split)}; downloading into "
            f"{download_folder()} failed: {lines[-1].strip()}. Put the files there, or use the "
            f"synthetic stroke alphabets (--data synthetic)."
        ) from err


def locate(split: str, download: bool = True) -> SplitSource:
    """Where `split` is on disk; downloaded into the cache first when allowed and missing."""
    if split not in SPLITS:
        raise ValueError(f"unknown Omniglot split {split!r}")
    found = _find(split)
    if found is None and download:
        _download(split)
        found = _find(split)
    if found is None:
        raise UserError(
            f"Omniglot {split} split not found: expected {_expected_files(split)} "
            f"({'download disabled' if not download else 'download gave nothing'}). "
            f"Put the files there, or use the synthetic stroke alphabets (--data synthetic)."
        )
    return found


def _ink(grey: np.ndarray) -> np.ndarray:
    """Paper-white, ink-black greyscale (N, H, W) uint8 -> the project's polarity."""
    return (255 - grey).astype(np.uint8)


def resize_characters(ink: np.ndarray | list[np.ndarray]) -> torch.Tensor:
    """(N, H, W) uint8 ink images (or a list, sizes may differ) -> (N, 28, 28) uint8, resized
    bilinearly with antialiasing, as the digit domains are."""
    from core.data.convert import convert_images  # torch and OpenCV: not for status() (the home page)

    return convert_images(ink, channels=1, size=IMAGE_SIZE)[:, 0]


def _read_png(data: bytes, where: str) -> np.ndarray:
    try:
        with Image.open(io.BytesIO(data)) as im:
            return np.asarray(im.convert("L"))
    except (UnidentifiedImageError, OSError, ValueError) as exc:
        raise UserError(f"{where} is not a readable PNG ({exc})") from None


Entry = tuple[str, str, str, Callable[[], bytes], str]  # alphabet, character, file name, reader, label


def _group(entries: list[Entry], where: Path) -> tuple[list[tuple[str, str]], list[np.ndarray], int]:
    """Entries -> the sorted (alphabet, character) keys and their drawings' ink images, in
    torchvision's order (names sorted); every character must have the same number of drawings."""
    chars: dict[tuple[str, str], list[tuple[str, Callable[[], bytes], str]]] = {}
    for alphabet, character, file, read, label in entries:
        chars.setdefault((alphabet, character), []).append((file, read, label))
    if not chars:
        raise UserError(f"{where} holds no characters: expected <Alphabet>/<character>/*.png inside it")
    counts = {k: len(v) for k, v in chars.items()}
    drawings = Counter(counts.values()).most_common(1)[0][0]
    ragged = [f"{a}/{c} has {n}" for (a, c), n in counts.items() if n != drawings]
    if ragged:
        raise UserError(
            f"{where}: every character needs the same number of drawings; most have {drawings}, "
            f"but {', '.join(sorted(ragged)[:5])}"
        )
    keys = sorted(chars)
    images = []
    for key in keys:
        for _, read, label in sorted(chars[key], key=lambda e: e[0]):
            images.append(_ink(_read_png(read(), label)))
    return keys, images, drawings


Decoded = tuple["torch.Tensor", tuple[str, ...], tuple[str, ...]]  # images, alphabets, characters


def _decode_entries(entries: list[Entry], where: Path) -> Decoded:
    keys, images, drawings = _group(entries, where)
    tensor = resize_characters(images).view(len(keys), drawings, IMAGE_SIZE, IMAGE_SIZE)
    return tensor, tuple(a for a, _ in keys), tuple(f"{a}/{c}" for a, c in keys)


def _decode_folder(source: SplitSource) -> Decoded:
    entries = []
    for png in source.path.glob("*/*/*"):
        if png.suffix.lower() == ".png" and png.is_file():
            alphabet, character = png.parent.parent.name, png.parent.name
            entries.append((alphabet, character, png.name, png.read_bytes, str(png)))
    return _decode_entries(entries, source.path)


def _decode_zip(source: SplitSource) -> Decoded:
    try:
        zf = zipfile.ZipFile(source.path)
    except (zipfile.BadZipFile, OSError) as exc:
        raise UserError(f"{source.path} is not a readable zip ({exc})") from None
    with zf:
        entries = []
        for name in zf.namelist():
            m = _MEMBER.match(name)
            if m and m.group(1).lower() == source.split:
                entries.append((m.group(2), m.group(3), m.group(4), lambda n=name: zf.read(n), f"{source.path}:{name}"))
        if not entries:
            raise UserError(f"{source.path} holds no images_{source.split}/<Alphabet>/<character>/*.png members")
        return _decode_entries(entries, source.path)


def _decode_npz(source: SplitSource) -> Decoded:
    try:
        with np.load(source.path, allow_pickle=False) as z:
            paper = z["images"]
    except (OSError, ValueError, KeyError) as exc:
        raise UserError(f"{source.path} is not an Omniglot array file with an 'images' array ({exc})") from None
    if paper.ndim != 4:
        raise UserError(f"{source.path}: 'images' should be (characters, drawings, H, W), got shape {paper.shape}")
    n, d, h, w = paper.shape
    ink = np.where(paper.reshape(n * d, h, w), 0, 255).astype(np.uint8)
    tensor = resize_characters(ink).view(n, d, IMAGE_SIZE, IMAGE_SIZE)
    # The arrays are indexed by Omniglot's character id (background from 1, evaluation from 965).
    first = 1 if source.split == "background" else 965
    return tensor, ("",) * n, tuple(f"character {first + i:04d}" for i in range(n))


def _fingerprint(source: SplitSource) -> list:
    if source.kind != "folder":
        stat = source.path.stat()
        return [str(source.path.resolve()), stat.st_size, stat.st_mtime_ns]
    listing = hashlib.sha256()
    for p in sorted(source.path.glob("*/*/*")):
        stat = p.stat()
        listing.update(f"{p.relative_to(source.path)}|{stat.st_size}|{stat.st_mtime_ns}\n".encode())
    return [str(source.path.resolve()), listing.hexdigest()]


def _cache_file(key: dict) -> Path:
    digest = hashlib.sha256(json.dumps(key, sort_keys=True).encode()).hexdigest()
    return cache_dir() / "tensors" / f"omniglot-{digest}.safetensors"


def _read_cached(path: Path) -> CharacterSet | None:
    from safetensors.torch import load_file  # imports torch: not for status() (the home page)

    if not path.is_file():
        return None
    try:
        tensors = load_file(path)
        with safe_open(path, "pt") as f:
            meta = f.metadata() or {}
        return CharacterSet(
            name=meta["name"],
            images=tensors["images"],
            alphabets=tuple(json.loads(meta["alphabets"])),
            characters=tuple(json.loads(meta["characters"])),
            synthetic=meta["synthetic"] == "1",
            notes=tuple(json.loads(meta["notes"])),
        )
    except (SafetensorError, OSError, ValueError, KeyError):
        return None


def _write_cached(path: Path, cs: CharacterSet) -> None:
    write_tensors(
        path,
        {"images": cs.images},
        {
            "name": cs.name,
            "alphabets": json.dumps(cs.alphabets),
            "characters": json.dumps(cs.characters),
            "synthetic": "1" if cs.synthetic else "0",
            "notes": json.dumps(cs.notes),
        },
    )


def cached_set(key: dict, build: Callable[[], CharacterSet]) -> CharacterSet:
    """The set cached under `key`, else built and cached (a bad entry is rebuilt, never reported:
    the cache is the project's own scratch space)."""
    path = _cache_file(key)
    found = _read_cached(path)
    if found is not None:
        return found
    built = build()
    _write_cached(path, built)
    return built


_DECODERS = {"folder": _decode_folder, "zip": _decode_zip, "npz": _decode_npz}


def load_split(split: str, download: bool = True) -> CharacterSet:
    """One Omniglot split as a CharacterSet, decoded once and then read from the cache."""
    source = locate(split, download)

    def build() -> CharacterSet:
        images, alphabets, characters = _DECODERS[source.kind](source)
        notes = (f"read from {source.path}",)
        if source.kind == "npz":
            notes += ("array source: no alphabet names",)
        return CharacterSet(f"Omniglot {split}", images, alphabets, characters, False, notes)

    key = {"format": FORMAT, "split": split, "kind": source.kind, "files": _fingerprint(source)}
    return cached_set(key, build)


def load_omniglot(download: bool = True) -> Omniglot:
    """Both splits of the real Omniglot (UserError naming the expected files when missing)."""
    return Omniglot(load_split("background", download), load_split("evaluation", download))


def status() -> DatasetStatus:
    """File presence only (no decoding, no download), for `python -m core data` and the home page."""
    found = {split: _find(split) for split in SPLITS}
    if all(found.values()):
        where = ", ".join(sorted({str(s.path) for s in found.values()}))
        return DatasetStatus("Omniglot", True, where, "background and evaluation splits found")
    missing = [s for s, f in found.items() if f is None]
    return DatasetStatus(
        "Omniglot",
        False,
        str(py_folder()),
        f"missing the {' and '.join(missing)} split{'s' if len(missing) > 1 else ''}: expected {_expected_files()}; "
        f"or load with internet access to download; the synthetic stroke alphabets (--data synthetic) need no files",
    )
