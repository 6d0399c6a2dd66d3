"""Conversion to an InputSpec, Canny edges, and the tensor cache, at their edges."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch

from core.data.convert import (
    cache_key,
    cache_path,
    canny_edges,
    convert_images,
    converted_tensors,
    luminance,
    tensor_names,
)
from core.data.source import NativeSplits, Source


def test_luminance_uses_itu_601_weights() -> None:
    rgb = np.array([[255, 0, 0], [0, 255, 0], [0, 0, 255], [255, 255, 255], [10, 20, 30]], dtype=np.uint8)
    # 0.299*255=76.2, 0.587*255=149.7, 0.114*255=29.1, 1.0*255, 2.99+11.74+3.42=18.15
    assert luminance(rgb).tolist() == [76, 150, 29, 255, 18]


def test_rgb_to_grey_matches_luminance_without_resizing() -> None:
    rgb = np.random.default_rng(0).integers(0, 256, (4, 8, 8, 3), dtype=np.uint8)
    out = convert_images(rgb, channels=1, size=8)
    assert out.dtype == torch.uint8 and out.shape == (4, 1, 8, 8)
    assert torch.equal(out[:, 0], torch.from_numpy(luminance(rgb)))


def test_grey_to_rgb_repeats_the_channel() -> None:
    grey = np.random.default_rng(1).integers(0, 256, (3, 5, 5), dtype=np.uint8)
    out = convert_images(grey, channels=3, size=5)
    assert out.shape == (3, 3, 5, 5)
    for c in range(3):
        assert torch.equal(out[:, c], torch.from_numpy(grey))


def test_resize_keeps_constants_and_antialiases_fine_detail() -> None:
    constant = np.full((2, 28, 28), 77, dtype=np.uint8)
    assert (convert_images(constant, channels=1, size=32) == 77).all()
    checkerboard = (np.indices((32, 32)).sum(0) % 2 * 255).astype(np.uint8)[None]
    small = convert_images(checkerboard, channels=1, size=8)
    # Without antialiasing, bilinear sampling would alias to near 0 or 255 values.
    assert small.float().sub(127.5).abs().max() <= 2


def test_mixed_shapes_keep_their_order() -> None:
    images = [np.full((4, 4), 10, np.uint8), np.full((6, 6, 3), 200, np.uint8), np.full((4, 4), 30, np.uint8)]
    out = convert_images(images, channels=3, size=5)
    assert out.shape == (3, 3, 5, 5)
    assert [int(v) for v in out[:, 0, 2, 2]] == [10, 200, 30]


def test_canny_gives_binary_edges_at_native_resolution() -> None:
    image = np.zeros((1, 20, 20), dtype=np.uint8)
    image[0, 5:15, 5:15] = 255
    edges = canny_edges(image)
    assert edges.shape == (1, 20, 20)
    assert set(np.unique(edges)) == {0, 255}
    assert edges[0, 10, 10] == 0 and edges[0, 0, 0] == 0  # inside and outside are flat


def test_edges_then_resize() -> None:
    rgb = np.zeros((2, 28, 28, 3), dtype=np.uint8)
    rgb[:, 8:20, 8:20] = (200, 50, 90)
    out = convert_images(rgb, channels=3, size=28, edges=True)
    assert out.shape == (2, 3, 28, 28)
    assert set(out.unique().tolist()) == {0, 255}
    assert torch.equal(out[:, 0], out[:, 2])


def _source(tmp_path: Path, decode, transductive: bool = False, classes: tuple[str, ...] = ("a", "b")) -> Source:
    file = tmp_path / "source.bin"
    if not file.exists():
        file.write_bytes(b"x")
    return Source("test", "Test", (file,), classes, transductive, (), decode)


def _native() -> NativeSplits:
    images = np.arange(2 * 4 * 4, dtype=np.uint8).reshape(2, 4, 4)
    return NativeSplits(images, np.array([0, 1]), images[:1], np.array([1]))


def test_cache_key_follows_request_and_files(tmp_path: Path) -> None:
    source = _source(tmp_path, _native)
    key = cache_key(source, 1, 28, False)
    assert key == cache_key(source, 1, 28, False)
    others = {cache_key(source, 3, 28, False), cache_key(source, 1, 32, False), cache_key(source, 1, 28, True)}
    assert len(others | {key}) == 4
    (tmp_path / "source.bin").write_bytes(b"changed")
    assert cache_key(source, 1, 28, False) != key


def test_tensor_names_skip_eval_and_labels_when_absent(tmp_path: Path) -> None:
    assert tensor_names(_source(tmp_path, _native)) == ("train_images", "train_labels", "eval_images", "eval_labels")
    assert tensor_names(_source(tmp_path, _native, transductive=True, classes=())) == ("train_images",)


def test_cache_is_reused_and_a_corrupt_entry_is_rebuilt(tmp_path: Path, cache: Path) -> None:
    first = converted_tensors(_source(tmp_path, _native), 3, 8, False)
    assert first["train_images"].shape == (2, 3, 8, 8) and first["eval_labels"].tolist() == [1]

    def refuse() -> NativeSplits:
        raise AssertionError("decoded although the cache holds this entry")

    again = converted_tensors(_source(tmp_path, refuse), 3, 8, False)
    assert all(torch.equal(first[k], again[k]) for k in first)

    path = cache_path(cache_key(_source(tmp_path, _native), 3, 8, False))
    path.write_bytes(b"not a safetensors file")
    rebuilt = converted_tensors(_source(tmp_path, _native), 3, 8, False)
    assert torch.equal(rebuilt["train_images"], first["train_images"])
    assert path.stat().st_size > 100


@pytest.mark.parametrize("channels,size", [(1, 28), (3, 32)])
def test_output_is_uint8_in_spec_shape(channels: int, size: int) -> None:
    images = np.random.default_rng(2).integers(0, 256, (5, 16, 16), dtype=np.uint8)
    out = convert_images(images, channels, size)
    assert out.dtype == torch.uint8 and out.shape == (5, channels, size, size)
