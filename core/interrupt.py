"""Cancel points inside long loops that know nothing of jobs: data loading checks here.

A background job runs its body inside `checking(job.check_cancel)`; code deep below it (walking an
image folder, decoding its files) calls `checkpoint()` now and then, which raises whatever the
job's check raises once Cancel was asked for. Outside a job it does nothing. The check is kept per
thread, so one job's cancel never stops another's work.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager

_local = threading.local()


@contextmanager
def checking(check: Callable[[], None]) -> Iterator[None]:
    """Run the block with `check` as this thread's cancel check."""
    previous = getattr(_local, "check", None)
    _local.check = check
    try:
        yield
    finally:
        _local.check = previous


def checkpoint() -> None:
    """Call this thread's cancel check, if a job set one."""
    check = getattr(_local, "check", None)
    if check is not None:
        check()
