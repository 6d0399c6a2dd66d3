"""Lifelong learning's background job: a training, submitted to the generic registry (core.jobs)
under a kind of its own, with details that let the Train view fill in the accuracy matrix live."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from core.interrupt import checking
from core.jobs import Job, JobRegistry, JobStatus
from core.lifelong.files import METHOD_NAMES, STREAM_NAMES
from core.runs import RunInfo, RunStore, asked_again

if TYPE_CHECKING:
    from core.data.streams import TaskStream
    from core.lifelong.config import LifelongConfig

TRAIN = "lifelong-train"


@dataclass(frozen=True)
class LifelongProgress:
    """A training job's details: epochs stored so far (of the whole stream, 0 = untrained) of
    those planned, and their metric rows as stored in the run."""

    epochs: int
    epoch: int = 0
    metrics: tuple[dict[str, Any], ...] = field(default_factory=tuple)


@dataclass(frozen=True)
class LifelongStart:
    """What start_training did: queued (or joined) a job, found the run already trained, or found
    an interrupted run whose finished epochs only `retrain=True` would replace."""

    run_id: str
    job_id: str | None
    kept: RunInfo | None = None

    @property
    def found(self) -> bool:
        return self.job_id is None and self.kept is None


class LifelongJobs:
    """Lifelong trainings for one run store, run by a shared registry."""

    def __init__(self, registry: JobRegistry, store: RunStore, *, download: bool = True):
        self.registry = registry
        self.store = store
        self.download = download

    def start_training(
        self, config: LifelongConfig, *, retrain: bool = False, owner: str = "", stream: TaskStream | None = None
    ) -> LifelongStart:
        """Queue a training of `config`: a finished run of it is found instead, a queued or running
        job for it joined, an interrupted run continued from its stored state (or kept, without
        one, unless `retrain`). `stream`: an already-built task stream (tests)."""
        run_id = config.run_id()
        active = self.registry.latest(TRAIN, run_id)
        mode, current = (
            ("new", None) if active is not None and active.active else asked_again(self.store, run_id, retrain)
        )
        if mode == "found":
            return LifelongStart(run_id, None)
        if mode == "kept":
            return LifelongStart(run_id, None, kept=current)
        resume = mode == "resume"
        title = f"learn {STREAM_NAMES[config.stream]} ({config.tasks} tasks), {METHOD_NAMES[config.method]}"
        if resume:
            title += f", continued after epoch {current.epochs_done}"
        job_id = self.registry.submit(
            TRAIN,
            run_id,
            title,
            lambda job: self._train(job, config, stream, retrain, resume),
            details=LifelongProgress(epochs=config.epochs_planned, epoch=current.epochs_done if resume else 0),
            owner=owner,
        )
        return LifelongStart(run_id, job_id)

    def training(self, run_id: str) -> JobStatus | None:
        """The newest training job of `run_id`, in any state."""
        return self.registry.latest(TRAIN, run_id)

    def _train(self, job: Job, config: LifelongConfig, stream, retrain: bool, resume: bool) -> str:
        from core.lifelong.run import train_epochs
        from core.runs import RunFinished

        job.note = "loading MNIST"
        epochs = train_epochs(
            config,
            self.store,
            stream=stream,
            on_step=job.training_step,
            on_start=job.trainer_started,
            download=self.download,
            retrain=retrain,
            resume=resume,
        )
        if resume:
            job.update(metrics=tuple(self.store.metrics(job.run_id)))
        try:
            with checking(job.check_cancel):
                for result in epochs:
                    job.update(metrics=(*job.details.metrics, dict(result.metrics)), epoch=result.epoch)
        except RunFinished as finished:
            job.update(epoch=finished.info.epochs_done, metrics=tuple(self.store.metrics(job.run_id)))
            return "done"
        return "cancelled" if self.store.get(job.run_id).status == "cancelled" else "done"
