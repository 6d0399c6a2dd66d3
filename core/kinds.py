"""The kinds of run the store holds: one entry per engine, naming the module that describes its runs.

Each module listed here is light (no torch): the describer defines `describe(info) -> RunDescription`
and `headline(store, info) -> float | None` (core.describe dispatches to it, so the CLI's `runs
list`, Home's tables and the pages' pickers name every kind of run one way), and the config class's
`from_dict` is how the run store checks a stored config when it reads a run. An engine added to
the project adds its entry here.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class RunKind:
    name: str  # run.json's "kind" and the prefix of the run ids
    describer: str  # the module with describe() and headline()
    config: str  # module:class of its config, whose from_dict checks a stored config (no torch)
    legacy: tuple[str, ...] = ()  # names older stores gave this kind


KINDS = {
    kind.name: kind
    for kind in (
        RunKind("dann", "core.dann.files", "core.dann.config:DANNConfig"),
        RunKind("fewshot", "core.fewshot.files", "core.fewshot.config:FewShotConfig", legacy=("maml",)),
        RunKind("lifelong", "core.lifelong.files", "core.lifelong.config:LifelongConfig"),
    )
}
_CANONICAL = {old: kind.name for kind in KINDS.values() for old in kind.legacy}


def canonical_kind(kind: str) -> str:
    """The kind's name today (a legacy name read from an older store becomes its new name)."""
    return _CANONICAL.get(kind, kind)


def check_config(kind: str, config: dict) -> None:
    """UserError when `config` is not a valid stored config of `kind` (unknown kinds pass)."""
    import importlib

    entry = KINDS.get(kind)
    if entry is None:
        return
    module, name = entry.config.split(":")
    getattr(importlib.import_module(module), name).from_dict(config)
