"""Shared by the benchmarks: describe the machine and append a result table to BENCHMARKS.md."""

from __future__ import annotations

import datetime as dt
import json
import os
import platform
import shlex
import statistics
import sys
from pathlib import Path

import torch

import presenters.markdown
from core.errors import UserError

BENCHMARKS_MD = Path(__file__).resolve().parent.parent / "BENCHMARKS.md"


def machine() -> str:
    cpu = platform.processor() or platform.machine()
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    gpu = f", GPU {torch.cuda.get_device_name(0)}" if torch.cuda.is_available() else ", no GPU"
    return f"{cpu}, {os.cpu_count()} cores{gpu}; torch {torch.__version__}, Python {platform.python_version()}"


def markdown_table(rows: list[dict], columns: list[str]) -> str:
    return presenters.markdown.markdown_table(rows, columns, escaped=False)


def section(title: str, table: str, notes: str = "") -> str:
    """One result section: title, date, machine, the command that produced it, the table, notes."""
    main = sys.modules["__main__"]
    spec = getattr(main, "__spec__", None)
    script = ["-m", spec.name] if spec is not None else [os.path.relpath(sys.argv[0])]
    command = "python " + " ".join(shlex.quote(a) for a in [*script, *sys.argv[1:]])
    text = (
        f"\n## {title}\n\n"
        f"- date: {dt.datetime.now().strftime('%Y-%m-%d %H:%M')}\n"
        f"- machine: {machine()}\n"
        f"- command: `{command}`\n\n"
        f"{table}\n"
    )
    if notes:
        text += f"\n{notes}\n"
    return text


def append(title: str, table: str, notes: str = "") -> None:
    """Append one result section to BENCHMARKS.md and print it."""
    text = section(title, table, notes)
    if not BENCHMARKS_MD.exists():
        BENCHMARKS_MD.write_text(
            "# Benchmarks\n\nEach section is appended by a script in bench/; rerun its command to reproduce.\n"
        )
    with BENCHMARKS_MD.open("a") as f:
        f.write(text)
    print(text)


def publish(title: str, table: str, notes: str = "", *, write: bool = True) -> None:
    """What every bench ends with: append the section (write), or only print it (--no-write)."""
    if write:
        append(title, table, notes)
    else:
        print(section(title, table, notes))


def spread(values: list[float]) -> str:
    """ "mean ± sd" over seeds ("-" for none, the value alone for one)."""
    if not values:
        return "-"
    if len(values) == 1:
        return f"{values[0]:.3f}"
    return f"{statistics.mean(values):.3f} ± {statistics.stdev(values):.3f}"


def parse_override(text: str, fields: set[str]) -> tuple[str, object]:
    """`field=value` for one of `fields`; the value is read as JSON (numbers, true/false, quoted
    strings) or else taken as a bare string."""
    field, sep, raw = text.partition("=")
    if not sep or field not in fields:
        raise UserError(f"--set expects FIELD=VALUE with FIELD one of {sorted(fields)}, got {text!r}")
    try:
        return field, json.loads(raw)
    except json.JSONDecodeError:
        return field, raw
