"""The domain-adaptation page in a real browser: train, explore, reattach, cancel, reject a formula.

Runs train on two tiny image folders with the DANN paper's network and a few steps per epoch (the
"Advanced" controls), so a run takes seconds on two CPU cores; everything else is the real app.
"""

from __future__ import annotations

import re

from playwright.sync_api import expect

from core.dann.config import VARIANTS
from core.runs import RunStore
from tests.e2e.harness import (
    LONG,
    click_map_point,
    fill_tiny_run,
    map_title,
    open_train,
    select,
    settle,
    use_folders,
)


def test_train_a_tiny_run_then_scrub_its_epochs_and_switch_to_umap(page, app_url, folders, store_root, shot):
    open_train(page, app_url)
    fill_tiny_run(page, folders, epochs=2, steps=5, seed=1)
    shot(page, "configured")
    page.get_by_role("button", name="Start training").click()
    expect(page.get_by_text("Finished: 2 of 2 epochs.")).to_be_visible(timeout=LONG)
    assert re.search(r"[?&]job=\w+", page.url)
    shot(page, "trained")
    [run] = [r for r in RunStore(store_root).list() if r.config["seed"] == 1]
    assert run.status == "complete" and run.epochs_done == 2

    page.get_by_role("button", name="Explore this run").click()
    title = map_title(page)
    expect(title).to_have_text(re.compile(r"t-SNE .* epoch 2"), timeout=LONG)
    shot(page, "explore-tsne-epoch-2")
    click_map_point(page, trace=1, index=3)  # a target item: its image comes from the target folder
    inspect = page.locator(".st-key-inspect")
    expect(inspect).to_contain_text(re.compile(r"target \(target/\) item \d+"))
    expect(inspect).to_contain_text(re.compile(r"label \d · predicted \d [✓✗] \(epoch 2\)"))
    expect(inspect.get_by_role("img")).to_be_visible()
    shot(page, "inspect-a-point")
    slider = page.get_by_role("slider")
    slider.focus()
    slider.press("ArrowLeft")
    expect(title).to_have_text(re.compile(r"epoch 1$"))
    expect(inspect).to_contain_text("(epoch 1)")  # the same item, read at the slider's epoch
    slider.press("ArrowLeft")
    expect(title).to_have_text(re.compile(r"epoch 0$"))
    shot(page, "explore-tsne-epoch-0")

    page.get_by_role("radio", name="UMAP").click()
    expect(title).to_have_text(re.compile(r"UMAP .* epoch 0$"), timeout=LONG)
    expect(page.get_by_role("progressbar")).to_have_count(0, timeout=LONG)  # frames come one by one: all laid out
    settle(page)  # the run that lays out the last frame has finished: the earlier slider is gone
    expect(slider).to_have_count(1)
    slider.press("End")
    expect(title).to_have_text(re.compile(r"UMAP .* epoch 2$"))
    shot(page, "explore-umap-epoch-2")


def test_a_refresh_reattaches_to_the_running_job_and_cancel_keeps_finished_epochs(
    page, app_url, folders, store_root, shot
):
    open_train(page, app_url)
    fill_tiny_run(page, folders, epochs=20, steps=60, seed=2)
    page.get_by_role("button", name="Start training").click()
    progress = page.get_by_text(re.compile(r"epoch [1-9]\d* of 20 stored"))
    expect(progress).to_be_visible(timeout=LONG)
    job = re.search(r"[?&]job=(\w+)", page.url).group(1)
    # the live curves are drawn while it trains, and redrawn as further epochs are stored
    epochs_drawn = """job => {
        const plot = document.querySelector(`.st-key-live-${job} .js-plotly-plot`);
        return plot && plot.data ? plot.data[0].x.length : 0;
    }"""
    page.wait_for_function(f"job => ({epochs_drawn})(job) >= 1", arg=job, timeout=LONG)
    drawn = page.evaluate(epochs_drawn, job)
    page.wait_for_function(f"job => ({epochs_drawn})(job) > {drawn}", arg=job, timeout=LONG)
    shot(page, "training")

    page.reload()
    expect(page.get_by_text("train source/ → target/, dann, λ dann", exact=True)).to_be_visible(timeout=LONG)
    expect(progress).to_be_visible(timeout=LONG)  # the reloaded page polls the job: slow on busy cores
    assert f"job={job}" in page.url
    shot(page, "reattached-after-refresh")

    page.get_by_role("button", name="Cancel").click()
    expect(page.get_by_text(re.compile(r"Cancelled; [1-9]\d* finished epochs are kept\."))).to_be_visible(timeout=LONG)
    shot(page, "cancelled")
    [run] = [r for r in RunStore(store_root).list() if r.config["seed"] == 2]
    assert run.status == "cancelled" and 1 <= run.epochs_done < 20


def test_a_bad_custom_expression_shows_the_reason_and_starts_nothing(page, app_url, folders, store_root, shot):
    runs_before = {r.run_id for r in RunStore(store_root).list()}
    open_train(page, app_url)
    use_folders(page, folders)  # data at hand: the formula is the only problem
    select(page, "λ schedule", "expr")
    box = page.get_by_role("textbox", name="λ(p) =")
    box.fill("")
    box.press_sequentially("2*p + foo(p)")  # no Enter: the formula is checked as it is typed
    expect(page.get_by_text("unknown function 'foo'")).to_be_visible()
    start = page.get_by_role("button", name="Start training")
    expect(start).to_be_disabled()
    shot(page, "rejected")
    start.click(force=True)
    settle(page)
    assert "job=" not in page.url
    assert {r.run_id for r in RunStore(store_root).list()} == runs_before

    box.fill("0.5*p")
    box.press("Enter")
    expect(start).to_be_enabled()
    # the schedule preview (an SVG image) is redrawn for the new formula: its title is the formula
    page.wait_for_function("""() => [...document.querySelectorAll('img.schedule-preview')]
        .some(img => img.src.startsWith('data:image/svg+xml;base64,')
                     && atob(img.src.split(',')[1]).includes('= 0.5*p</text>'))""")


def test_pick_cdan_e_and_train_a_tiny_run(page, app_url, folders, store_root, shot):
    open_train(page, app_url)
    select(page, "Variant", f"cdan_e: {VARIANTS['cdan_e']}")
    expect(page.get_by_text("MMD estimate")).to_have_count(0)  # DAN's setting, not CDAN's
    fill_tiny_run(page, folders, epochs=1, steps=4, seed=5)
    shot(page, "configured-cdan-e")
    page.get_by_role("button", name="Start training").click()
    expect(page.get_by_text("Finished: 1 of 1 epochs.")).to_be_visible(timeout=LONG)
    [run] = [r for r in RunStore(store_root).list() if r.config.get("variant") == "cdan_e"]
    assert run.status == "complete" and run.config["seed"] == 5
    assert 0.0 <= RunStore(store_root).metrics(run.run_id)[-1]["domain_acc"] <= 1.0
    shot(page, "trained-cdan-e")
