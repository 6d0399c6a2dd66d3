"""The few-shot page's logic under streamlit's AppTest (which cannot draw on a canvas: the example
drawings and injected drawings stand in), with copies of the shipped few-shot models."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pytest
from streamlit.testing.v1 import AppTest

from core.fewshot.drawing import FULL, Prepared
from tests.test_fewshot_ui import FEWSHOT, shipped_fewshot_store

PAGE = str(Path(__file__).resolve().parent.parent / "app_pages" / "few_shot.py")


REAL_DATA = os.environ.get("EXPLORER_DATA_DIR")  # before the fixtures below hide it


@pytest.fixture
def env(tmp_path, monkeypatch):
    monkeypatch.setenv("EXPLORER_CHECKPOINTS_DIR", str(tmp_path / "runs"))
    monkeypatch.setenv("EXPLORER_DATA_DIR", str(tmp_path / "no-data"))
    monkeypatch.setenv("EXPLORER_CACHE_DIR", str(tmp_path / "cache"))
    return tmp_path


@pytest.fixture
def shipped(env):
    return shipped_fewshot_store(env / "runs")


def _page() -> AppTest:
    return AppTest.from_file(PAGE, default_timeout=120).run()


def _button(at: AppTest, label: str):
    return next(b for b in at.button if b.label == label)


def _markdown(at: AppTest) -> str:
    return "\n".join(m.value for m in at.markdown)


def test_without_models_the_page_says_how_to_get_one(env):
    at = _page()
    assert not at.exception
    assert any("No few-shot models" in i.value for i in at.info)


def test_examples_then_adapt_predicts_the_query_class_with_the_shipped_maml(shipped):
    at = _page()
    assert not at.exception
    model = at.selectbox(key="fs-model")
    assert model.value.startswith("MAML (second order) · shipped")
    assert at.slider(key="fs-steps").value == 1 and at.number_input(key="fs-lr").value == pytest.approx(0.4)
    assert _button(at, "Adapt and predict").disabled  # nothing drawn yet
    _button(at, "Example drawings").click().run()
    assert not at.exception
    assert [at.text_input(key=f"fs-name-{i}").value for i in range(5)] == [
        "circle",
        "plus",
        "triangle",
        "zigzag",
        "spiral",
    ]
    assert len(at.get("image")) == 6  # what the model sees, under each canvas
    assert not _button(at, "Adapt and predict").disabled
    _button(at, "Adapt and predict").click().run()
    assert not at.exception
    assert "Prediction: **triangle**" in _markdown(at)
    # more steps: the adaptation figure gets a point per step
    at.slider(key="fs-steps").set_value(4).run()
    _button(at, "Adapt and predict").click().run()
    fig = at.get("plotly_chart")[1].proto.spec
    assert '"x":[0,1,2,3,4]' in fig.replace(" ", "")


def test_compare_answers_with_every_shipped_solver(shipped):
    at = _page()
    _button(at, "Example drawings").click().run()
    _button(at, "Compare models").click().run()
    assert not at.exception
    text = _markdown(at)
    # each with its 5-way 1-shot accuracy on the evaluation alphabets (its evaluations.json)
    for solver, accuracy in (("MAML", 0.9711), ("FO-MAML", 0.8773), ("transfer baseline", 0.886)):
        assert f"**{solver} ({accuracy:.3f})**:" in text


def test_a_new_model_brings_its_own_settings(shipped):
    at = _page()
    labels = at.selectbox(key="fs-model").options
    transfer = next(label for label in labels if label.startswith("Transfer baseline"))
    at.selectbox(key="fs-model").set_value(transfer).run()
    assert at.slider(key="fs-steps").value == 100
    assert at.number_input(key="fs-lr").value == pytest.approx(0.5)


def test_an_all_ink_canvas_gets_a_message_and_no_prediction(shipped):
    at = _page()
    _button(at, "Example drawings").click().run()
    state = at.session_state["fewshot"]
    state["prepared"]["q"] = Prepared(np.zeros((28, 28), np.uint8), FULL, "almost all ink: clear it", 0.9, 0.0)
    at.run()
    assert any("almost all ink" in w.value for w in at.warning)
    assert _button(at, "Adapt and predict").disabled
    assert any("Draw a query" in i.value for i in at.info)


def test_clear_all_empties_every_canvas(shipped):
    at = _page()
    _button(at, "Example drawings").click().run()
    _button(at, "Clear all").click().run()
    assert not at.exception
    assert at.session_state["fewshot"]["prepared"] == {}
    assert _button(at, "Adapt and predict").disabled


def test_the_episode_browser_says_what_is_missing_without_omniglot(shipped):
    at = _page()
    at.segmented_control(key="fs-view").set_value("Episode browser").run()
    assert not at.exception
    assert any("Omniglot" in w.value for w in at.warning)


def test_the_presentation_view_draws_larger_and_keeps_the_drawings(shipped):
    at = _page()
    _button(at, "Example drawings").click().run()
    before = {k: v.image.copy() for k, v in at.session_state["fewshot"]["prepared"].items()}
    at.toggle(key="fs-present").set_value(True).run()
    assert not at.exception
    assert at.query_params.get("present") in ("1", ["1"])
    after = at.session_state["fewshot"]["prepared"]
    assert set(after) == set(before) and all(np.array_equal(after[k].image, before[k]) for k in before)


@pytest.fixture
def real_omniglot(shipped, monkeypatch):
    data = REAL_DATA
    if not data or not any((Path(data) / d).exists() for d in ("omniglot-py", "omniglot-npz")):
        pytest.skip("EXPLORER_DATA_DIR has no Omniglot")
    monkeypatch.setenv("EXPLORER_DATA_DIR", data)
    return shipped


def test_the_episode_browser_answers_an_omniglot_episode_with_every_shipped_solver(real_omniglot):
    at = _page()
    at.segmented_control(key="fs-view").set_value("Episode browser").run()
    assert not at.exception
    models = len(FEWSHOT)  # every shipped few-shot model is picked at first
    assert models >= 4 and len(at.multiselect(key="fs-browse-models").value) == models
    text = _markdown(at)
    assert "**Episode 0**" in text
    marks = [m.value for m in at.markdown if m.value[:1] in "✓✗"]
    assert len(marks) == 5 * models  # five queries, each model's mark
    table = at.dataframe[0].value
    assert list(table["correct"].str.endswith("/5")) == [True] * models
    _button(at, "Reshuffle").click().run()
    assert "**Episode 1**" in _markdown(at)
    # a drawing from the Draw view rides along as an extra query
    at.segmented_control(key="fs-view").set_value("Draw").run()
    _button(at, "Example drawings").click().run()
    at.segmented_control(key="fs-view").set_value("Episode browser").run()
    next(c for c in at.checkbox if c.label == "Add my query drawing").check().run()
    assert not at.exception
    answers = [
        m.value
        for m in at.markdown
        if m.value.startswith(("MAML (", "FO-MAML (", "FO-MAML, prototype head (", "transfer baseline (", "ProtoNet ("))
    ]
    assert len(answers) == models  # each model, with its accuracy, and its answer for the drawing
