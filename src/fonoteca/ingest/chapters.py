"""The publisher's chapters, wherever the publisher gives them: a Podcasting 2.0 chapters file (`<podcast:chapters>`,
fetched with the same checked client as a publisher's transcript), the ID3 CHAP/CTOC frames of an MP3 (read with
mutagen), the chapters yt-dlp reports for a video, and a list of timestamps in the show notes or description
(`00:00 Intro`, `(12:30) Guest`, `1:02:03 – Questions`). They are stored as they are (source `publisher`) and shown
instead of generated ones."""

from __future__ import annotations

import html
import json
import re
from pathlib import Path
from typing import Any

from fonoteca.archive import Chapter, ChapterSource
from fonoteca.errors import MediaError
from fonoteca.ingest.net import Origin
from fonoteca.settings import Settings
from fonoteca.text import parse_timestamp

MIN_NOTE_CHAPTERS = 3  # fewer timestamps in the notes are mentions ("at 12:30 he says…"), not a list of chapters
_PUBLISHER = ChapterSource.PUBLISHER


def fetch_chapters_file(url: str, origin: Origin, settings: Settings) -> bytes:
    """A publisher's chapters file: from the web (size- and time-limited) or a file, only where the show may point."""
    return origin.read_file(
        url,
        settings,
        what=f"the chapters file {url}",
        hint="the publisher's link is broken or slow; the episode gets chapters from its transcript instead",
    )


def parse_podcast_chapters(data: bytes | str) -> list[Chapter]:
    """The chapters of a Podcasting 2.0 JSON chapters file (any 1.x version); MediaError when it is not one."""
    try:
        document = json.loads(data)
        items = document["chapters"]
        chapters = [
            Chapter(
                start=float(item["startTime"]),
                title=str(item.get("title") or "").strip(),
                end=float(item["endTime"]) if item.get("endTime") is not None else None,
                source=_PUBLISHER,
                url=str(item.get("url") or ""),
                image=str(item.get("img") or ""),
                toc=item.get("toc", True) is not False,
            )
            for item in items
        ]
    except (ValueError, TypeError, KeyError) as exc:
        raise MediaError(
            f"the chapters file is not Podcasting 2.0 chapters JSON ({exc})", "the publisher's file is malformed"
        ) from exc
    return sorted((c for c in chapters if c.start >= 0), key=lambda c: c.start)


def id3_chapters(path: Path) -> list[Chapter]:
    """The CHAP frames of a file's ID3 tag, in the order its CTOC table of contents gives (else by start time); a
    chapter's title is its TIT2 sub-frame, its link a WXXX one. None when the file has no ID3 tag."""
    from mutagen.id3 import ID3, ID3NoHeaderError

    try:
        tags = ID3(path)
    except (ID3NoHeaderError, OSError):
        return []
    except Exception:  # noqa: BLE001 — mutagen raises its own errors for damaged tags: no chapters, not a failure
        return []
    frames = {frame.element_id: frame for frame in tags.getall("CHAP")}
    if not frames:
        return []
    order = [c for toc in tags.getall("CTOC") for c in toc.child_element_ids if c in frames]
    ordered = [frames[c] for c in dict.fromkeys(order)] or list(frames.values())
    chapters = []
    for frame in sorted(ordered, key=lambda f: f.start_time):
        title = str(frame.sub_frames["TIT2"].text[0]) if "TIT2" in frame.sub_frames else ""
        links = [f.url for key, f in frame.sub_frames.items() if key.startswith("WXXX")]
        end = frame.end_time / 1000 if frame.end_time not in (None, 0xFFFFFFFF) else None
        chapters.append(
            Chapter(frame.start_time / 1000, title or frame.element_id, end, _PUBLISHER, url=links[0] if links else "")
        )
    return chapters


def platform_chapters(info: dict[str, Any]) -> list[Chapter]:
    """The chapters yt-dlp reports for a video (`chapters`: start_time, end_time, title)."""
    out = []
    for item in info.get("chapters") or []:
        try:
            start = float(item["start_time"])
        except (KeyError, TypeError, ValueError):
            continue
        end = item.get("end_time")
        out.append(Chapter(start, str(item.get("title") or "").strip(), float(end) if end else None, _PUBLISHER))
    return sorted(out, key=lambda c: c.start)


# A line that starts with a time (optionally in brackets) and goes on with a title: "00:00 Intro", "(12:30) Guest",
# "[1:02:03] - Questions", "1:02:03 – Questions", "12:30 | Tema".
_NOTE_LINE = re.compile(
    r"^\s*(?:[-*•·]\s*)?[\(\[]?(?P<time>(?:\d{1,2}:)?\d{1,2}:\d{2})[\)\]]?\s*(?:[-–—:|·.]\s*)?(?P<title>\S.*?)\s*$"
)
_TAG = re.compile(r"<[^>]+>")
_BREAK = re.compile(r"<\s*(?:br|/p|/li|/div|p|li|div)\b[^>]*>", re.I)


def notes_chapters(notes: str) -> list[Chapter]:
    """A list of timestamps in show notes or a description (plain text or HTML), one per line, in increasing order
    and starting near the beginning: the publisher's chapters. Fewer than MIN_NOTE_CHAPTERS, or times that go back,
    are not a list of chapters."""
    text = html.unescape(_TAG.sub("", _BREAK.sub("\n", notes)))
    found: list[Chapter] = []
    for line in text.splitlines():
        match = _NOTE_LINE.match(line)
        if not match:
            continue
        seconds = parse_timestamp(match["time"])
        if found and seconds <= found[-1].start:
            return []
        found.append(Chapter(float(seconds), match["title"].strip(), None, _PUBLISHER))
    if len(found) < MIN_NOTE_CHAPTERS or found[0].start > 60:
        return []
    return found
