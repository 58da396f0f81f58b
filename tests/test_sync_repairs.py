"""Syncs that repair what the source got wrong or fixed: unreadable files, corrected enclosures, repeated GUIDs, and
the archive refusing status and column changes that skip its checks."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest
from fixtures_web import DEMO_MEDIA

from fonoteca.app import Fonoteca
from fonoteca.archive import Archive
from fonoteca.events import Event, EventSink, Note, ignore
from fonoteca.pipeline import SyncReport
from fonoteca.settings import Settings

JFK = DEMO_MEDIA / "jfk.flac"
VTT = b"WEBVTT\n\n00:00:00.000 --> 00:00:04.000\nAsk not what your country can do for you.\n"


def _fonoteca(archive: Archive, settings: Settings, events: EventSink = ignore) -> Fonoteca:
    """The stages on this test's archive; keyword search only, so no embedder is loaded."""
    return Fonoteca(settings.replace(embeddings="none"), events=events, archive=archive)


@pytest.fixture
def local(settings: Settings) -> Settings:
    return settings.replace(allow_private_urls=True, download_retries=0, download_timeout=5.0)


def _feed(*items: str) -> bytes:
    return (
        '<?xml version="1.0"?><rss version="2.0" xmlns:podcast="https://podcastindex.org/namespace/1.0">'
        f"<channel><title>Arreglos</title>{''.join(items)}</channel></rss>"
    ).encode()


def _item(guid: str, title: str, enclosure: str, extra: str = "") -> str:
    return (
        f'<item><title>{title}</title><guid isPermaLink="false">{guid}</guid>'
        "<pubDate>Tue, 09 Jan 2024 09:00:00 +0000</pubDate>"
        f'<enclosure url="{enclosure}" type="audio/flac" length="1"/>{extra}</item>'
    )


# -- an unreadable file -------------------------------------------------------------------------------------------


@pytest.fixture
def shared_dir() -> Iterator[Path]:
    """A folder an unprivileged user can reach (pytest's own tmp folders are private to root)."""
    path = Path(tempfile.mkdtemp(prefix="fonoteca-unreadable-"))
    path.chmod(0o755)
    yield path
    shutil.rmtree(path)


def _as_user(home: Path, *args: str) -> subprocess.CompletedProcess[str]:
    command = [sys.executable, "-m", "fonoteca", "--home", str(home), *args]
    if os.geteuid() == 0:
        command = ["setpriv", "--reuid=nobody", "--regid=nogroup", "--clear-groups", *command]
    env = {**os.environ, "HOME": str(home), "FONOTECA_BEAM_SIZE": "1"}  # greedy: the real model, faster
    return subprocess.run(command, capture_output=True, text=True, timeout=300, env=env)


@pytest.mark.slow
def test_an_unreadable_file_is_that_episodes_failure_and_the_folder_and_other_shows_go_on(shared_dir: Path) -> None:
    """A file without read permission (chmod 000), as a user sees it.

    Root reads such a file anyway, so when the tests run as root the commands run as the unprivileged user `nobody`
    (setpriv): the file is then unreadable for real, and hashing it fails with PermissionError as it did for the user
    who reported it."""
    if os.geteuid() == 0 and not shutil.which("setpriv"):
        pytest.skip("running as root without setpriv: no unprivileged user to whom chmod 000 means anything")
    home, folder, other = shared_dir / "home", shared_dir / "grabaciones", shared_dir / "otro"
    for path in (home, folder, other):
        path.mkdir()
    home.chmod(0o777)
    shutil.copy(JFK, folder / "2024-01-10 abierto.flac")
    shutil.copy(JFK, other / "jfk.flac")
    locked = folder / "2024-01-11 cerrado.opus"
    shutil.copy(DEMO_MEDIA / "mls-es.opus", locked)  # other content: the same audio would be the same episode
    locked.chmod(0o000)

    assert _as_user(home, "add", "--no-sync", str(other)).returncode == 0
    added = _as_user(home, "add", "--no-sync", str(folder))
    assert added.returncode == 1 and "Traceback" not in added.stderr, added.stderr
    assert "cerrado.opus cannot be read (Permission denied)" in added.stdout
    synced = _as_user(home, "sync")
    assert synced.returncode == 0, synced.stdout + synced.stderr
    with Archive(home / "fonoteca.db") as archive:
        states = {e.title: (e.status, e.error) for e in archive.list_episodes()}
    assert (states["abierto"][0], states["jfk"][0], states["cerrado"][0]) == ("done", "done", "failed")
    assert "make it readable" in states["cerrado"][1]

    locked.chmod(0o644)
    again = _as_user(home, "sync")
    assert again.returncode == 0 and "1 new, 1 transcribed" in again.stdout, again.stdout + again.stderr
    with Archive(home / "fonoteca.db") as archive:
        opened = [e for e in archive.list_episodes() if e.media_path == str(locked)]
    assert [(e.status, e.guid.startswith("sha256:")) for e in opened] == [("done", True)]  # the placeholder is gone


# -- corrected feeds ----------------------------------------------------------------------------------------------


@pytest.mark.slow
def test_a_fixed_enclosure_is_picked_up_and_done_episodes_keep_their_transcript(archive, local, http_server) -> None:
    transcript = f'<podcast:transcript url="{http_server.add("b.vtt", VTT)}" type="text/vtt"/>'
    feed = http_server.add(
        "feed.xml",
        _feed(_item("a", "Roto", http_server.url("/status/404")), _item("b", "Bien", http_server.url("/f/b1.flac"),
                                                                        transcript)),
    )  # fmt: skip
    show, report = _fonoteca(archive, local).add(feed)
    broken = archive.get_episode(report.failed[0][0].id)
    assert broken.status == "failed" and "check the feed" in (broken.error or "")
    kept = next(e for e in archive.list_episodes(show.id) if e.title == "Bien")
    assert kept.status == "done"

    fixed = http_server.add("jfk.flac", JFK)
    http_server.add(
        "feed.xml",
        _feed(_item("a", "Roto", fixed), _item("b", "Bien (corregido)", http_server.url("/f/b2.flac"), transcript)),
    )
    events: list[Event] = []
    report = _fonoteca(archive, local, events.append).runner.sync(show)
    assert (report.updated, report.transcribed, report.failed) == (2, 1, [])
    assert "2 updated" in report.summary() and report.added == 0
    notes = "\n".join(e.message for e in events if isinstance(e, Note))
    assert "Roto: the feed changed its enclosure; it failed before, so it is tried again" in notes
    assert "Bien (corregido): the feed changed its title, enclosure" in notes
    assert archive.get_episode(broken.id).status == "done"
    assert "/f/jfk.flac" in [path for path, _ in http_server.requests]
    after = archive.get_episode(kept.id)
    assert (after.status, after.title, after.media_url) == ("done", "Bien (corregido)", http_server.url("/f/b2.flac"))
    assert after.transcript_rev == kept.transcript_rev and archive.transcript_text(kept.id).startswith("Ask not")
    assert (
        _fonoteca(archive, local).catalogue.refresh(show) == 0
        and _fonoteca(archive, local).runner.sync(show).updated == 0
    )


def test_items_sharing_a_guid_become_separate_episodes_and_stay_apart_when_reordered(
    archive, local, http_server
) -> None:
    first, second = http_server.url("/f/uno.flac"), http_server.url("/f/dos.flac")
    feed = http_server.add("feed.xml", _feed(_item("mismo", "Uno", first), _item("mismo", "Dos", second)))
    events: list[Event] = []
    show, report = _fonoteca(archive, local, events.append).catalogue.register(feed)
    assert report.added == 2
    [note] = [e.message for e in events if isinstance(e, Note)]
    assert note.startswith("the feed gives GUID mismo to more than one item; Dos is archived as an episode of its own")
    by_title = {e.title: e for e in archive.list_episodes(show.id)}
    assert (by_title["Uno"].media_url, by_title["Dos"].media_url) == (first, second)

    http_server.add("feed.xml", _feed(_item("mismo", "Dos", second), _item("mismo", "Uno", first)))  # newest first
    report = SyncReport()
    assert _fonoteca(archive, local).catalogue.refresh(show, report) == 0 and report.updated == 0
    assert {e.title: e.media_url for e in archive.list_episodes(show.id)} == {"Uno": first, "Dos": second}


# -- checked changes ----------------------------------------------------------------------------------------------


def test_episode_changes_that_skip_the_checks_are_programming_errors(archive) -> None:
    show, _ = archive.add_show(title="Arreglos", source="https://example.org/feed.xml", source_kind="feed")
    episode, _ = archive.upsert_episode(show, guid="1", title="Uno", kind="audio")
    # A misspelt or internal column is Python's own error at the call, never an SQL error read as a damaged archive.
    with pytest.raises(TypeError, match="titel"):
        archive.update_episode(episode.id, titel="Uno")
    with pytest.raises(TypeError, match="descripton"):
        archive.add_show(title="Arreglos", source=show.source, source_kind="feed", descripton="notas")
    with pytest.raises(TypeError, match="status"):
        archive.update_episode(episode.id, status="done")
    with pytest.raises(ValueError, match="unknown episode status 'finished'"):
        archive.set_status(episode.id, "finished")
    with pytest.raises(ValueError, match="unknown episode status 'finished'"):
        archive.upsert_episode(show, guid="2", title="Dos", kind="audio", status="finished")
    with pytest.raises(ValueError, match="unknown episode kind 'podcast'"):
        archive.upsert_episode(show, guid="3", title="Tres", kind="podcast")
    with pytest.raises(TypeError, match="transcript_rev"):
        archive.replace_transcript(episode.id, [], source="transcribed", transcript_rev=7)
    with pytest.raises(ValueError, match="cannot go from new to transcribing"):
        archive.start_transcription(episode.id, 60.0)
    assert archive.get_episode(episode.id).status == "new"
    assert archive.get_show(show.id).description == ""
