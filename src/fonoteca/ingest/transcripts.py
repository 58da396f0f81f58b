"""Transcript files in and out: WebVTT, SRT, Podcasting 2.0 JSON, HTML and plain text.

Parsing is used for publishers' `<podcast:transcript>` files and for sidecar files next to local media; rendering is
`fonoteca export` and the web page's download buttons.
"""

from __future__ import annotations

import html
import json
import re
from pathlib import Path

from fonoteca.archive import Segment
from fonoteca.errors import MediaError
from fonoteca.ingest.net import Origin, is_remote, local_path, read_limited
from fonoteca.settings import Settings

EXPORT_FORMATS = ("txt", "srt", "vtt", "json")
# Timed formats first: a publisher offering several transcripts gets the one with timestamps imported.
PREFERENCE = ("json", "vtt", "srt", "html", "txt")

_TIME = re.compile(r"(?:(\d+):)?(\d{1,2}):(\d{2})[.,](\d{1,3})")
_CUE_TIMES = re.compile(rf"({_TIME.pattern})\s*-->\s*({_TIME.pattern})")
_VOICE = re.compile(r"<v(?:\.[^\s>]*)?\s+([^>]+)>")
_TAG = re.compile(r"<[^>]+>")
_SPEAKER_PREFIX = re.compile(r"^([A-Z][\w .'-]{0,40}):\s+(.*)$", re.S)


def kind_of(name_or_mime: str) -> str | None:
    """Normalise a MIME type or file extension to one of PREFERENCE, or None if it is not a transcript."""
    value = (name_or_mime or "").lower().split(";")[0].strip()
    table = {
        "json": ("application/json", "json", "application/x-subrip+json"),
        "vtt": ("text/vtt", "vtt", "webvtt"),
        "srt": ("application/srt", "application/x-subrip", "text/srt", "srt", "text/x-srt"),
        "html": ("text/html", "html", "htm"),
        "txt": ("text/plain", "txt", "text"),
    }
    ext = value.rsplit("/", 1)[-1].rsplit(".", 1)[-1]  # a MIME type, a file name or a bare extension
    for kind, names in table.items():
        if value in names or ext in names:
            return kind
    return None


def _seconds(match: re.Match[str] | tuple[str, ...]) -> float:
    hours, minutes, secs, frac = match.groups() if isinstance(match, re.Match) else match
    return int(hours or 0) * 3600 + int(minutes) * 60 + int(secs) + int(frac.ljust(3, "0")[:3]) / 1000


def _cues(text: str) -> list[Segment]:
    """VTT and SRT share the cue shape: optional id, 'start --> end', text lines, blank line."""
    segments: list[Segment] = []
    blocks = re.split(r"\r?\n\s*\r?\n", text.replace("\ufeff", "").strip())
    for block in blocks:
        lines = block.strip().splitlines()
        for i, line in enumerate(lines):
            times = _CUE_TIMES.search(line)
            if not times:
                continue
            start = _seconds(_TIME.match(times.group(1)))  # type: ignore[arg-type]
            end = _seconds(_TIME.match(times.group(6)))  # type: ignore[arg-type]
            raw = " ".join(lines[i + 1 :]).strip()
            voice = _VOICE.search(raw)
            speaker = html.unescape(voice.group(1).strip()) if voice else None
            body = html.unescape(_TAG.sub("", raw)).strip()
            if speaker is None and (prefixed := _SPEAKER_PREFIX.match(body)):
                speaker, body = prefixed.group(1), prefixed.group(2)
            if body:
                segments.append(Segment(start=start, end=max(end, start), text=body, speaker=speaker))
            break
    return segments


def _json(text: str) -> list[Segment]:
    data = json.loads(text)
    items = data.get("segments", []) if isinstance(data, dict) else data
    segments = []
    for item in items:
        body = str(item.get("body", "")).strip()
        if not body:
            continue
        start = float(item.get("startTime", 0) or 0)
        segments.append(
            Segment(
                start=start,
                end=float(item.get("endTime", start) or start),
                text=body,
                speaker=item.get("speaker") or None,
            )
        )
    return _merge_words(segments)


def _merge_words(segments: list[Segment]) -> list[Segment]:
    """Some publishers' JSON has one segment per word; join them into sentence-sized segments with word times."""
    if not segments or sum(len(s.text.split()) for s in segments) / len(segments) > 2:
        return segments
    merged: list[Segment] = []
    current: list[Segment] = []
    for seg in segments:
        if current and (seg.speaker != current[0].speaker or len(current) >= 40):
            merged.append(_join(current))
            current = []
        current.append(seg)
        if seg.text.rstrip().endswith((".", "?", "!")) and len(current) >= 5:
            merged.append(_join(current))
            current = []
    if current:
        merged.append(_join(current))
    return merged


def _join(words: list[Segment]) -> Segment:
    return Segment(
        start=words[0].start,
        end=words[-1].end,
        text=" ".join(w.text.strip() for w in words),
        words=[(w.start, w.end, w.text.strip()) for w in words],
        speaker=words[0].speaker,
    )


def _paragraphs(text: str) -> list[Segment]:
    """Untimed text: one segment per paragraph, all at 0 s (the page shows them without timestamps)."""
    paragraphs = [p.strip() for p in re.split(r"\n\s*\n|\n", text) if p.strip()]
    return [Segment(start=0.0, end=0.0, text=re.sub(r"\s+", " ", p)) for p in paragraphs]


_HTML_PART = re.compile(r"<(cite|time|p)\b[^>]*>(.*?)</\1\s*>", re.S | re.I)
_CLOCK = re.compile(r"^(?:(\d+):)?(\d{1,2}):(\d{2})(?:[.,](\d{1,3}))?$")


def _html(text: str) -> list[Segment]:
    """Podcasting 2.0 HTML: `<cite>Speaker:</cite><time>0:53</time><p>text</p>`, one paragraph per turn.

    A paragraph ends where the next one starts (the last one's end is unknown: its start). HTML without <time>
    marks is untimed text."""
    from fonoteca.text import html_to_text

    parts = _HTML_PART.findall(text)
    if not any(tag.lower() == "time" for tag, _ in parts):
        return _paragraphs(html_to_text(text))
    segments: list[Segment] = []
    speaker: str | None = None
    start = 0.0
    for tag, inner in parts:
        value = html.unescape(_TAG.sub("", inner)).strip()
        if tag.lower() == "cite":
            speaker = value.rstrip(":").strip() or None
        elif tag.lower() == "time":
            if clock := _CLOCK.match(value):
                start = _seconds(clock.groups(default="0"))
        elif body := re.sub(r"\s+", " ", value):
            segments.append(Segment(start=start, end=start, text=body, speaker=speaker))
    for current, following in zip(segments, segments[1:], strict=False):
        current.end = max(current.start, following.start)
    return segments


def fetch_transcript(url: str, origin: Origin, settings: Settings) -> bytes:
    """A publisher's or sidecar transcript: from the web (size- and time-limited) or a file, each only where the show
    `origin` may point (see net.Origin)."""
    origin.check(url)
    if not is_remote(url):
        return (local_path(url) or Path(url)).read_bytes()
    with origin.client(settings) as client:
        return read_limited(
            client,
            url,
            what=f"the transcript {url}",
            max_mb=settings.max_feed_mb,
            deadline=settings.feed_deadline,
            error=MediaError,
            hint="the publisher's link is broken or slow; the episode is transcribed from its audio instead",
        )[1]


def parse_transcript(data: str | bytes, kind: str) -> list[Segment]:
    """Segments of a transcript file; `kind` is a MIME type or a file extension."""
    text = data.decode("utf-8", errors="replace") if isinstance(data, bytes) else data
    fmt = kind_of(kind)
    if fmt is None and "-->" in text:
        fmt = "vtt"
    try:
        if fmt in ("vtt", "srt"):
            segments = _cues(text)
        elif fmt == "json":
            segments = _json(text)
        elif fmt == "html":
            segments = _html(text)
        else:
            segments = _paragraphs(text)
    except (ValueError, TypeError, AttributeError) as exc:
        raise MediaError(f"cannot read the {fmt or kind} transcript: {exc}", "the file is malformed") from exc
    if not segments:
        raise MediaError(f"the {fmt or kind} transcript has no text", "the file is empty or not a transcript")
    return segments


def _clock(seconds: float, sep: str) -> str:
    millis = int(round(seconds * 1000))
    hours, rest = divmod(millis, 3_600_000)
    minutes, rest = divmod(rest, 60_000)
    secs, millis = divmod(rest, 1000)
    return f"{hours:02d}:{minutes:02d}:{secs:02d}{sep}{millis:03d}"


def render_transcript(segments: list[Segment], fmt: str) -> str:
    """The transcript in txt, srt, vtt or Podcasting 2.0 JSON."""
    if fmt == "txt":
        return "\n".join(s.text.strip() for s in segments) + "\n"
    if fmt == "json":
        body = []
        for s in segments:
            item: dict[str, object] = {"startTime": s.start, "endTime": s.end, "body": s.text.strip()}
            if s.speaker:
                item["speaker"] = s.speaker
            body.append(item)
        return json.dumps({"version": "1.0.0", "segments": body}, ensure_ascii=False, indent=2) + "\n"
    if fmt == "srt":
        cues = [
            f"{n}\n{_clock(s.start, ',')} --> {_clock(s.end, ',')}\n{_speaker(s)}{s.text.strip()}\n"
            for n, s in enumerate(segments, start=1)
        ]
        return "\n".join(cues)
    if fmt == "vtt":
        # Cue text is markup in WebVTT: a literal &, < or > must be escaped or players drop or mangle it.
        cues = [
            f"{_clock(s.start, '.')} --> {_clock(s.end, '.')}\n"
            + (f"<v {html.escape(s.speaker, quote=False)}>" if s.speaker else "")
            + html.escape(s.text.strip(), quote=False)
            + "\n"
            for s in segments
        ]
        return "WEBVTT\n\n" + "\n".join(cues)
    raise ValueError(f"unknown transcript format {fmt!r}; choose one of {', '.join(EXPORT_FORMATS)}")


def _speaker(segment: Segment) -> str:
    return f"{segment.speaker}: " if segment.speaker else ""
