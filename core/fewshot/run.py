"""Train a few-shot config into the run store, find it there, load its learner, evaluate it.

Layout of a few-shot run folder (see core/runs.py for run.json and metrics.json):
    weights.safetensors   the learner's meta-parameters after the last finished epoch (the conv4
                          body, plus the head when it was meta-learned), metadata: epoch, solver
    evaluations.json      one entry per evaluation protocol run on it (python -m core fewshot-eval),
                          newest last; the same protocol replaces its earlier entry
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from typing import Any

import torch

from core import atomic
from core.data.fewshot import load_characters
from core.data.strokes import NAME as SYNTHETIC_NAME
from core.device import describe_device, environment, pick_device
from core.errors import UserError
from core.fewshot.config import FewShotConfig
from core.fewshot.episodes import ClassPool
from core.fewshot.evaluation import Evaluation, Learner, check_protocol, evaluate
from core.fewshot.files import EVALUATIONS_FILE, KIND, WEIGHTS_FILE, evaluations
from core.fewshot.solvers import batch_plan
from core.fewshot.trainer import (
    VAL_QUERIES,
    EpochResult,
    FewShotTrainer,
    StepCallback,
)
from core.models.conv4 import HEAD_KEYS, Conv4
from core.paths import portable
from core.resume import RESUME_FILE, continue_run, extend_run, shorter_run, take_up_shorter
from core.runs import (
    RunInfo,
    RunOutcome,
    RunStore,
    RunWriter,
    record_epochs,
    stored_or_trained,
)


def _write_epoch(writer: RunWriter, trainer: FewShotTrainer, result: EpochResult) -> None:
    if result.epoch > 0:
        writer.write_tensors(
            WEIGHTS_FILE, trainer.weights(), {"epoch": str(result.epoch), "solver": trainer.config.solver}
        )
        writer.write_tensors(RESUME_FILE, *trainer.resume_state(result.epoch, result.metrics))  # before the row
    writer.add_epoch(result.metrics, epochs_done=result.epoch)


def _data_facts(trainer: FewShotTrainer) -> dict[str, Any]:
    data, val = trainer.data, trainer.val_pool
    return {
        "name": SYNTHETIC_NAME if data.synthetic else "Omniglot",
        "synthetic": data.synthetic,
        "train_characters": len(trainer.train_pool.characters),
        "train_classes": trainer.train_pool.num_classes,
        "val_characters": len(val.characters) if val is not None else 0,
        "eval_characters": len(data.evaluation),
        "notes": [portable(n) for n in data.background.notes],
    }


def train_epochs(
    config: FewShotConfig,
    store: RunStore,
    *,
    device: torch.device | str = "auto",
    data=None,
    on_step: StepCallback | None = None,
    on_start: Callable[[FewShotTrainer], None] | None = None,
    download: bool = True,
    batch_mode: str = "auto",
    retrain: bool = False,
    resume: bool = False,
) -> Iterator[EpochResult]:
    """Train `config` into the store, yielding each epoch once it is stored: from scratch, or with
    `resume` from the state an interrupted run stored after its last finished epoch. A stored run
    with finished epochs is replaced only with `retrain` (RunStore.create says why). A new run whose
    settings but for `epochs` are those of a finished shorter run starts where that one ended (its
    first epochs would be the same, exactly: core.resume.shorter_run), unless `retrain`.

    The run is marked complete at the end, "cancelled" when a step callback raises
    TrainingCancelled (finished epochs stay), and "failed" with the message on any other error.
    """
    trainer = FewShotTrainer(
        config, device=device, data=data, on_step=on_step, download=download, batch_mode=batch_mode
    )
    if on_start is not None:
        on_start(trainer)
    facts = {**environment(trainer.device), "meta_batch_plan": trainer.plan.describe()}
    run_id = config.run_id()
    if resume:
        writer, start = continue_run(store, run_id, trainer, facts)
    else:
        shorter = None if retrain else shorter_run(store, KIND, config)
        start = take_up_shorter(shorter, trainer) if shorter is not None else 0
        writer = store.create(
            run_id,
            KIND,
            config.to_dict(),
            epochs_planned=config.epochs,
            replace=retrain,
            extra={
                **facts,
                "data": _data_facts(trainer),
                "eval_steps": config.eval_steps,
                "eval_lr": config.eval_lr,
                "val_queries": VAL_QUERIES,
            },
        )
        if shorter is not None:
            extend_run(store, shorter, writer, start, [WEIGHTS_FILE])
    writer.keeps_state = True
    yield from record_epochs(writer, trainer.epochs(start), lambda result: _write_epoch(writer, trainer, result))


def run_fewshot(config: FewShotConfig, store: RunStore | None = None, *, retrain: bool = False, **kwargs) -> RunOutcome:
    """The stored run for `config` when one finished, else train it now (kwargs: train_epochs')."""
    store = store or RunStore()
    train = lambda mode: train_epochs(config, store, retrain=mode == "retrain", resume=mode == "resume", **kwargs)
    return stored_or_trained(store, config.run_id(), train, retrain, legacy=(config.legacy_run_id(),))


def run_config(info: RunInfo) -> FewShotConfig:
    """The config of a stored few-shot run; UserError when the run is of another kind."""
    if info.kind != KIND:
        raise UserError(f"run {info.run_id} is a {info.kind!r} run, not a few-shot ({KIND!r}) run")
    return FewShotConfig.from_dict(info.config)


def load_learner(run_id: str, store: RunStore | None = None, device: torch.device | str = "cpu") -> Learner:
    """A stored run's learner with its test-time and training inner steps and step sizes.

    Any run with finished epochs loads (an incomplete run gives its last finished epoch);
    a run without weights yet is a UserError.
    """
    store = store or RunStore()
    info = store.get(run_id)
    config = run_config(info)
    dev = pick_device(device) if isinstance(device, str) else device
    weights = store.read_tensors(run_id, WEIGHTS_FILE)
    net = Conv4(config.ways).to(dev)
    expected = dict(net.named_parameters())
    path = info.path / WEIGHTS_FILE
    if not set(expected) - set(HEAD_KEYS) <= set(weights) <= set(expected):
        raise UserError(f"{path} does not hold conv4 learner weights (keys {sorted(weights)[:4]}...)")
    for name, tensor in weights.items():
        if tensor.shape != expected[name].shape or tensor.dtype != torch.float32:
            raise UserError(
                f"{path}: {name} is {tensor.dtype} {tuple(tensor.shape)}, expected float32 "
                f"{tuple(expected[name].shape)}; the run is damaged or from another network"
            )
        if not bool(torch.isfinite(tensor).all()):
            raise UserError(f"{path}: {name} holds values that are not finite; the run diverged or is damaged")
    meta = config.solver in ("maml", "fomaml")
    return Learner(
        solver=config.solver,
        net=net,
        params={k: v.to(dev) for k, v in weights.items()},
        steps=config.eval_steps,
        lr=config.eval_lr,
        train_steps=config.inner_steps if meta else 0,
        train_lr=config.inner_lr if meta else 0.0,
        device=dev,
        run_id=run_id,
        data=config.data,
        head_init=config.head_init if meta else "zero",
    )


def evaluation_pool(data: str, download: bool = True) -> ClassPool:
    """The held-out evaluation characters of dataset `data` (never rotated) as an episode pool."""
    return ClassPool(load_characters(data, download).evaluation)


def evaluate_run(
    run_id: str,
    ways: int,
    shots: int,
    queries: int,
    episodes: int,
    *,
    store: RunStore | None = None,
    device: torch.device | str = "auto",
    steps: int | None = None,
    lr: float | None = None,
    seed: int = 0,
    save: bool = True,
    download: bool = True,
    batch_mode: str = "auto",
    on_batch: Callable[[int, int], None] | None = None,
) -> Evaluation:
    """Evaluate a stored run on its dataset's evaluation characters; with `save`, record the
    result in the run's evaluations.json (replacing an earlier one of the same protocol)."""
    check_protocol(ways, shots, queries, episodes, steps, lr)
    store = store or RunStore()
    learner = load_learner(run_id, store, device)
    pool = evaluation_pool(learner.data, download).to(learner.device)
    plan = batch_plan(learner.device, batch_mode)
    result = evaluate(
        learner, pool, ways, shots, queries, episodes, plan=plan, steps=steps, lr=lr, seed=seed, on_batch=on_batch
    )
    if save:
        entry = {
            **result.to_dict(),
            "seed": seed,
            "device": describe_device(learner.device),
            "date": time.strftime("%Y-%m-%d %H:%M"),
        }
        path = store.path(run_id) / EVALUATIONS_FILE
        same = ("ways", "shots", "queries", "episodes", "steps", "lr", "seed")
        kept = [e for e in evaluations(run_id, store) if any(e.get(k) != entry[k] for k in same)]
        atomic.write_json(path, [*kept, entry])
    return result
