"""Domains for domain adaptation: a spec string in, converted uint8 tensors out.

Every source (MNIST, USPS, MNIST-M, image folders) ends up as the same `Domain`, converted once to
the network's `InputSpec`, so a trainer pairs any two of them without knowing where they came
from. Locating is cheap and decoding is not, so the registry maps a spec to a locator and the
tensor cache (core.data.convert) decides whether anything needs decoding.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING

from core.data import folders, mnist, mnistm, omniglot, usps
from core.data.source import DatasetStatus, Source
from core.data.specs import FOLDER_PREFIX
from core.errors import UserError

if TYPE_CHECKING:
    import torch

__all__ = ["DIGIT_DOMAINS", "DatasetStatus", "Domain", "InputSpec", "dataset_status", "domain_version", "load_domain"]

DIGIT_DOMAINS = ("mnist", "usps", "mnistm")
# Bumped for a domain whose images change for the same files (USPS 2: framed like MNIST). Runs
# hash the version of each of their domains that is past 1, so a stored run trained on the old
# images is not taken for a run of the new ones, while runs on other domains keep their ids.
DOMAIN_VERSIONS = {"usps": 2}


def domain_version(spec: str) -> int:
    """How a domain's images are prepared, as a number (1 unless listed in DOMAIN_VERSIONS)."""
    return DOMAIN_VERSIONS.get(spec, 1)


_LOCATORS: dict[str, Callable[[bool], Source]] = {
    "mnist": mnist.locate,
    "usps": usps.locate,
    "mnistm": mnistm.locate,
}


@dataclass(frozen=True)
class InputSpec:
    """What the network takes: every domain is converted to this once, at load."""

    channels: int  # 1 (grayscale) or 3 (RGB)
    size: int  # square side in pixels

    def __post_init__(self) -> None:
        if self.channels not in (1, 3):
            raise UserError(f"InputSpec.channels must be 1 (grayscale) or 3 (RGB), got {self.channels!r}")
        if not isinstance(self.size, int) or self.size < 1:
            raise UserError(f"InputSpec.size must be a positive number of pixels, got {self.size!r}")


@dataclass(eq=False)
class Domain:
    """One domain's images and labels at an InputSpec, with how it was loaded."""

    spec: str  # the spec string asked for, e.g. "mnistm" or "folder:/x/train_data"
    name: str  # human name, e.g. "MNIST-M", "MNIST-M (generated from MNIST)", "USPS"
    train_images: torch.Tensor  # uint8 (N, C, H, W) in InputSpec shape: what training draws from
    train_labels: torch.Tensor | None  # int64 (N,), None when unlabelled
    eval_images: torch.Tensor  # uint8 (M, C, H, W): what accuracy is measured on
    eval_labels: torch.Tensor | None  # int64 (M,), None when unlabelled
    classes: tuple[str, ...]  # class names in label order ("0".."9" for digits)
    transductive: bool  # True when train and eval are the same images (only one split exists)
    notes: tuple[str, ...] = ()  # human-readable facts about how it was loaded


def _valid_specs() -> str:
    return ", ".join(DIGIT_DOMAINS) + f", or {FOLDER_PREFIX}PATH (an ImageFolder-style folder)"


def locate(spec: str, download: bool = True) -> Source:
    """The source a spec names, found on disk (downloaded first if allowed and needed)."""
    text = spec.strip()
    if text.lower().startswith(FOLDER_PREFIX):
        path = text[len(FOLDER_PREFIX) :].strip()
        if not path:
            raise UserError(f"Domain spec {spec!r} names no folder: expected {FOLDER_PREFIX}PATH")
        return folders.locate(path)
    locator = _LOCATORS.get(text.lower())
    if locator is None:
        raise UserError(f"Unknown domain {spec!r}: expected {_valid_specs()}")
    return locator(download)


def load_domain(spec: str, input_spec: InputSpec, *, edges: bool = False, download: bool = True) -> Domain:
    """Load a domain converted to `input_spec`, from the tensor cache when it has been seen before.

    `edges` applies the course homework's source transform (greyscale, then Canny with thresholds
    170 and 300 at the image's own resolution) before the channel and size conversion.
    Missing or malformed data raises UserError naming what was expected and where.
    """
    # Imported here, not above: torch and OpenCV take seconds to import, and dataset_status()
    # (the home page) needs neither.
    from core.data.convert import CANNY_THRESHOLDS, converted_tensors

    source = locate(spec, download)
    tensors = converted_tensors(source, input_spec.channels, input_spec.size, edges)
    notes = source.notes
    if edges:
        notes += (f"Canny edges (thresholds {CANNY_THRESHOLDS[0]}, {CANNY_THRESHOLDS[1]}) at native resolution",)
    train_images = tensors["train_images"]
    train_labels = tensors.get("train_labels")
    return Domain(
        spec=spec,
        name=source.name,
        train_images=train_images,
        train_labels=train_labels,
        eval_images=tensors.get("eval_images", train_images),
        eval_labels=tensors.get("eval_labels", train_labels),
        classes=source.classes,
        transductive=source.transductive,
        notes=notes,
    )


def dataset_status() -> list[DatasetStatus]:
    """One entry per dataset (the digits, then Omniglot), from file presence only (no decoding, no download)."""
    return [mnist.status(), usps.status(), mnistm.status(), omniglot.status()]
