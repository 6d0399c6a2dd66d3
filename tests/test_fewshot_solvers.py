"""The learner and the solvers' mathematics, on a tiny conv4 in float64."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F

from core.errors import UserError
from core.fewshot.config import FewShotConfig
from core.fewshot.evaluation import Learner, adapt_and_predict
from core.fewshot.solvers import (
    BatchPlan,
    adapt,
    adapt_functional,
    batch_plan,
    finetune_head,
    forward,
    maml_task_loss,
    meta_gradient,
    meta_gradient_loop,
    protonet_logits,
    query_logits,
    task_loss,
    task_start,
    with_head,
    zero_head,
)
from core.models.conv4 import HEAD_KEYS, Conv4, prepare

WAYS = 3


def tiny(head: str = "learned", channels: int = 4, dtype=torch.float64, seed: int = 0):
    torch.manual_seed(seed)
    net = Conv4(WAYS, channels=channels).to(dtype)
    params = {k: v.detach() for k, v in net.named_parameters() if head == "learned" or k not in HEAD_KEYS}
    return net, params


def tasks(count: int, shots: int = 2, queries: int = 2, dtype=torch.float64, seed: int = 1):
    g = torch.Generator().manual_seed(seed)
    sx = torch.rand(count, WAYS * shots, 1, 28, 28, generator=g, dtype=dtype)
    qx = torch.rand(count, WAYS * queries, 1, 28, 28, generator=g, dtype=dtype)
    sy = torch.arange(WAYS).repeat_interleave(shots).expand(count, -1)
    qy = torch.arange(WAYS).repeat_interleave(queries).expand(count, -1)
    return sx, sy, qx, qy


def hand_sgd_step(net: Conv4, params: dict, sx, sy, lr: float) -> dict:
    """One SGD step the ordinary way: load the weights into the module, backward, subtract."""
    module = Conv4(WAYS, channels=net.blocks[0].conv.out_channels).to(torch.float64)
    module.load_state_dict(params, strict=False)
    loss = F.cross_entropy(module(sx), sy)
    loss.backward()
    named = dict(module.named_parameters())
    return {k: (named[k] - lr * named[k].grad).detach() for k in params}


@pytest.mark.parametrize("how", ["autograd", "functional", "functional-first-order"])
def test_inner_steps_are_hand_sgd_steps(how):
    net, params = tiny()
    sx, sy, _, _ = (t[0] for t in tasks(1))
    expected = hand_sgd_step(net, hand_sgd_step(net, params, sx, sy, 0.3), sx, sy, 0.3)
    if how == "autograd":
        got = adapt(net, params, sx, sy, 2, 0.3)
    else:
        got = adapt_functional(net, params, sx, sy, 2, 0.3, first_order=how.endswith("first-order"))
    for k in params:
        torch.testing.assert_close(got[k].detach(), expected[k], rtol=1e-10, atol=1e-12)
        assert not torch.equal(got[k], params[k])


def test_first_step_from_a_zero_head_is_the_closed_form():
    """From a zero head the body's gradient is zero and the head becomes lr/n * sum (y - 1/N) f."""
    net, body = tiny(head="zero")
    sx, sy, _, _ = (t[0] for t in tasks(1))
    lr, n = 0.4, len(sy)
    feats = forward(net, with_head(body, WAYS), sx, embed=True)
    target = F.one_hot(sy, WAYS).double() - 1.0 / WAYS
    expected_w = lr / n * target.T @ feats
    adapted = adapt(net, with_head(body, WAYS), sx, sy, 1, lr)
    torch.testing.assert_close(adapted["head.weight"].detach(), expected_w, rtol=1e-10, atol=1e-12)
    torch.testing.assert_close(adapted["head.bias"].detach(), torch.zeros(WAYS, dtype=torch.float64))
    for k in body:
        assert torch.equal(adapted[k].detach(), body[k])
    head = finetune_head(zero_head(WAYS, feats), feats, sy, 1, lr, functional=False)
    torch.testing.assert_close(head["head.weight"], expected_w, rtol=1e-10, atol=1e-12)


def _dot(a: dict, b: dict) -> float:
    return float(sum((a[k] * b[k]).sum() for k in a))


def test_second_order_meta_gradient_matches_finite_differences_first_order_does_not():
    net, params = tiny(head="learned")
    sx, sy, qx, qy = (t[0] for t in tasks(1))

    def meta_loss(p):
        return float(
            maml_task_loss(net, p, sx, sy, qx, qy, ways=WAYS, steps=2, lr=0.5, first_order=False, functional=False)[
                0
            ].detach()
        )

    g = torch.Generator().manual_seed(7)
    direction = {k: torch.randn(v.shape, generator=g, dtype=v.dtype) for k, v in params.items()}
    # ReLU and max-pool kinks lie within 1e-5 of these weights after two inner steps, so the
    # difference is taken closer in (float64 keeps 1e-7 accurate to about 1e-8 here).
    eps = 1e-7
    plus = meta_loss({k: v + eps * direction[k] for k, v in params.items()})
    minus = meta_loss({k: v - eps * direction[k] for k, v in params.items()})
    numeric = (plus - minus) / (2 * eps)
    second = meta_gradient(
        "maml", net, params, sx[None], sy[None], qx[None], qy[None], ways=WAYS, steps=2, lr=0.5, plan=BatchPlan(False)
    ).grads
    first = meta_gradient(
        "fomaml", net, params, sx[None], sy[None], qx[None], qy[None], ways=WAYS, steps=2, lr=0.5, plan=BatchPlan(False)
    ).grads
    assert abs(_dot(second, direction) - numeric) < 1e-5 * max(1.0, abs(numeric))
    assert abs(_dot(first, direction) - numeric) > 1e-2 * abs(numeric)
    assert any(not torch.allclose(second[k], first[k], rtol=1e-3) for k in params)


def test_a_prototype_start_gives_protonets_meta_gradient_at_inner_lr_0():
    # At lr 0 the inner steps change nothing, so first-order MAML from the prototype head is
    # ProtoNet: the support features get their gradient through the start. From a zero head
    # the logits are 0 whatever the body, so there is no gradient at all.
    net, params = tiny(head="zero")
    batch = tasks(3)
    kw = dict(ways=WAYS, steps=1, lr=0.0, plan=BatchPlan(False))
    proto = meta_gradient("fomaml", net, params, *batch, head_init="proto", **kw)
    protonet = meta_gradient("protonet", net, params, *batch, **kw)
    zero = meta_gradient("fomaml", net, params, *batch, head_init="zero", **kw)
    for k in params:
        torch.testing.assert_close(proto.grads[k], protonet.grads[k], rtol=1e-9, atol=1e-12)
        assert float(zero.grads[k].abs().max()) == 0.0
    torch.testing.assert_close(proto.loss, protonet.loss)
    assert any(float(proto.grads[k].abs().max()) > 0 for k in params)


def test_a_prototype_start_is_differentiable_in_the_support_features():
    net, params = tiny(head="zero")
    sx, sy, qx, _ = (t[0] for t in tasks(1))
    start = task_start(net, params, sx, sy, WAYS, "proto")
    feats = forward(net, params, sx, embed=True)
    means = torch.stack([feats[sy == k].mean(0) for k in range(WAYS)])
    torch.testing.assert_close(start["head.weight"], 2 * means)
    torch.testing.assert_close(start["head.bias"], -(means**2).sum(1))
    # the queries' softmax is ProtoNet's (the logits differ by each query's own squared norm)
    torch.testing.assert_close(
        query_logits(net, start, sx, qx).softmax(1), protonet_logits(net, params, sx, sy, qx, WAYS).softmax(1)
    )
    with pytest.raises(UserError, match="never adapts a head by MAML"):
        FewShotConfig(solver="protonet", head_init="proto")


@pytest.mark.parametrize(
    "solver, head",
    [
        ("maml", "zero"),
        ("maml", "learned"),
        ("maml", "proto"),
        ("fomaml", "zero"),
        ("fomaml", "learned"),
        ("fomaml", "proto"),
        ("protonet", "zero"),
    ],
)
def test_vectorised_meta_gradient_equals_the_loop(solver, head):
    net, params = tiny(head="learned" if head == "learned" else "zero")
    batch = tasks(5)
    kw = dict(ways=WAYS, steps=2, lr=0.4, head_init=head)
    loop = meta_gradient(solver, net, params, *batch, plan=BatchPlan(False), **kw)
    for chunk in (None, 2):
        vec = meta_gradient(solver, net, params, *batch, plan=BatchPlan(True, chunk), **kw)
        assert set(vec.grads) == set(params)
        for k in params:
            torch.testing.assert_close(vec.grads[k], loop.grads[k], rtol=1e-9, atol=1e-12)
        torch.testing.assert_close(vec.loss, loop.loss)
        torch.testing.assert_close(vec.acc, loop.acc)
    assert any(float(loop.grads[k].abs().max()) > 0 for k in params)


def test_vectorised_equals_the_loop_in_float32_at_full_width():
    net, params = tiny(head="zero", channels=64, dtype=torch.float32)
    batch = tasks(4, dtype=torch.float32)
    loop = meta_gradient("maml", net, params, *batch, ways=WAYS, steps=1, lr=0.4, plan=BatchPlan(False))
    vec = meta_gradient("maml", net, params, *batch, ways=WAYS, steps=1, lr=0.4, plan=BatchPlan(True, 2))
    for k in params:
        scale = float(loop.grads[k].abs().max())
        assert float((vec.grads[k] - loop.grads[k]).abs().max()) <= 1e-4 * scale


def test_the_loop_frees_each_task_and_sums_to_the_batch_mean():
    net, params = tiny(head="zero")
    batch = tasks(3)
    loss_fn = task_loss("maml", net, ways=WAYS, steps=1, lr=0.4, functional=False)
    whole = meta_gradient_loop(loss_fn, params, *batch)
    parts = [meta_gradient_loop(loss_fn, params, *(t[i : i + 1] for t in batch)) for i in range(3)]
    for k in params:
        torch.testing.assert_close(whole.grads[k], sum(p.grads[k] for p in parts) / 3)


def _learner(solver: str) -> Learner:
    torch.manual_seed(3)
    net = Conv4(5)
    params = {k: v.detach() for k, v in net.named_parameters() if k not in HEAD_KEYS}
    return Learner(solver, net, params, steps=3, lr=0.4, train_steps=1, train_lr=0.4, device=torch.device("cpu"))


@pytest.mark.parametrize("solver", ["maml", "transfer", "protonet"])
def test_a_query_gets_the_same_probabilities_alone_or_among_others(solver):
    g = torch.Generator().manual_seed(0)
    support = torch.randint(0, 256, (5, 1, 28, 28), generator=g, dtype=torch.uint8)
    queries = torch.randint(0, 256, (6, 1, 28, 28), generator=g, dtype=torch.uint8)
    labels = torch.arange(5)
    learner = _learner(solver)
    among = adapt_and_predict(learner, support, labels, queries).query_probs
    others = torch.randint(0, 256, (6, 1, 28, 28), generator=g, dtype=torch.uint8)
    others[2] = queries[2]
    among_others = adapt_and_predict(learner, support, labels, others).query_probs
    alone = adapt_and_predict(learner, support, labels, queries[2:3]).query_probs
    torch.testing.assert_close(alone[:, 0], among[:, 2], rtol=1e-5, atol=1e-6)
    torch.testing.assert_close(among_others[:, 2], among[:, 2], rtol=1e-5, atol=1e-6)
    # The check has teeth: normalising with the queries' own batch statistics (transductive
    # batch norm) would change a query's logits with its company.
    x = prepare(torch.cat([support, queries]))
    x_other = prepare(torch.cat([support, others]))
    body = with_head(learner.params, 5)
    transductive = forward(learner.net, body, x[5:], embed=True)[2]
    transductive_other = forward(learner.net, body, x_other[5:], embed=True)[2]
    assert not torch.allclose(transductive, transductive_other, atol=1e-3)


def test_adapt_and_predict_reports_every_step():
    learner = _learner("maml")
    g = torch.Generator().manual_seed(1)
    support = torch.rand(10, 1, 28, 28, generator=g)
    labels = torch.arange(5).repeat(2)
    result = adapt_and_predict(learner, support, labels, support[:3], steps=4, lr=0.1)
    assert result.query_probs.shape == (5, 3, 5) and len(result.support_loss) == len(result.support_acc) == 5
    torch.testing.assert_close(result.query_probs[0], torch.full((3, 5), 0.2))  # a zero head: uniform
    assert all(b < a for a, b in zip(result.support_loss, result.support_loss[1:]))
    torch.testing.assert_close(result.query_probs.sum(2), torch.ones(5, 3))
    assert result.predictions.shape == (3,)
    as_uint8 = adapt_and_predict(learner, (support * 255).round().to(torch.uint8), labels, support[:3], steps=1, lr=0.1)
    assert as_uint8.query_probs.shape == (2, 3, 5)
    transfer = adapt_and_predict(_learner("transfer"), support, labels, support[:3], steps=20, lr=0.5)
    assert transfer.support_loss[-1] < transfer.support_loss[0] and transfer.support_acc[-1] == 1.0
    proto = adapt_and_predict(_learner("protonet"), support, labels, support[:3], steps=5)
    assert proto.query_probs.shape == (1, 3, 5)
    with pytest.raises(UserError, match="0..ways-1"):
        adapt_and_predict(learner, support[:4], torch.tensor([0, 1, 3, 3]), support[:1])


def test_a_learned_head_only_fits_its_own_ways():
    _, params = tiny(head="learned")
    with pytest.raises(UserError, match="learned 3-way head"):
        with_head(params, 5)


def test_batch_plan_rule():
    assert batch_plan(torch.device("cuda"), "auto") == BatchPlan(True, None)
    cpu = batch_plan(torch.device("cpu"), "auto")
    assert cpu.vectorised and cpu.chunk == 8
    assert batch_plan(torch.device("cpu"), "loop") == BatchPlan(False)
    assert "loop" in BatchPlan(False).describe() and "8 at a time" in cpu.describe()
    with pytest.raises(UserError, match="meta-batch mode"):
        batch_plan(torch.device("cpu"), "fast")
