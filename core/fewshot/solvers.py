"""How a learner adapts to a task, and the meta-gradient that teaches it to adapt.

Everything here is functional: parameters are a dict of tensors that torch.func.functional_call
swaps into the Conv4 skeleton, so an adapted copy is just another dict.

Meta-parameters and the head. With `head_init="zero"` the meta-parameters are the body only and
every task starts from a zero head of its own number of ways (the "zeroing trick", Kao et al.
2022; Ye & Chao 2022 show a learned MAML head drifts towards one shared vector anyway, since
labels are shuffled per episode). A zero head makes the first inner step a prototype classifier
on the features and lets one model serve 5-way and 20-way episodes. `head_init="learned"` is the
MAML paper's: the head is meta-learned too, and the model only fits episodes of its training ways.
`head_init="proto"` (Proto-MAML, Triantafillou et al. 2020) starts every task from the head that
makes the logits ProtoNet's: row k is twice the mean support feature of class k, its bias minus
that mean's squared norm. It serves any number of ways too.

Why the start matters for first-order MAML. With a zero head the support loss does not depend on
the body (the logits are 0 whatever the features), so the first inner step moves the head alone:
head' = lr/N sum_i (onehot_i - 1/ways) f(s_i)^T, a function of the support features. Second-order
MAML differentiates through that step, and so learns from the support drawings; first-order MAML
treats the step as a constant, so its meta-gradient sees the queries only and never pulls a
support feature towards its class. A prototype start is part of the forward pass, not of the
inner loop, so first-order MAML keeps its gradient through the support features, and drops only
the second derivatives of the inner steps.

The meta-gradient of a batch of tasks comes two ways that give the same numbers:
- `meta_gradient_loop`, the reference: one task at a time, the inner loop by torch.autograd.grad
  (create_graph=True for second order), the query loss backpropagated task by task;
- `meta_gradient_vmap`: the inner loop by torch.func.grad, vmapped over the tasks, the outer
  gradient by torch.func.grad over the whole batch. One batched conv replaces T small ones.
First-order MAML cuts the inner gradient out of the graph (detach), so the meta-gradient is the
query-loss gradient at the adapted parameters.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from functools import partial

import torch
import torch.nn.functional as F
from torch.func import functional_call, grad, vmap

from core.errors import UserError
from core.models.conv4 import BLOCKS, HEAD_KEYS, Conv4

Params = dict[str, torch.Tensor]
TaskLoss = Callable[[Params, torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor], tuple[torch.Tensor, torch.Tensor]]


@dataclass(frozen=True)
class BatchPlan:
    """How a batch of tasks is computed: vmapped (`chunk` tasks at a time, None: all) or a loop;
    `compiled`: the vmapped meta-step compiled whole by torch.compile (training's meta-steps only;
    evaluation runs it eagerly)."""

    vectorised: bool
    chunk: int | None = None
    compiled: bool = False

    def describe(self) -> str:
        if not self.vectorised:
            return "loop over tasks"
        text = "vmap over tasks" + (f", {self.chunk} at a time" if self.chunk else "")
        return text + ", compiled by torch.compile (CUDA graphs on a GPU)" * self.compiled


# The rule for "auto". On a CPU (python -m bench.maml_speed, 32 five-way one-shot tasks, one
# thread): the whole batch vmapped at once spills its activations out of the cache and ran
# 0.8-1.1x the loop's speed, CPU_CHUNK tasks at a time 1.1-1.25x. On a GPU the whole batch goes
# at once, one batched kernel per layer instead of T small launches: on an H100, 37 ms against
# the loop's 570 ms per second-order meta-step (15x; BENCHMARKS.md, 2026-11-22).
CPU_CHUNK = 8
# "compiled" is the fast path for long GPU runs (see meta_step_function); it is not in "auto"
# until a GPU measurement says it is faster (python -m bench.maml_speed --device cuda).
BATCH_MODES = ("auto", "vmap", "loop", "compiled")
EVAL_BATCH_MODES = ("auto", "vmap", "loop")
# torch.compile's backend for "compiled"; tests set "aot_eager" (the captured graph, run eagerly).
COMPILE_BACKEND = "inductor"


def batch_plan(device: torch.device, mode: str = "auto") -> BatchPlan:
    """The BatchPlan for `mode` on `device`; "auto" is the measured rule above."""
    if mode not in BATCH_MODES:
        raise UserError(f"unknown meta-batch mode {mode!r}; expected one of {', '.join(BATCH_MODES)}")
    if mode == "loop":
        return BatchPlan(False)
    if mode == "compiled":
        return BatchPlan(True, None, compiled=True)
    return BatchPlan(True, None if device.type == "cuda" else CPU_CHUNK)


@dataclass(frozen=True)
class MetaStep:
    """The meta-gradient of a batch of tasks, with its mean query loss and accuracy (tensors, so
    the caller decides when to synchronise with the device)."""

    grads: Params
    loss: torch.Tensor
    acc: torch.Tensor


def with_head(meta: Params, ways: int) -> Params:
    """The parameters a task starts from: the meta-parameters, plus a zero head when they have none."""
    if HEAD_KEYS[0] in meta:
        trained = int(meta[HEAD_KEYS[0]].shape[0])
        if trained != ways:
            raise UserError(
                f"this model has a learned {trained}-way head (head_init='learned'), so it cannot run "
                f"{ways}-way episodes; use {trained} ways, or train with head_init='zero'"
            )
        return meta
    last = meta[f"blocks.{BLOCKS - 1}.conv.weight"]  # (features, channels, 3, 3)
    return {**meta, HEAD_KEYS[0]: last.new_zeros(ways, last.shape[0]), HEAD_KEYS[1]: last.new_zeros(ways)}


def task_start(net: Conv4, meta: Params, sx: torch.Tensor, sy: torch.Tensor, ways: int, head_init: str) -> Params:
    """The parameters a task's inner loop starts from: with_head's, or for `head_init="proto"` the
    meta-parameters with the prototype head (differentiable in the body)."""
    if head_init != "proto":
        return with_head(meta, ways)
    protos = class_means(forward(net, meta, sx, embed=True), sy, ways)  # support normalised by its own statistics
    return {**meta, HEAD_KEYS[0]: 2 * protos, HEAD_KEYS[1]: -protos.pow(2).sum(1)}


def forward(
    net: Conv4, params: Params, x: torch.Tensor, context: int | None = None, embed: bool = False
) -> torch.Tensor:
    return functional_call(net, params, (x,), {"context": context, "embed": embed})


def support_loss(net: Conv4, params: Params, sx: torch.Tensor, sy: torch.Tensor) -> torch.Tensor:
    """Cross-entropy on the support set, normalised by its own statistics."""
    return F.cross_entropy(forward(net, params, sx), sy)


def query_logits(net: Conv4, params: Params, sx: torch.Tensor, qx: torch.Tensor) -> torch.Tensor:
    """Logits of the queries, normalised with the support set's statistics (queries do not
    influence each other: see core.models.conv4)."""
    return forward(net, params, torch.cat([sx, qx]), context=len(sx))[len(sx) :]


def sgd_step(params: Params, grads: Params | tuple[torch.Tensor, ...], lr: float) -> Params:
    g = grads.values() if isinstance(grads, dict) else grads
    return {k: p - lr * gk for (k, p), gk in zip(params.items(), g)}


def adapt(
    net: Conv4, params: Params, sx: torch.Tensor, sy: torch.Tensor, steps: int, lr: float, *, create_graph: bool = False
) -> Params:
    """`steps` plain SGD steps on the support loss, by torch.autograd (the reference inner loop).

    With create_graph the adapted parameters stay differentiable through the inner gradients
    (second order); without it the inner gradients are constants (first order), yet the result
    still depends on `params` through the update p - lr * g, which is all FO-MAML needs.
    """
    with torch.enable_grad():
        if create_graph:
            # Tensors that are not part of a graph yet (a zero head) become leaves, so their
            # inner gradients exist.
            params = {k: p if p.requires_grad else p.detach().requires_grad_() for k, p in params.items()}
        for _ in range(steps):
            if create_graph:
                # Partial derivatives, each parameter taken as its own variable: a prototype head
                # is made from the body, and the gradient of the body itself must not run through it.
                params = {k: p.view_as(p) for k, p in params.items()}
                grads = torch.autograd.grad(support_loss(net, params, sx, sy), list(params.values()), create_graph=True)
            else:
                # The inner gradient as a constant, taken at detached copies: the graph that made
                # `params` (a prototype head's) stays whole for the outer gradient.
                leaves = {k: p.detach().requires_grad_() for k, p in params.items()}
                grads = torch.autograd.grad(support_loss(net, leaves, sx, sy), list(leaves.values()))
            params = sgd_step(params, grads, lr)
    return params


def adapt_functional(
    net: Conv4, params: Params, sx: torch.Tensor, sy: torch.Tensor, steps: int, lr: float, first_order: bool
) -> Params:
    """The same inner loop by torch.func.grad, for use under vmap and an outer torch.func.grad."""
    loss_grad = grad(partial(support_loss, net))
    for _ in range(steps):
        g = loss_grad(params, sx, sy)
        if first_order:
            g = {k: v.detach() for k, v in g.items()}
        params = sgd_step(params, g, lr)
    return params


def linear_head(head: Params, feats: torch.Tensor) -> torch.Tensor:
    return feats @ head[HEAD_KEYS[0]].T + head[HEAD_KEYS[1]]


def zero_head(ways: int, like: torch.Tensor) -> Params:
    """A fresh head for `ways` classes over features like `like` (..., features)."""
    features = like.shape[-1]
    return {HEAD_KEYS[0]: like.new_zeros(ways, features), HEAD_KEYS[1]: like.new_zeros(ways)}


def finetune_head(head: Params, fs: torch.Tensor, sy: torch.Tensor, steps: int, lr: float, functional: bool) -> Params:
    """`steps` SGD steps of the linear head alone on fixed support features (the transfer
    baseline's test-time training: logistic regression on the pretrained features)."""

    def loss(h: Params) -> torch.Tensor:
        return F.cross_entropy(linear_head(h, fs), sy)

    for _ in range(steps):
        if functional:
            g = grad(loss)(head)
        else:
            with torch.enable_grad():
                leaves = {k: v.detach().requires_grad_() for k, v in head.items()}
                g = torch.autograd.grad(loss(leaves), list(leaves.values()))
        head = sgd_step(head, g, lr)
    return head


def context_features(
    net: Conv4, params: Params, sx: torch.Tensor, qx: torch.Tensor
) -> tuple[torch.Tensor, torch.Tensor]:
    """Support and query features, all normalised with the support set's statistics."""
    feats = forward(net, params, torch.cat([sx, qx]), context=len(sx), embed=True)
    return feats[: len(sx)], feats[len(sx) :]


def transfer_logits(
    net: Conv4, params: Params, sx, sy, qx, ways: int, steps: int, lr: float, functional: bool
) -> torch.Tensor:
    """Query logits of the transfer baseline: a zero head fine-tuned on the support features."""
    fs, fq = context_features(net, params, sx, qx)
    head = finetune_head(zero_head(ways, fs), fs.detach(), sy, steps, lr, functional)
    return linear_head(head, fq)


def class_means(feats: torch.Tensor, labels: torch.Tensor, ways: int) -> torch.Tensor:
    """(ways, features): each class's mean feature (ProtoNet's prototypes)."""
    onehot = F.one_hot(labels, ways).to(feats.dtype)
    return (onehot.T @ feats) / onehot.sum(0).unsqueeze(1)


def protonet_logits(
    net: Conv4, params: Params, sx: torch.Tensor, sy: torch.Tensor, qx: torch.Tensor, ways: int
) -> torch.Tensor:
    """Negative squared distances from each query's features to each class's mean support feature."""
    fs, fq = context_features(net, params, sx, qx)
    protos = class_means(fs, sy, ways)
    return -(fq.pow(2).sum(1, keepdim=True) - 2 * fq @ protos.T + protos.pow(2).sum(1))


def _scored(logits: torch.Tensor, qy: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    return F.cross_entropy(logits, qy), (logits.argmax(-1) == qy).float().mean()


def maml_task_loss(
    net: Conv4,
    meta: Params,
    sx,
    sy,
    qx,
    qy,
    *,
    ways: int,
    steps: int,
    lr: float,
    first_order: bool,
    functional: bool,
    head_init: str = "zero",
) -> tuple[torch.Tensor, torch.Tensor]:
    """Query loss and accuracy after adapting to the support set."""
    start = task_start(net, meta, sx, sy, ways, head_init)
    if functional:
        adapted = adapt_functional(net, start, sx, sy, steps, lr, first_order)
    else:
        adapted = adapt(net, start, sx, sy, steps, lr, create_graph=not first_order)
    return _scored(query_logits(net, adapted, sx, qx), qy)


def protonet_task_loss(net: Conv4, meta: Params, sx, sy, qx, qy, *, ways: int) -> tuple[torch.Tensor, torch.Tensor]:
    return _scored(protonet_logits(net, meta, sx, sy, qx, ways), qy)


def task_loss(
    solver: str, net: Conv4, *, ways: int, steps: int, lr: float, functional: bool, head_init: str = "zero"
) -> TaskLoss:
    """The per-task loss of a meta-learning solver, as a function of (params, sx, sy, qx, qy)."""
    if solver in ("maml", "fomaml"):
        first_order = solver == "fomaml"
        return partial(
            maml_task_loss,
            net,
            ways=ways,
            steps=steps,
            lr=lr,
            first_order=first_order,
            functional=functional,
            head_init=head_init,
        )
    if solver == "protonet":
        return partial(protonet_task_loss, net, ways=ways)
    raise ValueError(f"solver {solver!r} has no per-task loss")


def meta_gradient_loop(loss_fn: TaskLoss, meta: Params, sx, sy, qx, qy) -> MetaStep:
    """The reference: tasks one at a time, each task's graph freed after its backward pass."""
    leaves = {k: v.detach().requires_grad_() for k, v in meta.items()}
    total = {k: torch.zeros_like(v) for k, v in meta.items()}
    losses, accs = [], []
    n = len(sx)
    for t in range(n):
        loss, acc = loss_fn(leaves, sx[t], sy[t], qx[t], qy[t])
        grads = torch.autograd.grad(loss / n, list(leaves.values()), allow_unused=True)
        for k, g in zip(leaves, grads):
            if g is not None:  # None: a parameter this solver does not use (ProtoNet's head)
                total[k] += g
        losses.append(loss.detach())
        accs.append(acc.detach())
    return MetaStep(total, torch.stack(losses).mean(), torch.stack(accs).mean())


def meta_gradient_vmap(loss_fn: TaskLoss, meta: Params, sx, sy, qx, qy, chunk: int | None = None) -> MetaStep:
    """All tasks at once: vmap over tasks (`chunk` at a time), torch.func.grad over the mean query loss."""

    def batch_loss(params: Params):
        losses, accs = vmap(loss_fn, in_dims=(None, 0, 0, 0, 0), chunk_size=chunk)(params, sx, sy, qx, qy)
        return losses.mean(), (losses.mean(), accs.mean())

    detached = {k: v.detach() for k, v in meta.items()}
    grads, (loss, acc) = grad(batch_loss, has_aux=True)(detached)
    return MetaStep(grads, loss, acc)


MetaStepFunction = Callable[[Params, torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor], MetaStep]


def meta_step_function(
    solver: str,
    net: Conv4,
    *,
    ways: int,
    steps: int,
    lr: float,
    plan: BatchPlan,
    head_init: str = "zero",
    backend: str | None = None,
) -> MetaStepFunction:
    """(meta, sx, sy, qx, qy) -> MetaStep for one solver and plan; build it once and call it every step.

    With `plan.compiled` the whole vmapped meta-step (inner loop, query loss, outer gradient) is
    one torch.compile graph: the kernels of the T tasks' inner and outer passes are fused, and on
    a GPU the graph replays as a CUDA graph ("reduce-overhead"), so a meta-step is one launch
    instead of hundreds of small ones, which is what bounds the eager step there (37 ms for 32
    tasks on an H100, for about 20 GFLOP). The first call compiles (2 to 5 minutes on 2 CPU
    cores); later calls with the same shapes reuse the graph. The mathematics is the eager
    vmap's: in float64 the two agree to rounding (tests/test_fewshot_fast.py), in float32 they
    differ by float32 summation order. `backend` is torch.compile's (None: COMPILE_BACKEND).
    """
    loss_fn = task_loss(solver, net, ways=ways, steps=steps, lr=lr, functional=plan.vectorised, head_init=head_init)
    if not plan.vectorised:
        return partial(meta_gradient_loop, loss_fn)
    if not plan.compiled:
        return partial(meta_gradient_vmap, loss_fn, chunk=plan.chunk)
    return _compiled_meta_step(partial(meta_gradient_vmap, loss_fn, chunk=plan.chunk), backend or COMPILE_BACKEND)


def _compiled_meta_step(step: MetaStepFunction, backend: str) -> MetaStepFunction:
    graphs: dict[str, Callable] = {}

    def run(meta: Params, sx, sy, qx, qy) -> MetaStep:
        on_gpu = sx.device.type == "cuda"
        key = "cuda" if on_gpu else "other"
        if key not in graphs:
            # CUDA graphs need the inductor backend; elsewhere the default mode.
            mode = "reduce-overhead" if on_gpu and backend == "inductor" else None
            graphs[key] = torch.compile(step, backend=backend, mode=mode, dynamic=False)
        if on_gpu:
            torch.compiler.cudagraph_mark_step_begin()
        out = graphs[key]({k: v.detach() for k, v in meta.items()}, sx, sy, qx, qy)
        # A CUDA graph's outputs are overwritten by its next replay: hand out copies.
        return MetaStep({k: g.clone() for k, g in out.grads.items()}, out.loss.clone(), out.acc.clone())

    return run


def meta_gradient(
    solver: str,
    net: Conv4,
    meta: Params,
    sx,
    sy,
    qx,
    qy,
    *,
    ways: int,
    steps: int,
    lr: float,
    plan: BatchPlan,
    head_init: str = "zero",
) -> MetaStep:
    """The meta-gradient of a batch of prepared tasks (T, ...) for a meta-learning solver (a
    one-off call; a training loop keeps the function of meta_step_function)."""
    step = meta_step_function(solver, net, ways=ways, steps=steps, lr=lr, plan=plan, head_init=head_init)
    return step(meta, sx, sy, qx, qy)
