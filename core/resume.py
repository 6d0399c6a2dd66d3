"""What a trainer needs to go on from a finished epoch: one safetensors file beside the run's weights.

After every epoch a trainer stores `resume.safetensors` in its run folder (atomically, before the
epoch's metrics row, so the row is never ahead of the state): the tensors of its modules (weights
and normalisation buffers), its optimizer's state (momentum, Adam's moments and step counts), the
states of its random generators and of torch's global one, and, as JSON metadata, the epoch reached,
the optimizer's parameter groups and that epoch's metrics row (which a crash between the two
writes would otherwise lose). Nothing is pickled; a state that does not fit the trainer (another
network, a damaged file) is a UserError and changes nothing.

On a CPU a run that is stopped and continued from this state gives exactly the numbers of one that
ran through: every random draw of training comes from the stored generators.

A longer run can start where a shorter one ended (`shorter_run`, `extend_run`) when its first
epochs are exactly the shorter run's: for an engine whose training never reads the number of
epochs planned (the few-shot engine: a constant meta learning rate, the same task sampler), a run
of 120 epochs is a run of 40 followed by 80 more. Such a finished run keeps its state for that.
Engines whose schedules depend on training progress (DANN's lambda and learning rate) train anew.
"""

from __future__ import annotations

import json
import shutil
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol

import torch

from core.errors import UserError

if TYPE_CHECKING:
    from core.runs import RunInfo, RunStore, RunWriter

RESUME_FILE = "resume.safetensors"
FORMAT = "transfer-explorer/resume"


@dataclass(frozen=True)
class ResumeState:
    epoch: int  # the last finished epoch
    row: dict[str, Any]  # its metrics row
    tensors: dict[str, torch.Tensor]
    meta: dict[str, Any]


def pack(
    epoch: int,
    row: Mapping[str, Any],
    tensors: Mapping[str, Mapping[str, torch.Tensor]],
    optimizer: torch.optim.Optimizer,
    generators: Mapping[str, torch.Generator],
) -> tuple[dict[str, torch.Tensor], dict[str, str]]:
    """The file's tensors and metadata: `tensors` by group (a module's state_dict, say)."""
    out: dict[str, torch.Tensor] = {}
    for group, named in tensors.items():
        out |= {f"{group}.{name}": value.detach() for name, value in named.items()}
    sd = optimizer.state_dict()
    scalars: dict[str, dict[str, Any]] = {}
    for index, state in sd["state"].items():
        for key, value in state.items():
            if isinstance(value, torch.Tensor):
                out[f"optimizer.{index}.{key}"] = value.detach()
            else:
                scalars.setdefault(str(index), {})[key] = value
    out["rng.torch"] = torch.get_rng_state()
    out |= {f"rng.{name}": g.get_state() for name, g in generators.items()}
    meta = {"format": FORMAT, "epoch": epoch, "row": dict(row), "param_groups": sd["param_groups"], "scalars": scalars}
    return out, {"resume": json.dumps(meta, allow_nan=False)}


def read(path: Path) -> ResumeState:
    """The stored state; UserError when it is missing, damaged or not one of ours."""
    from safetensors import SafetensorError, safe_open

    if not path.is_file():
        raise UserError(f"{path} not found: this run stored no state to continue from; train it again with --retrain")
    try:
        with safe_open(str(path), framework="pt") as f:
            meta = json.loads((f.metadata() or {}).get("resume", "null"))
            tensors = {k: f.get_tensor(k) for k in f.keys()}
    except (SafetensorError, OSError, ValueError) as exc:
        raise UserError(f"{path} is not a readable resume state ({exc}); train the run again with --retrain") from None
    if not isinstance(meta, dict) or meta.get("format") != FORMAT:
        raise UserError(f"{path} is not a Transfer Explorer resume state (no format marker {FORMAT!r})")
    epoch = meta.get("epoch")
    if isinstance(epoch, bool) or not isinstance(epoch, int) or epoch < 1 or not isinstance(meta.get("row"), dict):
        raise UserError(f"{path}: its epoch ({epoch!r:.20}) or metrics row is damaged")
    return ResumeState(epoch, meta["row"], tensors, meta)


def restore(
    state: ResumeState,
    path: Path,
    tensors: Mapping[str, Mapping[str, torch.Tensor]],
    optimizer: torch.optim.Optimizer,
    generators: Mapping[str, torch.Generator],
) -> None:
    """Copy the stored state into the live tensors, optimizer and generators, after checking that
    every one is there with the live one's shape and dtype (so a failed check changes nothing)."""
    saved = state.tensors
    live = {f"{group}.{name}": value for group, named in tensors.items() for name, value in named.items()}
    for name, value in live.items():
        if name not in saved:
            raise UserError(f"{path} has no {name}: it is the state of another network; train again with --retrain")
        if saved[name].shape != value.shape or saved[name].dtype != value.dtype:
            raise UserError(
                f"{path}: {name} is {saved[name].dtype} {tuple(saved[name].shape)}, the network's is "
                f"{value.dtype} {tuple(value.shape)}; train the run again with --retrain"
            )
    for name in ("rng.torch", *(f"rng.{g}" for g in generators)):
        if name not in saved or saved[name].dtype != torch.uint8:
            raise UserError(f"{path}: the random state {name} is missing or damaged")
    sd = _optimizer_state(state, path, optimizer)
    with torch.no_grad():
        for name, value in live.items():
            value.copy_(saved[name])
    optimizer.load_state_dict(sd)
    torch.set_rng_state(saved["rng.torch"])
    for name, generator in generators.items():
        generator.set_state(saved[f"rng.{name}"])


def _optimizer_state(state: ResumeState, path: Path, optimizer: torch.optim.Optimizer) -> dict:
    groups, scalars = state.meta.get("param_groups"), state.meta.get("scalars")
    current = optimizer.state_dict()["param_groups"]
    if not isinstance(groups, list) or len(groups) != len(current) or not isinstance(scalars, dict):
        raise UserError(f"{path}: the optimizer's state is damaged or of another optimizer")
    for stored, live in zip(groups, current):
        if not isinstance(stored, dict) or stored.get("params") != live["params"]:
            raise UserError(f"{path}: the optimizer's parameter groups do not match this network")
    per_param: dict[int, dict[str, Any]] = {}
    for name, value in state.tensors.items():
        if name.startswith("optimizer."):
            index, key = name.removeprefix("optimizer.").split(".", 1)
            per_param.setdefault(int(index), {})[key] = value
    for index, values in scalars.items():
        if not isinstance(values, dict):
            raise UserError(f"{path}: the optimizer's state is damaged")
        per_param.setdefault(int(index), {}).update(values)
    return {"state": per_param, "param_groups": groups}


class Resumable(Protocol):
    def restore(self, state: ResumeState, path: Path) -> None: ...


def continue_run(store: RunStore, run_id: str, trainer: Resumable, facts: dict[str, Any]) -> tuple[RunWriter, int]:
    """Restore `trainer` from the run's stored state and take the run up again (RunStore.reopen),
    noting in run.json after which epoch and where (`facts`) it was continued. Returns the writer
    and the epoch to go on from."""
    path = store.path(run_id) / RESUME_FILE
    state = read(path)
    trainer.restore(state, path)
    earlier = store.get(run_id).extra.get("resumed")
    resumed = [*(earlier if isinstance(earlier, list) else []), {"after_epoch": state.epoch, **facts}]
    return store.reopen(run_id, state.epoch, state.row, extra={"resumed": resumed}), state.epoch


def shorter_run(store: RunStore, kind: str, config: Any) -> RunInfo | None:
    """The longest finished run of `kind` whose settings are `config`'s but for fewer `epochs`, and
    which kept its state after its last epoch; None when there is none."""
    best = None
    for info in store.list(kind):
        try:
            other = type(config).from_dict(info.config)
        except UserError:
            continue
        if not other.epochs < config.epochs or replace(other, epochs=config.epochs) != config:
            continue
        if not info.complete or info.epochs_done != other.epochs or not (info.path / RESUME_FILE).is_file():
            continue
        if best is None or info.epochs_done > best.epochs_done:
            best = info
    return best


def take_up_shorter(shorter: RunInfo, trainer: Resumable) -> int:
    """Restore `trainer` from the state `shorter` kept after its last epoch (before the longer run's
    folder is made, so a state that does not fit changes nothing); returns that epoch."""
    path = shorter.path / RESUME_FILE
    state = read(path)
    if state.epoch != shorter.epochs_done:
        raise UserError(
            f"{path} is the state of epoch {state.epoch}, but run {shorter.run_id} has {shorter.epochs_done}"
        )
    trainer.restore(state, path)
    return state.epoch


def extend_run(store: RunStore, shorter: RunInfo, writer: RunWriter, epoch: int, files: Sequence[str]) -> None:
    """Give the new run of `writer` the first `epoch` epochs of `shorter` (after take_up_shorter):
    its metric rows and its `files` (the weights, say), and in run.json which run it went on from."""
    for name in files:
        if (shorter.path / name).is_file():
            tmp = writer.folder / f".{name}.copy"
            shutil.copyfile(shorter.path / name, tmp)
            tmp.replace(writer.folder / name)
    writer.take_rows(store.metrics(shorter.run_id), epoch)
    writer.update_extra(continued_from={"run_id": shorter.run_id, "after_epoch": epoch})
