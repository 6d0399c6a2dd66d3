"""The gradient reversal layer (Ganin & Lempitsky, 2015).

Identity on the way forward; on the way back the gradient is multiplied by -lambda. Placed between
the feature extractor and the domain classifier, it lets one optimizer step minimise the domain
loss for the classifier while maximising it for the features.
"""

from __future__ import annotations

import torch


class _GradientReversal(torch.autograd.Function):
    @staticmethod
    def forward(ctx, x: torch.Tensor, lambd: float) -> torch.Tensor:
        ctx.lambd = lambd
        return x.view_as(x)

    @staticmethod
    def backward(ctx, grad_output: torch.Tensor) -> tuple[torch.Tensor, None]:
        return -ctx.lambd * grad_output, None


def grad_reverse(x: torch.Tensor, lambd: float) -> torch.Tensor:
    """Pass `x` through unchanged; scale its gradient by -`lambd` on the backward pass."""
    return _GradientReversal.apply(x, float(lambd))


class GradientReversal(torch.nn.Module):
    """Module form of `grad_reverse` with a settable lambda."""

    def __init__(self, lambd: float = 1.0):
        super().__init__()
        self.lambd = lambd

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return grad_reverse(x, self.lambd)
