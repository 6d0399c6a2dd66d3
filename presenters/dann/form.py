"""The Train view's controls as a flat mapping (widget key -> value), and the DANNConfig they describe.

`config_from_form` turns the mapping into a DANNConfig, and every problem with it is a UserError
the page shows. Which digit domains have their data at hand is read here too, for the pickers.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any

from core import options
from core.dann.config import DANNConfig
from core.data import DIGIT_DOMAINS, DatasetStatus
from core.data.folders import within
from core.errors import UserError

FOLDER = "folder"  # the domain choice that reads an image folder (its path typed beside it)
DOMAIN_NAMES = {"mnist": "MNIST", "usps": "USPS", "mnistm": "MNIST-M"}  # spec -> dataset_status name
EXAMPLE_EXPR = "2/(1+exp(-10*p))-1"
# A typed formula is checked at every step of the run before Start when there are at most this
# many (about 0.1 s); longer runs check it when their training starts.
STEPS_CHECKED_HERE = 20_000


def form_defaults() -> dict[str, Any]:
    """The train controls' starting values, by flat key (core.options): every setting of DANNConfig
    at its default, an example formula for the expr schedule, and empty folder paths. A setting
    without a widget keeps its default."""
    return {**options.defaults(DANNConfig), "expr": EXAMPLE_EXPR, "source_folder": "", "target_folder": ""}


def domain_spec(choice: str, folder: str, roots: Sequence[Path] | None = None) -> str:
    """The spec the trainer reads: a digit domain's name, or folder:PATH for an image folder. With
    `roots` (a shared server's), a folder outside them is refused, with one message whether or not
    it exists, so the box cannot probe the server's disk."""
    if choice != FOLDER:
        return choice
    path = folder.strip()
    if not path:
        raise UserError("type the image folder's path (a folder with one subfolder per class)")
    if roots is not None and not within(path, list(roots)):
        raise UserError(outside_roots(roots))
    return f"folder:{path}"


def outside_roots(roots: Sequence[Path]) -> str:
    listed = ", ".join(f"`{r}`" for r in roots)
    return (
        f"this server reads image folders only under {listed} (its data directory and EXPLORER_FOLDER_ROOTS); "
        "put the folder there, or ask whoever runs the server to add its place"
    )


def config_from_form(form: Mapping[str, Any], roots: Sequence[Path] | None = None) -> DANNConfig:
    """The DANNConfig the train controls describe; UserError (with the reason) when they don't.
    The typed formula counts only while the expr schedule is chosen (it is kept while another is).
    `roots`: where image folders may be (domain_spec)."""
    values = dict(form)
    values["source"] = domain_spec(form["source"], form["source_folder"], roots)
    values["target"] = domain_spec(form["target"], form["target_folder"], roots)
    if form.get("schedule") != "expr":
        values["expr"] = ""
    config = options.from_flat(DANNConfig, values)
    total = config.epochs * config.steps_per_epoch  # 0: one pass, known once the data is loaded
    if config.adapts and config.schedule.kind == "expr" and 0 < total <= STEPS_CHECKED_HERE:
        config.schedule.check_steps(total)  # a formula singular between the points checked as typed
    return config


def digit_status(statuses: Iterable[DatasetStatus]) -> dict[str, DatasetStatus]:
    """Each digit domain's dataset status, by domain spec (mnist, usps, mnistm)."""
    by_name = {s.name: s for s in statuses}
    return {spec: by_name[DOMAIN_NAMES[spec]] for spec in DIGIT_DOMAINS if DOMAIN_NAMES[spec] in by_name}


def missing_data(choices: Iterable[str], status: Mapping[str, DatasetStatus]) -> list[str]:
    """One message per chosen digit domain whose data is not at hand, saying what to do."""
    return [
        f"{status[c].name} is not at hand: {status[c].detail}"
        for c in dict.fromkeys(choices)
        if c in status and not status[c].available
    ]
