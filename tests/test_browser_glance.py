"""Chapters on the episode page in real headless Chromium: a click on a chapter, in the list or on the bar under the
player, seeks the player to it (no page load)."""

from __future__ import annotations

import pytest
from fixtures_browser import CHROMIUM, shot
from test_browser import RECORD_SEEKS, _seeks

from fonoteca.archive import Archive, Chapter, ChapterSource

pytestmark = [
    pytest.mark.browser,
    pytest.mark.skipif(not CHROMIUM.exists(), reason="needs Debian's chromium (`make test` installs it as root)"),
]


def test_clicking_a_chapter_seeks_the_player_there(page, live_server, settings) -> None:
    base, ids = live_server
    with Archive(settings.db_path) as archive:
        archive.overviews.save_publisher_chapters(ids["jfk"], [
            Chapter(0.0, "My fellow Americans", source=ChapterSource.PUBLISHER),
            Chapter(3.2, "Ask not", source=ChapterSource.PUBLISHER),
            Chapter(7.6, "Ask what you can do", source=ChapterSource.PUBLISHER),
        ])  # fmt: skip
    page.add_init_script(RECORD_SEEKS)
    page.goto(f"{base}/episode/{ids['jfk']}")
    assert page.locator(".chapters li").count() == 3
    assert page.locator(".chapter-bar a").count() == 3
    url = page.url
    page.click(".chapters a:has-text('Ask not')")
    assert _seeks(page, 1) == [pytest.approx(3.2, abs=0.05)]
    page.click(".chapter-bar a >> nth=2")
    assert _seeks(page, 2) == [pytest.approx(3.2, abs=0.05), pytest.approx(7.6, abs=0.05)]
    assert page.url == url  # the player moved; the page did not reload
    shot(page, "episode-chapters")
