"""`fonoteca import` and publishers' transcripts against the hostile battery of issue 25: impossible times (infinity,
1e300, NaN, 99:99:99, negative, 10^12 hours), malformed files that must not abort an import or leave an empty
episode behind, a "billion laughs" front matter, links out of the folder, a newline in a file name. Real files, a
real archive and the real CLI in a subprocess."""

from __future__ import annotations

import json
import math
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from conftest import shared_path, within_memory

from fonoteca.app import Fonoteca
from fonoteca.archive import Archive, Status
from fonoteca.ingest.importer import Outcome
from fonoteca.settings import Settings

EXAMPLE_VTT = ("transcripts", "podcast20_spec_examples", "transcripts", "example.vtt")


@pytest.fixture
def app(settings: Settings):
    with Fonoteca(settings.replace(embeddings="none")) as fonoteca:
        yield fonoteca


def _cli(settings: Settings, *args: str, limit_bytes: int | None = None) -> subprocess.CompletedProcess[str]:
    env = {
        "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
        "HOME": str(settings.home),
        "FONOTECA_HOME": str(settings.home),
        "FONOTECA_EMBEDDINGS": "none",
        "COLUMNS": "300",
        **{name: os.environ[name] for name in ("PYTHONPATH",) if name in os.environ},  # a checkout run uncompiled
    }

    return subprocess.run(
        [sys.executable, "-m", "fonoteca", "--db", str(settings.db_path), *args], capture_output=True, text=True,
        timeout=300, env=env, preexec_fn=within_memory(limit_bytes) if limit_bytes else None,
    )  # fmt: skip


def _whisper_json(start: str, end: str) -> str:
    """Whisper's JSON with one segment, its times written as given (JSON that Python's json module reads)."""
    return f'{{"segments": [{{"start": {start}, "end": {end}, "text": " python is here"}}]}}'


def test_infinite_and_huge_times_never_reach_the_archive_and_every_command_keeps_working(
    settings: Settings, tmp_path: Path
):
    folder = tmp_path / "in"
    folder.mkdir()
    shutil.copy(shared_path(*EXAMPLE_VTT), folder / "real.vtt")
    (folder / "infinite.json").write_text(_whisper_json("1", "1e999"))  # read as infinity
    (folder / "huge.json").write_text(_whisper_json("1e300", "1e300"))
    (folder / "nan.json").write_text(_whisper_json("NaN", "2"))
    (folder / "words.json").write_text(
        '{"segments": [{"start": 1, "end": 2, "text": " python words", '
        '"words": [{"word": "python", "start": 1e999, "end": 1e999}]}]}'
    )  # a segment whose word times are impossible keeps its text without them

    imported = _cli(settings, "import", str(folder), "--json")
    report = json.loads(imported.stdout)
    assert {Path(f["path"]).name for f in report["created"]} == {"real.vtt", "words.json"}
    refused = {Path(f["path"]).name: f["reason"] for f in report["unreadable"]}
    for name, shown in (("infinite.json", "inf"), ("huge.json", "1e+300"), ("nan.json", "nan")):
        assert f"impossible time ({shown} s)" in refused.pop(name)
    assert refused == {}
    with Archive(settings.db_path) as archive:
        stored = [s for e in archive.list_episodes() for s in archive.segments(e.id)]
        times = [t for s in stored for t in (s.start, s.end, *(t for a, b, _ in s.words or [] for t in (a, b)))]
        assert times and all(math.isfinite(t) for t in times)
        episode = next(e for e in archive.list_episodes() if e.title == "real")
    for command in (["stats"], ["episodes"], ["export", episode.id, "--format", "srt"], ["search", "python"]):
        done = _cli(settings, *command)
        assert done.returncode == 0 and "Traceback" not in done.stderr, (command, done.stderr)
    assert "Time transcribed" in _cli(settings, "stats").stdout
    from fastapi.testclient import TestClient

    from fonoteca.web.app import create_app

    web = TestClient(create_app(settings.replace(embeddings="none")))
    for page in (
        "/",
        "/api/stats",
        f"/episode/{episode.id}",
        f"/api/episodes/{episode.id}/transcript",
        "/search?q=python",
    ):
        assert web.get(page).status_code == 200, page


def test_a_publishers_transcript_with_an_infinite_time_is_refused_and_the_episode_is_transcribed_instead(
    settings: Settings, http_server
):
    transcript = http_server.add("inf.json", _whisper_json("1", "1e999").encode(), "application/json")
    item = (
        "<item><title>Uno</title><guid>uno</guid><pubDate>Tue, 09 Jan 2024 09:00:00 +0000</pubDate>"
        f'<enclosure url="{http_server.url("/status/404")}" type="audio/mpeg" length="1"/>'
        f'<podcast:transcript url="{transcript}" type="application/json"/></item>'
    )
    feed = (
        '<?xml version="1.0"?><rss version="2.0" xmlns:podcast="https://podcastindex.org/namespace/1.0">'
        f"<channel><title>Prueba</title>{item}</channel></rss>"
    )
    url = http_server.add("feed.xml", feed.encode(), "application/rss+xml")
    notes: list = []
    with Fonoteca(settings.replace(embeddings="none", download_retries=1), events=notes.append) as fonoteca:
        fonoteca.add(url)
        (episode,) = fonoteca.archive.list_episodes()
        assert fonoteca.archive.segment_count(episode.id) == 0
        assert episode.status == Status.FAILED and "404" in (episode.error or "")  # its audio was tried instead
        assert fonoteca.stats().seconds == 0
    assert any("impossible time (inf s)" in str(getattr(n, "text", n)) for n in notes)


@pytest.mark.parametrize(
    ("name", "content", "reason"),
    [
        ("clock.vtt", "WEBVTT\n\n99:99:99.000 --> 99:99:99.500\nabsurd\n", "99:99:99 is not a time"),
        ("seconds.srt", "1\n00:00:75,000 --> 00:00:76,000\nabsurd\n", "00:00:75 is not a time"),
        ("negative.vtt", "WEBVTT\n\n-00:00:05.000 --> 00:00:07.000\nbefore the start\n", "-00:00:05.000"),
        ("hours.vtt", "WEBVTT\n\n1000000000000:00:00.000 --> 1000000000000:00:01.000\nlate\n", "impossible time"),
        ("negative.json", _whisper_json("-5", "-4"), "impossible time (-5.0 s)"),
        ("tsv-hours.tsv", "start\tend\ttext\n3600000000000000\t3600000000001000\tlate\n", "impossible time"),
    ],
)
def test_absurd_times_are_refused_with_one_line_naming_the_time(
    app: Fonoteca, tmp_path: Path, name: str, content: str, reason: str
):
    (tmp_path / name).write_text(content)
    (tmp_path / "fine.vtt").write_text("WEBVTT\n\n00:00:01.000 --> 00:00:02.000\nfine\n")
    report = app.import_transcripts([tmp_path])
    (refused,) = report.of(Outcome.UNREADABLE)
    assert Path(refused.path).name == name and reason in refused.reason and "\n" not in refused.reason
    assert len(report.of(Outcome.CREATED)) == 1


def test_one_malformed_file_is_one_line_and_never_stops_the_import_or_leaves_an_empty_episode(
    settings: Settings, tmp_path: Path
):
    folder = tmp_path / "in"
    folder.mkdir()
    shutil.copy(shared_path(*EXAMPLE_VTT), folder / "real.vtt")
    (folder / "bad-date.md").write_text("---\ntitle: Bad date\ndate: 2024-02-30\n---\n\nHola a todos.\n")
    (folder / "huge-number.md").write_text("---\ntitle: Huge\nepisode: 99999999999999999999\n---\n\nHola.\n")
    (folder / "deep.json").write_text("[" * 50_000 + "]" * 50_000)
    (folder / "nan.json").write_text(_whisper_json("NaN", "NaN"))
    (folder / "speaker.json").write_text('{"segments": [{"start": 1, "end": 2, "text": "x", "speaker": {"a": 1}}]}')
    (folder / "no-speaker.json").write_text('{"segments": [{"start": 1, "end": 2, "text": "y", "speaker": {}}]}')
    (folder / "big-start.json").write_text(_whisper_json("1" + "0" * 400, "2"))  # no float holds it

    done = _cli(settings, "import", str(folder))
    assert done.returncode == 1 and "Traceback" not in done.stderr, done.stderr
    lines = done.stdout.splitlines()
    assert lines[0] == "0 matched, 4 created, 4 unreadable", done.stdout
    by_file = {Path(line.split()[1].rstrip(":")).name: line for line in lines[1:]}
    assert set(by_file) == {f.name for f in folder.iterdir()}  # one line each, naming its file
    assert "nested too deep" in by_file["deep.json"] and "impossible time (nan s)" in by_file["nan.json"]
    assert "speaker is dict, not a name" in by_file["speaker.json"]
    assert "impossible time" in by_file["big-start.json"] or "too large" in by_file["big-start.json"]
    assert "its date '2024-02-30' is left out: not a calendar day" in by_file["bad-date.md"]
    assert "its number '99999999999999999999' is left out" in by_file["huge-number.md"]
    with Archive(settings.db_path) as archive:
        episodes = archive.list_episodes()
        assert {e.title for e in episodes} == {"real", "Bad date", "Huge", "no speaker"}
        assert {e.status for e in episodes} == {Status.DONE}  # no `new` episode without media that every sync tries
        assert {e.date for e in episodes} == {None} and {e.number for e in episodes} == {None}
    assert _cli(settings, "sync").returncode == 0


def test_a_billion_laughs_front_matter_is_refused_without_expanding_it(settings: Settings, tmp_path: Path):
    levels = ["a: &a [lol, lol, lol, lol, lol, lol, lol, lol, lol]"]
    for previous, name in zip("abcdefgh", "bcdefghi", strict=True):
        levels.append(f"{name}: &{name} [{', '.join(['*' + previous] * 9)}]")
    laughs = "---\n" + "\n".join(levels) + "\ntitle: *i\n---\n\nHola.\n"
    assert len(laughs) < 500  # 9^9 = 387 million strings once expanded
    (tmp_path / "laughs.md").write_text(laughs)
    (tmp_path / "fine.md").write_text("---\ntitle: Fine\n---\n\nHola.\n")
    done = _cli(settings, "import", str(tmp_path), limit_bytes=3 * 1024**3)
    assert "Traceback" not in done.stderr and "MemoryError" not in done.stderr, done.stderr[-2000:]
    (line,) = [line for line in done.stdout.splitlines() if "laughs.md" in line]
    assert "unreadable" in line and "YAML alias (*name, line 3)" in line
    assert "1 created" in done.stdout


def test_links_out_of_the_folder_are_not_followed_as_for_a_feed_file(app: Fonoteca, tmp_path: Path):
    folder, elsewhere = tmp_path / "in", tmp_path / "elsewhere"
    folder.mkdir()
    elsewhere.mkdir()
    (elsewhere / "secret.txt").write_text("root:x:0:0:root:/root:/bin/bash\n")
    (folder / "passwd.txt").symlink_to("/etc/passwd")
    (folder / "secret.txt").symlink_to(elsewhere / "secret.txt")
    (folder / "outside").symlink_to(elsewhere, target_is_directory=True)
    shutil.copy(shared_path(*EXAMPLE_VTT), folder / "real.vtt")
    (folder / "alias.vtt").symlink_to(folder / "real.vtt")  # a link inside the folder is fine
    report = app.import_transcripts([folder])
    refused = {Path(f.path).name: f.reason for f in report.of(Outcome.UNREADABLE)}
    assert set(refused) >= {"passwd.txt", "secret.txt"}
    assert all("outside the folder given" in reason for reason in refused.values())
    assert "root:" not in "".join(app.archive.transcript_text(e.id) for e in app.archive.list_episodes())
    alone = app.import_transcripts([folder / "passwd.txt"])  # the link given by name: the same rule
    assert [f.outcome for f in alone.files] == [Outcome.UNREADABLE]


def test_a_newline_in_a_file_name_cannot_split_a_line_of_the_import_report(settings: Settings, tmp_path: Path):
    (tmp_path / "two\nlines.vtt").write_text("WEBVTT\n\n00:00:01.000 --> 00:00:02.000\nfine\n")
    (tmp_path / "fake\n  created ok.vtt").write_text("")
    done = _cli(settings, "import", str(tmp_path))
    lines = done.stdout.splitlines()
    assert len(lines) == 3, done.stdout  # the summary and one line per file
    assert any(line.startswith("  created ") and "two\\nlines.vtt" in line for line in lines)
    assert any(line.startswith("  unreadable ") and "fake\\n  created ok.vtt" in line for line in lines)


def test_a_file_of_many_cues_is_stored_whole_and_in_order_across_the_write_batches(app: Fonoteca, tmp_path: Path):
    from fonoteca.archive.transcripts import _INSERT_BATCH

    cues = 2 * _INSERT_BATCH + 7  # three batches, the last one short
    lines = ["WEBVTT", ""]
    for n in range(cues):
        lines += [f"{n // 3600:02d}:{n // 60 % 60:02d}:{n % 60:02d}.000 --> {n // 3600:02d}:{n // 60 % 60:02d}:"
                  f"{n % 60:02d}.900", f"cue {n}", ""]  # fmt: skip
    (tmp_path / "long.vtt").write_text("\n".join(lines))
    report = app.import_transcripts([tmp_path])
    (created,) = report.of(Outcome.CREATED)
    segments = app.archive.segments(created.episode_id, words=False)
    assert [(s.idx, s.text) for s in segments] == [(n, f"cue {n}") for n in range(cues)]
    assert app.search('"cue 20006"').total == 1
