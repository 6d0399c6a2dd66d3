"""The real Omniglot in EXPLORER_DATA_DIR (CI points it at shared/data), counted as MANIFEST.md says.

Loaded cold into a fresh cache, so this also proves the data directory is only read.
"""

from __future__ import annotations

import re
import zipfile
from pathlib import Path

import pytest
import torch

from core.data.omniglot import INK, SplitSource, _decode_npz, load_omniglot
from tests.data.conftest import REAL_DATA_DIR, listing

ZIPS = ["omniglot-py/images_background.zip", "omniglot-py/images_evaluation.zip"]
NPZ = "omniglot-npz/images_evaluation.npz"


def _has(*relative: str) -> bool:
    return REAL_DATA_DIR is not None and all((Path(REAL_DATA_DIR) / r).is_file() for r in relative)


@pytest.mark.skipif(not _has(*ZIPS, NPZ), reason="real Omniglot not in EXPLORER_DATA_DIR")
def test_real_omniglot(monkeypatch: pytest.MonkeyPatch) -> None:
    root = Path(REAL_DATA_DIR)
    monkeypatch.setenv("EXPLORER_DATA_DIR", str(root))
    before = listing(root / "omniglot-py")
    omni = load_omniglot(download=False)
    assert listing(root / "omniglot-py") == before
    bg, ev = omni.background, omni.evaluation
    assert bg.images.shape == (964, 20, 28, 28) and ev.images.shape == (659, 20, 28, 28)
    assert len(set(bg.alphabets)) == 30 and len(set(ev.alphabets)) == 20
    assert not set(bg.alphabets) & set(ev.alphabets)  # the splits never share a character
    assert ev.characters[0] == "Angelic/character01" and not omni.synthetic
    # ink is bright on a black page: the border is empty and ink covers a small part of the page
    ink = ev.images.float() / INK
    assert ink[:, :, 0, :].mean() < 0.01 and 0.03 < ink.mean() < 0.15
    # the arrays hold the same drawings: matched by Omniglot's character id, pixel for pixel
    ids = {}
    with zipfile.ZipFile(root / ZIPS[1]) as zf:
        for name in zf.namelist():
            m = re.match(r"images_evaluation/(.+/character\d+)/(\d+)_\d+\.png$", name)
            if m:
                ids[m.group(1)] = int(m.group(2))
    arrays, _, _ = _decode_npz(SplitSource("evaluation", "npz", root / NPZ))
    order = torch.tensor([ids[c] - 965 for c in ev.characters])
    assert torch.equal(arrays[order], ev.images)
