"""The two DANN networks: the paper's digit net and the course's 32-px net for folder data.

Both split into the three parts DANN needs: a feature extractor, a label classifier on the
features, and a domain classifier that sees the features through the gradient reversal layer.
"""

from __future__ import annotations

import torch
from torch import nn

from core.data import InputSpec
from core.models.grl import grad_reverse


class DANNNet(nn.Module):
    """Feature extractor + label classifier + domain classifier (behind gradient reversal)."""

    input_spec: InputSpec  # what the network eats; domains are converted to it once
    feature_dim: int

    @staticmethod
    def make_domain_head(in_dim: int) -> nn.Module:
        """A domain classifier of this network's shape on in_dim inputs, one logit out."""
        raise NotImplementedError

    def __init__(self, features: nn.Module, label_head: nn.Module, domain_head: nn.Module):
        super().__init__()
        self.features = features
        self.label_head = label_head
        self.domain_head = domain_head

    def prepare(self, images: torch.Tensor) -> torch.Tensor:
        """uint8 images (N, C, H, W) to the float input the network was trained on."""
        return images.float().mul_(2.0 / 255.0).sub_(1.0)

    def classify(self, feats: torch.Tensor) -> torch.Tensor:
        """Class logits (N, classes) from features."""
        return self.label_head(feats)

    def discriminate(self, feats: torch.Tensor, lambd: float) -> torch.Tensor:
        """Domain logits (N,), >0 meaning target. With lambda = 0 the features get no gradient
        at all (detached), so the domain classifier still learns but costs no backward pass
        through the extractor."""
        x = feats.detach() if lambd == 0 else grad_reverse(feats, lambd)
        return self.domain_head(x).squeeze(1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Class logits for already prepared input."""
        return self.classify(self.features(x))


class DigitDANN(DANNNet):
    """The DANN paper's MNIST architecture (Ganin et al. 2016, JMLR, fig. 4 / appendix).

    conv 5x5 (32 maps), ReLU, 2x2 max-pool; conv 5x5 (48 maps), ReLU, 2x2 max-pool -> 768-d
    features for 3x28x28 input. Label head 100-100-classes; domain head 100-1.

    One change from the paper: batch normalisation after each convolution. The trainer feeds
    each domain as its own batch and evaluates each domain with its own statistics, so the
    normalisation itself removes the first and second moments of the domain shift (AdaBN,
    Li et al. 2016); on MNIST -> MNIST-M it clearly lifted target accuracy in our trials.
    """

    input_spec = InputSpec(channels=3, size=28)
    feature_dim = 48 * 4 * 4

    def __init__(self, num_classes: int = 10):
        features = nn.Sequential(
            nn.Conv2d(3, 32, kernel_size=5),
            nn.BatchNorm2d(32),
            nn.ReLU(inplace=True),
            nn.MaxPool2d(2),
            nn.Conv2d(32, 48, kernel_size=5),
            nn.BatchNorm2d(48),
            nn.ReLU(inplace=True),
            nn.MaxPool2d(2),
            nn.Flatten(),
        )
        label_head = nn.Sequential(
            nn.Linear(self.feature_dim, 100),
            nn.ReLU(inplace=True),
            nn.Linear(100, 100),
            nn.ReLU(inplace=True),
            nn.Linear(100, num_classes),
        )
        super().__init__(features, label_head, self.make_domain_head(self.feature_dim))

    @staticmethod
    def make_domain_head(in_dim: int) -> nn.Module:
        """The paper's domain classifier, in_dim-100-1 (CDAN's sees the multilinear map instead)."""
        return nn.Sequential(nn.Linear(in_dim, 100), nn.ReLU(inplace=True), nn.Linear(100, 1))


def _conv_block(c_in: int, c_out: int) -> nn.Sequential:
    return nn.Sequential(
        nn.Conv2d(c_in, c_out, 3, padding=1), nn.BatchNorm2d(c_out), nn.ReLU(inplace=True), nn.MaxPool2d(2)
    )


class CourseDANN(DANNNet):
    """The course homework's network for 32x32 grayscale folder data (real photos -> doodles).

    Five conv3x3-BN-ReLU-pool blocks (64, 128, 256, 256, 512 maps) down to a 512-d feature;
    label head 512-512-512-classes; domain head four 512-d BN-ReLU layers, then 1 logit.
    """

    input_spec = InputSpec(channels=1, size=32)
    feature_dim = 512

    def __init__(self, num_classes: int = 10):
        widths = [1, 64, 128, 256, 256, 512]
        features = nn.Sequential(*[_conv_block(a, b) for a, b in zip(widths, widths[1:])], nn.Flatten())
        label_head = nn.Sequential(
            nn.Linear(512, 512),
            nn.ReLU(inplace=True),
            nn.Linear(512, 512),
            nn.ReLU(inplace=True),
            nn.Linear(512, num_classes),
        )
        super().__init__(features, label_head, self.make_domain_head(self.feature_dim))

    @staticmethod
    def make_domain_head(in_dim: int) -> nn.Module:
        """Four 512-d BN-ReLU layers (the first from in_dim), then 1 logit."""
        layers: list[nn.Module] = []
        for i in range(4):
            layers += [nn.Linear(in_dim if i == 0 else 512, 512), nn.BatchNorm1d(512), nn.ReLU(inplace=True)]
        return nn.Sequential(*layers, nn.Linear(512, 1))


MODELS: dict[str, type[DANNNet]] = {"digit": DigitDANN, "course": CourseDANN}


def build_model(name: str, num_classes: int) -> DANNNet:
    """A fresh network by name ("digit" or "course")."""
    return MODELS[name](num_classes=num_classes)
