"""Reads under load: every thread reads through its own connection, so no read waits for a write in progress, and each
read sees what was committed before it."""

from __future__ import annotations

import sqlite3
import threading
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

from fonoteca.archive import Archive, Episode, Segment

pytestmark = pytest.mark.both_databases  # the archive's suite: on SQLite and on PostgreSQL

WAIT_S = 10  # far longer than any read takes; a read that waits for the writer would take until it commits


def _episode(archive: Archive) -> Episode:
    show, _ = archive.add_show(title="Carga", source="https://example.org/carga.xml", source_kind="feed")
    episode, _ = archive.upsert_episode(show, guid="1", title="Uno", kind="audio", status="done")
    return episode


def test_reads_answer_while_another_thread_of_the_archive_holds_an_uncommitted_write(archive: Archive) -> None:
    episode = _episode(archive)
    written, release = threading.Event(), threading.Event()

    def transcription() -> Iterator[Segment]:
        yield Segment(0.0, 1.0, "sin confirmar")
        written.set()  # its INSERT is done, inside the write transaction, which stays open until released
        release.wait(WAIT_S)

    with ThreadPoolExecutor(max_workers=9) as pool:
        writer = pool.submit(archive.append_segments, episode.id, transcription())
        assert written.wait(WAIT_S)
        readers = [pool.submit(archive.segments, episode.id) for _ in range(8)]
        assert [r.result(timeout=WAIT_S) for r in readers] == [[]] * 8  # answered, without the uncommitted row
        assert not writer.done()
        release.set()
        assert writer.result(timeout=WAIT_S) == 1
    assert [s.text for s in archive.segments(episode.id)] == ["sin confirmar"]


def test_reads_answer_while_another_connection_holds_an_uncommitted_write(archive: Archive) -> None:
    episode = _episode(archive)
    written, release = threading.Event(), threading.Event()

    def transcription() -> Iterator[Segment]:
        yield Segment(0.0, 1.0, "de otro proceso")
        written.set()
        release.wait(WAIT_S)

    # A second Archive object has its own writer connection, as another process (`fonoteca sync` beside `serve`) has.
    with Archive(archive.url) as other, ThreadPoolExecutor(max_workers=2) as pool:
        writer = pool.submit(other.append_segments, episode.id, transcription())
        assert written.wait(WAIT_S)
        assert pool.submit(archive.segments, episode.id).result(timeout=WAIT_S) == []
        assert pool.submit(lambda: archive.get_episode(episode.id).title).result(timeout=WAIT_S) == "Uno"
        release.set()
        assert writer.result(timeout=WAIT_S) == 1
    assert [s.text for s in archive.segments(episode.id)] == ["de otro proceso"]


def test_a_threads_reader_sees_what_was_committed_after_its_last_read(archive: Archive) -> None:
    with ThreadPoolExecutor(max_workers=1) as same_thread:
        assert same_thread.submit(archive.list_shows).result() == []  # its connection is open from here on
        episode = _episode(archive)
        assert [e.id for e in same_thread.submit(archive.list_episodes).result()] == [episode.id]
        archive.append_segments(episode.id, [Segment(0.0, 1.0, "hola")])
        assert [s.text for s in same_thread.submit(archive.segments, episode.id).result()] == ["hola"]


def test_closing_the_archive_closes_every_threads_reader(settings) -> None:
    archive = Archive(settings.db_path)
    episode = _episode(archive)
    with ThreadPoolExecutor(max_workers=4) as pool:
        list(pool.map(lambda _: archive.segments(episode.id), range(16)))
    wal = Path(f"{archive.path}-wal")
    assert wal.exists()
    archive.close()
    # SQLite removes the write-ahead log when the last connection to the file closes: none was left open.
    assert not wal.exists()


def test_opening_an_archive_does_not_wait_for_another_process_s_write(settings) -> None:
    with Archive(settings.db_path) as archive:
        episode = _episode(archive)
    other = sqlite3.connect(settings.db_path, isolation_level=None, timeout=0)  # `fonoteca sync`, mid-commit
    try:
        other.execute("BEGIN IMMEDIATE")
        other.execute("UPDATE episodes SET title = 'Cambiado' WHERE id = ?", (episode.id,))
        with ThreadPoolExecutor(max_workers=1) as pool:  # `fonoteca search` starting meanwhile

            def read_title() -> str:
                with Archive(settings.db_path) as reader:
                    return reader.get_episode(episode.id).title

            assert pool.submit(read_title).result(timeout=WAIT_S / 2) == "Uno"
        other.execute("COMMIT")
    finally:
        other.close()
