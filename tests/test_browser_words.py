"""A line fixed from the episode page in real headless Chromium, as the owner: ✎, type, Enter; the history lists the
edit and Revert restores the line (issue 28)."""

from __future__ import annotations

import pytest
from fixtures_browser import CHROMIUM, shot
from fixtures_web import build_web_archive, serve_app

from fonoteca.app import Fonoteca

pytestmark = [
    pytest.mark.browser,
    pytest.mark.skipif(not CHROMIUM.exists(), reason="needs Debian's chromium (`make test` installs it as root)"),
]


def test_the_owner_fixes_a_line_on_the_page_sees_it_in_the_history_and_reverts_it(page, settings) -> None:
    settings = settings.replace(embeddings="none")
    ids = build_web_archive(settings)
    second = ".transcript .line:nth-child(2)"
    with serve_app(settings) as base:
        page.goto(f"{base}/episode/{ids['jfk']}")
        assert page.inner_text(f"{second} .text") == "ask not what your country can do for you,"
        assert page.inner_text("#line-edits").count("No line fixed yet") == 1
        page.click(f"{second} .edit-line")
        page.fill(f"{second} textarea", "ask not what your nation can do for you,")
        with page.expect_navigation():
            page.press(f"{second} textarea", "Enter")
        assert page.inner_text(f"{second} .text") == "ask not what your nation can do for you,"
        row = page.locator("#line-edits tr.active")
        assert row.count() == 1
        assert row.locator(".before").inner_text() == "ask not what your country can do for you,"
        assert row.locator(".after").inner_text() == "ask not what your nation can do for you,"
        assert "owner (web, this machine)" in row.inner_text() and "0:03" in row.inner_text()
        shot(page, "episode-line-fixed")
        with Fonoteca(settings) as fonoteca:
            assert [h.start for h in fonoteca.search("nation").hits] == [3.2]

        with page.expect_navigation():
            row.locator("button", has_text="Revert").click()
        assert page.inner_text(f"{second} .text") == "ask not what your country can do for you,"
        assert page.locator("#line-edits tr.reverted").count() == 1
        assert "reverted" in page.inner_text("#line-edits tr.reverted")
        shot(page, "episode-line-reverted")
        with Fonoteca(settings) as fonoteca:
            assert fonoteca.search("nation").total == 0
