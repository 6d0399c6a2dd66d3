"""The real datasets in EXPLORER_DATA_DIR (CI points it at shared/data), counted as MANIFEST.md says.

Each test loads cold into a fresh cache, so these also prove the data directory is only read.
"""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

from core.data import InputSpec, load_domain
from tests.data.conftest import REAL_DATA_DIR, listing

MNIST_FILES = [
    f"MNIST/raw/{split}-{kind}.gz" for split in ("train", "t10k") for kind in ("images-idx3-ubyte", "labels-idx1-ubyte")
]


def _has(*relative: str) -> bool:
    return REAL_DATA_DIR is not None and all((Path(REAL_DATA_DIR) / r).is_file() for r in relative)


def _counts(labels: torch.Tensor) -> list[int]:
    return torch.bincount(labels, minlength=10).tolist()


@pytest.fixture
def real_data(monkeypatch: pytest.MonkeyPatch) -> Path:
    root = Path(REAL_DATA_DIR)
    monkeypatch.setenv("EXPLORER_DATA_DIR", str(root))
    return root


@pytest.mark.skipif(not _has(*MNIST_FILES), reason="real MNIST not in EXPLORER_DATA_DIR")
def test_real_mnist(real_data: Path) -> None:
    before = listing(real_data / "MNIST")
    domain = load_domain("mnist", InputSpec(1, 28), download=False)
    assert domain.train_images.shape == (60000, 1, 28, 28) and domain.eval_images.shape == (10000, 1, 28, 28)
    assert _counts(domain.train_labels) == [5923, 6742, 5958, 6131, 5842, 5421, 5918, 6265, 5851, 5949]
    assert _counts(domain.eval_labels) == [980, 1135, 1032, 1010, 982, 892, 958, 1028, 974, 1009]
    assert listing(real_data / "MNIST") == before


@pytest.mark.skipif(not _has("USPS/usps.t.bz2"), reason="real USPS test split not in EXPLORER_DATA_DIR")
def test_real_usps_test_split_is_transductive(real_data: Path) -> None:
    domain = load_domain("usps", InputSpec(1, 28), download=False)
    assert domain.eval_images.shape == (2007, 1, 28, 28)
    labels = [359, 264, 198, 166, 200, 160, 170, 147, 166, 177]
    if not (real_data / "USPS" / "usps.bz2").is_file():
        assert domain.transductive and domain.eval_images is domain.train_images
        assert any("transductive" in note for note in domain.notes)
    assert _counts(domain.eval_labels) == labels


@pytest.mark.skipif(not _has("MNIST-M/mnist_m_test.zip"), reason="real MNIST-M test split not in EXPLORER_DATA_DIR")
def test_real_mnistm_test_split(real_data: Path) -> None:
    before = listing(real_data / "MNIST-M")
    domain = load_domain("mnistm", InputSpec(3, 28), download=False)
    assert domain.name == "MNIST-M" and domain.transductive
    assert domain.eval_images.shape == (9001, 3, 28, 28)
    assert _counts(domain.eval_labels) == [878, 1016, 933, 908, 890, 807, 856, 914, 880, 919]
    assert listing(real_data / "MNIST-M") == before
