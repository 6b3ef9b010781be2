"""The real dashboard in headless Chromium: timeline, upload, processing, the new chart.

Starts ``python -m streamlit run dashboard/app.py`` on a copy of the analysed fixture
database, drives it with Playwright through Debian's Chromium (never a downloaded browser),
uploads a generated 4 s clip of two viewers, waits for the detached job to finish and opens
the new stimulus's timeline. The screenshot goes to tests/artifacts/ and its path is printed.
"""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.browser import chromium, needs_chromium, new_page
from tests.dashboard_server import serve_dashboard

ARTIFACTS = Path(__file__).resolve().parent / "artifacts"

pytestmark = needs_chromium


@pytest.fixture()
def dashboard_url(writable_db: Path, tmp_path: Path) -> Iterator[str]:
    """The dashboard served on a free port over a private copy of the fixture database."""
    # The uploaded clip shows 2 people: a crowd of 2 lets its timeline be drawn.
    with serve_dashboard(writable_db, tmp_path, EMOTION_MIN_CROWD="2") as url:
        yield url


def test_upload_footage_and_see_its_timeline_in_chromium(
    dashboard_url: str, ferplus_valid, tmp_path: Path
) -> None:
    from playwright.sync_api import expect

    from tests.media import planted_clip

    clip = planted_clip(
        tmp_path / "e2e_viewers.mp4",
        ferplus_valid,
        people=2,
        segments=[(0.0, 2.0, "happiness"), (2.0, 4.0, "surprise")],
        seed=21,
    )
    with chromium() as browser:
        page = new_page(browser, 1700)

        page.goto(f"{dashboard_url}/timeline")
        expect(page.get_by_role("heading", name="Reaction timeline")).to_be_visible()
        chart = page.locator(".js-plotly-plot").first
        expect(chart).to_be_visible()
        expect(chart.locator(".gtitle")).to_contain_text("Spring ad")
        expect(chart.locator(".annotation-text", has_text="intro")).to_have_count(1)

        page.get_by_role("link", name="Upload footage").click()
        expect(page.get_by_role("heading", name="Upload footage")).to_be_visible()
        page.locator("input[type=file]").set_input_files(str(clip.path))
        expect(page.get_by_text("e2e_viewers.mp4")).to_be_visible()
        page.get_by_role("combobox", name="Stimulus").click()
        page.get_by_role("option", name="New stimulus...").click()
        name = page.get_by_label("New stimulus name")
        name.fill("E2E ad")
        name.press("Enter")
        start = page.get_by_role("button", name="Analyse footage")
        expect(start).to_be_enabled()
        start.click()

        open_timeline = page.get_by_role("button", name="Open the timeline of E2E ad")
        expect(open_timeline).to_be_visible(timeout=150_000)
        expect(page.get_by_text("done:")).to_be_visible()
        open_timeline.click()

        expect(page.get_by_role("heading", name="Reaction timeline")).to_be_visible()
        chart = page.locator(".js-plotly-plot").first
        expect(chart.locator(".gtitle")).to_contain_text("E2E ad")
        expect(chart.locator(".scatterlayer .trace").first).to_be_visible()
        expect(page.get_by_test_id("stAlert")).to_have_count(0)  # no error boxes
        page.wait_for_timeout(1500)  # let plotly finish its transition before the shot
        shot = tmp_path / "timeline_after_upload.png"
        page.screenshot(path=str(shot), full_page=True)
    ARTIFACTS.mkdir(exist_ok=True)
    kept = ARTIFACTS / shot.name
    shutil.copy(shot, kept)
    print(f"\nscreenshot: {kept} (also {shot})")
    assert shot.stat().st_size > 20_000
