"""The server's one job registry, shared by every page and session (a helper of the pages, not a page)."""

from __future__ import annotations

import streamlit as st

from core.jobs import JobRegistry, default_max_workers


@st.cache_resource(show_spinner=False)
def job_registry() -> JobRegistry:
    """One registry per server process: at most EXPLORER_MAX_JOBS jobs of any page run at once."""
    return JobRegistry(max_workers=default_max_workers())
