"""Lifelong learning: train a stream of tasks in the background, explore a run's accuracy matrix,
forgetting, importance pictures and drift, compare methods on one stream, and the two-parameter
picture of why a penalty helps.

UI only. Training runs as a background job (core.lifelong.jobs) on the registry every page and
session of this server shares; the job being watched is kept in the URL (?job=...) and so is the
explored run (?run=...), so a refresh or a second tab reattaches. What the page shows is made by
presenters.lifelong. Widgets keep their values across page switches (persist_state="session").
"""

from __future__ import annotations

import re

import streamlit as st

from app_pages.background import (
    cancel,
    flash,
    job_registry,
    may_cancel,
    me,
    other_jobs,
    shipped_runs,
    show_flash,
)
from app_pages.presentation import presentation_view
from core.data import mnist
from core.data.streams import DATA, STREAMS
from core.errors import UserError
from core.jobs import JobStatus
from core.lifelong import toy
from core.lifelong.config import FISHERS, METHODS, MODELS, SCENARIOS, LifelongConfig
from core.lifelong.files import METHOD_NAMES, STREAM_NAMES
from core.lifelong.jobs import TRAIN, LifelongJobs
from core.paths import checkpoints_dir
from core.runs import RunInfo, RunStore, asked_again
from core.shipped import ShippedRun
from presenters import runs as run_names
from presenters.lifelong import explore, exports, figures, form, tables
from presenters.lifelong import toy as toy_figures

VIEWS = ("Train", "Explore", "Compare", "Two-parameter picture")
POLL_SECONDS = 1.0
JOB_ID = re.compile(r"[0-9a-f]{12}")  # what the registry hands out; anything else in ?job= is no job
COMPARED_MOST = 6
# The two-parameter picture's strengths: MAS's importance is about 40x EWC's here, so a useful λ for
# one is far from the other's, and a log scale serves both.
TOY_STRENGTHS = (0.0, 0.01, 0.02, 0.05, 0.1, 0.2, 0.5, 1.0, 2.0, 5.0, 10.0, 20.0, 50.0, 100.0)
TOY_CHOICES = (*toy.METHODS, "all")
TOY_NAMES = {**toy_figures.METHOD_LABELS, "all": "all four"}


@st.cache_resource(show_spinner=False)
def _jobs(root: str) -> LifelongJobs:
    """Lifelong trainings for one run store, on the registry the server's pages share."""
    return LifelongJobs(job_registry(), RunStore(root))


@st.cache_data(ttl=30, show_spinner=False)
def _mnist_status():
    return mnist.status()


@st.cache_resource(max_entries=16, show_spinner="Reading the run…")
def _load(root: str, run_id: str, updated: float):
    """A stored run, read again when its run.json changes (`updated`: a training stored an epoch).
    (core.lifelong.stored reads a run without torch.)"""
    from core.lifelong.stored import load_run

    return load_run(RunStore(root), run_id)


def _bound(key: str):
    """A URL-bound widget's value before the widget is drawn: session state, else the URL."""
    return st.session_state.get(key, st.query_params.get(key))


def _controls(present: bool):
    """Where a view puts its controls: inline, or folded away in the presentation view."""
    return st.expander("Controls", expanded=False) if present else st.container()


def _sizes(present: bool) -> tuple[int, int]:
    """Font size and a main figure's height."""
    return (20, 620) if present else (13, 440)


def _title(info: RunInfo, titles: dict[str, str]) -> str:
    """A shipped run's title, else its method with its strength."""
    return titles.get(info.run_id) or run_names.short_run_name(info)


def _show_run(run_id: str) -> None:
    """Pick `run_id` in Explore (in a callback: before the picker is drawn)."""
    st.session_state["ll_run"] = run_id
    st.query_params["run"] = run_id


def _open_run(run_id: str) -> None:
    _show_run(run_id)
    st.session_state["ll_view"] = "Explore"


# ---- Train -------------------------------------------------------------------------------------


def _init_form(jobs: LifelongJobs, store: RunStore) -> None:
    """The controls' first values in this session: the defaults, or where the URL names a training
    job (a refresh, a shared link), the settings of the run it trains."""
    values = form.form_defaults()
    job_id = st.query_params.get("job", "")
    if "ll_f_stream" not in st.session_state and JOB_ID.fullmatch(job_id):
        job = jobs.registry.status(job_id)
        if job is not None and job.kind == TRAIN and store.exists(job.run_id):
            values = form.form_values(LifelongConfig.from_dict(store.get(job.run_id).config))
    for key, value in values.items():
        st.session_state.setdefault(f"ll_f_{key}", value)


def _form() -> dict:
    return {key: st.session_state[f"ll_f_{key}"] for key in form.form_defaults()}


def _stream_changed() -> None:
    st.session_state["ll_f_tasks"] = form.default_tasks(st.session_state["ll_f_stream"])


def _method_changed() -> None:
    strength = form.default_strength(st.session_state["ll_f_method"])
    if strength is not None:
        st.session_state["ll_f_strength"] = strength


def _stream_controls() -> None:
    stream = st.session_state["ll_f_stream"]
    cols = st.columns([3, 1])
    cols[0].selectbox(
        "Stream",
        tuple(STREAMS),
        key="ll_f_stream",
        format_func=lambda s: f"{STREAM_NAMES[s]}: {STREAMS[s]}",
        on_change=_stream_changed,
        persist_state="session",
    )
    cols[1].number_input(
        "Tasks", 1, form.max_tasks(stream), key="ll_f_tasks", help=form.help_text("tasks"), persist_state="session"
    )
    st.selectbox(
        "Data",
        tuple(DATA),
        key="ll_f_data",
        format_func=lambda d: form.choice_label("data", d),
        help=form.help_text("data"),
        persist_state="session",
    )
    if stream == "rotated":
        st.number_input(
            "Degrees between one task and the next",
            -360.0,
            360.0,
            key="ll_f_angle_step",
            step=5.0,
            format="%g",
            persist_state="session",
        )
    elif stream == "split":
        st.selectbox(
            "Scenario",
            tuple(SCENARIOS),
            key="ll_f_scenario",
            format_func=lambda s: f"{s}: {SCENARIOS[s]}",
            persist_state="session",
        )


def _method_controls() -> None:
    st.selectbox(
        "Method",
        tuple(METHODS),
        key="ll_f_method",
        format_func=lambda m: form.choice_label("method", m),
        on_change=_method_changed,
        persist_state="session",
    )
    method = st.session_state["ll_f_method"]
    default = form.default_strength(method)
    if default is not None:
        st.number_input(
            f"Strength λ ({METHOD_NAMES[method]}'s default: {default:g}; 0 is fine-tuning)",
            0.0,
            1e9,
            key="ll_f_strength",
            step=default / 10,
            format="%g",
            help="The weight of the penalty that holds the weights important to earlier tasks.",
            persist_state="session",
        )
    own = form.method_settings(method)
    if not own:
        return
    cols = st.columns(len(own))
    for col, key in zip(cols, own):
        with col:
            _method_setting(key)


def _method_setting(key: str) -> None:
    help = form.help_text(key)
    if key == "fisher":
        st.selectbox("Fisher", tuple(FISHERS), key="ll_f_fisher", help=help, persist_state="session")
    elif key == "gamma":
        st.number_input("Decay γ", 0.01, 1.0, key="ll_f_gamma", step=0.05, help=help, persist_state="session")
    elif key == "si_damping":
        st.number_input(
            "Damping ξ", 1e-4, 100.0, key="ll_f_si_damping", step=0.05, format="%g", help=help, persist_state="session"
        )
    elif key == "slices":
        st.number_input("Slices", 1, 10_000, key="ll_f_slices", help=help, persist_state="session")
    elif key == "importance_items":
        st.number_input(
            "Items to measure importance on", 1, 60_000, key="ll_f_importance_items", help=help, persist_state="session"
        )
    elif key == "buffer_size":
        st.number_input("Replay buffer (items)", 0, 60_000, key="ll_f_buffer_size", help=help, persist_state="session")


def _advanced_controls() -> None:
    with st.expander("Advanced: the network and the optimisation"):
        cols = st.columns(3)
        cols[0].selectbox(
            "Network",
            tuple(MODELS),
            key="ll_f_model",
            format_func=lambda m: form.choice_label("model", m),
            persist_state="session",
        )
        cols[1].number_input(
            "Hidden units", 1, 4096, key="ll_f_hidden", help=form.help_text("hidden"), persist_state="session"
        )
        if st.session_state["ll_f_model"] == "mlp":
            cols[2].number_input(
                "Hidden layers", 1, 8, key="ll_f_layers", help=form.help_text("layers"), persist_state="session"
            )
        cols = st.columns(4)
        cols[0].number_input("Epochs per task", 1, 1000, key="ll_f_epochs", persist_state="session")
        cols[1].number_input(
            "Batch size", 1, 4096, key="ll_f_batch_size", help=form.help_text("batch_size"), persist_state="session"
        )
        cols[2].number_input(
            "Learning rate",
            1e-6,
            10.0,
            key="ll_f_lr",
            format="%.4f",
            step=0.0005,
            help=form.help_text("lr"),
            persist_state="session",
        )
        cols[3].number_input(
            "Seed", 0, 2**31 - 1, key="ll_f_seed", help=form.help_text("seed"), persist_state="session"
        )


def _start(jobs: LifelongJobs, config: LifelongConfig, retrain: bool = False) -> None:
    """Start button: queue the training (continuing an interrupted one), or open the stored run
    when it was trained before; an interrupted run that cannot be continued is kept until the
    person chooses to train it again."""
    try:
        started = jobs.start_training(config, retrain=retrain, owner=me())
    except UserError as err:
        flash("error", str(err), key="ll_flash")
        return
    st.session_state["ll_kept"] = started.run_id if started.kept is not None else None
    if started.kept is not None:
        return
    if started.found:
        _open_run(started.run_id)
        flash("info", "This configuration was trained before: here is the stored run.", key="ll_flash")
    else:
        _watch(started.job_id)


def _start_label(jobs: LifelongJobs, store: RunStore, run_id: str) -> tuple[str, str | None]:
    """The start button's label, and what it will do when that needs saying."""
    training = jobs.training(run_id)
    if training is not None and training.active:
        return "Watch its training", "This configuration is being trained on this server right now."
    mode, current = asked_again(store, run_id)
    if mode == "found":
        return "Open the stored run", "This configuration was trained before: Start opens the stored run."
    if mode == "resume":
        return "Continue training", (
            f"An earlier training of this configuration stopped after epoch {current.epochs_done} of "
            f"{current.epochs_planned}, its finished tasks kept: Continue takes it up from there."
        )
    return "Start training", None


def _train_view(jobs: LifelongJobs, store: RunStore, present: bool) -> None:
    _init_form(jobs, store)
    left, right = st.columns([1, 1], gap="large")
    with left, _controls(present):
        _stream_controls()
        _method_controls()
        _advanced_controls()
    problems = []
    config = None
    try:
        config = form.config_from_form(_form())
    except UserError as err:
        problems.append(str(err))
    if st.session_state["ll_f_data"] == "mnist" and not (status := _mnist_status()).available:
        problems.append(f"MNIST is not at hand: {status.detail}")
    with right:
        if config is not None:
            st.markdown(form.preview_markdown(config))
        for problem in problems:
            st.error(problem)
        run_id = config.run_id() if config is not None else None
        label, note = _start_label(jobs, store, run_id) if run_id is not None else ("Start training", None)
        if run_id is not None:
            st.caption(f"Run id {run_id}. Accuracies are measured on each task's test split after every epoch.")
        if note:
            st.info(note)
        st.button(
            label,
            type="primary",
            disabled=bool(problems),
            on_click=_start,
            args=(jobs, config),
            key="ll_start",
        )
        if run_id is not None and st.session_state.get("ll_kept") == run_id:
            _kept_offer(jobs, store, config, run_id)
        _job_section(jobs, store, present)


def _kept_offer(jobs: LifelongJobs, store: RunStore, config: LifelongConfig, run_id: str) -> None:
    """An earlier training of this config stopped without what continuing needs: explore its
    finished tasks, or train again from the start (which deletes them)."""
    if not store.exists(run_id):
        return
    kept = store.get(run_id)
    st.warning(
        f"An earlier training of this configuration stopped ({kept.status}) with {kept.epochs_done} of "
        f"{kept.epochs_planned} epochs kept, and cannot be continued. Explore them, or train again from the start, "
        "which deletes them."
    )
    with st.container(horizontal=True):
        st.button("Explore the kept epochs", key="ll_kept_explore", on_click=_open_run, args=(kept.run_id,))
        st.button("Train again from the start", key="ll_kept_retrain", on_click=_start, args=(jobs, config, True))


def _job_section(jobs: LifelongJobs, store: RunStore, present: bool) -> None:
    job_id = st.query_params.get("job") or st.session_state.get("ll_job")
    if job_id and "job" not in st.query_params:  # back from another page, which left the URL without it
        st.query_params["job"] = job_id
    if job_id:
        status = jobs.registry.status(job_id) if JOB_ID.fullmatch(job_id) else None
        if status is None or status.kind != TRAIN:  # unknown here, or not a lifelong training (a crafted URL)
            st.warning(
                "This server does not know the training job this link names (the server may have restarted). "
                "Any tasks it finished are under Explore."
            )
        else:
            _job_panel(jobs, store, status, present)
    other_jobs(jobs.registry, TRAIN, job_id, "Other lifelong trainings on this server", _watch, key="ll_watch")


def _job_panel(jobs: LifelongJobs, store: RunStore, drawn: JobStatus, present: bool) -> None:
    """The job's progress, polled while it is queued or running, then the matrix and curves as far
    as the job has stored them. Only the progress is polled; the figures are drawn by the page's
    own run, which the poll starts again whenever a task ends (a new row of the matrix) or the job
    does. Not at every epoch: a small network stores an epoch every second or so, and redrawing both
    figures that often kept the browser of a busy 2-core machine drawing all the time (the browser
    test found no drawn matrix until the job ended), and slows every other tab on the server."""
    if drawn.active:
        per_task = _epochs_per_task(store, drawn.run_id)

        def mark(s: JobStatus) -> int:
            # before the run exists (the job is queued or loading its data), its first stored row counts
            return s.details.epoch // per_task if per_task else len(s.details.metrics)

        @st.fragment(run_every=POLL_SECONDS)
        def progress() -> None:
            status = jobs.registry.status(drawn.job_id)
            if not status.active or mark(status) != mark(drawn):
                st.rerun()  # the job ended or finished a task: redraw the whole page, its figures with it
            _draw_job(jobs, status)

        progress()
    else:
        _draw_job(jobs, drawn)
    _draw_live(store, drawn, present)


def _epochs_per_task(store: RunStore, run_id: str) -> int | None:
    """The epochs per task of a run being trained; None while the job has not created it yet."""
    if not store.exists(run_id):
        return None
    return LifelongConfig.from_dict(store.get(run_id).config).epochs


def _draw_job(jobs: LifelongJobs, s: JobStatus) -> None:
    st.markdown(f"**{s.title}**")
    epochs = f"epoch {s.details.epoch} of {s.details.epochs}"
    if s.state == "queued":
        st.info(f"Waiting in the queue: position {s.position} (at most {jobs.registry.max_workers} jobs run at once).")
    elif s.state == "running":
        text = f"{s.note} · step {s.step} of {s.total}" if s.total else s.note
        st.progress(s.fraction, text=f"{text} · {epochs} stored")
    elif s.state == "done":
        st.success(f"Finished: {s.details.epochs} epochs over the whole stream.")
    elif s.state == "cancelled" and s.details.epoch == 0:
        st.warning("Cancelled before its first epoch ended: there is nothing to keep.")
    elif s.state == "cancelled":
        st.warning(
            f"Cancelled after {epochs}; every finished task is kept, and Continue training takes the run up again."
        )
    else:
        st.error(f"The job failed: {s.error}")
    if s.active and may_cancel(s):
        st.button("Cancel", key=f"ll_cancel-{s.job_id}", on_click=cancel, args=(jobs.registry, s.job_id))


def _draw_live(store: RunStore, s: JobStatus, present: bool) -> None:
    """The accuracy matrix filling in task by task, and the curves, from the job's metric rows."""
    if not s.details.metrics or not store.exists(s.run_id):
        return
    info = store.get(s.run_id)
    view = explore.live_view(info, s.details.metrics, run_names.short_run_name(info))
    font, height = _sizes(present)
    st.caption(
        f"Tasks learned: {tables.learned_text(view)}. A row of the matrix fills in when its task's last epoch ends."
    )
    st.plotly_chart(
        figures.matrix_figure(view, title="accuracy matrix", font_size=font, height=height),
        key=f"ll_live_matrix-{s.job_id}",
    )
    st.plotly_chart(
        figures.curves_figure(view, title="accuracy on every task, epoch by epoch", font_size=font, height=height),
        key=f"ll_live_curves-{s.job_id}",
    )
    if s.details.epoch > 0 and not s.active:
        st.button("Explore this run", key=f"ll_explore-{s.job_id}", on_click=_open_run, args=(s.run_id,))


def _watch(job_id: str) -> None:
    """Follow `job_id`: in the URL (a refresh) and in the session (a page switch drops the URL's query)."""
    st.query_params["job"] = job_id
    st.session_state["ll_job"] = job_id


# ---- Explore -----------------------------------------------------------------------------------


def _run_picked() -> None:
    st.query_params["run"] = st.session_state["ll_run"]


def _run_picker(runs: list[RunInfo], titles: dict[str, str]) -> str:
    labels = {r.run_id: run_names.run_label(r, titles.get(r.run_id)) for r in runs}
    # The run id is kept in the URL by hand (?run=lifelong-...): a bound selectbox would put its label there.
    if st.session_state.get("ll_run") not in labels:
        linked = st.query_params.get("run")
        st.session_state["ll_run"] = linked if linked in labels else runs[0].run_id
    run_id = st.selectbox(
        "Run", list(labels), format_func=labels.get, key="ll_run", on_change=_run_picked, persist_state="session"
    )
    if st.query_params.get("run") != run_id:
        st.query_params["run"] = run_id
    return run_id


def _follow(jobs: LifelongJobs, drawn: JobStatus) -> None:
    """A run being trained: its progress, and the page redrawn whenever the job stores an epoch."""

    @st.fragment(run_every=POLL_SECONDS)
    def follow() -> None:
        s = jobs.registry.status(drawn.job_id)
        if s is None or not s.active or s.details.epoch != drawn.details.epoch:
            st.rerun()
        st.progress(s.fraction, text=f"{s.title} · epoch {s.details.epoch} of {s.details.epochs} stored")

    follow()


def _explore_view(
    jobs: LifelongJobs, store: RunStore, runs: list[RunInfo], shipped: list[ShippedRun], present: bool
) -> None:
    titles = {s.run_id: s.title for s in shipped}
    with _controls(present):
        run_id = _run_picker(runs, titles)
    info = next(r for r in runs if r.run_id == run_id)
    training = jobs.training(run_id)
    if training is not None and training.active:
        _follow(jobs, training)
    try:
        run = _load(str(store.root), run_id, info.updated)
    except UserError as err:
        st.error(f"This run cannot be drawn: {err}")
        return
    title = _title(info, titles)
    view = explore.stored_view(run, title)
    font, height = _sizes(present)
    data = (info.extra.get("data") or {}).get("name", "MNIST")
    st.caption(f"{explore.stream_text(info.config)}, trained on {data}. Every accuracy is on the task's test split.")
    curves = figures.curves_figure(
        view, title=f"{title}: accuracy on every task, epoch by epoch", font_size=font, height=height
    )
    matrix = figures.matrix_figure(view, title="accuracy matrix", font_size=font, height=height)
    left, right = st.columns([3, 2], gap="medium")
    left.plotly_chart(curves, key="ll_curves")
    right.plotly_chart(matrix, key="ll_matrix")
    st.caption(
        "Dotted: a task's accuracy before it is learned. Shaded: the epochs spent learning each task. "
        "In the matrix, row i is after learning task i; above the diagonal are tasks not learned yet."
    )
    scores = run.matrix.scores()
    drawn = [curves, matrix]
    if scores is None:
        st.info("No task of this run has finished yet: its scores come with the first task's last epoch.")
    else:
        left, right = st.columns([2, 3], gap="medium")
        left.markdown(tables.scores_markdown(scores))
        if view.learned >= 2:
            forgetting = figures.forgetting_figure(view, scores, font_size=font, height=height * 3 // 4)
            right.plotly_chart(forgetting, key="ll_forgetting")
            drawn.append(forgetting)
    st.subheader("Where the method protects")
    st.caption(explore.importance_note(run.config))
    if run.pictures:
        pictures = figures.importance_figure(
            explore.image_pictures(run), run.task_names, font_size=font, panel_height=320 if present else 220
        )
        st.plotly_chart(pictures, key="ll_importance")
        drawn.append(pictures)
    if run.records:
        st.subheader("How far the layers moved")
        drift = figures.drift_figure(run.records, run.task_names, font_size=font, height=height * 3 // 4)
        st.plotly_chart(drift, key="ll_drift")
        drawn.append(drift)
    if not present:
        _exports(store, view, drawn, title, run_id)


def _exports(store: RunStore, view: figures.RunView, drawn: list, title: str, run_id: str) -> None:
    """Download buttons; the files are made only when clicked."""
    row = st.container(horizontal=True)
    files = (
        ("Figures (HTML)", lambda: exports.figures_html(drawn, title), ".html", "text/html", "html"),
        ("Accuracy matrix (PNG)", lambda: exports.matrix_png(view, title), "-matrix.png", "image/png", "matrix"),
        ("Curves (PNG)", lambda: exports.curves_png(view, title), "-curves.png", "image/png", "curves"),
        (
            "Metrics (CSV)",
            lambda: exports.metrics_csv(store.metrics(run_id), view.tasks),
            "-metrics.csv",
            "text/csv",
            "csv",
        ),
    )
    for label, make, suffix, mime, key in files:
        row.download_button(
            label, make, file_name=f"{run_id}{suffix}", mime=mime, on_click="ignore", key=f"ll_export_{key}"
        )
    st.caption("The CSV has a row per epoch (0: before training): acc_j and loss_j on task j's test split.")


# ---- Compare -----------------------------------------------------------------------------------


def _compare_view(store: RunStore, runs: list[RunInfo], shipped: list[ShippedRun], present: bool) -> None:
    titles = {s.run_id: s.title for s in shipped}
    groups = explore.stream_groups(runs)
    explored = st.session_state.get("ll_run") or st.query_params.get("run")
    if st.session_state.get("ll_compare_stream") not in groups:
        st.session_state["ll_compare_stream"] = next(
            (gid for gid, group in groups.items() if any(r.run_id == explored for r in group)), next(iter(groups))
        )
    with _controls(present):
        gid = st.selectbox(
            "Stream (runs with the same stream, tasks and seed)",
            list(groups),
            format_func=lambda g: (
                f"{explore.stream_text(groups[g][0].config)} · {len(groups[g])} run"
                + ("s" if len(groups[g]) > 1 else "")
            ),
            key="ll_compare_stream",
            persist_state="session",  # kept while another view shows
        )
        group = groups[gid]
        labels = {r.run_id: run_names.run_label(r, titles.get(r.run_id)) for r in group}
        chosen = st.multiselect(
            f"Runs (2 to {COMPARED_MOST})",
            list(labels),
            default=explore.compare_defaults(group),
            format_func=labels.get,
            max_selections=COMPARED_MOST,
            # a picker of its own per stream: one key for all would let the browser keep showing the
            # last stream's runs while another stream's are compared
            key=explore.compare_runs_key(gid),
            persist_state="session",
        )
    if len(group) < 2:
        st.info(
            "Only one run of this stream is stored. Train another method under Train with the same stream, tasks "
            "and seed to compare them."
        )
        return
    if len(chosen) < 2:
        st.info(f"Pick two to {COMPARED_MOST} runs to compare.")
        return
    views = []
    for run_id in chosen:
        info = next(r for r in group if r.run_id == run_id)
        try:
            views.append(explore.stored_view(_load(str(store.root), run_id, info.updated), _title(info, titles)))
        except UserError as err:
            st.error(f"{labels[run_id]} cannot be drawn: {err}")
    if len(views) < 2:
        return
    font, _ = _sizes(present)
    st.markdown(tables.compare_markdown(views))
    curves = figures.compare_curves_figure(views, font_size=font, panel_height=480 if present else 360)
    matrices = figures.compare_matrices_figure(views, font_size=font, panel_height=480 if present else 340)
    st.plotly_chart(curves, key="ll_compare_curves")
    st.plotly_chart(matrices, key="ll_compare_matrices")
    st.caption("Accuracy on each task's test split; each panel numbered as in the table.")
    if not present:
        st.download_button(
            "Figures (HTML)",
            lambda: exports.figures_html([curves, matrices], explore.stream_text(group[0].config)),
            file_name="lifelong-compare.html",
            mime="text/html",
            on_click="ignore",
            key="ll_compare_html",
        )


# ---- Two-parameter picture ---------------------------------------------------------------------


@st.fragment
def _toy_view(present: bool) -> None:
    """Task 2 learned from task 1's optimum over two weights, with each method's penalty. A fragment:
    moving the slider redraws only this part (about 30 ms a picture)."""
    font, height = _sizes(present)
    with _controls(present), st.container(horizontal=True, gap="large", vertical_alignment="bottom"):
        method = st.segmented_control(
            "Method",
            TOY_CHOICES,
            format_func=TOY_NAMES.get,
            key="ll_toy_method",
            default="ewc",
            required=True,
            persist_state="session",
        )
        strength = st.select_slider(
            "Strength λ (log scale)",
            TOY_STRENGTHS,
            value=1.0,
            format_func=lambda v: f"{v:g}",
            key="ll_toy_strength",
            persist_state="session",
        )
    if method == "all":
        pictures = [toy.two_parameter_picture(m, strength) for m in toy.METHODS]
        figure = toy_figures.compare_figure(pictures, height=height + 100, font_size=font)
    else:
        pictures = [toy.two_parameter_picture(method, strength)]
        figure = toy_figures.toy_figure(pictures[0], height=height + 100, font_size=font)
    st.plotly_chart(figure, key="ll_toy")
    for picture in pictures:
        st.caption(toy_figures.caption(picture))
    if not present:
        st.markdown(
            "Two tasks of logistic regression over the same two weights: task 1's loss as filled contours, task 2's "
            "as orange lines. Learning task 2 from task 1's optimum, fine-tuning walks out of task 1's valley; a "
            "penalty on moving the weights task 1 needs bends the path towards where the valleys cross. EWC weighs "
            "each weight by task 1's Fisher information, MAS by the output's sensitivity, L2 all alike."
        )


# ---- the page ------------------------------------------------------------------------------------

store = RunStore(checkpoints_dir())
jobs = _jobs(str(store.root))
present = presentation_view(
    "ll_present",
    "Lifelong learning",
    "Learn a stream of tasks one after another and watch the earlier ones being forgotten, or protected: "
    "fine-tuning, EWC, MAS, SI, SCP, replay and more, measured on every task's test split after every epoch.",
    "Large plots and fonts, controls folded away; ?present=1 in the URL.",
)
if _bound("ll_view") not in VIEWS:
    st.session_state["ll_view"] = VIEWS[0]
view = st.segmented_control(
    "View", VIEWS, key="ll_view", required=True, bind="query-params", label_visibility="collapsed"
)
show_flash("ll_flash")
try:
    if view == "Train":
        _train_view(jobs, store, present)
    elif view == "Two-parameter picture":
        _toy_view(present)
    else:
        shipped = shipped_runs(store)
        runs = run_names.shipped_first(explore.lifelong_runs(store), shipped)
        if not runs:
            st.info(f"No lifelong runs in `{store.root}` yet: train one under Train.")
        elif view == "Explore":
            _explore_view(jobs, store, runs, shipped, present)
        else:
            _compare_view(store, runs, shipped, present)
except UserError as err:
    st.error(str(err))
