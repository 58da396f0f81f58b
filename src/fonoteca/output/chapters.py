"""An episode's chapters out: Podcasting 2.0 chapters JSON (version 1.2 of the format, what `<podcast:chapters>`
points at) and WebVTT chapters (`<track kind="chapters">`)."""

from __future__ import annotations

import html
import json

from fonoteca.archive import Chapter, Episode
from fonoteca.output.transcripts import _clock

CHAPTER_FORMATS = ("json", "vtt")
PODCAST_CHAPTERS_VERSION = "1.2.0"


def render_chapters(episode: Episode, chapters: list[Chapter], fmt: str) -> str:
    if fmt == "json":
        return json.dumps(podcast_chapters(episode, chapters), ensure_ascii=False, indent=2) + "\n"
    if fmt == "vtt":
        cues = []
        for n, chapter in enumerate(c for c in chapters if c.toc):
            end = _end(chapter, chapters, episode)
            cues.append(
                f"{n + 1}\n{_clock(chapter.start, '.')} --> {_clock(end, '.')}\n"
                f"{html.escape(chapter.title, quote=False)}\n"
            )
        return "WEBVTT\n\n" + "\n".join(cues)
    raise ValueError(f"unknown chapters format {fmt!r}; choose one of {', '.join(CHAPTER_FORMATS)}")


def podcast_chapters(episode: Episode, chapters: list[Chapter]) -> dict[str, object]:
    """The Podcasting 2.0 chapters object: `version` and `chapters` (each with `startTime`), the optional fields
    where known."""
    items = []
    for chapter in chapters:
        item: dict[str, object] = {"startTime": round(chapter.start, 3), "title": chapter.title}
        if chapter.end is not None:
            item["endTime"] = round(chapter.end, 3)
        if chapter.image:
            item["img"] = chapter.image
        if chapter.url:
            item["url"] = chapter.url
        if not chapter.toc:
            item["toc"] = False
        items.append(item)
    out: dict[str, object] = {"version": PODCAST_CHAPTERS_VERSION, "chapters": items, "title": episode.title}
    if episode.show_title:
        out["podcastName"] = episode.show_title
    return out


def _end(chapter: Chapter, chapters: list[Chapter], episode: Episode) -> float:
    if chapter.end is not None and chapter.end > chapter.start:
        return chapter.end
    later = [c.start for c in chapters if c.start > chapter.start]
    if later:
        return min(later)
    return max(chapter.start + 1.0, episode.duration or 0.0)
