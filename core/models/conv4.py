"""The few-shot learner: four conv blocks and a linear head (Vinyals et al. 2016; Finn et al. 2017).

Each block is conv 3x3 (64 maps, padding 1) -> normalisation -> ReLU -> 2x2 max-pool, so a
28x28 character becomes 28 -> 14 -> 7 -> 3 -> 1 pixels and a 64-d feature vector.

Normalisation is batch normalisation whose statistics come from a *context*: the first `context`
rows of the batch (the support set of an episode), applied to every row. This is "MetaBN" in
Bronskill et al. 2020 (TaskNorm). Why this and not the usual choices:
- transductive batch norm (statistics of the batch being classified, what the MAML code does)
  makes a query's prediction depend on the other queries in its batch: a drawing classified alone
  would get different probabilities than among others;
- running statistics mix the statistics of thousands of training tasks, which fit no single task;
- per-example normalisation (layer/instance norm) is query-independent too, but loses the
  per-channel statistics that make batch norm train fast, and at the last block (3x3 pixels)
  instance statistics are nearly meaningless.
Support-set statistics are fixed by the task, so a query gets the same probabilities alone or
among any other queries, and training and testing normalise the same way. With no context
(`context=None`), the whole batch is its own context: that is how the support set is normalised
during adaptation and how the transfer baseline trains on ordinary mini-batches.

The module holds parameters only so that torch.func.functional_call can swap in a dict of
(adapted) tensors; the head's shape follows the dict, so one skeleton serves any number of ways.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from core.data.omniglot import IMAGE_SIZE, INK

CHANNELS = 64
BLOCKS = 4
EPS = 1e-5
HEAD_KEYS = ("head.weight", "head.bias")


class ContextNorm(nn.Module):
    """Batch normalisation with statistics from the first `context` rows (all rows when None)."""

    def __init__(self, channels: int):
        super().__init__()
        self.weight = nn.Parameter(torch.ones(channels))
        self.bias = nn.Parameter(torch.zeros(channels))

    def forward(self, x: torch.Tensor, context: int | None = None) -> torch.Tensor:
        ref = x if context is None else x[:context]
        mean = ref.mean(dim=(0, 2, 3), keepdim=True)
        # Two passes, not Tensor.var: its Welford kernel is ten times slower on CPU here.
        var = (ref - mean).pow(2).mean(dim=(0, 2, 3), keepdim=True)
        scale = self.weight.view(1, -1, 1, 1) * torch.rsqrt(var + EPS)
        return (x - mean) * scale + self.bias.view(1, -1, 1, 1)


class Block(nn.Module):
    def __init__(self, c_in: int, c_out: int):
        super().__init__()
        # No conv bias: the normalisation right after it removes any constant offset.
        self.conv = nn.Conv2d(c_in, c_out, kernel_size=3, padding=1, bias=False)
        self.norm = ContextNorm(c_out)

    def forward(self, x: torch.Tensor, context: int | None) -> torch.Tensor:
        return F.max_pool2d(F.relu(self.norm(self.conv(x), context)), 2)


class Conv4(nn.Module):
    """conv4 learner: `features` gives 64-d embeddings, `forward` class logits."""

    feature_dim = CHANNELS

    def __init__(self, out_features: int, channels: int = CHANNELS):
        super().__init__()
        self.blocks = nn.ModuleList([Block(1 if i == 0 else channels, channels) for i in range(BLOCKS)])
        self.head = nn.Linear(channels, out_features)

    def features(self, x: torch.Tensor, context: int | None = None) -> torch.Tensor:
        for block in self.blocks:
            x = block(x, context)
        return x.flatten(1)

    def forward(self, x: torch.Tensor, context: int | None = None, embed: bool = False) -> torch.Tensor:
        """Class logits, or with `embed` the features (functional_call only reaches forward)."""
        feats = self.features(x, context)
        return feats if embed else self.head(feats)


def prepare(images: torch.Tensor) -> torch.Tensor:
    """Characters (N, 1, 28, 28) to the learner's input: float, ink 1.0 on a 0.0 background.

    uint8 images use the project's polarity (`core.data.omniglot.INK` on 0) and are scaled to
    [0, 1]; floating-point images are taken to be in [0, 1] with the same polarity already.
    """
    if images.ndim != 4 or tuple(images.shape[1:]) != (1, IMAGE_SIZE, IMAGE_SIZE):
        raise ValueError(f"expected characters of shape (N, 1, {IMAGE_SIZE}, {IMAGE_SIZE}), got {tuple(images.shape)}")
    if images.dtype == torch.uint8:
        return images.float() / INK
    return images.float()
