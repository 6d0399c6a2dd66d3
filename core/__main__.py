"""The command line: python -m core {dann,runs,data,maps,fewshot,fewshot-eval,lifelong} ...

Problems a user can fix (missing data, a bad expression, a corrupt run) print one line on stderr
and exit with status 2, without a traceback.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from collections.abc import Sequence

from core import options
from core.errors import UserError


def _run_flags(group: argparse._ArgumentGroup, what: str) -> None:
    """The flags of a training command that are not settings of the run (they do not change its id)."""
    group.add_argument("--device", default="auto", help="auto, cpu or cuda[:N]")
    group.add_argument(
        "--checkpoints", default=None, help="run store folder (default: checkpoints/ or $EXPLORER_CHECKPOINTS_DIR)"
    )
    group.add_argument("--retrain", action="store_true", help="train even when this config is stored")
    group.add_argument(
        "--resume",
        metavar="RUN",
        default=None,
        help="continue the interrupted run RUN from its last finished epoch, with its own settings (the "
        "settings given here are not used); asking again for an interrupted run's settings continues it too",
    )
    group.add_argument("--no-download", action="store_true", help="never try to download a missing dataset")
    group.add_argument("--json", action="store_true", help=f"print one line of JSON ({what}, run id, seconds)")
    group.add_argument("--quiet", action="store_true", help="no progress bar and no table")


# Subcommands with --preset: their parser and presets, so main() can make a preset's settings the
# defaults before parsing (a flag given beside the preset then still wins).
_PRESET_PARSERS: dict[str, tuple[argparse.ArgumentParser, dict]] = {}


def _apply_preset(argv: Sequence[str]) -> None:
    if not argv or argv[0] not in _PRESET_PARSERS:
        return
    parser, presets = _PRESET_PARSERS[argv[0]]
    pre = argparse.ArgumentParser(add_help=False)
    pre.add_argument("--preset", default=None)
    chosen = pre.parse_known_args(list(argv[1:]))[0].preset
    if chosen in presets:  # an unknown name is reported by the full parse, with the choices
        parser.set_defaults(**presets[chosen].settings)


def _add_dann_parser(sub: argparse._SubParsersAction) -> None:
    from core.dann.config import DANNConfig

    p = sub.add_parser(
        "dann",
        help="train a domain-adversarial network (or find the stored run of the same config)",
        description=(
            "Train DANN from a labelled source domain to an unlabelled target domain and store the run "
            "(per-epoch metrics, feature snapshots, weights) under checkpoints/. A config that was "
            "already trained is loaded, not retrained. Domains: mnist, usps, mnistm, or folder:PATH "
            "(an ImageFolder; a folder with a single class subfolder, like the course's test_data/0/, "
            "is unlabelled)."
        ),
        formatter_class=argparse.ArgumentDefaultsHelpFormatter,
    )
    from core.dann.config import PRESETS

    groups = options.add_arguments(p, DANNConfig)
    groups["domains and variant"].add_argument(
        "--preset",
        choices=list(PRESETS),
        default=None,
        help="start from a preset's settings (flags given beside it still count): "
        + "; ".join(f"{name}: {preset.summary}" for name, preset in PRESETS.items()),
    )
    _run_flags(p.add_argument_group("running and output"), "final accuracies")
    p.set_defaults(func=_cmd_dann)
    _PRESET_PARSERS["dann"] = (p, PRESETS)


def _config_from_args(cls: type, a: argparse.Namespace):
    """The config the flags describe (with --resume: the run's own); a problem names the flag to change."""
    if getattr(a, "resume", None):
        from core.runs import RunStore

        if a.retrain:
            raise UserError("--resume continues a run and --retrain starts it over: give one of them")
        from core.resume import RESUME_FILE

        info = RunStore(a.checkpoints).get(a.resume)
        if not info.complete and not (info.path / RESUME_FILE).is_file():
            raise UserError(
                f"run {info.run_id} stored no state to continue from (it was trained before runs could be "
                f"continued); its {info.epochs_done} finished epochs stay as they are, or --retrain starts it over"
            )
        config = cls.from_dict(info.config)
        if config.run_id() != info.run_id:
            raise UserError(
                f"run {info.run_id}'s settings now name run {config.run_id()} (its data or the engine changed); "
                "it cannot be continued: train its settings again"
            )
        return config
    try:
        return options.from_flat(cls, vars(a))
    except UserError as err:
        raise UserError(options.flag_hint(cls, str(err))) from None


def _fmt(v) -> str:
    if v is None:
        return "-"
    if isinstance(v, float):
        return f"{v:.4f}" if abs(v) < 100 else f"{v:.0f}"
    return str(v)


def _table(rows: list[dict], columns: list[str]) -> str:
    cols = [c for c in columns if any(c in r for r in rows)]
    cells = [[_fmt(r.get(c)) for c in cols] for r in rows]
    widths = [max(len(c), *(len(row[i]) for row in cells)) for i, c in enumerate(cols)]
    lines = ["  ".join(c.rjust(w) for c, w in zip(cols, widths))]
    lines += ["  ".join(v.rjust(w) for v, w in zip(row, widths)) for row in cells]
    return "\n".join(lines)


METRIC_COLUMNS = [
    "epoch",
    "source_acc",
    "target_acc",
    "domain_acc",
    "class_loss",
    "domain_loss",
    "pseudo_rate",
    "pseudo_acc",
    "lambda",
    "lr",
    "seconds",
]


class _StepBar:
    """A progress bar over optimizer steps on stderr, opened at the first step (when the total is
    known). `on_step` is None when disabled, so trainers skip the callback entirely."""

    def __init__(self, desc: str, enabled: bool = True):
        self.desc = desc
        self.bar = None
        self.on_step = self._update if enabled else None

    def _update(self, step: int, total: int) -> None:
        if self.bar is None:
            from tqdm import tqdm

            self.bar = tqdm(total=total, unit="step", desc=self.desc, file=sys.stderr, dynamic_ncols=True)
        self.bar.update(step - self.bar.n)

    def __enter__(self) -> _StepBar:
        return self

    def __exit__(self, *exc) -> None:
        if self.bar is not None:
            self.bar.close()


def _cmd_dann(a: argparse.Namespace) -> int:
    from core.dann.config import DANNConfig
    from core.dann.run import run_dann
    from core.runs import RunStore

    config = _config_from_args(DANNConfig, a)
    store = RunStore(a.checkpoints)
    t0 = time.perf_counter()
    with _StepBar(f"{config.variant} {config.source}->{config.target}", enabled=not (a.quiet or a.json)) as bar:
        outcome = run_dann(
            config, store, retrain=a.retrain, device=a.device, download=not a.no_download, on_step=bar.on_step
        )
    seconds = time.perf_counter() - t0
    info, rows = outcome.info, outcome.metrics
    last = rows[-1] if rows else {}
    if a.json:
        print(
            json.dumps(
                {
                    "run_id": info.run_id,
                    "status": info.status,
                    "trained_now": outcome.trained,
                    "epochs": info.epochs_done,
                    "source_acc": last.get("source_acc"),
                    "target_acc": last.get("target_acc"),
                    "domain_acc": last.get("domain_acc"),
                    "seconds": round(seconds, 2),
                    "train_seconds": round(sum(r.get("seconds", 0.0) for r in rows), 2),
                    "path": str(info.path),
                }
            )
        )
        return 0
    if not a.quiet:
        how = "trained" if outcome.trained else "found stored run (use --retrain to train again)"
        print(f"{info.run_id}: {how}; {info.path}")
        for side in ("source", "target"):
            for note in info.extra.get(side, {}).get("notes", []):
                print(f"  note ({side}): {note}")
        print(_table(rows, METRIC_COLUMNS))
    return 0


def _cmd_runs(a: argparse.Namespace) -> int:
    from core.describe import describe_run, headline_accuracy
    from core.runs import RunStore

    store = RunStore(a.checkpoints)
    if a.action == "list":
        runs = store.list()
        rows = []
        for r in runs:
            d = describe_run(r)
            rows.append(
                {
                    "run": r.run_id,
                    "kind": r.kind,
                    "status": r.status,
                    "epochs": f"{r.epochs_done}/{r.epochs_planned}",
                    "data": d.data,
                    "method": d.method,
                    "accuracy": headline_accuracy(store, r),
                    "created": time.strftime("%Y-%m-%d %H:%M", time.localtime(r.created)),
                }
            )
        if a.json:
            print(json.dumps(rows))
        elif rows:
            print(_table(rows, list(rows[0])))
        else:
            print(f"no runs in {store.root}")
        for path, why in store.broken():
            print(f"unreadable: {path}: {why}", file=sys.stderr)
        return 0
    if a.action == "show":
        for run_id in a.run_ids:
            info = store.get(run_id)
            if a.json:
                print(
                    json.dumps(
                        {
                            "run_id": info.run_id,
                            "status": info.status,
                            "kind": info.kind,
                            "config": info.config,
                            "extra": info.extra,
                            "metrics": store.metrics(run_id),
                        }
                    )
                )
                continue
            epochs = f"{info.epochs_done}/{info.epochs_planned} epochs"
            print(f"{info.run_id} ({info.kind}, {info.status}, {epochs}) {info.path}")
            print(json.dumps(info.config, indent=2))
            if info.error:
                print(f"error: {info.error}")
            rows = store.metrics(run_id)
            print(_table(rows, _metric_columns(info.kind, rows)))
        return 0
    for run_id in a.run_ids:
        store.delete(run_id)
        print(f"deleted {run_id}")
    return 0


def _metric_columns(kind: str, rows: list[dict]) -> list[str]:
    from core.fewshot.files import KIND as FEWSHOT_KIND
    from core.lifelong.files import KIND as LIFELONG_KIND

    if kind == FEWSHOT_KIND:
        return FEWSHOT_METRIC_COLUMNS
    if kind == LIFELONG_KIND:
        accs = sorted({k for r in rows for k in r if k.startswith("acc_")}, key=lambda k: int(k[4:]))
        return ["epoch", "task", "task_epoch", "train_loss", "penalty", *accs, "seconds"]
    return METRIC_COLUMNS


def _cmd_data(a: argparse.Namespace) -> int:
    from core.data import dataset_status
    from core.paths import cache_dir, data_dir

    print(f"data directory: {data_dir().resolve()} (read-only)\ncache directory: {cache_dir()}")
    for s in dataset_status():
        print(f"{'ok ' if s.available else 'MISSING'} {s.name}: {s.where}\n        {s.detail}")
    return 0


def _add_maps_parser(sub: argparse._SubParsersAction) -> None:
    from core.dann.maps import MapSettings

    p = sub.add_parser(
        "maps",
        aliases=["embed"],
        help="2-D feature maps (PCA, t-SNE, UMAP) of every epoch of a DANN run, aligned and cached",
        description=(
            "Lay out each epoch's feature snapshot of a stored DANN run in 2-D, every frame starting from "
            "the one before and rotated onto it, and cache the maps in the run's maps/ folder. Frames "
            "already cached for the same settings are reused; new epochs of a run still training are added. (`embed` "
            "is the command's older name.)"
        ),
        formatter_class=argparse.ArgumentDefaultsHelpFormatter,
    )
    p.add_argument("run_id", metavar="RUN", help="run id (see: python -m core runs list)")
    options.add_arguments(p, MapSettings)
    p.add_argument(
        "--checkpoints", default=None, help="run store folder; None: checkpoints/ or $EXPLORER_CHECKPOINTS_DIR"
    )
    p.add_argument("--json", action="store_true", help="print one line of JSON (per-frame quality and seconds)")
    p.add_argument("--quiet", action="store_true", help="no progress bar and no table")
    p.set_defaults(func=_cmd_maps)


def _cmd_maps(a: argparse.Namespace) -> int:
    from tqdm import tqdm

    from core.dann.maps import MapSettings, compute_maps, maps_path
    from core.runs import RunStore

    settings = _config_from_args(MapSettings, a)
    store = RunStore(a.checkpoints)
    bar, cached = None, 0

    def on_frame(done: int, total: int) -> None:
        nonlocal bar, cached
        if bar is None:
            cached = done
            bar = tqdm(
                total=total,
                initial=done,
                unit="frame",
                desc=f"{a.method} {a.run_id}",
                file=sys.stderr,
                dynamic_ncols=True,
                disable=a.quiet or a.json,
            )
        bar.update(done - bar.n)

    t0 = time.perf_counter()
    try:
        maps = compute_maps(store, a.run_id, settings, on_frame=on_frame)
    finally:
        if bar is not None:
            bar.close()
    moved = [d for d in maps.displacement if d is not None]
    rows = [
        {"epoch": e, "trustworthiness": t, "displacement": d, "seconds": s}
        for e, t, d, s in zip(maps.epochs, maps.trustworthiness, maps.displacement, maps.seconds)
    ]
    summary = {
        "run_id": a.run_id,
        "method": a.method,
        "key": settings.key(),
        "frames": len(maps.epochs),
        "computed_now": len(maps.epochs) - cached,
        "seconds": round(time.perf_counter() - t0, 2),
        "mean_trustworthiness": round(float(sum(maps.trustworthiness) / len(maps.trustworthiness)), 4),
        "mean_displacement": round(sum(moved) / len(moved), 4) if moved else None,
        "path": str(maps_path(store, a.run_id, settings)),
    }
    if a.json:
        print(json.dumps(summary | {"per_frame": rows}))
        return 0
    if not a.quiet:
        print(_table(rows, list(rows[0])))
        print(
            f"{summary['frames']} frames ({summary['computed_now']} computed now) in {summary['seconds']} s; mean "
            f"trustworthiness {summary['mean_trustworthiness']}, "
            f"mean displacement {_fmt(summary['mean_displacement'])}; "
            f"cached in {summary['path']}"
        )
    return 0


def _add_fewshot_parsers(sub: argparse._SubParsersAction) -> None:
    from core.fewshot.config import FewShotConfig
    from core.fewshot.protocols import DEFAULT_PROTOCOL, PROTOCOLS
    from core.fewshot.solvers import BATCH_MODES, EVAL_BATCH_MODES

    p = sub.add_parser(
        "fewshot",
        aliases=["maml"],
        help="meta-train a few-shot learner on Omniglot (or find the stored run of the same config)",
        description=(
            "Train a conv4 few-shot learner on Omniglot's background alphabets (MAML, first-order MAML, "
            "the transfer baseline or Prototypical Networks) and store the run (per-epoch validation "
            "accuracy on held-out background characters, weights) under checkpoints/. A config that was "
            "already trained is loaded, not retrained. The defaults are the MAML paper's 5-way 1-shot recipe; "
            "evaluate on the evaluation alphabets with: python -m core fewshot-eval RUN. (`maml` is the "
            "command's older name.)"
        ),
        formatter_class=argparse.ArgumentDefaultsHelpFormatter,
    )
    options.add_arguments(p, FewShotConfig)
    g = p.add_argument_group("running and output")
    _run_flags(g, "final validation accuracy")
    g.add_argument(
        "--batch-mode",
        default="auto",
        choices=list(BATCH_MODES),
        help=(
            "how a meta-batch is computed: vmap over tasks, a loop, auto (the measured rule per device), or "
            "compiled (the vmapped meta-step compiled by torch.compile, with CUDA graphs on a GPU: for long GPU "
            "runs; the first step compiles for minutes on a CPU)"
        ),
    )
    p.set_defaults(func=_cmd_fewshot)

    e = sub.add_parser(
        "fewshot-eval",
        aliases=["maml-eval"],
        help="evaluate a stored few-shot run on N-way K-shot episodes of the evaluation alphabets",
        description=(
            "Mean accuracy and 95% confidence interval over episodes drawn from the evaluation characters "
            "(never seen in training), the same episodes for every model at a given seed. Protocols: "
            + "; ".join(
                f"{k}: {v.ways}-way {v.shots}-shot, {v.queries} queries per class, {v.episodes} episodes [{v.note}]"
                for k, v in PROTOCOLS.items()
            )
            + ". Flags given explicitly override the protocol's. The result is recorded in the run's evaluations.json."
        ),
        formatter_class=argparse.ArgumentDefaultsHelpFormatter,
    )
    e.add_argument("run_id", metavar="RUN", help="run id (see: python -m core runs list)")
    e.add_argument("--protocol", default=DEFAULT_PROTOCOL, choices=list(PROTOCOLS), help="episode shape and count")
    unset = argparse.SUPPRESS  # absent from the namespace unless given, so the protocol's value applies
    e.add_argument("--ways", type=int, default=unset, help="classes per episode (default: the protocol's)")
    e.add_argument("--shots", type=int, default=unset, help="support drawings per class (default: the protocol's)")
    e.add_argument("--queries", type=int, default=unset, help="query drawings per class (default: the protocol's)")
    e.add_argument("--episodes", type=int, default=unset, help="episodes (default: the protocol's)")
    e.add_argument("--steps", type=int, default=None, help="inner steps; unset: the run's test-time setting")
    e.add_argument("--lr", type=float, default=None, help="inner step size; unset: the run's")
    e.add_argument("--seed", type=int, default=0, help="seed of the episodes")
    e.add_argument("--device", default="auto", help="auto, cpu or cuda[:N]")
    e.add_argument(
        "--batch-mode", default="auto", choices=list(EVAL_BATCH_MODES), help="vmap over episodes, a loop, or auto"
    )
    e.add_argument("--checkpoints", default=None, help="run store folder")
    e.add_argument("--no-save", action="store_true", help="do not record the result in the run's evaluations.json")
    e.add_argument("--no-download", action="store_true", help="never try to download a missing dataset")
    e.add_argument("--json", action="store_true", help="print one line of JSON")
    e.add_argument("--quiet", action="store_true", help="no progress bar")
    e.set_defaults(func=_cmd_fewshot_eval)


FEWSHOT_METRIC_COLUMNS = ["epoch", "val_acc", "val_ci95", "train_loss", "train_acc", "steps_per_second", "seconds"]
SYNTHETIC_NOTE = "note: synthetic stroke alphabets, not Omniglot; these accuracies say nothing about Omniglot"


def _cmd_fewshot(a: argparse.Namespace) -> int:
    from core.fewshot.config import FewShotConfig
    from core.fewshot.protocols import DEFAULT_PROTOCOL
    from core.fewshot.run import run_fewshot
    from core.runs import RunStore

    config = _config_from_args(FewShotConfig, a)
    store = RunStore(a.checkpoints)
    t0 = time.perf_counter()
    desc = f"{config.solver} {config.data} {config.ways}w{config.shots}s"
    with _StepBar(desc, enabled=not (a.quiet or a.json)) as bar:
        outcome = run_fewshot(
            config,
            store,
            retrain=a.retrain,
            device=a.device,
            download=not a.no_download,
            batch_mode=a.batch_mode,
            on_step=bar.on_step,
        )
    seconds = time.perf_counter() - t0
    info, rows = outcome.info, outcome.metrics
    last = rows[-1] if rows else {}
    synthetic = bool(info.extra.get("data", {}).get("synthetic"))
    if a.json:
        print(
            json.dumps(
                {
                    "run_id": info.run_id,
                    "status": info.status,
                    "trained_now": outcome.trained,
                    "solver": config.solver,
                    "data": config.data,
                    "synthetic": synthetic,
                    "epochs": info.epochs_done,
                    "val_acc": last.get("val_acc"),
                    "val_ci95": last.get("val_ci95"),
                    "seconds": round(seconds, 2),
                    "train_seconds": round(sum(r.get("seconds", 0.0) for r in rows), 2),
                    "path": str(info.path),
                }
            )
        )
        return 0
    if not a.quiet:
        how = "trained" if outcome.trained else "found stored run (use --retrain to train again)"
        print(f"{info.run_id}: {how}; {info.path}")
        print(f"  meta-batch: {info.extra.get('meta_batch_plan')}; device: {info.extra.get('device')}")
        began = info.extra.get("continued_from")
        if outcome.trained and isinstance(began, dict):
            print(
                f"  went on from run {began.get('run_id')} after its epoch {began.get('after_epoch')}: the same "
                "settings but for --epochs, so the same first epochs (--retrain trains from scratch)"
            )
        if synthetic:
            print(f"  {SYNTHETIC_NOTE}")
        print(_table(rows, FEWSHOT_METRIC_COLUMNS))
        print(f"evaluate: python -m core fewshot-eval {info.run_id} --protocol {DEFAULT_PROTOCOL}")
    return 0


def _cmd_fewshot_eval(a: argparse.Namespace) -> int:
    from tqdm import tqdm

    from core.fewshot.protocols import PROTOCOLS
    from core.fewshot.run import evaluate_run, run_config
    from core.runs import RunStore

    store = RunStore(a.checkpoints)
    config = run_config(store.get(a.run_id))
    proto = PROTOCOLS[a.protocol]
    ways, shots, queries, episodes = (
        getattr(a, k, getattr(proto, k)) for k in ("ways", "shots", "queries", "episodes")
    )
    bar = tqdm(
        total=episodes,
        unit="episode",
        desc=f"{a.run_id} {ways}w{shots}s",
        file=sys.stderr,
        dynamic_ncols=True,
        disable=a.quiet or a.json,
    )
    try:
        result = evaluate_run(
            a.run_id,
            ways,
            shots,
            queries,
            episodes,
            store=store,
            device=a.device,
            steps=a.steps,
            lr=a.lr,
            seed=a.seed,
            save=not a.no_save,
            download=not a.no_download,
            batch_mode=a.batch_mode,
            on_batch=lambda done, total: bar.update(done - bar.n),
        )
    finally:
        bar.close()
    synthetic = config.data == "synthetic"
    if a.json:
        print(
            json.dumps(
                {
                    "run_id": a.run_id,
                    "solver": config.solver,
                    "data": config.data,
                    "synthetic": synthetic,
                    **result.to_dict(),
                }
            )
        )
        return 0
    if not a.quiet:
        print(
            f"{a.run_id} ({config.solver}): {ways}-way {shots}-shot on {result.characters}, {episodes} episodes, "
            f"{queries} queries per class, {result.steps} step(s) at lr {result.lr:g}: accuracy "
            f"{result.accuracy:.4f} +- {result.ci95:.4f} (95% CI) in {result.seconds:.1f} s"
        )
        if synthetic:
            print(SYNTHETIC_NOTE)
    return 0


def _add_lifelong_parser(sub: argparse._SubParsersAction) -> None:
    from core.lifelong.config import LifelongConfig

    p = sub.add_parser(
        "lifelong",
        help="learn MNIST tasks one after another with a lifelong method (or find the stored run)",
        description=(
            "Learn a stream of MNIST tasks (rotated, permuted or split digits) one after another, protecting "
            "earlier tasks with the chosen method, and store the run: every task's test accuracy after every "
            "epoch, what each task's learning moved, and what the method protected. Prints the accuracy "
            "matrix R[i, j] (accuracy on task j after learning task i), average accuracy, forgetting, and "
            "backward and forward transfer. A config that was already trained is loaded, not retrained."
        ),
        formatter_class=argparse.ArgumentDefaultsHelpFormatter,
    )
    options.add_arguments(p, LifelongConfig)
    _run_flags(p.add_argument_group("running and output"), "the scores")
    p.set_defaults(func=_cmd_lifelong)


def _cmd_lifelong(a: argparse.Namespace) -> int:
    from core.lifelong.config import LifelongConfig
    from core.lifelong.files import method_label, stream_label
    from core.lifelong.run import run_lifelong
    from core.lifelong.stored import load_run
    from core.runs import RunStore

    config = _config_from_args(LifelongConfig, a)
    store = RunStore(a.checkpoints)
    t0 = time.perf_counter()
    with _StepBar(f"{config.method} {config.stream}", enabled=not (a.quiet or a.json)) as bar:
        outcome = run_lifelong(
            config, store, retrain=a.retrain, device=a.device, download=not a.no_download, on_step=bar.on_step
        )
    seconds = time.perf_counter() - t0
    run = load_run(store, outcome.info.run_id)
    scores = run.matrix.scores()
    info, rows = outcome.info, outcome.metrics
    if a.json:
        print(
            json.dumps(
                {
                    "run_id": info.run_id,
                    "status": info.status,
                    "trained_now": outcome.trained,
                    "stream": config.stream,
                    "method": config.method,
                    "tasks": config.tasks,
                    "epochs": info.epochs_done,
                    **(scores.to_dict() if scores else {}),
                    "matrix": run.matrix.R.round(4).tolist(),
                    "seconds": round(seconds, 2),
                    "train_seconds": round(sum(r.get("seconds", 0.0) for r in rows), 2),
                    "path": str(info.path),
                }
            )
        )
        return 0
    if not a.quiet:
        how = "trained" if outcome.trained else "found stored run (use --retrain to train again)"
        print(f"{info.run_id}: {how}; {info.path}")
        print(f"{stream_label(info.config)}; {method_label(info.config)}")
        print("accuracy on each task (columns) after learning each task (rows):")
        names = list(run.task_names)
        matrix = [{"after": names[i], **dict(zip(names, row.tolist()))} for i, row in enumerate(run.matrix.R)]
        print(_table(matrix, ["after", *names]))
        if scores is not None:
            print(
                f"average accuracy {_fmt(scores.average_accuracy)}, forgetting {_fmt(scores.forgetting)}, "
                f"BWT {_fmt(scores.bwt)}, FWT {_fmt(scores.fwt)}"
            )
    return 0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m core", description="Transfer Explorer's engine from the command line."
    )
    sub = parser.add_subparsers(dest="command", required=True)
    _add_dann_parser(sub)
    r = sub.add_parser("runs", help="list, show or delete stored runs")
    actions = r.add_subparsers(dest="action", required=True)
    for action, what in (
        ("list", "the stored runs, newest first, and any damaged folders"),
        ("show", "a run's settings, state and per-epoch metrics"),
        ("delete", "delete runs (never one that is being trained)"),
    ):
        a = actions.add_parser(action, help=what)
        if action != "list":
            a.add_argument("run_ids", nargs="+", metavar="RUN", help="run ids (see: python -m core runs list)")
        a.add_argument("--checkpoints", default=None, help="run store folder")
        if action != "delete":
            a.add_argument("--json", action="store_true", help="machine-readable output")
        a.set_defaults(func=_cmd_runs)
    dp = sub.add_parser("data", help="which datasets are at hand and where")
    dp.set_defaults(func=_cmd_data)
    _add_maps_parser(sub)
    _add_fewshot_parsers(sub)
    _add_lifelong_parser(sub)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    parser = build_parser()
    _apply_preset(argv)
    args = parser.parse_args(argv)
    try:
        return args.func(args)
    except UserError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    except BrokenPipeError:  # the output went to a pager or `head` that stopped reading: not an error
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 0
    except KeyboardInterrupt:
        print("interrupted; finished epochs are kept, the run is marked incomplete", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
