"""The few-shot page in a real browser: draw five shapes with the mouse, one per class, and a
redrawn variation of one as the query; adapt the shipped MAML model and check its answer; leave
the page and come back with the drawings intact; clear a canvas."""

from __future__ import annotations

import re

import pytest
from playwright.sync_api import Page, expect

from core.data.sketches import sketch_paths
from tests.e2e.harness import LONG, settle
from tests.test_fewshot_ui import CLASSES, shipped_fewshot_store

CANVAS = 200  # the page's canvas size outside the presentation view
QUERY_CLASS = 2  # the query is a variation of the third shape


@pytest.fixture(scope="module")
def fewshot_models(store_root):
    """The shipped few-shot models (and their titles) in the app's run store."""
    if not (store_root / "shipped.json").exists():
        shipped_fewshot_store(store_root)
    return store_root


def draw(page: Page, index: int, shape: str, variation: int | None = None) -> None:
    """Draw `shape` with the mouse on canvas `index` (0-4 supports, 5 the query), as a person would."""
    canvas = page.locator("canvas.upper-canvas").nth(index)
    canvas.scroll_into_view_if_needed()
    box = canvas.bounding_box()
    # Hover first, as a hand does: the canvas's toolbar slides in on hover and, while it moves,
    # takes a press near the canvas's top edge.
    page.mouse.move(box["x"] + box["width"] / 2, box["y"] + box["height"] / 2)
    page.wait_for_timeout(500)
    for stroke in sketch_paths(shape, CANVAS, variation=variation, seed=7):
        x, y = box["x"] + stroke[:, 0], box["y"] + stroke[:, 1]
        page.mouse.move(x[0], y[0])
        page.mouse.down()
        for px, py in zip(x[1:], y[1:]):
            page.mouse.move(px, py)
        page.mouse.up()
        settle(page)


def seen(page: Page):
    """The 'what the model sees' previews under the canvases."""
    return page.get_by_text("what the model sees (28×28)")


def test_draw_five_shapes_and_a_variation_then_adapt_switch_pages_and_clear(page, app_url, fewshot_models, shot):
    page.goto(f"{app_url}/few-shot")
    expect(page.get_by_role("button", name="Adapt and predict")).to_be_disabled(timeout=LONG)
    expect(page.locator("canvas.upper-canvas")).to_have_count(6)
    for i, shape in enumerate(CLASSES):
        draw(page, i, shape)
        expect(seen(page)).to_have_count(i + 1)
    draw(page, 5, CLASSES[QUERY_CLASS], variation=1)
    expect(seen(page)).to_have_count(6)
    shot(page, "drawn")

    page.get_by_role("button", name="Adapt and predict").click()
    settle(page)
    expected = page.get_by_role("heading", name=re.compile(f"^Prediction: class {chr(65 + QUERY_CLASS)} "))
    expect(expected).to_be_visible(timeout=LONG)
    shot(page, "predicted")

    # away to Home and back: the drawings, their previews and the answer are still there
    page.get_by_role("link", name="Home").click()
    expect(page.get_by_text("Stored runs")).to_be_visible(timeout=LONG)
    page.get_by_test_id("stSidebarNavItems").get_by_role("link", name="Few-shot drawing").click()
    expect(seen(page)).to_have_count(6, timeout=LONG)
    expect(expected).to_be_visible()
    page.get_by_role("button", name="Adapt and predict").click()
    settle(page)
    expect(expected).to_be_visible(timeout=LONG)
    shot(page, "after-page-switch")

    # clear the first support canvas: that class needs a drawing again
    page.get_by_role("button", name="Clear", exact=True).first.click()
    settle(page)
    expect(page.get_by_text("Draw 'class A' first")).to_be_visible(timeout=LONG)
    expect(page.get_by_role("button", name="Adapt and predict")).to_be_disabled()
    expect(seen(page)).to_have_count(5)
    shot(page, "cleared")
