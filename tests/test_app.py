"""The home page renders: device, datasets, the shipped and the stored runs (streamlit's AppTest)."""

import json
import os
from pathlib import Path

from streamlit.testing.v1 import AppTest

from core.dann.config import DANNConfig
from core.dann.run import run_dann
from core.hardware import describe_hardware, nvidia_gpus
from core.runs import RunStore
from tests.synthetic import make_pair
from tests.tables import parse_markdown_table

APP = Path(__file__).resolve().parent.parent / "app.py"


def test_home_page_lists_datasets_and_shipped_and_stored_runs(tmp_path, monkeypatch):
    monkeypatch.setenv("EXPLORER_CHECKPOINTS_DIR", str(tmp_path / "runs"))
    monkeypatch.setenv("EXPLORER_DATA_DIR", str(tmp_path / "no-data"))
    config = DANNConfig(
        source="synthetic-source",
        target="synthetic-target",
        epochs=1,
        steps_per_epoch=2,
        batch_size=16,
        snapshot_size=20,
    )
    store = RunStore(tmp_path / "runs")
    run_dann(config, store, device="cpu", domains=make_pair(40))
    (tmp_path / "runs" / "dann-broken").mkdir()
    (tmp_path / "runs" / "dann-broken" / "run.json").write_text("{not json")
    shipped = [
        {"run_id": "dann-000000000000", "title": "Not trained yet", "command": "python -m core dann"},
        {"run_id": config.run_id(), "title": "Tiny DANN", "command": "python -m core dann"},
    ]
    (tmp_path / "runs" / "shipped.json").write_text(
        json.dumps({"format": "transfer-explorer/shipped", "version": 1, "runs": shipped})
    )

    at = AppTest.from_file(str(APP), default_timeout=60).run()
    assert not at.exception
    assert at.title[0].value == "Transfer Explorer"
    datasets, shipped_table, runs = (parse_markdown_table(m.value) for m in at.markdown if m.value.startswith("| "))
    names = {r["dataset"] for r in datasets}
    assert {"MNIST", "USPS", "MNIST-M"} <= names <= {"MNIST", "USPS", "MNIST-M", "Omniglot"}
    assert {r["at hand"] for r in datasets} == {"no"}
    assert [r["run"] for r in shipped_table] == ["Not trained yet", "Tiny DANN"]
    assert [r["epochs"] for r in shipped_table] == ["not in the store", "1/1"]
    assert [r["accuracy"] for r in shipped_table] == ["—", f"{store.metrics(config.run_id())[-1]['target_acc']:.3f}"]
    assert shipped_table[1]["what"] == (f"{config.source} → {config.target} · DANN (paper ramp) + {config.augment}")
    assert [(r["run"], r["status"]) for r in runs] == [(config.run_id(), "complete")]
    assert any("dann-broken" in w.value for w in at.warning)


def test_home_page_shows_a_malformed_shipped_list_and_keeps_going(tmp_path, monkeypatch):
    monkeypatch.setenv("EXPLORER_CHECKPOINTS_DIR", str(tmp_path / "runs"))
    monkeypatch.setenv("EXPLORER_DATA_DIR", str(tmp_path / "no-data"))
    (tmp_path / "runs").mkdir()
    (tmp_path / "runs" / "shipped.json").write_text('{"format": "transfer-explorer/shipped", "version": 1}')

    at = AppTest.from_file(str(APP), default_timeout=60).run()
    assert not at.exception
    assert any("shipped.json" in e.value and '"runs"' in e.value for e in at.error)
    assert any("No runs in" in i.value for i in at.info)


def test_home_page_says_what_hardware_training_will_use(tmp_path, monkeypatch):
    monkeypatch.setenv("EXPLORER_CHECKPOINTS_DIR", str(tmp_path / "runs"))
    monkeypatch.setenv("EXPLORER_DATA_DIR", str(tmp_path / "no-data"))
    at = AppTest.from_file(str(APP), default_timeout=60).run()
    lines = [m.value for m in at.markdown if m.value.startswith(("CPU (", "CUDA GPU: "))]
    gpus = nvidia_gpus()
    if gpus:
        assert lines == [f"CUDA GPU: {', '.join(gpus)} (training runs there; the CPU has {os.cpu_count()} cores)"]
    else:
        assert lines == [f"CPU ({os.cpu_count()} cores; no NVIDIA GPU found): training runs on the CPU"]


def test_the_hardware_line_names_the_gpus_that_nvidia_smi_reports(tmp_path, monkeypatch):
    fake = tmp_path / "nvidia-smi"
    fake.write_text("#!/bin/sh\necho 'NVIDIA H100 80GB HBM3'\n")
    fake.chmod(0o755)
    monkeypatch.setenv("PATH", f"{tmp_path}:{os.environ['PATH']}")
    assert nvidia_gpus() == ["NVIDIA H100 80GB HBM3"]
    assert describe_hardware().startswith("CUDA GPU: NVIDIA H100 80GB HBM3 (")
    fake.write_text("#!/bin/sh\nexit 9\n")  # a driver that does not answer: no GPU claimed
    assert nvidia_gpus() == [] and describe_hardware().startswith("CPU (")


def test_both_pages_keep_their_settings_across_page_switches(tmp_path, monkeypatch):
    """One way for both pages: their widgets keep their values across page switches."""
    from tests.test_fewshot_ui import shipped_fewshot_store

    monkeypatch.setenv("EXPLORER_CHECKPOINTS_DIR", str(tmp_path / "runs"))
    monkeypatch.setenv("EXPLORER_DATA_DIR", str(tmp_path / "no-data"))
    monkeypatch.setenv("EXPLORER_CACHE_DIR", str(tmp_path / "cache"))
    shipped_fewshot_store(tmp_path / "runs")
    at = AppTest.from_file(str(APP), default_timeout=120).run()

    at.switch_page("app_pages/few_shot.py").run()
    at.slider(key="fs-steps").set_value(3).run()
    at.text_input(key="fs-name-0").input("house").run()
    at.toggle(key="fs-present").set_value(True).run()
    at.switch_page("app_pages/domain_adaptation.py").run()
    at.selectbox(key="f_schedule").set_value("constant").run()
    at.number_input(key="f_lambda_value").set_value(0.2).run()
    at.number_input(key="f_label_smoothing").set_value(0.1).run()
    at.switch_page("app_pages/home.py").run()
    assert not at.exception and at.title[0].value == "Transfer Explorer"

    at.switch_page("app_pages/few_shot.py").run()
    assert not at.exception
    assert at.slider(key="fs-steps").value == 3 and at.text_input(key="fs-name-0").value == "house"
    assert at.toggle(key="fs-present").value
    at.switch_page("app_pages/domain_adaptation.py").run()
    assert not at.exception
    assert at.selectbox(key="f_schedule").value == "constant"
    assert at.number_input(key="f_lambda_value").value == 0.2 and at.number_input(key="f_label_smoothing").value == 0.1
