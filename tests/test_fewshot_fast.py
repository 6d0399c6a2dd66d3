"""The compiled meta-step (batch mode "compiled") against the eager vmap it compiles.

On a CPU the graph torch.compile captures is checked with the "aot_eager" backend (the captured
graph, run op by op: what dynamo and AOTAutograd make of vmap, grad and the inner loop), and one
first-order case goes through inductor's generated code as well. A GPU adds CUDA graphs on top,
which bench/maml_speed.py checks against the eager step before it times anything.
"""

from __future__ import annotations

import pytest
import torch

from core.fewshot import solvers
from core.fewshot.config import FewShotConfig
from core.fewshot.solvers import BatchPlan, batch_plan, meta_step_function
from core.fewshot.trainer import FewShotTrainer
from tests.fewshot import tiny_omniglot
from tests.test_fewshot_solvers import WAYS, tasks, tiny

EAGER = BatchPlan(True)
COMPILED = BatchPlan(True, compiled=True)


def _max_relative(got: dict, expected: dict) -> float:
    return max(float((got[k] - expected[k]).abs().max() / expected[k].abs().max()) for k in expected)


# Each case compiles for about 20 s on one core: second order with either head, and the
# first-order recipe of the shipped FO-MAML.
@pytest.mark.parametrize("solver, head", [("maml", "zero"), ("maml", "learned"), ("fomaml", "proto")])
def test_the_captured_graph_gives_the_eager_meta_gradient(solver, head):
    net, params = tiny(head="learned" if head == "learned" else "zero")
    batch = tasks(4)
    kw = dict(ways=WAYS, steps=2, lr=0.4, head_init=head)
    eager = meta_step_function(solver, net, plan=EAGER, **kw)(params, *batch)
    step = meta_step_function(solver, net, plan=COMPILED, backend="aot_eager", **kw)
    for _ in range(2):  # the second call replays the compiled graph
        fast = step(params, *batch)
        assert set(fast.grads) == set(params)
        assert _max_relative(fast.grads, eager.grads) < 1e-12
        torch.testing.assert_close(fast.loss, eager.loss, rtol=1e-12, atol=0)
        torch.testing.assert_close(fast.acc, eager.acc)
    # other tasks through the same compiled step give their own gradient, not the first batch's
    other = tasks(4, seed=7)
    moved = step(params, *other)
    expected = meta_step_function(solver, net, plan=EAGER, **kw)(params, *other)
    assert _max_relative(moved.grads, expected.grads) < 1e-12
    assert _max_relative(moved.grads, eager.grads) > 1e-3


def test_inductor_code_gives_the_eager_first_order_meta_gradient():
    net, params = tiny(head="zero")
    batch = tasks(2, shots=1, queries=1)
    kw = dict(ways=WAYS, steps=1, lr=0.4)
    eager = meta_step_function("fomaml", net, plan=EAGER, **kw)(params, *batch)
    fast = meta_step_function("fomaml", net, plan=COMPILED, backend="inductor", **kw)(params, *batch)
    # float64: only summation order differs, so agreement is to rounding
    assert _max_relative(fast.grads, eager.grads) < 1e-10


def test_a_compiled_training_run_follows_the_eager_one(monkeypatch):
    monkeypatch.setattr(solvers, "COMPILE_BACKEND", "aot_eager")
    config = FewShotConfig(
        solver="fomaml",
        head_init="proto",
        data="synthetic",
        meta_batch=3,
        epochs=2,
        steps_per_epoch=2,
        val_characters=6,
        val_episodes=4,
    )
    data = tiny_omniglot()
    runs = {}
    for mode in ("vmap", "compiled"):
        trainer = FewShotTrainer(config, device="cpu", data=data, batch_mode=mode)
        runs[mode] = [r.metrics for r in trainer.epochs()], trainer.weights()
    assert "compiled" in batch_plan(torch.device("cpu"), "compiled").describe()
    (eager_rows, eager_w), (fast_rows, fast_w) = runs["vmap"], runs["compiled"]
    for a, b in zip(eager_rows, fast_rows):
        assert a["val_acc"] == pytest.approx(b["val_acc"], abs=1e-6)
        if "train_loss" in a:
            assert a["train_loss"] == pytest.approx(b["train_loss"], rel=1e-5)
    for k in eager_w:
        torch.testing.assert_close(fast_w[k], eager_w[k], rtol=1e-4, atol=1e-6)
