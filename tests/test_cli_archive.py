"""The archive-reading commands (shows, episodes, status, stats, export) through the real CLI on a real archive."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest
from typer.testing import CliRunner

from fonoteca.archive import Archive, Segment, Status
from fonoteca.cli import app
from fonoteca.output.transcripts import EXPORT_FORMATS
from fonoteca.settings import Settings


@pytest.fixture
def filled(settings: Settings) -> Settings:
    with Archive(settings.db_path) as archive:
        show, _ = archive.add_show(title="Midulive", source="https://example.org/midu.xml", source_kind="feed")
        done, _ = archive.upsert_episode(
            show, guid="1", title="Streaming de respuestas", kind="audio", published="2024-03-01T20:00:00Z",
            duration=3 * 3600 + 62.0, status="done", source="transcribed",
        )  # fmt: skip
        archive.append_segments(
            done.id,
            [
                Segment(0.0, 2.5, "Esto es lo que significa hacer streaming."),
                Segment(2.5, 5.25, "Chunked, por trozos."),
            ],
        )
        failed, _ = archive.upsert_episode(show, guid="2", title="Roto", kind="audio", published="2024-03-08")
        archive.set_status(failed.id, "failed", "the enclosure answered 404 Not Found — check the feed")
    return settings


def _run(settings: Settings, *args: str):
    return CliRunner().invoke(app, ["--home", str(settings.home), *args])


def test_stats_prints_the_seed_header(filled: Settings) -> None:
    result = _run(filled, "stats")
    assert result.exit_code == 0, result.output
    assert "Transcribed podcasts: 1 · Time transcribed: 0d 3h 1m 2s" in result.output


def test_episodes_json_has_the_documented_fields(filled: Settings) -> None:
    result = _run(filled, "episodes", "midulive", "--json")
    assert result.exit_code == 0, result.output
    rows = json.loads(result.output)
    assert [r["title"] for r in rows] == ["Streaming de respuestas", "Roto"]
    assert {"id", "show", "title", "date", "status", "duration", "source"} <= set(rows[0])
    assert rows[0]["date"] == "2024-03-01" and rows[0]["source"] == "transcribed" and rows[0]["show"] == "Midulive"


def test_status_lists_failures_with_their_reason(filled: Settings) -> None:
    result = _run(filled, "status", "--json")
    data = json.loads(result.output)
    assert data["counts"] == {"done": 1, "failed": 1}
    assert "404" in data["failed"][0]["error"]


def test_unknown_show_is_one_error_line_and_exit_1(filled: Settings) -> None:
    result = subprocess.run(
        [sys.executable, "-m", "fonoteca", "--home", str(filled.home), "episodes", "nope"],
        capture_output=True, text=True, timeout=60,
    )  # fmt: skip
    assert result.returncode == 1
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: no show called 'nope'") and "fonoteca shows" in lines[0]


@pytest.mark.parametrize("fmt", ["txt", "srt", "vtt", "json"])
def test_export_writes_each_format(filled: Settings, fmt: str, tmp_path) -> None:
    with Archive(filled.db_path) as archive:
        episode = archive.list_episodes(status="done")[0]
    out = tmp_path / f"ep.{fmt}"
    result = _run(filled, "export", episode.id, "--format", fmt, "--output", str(out))
    assert result.exit_code == 0, result.output
    text = out.read_text(encoding="utf-8")
    assert "streaming" in text
    if fmt == "json":
        data = json.loads(text)
        assert data["version"] == "1.0.0"
        assert data["segments"][1] == {"startTime": 2.5, "endTime": 5.25, "body": "Chunked, por trozos."}
    if fmt == "srt":
        assert "00:00:02,500 --> 00:00:05,250" in text
    if fmt == "vtt":
        assert text.startswith("WEBVTT") and "00:00:02.500 --> 00:00:05.250" in text


def _piped(settings: Settings, *args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    """The real CLI with stdout and stderr going to pipes, as in a script."""
    return subprocess.run(
        [sys.executable, "-m", "fonoteca", "--home", str(settings.home), *args],
        capture_output=True, text=True, timeout=60, env={**os.environ, **(env or {})},
    )  # fmt: skip


@pytest.mark.parametrize(
    ("variable", "value", "accepted"),
    [
        ("FONOTECA_MAX_DOWNLOAD_MB", "abc", "a whole number"),
        ("FONOTECA_DOWNLOAD_TIMEOUT", "soon", "a number"),
        ("FONOTECA_VAD", "maybe", "true"),
    ],
)
def test_bad_environment_value_is_one_line_naming_it_and_exit_1(filled: Settings, variable, value, accepted) -> None:
    result = _piped(filled, "shows", env={variable: value})
    assert result.returncode == 1
    [line] = result.stderr.strip().splitlines()
    assert variable in line and repr(value) in line and accepted in line and "Traceback" not in result.stderr


def test_stats_header_stays_on_one_line_when_piped(filled: Settings) -> None:
    with Archive(filled.db_path) as archive:
        archive.update_show(archive.get_show("midulive").id, title="Midulive: programación en directo cada semana")
    result = _piped(filled, "stats")
    assert result.returncode == 0, result.stderr
    lines = result.stdout.splitlines()
    assert (
        "Midulive: programación en directo cada semana  Transcribed podcasts: 1 · Time transcribed: 0d 3h 1m 2s"
        in lines
    )


def _is_usage_error_listing(result, option: str, value: str, choices: list[str]) -> bool:
    """Click's usage error for a value that is not one of an option's choices (the message may wrap in its box)."""
    return (
        result.exit_code == 2
        and "Usage: " in result.output
        and f"Invalid value for '{option}'" in result.output
        and f"'{value}' is not one of" in result.output
        and all(f"'{choice}'" in result.output for choice in choices)
    )


def test_unknown_status_filter_is_a_usage_error_listing_the_valid_ones(filled: Settings) -> None:
    result = _run(filled, "episodes", "--status", "bogus")
    assert _is_usage_error_listing(result, "--status", "bogus", list(Status)), result.output


def test_unknown_export_format_is_a_usage_error_listing_the_valid_ones(filled: Settings) -> None:
    with Archive(filled.db_path) as archive:
        episode = archive.list_episodes(status="done")[0]
    result = _run(filled, "export", episode.id, "--format", "bogus")
    assert _is_usage_error_listing(result, "--format", "bogus", list(EXPORT_FORMATS)), result.output


def test_export_of_a_failed_episode_suggests_retry(filled: Settings) -> None:
    with Archive(filled.db_path) as archive:
        failed = archive.list_episodes(status="failed")[0]
    result = _run(filled, "export", failed.id)
    assert result.exit_code == 1 and f"fonoteca retry {failed.id}" in result.output


def test_vtt_export_escapes_markup_characters(filled: Settings) -> None:
    with Archive(filled.db_path) as archive:
        episode = archive.list_episodes(status="done")[0]
        archive.replace_transcript(
            episode.id, [Segment(0.0, 1.0, "R&D: a <b> tag > nada", speaker="Ana & Luis")], source="transcribed"
        )
    result = _run(filled, "export", episode.id, "--format", "vtt")
    assert "<v Ana &amp; Luis>R&amp;D: a &lt;b&gt; tag &gt; nada" in result.output
    from fonoteca.ingest.transcripts import parse_transcript

    [again] = parse_transcript(result.output, "vtt")
    assert (again.text, again.speaker) == ("R&D: a <b> tag > nada", "Ana & Luis")
