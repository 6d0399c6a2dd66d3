"""The domain-adaptation page's logic under streamlit's AppTest: controls to config, the schedule
preview, a rejected formula, run selection, and errors shown on the page."""

from __future__ import annotations

import base64
import json
import re
from pathlib import Path

import numpy as np
import pytest
from streamlit.testing.v1 import AppTest

from core.dann.config import AUGMENTS, DANNConfig
from core.dann.maps import MapSettings, compute_maps
from core.dann.points import Points, item_images, load_points
from core.dann.run import run_dann
from core.dann.schedules import LambdaSchedule, LrSchedule
from core.data import DatasetStatus
from core.errors import UserError
from core.runs import RunInfo, RunStore
from core.shipped import ShippedRun
from presenters import runs as run_names
from presenters.dann import explore, form, schedule_preview
from tests.apptest import chart as _chart
from tests.apptest import plotly_array as _array
from tests.apptest import texts as _texts
from tests.apptest import until as _until
from tests.synthetic import make_pair, write_image_folders

PAGE = str(Path(__file__).resolve().parent.parent / "app_pages" / "domain_adaptation.py")


@pytest.fixture
def store(tmp_path, monkeypatch) -> RunStore:
    monkeypatch.setenv("EXPLORER_CHECKPOINTS_DIR", str(tmp_path / "runs"))
    monkeypatch.setenv("EXPLORER_DATA_DIR", str(tmp_path / "no-data"))
    monkeypatch.setenv("EXPLORER_CACHE_DIR", str(tmp_path / "cache"))
    monkeypatch.setenv("EXPLORER_FOLDER_ROOTS", str(tmp_path))  # the tests' image folders
    return RunStore(tmp_path / "runs")


def _page() -> AppTest:
    return AppTest.from_file(PAGE, default_timeout=120).run()


def _preview(at: AppTest) -> str:
    """The schedule preview's SVG text (an <img> with a data URL)."""
    [html] = [m.value for m in at.markdown if 'class="schedule-preview"' in m.value]
    url = re.search(r'src="(data:image/svg\+xml;base64,[^"]+)"', html).group(1)
    return base64.b64decode(url.split(",", 1)[1]).decode()


def test_form_defaults_make_the_default_config_and_folders_need_a_path():
    assert form.config_from_form(form.form_defaults()) == DANNConfig()
    with pytest.raises(UserError, match="image folder's path"):
        form.config_from_form({**form.form_defaults(), "source": form.FOLDER})
    statuses = [
        DatasetStatus("MNIST", False, "/d/MNIST", "missing: put them there"),
        DatasetStatus("USPS", True, "/d", "ok"),
    ]
    status = form.digit_status(statuses)
    assert set(status) == {"mnist", "usps"}
    assert form.missing_data(["mnist", "usps", "mnist", form.FOLDER], status) == [
        "MNIST is not at hand: missing: put them there"
    ]


def test_metrics_csv_has_a_column_per_key_and_blanks_for_missing_values():
    rows = [{"epoch": 0, "target_acc": 0.1}, {"epoch": 1, "target_acc": 0.5, "lambda": 0.3, "pseudo_acc": None}]
    assert explore.metrics_csv(rows) == "epoch,target_acc,lambda,pseudo_acc\n0,0.1,,\n1,0.5,0.3,\n"


def test_the_controls_make_the_config_that_start_trains(store, tmp_path):
    source, target = write_image_folders(tmp_path / "data", n=100)
    at = _page()
    for side, folder in (("source", source), ("target", target)):
        at.selectbox(key=f"f_{side}").set_value(form.FOLDER).run()
        at.text_input(key=f"f_{side}_folder").input(str(folder)).run()
    at.selectbox(key="f_schedule").set_value("constant").run()
    at.number_input(key="f_lambda_value").set_value(0.3)
    at.number_input(key="f_epochs").set_value(1)
    at.number_input(key="f_seed").set_value(7)
    at.number_input(key="f_lr").set_value(0.02)
    at.number_input(key="f_steps_per_epoch").set_value(3)
    at.number_input(key="f_snapshot_size").set_value(50)
    at.selectbox(key="f_model").set_value("digit").run()
    at.number_input(key="f_label_smoothing").set_value(0.1)
    augment = next(a for a in AUGMENTS if a != DANNConfig().augment)  # not the default, so the control is read
    at.selectbox(key="f_augment").set_value(augment).run()
    expected = DANNConfig(
        source=f"folder:{source}",
        target=f"folder:{target}",
        model="digit",
        epochs=1,
        seed=7,
        steps_per_epoch=3,
        snapshot_size=50,
        lr=LrSchedule(lr0=0.02),
        augment=augment,
        schedule=LambdaSchedule(kind="constant", value=0.3),
        label_smoothing=0.1,
    )
    assert not at.exception and not at.error
    assert f"run id {expected.run_id()}" in _texts(at.caption)[-1]

    at.button(key="start").click().run()
    assert "job" in at.query_params
    _until(at, lambda at: "Finished: 1 of 1 epochs." in _texts(at.success))
    run = store.get(expected.run_id())
    assert run.status == "complete" and run.config == expected.to_dict()

    at.button(key="start").click().run()  # the same config again opens the stored run
    assert at.segmented_control(key="view").value == "Explore"
    assert at.selectbox(key="run").value == expected.run_id()
    assert "trained before" in " ".join(_texts(at.info))
    assert len(store.list()) == 1


def test_the_schedule_preview_follows_the_controls(store):
    at = _page()
    at.selectbox(key="f_schedule").set_value("step").run()
    at.number_input(key="f_lambda_start").set_value(0.2)
    at.number_input(key="f_lambda_value").set_value(0.9).run()
    step = DANNConfig(schedule=LambdaSchedule(kind="step", start=0.2, value=0.9))
    svg = _preview(at)
    assert svg == schedule_preview.schedule_preview(step)
    assert ">λ(p) = 0.2 for p &lt; 0.5, then 0.9</text>" in svg

    at.selectbox(key="f_variant").set_value("source_only").run()
    assert _preview(at) == schedule_preview.schedule_preview(DANNConfig(variant="source_only"))
    assert ">λ(p) = 0 (source_only)</text>" in _preview(at)


def test_dan_shows_its_mmd_estimate_and_cdan_does_not(store):
    keys = lambda at: {w.key for w in at.get("selectbox")}
    at = _page()
    assert "f_mmd_estimate" not in keys(at)
    at.selectbox(key="f_variant").set_value("dan").run()
    at.selectbox(key="f_mmd_estimate").set_value("linear").run()
    assert not at.exception
    assert any(DANNConfig(variant="dan", mmd_estimate="linear").run_id() in c for c in _texts(at.caption))
    at.selectbox(key="f_variant").set_value("cdan").run()
    assert "f_mmd_estimate" not in keys(at)
    assert any(DANNConfig(variant="cdan").run_id() in c for c in _texts(at.caption))  # the hidden choice counts not


def test_the_lecture_preset_button_sets_the_controls_to_the_preset(store):
    from core.dann.config import PRESETS
    from core.options import from_flat

    at = _page()
    at.number_input(key="f_epochs").set_value(9)
    at.selectbox(key="f_target").set_value("usps").run()
    at.button(key="f_preset_lecture").click().run()
    assert not at.exception
    preset = PRESETS["lecture"].settings
    assert at.number_input(key="f_epochs").value == preset["epochs"]
    assert at.selectbox(key="f_target").value == preset["target"]
    assert at.number_input(key="f_lr").value == preset["lr"]
    expected = from_flat(DANNConfig, preset)
    assert any(expected.run_id() in c for c in _texts(at.caption))
    assert any("lecture preset is set" in i for i in _texts(at.info))


def test_a_bad_expression_shows_the_parsers_reason_and_start_is_refused(store):
    at = _page()
    at.selectbox(key="f_schedule").set_value("expr").run()
    at.text_input(key="f_expr").input("2*p + foo(p)").run()
    assert any("unknown function 'foo'" in e for e in _texts(at.error))
    assert at.button(key="start").disabled
    assert "job" not in at.query_params and not store.root.exists()

    at.text_input(key="f_expr").input("0.5*p").run()
    assert not any("foo" in e for e in _texts(at.error))
    assert ">λ(p) = 0.5*p</text>" in _preview(at)


def _stored_run(store: RunStore, **overrides) -> DANNConfig:
    config = DANNConfig(
        source="synthetic-source",
        target="synthetic-target",
        epochs=2,
        steps_per_epoch=2,
        batch_size=16,
        snapshot_size=50,
        snapshot_dims=8,
        **overrides,
    )
    run_dann(config, store, device="cpu", domains=make_pair(60))
    return config


def test_explore_lists_stored_runs_and_draws_the_chosen_runs_map_at_the_chosen_epoch(store):
    first = _stored_run(store, seed=1)
    second = _stored_run(store, variant="source_only")
    compute_maps(store, second.run_id(), MapSettings(method="pca"))
    at = AppTest.from_file(PAGE, default_timeout=120)
    at.query_params["view"] = "Explore"
    at.query_params["method"] = "PCA"
    at.run()
    picker = at.selectbox(key="run")
    assert set(picker.options) == {run_names.run_label(store.get(r.run_id())) for r in (first, second)}

    picker.set_value(second.run_id()).run()
    assert not at.exception and not at.error
    assert _chart(at, "map")["layout"]["title"]["text"] == "PCA · source only · epoch 2"
    at.select_slider(key="epoch").set_value(1).run()
    figure = _chart(at, "map")
    assert figure["layout"]["title"]["text"] == "PCA · source only · epoch 1"
    xs = [_array(t["x"]) for t in figure["data"]]
    assert sum(len(x) for x in xs if x.dtype != object) == 100  # every snapshot item is drawn

    at.selectbox(key="run").set_value(first.run_id()).run()  # no PCA map cached: computed in the background
    assert any("being computed" in i for i in _texts(at.info))
    _until(at, lambda at: any(c.proto.id.endswith("-map") for c in at.get("plotly_chart")))
    assert _chart(at, "map")["layout"]["title"]["text"] == "PCA · DANN · epoch 1"  # the epoch one looked at is kept
    at.select_slider(key="epoch").set_value(2).run()
    assert _chart(at, "map")["layout"]["title"]["text"] == "PCA · DANN · epoch 2"


def test_the_epoch_slider_left_at_the_last_epoch_follows_frames_that_come_in(store):
    from core.dann.files import snapshot_file

    config = _stored_run(store)
    folder = store.path(config.run_id())
    last = folder / snapshot_file(2)
    aside = folder / "epoch_2.aside"
    last.rename(aside)  # frames 0 and 1 laid out, the last still to come
    compute_maps(store, config.run_id(), MapSettings(method="pca"))
    at = AppTest.from_file(PAGE, default_timeout=120)
    at.query_params["view"] = "Explore"
    at.query_params["method"] = "PCA"
    at.run()
    assert _chart(at, "map")["layout"]["title"]["text"].endswith("epoch 1")
    aside.rename(last)
    compute_maps(store, config.run_id(), MapSettings(method="pca"))
    at.run()
    assert not at.exception and not at.error
    assert _chart(at, "map")["layout"]["title"]["text"].endswith("epoch 2")  # it was at the last: it follows
    at.select_slider(key="epoch").set_value(0).run()
    at.run()
    assert _chart(at, "map")["layout"]["title"]["text"].endswith("epoch 0")  # one the user picked stays


def test_errors_are_shown_on_the_page_and_it_keeps_working(store, tmp_path):
    config = _stored_run(store)
    (store.path(config.run_id()) / "metrics.json").write_text("{not json")
    at = AppTest.from_file(PAGE, default_timeout=120)
    at.query_params["view"] = "Explore"
    at.run()
    assert not at.exception
    assert any("metrics.json is not valid JSON" in e for e in _texts(at.error))

    at.segmented_control(key="view").set_value("Train").run()
    at.selectbox(key="f_source").set_value(form.FOLDER).run()
    at.text_input(key="f_source_folder").input(str(tmp_path / "nowhere")).run()
    at.selectbox(key="f_target").set_value(form.FOLDER).run()
    at.text_input(key="f_target_folder").input(str(tmp_path / "nowhere")).run()
    at.button(key="start").click().run()
    _until(at, lambda at: any("The job failed" in e for e in _texts(at.error)))
    assert any("nowhere" in e and "not found" in e for e in _texts(at.error))
    assert not at.exception


def test_compare_shows_the_runs_side_by_side_and_overlays_their_curves(store):
    runs = [_stored_run(store, seed=1), _stored_run(store, variant="source_only")]
    for config in runs:
        compute_maps(store, config.run_id(), MapSettings(method="pca"))
    at = AppTest.from_file(PAGE, default_timeout=120)
    at.query_params["view"] = "Compare"
    at.run()
    at.segmented_control(key="compare_method").set_value("pca").run()
    at.select_slider(key="compare_epoch").set_value(1).run()
    assert not at.exception and not at.error
    titles = {_chart(at, f"compare-map-{c.run_id()}")["layout"]["title"]["text"] for c in runs}
    assert titles == {"DANN · epoch 1", "source only · epoch 1"}
    curves = _chart(at, "compare_metrics")["data"]
    assert {t["name"] for t in curves} == {"1: source only + invert", "2: DANN (paper ramp) + invert"}
    assert len(curves) == 2 * 4  # one trace per run and metric panel


def test_compare_wraps_a_long_run_title_in_its_column_and_lines_up_the_maps(store):
    runs = [_stored_run(store, seed=1), _stored_run(store, variant="source_only"), _stored_run(store, seed=4)]
    for config in runs:
        compute_maps(store, config.run_id(), MapSettings(method="pca"))
    long_title = "DANN, the defaults (λ up to 0.3, invert augmentation, target entropy)"
    shipped = [{"run_id": runs[0].run_id(), "title": long_title, "command": "python -m core dann"}]
    (store.root / "shipped.json").write_text(
        json.dumps({"format": "transfer-explorer/shipped", "version": 1, "runs": shipped})
    )
    at = AppTest.from_file(PAGE, default_timeout=120)
    at.query_params["view"] = "Compare"
    at.run()
    at.multiselect(key="compare").set_value([c.run_id() for c in runs]).run()
    at.segmented_control(key="compare_method").set_value("pca").run()
    assert not at.exception and not at.error
    layouts = [_chart(at, f"compare-map-{c.run_id()}")["layout"] for c in runs]
    wrapped = layouts[0]["title"]["text"]
    assert wrapped.count("<br>") >= 2 and wrapped.endswith("epoch 2")  # a third of the page: three lines or more
    assert wrapped.replace("<br>", " ") == f"{long_title} · epoch 2"
    assert "<br>" not in layouts[1]["title"]["text"]
    assert len({layout["margin"]["t"] for layout in layouts}) == 1  # the maps start at the same height


def test_the_presentation_view_hides_the_controls_and_draws_large(store):
    config = _stored_run(store)
    compute_maps(store, config.run_id(), MapSettings(method="pca"))
    at = AppTest.from_file(PAGE, default_timeout=120)
    at.query_params.update(view="Explore", method="PCA", present="1")
    at.run()
    assert not at.exception and not at.title
    assert [e.label for e in at.expander] == ["Controls"]
    figure = _chart(at, "map")
    assert figure["layout"]["height"] == 820 and figure["layout"]["font"]["size"] == 22
    assert not at.get("download_button")


# ---- shipped runs -------------------------------------------------------------------------------


def _info(run_id: str, created: float, variant: str = "dann", schedule: dict | None = None) -> RunInfo:
    config = {"source": "mnist", "target": "mnistm", "variant": variant}
    if variant != "source_only":
        config["schedule"] = schedule or {"kind": "dann", "value": 1.0, "gamma": 10.0}
    return RunInfo(run_id, Path(run_id), "dann", config, "complete", 6, 6, created, created)


def test_shipped_runs_come_first_by_title_and_explore_and_compare_start_on_the_classic_ones():
    mine = _info("dann-mine", created=9.0)
    source_only = _info("dann-so", 1.0, "source_only")
    constant = _info("dann-c01", 2.0, schedule={"kind": "constant", "value": 0.1})
    paper = _info("dann-paper", 3.0)
    log = _info("dann-log", 4.0, schedule={"kind": "log", "value": 1.0})
    newest_first = [mine, log, paper, constant, source_only]
    titles = {
        "dann-so": "Source only",
        "dann-log": "Course log schedule",
        "dann-paper": "DANN paper schedule",
        "dann-c01": "Constant λ 0.1",
        "dann-gone": "Not stored",
    }
    shipped = [ShippedRun(run_id, title, "python -m core dann") for run_id, title in titles.items()]

    runs = run_names.shipped_first(newest_first, shipped)
    assert [r.run_id for r in runs] == ["dann-so", "dann-log", "dann-paper", "dann-c01", "dann-mine"]
    label = run_names.run_label(paper, "DANN paper schedule")
    assert label == "DANN paper schedule · shipped · mnist → mnistm · 6/6 epochs"
    assert run_names.run_label(paper).startswith("mnist → mnistm · DANN · λ(p) =")
    assert explore.default_run(runs, shipped) is paper
    assert explore.default_run(run_names.shipped_first(newest_first, []), []) is mine  # nothing shipped: the newest
    assert explore.compare_defaults(runs) == ["dann-so", "dann-c01", "dann-paper"]
    assert explore.compare_defaults([mine, log, constant]) == ["dann-c01", "dann-mine"]  # the two that exist
    assert explore.compare_defaults([log, mine]) == ["dann-log", "dann-mine"]  # fewer than two: the first runs


def test_explore_opens_on_the_shipped_paper_schedule_and_compare_on_the_classic_contrast(store):
    paper = _stored_run(store)
    source_only = _stored_run(store, variant="source_only")
    mine = _stored_run(store, seed=3)
    for config in (paper, source_only, mine):
        compute_maps(store, config.run_id(), MapSettings(method="pca"))
    shipped = [
        {"run_id": source_only.run_id(), "title": "Source only", "command": "python -m core dann"},
        {"run_id": paper.run_id(), "title": "DANN paper schedule", "command": "python -m core dann"},
    ]
    (store.root / "shipped.json").write_text(
        json.dumps({"format": "transfer-explorer/shipped", "version": 1, "runs": shipped})
    )
    at = AppTest.from_file(PAGE, default_timeout=120)
    at.query_params.update(view="Explore", method="PCA")
    at.run()
    assert not at.exception and not at.error
    picker = at.selectbox(key="run")
    assert picker.value == paper.run_id()
    assert picker.options[:2] == [
        run_names.run_label(store.get(source_only.run_id()), "Source only"),
        run_names.run_label(store.get(paper.run_id()), "DANN paper schedule"),
    ]
    assert _chart(at, "map")["layout"]["title"]["text"] == "PCA · DANN paper schedule · epoch 2"
    assert any("Click a point" in c for c in _texts(at.caption))

    at.segmented_control(key="view").set_value("Compare").run()
    assert at.multiselect(key="compare").value == [source_only.run_id(), paper.run_id()]


# ---- a point clicked on the map --------------------------------------------------------------------


def test_a_clicked_point_is_found_by_its_row_and_item_and_read_at_the_maps_epoch():
    domain, item, label = np.array([0, 0, 0, 1, 1], np.uint8), np.array([7, 3, 9, 4, 0]), np.array([1, 2, 3, -1, -1])
    probs = np.array([0.1, 0.2, 0.3, 0.9, 0.6], np.float32)
    points = Points(domain, item, label, {2: np.array([1, 5, 3, 0, 8])}, {2: probs})
    clicked = {"points": [{"curve_number": 1, "point_index": 1, "customdata": [0, -1, 8, 4]}]}
    assert explore.selected_row(clicked, points) == 4
    assert explore.inspect(points, 4, 2) == explore.Inspected(
        row=4, domain=1, item=0, label=-1, prediction=8, domain_prob=pytest.approx(0.6)
    )
    ids, position = explore.domain_ids(points, 4)
    assert list(ids) == [4, 0] and position == 1
    assert explore.domain_ids(points, 1)[1] == 1
    as_the_browser_sends_it = {"points": [{"customdata": {"0": 0, "1": -1, "2": 8, "3": 4}}]}  # numpy customdata
    assert explore.selected_row(as_the_browser_sends_it, points) == 4
    assert explore.selected_row({"points": [], "point_indices": []}, points) is None
    assert explore.selected_row({"points": [{"customdata": [5, 1, 1, 4]}]}, points) is None  # another run's item 5
    assert explore.selected_row({"points": [{"customdata": [0, -1, 8, 99]}]}, points) is None
    assert (
        explore.inspect(Points(points.domain, points.item, points.label, points.predictions), 0, 2).domain_prob is None
    )


def test_item_images_are_the_items_the_run_was_trained_on_and_never_downloaded(store, tmp_path):
    source, target = write_image_folders(tmp_path / "data", n=60)
    config = DANNConfig(
        source=f"folder:{source}",
        target=f"folder:{target}",
        model="digit",
        epochs=1,
        steps_per_epoch=1,
        batch_size=8,
        snapshot_size=20,
    )
    run_dann(config, store, device="cpu")
    run, points = store.get(config.run_id()), load_points(store, config.run_id(), [0])
    ids, _ = explore.domain_ids(points, 0)
    images = item_images(config.source, "digit", ids, trained_on=run.extra["source"])
    assert images.shape == (len(ids), 28, 28, 3) and images.dtype == np.uint8
    labels = points.label[points.domain == 0]
    for image, label in zip(images, labels):  # tests.synthetic: class c is a bright 8x4 bar at one of ten places
        rows, cols = np.nonzero(image[..., 0] > 127)
        assert abs(rows.min() - (3 + (label // 5) * 12)) <= 1 and abs(cols.min() - (2 + (label % 5) * 5)) <= 1
    assert explore.enlarged(images[0]).shape == (112, 112, 3)
    assert (explore.enlarged(images[0])[::4, ::4] == images[0]).all()  # square pixels: 28 -> 112 repeats each 4x4
    assert explore.enlarged(images[:1, :, :, :1][0], 56).shape == (56, 56)  # greyscale

    with pytest.raises(UserError, match="trained on other"):
        item_images(config.source, "digit", ids, trained_on={"name": "other"})
    with pytest.raises(UserError, match="has 60 evaluation items, but the run was trained with 61"):
        item_images(config.source, "digit", ids, trained_on={"name": "source", "eval_items": 61})
    with pytest.raises(UserError, match="MNIST not found"):  # the data dir is empty and nothing is downloaded
        item_images("mnist", "digit", [0, 1])
    with pytest.raises(UserError, match="unknown network"):
        item_images(config.source, "hw", ids)
