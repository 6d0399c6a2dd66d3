"""What DAN and CDAN add to the source classifier: feature statistics matched by MMD, and a domain
classifier conditioned on the prediction (pure functions and one small module; no training here).

DAN (Long et al. 2015): the multi-kernel maximum mean discrepancy between source and target
features, with a family of Gaussian kernels

    k(a, b) = 1/K sum_u exp(-||a - b||^2 / (s * 2^u)),  u = -(K-1)/2 ... (K-1)/2,

whose base bandwidth s is taken from the batch (the mean squared distance between its items, not
differentiated), so the kernels follow the features as training moves them. Two estimates:
- "quadratic": the unbiased U-statistic over all pairs (Gretton et al. 2012, eq. 3),
  1/(n(n-1)) sum_{i != j} [k(x_i, x_j) + k(y_i, y_j) - k(x_i, y_j) - k(x_j, y_i)], for batches of
  one size n (the trainer's); O(n^2) kernel values;
- "linear": the linear-time estimate (Gretton et al. 2012, section 6; DAN's), the same h over
  consecutive pairs (z_1, z_2), (z_3, z_4), ...: n/2 terms, unbiased, noisier.
Both are exactly 0 for identical batches, and can be slightly negative for batches of one
distribution (unbiased estimates of a quantity that is 0).

CDAN (Long et al. 2018): the domain classifier sees the multilinear map of features f and
predictions g, the outer product f (x) g flattened, which lets it tell domains apart class by
class; when f (x) g is larger than FULL_MOST values, the randomised map
(R_f f) * (R_g g) / sqrt(d) with fixed Gaussian R_f (dim_f x d) and R_g (classes x d), d =
RANDOM_DIM, whose inner products approximate those of f (x) g in expectation. The predictions enter
detached (as in the authors' and TLlib's code): the adversarial gradient reaches the features
through f only. CDAN+E weights each item's domain loss by 1 + exp(-H(g)), normalised to mean 1 over
the batch: confident predictions count more.
"""

from __future__ import annotations

import math

import torch
from torch import nn

from core.dann.config import MMD_ESTIMATES

KERNELS = 5  # Gaussian kernels of the family, bandwidths s * 2^-2 ... s * 2^2
FULL_MOST = 4096  # outer products up to this size are used as they are
RANDOM_DIM = 1024  # output size of the randomised multilinear map


def _kernel_sum(sq_dist: torch.Tensor, base: torch.Tensor, kernels: int) -> torch.Tensor:
    scales = [2.0 ** (u - (kernels - 1) / 2) for u in range(kernels)]
    return sum(torch.exp(-sq_dist / (base * s)) for s in scales) / kernels


def mk_mmd(x: torch.Tensor, y: torch.Tensor, estimate: str = "quadratic", kernels: int = KERNELS) -> torch.Tensor:
    """The squared multi-kernel MMD between batches x (n, d) and y (n, d) (see the module docstring)."""
    if x.dim() != 2 or x.shape != y.shape:
        raise ValueError(f"mk_mmd needs two batches of one shape (n, d), got {tuple(x.shape)} and {tuple(y.shape)}")
    x, y = x.float(), y.float()
    n = len(x)
    if estimate == "quadratic":
        if n < 2:
            raise ValueError("the quadratic MMD estimate needs at least 2 items per batch")
        z = torch.cat([x, y])
        sq = torch.cdist(z, z).pow(2)
        base = (sq.sum() / (len(z) * (len(z) - 1))).detach().clamp(min=1e-12)
        k = _kernel_sum(sq, base, kernels)
        kxx, kyy, kxy = k[:n, :n], k[n:, n:], k[:n, n:]
        off = 1.0 / (n * (n - 1))
        return off * (kxx.sum() - kxx.diagonal().sum() + kyy.sum() - kyy.diagonal().sum()) - off * 2 * (
            kxy.sum() - kxy.diagonal().sum()
        )
    if estimate == "linear":
        half = n // 2
        if half < 1:
            raise ValueError("the linear MMD estimate needs at least 2 items per batch")
        x1, x2, y1, y2 = x[0 : 2 * half : 2], x[1 : 2 * half : 2], y[0 : 2 * half : 2], y[1 : 2 * half : 2]
        pairs = [(x1, x2), (y1, y2), (x1, y2), (x2, y1)]
        sq = [(a - b).pow(2).sum(1) for a, b in pairs]
        base = (torch.stack(sq).mean()).detach().clamp(min=1e-12)
        kxx, kyy, kxy, kyx = (_kernel_sum(s, base, kernels) for s in sq)
        return (kxx + kyy - kxy - kyx).mean()
    raise ValueError(f"unknown MMD estimate {estimate!r}; expected one of {', '.join(MMD_ESTIMATES)}")


class MultilinearMap(nn.Module):
    """f (x) g flattened (n, dim_f * classes), or its randomised form (n, RANDOM_DIM) when that is
    larger than FULL_MOST. The random matrices are buffers: fixed, drawn from `generator`, and
    stored with the network."""

    def __init__(self, feature_dim: int, classes: int, generator: torch.Generator | None = None):
        super().__init__()
        self.feature_dim, self.classes = feature_dim, classes
        self.randomised = feature_dim * classes > FULL_MOST
        self.out_dim = RANDOM_DIM if self.randomised else feature_dim * classes
        if self.randomised:
            self.register_buffer("r_f", torch.randn(feature_dim, RANDOM_DIM, generator=generator))
            self.register_buffer("r_g", torch.randn(classes, RANDOM_DIM, generator=generator))

    def forward(self, feats: torch.Tensor, probs: torch.Tensor) -> torch.Tensor:
        if self.randomised:
            return (
                (feats @ self.r_f.to(feats.dtype))
                * (probs.to(feats.dtype) @ self.r_g.to(feats.dtype))
                / math.sqrt(self.out_dim)
            )
        return torch.bmm(probs.unsqueeze(2), feats.unsqueeze(1)).flatten(1)  # (n, classes * dim_f), class-major


def entropy_weights(probs: torch.Tensor) -> torch.Tensor:
    """CDAN+E's per-item weights 1 + exp(-H(p)), scaled to mean 1 over the batch (not differentiated)."""
    probs = probs.detach().float()
    entropy = -(probs * probs.clamp(min=1e-12).log()).sum(1)
    w = 1.0 + torch.exp(-entropy)
    return w * (len(w) / w.sum())
