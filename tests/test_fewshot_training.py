"""The few-shot trainer, its runs in the store, evaluation and the command line, on tiny
synthetic stroke alphabets."""

from __future__ import annotations

import json
from dataclasses import replace

import pytest
import torch

from core.__main__ import main
from core.data import fewshot
from core.errors import UserError
from core.fewshot.config import FewShotConfig
from core.fewshot.episodes import ClassPool
from core.fewshot.evaluation import adapt_and_predict, confidence_interval, evaluate
from core.fewshot.files import describe
from core.fewshot.run import (
    EVALUATIONS_FILE,
    WEIGHTS_FILE,
    evaluate_run,
    evaluations,
    load_learner,
    run_fewshot,
    train_epochs,
)
from core.fewshot.solvers import BatchPlan
from core.fewshot.trainer import FewShotTrainer, TrainingCancelled
from core.runs import RunStore
from tests.fewshot import tiny_omniglot

TINY = dict(data="synthetic", epochs=2, steps_per_epoch=2, meta_batch=2, val_characters=6, val_episodes=10)


@pytest.fixture(scope="module")
def data():
    return tiny_omniglot()


def _metrics(config, data, **kw):
    trainer = FewShotTrainer(config, device="cpu", data=data, **kw)
    return [r.metrics for r in trainer.epochs()]


def _comparable(rows):
    return [{k: v for k, v in r.items() if k not in ("seconds", "steps_per_second")} for r in rows]


@pytest.mark.parametrize("solver", ["maml", "fomaml", "transfer", "protonet"])
def test_every_solver_yields_the_untrained_epoch_then_one_per_epoch(solver, data):
    config = FewShotConfig(solver=solver, batch_size=16, **TINY)
    rows = _metrics(config, data)
    assert [r["epoch"] for r in rows] == [0, 1, 2]
    for row in rows:
        assert 0.0 <= row["val_acc"] <= 1.0 and row["val_ci95"] >= 0
    for key in ("train_loss", "train_acc", "steps_per_second", "seconds"):
        assert rows[-1][key] is not None, key


def test_same_seed_same_numbers_and_the_batch_mode_does_not_matter(data):
    config = FewShotConfig(**{**TINY, "epochs": 1})
    a = _metrics(config, data, batch_mode="loop")
    b = _metrics(config, data, batch_mode="loop")
    assert _comparable(a) == _comparable(b)
    vectorised = _metrics(config, data, batch_mode="vmap")
    for ra, rv in zip(a, vectorised):
        assert ra["val_acc"] == pytest.approx(rv["val_acc"], abs=0.03)
        if "train_loss" in ra:
            assert ra["train_loss"] == pytest.approx(rv["train_loss"], rel=1e-3)
    other = _metrics(FewShotConfig(**{**TINY, "epochs": 1, "seed": 1}), data, batch_mode="loop")
    assert _comparable(other) != _comparable(a)


def test_maml_learns_well_above_chance(data):
    config = FewShotConfig(
        data="synthetic", epochs=1, steps_per_epoch=15, meta_batch=4, val_characters=6, val_episodes=30
    )
    rows = _metrics(config, data)
    assert rows[-1]["val_acc"] > 0.6 and rows[-1]["val_acc"] > rows[0]["val_acc"] + 0.2  # 5 ways: chance is 0.2


def test_run_store_round_trip_and_the_loaded_learner_predicts_alike(tmp_path, data):
    store = RunStore(tmp_path)
    config = FewShotConfig(**TINY)
    outcome = run_fewshot(config, store, device="cpu", data=data)
    info = outcome.info
    assert outcome.trained and info.complete and info.kind == "fewshot" and info.run_id == config.run_id()
    assert [r["epoch"] for r in outcome.metrics] == [0, 1, 2]
    assert info.extra["data"]["synthetic"] and info.extra["eval_steps"] == 1 and info.extra["eval_lr"] == 0.4
    weights = store.read_tensors(info.run_id, WEIGHTS_FILE)
    assert "head.weight" not in weights and "blocks.0.conv.weight" in weights  # a zero head is not stored
    again = run_fewshot(config, store, device="cpu", data=data)
    assert not again.trained and again.metrics == outcome.metrics

    learner = load_learner(info.run_id, store)
    assert (learner.solver, learner.steps, learner.lr, learner.train_steps, learner.head_ways) == (
        "maml",
        1,
        0.4,
        1,
        None,
    )
    episode_pool = ClassPool(data.evaluation)
    sx = data.evaluation.images[:5, 0].unsqueeze(1)
    qx = data.evaluation.images[:5, 1].unsqueeze(1)
    probs = adapt_and_predict(learner, sx, torch.arange(5), qx, steps=2).query_probs
    trainer = FewShotTrainer(config, device="cpu", data=data)
    for _ in trainer.epochs():
        pass
    torch.testing.assert_close(
        adapt_and_predict(trainer.learner(), sx, torch.arange(5), qx, steps=2).query_probs, probs
    )
    twenty = evaluate(learner, episode_pool, 12, 1, 2, 5, plan=BatchPlan(False))  # a zero head serves any ways
    assert twenty.ways == 12 and 0 <= twenty.accuracy <= 1


def test_a_learned_head_is_stored_and_limits_the_ways(tmp_path, data):
    store = RunStore(tmp_path)
    config = FewShotConfig(head_init="learned", **TINY)
    run_id = run_fewshot(config, store, device="cpu", data=data).info.run_id
    learner = load_learner(run_id, store)
    assert learner.head_ways == 5 and learner.params["head.weight"].shape == (5, 64)
    with pytest.raises(UserError, match="learned 5-way head"):
        evaluate(learner, ClassPool(data.evaluation), 10, 1, 1, 2, plan=BatchPlan(False))


def test_a_prototype_head_run_stores_the_body_only_and_adapts_from_prototypes(tmp_path, data):
    store = RunStore(tmp_path)
    config = FewShotConfig(solver="fomaml", head_init="proto", **TINY)
    run_id = run_fewshot(config, store, device="cpu", data=data).info.run_id
    assert "head.weight" not in store.read_tensors(run_id, WEIGHTS_FILE)
    learner = load_learner(run_id, store)
    assert learner.head_init == "proto" and learner.head_ways is None
    assert describe(store.get(run_id)).method == "FO-MAML, prototype head"
    sx = data.evaluation.images[:5, 0].unsqueeze(1)
    qx = data.evaluation.images[:5, 1].unsqueeze(1)
    before = adapt_and_predict(learner, sx, torch.arange(5), qx, steps=0)
    # before any step the answer is ProtoNet's on the same features: the support set classified
    # by its own class means is right, where a zero head would give 1/5 everywhere
    assert before.support_acc[0] == 1.0 and float(before.query_probs[0].std()) > 0.01
    zero = adapt_and_predict(replace(learner, head_init="zero"), sx, torch.arange(5), qx, steps=0)
    torch.testing.assert_close(zero.query_probs[0], torch.full((5, 5), 0.2))
    assert evaluate(learner, ClassPool(data.evaluation), 12, 1, 2, 5, plan=BatchPlan(False)).ways == 12


def test_transfer_keeps_only_the_body(tmp_path, data):
    store = RunStore(tmp_path)
    config = FewShotConfig(solver="transfer", batch_size=16, **TINY)
    run_id = run_fewshot(config, store, device="cpu", data=data).info.run_id
    learner = load_learner(run_id, store)
    assert "head.weight" not in learner.params and learner.steps == 100 and learner.train_steps == 0
    assert "meta_batch" not in store.get(run_id).config and "batch_size" in store.get(run_id).config


def test_cancelling_keeps_finished_epochs(tmp_path, data):
    store = RunStore(tmp_path)
    config = FewShotConfig(**TINY)

    def on_step(step, total):
        if step == 3:
            raise TrainingCancelled

    epochs = [r.epoch for r in train_epochs(config, store, device="cpu", data=data, on_step=on_step)]
    info = store.get(config.run_id())
    assert epochs == [0, 1] and info.status == "cancelled" and info.epochs_done == 1
    assert store.find(config.run_id()) is None  # unfinished: trained again next time


def test_evaluations_are_recorded_and_replaced_per_protocol(tmp_path, data, monkeypatch):
    monkeypatch.setattr(fewshot, "synthetic_omniglot", lambda: data)
    store = RunStore(tmp_path)
    run_id = run_fewshot(FewShotConfig(**TINY), store, device="cpu", data=data).info.run_id
    first = evaluate_run(run_id, 5, 1, 1, 30, store=store, device="cpu")
    repeat = evaluate_run(run_id, 5, 1, 1, 30, store=store, device="cpu")
    evaluate_run(run_id, 5, 2, 1, 10, store=store, device="cpu")
    assert first.accuracy == repeat.accuracy  # the same episodes
    rows = evaluations(run_id, store)
    assert [(r["shots"], r["episodes"]) for r in rows] == [(1, 30), (2, 10)]
    assert rows[0]["characters"].startswith("synthetic") and (tmp_path / run_id / EVALUATIONS_FILE).is_file()


def test_confidence_interval_is_1_96_standard_errors():
    accs = torch.tensor([1.0, 0.0, 1.0, 1.0])
    assert confidence_interval(accs) == pytest.approx(1.96 * 0.5 / 2)
    assert confidence_interval(torch.tensor([0.8])) == 0.0


def test_config_hash_ignores_what_the_solver_does_not_read():
    base = FewShotConfig(solver="transfer")
    assert FewShotConfig(solver="transfer", meta_batch=7, inner_lr=0.1).run_id() == base.run_id()
    assert FewShotConfig(solver="maml", batch_size=7).run_id() == FewShotConfig().run_id()
    assert FewShotConfig(inner_lr=1).run_id() == FewShotConfig(inner_lr=1.0).run_id()
    assert FewShotConfig().run_id() != FewShotConfig(solver="fomaml").run_id()
    assert FewShotConfig.from_dict(FewShotConfig(task_aug=0.5).to_dict()) == FewShotConfig(task_aug=0.5)
    assert FewShotConfig().eval_steps == 1 and FewShotConfig(test_steps=3).eval_steps == 3
    for bad, message in [
        (dict(solver="reptile"), "unknown solver"),
        (dict(ways=1), "ways must be at least 2"),
        (dict(task_aug=1.5), "probability"),
        (dict(solver="protonet", head_init="learned"), "never adapts a head by MAML"),
        (dict(solver="transfer", head_init="proto"), "never adapts a head by MAML"),
        (dict(inner_steps=0), "at least one inner step"),
        (dict(data="mnist"), "unknown data"),
    ]:
        with pytest.raises(UserError, match=message):
            FewShotConfig(**bad)


def test_validation_needs_enough_held_out_characters(data):
    with pytest.raises(UserError, match="validation: 5-way episodes need 5 classes"):
        FewShotTrainer(FewShotConfig(**{**TINY, "val_characters": 3}), device="cpu", data=data)


def _cli(root, *extra):
    return [
        "fewshot",
        "--data",
        "synthetic",
        "--epochs",
        "1",
        "--steps-per-epoch",
        "2",
        "--meta-batch",
        "2",
        "--val-characters",
        "6",
        "--val-episodes",
        "5",
        "--checkpoints",
        str(root),
        "--device",
        "cpu",
        *extra,
    ]


def test_command_line_trains_finds_and_evaluates(tmp_path, data, monkeypatch, capsys):
    monkeypatch.setattr(fewshot, "synthetic_omniglot", lambda: data)
    assert main(_cli(tmp_path, "--json")) == 0
    first = json.loads(capsys.readouterr().out.strip())
    assert first["trained_now"] and first["status"] == "complete" and first["synthetic"]
    assert first["run_id"].startswith("fewshot-") and 0 <= first["val_acc"] <= 1
    assert main(_cli(tmp_path)) == 0
    out = capsys.readouterr().out
    assert "found stored run" in out and "synthetic stroke alphabets, not Omniglot" in out and "val_acc" in out

    assert (
        main(
            [
                "fewshot-eval",
                first["run_id"],
                "--ways",
                "5",
                "--shots",
                "1",
                "--episodes",
                "20",
                "--checkpoints",
                str(tmp_path),
                "--device",
                "cpu",
                "--json",
            ]
        )
        == 0
    )
    lines = capsys.readouterr().out.strip().splitlines()
    assert len(lines) == 1
    result = json.loads(lines[0])
    assert (result["ways"], result["shots"], result["queries"], result["episodes"]) == (5, 1, 5, 20)
    assert 0 <= result["accuracy"] <= 1 and result["ci95"] >= 0 and result["synthetic"]
    assert (
        main(
            [
                "fewshot-eval",
                first["run_id"],
                "--protocol",
                "course",
                "--episodes",
                "10",
                "--checkpoints",
                str(tmp_path),
                "--device",
                "cpu",
            ]
        )
        == 0
    )
    assert "5-way 1-shot" in capsys.readouterr().out
    assert main(["runs", "show", first["run_id"], "--checkpoints", str(tmp_path)]) == 0
    assert "val_acc" in capsys.readouterr().out


@pytest.mark.parametrize(
    "argv, message",
    [
        (["--ways", "40"], "40-way episodes need 40 classes"),
        (["--shots", "5", "--queries", "4"], "need 9 distinct drawings"),
        (["--solver", "protonet", "--head-init", "learned"], "never adapts a head by MAML"),
    ],
)
def test_command_line_user_errors_print_one_line(tmp_path, data, monkeypatch, capsys, argv, message):
    monkeypatch.setattr(fewshot, "synthetic_omniglot", lambda: data)
    assert main(_cli(tmp_path, *argv)) == 2
    err = capsys.readouterr().err
    assert err.startswith("error: ") and message in err and "Traceback" not in err


def test_evaluating_a_missing_or_foreign_run_is_a_user_error(tmp_path, capsys):
    assert main(["maml-eval", "maml-000000000000", "--checkpoints", str(tmp_path)]) == 2
    assert "not found" in capsys.readouterr().err
    RunStore(tmp_path).create("dann-abc", "dann", {}, epochs_planned=1).finish()
    assert main(["maml-eval", "dann-abc", "--checkpoints", str(tmp_path)]) == 2
    assert "not a few-shot" in capsys.readouterr().err


def test_a_run_stored_under_the_old_maml_name_is_read_as_few_shot_and_found_by_its_config(tmp_path, data):
    """Stores written before the engine was named fewshot hold kind "maml" and ids "maml-<hash>"."""
    store = RunStore(tmp_path)
    config = FewShotConfig(**TINY)
    trained = run_fewshot(config, store, device="cpu", data=data).info
    old_id = config.legacy_run_id()
    assert old_id == "maml-" + config.run_id().removeprefix("fewshot-")
    (tmp_path / trained.run_id).rename(tmp_path / old_id)
    doc = json.loads((tmp_path / old_id / "run.json").read_text())
    doc.update(run_id=old_id, kind="maml")
    (tmp_path / old_id / "run.json").write_text(json.dumps(doc))

    assert store.get(old_id).kind == "fewshot" and [r.run_id for r in store.list("fewshot")] == [old_id]
    again = run_fewshot(config, store, device="cpu", data=data)
    assert not again.trained and again.info.run_id == old_id
    assert load_learner(old_id, store).solver == "maml"
