"""The lifelong engine: streams, importance measures at their edges, metrics on a hand-made
matrix, strength 0 equal to fine-tuning, replay's buffer, the run store round trip and resume."""

from __future__ import annotations

import json
import math
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch
from torch import nn

from core.__main__ import main
from core.data import streams
from core.errors import UserError
from core.lifelong import importance, metrics
from core.lifelong.config import DEFAULT_STRENGTH, METHOD_VERSIONS, REGULARISERS, LifelongConfig
from core.lifelong.files import IMPORTANCE_FILE, TASKS_FILE, describe, headline
from core.lifelong.methods import SI, Replay
from core.lifelong.run import run_lifelong, train_epochs
from core.lifelong.stored import load_run
from core.lifelong.trainer import LifelongTrainer
from core.resume import RESUME_FILE
from core.runs import RunStore, TrainingCancelled
from tests.data.conftest import REAL_DATA_DIR
from tests.lifelong import tiny_stream

ROOT = Path(__file__).resolve().parent.parent

TINY = dict(stream="permuted", tasks=3, hidden=16, layers=1, batch_size=50, importance_items=60)


def tiny(**kw) -> LifelongConfig:
    return LifelongConfig(**{**TINY, **kw})


def trained(config: LifelongConfig, stream=None):
    trainer = LifelongTrainer(config, stream=stream or tiny_stream(config.stream, config.tasks))
    results = list(trainer.epochs())
    trainer.records = [r.record for r in results if r.record is not None]
    return trainer, [r.metrics for r in results]


def untimed(rows):
    return [{k: v for k, v in r.items() if k != "seconds"} for r in rows]


# ---- streams ---------------------------------------------------------------------------------------


def test_stream_specs():
    rotated = streams.task_specs("rotated", 5)
    assert [s.angle for s in rotated] == [0, 20, 40, 60, 80]
    assert [s.name for s in rotated] == ["0°", "20°", "40°", "60°", "80°"]
    assert [s.angle for s in streams.task_specs("rotated", 3, angle_step=45)] == [0, 45, 90]
    split = streams.task_specs("split", 5)
    assert [s.classes for s in split] == [(0, 1), (2, 3), (4, 5), (6, 7), (8, 9)]
    permuted = streams.task_specs("permuted", 10)
    assert permuted[0].permutation_seed is None and len({s.permutation_seed for s in permuted}) == 10
    with pytest.raises(UserError, match="1 to 5 tasks"):
        streams.task_specs("split", 6)
    with pytest.raises(UserError, match="unknown stream"):
        streams.task_specs("spiral", 2)


def test_rotation_turns_the_image_counter_clockwise():
    image = torch.zeros(1, 28, 28, dtype=torch.uint8)
    image[0, 4:6, 13:15] = 255  # a dot above the centre
    stream = tiny_stream("rotated", 1)
    task = streams.Task(streams.TaskSpec(0, "90°", tuple(range(10)), angle=90.0), stream)
    turned = task.transform(image).view(28, 28)
    row, col = divmod(int(turned.argmax()), 28)
    assert 12 <= row <= 15 and col <= 6  # now left of the centre
    identity = streams.Task(streams.TaskSpec(0, "0°", tuple(range(10))), stream)
    assert torch.equal(identity.transform(image), image.float().view(1, -1) / 255)


def test_permutations_are_fixed_per_task_and_seeded():
    a, b = tiny_stream("permuted", 3, seed=0), tiny_stream("permuted", 3, seed=0)
    x = torch.arange(3)
    for ta, tb in zip(a.tasks, b.tasks):
        assert torch.equal(ta.batch("train", x)[0], tb.batch("train", x)[0])
    first, second, third = (t.batch("train", x)[0] for t in a.tasks)
    assert torch.equal(first, a.train_images[:3].float().view(3, -1) / 255)  # task 1: the identity
    assert not torch.equal(second, third)
    assert not torch.equal(streams.permutation(0, 1), streams.permutation(1, 1))
    assert sorted(streams.permutation(0, 4).tolist()) == list(range(784))


def test_split_tasks_hold_their_digits_and_train_never_meets_test():
    stream = tiny_stream("split", 5, n_train=100, n_test=50)
    for spec, task in zip(streams.task_specs("split", 5), stream.tasks):
        _, y_train = task.batch("train", torch.arange(task.size("train")))
        _, y_test = task.batch("test", torch.arange(task.size("test")))
        assert set(y_train.tolist()) == set(spec.classes) == set(y_test.tolist())
    # train items come from the train images, test items from the test images
    task = stream.tasks[0]
    x, _ = task.batch("train", torch.arange(task.size("train")))
    assert torch.equal(x, stream.train_images[task.train_index].float().view(len(x), -1) / 255)


# ---- importance at its edges -------------------------------------------------------------------------


def _linear(inputs=3, outputs=4, seed=0) -> nn.Linear:
    torch.manual_seed(seed)
    return nn.Linear(inputs, outputs)


def test_fisher_of_a_linear_softmax_model_equals_the_analytic_value():
    net = _linear()
    x = torch.randn(7, 3, generator=torch.Generator().manual_seed(1))
    y = torch.tensor([0, 1, 2, 3, 0, 1, 2])
    p = torch.softmax(net(x), -1).detach()
    # d log p_c / dW[k, i] = (1[c = k] - p_k) x_i
    expected = torch.zeros(4, 3)
    empirical = torch.zeros(4, 3)
    for n in range(7):
        for c in range(4):
            g = (torch.eye(4)[c] - p[n]).unsqueeze(1) * x[n].unsqueeze(0)
            expected += p[n, c] * g.pow(2) / 7
        g = (torch.eye(4)[y[n]] - p[n]).unsqueeze(1) * x[n].unsqueeze(0)
        empirical += g.pow(2) / 7
    assert torch.allclose(importance.fisher_diagonal(net, x, kind="expected")["weight"], expected, atol=1e-6)
    assert torch.allclose(importance.fisher_diagonal(net, x, y, kind="empirical")["weight"], empirical, atol=1e-6)
    sampled = importance.fisher_diagonal(net, x, kind="sampled", generator=torch.Generator().manual_seed(0))
    assert sampled["weight"].shape == (4, 3) and bool((sampled["weight"] >= 0).all())


def test_mas_importance_of_a_linear_model_equals_the_analytic_value():
    net = _linear(bias=None) if False else _linear()
    x = torch.randn(5, 3, generator=torch.Generator().manual_seed(2))
    out = net(x).detach()
    # d ||W x + b||^2 / dW = 2 (W x + b) x^T, / db = 2 (W x + b)
    want_w = (2 * out.unsqueeze(2) * x.unsqueeze(1)).abs().mean(0)
    want_b = (2 * out).abs().mean(0)
    got = importance.mas_importance(net, x)
    assert torch.allclose(got["weight"], want_w, atol=1e-5) and torch.allclose(got["bias"], want_b, atol=1e-5)


def test_scp_importance_of_a_linear_model_equals_the_sliced_formula():
    net = _linear()
    x = torch.randn(6, 3, generator=torch.Generator().manual_seed(3))
    got = importance.scp_importance(net, x, slices=5, generator=torch.Generator().manual_seed(9), batch=6)
    xi = importance.unit_slices(5, 4, torch.Generator().manual_seed(9))
    # d xi . mean(W x + b) / dW[k, i] = xi_k mean(x)_i
    want = (xi.unsqueeze(2) * x.mean(0).view(1, 1, 3)).pow(2).mean(0)
    assert torch.allclose(got["weight"], want, atol=1e-6)
    assert torch.allclose(got["bias"], xi.pow(2).mean(0), atol=1e-6)


def test_si_accumulates_minus_gradient_times_step():
    config = tiny(method="si", tasks=1)
    trainer = LifelongTrainer(config, stream=tiny_stream("permuted", 1))
    si: SI = trainer.method
    si.begin_task(0)
    expected = {k: torch.zeros_like(v) for k, v in trainer.net.named_parameters()}
    for _ in range(3):
        before = {k: v.detach().clone() for k, v in trainer.net.named_parameters()}
        trainer._step(0, torch.stack([torch.zeros(20, dtype=torch.long), torch.arange(20)], 1))
        for k, p in trainer.net.named_parameters():
            expected[k] -= si._task_grad[k] * (p.detach() - before[k])
    for k in expected:
        assert torch.allclose(si.omega[k], expected[k], atol=1e-9)
    assert all(bool((v >= 0).all()) for v in si.importance(0, torch.Generator()).values())


# ---- the methods against fine-tuning -----------------------------------------------------------------


@pytest.mark.parametrize("optimizer", ["adam", "sgd"])
@pytest.mark.parametrize("method", REGULARISERS)
def test_strength_zero_is_fine_tuning_exactly(method, optimizer):
    opt = dict(optimizer=optimizer, lr=0.05 if optimizer == "sgd" else 0.001)
    reference, rows = trained(tiny(method="finetune", tasks=2, **opt))
    other, other_rows = trained(tiny(method=method, tasks=2, strength=0.0, **opt))
    strip = lambda rs: [{k: v for k, v in r.items() if k not in ("seconds", "penalty")} for r in rs]
    assert strip(other_rows) == strip(rows)
    for (k, a), b in zip(reference.net.state_dict().items(), other.net.state_dict().values()):
        assert torch.equal(a, b), k


@pytest.mark.parametrize("method", ["ewc", "online_ewc", "mas", "si", "scp", "l2"])
def test_a_regulariser_keeps_the_first_task_closer_than_fine_tuning(method):
    reference, _ = trained(tiny(method="finetune", tasks=2))
    protected, rows = trained(tiny(method=method, tasks=2, strength=DEFAULT_STRENGTH[method] * 10))
    moved = lambda t: sum(layer["drift"] for layer in t.records[1].layers)  # while learning task 2
    assert moved(protected) < moved(reference)
    assert rows[-1]["penalty"] > 0


def test_with_sgd_the_penalty_is_an_exact_proximal_step():
    config = tiny(method="ewc", tasks=2, optimizer="sgd", lr=0.1, strength=1e6)
    trainer = LifelongTrainer(config, stream=tiny_stream("permuted", 2))
    list(trainer.epochs())  # two tasks: two Fisher terms
    method = trainer.method
    total, weighted = method._sums()
    theta = {k: v.detach().clone() for k, v in trainer.net.named_parameters()}
    method.proximal_step(0.1)
    rate = 0.1 * 1e6
    for k, p in trainer.net.named_parameters():  # argmin_x strength/2 sum_k F_k (x - a_k)^2 + (x - theta)^2 / (2 lr)
        want = (theta[k] + rate * weighted[k]) / (1 + rate * total[k])
        assert torch.allclose(p.detach(), want, rtol=1e-5, atol=1e-7)
    # however strong the penalty, a step stays finite and between theta and the anchors' weighted mean
    assert all(bool(torch.isfinite(p).all()) for p in trainer.net.parameters())


def test_replay_never_stores_or_trains_on_test_items(monkeypatch):
    config = tiny(method="replay", tasks=3, buffer_size=30)
    stream = tiny_stream("permuted", 3)
    trainer = LifelongTrainer(config, stream=stream)
    in_step, splits = [False], []
    for task in stream.tasks:
        original = task.batch
        monkeypatch.setattr(
            task,
            "batch",
            lambda split, pos, original=original: (in_step[0] and splits.append(split), original(split, pos))[1],
        )
    step = trainer._step

    def watched(t, pos):
        in_step[0] = True
        try:
            return step(t, pos)
        finally:
            in_step[0] = False

    monkeypatch.setattr(trainer, "_step", watched)
    list(trainer.epochs())
    assert len(splits) > 3 * 4 and set(splits) == {"train"}  # replay batches too, never a test item
    buffer: Replay = trainer.method
    assert sorted(buffer.buffer[:, 0].unique().tolist()) == [0, 1, 2]
    assert len(buffer.buffer) == 30 and int(buffer.buffer[:, 1].max()) < stream.tasks[0].size("train")


def test_joint_epochs_pass_over_every_task_seen_once(monkeypatch):
    config = tiny(method="joint", tasks=3)
    stream = tiny_stream("permuted", 3)
    trainer = LifelongTrainer(config, stream=stream)
    sizes = [t.size("train") for t in stream.tasks]
    order = trainer.method.epoch_order(2, trainer.generator)
    # the third task's epoch: every training item of tasks 1-3 exactly once, the tasks shuffled together
    assert sorted(map(tuple, order.tolist())) == [(j, i) for j in range(3) for i in range(sizes[j])]
    assert len(order[:50, 0].unique()) == 3
    parts = trainer.method.parts(2, order[:50], trainer.generator)
    assert sorted(t for t, _ in parts) == [0, 1, 2] and sum(len(p) for _, p in parts) == 50
    # steps grow with the tasks seen: 1, 2, 3 passes' worth, and the progress total says so
    batches = [-(-sum(sizes[: t + 1]) // config.batch_size) * config.epochs for t in range(3)]
    assert trainer.steps_per_task == batches and trainer.total_steps == sum(batches)
    seen = []
    step = trainer._step
    monkeypatch.setattr(trainer, "_step", lambda t, rows: (seen.append((t, rows[:, 0].tolist())), step(t, rows))[1])
    list(trainer.epochs())
    assert len(seen) == sum(batches)
    assert all(max(tasks) <= t for t, tasks in seen)  # never a task not seen yet
    # fine-tuning's epochs stay one pass over the current task alone
    plain = LifelongTrainer(tiny(method="finetune", tasks=3), stream=stream)
    assert plain.steps_per_task == [-(-n // config.batch_size) * config.epochs for n in sizes]


def test_only_a_changed_method_leaves_its_stored_runs(monkeypatch):
    joint, ewc = LifelongConfig(method="joint"), LifelongConfig(method="ewc")
    before = joint.run_id(), ewc.run_id()
    monkeypatch.setitem(METHOD_VERSIONS, "joint", METHOD_VERSIONS["joint"] + 1)
    assert joint.run_id() != before[0] and ewc.run_id() == before[1]


# ---- metrics -----------------------------------------------------------------------------------------


def test_metrics_on_a_hand_made_matrix():
    R = np.array([[0.9, 0.1, 0.2], [0.7, 0.8, 0.3], [0.6, 0.5, 0.95]])
    b = [0.1, 0.1, 0.1]
    s = metrics.scores(R, b)
    assert s.average_accuracy == pytest.approx((0.6 + 0.5 + 0.95) / 3)
    assert s.forgetting_per_task == pytest.approx((0.3, 0.3))
    assert s.forgetting == pytest.approx(0.3)
    assert s.bwt == pytest.approx(((0.6 - 0.9) + (0.5 - 0.8)) / 2)
    assert s.fwt == pytest.approx(((0.1 - 0.1) + (0.3 - 0.1)) / 2)
    first = metrics.scores(R[:1], b)  # after one task: nothing to forget yet
    assert first.forgetting is None and first.bwt is None and first.average_accuracy == pytest.approx(0.9)
    assert first.fwt == pytest.approx(0.0)
    with pytest.raises(ValueError):
        metrics.scores(np.zeros((3, 2)), b)


def test_run_matrix_reads_the_last_epoch_of_each_task():
    rows = [{"epoch": 0, "task": 0, "acc_1": 0.1, "acc_2": 0.2}]
    rows += [{"epoch": e, "task": (e - 1) // 2 + 1, "acc_1": e / 10, "acc_2": e / 20} for e in range(1, 5)]
    m = metrics.run_matrix(rows, tasks=2, epochs_per_task=2)
    assert m.R.tolist() == [[0.2, 0.1], [0.4, 0.2]] and m.baseline.tolist() == [0.1, 0.2]
    assert m.task_of_epoch.tolist() == [0, 1, 1, 2, 2]


# ---- config ------------------------------------------------------------------------------------------


def test_config_ids_and_defaults():
    assert LifelongConfig().tasks == 5 and LifelongConfig(stream="permuted").tasks == 10
    assert LifelongConfig(method="ewc").strength == DEFAULT_STRENGTH["ewc"]
    assert (
        LifelongConfig(method="ewc").run_id() == LifelongConfig(method="ewc", strength=DEFAULT_STRENGTH["ewc"]).run_id()
    )
    assert "strength" not in LifelongConfig(method="finetune").to_dict()
    assert "angle_step" not in LifelongConfig(stream="permuted").to_dict()
    assert "scenario" in LifelongConfig(stream="split").to_dict()
    for cfg in (LifelongConfig(), LifelongConfig(stream="split", scenario="class", method="replay")):
        assert LifelongConfig.from_dict(cfg.to_dict()) == cfg
    for bad, match in (
        (dict(strength=-2.0), "strength"),
        (dict(stream="split", tasks=6), "1 to 5"),
        (dict(method="magic"), "unknown method"),
        (dict(lr=math.inf), "finite"),
        (dict(hidden=0), "hidden"),
    ):
        with pytest.raises(UserError, match=match):
            LifelongConfig(**bad)
    with pytest.raises(UserError, match="unknown lifelong config keys"):
        LifelongConfig.from_dict({"method": "ewc", "alpha": 1})


# ---- the run store -----------------------------------------------------------------------------------


def test_run_round_trip(tmp_path):
    store = RunStore(tmp_path)
    config = tiny(method="ewc", tasks=3, epochs=2)
    outcome = run_lifelong(config, store, stream=tiny_stream("permuted", 3))
    assert outcome.trained and outcome.info.complete and outcome.info.epochs_done == 6
    run = load_run(store, config.run_id())
    assert run.matrix.R.shape == (3, 3) and run.matrix.scores().average_accuracy > 0.5
    assert [e["task"] for e in run.records] == [1, 2, 3]
    assert sorted(run.pictures) == [1, 2, 3] and run.pictures[1].shape == (28, 28)
    assert {layer["name"] for layer in run.records[0]["layers"]} == {"layers.0", "head"}
    assert not (outcome.info.path / RESUME_FILE).exists()
    assert "permuted MNIST" in describe(outcome.info).data and "EWC" in describe(outcome.info).method
    again = run_lifelong(config, store, stream=tiny_stream("permuted", 3))
    assert not again.trained


def test_damaged_task_records_are_reported(tmp_path):
    store = RunStore(tmp_path)
    config = tiny(method="mas", tasks=2)
    run_lifelong(config, store, stream=tiny_stream("permuted", 2))
    path = store.path(config.run_id()) / TASKS_FILE
    entries = json.loads(path.read_text())
    entries[0]["layers"][0]["drift"] = "NaN"
    path.write_text(json.dumps(entries))
    with pytest.raises(UserError, match="not a finite number"):
        load_run(store, config.run_id())
    path.write_text("{")
    with pytest.raises(UserError, match="not readable JSON"):
        load_run(store, config.run_id())
    (store.path(config.run_id()) / IMPORTANCE_FILE).write_bytes(b"junk")
    path.write_text("[]")
    with pytest.raises(UserError, match="safetensors"):
        load_run(store, config.run_id())


def test_a_stored_run_is_read_without_torch(tmp_path):
    """The page's Explore and Compare read runs through core.lifelong.stored; torch takes seconds
    to import, so a server's first Explore must not need it."""
    store = RunStore(tmp_path)
    config = tiny(method="ewc", tasks=2)
    run_lifelong(config, store, stream=tiny_stream("rotated", 2))
    expected = load_run(store, config.run_id())
    script = (
        "import json, sys; from core.runs import RunStore; from core.lifelong.stored import load_run; "
        f"run = load_run(RunStore({str(tmp_path)!r}), {config.run_id()!r}); "
        "pictures = {t: p.tolist() for t, p in run.pictures.items()}; "
        "print(json.dumps({'torch': 'torch' in sys.modules, 'pictures': pictures, 'R': run.matrix.R.tolist()}))"
    )
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, cwd=ROOT, check=True)
    read = json.loads(done.stdout)
    assert read["torch"] is False and sorted(read["pictures"]) == ["1", "2"]
    assert np.array_equal(np.array(read["pictures"]["2"], dtype=np.float32), expected.pictures[2])
    assert np.array_equal(np.array(read["R"]), expected.matrix.R)


def _cancel_after(steps: int):
    def on_step(step: int, total: int) -> None:
        if step > steps:
            raise TrainingCancelled

    return on_step


# steps before the cut, in the third epoch (task 2's second): an epoch is 4 steps (200 items in
# batches of 50), and joint's epochs of task 2 pass over tasks 1 and 2 (8 steps)
@pytest.mark.parametrize(("method", "cut_after"), [("si", 12), ("ewc", 12), ("replay", 12), ("joint", 16)])
def test_a_killed_run_keeps_its_finished_tasks_and_resumes_exactly(tmp_path, method, cut_after):
    config = tiny(method=method, tasks=3, epochs=2)
    whole = RunStore(tmp_path / "whole")
    run_lifelong(config, whole, stream=tiny_stream("permuted", 3))
    cut = RunStore(tmp_path / "cut")
    list(train_epochs(config, cut, stream=tiny_stream("permuted", 3), on_step=_cancel_after(cut_after)))
    info = cut.get(config.run_id())
    assert info.status == "cancelled" and info.epochs_done == 3
    assert [e["task"] for e in load_run(cut, config.run_id()).records] == [1]
    # the headline of an unfinished run: the tasks learned so far (task 1 only), not unlearned ones
    assert headline(cut, info) == load_run(cut, config.run_id()).matrix.scores().average_accuracy
    list(train_epochs(config, cut, stream=tiny_stream("permuted", 3), resume=True))
    assert cut.get(config.run_id()).complete
    assert untimed(cut.metrics(config.run_id())) == untimed(whole.metrics(config.run_id()))
    assert load_run(cut, config.run_id()).records == load_run(whole, config.run_id()).records


def test_a_foreign_resume_state_changes_nothing(tmp_path):
    store = RunStore(tmp_path)
    config = tiny(method="ewc", tasks=2)
    list(train_epochs(config, store, stream=tiny_stream("permuted", 2), on_step=_cancel_after(4)))
    other = tiny(method="ewc", tasks=2, hidden=8)
    trainer = LifelongTrainer(other, stream=tiny_stream("permuted", 2))
    from core.resume import read

    path = store.path(config.run_id()) / RESUME_FILE
    before = {k: v.clone() for k, v in trainer.net.state_dict().items()}
    with pytest.raises(UserError):
        trainer.restore(read(path), path)
    assert all(torch.equal(before[k], v) for k, v in trainer.net.state_dict().items())


def test_task_incremental_reads_only_the_tasks_digits():
    config = tiny(stream="split", scenario="task", method="finetune", tasks=2)
    images, labels = streams.bar_digits(4, 0)
    trainer = LifelongTrainer(config, stream=tiny_stream("split", 2))
    logits = trainer._logits(1, trainer.stream.tasks[1].transform(images))
    assert logits.shape == (4, 2)
    class_il = LifelongTrainer(
        tiny(stream="split", scenario="class", method="finetune", tasks=2), stream=tiny_stream("split", 2)
    )
    assert class_il._logits(1, class_il.stream.tasks[1].transform(images)).shape == (4, 10)


# ---- real MNIST, through the command line --------------------------------------------------------


MNIST_FILES = ["MNIST/raw/train-images-idx3-ubyte.gz", "MNIST/raw/t10k-images-idx3-ubyte.gz"]
HAS_MNIST = REAL_DATA_DIR is not None and all((Path(REAL_DATA_DIR) / f).is_file() for f in MNIST_FILES)


@pytest.mark.skipif(not HAS_MNIST, reason="real MNIST not in EXPLORER_DATA_DIR")
def test_the_command_line_learns_real_split_mnist(tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("EXPLORER_DATA_DIR", str(REAL_DATA_DIR))
    args = ["lifelong", "--stream", "split", "--tasks", "2", "--method", "si", "--hidden", "32", "--layers", "1"]
    args += ["--checkpoints", str(tmp_path), "--no-download"]
    assert main([*args, "--json"]) == 0
    out = json.loads(capsys.readouterr().out)
    assert out["status"] == "complete" and out["tasks"] == 2 and len(out["matrix"]) == 2
    assert out["matrix"][0][0] > 0.95 and out["average_accuracy"] > 0.9  # two digits per task: chance is 0.5
    assert main(args) == 0  # found, not retrained, and the table printed
    text = capsys.readouterr().out
    assert "found stored run" in text and "0/1" in text and "average accuracy" in text
    assert main(["runs", "list", "--checkpoints", str(tmp_path)]) == 0
    assert "split MNIST (task-incremental), 2 tasks" in capsys.readouterr().out


def test_the_synthetic_digits_need_no_mnist_and_name_another_run(tmp_path, monkeypatch):
    monkeypatch.setenv("EXPLORER_DATA_DIR", str(tmp_path / "no-data"))
    config = tiny(data="synthetic", tasks=2)
    assert config.run_id() != tiny(tasks=2).run_id() and "data" not in tiny(tasks=2).to_dict()
    outcome = run_lifelong(config, RunStore(tmp_path), download=False)
    assert outcome.info.complete and outcome.info.extra["data"]["name"] == streams.SYNTHETIC_NAME
    assert "not MNIST" in describe(outcome.info).data


def test_the_command_line_explains_bad_settings(tmp_path, capsys):
    assert main(["lifelong", "--stream", "split", "--tasks", "9", "--checkpoints", str(tmp_path)]) == 2
    assert "1 to 5" in capsys.readouterr().err
