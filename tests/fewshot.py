"""Tiny character sets for the few-shot tests (no files, no downloads)."""

from __future__ import annotations

import torch

from core.data.omniglot import CharacterSet, Omniglot
from core.data.strokes import synthetic_split


def coded_characters(characters: int, drawings: int, name: str = "coded") -> CharacterSet:
    """Every image is one flat grey level, unique to its (character, drawing): an image says
    where it came from even after rotation."""
    codes = torch.arange(characters * drawings, dtype=torch.uint8).view(characters, drawings)
    images = codes[:, :, None, None].expand(characters, drawings, 28, 28).clone()
    return CharacterSet(name, images, ("A",) * characters, tuple(f"A/character{i:02d}" for i in range(characters)))


def tiny_omniglot(background: int = 4, evaluation: int = 2, characters: int = 6, drawings: int = 8) -> Omniglot:
    """Synthetic stroke alphabets small enough to train on in a test."""
    return Omniglot(
        synthetic_split("background", background, characters, drawings, seed=0),
        synthetic_split("evaluation", evaluation, characters, drawings, seed=0),
    )
