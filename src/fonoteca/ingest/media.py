"""What a media file is: audio or video, how long, and whether it decodes at all (PyAV, no ffmpeg binary)."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from fonoteca.errors import MediaError

AUDIO_EXTENSIONS = {".mp3", ".m4a", ".aac", ".ogg", ".oga", ".opus", ".flac", ".wav", ".wma", ".aiff", ".aif", ".webm"}
VIDEO_EXTENSIONS = {".mp4", ".m4v", ".mkv", ".mov", ".avi", ".webm", ".ts", ".flv", ".wmv", ".mpg", ".mpeg"}
MEDIA_EXTENSIONS = AUDIO_EXTENSIONS | VIDEO_EXTENSIONS


@dataclass
class MediaInfo:
    kind: str  # audio | video
    duration: float | None


def probe(path: Path | str) -> MediaInfo:
    """Open the file and decode its first audio frames; a MediaError if it is not playable media."""
    import av

    path = Path(path)
    if not path.exists():
        raise MediaError(f"{path} does not exist", "check the path")
    try:
        with av.open(str(path)) as container:
            if not container.streams.audio:
                raise MediaError(f"{path.name} has no audio track", "give fonoteca an audio or video file with sound")
            stream = container.streams.audio[0]
            decoded = 0
            for _frame in container.decode(stream):
                decoded += 1
                if decoded >= 3:
                    break
            if decoded == 0:
                raise MediaError(f"{path.name} contains no decodable audio", "the file is empty or corrupt")
            has_video = any(s.frames or s.average_rate for s in container.streams.video)
            duration = None
            if container.duration:
                duration = container.duration / 1_000_000
            elif stream.duration and stream.time_base:
                duration = float(stream.duration * stream.time_base)
    except MediaError:
        raise
    except Exception as exc:  # PyAV raises InvalidDataError, DecoderNotFoundError, EOFError, UnicodeDecodeError…
        raise MediaError(
            f"{path.name} is not playable media ({type(exc).__name__}: {exc})".replace("\n", " "),
            "check that it is an audio/video file and not truncated; replace it and run `fonoteca retry`",
        ) from exc
    return MediaInfo(kind="video" if has_video else "audio", duration=duration)
