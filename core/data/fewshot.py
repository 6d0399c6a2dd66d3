"""Character datasets for few-shot learning, by name: the real Omniglot or synthetic strokes."""

from __future__ import annotations

from core.data.omniglot import Omniglot, load_omniglot
from core.data.strokes import synthetic_omniglot
from core.errors import UserError

FEWSHOT_DATA = {
    "omniglot": "Omniglot (Lake et al. 2015): 30 background alphabets to train on, 20 evaluation alphabets to test on",
    "synthetic": "synthetic stroke alphabets generated offline (30 + 20 alphabets); far easier than Omniglot",
}


def load_characters(name: str, download: bool = True) -> Omniglot:
    """The background and evaluation character sets of dataset `name` (a key of FEWSHOT_DATA)."""
    if name == "omniglot":
        return load_omniglot(download)
    if name == "synthetic":
        return synthetic_omniglot()
    raise UserError(f"unknown few-shot dataset {name!r}; expected one of {', '.join(FEWSHOT_DATA)}")
