"""Few-shot drawing: draw five characters, one each, adapt a meta-learned model and classify a sixth;
browse Omniglot evaluation episodes solver by solver.

UI only: preprocessing is core.fewshot.drawing, adaptation and the episode browser core.fewshot.demo,
the models offered and their answers presenters.fewshot. Widgets keep their values across page
switches (persist_state="session"); the drawings and the last answers live in
st.session_state["fewshot"].
"""

from __future__ import annotations

import hashlib

import numpy as np
import streamlit as st
from streamlit_drawable_canvas import st_canvas

from app_pages.presentation import presentation_view
from core.data.sketches import SIZE as SKETCH_SIZE
from core.data.sketches import STROKE_WIDTH, render_paths, sketch_paths
from core.errors import UserError
from core.fewshot import demo
from core.fewshot.drawing import OK, Prepared, prepare_drawing
from core.fewshot.run import evaluation_pool, load_learner
from core.paths import checkpoints_dir
from core.runs import RunStore
from core.shipped import read_shipped
from presenters.fewshot import canvas, figures, models

WAYS = 5
QUERY = "q"
CANVASES = [f"s{i}" for i in range(WAYS)] + [QUERY]
# Canvas pixels, three canvases a row. Below about 180 px the canvas's floating toolbar takes the
# pointer events of the canvas's top part, so the canvases stay larger than that.
SIZE = {False: 200, True: 320}
EXAMPLE_SHAPES = ("circle", "plus", "triangle", "zigzag", "spiral")


def _state() -> dict:
    return st.session_state.setdefault(
        "fewshot",
        {
            "gen": 0,
            "gens": {},
            "json": {},
            "initial": {},
            "size": {},
            "prepared": {},
            "names": [f"class {chr(65 + i)}" for i in range(WAYS)],
            "result": None,
            "compare": None,
            "episode_seed": 0,
        },
    )


@st.cache_resource(max_entries=8, show_spinner="Loading the model…")
def _learner(root: str, run_id: str, updated: float):
    return load_learner(run_id, RunStore(root), "cpu")


@st.cache_resource(show_spinner="Loading Omniglot's evaluation alphabets…")
def _evaluation_pool():
    return evaluation_pool("omniglot", download=False)


def _fingerprint(prepared: dict) -> str:
    h = hashlib.sha256()
    for cid in CANVASES:
        p = prepared.get(cid)
        h.update(p.image.tobytes() if p is not None else b"-")
    return h.hexdigest()


def _clear_all() -> None:
    FS["gen"] += 1
    for k in ("json", "initial", "size", "prepared"):
        FS[k] = {}
    FS["result"] = FS["compare"] = None


def _brush(size: int) -> float:
    """The pen width on a canvas of `size` px: the sketches' brush, scaled from their canvas."""
    return STROKE_WIDTH * size / SKETCH_SIZE


def _clear(cid: str) -> None:
    """Empty one canvas (the canvas's own reset goes back to the drawing it was opened with)."""
    FS["gens"][cid] = FS["gens"].get(cid, 0) + 1
    for k in ("json", "initial", "size", "prepared"):
        FS[k].pop(cid, None)
    FS["result"] = FS["compare"] = None


def _load_examples(size: int) -> None:
    """Five clean example shapes as supports and a hand-drawn variation of the third as the query."""
    _clear_all()
    width = _brush(size)
    picks = [(f"s{i}", shape, None) for i, shape in enumerate(EXAMPLE_SHAPES)] + [(QUERY, EXAMPLE_SHAPES[2], 1)]
    for cid, shape, variation in picks:
        paths = sketch_paths(shape, size, variation=variation, seed=FS["gen"])
        drawing = canvas.fabric_drawing(paths, width)
        FS["initial"][cid] = FS["json"][cid] = drawing
        FS["size"][cid] = size
        FS["prepared"][cid] = prepare_drawing(render_paths(paths, size=size, stroke_width=width))
    FS["names"] = list(EXAMPLE_SHAPES)
    for i, name in enumerate(EXAMPLE_SHAPES):
        st.session_state[f"fs-name-{i}"] = name  # a callback: before the name inputs are drawn


def _canvas(cid: str, size: int, scale: int) -> Prepared | None:
    """One drawing canvas and, beside it, what the model sees; returns the prepared drawing."""
    key = f"fs-canvas-{cid}-{FS['gen']}-{FS['gens'].get(cid, 0)}-{size}"
    if key not in st.session_state:  # (re)mounted: start from the last drawing, fitted to this size
        drawn = FS["json"].get(cid)
        FS["initial"][cid] = canvas.scale_drawing(drawn, size / FS["size"].get(cid, size))
    result = st_canvas(
        key=key,
        width=size,
        height=size,
        stroke_width=max(2, round(_brush(size))),
        stroke_color="#000000",
        initial_drawing=FS["initial"].get(cid),
        return_image_data=True,
        update_streamlit=True,
    )
    if result is not None and result.json_data is not None:
        FS["json"][cid], FS["size"][cid] = result.json_data, size
        image = result.image_data
        if image is not None:
            FS["prepared"][cid] = prepare_drawing(np.asarray(image))
        elif canvas.drawing_objects(result.json_data) == 0:
            FS["prepared"].pop(cid, None)
    st.button("Clear", key=f"fs-clear-{cid}", on_click=_clear, args=(cid,), help="Empty this canvas")
    prepared = FS["prepared"].get(cid)
    if prepared is None:
        st.caption("Nothing drawn yet.")
    elif prepared.status != OK:
        st.warning(prepared.message)
    else:
        st.image(models.upscale(prepared.image, scale), caption="what the model sees (28×28)", width=28 * scale)
    return prepared


def _model_picker(choices: list[models.ModelChoice]) -> models.ModelChoice:
    by_label = {c.label: c for c in choices}
    default = models.default_model(choices)
    if st.session_state.get("fs-model") not in by_label:
        st.session_state["fs-model"] = default.label
    choice = by_label[
        st.selectbox(
            "Model",
            list(by_label),
            key="fs-model",
            help="Shipped runs first, then every stored few-shot run",
            persist_state="session",
        )
    ]
    if FS.get("settings_for") != choice.run_id:  # a new model: its own test-time settings
        FS["settings_for"] = choice.run_id
        st.session_state["fs-steps"], st.session_state["fs-lr"] = choice.steps, choice.lr
    return choice


def _settings(choice: models.ModelChoice) -> tuple[int, float]:
    steps = st.slider(
        "Inner steps",
        0,
        demo.max_steps(choice.steps),
        key="fs-steps",
        persist_state="session",
        help=f"Gradient steps on the five drawings; this model was evaluated with {choice.steps}",
    )
    lr = st.number_input(
        "Inner lr",
        min_value=0.0,
        max_value=10.0,
        step=0.05,
        key="fs-lr",
        persist_state="session",
        format="%.3f",
        help=f"Step size of each inner step; this model was evaluated with {choice.lr:g}",
    )
    return steps, lr


def _learners(store: RunStore, picks: list[models.ModelChoice]) -> dict:
    return {c.run_id: (c, _learner(str(store.root), c.run_id, store.get(c.run_id).updated)) for c in picks}


def _ready(prepared: dict) -> str | None:
    """Why adapting cannot start yet (None: it can)."""
    for i in range(WAYS):
        p = prepared.get(f"s{i}")
        if p is None or p.status != OK:
            return f"Draw {FS['names'][i]!r} first: every class needs one drawing."
    p = prepared.get(QUERY)
    if p is None or p.status != OK:
        return "Draw a query: the character to classify."
    return None


def _draw_view(store: RunStore, choices: list[models.ModelChoice], present: bool) -> None:
    size, scale = SIZE[present], 6 if present else 4
    controls = st.expander("Model and settings", expanded=not present)
    with controls:
        left, mid, right = st.columns([3, 1, 1])
        with left:
            choice = _model_picker(choices)
        with mid:
            steps, lr = _settings(choice)
        with right:
            st.button(
                "Example drawings",
                on_click=_load_examples,
                args=(size,),
                help="Five example shapes and a hand-drawn variation of one as the query",
            )
            st.button("Clear all", on_click=_clear_all, help="Empty all six canvases")
    st.caption(
        "Draw one example of each class, then a query. Each canvas's toolbar undoes and redoes strokes; "
        "Clear empties it."
    )
    per_row = 3
    columns = [c for start in range(0, WAYS, per_row) for c in st.columns(per_row)[: WAYS - start]]
    prepared = {}
    for i, col in enumerate(columns):
        with col:
            st.session_state.setdefault(f"fs-name-{i}", FS["names"][i])
            FS["names"][i] = (
                st.text_input(f"Class {i + 1}", key=f"fs-name-{i}", max_chars=24, persist_state="session").strip()
                or f"class {i + 1}"
            )
            prepared[f"s{i}"] = _canvas(f"s{i}", size, scale)
    names = list(FS["names"])
    st.divider()
    qcol, rcol = st.columns([1, 3] if not present else [1, 2])
    with qcol:
        st.markdown("**Query** — which class is this?")
        prepared[QUERY] = _canvas(QUERY, size, scale)
        blocked = _ready(prepared)
        adapt = st.button("Adapt and predict", type="primary", disabled=blocked is not None)
        compare = st.button(
            "Compare models",
            disabled=blocked is not None,
            help="The other shipped solvers on the same drawings, each at its own settings",
        )
        if blocked:
            st.info(blocked)
    fingerprint = _fingerprint(prepared)
    supports = [prepared[f"s{i}"].image for i in range(WAYS)] if not blocked else []
    try:
        if adapt:
            learner = _learner(str(store.root), choice.run_id, store.get(choice.run_id).updated)
            FS["result"] = (
                fingerprint,
                choice.label,
                names,
                demo.classify(learner, supports, [prepared[QUERY].image], steps, lr),
            )
            FS["compare"] = None
        if compare:
            picks = models.comparison_models(choices, choice)
            FS["compare"] = (
                fingerprint,
                names,
                models.compare(_learners(store, picks), supports, [prepared[QUERY].image]),
            )
    except UserError as err:
        st.error(str(err))
    with rcol:
        _show_result(fingerprint, present)


def _show_result(fingerprint: str, present: bool) -> None:
    height, font = (380, 18) if present else (280, 12)
    result, compared = FS.get("result"), FS.get("compare")
    if result is None and compared is None:
        st.info("Press **Adapt and predict** to adapt the model on your five drawings and classify the query.")
        return
    if result is not None:
        seen, label, names, adaptation = result
        if seen != fingerprint:
            st.caption("The drawings changed since: press Adapt and predict again.")
        probs = adaptation.query_probs[-1, 0].numpy()
        best = int(probs.argmax())
        st.markdown(f"### Prediction: **{names[best]}** ({probs[best]:.0%})")
        st.caption(f"{label} · {len(adaptation.support_loss) - 1} inner step(s)")
        left, right = st.columns(2)
        left.plotly_chart(
            figures.probability_figure(
                probs, names, title="the query: probability of each class", height=height, font_size=font
            ),
            key="fs-probs",
        )
        right.plotly_chart(
            figures.adaptation_figure(adaptation, names, height=height, font_size=font), key="fs-steps-fig"
        )
    if compared is not None:
        seen, names, rows = compared
        st.markdown("#### The same drawings, every solver")
        if seen != fingerprint:
            st.caption("The drawings changed since: press Compare models again.")
        cols = st.columns(len(rows))
        for col, row in zip(cols, rows):
            probs = row.probabilities[0]
            with col:
                st.markdown(f"**{row.choice.name}**: {names[int(probs.argmax())]}")
                st.plotly_chart(
                    figures.probability_figure(probs, names, title=" ", height=height - 60, font_size=font),
                    key=f"fs-cmp-{row.choice.run_id}",
                )


def _browser_view(store: RunStore, choices: list[models.ModelChoice], present: bool) -> None:
    try:
        pool = _evaluation_pool()
    except UserError as err:
        st.warning(f"The episode browser needs Omniglot's evaluation alphabets. {err}")
        return
    shipped = [c.label for c in choices if c.shipped] or [choices[0].label]
    by_label = {c.label: c for c in choices}
    kept = st.session_state.get("fs-browse-models", shipped)
    st.session_state["fs-browse-models"] = [m for m in kept if m in by_label]
    left, right = st.columns([3, 1])
    picked = left.multiselect("Models", list(by_label), key="fs-browse-models", persist_state="session")
    if right.button("Reshuffle", help="Another 5-way 1-shot episode of the evaluation alphabets"):
        FS["episode_seed"] += 1
    extra = FS["prepared"].get(QUERY)
    use_extra = right.checkbox(
        "Add my query drawing",
        disabled=extra is None or extra.status != OK,
        help="Your drawing from the Draw view as an extra query against this episode",
    )
    if not picked:
        st.info("Pick at least one model.")
        return
    episode = demo.draw_episode(pool, FS["episode_seed"])
    learners = _learners(store, [by_label[m] for m in picked])
    answers = models.answer_episode(learners, episode, extra.image if use_extra else None)
    scale = 5 if present else 3
    st.markdown(f"**Episode {episode.seed}** · supports (one drawing per class)")
    cols = st.columns(len(episode.names))
    for i, (col, name) in enumerate(zip(cols, episode.names)):
        col.image(models.upscale(episode.support[i], scale), caption=f"{i + 1}: {name}", width=28 * scale)
    st.markdown("**Queries** · each model's answer (✓ right, ✗ wrong)")
    cols = st.columns(len(episode.queries) + (1 if use_extra else 0))
    for q, col in enumerate(cols[: len(episode.queries)]):
        col.image(
            models.upscale(episode.queries[q], scale),
            caption=f"class {int(episode.query_labels[q]) + 1}",
            width=28 * scale,
        )
        for a in answers:
            mark = "✓" if a.correct[q] else "✗"
            col.markdown(f"{mark} {a.choice.name}: {int(a.predictions[q]) + 1}")
    if use_extra:
        col = cols[-1]
        col.image(models.upscale(extra.image, scale), caption="your drawing", width=28 * scale)
        for a in answers:
            col.markdown(f"{a.choice.name}: {int(a.extra.argmax()) + 1} ({a.extra.max():.0%})")
    st.dataframe(
        [{"model": a.choice.label, "correct": f"{int(a.correct.sum())}/{len(a.correct)}"} for a in answers],
        hide_index=True,
    )


# ---- the page ------------------------------------------------------------------------------------

FS = _state()
store = RunStore(checkpoints_dir())
present = presentation_view(
    "fs-present",
    "Few-shot drawing",
    "Draw five characters nobody has seen, one example each: a meta-learned network adapts to them in a gradient "
    "step or two and tells your next drawing apart.",
    "Large canvases and charts, controls folded away; ?present=1 in the URL.",
)
try:
    choices = models.fewshot_models(store, read_shipped(store))
except UserError as err:
    st.error(str(err))
    st.stop()
if not choices:
    st.info(
        f"No few-shot models in `{store.root}`: train one with `python -m core fewshot` "
        "(the shipped ones are in checkpoints/ of the repository)."
    )
    st.stop()
st.session_state.setdefault("fs-view", "Draw")
view = st.segmented_control(
    "View",
    ["Draw", "Episode browser"],
    key="fs-view",
    required=True,
    label_visibility="collapsed",
    persist_state="session",
)
try:
    if view == "Draw":
        _draw_view(store, choices, present)
    else:
        _browser_view(store, choices, present)
except UserError as err:
    st.error(str(err))
