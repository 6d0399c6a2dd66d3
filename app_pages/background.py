"""The server's one job registry, shared by every page and session, and what the pages share around it:
whose jobs a session may cancel, the list of the server's other jobs, messages for the next script run,
the shipped runs (a helper of the pages, not a page)."""

from __future__ import annotations

from collections.abc import Callable

import streamlit as st

from core.errors import UserError
from core.jobs import JobRegistry, JobStatus, default_max_workers
from core.runs import RunStore
from core.shipped import ShippedRun, read_shipped


@st.cache_resource(show_spinner=False)
def job_registry() -> JobRegistry:
    """One registry per server process: at most EXPLORER_MAX_JOBS jobs of any page run at once."""
    return JobRegistry(max_workers=default_max_workers())


def me() -> str:
    """This browser session's token, shared by the pages: the jobs it starts are its own to cancel
    (a session never cancels another's; the job named in its URL it may, so a refresh keeps Cancel)."""
    import uuid

    return st.session_state.setdefault("owner", uuid.uuid4().hex)


def may_cancel(s: JobStatus) -> bool:
    return s.owner in ("", me()) or s.job_id == st.query_params.get("job")


def cancel(registry: JobRegistry, job_id: str) -> None:
    registry.cancel(job_id, by=None if job_id == st.query_params.get("job") else me())


def other_jobs(
    registry: JobRegistry, kind: str, current: str | None, heading: str, watch: Callable[[str], None], key: str
) -> None:
    """The server's other jobs of `kind` (not `current`), folded away: each one's place in the
    queue or its epoch, and Watch for this session's own (another session's job is listed, not
    handed over). `key` prefixes the buttons' keys."""
    others = [j for j in registry.jobs(kind) if j.job_id != current]
    if not others:
        return
    with st.expander(f"{heading} ({sum(j.active for j in others)} active)"):
        for j in others:
            cols = st.columns([4, 1])
            where = (
                f"queue position {j.position}"
                if j.position
                else f"{j.state}, epoch {j.details.epoch}/{j.details.epochs}"
            )
            cols[0].text(f"{j.title} · {where}")
            if j.owner == me():
                cols[1].button("Watch", key=f"{key}-{j.job_id}", on_click=watch, args=(j.job_id,))


def flash(kind: str, text: str, key: str = "flash") -> None:
    """A message for the next script run (callbacks cannot draw)."""
    st.session_state[key] = (kind, text)


def show_flash(key: str = "flash") -> None:
    if key in st.session_state:
        kind, text = st.session_state.pop(key)
        getattr(st, kind)(text)


def shipped_runs(store: RunStore) -> list[ShippedRun]:
    """The runs shipped in the store; an unreadable shipped.json is shown, not fatal."""
    try:
        return read_shipped(store)
    except UserError as err:
        st.error(str(err))
        return []
