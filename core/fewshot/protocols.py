"""The evaluation protocols of the few-shot engine: episode shapes and counts, beside the papers'
numbers (no torch here: Home and the CLI's help read these before anything heavy)."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Protocol:
    """An evaluation protocol: episode shape and count."""

    ways: int
    shots: int
    queries: int  # per class
    episodes: int
    note: str = ""


# Query count per class does not change what is measured (queries never influence each other,
# see core.models.conv4), only how precisely: 5 per class gives a tighter interval than 1.
PROTOCOLS = {
    "5w1s": Protocol(5, 1, 5, 1000, "Omniglot 5-way 1-shot (MAML paper: 0.987 +- 0.004)"),
    "5w5s": Protocol(5, 5, 5, 1000, "Omniglot 5-way 5-shot (MAML paper: 0.999 +- 0.001)"),
    "20w1s": Protocol(20, 1, 5, 1000, "Omniglot 20-way 1-shot (MAML paper: 0.958 +- 0.003)"),
    "course": Protocol(
        5, 1, 1, 640, "the course's test: 640 tasks, 5-way 1-shot, one query per class (top grade line 0.95)"
    ),
}
DEFAULT_PROTOCOL = "5w1s"  # the papers' headline number, and the one Home shows for a few-shot run
