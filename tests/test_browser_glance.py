"""Chapters on the episode page in real headless Chromium: a click on a chapter, in the list or on the bar under the
player, or on a citation of a written summary, seeks the player to it (no page load)."""

from __future__ import annotations

import pytest
from fixtures_browser import CHROMIUM, shot
from test_browser import RECORD_SEEKS, _seeks

from fonoteca.archive import Analysis, Archive, Chapter, ChapterSource, KeyMoment
from fonoteca.llm.analyze import prompt_version
from fonoteca.llm.summary import Sources, check_citations

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


def test_a_citation_of_a_written_summary_seeks_the_player_to_what_it_cites(page, live_server, settings) -> None:
    """A capable model's summary as the analyser stores it: the answer here is written by hand, so that what it cites
    (a key moment, a chapter by its time, and a key moment it was never given) is known."""
    base, ids = live_server
    given = Sources(
        ids["jfk"],
        [Chapter(0.0, "My fellow Americans", source=ChapterSource.PUBLISHER),
         Chapter(7.6, "Ask what you can do", source=ChapterSource.PUBLISHER)],
        [KeyMoment(3.2, 7.0, "ask not what your country can do for you")],
    )  # fmt: skip
    checked = check_citations("Kennedy asks for service [1] and turns the question around [0:07] [9].", given, 30)
    with Archive(settings.db_path) as archive:
        episode = archive.get_episode(ids["jfk"])
        archive.save_analysis(
            Analysis(episode.id, "summary", "words=30;focus=;lang=en", "a-capable-model", prompt_version("summary"),
                     episode.transcript_rev, checked.result(words=30, focus=None))
        )  # fmt: skip
    page.add_init_script(RECORD_SEEKS)
    page.goto(f"{base}/episode/{ids['jfk']}")
    assert page.locator(".analysis dd.summary a.cite").all_inner_texts() == ["[1]", "[0:07]"]
    assert "[9]" not in page.inner_text(".analysis dd.summary"), "a citation of nothing given is not shown"
    assert page.locator(".key-moments-note").count() == 0, "a written summary is shown, not the note about its absence"
    url = page.url
    page.click(".analysis a.cite >> nth=0")
    assert _seeks(page, 1) == [pytest.approx(3.2, abs=0.05)]
    page.click(".analysis a.cite >> nth=1")
    assert _seeks(page, 2) == [pytest.approx(3.2, abs=0.05), pytest.approx(7.6, abs=0.05)]
    assert page.url == url
    shot(page, "episode-summary-citations")
