"""The networks of lifelong learning: the papers' MLP (784-400-400-10) and a small conv net.

Both take flattened 28 x 28 images (n, 784) and give ten logits: one head over all digits. The
task-incremental setting reads only the logits of the task's own digits (core.lifelong.trainer),
which is a head per task with no weights shared between heads.
"""

from __future__ import annotations

import torch
from torch import nn

from core.data.streams import CLASSES, PIXELS, SIDE


def lifelong_net(model: str, hidden: int = 400, layers: int = 2) -> nn.Module:
    if model == "mlp":
        return MLP(hidden, layers)
    if model == "conv":
        return ConvNet(hidden)
    raise ValueError(f"unknown model {model!r}")


class MLP(nn.Module):
    """784 -> hidden (x layers, ReLU) -> 10. `layers[0]` is the first layer, whose importance per
    input pixel the Explore view draws."""

    def __init__(self, hidden: int = 400, depth: int = 2):
        super().__init__()
        sizes = [PIXELS] + [hidden] * depth
        self.layers = nn.ModuleList(nn.Linear(a, b) for a, b in zip(sizes, sizes[1:]))
        self.head = nn.Linear(sizes[-1], CLASSES)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        for layer in self.layers:
            x = torch.relu(layer(x))
        return self.head(x)


class ConvNet(nn.Module):
    """Two 5x5 conv layers (32 and 64 channels, each followed by 2x2 max pooling), one hidden
    layer, ten logits."""

    KERNEL = 5

    def __init__(self, hidden: int = 400):
        super().__init__()
        self.conv1 = nn.Conv2d(1, 32, self.KERNEL, padding=2)
        self.conv2 = nn.Conv2d(32, 64, self.KERNEL, padding=2)
        self.fc = nn.Linear(64 * (SIDE // 4) ** 2, hidden)
        self.head = nn.Linear(hidden, CLASSES)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = x.view(-1, 1, SIDE, SIDE)
        x = torch.max_pool2d(torch.relu(self.conv1(x)), 2)
        x = torch.max_pool2d(torch.relu(self.conv2(x)), 2)
        return self.head(torch.relu(self.fc(x.flatten(1))))


def first_layer(net: nn.Module) -> str:
    """The name of the weight whose importance is drawn as a picture of the input."""
    return "layers.0.weight" if isinstance(net, MLP) else "conv1.weight"


def input_picture(net: nn.Module, importance: torch.Tensor) -> torch.Tensor:
    """The first layer's importance as a picture: for the MLP, summed over the hidden units into
    one value per input pixel (28 x 28); for the conv net, summed over its filters into one value
    per kernel position (5 x 5)."""
    if isinstance(net, MLP):
        return importance.sum(dim=0).view(SIDE, SIDE)
    return importance.sum(dim=(0, 1))
