"""Transfer Explorer: `streamlit run app.py`. Page config, navigation and the shared sidebar."""

import streamlit as st

st.set_page_config(page_title="Transfer Explorer", page_icon=":material/compare_arrows:", layout="wide")

home = st.Page("app_pages/home.py", title="Home", icon=":material/home:", default=True)
domain_adaptation = st.Page(
    "app_pages/domain_adaptation.py",
    title="Domain adaptation",
    icon=":material/compare_arrows:",
    url_path="domain-adaptation",
)
few_shot = st.Page("app_pages/few_shot.py", title="Few-shot drawing", icon=":material/draw:", url_path="few-shot")
lifelong = st.Page(
    "app_pages/lifelong.py", title="Lifelong learning", icon=":material/stacked_line_chart:", url_path="lifelong"
)
st.navigation([home, domain_adaptation, few_shot, lifelong]).run()
