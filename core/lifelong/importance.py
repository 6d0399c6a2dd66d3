"""How much each parameter matters to a learned task: the importance measures of the regularisers,
each a pure function of a network's parameters and some of the task's training items.

With f(x; theta) the logits and p(y | x) = softmax(f), for items x_1..x_N:

- Fisher (EWC, Kirkpatrick et al. 2017), diagonal:
      F = 1/N sum_n E_{y ~ p(.|x_n)} [ (d/dtheta log p(y | x_n))^2 ]          ("expected")
  the true Fisher, an expectation over the model's own predictive distribution, here summed
  exactly over the ten classes. "sampled" draws one y per item from p (its Monte-Carlo estimate,
  a tenth of the cost); "empirical" puts the item's true label in place of y: the empirical
  Fisher, which is not the Fisher (Kunstner et al. 2019) but what many implementations compute.
- MAS (Aljundi et al. 2018): Omega = 1/N sum_n | d/dtheta ||f(x_n)||_2^2 |, the mean magnitude of
  each item's gradient of the squared L2 norm of the output; no labels needed.
- SCP (Kolouri et al. 2019, sliced Cramer preservation): for L random directions xi_l on the unit
  sphere of the output space, Gamma = 1/L sum_l ( d/dtheta xi_l . mean_n f(x_n) )^2, averaged over
  batches of items: how strongly a parameter moves the mean output along random slices. (The
  course's homework sums the slices before squaring; this is the paper's mean of squares.)
- SI (Zenke et al. 2017) is a path integral gathered during training: core.lifelong.methods.

Per-item gradients come from torch.func (vmap over grad), in chunks to bound memory.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator

import torch
from torch import nn
from torch.func import functional_call, grad, vmap

Params = dict[str, torch.Tensor]
_CHUNK = 100  # items per vmapped chunk: 100 per-item gradients of the 478k-parameter MLP are 190 MB


def _chunks(x: torch.Tensor, y: torch.Tensor | None) -> Iterator[tuple[torch.Tensor, torch.Tensor | None]]:
    for i in range(0, len(x), _CHUNK):
        yield x[i : i + _CHUNK], (y[i : i + _CHUNK] if y is not None else None)


def _params(net: nn.Module) -> Params:
    return {k: v.detach() for k, v in net.named_parameters()}


def _per_item_squared_sum(
    net: nn.Module, item_loss: Callable[[Params, torch.Tensor, torch.Tensor], torch.Tensor], x, y, weight=None
) -> Params:
    """sum_n w_n (d/dtheta item_loss(theta, x_n, y_n))^2 over the items, per parameter."""
    params = _params(net)
    per_item = vmap(grad(item_loss), in_dims=(None, 0, 0))
    total = {k: torch.zeros_like(v) for k, v in params.items()}
    for i, (xc, yc) in enumerate(_chunks(x, y)):
        grads = per_item(params, xc, yc)
        wc = weight[i * _CHUNK : i * _CHUNK + len(xc)] if weight is not None else None
        for k, g in grads.items():
            sq = g.pow(2)
            if wc is not None:
                sq = sq * wc.view(-1, *([1] * (sq.dim() - 1)))
            total[k] += sq.sum(0)
    return total


def fisher_diagonal(
    net: nn.Module,
    x: torch.Tensor,
    labels: torch.Tensor | None = None,
    kind: str = "expected",
    classes: torch.Tensor | None = None,
    generator: torch.Generator | None = None,
) -> Params:
    """The diagonal Fisher of `net` on items `x` (n, 784); `labels` for the empirical Fisher;
    `classes`: the logits the task reads (task-incremental), all when None."""

    def log_prob(params: Params, xi: torch.Tensor, yi: torch.Tensor) -> torch.Tensor:
        logits = functional_call(net, params, (xi.unsqueeze(0),))[0]
        if classes is not None:
            logits = logits[classes]
        return torch.log_softmax(logits, -1).gather(0, yi.view(1)).squeeze(0)

    n = len(x)
    with torch.no_grad():
        logits = net(x)
        if classes is not None:
            logits = logits[:, classes]
        probs = torch.softmax(logits, -1)
    if kind == "empirical":
        if labels is None:
            raise ValueError("the empirical Fisher needs the items' labels")
        target = labels if classes is None else torch.searchsorted(classes, labels)
        total = _per_item_squared_sum(net, log_prob, x, target)
    elif kind == "sampled":
        target = torch.multinomial(probs, 1, generator=generator).squeeze(1)
        total = _per_item_squared_sum(net, log_prob, x, target)
    elif kind == "expected":
        params = _params(net)
        total = {k: torch.zeros_like(v) for k, v in params.items()}
        for c in range(probs.shape[1]):
            target = torch.full((n,), c, dtype=torch.long)
            part = _per_item_squared_sum(net, log_prob, x, target, weight=probs[:, c])
            for k in total:
                total[k] += part[k]
    else:
        raise ValueError(f"unknown Fisher {kind!r}")
    return {k: v / n for k, v in total.items()}


def mas_importance(net: nn.Module, x: torch.Tensor) -> Params:
    """MAS's Omega: the mean over items of |d/dtheta ||f(x_n)||^2|."""
    params = _params(net)

    def squared_norm(p: Params, xi: torch.Tensor) -> torch.Tensor:
        return functional_call(net, p, (xi.unsqueeze(0),))[0].pow(2).sum()

    per_item = vmap(grad(squared_norm), in_dims=(None, 0))
    total = {k: torch.zeros_like(v) for k, v in params.items()}
    for xc, _ in _chunks(x, None):
        for k, g in per_item(params, xc).items():
            total[k] += g.abs().sum(0)
    return {k: v / len(x) for k, v in total.items()}


def unit_slices(count: int, dims: int, generator: torch.Generator | None = None) -> torch.Tensor:
    """`count` directions drawn uniformly on the unit sphere of R^dims (normalised Gaussians)."""
    xi = torch.randn(count, dims, generator=generator)
    return xi / xi.norm(dim=1, keepdim=True)


def scp_importance(
    net: nn.Module, x: torch.Tensor, slices: int, generator: torch.Generator | None = None, batch: int = 250
) -> Params:
    """SCP's Gamma, averaged over batches of `batch` items (new slices for every batch).

    For a batch, J = d mean_n f(x_n) / d theta (one row per logit, by one backward pass each);
    the gradient of slice l is xi_l J, so Gamma = mean_l (xi_l J)^2."""
    params = dict(net.named_parameters())
    total = {k: torch.zeros_like(v) for k, v in params.items()}
    batches = 0
    for i in range(0, len(x), batch):
        mean_out = net(x[i : i + batch]).mean(0)
        rows = [
            torch.autograd.grad(mean_out[c], list(params.values()), retain_graph=True) for c in range(len(mean_out))
        ]
        xi = unit_slices(slices, len(mean_out), generator)
        for j, k in enumerate(params):
            jac = torch.stack([r[j] for r in rows]).flatten(1)  # (outputs, parameter size)
            total[k] += (xi @ jac).pow(2).mean(0).view_as(total[k])
        batches += 1
    return {k: v.detach() / batches for k, v in total.items()}
