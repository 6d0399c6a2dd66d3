"""The few-shot page's models: the stored few-shot runs it offers (shipped first, titles from
checkpoints/shipped.json; the default is the shipped MAML run), and every chosen model's answers
for the same drawings or the same browsed episode."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import numpy as np

from core.errors import UserError
from core.fewshot.demo import BrowserEpisode, classify
from core.fewshot.evaluation import Adaptation, Learner
from core.fewshot.files import KIND, evaluated_accuracy, evaluations, solver_name
from core.fewshot.run import run_config
from core.runs import RunInfo, RunStore
from core.shipped import ShippedRun
from presenters.runs import run_label


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
    accuracy: float | None = None  # 5-way 1-shot on the evaluation alphabets, when it was measured
    head_init: str = "zero"  # where MAML's inner loop starts its head

    @property
    def name(self) -> str:
        """The solver, with its measured accuracy: "MAML (0.972)", "FO-MAML, prototype head (0.950)"."""
        solver = solver_name(self.solver, self.head_init)
        return solver if self.accuracy is None else f"{solver} ({self.accuracy:.3f})"


def _choice(store: RunStore, info: RunInfo, title: str | None) -> ModelChoice:
    config = run_config(info)
    try:
        accuracy = evaluated_accuracy(evaluations(info.run_id, store))
    except UserError:  # a damaged record: shown without its accuracy
        accuracy = None
    measured = "" if accuracy is None else f" · 5-way 1-shot {accuracy:.3f}"
    return ModelChoice(
        run_id=info.run_id,
        label=run_label(info, title) + measured,
        accuracy=accuracy,
        solver=config.solver,
        shipped=title is not None,
        steps=config.eval_steps,
        lr=config.eval_lr,
        ways=config.ways if config.head_init == "learned" and config.meta_learning else None,
        head_init=config.head_init,
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
    first = [_choice(store, by_id[s.run_id], s.title) for s in shipped if s.run_id in by_id]
    rest = sorted((r for r in runs if r.run_id not in titles), key=lambda r: r.updated, reverse=True)
    return first + [_choice(store, r, None) for r in rest]


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
        answers.append(
            EpisodeAnswer(
                choice=choice,
                predictions=predictions,
                probabilities=dataset,
                correct=predictions == episode.query_labels,
                extra=probs[-1] if extra is not None else None,
            )
        )
    return answers


def upscale(image: np.ndarray, factor: int = 4) -> np.ndarray:
    """A 28x28 drawing enlarged by pixel repetition, for display (no smoothing: what the model sees)."""
    return np.kron(np.asarray(image), np.ones((factor, factor), dtype=np.asarray(image).dtype))
