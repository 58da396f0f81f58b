"""The archive API on a real SQLite file."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest

from fonoteca.archive import Archive, EpisodeKind, Segment, Source, SourceKind, Status, episode_id_for, migrations
from fonoteca.archive.schema import MIGRATIONS
from fonoteca.errors import FonotecaError, NotFound
from fonoteca.settings import Settings

pytestmark = pytest.mark.both_databases  # the archive's suite: on SQLite and on PostgreSQL


def _show(archive: Archive, source: str = "https://example.org/feed.xml", title: str = "Mi Podcast"):
    show, _ = archive.add_show(title=title, source=source, source_kind="feed")
    return show


def test_new_sqlite_archive_is_wal_with_foreign_keys_at_latest_schema(settings: Settings) -> None:
    with Archive(settings.db_path) as archive:
        assert archive.schema_version == migrations.head()
        raw = sqlite3.connect(archive.path)
        assert raw.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
        with archive.database.transaction() as writer:
            assert writer.exec_driver_sql("PRAGMA foreign_keys").scalar_one() == 1


def test_a_new_archive_is_at_the_latest_schema_on_either_database(archive: Archive) -> None:
    assert archive.schema_version == migrations.head()


def test_reopening_an_archive_keeps_its_data_and_does_not_migrate_twice(archive: Archive) -> None:
    show = _show(archive)
    archive.upsert_episode(show, guid="g1", title="Uno", kind="audio")
    archive.close()
    with Archive(archive.url) as again:
        assert [e.guid for e in again.list_episodes()] == ["g1"]
        assert again.schema_version == migrations.head()


def test_an_archive_of_the_first_schema_migrates_forward_keeping_its_conversations(tmp_path: Path) -> None:
    path = tmp_path / "old.db"
    raw = sqlite3.connect(path)
    raw.executescript(MIGRATIONS[0] + "PRAGMA user_version = 1;")
    raw.execute("INSERT INTO conversations (id) VALUES ('c1')")
    raw.execute("INSERT INTO messages (conversation_id, role, content) VALUES ('c1', 'user', 'hola')")
    raw.commit()
    raw.close()
    with Archive(path) as archive:
        assert archive.schema_version == migrations.head()
        assert [m.content for m in archive.messages("c1")] == ["hola"]
        assert archive.conversation_scope("c1") == (None, None)


def test_an_archive_of_schema_4_keeps_every_row_when_its_tables_are_rebuilt_for_new_sources(tmp_path: Path) -> None:
    path = tmp_path / "v4.db"
    raw = sqlite3.connect(path)
    raw.executescript("".join(MIGRATIONS[:4]) + "PRAGMA user_version = 4;")
    raw.executescript(
        """
        INSERT INTO shows (id, slug, title, source, source_kind, credentials)
            VALUES (1, 's', 'S', 'https://x/f', 'feed', 'u:p');
        INSERT INTO episodes (id, show_id, guid, title, kind, status, source, transcript_rev)
            VALUES ('e1', 1, 'g1', 'Uno', 'audio', 'done', 'transcribed', 3);
        INSERT INTO segments (episode_id, idx, start, end, text) VALUES ('e1', 0, 0, 1.5, 'hola');
        INSERT INTO indexed (episode_id, transcript_rev) VALUES ('e1', 3);
        INSERT INTO term_counts (term, episode_id, count) VALUES ('hola', 'e1', 1);
        INSERT INTO analyses (episode_id, kind, model, prompt_version, transcript_rev, result)
            VALUES ('e1', 'summary', 'm', 'v', 3, '"x"');
        INSERT INTO conversations (id, show_id, episode_id) VALUES ('c1', 1, 'e1');
        """
    )
    raw.commit()
    raw.close()
    with Archive(path) as archive:
        assert archive.schema_version == migrations.head()
        episode = archive.get_episode("e1")
        assert (episode.status, episode.source, episode.transcript_rev, episode.image) == ("done", "transcribed", 3, "")
        assert [s.text for s in archive.segments("e1")] == ["hola"]
        assert archive.term_counts("hola") == {"e1": 1}
        assert archive.get_analysis("e1", "summary") is not None
        assert archive.conversation_scope("c1") == (1, "e1")
        assert archive.get_show(1).credentials == "u:p"
        # The rebuilt tables are still the ones the others refer to: deleting cascades as before.
        archive.delete_episode("e1")
        assert archive.segments("e1") == [] and archive.term_counts("hola") == {}
        platform, _ = archive.add_show(title="Canal", source="https://video.example/c", source_kind="platform")
        episode, _ = archive.upsert_episode(platform, guid="v1", title="VOD", kind="video", image="https://i/1.jpg")
        assert archive.get_episode(episode.id).image == "https://i/1.jpg"


def test_archive_from_a_newer_fonoteca_is_refused_with_a_hint(tmp_path: Path) -> None:
    path = tmp_path / "future.db"
    raw = sqlite3.connect(path)
    raw.execute(f"PRAGMA user_version = {len(MIGRATIONS) + 1}")
    raw.close()
    with pytest.raises(FonotecaError, match="newer fonoteca"):
        Archive(path)


def test_episode_ids_are_stable_and_upsert_is_idempotent(archive: Archive) -> None:
    show = _show(archive)
    first, created = archive.upsert_episode(show, guid="abc", title="Episodio 1", kind="audio", published="2024-01-10")
    again, created_again = archive.upsert_episode(show, guid="abc", title="Episodio 1 (editado)", kind="audio")
    assert created and not created_again
    assert first.id == again.id == episode_id_for(show.source, "abc")
    assert len(archive.list_episodes()) == 1
    assert archive.get_episode(first.id[:5]).id == first.id


def test_unknown_show_and_episode_raise_not_found_with_a_hint(archive: Archive) -> None:
    with pytest.raises(NotFound, match="fonoteca shows"):
        archive.get_show("nope")
    with pytest.raises(NotFound, match="fonoteca episodes"):
        archive.get_episode("0000000000")


def test_episodes_by_ids_reads_many_in_one_call_and_leaves_out_unknown_ids(archive: Archive) -> None:
    show = _show(archive)
    ids = [archive.upsert_episode(show, guid=f"g{i}", title=f"Ep {i}", kind="audio")[0].id for i in range(3)]
    found = archive.episodes_by_ids([ids[2], "0000000000", ids[0], ids[2]])
    assert set(found) == {ids[0], ids[2]}
    assert found[ids[2]].title == "Ep 2" and found[ids[0]].show_title == "Mi Podcast"
    assert archive.episodes_by_ids([]) == {}


def test_cards_by_ids_give_the_title_show_and_day_of_many_episodes_and_leave_out_unknown_ids(archive: Archive) -> None:
    show = _show(archive)
    dated, _ = archive.upsert_episode(show, guid="d", title="Con fecha", kind="audio", published="2024-01-10T20:00:00Z")
    undated, _ = archive.upsert_episode(show, guid="u", title="Sin fecha", kind="audio")
    found = archive.cards_by_ids([undated.id, "0000000000", dated.id, dated.id])
    assert set(found) == {dated.id, undated.id}
    assert (found[dated.id].title, found[dated.id].show_title, found[dated.id].date) == ("Con fecha", "Mi Podcast",
                                                                                        "2024-01-10")  # fmt: skip
    assert found[undated.id].date is None
    assert archive.cards_by_ids([]) == {}


def test_the_timeline_follows_every_commit_of_this_or_another_connection(archive: Archive) -> None:
    show = _show(archive)
    ep, _ = archive.upsert_episode(show, guid="g", title="Uno", kind="audio", published="2024-01-10")
    assert archive.timeline() == []
    archive.replace_transcript(ep.id, [Segment(0, 1, "hola")], source="publisher")
    assert [e.title for e in archive.timeline()] == ["Uno"]
    archive.update_episode(ep.id, title="Uno (editado)")
    assert [e.title for e in archive.timeline(show.id)] == ["Uno (editado)"]
    with Archive(archive.url) as other:  # another process's commit, as `fonoteca sync` makes beside `serve`
        other.update_episode(ep.id, title="Uno (otra vez)")
    assert [e.title for e in archive.timeline()] == ["Uno (otra vez)"]
    assert [e.title for e in archive.timeline(show.id)] == ["Uno (otra vez)"]


def test_shows_get_unique_slugs_and_are_found_by_slug_title_or_id(archive: Archive) -> None:
    a = _show(archive, "https://a.example/feed", "Café con Leche")
    b = _show(archive, "https://b.example/feed", "Café con leche")
    assert a.slug == "cafe-con-leche" and b.slug == "cafe-con-leche-2"
    assert archive.get_show("cafe-con-leche").id == a.id
    assert archive.get_show(str(b.id)).id == b.id


def test_appended_segments_continue_numbering_and_bump_the_revision(archive: Archive) -> None:
    show = _show(archive)
    ep, _ = archive.upsert_episode(show, guid="g", title="t", kind="audio")
    archive.append_segments(ep.id, [Segment(0.0, 2.5, "Hola"), Segment(2.5, 5.0, "qué tal")])
    archive.append_segments(ep.id, [Segment(5.0, 7.0, "adiós", words=[(5.0, 5.6, "adiós")])])
    segs = archive.segments(ep.id)
    assert [s.idx for s in segs] == [0, 1, 2]
    assert segs[2].words == [(5.0, 5.6, "adiós")]
    assert archive.last_segment_end(ep.id) == 7.0
    assert archive.get_episode(ep.id).transcript_rev == 2
    lines = archive.segments(ep.id, words=False)  # what the episode page reads
    assert [(s.idx, s.text, s.words) for s in lines] == [(0, "Hola", None), (1, "qué tal", None), (2, "adiós", None)]


def test_replacing_a_transcript_is_atomic_and_updates_the_episode(archive: Archive) -> None:
    show = _show(archive)
    ep, _ = archive.upsert_episode(show, guid="g", title="t", kind="audio")
    archive.append_segments(ep.id, [Segment(0, 1, "viejo")])
    assert archive.replace_transcript(ep.id, [Segment(0, 1, "nuevo")], source="publisher", language="es") == 1
    fresh = archive.get_episode(ep.id)
    assert [s.text for s in archive.segments(ep.id)] == ["nuevo"]
    assert (fresh.source, fresh.status, fresh.language) == (Source.PUBLISHER, Status.DONE, "es")
    assert (fresh.source, fresh.status) == ("publisher", "done")  # members equal their plain values


def test_stats_count_only_finished_episodes_and_their_audio_time(archive: Archive) -> None:
    show = _show(archive)
    done, _ = archive.upsert_episode(show, guid="1", title="a", kind="audio", duration=3600.0, status="done")
    archive.upsert_episode(show, guid="2", title="b", kind="audio", duration=99.0, status="new")
    no_duration, _ = archive.upsert_episode(show, guid="3", title="c", kind="audio", status="done")
    archive.append_segments(no_duration.id, [Segment(0, 12.0, "x")])
    stats = archive.stats()
    assert (stats.episodes, stats.seconds) == (2, 3612.0)
    assert stats.by_show[0][1:] == (2, 3612.0)


def test_episodes_per_show_counts_every_status_in_one_query(archive: Archive) -> None:
    show = _show(archive)
    empty = _show(archive, "https://b.example/feed", "Sin episodios")
    archive.upsert_episode(show, guid="1", title="a", kind="audio", status="done")
    archive.upsert_episode(show, guid="2", title="b", kind="audio")
    archive.upsert_episode(show, guid="3", title="c", kind="audio", status="failed", error="404")
    assert archive.episodes_per_show() == {show.id: 3}
    assert archive.episodes_per_show(show.id) == {show.id: 3}
    assert archive.episodes_per_show(empty.id).get(empty.id, 0) == 0


def test_metadata_updates_change_only_what_is_given(archive: Archive) -> None:
    show, _ = archive.add_show(
        title="Mi Podcast", source="https://example.org/feed.xml", source_kind="feed", language="es",
        description="<p>notas</p>", credentials="ana:secreto",
    )  # fmt: skip
    again, created = archive.add_show(title="Mi Podcast (nuevo)", source=show.source, source_kind="feed", link="l")
    assert not created
    assert (again.title, again.language, again.description, again.link) == (
        "Mi Podcast (nuevo)",
        "es",
        "<p>notas</p>",
        "l",
    )
    assert again.credentials == "ana:secreto" and again.synced_at is None
    archive.mark_synced(show.id)
    assert archive.get_show(show.id).synced_at
    episode, _ = archive.upsert_episode(show, guid="g", title="t", kind="audio", transcript_url="https://x/t.vtt")
    archive.update_episode(episode.id, transcript_url=None, transcript_type=None, language="es")
    fresh = archive.get_episode(episode.id)
    assert (fresh.title, fresh.transcript_url, fresh.language) == ("t", None, "es")


def test_models_carry_enums_whatever_strings_they_were_given(archive: Archive) -> None:
    show = _show(archive)
    episode, _ = archive.upsert_episode(show, guid="g", title="t", kind="video", status="downloaded")
    assert show.source_kind is SourceKind.FEED
    assert (episode.kind, episode.status, episode.source) == (EpisodeKind.VIDEO, Status.DOWNLOADED, None)
    assert archive.list_episodes(status="downloaded") == archive.list_episodes(status=Status.DOWNLOADED) == [episode]
    assert archive.status_counts() == {"downloaded": 1}


def test_deleting_an_episode_removes_its_segments_and_word_counts(archive: Archive) -> None:
    show = _show(archive)
    ep, _ = archive.upsert_episode(show, guid="g", title="t", kind="audio", status="done")
    archive.append_segments(ep.id, [Segment(0, 1, "hola hola")])
    archive.store_word_counts(ep.id, 1, {"hola": 2})
    assert archive.term_counts("hola") == {ep.id: 2}
    archive.delete_episode(ep.id)
    assert archive.segments(ep.id) == []
    assert archive.term_counts("hola") == {}
    assert archive.episodes_to_count() == [] and archive.finished_revisions() == {}


def test_word_counts_wait_for_each_new_transcript_revision(archive: Archive) -> None:
    show = _show(archive)
    ep, _ = archive.upsert_episode(show, guid="g", title="t", kind="audio", status="done")
    archive.append_segments(ep.id, [Segment(0, 1, "uno")])
    rev = archive.get_episode(ep.id).transcript_rev
    assert archive.episodes_to_count() == [(ep.id, rev)]
    archive.store_word_counts(ep.id, rev, {"uno": 1})
    assert archive.episodes_to_count() == [] and archive.timeline()[0].words == 1
    archive.replace_transcript(ep.id, [Segment(0, 1, "dos dos")], source="transcribed")
    assert archive.episodes_to_count() == [(ep.id, rev + 1)]
    archive.store_word_counts(ep.id, rev + 1, {"dos": 2})
    assert archive.term_counts("uno") == {} and archive.term_counts("dos") == {ep.id: 2}


def test_a_batch_of_word_counts_in_any_script_is_stored_exactly_and_recounted_in_place(archive: Archive) -> None:
    # One store of several episodes (SQLite reads it as JSON, PostgreSQL copies it): words of other scripts, a pair,
    # a word said in two episodes and an episode with no words come back as they were counted.
    show = _show(archive)
    said = {
        "a": {"señal": 3, "नमस्ते": 1, "中文": 2, "senal_de": 1, "de": 7},
        "b": {"de": 1, "ελληνικά": 4, "x" * 300: 1},
        "c": {},
    }
    ids = {}
    for guid in said:
        episode, _ = archive.upsert_episode(show, guid=guid, title=guid, kind="audio", status="done")
        archive.append_segments(episode.id, [Segment(0, 1, "texto")])
        ids[guid] = episode.id
    rev = archive.get_episode(ids["a"]).transcript_rev
    archive.store_word_counts_many([(ids[guid], rev, counts) for guid, counts in said.items()])
    for guid, counts in said.items():
        for term, count in counts.items():
            assert archive.term_counts(term)[ids[guid]] == count
    assert archive.term_counts("de") == {ids["a"]: 7, ids["b"]: 1}
    assert archive.episodes_to_count() == [] and sorted(e.words for e in archive.timeline()) == [0, 6, 13]
    archive.store_word_counts_many([(ids["a"], rev, {"otra": 1})])  # counted again: the old counts are gone
    assert archive.term_counts("de") == {ids["b"]: 1} and archive.term_counts("otra") == {ids["a"]: 1}


def test_the_finished_version_moves_with_every_change_a_search_index_must_follow(archive: Archive) -> None:
    show = _show(archive)
    seen = [archive.finished_version()]

    def moved() -> bool:
        seen.append(archive.finished_version())
        return seen[-1] > seen[-2]

    ep, _ = archive.upsert_episode(show, guid="g", title="t", kind="audio")
    archive.claim_episode(ep.id)
    archive.mark_downloaded(ep.id, "/media/g.mp3")
    archive.start_transcription(ep.id, 60.0)
    archive.append_segments(ep.id, [Segment(0, 1, "uno")])
    assert not moved()  # an episode being transcribed is in no index
    archive.finish_transcription(ep.id, language="es", engine="e", model="m", duration=60.0)
    assert moved()
    archive.replace_transcript(ep.id, [Segment(0, 1, "dos")], source="publisher")
    assert moved()
    other, _ = archive.upsert_episode(show, guid="h", title="u", kind="text", status="done")
    assert moved()
    archive.update_episode(other.id, title="otro título")
    assert not moved()  # the index stores no titles
    archive.delete_episode(other.id)
    assert moved()
    assert archive.finished_revisions() == {ep.id: archive.get_episode(ep.id).transcript_rev}


def test_data_folder_that_cannot_be_created_gives_one_line_with_a_hint(tmp_path: Path) -> None:
    # A regular file where the data folder should be: fails for root too, unlike a chmod-ed folder.
    blocker = tmp_path / "home"
    blocker.write_text("not a folder")
    with pytest.raises(FonotecaError, match="FONOTECA_HOME") as caught:
        Archive(blocker / "fonoteca.db")
    assert "\n" not in str(caught.value)


def test_a_path_that_is_a_directory_cannot_be_opened_as_archive(tmp_path: Path) -> None:
    with pytest.raises(FonotecaError, match="--db"):
        Archive(tmp_path)
