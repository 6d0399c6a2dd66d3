"""What the few-shot page shows, computed without streamlit (the page only lays it out).

- Models: the shipped few-shot runs first (titles from checkpoints/shipped.json), then every other
  stored few-shot run with a finished epoch; the default is the shipped MAML run.
- Drawings: five support drawings (one per class) and one or more queries, each already through
  core.maml.drawing.prepare_drawing; `classify` adapts a learner on the supports step by step and
  returns the query probabilities after every step; `compare` does it for several learners on the
  same drawings, each at its own test-time settings.
- Episode browser: an evaluation episode of Omniglot (5-way 1-shot, a query per class), every
  chosen learner's prediction for each query, and optionally a drawing as an extra query.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import numpy as np
import torch

from core.errors import UserError
from core.maml.episodes import ClassPool, sample_episode
from core.maml.evaluation import Adaptation, Learner, adapt_and_predict
from core.maml.run import KIND, run_config
from core.runs import RunInfo, RunStore
from core.shipped import ShippedRun

MAX_STEPS = 10  # inner steps the page offers (the latency benchmark covers this many), or the model's
# own test-time steps when it takes more (the transfer baseline fits its head in 100 cheap steps)
SOLVER_NAMES = {"maml": "MAML", "fomaml": "FO-MAML", "transfer": "transfer baseline", "protonet": "ProtoNet"}


@dataclass(frozen=True)
class ModelChoice:
    """A stored few-shot run as the page offers it."""

    run_id: str
    label: str  # what the picker shows
    solver: str
    shipped: bool
    steps: int  # its test-time inner steps (the page's default)
    lr: float  # their step size
    ways: int | None  # None: any number of ways (zero head); else the meta-learned head's ways
    status: str
    epochs_done: int
    epochs_planned: int


def _choice(info: RunInfo, title: str | None) -> ModelChoice:
    config = run_config(info)
    solver = SOLVER_NAMES.get(config.solver, config.solver)
    data = "" if config.data == "omniglot" else f" · {config.data} data"
    progress = f"{info.epochs_done}/{info.epochs_planned} epochs"
    if info.status != "complete":
        progress += f", {info.status}"
    if title:
        label = f"{title} · shipped · {progress}"
    else:
        label = f"{solver}{data} · {info.run_id} · {progress}"
    return ModelChoice(
        run_id=info.run_id,
        label=label,
        solver=config.solver,
        shipped=title is not None,
        steps=config.eval_steps,
        lr=config.eval_lr,
        ways=config.ways if config.head_init == "learned" and config.meta_learning else None,
        status=info.status,
        epochs_done=info.epochs_done,
        epochs_planned=info.epochs_planned,
    )


def fewshot_models(store: RunStore, shipped: Sequence[ShippedRun]) -> list[ModelChoice]:
    """Shipped few-shot runs in shipped.json's order, then the others, newest first; only runs
    with at least one finished epoch (weights to load)."""
    runs = [r for r in store.list() if r.kind == KIND and r.epochs_done > 0]
    by_id = {r.run_id: r for r in runs}
    titles = {s.run_id: s.title for s in shipped}
    first = [_choice(by_id[s.run_id], s.title) for s in shipped if s.run_id in by_id]
    rest = sorted((r for r in runs if r.run_id not in titles), key=lambda r: r.updated, reverse=True)
    return first + [_choice(r, None) for r in rest]


def default_model(choices: Sequence[ModelChoice]) -> ModelChoice | None:
    """The shipped MAML run, else the first shipped run, else the first listed."""
    for pick in (lambda c: c.shipped and c.solver == "maml", lambda c: c.shipped, lambda c: True):
        for choice in choices:
            if pick(choice):
                return choice
    return None


def comparison_models(choices: Sequence[ModelChoice], chosen: ModelChoice) -> list[ModelChoice]:
    """What "compare" runs beside the chosen model: the other shipped runs of other solvers."""
    seen = {chosen.solver}
    out = [chosen]
    for choice in choices:
        if choice.shipped and choice.solver not in seen:
            out.append(choice)
            seen.add(choice.solver)
    return out


def max_steps(default_steps: int) -> int:
    """The most inner steps offered for a model evaluated with `default_steps`."""
    return max(MAX_STEPS, default_steps)


def _stack(images: Sequence[np.ndarray], what: str) -> torch.Tensor:
    if not images:
        raise UserError(f"no {what}: draw at least one")
    arrays = [np.asarray(im) for im in images]
    for i, a in enumerate(arrays):
        if a.shape != (28, 28):
            raise UserError(f"{what} {i + 1} is {a.shape}, expected a prepared 28x28 drawing")
    return torch.from_numpy(np.stack(arrays).astype(np.uint8)).unsqueeze(1)


def classify(
    learner: Learner,
    supports: Sequence[np.ndarray],
    queries: Sequence[np.ndarray],
    steps: int | None = None,
    lr: float | None = None,
) -> Adaptation:
    """Adapt on one support drawing per class (label i = supports[i]) and predict the queries.

    Drawings are prepared 28x28 uint8 images (ink 255 on 0). steps/lr default to the learner's
    test-time settings; steps is capped at MAX_STEPS.
    """
    if len(supports) < 2:
        raise UserError("draw at least two classes to tell apart")
    if learner.head_ways is not None and learner.head_ways != len(supports):
        raise UserError(
            f"this model meta-learned a {learner.head_ways}-way head; give it {learner.head_ways} classes"
        )
    steps = learner.steps if steps is None else int(steps)
    if not 0 <= steps <= max_steps(learner.steps):
        raise UserError(f"inner steps must be between 0 and {max_steps(learner.steps)}, got {steps}")
    if lr is not None and not (np.isfinite(lr) and 0 <= lr < 100):
        raise UserError(f"inner lr must be a non-negative number below 100, got {lr}")
    sx = _stack(supports, "support drawing")
    qx = _stack(queries, "query drawing")
    sy = torch.arange(len(supports))
    return adapt_and_predict(learner, sx, sy, qx, steps=steps, lr=lr)


@dataclass(frozen=True)
class Comparison:
    """One model's answer for the same drawings."""

    choice: ModelChoice
    adaptation: Adaptation

    @property
    def probabilities(self) -> np.ndarray:
        """(queries, ways) after the last step."""
        return self.adaptation.query_probs[-1].numpy()


def compare(
    learners: Mapping[str, tuple[ModelChoice, Learner]],
    supports: Sequence[np.ndarray],
    queries: Sequence[np.ndarray],
) -> list[Comparison]:
    """Every learner on the same drawings, each at its own test-time steps and lr."""
    return [Comparison(choice, classify(learner, supports, queries)) for choice, learner in learners.values()]


@dataclass(frozen=True)
class BrowserEpisode:
    """An evaluation episode to browse: one support drawing per class, `queries` per class."""

    seed: int
    support: np.ndarray  # (ways, 28, 28) uint8, support[i] is class i
    queries: np.ndarray  # (ways * queries, 28, 28) uint8
    query_labels: np.ndarray  # (ways * queries,)
    names: tuple[str, ...]  # per class: "Alphabet/characterNN"


def draw_episode(pool: ClassPool, seed: int, ways: int = 5, queries: int = 1) -> BrowserEpisode:
    """A 5-way 1-shot episode of the pool (the evaluation characters), reproducible by seed."""
    episode = sample_episode(pool, ways, 1, queries, torch.Generator().manual_seed(int(seed)))
    order = episode.support_y.argsort()
    return BrowserEpisode(
        seed=int(seed),
        support=episode.support_x[order, 0].cpu().numpy(),
        queries=episode.query_x[:, 0].cpu().numpy(),
        query_labels=episode.query_y.cpu().numpy(),
        names=tuple(pool.class_name(int(c)) for c in episode.classes),
    )


@dataclass(frozen=True)
class EpisodeAnswer:
    """One model's answers for a browsed episode's queries (and the extra drawn query, if any)."""

    choice: ModelChoice
    predictions: np.ndarray  # (queries,) predicted class per dataset query
    probabilities: np.ndarray  # (queries, ways)
    correct: np.ndarray  # (queries,) bool
    extra: np.ndarray | None  # (ways,) probabilities of the drawn query, when one was given

    @property
    def accuracy(self) -> float:
        return float(self.correct.mean())


def answer_episode(
    learners: Mapping[str, tuple[ModelChoice, Learner]], episode: BrowserEpisode, extra: np.ndarray | None = None
) -> list[EpisodeAnswer]:
    """Each learner adapted on the episode's supports; its predictions for the queries (the drawn
    extra query rides along: queries never influence each other, see core.models.conv4)."""
    queries = list(episode.queries) + ([extra] if extra is not None else [])
    answers = []
    for choice, learner in learners.values():
        probs = classify(learner, list(episode.support), queries).query_probs[-1].numpy()
        dataset = probs[: len(episode.queries)]
        predictions = dataset.argmax(1)
        answers.append(EpisodeAnswer(
            choice=choice,
            predictions=predictions,
            probabilities=dataset,
            correct=predictions == episode.query_labels,
            extra=probs[-1] if extra is not None else None,
        ))  # fmt: skip
    return answers


def upscale(image: np.ndarray, factor: int = 4) -> np.ndarray:
    """A 28x28 drawing enlarged by pixel repetition, for display (no smoothing: what the model sees)."""
    return np.kron(np.asarray(image), np.ones((factor, factor), dtype=np.asarray(image).dtype))


# ---- canvas drawings (Fabric.js JSON, as streamlit-drawable-canvas stores them) -------------------

FABRIC_VERSION = "7.4.0"  # the Fabric.js that streamlit-drawable-canvas 0.13 bundles


def fabric_drawing(paths: Sequence[np.ndarray], stroke_width: float, color: str = "#000000") -> dict:
    """Strokes ((n, 2) x, y canvas pixels each) as a canvas drawing, to show example drawings."""
    objects = []
    for stroke in paths:
        pts = np.asarray(stroke, dtype=float)
        if pts.ndim != 2 or pts.shape[1] != 2 or len(pts) < 2:
            raise UserError(f"a stroke needs at least two (x, y) points, got shape {pts.shape}")
        x0, y0 = pts.min(0)
        objects.append({
            "type": "path", "originX": "left", "originY": "top",
            "left": round(float(x0) - stroke_width / 2, 2), "top": round(float(y0) - stroke_width / 2, 2),
            "fill": None, "stroke": color, "strokeWidth": stroke_width,
            "strokeLineCap": "round", "strokeLineJoin": "round",
            "path": [["M", *map(float, pts[0].round(2))]] + [["L", *map(float, p.round(2))] for p in pts[1:]],
        })  # fmt: skip
    return {"version": FABRIC_VERSION, "objects": objects}


def scale_drawing(drawing: dict | None, factor: float) -> dict | None:
    """A canvas drawing scaled about the canvas origin (for a canvas of another size)."""
    if drawing is None or factor == 1:
        return drawing
    objects = []
    for obj in drawing.get("objects", []):
        obj = dict(obj)
        for k in ("left", "top"):
            obj[k] = float(obj.get(k, 0)) * factor
        for k in ("scaleX", "scaleY"):
            obj[k] = float(obj.get(k, 1)) * factor
        objects.append(obj)
    return {**drawing, "objects": objects}


def drawing_objects(drawing: dict | None) -> int:
    """How many strokes (objects) a canvas drawing holds."""
    return len((drawing or {}).get("objects") or [])
