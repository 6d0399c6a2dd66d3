"""The shipped runs: which runs of the store came with the project, with a title and the command
that trained them.

`<store>/shipped.json` lists them in the order the app shows them:

    {"format": "transfer-explorer/shipped", "version": 1,
     "runs": [{"run_id": "dann-...", "title": "Source only", "command": "python -m core dann ..."}]}

A store without the file ships nothing (a store of one's own, the tests'); a file that cannot be
read is a UserError naming it, never a silently empty list.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

from core.errors import UserError
from core.runs import RunStore

SHIPPED_FILE = "shipped.json"
SHIPPED_FORMAT = "transfer-explorer/shipped"
SHIPPED_VERSION = 1


@dataclass(frozen=True)
class ShippedRun:
    run_id: str
    title: str  # what the app calls the run, e.g. "DANN paper schedule"
    command: str  # the CLI command that trained it (checkpoints/train_shipped.sh runs these)


def read_shipped(store: RunStore) -> list[ShippedRun]:
    """The runs `<store root>/shipped.json` lists, in its order; [] when the file does not exist."""
    path = store.root / SHIPPED_FILE
    try:
        doc = json.loads(path.read_text())
    except FileNotFoundError:
        return []
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise UserError(f"{path} is not valid JSON ({exc}); expected the list of shipped runs") from None
    if not isinstance(doc, dict) or doc.get("format") != SHIPPED_FORMAT:
        raise UserError(f"{path} is not a list of shipped runs (no format marker {SHIPPED_FORMAT!r})")
    if not isinstance(doc.get("version"), int) or doc["version"] > SHIPPED_VERSION:
        raise UserError(f"{path} has format version {doc.get('version')!r}; this version reads {SHIPPED_VERSION}")
    entries = doc.get("runs")
    if not isinstance(entries, list):
        raise UserError(f'{path}: expected "runs": a list of {{run_id, title, command}}')
    runs = [_entry(path, i, entry, store) for i, entry in enumerate(entries)]
    for field in ("run_id", "title"):
        seen = [getattr(r, field) for r in runs]
        repeated = sorted({v for v in seen if seen.count(v) > 1})
        if repeated:
            raise UserError(f"{path}: each {field} must appear once; repeated: {', '.join(repeated)}")
    return runs


def _entry(path: Path, i: int, entry: object, store: RunStore) -> ShippedRun:
    fields = ("run_id", "title", "command")
    if not isinstance(entry, dict) or not all(isinstance(entry.get(f), str) and entry[f].strip() for f in fields):
        raise UserError(f"{path}: run {i + 1} should have the text fields run_id, title and command, got {entry!r}")
    try:
        store.path(entry["run_id"])
    except UserError as exc:
        raise UserError(f"{path}: run {i + 1}: {exc}") from None
    return ShippedRun(entry["run_id"], entry["title"].strip(), entry["command"].strip())
