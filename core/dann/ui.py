"""What the domain-adaptation page computes, free of Streamlit so that it can be tested alone.

The page keeps its train controls in a flat mapping (widget key -> value); `config_from_form`
turns that into a DANNConfig, and every problem with it is a UserError the page shows. The rest
reads the run store for the Explore and Compare views: which runs have snapshots, which of them
were shipped (listed first, labelled by their titles), the points of a run (domain, item id,
label, prediction per epoch), the image of a point clicked on the map, and metrics as CSV.
"""

from __future__ import annotations

import base64
import csv
import io
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
from PIL import Image

from core.dann.config import DANNConfig
from core.dann.files import INDEX_FILE, KIND, snapshot_file
from core.dann.preview import schedule_svg
from core.dann.schedules import LambdaSchedule, LrSchedule
from core.data import DIGIT_DOMAINS, DatasetStatus, load_domain
from core.data.domains import locate
from core.errors import UserError
from core.runs import RunInfo, RunStore
from core.shipped import ShippedRun

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


def schedule_curves(config: DANNConfig, points: int = 101) -> tuple[list[float], list[float], list[float]]:
    """p, lambda(p) and lr(p) on an even grid; lambda is 0 where the variant is not adversarial."""
    ps = [i / (points - 1) for i in range(points)]
    lambdas = [config.schedule(p) if config.adversarial else 0.0 for p in ps]
    return ps, lambdas, [config.lr(p) for p in ps]


def schedule_preview(config: DANNConfig, *, width: int = 560, height: int = 320, font_size: int = 13) -> str:
    """The Train view's preview of lambda(p) and lr(p), an SVG (core.dann.preview says why not plotly)."""
    ps, lambdas, lrs = schedule_curves(config)
    title = config.schedule.describe() if config.adversarial else f"λ(p) = 0 ({config.variant})"
    return schedule_svg(ps, lambdas, lrs, title, width=width, height=height, font_size=font_size)


def preview_html(svg: str, height: int = 320) -> str:
    """An <img> of `svg` that is always `height` pixels tall, the drawing scaled to fit its width.

    A fixed height keeps the page's layout still while the column's width changes (a scrollbar
    appearing must not change the page's height, or the two can chase each other). An SVG shown
    through <img> runs no script; the SVG's own texts are escaped."""
    data = base64.b64encode(svg.encode()).decode()
    return (f'<img class="schedule-preview" alt="schedule preview" src="data:image/svg+xml;base64,{data}" '
            f'style="width:100%;height:{height}px;object-fit:contain;object-position:left top">')


def explorable_runs(store: RunStore) -> list[RunInfo]:
    """DANN runs with at least one snapshot (any status: complete, running, cancelled...), newest first."""
    return [r for r in store.list(KIND) if (r.path / INDEX_FILE).is_file() and (r.path / snapshot_file(0)).is_file()]


def short_spec(spec: str) -> str:
    """A domain spec for titles and legends: folder:/a/b/train_data reads "train_data/"."""
    if not spec.startswith("folder:"):
        return spec
    return Path(spec.removeprefix("folder:").rstrip("/")).name + "/"


def run_label(info: RunInfo, title: str | None = None) -> str:
    """One line that tells runs apart in a picker: a shipped run's title, else the variant and
    schedule; then domains, epochs and status."""
    cfg = info.config
    source, target = (short_spec(str(cfg.get(k, "?"))) for k in ("source", "target"))
    state = "" if info.complete else f" · {info.status}"
    epochs = f"{info.epochs_done}/{info.epochs_planned} epochs{state}"
    if title is not None:
        return f"{title} · shipped · {source} → {target} · {epochs}"
    what = str(cfg.get("variant", "?"))
    if "schedule" in cfg:
        what += " · " + LambdaSchedule.from_dict(cfg["schedule"]).describe()
    if cfg.get("augment", "none") != "none":
        what += f" · {cfg['augment']} augmentation"
    return f"{source} → {target} · {what} · {epochs} · {info.run_id}"


def shipped_first(runs: Iterable[RunInfo], shipped: Sequence[ShippedRun]) -> list[RunInfo]:
    """The shipped runs in the order shipped.json lists them, then the others in the given order."""
    runs = list(runs)
    by_id = {r.run_id: r for r in runs}
    first = [by_id[s.run_id] for s in shipped if s.run_id in by_id]
    listed = {s.run_id for s in shipped}
    return first + [r for r in runs if r.run_id not in listed]


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
    else the first shipped run, else the newest (`runs` shipped first, as `shipped_first` orders)."""
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


def short_run_name(info: RunInfo) -> str:
    """The variant, and for adversarial runs the schedule kind: "dann (log)", "source_only"."""
    schedule = info.config.get("schedule")
    variant = str(info.config.get("variant", "?"))
    name = f"{variant} ({schedule['kind']})" if schedule else variant
    augment = info.config.get("augment", "none")
    return name if augment == "none" else f"{name} + {augment}"


@dataclass(frozen=True)
class Points:
    """The snapshot items of a run: which domain, which item, its label, and what was predicted."""

    domain: np.ndarray  # uint8 [N]: 0 source, 1 target
    item: np.ndarray  # int64 [N]: index into that domain's evaluation split
    label: np.ndarray  # int64 [N]: -1 where the domain has no labels
    predictions: dict[int, np.ndarray]  # epoch -> int64 [N]
    domain_prob: dict[int, np.ndarray] = field(default_factory=dict)  # epoch -> float32 [N]: P(target)


def load_points(store: RunStore, run_id: str, epochs: Iterable[int]) -> Points:
    """The run's snapshot index, and the predictions and domain probabilities of `epochs`."""
    index = store.read_tensors(run_id, INDEX_FILE)
    item = np.concatenate([index["source_ids"].numpy(), index["target_ids"].numpy()]).astype(np.int64)
    snapshots = {e: store.read_tensors(run_id, snapshot_file(e)) for e in epochs}
    return Points(
        index["domain"].numpy(), item, index["labels"].numpy().astype(np.int64),
        {e: s["predictions"].numpy().astype(np.int64) for e, s in snapshots.items()},
        {e: s["domain_prob"].float().numpy() for e, s in snapshots.items()},
    )  # fmt: skip


# ---- a point clicked on the map ------------------------------------------------------------------


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
        row=row, domain=int(points.domain[row]), item=int(points.item[row]), label=int(points.label[row]),
        prediction=int(points.predictions[epoch][row]), domain_prob=None if prob is None else float(prob[row]),
    )  # fmt: skip


def domain_ids(points: Points, row: int) -> tuple[np.ndarray, int]:
    """The item ids of the row's domain in snapshot order (what `item_images` loads), and the
    row's place among them."""
    rows = np.flatnonzero(points.domain == points.domain[row])
    return points.item[rows], int(np.searchsorted(rows, row))


def item_images(spec: str, model: str, ids: Sequence[int], *, edges: bool = False,
                trained_on: Mapping[str, Any] | None = None) -> np.ndarray:  # fmt: skip
    """Images `ids` of a domain's evaluation split as the run's network saw them: uint8 (n, H, W, C).

    Never downloads. `trained_on` is what the run recorded about the domain (its run.json
    extra: name, eval_items): data at hand that differs from it (a generated MNIST-M where the
    run read the original, another number of items) would show the wrong images, so it is a
    UserError, checked before anything is decoded where it can be.
    """
    from core.models import MODELS  # torch: only when a map's item images are wanted

    if model not in MODELS:
        raise UserError(f"unknown network {model!r} in the run's config; expected one of {', '.join(MODELS)}")
    recorded = dict(trained_on or {})
    found = locate(spec, download=False).name
    if recorded.get("name") and found != recorded["name"]:
        raise UserError(f"the data at hand for {spec} is {found}, but the run was trained on {recorded['name']}")
    domain = load_domain(spec, MODELS[model].input_spec, edges=edges, download=False)
    images = domain.eval_images
    if recorded.get("eval_items") is not None and len(images) != int(recorded["eval_items"]):
        raise UserError(f"{domain.name} at hand has {len(images)} evaluation items, but the run was trained "
                        f"with {recorded['eval_items']}; its images would not be the run's")  # fmt: skip
    ids = np.asarray(ids, dtype=np.int64)
    if len(ids) and (ids.min() < 0 or ids.max() >= len(images)):
        raise UserError(f"the run's snapshot names items up to {ids.max()}, but {domain.name} has {len(images)}")
    return images[ids].permute(0, 2, 3, 1).numpy()


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
