"""The Train view's controls as a flat mapping (widget key -> value), and the DANNConfig they describe.

`config_from_form` turns the mapping into a DANNConfig, and every problem with it is a UserError
the page shows. Which digit domains have their data at hand is read here too, for the pickers.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from core.dann.config import DANNConfig
from core.dann.schedules import LambdaSchedule, LrSchedule
from core.data import DIGIT_DOMAINS, DatasetStatus
from core.errors import UserError

FOLDER = "folder"  # the domain choice that reads an image folder (its path typed beside it)
DOMAIN_NAMES = {"mnist": "MNIST", "usps": "USPS", "mnistm": "MNIST-M"}  # spec -> dataset_status name
EXAMPLE_EXPR = "2/(1+exp(-10*p))-1"


def form_defaults() -> dict[str, Any]:
    """The train controls' starting values: the defaults of DANNConfig and its lambda schedule
    (model "" lets the config pick the network by domain)."""
    config = DANNConfig()
    schedule = config.schedule
    return {
        "source": config.source, "source_folder": "", "target": config.target, "target_folder": "",
        "variant": config.variant, "schedule": schedule.kind, "lambda_value": schedule.value,
        "gamma": schedule.gamma, "lambda_start": schedule.start, "ramp_end": schedule.ramp_end,
        "step_at": schedule.step_at, "expr": EXAMPLE_EXPR, "epochs": config.epochs,
        "batch_size": config.batch_size, "lr0": config.lr.lr0, "seed": config.seed,
        "steps_per_epoch": config.steps_per_epoch, "snapshot_size": config.snapshot_size, "model": "",
        "augment": config.augment,
    }  # fmt: skip


def domain_spec(choice: str, folder: str) -> str:
    """The spec the trainer reads: a digit domain's name, or folder:PATH for an image folder."""
    if choice != FOLDER:
        return choice
    path = folder.strip()
    if not path:
        raise UserError("type the image folder's path (a folder with one subfolder per class)")
    return f"folder:{path}"


def config_from_form(form: Mapping[str, Any]) -> DANNConfig:
    """The DANNConfig the train controls describe; UserError (with the reason) when they don't."""
    schedule = LambdaSchedule(
        kind=form["schedule"], value=form["lambda_value"], gamma=form["gamma"], start=form["lambda_start"],
        ramp_end=form["ramp_end"], step_at=form["step_at"], expr=form["expr"] if form["schedule"] == "expr" else "",
    )  # fmt: skip
    return DANNConfig(
        source=domain_spec(form["source"], form["source_folder"]),
        target=domain_spec(form["target"], form["target_folder"]),
        variant=form["variant"], schedule=schedule, lr=LrSchedule(lr0=form["lr0"]), epochs=int(form["epochs"]),
        batch_size=int(form["batch_size"]), seed=int(form["seed"]), steps_per_epoch=int(form["steps_per_epoch"]),
        snapshot_size=int(form["snapshot_size"]), model=form["model"], augment=form["augment"],
    )  # fmt: skip


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
