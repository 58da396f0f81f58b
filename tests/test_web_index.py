"""The web server and the search index: a GET never indexes, and a running `fonoteca serve` brings new episodes into
search by itself, answering all the while, also while another process holds the index writer or rebuilds the index."""

from __future__ import annotations

import json
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager

import httpx
from fastapi.testclient import TestClient
from fixtures_web import fonoteca_serve

from fonoteca.archive import Archive, Segment
from fonoteca.settings import Settings
from fonoteca.web.app import QuietArchive, create_app

# Another process that takes the index writer and keeps it until its stdin closes (as a long `fonoteca sync` does).
HOLD_THE_WRITER = """
import sys
from fonoteca.app import Fonoteca
from fonoteca.settings import Settings
writer = Fonoteca(Settings.from_env(environ={}, home=sys.argv[1])).index.writer()
assert writer is not None, "the writer was not free"
print("holding", flush=True)
sys.stdin.read()
"""


def _add_episode(settings: Settings, show: str, guid: str, line: str) -> str:
    """A finished episode written by this process through the Archive API, as a `fonoteca sync` elsewhere would."""
    with Archive(settings.db_path) as archive:
        episode, _ = archive.upsert_episode(
            archive.get_show(show), guid=guid, title=guid, kind="audio", published="2024-06-01T00:00:00Z",
            duration=60.0, status="done", source="sidecar",
        )  # fmt: skip
        archive.append_segments(episode.id, [Segment(0.0, 5.0, line)])
        return episode.id


def _waiting_to_be_indexed(settings: Settings) -> set[str]:
    """Finished episodes this machine's index does not hold (it records what it holds in held.json)."""
    held_file = settings.index_dir / "held.json"
    held = json.loads(held_file.read_text()) if held_file.exists() else {}
    with Archive(settings.db_path) as archive:
        return {episode_id for episode_id, rev in archive.finished_revisions().items() if held.get(episode_id) != rev}


@contextmanager
def _writer_held_elsewhere(settings: Settings) -> Iterator[None]:
    holder = subprocess.Popen(
        [sys.executable, "-c", HOLD_THE_WRITER, str(settings.home)], stdin=subprocess.PIPE, stdout=subprocess.PIPE
    )
    try:
        assert holder.stdout is not None and holder.stdout.readline() == b"holding\n"
        yield
    finally:
        holder.communicate(timeout=30)  # closes its stdin: it lets the writer go and ends
    assert holder.returncode == 0


def _total(http: httpx.Client, q: str) -> int:
    started = time.monotonic()
    response = http.get("/api/search", params={"q": q})
    assert response.status_code == 200, response.text
    assert time.monotonic() - started < 2.0, "a search waited for the indexer"
    return response.json()["total"]


def _until(condition: Callable[[], bool], seconds: float) -> bool:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if condition():
            return True
        time.sleep(0.1)
    return condition()


def test_a_get_never_indexes(settings: Settings, web_archive: dict[str, str]) -> None:
    new = _add_episode(settings, web_archive["show"], "zarzuela", "Hablamos de zarzuela y de streaming.")
    client = TestClient(create_app(settings))  # not entered: no lifespan, so no background indexer either
    for path in ("/api/search?q=zarzuela", "/search?q=zarzuela", "/api/trend?term=zarzuela", "/", f"/episode/{new}"):
        assert client.get(path).status_code == 200, path
    assert client.get("/api/search", params={"q": "zarzuela"}).json()["total"] == 0  # the index as it was
    assert _waiting_to_be_indexed(settings) == {new}


def test_a_running_serve_indexes_new_episodes_by_itself_and_answers_while_others_index(
    settings: Settings, web_archive: dict[str, str]
) -> None:
    # It asks search again and again until the new episodes come in: no rate limit (tests/test_web_public_archive.py).
    with fonoteca_serve(settings, rate_search="none") as base, httpx.Client(base_url=base, timeout=10) as http:
        assert _total(http, "country") == 2
        first = _add_episode(settings, web_archive["show"], "zarzuela", "Hablamos de zarzuela.")
        # Nobody searches for it: the server's own indexer takes it in.
        assert _until(lambda: not _waiting_to_be_indexed(settings), 10), "the server did not index the new episode"
        assert _total(http, "zarzuela") == 1

        with _writer_held_elsewhere(settings):
            second = _add_episode(settings, web_archive["show"], "fandango", "Y después, fandango.")
            deadline = time.monotonic() + 3
            while time.monotonic() < deadline:  # searches answer at once from the index as it is
                assert _total(http, "country") == 2 and _total(http, "fandango") == 0
            assert _waiting_to_be_indexed(settings) == {second}
        assert _until(lambda: _total(http, "fandango") == 1, 10), "the server did not index after the writer came free"

        reindex = subprocess.Popen(
            [sys.executable, "-m", "fonoteca", "--home", str(settings.home), "reindex"],
            stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
        )  # fmt: skip
        while reindex.poll() is None:
            http.get("/api/search", params={"q": "country"}).raise_for_status()
        assert reindex.returncode == 0, reindex.stdout.read() if reindex.stdout else ""
        assert _until(lambda: _total(http, "country") == 2 and _total(http, "zarzuela") == 1, 10)
        assert {hit["episode_id"] for hit in http.get("/api/search", params={"q": "zarzuela"}).json()["hits"]} == {
            first
        }


def test_a_background_round_is_due_again_only_once_the_archive_has_changed(
    settings: Settings, web_archive: dict[str, str]
) -> None:
    with Archive(settings.db_path) as archive:
        quiet = QuietArchive(archive)
        assert quiet.changed()  # the first round
        quiet.nothing_left()
        assert not quiet.changed() and not quiet.changed()
        _add_episode(settings, web_archive["show"], "nueva", "Una línea nueva.")  # another connection writes
        assert quiet.changed()
        quiet.forget()  # the round failed
        quiet.nothing_left()
        assert quiet.changed()
        quiet.nothing_left()
        assert not quiet.changed()
