"""The few-shot page's logic (presenters.fewshot, core.fewshot.demo): model list, adapting on drawings,
the episode browser, canvas drawings; with the shipped models where the test is about them."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pytest

from core.data.sketches import SHAPES, render_paths, sketch_paths
from core.errors import UserError
from core.fewshot import demo
from core.fewshot.config import FewShotConfig
from core.fewshot.drawing import OK, prepare_drawing
from core.fewshot.episodes import ClassPool
from core.fewshot.run import load_learner, run_fewshot
from core.runs import RunStore
from core.shipped import read_shipped
from presenters.fewshot import canvas, models
from tests.fewshot import tiny_omniglot

CHECKPOINTS = Path(__file__).resolve().parent.parent / "checkpoints"
SHIPPED = json.loads((CHECKPOINTS / "shipped.json").read_text())["runs"]
FEWSHOT = [r for r in SHIPPED if r["run_id"].startswith("fewshot-")]
CLASSES = ("circle", "plus", "triangle", "zigzag", "spiral")


def shipped_fewshot_store(root: Path) -> RunStore:
    """A store holding copies of the shipped few-shot runs and a shipped.json listing them."""
    root.mkdir(parents=True, exist_ok=True)
    for entry in FEWSHOT:
        shutil.copytree(CHECKPOINTS / entry["run_id"], root / entry["run_id"])
    doc = {"format": "transfer-explorer/shipped", "version": 1, "runs": FEWSHOT}
    (root / "shipped.json").write_text(json.dumps(doc))
    return RunStore(root)


@pytest.fixture(scope="module")
def shipped_store(tmp_path_factory) -> RunStore:
    return shipped_fewshot_store(tmp_path_factory.mktemp("fewshot") / "runs")


@pytest.fixture(scope="module")
def maml(shipped_store):
    choice = models.default_model(models.fewshot_models(shipped_store, read_shipped(shipped_store)))
    return load_learner(choice.run_id, shipped_store, "cpu")


def prepared_sketch(shape: str, variation: int | None = None, seed: int = 0) -> np.ndarray:
    prepared = prepare_drawing(render_paths(sketch_paths(shape, 280, variation=variation, seed=seed)))
    assert prepared.status == OK, prepared.message
    return prepared.image


def test_shipped_models_come_first_by_title_and_the_default_is_maml(tmp_path):
    store = shipped_fewshot_store(tmp_path / "runs")  # its own copy: the module's shared store stays as shipped
    data = tiny_omniglot()
    config = FewShotConfig(
        data="synthetic", epochs=1, steps_per_epoch=1, meta_batch=2, val_characters=6, val_episodes=4
    )
    run_fewshot(config, store, device="cpu", data=data)
    choices = models.fewshot_models(store, read_shipped(store))
    assert [c.run_id for c in choices[: len(FEWSHOT)]] == [r["run_id"] for r in FEWSHOT]
    assert all(c.shipped for c in choices[: len(FEWSHOT)])
    own = choices[len(FEWSHOT)]
    assert own.run_id == config.run_id() and not own.shipped and "synthetic data" in own.label
    default = models.default_model(choices)
    assert default.solver == "maml" and default.shipped
    assert default.label.startswith(FEWSHOT[0]["title"])
    # an incomplete run says so in its label
    for c in choices:
        assert (c.status in c.label) == (c.status != "complete")
    # compare: the chosen model, then one shipped run of each other solver
    assert [c.solver for c in models.comparison_models(choices, default)] == ["maml", "fomaml", "transfer", "protonet"]


def test_the_shipped_maml_model_tells_apart_hand_drawn_shapes(maml):
    """The issue's check: five clearly different mouse-drawn shapes as supports, a redrawn variation
    of each as a query; at least 4 of 5 right."""
    supports = [prepared_sketch(s) for s in CLASSES]
    queries = [prepared_sketch(s, variation=1) for s in CLASSES]
    adaptation = demo.classify(maml, supports, queries)
    right = int((adaptation.predictions.numpy() == np.arange(len(CLASSES))).sum())
    assert right >= 4, f"{right}/5 right: {adaptation.predictions.tolist()}"
    # step 0 is the zero head: every class equally likely; adapting moves the support accuracy to 1
    assert np.allclose(adaptation.query_probs[0].numpy(), 1 / len(CLASSES), atol=1e-6)
    assert adaptation.support_acc[-1] == 1.0
    assert len(adaptation.support_loss) == maml.steps + 1


def test_classify_follows_the_steps_and_refuses_what_it_cannot_do(maml):
    supports = [prepared_sketch(s) for s in CLASSES]
    query = [prepared_sketch("plus", variation=2)]
    three = demo.classify(maml, supports, query, steps=3, lr=0.2)
    assert three.query_probs.shape == (4, 1, 5)
    assert three.support_loss[3] < three.support_loss[0]
    with pytest.raises(UserError, match="at least two classes"):
        demo.classify(maml, supports[:1], query)
    with pytest.raises(UserError, match="between 0 and 10"):
        demo.classify(maml, supports, query, steps=11)
    with pytest.raises(UserError, match="28x28"):
        demo.classify(maml, supports, [np.zeros((32, 32), np.uint8)])
    with pytest.raises(UserError, match="no query drawing"):
        demo.classify(maml, supports, [])


def test_compare_runs_every_model_on_the_same_drawings_at_its_own_settings(shipped_store):
    choices = models.fewshot_models(shipped_store, read_shipped(shipped_store))
    picks = models.comparison_models(choices, models.default_model(choices))
    learners = {c.run_id: (c, load_learner(c.run_id, shipped_store, "cpu")) for c in picks}
    supports = [prepared_sketch(s) for s in CLASSES]
    rows = models.compare(learners, supports, [prepared_sketch("circle", variation=3)])
    assert [r.choice.solver for r in rows] == ["maml", "fomaml", "transfer", "protonet"]
    for row in rows:
        assert row.probabilities.shape == (1, 5)
        assert np.isclose(row.probabilities.sum(), 1.0, atol=1e-5)
        assert len(row.adaptation.support_loss) == row.choice.steps + 1


def test_episode_browser_episodes_are_reproducible_and_an_extra_query_changes_nothing_else(maml):
    pool = ClassPool(tiny_omniglot(evaluation=2, characters=6, drawings=8).evaluation)
    a, b, c = demo.draw_episode(pool, 3), demo.draw_episode(pool, 3), demo.draw_episode(pool, 4)
    assert np.array_equal(a.support, b.support) and a.names == b.names
    assert not np.array_equal(a.support, c.support)
    assert a.support.shape == (5, 28, 28) and a.queries.shape == (5, 28, 28)
    assert sorted(a.query_labels.tolist()) == [0, 1, 2, 3, 4]
    assert len(set(a.names)) == 5
    choice = models.ModelChoice("x", "x", "maml", True, maml.steps, maml.lr, None, "complete", 1, 1)
    learners = {"x": (choice, maml)}
    plain = models.answer_episode(learners, a)[0]
    extra = models.answer_episode(learners, a, extra=prepared_sketch("spiral"))[0]
    assert plain.extra is None and extra.extra.shape == (5,)
    assert np.allclose(plain.probabilities, extra.probabilities, atol=1e-5)
    assert np.array_equal(plain.correct, plain.predictions == a.query_labels)


def test_canvas_drawings_scale_about_the_origin():
    paths = sketch_paths("triangle", 200)
    drawing = canvas.fabric_drawing(paths, 8.0)
    assert canvas.drawing_objects(drawing) == len(paths)
    obj = drawing["objects"][0]
    assert obj["originX"] == "left" and obj["path"][0][0] == "M"
    assert obj["left"] == pytest.approx(paths[0][:, 0].min() - 4.0, abs=0.01)
    bigger = canvas.scale_drawing(drawing, 1.5)
    assert bigger["objects"][0]["left"] == pytest.approx(obj["left"] * 1.5)
    assert bigger["objects"][0]["scaleX"] == 1.5 and drawing["objects"][0].get("scaleX") is None
    assert canvas.scale_drawing(None, 2.0) is None and canvas.drawing_objects(None) == 0
    with pytest.raises(UserError, match="two"):
        canvas.fabric_drawing([np.zeros((1, 2))], 8.0)


def test_upscale_repeats_pixels():
    image = np.arange(4, dtype=np.uint8).reshape(2, 2)
    big = models.upscale(image, 3)
    assert big.shape == (6, 6) and big[2, 2] == 0 and big[5, 5] == 3


def test_example_shapes_exist():
    assert set(CLASSES) <= set(SHAPES)


def test_each_model_is_offered_with_its_measured_five_way_one_shot_accuracy(shipped_store):
    choices = models.fewshot_models(shipped_store, read_shipped(shipped_store))
    for choice in choices:
        recorded = json.loads((shipped_store.path(choice.run_id) / "evaluations.json").read_text())
        wanted = [e["accuracy"] for e in recorded if (e["ways"], e["shots"], e["episodes"]) == (5, 1, 1000)][-1]
        assert choice.accuracy == wanted
        assert choice.label.endswith(f" · 5-way 1-shot {wanted:.3f}") and choice.name.endswith(f"({wanted:.3f})")
