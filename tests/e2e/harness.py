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

ROOT = Path(__file__).resolve().parents[2]
CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                 "--disable-background-networking", "--disable-component-update", "--disable-sync"]  # fmt: skip
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
def streamlit_server(env: Mapping[str, str], log: Path, timeout: float = 90.0, port: int | None = None) -> Iterator[str]:
    """Start `streamlit run app.py` on `port` (default: a free one) with `env` added; yield its URL once healthy."""
    port = port or free_port()
    url = f"http://127.0.0.1:{port}"
    command = [sys.executable, "-m", "streamlit", "run", "app.py", "--server.headless", "true",
               "--server.port", str(port), "--browser.gatherUsageStats", "false"]  # fmt: skip
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


def settle(page: Page) -> None:
    """Wait for the script run that the last interaction started to finish."""
    page.wait_for_timeout(150)
    page.locator('[data-testid="stApp"][data-test-script-state="notRunning"]').wait_for()


def select(page: Page, label: str, option: str) -> None:
    page.get_by_test_id("stSelectbox").filter(has_text=label).click()
    page.get_by_role("option", name=option, exact=True).click()
    settle(page)


def enter(page: Page, role: str, label: str, value) -> None:
    box = page.get_by_role(role, name=label, exact=True)
    box.fill(str(value))
    box.press("Enter")
    settle(page)


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
