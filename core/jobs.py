"""Background jobs, for any engine: a queue, a small pool of worker threads, progress, cancel, reattach.

A Streamlit script run ends at every widget click and a browser refresh starts a new session, so
long work cannot live in a script run. The registry lives once per server process (the pages hold
it with st.cache_resource); its daemon worker threads run job bodies and never touch Streamlit;
pages poll `status(job_id)` and draw. At most `max_workers` jobs run at once; the rest wait in a
FIFO queue whose positions the page shows.

The registry knows nothing of what a job does. An engine submits a body (a function of the
`Job` handle that reports progress, checks for cancel and updates the engine's own status
details, a frozen dataclass) under a kind of its own: core.dann.jobs registers DANN trainings and
feature maps this way, and an engine added later adds its kinds without changing this module.

Threads, not processes: a job needs the run store and nothing else from the app, torch releases
the GIL inside its kernels, and a thread can be cancelled cooperatively from a step callback
without any inter-process plumbing. Torch's intra-op pool is shared by the whole process, and
on a small CPU several jobs each asking for every core thrash (2 cores, 2 jobs, 2 threads each:
4 busy threads fight over 2 cores and the page's own script runs stall). So each worker lowers
torch to `threads` threads (`Job.threads`, for the libraries a body uses besides): the cores
minus one, kept for the server and the page, shared between the workers, at least 1. It only
ever lowers the counts, so an explicit OMP_NUM_THREADS=1 stays 1. On Linux each worker thread
also runs at a lower CPU priority (nice +10), so the page's script runs and the browser come first.
"""

from __future__ import annotations

import collections
import dataclasses
import logging
import os
import sys
import threading
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from core.errors import UserError

log = logging.getLogger(__name__)

JOB_STATES = ("queued", "running", "done", "failed", "cancelled")
ACTIVE_STATES = ("queued", "running")
KEEP_FINISHED = 100  # finished jobs remembered for pages that reattach; older ones are forgotten
JOB_NICENESS = 10  # added to a worker thread's nice value: the page's own work comes first


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
class NoDetails:
    """The status details of a job kind that reports nothing beyond its steps."""


@dataclass(frozen=True)
class JobStatus:
    """What a page shows about a job: a copy, safe to read while the job goes on."""

    job_id: str
    kind: str  # the engine's name for what the job does, e.g. core.dann.jobs.TRAIN
    run_id: str
    title: str  # one line for people, e.g. "train mnist → mnistm, dann"
    key: str  # jobs of one kind, run and key are the same work (a maps job: its settings' key)
    state: str  # one of JOB_STATES
    position: int | None  # 1-based place in the queue while queued, else None
    step: int  # units of work done (optimizer steps, frames)
    total: int  # units in all; 0 until known
    note: str  # what it is doing right now, e.g. "loading data", "training", "t-SNE frame"
    error: str | None  # why it failed, in words a person can act on
    details: Any  # the kind's own frozen dataclass (a training's epochs and metrics, say)
    owner: str  # who submitted it (a page's session token; "" for the command line and tests)
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


@dataclass(eq=False)
class Job:
    """A job as its body sees it: report progress, check for cancel, update the details."""

    job_id: str
    kind: str
    run_id: str
    title: str
    body: Callable[[Job], str]  # runs the job; returns its final state, done or cancelled
    key: str
    details: Any
    threads: int  # CPU threads the body may use for its own libraries (OpenMP, numba)
    owner: str
    _lock: threading.Lock = field(repr=False)
    state: str = "queued"
    step: int = 0
    total: int = 0
    note: str = "waiting for a worker"
    error: str | None = None
    cancel_requested: bool = False
    created: float = field(default_factory=time.time)
    started: float | None = None
    finished: float | None = None

    def check_cancel(self) -> None:
        if self.cancel_requested:
            raise JobCancelled

    def progress(self, step: int, total: int) -> None:
        self.step, self.total = step, total

    def trainer_started(self, trainer: Any) -> None:
        """A trainer's on_start: its `total_steps` become the job's total."""
        self.total, self.note = trainer.total_steps, "training"
        self.check_cancel()

    def training_step(self, step: int, total: int) -> None:
        """A trainer's on_step: the job's progress; a requested cancel stops the training there
        (core.runs.TrainingCancelled: the run keeps its finished epochs)."""
        from core.runs import TrainingCancelled

        self.progress(step, total)
        if self.cancel_requested:
            raise TrainingCancelled

    def update(self, **changes: Any) -> None:
        """Change fields of the details (a reader sees all of the changes or none)."""
        with self._lock:
            self.details = dataclasses.replace(self.details, **changes)


class JobRegistry:
    """Start, watch and cancel background jobs; one per server process, shared by all sessions."""

    def __init__(self, *, max_workers: int = 2, threads: int | None = None):
        if max_workers < 1:
            raise UserError(f"max_workers must be at least 1, got {max_workers}")
        self.max_workers = max_workers
        self.threads = threads or threads_per_job(os.cpu_count() or 1, max_workers)
        self._lock = threading.Lock()
        self._changed = threading.Condition(self._lock)
        self._jobs: dict[str, Job] = {}
        self._queue: collections.deque[Job] = collections.deque()
        self._workers: list[threading.Thread] = []
        self._closed = False

    def submit(
        self,
        kind: str,
        run_id: str,
        title: str,
        body: Callable[[Job], str],
        *,
        key: str = "",
        details: Any = None,
        owner: str = "",
    ) -> str:
        """Queue `body` as a job of `kind` for `run_id`; a queued or running job of the same kind,
        run and key is the same work and is joined instead (it keeps its first owner). Returns the
        job's id."""
        with self._lock:
            if self._closed:
                raise RuntimeError("the job registry is closed")
            for job in self._jobs.values():
                if (job.kind, job.run_id, job.key) == (kind, run_id, key) and job.state in ACTIVE_STATES:
                    return job.job_id
            job = Job(
                uuid.uuid4().hex[:12],
                kind,
                run_id,
                title,
                body,
                key,
                details if details is not None else NoDetails(),
                self.threads,
                owner,
                self._lock,
            )
            self._jobs[job.job_id] = job  # in submission order, which jobs() and latest() rely on
            self._queue.append(job)
            self._forget_old()
            if len(self._workers) < self.max_workers:
                self._start_worker()
            self._changed.notify_all()
            return job.job_id

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

    def jobs(self, kind: str | None = None) -> list[JobStatus]:
        """Every remembered job (of `kind`, when given), newest first."""
        with self._lock:
            return [self._snapshot(j) for j in reversed(self._jobs.values()) if kind is None or j.kind == kind]

    def latest(self, kind: str, run_id: str, key: str | None = None) -> JobStatus | None:
        """The newest job of `kind` for `run_id` (and `key`, when given), in any state."""
        with self._lock:
            matching = [
                j
                for j in self._jobs.values()
                if j.kind == kind and j.run_id == run_id and (key is None or j.key == key)
            ]
            return self._snapshot(matching[-1]) if matching else None

    def cancel(self, job_id: str, by: str | None = None) -> bool:
        """Stop a job: a queued one never starts, a running one stops when its body next checks
        (what it stored stays stored). `by`: who asks; a job with an owner is cancelled only by
        that owner (None: no check, as for the command line). False when the job is unknown,
        already over, or not the asker's."""
        with self._lock:
            job = self._jobs.get(job_id)
            if job is None or job.state not in ACTIVE_STATES:
                return False
            if by is not None and job.owner and by != job.owner:
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

    def _snapshot(self, job: Job) -> JobStatus:
        position = None
        if job.state == "queued":
            position = next(i for i, j in enumerate(self._queue, 1) if j is job)
        return JobStatus(
            job_id=job.job_id,
            kind=job.kind,
            run_id=job.run_id,
            title=job.title,
            key=job.key,
            state=job.state,
            position=position,
            step=job.step,
            total=job.total,
            note=job.note,
            error=job.error,
            details=job.details,
            owner=job.owner,
            created=job.created,
            started=job.started,
            finished=job.finished,
        )

    # ---- workers -----------------------------------------------------------------------------

    def _start_worker(self) -> None:
        worker = threading.Thread(target=self._work, name=f"job-worker-{len(self._workers)}", daemon=True)
        self._workers.append(worker)
        worker.start()

    def _next(self) -> Job | None:
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

    def _finish(self, job: Job, state: str, error: str | None = None) -> None:
        job.state, job.error, job.finished = state, error, time.time()
        job.note = {"done": "finished", "failed": "failed", "cancelled": "cancelled"}[state]
        self._changed.notify_all()


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
