"""DANN's background jobs: a training (which also lays out each stored epoch's t-SNE frame) and
the feature maps of a stored run, submitted to the generic registry (core.jobs) under kinds of
their own, with status details of their own."""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from core.data.specs import short_spec
from core.errors import UserError
from core.interrupt import checking
from core.jobs import Job, JobRegistry, JobStatus
from core.runs import RunInfo, RunStore, asked_again

if TYPE_CHECKING:
    from core.dann.config import DANNConfig
    from core.dann.maps import MapSettings
    from core.data import Domain

log = logging.getLogger(__name__)

TRAIN = "dann-train"
MAPS = "dann-maps"


@dataclass(frozen=True)
class TrainProgress:
    """A training job's details: epochs stored so far (0 = the untrained snapshot) of those
    planned, their metric rows as stored in the run, and why the per-epoch t-SNE frames could not
    be made (training goes on without them)."""

    epochs: int
    epoch: int = 0
    metrics: tuple[dict[str, Any], ...] = field(default_factory=tuple)
    maps_error: str | None = None


@dataclass(frozen=True)
class TrainStart:
    """What start_training did: queued (or joined) a job, found the run already trained, or found
    an interrupted run whose finished epochs only `retrain=True` would replace."""

    run_id: str
    job_id: str | None  # None: nothing was queued; open the stored run (or decide about the kept one)
    kept: RunInfo | None = None  # the interrupted run, when that is why nothing was queued

    @property
    def found(self) -> bool:
        return self.job_id is None and self.kept is None


class DANNJobs:
    """DANN trainings and maps for one run store, run by a shared registry.

    `maps_after_epoch`: after each stored epoch a training job also computes that epoch's t-SNE
    frame (the default map settings), so the map is ready when training ends. It is best-effort:
    a failure is recorded in the details' `maps_error` and training goes on.
    """

    def __init__(
        self,
        registry: JobRegistry,
        store: RunStore,
        *,
        device: str = "auto",
        maps_after_epoch: bool = True,
        download: bool = True,
    ):
        self.registry = registry
        self.store = store
        self.device = device
        self.maps_after_epoch = maps_after_epoch
        self.download = download

    def start_training(
        self,
        config: DANNConfig,
        *,
        retrain: bool = False,
        owner: str = "",
        domains: tuple[Domain, Domain] | None = None,
    ) -> TrainStart:
        """Queue a training of `config`; a finished run of it is found instead, a queued or
        running job for it is joined, and an interrupted run with finished epochs is kept unless
        `retrain` (it is replaced then). `domains`: already-loaded domains (tests)."""
        run_id = config.run_id()
        active = self.registry.latest(TRAIN, run_id)
        mode, current = (
            ("new", None) if active is not None and active.active else asked_again(self.store, run_id, retrain)
        )
        if mode == "found":
            return TrainStart(run_id, None)
        if mode == "kept":
            return TrainStart(run_id, None, kept=current)
        resume = mode == "resume"
        title = f"train {short_spec(config.source)} → {short_spec(config.target)}, {config.variant}"
        if config.adapts:
            title += f", λ {config.schedule.kind}"
        if resume:
            title += f", continued after epoch {current.epochs_done}"
        job_id = self.registry.submit(
            TRAIN,
            run_id,
            title,
            lambda job: self._train(job, config, domains, retrain, resume),
            details=TrainProgress(epochs=config.epochs, epoch=current.epochs_done if resume else 0),
            owner=owner,
        )
        return TrainStart(run_id, job_id)

    def start_maps(self, run_id: str, settings: MapSettings, *, owner: str = "") -> str:
        """Queue computing `run_id`'s maps with `settings` (joined when the same is queued)."""
        self.store.get(run_id)
        title = f"{settings.method} maps of {run_id}"
        return self.registry.submit(
            MAPS, run_id, title, lambda job: self._maps(job, settings), key=settings.key(), owner=owner
        )

    def training(self, run_id: str) -> JobStatus | None:
        """The newest training job of `run_id`, in any state."""
        return self.registry.latest(TRAIN, run_id)

    def maps(self, run_id: str, settings: MapSettings) -> JobStatus | None:
        """The newest maps job of `run_id` with `settings`, in any state."""
        return self.registry.latest(MAPS, run_id, settings.key())

    def _train(
        self, job: Job, config: DANNConfig, domains: tuple[Domain, Domain] | None, retrain: bool, resume: bool
    ) -> str:
        from core.dann.run import train_epochs
        from core.runs import RunFinished

        job.note = "loading data"
        epochs = train_epochs(
            config,
            self.store,
            device=self.device,
            domains=domains,
            on_step=job.training_step,
            on_start=job.trainer_started,
            download=self.download,
            retrain=retrain,
            resume=resume,
        )
        if resume:  # the job's curves start from the epochs already stored
            job.update(metrics=tuple(self.store.metrics(job.run_id)))
        try:
            with checking(job.check_cancel):
                self._follow(job, epochs)
        except RunFinished as finished:  # another trainer completed it while this one loaded its data
            job.update(epoch=finished.info.epochs_done, metrics=tuple(self.store.metrics(job.run_id)))
            return "done"
        # A cancel that came after the last step leaves a complete run: that is "done".
        return "cancelled" if self.store.get(job.run_id).status == "cancelled" else "done"

    def _follow(self, job: Job, epochs) -> None:
        for result in epochs:
            job.update(metrics=(*job.details.metrics, dict(result.metrics)), epoch=result.epoch)
            if self.maps_after_epoch and not job.cancel_requested and job.details.maps_error is None:
                job.note = f"t-SNE frame of epoch {result.epoch}"
                self._epoch_frame(job)
                job.note = "training"

    def _epoch_frame(self, job: Job) -> None:
        from core.dann.maps import MapSettings, compute_maps, limit_threads

        try:
            limit_threads(job.threads)
            compute_maps(self.store, job.run_id, MapSettings())
        except Exception as exc:  # best-effort: Explore computes the maps later
            log.warning("t-SNE frame for %s failed: %s", job.run_id, exc)
            job.update(maps_error=str(exc) if isinstance(exc, UserError) else f"{type(exc).__name__}: {exc}")

    def _maps(self, job: Job, settings: MapSettings) -> str:
        from core.dann.maps import compute_maps, limit_threads

        def on_frame(done: int, total: int) -> None:
            job.progress(done, total)
            job.check_cancel()

        job.note = f"computing {settings.method} frames"
        limit_threads(job.threads)
        compute_maps(self.store, job.run_id, settings, on_frame=on_frame)
        return "done"
