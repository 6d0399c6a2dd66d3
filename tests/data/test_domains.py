"""The public entry points: spec parsing, InputSpec checks and the home page's dataset status."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from core.data import DIGIT_DOMAINS, InputSpec, dataset_status, load_domain
from core.errors import UserError
from tests.data.conftest import listing, mnistm_members, write_zip


def test_unknown_spec_lists_the_valid_ones(data: Path) -> None:
    with pytest.raises(UserError) as info:
        load_domain("svhn", InputSpec(3, 32))
    message = str(info.value)
    assert "'svhn'" in message and all(name in message for name in DIGIT_DOMAINS) and "folder:PATH" in message


def test_folder_spec_needs_a_path() -> None:
    with pytest.raises(UserError, match="folder:PATH"):
        load_domain("folder:  ", InputSpec(3, 32))


@pytest.mark.parametrize("channels,size", [(2, 28), (3, 0), (1, -4)])
def test_input_spec_rejects_impossible_shapes(channels: int, size: int) -> None:
    with pytest.raises(UserError, match="InputSpec"):
        InputSpec(channels, size)


def test_status_of_an_empty_data_dir_says_what_to_do(data: Path) -> None:
    statuses = {s.name: s for s in dataset_status()}
    assert list(statuses) == ["MNIST", "USPS", "MNIST-M", "Omniglot"]
    assert not any(s.available for s in statuses.values())
    mnist = statuses["MNIST"].detail
    assert "train-images-idx3-ubyte.gz" in mnist and str(data / "MNIST" / "raw") in mnist
    assert "usps.t.bz2" in statuses["USPS"].detail and str(data / "USPS") in statuses["USPS"].detail
    assert "MNIST" in statuses["MNIST-M"].detail and str(data / "MNIST-M") in statuses["MNIST-M"].where
    assert "images_{background,evaluation}.zip" in statuses["Omniglot"].detail
    assert listing(data) == []


def test_status_reports_what_was_found(fake_mnist: Path, data: Path) -> None:
    (data / "USPS").mkdir()
    (data / "USPS" / "usps.t.bz2").write_bytes(b"unchecked here: status never decodes")
    statuses = {s.name: s for s in dataset_status()}
    assert statuses["MNIST"].available and statuses["MNIST"].where == str(fake_mnist)
    assert statuses["USPS"].available and "transductive" in statuses["USPS"].detail
    assert statuses["MNIST-M"].available and "generated from MNIST" in statuses["MNIST-M"].detail

    write_zip(data / "MNIST-M" / "mnist_m_test.zip", mnistm_members("test", np.arange(3)))
    mnistm = dataset_status()[2]
    assert mnistm.available and "mnist_m_test.zip" in mnistm.where and "transductive" in mnistm.detail
