"""Home: what the explorer does, the device it trains on, the datasets at hand and the stored runs."""

import streamlit as st

from core.data import dataset_status
from core.device import describe_device, pick_device
from core.errors import UserError
from core.paths import data_dir
from core.runs import RunStore


@st.cache_data(ttl=30, show_spinner=False)
def _dataset_rows() -> list[dict]:
    return [
        {"dataset": s.name, "at hand": "yes" if s.available else "no", "where": s.where, "details": s.detail}
        for s in dataset_status()
    ]


def _run_rows(store: RunStore) -> list[dict]:
    rows = []
    for run in store.list():
        cfg = run.config
        last = (store.metrics(run.run_id) or [{}])[-1]
        rows.append({
            "run": run.run_id,
            "domains": f"{cfg.get('source')} → {cfg.get('target')}",
            "variant": cfg.get("variant"),
            "schedule": (cfg.get("schedule") or {}).get("kind", "—"),
            "epochs": f"{run.epochs_done}/{run.epochs_planned}",
            "status": run.status,
            "target accuracy": last.get("target_acc"),
        })  # fmt: skip
    return rows


st.title("Transfer Explorer")
st.markdown(
    "Train domain-adversarial networks (DANN) from labelled digits to unlabelled ones and keep every "
    "run: per-epoch accuracy, domain-classifier accuracy and feature snapshots.  \n"
    "Train from the command line for now: `python -m core dann --source mnist --target mnistm`."
)

st.subheader("Device")
st.write(describe_device(pick_device("auto")))

st.subheader("Datasets")
st.caption(f"Data directory: `{data_dir().resolve()}` (set `EXPLORER_DATA_DIR` to change it)")
st.dataframe(_dataset_rows(), hide_index=True, width="stretch")

st.subheader("Stored runs")
store = RunStore()
try:
    rows = _run_rows(store)
except UserError as exc:
    st.error(str(exc))
    rows = []
if rows:
    st.dataframe(rows, hide_index=True, width="stretch")
else:
    st.info(f"No runs in `{store.root}` yet.")
for path, why in store.broken():
    st.warning(f"Unreadable run folder `{path}`: {why}")
