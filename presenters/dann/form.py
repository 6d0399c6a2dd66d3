"""The Train view's controls as a flat mapping (widget key -> value), and the DANNConfig they describe.

`config_from_form` turns the mapping into a DANNConfig, and every problem with it is a UserError
the page shows. Which digit domains have their data at hand is read here too, for the pickers.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from core import options
from core.dann.config import DANNConfig
from core.data import DIGIT_DOMAINS, DatasetStatus
from core.errors import UserError

FOLDER = "folder"  # the domain choice that reads an image folder (its path typed beside it)
DOMAIN_NAMES = {"mnist": "MNIST", "usps": "USPS", "mnistm": "MNIST-M"}  # spec -> dataset_status name
EXAMPLE_EXPR = "2/(1+exp(-10*p))-1"


def form_defaults() -> dict[str, Any]:
    """The train controls' starting values, by flat key (core.options): every setting of DANNConfig
    at its default, an example formula for the expr schedule, and empty folder paths. A setting
    without a widget keeps its default."""
    return {**options.defaults(DANNConfig), "expr": EXAMPLE_EXPR, "source_folder": "", "target_folder": ""}


def domain_spec(choice: str, folder: str) -> str:
    """The spec the trainer reads: a digit domain's name, or folder:PATH for an image folder."""
    if choice != FOLDER:
        return choice
    path = folder.strip()
    if not path:
        raise UserError("type the image folder's path (a folder with one subfolder per class)")
    return f"folder:{path}"


def config_from_form(form: Mapping[str, Any]) -> DANNConfig:
    """The DANNConfig the train controls describe; UserError (with the reason) when they don't.
    The typed formula counts only while the expr schedule is chosen (it is kept while another is)."""
    values = dict(form)
    values["source"] = domain_spec(form["source"], form["source_folder"])
    values["target"] = domain_spec(form["target"], form["target_folder"])
    if form.get("schedule") != "expr":
        values["expr"] = ""
    return options.from_flat(DANNConfig, values)


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
