"""Real headless Chromium (Debian's /usr/bin/chromium, driven by Playwright; no browser download) for the browser
tests, and their screenshots under test-artifacts/ at the repository root."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

CHROMIUM = Path("/usr/bin/chromium")
ARTIFACTS = Path(__file__).resolve().parent.parent / "test-artifacts"


@pytest.fixture(scope="module")
def browser() -> Iterator[object]:
    from playwright.sync_api import sync_playwright

    with sync_playwright() as pw:
        browser = pw.chromium.launch(
            executable_path=str(CHROMIUM),
            args=["--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update",
                  "--disable-sync", "--no-first-run", "--disable-quic", "--autoplay-policy=no-user-gesture-required"],
        )  # fmt: skip
        yield browser
        browser.close()


@pytest.fixture
def page(browser) -> Iterator[object]:
    # bypass_csp lets Playwright evaluate its wait conditions; it also means test_browser's script test proves the
    # sanitiser alone keeps feed scripts out (the CSP header is a second layer, checked in test_web.py).
    context = browser.new_context(viewport={"width": 1200, "height": 900}, bypass_csp=True)
    page = context.new_page()
    yield page
    context.close()


def shot(page, name: str) -> None:
    ARTIFACTS.mkdir(exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / f"{name}.png"), full_page=True)
