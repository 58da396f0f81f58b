"""The public archive in real headless Chromium: a visitor reads it with no sign-in, and the owner signs in and adds a
folder of the server as a show from the owner's page, which this server transcribes with the real Whisper model."""

from __future__ import annotations

import shutil
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from fixtures_browser import CHROMIUM, shot
from fixtures_web import DEMO_MEDIA, fonoteca_serve
from playwright.sync_api import Error as PlaywrightError
from test_public import TOKEN, build_public_archive

pytestmark = [
    pytest.mark.browser,
    pytest.mark.skipif(not CHROMIUM.exists(), reason="needs Debian's chromium (`make test` installs it as root)"),
]


@pytest.fixture
def public_site(settings, tmp_path: Path) -> Iterator[tuple[str, dict[str, str]]]:
    ids = build_public_archive(settings, tmp_path / "grabaciones")
    with fonoteca_serve(settings, public="1", token=TOKEN, embeddings="none") as base:
        yield base, ids


def watch_console(page) -> list[str]:
    """Every console error and uncaught exception of the page, from now on."""
    errors: list[str] = []
    page.on(
        "console",
        lambda message: message.type == "error" and errors.append(f"{message.text} {message.location.get('url')}"),
    )
    page.on("pageerror", lambda error: errors.append(str(error)))
    return errors


def test_a_visitor_reads_the_front_page_and_an_episode_with_no_sign_in(page, public_site) -> None:
    base, ids = public_site
    errors = watch_console(page)
    page.goto(f"{base}/?word=ask")
    header = page.get_by_test_id("stats-header")
    assert header.inner_text().startswith("Transcribed podcasts: 4 · Time transcribed:")
    page.wait_for_selector("#trend-chart canvas", state="attached")  # the graph, drawn for the word in the link
    assert page.locator('input[name="token"]').count() == 0 and page.locator('a[href="/status"]').count() == 0
    shot(page, "public-home")
    page.goto(f"{base}/episode/{ids['stream']}?t=20")
    assert "La inteligencia artificial" in page.locator("#transcript").inner_text()
    assert page.locator("audio#player").get_attribute("src") == "https://example.org/ep2.mp3"
    assert page.locator(".analyze-form").count() == 0 and page.locator('a[href^="/chat"]').count() == 0
    shot(page, "public-episode")
    page.goto(f"{base}/search?q=streaming")
    assert page.locator(".hit, .result, li").count() > 0
    # the player's remote URL does not exist here: a failed media load is the network's, not the page's
    assert [e for e in errors if not e.endswith(("/favicon.ico", "ep2.mp3"))] == []


def test_the_owner_adds_a_folder_show_from_the_owners_page_and_sees_it_transcribed(
    page, public_site, tmp_path: Path
) -> None:
    base, _ = public_site
    folder = tmp_path / "nuevo-programa"
    folder.mkdir()
    shutil.copyfile(DEMO_MEDIA / "jfk.flac", folder / "discurso.flac")
    errors = watch_console(page)
    page.goto(f"{base}/owner")
    page.fill('input[name="token"]', TOKEN)  # the owner's page asks for the token first
    page.click('form.login button[type="submit"]')
    page.wait_for_url(f"{base}/owner")
    page.fill('[data-testid="add-show"] input[name="source"]', str(folder))
    page.click('[data-testid="add-show"] button[type="submit"]')
    page.wait_for_url(f"{base}/owner#tasks")
    deadline = time.monotonic() + 300
    state = "waiting"
    while state in ("waiting", "running"):  # the page reloads itself while the task runs: nothing here reloads it
        assert time.monotonic() < deadline, "the show was not transcribed in 5 minutes"
        page.wait_for_timeout(1000)
        try:
            state = page.locator(".task").first.get_attribute("data-state", timeout=15_000)
        except PlaywrightError:  # read while the page was being replaced by its reload: read it again
            continue
    shot(page, "owner-added-a-folder")
    task = page.locator(".task").first.inner_text()
    assert state == "done", task
    assert "nuevo-programa (nuevo-programa)" in task and "1 new, 1 transcribed, 0 imported" in task
    page.goto(f"{base}/show/nuevo-programa")
    page.click("text=discurso")
    assert "country" in page.locator("#transcript").inner_text().lower()
    signing_in = f"status of 401 (Unauthorized) {base}/owner"  # the sign-in form answers 401, as it must
    assert [e for e in errors if not e.endswith(("/favicon.ico", signing_in))] == []
