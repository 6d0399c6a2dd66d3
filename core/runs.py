"""The run store: one folder per run under checkpoints/, named by the hash of its config.

    <root>/<run_id>/run.json       what the run is: format marker, kind, config, status, epochs
    <root>/<run_id>/metrics.json   one row per finished epoch
    <root>/<run_id>/*.safetensors  tensors (weights, snapshots), laid out by the trainer's kind

Every file is written atomically (temporary file, then rename), so a reader sees a whole old
version or a whole new one. run.json says "running" while a trainer owns the run; a trainer that
was killed leaves "running" behind with a dead pid, which readers report as "incomplete", with
its finished epochs intact. Files are JSON and safetensors only: nothing is ever unpickled.
"""

from __future__ import annotations

import contextlib
import json
import math
import os
import re
import shutil
import socket
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar

from safetensors import SafetensorError

try:
    import fcntl
except ImportError:  # Windows
    fcntl = None

from core import atomic
from core.errors import UserError
from core.kinds import canonical_kind, check_config
from core.paths import checkpoints_dir

if TYPE_CHECKING:
    import torch

RUN_FORMAT = "transfer-explorer/run"
FORMAT_VERSION = 1
STATUSES = ("running", "complete", "incomplete", "cancelled", "failed")
RESUMABLE = ("incomplete", "cancelled")  # interrupted: killed, or stopped by a cancel
_RUN_ID = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,127}")
Result = TypeVar("Result")


class TrainingCancelled(Exception):
    """Raised by a step callback to stop training; finished epochs stay stored."""


class TrainingDiverged(UserError):
    """A loss or a weight went non-finite: the run is stored as failed, its finished epochs kept."""

    def __init__(self, message: str):
        super().__init__(f"{message}; its finished epochs are kept. Lower the learning rate (or λ) and train again")


class RunFinished(Exception):
    """Raised by RunStore.create when the run completed since its caller looked: open it instead."""

    def __init__(self, info: RunInfo):
        super().__init__(f"run {info.run_id} is complete")
        self.info = info


_THREAD_LOCK = threading.RLock()  # flock is per open file; this orders this process's own threads


@dataclass
class RunInfo:
    """What run.json says about a run, with a dead owner's "running" read as "incomplete"."""

    run_id: str
    path: Path
    kind: str
    config: dict[str, Any]
    status: str
    epochs_done: int
    epochs_planned: int
    created: float
    updated: float
    error: str | None = None
    extra: dict[str, Any] = field(default_factory=dict)
    owner: dict[str, Any] = field(default_factory=dict)  # pid and host of the process training it

    @property
    def complete(self) -> bool:
        return self.status == "complete"


def _owner(info: RunInfo) -> str:
    return f"by pid {info.owner.get('pid')!r:.20} on {info.owner.get('host')!r:.80}"


PID_MAX = 1 << 22  # Linux's largest pid (pid_max's ceiling); a recorded pid beyond it is no process


def _pid_alive(pid: Any) -> bool:
    """Whether `pid` names a live process; a pid that is not a positive int in range (0 and -1
    would signal a whole process group) names none."""
    if isinstance(pid, bool) or not isinstance(pid, int) or not 0 < pid <= PID_MAX:
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    except (OverflowError, OSError):
        return False
    return True


def _no_constants(name: str) -> Any:
    raise ValueError(f"{name} is not a JSON number")


def _read_json(path: Path, what: str) -> Any:
    """The file's JSON; NaN and Infinity (which Python's json reads, but JSON has not) are refused."""
    try:
        return json.loads(path.read_text(), parse_constant=_no_constants)
    except FileNotFoundError:
        raise UserError(f"{what} not found: expected {path}") from None
    except (ValueError, UnicodeDecodeError, RecursionError) as exc:  # JSONDecodeError is a ValueError
        raise UserError(f"{path} is not valid JSON ({exc}); the file is corrupt — delete the run to retrain") from None
    except OSError as exc:
        raise UserError(f"{path} cannot be read ({exc.strerror or exc})") from None


def _field(
    doc: dict,
    name: str,
    kinds: tuple[type, ...],
    what: str,
    *,
    required: bool = True,
    check: Callable[[Any], bool] = lambda v: True,
) -> Any:
    """doc[name] when it is one of `kinds` (never a bool for a number) and passes `check`;
    else a ValueError that says what was expected."""
    if name not in doc:
        if required:
            raise ValueError(f"no {name!r} field")
        return None
    value = doc[name]
    if (isinstance(value, bool) and bool not in kinds) or not isinstance(value, kinds) or not check(value):
        raise ValueError(f"{name!r} should be {what}, got {value!r:.80}")
    return value


def _finite(v: Any) -> bool:
    return isinstance(v, float) and math.isfinite(v)


def _finite_time(v: Any) -> bool:
    return math.isfinite(v) and 0 <= v <= 1e11  # seconds since 1970, up to the year 5138


class RunStore:
    """List, load, create and delete runs under one root folder."""

    def __init__(self, root: str | os.PathLike | None = None):
        self.root = Path(root) if root is not None else checkpoints_dir()

    def path(self, run_id: str) -> Path:
        if not _RUN_ID.fullmatch(run_id):
            raise UserError(f"{run_id!r} is not a run id (letters, digits, '.', '_' and '-')")
        return self.root / run_id

    def exists(self, run_id: str) -> bool:
        return (self.path(run_id) / "run.json").is_file()

    def get(self, run_id: str) -> RunInfo:
        """The run's record; UserError when it is missing, corrupt or not one of ours."""
        folder = self.path(run_id)
        doc = _read_json(folder / "run.json", f"run {run_id!r}")
        if not isinstance(doc, dict) or doc.get("format") != RUN_FORMAT:
            raise UserError(f"{folder / 'run.json'} is not a Transfer Explorer run (no format marker {RUN_FORMAT!r})")
        version = doc.get("version", 0)
        if isinstance(version, int) and not isinstance(version, bool) and version > FORMAT_VERSION:
            raise UserError(
                f"{folder / 'run.json'} was written by a newer version (format {version}); upgrade to read it"
            )
        try:
            return self._parse(run_id, folder, doc)
        except ValueError as exc:
            raise UserError(
                f"{folder / 'run.json'} is damaged: {exc}; delete the run (python -m core runs delete "
                f"{run_id}) or train it again with --retrain"
            ) from None

    @staticmethod
    def _parse(run_id: str, folder: Path, doc: dict) -> RunInfo:
        """run.json's fields, each checked (type, range); ValueError says which one is wrong."""
        count = lambda v: 0 <= v <= 10_000_000
        _field(
            doc,
            "version",
            (int,),
            f"a format version from 0 to {FORMAT_VERSION}",
            required=False,
            check=lambda v: 0 <= v <= FORMAT_VERSION,
        )
        kind = canonical_kind(_field(doc, "kind", (str,), "the run's kind", check=lambda v: 0 < len(v) <= 64))
        config = _field(doc, "config", (dict,), "a mapping of settings")
        status = _field(doc, "status", (str,), f"one of {', '.join(STATUSES)}", check=lambda v: v in STATUSES)
        done = _field(doc, "epochs_done", (int,), "a count of epochs", check=count)
        planned = _field(doc, "epochs_planned", (int,), "a count of epochs", check=count)
        if done > planned:
            raise ValueError(f"'epochs_done' ({done}) is more than 'epochs_planned' ({planned})")
        created = float(_field(doc, "created", (int, float), "a time in seconds", check=_finite_time))
        updated = float(_field(doc, "updated", (int, float), "a time in seconds", check=_finite_time))
        error = _field(doc, "error", (str, type(None)), "a message or null", required=False)
        extra = _field(doc, "extra", (dict, type(None)), "a mapping", required=False) or {}
        owner = _field(doc, "owner", (dict, type(None)), "a mapping of pid and host", required=False) or {}
        if status == "running" and not (owner.get("host") == socket.gethostname() and _pid_alive(owner.get("pid"))):
            status = "incomplete"
        try:
            check_config(kind, config)
        except UserError as exc:
            raise ValueError(f"its config is not valid ({exc})") from None
        return RunInfo(
            run_id=run_id,
            path=folder,
            kind=kind,
            config=dict(config),
            status=status,
            epochs_done=done,
            epochs_planned=planned,
            created=created,
            updated=updated,
            error=error,
            extra=dict(extra),
            owner=dict(owner),
        )

    def find(self, run_id: str) -> RunInfo | None:
        """The run if it exists and finished; None when it must be (re)trained."""
        if not self.exists(run_id):
            return None
        info = self.get(run_id)
        return info if info.complete else None

    def _scan(self) -> Iterator[tuple[Path, RunInfo | UserError]]:
        if not self.root.is_dir():
            return
        for folder in sorted(self.root.iterdir()):
            if folder.is_dir() and (folder / "run.json").exists():  # a run.json that is no file is damaged
                try:
                    yield folder, self.get(folder.name)
                except UserError as exc:
                    yield folder, exc

    def list(self, kind: str | None = None) -> list[RunInfo]:
        """Readable runs, newest first (unreadable folders are reported by `broken`)."""
        runs = [r for _, r in self._scan() if isinstance(r, RunInfo) and (kind is None or r.kind == kind)]
        return sorted(runs, key=lambda r: r.created, reverse=True)

    def broken(self) -> list[tuple[Path, str]]:
        """Folders that look like runs but cannot be read, with the reason."""
        return [(p, str(r)) for p, r in self._scan() if isinstance(r, UserError)]

    def delete(self, run_id: str) -> None:
        """Delete a run folder, damaged ones too; never one that is being trained."""
        folder = self.path(run_id)
        with self._exclusive(run_id):
            if folder.is_symlink():
                raise UserError(f"{folder} is a symbolic link, not a run folder of this store; remove the link itself")
            if not (folder / "run.json").exists():
                raise UserError(f"no run {run_id!r} in {self.root}")
            current = self._current(run_id)
            if current is not None and current.status == "running":
                raise UserError(f"run {run_id} is being trained right now ({_owner(current)}); cancel it first")
            shutil.rmtree(folder)

    def metrics(self, run_id: str) -> list[dict[str, Any]]:
        path = self.path(run_id) / "metrics.json"
        if not path.exists():
            return []
        rows = _read_json(path, "metrics")
        if not isinstance(rows, list) or not all(isinstance(r, dict) for r in rows):
            raise UserError(f"{path} should hold a list of per-epoch rows")
        for i, row in enumerate(rows):
            epoch = row.get("epoch")
            if isinstance(epoch, bool) or not isinstance(epoch, int) or epoch < 0:
                raise UserError(f"{path}: row {i + 1} has no epoch number (got {epoch!r:.40}); the file is damaged")
            for key, value in row.items():
                if not (value is None or isinstance(value, (bool, int, str)) or _finite(value)):
                    raise UserError(f"{path}: epoch {epoch}'s {key!s:.40} is {value!r:.40}, not a finite number")
        return rows

    def read_tensors(self, run_id: str, name: str) -> dict[str, torch.Tensor]:
        """A safetensors file of the run; UserError when it is missing or corrupt."""
        from safetensors.torch import load_file  # imports torch: listing runs (the home page) does not

        path = self.path(run_id) / name
        if not path.is_file():
            raise UserError(f"run {run_id!r} has no {name} (expected {path})")
        try:
            return load_file(path)
        except (SafetensorError, OSError, ValueError) as exc:
            raise UserError(f"{path} is not a readable safetensors file ({exc}); the run is corrupt") from None

    def create(
        self,
        run_id: str,
        kind: str,
        config: dict[str, Any],
        epochs_planned: int,
        extra: dict[str, Any] | None = None,
        *,
        replace: bool = False,
    ) -> RunWriter:
        """Start a run folder. Finding what is there and replacing it is one step under a lock, so
        two trainers of one config (the CLI and the app, say) cannot both start it. A run being
        trained is never replaced. Without `replace` (the CLI's --retrain) nothing with finished
        epochs is replaced either: a run that completed in the meantime raises RunFinished (its
        caller opens it), an interrupted one a UserError that says how to go on."""
        folder = self.path(run_id)
        with self._exclusive(run_id):
            if folder.is_symlink():
                raise UserError(f"{folder} is a symbolic link, not a run folder of this store; move it away first")
            if folder.exists():
                current = self._current(run_id)
                if current is not None and current.status == "running":
                    raise UserError(
                        f"run {run_id} is being trained right now ({_owner(current)}); wait for it or cancel it"
                    )
                if current is not None and not replace:
                    if current.complete:
                        raise RunFinished(current)
                    if current.epochs_done > 0:
                        raise UserError(
                            f"run {run_id} is {current.status} with {current.epochs_done} of "
                            f"{current.epochs_planned} epochs kept; train it again from the start with --retrain "
                            "(this deletes them)"
                        )
                if current is None and (folder / "run.json").exists() and not replace:
                    raise UserError(
                        f"{folder} holds a damaged run; train it again with --retrain (this replaces it) or delete it"
                    )
                shutil.rmtree(folder)
            folder.mkdir(parents=True)
            now = time.time()
            doc = {
                "format": RUN_FORMAT,
                "version": FORMAT_VERSION,
                "run_id": run_id,
                "kind": kind,
                "config": config,
                "status": "running",
                "owner": {"pid": os.getpid(), "host": socket.gethostname()},
                "epochs_done": 0,
                "epochs_planned": epochs_planned,
                "created": now,
                "updated": now,
                "error": None,
                "extra": extra or {},
            }
            return RunWriter(folder, doc)

    def reopen(self, run_id: str, epoch: int, row: dict[str, Any], extra: dict[str, Any]) -> RunWriter:
        """Take up an interrupted run to continue it after `epoch` (its resume state's): its rows up
        to that epoch are kept (`row`, the state's own copy of that epoch's, fills in a row a crash
        lost), later ones dropped, and `extra` is added to what run.json says about it."""
        folder = self.path(run_id)
        with self._exclusive(run_id):
            current = self._current(run_id)
            if current is None:
                raise UserError(f"no readable run {run_id!r} in {self.root} to continue")
            if current.status == "running":
                raise UserError(f"run {run_id} is being trained right now ({_owner(current)})")
            if current.status not in RESUMABLE:
                raise UserError(f"run {run_id} is {current.status}; only an interrupted run is continued")
            if not current.epochs_done <= epoch <= current.epochs_done + 1 or epoch > current.epochs_planned:
                raise UserError(
                    f"run {run_id} has {current.epochs_done} finished epochs but its resume state is of epoch "
                    f"{epoch}; train it again with --retrain"
                )
            doc = _read_json(folder / "run.json", f"run {run_id!r}")
            rows = [r for r in self.metrics(run_id) if r["epoch"] <= epoch]
            if rows[-1:] and rows[-1]["epoch"] < epoch:
                rows.append(dict(row))
            doc.update(
                status="running",
                owner={"pid": os.getpid(), "host": socket.gethostname()},
                error=None,
                epochs_done=epoch,
            )
            doc["extra"] = {**(doc.get("extra") or {}), **extra}
            return RunWriter(folder, doc, rows)

    def _current(self, run_id: str) -> RunInfo | None:
        """The run's record, or None when there is none or it cannot be read."""
        try:
            return self.get(run_id) if self.exists(run_id) else None
        except UserError:
            return None

    @contextlib.contextmanager
    def _exclusive(self, run_id: str) -> Iterator[None]:
        """Hold the store's lock on `run_id` (a file lock, so other processes wait too; where
        the platform has no fcntl, threads of this process still wait for each other)."""
        with _THREAD_LOCK:
            if fcntl is None:
                yield
                return
            locks = self.root / ".locks"
            locks.mkdir(parents=True, exist_ok=True)
            with open(locks / run_id, "a") as handle:
                fcntl.flock(handle, fcntl.LOCK_EX)
                try:
                    yield
                finally:
                    fcntl.flock(handle, fcntl.LOCK_UN)


class RunWriter:
    """Writes one run as it trains; every call leaves the folder readable."""

    def __init__(self, folder: Path, doc: dict[str, Any], rows: list[dict[str, Any]] | None = None):
        self.folder = folder
        # Whether a completed run keeps its resume state (core.resume: a longer run starts from it).
        self.keeps_state = False
        self._doc = doc
        self._rows: list[dict[str, Any]] = list(rows or [])
        if rows is not None:
            atomic.write_json(self.folder / "metrics.json", self._rows)
        self._save_doc()

    @property
    def run_id(self) -> str:
        return self._doc["run_id"]

    def _save_doc(self) -> None:
        self._doc["updated"] = time.time()
        atomic.write_json(self.folder / "run.json", self._doc)

    def update_extra(self, **values: Any) -> None:
        self._doc["extra"].update(values)
        self._save_doc()

    def write_tensors(
        self, name: str, tensors: dict[str, torch.Tensor], metadata: dict[str, str] | None = None
    ) -> None:
        atomic.write_tensors(self.folder / name, tensors, metadata)

    def take_rows(self, rows: list[dict[str, Any]], epochs_done: int) -> None:
        """Start from another run's rows up to `epochs_done` (a longer run that goes on from it)."""
        self._rows = [dict(r) for r in rows if r["epoch"] <= epochs_done]
        atomic.write_json(self.folder / "metrics.json", self._rows)
        self._doc["epochs_done"] = epochs_done
        self._save_doc()

    def add_epoch(self, row: dict[str, Any], epochs_done: int) -> None:
        """Record a finished epoch: its metrics row, then the epoch count in run.json."""
        self._rows.append(row)
        atomic.write_json(self.folder / "metrics.json", self._rows)
        self._doc["epochs_done"] = epochs_done
        self._save_doc()

    def finish(self, status: str = "complete", error: str | None = None) -> None:
        if status not in STATUSES or status == "running":
            raise ValueError(f"cannot finish a run as {status!r}")
        self._doc["status"] = status
        self._doc["error"] = error
        self._doc.pop("owner", None)
        self._save_doc()
        if status == "complete" and not self.keeps_state:  # only an interrupted run is continued
            from core.resume import RESUME_FILE

            (self.folder / RESUME_FILE).unlink(missing_ok=True)


def record_epochs(writer: RunWriter, results: Iterator[Result], write: Callable[[Result], None]) -> Iterator[Result]:
    """Store each result with `write` as it comes and yield it once stored; then mark the run
    complete. It is marked "cancelled" when a step callback raises TrainingCancelled or the
    consumer stops early (finished epochs stay), and "failed" with the message on any other error."""
    try:
        for result in results:
            write(result)
            yield result
    except TrainingCancelled:
        writer.finish("cancelled")
        return
    except GeneratorExit:
        writer.finish("cancelled")
        raise
    except BaseException as exc:
        writer.finish("failed", error=str(exc) if isinstance(exc, UserError) else f"{type(exc).__name__}: {exc}")
        raise
    writer.finish("complete")


@dataclass(frozen=True)
class RunOutcome:
    """The run's record, whether it was trained now, and the per-epoch metric rows."""

    info: RunInfo
    trained: bool
    metrics: list[dict]


def asked_again(
    store: RunStore, run_id: str, retrain: bool = False, legacy: Sequence[str] = ()
) -> tuple[str, RunInfo | None]:
    """What asking for a run's settings again does, the one rule for the CLI and the app:
    "found" a finished run (also under a `legacy` id), "resume" an interrupted run that stored its
    state (core.resume), "kept" a stopped run with finished epochs but no such state (replaced only
    with `retrain`), "retrain" when asked to start over, else "new"."""
    from core.resume import RESUME_FILE

    if retrain:
        return "retrain", store._current(run_id)
    for stored_id in (run_id, *legacy):
        found = store.find(stored_id)
        if found is not None:
            return "found", found
    current = store._current(run_id)
    if current is None or current.status == "running":
        return "new", current
    if current.status in RESUMABLE and (current.path / RESUME_FILE).is_file():
        return "resume", current
    return ("kept" if current.epochs_done > 0 else "new"), current


def stored_or_trained(
    store: RunStore,
    run_id: str,
    train: Callable[[str], Iterator[Any]],
    retrain: bool = False,
    legacy: Sequence[str] = (),
) -> RunOutcome:
    """The stored run `run_id` when one finished (unless `retrain`), else the run that consuming
    `train(mode)` to its end leaves in the store: mode "resume" continues an interrupted run,
    "retrain" replaces what is there, "new" starts a run (and refuses to wipe finished epochs:
    RunStore.create says how to go on). `legacy`: ids the same config had in older stores. A run
    that another trainer completes while this one loads its data is opened, not trained again."""
    mode, current = asked_again(store, run_id, retrain, legacy)
    if mode == "found":
        return RunOutcome(current, trained=False, metrics=store.metrics(current.run_id))
    try:
        for _ in train("new" if mode == "kept" else mode):
            pass
    except RunFinished as finished:
        return RunOutcome(finished.info, trained=False, metrics=store.metrics(run_id))
    return RunOutcome(store.get(run_id), trained=True, metrics=store.metrics(run_id))
