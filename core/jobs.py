"""Background jobs for the app: DANN trainings and feature maps, on a small pool of threads.

A Streamlit script run ends at every widget click and a browser refresh starts a new session, so
long work cannot live in a script run. The registry lives once per server process (the page holds
it with st.cache_resource); its daemon worker threads train and embed and never touch Streamlit;
pages poll `status(job_id)` and draw. At most `max_workers` jobs run at once; the rest wait in a
FIFO queue whose positions the page shows.

Threads, not processes: a job needs the run store and nothing else from the app, torch releases
the GIL inside its kernels, and a thread can be cancelled cooperatively from a step callback
without any inter-process plumbing. Torch's intra-op pool is shared by the whole process, and
on a small CPU several jobs each asking for every core thrash (2 cores, 2 jobs, 2 threads each:
4 busy threads fight over 2 cores and the page's own script runs stall). So each worker lowers
torch (and, for maps, OpenMP/BLAS and numba) to `threads_per_job` threads: the cores minus one,
kept for the server and the page, shared between the workers, at least 1. It only ever lowers
the counts, so an explicit OMP_NUM_THREADS=1 stays 1. On Linux each worker thread also runs at a
lower CPU priority (nice +10), so the page's script runs and the browser come first.
"""

from __future__ import annotations

import collections
import logging
import os
import sys
import threading
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from core.errors import UserError
from core.runs import RunStore

if TYPE_CHECKING:
    from core.dann.config import DANNConfig
    from core.data import Domain
    from core.embed import EmbedSettings

log = logging.getLogger(__name__)

JOB_STATES = ("queued", "running", "done", "failed", "cancelled")
ACTIVE_STATES = ("queued", "running")
KEEP_FINISHED = 100  # finished jobs remembered for pages that reattach; older ones are forgotten


def default_max_workers() -> int:
    """How many jobs run at once: EXPLORER_MAX_JOBS, default 2."""
    text = os.environ.get("EXPLORER_MAX_JOBS", "2").strip()
    if not text.isdigit() or int(text) < 1:
        raise UserError(f"EXPLORER_MAX_JOBS must be a whole number of at least 1, got {text!r}")
    return int(text)


def threads_per_job(cpu_count: int, max_workers: int) -> int:
    """Torch threads for each job: one core is left to the server, the rest shared by the workers."""
    return max(1, (max(1, cpu_count) - 1) // max(1, max_workers))


class JobCancelled(Exception):
    """Raised inside a job's own callbacks once cancel() was asked for."""


@dataclass(frozen=True)
class JobStatus:
    """What a page shows about a job: a copy, safe to read while the job goes on."""

    job_id: str
    kind: str  # "train" or "maps"
    run_id: str
    title: str  # one line for people, e.g. "train mnist → mnistm, dann"
    tag: str  # maps: the EmbedSettings key; train: ""
    state: str  # one of JOB_STATES
    position: int | None  # 1-based place in the queue while queued, else None
    step: int  # optimizer steps (train) or frames (maps) done
    total: int  # steps or frames in all; 0 until known
    epoch: int  # train: epochs stored so far (0 = the untrained snapshot); maps: 0
    epochs: int  # train: epochs planned; maps: 0
    note: str  # what it is doing right now, e.g. "loading data", "training", "t-SNE frame"
    metrics: tuple[dict[str, Any], ...]  # train: the per-epoch rows, as stored in the run
    error: str | None  # why it failed, in words a person can act on
    maps_error: str | None  # train: why the per-epoch t-SNE frames could not be made (training went on)
    created: float
    started: float | None
    finished: float | None

    @property
    def active(self) -> bool:
        return self.state in ACTIVE_STATES

    @property
    def fraction(self) -> float:
        """Progress in [0, 1] for a progress bar."""
        if self.state == "done":
            return 1.0
        return min(1.0, self.step / self.total) if self.total else 0.0


@dataclass(frozen=True)
class TrainStart:
    """What start_training did: queued (or joined) a job, or found the run already trained."""

    run_id: str
    job_id: str | None  # None: the config was trained to completion before; open the stored run

    @property
    def found(self) -> bool:
        return self.job_id is None


@dataclass(eq=False)
class _Job:
    job_id: str
    kind: str
    run_id: str
    title: str
    body: Callable[[_Job], str]  # runs the job; returns its final state, done or cancelled
    tag: str = ""  # jobs of one kind, run and tag are the same work: a second request joins the first
    state: str = "queued"
    step: int = 0
    total: int = 0
    epoch: int = 0
    epochs: int = 0
    note: str = "waiting for a worker"
    metrics: list[dict[str, Any]] = field(default_factory=list)
    error: str | None = None
    maps_error: str | None = None
    cancel_requested: bool = False
    created: float = field(default_factory=time.time)
    started: float | None = None
    finished: float | None = None

    def check_cancel(self) -> None:
        if self.cancel_requested:
            raise JobCancelled


class JobRegistry:
    """Start, watch and cancel background jobs; one per server process, shared by all sessions.

    `maps_after_epoch`: after each stored epoch a training job also computes that epoch's t-SNE
    frame (the default embedding settings), so the map is ready when training ends. It is
    best-effort: a failure is recorded in `maps_error` and training goes on.
    """

    def __init__(
        self,
        store: RunStore,
        *,
        max_workers: int = 2,
        device: str = "auto",
        maps_after_epoch: bool = True,
        download: bool = True,
        threads: int | None = None,
    ):
        if max_workers < 1:
            raise UserError(f"max_workers must be at least 1, got {max_workers}")
        self.store = store
        self.max_workers = max_workers
        self.device = device
        self.maps_after_epoch = maps_after_epoch
        self.download = download
        self.threads = threads or threads_per_job(os.cpu_count() or 1, max_workers)
        self._lock = threading.Lock()
        self._changed = threading.Condition(self._lock)
        self._jobs: dict[str, _Job] = {}
        self._queue: collections.deque[_Job] = collections.deque()
        self._workers: list[threading.Thread] = []
        self._closed = False

    # ---- starting jobs ---------------------------------------------------------------------

    def start_training(self, config: DANNConfig, *, domains: tuple[Domain, Domain] | None = None) -> TrainStart:
        """Queue a training of `config`; a finished run of it is found instead, a queued or
        running job for it is joined. `domains`: already-loaded domains (tests)."""
        from core.dann.ui import short_spec

        run_id = config.run_id()
        if self.store.find(run_id) is not None:
            return TrainStart(run_id, None)
        title = f"train {short_spec(config.source)} → {short_spec(config.target)}, {config.variant}"
        if config.adversarial:
            title += f", λ {config.schedule.kind}"

        def body(job: _Job) -> str:
            return self._train(job, config, domains)

        job = self._submit("train", run_id, title, body, epochs=config.epochs)
        return TrainStart(run_id, job.job_id)

    def start_maps(self, run_id: str, settings: EmbedSettings) -> str:
        """Queue computing `run_id`'s maps with `settings` (joined when the same is queued)."""
        self.store.get(run_id)
        title = f"{settings.method} maps of {run_id}"

        def body(job: _Job) -> str:
            return self._maps(job, settings)

        return self._submit("maps", run_id, title, body, tag=settings.key()).job_id

    def _submit(self, kind: str, run_id: str, title: str, body, *, epochs: int = 0, tag: str = "") -> _Job:
        with self._lock:
            if self._closed:
                raise RuntimeError("the job registry is closed")
            for job in self._jobs.values():
                if (job.kind, job.run_id, job.tag) == (kind, run_id, tag) and job.state in ACTIVE_STATES:
                    return job
            job = _Job(uuid.uuid4().hex[:12], kind, run_id, title, body, tag=tag, epochs=epochs)
            self._jobs[job.job_id] = job  # in submission order, which jobs() and latest() rely on
            self._queue.append(job)
            self._forget_old()
            if len(self._workers) < self.max_workers:
                self._start_worker()
            self._changed.notify_all()
            return job

    def _forget_old(self) -> None:
        finished = [j for j in self._jobs.values() if j.state not in ACTIVE_STATES]
        for job in finished[: max(0, len(finished) - KEEP_FINISHED)]:
            del self._jobs[job.job_id]

    # ---- watching and cancelling -----------------------------------------------------------

    def status(self, job_id: str) -> JobStatus | None:
        """The job's state now, or None for an id this process does not know (e.g. a restart)."""
        with self._lock:
            job = self._jobs.get(job_id)
            return None if job is None else self._snapshot(job)

    def jobs(self) -> list[JobStatus]:
        """Every remembered job, newest first."""
        with self._lock:
            return [self._snapshot(j) for j in reversed(self._jobs.values())]

    def latest(self, kind: str, run_id: str, tag: str | None = None) -> JobStatus | None:
        """The newest job of `kind` for `run_id` (and `tag`, when given), in any state."""
        with self._lock:
            matching = [j for j in self._jobs.values()
                        if j.kind == kind and j.run_id == run_id and (tag is None or j.tag == tag)]  # fmt: skip
            return self._snapshot(matching[-1]) if matching else None

    def cancel(self, job_id: str) -> bool:
        """Stop a job: a queued one never starts, a running one stops at its next step (a
        training keeps its finished epochs). False when the job is unknown or already over."""
        with self._lock:
            job = self._jobs.get(job_id)
            if job is None or job.state not in ACTIVE_STATES:
                return False
            job.cancel_requested = True
            if job.state == "queued":
                self._queue.remove(job)
                self._finish(job, "cancelled")
            else:
                job.note = "cancelling"
            return True

    def wait(self, job_id: str, timeout: float | None = None) -> JobStatus:
        """Block until the job is over (or `timeout` seconds pass); its status then."""
        deadline = None if timeout is None else time.monotonic() + timeout
        with self._lock:
            while self._jobs[job_id].state in ACTIVE_STATES:
                left = None if deadline is None else deadline - time.monotonic()
                if left is not None and left <= 0:
                    break
                self._changed.wait(left)
            return self._snapshot(self._jobs[job_id])

    def close(self, timeout: float = 30.0) -> None:
        """Cancel every job and stop the workers (tests; a server simply exits)."""
        with self._lock:
            self._closed = True
            for job in list(self._queue):
                job.cancel_requested = True
                self._finish(job, "cancelled")
            self._queue.clear()
            for job in self._jobs.values():
                job.cancel_requested = True
            self._changed.notify_all()
            workers = list(self._workers)
        for worker in workers:
            worker.join(timeout)

    def _snapshot(self, job: _Job) -> JobStatus:
        position = None
        if job.state == "queued":
            position = next(i for i, j in enumerate(self._queue, 1) if j is job)
        return JobStatus(
            job_id=job.job_id, kind=job.kind, run_id=job.run_id, title=job.title, tag=job.tag, state=job.state,
            position=position, step=job.step, total=job.total, epoch=job.epoch, epochs=job.epochs,
            note=job.note, metrics=tuple(dict(r) for r in job.metrics), error=job.error,
            maps_error=job.maps_error, created=job.created, started=job.started, finished=job.finished,
        )  # fmt: skip

    # ---- workers -----------------------------------------------------------------------------

    def _start_worker(self) -> None:
        worker = threading.Thread(target=self._work, name=f"job-worker-{len(self._workers)}", daemon=True)
        self._workers.append(worker)
        worker.start()

    def _next(self) -> _Job | None:
        with self._lock:
            while not self._queue and not self._closed:
                self._changed.wait()
            if not self._queue:
                return None
            job = self._queue.popleft()
            job.state, job.started, job.note = "running", time.time(), "starting"
            self._changed.notify_all()
            return job

    def _work(self) -> None:
        _lower_priority()
        _limit_torch_threads(self.threads)
        while (job := self._next()) is not None:
            try:
                state = job.body(job)
            except (JobCancelled, UserError) as exc:
                with self._lock:
                    if isinstance(exc, JobCancelled):
                        self._finish(job, "cancelled")
                    else:
                        self._finish(job, "failed", str(exc))
            except Exception as exc:  # a bug in a job must not take the server down: show it, log it
                log.exception("job %s (%s) failed", job.job_id, job.title)
                with self._lock:
                    self._finish(job, "failed", f"{type(exc).__name__}: {exc}")
            else:
                with self._lock:
                    self._finish(job, state)

    def _finish(self, job: _Job, state: str, error: str | None = None) -> None:
        job.state, job.error, job.finished = state, error, time.time()
        job.note = {"done": "finished", "failed": "failed", "cancelled": "cancelled"}[state]
        self._changed.notify_all()

    # ---- job bodies --------------------------------------------------------------------------

    def _train(self, job: _Job, config: DANNConfig, domains: tuple[Domain, Domain] | None) -> str:
        from core.dann.run import train_epochs
        from core.runs import TrainingCancelled

        def on_start(trainer) -> None:
            job.total, job.note = trainer.total_steps, "training"
            job.check_cancel()

        def on_step(step: int, total: int) -> None:
            job.step, job.total = step, total
            if job.cancel_requested:
                raise TrainingCancelled

        job.note = "loading data"
        epochs = train_epochs(
            config, self.store, device=self.device, domains=domains, on_step=on_step, on_start=on_start,
            download=self.download,
        )  # fmt: skip
        for result in epochs:
            with self._lock:
                job.metrics.append(dict(result.metrics))
                job.epoch = result.epoch
            if self.maps_after_epoch and not job.cancel_requested and job.maps_error is None:
                job.note = f"t-SNE frame of epoch {result.epoch}"
                self._epoch_frame(job)
                job.note = "training"
        # A cancel that came after the last step leaves a complete run: that is "done".
        return "cancelled" if self.store.get(job.run_id).status == "cancelled" else "done"

    def _epoch_frame(self, job: _Job) -> None:
        from core.embed import EmbedSettings, compute_maps

        try:
            _limit_map_threads(self.threads)
            compute_maps(self.store, job.run_id, EmbedSettings())
        except Exception as exc:  # noqa: BLE001  (best-effort: Explore computes the maps later)
            log.warning("t-SNE frame for %s failed: %s", job.run_id, exc)
            job.maps_error = str(exc) if isinstance(exc, UserError) else f"{type(exc).__name__}: {exc}"

    def _maps(self, job: _Job, settings: EmbedSettings) -> str:
        from core.embed import compute_maps

        def on_frame(done: int, total: int) -> None:
            job.step, job.total = done, total
            job.check_cancel()

        job.note = f"computing {settings.method} frames"
        _limit_map_threads(self.threads)
        compute_maps(self.store, job.run_id, settings, on_frame=on_frame)
        return "done"


JOB_NICENESS = 10  # added to a worker thread's nice value: the page's own work comes first


def _lower_priority() -> None:
    """Lower the calling worker thread's CPU priority, so that the server's script runs and the
    browser get the cores first while a job trains (Linux keeps a nice value per thread; elsewhere,
    or where it cannot be changed, the thread keeps the process's priority)."""
    if not sys.platform.startswith("linux"):  # elsewhere a thread id is not a process id to renice
        return
    try:
        tid = threading.get_native_id()
        os.setpriority(os.PRIO_PROCESS, tid, min(19, os.getpriority(os.PRIO_PROCESS, tid) + JOB_NICENESS))
    except (AttributeError, OSError) as exc:
        log.debug("job thread keeps its priority: %s", exc)


def _limit_torch_threads(threads: int) -> None:
    """Lower torch's intra-op pool (process-wide) to `threads`; never raise it."""
    import torch

    if torch.get_num_threads() > threads:
        torch.set_num_threads(threads)


def _limit_map_threads(threads: int) -> None:
    """Lower the pools the embeddings use: OpenMP/BLAS (t-SNE, PCA) process-wide and numba's
    (UMAP), which is per thread, for the calling worker. Never raises a limit."""
    import numba
    import sklearn.manifold  # noqa: F401  (loads scikit-learn's OpenMP runtime so it can be limited)
    import torch
    from threadpoolctl import threadpool_limits

    threadpool_limits(limits=min(threads, torch.get_num_threads()))
    numba.set_num_threads(min(threads, numba.get_num_threads()))
