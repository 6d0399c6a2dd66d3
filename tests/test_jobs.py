"""The background job registry: queue, progress, cancel, failures, found runs, maps (no Streamlit)."""

import os
import sys
import threading

import pytest

import core.dann.run
from core.dann.config import DANNConfig
from core.embed import EmbedSettings, load_maps
from core.errors import UserError
from core.jobs import JOB_NICENESS, JobRegistry, default_max_workers, threads_per_job
from core.runs import RunStore
from tests.synthetic import make_pair

TINY = dict(source="synthetic-source", target="synthetic-target", epochs=2, steps_per_epoch=4,
            batch_size=16, snapshot_size=20, snapshot_dims=8)  # fmt: skip
DOMAINS = make_pair(60)


@pytest.fixture
def registry(tmp_path):
    reg = JobRegistry(RunStore(tmp_path / "runs"), max_workers=1, device="cpu", maps_after_epoch=False)
    yield reg
    reg.close()


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


def test_a_training_job_stores_the_run_reports_progress_and_is_found_afterwards(registry):
    config = DANNConfig(**TINY)
    start = registry.start_training(config, domains=DOMAINS)
    assert not start.found and start.run_id == config.run_id()
    status = registry.wait(start.job_id, timeout=60)
    assert status.state == "done" and status.error is None and status.fraction == 1.0
    assert (status.step, status.total, status.epoch, status.epochs) == (8, 8, 2, 2)
    stored = registry.store.metrics(config.run_id())
    assert [r["epoch"] for r in status.metrics] == [0, 1, 2] == [r["epoch"] for r in stored]
    assert status.metrics[-1]["target_acc"] == stored[-1]["target_acc"]
    assert registry.store.get(config.run_id()).status == "complete"

    again = registry.start_training(config, domains=DOMAINS)
    assert again.found and again.job_id is None and again.run_id == config.run_id()


def test_the_queue_runs_one_job_at_a_time_in_order_and_cancel_keeps_finished_epochs(registry, gate):
    first, second, third = (DANNConfig(**TINY, seed=s) for s in (1, 2, 3))
    a = registry.start_training(first, domains=DOMAINS).job_id
    _wait_for(lambda: registry.status(a).step == TINY["steps_per_epoch"] + 1)
    b = registry.start_training(second, domains=DOMAINS).job_id
    c = registry.start_training(third, domains=DOMAINS).job_id
    assert registry.start_training(second, domains=DOMAINS).job_id == b  # the same work is joined
    assert [registry.status(j).state for j in (a, b, c)] == ["running", "queued", "queued"]
    assert [registry.status(j).position for j in (a, b, c)] == [None, 1, 2]
    assert registry.status(a).epoch == 1 and registry.status(a).fraction == pytest.approx(5 / 8)

    assert registry.cancel(b)
    assert registry.status(b).state == "cancelled" and registry.status(c).position == 1
    assert not registry.store.exists(second.run_id())

    assert registry.cancel(a)
    gate.set()
    cancelled = registry.wait(a, timeout=60)
    assert cancelled.state == "cancelled" and cancelled.epoch == 1
    info = registry.store.get(first.run_id())
    assert info.status == "cancelled" and info.epochs_done == 1
    assert registry.wait(c, timeout=60).state == "done"
    assert not registry.cancel(c)  # over already
    assert [s.job_id for s in registry.jobs()] == [c, b, a]


def test_two_workers_run_two_jobs_at_once(tmp_path, gate):
    reg = JobRegistry(RunStore(tmp_path), max_workers=2, device="cpu", maps_after_epoch=False)
    try:
        jobs = [reg.start_training(DANNConfig(**TINY, seed=s), domains=DOMAINS).job_id for s in (1, 2, 3)]
        _wait_for(lambda: all(reg.status(j).state == "running" for j in jobs[:2]))
        assert reg.status(jobs[2]).state == "queued" and reg.status(jobs[2]).position == 1
        gate.set()
        assert [reg.wait(j, timeout=60).state for j in jobs] == ["done"] * 3
    finally:
        reg.close()


def test_a_failing_job_reports_its_error_and_the_registry_keeps_working(registry, monkeypatch, tmp_path):
    missing = DANNConfig(**{**TINY, "source": f"folder:{tmp_path / 'nowhere'}"})
    status = registry.wait(registry.start_training(missing).job_id, timeout=60)
    assert status.state == "failed" and "nowhere" in status.error and "not found" in status.error

    def broken(*args, **kwargs):
        raise RuntimeError("boom")

    monkeypatch.setattr(core.dann.run, "train_epochs", broken)
    status = registry.wait(registry.start_training(DANNConfig(**TINY)).job_id, timeout=60)
    assert status.state == "failed" and status.error == "RuntimeError: boom"
    monkeypatch.undo()
    assert registry.wait(registry.start_training(DANNConfig(**TINY), domains=DOMAINS).job_id, 60).state == "done"


def test_unknown_jobs_have_no_status_and_cannot_be_cancelled(registry):
    assert registry.status("no-such-job") is None
    assert not registry.cancel("no-such-job")


def test_training_computes_each_epochs_tsne_frame_and_maps_jobs_fill_in_other_methods(tmp_path):
    reg = JobRegistry(RunStore(tmp_path), max_workers=1, device="cpu", maps_after_epoch=True)
    try:
        config = DANNConfig(**{**TINY, "snapshot_size": 50})  # t-SNE at perplexity 30 needs 91 points or more
        status = reg.wait(reg.start_training(config, domains=DOMAINS).job_id, timeout=120)
        assert status.state == "done" and status.maps_error is None
        tsne = load_maps(reg.store, config.run_id(), EmbedSettings())
        assert tsne is not None and tsne.epochs == [0, 1, 2] and tsne.coords.shape == (3, 100, 2)

        pca = EmbedSettings(method="pca")
        assert load_maps(reg.store, config.run_id(), pca) is None
        job = reg.start_maps(config.run_id(), pca)
        assert reg.start_maps(config.run_id(), pca) == job or reg.status(job).state == "done"
        status = reg.wait(job, timeout=60)
        assert status.state == "done" and status.step == status.total > 0
        assert load_maps(reg.store, config.run_id(), pca).epochs == [0, 1, 2]
    finally:
        reg.close()


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="per-thread nice values are Linux's")
def test_jobs_train_at_a_lower_cpu_priority_than_the_server(registry, monkeypatch):
    seen = []
    real = core.dann.run.train_epochs

    def recording(*args, **kwargs):
        seen.append(os.getpriority(os.PRIO_PROCESS, threading.get_native_id()))
        return real(*args, **kwargs)

    monkeypatch.setattr(core.dann.run, "train_epochs", recording)
    assert registry.wait(registry.start_training(DANNConfig(**TINY), domains=DOMAINS).job_id, 60).state == "done"
    server = os.getpriority(os.PRIO_PROCESS, threading.get_native_id())
    assert seen == [min(19, server + JOB_NICENESS)]
    assert server == os.getpriority(os.PRIO_PROCESS, os.getpid())  # the server's own threads keep theirs
