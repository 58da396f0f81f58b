"""Transcripts that arrive with speakers keep them, and every export writes them back: WebVTT voices, SRT and text
`Name:` turns, Podcasting 2.0 JSON and WhisperX JSON `speaker`, on the real files of the Podcasting 2.0 spec and
checked against the real corpora for labels that are not speakers."""

from __future__ import annotations

import html
import json
import re
from collections import Counter
from pathlib import Path

import pytest
import srt
import webvtt
from conftest import shared_path

from fonoteca.app import Fonoteca
from fonoteca.archive import Segment
from fonoteca.ingest.transcripts import parse_transcript, read_transcript, speaker_labels
from fonoteca.output.transcripts import render_transcript
from fonoteca.settings import Settings


def _example(name: str) -> Path:
    return shared_path("transcripts", "podcast20_spec_examples", "transcripts", name)


def test_srt_name_prefixes_give_each_turn_its_speaker_until_the_next_name() -> None:
    """The spec's real SRT names the speaker only where the turn starts ("Travis: When you first get"): the cues after
    it are Travis's too, and the name is not left in the text."""
    transcript = read_transcript(_example("example.srt").read_bytes(), "example.srt")
    assert all(s.speaker for s in transcript.segments)
    said = Counter(s.speaker for s in transcript.segments)
    assert set(said) == {"Travis", "Sarah", "Gilon"} and sum(said.values()) == 222
    first, second = transcript.segments[:2]
    assert first.speaker == "Travis" and first.text.startswith("When you first get")
    assert second.speaker == "Travis" and not second.text.startswith("Travis")
    sarah = next(s for s in transcript.segments if s.speaker == "Sarah")
    assert sarah.text.startswith("Creating good audio") and sarah.start == pytest.approx(53.03)


def test_webvtt_voices_carry_to_the_cues_that_do_not_repeat_them() -> None:
    text = (
        "WEBVTT\n\n00:00:00.000 --> 00:00:05.000\n<v John>Podcasting 2.0 is really changing the game.\n\n"
        "00:00:05.000 --> 00:00:10.000\n<v Tom>Yeah, absolutely.\n\n"
        "00:00:10.000 --> 00:00:15.000\nIt's amazing how it's empowering creators.\n\n"
        "00:00:15.000 --> 00:00:20.000\n<v.loud John Doe>Exactly, Tom.</v>\n"
    )  # the spec's own snippet (transcripts.md): the third cue is still Tom's
    segments = parse_transcript(text, "text/vtt")
    assert [(s.speaker, s.text) for s in segments] == [
        ("John", "Podcasting 2.0 is really changing the game."),
        ("Tom", "Yeah, absolutely."),
        ("Tom", "It's amazing how it's empowering creators."),
        ("John Doe", "Exactly, Tom."),
    ]
    real = read_transcript(_example("example.vtt").read_bytes(), "example.vtt")
    assert [s.speaker for s in real.segments] == ["Sarah"] * 5 + ["Gillian"] * 2


def test_a_webvtt_cue_of_several_voices_gives_each_voice_its_line_in_order() -> None:
    text = (
        "WEBVTT\n\n00:00:10.000 --> 00:00:14.000\n<v Ana>¿Vienes mañana?</v><v Luis>Sí, claro.</v>\n\n"
        "00:00:14.000 --> 00:00:16.000\nY llevo el micro.\n\n"
        "00:00:16.000 --> 00:00:18.000\n<v.loud Ana>Vale</v>\n<v Beto>&amp; yo <i>también</i></v>\n"
    )
    segments = parse_transcript(text, "text/vtt")
    assert [(s.speaker, s.text) for s in segments] == [
        ("Ana", "¿Vienes mañana?"), ("Luis", "Sí, claro."), ("Luis", "Y llevo el micro."), ("Ana", "Vale"),
        ("Beto", "& yo también"),
    ]  # fmt: skip
    ana, luis = segments[:2]
    # The cue's four seconds shared out in order by letters (14 and 9): Luis starts near where he speaks.
    assert (ana.start, ana.end, luis.start, luis.end) == (10.0, 12.435, 12.435, 14.0)
    assert render_transcript(segments, "vtt").count("<v ") == 5  # each voice its own cue again
    assert [s.speaker for s in parse_transcript(render_transcript(segments, "vtt"), "vtt")] == [
        s.speaker for s in segments
    ]


def test_lower_case_handles_are_speakers_where_the_labels_open_the_lines() -> None:
    srt = "".join(
        f"{i}\n00:00:{2 * i:02d},000 --> 00:00:{2 * i + 2:02d},000\n{line}\n\n"
        for i, line in enumerate(["midudev: hola a todos", "@ana_dev: buenas", "midudev: empezamos con rust",
                                  "y seguimos", "@ana_dev: vale"], start=1)
    )  # fmt: skip
    segments = parse_transcript(srt, "srt")
    assert [(s.speaker, s.text) for s in segments] == [
        ("midudev", "hola a todos"), ("@ana_dev", "buenas"), ("midudev", "empezamos con rust"),
        ("midudev", "y seguimos"), ("@ana_dev", "vale"),
    ]  # fmt: skip
    text = parse_transcript("midudev: hola\n\nmidudev: seguimos\n\ngoncy: qué tal\n\ngoncy: bien", "txt")
    assert [s.speaker for s in text] == ["midudev", "midudev", "goncy", "goncy"]
    marked = speaker_labels(["Hoy hablamos de Rust.", "dev_2: yo uso Go", "Ana: y yo Rust", "dev_2: bien", "fin",
                             "otra cosa", "Ana: claro", "y más"])  # fmt: skip
    assert [label[0] if label else None for label in marked] == [
        None, "dev_2", "Ana", "dev_2", None, None, "Ana", None,
    ]  # fmt: skip


@pytest.mark.parametrize(
    "lines",
    [
        # A note in the middle of speech, twice: "Note" is no name.
        ["Ana: Hola a todos.", "Note: this part was cut.", "Luis: Hola.", "Note: and this one too.", "Ana: Sigamos."],
        # Words that open a quote in Spanish speech (Venezolanos' Markdown: "Dice:" 15 times in one file).
        ["Y entonces el presidente.", "Dice: no volveré.", "Y luego.", "Dice: me equivoqué.", "Repito: me equivoqué."],
        # Sentences with a colon, clocks and links.
        ["So here's the thing: it works.", "Step 1: install it.", "Step 1: again.", "10:30 is late.", "https://x.org"],
        # A capitalised word said twice before a colon, mid-file, with no other label: no monologue's label.
        ["We start now.", "Results: good.", "More talk.", "Results: even better."],
        # Lower-case words before a colon, twice each, in lines mostly unlabelled: speech, not handles.
        [
            "Hoy hablamos de bases de datos.",
            "resultado: funciona.",
            "Y luego de índices.",
            "código: limpio.",
            "Y más cosas.",
            "resultado: mejor.",
            "Seguimos.",
            "código: rápido.",
            "Ana: y ya.",
            "Ana: fin.",
        ],
    ],
)
def test_a_colon_in_speech_is_not_taken_for_a_speaker(lines: list[str]) -> None:
    labels = speaker_labels(lines)
    named = {label[0] for label in labels if label}
    assert not named - {"Ana", "Luis"}


def test_real_corpora_without_speakers_get_none_from_their_colons() -> None:
    """Talk Python's 80 WebVTT files and Venezolanos' 364 Markdown files name no speaker; the quotes ("Dice:",
    "Cito:") and colons in them must not become one."""
    talk = sorted(shared_path("transcripts", "talkpython_en_vtt_subset").glob("*.vtt"))
    venezolanos = sorted(shared_path("transcripts", "venezolanos_es").rglob("transcripcion.md"))
    assert len(talk) == 80 and len(venezolanos) >= 300
    for path in talk + venezolanos:
        transcript = read_transcript(path.read_bytes(), path.name)
        assert not any(s.speaker for s in transcript.segments), path


def test_names_of_several_words_numbered_labels_and_particles_are_speakers() -> None:
    lines = ["Juan de la Cruz: Buenas.", "SPEAKER_00: Hola.", "Juan de la Cruz: Sí.", "SPEAKER_00: Claro.",
             "Speaker 2: Yo también.", "Speaker 2: Vale."]  # fmt: skip
    assert [label[0] if label else None for label in speaker_labels(lines)] == [
        "Juan de la Cruz", "SPEAKER_00", "Juan de la Cruz", "SPEAKER_00", "Speaker 2", "Speaker 2",
    ]  # fmt: skip


def test_whisperx_json_is_cut_where_its_words_change_speaker() -> None:
    """WhisperX's output (pyannote's labels on segments and words; a word it could not place has none): a segment
    whose words change voice becomes one segment per voice, each with its words."""
    whisperx = {
        "segments": [
            {"start": 0.0, "end": 4.0, "text": " Hello there. Hi!", "speaker": "SPEAKER_00", "words": [
                {"word": "Hello", "start": 0.0, "end": 0.5, "score": 0.9, "speaker": "SPEAKER_00"},
                {"word": "there.", "start": 0.6, "end": 1.0, "score": 0.9},
                {"word": "Hi!", "start": 2.0, "end": 2.4, "score": 0.8, "speaker": "SPEAKER_01"},
            ]},
            {"start": 5.0, "end": 6.0, "text": " Bye.", "speaker": "SPEAKER_01",
             "words": [{"word": "Bye.", "start": 5.0, "end": 6.0, "score": 0.9, "speaker": "SPEAKER_01"}]},
        ],
        "word_segments": [],
    }  # fmt: skip
    transcript = read_transcript(json.dumps(whisperx).encode(), "episode.json")
    assert [(s.start, s.end, s.text, s.speaker) for s in transcript.segments] == [
        (0.0, 1.0, "Hello there.", "SPEAKER_00"),
        (2.0, 4.0, "Hi!", "SPEAKER_01"),
        (5.0, 6.0, "Bye.", "SPEAKER_01"),
    ]
    assert [w[2] for w in transcript.segments[0].words] == ["Hello", "there."]


def test_podcasting_json_keeps_its_speakers() -> None:
    transcript = read_transcript(_example("example.json").read_bytes(), "example.json")
    assert [(s.speaker, s.text) for s in transcript.segments] == [("Darth Vader", "I am your father."),
                                                                  ("Luke", "Nooooo")]  # fmt: skip


TALK = [
    Segment(0.0, 2.5, "Bienvenidos a otro episodio & más <3", speaker="Ana María"),
    Segment(2.5, 5.0, "Gracias: un placer.", speaker="Ana María"),
    Segment(5.0, 7.25, "Hola, Ana.", speaker="Luis"),
    Segment(7.25, 9.0, "¿Empezamos?", speaker="SPEAKER_02"),
]


@pytest.mark.parametrize("fmt", ["vtt", "srt", "json", "txt"])
def test_every_export_reads_back_with_the_same_speakers(fmt: str) -> None:
    written = render_transcript(TALK, fmt)
    back = read_transcript(written.encode(), f"episode.{fmt}").segments
    assert [(s.speaker, s.text) for s in back] == [(s.speaker, s.text) for s in TALK]
    if fmt != "txt":
        assert [(s.start, s.end) for s in back] == [(s.start, s.end) for s in TALK]


def test_webvtt_and_srt_exports_are_read_by_the_reference_parsers_with_their_speakers(tmp_path: Path) -> None:
    vtt = tmp_path / "episode.vtt"
    vtt.write_text(render_transcript(TALK, "vtt"))
    # webvtt-py gives the cue text as written, escaped (`&amp;`): its voices and unescaped words are the speech
    assert [(c.voice, html.unescape(c.text)) for c in webvtt.read(str(vtt))] == [(s.speaker, s.text) for s in TALK]
    cues = list(srt.parse(render_transcript(TALK, "srt")))
    assert [c.content for c in cues] == [f"{s.speaker}: {s.text}" for s in TALK]
    assert render_transcript(TALK, "txt").splitlines()[2] == "Luis: Hola, Ana."


def test_an_imported_transcript_with_speakers_says_so_and_its_exports_keep_them(settings: Settings, tmp_path) -> None:
    """Import → archive → export → import: the names survive every step, and the archive says the episode has
    speakers: it is not one the speaker step diarizes (only what Whisper transcribed is)."""
    folder = tmp_path / "in"
    folder.mkdir()
    (folder / "with-names.srt").write_bytes(_example("example.srt").read_bytes())
    (folder / "without.vtt").write_text("WEBVTT\n\n00:00:00.000 --> 00:00:02.000\nNadie habla aquí: solo texto.\n")
    with Fonoteca(settings) as app:
        report = app.import_transcripts([folder])
        ids = {Path(f.path).name: f.episode_id for f in report.files if f.episode_id}
        named, plain = ids["with-names.srt"], ids["without.vtt"]
        assert named not in dict(app.archive.voices.to_diarize())
        assert {s.speaker for s in app.archive.segments(named)} == {"Travis", "Sarah", "Gilon"}
        assert not any(s.speaker for s in app.archive.segments(plain))
        original = [(s.speaker, s.text) for s in app.archive.segments(named)]
        for fmt in ("vtt", "srt", "json", "txt"):
            again = read_transcript(app.export(named, fmt).encode(), f"x.{fmt}").segments
            assert [(s.speaker, s.text) for s in again] == original, fmt


def test_a_publishers_transcript_keeps_its_speakers_and_the_feed_republishes_them(settings: Settings, http_server):
    """A feed served on 127.0.0.1 links the spec's real SRT as its <podcast:transcript>: every line keeps its
    speaker, the episode is marked as having them, and fonoteca's own feed names them again (WebVTT voices,
    <podcast:person>)."""
    srt_url = http_server.add("ep.srt", _example("example.srt"))
    feed = (
        '<?xml version="1.0" encoding="UTF-8"?><rss version="2.0" xmlns:podcast="https://podcastindex.org/namespace/1.0">'
        "<channel><title>Podcasting Q&amp;A</title><language>en</language><item><title>Ten rookie mistakes</title>"
        "<guid>pq1</guid><pubDate>Tue, 09 Jan 2024 09:00:00 +0000</pubDate>"
        f'<enclosure url="{http_server.url("/status/500")}" type="audio/mpeg" length="1"/>'
        f'<podcast:transcript url="{srt_url}" type="application/srt"/></item></channel></rss>'
    )
    url = http_server.add("feed.xml", feed.encode(), "application/rss+xml")
    with Fonoteca(settings) as app:
        show, _report = app.add(url)
        [episode] = app.archive.list_episodes(show.id)
        assert (episode.status, episode.source) == ("done", "publisher")
        segments = app.archive.segments(episode.id)
        assert all(s.speaker for s in segments) and episode.id not in dict(app.archive.voices.to_diarize())
        assert {s.speaker for s in segments} == {"Travis", "Sarah", "Gilon"}
        base = "http://127.0.0.1:8000/show/podcasting"
        republished = app.publish.feed(show, files_base=f"{base}/episodes", self_url=f"{base}/feed.xml").body.decode()
        vtt = app.export(episode.id, "vtt")
    people = re.findall(r"<podcast:person[^>]*>([^<]+)</podcast:person>", republished)
    assert sorted(people) == ["Gilon", "Sarah", "Travis"]
    assert vtt.count("<v Travis>") == 141
