"""Reading a media file's audio a window at a time: 16 kHz mono float32, from any second, without decoding the rest.

faster-whisper's own `decode_audio` returns the whole file at once: 1.8 GB for three hours, and everything
faster-whisper computes from it grows with it. Here a window is decoded by seeking the container (PyAV) close to its
start and resampling only up to its end, so memory depends on the window's length, not the episode's, and a resumed
episode starts where it stopped instead of decoding everything before it again.
"""

from __future__ import annotations

from dataclasses import dataclass

import av
import numpy as np

from fonoteca.errors import MediaError
from fonoteca.ingest.media import error_reason

SAMPLE_RATE = 16_000
# Decoded audio resampled at once (faster-whisper groups its frames the same way, with the same samples out). One
# resampler call per decoded frame (26 ms of MP3) took 1.7× the time of the decoding itself; two seconds at a time,
# 0.9× (bench/speakers.py --decoding), and no more memory than the window already takes.
GROUP_SECONDS = 2.0


@dataclass
class AudioWindow:
    start: float  # seconds from the file's start
    samples: np.ndarray  # 16 kHz mono float32
    last: bool  # the file ends inside this window

    @property
    def end(self) -> float:
        return self.start + self.samples.size / SAMPLE_RATE


def _media_error(path: str, exc: Exception) -> MediaError:
    if isinstance(exc, FileNotFoundError):
        return MediaError(f"media file not found: {path}", "check the path, or run `fonoteca sync` again")
    return MediaError(
        f"cannot decode {path}: {error_reason(exc)}",
        "the file is not audio/video or is corrupt; replace it and run `fonoteca retry`",
    )


def read_window(path: str, start: float, seconds: float) -> AudioWindow:
    """`seconds` of audio from `start` (fewer at the end of the file), or a MediaError that says what to do."""
    return _read(path, start, int(seconds * SAMPLE_RATE))


def decode(path: str) -> np.ndarray:
    """The whole file's audio (short clips: tests, benchmarks), or a MediaError."""
    return _read(path, 0.0, None).samples


def _read(path: str, start: float, wanted: int | None) -> AudioWindow:
    """`wanted` samples from `start` (None: to the end). The samples are faster-whisper's own `decode_audio`'s: the
    decoded frames are gathered in a FIFO and resampled in groups, to 16-bit samples that are then scaled to float,
    as there. Resampling straight to float gives slightly different audio, and on the benchmark's clips a slightly
    different transcript (WER +0.002)."""
    try:
        with av.open(path, mode="r", metadata_errors="ignore") as container:
            if not container.streams.audio:
                raise MediaError(
                    f"no audio in {path}", "the file has no audio track; replace it and run `fonoteca retry`"
                )
            stream = container.streams.audio[0]
            if start > 0:
                # Lands on a packet at or before `start` (any_frame=False); the samples before it are cut below.
                container.seek(int(start * av.time_base), backward=True, any_frame=False)
            resampler = av.AudioResampler(format="s16", layout="mono", rate=SAMPLE_RATE)
            fifo = av.AudioFifo()
            chunks: list[np.ndarray] = []
            have = skip = 0  # samples resampled so far; those of them before `start`
            position: float | None = None  # the time of the first sample kept so far
            channels = 0
            last = True
            for frame in _frames(container, stream):
                if position is None:
                    frame_time = frame.time if frame.time is not None else 0.0
                    if frame_time + frame.samples / frame.sample_rate <= start:
                        continue  # a whole frame before the window
                    position = frame_time
                    skip = int(max(0.0, start - position) * SAMPLE_RATE)
                    channels = frame.layout.nb_channels
                elif frame.layout.nb_channels != channels:  # the FIFO checks the format and rate, not this
                    raise ValueError("the number of audio channels changes midway")
                frame.pts = None  # as faster-whisper does: a gap in the timestamps is no reason to stop
                fifo.write(frame)
                group = int(GROUP_SECONDS * frame.sample_rate)
                if wanted is not None:  # no more than the window still needs: a window is not decoded past its end
                    group = min(group, -(-(skip + wanted - have) * frame.sample_rate // SAMPLE_RATE))
                if fifo.samples < group:
                    continue
                have += _resample(resampler, fifo.read(), chunks)
                if wanted is not None and have - skip >= wanted:
                    last = False
                    break
            else:
                if fifo.samples:
                    _resample(resampler, fifo.read(), chunks)
                _resample(resampler, None, chunks)  # what the resampler still holds at the end of the file
    except MediaError:
        raise
    except Exception as exc:  # PyAV raises many error types for corrupt or non-media input
        raise _media_error(path, exc) from exc
    audio = np.concatenate(chunks) if chunks else np.zeros(0, dtype=np.int16)
    kept = audio[skip:] if wanted is None else audio[skip : skip + wanted]
    samples = kept.astype(np.float32) / 32768.0
    if start == 0 and samples.size == 0:
        raise MediaError(f"no audio in {path}", "the file has no audio track; replace it and run `fonoteca retry`")
    return AudioWindow(start=start, samples=samples, last=last or wanted is None or samples.size < wanted)


def _resample(resampler: av.AudioResampler, frame: av.AudioFrame | None, chunks: list[np.ndarray]) -> int:
    """Appends `frame` resampled (None: the resampler's last samples) to `chunks`; how many samples that added."""
    added = 0
    for out in resampler.resample(frame):
        chunk = out.to_ndarray().reshape(-1)
        chunks.append(chunk)
        added += chunk.size
    return added


def _frames(container: av.container.InputContainer, stream: av.audio.stream.AudioStream):
    """The stream's decoded frames; a packet that does not decode is skipped, as faster-whisper does, so that one
    damaged frame in a long recording costs a few milliseconds, not the episode."""
    for packet in container.demux(stream):
        try:
            yield from packet.decode()
        except av.error.InvalidDataError:
            continue


def duration_of(path: str) -> float | None:
    """The duration the container declares (an estimate for some MP3s; the transcription finds the exact one)."""
    try:
        with av.open(path, mode="r", metadata_errors="ignore") as container:
            if container.duration:
                return container.duration / av.time_base
            stream = container.streams.audio[0] if container.streams.audio else None
            if stream is not None and stream.duration and stream.time_base:
                return float(stream.duration * stream.time_base)
    except Exception:  # an unknown duration is not an error: the transcription finds the exact one
        return None
    return None
