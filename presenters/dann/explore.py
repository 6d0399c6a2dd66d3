"""What the Explore and Compare views read from the run store: which DANN runs have snapshots,
which run each view opens on (shipped runs first: presenters.runs.shipped_first), the point
clicked on a map, and the metrics as CSV."""

from __future__ import annotations

import csv
import io
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
from PIL import Image

from core.dann.files import INDEX_FILE, KIND, snapshot_file
from core.dann.points import Points
from core.runs import RunInfo, RunStore
from core.shipped import ShippedRun


def explorable_runs(store: RunStore) -> list[RunInfo]:
    """DANN runs with at least one snapshot (any status: complete, running, cancelled...), newest first."""
    return [r for r in store.list(KIND) if (r.path / INDEX_FILE).is_file() and (r.path / snapshot_file(0)).is_file()]


def _is(info: RunInfo, variant: str, schedule: str | None = None, value: float | None = None) -> bool:
    cfg = info.config
    kind = (cfg.get("schedule") or {}).get("kind")
    return (
        cfg.get("variant") == variant
        and (schedule is None or kind == schedule)
        and (value is None or (cfg.get("schedule") or {}).get("value") == value)
    )


def default_run(runs: Sequence[RunInfo], shipped: Sequence[ShippedRun]) -> RunInfo:
    """What Explore opens when no run is picked: the shipped DANN run with the paper's schedule,
    else the first shipped run, else the newest (`runs` shipped first, as `presenters.runs.shipped_first` orders)."""
    ids = {s.run_id for s in shipped}
    paper = [r for r in runs if r.run_id in ids and _is(r, "dann", "dann")]
    return paper[0] if paper else runs[0]


def compare_defaults(runs: Sequence[RunInfo]) -> list[str]:
    """The runs Compare starts with: source only, constant λ 0.1 and the paper's schedule, the
    classic contrast, taking the first of each (shipped runs come first); when fewer than two of
    them exist, the first three runs."""
    wanted = (("source_only", None, None), ("dann", "constant", 0.1), ("dann", "dann", None))
    found = [next((r.run_id for r in runs if _is(r, *w)), None) for w in wanted]
    found = [run_id for run_id in found if run_id is not None]
    return found if len(found) >= 2 else [r.run_id for r in runs[:3]]


@dataclass(frozen=True)
class Inspected:
    """One snapshot item at one epoch, for the panel beside the map."""

    row: int  # into the Points arrays
    domain: int  # 0 source, 1 target
    item: int  # index into that domain's evaluation split
    label: int  # -1: the domain has no labels
    prediction: int
    domain_prob: float | None  # the domain classifier's P(target); None when the Points carry none


def selected_row(selection: Mapping[str, Any], points: Points) -> int | None:
    """The row of the point clicked on a map figure (its customdata: item, label, prediction, row),
    or None when nothing is selected or the selection belongs to other points (another run)."""
    for point in selection.get("points") or []:
        data = point.get("customdata")
        if isinstance(data, Mapping):  # a typed array (numpy customdata) arrives as {"0": ..., "1": ...}
            data = [data.get(str(i)) for i in range(len(data))]
        if not isinstance(data, (list, tuple)) or len(data) < 4 or data[0] is None or data[3] is None:
            continue
        row = int(data[3])
        if 0 <= row < len(points.item) and int(points.item[row]) == int(data[0]):
            return row
    return None


def inspect(points: Points, row: int, epoch: int) -> Inspected:
    prob = points.domain_prob.get(epoch)
    return Inspected(
        row=row,
        domain=int(points.domain[row]),
        item=int(points.item[row]),
        label=int(points.label[row]),
        prediction=int(points.predictions[epoch][row]),
        domain_prob=None if prob is None else float(prob[row]),
    )


def domain_ids(points: Points, row: int) -> tuple[np.ndarray, int]:
    """The item ids of the row's domain in snapshot order (what `item_images` loads), and the
    row's place among them."""
    rows = np.flatnonzero(points.domain == points.domain[row])
    return points.item[rows], int(np.searchsorted(rows, row))


def enlarged(image: np.ndarray, size: int = 112) -> np.ndarray:
    """An (H, W, C) uint8 image scaled to `size` pixels a side with square pixels (nearest
    neighbour: a 28-pixel digit stays crisp), (size, size) when it is greyscale."""
    grey = image.shape[-1] == 1
    pil = Image.fromarray(image[..., 0] if grey else image)
    return np.asarray(pil.resize((size, size), Image.NEAREST))


def metrics_csv(rows: Iterable[Mapping[str, Any]]) -> str:
    """Per-epoch rows as CSV, one column per key in order of first appearance; blank when missing."""
    rows = list(rows)
    columns = list(dict.fromkeys(k for r in rows for k in r))
    out = io.StringIO()
    writer = csv.DictWriter(out, columns, restval="", lineterminator="\n")
    writer.writeheader()
    writer.writerows({k: ("" if v is None else v) for k, v in r.items()} for r in rows)
    return out.getvalue()


def nearest_epoch(epochs: list[int], wanted: int) -> int:
    """The latest of `epochs` at or before `wanted` (the first one when all are later)."""
    before = [e for e in epochs if e <= wanted]
    return before[-1] if before else epochs[0]
