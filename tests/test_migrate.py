"""`fonoteca migrate --to postgresql://…`: a real SQLite archive (written by an older fonoteca, then used by this one)
copied into a real PostgreSQL server, checked table by table, resumed after an interruption, and used from there."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
from typer.testing import CliRunner

from fonoteca.app import Fonoteca
from fonoteca.archive import Archive, Segment, copy
from fonoteca.cli import app
from fonoteca.events import CopyProgress, Event
from fonoteca.settings import Settings

ARCHIVE_BEFORE_SQLALCHEMY = Path(__file__).parent / "data" / "archive-schema12.db"


@pytest.fixture
def old_archive(settings: Settings) -> Settings:
    """The archive of an older fonoteca, with one more show and transcript added by this one."""
    settings.home.mkdir(parents=True)
    shutil.copy(ARCHIVE_BEFORE_SQLALCHEMY, settings.db_path)
    with Archive(settings.db_path) as archive:
        show, _ = archive.add_show(title="Midulive", source="https://example.org/midu.xml", source_kind="feed")
        episode, _ = archive.upsert_episode(show, guid="s1", title="Streaming", kind="audio", published="2024-03-01")
        archive.replace_transcript(
            episode.id, [Segment(i * 5.0, i * 5.0 + 4.5, f"Línea {i} sobre streaming") for i in range(25)],
            source="publisher",
        )  # fmt: skip
    return settings


def _migrate(settings: Settings, *args: str):
    return CliRunner().invoke(app, ["--home", str(settings.home), "migrate", *args])


def test_migrate_copies_every_table_into_postgresql_and_checks_each(old_archive: Settings, pg_url: str) -> None:
    result = _migrate(old_archive, "--to", pg_url, "--json")
    assert result.exit_code == 0, result.output
    checks = {c["table"]: c for c in json.loads(result.stdout)}
    assert all(c["matches"] for c in checks.values())
    for table in ("shows", "episodes", "segments", "analyses", "conversations", "messages", "watches", "vectors"):
        assert checks[table]["target_rows"] > 0, table
    assert "claims" not in checks  # which process works on an episode belongs to the source's machine
    with Archive(old_archive.db_path) as source, Archive(pg_url) as target:
        assert target.list_episodes() == source.list_episodes()
        for episode in source.list_episodes():
            assert target.segments(episode.id) == source.segments(episode.id)
        assert target.messages("c1") == source.messages("c1")
        assert target.vectors.load("test-model", 8).episode_ids == source.vectors.load("test-model", 8).episode_ids
        # New rows get ids after the copied ones: PostgreSQL's sequences were moved past them.
        show, created = target.add_show(title="Nuevo", source="https://example.org/nuevo.xml", source_kind="feed")
        assert created and show.id > max(s.id for s in source.list_shows())


def test_an_interrupted_migrate_goes_on_where_it_stopped(
    old_archive: Settings, pg_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(copy, "BATCH_ROWS", 3)

    def interrupt_after_a_few_batches(event: Event) -> None:
        if isinstance(event, CopyProgress) and 12 <= event.done < event.total:
            raise KeyboardInterrupt  # what Ctrl-C raises in the middle of the copy

    with Fonoteca(old_archive, events=interrupt_after_a_few_batches) as fonoteca, pytest.raises(KeyboardInterrupt):
        fonoteca.migrate(pg_url)
    with Archive(pg_url) as partial:  # the shows were copied, the 27 transcript lines only in part
        assert partial.list_shows() and sum(partial.segment_count(e.id) for e in partial.list_episodes()) < 27

    result = _migrate(old_archive, "--to", pg_url, "--json")
    assert result.exit_code == 0, result.output
    assert all(c["matches"] for c in json.loads(result.stdout))


def test_a_copy_that_differs_from_the_archive_is_named_table_by_table_and_exits_1(
    old_archive: Settings, pg_url: str
) -> None:
    assert _migrate(old_archive, "--to", pg_url).exit_code == 0
    with Archive(pg_url) as target:
        target.update_episode(target.list_episodes()[0].id, title="Cambiado en la copia")
    result = _migrate(old_archive, "--to", pg_url)
    assert result.exit_code == 1
    assert "differs from the archive in episodes" in result.output
    assert "run the same command again" in result.output


def test_migrate_refuses_a_database_that_holds_another_archive(old_archive: Settings, pg_url: str) -> None:
    with Archive(pg_url) as other:
        other.add_show(title="Otro", source="https://example.org/otro.xml", source_kind="feed")
    result = _migrate(old_archive, "--to", pg_url)
    assert result.exit_code == 1
    line = result.output.splitlines()[-1]  # the one line a user sees, after whatever the copy printed before it
    assert line.startswith("error: ") and "already holds another archive" in line and "example.org/otro.xml" in line


def test_the_migrated_archive_is_searched_from_postgresql(old_archive: Settings, pg_url: str, tmp_path: Path) -> None:
    assert _migrate(old_archive, "--to", pg_url).exit_code == 0
    # Another machine: its own data folder (search index, media), the archive on the server.
    result = CliRunner().invoke(
        app, ["--home", str(tmp_path / "elsewhere"), "--database-url", pg_url, "search", "streaming", "--json"]
    )
    assert result.exit_code == 0, result.output
    hits = json.loads(result.stdout)
    assert any("Línea 3 sobre streaming" in hit["text"] for hit in hits)
