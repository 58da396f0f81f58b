"""The web archive in real headless Chromium (Debian's /usr/bin/chromium, driven by Playwright; no browser download).

Screenshots of every page land in test-artifacts/ at the repository root (fixtures_browser).
"""

from __future__ import annotations

import pytest
from fixtures_browser import CHROMIUM, shot

pytestmark = [
    pytest.mark.browser,
    pytest.mark.skipif(not CHROMIUM.exists(), reason="needs Debian's chromium (`make test` installs it as root)"),
]

# The second each seek of the player lands on, read at its `seeked` event, before playback moves the time on; listened
# for from the page's start, so the seek a page makes as it loads (?t=) is recorded too.
RECORD_SEEKS = "window.seeks = []; addEventListener('seeked', e => window.seeks.push(e.target.currentTime), true);"


def _seeks(page, count: int) -> list[float]:
    """The player's currentTime after each of its first `count` seeks."""
    page.wait_for_function(f"window.seeks.length >= {count}")
    return page.evaluate("window.seeks")


def test_typing_a_word_draws_its_counts_over_the_history(page, live_server) -> None:
    base, ids = live_server
    page.goto(f"{base}/")
    shot(page, "home")
    page.goto(f"{base}/show/{ids['show']}")
    page.fill("#trend-word", "IA, streaming")
    page.wait_for_function("window.fonotecaTrend && window.fonotecaTrend['streaming']")
    counts = page.evaluate("window.fonotecaTrend")
    assert counts == {"IA": [0, 2, 0], "streaming": [1, 2, 1]}
    assert page.locator("#trend-chart canvas").count() == 1
    assert "“IA”: 2" in page.inner_text("#trend-summary")
    shot(page, "show")


def test_clicking_a_transcript_line_seeks_the_player_there(page, live_server) -> None:
    base, ids = live_server
    page.add_init_script(RECORD_SEEKS)
    page.goto(f"{base}/episode/{ids['jfk']}")
    page.wait_for_function("document.getElementById('player').readyState >= 1")
    assert page.evaluate("window.seeks") == []  # no ?t=: the player stays at the start until a line is clicked
    page.click(".transcript .line:nth-child(2) .text")
    assert _seeks(page, 1) == [pytest.approx(3.2, abs=0.05)]  # the second line starts at 3.2 s
    page.click(".transcript .line:nth-child(3) .text")
    assert _seeks(page, 2) == [pytest.approx(3.2, abs=0.05), pytest.approx(7.6, abs=0.05)]
    shot(page, "episode")


def test_deep_link_starts_the_player_at_that_second(page, live_server) -> None:
    base, ids = live_server
    page.add_init_script(RECORD_SEEKS)
    page.goto(f"{base}/episode/{ids['jfk']}?t=7")
    assert _seeks(page, 1) == [pytest.approx(7.0, abs=0.05)]


def test_script_in_show_notes_does_not_run(page, live_server) -> None:
    base, ids = live_server
    page.goto(f"{base}/episode/{ids['post']}")
    page.click("details.notes summary")
    page.wait_for_timeout(300)
    assert page.evaluate("typeof window.__pwned") == "undefined"
    assert "Notas" in page.inner_text("details.notes")
    shot(page, "text-episode")


def test_search_page_highlights_matches(page, live_server) -> None:
    base, _ = live_server
    page.goto(f"{base}/search?q=country")
    assert page.locator(".snippet b").first.inner_text().lower() == "country"
    shot(page, "search")
