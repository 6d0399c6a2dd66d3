"""Names of a few-shot run's files, and its evaluation record (no torch here: the home page reads
these before anything heavy is imported)."""

from __future__ import annotations

import json
from typing import Any

from core.errors import UserError
from core.runs import RunStore

KIND = "maml"
WEIGHTS_FILE = "weights.safetensors"
EVALUATIONS_FILE = "evaluations.json"


def evaluations(run_id: str, store: RunStore | None = None) -> list[dict[str, Any]]:
    """The evaluations recorded for a run (empty when none)."""
    store = store or RunStore()
    path = store.path(run_id) / EVALUATIONS_FILE
    if not path.is_file():
        return []
    try:
        rows = json.loads(path.read_text())
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise UserError(f"{path} is not valid JSON ({exc}); delete it to start the record afresh") from None
    if not isinstance(rows, list) or not all(isinstance(r, dict) for r in rows):
        raise UserError(f"{path} should hold a list of evaluation entries")
    return rows
