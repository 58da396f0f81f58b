"""The web archive in real headless Chromium (Debian's /usr/bin/chromium, driven by Playwright; no browser download).

Screenshots of every page land in test-artifacts/ at the repository root.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

CHROMIUM = Path("/usr/bin/chromium")
ARTIFACTS = Path(__file__).resolve().parent.parent / "test-artifacts"

pytestmark = [
    pytest.mark.browser,
    pytest.mark.skipif(not CHROMIUM.exists(), reason="needs Debian's chromium (`make test` installs it as root)"),
]


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
    # bypass_csp lets Playwright evaluate its wait conditions; it also means the script test below proves the
    # sanitiser alone keeps feed scripts out (the CSP header is a second layer, checked in test_web.py).
    context = browser.new_context(viewport={"width": 1200, "height": 900}, bypass_csp=True)
    page = context.new_page()
    yield page
    context.close()


def _shot(page, name: str) -> None:
    ARTIFACTS.mkdir(exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / f"{name}.png"), full_page=True)


def test_typing_a_word_draws_its_counts_over_the_history(page, live_server) -> None:
    base, ids = live_server
    page.goto(f"{base}/")
    _shot(page, "home")
    page.goto(f"{base}/show/{ids['show']}")
    page.fill("#trend-word", "IA, streaming")
    page.wait_for_function("window.fonotecaTrend && window.fonotecaTrend['streaming']")
    counts = page.evaluate("window.fonotecaTrend")
    assert counts == {"IA": [0, 2, 0], "streaming": [1, 2, 1]}
    assert page.locator("#trend-chart canvas").count() == 1
    assert "“IA”: 2" in page.inner_text("#trend-summary")
    _shot(page, "show")


def test_clicking_a_transcript_line_seeks_the_player_there(page, live_server) -> None:
    base, ids = live_server
    page.goto(f"{base}/episode/{ids['jfk']}")
    page.wait_for_function("document.getElementById('player').readyState >= 1")
    page.click(".transcript .line:nth-child(2) .text")
    page.wait_for_function("Math.abs(document.getElementById('player').currentTime - 3.2) < 0.5")
    page.click(".transcript .line:nth-child(3) .text")
    page.wait_for_function("document.getElementById('player').currentTime >= 7.5")
    _shot(page, "episode")


def test_deep_link_starts_the_player_at_that_second(page, live_server) -> None:
    base, ids = live_server
    page.goto(f"{base}/episode/{ids['jfk']}?t=7")
    page.wait_for_function("document.getElementById('player').currentTime >= 6.9")


def test_script_in_show_notes_does_not_run(page, live_server) -> None:
    base, ids = live_server
    page.goto(f"{base}/episode/{ids['post']}")
    page.click("details.notes summary")
    page.wait_for_timeout(300)
    assert page.evaluate("typeof window.__pwned") == "undefined"
    assert "Notas" in page.inner_text("details.notes")
    _shot(page, "text-episode")


def test_search_page_highlights_matches(page, live_server) -> None:
    base, _ = live_server
    page.goto(f"{base}/search?q=country")
    assert page.locator(".snippet b").first.inner_text().lower() == "country"
    _shot(page, "search")
