"""Per-domain normalisation statistics (AdaBN, Li et al. 2016).

The trainer normalises each domain's batch with that domain's own batch statistics, so at
evaluation each domain is normalised with its own population statistics too, instead of the
running mix of both that BatchNorm keeps by default. These helpers estimate a domain's
statistics and swap them in for a block of code.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from contextlib import contextmanager

import torch
from torch import nn
from torch.nn.modules.batchnorm import _BatchNorm

Stats = dict[str, torch.Tensor]


def norm_layers(module: nn.Module) -> dict[str, _BatchNorm]:
    return {name: m for name, m in module.named_modules() if isinstance(m, _BatchNorm)}


def _current(layers: dict[str, _BatchNorm]) -> Stats:
    stats: Stats = {}
    for name, m in layers.items():
        stats[f"{name}.running_mean"] = m.running_mean.clone()
        stats[f"{name}.running_var"] = m.running_var.clone()
    return stats


def _load(layers: dict[str, _BatchNorm], stats: Stats) -> None:
    for name, m in layers.items():
        m.running_mean.copy_(stats[f"{name}.running_mean"])
        m.running_var.copy_(stats[f"{name}.running_var"])


@torch.no_grad()
def estimate_statistics(module: nn.Module, batches: Iterable[torch.Tensor]) -> Stats:
    """The population mean and variance every BatchNorm layer of `module` sees over `batches`
    (prepared inputs). The module's own running statistics are left as they were."""
    layers = norm_layers(module)
    if not layers:
        return {}
    saved = _current(layers)
    saved_momentum = {name: m.momentum for name, m in layers.items()}
    saved_tracked = {name: m.num_batches_tracked.clone() for name, m in layers.items()}
    was_training = module.training
    for m in layers.values():
        m.reset_running_stats()
        m.momentum = None  # a cumulative average over the batches, not an exponential one
    module.train()
    for x in batches:
        module(x)
    stats = _current(layers)
    for name, m in layers.items():
        m.momentum = saved_momentum[name]
        m.num_batches_tracked.copy_(saved_tracked[name])
    _load(layers, saved)
    module.train(was_training)
    return stats


@contextmanager
def using_statistics(module: nn.Module, stats: Stats) -> Iterator[None]:
    """Evaluate `module` with `stats` in its BatchNorm layers, then put its own back."""
    layers = norm_layers(module)
    if not layers or not stats:
        yield
        return
    saved = _current(layers)
    _load(layers, stats)
    try:
        yield
    finally:
        _load(layers, saved)
