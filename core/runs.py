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

import json
import os
import re
import shutil
import socket
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar

from safetensors import SafetensorError

from core import atomic
from core.errors import UserError
from core.kinds import canonical_kind
from core.paths import checkpoints_dir

if TYPE_CHECKING:
    import torch

RUN_FORMAT = "transfer-explorer/run"
FORMAT_VERSION = 1
STATUSES = ("running", "complete", "incomplete", "cancelled", "failed")
_RUN_ID = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,127}")
Result = TypeVar("Result")


class TrainingCancelled(Exception):
    """Raised by a step callback to stop training; finished epochs stay stored."""


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

    @property
    def complete(self) -> bool:
        return self.status == "complete"


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def _read_json(path: Path, what: str) -> Any:
    try:
        return json.loads(path.read_text())
    except FileNotFoundError:
        raise UserError(f"{what} not found: expected {path}") from None
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise UserError(f"{path} is not valid JSON ({exc}); the file is corrupt — delete the run to retrain") from None


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
        if doc.get("version", 0) > FORMAT_VERSION:
            raise UserError(f"{folder} was written by a newer version (format {doc['version']}); upgrade to read it")
        try:
            status = doc["status"]
            owner = doc.get("owner") or {}
            if status == "running" and not (
                owner.get("host") == socket.gethostname() and _pid_alive(int(owner.get("pid", -1)))
            ):
                status = "incomplete"
            return RunInfo(
                run_id=run_id,
                path=folder,
                kind=canonical_kind(str(doc["kind"])),
                config=dict(doc["config"]),
                status=status,
                epochs_done=int(doc["epochs_done"]),
                epochs_planned=int(doc["epochs_planned"]),
                created=float(doc["created"]),
                updated=float(doc["updated"]),
                error=doc.get("error"),
                extra=dict(doc.get("extra") or {}),
            )
        except (KeyError, TypeError, ValueError) as exc:
            raise UserError(f"{folder / 'run.json'} is missing or has a malformed field ({exc})") from None

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
            if folder.is_dir() and (folder / "run.json").is_file():
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
        folder = self.path(run_id)
        if not (folder / "run.json").is_file():
            raise UserError(f"no run {run_id!r} in {self.root}")
        shutil.rmtree(folder)

    def metrics(self, run_id: str) -> list[dict[str, Any]]:
        path = self.path(run_id) / "metrics.json"
        if not path.exists():
            return []
        rows = _read_json(path, "metrics")
        if not isinstance(rows, list) or not all(isinstance(r, dict) for r in rows):
            raise UserError(f"{path} should hold a list of per-epoch rows")
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
        self, run_id: str, kind: str, config: dict[str, Any], epochs_planned: int, extra: dict[str, Any] | None = None
    ) -> RunWriter:
        """Start a run folder, replacing an unfinished one of the same id."""
        folder = self.path(run_id)
        if folder.exists():
            if self.exists(run_id):
                current = self.get(run_id)
                if current.status == "running":
                    raise UserError(f"run {run_id} is being trained right now (pid {os.getpid()} or another)")
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


class RunWriter:
    """Writes one run as it trains; every call leaves the folder readable."""

    def __init__(self, folder: Path, doc: dict[str, Any]):
        self.folder = folder
        self._doc = doc
        self._rows: list[dict[str, Any]] = []
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
        writer.finish("failed", error=f"{type(exc).__name__}: {exc}")
        raise
    writer.finish("complete")


@dataclass(frozen=True)
class RunOutcome:
    """The run's record, whether it was trained now, and the per-epoch metric rows."""

    info: RunInfo
    trained: bool
    metrics: list[dict]


def stored_or_trained(
    store: RunStore, run_id: str, train: Callable[[], Iterator[Any]], retrain: bool = False, legacy: Sequence[str] = ()
) -> RunOutcome:
    """The stored run `run_id` when one finished (unless `retrain`), else the run that consuming
    `train()` to its end leaves in the store. `legacy`: ids the same config had in older stores."""
    if not retrain:
        for stored_id in (run_id, *legacy):
            found = store.find(stored_id)
            if found is not None:
                return RunOutcome(found, trained=False, metrics=store.metrics(stored_id))
    for _ in train():
        pass
    return RunOutcome(store.get(run_id), trained=True, metrics=store.metrics(run_id))
