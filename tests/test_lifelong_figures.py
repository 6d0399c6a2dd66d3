"""The lifelong page's presenters without a browser: the form <-> config, the runs Explore and
Compare offer, the figures' traces, the tables, and the exports (CSV columns, a self-contained
HTML file, PNGs that decode). Runs are tiny streams of the synthetic digits in a temporary store."""

from __future__ import annotations

import dataclasses
import io
import re

import numpy as np
import pytest
import torch
from PIL import Image

from core.data.streams import Task, load_stream, task_specs
from core.errors import UserError
from core.lifelong.config import DEFAULT_STRENGTH, LifelongConfig
from core.lifelong.run import run_lifelong
from core.lifelong.stored import load_run
from core.runs import RunInfo, RunStore
from presenters.lifelong import explore, exports, figures, form, tables
from tests.tables import parse_markdown_table

TINY = dict(data="synthetic", hidden=16, layers=1, batch_size=50, importance_items=60)


def tiny(**kw) -> LifelongConfig:
    return LifelongConfig(**{**TINY, **kw})


def trained(store: RunStore, config: LifelongConfig):
    run_lifelong(config, store)
    return load_run(store, config.run_id())


@pytest.fixture(scope="module")
def store(tmp_path_factory) -> RunStore:
    return RunStore(tmp_path_factory.mktemp("lifelong-figures"))


@pytest.fixture(scope="module")
def ewc(store):
    return trained(store, tiny(stream="rotated", tasks=3, epochs=2, method="ewc"))


@pytest.fixture(scope="module")
def finetune(store):
    return trained(store, tiny(stream="rotated", tasks=3, epochs=2, method="finetune"))


@pytest.fixture(scope="module")
def permuted(store):
    return trained(store, tiny(stream="permuted", tasks=2, method="mas"))


def _by_name(fig) -> dict[str, dict]:
    return {t.name: t for t in fig.data}


# ---- the form --------------------------------------------------------------------------------------


def test_the_form_defaults_are_the_default_config_with_tasks_and_strength_resolved():
    defaults = form.form_defaults()
    assert defaults["tasks"] == 5 and defaults["strength"] == DEFAULT_STRENGTH["ewc"]
    config = form.config_from_form(defaults)
    assert config == LifelongConfig() and config.run_id() == LifelongConfig().run_id()
    assert form.default_tasks("permuted") == 10 and form.max_tasks("split") == 5
    assert form.default_strength("mas") == DEFAULT_STRENGTH["mas"] and form.default_strength("replay") is None


def test_the_form_builds_the_config_it_shows_and_each_method_its_own_settings():
    values = {**form.form_defaults(), "stream": "split", "tasks": 4, "scenario": "class", "method": "replay"}
    values |= {"strength": 123.0, "buffer_size": 300, "hidden": 64, "epochs": 3, "seed": 5}
    config = form.config_from_form(values)
    # replay has no strength: the box's last value is not the config's
    assert config == LifelongConfig(
        stream="split", tasks=4, scenario="class", method="replay", buffer_size=300, hidden=64, epochs=3, seed=5
    )
    assert form.method_settings("ewc") == ["fisher", "importance_items"]
    assert form.method_settings("online_ewc") == ["fisher", "gamma", "importance_items"]
    assert form.method_settings("si") == ["si_damping"] and form.method_settings("finetune") == []
    assert form.uses("strength", "scp") and not form.uses("strength", "joint")
    with pytest.raises(UserError, match="1 to 5 tasks"):
        form.config_from_form({**values, "tasks": 6})
    preview = form.preview_markdown(config)
    assert "**4 tasks** of split MNIST, one head over all ten digits: 0/1 · 2/3 · 4/5 · 6/7" in preview
    assert "replay, a buffer of 300 training items" in preview and "3 epochs per task (12 in all)" in preview
    long = form.preview_markdown(LifelongConfig(stream="permuted", tasks=20, method="ewc", strength=50.0))
    assert "identity · permutation 1" in long and "… · permutation 18 · permutation 19" in long
    assert "EWC \\(λ 50\\), sampled Fisher" in long
    assert "Adam at learning rate 0.001 (restarted at every task)" in long


def test_the_preview_says_what_joint_costs_and_which_optimiser_trains():
    joint = form.preview_markdown(LifelongConfig(stream="permuted", method="joint", epochs=2))
    assert "tasks 1 to t together, 110 passes over a task's training split in all, 5.5 times" in joint
    sgd = form.preview_markdown(LifelongConfig(optimizer="sgd", lr=0.1, momentum=0.9))
    assert "SGD at learning rate 0.1, momentum 0.9, seed 0" in sgd and "Adam" not in sgd


def test_the_preview_says_when_the_digits_are_synthetic():
    assert "synthetic bar digits" in form.preview_markdown(LifelongConfig(data="synthetic"))
    assert "synthetic" not in form.preview_markdown(LifelongConfig())


# ---- which runs ------------------------------------------------------------------------------------


def _info(run_id: str, method: str, seed: int = 0, stream: str = "rotated", epochs_done: int = 5) -> RunInfo:
    config = {"stream": stream, "tasks": 5, "method": method, "seed": seed}
    if stream == "rotated":
        config["angle_step"] = 20.0
    return RunInfo(run_id, None, "lifelong", config, "complete", epochs_done, 5, 1.0, 1.0)


def test_compare_groups_runs_by_stream_and_seed_and_starts_with_one_run_per_method():
    runs = [
        _info("a", "ewc"),
        _info("b", "finetune"),
        _info("c", "ewc"),
        _info("d", "mas", seed=1),
        _info("e", "si", stream="permuted"),
    ]
    groups = explore.stream_groups(runs)
    assert [[r.run_id for r in g] for g in groups.values()] == [["a", "b", "c"], ["d"], ["e"]]
    assert explore.compare_defaults(next(iter(groups.values()))) == ["a", "b"]
    assert explore.compare_defaults([_info("x", "ewc"), _info("y", "ewc")]) == ["x", "y"]  # one method: the runs
    assert explore.stream_text(runs[0].config) == "rotated MNIST, 5 tasks, 20° apart · seed 0"
    assert explore.stream_key({**runs[0].config, "angle_step": 45.0}) != explore.stream_key(runs[0].config)


def test_explore_offers_the_lifelong_runs_that_finished_an_epoch(store, ewc, finetune):
    ids = [r.run_id for r in explore.lifelong_runs(store)]
    assert ewc.info.run_id in ids and finetune.info.run_id in ids


# ---- figures ---------------------------------------------------------------------------------------


def test_the_curves_have_one_line_per_task_and_the_tasks_spans_shaded(ewc):
    view = explore.stored_view(ewc, "EWC")
    fig = figures.curves_figure(view, title="t")
    traces = _by_name(fig)
    names = ["task 1 (0°)", "task 2 (20°)", "task 3 (40°)"]
    assert [t.name for t in fig.data if t.showlegend] == names
    assert {f"{n}, not learned yet" for n in names[1:]} <= set(traces)  # dotted before their own span
    solid = traces["task 2 (20°)"]
    assert list(solid.x) == [2, 3, 4, 5, 6]  # from the end of task 1 on (2 epochs per task)
    assert np.allclose(solid.y, ewc.matrix.curves[2:, 1])
    assert list(traces["task 2 (20°), not learned yet"].x) == [0, 1, 2]
    assert traces["task 2 (20°), not learned yet"].line.dash == "dot"
    rects = [s for s in fig.layout.shapes if s.type == "rect"]
    assert [(s.x0, s.x1) for s in rects] == [(0, 2), (2, 4), (4, 6)]
    assert len([s for s in fig.layout.shapes if s.type == "line"]) == 2
    assert fig.layout.yaxis.title.text == "accuracy on the test split"
    assert fig.layout.xaxis.title.text.startswith("epoch over the stream")


def test_a_live_matrix_fills_in_row_by_row(ewc, store):
    rows = store.metrics(ewc.info.run_id)
    live = explore.live_view(ewc.info, rows[:4], "live")  # epochs 0-3: task 1 done, task 2 half way
    assert live.learned == 1 and live.tasks == 3
    heat = figures.matrix_figure(live).data[0]
    z = np.array(heat.z, dtype=float)
    assert z.shape == (3, 3) and np.allclose(z[0], ewc.matrix.R[0]) and np.isnan(z[1:]).all()
    assert heat.text[0][0] == f"{ewc.matrix.R[0, 0]:.2f}" and list(heat.text[1]) == ["", "", ""]
    assert "not learned yet" in heat.hovertext[2][0]
    curves = figures.curves_figure(live)
    assert curves.layout.xaxis.range == (-0.3, 6.3)  # the whole stream, not just what is stored
    full = figures.matrix_figure(explore.stored_view(ewc, "EWC")).data[0]
    assert np.allclose(np.array(full.z, dtype=float), ewc.matrix.R)
    assert full.hovertext[2][0].startswith("after learning task 3 (40°):<br>accuracy")


def test_forgetting_bars_are_the_scores_per_task(ewc):
    scores = ewc.matrix.scores()
    fig = figures.forgetting_figure(explore.stored_view(ewc, "EWC"), scores)
    forgetting, bwt = fig.data
    assert list(forgetting.x) == ["task 1 (0°)", "task 2 (20°)"]
    assert np.allclose(forgetting.y, scores.forgetting_per_task)
    R = ewc.matrix.R
    assert np.allclose(bwt.y, [R[2, 0] - R[0, 0], R[2, 1] - R[1, 1]])
    assert np.mean(bwt.y) == pytest.approx(scores.bwt)


def test_importance_pictures_are_one_heatmap_per_task_scaled_to_its_largest(ewc, finetune):
    fig = figures.importance_figure(explore.image_pictures(ewc), ewc.task_names)
    assert len(fig.data) == 3 and all(t.type == "heatmap" for t in fig.data)
    assert all(np.asarray(t.z).shape == (28, 28) and np.asarray(t.z).max() == pytest.approx(1.0) for t in fig.data)
    assert [a.text for a in fig.layout.annotations] == ["task 1<br>0°", "task 2<br>20°", "task 3<br>40°"]
    assert fig.layout.yaxis.autorange == "reversed"  # row 0 of the image at the top
    assert "#000004" not in str(fig.layout.coloraxis.colorscale)  # one Streamlit replaces with a theme colour
    assert not finetune.pictures
    assert explore.importance_note(finetune.config) == (
        "fine-tuning measures no importance (it protects nothing), so there is nothing to picture."
    )
    for method in ("joint", "replay"):
        assert "measures no importance" in explore.importance_note(LifelongConfig(method=method))
    assert "flat" in explore.importance_note(LifelongConfig(method="l2"))
    assert "rotated images" in explore.importance_note(ewc.config)
    assert "5×5 kernel" in explore.importance_note(LifelongConfig(method="mas", model="conv"))


def test_a_permuted_tasks_picture_is_put_back_at_the_pixels_it_reads(permuted):
    config = permuted.config
    spec = task_specs(config.stream, config.tasks, seed=config.seed)[1]
    stream = load_stream(config.stream, config.tasks, seed=config.seed, data="synthetic")
    image = torch.arange(784, dtype=torch.uint8).remainder(251).view(1, 28, 28)
    seen = Task(spec, stream).transform(image).view(28, 28).numpy()  # each input position's pixel
    run = dataclasses.replace(permuted, pictures={1: np.ones((28, 28)), 2: seen})
    pictures = explore.image_pictures(run)
    assert np.allclose(pictures[2], image[0].numpy() / 255) and np.array_equal(pictures[1], np.ones((28, 28)))
    assert "unshuffled" in explore.importance_note(config)


def test_drift_bars_give_each_layers_relative_drift_per_task(ewc):
    fig = figures.drift_figure(ewc.records, ewc.task_names)
    assert [t.name for t in fig.data] == ["task 1 (0°)", "task 2 (20°)", "task 3 (40°)"]
    assert list(fig.data[0].x) == ["hidden 1", "output head"]
    assert list(fig.data[1].y) == [layer["relative_drift"] for layer in ewc.records[1]["layers"]]
    assert fig.layout.barmode == "group"


def test_compare_draws_a_panel_per_run_on_one_scale_and_one_table(ewc, finetune):
    views = [explore.stored_view(finetune, "fine-tuning"), explore.stored_view(ewc, "EWC (λ 1000)")]
    curves = figures.compare_curves_figure(views)
    assert {t.xaxis for t in curves.data} == {"x", "x2"}
    assert [t.name for t in curves.data if t.showlegend] == ["task 1 (0°)", "task 2 (20°)", "task 3 (40°)"]
    assert [a.text for a in curves.layout.annotations] == ["1: fine-tuning", "2: EWC (λ 1000)"]
    assert curves.layout.yaxis.range == curves.layout.yaxis2.range == (0, 1.04)
    matrices = figures.compare_matrices_figure(views)
    assert [t.type for t in matrices.data] == ["heatmap", "heatmap"]
    assert {t.coloraxis for t in matrices.data} == {"coloraxis"}  # one colour scale
    rows = parse_markdown_table(tables.compare_markdown(views))
    assert [r["run"] for r in rows] == ["fine-tuning", "EWC (λ 1000)"]
    for row, run in zip(rows, (finetune, ewc)):
        s = run.matrix.scores()
        assert row["tasks learned"] == "3 of 3"
        assert [row[c] for c in ("average accuracy", "forgetting", "BWT", "FWT")] == [
            f"{v:.3f}" for v in (s.average_accuracy, s.forgetting, s.bwt, s.fwt)
        ]


def test_the_scores_table_names_every_score(ewc):
    rows = parse_markdown_table(tables.scores_markdown(ewc.matrix.scores()))
    assert [r["score"] for r in rows] == ["average accuracy", "forgetting", "BWT", "FWT"]
    assert rows[0]["value"] == f"{ewc.matrix.scores().average_accuracy:.3f}"
    partial = figures.RunView("p", ewc.matrix, ewc.task_names, 2)
    partial = dataclasses.replace(partial, matrix=dataclasses.replace(ewc.matrix, R=ewc.matrix.R[:2]))
    assert tables.learned_text(partial) == "2 of 3 (up to task 2 (20°))"


# ---- exports ---------------------------------------------------------------------------------------


def test_the_csv_has_every_epoch_and_every_tasks_accuracy_and_loss(ewc, store):
    rows = store.metrics(ewc.info.run_id)
    lines = exports.metrics_csv(rows, 3).splitlines()
    header = lines[0].split(",")
    assert header[:11] == [
        "epoch",
        "task",
        "task_epoch",
        "train_loss",
        "penalty",
        "acc_1",
        "acc_2",
        "acc_3",
        "loss_1",
        "loss_2",
        "loss_3",
    ]
    assert header[11:] == ["seconds"]
    assert len(lines) == 1 + 7  # epochs 0 to 6
    last = dict(zip(header, lines[-1].split(",")))
    assert float(last["acc_2"]) == pytest.approx(rows[-1]["acc_2"]) and last["epoch"] == "6"
    assert dict(zip(header, lines[1].split(",")))["train_loss"] == ""  # epoch 0 trained nothing


def test_the_html_export_is_one_self_contained_page(ewc):
    view = explore.stored_view(ewc, "EWC")
    text = exports.figures_html([figures.curves_figure(view), figures.matrix_figure(view)], "EWC <run>")
    assert text.startswith("<!DOCTYPE html>") and "<title>EWC &lt;run&gt;</title>" in text
    assert not re.findall(r"<script[^>]*\bsrc=", text)  # nothing to fetch: plotly.js is inlined
    assert "plotly.js v" in text
    assert text.count("Plotly.newPlot(") == 2 and len(text) > 1_000_000


def test_the_pngs_decode_and_show_the_matrix_as_drawn(ewc, store):
    view = explore.stored_view(ewc, "EWC")
    matrix = Image.open(io.BytesIO(exports.matrix_png(view, "EWC")))
    assert matrix.format == "PNG" and matrix.mode == "RGB" and matrix.width > 400
    live = explore.live_view(ewc.info, store.metrics(ewc.info.run_id)[:3], "live")  # task 1 learned, not 2 and 3
    blank = Image.open(io.BytesIO(exports.matrix_png(live)))
    grey = lambda image: dict((c, n) for n, c in image.getcolors(maxcolors=1 << 20)).get((242, 242, 242), 0)
    assert blank.size == matrix.size
    assert grey(blank) > 6 * 80 * 80 > 100 * grey(matrix)  # six blank cells: the rows not learned yet
    curves = Image.open(io.BytesIO(exports.curves_png(view, "EWC")))
    assert curves.format == "PNG" and curves.size == (1600, 1000)
