"""Transcripts out, as `fonoteca export` and the episode page's download buttons write them: plain text, SRT,
WebVTT and Podcasting 2.0 JSON."""

from __future__ import annotations

import html
import json

from fonoteca.archive import Segment

EXPORT_FORMATS = ("txt", "srt", "vtt", "json")


def _clock(seconds: float, sep: str) -> str:
    millis = int(round(seconds * 1000))
    hours, rest = divmod(millis, 3_600_000)
    minutes, rest = divmod(rest, 60_000)
    secs, millis = divmod(rest, 1000)
    return f"{hours:02d}:{minutes:02d}:{secs:02d}{sep}{millis:03d}"


def render_transcript(segments: list[Segment], fmt: str) -> str:
    """The transcript in txt, srt, vtt or Podcasting 2.0 JSON, each line with its speaker where the transcript names
    one: `Name: text` in txt and SRT (which have no other place for it), a `<v Name>` voice in WebVTT, `speaker` in
    JSON. fonoteca.ingest reads every one of them back with the same speakers."""
    if fmt == "txt":
        return "\n".join(_speaker(s) + s.text.strip() for s in segments) + "\n"
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
