"""Home: what the explorer does, the device it trains on, the datasets at hand, the shipped and the
stored runs."""

import streamlit as st

from core.data import dataset_status
from core.describe import headline_accuracy
from core.errors import UserError
from core.hardware import describe_hardware
from core.paths import data_dir
from core.runs import RunStore
from core.shipped import SHIPPED_FILE, read_shipped
from presenters.markdown import markdown_table
from presenters.runs import run_what


def _table(rows: list[dict], index: str) -> None:
    """A static table, its `index` column first, as markdown. Not st.table or st.dataframe: both
    need pandas, whose import alone cost Home about 0.7 s of its cold start on 2 cores
    (bench/app_latency.py), and these tables are short."""
    columns = [index] + [c for c in dict.fromkeys(k for row in rows for k in row) if c != index]
    st.markdown(markdown_table(rows, columns))


@st.cache_data(ttl=30, show_spinner=False)
def _dataset_rows() -> list[dict]:
    return [
        {"dataset": s.name, "at hand": "yes" if s.available else "no", "where": s.where, "details": s.detail}
        for s in dataset_status()
    ]


def _shipped_rows(store: RunStore) -> list[dict]:
    rows = []
    for shipped in read_shipped(store):
        if not store.exists(shipped.run_id):
            rows.append({"run": shipped.title, "accuracy": None, "epochs": "not in the store"})
            continue
        run = store.get(shipped.run_id)
        state = "" if run.complete else f" ({run.status})"
        rows.append(
            {
                "run": shipped.title,
                "what": run_what(run),
                "accuracy": headline_accuracy(store, run),
                "epochs": f"{run.epochs_done}/{run.epochs_planned}{state}",
            }
        )
    return rows


def _run_rows(store: RunStore) -> list[dict]:
    return [
        {
            "run": run.run_id,
            "what": run_what(run),
            "epochs": f"{run.epochs_done}/{run.epochs_planned}",
            "status": run.status,
            "accuracy": headline_accuracy(store, run),
        }
        for run in store.list()
    ]


st.title("Transfer Explorer")
st.markdown(
    "Watch transfer learning happen: domain-adversarial networks (DANN) aligning labelled digits with "
    "unlabelled ones epoch by epoch, a meta-learned network (MAML) adapting to characters you draw, and a "
    "network learning digit tasks one after another while it forgets, or protects, the earlier ones."
)

st.subheader("Pages")
st.page_link("app_pages/domain_adaptation.py", label="**Domain adaptation**", icon=":material/compare_arrows:")
st.markdown(
    "Retrain DANN in the background with the λ schedule you pick (its curve drawn as you set it), and follow "
    "the accuracies live.  \nExplore any stored run's t-SNE, UMAP or PCA map epoch by epoch, compare runs side "
    "by side, present them large and export the animation, a frame or the metrics."
)

st.page_link("app_pages/few_shot.py", label="**Few-shot drawing**", icon=":material/draw:")
st.markdown(
    "Draw five characters nobody has seen, one example each, and a sixth to classify: a MAML model meta-trained "
    "on Omniglot adapts to your drawings in a gradient step or two. Compare it with first-order MAML, a "
    "transfer baseline and Prototypical Networks, each with its measured accuracy, and browse Omniglot's "
    "evaluation episodes solver by solver."
)

st.page_link("app_pages/lifelong.py", label="**Lifelong learning**", icon=":material/stacked_line_chart:")
st.markdown(
    "Train a stream of MNIST tasks (rotated, permuted or split digits) in the background with fine-tuning, EWC, "
    "online EWC, MAS, SI, SCP, L2, replay or joint training, and watch the accuracy matrix fill in task by task. "
    "Explore a run's forgetting, where in the image each method protects and how far each layer moved; compare "
    "methods on the same stream; and see on two weights why a penalty helps."
)

st.subheader("Device")
st.write(describe_hardware())

st.subheader("Datasets")
st.caption(f"Data directory: `{data_dir().resolve()}` (set `EXPLORER_DATA_DIR` to change it)")
_table(_dataset_rows(), "dataset")
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
    st.caption(
        f"Trained with the commands listed in `{store.root / SHIPPED_FILE}`; open the DANN runs under "
        "**Domain adaptation** → Explore or Compare, the few-shot ones under **Few-shot drawing**, the lifelong "
        "ones under **Lifelong learning**. Accuracy: on the target domain (DANN), 5-way 1-shot on Omniglot's "
        "evaluation alphabets (few-shot), or the mean over every task's test split after the last epoch "
        "(lifelong)."
    )
    _table(shipped, "run")
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
    _table(rows, "run")
else:
    st.info(f"No runs in `{store.root}` yet.")
for path, why in store.broken():
    st.warning(f"Unreadable run folder `{path}`: {why}")
