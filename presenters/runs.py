"""How the app names a stored run: one label for every picker, one short name for legends, one
row for Home's tables, all from core.describe's one description of a run; and the order pickers
list runs in (the shipped ones first)."""

from __future__ import annotations

from collections.abc import Iterable, Sequence

from core.describe import describe_run
from core.runs import RunInfo
from core.shipped import ShippedRun


def run_label(info: RunInfo, title: str | None = None) -> str:
    """One line that tells runs apart in a picker: a shipped run's title, else what it trained;
    then its data and epochs (and status), and the id of a run that is not shipped."""
    d = describe_run(info)
    if title is not None:
        return f"{title} · shipped · {d.data} · {d.progress}"
    return f"{d.data} · {d.detail} · {d.progress} · {info.run_id}"


def short_run_name(info: RunInfo) -> str:
    """The method alone, for a legend: "dann (log) + invert", "MAML"."""
    return describe_run(info).method


def run_what(info: RunInfo) -> str:
    """Data and method, for a table's "what" column: "mnist → mnistm · dann (log)"."""
    d = describe_run(info)
    return f"{d.data} · {d.method}"


def shipped_first(runs: Iterable[RunInfo], shipped: Sequence[ShippedRun]) -> list[RunInfo]:
    """The shipped runs in the order shipped.json lists them, then the others in the given order."""
    runs = list(runs)
    by_id = {r.run_id: r for r in runs}
    first = [by_id[s.run_id] for s in shipped if s.run_id in by_id]
    listed = {s.run_id for s in shipped}
    return first + [r for r in runs if r.run_id not in listed]
