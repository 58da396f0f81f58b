"""`fonoteca import`: transcript files people already have, on real files: Whisper's five outputs of a real
transcription, the Podcasting 2.0 spec examples, Talk Python's WebVTT, Venezolanos' Markdown with front matter, matched
to the episodes of a real feed (pc20rss.xml, 1865.xml); and every kind of bad file, each one line in the report."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
from conftest import shared_path
from typer.testing import CliRunner

from fonoteca.app import Fonoteca
from fonoteca.archive import Source, SourceKind, Status
from fonoteca.errors import FonotecaError
from fonoteca.events import ImportProgress, IndexProgress
from fonoteca.ingest.importer import Outcome
from fonoteca.ingest.transcripts import read_transcript
from fonoteca.settings import Settings

EXAMPLES = ("transcripts", "podcast20_spec_examples", "transcripts")


@pytest.fixture
def app(settings: Settings):
    # Keyword search is what these tests check; embedding every imported transcript for search by meaning is
    # tests/test_meaning.py's subject and would only slow these down.
    with Fonoteca(settings.replace(embeddings="none")) as fonoteca:
        yield fonoteca


@pytest.fixture
def pc20(app: Fonoteca):
    """The Podcasting 2.0 show's real feed (56 episodes), registered without downloading anything."""
    show, _ = app.add(str(shared_path("feeds", "partytime", "pc20rss.xml")), sync_now=False)
    return show


def _by_title(app: Fonoteca, show_id: int) -> dict[str, str]:
    return {e.title: e.id for e in app.archive.list_episodes(show_id)}


def _outcomes(report) -> dict[str, Outcome]:
    return {Path(f.path).name: f.outcome for f in report.files}


# -- Whisper's own output ------------------------------------------------------------------------------------------


def _clock(seconds: float, marker: str, hours: bool) -> str:
    """Whisper's format_timestamp (whisper/utils.py)."""
    millis = round(seconds * 1000)
    h, millis = divmod(millis, 3_600_000)
    m, millis = divmod(millis, 60_000)
    s, millis = divmod(millis, 1000)
    return (f"{h:02d}:" if hours or h else "") + f"{m:02d}:{s:02d}{marker}{millis:03d}"


def _write_like_whisper_cli(segments, language: str, folder: Path, stem: str) -> None:
    """The five files `whisper --output_format all` writes (whisper/utils.py's writers), from real segments."""
    rows = [
        {
            "id": n, "seek": 0, "start": s.start, "end": s.end, "text": " " + s.text, "tokens": [],
            "temperature": 0.0, "avg_logprob": -0.2, "compression_ratio": 1.2, "no_speech_prob": 0.01,
            "words": [{"word": w, "start": a, "end": b, "probability": p} for a, b, w, p in s.words or []],
        }
        for n, s in enumerate(segments)
    ]  # fmt: skip
    text = "".join(r["text"] for r in rows)
    (folder / f"{stem}.json").write_text(json.dumps({"text": text, "segments": rows, "language": language}))
    (folder / f"{stem}.txt").write_text("".join(s.text.strip() + "\n" for s in segments))
    (folder / f"{stem}.vtt").write_text(
        "WEBVTT\n\n"
        + "".join(f"{_clock(s.start, '.', False)} --> {_clock(s.end, '.', False)}\n{s.text}\n\n" for s in segments)
    )
    (folder / f"{stem}.srt").write_text(
        "".join(
            f"{n}\n{_clock(s.start, ',', True)} --> {_clock(s.end, ',', True)}\n{s.text}\n\n"
            for n, s in enumerate(segments, start=1)
        )
    )
    (folder / f"{stem}.tsv").write_text(
        "start\tend\ttext\n" + "".join(f"{round(1000 * s.start)}\t{round(1000 * s.end)}\t{s.text}\n" for s in segments)
    )


@pytest.fixture(scope="module")
def whisper_segments(tmp_path_factory: pytest.TempPathFactory):
    """A real transcription of a real clip by fonoteca's Transcriber (faster-whisper, the packaged base model)."""
    from fonoteca.transcribe import Transcriber

    clip = shared_path("audio", "en", "jfk.flac")
    settings = Settings.from_env(environ={}, home=tmp_path_factory.mktemp("whisper-home"), cpu_threads=2)
    transcription = Transcriber(settings).transcribe_file(str(clip), language="en")
    segments = list(transcription)
    assert segments and all(s.words for s in segments)
    return segments


def test_each_of_whispers_five_output_files_reads_back_as_the_transcription(whisper_segments, tmp_path: Path):
    _write_like_whisper_cli(whisper_segments, "en", tmp_path, "jfk")
    texts = [s.text.strip() for s in whisper_segments]
    for fmt in ("json", "vtt", "srt", "tsv", "txt"):
        transcript = read_transcript((tmp_path / f"jfk.{fmt}").read_bytes(), f"jfk.{fmt}")
        assert [s.text.strip() for s in transcript.segments] == texts, fmt
        if fmt != "txt":  # Whisper's .txt has no times
            starts = [s.start for s in transcript.segments]
            assert starts == pytest.approx([s.start for s in whisper_segments], abs=0.001), fmt
    words = read_transcript((tmp_path / "jfk.json").read_bytes(), "jfk.json")
    assert words.language == "en"
    assert words.segments[0].words == [pytest.approx(w) for w in whisper_segments[0].words]


def test_a_whisper_output_folder_becomes_one_searchable_episode_from_its_richest_file(
    app: Fonoteca, whisper_segments, tmp_path: Path
):
    folder = tmp_path / "whisper-out"
    folder.mkdir()
    _write_like_whisper_cli(whisper_segments, "en", folder, "jfk")
    report = app.import_transcripts([folder])
    outcomes = _outcomes(report)
    assert outcomes == {
        "jfk.json": Outcome.CREATED,
        **{f"jfk.{f}": Outcome.DUPLICATE for f in ("vtt", "srt", "tsv", "txt")},
    }
    [created] = report.of(Outcome.CREATED)
    episode = app.episode(created.episode_id)
    assert (episode.status, episode.source, episode.language) == (Status.DONE, Source.IMPORTED, "en")
    show = app.archive.get_show(episode.show_id)
    assert (show.source_kind, show.title) == (SourceKind.TRANSCRIPTS, "whisper-out")
    assert episode.media_url is None and episode.media_path is None  # transcript only: no player
    stored = app.archive.segments(episode.id)
    assert stored[0].words and stored[0].words[0][2] == whisper_segments[0].words[0][2]
    assert episode.duration == pytest.approx(whisper_segments[-1].end)  # the last segment's end
    assert app.stats().seconds == pytest.approx(whisper_segments[-1].end)
    assert app.search("country").total >= 1  # "ask not what your country can do for you"


# -- matching to a feed's episodes ---------------------------------------------------------------------------------


def test_files_match_a_feeds_episodes_by_file_name_number_date_and_title(app: Fonoteca, pc20, tmp_path: Path):
    examples = shared_path(*EXAMPLES)
    folder = tmp_path / "pc20"
    folder.mkdir()
    shutil.copy(examples / "example.srt", folder / "PC20-57-Captions.srt")  # the feed's transcript file name
    shutil.copy(examples / "example.json", folder / "episode-54.json")  # "Episode 54: Power to the People"
    shutil.copy(examples / "example.html", folder / "2021-09-24.html")  # published 2021-09-25 UTC: the evening before
    shutil.copy(examples / "example.vtt", folder / "rocket_in_your_pocket.vtt")  # the title, as a file name
    (folder / "bonus-material.txt").write_text("Speaker one here.\nSpeaker two there.\n")

    report = app.import_transcripts([folder], show=pc20.slug)

    ids = _by_title(app, pc20.id)
    matched = {Path(f.path).name: (f.episode_id, f.by) for f in report.of(Outcome.MATCHED)}
    assert matched == {
        "PC20-57-Captions.srt": (ids["Episode 57: Rebel Rubes"], "GUID or file name"),
        "episode-54.json": (ids["Episode 54: Power to the People"], "episode number"),
        "2021-09-24.html": (ids["Episode 55: All Jacked Up"], "date"),
        "rocket_in_your_pocket.vtt": (ids["Episode 56: Rocket in your Pocket"], "title"),
    }
    [created] = report.of(Outcome.CREATED)
    assert Path(created.path).name == "bonus-material.txt"
    assert app.episode(created.episode_id).show_id == pc20.id  # a transcript-only episode of the show
    rocket = app.episode(ids["Episode 56: Rocket in your Pocket"])
    assert (rocket.status, rocket.source) == (Status.DONE, Source.IMPORTED)
    assert {s.speaker for s in app.archive.segments(rocket.id)} >= {"Sarah", "Gillian"}  # <v Speaker> voices
    vader = app.archive.segments(ids["Episode 54: Power to the People"])
    assert vader[0].speaker == "Darth Vader" and vader[0].words  # Podcasting 2.0 JSON, one word a segment, merged
    # Imported episodes are searched like transcribed ones, and the pending ones stay pending.
    hits = app.search("trailer", show=pc20.slug).hits
    assert {h.episode_id for h in hits} == {rocket.id}
    assert app.episode(ids["Episode 53: Fully Tagged and Noded"]).status == Status.NEW


def test_itunes_episode_numbers_from_the_feed_match_numbered_files(app: Fonoteca, tmp_path: Path):
    show, _ = app.add(str(shared_path("feeds", "partytime", "real-world", "1865.xml")), sync_now=False)
    tens = {e.title: e.id for e in app.archive.list_episodes(show.id) if e.number == 10}
    assert set(tens) == {"Cincinnatus | 10", "A Cost In Blood | 10"}  # itunes:episode 10 of seasons 1 and 2
    cue = "WEBVTT\n\n00:00:01.000 --> 00:00:04.000\nLucius Quinctius Cincinnatus.\n"
    (tmp_path / "ep010.vtt").write_text(cue)
    (tmp_path / "ep010 - cincinnatus.vtt").write_text(cue)
    report = app.import_transcripts([tmp_path], show=show.slug)
    [ambiguous] = report.of(Outcome.AMBIGUOUS)
    assert Path(ambiguous.path).name == "ep010.vtt"
    assert "2 episodes share its episode number" in ambiguous.reason and "A Cost In Blood" in ambiguous.reason
    [matched] = report.of(Outcome.MATCHED)  # the number narrows to two episodes, the title picks one
    assert (matched.episode_id, matched.by) == (tens["Cincinnatus | 10"], "title")


def test_a_media_folders_transcripts_match_its_files_by_name(app: Fonoteca, tmp_path: Path):
    media = tmp_path / "show"
    media.mkdir()
    shutil.copy(shared_path("audio", "en", "jfk.flac"), media / "inaugural.flac")
    show, _ = app.add(str(media), sync_now=False)
    elsewhere = tmp_path / "transcripts"
    elsewhere.mkdir()
    (elsewhere / "inaugural.srt").write_text("1\n00:00:00,000 --> 00:00:10,500\nAsk not what your country can do.\n")
    report = app.import_transcripts([elsewhere], show=show.slug)
    [matched] = report.of(Outcome.MATCHED)
    assert matched.by == "GUID or file name"
    episode = app.episode(matched.episode_id)
    assert episode.media_path.endswith("inaugural.flac") and episode.source == Source.IMPORTED
    assert episode.duration == pytest.approx(11.0, abs=0.2)  # the media's length, not the last segment's end


def test_ambiguous_and_weak_matches_are_listed_and_not_imported(app: Fonoteca, pc20, tmp_path: Path):
    (tmp_path / "rockets_in_pockets.vtt").write_text("WEBVTT\n\n00:01.000 --> 00:02.000\nweak\n")  # 82%: weak
    (tmp_path / "PC20-56-Captions.srt").write_text("1\n00:00:01,000 --> 00:00:02,000\nthe real one\n")
    (tmp_path / "Rocket in your Pocket.srt").write_text("1\n00:00:01,000 --> 00:00:02,000\nanother one\n")
    report = app.import_transcripts([tmp_path], show=pc20.slug)
    ambiguous = {Path(f.path).name: f.reason for f in report.of(Outcome.AMBIGUOUS)}
    assert set(ambiguous) == {"rockets_in_pockets.vtt", "Rocket in your Pocket.srt"}
    assert "only weakly" in ambiguous["rockets_in_pockets.vtt"]
    assert "PC20-56-Captions.srt" in ambiguous["Rocket in your Pocket.srt"]  # it names the file that has that episode
    assert all("\n" not in reason for reason in ambiguous.values())
    [matched] = report.of(Outcome.MATCHED)
    assert [s.text for s in app.archive.segments(matched.episode_id)] == ["the real one"]
    assert report.failed  # the CLI exits 1


# -- real transcript collections without a show ------------------------------------------------------------------


def test_markdown_with_front_matter_creates_episodes_with_its_title_date_and_language(app: Fonoteca, tmp_path: Path):
    episodes = sorted(shared_path("transcripts", "venezolanos_es", "episodios").iterdir())[:3]
    folder = tmp_path / "venezolanos"
    for episode in episodes:
        shutil.copytree(episode, folder / episode.name)
    report = app.import_transcripts([folder])
    assert len(report.of(Outcome.CREATED)) == 3 and not report.failed
    created = {app.episode(f.episode_id).title: app.episode(f.episode_id) for f in report.of(Outcome.CREATED)}
    assert "19 de abril de 1810" in created
    first = created["19 de abril de 1810"]
    assert (first.date, first.language, first.kind) == ("2019-10-04", "es", "audio")
    assert first.link.startswith("https://www.venezolanospodcast.com/")
    assert app.archive.get_show(first.show_id).title == "Venezolanos"  # the front matter's programa
    segments = app.archive.segments(first.id)
    assert segments[0].text.startswith("Les habla Rafael Arráiz Lucca")
    assert not any(s.text.startswith("#") for s in segments)  # headings are not transcript
    assert app.search("Godoy").total >= 1


def test_a_folder_of_talk_python_webvtt_files_is_read_in_parallel_numbered_and_timed(app: Fonoteca, tmp_path: Path):
    from fonoteca.ingest.importer import PARALLEL_FROM

    source = shared_path("transcripts", "talkpython_en_vtt_subset")
    files = sorted(source.glob("*.vtt"))[:PARALLEL_FROM]  # enough to be read by worker processes
    for file in files:
        shutil.copy(file, tmp_path / file.name)
    report = app.import_transcripts([tmp_path])
    created = report.of(Outcome.CREATED)
    assert [Path(f.path).name for f in created] == [f.name for f in files]  # in order, every one
    ends = [app.archive.last_segment_end(f.episode_id) for f in created]
    assert app.stats().seconds == pytest.approx(sum(ends))  # the last cue's end is each one's duration
    assert 2400 < ends[1] < 2600  # episode 1 lasts 41 minutes
    numbers = [app.episode(f.episode_id).number for f in created]
    assert numbers[1:] == list(range(1, PARALLEL_FROM))  # "001_nicola_iarocci…", "003-Pyramid-Web Framework…"
    assert {app.episode(f.episode_id).language for f in created} == {"en"}


def test_an_import_tells_its_progress_file_by_file_then_the_indexing(settings: Settings, tmp_path: Path):
    for n in range(3):
        (tmp_path / f"ep{n}.srt").write_text(f"1\n00:00:01,000 --> 00:00:02,000\nlínea {n}\n")
    (tmp_path / "ep1.vtt").write_text("WEBVTT\n\n00:00:01.000 --> 00:00:02.000\nlínea 1\n")  # one transcript, 2 files
    (tmp_path / "broken.srt").write_bytes(b"")
    events: list = []
    with Fonoteca(settings.replace(embeddings="none"), events=events.append) as fonoteca:
        fonoteca.import_transcripts([tmp_path])
    imported = [(e.done, e.total) for e in events if isinstance(e, ImportProgress)]
    assert imported == [(1, 4), (2, 4), (3, 4), (4, 4)]
    indexed = [e for e in events if isinstance(e, IndexProgress)]
    assert indexed and indexed[-1].done == indexed[-1].total == 3
    assert events.index(indexed[0]) > events.index(next(e for e in events if isinstance(e, ImportProgress)))


# -- bad input -----------------------------------------------------------------------------------------------------


def test_each_bad_file_is_one_line_in_the_report_and_the_others_are_imported(app: Fonoteca, tmp_path: Path):
    good_vtt = "WEBVTT\n\n00:00:01.000 --> 00:00:03.000\nLa canción del año.\n"
    (tmp_path / "good.vtt").write_text(good_vtt)
    (tmp_path / "windows.vtt").write_bytes(good_vtt.encode("utf-16"))  # UTF-16 with its byte-order mark
    (tmp_path / "nobom.vtt").write_bytes(good_vtt.encode("utf-16-le"))  # and without one
    (tmp_path / "latin1.srt").write_bytes("1\n00:00:01,000 --> 00:00:02,000\nAñoranza y canción\n".encode("latin-1"))
    (tmp_path / "mixed.txt").write_bytes("Primera línea.\n".encode() + "Segunda línea.\n".encode("latin-1"))
    (tmp_path / "cover.json").write_bytes(b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR" + bytes(range(256)) * 4)  # an image
    (tmp_path / "empty.srt").write_bytes(b"")
    (tmp_path / "frames.srt").write_text("1\n00:00:01:15 --> 00:00:04:00\nTimecode with frames.\n")
    (tmp_path / "hours.txt").write_text("1h02m03s Ann: hello\n1h02m09s Bob: hi\n")
    (tmp_path / "joined.vtt").write_text(
        "WEBVTT\n\n00:20:00.000 --> 00:20:02.000\nend of one\n\n00:00:01.000 --> 00:00:02.000\nstart of another\n"
    )
    with (tmp_path / "huge.vtt").open("wb") as fh:  # 200 MB, sparse: refused by its size before it is read
        fh.truncate(200 * 1024 * 1024)

    report = app.import_transcripts([tmp_path])

    outcomes = _outcomes(report)
    imported = {name for name, outcome in outcomes.items() if outcome == Outcome.CREATED}
    assert imported == {"good.vtt", "windows.vtt", "nobom.vtt", "latin1.srt", "mixed.txt"}
    reasons = {Path(f.path).name: f.reason for f in report.of(Outcome.UNREADABLE)}
    assert set(reasons) == {"cover.json", "empty.srt", "frames.srt", "hours.txt", "joined.vtt", "huge.vtt"}
    assert "binary" in reasons["cover.json"]
    assert "empty" in reasons["empty.srt"]
    assert "00:00:01:15" in reasons["frames.srt"] and "unknown timestamp format" in reasons["frames.srt"]
    assert "1h02m03s" in reasons["hours.txt"]
    assert "backwards" in reasons["joined.vtt"]
    assert "200 MB" in reasons["huge.vtt"] and "FONOTECA_MAX_FEED_MB" in reasons["huge.vtt"]
    assert all("\n" not in reason and " — " in reason for reason in reasons.values())  # one line: what, what to do
    notes = {Path(f.path).name: f.notes for f in report.of(Outcome.CREATED)}
    assert notes["windows.vtt"] == ["read as UTF-16"] and notes["nobom.vtt"] == ["read as UTF-16-LE"]
    assert "Latin-1" in notes["latin1.srt"][0] and "mixed encodings" in notes["mixed.txt"][0]
    texts = {Path(f.path).name: app.archive.transcript_text(f.episode_id) for f in report.of(Outcome.CREATED)}
    assert texts["windows.vtt"] == texts["nobom.vtt"] == "La canción del año."
    assert texts["latin1.srt"] == "Añoranza y canción"
    assert texts["mixed.txt"] == "Primera línea.\nSegunda línea."


def test_a_path_that_does_not_exist_is_a_line_and_the_other_paths_go_on(app: Fonoteca, tmp_path: Path):
    (tmp_path / "ok.srt").write_text("1\n00:00:01,000 --> 00:00:02,000\nfine\n")
    report = app.import_transcripts([tmp_path / "missing", tmp_path / "ok.srt"])
    assert _outcomes(report) == {"missing": Outcome.UNREADABLE, "ok.srt": Outcome.CREATED}


# -- dry run, idempotency, --force ---------------------------------------------------------------------------------


def test_a_dry_run_reports_what_would_happen_and_changes_nothing(app: Fonoteca, pc20, tmp_path: Path):
    shutil.copy(shared_path(*EXAMPLES) / "example.srt", tmp_path / "PC20-57-Captions.srt")
    (tmp_path / "new.vtt").write_text("WEBVTT\n\n00:01.000 --> 00:02.000\nnew\n")
    (tmp_path / "broken.srt").write_text("1\n00:00:01:15 --> 00:00:04:00\nx\n")
    before = (app.archive.status_counts(), len(app.archive.list_shows()), app.stats().seconds)

    report = app.import_transcripts([tmp_path], show=pc20.slug, dry_run=True)

    assert report.dry_run and "nothing was changed" in report.summary()
    assert _outcomes(report) == {
        "PC20-57-Captions.srt": Outcome.MATCHED,
        "new.vtt": Outcome.CREATED,
        "broken.srt": Outcome.UNREADABLE,
    }
    assert (app.archive.status_counts(), len(app.archive.list_shows()), app.stats().seconds) == before
    assert not app.settings.index_dir.exists()  # nothing was indexed either
    # Without a show, a dry run creates no show either.
    assert app.import_transcripts([tmp_path / "new.vtt"], dry_run=True).of(Outcome.CREATED)
    assert len(app.archive.list_shows()) == before[1]


def test_importing_again_changes_nothing_and_force_replaces_a_transcript(app: Fonoteca, pc20, tmp_path: Path):
    transcript = tmp_path / "PC20-57-Captions.srt"
    shutil.copy(shared_path(*EXAMPLES) / "example.srt", transcript)
    first = app.import_transcripts([transcript], show=pc20.slug)
    [matched] = first.of(Outcome.MATCHED)
    rev = app.episode(matched.episode_id).transcript_rev

    again = app.import_transcripts([transcript], show=pc20.slug)
    assert _outcomes(again) == {"PC20-57-Captions.srt": Outcome.UNCHANGED} and not again.failed
    assert app.episode(matched.episode_id).transcript_rev == rev

    transcript.write_text("1\n00:00:00,500 --> 00:00:03,000\nA corrected transcript.\n")
    kept = app.import_transcripts([transcript], show=pc20.slug)
    [result] = kept.of(Outcome.KEPT)
    assert "--force" in result.reason
    assert app.archive.segment_count(matched.episode_id) > 1  # the old transcript is still there

    forced = app.import_transcripts([transcript], show=pc20.slug, force=True)
    assert _outcomes(forced) == {"PC20-57-Captions.srt": Outcome.MATCHED}
    assert app.archive.transcript_text(matched.episode_id) == "A corrected transcript."
    assert app.episode(matched.episode_id).transcript_rev > rev
    assert app.search("corrected").total == 1 and app.search("podcasting", show=pc20.slug).total == 0


def test_an_imported_transcript_is_replaced_by_whisper_only_when_forced(app: Fonoteca, pc20, tmp_path: Path):
    (tmp_path / "PC20-57-Captions.srt").write_text("1\n00:00:00,500 --> 00:00:03,000\nImported.\n")
    [matched] = app.import_transcripts([tmp_path], show=pc20.slug).of(Outcome.MATCHED)
    with pytest.raises(FonotecaError, match="already transcribed"):
        app.retry(matched.episode_id)
    assert app.archive.list_episodes(pc20.id, status=["new", "downloaded", "transcribing"])  # the others wait
    assert matched.episode_id not in {e.id for e in app.archive.list_episodes(pc20.id, status="new")}


def test_a_failed_episode_takes_an_imported_transcript(app: Fonoteca, pc20, tmp_path: Path):
    episode_id = _by_title(app, pc20.id)["Episode 57: Rebel Rubes"]
    app.archive.set_status(episode_id, Status.FAILED, "the download failed")
    (tmp_path / "PC20-57-Captions.srt").write_text("1\n00:00:00,500 --> 00:00:03,000\nImported.\n")
    app.import_transcripts([tmp_path], show=pc20.slug)
    episode = app.episode(episode_id)
    assert (episode.status, episode.source, episode.error) == (Status.DONE, Source.IMPORTED, None)


def test_the_cli_prints_the_report_as_json_and_exits_1_when_a_file_was_not_imported(
    settings: Settings, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
):
    from fonoteca.cli import app as cli

    monkeypatch.setenv("FONOTECA_EMBEDDINGS", "none")
    folder = tmp_path / "in"
    folder.mkdir()
    (folder / "a.srt").write_text("1\n00:00:01,000 --> 00:00:02,000\nfine\n")
    (folder / "b.srt").write_bytes(b"")
    home = ["--home", str(settings.home)]
    result = CliRunner().invoke(cli, [*home, "import", str(folder), "--json"])
    assert result.exit_code == 1, result.output
    data = json.loads(result.stdout)
    assert [Path(f["path"]).name for f in data["created"]] == ["a.srt"]
    assert [Path(f["path"]).name for f in data["unreadable"]] == ["b.srt"] and data["unreadable"][0]["reason"]
    again = CliRunner().invoke(cli, [*home, "import", str(folder / "a.srt")])
    assert again.exit_code == 0 and "1 unchanged" in again.stdout


def test_a_transcript_only_episode_has_a_page_without_a_player_and_its_transcript(app: Fonoteca, tmp_path: Path):
    from fastapi.testclient import TestClient

    from fonoteca.web.app import create_app

    shutil.copy(shared_path(*EXAMPLES) / "example.vtt", tmp_path / "trailer.vtt")
    [created] = app.import_transcripts([tmp_path / "trailer.vtt"]).of(Outcome.CREATED)
    page = TestClient(create_app(app.settings)).get(f"/episode/{created.episode_id}")
    assert page.status_code == 200
    assert "<audio" not in page.text and "<video" not in page.text
    assert "podcast trailer" in page.text and "Gillian" in page.text


def test_a_sync_leaves_a_show_of_imported_transcripts_alone(app: Fonoteca, tmp_path: Path):
    (tmp_path / "talk.srt").write_text("1\n00:00:01,000 --> 00:00:02,000\nOnly a transcript.\n")
    [created] = app.import_transcripts([tmp_path]).of(Outcome.CREATED)
    report = app.sync()
    assert not report.show_errors and not report.failed and report.added == 0
    assert app.episode(created.episode_id).status == Status.DONE
