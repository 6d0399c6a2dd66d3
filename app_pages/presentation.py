"""The presentation view that the pages share: a toggle kept in the URL as ?present=1, and the CSS
that folds the sidebar and header away. A helper module of the pages, not a page of its own."""

from __future__ import annotations

import streamlit as st

PRESENT_CSS = """<style>
[data-testid="stSidebar"], [data-testid="stSidebarCollapsedControl"], header[data-testid="stHeader"] {display: none;}
.block-container {padding-top: 1rem; max-width: 100%;}
h1 {font-size: 3rem !important;}
</style>"""


def presentation_view(key: str, title: str, caption: str, help: str) -> bool:
    """Draw the toggle; in the presentation view apply its CSS, else draw the page's title and
    caption. The toggle starts from the URL and keeps its value across page switches."""
    if key not in st.session_state:
        st.session_state[key] = st.query_params.get("present") == "1"

    def changed() -> None:
        if st.session_state[key]:
            st.query_params["present"] = "1"
        else:
            st.query_params.pop("present", None)

    present = st.toggle("Presentation view", key=key, on_change=changed, help=help, persist_state="session")
    if present:
        st.markdown(PRESENT_CSS, unsafe_allow_html=True)
    else:
        st.title(title)
        st.caption(caption)
    return present
