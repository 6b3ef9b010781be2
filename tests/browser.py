"""Debian's headless Chromium driven by Playwright for the browser tests (never a
downloaded browser): one launch and page setup so every browser test runs the same way."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING

import pytest

if TYPE_CHECKING:
    from playwright.sync_api import Browser, Page

CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
skip_without_chromium = pytest.mark.skipif(
    not CHROMIUM.is_file(),
    reason="/usr/bin/chromium missing: apt-get install chromium (.ci/run does)",
)
# ``pytestmark`` of a module whose every test drives the browser.
needs_chromium = [pytest.mark.browser, skip_without_chromium]


@contextlib.contextmanager
def chromium() -> Iterator[Browser]:
    """Headless Chromium, closed when the block ends."""
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        try:
            yield browser
        finally:
            browser.close()


# The waits of a page and of its ``expect`` assertions: Playwright's own are 30 s and 5 s,
# and a chart that Streamlit and Plotly draw took longer than 5 s on a slow 2-core AVX2 machine.
WAIT_MS = 60_000


def new_page(browser: Browser, height: int | None = None) -> Page:
    """A tab 1400 px wide (``height`` px tall, else Playwright's default viewport) whose
    waits, its own and those of ``expect`` on it, allow a slow, shared machine 60 s."""
    from playwright.sync_api import expect

    expect.set_options(timeout=WAIT_MS)
    if height is None:
        page = browser.new_page()
    else:
        page = browser.new_page(viewport={"width": 1400, "height": height})
    page.set_default_timeout(WAIT_MS)
    return page
