"""Local audio/video files and folders: what each file is, when it was published, and any sidecar transcript."""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

from fonoteca.errors import ConfigError, MediaError, NotFound
from fonoteca.ingest.media import MEDIA_EXTENSIONS, VIDEO_EXTENSIONS
from fonoteca.ingest.transcripts import PREFERENCE

# 2024-01-10, 2024_01_10, 2024.01.10 or 20240110 anywhere in the name
_DATE_IN_NAME = re.compile(r"(?<!\d)(20\d{2}|19\d{2})[-_.]?(0[1-9]|1[0-2])[-_.]?(0[1-9]|[12]\d|3[01])(?!\d)")
_SIDECAR_EXTENSIONS = {"vtt": ".vtt", "srt": ".srt", "json": ".json"}


@dataclass
class LocalItem:
    path: Path
    guid: str  # sha256 of the content: renaming or moving the file does not make it a new episode
    title: str
    kind: str  # audio | video
    published: str
    sidecar: Path | None


def find_media(path: Path) -> list[Path]:
    """The media files at `path` (one file, or a folder searched recursively), in name order."""
    if not path.exists():
        raise NotFound(f"{path} does not exist", "check the path (quote it if it has spaces)")
    if path.is_file():
        if path.suffix.lower() not in MEDIA_EXTENSIONS:
            raise MediaError(
                f"{path.name} is not an audio or video file",
                f"fonoteca reads {', '.join(sorted(e.lstrip('.') for e in MEDIA_EXTENSIONS))} files and RSS/Atom feeds",
            )
        return [path]
    return sorted(p for p in path.rglob("*") if p.is_file() and p.suffix.lower() in MEDIA_EXTENSIONS)


def file_hash(path: Path) -> str:
    """The file's identity; a MediaError when it cannot be read, which is that file's failure, not the folder's."""
    digest = hashlib.sha256()
    try:
        with path.open("rb") as fh:
            for block in iter(lambda: fh.read(1 << 20), b""):
                digest.update(block)
    except OSError as exc:
        raise MediaError(
            f"{path.name} cannot be read ({exc.strerror or exc})",
            "make it readable (check its permissions), then run `fonoteca sync`",
        ) from exc
    return "sha256:" + digest.hexdigest()


def unreadable_guid(path: Path) -> str:
    """What a file that cannot be read is known by until it can: its content, the usual identity, is out of reach."""
    return f"unreadable:{path.resolve()}"


def parse_date(text: str) -> str:
    """A `--date` value (YYYY-MM-DD) in the archive's date format, or a ConfigError saying what is wrong with it."""
    try:
        day = datetime.strptime(text.strip(), "%Y-%m-%d")
    except ValueError:
        raise ConfigError(f"--date {text!r} is not a date", "give a real calendar date as YYYY-MM-DD") from None
    return day.date().isoformat() + "T00:00:00Z"  # strftime drops the zero padding of years before 1000


def date_from_name(name: str) -> str | None:
    match = _DATE_IN_NAME.search(name)
    if not match:
        return None
    year, month, day = match.groups()
    return f"{year}-{month}-{day}T00:00:00Z"


def date_from_tags(path: Path) -> str | None:
    import mutagen

    try:
        tags = mutagen.File(path, easy=True)
    except Exception:  # mutagen raises format-specific errors for odd files; a date is a nicety, not a must
        return None
    if not tags:
        return None
    for key in ("date", "originaldate", "year"):
        values = tags.get(key) if hasattr(tags, "get") else None
        if values:
            match = re.match(r"(\d{4})(?:-(\d{2}))?(?:-(\d{2}))?", str(values[0]))
            if match:
                year, month, day = match.group(1), match.group(2) or "01", match.group(3) or "01"
                return f"{year}-{month}-{day}T00:00:00Z"
    return None


def title_from(path: Path) -> str:
    import mutagen

    try:
        tags = mutagen.File(path, easy=True)
        if tags and tags.get("title"):
            return str(tags["title"][0]).strip()
    except Exception:  # see date_from_tags
        pass
    stem = _DATE_IN_NAME.sub("", path.stem)
    return re.sub(r"[\s_\-.]+", " ", stem).strip() or path.stem


def sidecar_for(path: Path) -> Path | None:
    """`ep.vtt`/`ep.srt`/`ep.json` beside `ep.mp3`, timed formats first."""
    for kind in PREFERENCE:
        ext = _SIDECAR_EXTENSIONS.get(kind)
        if ext and (candidate := path.with_suffix(ext)).exists():
            return candidate
    return None


def describe(path: Path, date_override: str | None = None, guid: str | None = None) -> LocalItem:
    """The file as an episode; `guid` is its file_hash when the caller already computed it."""
    published = date_override or date_from_tags(path) or date_from_name(path.name)
    if published is None:
        published = datetime.fromtimestamp(path.stat().st_mtime, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
    return LocalItem(
        path=path.resolve(),
        guid=guid or file_hash(path),
        title=title_from(path),
        kind="video" if path.suffix.lower() in VIDEO_EXTENSIONS - {".webm"} else "audio",
        published=published,
        sidecar=sidecar_for(path),
    )
