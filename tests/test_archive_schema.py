"""The archive's schema on both databases: SQLite's shipped migrations and the Alembic revisions make the tables that
fonoteca.archive.tables describes, archives made before SQLAlchemy open with every row, and a new PostgreSQL archive
opened by several processes at once is made once."""

from __future__ import annotations

import shutil
import sqlite3
import subprocess
import sys
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np
import psycopg
import pytest
from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from fixtures_pg import PostgresServer
from sqlalchemy import create_engine, make_url, text

from fonoteca.archive import Archive, Segment, database_url, migrations
from fonoteca.archive.tables import metadata
from fonoteca.archive.vectors import EpisodeVectors
from fonoteca.errors import FonotecaError, StorageError

pytestmark = pytest.mark.both_databases  # the tests of the `archive` fixture: on SQLite and on PostgreSQL

ARCHIVE_BEFORE_SQLALCHEMY = Path(__file__).parent / "data" / "archive-schema12.db"


def _differences(location: str | Path, **options: bool) -> list[object]:
    engine = create_engine(database_url(location))
    try:
        with engine.connect() as connection:
            context = MigrationContext.configure(connection, opts={"compare_server_default": False, **options})
            return [
                d
                for d in compare_metadata(context, metadata)
                if d[0] != "remove_table" or d[1].name != "alembic_version"
            ]
    finally:
        engine.dispose()


def test_the_postgresql_schema_of_the_alembic_revisions_is_the_one_the_tables_describe(pg_url: str) -> None:
    Archive(pg_url).close()
    assert _differences(pg_url, compare_type=True) == []


def test_the_sqlite_schema_of_the_shipped_migrations_has_the_tables_columns_and_indexes_the_tables_describe(
    tmp_path: Path,
) -> None:
    # SQLite's column types are affinities (REAL where PostgreSQL has double precision), its reflection calls a TEXT
    # primary key nullable and reports foreign keys unnamed: what is compared is which tables, columns and indexes
    # exist.
    Archive(tmp_path / "a.db").close()
    with pytest.warns(UserWarning, match="expression"):  # the watches' index on COALESCE(show_id, 0) is not compared
        differences = _differences(tmp_path / "a.db", compare_type=False)
    structural = {"add_table", "remove_table", "add_column", "remove_column", "add_index", "remove_index"}
    assert [d for d in differences if isinstance(d, tuple) and d[0] in structural] == []


def test_an_archive_made_before_sqlalchemy_opens_with_every_row_and_takes_new_ones(tmp_path: Path) -> None:
    # tests/data/archive-schema12.db was written by fonoteca 812839c (raw sqlite3, schema 12): a show, a transcribed and
    # a failed episode, word counts, an analysis, a conversation with citations, a watch and passage vectors.
    path = tmp_path / "old.db"
    shutil.copy(ARCHIVE_BEFORE_SQLALCHEMY, path)
    with Archive(path) as archive:
        assert archive.schema_version == migrations.head()
        show = archive.get_show("cafe-con-leche")
        assert (show.title, show.language) == ("Café con Leche", "es")
        done, failed = archive.list_episodes(show.id)
        assert (done.status, done.transcript_rev, done.duration, done.number) == ("done", 1, 95.5, 1)
        assert failed.status == "failed" and "404" in failed.error
        lines = archive.segments(done.id)
        assert [s.text for s in lines][1] == "Hoy hablamos de inteligencia artificial."
        assert lines[0].words == [(0.0, 0.5, "Hola")]
        assert archive.term_counts("inteligencia_artificial") == {done.id: 1}
        assert [e.words for e in archive.timeline()] == [2]
        assert archive.get_analysis(done.id, "summary").result == {"summary": "Un saludo."}
        assert [(m.role, m.citations) for m in archive.messages("c1")][1] == (
            "assistant",
            [{"episode": done.id, "start": 4.2}],
        )
        assert [w.term for w in archive.watches.list()] == ["inteligencia"]
        matrix = archive.vectors.load("test-model", 8)
        assert matrix.episode_ids == [done.id] and np.allclose(matrix.vectors, np.eye(2, 8))
        archive.append_segments(failed.id, [Segment(0.0, 1.0, "nuevo")])
        assert [s.text for s in archive.segments(failed.id)] == ["nuevo"]


def test_an_archive_counted_before_word_totals_gets_them_from_its_word_counts_when_opened(tmp_path: Path) -> None:
    path = tmp_path / "old.db"
    shutil.copy(ARCHIVE_BEFORE_SQLALCHEMY, path)
    with sqlite3.connect(path) as raw:  # as counted before schema 6: word counts, no total
        raw.execute("UPDATE indexed SET words = NULL")
    raw.close()
    with Archive(path) as archive:
        assert [e.words for e in archive.timeline()] == [2]  # "hola", "inteligencia"; the pair is not a word
        assert archive.term_counts("inteligencia_artificial") != {}


def test_the_word_totals_revision_fills_the_missing_totals_on_either_database(archive: Archive) -> None:
    show, _ = archive.add_show(title="Show", source="https://example.org/feed.xml", source_kind="feed")
    episode, _ = archive.upsert_episode(show, guid="g", title="t", kind="audio", status="done")
    archive.append_segments(episode.id, [Segment(0, 1, "hola hola qué")])
    archive.store_word_counts(episode.id, 1, {"hola": 2, "que": 1, "hola_hola": 1, "hola_que": 1})
    with archive.database.writer() as db, db.begin():  # back at the revision before, with a total missing
        command.downgrade(migrations._config(db), "0013")  # the later revisions undone by their own downgrade
        db.execute(text("UPDATE counted SET words = NULL"))
    with Archive(archive.url) as reopened:
        assert reopened.schema_version == migrations.head()
        assert [e.words for e in reopened.timeline()] == [3]


def test_processes_opening_a_new_postgresql_archive_at_once_all_find_it_made_once(pg_url: str) -> None:
    def open_and_add(n: int) -> int:
        with Archive(pg_url) as archive:
            archive.add_show(title=f"Show {n}", source=f"https://example.org/{n}.xml", source_kind="feed")
            return archive.schema_version

    with ThreadPoolExecutor(max_workers=4) as pool:
        assert list(pool.map(open_and_add, range(4))) == [migrations.head()] * 4
    with Archive(pg_url) as archive:
        assert sorted(s.title for s in archive.list_shows()) == [f"Show {n}" for n in range(4)]


def _drop_connections(postgres_server: PostgresServer, pg_url: str) -> int:
    """What a server restart does to the archive's connections: the server ends them."""
    with psycopg.connect(host=postgres_server.host, port=postgres_server.port, user=postgres_server.user,
                         dbname="postgres", autocommit=True) as admin:  # fmt: skip
        return len(
            admin.execute(
                "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = %s AND pid != pg_backend_pid()",
                (make_url(pg_url).database,),
            ).fetchall()
        )


def test_a_postgresql_server_that_drops_the_connections_costs_one_write_with_a_hint_and_no_read(
    postgres_server: PostgresServer, pg_url: str
) -> None:
    with Archive(pg_url) as archive:
        show, _ = archive.add_show(title="Antes", source="https://example.org/antes.xml", source_kind="feed")
        assert [s.title for s in archive.list_shows()] == ["Antes"]
        assert _drop_connections(postgres_server, pg_url) >= 2  # the writer and this thread's reader
        assert [s.title for s in archive.list_shows()] == ["Antes"]  # a read is asked again on a new connection
        with pytest.raises(StorageError, match="check that the PostgreSQL server is running") as caught:
            archive.update_show(show.id, title="Durante")  # a write is not repeated behind the caller's back
        assert "\n" not in str(caught.value)
        archive.update_show(show.id, title="Después")  # the next write has a new connection
        assert archive.get_show(show.id).title == "Después"


def test_an_archive_at_a_revision_this_fonoteca_does_not_know_is_refused_with_a_hint(archive: Archive) -> None:
    with archive.database.transaction() as db:
        db.execute(text("UPDATE alembic_version SET version_num = '9999'"))
    with pytest.raises(FonotecaError, match="newer fonoteca.*upgrade fonoteca"):
        Archive(archive.url)


@pytest.mark.parametrize(
    ("url", "said"),
    [
        ("mysql://fonoteca@db.lan/archivo", "not mysql"),
        ("postgresql://fonoteca@127.0.0.1:9/archivo", "Connection refused"),  # nothing listens on port 9
        ("{server}/no_such_database", 'database "no_such_database" does not exist'),
        ("not a url://x", "is not a database URL"),
    ],
)
def test_a_database_url_that_is_wrong_or_unreachable_is_one_line_with_what_to_do(
    url: str, said: str, postgres_server: PostgresServer, tmp_path: Path
) -> None:
    url = url.format(server=f"postgresql://{postgres_server.user}@{postgres_server.host}:{postgres_server.port}")
    ran = subprocess.run(
        [sys.executable, "-m", "fonoteca", "--home", str(tmp_path), "--database-url", url, "shows"],
        capture_output=True, text=True, timeout=60,
    )  # fmt: skip
    assert ran.returncode == 1 and ran.stdout == ""
    (line,) = ran.stderr.strip().splitlines()
    assert line.startswith("error: ") and said in line and " — " in line  # the hint after the dash
    assert not (tmp_path / "fonoteca.db").exists()  # no SQLite archive made instead


def test_the_vectors_revision_moves_them_into_a_table_with_rowids_keeping_every_row(archive: Archive) -> None:
    show, _ = archive.add_show(title="Show", source="https://example.org/feed.xml", source_kind="feed")
    episode, _ = archive.upsert_episode(show, guid="g", title="t", kind="audio", status="done")
    archive.append_segments(episode.id, [Segment(0, 1, "hola")])
    spans = np.array([[0, 1, 0, 0], [1, 2, 1, 1]], np.float32)
    vectors = np.array([[1, 0, 0, 0], [0, 1, 0, 0]], np.float32)
    archive.vectors.save_many("m", 4, [EpisodeVectors(episode.id, archive.get_episode(episode.id).transcript_rev,
                                                      spans, vectors)])  # fmt: skip
    before = archive.vectors.load("m", 4)
    with archive.database.writer() as db, db.begin():
        command.downgrade(migrations._config(db), "0020_26_speaker_count")
        if db.dialect.name == "sqlite":  # as made by schema.py: a row was its key's B-tree entry, blobs and all
            assert "WITHOUT ROWID" in db.execute(text("SELECT sql FROM sqlite_master WHERE name = 'vectors'")).scalar()
    with Archive(archive.url) as reopened:
        assert reopened.schema_version == migrations.head()
        if reopened.database.is_sqlite:
            with reopened.database.writer() as db:
                made = db.execute(text("SELECT sql FROM sqlite_master WHERE name = 'vectors'")).scalar()
            assert "WITHOUT ROWID" not in made
        after = reopened.vectors.load("m", 4)
        assert after.episode_ids == before.episode_ids == [episode.id]
        assert np.array_equal(after.vectors, before.vectors) and np.array_equal(after.spans, before.spans)
