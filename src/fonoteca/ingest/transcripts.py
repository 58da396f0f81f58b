"""Transcript files in: WebVTT, SRT, Podcasting 2.0 JSON, Whisper's JSON and TSV, HTML, and plain text or Markdown
with speaker turns, timestamps and YAML front matter.

Parsing is used for publishers' `<podcast:transcript>` files, sidecar files next to local media and the files
`fonoteca import` reads (`read_transcript`, which also decodes the bytes and checks the times). Writing transcripts
out (`fonoteca export`, the web page's download buttons) is fonoteca.output.transcripts.

The cue parser is our own rather than webvtt-py's or srt's: one tolerant reader serves WebVTT and SRT alike (publishers
mix them up: SRT commas in .vtt files, a missing WEBVTT header, no blank line between cues), where those libraries
refuse the whole file at the first quirk; it still refuses timestamps it cannot read instead of guessing.
"""

from __future__ import annotations

import codecs
import html
import json
import re
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, field
from itertools import islice
from pathlib import Path
from typing import Any, overload

import frontmatter
import yaml
from frontmatter.default_handlers import YAMLHandler

from fonoteca.archive import Segment
from fonoteca.archive.models import Word
from fonoteca.errors import MediaError
from fonoteca.ingest.net import Origin
from fonoteca.settings import Settings

# Timed formats first: a publisher offering several transcripts gets the one with timestamps imported.
PREFERENCE = ("json", "vtt", "srt", "html", "txt")

# A cue time: [h:]mm:ss[.mmm] (the fraction is left out by some captioning tools), not part of a longer clock such as a
# frame-counting timecode (00:00:01:15), which would be read as another time.
# A minus sign before it is no part of a time: "-00:00:05" is refused, not read as 5 s.
_TIME = re.compile(r"(?<![\d:-])(?:(\d+):)?(\d{1,2}):(\d{2})(?:[.,](\d{1,3}))?(?![\d:])")
_CUE_TIMES = re.compile(rf"({_TIME.pattern})\s*-->\s*({_TIME.pattern})")
_VOICE = re.compile(r"<v(?:\.[^\s>]*)?\s+([^>]+)>")
_TAG = re.compile(r"<[^>]+>")


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


def _seconds(match: re.Match[str] | tuple[str | None, ...]) -> float:
    """A clock's seconds; a ValueError for a clock no recording has: 61 seconds, or 75 minutes after the hours
    (without hours, minutes past 59 are how some tools write a long episode: 75:30)."""
    hours, minutes, secs, frac = match.groups() if isinstance(match, re.Match) else match
    millis = int((frac or "0").ljust(3, "0")[:3])
    if int(secs or 0) >= 60 or (hours is not None and int(minutes or 0) >= 60):
        clock = ":".join(part for part in (hours, minutes, secs) if part is not None)
        raise ValueError(f"{clock} is not a time (a minute has 60 seconds, an hour 60 minutes)")
    return int(hours or 0) * 3600 + int(minutes or 0) * 60 + int(secs or 0) + millis / 1000


def _cues(text: str) -> list[Segment]:
    """VTT and SRT cues, with their speakers (`<v Name>` voices, or `Name:` labels: see CueStream)."""
    return list(CueStream(text))


_BLOCK_GAP = re.compile(r"\r?\n\s*\r?\n")


def _raw_cues(text: str) -> Iterator[Segment]:
    """VTT and SRT share the cue shape: optional id, 'start --> end', text lines, blank line. Cues are made one at a
    time as they are taken, and each block gets only the work its cue needs (a file may hold a million): tags, voices
    and entities are looked for where the text has them, and the times come from the one match of the timing line."""
    if "\ufeff" in text:
        text = text.replace("\ufeff", "")
    at = 0  # the text is not stripped first: a copy of a long file's whole text (blank blocks have no cue)
    for gap in (*_BLOCK_GAP.finditer(text), None):
        block = text[at : gap.start() if gap else len(text)]
        at = gap.end() if gap else len(text)
        lines = block.strip().splitlines()
        for i, line in enumerate(lines):
            times = _CUE_TIMES.search(line)
            if not times:
                if "-->" in line:
                    raise UnknownTimestamps(line.strip())
                continue
            parts = times.groups()
            start = _seconds(parts[1:5])
            end = max(_seconds(parts[6:10]), start)
            raw = " ".join(lines[i + 1 :]).strip()
            if "<" in raw:
                yield from _voiced(raw, start, end)
            elif body := html.unescape(raw).strip() if "&" in raw else raw:
                yield Segment(start=start, end=end, text=body)
            break


def _voiced(raw: str, start: float, end: float) -> list[Segment]:
    """A cue's text with its tags: one segment per `<v Name>` voice, as a cue may hold a dialogue
    (`<v Ana>¿Vienes?</v><v Luis>Sí.</v>`); text before the first voice has none of its own (the voice before it
    carries on). The voices share the cue's time in order, each for a part as long as its share of the cue's letters:
    speech goes at a roughly even pace, so each line starts near where it is said, a search hit plays from there, and
    the voices' speaking times add up to the cue's instead of counting it once for each."""
    cuts = list(_VOICE.finditer(raw))
    pieces = [(None, raw[: cuts[0].start() if cuts else len(raw)])]
    ends = [cut.start() for cut in cuts[1:]] + [len(raw)]
    pieces += [(cut.group(1), raw[cut.end() : stop]) for cut, stop in zip(cuts, ends, strict=False)]
    said = [
        (html.unescape(voice.strip()) if voice else None, " ".join(html.unescape(_TAG.sub("", text)).split()))
        for voice, text in pieces
    ]
    said = [(voice, text) for voice, text in said if text]
    letters = [sum(not c.isspace() for c in text) for _voice, text in said]
    total, before = sum(letters) or 1, 0
    segments = []
    for (voice, text), length in zip(said, letters, strict=True):
        at = start + (end - start) * before / total
        before += length
        segments.append(Segment(start=round(at, 3), end=round(start + (end - start) * before / total, 3), text=text,
                                speaker=voice))  # fmt: skip
    return segments


def _carry_speakers(segments: list[Segment]) -> None:
    """A cue without a voice of its own is still said by the voice before it: publishers name the speaker only where
    it changes (the Podcasting 2.0 spec's WebVTT, SRT `Name:` turns)."""
    current = None
    for segment in segments:
        current = segment.speaker = segment.speaker or current


# What a speaker's label looks like at the start of a line: a name of one to four words (capitalised, with particles
# such as "de la" between them: "Juan de la Cruz"), or a numbered label ("Speaker 1", "SPEAKER_00", "Hablante 2").
_UPPER = r"[^\W\d_a-zß-ÿ]"  # a letter that is not lower case
_LABEL = re.compile(
    rf"^(?P<name>(?:[^\W\d_][\w'’.-]*_\d+|{_UPPER}[\w'’.-]*)"
    rf"(?:\s+(?:(?:de|del|la|las|los|van|von|der|da|di|du|le|y|e|el|al|bin|ibn)\s+)*(?:\d{{1,2}}|{_UPPER}[\w'’.-]*))"
    r"{0,3}):\s+(?P<text>\S.*)$",
    re.S,
)
# A chat handle or user name written in lower case, one word (`midudev:`, `@ana_dev:`, `dev2:`): a speaker under the
# stricter rule of speaker_labels, as most lower-case words before a colon are speech.
_HANDLE = re.compile(r"^(?P<name>@?[a-zß-ÿ][\w.'’-]{1,39}):\s+(?P<text>\S.*)$", re.S)
_MARKED = re.compile(r"@|\d|_")  # what no word of speech has: a handle with one counts as a capitalised name does
_NUMBERED = re.compile(r"[^\W\d_]+(?:_| )\d{1,3}")
# Words that open a line with a colon in speech or in notes and are nobody's name, in the languages of the archives
# (Venezolanos' Markdown says "Dice:", "Cito:", "Repito:" before quotes, 15 times in one file).
_NOT_NAMES = frozenset(
    {
        "note", "notes", "nota", "notas", "update", "edit", "ps", "tip", "tips", "example", "ejemplo", "warning",
        "aviso", "ojo", "atención", "atencion", "importante", "important", "source", "fuente", "translation",
        "traducción", "traduccion", "step", "paso", "rule", "regla", "chapter", "capítulo", "capitulo", "question",
        "pregunta", "answer", "respuesta", "summary", "resumen", "spoiler", "disclaimer", "ad", "anuncio", "sponsor",
        "patrocinador", "intro", "outro", "music", "música", "musica", "applause", "aplausos", "laughter", "risas",
        "transcript", "transcripción", "transcripcion", "dice", "dijo", "digo", "decía", "decia", "cito", "repito",
        "recordemos", "recapitulemos", "pienso", "creo", "mira", "oye", "bueno", "pues", "entonces", "says", "said",
        "say", "quote", "listen", "look", "well", "so", "now", "okay", "ok", "yes", "no", "sí", "si", "and", "but",
        "also", "remember",
    }
)  # fmt: skip


def speaker_labels(lines: list[str]) -> list[tuple[str, str] | None]:
    """For each line, (speaker, what they said) where it opens with a speaker's label, else None.

    A `Name: text` prefix is a speaker only when it looks like one (_LABEL: one to four capitalised words, or a
    numbered label; _HANDLE: a lower-case handle such as `midudev`), is no word that opens notes or quotes
    (_NOT_NAMES: "Note: ...", "Dice: ..."), comes back (at least two lines open with it), and either another label
    does too or it opens the first line (a monologue's label): a sentence that happens to hold a colon ("So here's the
    thing: ...", "Step 1: ...", a clock, a link) is never a speaker. A lower-case word is speech more often than a
    name ("resultado: ...", "código: ..."), so a handle without a mark of one (`@`, a digit, `_`) is a speaker only
    where a label opens the first line (a transcript names its first speaker) or labels open four lines in five (a
    chat log, a tool's export). Once others are speakers, a numbered label counts even said once, and so does a name
    in a file where most lines are labelled."""
    census = LabelCensus()
    found = [census.add(line) for line in lines]
    speakers = census.speakers()
    return [(m.group("name"), m.group("text").strip()) if m and m.group("name") in speakers else None for m in found]


def _label(line: str) -> re.Match[str] | None:
    return (_LABEL.match(line) or _HANDLE.match(line)) if ":" in line[:60] else None


class LabelCensus:
    """What speaker_labels decides from, counted line by line (a file of a million cues is counted as it is read, not
    held): how often each label opens a line, which opens the first, and how many lines there are."""

    def __init__(self) -> None:
        self.names: Counter[str] = Counter()
        self.first: str | None = None
        self.lines = 0

    def add(self, line: str) -> re.Match[str] | None:
        match = _label(line)
        if match:
            self.names[match.group("name")] += 1
            if not self.lines:
                self.first = match.group("name")
        self.lines += 1
        return match

    def speakers(self) -> set[str]:
        """The labels that are speakers (see speaker_labels)."""
        names = self.names
        speakers = {name for name, count in names.items() if count >= 2 and name.casefold() not in _NOT_NAMES}
        opens = self.first in speakers
        plain = {name for name in speakers if name[:1].islower() and not _MARKED.search(name)}
        if plain and not opens and sum(names[name] for name in speakers) * 5 < self.lines * 4:
            speakers -= plain
        if len(speakers) == 1 and not opens:
            speakers = set()
        if speakers:
            # Among established speakers a numbered label ("SPEAKER_02") counts from its first line, and where most
            # lines are labelled (tools that name the speaker on every line, fonoteca's own exports) so does any name.
            every_line = sum(names[name] for name in speakers) * 2 >= self.lines
            speakers |= {
                name
                for name in names
                if _NUMBERED.fullmatch(name) or (every_line and name.casefold() not in _NOT_NAMES)
            }
        return speakers


def _labelled(line: str, speakers: set[str]) -> tuple[str, str] | None:
    """(speaker, what they said) where the line opens with the label of one of `speakers`."""
    match = _label(line)
    return (match.group("name"), match.group("text").strip()) if match and match.group("name") in speakers else None


def _json(text: str) -> list[Segment]:
    return _json_segments(json.loads(text))


def _json_segments(data: Any) -> list[Segment]:
    """Podcasting 2.0 JSON (`startTime`, `endTime`, `body`, `speaker`) or Whisper's (`start`, `end`, `text`,
    `words`), parsed."""
    items = data.get("segments", []) if isinstance(data, dict) else data
    if not isinstance(items, list) or not all(isinstance(item, dict) for item in items):
        raise ValueError("it has no list of segments")
    if any("text" in item and "start" in item for item in items):
        return _whisper_json(items)
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
                speaker=_speaker(item),
            )
        )
    return _merge_words(segments)


def _whisper_json(items: list[dict[str, Any]]) -> list[Segment]:
    """Whisper's segments; WhisperX's (pyannote's labels on its segments and words) too: a segment whose words change
    speaker is cut there, as WhisperX leaves a segment's own `speaker` to the voice that says most of it."""
    segments = []
    for item in items:
        body = str(item.get("text", "")).strip()
        if not body:
            continue
        start = float(item["start"])
        segment = Segment(
            start=start,
            end=max(start, float(item.get("end", start) or start)),
            text=body,
            words=_whisper_words(item.get("words")),
            speaker=_speaker(item),
        )
        segments += _split_at_word_speakers(segment, item.get("words"))
    return segments


def _split_at_word_speakers(segment: Segment, raw_words: Any) -> list[Segment]:
    """The segment cut where its words' `speaker` changes (WhisperX); a word without one is said by the voice before
    it (WhisperX leaves words it could not place unlabelled). Unchanged without word speakers or word times."""
    if not segment.words or not isinstance(raw_words, list) or len(raw_words) != len(segment.words):
        return [segment]
    voices = [_speaker(word) for word in raw_words]
    if not any(voices):
        return [segment]
    runs: list[tuple[str | None, list[Word]]] = []
    for word, voice in zip(segment.words, voices, strict=True):
        voice = voice or (runs[-1][0] if runs else segment.speaker)
        if runs and runs[-1][0] == voice:
            runs[-1][1].append(word)
        else:
            runs.append((voice, [word]))
    if len(runs) == 1:
        segment.speaker = runs[0][0]
        return [segment]
    return [
        Segment(
            start=max(segment.start, words[0][0]) if n else segment.start,
            end=words[-1][1] if n < len(runs) - 1 else segment.end,
            text=re.sub(r"\s+", " ", "".join(f" {w[2].strip()}" for w in words)).strip(),
            words=words,
            speaker=voice,
        )
        for n, (voice, words) in enumerate(runs)
    ]


def _speaker(item: dict[str, Any]) -> str | None:
    speaker = item.get("speaker")
    if not speaker:  # null, "", {}: no name given
        return None
    if not isinstance(speaker, str):
        raise ValueError(f"a segment's speaker is {type(speaker).__name__}, not a name")
    return speaker


def _whisper_words(words: Any) -> list[Word] | None:
    """A segment's word times, with Whisper's probability of each word where every word has one; a segment whose words
    are not all well-formed keeps its text without them. Read as they are (an hour has ten thousand words: converting
    each value would double the time of reading the file)."""
    try:
        timed = [(w["start"], w["end"], w["word"]) for w in words or ()]
    except (KeyError, TypeError):
        return None
    if not all(
        isinstance(a, int | float) and isinstance(b, int | float) and 0 <= a <= LONGEST and 0 <= b <= LONGEST
        for a, b, _ in timed
    ):  # the comparisons also leave out NaN and infinity
        return None
    sure = [w.get("probability") for w in words or ()]
    if timed and all(isinstance(p, int | float) and 0 <= p <= 1 for p in sure):
        return [(*word, p) for word, p in zip(timed, sure, strict=True)]
    return timed or None


def _tsv(text: str) -> list[Segment]:
    """Whisper's TSV: a `start end text` header, then one segment a row, times in integer milliseconds."""
    segments = []
    for n, row in enumerate(text.splitlines(), start=1):
        if not row.strip() or (n == 1 and row.lower().startswith("start")):
            continue
        parts = row.split("\t", 2)
        if len(parts) < 3 or not (parts[0].strip().isdigit() and parts[1].strip().isdigit()):
            raise UnknownTimestamps(
                row.strip()[:60], "a start and an end in milliseconds, then the text, tab-separated"
            )
        start, end = int(parts[0]) / 1000, int(parts[1]) / 1000
        if body := parts[2].strip():
            segments.append(Segment(start=start, end=max(start, end), text=body))
    return segments


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


class UnknownTimestamps(MediaError):
    """Times written in a way fonoteca does not read: guessing them would put every line at the wrong second."""

    def __init__(self, sample: str, expected: str = "HH:MM:SS.mmm --> HH:MM:SS.mmm") -> None:
        super().__init__(
            f"unknown timestamp format {sample!r}",
            f"fonoteca reads {expected}; write the times that way (or convert the file to WebVTT) and import it again",
        )


def _parse(text: str, fmt: str | None) -> list[Segment]:
    if fmt in ("vtt", "srt"):
        return _cues(text)
    if fmt == "json":
        return _json(text)
    if fmt == "tsv":
        return _tsv(text)
    if fmt == "html":
        return _html(text)
    return _timed_text(text) or _speaker_paragraphs(text)


# -- files people already have (`fonoteca import`) ----------------------------------------------------------------

# What `fonoteca import` reads in a folder, by extension: Whisper's five outputs, subtitles, Podcasting 2.0 JSON and
# HTML, Markdown.
FILE_FORMATS = {
    ".json": "json",
    ".vtt": "vtt",
    ".srt": "srt",
    ".tsv": "tsv",
    ".md": "markdown",
    ".markdown": "markdown",
    ".txt": "txt",
    ".html": "html",
    ".htm": "html",
}
# Front matter keys (English, and the Spanish ones of real archives) for each field of an episode.
META_KEYS = {
    "title": ("title", "titulo", "título", "name", "episode_title"),
    "date": ("date", "publish_date", "published", "pubdate", "fecha_publicacion", "fecha", "data"),
    "duration": ("duration", "duracion", "duración", "length"),
    "url": ("url", "link", "url_canonica", "permalink"),
    "media": ("media", "media_url", "audio", "url_audio", "enclosure", "mp3"),
    "guid": ("guid", "episode_guid"),
    "number": ("episode", "number", "episode_number", "numero", "número", "ep"),
    "language": ("language", "lang", "idioma"),
    "show": ("show", "podcast", "programa", "series_title"),
    "description": ("description", "summary", "descripcion", "descripción"),
    "guest": ("guest", "guests", "invitado", "invitados"),
}


@dataclass
class TranscriptFile:
    """A transcript file read for import: its segments and whatever the file says about its episode."""

    segments: list[Segment] | CueStream  # a subtitle file's are read again each time they are taken
    format: str  # json, vtt, srt, tsv, markdown, txt, html
    timed: bool  # False when every segment is at 0 s (plain text without timestamps)
    last_end: float  # where the last segment ends
    meta: dict[str, str] = field(default_factory=dict)  # title, date, duration, url, guid, number... (META_KEYS)
    language: str | None = None  # what the file says (Whisper's JSON, front matter)
    notes: list[str] = field(default_factory=list)  # what was odd but read (an encoding that is not UTF-8...)


def decode_text(data: bytes) -> tuple[str, str | None]:
    """The file's text and a note when it was not plain UTF-8; a MediaError for a file that is not text at all.

    UTF-16/32 with a byte-order mark, and UTF-16 without one (Windows tools write it), are read as such. A file that
    is not valid UTF-8 is read line by line: lines that are UTF-8 stay so, the others are Windows-1252 (Latin-1 with
    curly quotes), so a file that was edited in two tools keeps its accents in both halves."""
    for bom, codec in (
        (codecs.BOM_UTF32_LE, "utf-32"),
        (codecs.BOM_UTF32_BE, "utf-32"),
        (codecs.BOM_UTF8, "utf-8-sig"),
        (codecs.BOM_UTF16_LE, "utf-16"),
        (codecs.BOM_UTF16_BE, "utf-16"),
    ):
        if data.startswith(bom):
            try:
                text = data.decode(codec)
            except UnicodeDecodeError as exc:
                raise _not_text(f"it starts as {codec.upper()} but is not ({exc.reason})") from exc
            return text, None if codec == "utf-8-sig" else f"read as {codec.upper()}"
    head = data[:4096]
    if b"\x00" in head:
        odd, even = head[1::2].count(0), head[0::2].count(0)
        codec = "utf-16-le" if odd > len(head) * 0.4 > even else "utf-16-be" if even > len(head) * 0.4 > odd else None
        if codec is None:
            raise _not_text("it holds binary data")
        try:
            return data.decode(codec), f"read as {codec.upper()}"
        except UnicodeDecodeError as exc:
            raise _not_text(f"it looks like UTF-16 but is not ({exc.reason})") from exc
    try:
        return data.decode("utf-8"), None
    except UnicodeDecodeError:
        pass
    lines, latin = [], 0
    for line in data.split(b"\n"):
        try:
            lines.append(line.decode("utf-8"))
        except UnicodeDecodeError:
            lines.append(line.decode("cp1252", errors="replace"))
            latin += 1
    text = "\n".join(lines)
    if sum(ch < " " and ch not in "\t\r\n\f" for ch in text[:4096]) > 40:
        raise _not_text("it holds binary data")
    if latin == len(lines):
        return text, "not UTF-8: read as Latin-1 (Windows-1252)"
    return text, f"mixed encodings: {latin} of {len(lines)} lines read as Latin-1 (Windows-1252), the rest as UTF-8"


def _not_text(why: str) -> MediaError:
    return MediaError(f"not a text file: {why}", "give transcript files (.vtt, .srt, .json, .tsv, .txt, .md)")


def read_transcript(data: bytes, name: str) -> TranscriptFile:
    """A transcript file's segments and metadata; a MediaError (one line: what is wrong, what to do) for a file that
    is empty, not text, in a format or with timestamps it cannot read, or whose times go backwards."""
    if not data.strip():
        raise MediaError("the file is empty", "export the transcript again, or leave the file out")
    text, encoding_note = decode_text(data)
    text = text.replace("\r\n", "\n").replace("\ufeff", "")
    fmt = FILE_FORMATS.get(Path(name).suffix.lower())
    stripped = text.lstrip()
    if fmt is None:
        fmt = "vtt" if stripped.startswith("WEBVTT") or "-->" in text else "json" if stripped[:1] in "[{" else "txt"
    meta: dict[str, str] = {}
    language = None
    if fmt in ("markdown", "txt") and stripped.startswith("---"):
        meta, text = _front_matter(text)
    if fmt == "markdown":
        text = _markdown_to_text(text, meta)
    if not text.strip():
        raise MediaError("the file has no transcript text", "the file is empty apart from its front matter")
    try:
        if fmt == "json":  # parsed once: Whisper's JSON with word times is the largest of transcript files
            data = json.loads(text)
            language = data.get("language") if isinstance(data, dict) else None  # Whisper's says which it heard
            segments = _json_segments(data)
        elif fmt in ("vtt", "srt"):  # read as a stream: a subtitle file may hold a million cues
            segments = CueStream(text)
        else:
            segments = _parse(text, "txt" if fmt == "markdown" else fmt)
    except (ValueError, TypeError, AttributeError, KeyError, OverflowError) as exc:
        raise MediaError(
            f"cannot read it as {fmt.upper()}: {exc}", "the file is malformed or not a transcript"
        ) from exc
    except RecursionError as exc:  # JSON nested thousands deep
        raise MediaError(
            f"cannot read it as {fmt.upper()}: it is nested too deep", "the file is malformed or not a transcript"
        ) from exc
    if not segments:
        raise MediaError(f"the {fmt.upper()} file has no transcript text", "the file is empty or not a transcript")
    if isinstance(segments, CueStream):
        notes, timed, last_end = segments.notes, segments.timed, segments.last_end
    else:
        notes = checked_times(segments)
        timed = any(s.start or s.end for s in segments)
        last_end = max(s.end for s in segments)
    language = language if isinstance(language, str) and language else meta.get("language")
    return TranscriptFile(
        segments=segments,
        format=fmt,
        timed=timed,
        last_end=last_end,
        meta=meta,
        language=language.split("-")[0].split("_")[0].lower()[:3] if language else None,
        notes=[encoding_note, *notes] if encoding_note else notes,
    )


# The longest recording fonoteca takes is a week-long stream: a time past it (10^12 hours, 1e300 s) is a mistake or an
# attack, and infinity or NaN would break every total, link and search that adds times up.
LONGEST = 7 * 24 * 3600.0
# Cues may overlap by a second. A start further back than that but less than a minute behind the latest one is a
# publisher's stamp rounded down: Lenny's Podcast stamps some paragraphs to the minute, 2 to 8 s behind the turn before
# them in the 12 files of 303 that were refused. In the real corpora of the test data (Talk Python's 80 WebVTT files,
# the Podcasting 2.0 examples, Venezolanos' untimed Markdown) no start goes back at all. A minute or more back (to the
# start of a second transcript joined on, or further) is files joined or damaged.
OVERLAP = 1.0
ROUNDED_STEP = 60.0


def checked_times(segments: list[Segment]) -> list[str]:
    """The segments' times made safe to store, and a note of what was repaired (see TimeCheck)."""
    check = TimeCheck()
    for segment in segments:
        check(segment)
    return check.notes()


class TimeCheck:
    """Segments' times made safe to store, one segment at a time in the file's order. Every time must be a number of
    seconds from 0 to LONGEST; a start a little behind the latest one (under ROUNDED_STEP) is moved up to it; a minute
    or more back is refused: search links and the player would jump about. A MediaError (one line: what, what to do)
    for a file that cannot be stored."""

    def __init__(self) -> None:
        self.latest, self.moved, self.largest, self.n = 0.0, 0, 0.0, 0

    def __call__(self, segment: Segment) -> Segment:
        from fonoteca.text import format_timestamp

        self.n += 1
        for value in (segment.start, segment.end):
            if not (isinstance(value, int | float) and 0 <= value <= LONGEST):  # also False for NaN
                raise MediaError(
                    f"segment {self.n} has an impossible time ({value!r} s)",
                    "times are seconds from the start of the episode, 0 to a week; fix the file",
                )
        step = self.latest - segment.start
        if step > OVERLAP:
            if step >= ROUNDED_STEP:
                raise MediaError(
                    f"times go backwards: segment {self.n} starts at {format_timestamp(segment.start)}, after one at "
                    f"{format_timestamp(self.latest)}",
                    "the file is damaged or several transcripts were joined; fix or split it",
                )
            segment.start, segment.end = self.latest, max(segment.end, self.latest)
            self.moved, self.largest = self.moved + 1, max(self.largest, step)
        self.latest = max(self.latest, segment.start)
        return segment

    def notes(self) -> list[str]:
        if not self.moved:
            return []
        times = f"{self.moved} start time{'s' if self.moved > 1 else ''}"
        return [f"{times} up to {self.largest:.0f} s behind the one before (rounded by the publisher) moved up to it"]


class CueStream:
    """A WebVTT or SRT file's segments, made again from its text each time they are read, so that a file of a million
    cues is never held as a million segments (`fonoteca import` stores, compares and reads it a batch at a time).

    Made after a first pass that reads every cue without keeping it: it checks the times (the errors a file can
    have come out here, before anything is stored), counts the cues, and counts what decides the speakers: `<v Name>`
    voices, or else `Name:` labels, whose rule (speaker_labels) needs the whole file's counts before the first cue can
    be given its speaker."""

    def __init__(self, text: str) -> None:
        self.text = text
        census, check = LabelCensus(), TimeCheck()
        self.voiced, self.count, self.timed, self.last_end = False, 0, False, 0.0
        for segment in _raw_cues(text):
            check(segment)
            census.add(segment.text)
            self.voiced = self.voiced or bool(segment.speaker)
            self.timed = self.timed or bool(segment.start or segment.end)
            self.last_end = max(self.last_end, segment.end)
            self.count += 1
        self.notes = check.notes()
        self.speakers = set() if self.voiced else census.speakers()

    def __len__(self) -> int:
        return self.count

    @overload
    def __getitem__(self, at: int) -> Segment: ...
    @overload
    def __getitem__(self, at: slice) -> list[Segment]: ...
    def __getitem__(self, at: int | slice) -> Segment | list[Segment]:
        """A cue or a slice of them, read from the start of the file each time (a few, for a look at them)."""
        cut = at if isinstance(at, slice) else slice(at, at + 1 if at != -1 else None)
        if (cut.start or 0) < 0 or (cut.stop or 0) < 0:
            cut = slice(*cut.indices(self.count))
        found = list(islice(self, cut.start, cut.stop, cut.step))
        if isinstance(at, slice):
            return found
        if not found:
            raise IndexError(at)
        return found[0]

    def __iter__(self) -> Iterator[Segment]:
        check, current = TimeCheck(), None
        for segment in _raw_cues(self.text):
            check(segment)
            if self.speakers and (label := _labelled(segment.text, self.speakers)):
                segment.speaker, segment.text = label
            if self.voiced or self.speakers:  # said by the voice before it until the next (_carry_speakers)
                current = segment.speaker = segment.speaker or current
            yield segment


class _FrontMatterLoader(yaml.SafeLoader):
    """YAML's safe loader, for the few fields a front matter gives, without what makes it costly or fragile: an alias
    (*name) is refused, as a few hundred bytes of nested aliases would expand to billions of values when the fields
    are read ("billion laughs"); dates stay text, so that `date: 2024-02-30` is a bad date (left out) rather than an
    error of the whole file."""

    def compose_node(self, parent: yaml.Node | None, index: object) -> yaml.Node | None:
        if self.check_event(yaml.AliasEvent):
            raise MediaError(
                f"its front matter uses a YAML alias (*name, line {self.peek_event().start_mark.line + 1}), which "
                "fonoteca does not expand",
                "write each value out in full between the --- lines",
            )
        return super().compose_node(parent, index)  # type: ignore[no-any-return]


_FrontMatterLoader.add_constructor("tag:yaml.org,2002:timestamp", _FrontMatterLoader.construct_yaml_str)


class _FrontMatterYAML(YAMLHandler):
    def load(self, fm: str, **kwargs: object) -> Any:
        return super().load(fm, Loader=_FrontMatterLoader)


def _front_matter(text: str) -> tuple[dict[str, str], str]:
    """YAML front matter (python-frontmatter) as {field: text} by META_KEYS, and the text after it."""
    try:
        raw, body = frontmatter.parse(text, handler=_FrontMatterYAML())
    except yaml.YAMLError as exc:
        reason = str(exc).splitlines()[0]
        raise MediaError(
            f"its front matter is not valid YAML ({reason})", "fix the block between the --- lines"
        ) from exc
    lowered = {str(k).strip().lower(): v for k, v in raw.items()}
    meta: dict[str, str] = {}
    for name, keys in META_KEYS.items():
        value = next((lowered[k] for k in keys if lowered.get(k) not in (None, "", [])), None)
        if value is not None:
            meta[name] = ", ".join(map(str, value)) if isinstance(value, list) else str(value).strip()
    return meta, body


_HEADING = re.compile(r"^#{1,6}\s+(.*?)\s*#*\s*$")
_LINK = re.compile(r"!?\[([^\]]*)\]\([^)]*\)")
_EMPHASIS = re.compile(r"(\*\*|__|\*|`)")
_FENCE = re.compile(r"^\s{0,3}(```+|~~~+)")


def _markdown_to_text(text: str, meta: dict[str, str]) -> str:
    """Markdown as the plain text of its paragraphs: headings are dropped (the first one is the title when the
    front matter has none), links keep their words, emphasis marks go, and fenced code blocks (examples, not what was
    said: a page that shows a transcript format's examples is not timed by them) are left out."""
    lines = []
    fence = ""
    for line in text.split("\n"):
        if marker := _FENCE.match(line):
            if not fence or marker.group(1).startswith(fence):
                fence = "" if fence else marker.group(1)
            lines.append("")
            continue
        if fence:
            continue
        if heading := _HEADING.match(line):
            meta.setdefault("title", _EMPHASIS.sub("", heading.group(1)).strip())
            lines.append("")
            continue
        if re.fullmatch(r"\s*(?:[-*_]\s*){3,}", line):  # a horizontal rule
            lines.append("")
            continue
        lines.append(_EMPHASIS.sub("", _LINK.sub(r"\1", line)).lstrip("> "))
    return "\n".join(lines)


# Plain-text transcripts with speaker turns and timestamps, in the shapes transcription services and people write:
#   Speaker (00:01:21): text       [00:01:21] Speaker: text       00:01:21 Speaker       [00:01:21]
#                                                                  text of the turn       text of the paragraph
_TS = r"(?:\d{1,3}:)?\d{1,2}:\d{2}(?:[.,]\d{1,3})?"
_NAME = r"[^\W\d_][\w.'’ -]{0,40}?"
_TURN_SPEAKER_TIME = re.compile(rf"^(?P<speaker>{_NAME})\s*[(\[](?P<ts>{_TS})[)\]]\s*:?\s*(?P<text>.*)$")
_TURN_TIME_SPEAKER = re.compile(
    rf"^[(\[](?P<ts>{_TS})[)\]]\s*(?:[-–—]\s*)?(?:(?P<speaker>{_NAME})\s*:\s+)?(?P<text>.*)$"
)
_TURN_TIME_NAME = re.compile(rf"^(?P<ts>{_TS})\s+(?:[-–—]\s*)?(?P<speaker>[A-ZÀ-Þ][\w.'’-]*(?:\s+[\w.'’-]+){{0,3}}):?$")
_TURN_TIME_TEXT = re.compile(rf"^(?P<ts>{_TS})\s*(?:[-–—|]\s*)?(?:(?P<speaker>{_NAME})\s*:\s+)?(?P<text>.*)$")
_TIME_LIKE = re.compile(r"^[(\[]?(\d+(?:[:hHmM]\d+)+[\d:.,;hHmMsS]*)[)\]]?(?:\s|:|$)")


def _clock_seconds(value: str) -> float:
    parts = re.split(r"[:.,]", value)
    frac = parts.pop() if re.search(r"[.,]", value) else "0"
    hours, minutes, secs = ([None] * (3 - len(parts)) + parts)[-3:]
    return _seconds((hours, minutes, secs, frac))


def _timed_text(text: str) -> list[Segment] | None:
    """Segments of a plain-text transcript whose turns carry timestamps (None when it has none): one segment per
    paragraph, at the time of its turn, with the turn's speaker; a segment ends where the next one starts."""
    turns: list[tuple[float, str | None, list[str]]] = []  # (start, speaker, paragraphs)
    paragraph: list[str] = []
    unknown: Counter[str] = Counter()
    first_unknown: dict[str, str] = {}

    def close_paragraph() -> None:
        if paragraph:
            if not turns:
                turns.append((0.0, None, []))
            turns[-1][2].append(" ".join(paragraph))
            paragraph.clear()

    for raw in text.split("\n"):
        line = raw.strip()
        if not line:
            close_paragraph()
            continue
        turn = None
        for pattern in (_TURN_SPEAKER_TIME, _TURN_TIME_SPEAKER, _TURN_TIME_NAME, _TURN_TIME_TEXT):
            if match := pattern.match(line):
                turn = match.groupdict()
                break
        if turn is None:
            if like := _TIME_LIKE.match(line):
                shape = re.sub(r"\d+", "9", like.group(1))
                unknown[shape] += 1
                first_unknown.setdefault(shape, like.group(1))
            paragraph.append(line)
            continue
        close_paragraph()
        speaker = (turn.get("speaker") or "").strip() or None
        turns.append((_clock_seconds(turn["ts"]), speaker, []))
        if body := (turn.get("text") or "").strip():
            paragraph.append(body)
    close_paragraph()
    timed_turns = sum(1 for start, _, _ in turns if start) + sum(1 for t in turns[1:] if not t[0])
    shape, count = unknown.most_common(1)[0] if unknown else ("", 0)
    if count >= 2 and count >= timed_turns:  # a systematic way of writing times, not a sentence that starts "3:2"
        raise UnknownTimestamps(first_unknown[shape], "HH:MM:SS, MM:SS or [HH:MM:SS] before a turn or paragraph")
    if timed_turns == 0:
        return None
    segments = [
        Segment(start=start, end=start, text=re.sub(r"\s+", " ", p), speaker=speaker)
        for start, speaker, paragraphs in turns
        for p in paragraphs
    ]
    for current, following in zip(segments, segments[1:], strict=False):
        current.end = max(current.start, following.start)
    return segments


def _speaker_paragraphs(text: str) -> list[Segment]:
    """Untimed text, one segment per paragraph (or line); `Name: text` turns (speaker_labels) give the speaker of
    their paragraph and of those after it, when they open at least a third of the paragraphs."""
    segments = _paragraphs(text)
    labels = speaker_labels([s.text for s in segments])
    if sum(1 for label in labels if label) >= max(2, len(segments) // 3):
        for segment, label in zip(segments, labels, strict=True):
            if label:
                segment.speaker, segment.text = label
        _carry_speakers(segments)
    return segments


def fetch_transcript(url: str, origin: Origin, settings: Settings) -> bytes:
    """A publisher's or sidecar transcript: from the web (size- and time-limited) or a file, each only where the show
    `origin` may point (see net.Origin)."""
    return origin.read_file(
        url,
        settings,
        what=f"the transcript {url}",
        hint="the publisher's link is broken or slow; the episode is transcribed from its audio instead",
    )


def parse_transcript(data: str | bytes, kind: str) -> list[Segment]:
    """Segments of a transcript file; `kind` is a MIME type or a file extension."""
    text = data.decode("utf-8", errors="replace") if isinstance(data, bytes) else data
    fmt = kind_of(kind)
    if fmt is None and "-->" in text:
        fmt = "vtt"
    try:
        segments = _parse(text, fmt)
    except (ValueError, TypeError, AttributeError, KeyError, OverflowError, RecursionError) as exc:
        why = "it is nested too deep" if isinstance(exc, RecursionError) else exc
        raise MediaError(f"cannot read the {fmt or kind} transcript: {why}", "the file is malformed") from exc
    if not segments:
        raise MediaError(f"the {fmt or kind} transcript has no text", "the file is empty or not a transcript")
    checked_times(segments)
    return segments
