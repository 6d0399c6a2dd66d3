"""The home page renders: device, datasets and the stored runs (streamlit's AppTest)."""

from pathlib import Path

from streamlit.testing.v1 import AppTest

from core.dann.config import DANNConfig
from core.dann.run import run_dann
from core.runs import RunStore
from tests.synthetic import make_pair

APP = Path(__file__).resolve().parent.parent / "app.py"


def test_home_page_lists_datasets_and_stored_runs(tmp_path, monkeypatch):
    monkeypatch.setenv("EXPLORER_CHECKPOINTS_DIR", str(tmp_path / "runs"))
    monkeypatch.setenv("EXPLORER_DATA_DIR", str(tmp_path / "no-data"))
    config = DANNConfig(source="synthetic-source", target="synthetic-target", epochs=1, steps_per_epoch=2,
                        batch_size=16, snapshot_size=20)  # fmt: skip
    run_dann(config, RunStore(tmp_path / "runs"), device="cpu", domains=make_pair(40))
    (tmp_path / "runs" / "dann-broken").mkdir()
    (tmp_path / "runs" / "dann-broken" / "run.json").write_text("{not json")

    at = AppTest.from_file(str(APP), default_timeout=60).run()
    assert not at.exception
    assert at.title[0].value == "Transfer Explorer"
    datasets, runs = at.dataframe[0].value, at.dataframe[1].value
    assert set(datasets["dataset"]) == {"MNIST", "USPS", "MNIST-M"} and set(datasets["at hand"]) == {"no"}
    assert list(runs["run"]) == [config.run_id()] and list(runs["status"]) == ["complete"]
    assert any("dann-broken" in w.value for w in at.warning)
