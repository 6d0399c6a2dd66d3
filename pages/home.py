"""Home: what the explorer does, the device it trains on, the datasets at hand, the shipped and the
stored runs."""

import streamlit as st

from core.data import dataset_status
from core.errors import UserError
from core.paths import data_dir
from core.runs import RunStore
from core.shipped import SHIPPED_FILE, read_shipped


def _device_line() -> str:
    # torch takes seconds to import and only this line needs it: the page imports it here, last.
    from core.device import describe_device, pick_device

    return describe_device(pick_device("auto"))


@st.cache_data(ttl=30, show_spinner=False)
def _dataset_rows() -> list[dict]:
    return [
        {"dataset": s.name, "at hand": "yes" if s.available else "no", "where": s.where, "details": s.detail}
        for s in dataset_status()
    ]


def _last_target_acc(store: RunStore, run_id: str) -> float | None:
    return (store.metrics(run_id) or [{}])[-1].get("target_acc")


def _shipped_rows(store: RunStore) -> list[dict]:
    rows = []
    for shipped in read_shipped(store):
        if not store.exists(shipped.run_id):
            rows.append({"run": shipped.title, "target accuracy": None, "epochs": "not in the store"})
            continue
        run = store.get(shipped.run_id)
        state = "" if run.complete else f" ({run.status})"
        rows.append({"run": shipped.title, "target accuracy": _last_target_acc(store, shipped.run_id),
                     "epochs": f"{run.epochs_done}/{run.epochs_planned}{state}"})  # fmt: skip
    return rows


def _run_rows(store: RunStore) -> list[dict]:
    rows = []
    for run in store.list():
        cfg = run.config
        rows.append({
            "run": run.run_id,
            "domains": f"{cfg.get('source')} → {cfg.get('target')}",
            "variant": cfg.get("variant"),
            "schedule": (cfg.get("schedule") or {}).get("kind", "—"),
            "epochs": f"{run.epochs_done}/{run.epochs_planned}",
            "status": run.status,
            "target accuracy": _last_target_acc(store, run.run_id),
        })  # fmt: skip
    return rows


st.title("Transfer Explorer")
st.markdown(
    "Train domain-adversarial networks (DANN) from labelled digits to unlabelled ones and keep every "
    "run: per-epoch accuracy, domain-classifier accuracy and feature snapshots."
)

st.subheader("Pages")
st.page_link("pages/domain_adaptation.py", label="**Domain adaptation**", icon="🧭")
st.markdown(
    "Retrain DANN in the background with the λ schedule you pick (its curve drawn as you set it), and follow "
    "the accuracies live.  \nExplore any stored run's t-SNE, UMAP or PCA map epoch by epoch, compare runs side "
    "by side, present them large and export the animation, a frame or the metrics."
)

st.subheader("Device")
device = st.empty()  # filled at the end of the script, once the rest of the page is drawn

st.subheader("Datasets")
st.caption(f"Data directory: `{data_dir().resolve()}` (set `EXPLORER_DATA_DIR` to change it)")
st.dataframe(_dataset_rows(), hide_index=True, width="stretch")
st.caption(
    "Missing a dataset? Put the files named under *details* in the data directory, or run once with internet "
    "access (torchvision downloads MNIST and USPS; MNIST-M is generated from MNIST); `python -m core data` "
    "says the same from a terminal. Image folders of your own need no download."
)

store = RunStore()
st.subheader("Shipped runs")
try:
    shipped = _shipped_rows(store)
except UserError as exc:
    st.error(str(exc))
    shipped = None
if shipped:
    st.caption(f"Trained with the commands listed in `{store.root / SHIPPED_FILE}`; open them under "
               "**Domain adaptation** → Explore or Compare.")  # fmt: skip
    st.dataframe(shipped, hide_index=True, width="stretch",
                 column_config={"target accuracy": st.column_config.NumberColumn(format="%.3f")})  # fmt: skip
elif shipped is not None:
    st.info(f"No shipped runs: `{store.root / SHIPPED_FILE}` lists none.")

st.subheader("Stored runs")
st.caption(f"The runs shipped in `checkpoints/` and the ones trained here, in `{store.root}`.")
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
device.write(_device_line())
