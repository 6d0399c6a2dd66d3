"""The background job registry: queue, progress, cancel, failures, found runs, maps (no Streamlit)."""

import os
import sys
import threading

import pytest

import core.dann.run
from core.dann.config import DANNConfig
from core.dann.jobs import DANNJobs
from core.dann.maps import MapSettings, load_maps
from core.errors import UserError
from core.jobs import JOB_NICENESS, JobRegistry, default_max_workers, threads_per_job
from core.runs import RunStore
from tests.synthetic import make_pair

TINY = dict(
    source="synthetic-source",
    target="synthetic-target",
    epochs=2,
    steps_per_epoch=4,
    batch_size=16,
    snapshot_size=20,
    snapshot_dims=8,
)
DOMAINS = make_pair(60)


@pytest.fixture
def jobs(tmp_path):
    reg = DANNJobs(JobRegistry(max_workers=1), RunStore(tmp_path / "runs"), device="cpu", maps_after_epoch=False)
    yield reg
    reg.registry.close()


@pytest.fixture
def gate(monkeypatch):
    """Trainings hold at the first step of their second epoch until the gate opens."""
    opened = threading.Event()
    real = core.dann.run.train_epochs

    def held(config, store, *, on_step, **kwargs):
        def step(done, total):
            on_step(done, total)
            if done == config.steps_per_epoch + 1:
                assert opened.wait(30), "the test never opened the gate"

        return real(config, store, on_step=step, **kwargs)

    monkeypatch.setattr(core.dann.run, "train_epochs", held)
    return opened


def _wait_for(predicate, timeout=30.0):
    done = threading.Event()
    for _ in range(int(timeout / 0.02)):
        if predicate():
            return
        done.wait(0.02)
    raise AssertionError("condition not reached in time")


@pytest.mark.parametrize(("cores", "workers", "threads"), [(2, 2, 1), (2, 1, 1), (1, 2, 1), (16, 2, 7), (8, 1, 7)])
def test_threads_per_job_leaves_a_core_to_the_server(cores, workers, threads):
    assert threads_per_job(cores, workers) == threads


def test_the_number_of_concurrent_jobs_comes_from_the_environment(monkeypatch):
    monkeypatch.delenv("EXPLORER_MAX_JOBS", raising=False)
    assert default_max_workers() == 2
    monkeypatch.setenv("EXPLORER_MAX_JOBS", "3")
    assert default_max_workers() == 3
    for bad in ("0", "two", "-1"):
        monkeypatch.setenv("EXPLORER_MAX_JOBS", bad)
        with pytest.raises(UserError, match="EXPLORER_MAX_JOBS"):
            default_max_workers()


def test_a_training_job_stores_the_run_reports_progress_and_is_found_afterwards(jobs):
    config = DANNConfig(**TINY)
    start = jobs.start_training(config, domains=DOMAINS)
    assert not start.found and start.run_id == config.run_id()
    status = jobs.registry.wait(start.job_id, timeout=60)
    assert status.state == "done" and status.error is None and status.fraction == 1.0
    assert (status.step, status.total, status.details.epoch, status.details.epochs) == (8, 8, 2, 2)
    stored = jobs.store.metrics(config.run_id())
    assert [r["epoch"] for r in status.details.metrics] == [0, 1, 2] == [r["epoch"] for r in stored]
    assert status.details.metrics[-1]["target_acc"] == stored[-1]["target_acc"]
    assert jobs.store.get(config.run_id()).status == "complete"

    again = jobs.start_training(config, domains=DOMAINS)
    assert again.found and again.job_id is None and again.run_id == config.run_id()


def test_the_queue_runs_one_job_at_a_time_in_order_and_cancel_keeps_finished_epochs(jobs, gate):
    first, second, third = (DANNConfig(**TINY, seed=s) for s in (1, 2, 3))
    a = jobs.start_training(first, domains=DOMAINS).job_id
    _wait_for(lambda: jobs.registry.status(a).step == TINY["steps_per_epoch"] + 1)
    b = jobs.start_training(second, domains=DOMAINS).job_id
    c = jobs.start_training(third, domains=DOMAINS).job_id
    assert jobs.start_training(second, domains=DOMAINS).job_id == b  # the same work is joined
    assert [jobs.registry.status(j).state for j in (a, b, c)] == ["running", "queued", "queued"]
    assert [jobs.registry.status(j).position for j in (a, b, c)] == [None, 1, 2]
    assert jobs.registry.status(a).details.epoch == 1 and jobs.registry.status(a).fraction == pytest.approx(5 / 8)

    assert jobs.registry.cancel(b)
    assert jobs.registry.status(b).state == "cancelled" and jobs.registry.status(c).position == 1
    assert not jobs.store.exists(second.run_id())

    assert jobs.registry.cancel(a)
    gate.set()
    cancelled = jobs.registry.wait(a, timeout=60)
    assert cancelled.state == "cancelled" and cancelled.details.epoch == 1
    info = jobs.store.get(first.run_id())
    assert info.status == "cancelled" and info.epochs_done == 1
    assert jobs.registry.wait(c, timeout=60).state == "done"
    assert not jobs.registry.cancel(c)  # over already
    assert [s.job_id for s in jobs.registry.jobs()] == [c, b, a]


def test_two_workers_run_two_jobs_at_once(tmp_path, gate):
    reg = DANNJobs(JobRegistry(max_workers=2), RunStore(tmp_path), device="cpu", maps_after_epoch=False)
    try:
        jobs = [reg.start_training(DANNConfig(**TINY, seed=s), domains=DOMAINS).job_id for s in (1, 2, 3)]
        _wait_for(lambda: all(reg.registry.status(j).state == "running" for j in jobs[:2]))
        assert reg.registry.status(jobs[2]).state == "queued" and reg.registry.status(jobs[2]).position == 1
        gate.set()
        assert [reg.registry.wait(j, timeout=60).state for j in jobs] == ["done"] * 3
    finally:
        reg.registry.close()


def test_a_failing_job_reports_its_error_and_the_registry_keeps_working(jobs, monkeypatch, tmp_path):
    missing = DANNConfig(**{**TINY, "source": f"folder:{tmp_path / 'nowhere'}"})
    status = jobs.registry.wait(jobs.start_training(missing).job_id, timeout=60)
    assert status.state == "failed" and "nowhere" in status.error and "not found" in status.error

    def broken(*args, **kwargs):
        raise RuntimeError("boom")

    monkeypatch.setattr(core.dann.run, "train_epochs", broken)
    status = jobs.registry.wait(jobs.start_training(DANNConfig(**TINY)).job_id, timeout=60)
    assert status.state == "failed" and status.error == "RuntimeError: boom"
    monkeypatch.undo()
    assert jobs.registry.wait(jobs.start_training(DANNConfig(**TINY), domains=DOMAINS).job_id, 60).state == "done"


def test_unknown_jobs_have_no_status_and_cannot_be_cancelled(jobs):
    assert jobs.registry.status("no-such-job") is None
    assert not jobs.registry.cancel("no-such-job")


def test_training_computes_each_epochs_tsne_frame_and_maps_jobs_fill_in_other_methods(tmp_path):
    reg = DANNJobs(JobRegistry(max_workers=1), RunStore(tmp_path), device="cpu", maps_after_epoch=True)
    try:
        config = DANNConfig(**{**TINY, "snapshot_size": 50})  # t-SNE at perplexity 30 needs 91 points or more
        status = reg.registry.wait(reg.start_training(config, domains=DOMAINS).job_id, timeout=120)
        assert status.state == "done" and status.details.maps_error is None
        tsne = load_maps(reg.store, config.run_id(), MapSettings())
        assert tsne is not None and tsne.epochs == [0, 1, 2] and tsne.coords.shape == (3, 100, 2)

        pca = MapSettings(method="pca")
        assert load_maps(reg.store, config.run_id(), pca) is None
        job = reg.start_maps(config.run_id(), pca)
        assert reg.start_maps(config.run_id(), pca) == job or reg.registry.status(job).state == "done"
        status = reg.registry.wait(job, timeout=60)
        assert status.state == "done" and status.step == status.total > 0
        assert load_maps(reg.store, config.run_id(), pca).epochs == [0, 1, 2]
    finally:
        reg.registry.close()


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="per-thread nice values are Linux's")
def test_jobs_train_at_a_lower_cpu_priority_than_the_server(jobs, monkeypatch):
    seen = []
    real = core.dann.run.train_epochs

    def recording(*args, **kwargs):
        seen.append(os.getpriority(os.PRIO_PROCESS, threading.get_native_id()))
        return real(*args, **kwargs)

    monkeypatch.setattr(core.dann.run, "train_epochs", recording)
    assert jobs.registry.wait(jobs.start_training(DANNConfig(**TINY), domains=DOMAINS).job_id, 60).state == "done"
    server = os.getpriority(os.PRIO_PROCESS, threading.get_native_id())
    assert seen == [min(19, server + JOB_NICENESS)]
    assert server == os.getpriority(os.PRIO_PROCESS, os.getpid())  # the server's own threads keep theirs


def test_any_engine_can_run_its_own_kind_of_job_with_its_own_details():
    """The registry knows no engine: a kind it has never seen queues, reports, joins and cancels."""
    from dataclasses import dataclass

    from core.jobs import NoDetails

    @dataclass(frozen=True)
    class Counted:
        counted: int = 0

    release = threading.Event()

    def count(job):
        for i in range(1, 4):
            job.progress(i, 3)
            job.update(counted=i)
        assert release.wait(30)
        job.check_cancel()
        return "done"

    registry = JobRegistry(max_workers=1)
    try:
        first = registry.submit("toy-count", "run-a", "count to three", count, details=Counted())
        assert registry.submit("toy-count", "run-a", "the same work", count, details=Counted()) == first
        second = registry.submit("toy-count", "run-b", "count again", count, details=Counted())
        plain = registry.submit("toy-plain", "run-a", "no details", lambda job: "done")
        _wait_for(lambda: registry.status(first).details.counted == 3)
        status = registry.status(first)
        assert (status.kind, status.state, status.step, status.total, status.fraction) == (
            "toy-count",
            "running",
            3,
            3,
            1.0,
        )
        assert registry.status(second).position == 1 and registry.status(plain).position == 2
        assert registry.cancel(first)
        release.set()
        assert registry.wait(first, 30).state == "cancelled" and registry.wait(first, 30).details.counted == 3
        assert registry.wait(second, 30).state == "done"
        assert registry.wait(plain, 30).details == NoDetails()
        assert [s.job_id for s in registry.jobs("toy-count")] == [second, first]
        assert registry.latest("toy-plain", "run-a").job_id == plain
    finally:
        registry.close()
