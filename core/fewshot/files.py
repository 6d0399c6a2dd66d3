"""Names of a few-shot run's files, and its evaluation record (no torch here: the home page reads
these before anything heavy is imported)."""

from __future__ import annotations

import json
from typing import Any

from core.describe import RunDescription, progress
from core.errors import UserError
from core.fewshot.protocols import DEFAULT_PROTOCOL, PROTOCOLS
from core.runs import RunInfo, RunStore

KIND = "fewshot"
# Few-shot runs were stored as kind "maml" with ids "maml-<hash>" before the engine took its name;
# such folders are read as few-shot runs (core.kinds) and found by their config (legacy_run_id).
LEGACY_KIND = "maml"
SOLVERS = {
    "maml": "MAML (Finn et al. 2017): second-order meta-gradient through the inner SGD steps",
    "fomaml": "first-order MAML: the inner gradients are treated as constants (cheaper, no Hessian)",
    "transfer": (
        "transfer baseline: an ordinary classifier over all training classes; at test a fresh linear "
        "head is trained on the support set's features"
    ),
    "protonet": "Prototypical Networks (Snell et al. 2017): nearest class mean in feature space, no gradient steps",
}
HEAD_INITS = ("zero", "learned", "proto")
HEAD_HEADS = {"learned": "learned head", "proto": "prototype head"}  # how a run's name says its head_init
SOLVER_NAMES = {"maml": "MAML", "fomaml": "FO-MAML", "transfer": "transfer baseline", "protonet": "ProtoNet"}
WEIGHTS_FILE = "weights.safetensors"
EVALUATIONS_FILE = "evaluations.json"


def evaluations(run_id: str, store: RunStore | None = None) -> list[dict[str, Any]]:
    """The evaluations recorded for a run (empty when none)."""
    store = store or RunStore()
    path = store.path(run_id) / EVALUATIONS_FILE
    if not path.is_file():
        return []
    try:
        rows = json.loads(path.read_text())
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise UserError(f"{path} is not valid JSON ({exc}); delete it to start the record afresh") from None
    if not isinstance(rows, list) or not all(isinstance(r, dict) for r in rows):
        raise UserError(f"{path} should hold a list of evaluation entries")
    return rows


def solver_name(solver: str, head_init: str = "zero") -> str:
    """What the app calls a solver: "MAML", "FO-MAML, prototype head" (a zero head goes unsaid)."""
    name = SOLVER_NAMES.get(solver, solver)
    if solver in ("maml", "fomaml") and head_init in HEAD_HEADS:
        name = f"{name}, {HEAD_HEADS[head_init]}"
    return name


def describe(info: RunInfo) -> RunDescription:
    """The solver (and its data when not Omniglot) and the epochs done."""
    cfg = info.config
    solver = str(cfg.get("solver", "?"))
    data = str(cfg.get("data", "?"))
    method = solver_name(solver, str(cfg.get("head_init", "zero")))
    detail = method if data == "omniglot" else f"{method} · {data} data"
    return RunDescription(info.run_id, KIND, data, method, detail, progress(info))


def headline(store: RunStore, info: RunInfo) -> float | None:
    """The default protocol's accuracy (5-way 1-shot, 1,000 episodes of the evaluation alphabets) when recorded
    (evaluations.json), else the last validation accuracy; None when neither can be read."""
    try:
        recorded = evaluations(info.run_id, store)
    except UserError:  # a damaged record: fall back to the validation accuracy
        recorded = []
    evaluated = evaluated_accuracy(recorded)
    if evaluated is not None:
        return evaluated
    try:
        value = (store.metrics(info.run_id) or [{}])[-1].get("val_acc")
    except (UserError, AttributeError):
        return None
    return value if isinstance(value, (int, float)) else None


def evaluated_accuracy(recorded: list[dict[str, Any]]) -> float | None:
    """The latest recorded accuracy of the default protocol (5-way 1-shot, 1,000 episodes of the
    evaluation alphabets) among a run's evaluations, or None."""
    protocol = PROTOCOLS[DEFAULT_PROTOCOL]
    for entry in reversed(recorded):
        if (entry.get("ways"), entry.get("shots"), entry.get("episodes")) == (
            protocol.ways,
            protocol.shots,
            protocol.episodes,
        ):
            accuracy = entry.get("accuracy")
            return float(accuracy) if isinstance(accuracy, (int, float)) and 0 <= accuracy <= 1 else None
    return None
