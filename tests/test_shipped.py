"""The list of shipped runs (checkpoints/shipped.json): read in order, absent means none, and every
malformed file a UserError that names it."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from core.errors import UserError
from core.runs import RunStore
from core.shipped import SHIPPED_FILE, ShippedRun, read_shipped

ROOT = Path(__file__).resolve().parent.parent


def _write(store: RunStore, doc) -> None:
    store.root.mkdir(parents=True, exist_ok=True)
    (store.root / SHIPPED_FILE).write_text(doc if isinstance(doc, str) else json.dumps(doc))


def _doc(*runs: dict, **fields) -> dict:
    return {"format": "transfer-explorer/shipped", "version": 1, "runs": list(runs), **fields}


def _run(run_id: str = "dann-aaaaaaaaaaaa", title: str = "Source only", command: str = "python -m core dann") -> dict:
    return {"run_id": run_id, "title": title, "command": command}


def test_runs_come_in_the_files_order_and_a_store_without_the_file_ships_none(tmp_path):
    store = RunStore(tmp_path / "runs")
    assert read_shipped(store) == []
    _write(store, _doc(_run("dann-bbbbbbbbbbbb", "B  "), _run("dann-aaaaaaaaaaaa", "A", " python -m core dann --x ")))
    assert read_shipped(store) == [
        ShippedRun("dann-bbbbbbbbbbbb", "B", "python -m core dann"),
        ShippedRun("dann-aaaaaaaaaaaa", "A", "python -m core dann --x"),
    ]


@pytest.mark.parametrize(
    ("doc", "reason"),
    [
        ("{not json", "not valid JSON"),
        (["a", "list"], "format marker"),
        (_doc(_run(), format="something/else"), "format marker"),
        (_doc(_run(), version=2), "version 2"),
        ({"format": "transfer-explorer/shipped", "version": 1}, '"runs"'),
        (_doc(_run(title="")), "run 1 should have the text fields"),
        (_doc(_run(), {"run_id": "dann-cccccccccccc", "title": "C"}), "run 2 should have the text fields"),
        (_doc(_run(run_id="../elsewhere")), "not a run id"),
        (_doc(_run(title="A"), _run(run_id="dann-dddddddddddd", title="A")), "title must appear once; repeated: A"),
        (_doc(_run(title="A"), _run(title="B")), "run_id must appear once"),
    ],
)
def test_a_malformed_file_is_a_user_error_naming_it(tmp_path, doc, reason):
    store = RunStore(tmp_path / "runs")
    _write(store, doc)
    with pytest.raises(UserError, match="shipped.json") as info:
        read_shipped(store)
    assert reason in str(info.value)


def test_the_projects_own_shipped_list_is_readable():
    runs = read_shipped(RunStore(ROOT / "checkpoints"))
    assert runs
    for r in runs:  # every shipped run is in the store, trained by the command of its kind
        assert (ROOT / "checkpoints" / r.run_id / "run.json").is_file()
        kind = r.run_id.split("-")[0]
        assert kind in ("dann", "fewshot", "lifelong") and r.command.startswith(f"python -m core {kind} ")
    assert len({r.title for r in runs}) == len(runs)


def test_each_shipped_dann_run_comes_with_every_map():
    """A fresh clone shows the shipped runs' maps at once, offline: every frame of every method is
    in the clone (CI runs this on a clean checkout, so a map left uncommitted fails here)."""
    from core.dann.maps import METHODS, MapSettings, load_maps, snapshot_epochs

    store = RunStore(ROOT / "checkpoints")
    for r in read_shipped(store):
        if not r.run_id.startswith("dann-"):
            continue
        epochs = snapshot_epochs(store, r.run_id)
        assert len(epochs) >= 2, r.run_id
        for method in METHODS:
            maps = load_maps(store, r.run_id, MapSettings(method=method))
            assert maps is not None and maps.epochs == epochs, (r.run_id, method)


def test_each_shipped_command_makes_its_run_again():
    """Rerunning a shipped run's recorded command (as train_shipped.sh does) finds that run,
    whatever the defaults are today."""
    import shlex

    from core.__main__ import _config_from_args, build_parser
    from core.dann.config import DANNConfig
    from core.fewshot.config import FewShotConfig
    from core.lifelong.config import LifelongConfig

    configs = {"dann": DANNConfig, "fewshot": FewShotConfig, "lifelong": LifelongConfig}
    for r in read_shipped(RunStore(ROOT / "checkpoints")):
        argv = shlex.split(r.command)[3:]  # after "python -m core"
        args = build_parser().parse_args(argv)
        config = _config_from_args(configs[args.command], args)
        assert config.run_id() == r.run_id, r.command


def test_every_shipped_run_is_complete():
    store = RunStore(ROOT / "checkpoints")
    assert [r.run_id for r in read_shipped(store) if not store.get(r.run_id).complete] == []


def test_every_shipped_few_shot_run_names_its_device_and_training_time():
    # shipped.json says where and how long each few-shot model trained (minutes on a GPU, or an
    # hour on 2 CPU cores); the numbers are the run's own: run.json's device, metrics.json's seconds
    store = RunStore(ROOT / "checkpoints")
    doc = json.loads((store.root / SHIPPED_FILE).read_text())
    few_shot = [e for e in doc["runs"] if e["run_id"].startswith("fewshot-")]
    assert few_shot
    for entry in few_shot:
        info = store.get(entry["run_id"])
        assert entry["device"].startswith(info.extra["device"]), entry["run_id"]
        for resumed in info.extra.get("resumed", []):
            assert resumed["device"] in entry["device"], entry["run_id"]
        seconds = sum(row["seconds"] for row in store.metrics(entry["run_id"]))
        assert entry["train_seconds"] == round(seconds), entry["run_id"]
