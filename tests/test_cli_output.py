"""Feed text printed by the real CLI: never read as Rich markup, never a terminal escape sequence."""

from __future__ import annotations

import io
import json
import os
import subprocess
import sys

import pytest
from rich.text import Text

from fonoteca.app import Fonoteca
from fonoteca.archive import Archive, Segment
from fonoteca.cli.console import SafeConsole
from fonoteca.settings import Settings

SHOW = "Show [bold]loud[/] \x1b]0;owned\x07"
MARKUP = "Close tag [/]"
ESCAPES = "\x1b]0;owned\x07Clear \x1b[2Jscreen \x9b31mred"
PENDING = "Pending [link=http://evil.example]click[/link]"
CONTROL_BYTES = ("\x1b", "\x07", "\x9b")


@pytest.fixture
def hostile_archive(settings: Settings) -> Settings:
    with Archive(settings.db_path) as archive:
        show, _ = archive.add_show(title=SHOW, source="https://example.org/feed.xml", source_kind="feed")
        for guid, title in (("markup", MARKUP), ("escapes", ESCAPES)):
            episode, _ = archive.upsert_episode(
                show, guid=guid, title=title, kind="audio", published="2024-01-01T00:00:00Z", status="done",
                duration=60.0, source="transcribed",
            )  # fmt: skip
            archive.append_segments(episode.id, [Segment(0.0, 5.0, f"streaming {title}")])
        archive.upsert_episode(show, guid="pending", title=PENDING, kind="audio", status="new")
        Fonoteca(settings, archive=archive).update_index()
    return settings


def fonoteca(settings: Settings, *args: str) -> subprocess.CompletedProcess[str]:
    env = {
        "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
        "HOME": str(settings.home),
        "FONOTECA_HOME": str(settings.home),
        "COLUMNS": "300",  # wide enough that no table cuts a title
    }
    return subprocess.run(
        [sys.executable, "-m", "fonoteca", "--db", str(settings.db_path), *args],
        capture_output=True, text=True, timeout=120, env=env,
    )  # fmt: skip


@pytest.mark.parametrize(
    ("command", "visible"),
    [
        (["shows"], ["Show [bold]loud[/] ]0;owned"]),
        (["episodes"], [MARKUP, "Clear [2Jscreen 31mred"]),
        (["search", "streaming"], [MARKUP, "Clear [2Jscreen 31mred", "Show [bold]loud[/]"]),
        (["status"], [PENDING]),
        (["stats"], ["Show [bold]loud[/]"]),
    ],
)
def test_feed_titles_print_as_written_without_markup_or_escape_sequences(
    hostile_archive: Settings, command: list[str], visible: list[str]
) -> None:
    result = fonoteca(hostile_archive, *command)
    assert result.returncode == 0, result.stderr
    for text in visible:
        assert text in result.stdout
    for byte in CONTROL_BYTES:
        assert byte not in result.stdout


def test_json_output_keeps_titles_exactly_as_stored(hostile_archive: Settings) -> None:
    result = fonoteca(hostile_archive, "episodes", "--json")
    assert result.returncode == 0
    assert {e["title"] for e in json.loads(result.stdout)} == {MARKUP, ESCAPES, PENDING}


def test_the_console_strips_control_characters_it_is_handed_without_escaping() -> None:
    out = io.StringIO()
    console = SafeConsole(file=out, force_terminal=False, width=200)
    console.print(Text("title \x1b[2J\x1b]0;x\x07end"))
    console.out("token \x9b31m")
    assert out.getvalue() == "title [2J]0;xend\ntoken 31m\n"
