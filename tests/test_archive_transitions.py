"""An episode's status moves only as the transition table allows: every move the pipeline makes is accepted, any
other is refused as a programming error that names it."""

from __future__ import annotations

import pytest

from fonoteca.archive import TRANSITIONS, Archive, Episode, Segment, Status

pytestmark = pytest.mark.both_databases  # the archive's suite: on SQLite and on PostgreSQL


def _episode(archive: Archive, status: Status, guid: str = "g") -> Episode:
    show, _ = archive.add_show(title="Estados", source="https://example.org/feed.xml", source_kind="feed")
    episode, _ = archive.upsert_episode(show, guid=guid, title=guid, kind="audio", status=status)
    return episode


def test_the_table_says_where_every_status_may_go() -> None:
    assert set(TRANSITIONS) == set(Status)
    assert Status.NEW.can_become(Status.DOWNLOADED) and not Status.DONE.can_become(Status.NEW)


def test_a_sync_takes_an_episode_from_new_to_done(archive: Archive) -> None:
    episode = _episode(archive, Status.NEW)
    archive.mark_downloaded(episode.id, "/tmp/uno.mp3")
    archive.start_transcription(episode.id, 60.0)
    archive.append_segments(episode.id, [Segment(0, 1, "hola")])
    archive.start_transcription(episode.id, 60.0)  # killed and resumed: it stays transcribing
    archive.finish_transcription(episode.id, language="es", engine="faster-whisper", model="base", duration=60.0)
    done = archive.get_episode(episode.id)
    assert (done.status, done.source, done.media_path, done.duration) == ("done", "transcribed", "/tmp/uno.mp3", 60.0)


def test_an_episode_whose_media_is_already_local_moves_straight_to_downloaded(archive: Archive) -> None:
    episode = _episode(archive, Status.NEW)
    archive.set_status(episode.id, "downloaded")  # plain strings are accepted as the statuses they name
    assert archive.get_episode(episode.id).status == Status.DOWNLOADED


@pytest.mark.parametrize("status", [Status.NEW, Status.DOWNLOADED, Status.TRANSCRIBING])
def test_an_imported_transcript_finishes_a_pending_episode(archive: Archive, status: Status) -> None:
    episode = _episode(archive, status)
    archive.replace_transcript(episode.id, [Segment(0, 1, "hola")], source="publisher", language="es")
    assert archive.get_episode(episode.id).status == Status.DONE


def test_a_re_transcription_replaces_the_transcript_of_a_finished_episode(archive: Archive) -> None:
    episode = _episode(archive, Status.DONE)
    archive.replace_transcript(episode.id, [Segment(0, 1, "otra vez")], source="transcribed", engine="fw", model="b")
    again = archive.get_episode(episode.id)
    assert (again.status, again.transcript_rev, again.model) == ("done", 1, "b")


def test_a_transcription_whose_media_vanished_downloads_it_again(archive: Archive) -> None:
    episode = _episode(archive, Status.TRANSCRIBING)
    archive.mark_downloaded(episode.id, "/tmp/otra-vez.mp3")
    archive.mark_downloaded(episode.id, "/tmp/y-otra.mp3")
    assert archive.get_episode(episode.id).media_path == "/tmp/y-otra.mp3"


@pytest.mark.parametrize("status", [Status.NEW, Status.DOWNLOADED, Status.TRANSCRIBING])
def test_a_pending_episode_can_fail_with_its_reason(archive: Archive, status: Status) -> None:
    episode = _episode(archive, status)
    archive.set_status(episode.id, Status.FAILED, "the enclosure answered 404")
    failed = archive.get_episode(episode.id)
    assert (failed.status, failed.error) == ("failed", "the enclosure answered 404")


@pytest.mark.parametrize("status", [Status.NEW, Status.DOWNLOADED])
def test_retry_puts_a_failed_episode_back_and_forgets_the_reason(archive: Archive, status: Status) -> None:
    episode = _episode(archive, Status.FAILED)
    archive.set_status(episode.id, status)
    retried = archive.get_episode(episode.id)
    assert (retried.status, retried.error) == (status, None)


def test_a_fixed_enclosure_requeues_only_a_failed_episode_forgetting_its_old_media(archive: Archive) -> None:
    show, _ = archive.add_show(title="Estados", source="https://example.org/feed.xml", source_kind="feed")
    failed, _ = archive.upsert_episode(
        show, guid="roto", title="Roto", kind="audio", media_path="/tmp/roto.mp3", status="failed", error="404"
    )
    assert archive.requeue_failed(failed.id)
    requeued = archive.get_episode(failed.id)
    assert (requeued.status, requeued.error, requeued.media_path) == ("new", None, None)
    done = _episode(archive, Status.DONE, "hecho")
    assert not archive.requeue_failed(done.id)
    assert archive.get_episode(done.id).status == Status.DONE


@pytest.mark.parametrize(
    ("status", "move", "target"),
    [
        (Status.DONE, lambda a, e: a.start_transcription(e, 1.0), "transcribing"),
        (Status.DONE, lambda a, e: a.set_status(e, "failed", "no"), "failed"),
        (Status.NEW, lambda a, e: a.start_transcription(e, 1.0), "transcribing"),
        (Status.FAILED, lambda a, e: a.replace_transcript(e, [Segment(0, 1, "x")], source="publisher"), "done"),
        (Status.FAILED, lambda a, e: a.finish_transcription(e, language=None, engine="e", model="m", duration=1.0),
         "done"),
    ],
)  # fmt: skip
def test_a_move_the_table_does_not_allow_is_refused_and_changes_nothing(
    archive: Archive, status: Status, move, target: str
) -> None:
    episode = _episode(archive, status)
    archive.append_segments(episode.id, [Segment(0, 1, "viejo")])
    with pytest.raises(ValueError, match=f"episode {episode.id} cannot go from {status} to {target}"):
        move(archive, episode.id)
    unchanged = archive.get_episode(episode.id)
    assert (unchanged.status, [s.text for s in archive.segments(episode.id)]) == (status, ["viejo"])
