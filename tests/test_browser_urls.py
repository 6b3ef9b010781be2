"""A view sent as a link opens the same view: the real dashboard in headless Chromium.

Picks a display, a bucket and the stacked mode on the timeline of the demo database, takes
the address the browser shows, opens it in a new tab and finds the same selection and
chart; a link with nonsense in it opens the defaults without an error.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from pipeline.demo import build_demo
from tests.browser import chromium, needs_chromium, new_page
from tests.dashboard_server import serve_dashboard

pytestmark = needs_chromium


@pytest.fixture()
def demo_url(tmp_path: Path) -> Iterator[str]:
    db = tmp_path / "reactions.duckdb"
    build_demo(db)
    with serve_dashboard(db, tmp_path) as url:
        yield url


def test_a_timeline_link_reopens_the_same_view(demo_url: str) -> None:
    from playwright.sync_api import expect

    with chromium() as browser:
        page = new_page(browser, 1600)
        page.goto(f"{demo_url}/timeline")
        expect(page.get_by_role("heading", name="Reaction timeline")).to_be_visible()
        page.get_by_role("combobox", name="Stimulus").click()
        page.get_by_role("option", name="Window display (display)").click()
        expect(page.get_by_role("combobox", name="Bucket size")).to_be_visible()
        page.wait_for_url("**stimulus=Window*")
        page.get_by_role("combobox", name="Bucket size").click()
        page.get_by_role("option", name="1 day").click()
        page.wait_for_url("**bucket=1*day*")
        page.get_by_text("Stacked share of faces").click()
        page.wait_for_url("**expressions=*")
        shared = page.url

        tab = new_page(browser, 1600)
        tab.goto(shared)
        expect(tab.get_by_role("heading", name="Reaction timeline")).to_be_visible()
        chart = tab.locator(".js-plotly-plot").first
        expect(chart.locator(".gtitle")).to_contain_text("Window display")
        expect(chart).to_contain_text("Time (UTC)")
        expect(tab.get_by_role("combobox", name="Bucket size")).to_have_value("1 day")
        expect(tab.get_by_role("radio", name="Stacked share of faces")).to_be_checked()
        assert "/timeline?" in shared and "campaign=" not in shared  # defaults stay out

        tab.goto(f"{demo_url}/timeline?stimulus=Nothing&bucket=99&dates=never")
        expect(tab.get_by_role("heading", name="Reaction timeline")).to_be_visible()
        expect(tab.locator(".js-plotly-plot").first.locator(".gtitle")).to_contain_text("Ad A")
        expect(tab.get_by_test_id("stException")).to_have_count(0)
