"""Resumable runs: a run stopped after an epoch and continued from its stored state gives exactly
the numbers of one that ran through (CPU), for DANN and for the few-shot engine alike."""

from __future__ import annotations

import json

import pytest
import torch
from safetensors.torch import load_file, save_file

from core.__main__ import main
from core.dann.config import DANNConfig
from core.dann.run import run_dann
from core.dann.run import train_epochs as dann_epochs
from core.errors import UserError
from core.fewshot.config import FewShotConfig
from core.fewshot.run import run_fewshot
from core.fewshot.run import train_epochs as fewshot_epochs
from core.resume import RESUME_FILE
from core.runs import RunStore
from tests.fewshot import tiny_omniglot
from tests.synthetic import make_pair

TIMING = ("seconds", "images_per_second", "steps_per_second")
DANN = dict(
    source="synthetic-source",
    target="synthetic-target",
    epochs=3,
    steps_per_epoch=4,
    batch_size=16,
    snapshot_size=20,
    snapshot_dims=8,
)


def _numbers(rows):
    return [{k: v for k, v in r.items() if k not in TIMING} for r in rows]


def _stop_after(epochs, last: int) -> None:
    """Consume a trainer's epochs up to `last` and stop it there (as a cancel or a kill would)."""
    for result in epochs:
        if result.epoch == last:
            break
    epochs.close()


def _same_files(a, b, names):
    for name in names:
        x, y = load_file(a / name), load_file(b / name)
        assert x.keys() == y.keys(), name
        for key in x:
            assert torch.equal(x[key], y[key]), (name, key)


@pytest.mark.parametrize("variant", ["dann", "dann_pseudo"])
def test_a_dann_run_continued_after_a_stop_equals_one_that_ran_through(tmp_path, variant):
    config = DANNConfig(**DANN, variant=variant, optimizer="adam" if variant == "dann_pseudo" else "sgd")
    whole = run_dann(config, RunStore(tmp_path / "whole"), device="cpu", domains=make_pair(60))
    store = RunStore(tmp_path / "stopped")
    _stop_after(dann_epochs(config, store, device="cpu", domains=make_pair(60)), last=1)
    stopped = store.get(config.run_id())
    assert stopped.status == "cancelled" and stopped.epochs_done == 1
    again = run_dann(config, store, device="cpu", domains=make_pair(60))  # asking again continues it
    assert again.trained and again.info.complete and again.info.extra["resumed"][0]["after_epoch"] == 1
    assert _numbers(again.metrics) == _numbers(whole.metrics)
    names = ["weights.safetensors", *(f"snapshots/epoch_{e:04d}.safetensors" for e in range(4))]
    _same_files(whole.info.path, again.info.path, names)


def test_a_few_shot_run_continued_after_a_stop_equals_one_that_ran_through(tmp_path):
    data = tiny_omniglot()
    config = FewShotConfig(
        data="synthetic", epochs=3, steps_per_epoch=2, meta_batch=2, val_characters=6, val_episodes=10
    )
    whole = run_fewshot(config, RunStore(tmp_path / "whole"), device="cpu", data=data)
    store = RunStore(tmp_path / "stopped")
    _stop_after(fewshot_epochs(config, store, device="cpu", data=data), last=2)
    assert store.get(config.run_id()).epochs_done == 2
    again = run_fewshot(config, store, device="cpu", data=data)
    assert again.trained and again.info.complete
    assert _numbers(again.metrics) == _numbers(whole.metrics)
    _same_files(whole.info.path, again.info.path, ["weights.safetensors"])


def test_a_longer_few_shot_run_starts_where_a_shorter_one_of_its_settings_ended(tmp_path):
    data = tiny_omniglot()
    settings = dict(data="synthetic", steps_per_epoch=2, meta_batch=2, val_characters=6, val_episodes=10)
    longer = FewShotConfig(**settings, epochs=4)
    whole = run_fewshot(longer, RunStore(tmp_path / "whole"), device="cpu", data=data)
    store = RunStore(tmp_path / "store")
    short = run_fewshot(FewShotConfig(**settings, epochs=2), store, device="cpu", data=data)
    assert (short.info.path / RESUME_FILE).is_file()  # kept, for a longer run to go on from
    run_fewshot(FewShotConfig(**{**settings, "meta_lr": 0.002}, epochs=1), store, device="cpu", data=data)
    grown = run_fewshot(longer, store, device="cpu", data=data)
    assert grown.info.extra["continued_from"] == {"run_id": short.info.run_id, "after_epoch": 2}
    assert _numbers(grown.metrics) == _numbers(whole.metrics)  # the same numbers as from scratch
    _same_files(whole.info.path, grown.info.path, ["weights.safetensors"])
    again = run_fewshot(FewShotConfig(**settings, epochs=3), RunStore(tmp_path / "other"), device="cpu", data=data)
    assert "continued_from" not in again.info.extra  # no shorter run in that store: trained from scratch
    fresh = run_fewshot(FewShotConfig(**settings, epochs=3), store, device="cpu", data=data, retrain=True)
    assert "continued_from" not in fresh.info.extra  # --retrain trains anew


def test_resume_from_the_command_line_uses_the_runs_own_settings(tmp_path, monkeypatch, capsys):
    import core.dann.run

    real = core.dann.run.DANNTrainer
    monkeypatch.setattr(
        core.dann.run, "DANNTrainer", lambda config, **kw: real(config, **{**kw, "domains": make_pair(60)})
    )
    config = DANNConfig(**DANN)
    store = RunStore(tmp_path)
    _stop_after(dann_epochs(config, store, device="cpu", domains=make_pair(60)), last=2)
    args = ["dann", "--resume", config.run_id(), "--checkpoints", str(tmp_path), "--device", "cpu", "--json"]
    assert main([*args, "--epochs", "99"]) == 0  # the run's settings, not the flags
    out = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert out["trained_now"] and out["status"] == "complete" and out["epochs"] == 3
    assert main([*args, "--retrain"]) == 2
    assert "give one of them" in capsys.readouterr().err


def test_a_damaged_or_foreign_resume_state_is_a_clear_error_and_trains_nothing(tmp_path):
    config = DANNConfig(**DANN)
    store = RunStore(tmp_path)
    _stop_after(dann_epochs(config, store, device="cpu", domains=make_pair(60)), last=1)
    path = store.path(config.run_id()) / RESUME_FILE
    kept = path.read_bytes()
    rows = store.metrics(config.run_id())

    path.write_bytes(kept[:100])  # cut short
    with pytest.raises(UserError, match="not a readable resume state"):
        run_dann(config, store, device="cpu", domains=make_pair(60))
    tensors, metadata = load_file_bytes(kept)
    # a weight cut to 3 values: another network's (safetensors returns the tensors in no fixed order,
    # so the weight is picked by name, and among those with more than 3 values, or the cut is no change)
    first = next(k for k in sorted(tensors) if k.startswith("model.") and tensors[k].numel() > 3)
    save_file({**tensors, first: tensors[first].flatten()[:3]}, path, metadata)
    with pytest.raises(UserError, match="train the run again with --retrain"):
        run_dann(config, store, device="cpu", domains=make_pair(60))
    save_file(tensors, path)  # no metadata: not one of ours
    with pytest.raises(UserError, match="not a Transfer Explorer resume state"):
        run_dann(config, store, device="cpu", domains=make_pair(60))
    info = store.get(config.run_id())
    assert info.status == "cancelled" and store.metrics(config.run_id()) == rows  # nothing trained or lost


def load_file_bytes(data: bytes) -> tuple[dict, dict]:
    """The tensors and the metadata of a safetensors file's bytes."""
    import struct

    from safetensors.torch import load

    header = json.loads(data[8 : 8 + struct.unpack("<Q", data[:8])[0]])
    return load(data), header.get("__metadata__", {})


def test_a_row_lost_between_the_state_and_the_metrics_is_restored(tmp_path):
    config = DANNConfig(**DANN)
    whole = run_dann(config, RunStore(tmp_path / "whole"), device="cpu", domains=make_pair(60))
    store = RunStore(tmp_path / "crashed")
    _stop_after(dann_epochs(config, store, device="cpu", domains=make_pair(60)), last=2)
    folder = store.path(config.run_id())
    rows = json.loads((folder / "metrics.json").read_text())
    (folder / "metrics.json").write_text(json.dumps(rows[:-1]))  # killed after the state, before the row
    doc = json.loads((folder / "run.json").read_text())
    (folder / "run.json").write_text(json.dumps({**doc, "epochs_done": 1}))
    again = run_dann(config, store, device="cpu", domains=make_pair(60))
    assert _numbers(again.metrics) == _numbers(whole.metrics)
