"""What a media file is: audio or video, how long, and whether it decodes at all (PyAV, no ffmpeg binary)."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlsplit

from fonoteca.archive.models import Episode, Show, SourceKind
from fonoteca.errors import MediaError

AUDIO_EXTENSIONS = {".mp3", ".m4a", ".aac", ".ogg", ".oga", ".opus", ".flac", ".wav", ".wma", ".aiff", ".aif", ".webm"}
VIDEO_EXTENSIONS = {".mp4", ".m4v", ".mkv", ".mov", ".avi", ".webm", ".ts", ".flv", ".wmv", ".mpg", ".mpeg"}
MEDIA_EXTENSIONS = AUDIO_EXTENSIONS | VIDEO_EXTENSIONS


@dataclass
class MediaInfo:
    kind: str  # audio | video
    duration: float | None


def error_reason(exc: BaseException) -> str:
    """What a decoder error says, without PyAV's `[Errno 1094995529]` and the path it repeats."""
    strerror = getattr(exc, "strerror", None)
    reason = strerror if isinstance(strerror, str) and strerror else str(exc) or type(exc).__name__
    return reason.replace("\n", " ").strip()


def probe(path: Path | str, label: str | None = None) -> MediaInfo:
    """Open the file and decode its first audio frames; a MediaError if it is not playable media.

    `label` names the media in messages when the file itself has an internal name (a download's `.part` file)."""
    import av

    path = Path(path)
    label = label or path.name
    if not path.exists():
        raise MediaError(f"{path} does not exist", "check the path")
    try:
        with av.open(str(path)) as container:
            if not container.streams.audio:
                raise MediaError(f"{label} has no audio track", "give fonoteca an audio or video file with sound")
            stream = container.streams.audio[0]
            decoded = 0
            for _frame in container.decode(stream):
                decoded += 1
                if decoded >= 3:
                    break
            if decoded == 0:
                raise MediaError(f"{label} contains no decodable audio", "the file is empty or corrupt")
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
            f"{label} is not playable media ({error_reason(exc)})",
            "check that it is an audio/video file and not truncated; replace it and run `fonoteca retry`",
        ) from exc
    return MediaInfo(kind="video" if has_video else "audio", duration=duration)


def trusted_media_file(episode: Episode, show: Show, media_dir: Path) -> Path | None:
    """The episode's media file if it lies (symlinks resolved) in fonoteca's media folder, where downloads go, or in
    the folder of the local show it came from: a feed's folder when the feed is a local file, a media show's folder
    or single file. None for anything else a feed managed to store (an older fonoteca kept `file:///etc/shadow` from a
    feed on the web as a media path): such a path is neither served nor transcribed."""
    if not episode.media_path:
        return None
    try:
        path = Path(episode.media_path).resolve(strict=True)
    except (OSError, RuntimeError):  # missing, unreadable, or a symlink loop
        return None
    roots = [media_dir]
    if show.source_kind == SourceKind.FOLDER:
        roots.append(Path(show.source))
    elif urlsplit(show.source).scheme == "":  # a feed file on this machine, with its media beside it
        roots.append(Path(show.source).parent)
    for root in roots:
        try:
            root = root.resolve(strict=True)
        except (OSError, RuntimeError):
            continue
        if path.is_file() and (path == root or path.is_relative_to(root)):
            return path
    return None
