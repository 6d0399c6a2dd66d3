"""Names of a DANN run's files, and how a DANN run is described (no torch here: the app's pages
import this before anything heavy)."""

from __future__ import annotations

from typing import TYPE_CHECKING

from core.describe import RunDescription, progress
from core.errors import UserError

if TYPE_CHECKING:
    from core.runs import RunInfo, RunStore

KIND = "dann"
INDEX_FILE = "snapshots/index.safetensors"
WEIGHTS_FILE = "weights.safetensors"
# How runs are named in legends and tables (the config keeps the variant's and schedule's keys).
VARIANT_NAMES = {
    "source_only": "source only",
    "dann": "DANN",
    "dann_pseudo": "DANN + pseudo-labels",
    "dan": "DAN",
    "cdan": "CDAN",
    "cdan_e": "CDAN+E",
    "target_only": "target only",
}
SCHEDULE_NAMES = {"dann": "paper ramp"}


def variant_name(config: dict) -> str:
    """ "DANN", "source only", ... for a stored config (its key where the name is unknown)."""
    variant = str(config.get("variant", "?"))
    return VARIANT_NAMES.get(variant, variant)  # the other kinds read as they are: constant, log, linear, step, expr


def snapshot_file(epoch: int) -> str:
    return f"snapshots/epoch_{epoch:04d}.safetensors"


def describe(info: RunInfo) -> RunDescription:
    """Domains, the variant with its schedule and augmentation, and the epochs done."""
    from core.dann.schedules import LambdaSchedule
    from core.data.specs import short_spec

    cfg = info.config
    source, target = (short_spec(str(cfg.get(side, "?"))) for side in ("source", "target"))
    schedule = cfg.get("schedule")
    augment = cfg.get("augment", "none")
    method = detail = variant_name(cfg)
    if isinstance(schedule, dict):
        kind = str(schedule.get("kind", "?"))
        method += f" ({SCHEDULE_NAMES.get(kind, kind)})"
        try:
            detail += " · " + LambdaSchedule.from_dict(schedule).describe()
        except UserError:
            detail += f" · {schedule.get('kind', '?')} schedule"
    if augment != "none":
        method += f" + {augment}"
        detail += f" · {augment} augmentation"
    return RunDescription(info.run_id, KIND, f"{source} → {target}", method, detail, progress(info))


def headline(store: RunStore, info: RunInfo) -> float | None:
    """The last epoch's target accuracy (None when unlabelled or unreadable)."""
    try:
        value = (store.metrics(info.run_id) or [{}])[-1].get("target_acc")
    except (UserError, AttributeError):
        return None
    return value if isinstance(value, (int, float)) else None
