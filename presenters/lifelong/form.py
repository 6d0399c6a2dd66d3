"""The Train view's controls as a flat mapping (form key -> value), and the LifelongConfig they describe.

Keys, defaults and help texts come from the config's fields (core.options), so the form, the
command line and the stored dict name every setting one way. Two settings are shown resolved
rather than as the config's placeholders: the number of tasks starts at the stream's default (5
for rotated, not 0) and the strength at the method's default (DEFAULT_STRENGTH, not -1), and the page resets
them to the new default when the stream or the method changes. A config with the resolved value
is the placeholder's config (LifelongConfig resolves it the same way), so it has the same run id.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from typing import Any

from core import options
from core.data.streams import DEFAULT_TASKS, MAX_TASKS, TaskSpec, task_specs
from core.lifelong.config import DEFAULT_STRENGTH, METHODS, LifelongConfig
from core.lifelong.files import METHOD_NAMES, STREAM_NAMES
from presenters.markdown import escape

# The method's own settings, in the order the config declares them (the strength has its own place).
METHOD_SETTINGS = tuple(
    f.name for f in dataclasses.fields(LifelongConfig) if f.metadata.get("used_by") is not None and f.name != "strength"
)
_USED_BY = {f.name: f.metadata.get("used_by") for f in dataclasses.fields(LifelongConfig)}
_SETTINGS = {s.key: s for s in options.settings(LifelongConfig)}
PREVIEW_TASKS = 8  # task names listed in the preview; a longer stream shows its first and last ones


def form_defaults() -> dict[str, Any]:
    """The controls' starting values by flat key: every setting at its default, tasks and strength
    resolved (LifelongConfig() has them so)."""
    resolved = LifelongConfig()
    return {**options.defaults(LifelongConfig), "tasks": resolved.tasks, "strength": resolved.strength}


def form_values(config: LifelongConfig) -> dict[str, Any]:
    """The controls' values that describe `config` (the settings it does not read at their defaults)."""
    return {**form_defaults(), **{s.key: getattr(config, s.path[-1]) for s in options.settings(LifelongConfig)}}


def default_tasks(stream: str) -> int:
    return DEFAULT_TASKS[stream]


def max_tasks(stream: str) -> int:
    return MAX_TASKS[stream]


def default_strength(method: str) -> float | None:
    """The method's default λ; None for a method without a penalty (fine-tuning, joint, replay)."""
    return DEFAULT_STRENGTH.get(method)


def uses(key: str, method: str) -> bool:
    """Whether `method` reads the setting (the others are left out of its run id)."""
    used_by = _USED_BY[key]
    return used_by is None or method in used_by


def method_settings(method: str) -> list[str]:
    """The flat keys of the method's own settings besides its strength (EWC: fisher, importance_items)."""
    return [key for key in METHOD_SETTINGS if uses(key, method)]


def help_text(key: str) -> str:
    """The setting's help, as the command line gives it."""
    return _SETTINGS[key].help_text


def choice_label(key: str, choice: str) -> str:
    """ "ewc: elastic weight consolidation: ..." for a setting with described choices."""
    if key == "method":
        return f"{METHOD_NAMES[choice]}: {METHODS[choice]}"
    described = _SETTINGS[key].choices
    return f"{choice}: {described[choice]}" if isinstance(described, Mapping) else choice


def config_from_form(form: Mapping[str, Any]) -> LifelongConfig:
    """The LifelongConfig the controls describe; UserError (with the reason) when they don't."""
    values = dict(form)
    if default_strength(values.get("method", "")) is None:
        values["strength"] = -1.0  # a method without a penalty: whatever the hidden box last held
    return options.from_flat(LifelongConfig, values)


def tasks_of(config: LifelongConfig) -> list[TaskSpec]:
    """The stream's tasks in order (no data needed)."""
    return task_specs(config.stream, config.tasks, config.angle_step, config.seed)


def _names(specs: list[TaskSpec]) -> str:
    names = [escape(s.name) for s in specs]
    if len(names) > PREVIEW_TASKS:
        names = [*names[: PREVIEW_TASKS - 2], "…", *names[-2:]]
    return " · ".join(names)


def network_text(config: LifelongConfig) -> str:
    """ "MLP 784 → 400 → 400 → 10", "conv net (5×5 convolutions ..., then 400 hidden units) → 10"."""
    if config.model == "mlp":
        return "MLP " + " → ".join(["784", *[str(config.hidden)] * config.layers, "10"])
    return f"conv net (5×5 convolutions of 32 and 64 channels, then {config.hidden} hidden units) → 10"


# How method_text puts each method's own settings in words.
_SETTING_TEXTS = {
    "fisher": "{} Fisher",
    "gamma": "decay γ {:g}",
    "si_damping": "damping ξ {:g}",
    "slices": "{} slices",
    "importance_items": "importance measured on {} items per task",
    "buffer_size": "a buffer of {} training items",
}


def method_text(config: LifelongConfig) -> str:
    """The method with the settings it reads, in words."""
    name = METHOD_NAMES[config.method]
    parts = [f"{name} (λ {config.strength:g})" if default_strength(config.method) is not None else name]
    parts += [text.format(getattr(config, key)) for key, text in _SETTING_TEXTS.items() if uses(key, config.method)]
    return ", ".join(parts)


def preview_markdown(config: LifelongConfig) -> str:
    """What Start will train, in a few lines of markdown: the tasks by name, the method, the network
    and the optimisation."""
    specs = tasks_of(config)
    stream = STREAM_NAMES[config.stream]
    if config.stream == "rotated":
        stream += f", {config.angle_step:g}° apart"
    elif config.stream == "split":
        stream += ", " + ("one head over all ten digits" if config.class_incremental else "a head per task")
    if config.data != "mnist":
        stream = stream.replace("MNIST", "synthetic bar digits (not MNIST)")
    epochs = "1 epoch" if config.epochs == 1 else f"{config.epochs} epochs"
    if config.optimizer == "sgd":
        optimiser = f"SGD at learning rate {config.lr:g}" + (
            f", momentum {config.momentum:g}" if config.momentum else ""
        )
    else:
        optimiser = f"Adam at learning rate {config.lr:g} (restarted at every task)"
    method = escape(method_text(config))
    if config.method == "joint" and len(specs) > 1:
        passes = len(specs) * (len(specs) + 1) // 2
        method += (
            f": each epoch of task t passes over tasks 1 to t together, {passes * config.epochs} passes over "
            f"a task's training split in all, {passes / len(specs):.1f} times fine-tuning's training"
        )
    return (
        f"**{len(specs)} tasks** of {escape(stream)}: {_names(specs)}  \n"
        f"**Method**: {method}  \n"
        f"**Network**: {escape(network_text(config))}  \n"
        f"**Training**: {epochs} per task ({config.epochs_planned} in all), batches of {config.batch_size}, "
        f"{optimiser}, seed {config.seed}"
    )
