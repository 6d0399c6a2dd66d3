import json
import subprocess
import sys

import pytest
import torch

from core.errors import UserError
from core.runs import RunStore


def _dead_pid() -> int:
    proc = subprocess.Popen([sys.executable, "-c", "pass"])
    proc.wait()
    return proc.pid


@pytest.fixture
def store(tmp_path):
    return RunStore(tmp_path / "checkpoints")


def test_round_trip(store):
    w = store.create("dann-abc", "dann", {"source": "mnist", "epochs": 2}, epochs_planned=2, extra={"note": "x"})
    w.write_tensors("weights.safetensors", {"w": torch.arange(6.0).reshape(2, 3)}, {"epoch": "1"})
    w.add_epoch({"epoch": 0, "target_acc": 0.1}, epochs_done=0)
    w.add_epoch({"epoch": 1, "target_acc": 0.5}, epochs_done=1)
    w.finish()
    info = store.get("dann-abc")
    assert info.complete and info.kind == "dann" and info.epochs_done == 1 and info.epochs_planned == 2
    assert info.config == {"source": "mnist", "epochs": 2} and info.extra == {"note": "x"}
    assert [r["target_acc"] for r in store.metrics("dann-abc")] == [0.1, 0.5]
    assert torch.equal(store.read_tensors("dann-abc", "weights.safetensors")["w"], torch.arange(6.0).reshape(2, 3))
    assert [r.run_id for r in store.list()] == ["dann-abc"]
    assert store.find("dann-abc") is not None
    store.delete("dann-abc")
    assert store.list() == [] and store.find("dann-abc") is None


def test_half_finished_run_is_readable_and_marked_incomplete(store):
    w = store.create("dann-half", "dann", {}, epochs_planned=5)
    w.add_epoch({"epoch": 0}, epochs_done=0)
    w.add_epoch({"epoch": 1}, epochs_done=1)
    assert store.get("dann-half").status == "running"  # its owner (this process) is alive
    doc = json.loads((store.root / "dann-half" / "run.json").read_text())
    doc["owner"]["pid"] = _dead_pid()  # what a killed trainer leaves behind
    (store.root / "dann-half" / "run.json").write_text(json.dumps(doc))
    info = store.get("dann-half")
    assert info.status == "incomplete" and info.epochs_done == 1
    assert len(store.metrics("dann-half")) == 2
    assert store.find("dann-half") is None  # not served as a finished run
    with pytest.raises(UserError, match=r"incomplete with 1 of 5 epochs kept; .*--retrain"):
        store.create("dann-half", "dann", {}, epochs_planned=5)  # finished epochs are never wiped unasked
    assert len(store.metrics("dann-half")) == 2
    store.create("dann-half", "dann", {}, epochs_planned=5, replace=True)  # --retrain replaces it
    assert store.metrics("dann-half") == []


def test_a_run_in_training_is_not_replaced(store):
    store.create("dann-live", "dann", {}, epochs_planned=5)
    with pytest.raises(UserError, match="being trained"):
        store.create("dann-live", "dann", {}, epochs_planned=5)


def test_no_temporary_files_are_left_behind(store):
    w = store.create("dann-tmp", "dann", {}, epochs_planned=1)
    w.write_tensors("a.safetensors", {"x": torch.zeros(3)})
    w.add_epoch({"epoch": 0}, epochs_done=0)
    w.finish()
    names = sorted(p.name for p in (store.root / "dann-tmp").iterdir())
    assert names == ["a.safetensors", "metrics.json", "run.json"]


def test_corrupt_run_json(store):
    store.create("dann-bad", "dann", {}, epochs_planned=1).finish()
    (store.root / "dann-bad" / "run.json").write_text('{"format": "transfer-explo')
    with pytest.raises(UserError, match=r"run\.json is not valid JSON"):
        store.get("dann-bad")
    assert store.list() == []
    [(path, why)] = store.broken()
    assert path.name == "dann-bad" and "not valid JSON" in why
    store.delete("dann-bad")  # a corrupt run can still be deleted
    assert store.broken() == []


def test_foreign_json_is_refused(store):
    folder = store.root / "someone-else"
    folder.mkdir(parents=True)
    (folder / "run.json").write_text(json.dumps({"name": "not ours"}))
    with pytest.raises(UserError, match="not a Transfer Explorer run"):
        store.get("someone-else")


def test_missing_field_and_newer_version(store):
    store.create("dann-f", "dann", {}, epochs_planned=1).finish()
    path = store.root / "dann-f" / "run.json"
    doc = json.loads(path.read_text())
    path.write_text(json.dumps({**doc, "version": 99}))
    with pytest.raises(UserError, match="newer version"):
        store.get("dann-f")
    del doc["epochs_done"]
    path.write_text(json.dumps(doc))
    with pytest.raises(UserError, match="epochs_done"):
        store.get("dann-f")


def test_corrupt_tensor_file(store):
    w = store.create("dann-t", "dann", {}, epochs_planned=1)
    w.write_tensors("weights.safetensors", {"w": torch.ones(100)})
    path = store.root / "dann-t" / "weights.safetensors"
    path.write_bytes(path.read_bytes()[:40])
    with pytest.raises(UserError, match="not a readable safetensors file"):
        store.read_tensors("dann-t", "weights.safetensors")
    with pytest.raises(UserError, match="has no missing.safetensors"):
        store.read_tensors("dann-t", "missing.safetensors")


def test_corrupt_metrics(store):
    store.create("dann-m", "dann", {}, epochs_planned=1).finish()
    (store.root / "dann-m" / "metrics.json").write_text('{"epoch": 0}')
    with pytest.raises(UserError, match="list of per-epoch rows"):
        store.metrics("dann-m")


@pytest.mark.parametrize("bad", ["../etc", "a/b", "", ".hidden", "x" * 200])
def test_run_ids_cannot_escape_the_store(store, bad):
    with pytest.raises(UserError, match="not a run id"):
        store.path(bad)


def test_missing_run(store):
    with pytest.raises(UserError, match="not found"):
        store.get("dann-nothing")
    with pytest.raises(UserError, match="no run"):
        store.delete("dann-nothing")
    assert store.list() == [] and store.broken() == []


def test_list_is_newest_first_and_filters_by_kind(store):
    # created out of name order, so neither the folders' names nor their files' times give the order
    for i, (kind, created) in enumerate([("dann", 200.0), ("fewshot", 300.0), ("dann", 100.0), ("dann", 400.0)]):
        store.create(f"{kind}-{i}", kind, {}, epochs_planned=1).finish()
        path = store.root / f"{kind}-{i}" / "run.json"
        path.write_text(json.dumps({**json.loads(path.read_text()), "created": created}))
    assert [r.run_id for r in store.list(kind="dann")] == ["dann-3", "dann-0", "dann-2"]
    assert [r.run_id for r in store.list()] == ["dann-3", "fewshot-1", "dann-0", "dann-2"]
