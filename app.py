"""Transfer Explorer: `streamlit run app.py`. Page config, navigation and the shared sidebar."""

import streamlit as st

st.set_page_config(page_title="Transfer Explorer", page_icon="🔀", layout="wide")

home = st.Page("pages/home.py", title="Home", icon="🏠", default=True)
st.navigation([home]).run()
