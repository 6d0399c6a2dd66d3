"""The lifelong page's logic under streamlit's AppTest: the controls make the config Start trains,
a job trains a tiny stream of synthetic digits and the matrix fills in, Cancel keeps the finished tasks and
Start continues them, Explore and Compare draw stored runs, a damaged run is reported, the
two-parameter picture follows its slider, and the widgets survive page switches."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from streamlit.testing.v1 import AppTest

from core.data.streams import SYNTHETIC_NAME
from core.lifelong.config import DEFAULT_STRENGTH, LifelongConfig
from core.lifelong.files import TASKS_FILE
from core.lifelong.run import run_lifelong
from core.lifelong.stored import load_run
from core.runs import RunStore
from presenters.lifelong import explore
from tests.apptest import chart as _chart
from tests.apptest import plotly_array as _array
from tests.apptest import texts as _texts
from tests.apptest import until as _until
from tests.tables import parse_markdown_table

ROOT = Path(__file__).resolve().parent.parent
PAGE = str(ROOT / "app_pages" / "lifelong.py")
APP = str(ROOT / "app.py")
# What _set_tiny_network sets: the synthetic digits (2,000 training images, which every task
# transforms) and a network that learns a task of them in a fraction of a second.
NETWORK = dict(data="synthetic", hidden=16, layers=1, batch_size=50)
TINY = dict(**NETWORK, importance_items=60)


@pytest.fixture
def store(tmp_path, monkeypatch) -> RunStore:
    monkeypatch.setenv("EXPLORER_CHECKPOINTS_DIR", str(tmp_path / "runs"))
    monkeypatch.setenv("EXPLORER_DATA_DIR", str(tmp_path / "no-data"))
    monkeypatch.setenv("EXPLORER_CACHE_DIR", str(tmp_path / "cache"))
    return RunStore(tmp_path / "runs")


def _page(**params) -> AppTest:
    at = AppTest.from_file(PAGE, default_timeout=120)
    at.query_params.update(params)
    return at.run()


def _charts(at: AppTest) -> dict[str, dict]:
    """The page's plotly figures by their key."""
    return {c.proto.id.rsplit("-", 1)[-1]: json.loads(c.proto.spec) for c in at.get("plotly_chart")}


def _stored(store: RunStore, **kw):
    config = LifelongConfig(**{**TINY, "stream": "rotated", "tasks": 3, **kw})
    run_lifelong(config, store)
    return load_run(store, config.run_id())


def _set_tiny_network(at: AppTest) -> None:
    at.selectbox(key="ll_f_data").set_value("synthetic")
    at.number_input(key="ll_f_hidden").set_value(16)
    at.number_input(key="ll_f_layers").set_value(1)
    at.number_input(key="ll_f_batch_size").set_value(50).run()


# ---- Train -----------------------------------------------------------------------------------------


def test_the_controls_make_the_config_and_start_trains_it_while_the_matrix_fills(store):
    at = _page()
    at.selectbox(key="ll_f_data").set_value("synthetic").run()  # this test's store has no MNIST
    assert not at.exception and not at.error
    at.selectbox(key="ll_f_stream").set_value("permuted").run()
    assert at.number_input(key="ll_f_tasks").value == 10  # the new stream's default
    assert at.number_input(key="ll_f_strength").value == DEFAULT_STRENGTH["ewc"] and at.number_input(
        key="ll_f_importance_items"
    )
    at.selectbox(key="ll_f_method").set_value("mas").run()
    assert at.number_input(key="ll_f_strength").value == DEFAULT_STRENGTH["mas"]
    assert f"MAS's default: {DEFAULT_STRENGTH['mas']:g}" in at.number_input(key="ll_f_strength").label
    assert not [n for n in at.get("selectbox") if n.key == "ll_f_fisher"]  # EWC's setting, not MAS's
    at.number_input(key="ll_f_tasks").set_value(3)
    at.number_input(key="ll_f_strength").set_value(2.0)
    at.number_input(key="ll_f_importance_items").set_value(50)
    at.number_input(key="ll_f_seed").set_value(4)
    _set_tiny_network(at)
    expected = LifelongConfig(
        stream="permuted", tasks=3, method="mas", strength=2.0, importance_items=50, seed=4, **NETWORK
    )
    assert not at.exception and not at.error
    assert any(f"Run id {expected.run_id()}" in c for c in _texts(at.caption))
    preview = next(m for m in _texts(at.markdown) if m.startswith("**3 tasks**"))
    assert "identity · permutation 1 · permutation 2" in preview and "MLP 784 → 16 → 10" in preview
    assert "permuted synthetic bar digits" in preview  # the page says what it trains on

    at.button(key="ll_start").click().run()
    job = at.query_params["job"]
    _until(at, lambda at: "Finished: 3 epochs over the whole stream." in _texts(at.success))
    run = store.get(expected.run_id())
    assert run.status == "complete" and run.config == expected.to_dict()
    assert run.extra["data"]["name"] == SYNTHETIC_NAME
    matrix = _chart(at, f"ll_live_matrix-{job}")["data"][0]
    assert np.isfinite(_array(matrix["z"])).all()  # every row filled in
    assert np.allclose(_array(matrix["z"]), load_run(store, expected.run_id()).matrix.R)

    refreshed = _page(job=job)  # a refresh keeps ?job=: the page reattaches to the job
    assert "Finished: 3 epochs over the whole stream." in _texts(refreshed.success)
    assert refreshed.button(key="ll_start").label == "Open the stored run"

    at.button(key=f"ll_explore-{job}").click().run()
    assert at.segmented_control(key="ll_view").value == "Explore"
    assert at.selectbox(key="ll_run").value == expected.run_id() and at.query_params["run"] == expected.run_id()
    assert {"ll_curves", "ll_matrix", "ll_forgetting", "ll_importance", "ll_drift"} <= set(_charts(at))


def test_cancel_keeps_the_finished_tasks_and_start_continues_the_run(store):
    at = _page()
    at.number_input(key="ll_f_tasks").set_value(2)
    at.selectbox(key="ll_f_method").set_value("si").run()
    at.number_input(key="ll_f_epochs").set_value(10)
    _set_tiny_network(at)
    config = LifelongConfig(stream="rotated", tasks=2, method="si", epochs=10, **NETWORK)
    at.button(key="ll_start").click().run()
    job = at.query_params["job"]
    _until(at, lambda at: any("1 of 2 (up to task 1 (0°))" in c for c in _texts(at.caption)))
    at.button(key=f"ll_cancel-{job}").click().run()
    _until(at, lambda at: any(w.startswith("Cancelled after epoch") for w in _texts(at.warning)))
    info = store.get(config.run_id())
    assert info.status == "cancelled" and 10 <= info.epochs_done < 20
    assert len(load_run(store, config.run_id()).records) == 1  # task 1's record is kept
    assert at.button(key="ll_start").label == "Continue training"
    assert any(f"stopped after epoch {info.epochs_done} of 20" in i for i in _texts(at.info))

    at.button(key="ll_start").click().run()
    _until(at, lambda at: "Finished: 20 epochs over the whole stream." in _texts(at.success))
    assert store.get(config.run_id()).complete and at.query_params["job"] != job


def test_without_mnist_start_is_refused_and_says_what_is_missing_but_synthetic_digits_train(store):
    at = _page()
    assert not at.exception and not at.warning
    assert any(e.startswith("MNIST is not at hand: missing") for e in _texts(at.error))
    assert at.button(key="ll_start").disabled
    at.selectbox(key="ll_f_data").set_value("synthetic").run()
    assert not at.exception and not at.error and not at.button(key="ll_start").disabled


def test_each_setting_is_shown_only_where_it_counts(store):
    keys = lambda at: {w.key for kind in ("selectbox", "number_input") for w in at.get(kind)}
    at = _page()
    at.selectbox(key="ll_f_data").set_value("synthetic").run()  # no MNIST here
    assert {"ll_f_angle_step", "ll_f_fisher", "ll_f_importance_items", "ll_f_layers"} <= keys(at)
    assert not {"ll_f_scenario", "ll_f_gamma", "ll_f_buffer_size", "ll_f_slices"} & keys(at)
    at.selectbox(key="ll_f_stream").set_value("split").run()
    assert at.number_input(key="ll_f_tasks").value == 5 and at.selectbox(key="ll_f_scenario").value == "task"
    assert "ll_f_angle_step" not in keys(at)
    for method, own in (("online_ewc", {"ll_f_gamma", "ll_f_fisher"}), ("si", {"ll_f_si_damping"})):
        at.selectbox(key="ll_f_method").set_value(method).run()
        assert own <= keys(at)
    at.selectbox(key="ll_f_method").set_value("replay").run()
    assert "ll_f_buffer_size" in keys(at) and "ll_f_strength" not in keys(at)  # replay has no penalty
    at.selectbox(key="ll_f_model").set_value("conv").run()
    assert "ll_f_layers" not in keys(at)
    assert not at.exception and not at.error


# ---- Explore and Compare ---------------------------------------------------------------------------


def test_explore_draws_a_stored_run_and_its_exports(store):
    ewc = _stored(store, method="ewc", epochs=2)
    at = _page(ll_view="Explore")
    assert not at.exception and not at.error
    assert at.selectbox(key="ll_run").value == ewc.info.run_id
    charts = _charts(at)
    curves = charts["ll_curves"]
    assert [t["name"] for t in curves["data"] if t.get("showlegend", True)] == [
        "task 1 (0°)",
        "task 2 (20°)",
        "task 3 (40°)",
    ]
    assert curves["layout"]["yaxis"]["title"]["text"] == "accuracy on the test split"
    assert np.allclose(_array(charts["ll_matrix"]["data"][0]["z"]), ewc.matrix.R)
    assert len(charts["ll_importance"]["data"]) == 3 and len(charts["ll_drift"]["data"]) == 3
    scores = parse_markdown_table(next(m for m in _texts(at.markdown) if m.startswith("| score")))
    assert scores[0]["value"] == f"{ewc.matrix.scores().average_accuracy:.3f}"
    assert any("diagonal Fisher" in c for c in _texts(at.caption))
    assert {b.proto.label for b in at.get("download_button")} == {
        "Figures (HTML)",
        "Accuracy matrix (PNG)",
        "Curves (PNG)",
        "Metrics (CSV)",
    }


def test_a_method_without_importance_says_so(store):
    _stored(store, method="finetune")
    at = _page(ll_view="Explore")
    assert not at.exception and not at.error
    assert "ll_importance" not in _charts(at)
    assert any("fine-tuning measures no importance" in c for c in _texts(at.caption))


def test_a_damaged_run_shows_an_error_and_the_page_keeps_working(store):
    good = _stored(store, method="mas")
    bad = _stored(store, method="ewc")
    (bad.info.path / TASKS_FILE).write_text("{not json")
    at = _page(ll_view="Explore", run=bad.info.run_id)
    assert not at.exception
    assert any("cannot be drawn" in e and "not readable JSON" in e for e in _texts(at.error))
    at.selectbox(key="ll_run").set_value(good.info.run_id).run()
    assert not at.exception and not at.error and "ll_matrix" in _charts(at)
    at.segmented_control(key="ll_view").set_value("Compare").run()
    assert not at.exception
    assert any("cannot be drawn" in e for e in _texts(at.error))  # the damaged one of the two
    at.segmented_control(key="ll_view").set_value("Train").run()
    assert not at.exception and at.button(key="ll_start")
    assert [e for e in _texts(at.error) if not e.startswith("MNIST is not at hand")] == []  # this store has no MNIST


def test_compare_offers_the_runs_of_the_explored_runs_stream_and_one_table(store):
    finetune = _stored(store, method="finetune")
    ewc = _stored(store, method="ewc")
    other = _stored(store, method="ewc", seed=1)  # another seed: another stream
    at = _page(ll_view="Compare", run=ewc.info.run_id)
    assert not at.exception and not at.error
    [group] = explore.stream_groups([ewc.info])
    picker = at.multiselect(key=explore.compare_runs_key(group))
    assert sorted(picker.value) == sorted([finetune.info.run_id, ewc.info.run_id])
    assert len(picker.options) == 2 and not any(other.info.run_id in o for o in picker.options)  # options: labels
    rows = parse_markdown_table(next(m for m in _texts(at.markdown) if m.startswith("| \\#")))
    by_run = {r["run"]: r for r in rows}
    ewc_name = f"EWC (λ {DEFAULT_STRENGTH['ewc']:g})"
    assert set(by_run) == {"fine-tuning", ewc_name}
    assert by_run["fine-tuning"]["forgetting"] == f"{finetune.matrix.scores().forgetting:.3f}"
    assert by_run[ewc_name]["average accuracy"] == f"{ewc.matrix.scores().average_accuracy:.3f}"
    charts = _charts(at)
    assert {t["xaxis"] for t in charts["ll_compare_curves"]["data"]} == {"x", "x2"}
    assert len(charts["ll_compare_matrices"]["data"]) == 2

    [seed_1] = explore.stream_groups([other.info])
    assert f"{explore.stream_text(other.info.config)} · 1 run" in at.selectbox(key="ll_compare_stream").options
    at.selectbox(key="ll_compare_stream").set_value(seed_1).run()
    assert not at.exception
    assert any("Only one run of this stream" in i for i in _texts(at.info))
    [only] = at.multiselect(key=explore.compare_runs_key(seed_1)).options
    assert only.endswith(other.info.run_id)
    at.selectbox(key="ll_compare_stream").set_value(group).run()  # back: the first stream's runs again
    assert sorted(at.multiselect(key=explore.compare_runs_key(group)).value) == sorted(picker.value)
    at.selectbox(key="ll_compare_stream").set_value(seed_1).run()
    at.segmented_control(key="ll_view").set_value("Explore").run()
    at.segmented_control(key="ll_view").set_value("Compare").run()  # the stream picked is kept across views
    assert not at.exception and at.selectbox(key="ll_compare_stream").value == seed_1


# ---- the two-parameter picture and page switches ---------------------------------------------------


def test_the_two_parameter_picture_follows_its_slider_and_method(store):
    at = _page(ll_view="Two-parameter picture")
    assert not at.exception and not at.error
    assert _chart(at, "ll_toy")["layout"]["title"]["text"] == "EWC, λ = 1: 300 steps on task 2"
    at.select_slider(key="ll_toy_strength").set_value(20.0).run()
    assert _chart(at, "ll_toy")["layout"]["title"]["text"] == "EWC, λ = 20: 300 steps on task 2"
    assert any(c.startswith("EWC at strength λ = 20") for c in _texts(at.caption))
    at.segmented_control(key="ll_toy_method").set_value("all").run()
    assert _chart(at, "ll_toy")["layout"]["title"]["text"] == "the methods at λ = 20: 300 steps on task 2"
    assert len([c for c in _texts(at.caption) if "300 steps of gradient descent" in c]) == 4


def test_the_presentation_view_folds_the_controls_and_draws_large(store):
    _stored(store, method="mas")
    at = _page(ll_view="Explore", present="1")
    assert not at.exception and not at.title
    assert [e.label for e in at.expander] == ["Controls"]
    assert _chart(at, "ll_matrix")["layout"]["font"]["size"] == 20
    assert not at.get("download_button")


def test_the_widgets_and_the_watched_job_survive_page_switches(store):
    at = AppTest.from_file(APP, default_timeout=120).run()
    at.switch_page("app_pages/lifelong.py").run()
    at.selectbox(key="ll_f_method").set_value("scp").run()
    at.number_input(key="ll_f_slices").set_value(7)
    at.number_input(key="ll_f_tasks").set_value(2)
    at.number_input(key="ll_f_layers").set_value(1)
    at.number_input(key="ll_f_hidden").set_value(32)
    at.selectbox(key="ll_f_data").set_value("synthetic").run()
    at.button(key="ll_start").click().run()
    job = at.query_params["job"]
    # finished before the switches: a page script parsed while the job's thread builds ASTs of its own
    # can raise CPython 3.11's spurious "AST constructor recursion depth mismatch" (python/cpython#106905,
    # seen here once); the job's panel comes from the session either way
    _until(at, lambda at: "Finished: 2 epochs over the whole stream." in _texts(at.success))
    at.segmented_control(key="ll_view").set_value("Two-parameter picture").run()
    at.select_slider(key="ll_toy_strength").set_value(0.1).run()
    at.switch_page("app_pages/home.py").run()
    assert not at.exception and at.title[0].value == "Transfer Explorer"
    assert any(link.label == "**Lifelong learning**" for link in at.get("page_link"))

    at.switch_page("app_pages/lifelong.py").run()
    assert not at.exception
    at.segmented_control(key="ll_view").set_value("Two-parameter picture").run()
    assert at.select_slider(key="ll_toy_strength").value == 0.1
    at.segmented_control(key="ll_view").set_value("Train").run()
    assert at.selectbox(key="ll_f_method").value == "scp"
    assert at.number_input(key="ll_f_slices").value == 7 and at.number_input(key="ll_f_hidden").value == 32
    assert at.query_params["job"] == job  # the job started before the switches is watched again
    assert "Finished: 2 epochs over the whole stream." in _texts(at.success)
