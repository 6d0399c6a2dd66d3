"""Runs that survive anything: damaged files, interrupted and concurrent runs, divergence, hostile
folders and crafted URLs, each met with a clear message, nothing lost and no page raising."""

from __future__ import annotations

import copy
import json
import os
import random
import threading
import time
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image
from streamlit.testing.v1 import AppTest

from core.__main__ import main
from core.dann.config import DANNConfig
from core.dann.jobs import DANNJobs
from core.dann.run import run_dann, train_epochs
from core.data import folders
from core.describe import describe_run, headline_accuracy
from core.errors import UserError
from core.interrupt import checking
from core.jobs import JobCancelled, JobRegistry
from core.runs import RunFinished, RunStore, stored_or_trained
from tests.synthetic import make_pair, write_image_folders

ROOT = Path(__file__).resolve().parent.parent
APP = ROOT / "app.py"
TINY = dict(
    source="synthetic-source",
    target="synthetic-target",
    epochs=2,
    steps_per_epoch=3,
    batch_size=16,
    snapshot_size=20,
    snapshot_dims=8,
)


def _good_doc(run_id: str = "dann-good", kind: str = "dann") -> dict:
    now = time.time()
    return {
        "format": "transfer-explorer/run",
        "version": 1,
        "run_id": run_id,
        "kind": kind,
        "config": {},
        "status": "complete",
        "epochs_done": 1,
        "epochs_planned": 1,
        "created": now,
        "updated": now,
        "error": None,
        "extra": {},
    }


def _write_run(root: Path, run_id: str, doc: dict | str | bytes, metrics: list | str | None = None) -> None:
    folder = root / run_id
    folder.mkdir(parents=True, exist_ok=True)
    if isinstance(doc, bytes):
        (folder / "run.json").write_bytes(doc)
    else:
        (folder / "run.json").write_text(doc if isinstance(doc, str) else json.dumps(doc))
    if metrics is not None:
        (folder / "metrics.json").write_text(metrics if isinstance(metrics, str) else json.dumps(metrics))


# Each is one damaged field of run.json, as found in the wild or written by hand.
DAMAGED = {
    "version-string": {"version": "1"},
    "version-newer": {"version": 99},
    "owner-not-a-mapping": {"status": "running", "owner": "me"},
    "kind-number": {"kind": 5},
    "config-list": {"config": [1, 2]},
    "schedule-string": {"config": {"variant": "dann", "schedule": "dann"}},
    "config-unknown-key": {"config": {"bogus": 1}},
    "status-unknown": {"status": "exploded"},
    "epochs-negative": {"epochs_done": -1},
    "epochs-bool": {"epochs_done": True},
    "epochs-more-than-planned": {"epochs_done": 9, "epochs_planned": 2},
    "created-huge": {"created": 1e300},
    "updated-string": {"updated": "yesterday"},
    "error-number": {"error": 3},
    "extra-list": {"extra": [1]},
}


@pytest.mark.parametrize("name", sorted(DAMAGED))
def test_a_damaged_run_json_field_is_reported_by_name_and_the_rest_still_lists(tmp_path, name, capsys):
    root = tmp_path / "runs"
    _write_run(root, "dann-good", _good_doc(), [{"epoch": 0, "target_acc": 0.5}])
    _write_run(root, f"dann-{name}", {**_good_doc(f"dann-{name}"), **DAMAGED[name]})
    store = RunStore(root)
    assert [r.run_id for r in store.list()] == ["dann-good"]
    [(path, why)] = store.broken()
    assert path.name == f"dann-{name}" and "run.json" in why
    assert main(["runs", "list", "--checkpoints", str(root)]) == 0
    out = capsys.readouterr()
    assert "dann-good" in out.out and f"unreadable: {path}" in out.err and "Traceback" not in out.err
    assert main(["runs", "show", f"dann-{name}", "--checkpoints", str(root)]) == 2
    assert capsys.readouterr().err.startswith("error: ")


@pytest.mark.parametrize(
    "text",
    [
        '{"format": "transfer-explo',  # cut short
        "[]",  # not a mapping
        '{"format": "transfer-explorer/run", "created": NaN}',  # NaN is not JSON
        b'{"format": "transfer-explorer/run", "kind": "\xff\xfe"}',  # not UTF-8
    ],
)
def test_run_json_that_is_not_a_run_is_reported(tmp_path, text):
    root = tmp_path / "runs"
    _write_run(root, "dann-bad", text)
    store = RunStore(root)
    assert store.list() == [] and len(store.broken()) == 1
    with pytest.raises(UserError):
        store.get("dann-bad")


def test_a_run_json_that_is_a_folder_is_reported_and_blocks_nothing_else(tmp_path):
    root = tmp_path / "runs"
    (root / "dann-dir" / "run.json").mkdir(parents=True)
    _write_run(root, "dann-good", _good_doc())
    store = RunStore(root)
    assert [r.run_id for r in store.list()] == ["dann-good"]
    [(path, why)] = store.broken()
    assert path.name == "dann-dir" and "cannot be read" in why
    store.delete("dann-dir")
    assert store.broken() == []


@pytest.mark.parametrize(
    "metrics, reason",
    [
        ('[{"epoch": 0, "target_acc": NaN}]', "not valid JSON"),
        ('{"epoch": 0}', "list of per-epoch rows"),
        ('[{"target_acc": 0.5}]', "no epoch number"),
        ('[{"epoch": 0, "target_acc": {"x": 1}}]', "not a finite number"),
        ('[{"epoch": 0, "target_acc": 1e999}]', "not a finite number"),
    ],
)
def test_damaged_metrics_are_a_clear_error_and_listing_goes_on(tmp_path, metrics, reason):
    root = tmp_path / "runs"
    _write_run(root, "dann-bad", _good_doc("dann-bad"), metrics)
    store = RunStore(root)
    with pytest.raises(UserError, match=reason):
        store.metrics("dann-bad")
    [info] = store.list()
    assert headline_accuracy(store, info) is None and describe_run(info).data


def test_a_dead_or_impossible_owner_reads_as_incomplete_and_retrain_recovers(tmp_path):
    store = RunStore(tmp_path)
    import socket

    host = socket.gethostname()
    # pid 0 and -1 would "signal" a whole process group: they must not read as a live trainer
    owners = [
        {"pid": 0},
        {"pid": -1},
        {},
        {"pid": 2**70},
        {"pid": "x"},
        {"pid": True},
        {"pid": os.getpid(), "host": "other"},
    ]
    for i, owner in enumerate(owners):
        run_id = f"dann-owner{i}"
        doc = {**_good_doc(run_id), "status": "running", "owner": {"host": host, **owner}}
        _write_run(tmp_path, run_id, doc)
        assert store.get(run_id).status == "incomplete", owner
    # a live owner on this host is training; its refusal names the owner, not the caller

    writer = store.create("dann-live", "dann", {}, epochs_planned=3)
    doc = json.loads((tmp_path / "dann-live" / "run.json").read_text())
    doc["owner"] = {"pid": os.getppid(), "host": socket.gethostname()}
    (tmp_path / "dann-live" / "run.json").write_text(json.dumps(doc))
    with pytest.raises(UserError, match=rf"being trained right now \(by pid {os.getppid()} on"):
        store.create("dann-live", "dann", {}, epochs_planned=3, replace=True)
    del writer
    # a run whose owner is gone is replaced when asked to (--retrain)
    store.create("dann-owner0", "dann", {}, epochs_planned=1, replace=True).finish()
    assert store.get("dann-owner0").complete


def test_asking_again_for_an_interrupted_run_keeps_its_epochs_until_retrain(tmp_path, capsys):
    store = RunStore(tmp_path)
    config = DANNConfig(**TINY)
    epochs = train_epochs(config, store, device="cpu", domains=make_pair(60))
    assert next(epochs).epoch == 0 and next(epochs).epoch == 1
    epochs.close()  # the consumer stops: the run is cancelled with epochs 0 and 1 kept
    info = store.get(config.run_id())
    assert info.status == "cancelled" and info.epochs_done == 1
    (info.path / "resume.safetensors").unlink()  # as a run stored before runs could be continued
    with pytest.raises(UserError, match=r"cancelled with 1 of 2 epochs kept; .*--retrain"):
        run_dann(config, store, device="cpu", domains=make_pair(60))
    assert len(store.metrics(config.run_id())) == 2  # nothing was wiped
    again = run_dann(config, store, device="cpu", domains=make_pair(60), retrain=True)
    assert again.trained and again.info.complete and len(again.metrics) == 3


def test_a_run_completed_by_another_trainer_meanwhile_is_opened_not_wiped(tmp_path, monkeypatch):
    store = RunStore(tmp_path)
    config = DANNConfig(**TINY)
    first = run_dann(config, store, device="cpu", domains=make_pair(60))
    stamp = (tmp_path / config.run_id() / "metrics.json").stat().st_mtime_ns
    monkeypatch.setattr(store, "find", lambda run_id: None)  # looked before the other trainer finished
    outcome = stored_or_trained(
        store, config.run_id(), lambda again: train_epochs(config, store, device="cpu", domains=make_pair(60))
    )
    assert not outcome.trained and outcome.info.run_id == first.info.run_id
    assert (tmp_path / config.run_id() / "metrics.json").stat().st_mtime_ns == stamp
    with pytest.raises(RunFinished):
        store.create(config.run_id(), "dann", config.to_dict(), epochs_planned=2)


def test_concurrent_creates_of_one_run_let_exactly_one_train(tmp_path):
    store = RunStore(tmp_path)
    results = []

    def create():
        try:
            store.create("dann-race", "dann", {}, epochs_planned=1)
            results.append("created")
        except UserError as err:
            results.append(str(err))

    threads = [threading.Thread(target=create) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert results.count("created") == 1 and all("being trained" in r for r in results if r != "created")


def test_delete_refuses_a_run_in_training_and_a_symlinked_folder(tmp_path):
    store = RunStore(tmp_path / "runs")
    store.create("dann-live", "dann", {}, epochs_planned=3)
    with pytest.raises(UserError, match="being trained right now"):
        store.delete("dann-live")
    elsewhere = tmp_path / "elsewhere"
    _write_run(elsewhere, "dann-target", _good_doc("dann-target"))
    (tmp_path / "runs" / "dann-link").symlink_to(elsewhere / "dann-target")
    assert main(["runs", "delete", "dann-link", "--checkpoints", str(tmp_path / "runs")]) == 2
    assert (elsewhere / "dann-target" / "run.json").is_file()


# ---- training that notices when it goes wrong ---------------------------------------------------


def test_divergence_stops_the_run_as_failed_with_its_finished_epochs(tmp_path, capsys):
    store = RunStore(tmp_path)
    config = DANNConfig(**{**TINY, "snapshot_dims": 0}, lr=DANNConfig().lr.__class__(lr0=1e6))
    with pytest.raises(UserError, match=r"training diverged at epoch 1, step \d+: the loss is not finite"):
        run_dann(config, store, device="cpu", domains=make_pair(60))
    info = store.get(config.run_id())
    assert info.status == "failed" and info.epochs_done == 0 and "diverged" in info.error
    assert [r["epoch"] for r in store.metrics(config.run_id())] == [0]
    assert store.find(config.run_id()) is None  # never served as a finished run


@pytest.mark.parametrize(
    "flags, message",
    [
        (["--momentum", "nan"], "momentum must be a finite number"),
        (["--weight-decay", "-1"], "weight_decay must be 0 or positive"),
        (["--seed", str(2**70)], "seed must be from 0"),
        (["--pseudo-weight", "nan", "--variant", "dann_pseudo"], "pseudo_weight must be a finite number"),
        (["--steps-per-epoch", str(10**9)], "steps_per_epoch must be 0 (one pass) or up to"),
        (["--schedule", "expr", "--expr", "(9**9)**9"], "keep |λ| at most"),
        (["--lambda-value", "1e6", "--schedule", "constant"], "keep |λ| at most"),
        (["--target-entropy", "inf"], "target_entropy must be a finite number"),
    ],
)
def test_every_numeric_setting_is_checked_before_anything_trains(tmp_path, capsys, flags, message):
    code = main(["dann", *flags, "--checkpoints", str(tmp_path), "--no-download", "--device", "cpu"])
    err = capsys.readouterr().err
    assert code == 2 and message in err and "Traceback" not in err
    assert not any(tmp_path.iterdir())


def test_a_formula_singular_between_the_points_checked_fails_before_the_first_step(tmp_path):
    config = DANNConfig(
        **{**TINY, "steps_per_epoch": 4}, schedule=DANNConfig().schedule.__class__(kind="expr", expr="0.001/(p-0.125)")
    )
    with pytest.raises(UserError, match=r"undefined at p = 0.125 \(step 1 of 8\)"):
        run_dann(config, RunStore(tmp_path), device="cpu", domains=make_pair(60))
    assert not RunStore(tmp_path).exists(config.run_id())


def _shipped_fewshot():
    """A shipped few-shot run (not whatever else the project's store holds, a run in training, say)."""
    from core.shipped import read_shipped

    return next(r for r in read_shipped(RunStore(ROOT / "checkpoints")) if r.run_id.startswith("fewshot-"))


@pytest.mark.parametrize(
    "flags, message",
    [
        (["--ways", "1"], "ways must be from 2"),
        (["--steps", "-1"], "steps must be from 0"),
        (["--lr", "nan"], "lr must be a non-negative number"),
        (["--lr", "-1"], "lr must be a non-negative number"),
    ],
)
def test_evaluation_refuses_nonsense_settings(capsys, flags, message):
    run_id = _shipped_fewshot().run_id
    code = main(
        [
            "fewshot-eval",
            run_id,
            "--checkpoints",
            str(ROOT / "checkpoints"),
            "--no-save",
            "--episodes",
            "2",
            "--no-download",
            "--device",
            "cpu",
            *flags,
        ]
    )
    err = capsys.readouterr().err
    assert code == 2 and message in err, err


@pytest.mark.parametrize("damage", ["shape", "dtype", "nan"])
def test_weights_of_the_wrong_shape_dtype_or_values_are_refused(tmp_path, damage):
    import shutil

    from safetensors.torch import load_file, save_file

    from core.fewshot.run import load_learner

    source = RunStore(ROOT / "checkpoints").get(_shipped_fewshot().run_id)
    shutil.copytree(source.path, tmp_path / source.run_id)
    path = tmp_path / source.run_id / "weights.safetensors"
    weights = load_file(path)
    name = sorted(weights)[0]
    if damage == "shape":
        weights[name] = weights[name].flatten()[:5]
    elif damage == "dtype":
        weights[name] = weights[name].double()
    else:
        weights[name] = torch.full_like(weights[name], float("nan"))
    save_file(weights, path)
    with pytest.raises(UserError, match="not finite" if damage == "nan" else "expected float32"):
        load_learner(source.run_id, RunStore(tmp_path))


# ---- bounded input -------------------------------------------------------------------------------


def _image(path: Path, size: int = 8, value: int = 128) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(np.full((size, size), value, np.uint8)).save(path)


def test_symlink_loops_and_links_out_of_the_folder_are_not_followed(tmp_path):
    root = tmp_path / "data"
    _image(root / "a" / "1.png")
    _image(root / "b" / "2.png")
    (root / "a" / "up").symlink_to(root, target_is_directory=True)  # a loop, and a way into class b
    (root / "b" / "loop").symlink_to(root / "b", target_is_directory=True)
    outside = tmp_path / "private"
    _image(outside / "secret.png")
    (root / "b" / "out").symlink_to(outside, target_is_directory=True)
    (root / "b" / "leak.png").symlink_to(outside / "secret.png")
    source = folders.locate(str(root))
    assert sorted(p.name for p in source.files) == ["1.png", "2.png"]


def test_too_many_images_or_folders_and_too_large_images_are_refused(tmp_path, monkeypatch):
    root = tmp_path / "data"
    for i in range(6):
        _image(root / str(i % 2) / f"{i}.png")
    monkeypatch.setattr(folders, "MAX_IMAGES", 4)
    with pytest.raises(UserError, match="more than 4 images"):
        folders.locate(str(root))
    monkeypatch.setattr(folders, "MAX_IMAGES", 100)
    (root / "0" / "deeper" / "still").mkdir(parents=True)
    monkeypatch.setattr(folders, "MAX_FOLDERS", 2)
    with pytest.raises(UserError, match="more than 2 folders"):
        folders.locate(str(root))
    big = tmp_path / "big.png"
    _image(big, size=64)
    monkeypatch.setattr(folders, "MAX_PIXELS", 1000)
    with pytest.raises(UserError, match="64 x 64 pixels"):
        folders.read_image(big)
    monkeypatch.setattr(folders, "MAX_PIXELS", 10**6)
    monkeypatch.setattr(folders, "MAX_SIDE", 16)
    assert folders.read_image(big).shape == (16, 16)  # shrunk as it is decoded


def test_a_decompression_bomb_is_a_clear_error(tmp_path, monkeypatch):
    path = tmp_path / "bomb.png"
    _image(path, size=64)
    monkeypatch.setattr(Image, "MAX_IMAGE_PIXELS", 100)  # PIL's own guard, here at 4,096 / 100 > 2x
    monkeypatch.setattr(folders, "MAX_PIXELS", 10**9)
    with pytest.raises(UserError, match="could not be read as an image"):
        folders.read_image(path)


def test_cancel_stops_a_job_while_it_still_reads_its_images(tmp_path, monkeypatch):
    source, target = write_image_folders(tmp_path / "data", n=120)
    started = threading.Event()
    real = folders.read_image

    def slow(path):
        started.set()
        time.sleep(0.01)
        return real(path)

    monkeypatch.setattr(folders, "read_image", slow)
    monkeypatch.setenv("EXPLORER_CACHE_DIR", str(tmp_path / "cache"))
    jobs = DANNJobs(JobRegistry(max_workers=1), RunStore(tmp_path / "runs"), device="cpu", maps_after_epoch=False)
    try:
        config = DANNConfig(**{**TINY, "source": f"folder:{source}", "target": f"folder:{target}", "model": "digit"})
        job = jobs.start_training(config).job_id
        assert started.wait(30)
        t0 = time.monotonic()
        assert jobs.registry.cancel(job)
        status = jobs.registry.wait(job, timeout=30)
        assert status.state == "cancelled" and time.monotonic() - t0 < 10
        assert not RunStore(tmp_path / "runs").exists(config.run_id())
    finally:
        jobs.registry.close()


def test_the_cancel_check_reaches_the_folder_walk_and_decoding(tmp_path):
    root = tmp_path / "data"
    for i in range(4):
        _image(root / str(i % 2) / f"{i}.png")

    def stop():
        raise JobCancelled

    with checking(stop), pytest.raises(JobCancelled):
        folders.locate(str(root))
    source = folders.locate(str(root))
    with checking(stop), pytest.raises(JobCancelled):
        source.decode()


def test_a_folder_run_is_keyed_by_its_images(tmp_path):
    source, target = write_image_folders(tmp_path / "data", n=40)
    config = DANNConfig(source=f"folder:{source}", target=f"folder:{target}")
    before = config.run_id()
    assert config.run_id() == before  # the same images, the same run
    picture = next(source.rglob("*.png"))
    _image(picture, size=28, value=7)
    assert config.run_id() != before
    assert DANNConfig(source=f"FOLDER: {source}", target=f"folder:{target}").model == "course"


# ---- a server a class can share ------------------------------------------------------------------


@pytest.fixture
def server(tmp_path, monkeypatch):
    monkeypatch.setenv("EXPLORER_CHECKPOINTS_DIR", str(tmp_path / "runs"))
    monkeypatch.setenv("EXPLORER_DATA_DIR", str(tmp_path / "data"))
    monkeypatch.setenv("EXPLORER_CACHE_DIR", str(tmp_path / "cache"))
    monkeypatch.delenv("EXPLORER_FOLDER_ROOTS", raising=False)
    (tmp_path / "data").mkdir()
    return tmp_path


def _da_page() -> AppTest:
    return AppTest.from_file(str(ROOT / "app_pages" / "domain_adaptation.py"), default_timeout=120)


def _errors(at: AppTest) -> list[str]:
    return [e.value for e in at.error]


def test_folders_outside_the_roots_are_refused_alike_whether_they_exist_or_not(server, monkeypatch):
    write_image_folders(server / "data" / "mine", n=20)
    private = server / "private"
    write_image_folders(private, n=20)
    at = _da_page().run()
    messages = []
    for path in (private / "source", server / "nowhere" / "source", "/etc"):
        at.selectbox(key="f_source").set_value("folder").run()
        at.text_input(key="f_source_folder").input(str(path)).run()
        messages.append([e for e in _errors(at) if "image folders" in e])
    assert messages[0] and messages[0] == messages[1] == messages[2]
    assert at.button(key="start").disabled
    at.text_input(key="f_source_folder").input(str(server / "data" / "mine" / "source")).run()
    assert not [e for e in _errors(at) if "image folders" in e]
    monkeypatch.setenv("EXPLORER_FOLDER_ROOTS", str(private))
    at.text_input(key="f_source_folder").input(str(private / "source")).run()
    assert not [e for e in _errors(at) if "image folders" in e]


def test_a_crafted_job_link_is_shown_as_plain_words(server):
    at = _da_page()
    at.query_params["job"] = "[click here](https://example.com)"
    at.run()
    assert not at.exception
    warnings = [w.value for w in at.warning]
    assert any("does not know the training job" in w for w in warnings)
    assert not any("example.com" in w for w in warnings)


def test_a_session_cancels_only_its_own_jobs(server):
    from core.dann.jobs import TRAIN, TrainProgress

    release = threading.Event()
    registry = JobRegistry(max_workers=1)
    try:
        job = registry.submit(
            TRAIN,
            "dann-x",
            "someone else's",
            lambda j: release.wait(30) and "done",
            details=TrainProgress(epochs=1),
            owner="another-session",
        )
        assert not registry.cancel(job, by="this-session")
        assert registry.status(job).active
        assert registry.cancel(job, by="another-session")
    finally:
        release.set()
        registry.close()


def test_another_sessions_training_is_listed_without_controls(server):
    at = _da_page().run()
    from app_pages.background import job_registry
    from core.dann.jobs import TRAIN, TrainProgress

    release = threading.Event()
    job = job_registry().submit(
        TRAIN,
        "dann-other",
        "train a → b, dann",
        lambda j: release.wait(60) and "done",
        details=TrainProgress(epochs=2),
        owner="another-session",
    )
    try:
        at.run()
        assert not at.exception
        assert not [b for b in at.button if b.key and job in b.key]  # neither Watch nor Cancel
        at.query_params["job"] = job  # the link its owner has: Cancel is there
        at.run()
        assert [b for b in at.button if b.key == f"cancel-{job}"]
    finally:
        release.set()
        job_registry().cancel(job)


def test_usage_statistics_are_off_and_shipped_runs_carry_no_machine_paths():
    import tomllib

    config = tomllib.loads((ROOT / ".streamlit" / "config.toml").read_text())
    assert config["browser"]["gatherUsageStats"] is False
    for path in sorted((ROOT / "checkpoints").glob("*/*.json")):
        text = path.read_text()
        assert not [p for p in ("/home/", "/root/", "/work/", "/tmp/", "/Users/") if p in text], path


# ---- a fuzz test: listing and the pages never raise ---------------------------------------------

VALUES = [None, True, -1, 0, 2**70, 1e300, -0.5, "", "x" * 300, [], [1, "a"], {}, {"kind": 1}, "running"]


def _mutated(rng: random.Random, doc: dict) -> dict:
    doc = json.loads(json.dumps(doc))
    for _ in range(rng.randint(1, 3)):
        target = doc
        if rng.random() < 0.3 and isinstance(doc.get("config"), dict):
            target = doc["config"]
        keys = list(target) or ["x"]
        key = rng.choice(keys + ["owner", "schedule", "variant"])
        if rng.random() < 0.2:
            target.pop(key, None)
        else:
            target[key] = copy.deepcopy(rng.choice(VALUES))
    return doc


def _fuzzed_store(root: Path, rng: random.Random, runs: int, copies: int = 0) -> None:
    """`runs` run records mutated at random; the first `copies` of each kind are copies of a shipped
    run with its snapshots, maps and weights, so that the pages draw them as far as they can."""
    import shutil

    shipped = {"dann": "dann-0e4267f7ae04", "fewshot": "fewshot-29adf1adadd8"}
    for i in range(runs):
        kind = "dann" if i % 2 == 0 else "fewshot"
        run_id = f"{kind}-fuzz{i:03d}"
        source = ROOT / "checkpoints" / shipped[kind]
        if i // 2 < copies:
            shutil.copytree(source, root / run_id)
        base = json.loads((source / "run.json").read_text())
        rows = json.loads((source / "metrics.json").read_text())
        rows[-1] = {**rows[-1], rng.choice(list(rows[-1])): copy.deepcopy(rng.choice(VALUES))}
        metrics = json.dumps(rows) if rng.random() < 0.7 else rng.choice(["[", "{}", "[1, 2]", "null"])
        _write_run(root, run_id, {**_mutated(rng, base), "run_id": run_id}, metrics)


def test_fuzzed_run_records_never_make_the_store_or_its_readers_raise(tmp_path):
    rng = random.Random(0)
    _fuzzed_store(tmp_path, rng, 300)
    store = RunStore(tmp_path)
    listed = store.list()
    assert len(listed) + len(store.broken()) == 300
    for info in listed:
        describe_run(info)
        headline_accuracy(store, info)
        try:
            store.metrics(info.run_id)
        except UserError:
            pass
    assert main(["runs", "list", "--checkpoints", str(tmp_path)]) == 0


@pytest.mark.parametrize("page", ["home.py", "domain_adaptation.py", "few_shot.py"])
def test_fuzzed_run_records_never_make_a_page_raise(server, page):
    _fuzzed_store(server / "runs", random.Random(1), 40, copies=3)
    path = APP if page == "home.py" else ROOT / "app_pages" / page  # Home links to the other pages: the app frame
    at = AppTest.from_file(str(path), default_timeout=120).run()
    assert not at.exception
    if page == "domain_adaptation.py":
        for view in ("Explore", "Compare"):
            at.segmented_control(key="view").set_value(view).run()
            assert not at.exception


def test_the_page_keeps_an_interrupted_run_until_asked_to_train_it_again(server, monkeypatch):
    monkeypatch.setenv("EXPLORER_FOLDER_ROOTS", str(server))
    source, target = write_image_folders(server / "data" / "folders", n=60)
    config = DANNConfig(
        source=f"folder:{source}",
        target=f"folder:{target}",
        model="digit",
        epochs=2,
        steps_per_epoch=2,
        snapshot_size=20,
        schedule=DANNConfig().schedule.__class__(kind="constant", value=0.3),
    )
    store = RunStore(server / "runs")
    epochs = train_epochs(config, store, device="cpu")
    next(epochs), next(epochs)
    epochs.close()  # stopped after its first epoch
    assert store.get(config.run_id()).status == "cancelled"
    state = store.path(config.run_id()) / "resume.safetensors"
    state.unlink()  # first as a run that cannot be continued

    at = _da_page().run()
    for side, folder in (("source", source), ("target", target)):
        at.selectbox(key=f"f_{side}").set_value("folder").run()
        at.text_input(key=f"f_{side}_folder").input(str(folder)).run()
    at.selectbox(key="f_model").set_value("digit")
    at.selectbox(key="f_schedule").set_value("constant").run()
    at.number_input(key="f_lambda_value").set_value(0.3)
    at.number_input(key="f_epochs").set_value(2)
    at.number_input(key="f_steps_per_epoch").set_value(2)
    at.number_input(key="f_snapshot_size").set_value(20).run()
    assert f"run id {config.run_id()}" in at.caption[-1].value
    at.button(key="start").click().run()
    assert "job" not in at.query_params
    assert any("stopped (cancelled) with 1 of 2 epochs kept" in w.value for w in at.warning)
    assert store.get(config.run_id()).epochs_done == 1  # nothing was wiped
    at.button(key="kept-retrain").click().run()
    assert "job" in at.query_params
    job = at.query_params["job"]
    from app_pages.background import job_registry

    assert job_registry().wait(job, timeout=120).state == "done"

    # a run that can be continued is continued by Start, with its kept epochs
    epochs = train_epochs(config, store, device="cpu", retrain=True)
    next(epochs), next(epochs)
    epochs.close()
    assert state.is_file() and store.get(config.run_id()).epochs_done == 1
    at.button(key="start").click().run()
    job = at.query_params["job"]
    status = job_registry().wait(job, timeout=120)
    assert status.state == "done" and "continued after epoch 1" in status.title
    assert store.get(config.run_id()).extra["resumed"][0]["after_epoch"] == 1
