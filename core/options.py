"""One description of each setting: a config field's metadata gives its flag, help, choices and group.

A config is a frozen dataclass. Each field is declared with `option(...)`, which records what the
command line and the app need to know about it; the argparse parser, the defaults, the form's
flat mapping and the stored dict are all derived from the fields, as timm derives its scheduler
arguments from one place:

    epochs: int = option(6, "number of epochs", group="optimisation")

Flat keys. A field whose default is itself a config (DANNConfig.schedule, a LambdaSchedule) is
flattened: its own fields become settings of the outer config. Every setting has a flat key, its
field name unless `key=` says otherwise (LambdaSchedule.value is `lambda_value`), which is the
argparse dest, the form's key (the page's widget is `f_<key>`) and, dashed, the flag
(`--lambda-value`), unless `flag=` says otherwise (`--no-rotations` for a setting that is on by
default). Defaults come from the outer config's default instance, so DANNConfig's schedule default
(the paper's ramp up to 0.3) is the CLI's and the form's default, not LambdaSchedule's own.

Stored dicts (`config_dict`, `config_from_dict`). A run's id is a hash of its stored dict, so the
dict holds exactly the settings that change the run: a field with `used_by=(...)` is left out
unless the config's selector field (DANNConfig.variant, FewShotConfig.solver) is one of them.
`absent=` is the one place a stored dict and the defaults part: it is the value a stored config
means when it lacks the key, because the setting did not exist when such runs were stored. The
field is left out at that value (so those runs keep their ids) and read back as it. This is why
DANNConfig.from_dict({}) is not DANNConfig(): a run stored without "augment" was trained with no
augmentation, whatever today's default is. `absent_values(cls)` lists these fields.
"""

from __future__ import annotations

import argparse
import dataclasses
import math
import typing
from collections.abc import Mapping, Sequence
from dataclasses import MISSING, dataclass, fields, is_dataclass
from typing import Any, TypeVar

from core.errors import UserError

C = TypeVar("C")


def option(
    default: Any = MISSING,
    help: str = "",
    *,
    default_factory: Any = MISSING,
    key: str | None = None,
    flag: str | None = None,
    choices: Mapping[str, str] | Sequence[str] | None = None,
    group: str | None = None,
    used_by: Sequence[str] | None = None,
    absent: Any = MISSING,
    metavar: str | None = None,
) -> Any:
    """A dataclass field with the metadata above (`help` is the command line's help text)."""
    metadata = {
        "help": help,
        "key": key,
        "flag": flag,
        "choices": choices,
        "group": group,
        "used_by": tuple(used_by) if used_by is not None else None,
        "absent": absent,
        "metavar": metavar,
    }
    if default_factory is not MISSING:
        return dataclasses.field(default_factory=default_factory, metadata=metadata)
    return dataclasses.field(default=default, metadata=metadata)


@dataclass(frozen=True)
class Setting:
    """One flat setting of a config: where it lives and how the command line offers it."""

    path: tuple[str, ...]  # field names from the outer config down, e.g. ("schedule", "value")
    owner: str  # the class that declares the field, e.g. "LambdaSchedule"
    key: str  # the flat key: argparse dest, form key
    flag: str
    type: type
    default: Any
    help: str
    choices: Mapping[str, str] | Sequence[str] | None
    group: str | None
    metavar: str | None

    @property
    def help_text(self) -> str:
        if isinstance(self.choices, Mapping):
            listed = "; ".join(f"{name}: {what}" for name, what in self.choices.items())
            return f"{self.help}: {listed}" if self.help else listed
        return self.help


def check_types(config: Any) -> None:
    """Check and normalise the plain fields of a config in place (call it first in __post_init__):
    an int field holds an int, a float field a finite number (an int becomes a float, so 1 and 1.0
    name the same run), a str field text and a bool field a bool; a UserError names the field."""
    hints = typing.get_type_hints(type(config))
    for f in fields(config):
        kind, value = hints[f.name], getattr(config, f.name)
        if kind is bool and not isinstance(value, bool):
            raise UserError(f"{f.name} must be true or false, got {value!r:.40}")
        if kind is int and (isinstance(value, bool) or not isinstance(value, int)):
            raise UserError(f"{f.name} must be a whole number, got {value!r:.40}")
        if kind is float:
            if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
                raise UserError(f"{f.name} must be a finite number, got {value!r:.40}")
            object.__setattr__(config, f.name, float(value))
        if kind is str and not isinstance(value, str):
            raise UserError(f"{f.name} must be text, got {value!r:.40}")


def _declared_default(f: dataclasses.Field) -> Any:
    if f.default is not MISSING:
        return f.default
    if f.default_factory is not MISSING:
        return f.default_factory()
    raise TypeError(f"field {f.name} has no default; every setting needs one")


def _meta(f: dataclasses.Field, name: str) -> Any:
    return f.metadata.get(name)


def settings(cls: type) -> list[Setting]:
    """Every flat setting of `cls`, in field order (nested configs flattened in place)."""
    return list(_settings(cls, (), None, None))


def _settings(cls: type, prefix: tuple[str, ...], defaults: Any, group: str | None):
    hints = typing.get_type_hints(cls)
    for f in fields(cls):
        default = getattr(defaults, f.name) if defaults is not None else _declared_default(f)
        f_group = _meta(f, "group") or group
        if is_dataclass(default):
            yield from _settings(type(default), (*prefix, f.name), default, f_group)
            continue
        key = _meta(f, "key") or f.name
        kind = hints[f.name]
        yield Setting(
            path=(*prefix, f.name),
            owner=cls.__name__,
            key=key,
            flag=_meta(f, "flag") or "--" + key.replace("_", "-"),
            type=kind if isinstance(kind, type) else str,
            default=default,
            help=_meta(f, "help") or "",
            choices=_meta(f, "choices"),
            group=f_group,
            metavar=_meta(f, "metavar"),
        )


def defaults(cls: type) -> dict[str, Any]:
    """Flat key -> default of every setting of `cls`."""
    return {s.key: s.default for s in settings(cls)}


def add_arguments(parser: argparse.ArgumentParser, cls: type, groups: Mapping[str | None, Any] | None = None) -> dict:
    """Add a flag per setting of `cls` to `parser`, in argument groups by the settings' `group`
    (created in order of first appearance; `groups` may hold some already made). Returns the
    groups by name, so a caller can add its own flags beside them."""
    made: dict[str | None, Any] = dict(groups or {})
    for s in settings(cls):
        if s.group not in made:
            made[s.group] = parser.add_argument_group(s.group) if s.group else parser
        target = made[s.group]
        if s.type is bool:
            action = "store_false" if s.default else "store_true"
            target.add_argument(s.flag, dest=s.key, action=action, default=s.default, help=s.help_text)
            continue
        choices = list(s.choices) if s.choices is not None else None
        target.add_argument(
            s.flag, dest=s.key, type=s.type, default=s.default, choices=choices, help=s.help_text, metavar=s.metavar
        )
    return made


def from_flat(cls: type[C], values: Mapping[str, Any]) -> C:
    """The config that flat `values` describe; settings missing from them take their defaults, keys
    that are no setting of `cls` are ignored (an argparse namespace holds other flags too)."""
    return _build(cls, settings(cls), (), values, None)


def _build(cls: type, flat: list[Setting], prefix: tuple[str, ...], values: Mapping[str, Any], defaults: Any) -> Any:
    kwargs = {}
    for f in fields(cls):
        default = getattr(defaults, f.name) if defaults is not None else _declared_default(f)
        path = (*prefix, f.name)
        if is_dataclass(default):
            kwargs[f.name] = _build(type(default), flat, path, values, default)
            continue
        setting = next(s for s in flat if s.path == path)
        kwargs[f.name] = values[setting.key] if setting.key in values else default
    return cls(**kwargs)


def flag_hint(cls: type, message: str) -> str:
    """`message` with the flag of the setting it names ("LambdaSchedule.expr: ..." gets "(--expr)")."""
    for s in settings(cls):
        if message.startswith((f"{s.owner}.{s.path[-1]}", f"{s.path[-1]} ")):
            return f"{message} ({s.flag})"
    return message


# ---- stored dicts ------------------------------------------------------------------------------


def config_dict(config: Any, selector: str | None = None) -> dict[str, Any]:
    """The stored dict of `config`: fields in order, nested configs by their own to_dict, without
    fields the selector's value does not use and without fields at their `absent` value."""
    chosen = getattr(config, selector) if selector else None
    out: dict[str, Any] = {}
    for f in fields(config):
        used_by, absent = _meta(f, "used_by"), f.metadata.get("absent", MISSING)
        if used_by is not None and chosen not in used_by:
            continue
        value = getattr(config, f.name)
        if absent is not MISSING and value == absent:
            continue
        out[f.name] = value.to_dict() if is_dataclass(value) else value
    return out


def config_from_dict(cls: type[C], d: Any, what: str) -> C:
    """Inverse of config_dict: unknown keys are a UserError (a run from another version or tool),
    missing ones take their `absent` value, else the default; nested configs by their from_dict."""
    if not isinstance(d, Mapping):
        raise UserError(f"a {what} config must be a mapping of its settings, got {type(d).__name__}")
    known = [f.name for f in fields(cls)]
    unknown = sorted(str(k) for k in d if k not in known)
    if unknown:
        raise UserError(f"unknown {what} config keys {unknown}; expected a subset of {sorted(known)}")
    kwargs = dict(absent_values(cls))
    kwargs.update(d)
    for f in fields(cls):
        if f.name in d and is_dataclass(_declared_default(f)):
            kwargs[f.name] = type(_declared_default(f)).from_dict(d[f.name])
    return cls(**kwargs)


def absent_values(cls: type) -> dict[str, Any]:
    """The fields a stored config may lack, with the value such a config means (see above)."""
    return {f.name: f.metadata["absent"] for f in fields(cls) if f.metadata.get("absent", MISSING) is not MISSING}
