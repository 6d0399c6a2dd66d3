"""Domain adaptation: train DANN in the background, explore and compare its feature maps, present them.

UI only. Training and embedding run as background jobs (core.dann.jobs) on the registry every
session of this server shares; the job being watched is kept in the URL (?job=...), so a refresh
or a second tab reattaches to it. What the page shows is made by presenters.dann.
"""

from __future__ import annotations

import re
from functools import partial

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
from core.dann.config import AUGMENTS, MMD_ESTIMATES, PRESETS, VARIANTS
from core.dann.files import variant_name
from core.dann.jobs import MAPS, TRAIN, DANNJobs
from core.dann.maps import METHODS, MapSettings, RunMaps, load_maps, snapshot_epochs
from core.dann.points import Points, item_images, load_points
from core.dann.schedules import SCHEDULE_KINDS
from core.data import DIGIT_DOMAINS, dataset_status
from core.data.folders import within
from core.data.specs import FOLDER_PREFIX, short_spec
from core.errors import UserError
from core.jobs import JobStatus
from core.paths import checkpoints_dir, folder_roots
from core.runs import RunInfo, RunStore
from core.shipped import ShippedRun
from presenters import runs as run_names
from presenters.dann import explore, figures, form, schedule_preview

VIEWS = ("Train", "Explore", "Compare")
METHOD_NAMES = {"tsne": "t-SNE", "umap": "UMAP", "pca": "PCA"}
NETWORKS = {
    "": "by domain: the DANN paper's for digits, the course's for folders",
    "digit": "the DANN paper's (3×28×28 input)",
    "course": "the course's (1×32×32 input)",
}
POLL_SECONDS = 1.0
JOB_ID = re.compile(r"[0-9a-f]{12}")  # what the registry hands out; anything else in ?job= is no job


@st.cache_resource(show_spinner=False)
def _jobs(root: str) -> DANNJobs:
    """DANN's jobs for one run store, on the registry the server's pages share: they outlive
    script runs and sessions."""
    return DANNJobs(job_registry(), RunStore(root))


@st.cache_data(ttl=30, show_spinner=False)
def _digit_status() -> dict:
    return form.digit_status(dataset_status())


@st.cache_data(max_entries=32, show_spinner=False)
def _points(root: str, run_id: str, epochs: tuple[int, ...]) -> Points:
    return load_points(RunStore(root), run_id, epochs)


@st.cache_resource(max_entries=8, show_spinner="Loading the images of the map's items…")
def _item_images(spec: str, model: str, edges: bool, ids: tuple[int, ...], name: str | None, eval_items: int | None):
    """The snapshot items' images of one domain (the dataset is loaded once, only these are kept).
    A run on an image folder outside this server's folder roots shows no images."""
    if spec.lower().startswith(FOLDER_PREFIX) and not within(spec[len(FOLDER_PREFIX) :], folder_roots()):
        raise UserError(form.outside_roots(folder_roots()))
    return item_images(spec, model, ids, edges=edges, trained_on={"name": name, "eval_items": eval_items})


def _start_maps(jobs: DANNJobs, run_id: str, settings: MapSettings) -> str:
    return jobs.start_maps(run_id, settings, owner=me())


def _domain_names(info: RunInfo) -> tuple[str, str]:
    """Legend names of the two domains, e.g. "source (mnist)"."""
    cfg = info.config
    return tuple(f"{side} ({short_spec(str(cfg.get(side, '?')))})" for side in ("source", "target"))


def _bound(key: str):
    """A URL-bound widget's value before the widget is drawn: session state, else the URL."""
    return st.session_state.get(key, st.query_params.get(key))


def _controls(present: bool):
    """Where a view puts its controls: inline, or folded away in the presentation view."""
    return st.expander("Controls", expanded=False) if present else st.container()


# ---- Train -------------------------------------------------------------------------------------


def _init_form() -> None:
    for key, value in form.form_defaults().items():
        st.session_state.setdefault(f"f_{key}", value)


def _form() -> dict:
    return {key: st.session_state[f"f_{key}"] for key in form.form_defaults()}


def _domain_picker(side: str, status: dict) -> None:
    def label(spec: str) -> str:
        if spec == form.FOLDER:
            return "image folder…"
        name = form.DOMAIN_NAMES[spec]
        return name if status.get(spec) is None or status[spec].available else f"{name} (not at hand)"

    st.selectbox(
        side.capitalize(), (*DIGIT_DOMAINS, form.FOLDER), format_func=label, key=f"f_{side}", persist_state="session"
    )
    if st.session_state[f"f_{side}"] == form.FOLDER:
        st.text_input(
            f"{side.capitalize()} folder",
            key=f"f_{side}_folder",
            placeholder="/path/to/train_data",
            help="One subfolder per class (a single subfolder means unlabelled).",
            persist_state="session",
        )


def _schedule_controls() -> None:
    kind = st.selectbox(
        "λ schedule",
        tuple(SCHEDULE_KINDS),
        key="f_schedule",
        persist_state="session",
        help="\n".join(f"- **{k}**: {v}" for k, v in SCHEDULE_KINDS.items()),
    )
    if kind == "expr":
        st.text_input(
            "λ(p) =",
            key="f_expr",
            live=True,
            persist_state="session",
            help="Numbers, p, pi, e, + - * / **, exp log sqrt sin cos tanh sigmoid abs min max clip.",
        )
        return
    value_label = {"constant": "λ", "dann": "scale", "log": "scale"}.get(kind, "final λ")
    cols = st.columns(2)
    cols[0].number_input(value_label, key="f_lambda_value", step=0.1, format="%.3f", persist_state="session")
    if kind == "dann":
        cols[1].number_input("γ (steepness)", key="f_gamma", min_value=0.1, step=1.0, persist_state="session")
    elif kind in ("linear", "step"):
        cols[1].number_input("λ at the start", key="f_lambda_start", step=0.1, format="%.3f", persist_state="session")
        if kind == "linear":
            st.slider("ramp ends at p =", 0.01, 1.0, key="f_ramp_end", persist_state="session")
        else:
            st.slider("step at p =", 0.0, 1.0, key="f_step_at", persist_state="session")


def _use_preset(name: str) -> None:
    """The preset's settings into the controls (a callback: before they are drawn); the rest stay."""
    for key, value in PRESETS[name].settings.items():
        st.session_state[f"f_{key}"] = value
    flash("info", f"The {name} preset is set: {PRESETS[name].summary}. {PRESETS[name].why}")


def _train_controls(status: dict) -> None:
    st.button(
        "Lecture preset: a short run to retrain live",
        key="f_preset_lecture",
        on_click=_use_preset,
        args=("lecture",),
        help=PRESETS["lecture"].summary,
    )
    cols = st.columns(2)
    with cols[0]:
        _domain_picker("source", status)
    with cols[1]:
        _domain_picker("target", status)
    st.selectbox(
        "Variant",
        tuple(VARIANTS),
        key="f_variant",
        format_func=lambda v: f"{v}: {VARIANTS[v]}",
        persist_state="session",
    )
    if st.session_state["f_variant"] == "dan":
        st.selectbox(
            "MMD estimate",
            tuple(MMD_ESTIMATES),
            key="f_mmd_estimate",
            format_func=lambda e: f"{e}: {MMD_ESTIMATES[e]}",
            persist_state="session",
        )
    st.selectbox(
        "Augmentation of the labelled images",
        tuple(AUGMENTS),
        key="f_augment",
        persist_state="session",
        format_func=lambda a: f"{a}: {AUGMENTS[a]}",
    )
    _schedule_controls()
    cols = st.columns(4)
    cols[0].number_input("Epochs", 1, 200, key="f_epochs", persist_state="session")
    cols[1].number_input(
        "Batch size", 1, 1024, key="f_batch_size", help="images per domain per step", persist_state="session"
    )
    cols[2].number_input("Learning rate", 1e-5, 1.0, key="f_lr", format="%.4f", step=0.001, persist_state="session")
    cols[3].number_input("Seed", 0, 2**31 - 1, key="f_seed", persist_state="session")
    with st.expander("Advanced: shorter epochs, smaller maps, the network, label smoothing"):
        st.number_input(
            "Steps per epoch (0: one pass over the larger training set)",
            0,
            100_000,
            key="f_steps_per_epoch",
            persist_state="session",
        )
        st.number_input(
            "Snapshot items per domain (points on the map)", 10, 5000, key="f_snapshot_size", persist_state="session"
        )
        st.selectbox(
            "Network", ("", "digit", "course"), key="f_model", format_func=NETWORKS.get, persist_state="session"
        )
        st.number_input(
            "Label smoothing (0: off)",
            0.0,
            0.5,
            key="f_label_smoothing",
            step=0.05,
            format="%.2f",
            help="Probability spread evenly over all classes in each labelled image's target",
            persist_state="session",
        )


def _start(jobs: DANNJobs, config, retrain: bool = False) -> None:
    """Start button: queue the training, or open the stored run when it was trained before; an
    interrupted earlier training is kept until the person chooses to train it again."""
    try:
        started = jobs.start_training(config, retrain=retrain, owner=me())
    except UserError as err:
        flash("error", str(err))
        return
    st.session_state["kept"] = started.run_id if started.kept is not None else None
    if started.kept is not None:
        return
    if started.found:
        _show_run(started.run_id)
        st.session_state["view"] = "Explore"
        flash("info", "This configuration was trained before: here is the stored run.")
    else:
        st.query_params["job"] = started.job_id


def _train_view(jobs: DANNJobs, store: RunStore, present: bool) -> None:
    _init_form()
    status = _digit_status()
    left, right = st.columns([1, 1], gap="large")
    with left, _controls(present):
        _train_controls(status)
    problems = []
    config = None
    try:
        config = form.config_from_form(_form(), folder_roots())
    except UserError as err:
        problems.append(str(err))
    problems += form.missing_data((st.session_state["f_source"], st.session_state["f_target"]), status)
    with right:
        if config is not None:
            st.markdown(
                schedule_preview.preview_html(schedule_preview.schedule_preview(config)), unsafe_allow_html=True
            )
        for problem in problems:
            st.error(problem)
        # once per script run: for an image folder the id hashes the folder's files
        run_id = config.run_id() if config is not None else None
        trained = run_id is not None and store.find(run_id) is not None
        if config is not None:
            steps = f"{config.steps_per_epoch} steps" if config.steps_per_epoch else "one pass"
            st.caption(
                f"{config.epochs} epochs of {steps}, {config.batch_size} images per domain per step; run id {run_id}"
            )
        if trained:
            st.info("This configuration was trained before: Start opens the stored run.")
        st.button(
            "Open the stored run" if trained else "Start training",
            type="primary",
            disabled=bool(problems),
            on_click=_start,
            args=(jobs, config),
            key="start",
        )
        if run_id is not None and st.session_state.get("kept") == run_id:
            _kept_offer(jobs, store, config, run_id)
        _job_section(jobs)


def _kept_offer(jobs: DANNJobs, store: RunStore, config, run_id: str) -> None:
    """An earlier training of this config stopped with finished epochs: explore them, or train
    again from the start (which deletes them)."""
    if not store.exists(run_id):
        return
    kept = store.get(run_id)
    st.warning(
        f"An earlier training of this configuration stopped ({kept.status}) with {kept.epochs_done} of "
        f"{kept.epochs_planned} epochs kept. Explore them, or train again from the start, which deletes them."
    )
    with st.container(horizontal=True):
        st.button("Explore the kept epochs", key="kept-explore", on_click=_open_run, args=(kept.run_id,))
        st.button("Train again from the start", key="kept-retrain", on_click=_start, args=(jobs, config, True))


def _job_section(jobs: DANNJobs) -> None:
    job_id = st.query_params.get("job")
    if job_id:
        status = jobs.registry.status(job_id) if JOB_ID.fullmatch(job_id) else None
        if status is None or status.kind != TRAIN:  # unknown here, or not a training (a crafted URL)
            st.warning(
                "This server does not know the training job this link names (the server may have restarted). "
                "Any epochs it stored are under Explore."
            )
        else:
            _job_panel(jobs, status)
    other_jobs(jobs.registry, TRAIN, job_id, "Other trainings on this server", _watch, key="watch")


def _job_panel(jobs: DANNJobs, drawn: JobStatus) -> None:
    """The job's progress, polled while it is queued or running; a plain drawing once it is over,
    so that its buttons rerun the whole page (a click inside a fragment reruns only the fragment).

    Only the progress is polled. The per-epoch curves are drawn by the page's own run and redrawn
    when the job stores an epoch: redrawing a chart every second kept the browser and the server
    busy enough to slow the other tabs' maps to about twice their idle redraw time."""
    if not drawn.active:
        _draw_job(jobs, drawn)
        _draw_curves(drawn)
        return

    @st.fragment(run_every=POLL_SECONDS)
    def progress() -> None:
        status = jobs.registry.status(drawn.job_id)
        if not status.active or len(status.details.metrics) != len(drawn.details.metrics):
            st.rerun()  # the job ended or stored an epoch: redraw the whole page, its curves with it
        _draw_job(jobs, status)

    progress()
    _draw_curves(drawn)


def _draw_job(jobs: DANNJobs, s: JobStatus) -> None:
    st.markdown(f"**{s.title}**")
    if s.state == "queued":
        st.info(f"Waiting in the queue: position {s.position} (at most {jobs.registry.max_workers} jobs run at once).")
    elif s.state == "running":
        text = f"{s.note} · step {s.step} of {s.total}" if s.total else s.note
        if s.kind == TRAIN:
            text += f" · epoch {s.details.epoch} of {s.details.epochs} stored"
        st.progress(s.fraction, text=text)
    elif s.state == "done":
        st.success(f"Finished: {s.details.epoch} of {s.details.epochs} epochs." if s.kind == TRAIN else "Finished.")
    elif s.state == "cancelled":
        st.warning(f"Cancelled; {s.details.epoch} finished epochs are kept." if s.kind == TRAIN else "Cancelled.")
    else:
        st.error(f"The job failed: {s.error}")
    if s.kind == TRAIN and s.details.maps_error:
        st.warning(
            f"The t-SNE frames could not be computed during training ({s.details.maps_error}); Explore computes them."
        )
    if s.active and may_cancel(s):
        st.button("Cancel", key=f"cancel-{s.job_id}", on_click=cancel, args=(jobs.registry, s.job_id))


def _draw_curves(s: JobStatus) -> None:
    """A training job's per-epoch curves, and once it is over the way to explore its run."""
    if s.kind == TRAIN and s.details.metrics:
        st.plotly_chart(figures.metrics_figure(s.details.metrics, title="per-epoch metrics"), key=f"live-{s.job_id}")
    if s.kind == TRAIN and s.details.epoch > 0 and not s.active:
        st.button("Explore this run", key=f"explore-{s.job_id}", on_click=_open_run, args=(s.run_id,))


def _show_run(run_id: str) -> None:
    """Pick `run_id` in Explore (in a callback: before the picker is drawn)."""
    st.session_state["run"] = run_id
    st.query_params["run"] = run_id


def _open_run(run_id: str) -> None:
    _show_run(run_id)
    st.session_state["view"] = "Explore"


def _watch(job_id: str) -> None:
    st.query_params["job"] = job_id


# ---- maps: what Explore and Compare show -----------------------------------------------------


def _maps_for(jobs: DANNJobs, store: RunStore, info: RunInfo, method: str) -> tuple[RunMaps | None, JobStatus | None]:
    """The cached maps, and the job to watch while frames are missing or the run still trains.

    A missing frame is computed in a background job, never here. While a run trains, its t-SNE
    frames come from the training job itself; other methods are topped up by maps jobs. A maps
    job that failed or was cancelled is not restarted by itself: the page says why and offers a
    button.
    """
    settings = MapSettings(method=method)
    maps = load_maps(store, info.run_id, settings)
    have = set(maps.epochs) if maps else set()
    missing = [e for e in snapshot_epochs(store, info.run_id) if e not in have]
    training = jobs.training(info.run_id)
    training = training if training is not None and training.active else None
    job = jobs.maps(info.run_id, settings)
    if missing and not (job is not None and job.active) and not (training is not None and method == "tsne"):
        if job is not None and job.state in ("failed", "cancelled"):
            st.error(f"The {METHOD_NAMES[method]} maps were not computed: {job.error or 'cancelled'}")
            st.button(
                "Compute them again",
                key=f"maps-again-{info.run_id}-{method}",
                on_click=_start_maps,
                args=(jobs, info.run_id, settings),
            )
            return maps, training
        job = jobs.registry.status(_start_maps(jobs, info.run_id, settings))
    if job is not None and job.active:
        return maps, job
    return maps, training


def _wait_panel(jobs: DANNJobs, store: RunStore, job: JobStatus, run_id: str, method: str) -> None:
    """The progress of `job`; the page redraws once a frame or a snapshot is added or the job ends."""

    def token() -> tuple[int, int]:
        maps = load_maps(store, run_id, MapSettings(method=method))
        return len(snapshot_epochs(store, run_id)), len(maps.epochs) if maps else 0

    start = token()

    @st.fragment(run_every=POLL_SECONDS)
    def panel() -> None:
        s = jobs.registry.status(job.job_id)
        if s is None or not s.active or token() != start:
            st.rerun()
        done = f"{s.step} of {s.total}" if s.total else s.note
        cols = st.columns([6, 1])
        cols[0].progress(s.fraction, text=f"{s.title} · {done}")
        if s.kind == MAPS and may_cancel(s):
            cols[1].button("Cancel", key=f"cancel-maps-{s.job_id}", on_click=cancel, args=(jobs.registry, s.job_id))

    panel()


# ---- Explore -----------------------------------------------------------------------------------


def _run_picked() -> None:
    st.query_params["run"] = st.session_state["run"]


def _explore_controls(runs: list[RunInfo], shipped: list[ShippedRun]) -> tuple[str, str, figures.MapStyle, bool]:
    titles = {s.run_id: s.title for s in shipped}
    labels = {r.run_id: run_names.run_label(r, titles.get(r.run_id)) for r in runs}
    # The run id is kept in the URL by hand (?run=dann-...): a bound selectbox would put its label there.
    if st.session_state.get("run", st.query_params.get("run")) not in labels:
        st.session_state["run"] = explore.default_run(runs, shipped).run_id
    elif "run" not in st.session_state:
        st.session_state["run"] = st.query_params["run"]
    run_id = st.selectbox("Run", list(labels), format_func=labels.get, key="run", on_change=_run_picked)
    with st.container(horizontal=True, gap="large", vertical_alignment="bottom"):
        method = st.segmented_control(
            "Method",
            METHODS,
            format_func=METHOD_NAMES.get,
            key="method",
            default="tsne",
            required=True,
            bind="query-params",
        )
        colour = st.segmented_control(
            "Colour by", figures.COLOUR_BY, key="colour", default="domain", required=True, bind="query-params"
        )
        markers = st.toggle(
            "Shapes by domain", value=True, key="markers", help="Circles for source items, diamonds for target items."
        )
        play = st.toggle("Animation", key="play", help="Every epoch in one figure: press ▶ Play under the map.")
    return run_id, method, figures.MapStyle(colour_by=colour, marker_by_domain=markers), play


def _epoch_slider(epochs: list[int], key: str) -> int:
    """The epoch slider: at the last epoch at first, then where it was left, also after redraws
    without it (while another method's map is computed); left at the last epoch, it follows the
    last epoch as frames come in. The start is the slider's default value,
    not a value put in session state: a slider that mounts late (a click reran the page first)
    starts from its default, and so agrees with the page."""
    kept = st.session_state.get(key, st.session_state.get(f"{key}_kept"))
    if kept is not None and kept == st.session_state.get(f"{key}_last") != epochs[-1]:
        # it was at the last epoch, and the last epoch changed (frames still being laid out came
        # in, or another method has others): it stays at the last
        kept = epochs[-1]
        st.session_state.pop(key, None)
    if key in st.session_state and st.session_state[key] not in epochs:
        del st.session_state[key]
    st.session_state[f"{key}_last"] = epochs[-1]
    if len(epochs) == 1:
        return epochs[0]
    epoch = st.select_slider("Epoch", epochs, value=kept if kept in epochs else epochs[-1], key=key)
    st.session_state[f"{key}_kept"] = epoch
    return epoch


def _map_clicked(run_id: str, points: Points) -> None:
    """Remember the clicked item: the chart's own selection is dropped whenever its figure changes
    (another epoch, method or colouring), and the item should stay inspected across those."""
    row = explore.selected_row(st.session_state["map"].selection, points)
    st.session_state["inspected"] = None if row is None else (run_id, row)


def _inspected_row(run_id: str, points: Points) -> int | None:
    inspected = st.session_state.get("inspected")
    if inspected is None or inspected[0] != run_id or not 0 <= inspected[1] < len(points.item):
        return None
    return inspected[1]


def _inspect_panel(info: RunInfo, points: Points, epoch: int, names: tuple[str, str], row: int | None) -> None:
    """The clicked point: its image when the run's dataset is at hand, domain, label, prediction."""
    if row is None:
        st.caption("Click a point on the map to see its image, label and prediction.")
        return
    item = explore.inspect(points, row, epoch)
    side = ("source", "target")[item.domain]
    cfg, facts = info.config, info.extra.get(side) or {}
    ids, position = explore.domain_ids(points, row)
    with st.container(key="inspect"):
        picture, text = st.columns([1, 3], vertical_alignment="center")
        why = None
        try:
            edges = side == "source" and bool(cfg.get("source_edges"))
            images = _item_images(
                str(cfg.get(side)),
                str(cfg.get("model")),
                edges,
                tuple(ids.tolist()),
                facts.get("name"),
                facts.get("eval_items"),
            )
            picture.image(explore.enlarged(images[position]), width=112)
        except UserError as err:
            why = str(err)
        label = f"label {item.label}" if item.label >= 0 else "no label"
        mark = "" if item.label < 0 else (" ✓" if item.prediction == item.label else " ✗")
        prob = "" if item.domain_prob is None else f"  \ndomain classifier: P(target) = {item.domain_prob:.2f}"
        text.markdown(
            f"**{names[item.domain]}** item {item.item}  \n{label} · predicted {item.prediction}{mark} "
            f"(epoch {epoch}){prob}"
        )
    if why is not None:
        st.caption(f"No image: {why}")


def _explore_view(
    jobs: DANNJobs, store: RunStore, runs: list[RunInfo], shipped: list[ShippedRun], present: bool
) -> None:
    with _controls(present):
        run_id, method, style, play = _explore_controls(runs, shipped)
    info = next(r for r in runs if r.run_id == run_id)
    titles = {s.run_id: s.title for s in shipped}
    if present:
        style = figures.MapStyle(
            style.colour_by, style.marker_by_domain, font_size=22, height=820, point_size=8, width=780
        )
    maps, job = _maps_for(jobs, store, info, method)
    rows = store.metrics(run_id)
    if job is not None:
        _wait_panel(jobs, store, job, run_id, method)
    if maps is None:
        st.info(f"No {METHOD_NAMES[method]} map of this run yet; it is being computed.")
        if rows:
            st.plotly_chart(
                figures.metrics_figure(rows, title=run_names.run_label(info, titles.get(run_id))), key="metrics"
            )
        return
    points = _points(str(store.root), run_id, tuple(maps.epochs))
    title = f"{METHOD_NAMES[method]} · {titles.get(run_id, variant_name(info.config))}"
    _map_panel(info, maps, points, rows, title, style, play, present)


@st.fragment
def _map_panel(
    info: RunInfo,
    maps: RunMaps,
    points: Points,
    rows: list[dict],
    title: str,
    style: figures.MapStyle,
    play: bool,
    present: bool,
) -> None:
    """The map, its epoch slider, the clicked item, the metric curves and the exports. A fragment:
    moving the slider or clicking a point reruns only this part, not the whole page."""
    epochs = maps.epochs
    names = _domain_names(info)
    row = _inspected_row(info.run_id, points)
    map_col, side = st.columns([3, 2], gap="medium")
    with map_col:
        epoch = _epoch_slider(epochs, "epoch")
        if play:
            fig = figures.map_animation(maps, points, names, title=title, start_epoch=epoch, style=style)
        else:
            fig = figures.map_figure(maps, points, epoch, names, title=title, style=style, selected_row=row)
        st.plotly_chart(fig, key="map", on_select=partial(_map_clicked, info.run_id, points), selection_mode="points")
    with side:
        _inspect_panel(info, points, epoch, names, row)
        height = 420 if present else 340
        font = style.font_size
        st.plotly_chart(
            figures.metrics_figure(rows, epoch=epoch, title="per-epoch metrics", font_size=font, height=height),
            key="metrics",
        )
        i = epochs.index(epoch)
        moved = maps.displacement[i]
        st.caption(
            f"Epoch {epoch}: trustworthiness {maps.trustworthiness[i]:.3f}"
            + (f", points moved {moved:.2f} on average since the previous frame" if moved is not None else "")
            + f"; {len(points.domain)} points; axes fixed over all epochs."
        )
        if not present:
            _exports(maps, points, names, title, epoch, style, rows, info)
    scores = figures.scores_figure(rows, epoch=epoch, font_size=style.font_size, height=360 if present else 300)
    if scores is not None:
        st.plotly_chart(scores, key="scores")
        st.caption(
            "What a user without target labels can look at, per epoch (core/dann/scores.py). How well each one "
            "picks the better runs is measured in BENCHMARKS.md (bench/da_scores.py): trust them only that far."
        )
    else:
        st.caption("This run was trained before the label-free scores were recorded.")


def _exports(
    maps: RunMaps,
    points: Points,
    names: tuple[str, str],
    title: str,
    epoch: int,
    style: figures.MapStyle,
    rows: list[dict],
    info: RunInfo,
) -> None:
    """Download buttons; the HTML and the PNG are made only when clicked."""
    stem = f"{info.run_id}-{maps.settings.method}"
    row = st.container(horizontal=True)
    row.download_button(
        "Animation (HTML)",
        lambda: figures.animation_html(
            figures.map_animation(maps, points, names, title=title, start_epoch=epoch, style=style)
        ),
        file_name=f"{stem}.html",
        mime="text/html",
        on_click="ignore",
        key="export_html",
    )
    row.download_button(
        "Frame (PNG)",
        lambda: figures.map_png(maps, points, epoch, names, title=title, style=style),
        file_name=f"{stem}-epoch{epoch}.png",
        mime="image/png",
        on_click="ignore",
        key="export_png",
    )
    row.download_button(
        "Metrics (CSV)",
        explore.metrics_csv(rows),
        file_name=f"{info.run_id}-metrics.csv",
        mime="text/csv",
        on_click="ignore",
        key="export_csv",
    )


# ---- Compare -----------------------------------------------------------------------------------


def _compare_view(
    jobs: DANNJobs, store: RunStore, runs: list[RunInfo], shipped: list[ShippedRun], present: bool
) -> None:
    titles = {s.run_id: s.title for s in shipped}
    labels = {r.run_id: run_names.run_label(r, titles.get(r.run_id)) for r in runs}
    by_id = {r.run_id: r for r in runs}
    with _controls(present):
        chosen = st.multiselect(
            "Runs (2 to 4)",
            list(labels),
            default=explore.compare_defaults(runs),
            format_func=labels.get,
            max_selections=4,
            key="compare",
        )
        cols = st.columns(2)
        method = cols[0].segmented_control(
            "Method", METHODS, format_func=METHOD_NAMES.get, key="compare_method", default="tsne", required=True
        )
        colour = cols[1].segmented_control(
            "Colour by", figures.COLOUR_BY, key="compare_colour", default="domain", required=True
        )
    if len(chosen) < 2:
        st.info("Pick two to four runs to compare.")
        return
    font = 20 if present else 12
    # each map gets a column of the page's width (about 1,080 px beside the sidebar, 1,300 px without)
    width = (1300 if present else 1080) // len(chosen) - 20
    style = figures.MapStyle(colour, True, font_size=font, height=620 if present else 440, point_size=5, width=width)
    found = {run_id: _maps_for(jobs, store, by_id[run_id], method) for run_id in chosen}
    ready = {run_id: maps for run_id, (maps, _) in found.items() if maps is not None}
    all_epochs = sorted({e for maps in ready.values() for e in maps.epochs})
    epoch = _epoch_slider(all_epochs, "compare_epoch") if all_epochs else 0
    figs = {}
    for run_id, maps in ready.items():
        info = by_id[run_id]
        points = _points(str(store.root), run_id, tuple(maps.epochs))
        figs[run_id] = figures.map_figure(
            maps,
            points,
            explore.nearest_epoch(maps.epochs, epoch),
            _domain_names(info),
            title=titles.get(run_id, variant_name(info.config)),
            style=style,
        )
    top = max((fig.layout.margin.t for fig in figs.values()), default=0)
    for col, run_id in zip(st.columns(len(chosen)), chosen):
        job = found[run_id][1]
        with col:
            st.caption(labels[run_id])
            if job is not None:
                _wait_panel(jobs, store, job, run_id, method)
            if run_id not in figs:
                st.info("map being computed")
                continue
            # the same room above every map, however many lines its title takes: the maps line up
            st.plotly_chart(figs[run_id].update_layout(margin_t=top), key=f"compare-map-{run_id}")
    names = [titles.get(r) or run_names.short_run_name(by_id[r]) for r in chosen]
    curves = {f"{i + 1}: {name}": store.metrics(r) for i, (name, r) in enumerate(zip(names, chosen))}
    st.plotly_chart(
        figures.compare_figure(curves, font_size=font, height=700 if present else 560), key="compare_metrics"
    )


# ---- the page ------------------------------------------------------------------------------------

store = RunStore(checkpoints_dir())
jobs = _jobs(str(store.root))
present = presentation_view(
    "present",
    "Domain adaptation",
    "Train DANN with a λ schedule of your choice in the background; watch source and target features align, "
    "epoch by epoch.",
    "Large plots and fonts, controls folded away; ?present=1 in the URL.",
)
if _bound("view") not in VIEWS:
    st.session_state["view"] = VIEWS[0]
view = st.segmented_control("View", VIEWS, key="view", required=True, bind="query-params", label_visibility="collapsed")
show_flash()
try:
    if view == "Train":
        _train_view(jobs, store, present)
    else:
        shipped = shipped_runs(store)
        runs = run_names.shipped_first(explore.explorable_runs(store), shipped)
        if not runs:
            st.info(f"No runs with feature snapshots in `{store.root}` yet: train one under Train.")
        elif view == "Explore":
            _explore_view(jobs, store, runs, shipped, present)
        else:
            _compare_view(jobs, store, runs, shipped, present)
except UserError as err:
    st.error(str(err))
