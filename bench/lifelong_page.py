"""How long the lifelong page's Explore view takes to draw a stored real run (target: <= 1 s).

1. Script time under streamlit's AppTest, in this process: the first draw (imports the page's
   modules and plotly, reads the run; torch is imported already, by bench.report), the run read
   again with the page's run cache cleared (as opening a run not read yet does), and a redraw
   with the run cached (any other rerun of the view).
2. In Debian's Chromium against `streamlit run app.py`: until every figure of the view is drawn
   (curves, matrix, forgetting, importance pictures, drift), from asking for the Explore URL of
   the run on a fresh server, then from picking another run in the view's picker (what exploring
   does; with one run in the store, from reloading the page).

The run is the first shipped lifelong run of the store, else its newest lifelong run trained on
MNIST (not the synthetic digits), unless --run names one; the other is the next such run.

    python -m bench.lifelong_page [--checkpoints DIR] [--run RUN_ID] [--repeats 10] [--no-write]
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

from bench import report
from core.paths import checkpoints_dir
from core.runs import RunInfo, RunStore
from core.shipped import read_shipped
from presenters.lifelong.explore import lifelong_runs
from presenters.runs import run_label, shipped_first
from tests.e2e.harness import CHROMIUM, LONG, launch_chromium, streamlit_server

PAGE = Path(__file__).resolve().parent.parent / "app_pages" / "lifelong.py"
TARGET = 1.0  # seconds
# No script run is going on, the curves' title is no longer `old` (another run, or a reload), and
# every figure of the Explore view that the run has is drawn.
DRAWN = """([keys, old]) => {
    if (!document.querySelector('[data-testid="stApp"][data-test-script-state="notRunning"]')) return false;
    const title = document.querySelector('.st-key-ll_curves .gtitle');
    return Boolean(title) && title.textContent !== old
        && keys.every(key => { const plot = document.querySelector(`.st-key-${key} .js-plotly-plot`);
                               return plot && plot._fullLayout && plot.querySelector('.main-svg'); });
}"""


def real_runs(store: RunStore, wanted: str | None) -> tuple[RunInfo, RunInfo | None]:
    """The run to draw (`wanted`, else the first shipped lifelong run, else the newest trained on
    MNIST), and another real run to switch to, when the store has one."""
    runs = [r for r in lifelong_runs(store) if r.config.get("data", "mnist") == "mnist"]
    if not runs:
        sys.exit(
            f"no lifelong run trained on MNIST in {store.root}; train one first, e.g. "
            "python -m core lifelong --stream rotated --method ewc --hidden 64 --checkpoints DIR"
        )
    runs = shipped_first(runs, read_shipped(store))
    if wanted is not None:
        runs = [r for r in runs if r.run_id == wanted] + [r for r in runs if r.run_id != wanted]
        if runs[0].run_id != wanted:
            sys.exit(f"no lifelong run {wanted!r} trained on MNIST with a finished epoch in {store.root}")
    return runs[0], runs[1] if len(runs) > 1 else None


def figure_keys(store: RunStore, info: RunInfo) -> list[str]:
    """The Explore view's figures for this run (forgetting needs two tasks, pictures an importance)."""
    from core.lifelong.stored import load_run

    run = load_run(store, info.run_id)
    keys = ["ll_curves", "ll_matrix"]
    if len(run.matrix.R) >= 2:
        keys.append("ll_forgetting")
    if run.pictures:
        keys.append("ll_importance")
    if run.records:
        keys.append("ll_drift")
    return keys


def apptest_times(info: RunInfo, repeats: int) -> dict[str, list[float]]:
    """Seconds of the Explore view's script run: first, with the run cache cleared, with it warm."""
    import streamlit as st
    from streamlit.testing.v1 import AppTest

    def timed(at: AppTest) -> float:
        t0 = time.perf_counter()
        at.run()
        if at.exception or at.error:
            sys.exit(f"the Explore view failed: {[e.value for e in (*at.exception, *at.error)]}")
        return time.perf_counter() - t0

    at = AppTest.from_file(str(PAGE), default_timeout=300)
    at.query_params.update(ll_view="Explore", run=info.run_id)
    first = [timed(at)]
    uncached = []
    for _ in range(repeats):
        st.cache_resource.clear()
        uncached.append(timed(at))
    cached = [timed(at) for _ in range(repeats)]
    return {"first": first, "uncached": uncached, "cached": cached}


def browser_times(store: RunStore, info: RunInfo, other: RunInfo | None, repeats: int) -> dict[str, list[float]]:
    """Seconds until every figure of the Explore view is drawn: from asking for its URL on a fresh
    server, then `repeats` times from picking a run in the view's picker (alternating with
    `other`), or, with no other run, from reloading the page."""
    from playwright.sync_api import sync_playwright

    scratch = Path(tempfile.mkdtemp(prefix="lifelong-page-"))
    env = {"EXPLORER_CHECKPOINTS_DIR": str(store.root.resolve()), "EXPLORER_CACHE_DIR": str(scratch / "cache")}
    titles = {s.run_id: s.title for s in read_shipped(store)}  # the picker names shipped runs by their titles
    picked = [r for r in (info, other) if r is not None]
    labels = [run_label(r, titles.get(r.run_id)) for r in picked]
    keys = [figure_keys(store, r) for r in picked]  # each run's own figures (importance needs a method with one)
    with sync_playwright() as playwright:
        browser = launch_chromium(playwright)
        with streamlit_server(env, scratch / "streamlit.log") as url:
            page = browser.new_page(viewport={"width": 1400, "height": 3000})
            t0 = time.perf_counter()
            page.goto(f"{url}/lifelong?ll_view=Explore&run={info.run_id}")
            page.wait_for_function(DRAWN, arg=[keys[0], None], polling="raf", timeout=LONG)
            first = time.perf_counter() - t0
            again = []
            for i in range(repeats):
                old = page.locator(".st-key-ll_curves .gtitle").text_content()
                if other is None:
                    old = None  # the same run: the title stays, the figures are drawn anew
                    t0 = time.perf_counter()
                    page.reload()
                else:
                    page.get_by_test_id("stSelectbox").filter(has_text="Run").click()
                    choice = page.get_by_role("option", name=labels[(i + 1) % 2], exact=True)
                    choice.wait_for()
                    t0 = time.perf_counter()
                    choice.click()
                page.wait_for_function(DRAWN, arg=[keys[(i + 1) % len(keys)], old], polling="raf", timeout=LONG)
                again.append(time.perf_counter() - t0)
        browser.close()
    return {"first": [first], "again": again}


def spread(values: list[float]) -> str:
    if len(values) == 1:
        return f"{values[0]:.2f} s"
    return f"{min(values):.2f} / {statistics.median(values):.2f} / {max(values):.2f} s"


def row(measure: str, values: list[float], judged: bool) -> dict:
    met = ("yes" if statistics.median(values) <= TARGET else "NO") if judged else ""
    return {
        "measure": measure,
        "min / median / max": spread(values),
        "target": f"<= {TARGET:g} s (median)" if judged else "",
        "met": met,
    }


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument(
        "--checkpoints", default=None, help="run store (default: checkpoints/ or $EXPLORER_CHECKPOINTS_DIR)"
    )
    ap.add_argument("--run", default=None, help="the lifelong run to draw (default: see above)")
    ap.add_argument("--repeats", type=int, default=10, help="draws per measurement")
    ap.add_argument("--no-browser", action="store_true", help="AppTest only (no Chromium)")
    ap.add_argument("--no-write", action="store_true", help="print only; do not append to BENCHMARKS.md")
    a = ap.parse_args()
    load = os.getloadavg()[0]
    if not a.no_browser and not CHROMIUM.exists():
        sys.exit(f"needs Debian's Chromium at {CHROMIUM} (or --no-browser): apt-get install -y chromium")
    store = RunStore(a.checkpoints or checkpoints_dir())
    os.environ["EXPLORER_CHECKPOINTS_DIR"] = str(store.root.resolve())  # what the page under AppTest serves
    info, other = real_runs(store, a.run)
    bench = sys.modules["__main__"]
    script = apptest_times(info, a.repeats)
    sys.modules["__main__"] = bench  # AppTest ran the page as __main__: the report names this command
    keys = figure_keys(store, info)
    rows = [
        row(
            "script run, first draw in this process (imports the page's modules, reads the run)", script["first"], False
        ),
        row(f"script run, run read again (cache cleared), {a.repeats} times", script["uncached"], True),
        row(f"script run, run cached, {a.repeats} times", script["cached"], True),
    ]
    if not a.no_browser:
        seen = browser_times(store, info, other, a.repeats)
        again = f"another run picked ({other.run_id} and back)" if other is not None else "the page reloaded"
        rows += [
            row("Chromium: Explore URL to every figure drawn, a fresh server", seen["first"], False),
            row(f"Chromium: {again} to every figure drawn, {a.repeats} times", seen["again"], True),
        ]
    cfg = info.config
    notes = (
        f"Run {info.run_id} ({cfg.get('stream')}, {cfg.get('tasks')} tasks x {cfg.get('epochs')} epoch(s), "
        f"{cfg.get('method')}, {cfg.get('model')} {cfg.get('hidden')}); {len(keys)} figures: {', '.join(keys)}; the "
        f"other run: {other.run_id if other is not None else 'none'}. "
        "Script times are the page's own run under AppTest (no browser); Chromium times add the websocket "
        f"round trip and plotly drawing every figure. The machine's load average at the start: {load:.1f}."
    )
    table = report.markdown_table(rows, ["measure", "min / median / max", "target", "met"])
    report.publish("Lifelong page: Explore draw time (bench/lifelong_page.py)", table, notes, write=not a.no_write)


if __name__ == "__main__":
    main()
