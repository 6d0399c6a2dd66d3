"""The lifelong page in a real browser: train a stream from the page and watch its accuracy matrix
fill in task by task, refresh and reattach, then explore the run and compare it with another
method on the same stream.

The stream is of the synthetic bar digits (the Data control; 2,000 training images) and the
network a tiny one set through the page's Advanced controls, so it trains in seconds on two CPU cores.
"""

from __future__ import annotations

import re

from playwright.sync_api import expect

from core.lifelong.config import DEFAULT_STRENGTH, LifelongConfig
from core.lifelong.run import run_lifelong
from core.runs import RunStore
from presenters.lifelong.form import choice_label
from tests.e2e.harness import LONG, enter, select, settle

# A tiny network learns an epoch of the synthetic digits in about 120 ms here, and the page redraws
# the live matrix when a task ends (its fragment polls once a second): 20 epochs make a task last
# about 2 s, long enough for the browser to draw the matrix partly filled.
TASKS, EPOCHS = 3, 20
NETWORK = dict(data="synthetic", hidden=32, layers=1)
# Records, at every change of the page, how many rows of the live matrix hold a number (a row fills
# in when its task's last epoch ends), so that no state the browser drew is missed between polls.
WATCH_ROWS = """job => {
    window.__filledRows = [];
    const filled = () => {
        const plot = document.querySelector(`.st-key-ll_live_matrix-${job} .js-plotly-plot`);
        if (!plot || !plot._fullData || !plot._fullData.length) return;
        const rows = Array.from(plot._fullData[0].z, row => Array.from(row))
            .filter(row => row.some(v => v !== null && Number.isFinite(v))).length;
        if (window.__filledRows.at(-1) !== rows) window.__filledRows.push(rows);
    };
    new MutationObserver(filled).observe(document.body, {subtree: true, childList: true, attributes: true});
}"""


def test_train_a_stream_watch_the_matrix_fill_then_explore_and_compare(page, app_url, store_root, shot):
    # Compare's partner: the same stream, tasks and seed (the network and the epochs may differ)
    other = LifelongConfig(stream="rotated", tasks=TASKS, epochs=1, method="finetune", **NETWORK)
    run_lifelong(other, RunStore(store_root))
    # and a run of another stream (another seed), for Compare's stream picker
    elsewhere = LifelongConfig(stream="rotated", tasks=TASKS, epochs=1, method="l2", seed=1, **NETWORK)
    run_lifelong(elsewhere, RunStore(store_root))

    page.goto(f"{app_url}/lifelong")
    expect(page.get_by_role("button", name="Start training")).to_be_visible(timeout=LONG)
    settle(page)
    select(page, "Data", choice_label("data", "synthetic"))
    enter(page, "spinbutton", "Tasks", TASKS)
    enter(page, "spinbutton", "Items to measure importance on", 100)
    page.get_by_text("Advanced: the network and the optimisation").click()
    enter(page, "spinbutton", "Hidden units", NETWORK["hidden"])
    enter(page, "spinbutton", "Hidden layers", NETWORK["layers"])
    enter(page, "spinbutton", "Epochs per task", EPOCHS)
    expect(page.get_by_text(f"{EPOCHS} epochs per task ({TASKS * EPOCHS} in all)", exact=False)).to_be_visible(
        timeout=LONG
    )
    expect(page.get_by_text("MLP 784 → 32 → 10", exact=False)).to_be_visible(timeout=LONG)
    shot(page, "configured")

    page.get_by_role("button", name="Start training").click()
    page.wait_for_url(re.compile(r"[?&]job=\w+"), timeout=LONG)
    job = re.search(r"[?&]job=(\w+)", page.url).group(1)
    page.evaluate(WATCH_ROWS, job)
    page.wait_for_function(f"() => window.__filledRows.includes({TASKS})", timeout=LONG)
    seen = page.evaluate("() => window.__filledRows")
    assert any(0 < n < TASKS for n in seen), f"the matrix never showed a partly filled state: {seen}"
    expect(page.get_by_text(f"Finished: {TASKS * EPOCHS} epochs over the whole stream.")).to_be_visible(timeout=LONG)
    shot(page, "trained")

    page.reload()  # a new session: the job is found again from the URL, and the form from the job's run
    expect(page.get_by_text(f"Finished: {TASKS * EPOCHS} epochs over the whole stream.")).to_be_visible(timeout=LONG)
    assert f"job={job}" in page.url
    expect(page.get_by_role("spinbutton", name="Tasks", exact=True)).to_have_value(str(TASKS), timeout=LONG)
    expect(page.get_by_role("button", name="Open the stored run")).to_be_visible(timeout=LONG)

    page.get_by_role("button", name="Explore this run").click()
    expect(page.locator(".st-key-ll_matrix .js-plotly-plot")).to_be_visible(timeout=LONG)
    expect(page.locator(".st-key-ll_curves .gtitle")).to_contain_text(
        "accuracy on every task, epoch by epoch", timeout=LONG
    )
    expect(page.locator(".st-key-ll_importance .js-plotly-plot")).to_be_visible(timeout=LONG)
    expect(page.get_by_text("EWC's importance is the task's diagonal Fisher information", exact=False)).to_be_visible(
        timeout=LONG
    )
    assert re.search(r"[?&]run=lifelong-\w+", page.url)
    shot(page, "explore")

    page.get_by_role("radio", name="Compare").click()
    table = page.locator("[data-testid=stMarkdown] table").filter(
        has_text=re.compile(r"^#\s*run")
    )  # Compare's, not Explore's going away
    expect(table).to_contain_text("fine-tuning", timeout=LONG)
    expect(table).to_contain_text(f"EWC (λ {DEFAULT_STRENGTH['ewc']:g})", timeout=LONG)
    expect(page.locator(".st-key-ll_compare_curves .js-plotly-plot")).to_be_visible(timeout=LONG)
    expect(page.locator(".st-key-ll_compare_matrices .js-plotly-plot")).to_be_visible(timeout=LONG)
    shot(page, "compare")

    # another stream: the run picker shows that stream's runs, not the last stream's
    select(page, "Stream (runs with the same stream, tasks and seed)", re.compile(r"· seed 1 · 1 run$"))
    expect(page.get_by_text("Only one run of this stream is stored.", exact=False)).to_be_visible(timeout=LONG)
    picker = page.locator('[data-testid="stMultiSelect"]')
    expect(picker).to_contain_text("L2", timeout=LONG)
    expect(picker).not_to_contain_text("fine-tuning")
