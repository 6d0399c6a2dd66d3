"""Drive the app in a real browser: `streamlit run app.py` plus Debian's Chromium via Playwright.

Shared by the browser tests (tests/e2e/) and the page-latency benchmark (bench/app_latency.py).
No `playwright install`: Chromium comes from apt (`apt-get install -y chromium`), so this works
offline, in CI and on a bare Debian machine.
"""

from __future__ import annotations

import os
import re
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path

from playwright.sync_api import Page, expect
from playwright.sync_api import TimeoutError as PlaywrightTimeoutError

ROOT = Path(__file__).resolve().parents[2]
CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
QUIET_THREADS = {"OMP_NUM_THREADS": "1", "MKL_NUM_THREADS": "1", "NUMBA_NUM_THREADS": "1"}
LONG = 120_000  # ms: a training or a first UMAP (numba compiles it) on a busy 2-core machine


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _healthy(url: str) -> bool:
    try:
        with urllib.request.urlopen(f"{url}/_stcore/health", timeout=2) as answer:
            return answer.read().decode().strip() == "ok"
    except OSError:
        return False


@contextmanager
def streamlit_server(
    env: Mapping[str, str], log: Path, timeout: float = 90.0, port: int | None = None
) -> Iterator[str]:
    """Start `streamlit run app.py` on `port` (default: a free one) with `env` added; yield its URL once healthy."""
    port = port or free_port()
    url = f"http://127.0.0.1:{port}"
    command = [
        sys.executable,
        "-m",
        "streamlit",
        "run",
        "app.py",
        "--server.headless",
        "true",
        "--server.port",
        str(port),
        "--browser.gatherUsageStats",
        "false",
    ]
    with open(log, "w") as out:
        process = subprocess.Popen(command, cwd=ROOT, env={**os.environ, **env}, stdout=out, stderr=subprocess.STDOUT)
        try:
            deadline = time.monotonic() + timeout
            while not _healthy(url):
                if process.poll() is not None or time.monotonic() > deadline:
                    raise RuntimeError(f"streamlit did not come up on {url}; see {log}:\n{log.read_text()[-3000:]}")
                time.sleep(0.05)
            yield url
        finally:
            process.terminate()
            try:
                process.wait(15)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()


def launch_chromium(playwright):
    return playwright.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)


# ---- driving the domain-adaptation page ------------------------------------------------------


IDLE = '[data-testid="stApp"][data-test-script-state="notRunning"]'  # the app with no script run going on


def settle(page: Page) -> None:
    """Wait for the script run that the last interaction started to finish."""
    page.wait_for_timeout(150)
    page.locator(IDLE).wait_for()


# Counts the changes of the app's script state from now on: a change means a script run started or ended.
_WATCH_RUNS = """() => {
  const app = document.querySelector('[data-testid="stApp"]');
  window.__scriptStateChanges = 0;
  if (window.__scriptStateWatch) window.__scriptStateWatch.disconnect();
  window.__scriptStateWatch = new MutationObserver((records) => { window.__scriptStateChanges += records.length; });
  window.__scriptStateWatch.observe(app, {attributes: true, attributeFilter: ['data-test-script-state']});
}"""


@contextmanager
def one_run(page: Page, start_ms: int = 3000) -> Iterator[None]:
    """Wrap an interaction that reruns the script; return once that run has finished.

    Unlike `settle`, this does not guess how long the server takes to start the run: it watches
    for the run to start (up to `start_ms`: an interaction that changes nothing starts none).
    """
    page.evaluate(_WATCH_RUNS)
    yield
    try:
        page.wait_for_function("() => window.__scriptStateChanges > 0", timeout=start_ms)
    except PlaywrightTimeoutError:
        pass
    page.locator(IDLE).wait_for()


def select(page: Page, label: str, option: str, attempts: int = 3) -> None:
    """Pick `option` in the selectbox labelled `label`.

    A script run that finishes while the list is open can redraw the box and close the list, so
    the list is opened again (up to `attempts` times) when the option does not show or goes away
    before it is clicked.
    """
    box = page.get_by_test_id("stSelectbox").filter(has_text=label)
    choice = page.get_by_role("option", name=option, exact=True)
    for attempt in range(attempts):
        page.locator(IDLE).wait_for()
        box.click()
        try:
            with one_run(page):
                choice.click(timeout=5000)
            return
        except PlaywrightTimeoutError:
            if attempt == attempts - 1:
                listed = [o.inner_text() for o in page.get_by_role("option").all()]
                raise AssertionError(
                    f"{label!r}: no option {option!r} after {attempts} tries; listed: {listed}"
                ) from None
            page.keyboard.press("Escape")


def enter(page: Page, role: str, label: str, value) -> None:
    """Type `value` into the box and apply it. Streamlit's inputs also apply their value when they
    lose the focus: the box is blurred inside the same wait, so a run that this causes cannot land
    on the next interaction (and close a list that it opened)."""
    box = page.get_by_role(role, name=label, exact=True)
    box.fill(str(value))
    with one_run(page):
        box.press("Enter")
        box.blur()


def open_train(page: Page, url: str) -> None:
    page.goto(f"{url}/domain-adaptation")
    expect(page.get_by_role("button", name="Start training")).to_be_visible(timeout=LONG)
    settle(page)


def use_folders(page: Page, folders) -> None:
    """Train from the source folder to the target folder (image-folder domains)."""
    for side, folder in zip(("Source", "Target"), folders):
        select(page, side, "image folder…")
        enter(page, "textbox", f"{side} folder", folder)


def fill_tiny_run(page: Page, folders, *, epochs: int, steps: int, seed: int) -> None:
    """A run of `epochs` x `steps` on the folders with the DANN paper's (small, fast) network."""
    use_folders(page, folders)
    enter(page, "spinbutton", "Epochs", epochs)
    enter(page, "spinbutton", "Seed", seed)
    page.get_by_text("Advanced: shorter epochs").click()
    enter(page, "spinbutton", "Steps per epoch (0: one pass over the larger training set)", steps)
    enter(page, "spinbutton", "Snapshot items per domain (points on the map)", 50)
    select(page, "Network", "the DANN paper's (3×28×28 input)")
    expect(page.get_by_text(f"{epochs} epochs of {steps} steps")).to_be_visible()


MAP_TITLE = re.compile(r"epoch \d+$")  # a map's title ends with its epoch: "t-SNE · dann · epoch 2"


def map_title(page: Page):
    """The title of the (first) feature map on the page."""
    return page.locator('[data-testid="stPlotlyChart"] .gtitle').filter(has_text=MAP_TITLE).first


def click_map_point(page: Page, trace: int = 0, index: int = 0) -> None:
    """Click point `index` of trace `trace` (0: source, 1: target, coloured by domain) of Explore's map."""
    point = page.locator(".st-key-map .scatterlayer .trace").nth(trace).locator(".points path").nth(index)
    point.scroll_into_view_if_needed()
    box = point.bounding_box()
    page.mouse.click(box["x"] + box["width"] / 2, box["y"] + box["height"] / 2)
    settle(page)
