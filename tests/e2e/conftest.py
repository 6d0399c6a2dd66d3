"""A `streamlit run app.py` server on a temporary run store and Debian's Chromium, for the session.

The tests skip only when /usr/bin/chromium is missing (CI installs it: see .ci/run). Screenshots
of every step go to tests/e2e/artifacts/ (ignored by git).
"""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.e2e.harness import CHROMIUM, QUIET_THREADS, launch_chromium, streamlit_server
from tests.synthetic import write_image_folders

ARTIFACTS = Path(__file__).resolve().parent / "artifacts"


@pytest.fixture(scope="session")
def e2e_root(tmp_path_factory) -> Path:
    if not CHROMIUM.exists():
        pytest.skip(f"browser tests need Debian's Chromium at {CHROMIUM} (apt-get install -y chromium)")
    return tmp_path_factory.mktemp("e2e")


@pytest.fixture(scope="session")
def folders(e2e_root) -> tuple[Path, Path]:
    """Tiny labelled source and target image folders (200 images each, 10 classes)."""
    return write_image_folders(e2e_root / "data")


@pytest.fixture(scope="session")
def store_root(e2e_root) -> Path:
    return e2e_root / "runs"


@pytest.fixture(scope="session")
def browser(e2e_root):
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        chromium = launch_chromium(playwright)
        yield chromium
        chromium.close()


@pytest.fixture(scope="session")
def app_env(e2e_root, store_root) -> dict[str, str]:
    """The environment of the app's server in these tests: a temporary store and cache, 2 jobs at most,
    the lifelong test trains on the synthetic digits, not MNIST."""
    return {
        **QUIET_THREADS,
        "EXPLORER_CHECKPOINTS_DIR": str(store_root),
        "EXPLORER_CACHE_DIR": str(e2e_root / "cache"),
        "EXPLORER_MAX_JOBS": "2",
        "EXPLORER_FOLDER_ROOTS": str(e2e_root),  # the tests' image folders
    }


@pytest.fixture(scope="session")
def app_url(e2e_root, app_env, browser) -> str:
    with streamlit_server(app_env, e2e_root / "streamlit.log") as url:
        yield url


@pytest.fixture
def page(browser, app_url):
    context = browser.new_context(viewport={"width": 1400, "height": 1400})
    page = context.new_page()
    page.set_default_timeout(30_000)
    yield page
    context.close()


@pytest.fixture
def shot(request):
    """shot(page, step): save a screenshot as artifacts/<test>-<n>-<step>.png."""
    ARTIFACTS.mkdir(exist_ok=True)
    count = iter(range(1, 100))

    def save(page, step: str) -> Path:
        path = ARTIFACTS / f"{request.node.name}-{next(count)}-{step}.png"
        page.screenshot(path=path)
        return path

    return save
