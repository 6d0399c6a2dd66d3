"""Device choice and seeding: CUDA when present, else CPU; seeded runs repeat on CPU."""

from __future__ import annotations

import random

import numpy as np
import torch

from core.errors import UserError


def pick_device(name: str = "auto") -> torch.device:
    """ "auto" takes CUDA when available; "cuda" without a GPU is a user error, not a crash."""
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if name.startswith("cuda") and not torch.cuda.is_available():
        raise UserError(f"device {name!r} asked for, but torch sees no CUDA GPU; use 'cpu' or 'auto'")
    if not (name == "cpu" or name.startswith("cuda")):
        raise UserError(f"unknown device {name!r}; expected auto, cpu or cuda[:N]")
    return torch.device(name)


def describe_device(device: torch.device) -> str:
    """A one-line description for logs, the CLI and the home page."""
    if device.type == "cuda":
        return f"CUDA ({torch.cuda.get_device_name(device)})"
    return f"CPU ({torch.get_num_threads()} threads)"


def seed_everything(seed: int) -> torch.Generator:
    """Seed Python, NumPy and torch; return a CPU generator for the run's own sampling."""
    random.seed(seed)
    np.random.seed(seed % 2**32)
    torch.manual_seed(seed)
    return torch.Generator().manual_seed(seed)


def environment(device: torch.device) -> dict[str, str]:
    """What a run records of where it was trained: the device, torch and Python versions."""
    import platform

    return {"device": describe_device(device), "torch": torch.__version__, "python": platform.python_version()}
