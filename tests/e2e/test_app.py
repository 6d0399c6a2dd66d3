"""The app frame in a real browser: a link into a page works as the first visit to a fresh server."""

from __future__ import annotations

from playwright.sync_api import expect

from tests.e2e.harness import LONG, streamlit_server


def test_a_fresh_server_opens_a_presentation_link_without_a_page_not_found_dialog(browser, e2e_root, app_env, shot):
    # A lecturer's bookmark, opened right after `streamlit run`: no session has run app.py yet.
    with streamlit_server(app_env, e2e_root / "fresh-server.log") as url:
        context = browser.new_context(viewport={"width": 1400, "height": 1000})
        page = context.new_page()
        page.goto(f"{url}/domain-adaptation?present=1")
        toggle = page.get_by_role("switch", name="Presentation view")
        expect(toggle).to_be_checked(timeout=LONG)
        expect(page.get_by_role("button", name="Start training")).to_be_attached()
        expect(page.get_by_test_id("stSidebar")).to_be_hidden()  # the presentation view folds it away
        shot(page, "presentation-link")
        expect(page.get_by_text("Page not found")).to_have_count(0)
        assert page.url.endswith("/domain-adaptation?present=1")
        context.close()
