"""What the archive stores, as Python values: the enums of its closed vocabularies and the domain models.

The enums are `StrEnum`s, so a member compares equal to its value ("done" == Status.DONE) and is written to SQLite,
JSON and templates as that plain string.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from datetime import UTC, datetime
from enum import StrEnum
from functools import cached_property
from typing import Any


class Status(StrEnum):
    """Where an episode is on its way to a transcript."""

    NEW = "new"  # known from its feed or folder; media not fetched yet
    DOWNLOADED = "downloaded"  # its media is on disk
    TRANSCRIBING = "transcribing"  # segments are being committed (an interrupted one resumes from the last)
    DONE = "done"  # transcript complete: searchable
    FAILED = "failed"  # its `error` says why and what to do

    def can_become(self, target: Status) -> bool:
        return target in TRANSITIONS[self]


# The only moves an episode's status may make; the archive refuses any other. Staying put is listed where it is
# legitimate work: a download again (its media went missing), a resumed transcription, a re-transcription.
TRANSITIONS: dict[Status, frozenset[Status]] = {
    # Imported transcripts (publisher's, sidecar, a text post's own text) finish an episode without its media.
    Status.NEW: frozenset({Status.DOWNLOADED, Status.DONE, Status.FAILED}),
    Status.DOWNLOADED: frozenset({Status.DOWNLOADED, Status.TRANSCRIBING, Status.DONE, Status.FAILED}),
    # An interrupted transcription resumes (or has its vanished media downloaded again) or is replaced by an import.
    Status.TRANSCRIBING: frozenset({Status.DOWNLOADED, Status.TRANSCRIBING, Status.DONE, Status.FAILED}),
    Status.DONE: frozenset({Status.DONE}),  # `retry --force`: a new transcript replaces the old one in one commit
    Status.FAILED: frozenset({Status.NEW, Status.DOWNLOADED}),  # `retry`, or the feed fixed its enclosure
}


class EpisodeKind(StrEnum):
    AUDIO = "audio"
    VIDEO = "video"
    TEXT = "text"  # a text-only post: its paragraphs are its transcript


class Source(StrEnum):
    """Where an episode's transcript came from."""

    TRANSCRIBED = "transcribed"  # Whisper
    PUBLISHER = "publisher"  # the feed's <podcast:transcript>
    SIDECAR = "sidecar"  # a subtitle file beside a local media file
    TEXT = "text"  # a text post's own text
    CAPTIONS = "captions"  # subtitles the creator uploaded to a video platform
    AUTO_CAPTIONS = "auto_captions"  # a video platform's automatic captions (only when asked for: Whisper is better)
    IMPORTED = "imported"  # a transcript file the user imported (`fonoteca import`)


class SourceKind(StrEnum):
    """What a show is read from."""

    FEED = "feed"  # an RSS/Atom URL or file
    FOLDER = "folder"  # a folder (or single file) of local media
    PLATFORM = "platform"  # a channel, playlist or page that yt-dlp reads (YouTube, Twitch, Vimeo, a web page...)
    TRANSCRIPTS = "transcripts"  # transcript files imported with no show to match them to


class ChapterSource(StrEnum):
    """Who made an episode's chapters: the publisher's are shown as they are and never replaced by generated ones."""

    PUBLISHER = "publisher"  # <podcast:chapters>, ID3 CHAP frames, a platform's chapters, a timestamp list in notes
    GENERATED = "generated"  # found in the transcript by fonoteca (fonoteca.meaning.chapters)


class Captions(StrEnum):
    """Which of a video platform's captions a show imports instead of transcribing (`fonoteca add --captions`)."""

    CREATOR = "creator"  # subtitles the creator uploaded, in the episode's language
    AUTO = "auto"  # those, else the platform's automatic captions (worse than Whisper: only when asked for)
    NONE = "none"  # `--transcribe`: Whisper always


class SpeakerSource(StrEnum):
    """Where a name in a show's library of speakers came from."""

    OWNER = "owner"  # the owner named a voice (`fonoteca speakers name`, the episode page)
    IMPORTED = "imported"  # an imported transcript named the speaker (WebVTT <v>, Markdown turns...)


class SpeakerNaming(StrEnum):
    """How a speaker found in an episode got its name (none: it is numbered, "Speaker 2")."""

    OWNER = "owner"  # the owner named it in this episode
    MATCH = "match"  # its voice print matched a named one of the show's library, with a confidence


def day_of(published: str | None) -> str | None:
    """The day (YYYY-MM-DD) of an ISO 8601 date as the archive stores it, None when unknown."""
    return published[:10] if published else None


@dataclass
class Show:
    id: int
    slug: str
    title: str
    source: str
    source_kind: SourceKind
    language: str | None = None
    feed_language: str | None = None
    description: str = ""
    link: str = ""
    image: str = ""
    added_at: str = ""
    synced_at: str | None = None
    credentials: str | None = field(default=None, repr=False)  # the feed URL's user:password: never shown
    captions: Captions = Captions.CREATOR  # platform shows: which captions stand in for a transcription
    feed_secret: str | None = field(default=None, repr=False)  # the private feed's path (EpisodeStore.feed_secret)
    speakers: bool = True  # find who speaks in its transcribed episodes (`fonoteca speakers off SHOW` turns it off)
    speaker_count: int | None = None  # how many people speak in its episodes, when the owner knows (None: found)

    def __post_init__(self) -> None:
        self.speakers = bool(self.speakers)
        self.source_kind = SourceKind(self.source_kind)
        self.captions = Captions(self.captions)


@dataclass
class Episode:
    id: str
    show_id: int
    guid: str
    title: str
    kind: EpisodeKind
    published: str | None = None
    duration: float | None = None
    media_url: str | None = None
    media_path: str | None = None
    media_type: str | None = None
    description: str = ""
    link: str = ""
    transcript_url: str | None = None
    transcript_type: str | None = None
    status: Status = Status.NEW
    error: str | None = None
    source: Source | None = None
    language: str | None = None
    engine: str | None = None
    model: str | None = None
    transcript_rev: int = 0
    added_at: str = ""
    updated_at: str = ""
    image: str = ""  # thumbnail URL
    dropped_segments: str | None = None  # JSON {reason: count} of what the quality guard dropped: see `dropped`
    number: int | None = None  # the feed's itunes:episode
    finished_at: str | None = None  # when it was last finished (transcribed or imported), ISO 8601 UTC
    transcript_at: str | None = None  # when its segments last changed, ISO 8601 UTC
    show_title: str = ""  # joined from shows, for listings

    def __post_init__(self) -> None:
        self.kind = EpisodeKind(self.kind)
        self.status = Status(self.status)
        self.source = Source(self.source) if self.source is not None else None

    @property
    def date(self) -> str | None:
        return day_of(self.published)

    @property
    def dropped(self) -> dict[str, int]:
        """Segments of Whisper's output that the quality guard dropped (phantom phrases, loops), by reason."""
        return json.loads(self.dropped_segments) if self.dropped_segments else {}


@dataclass(frozen=True, slots=True)
class EpisodeCard:
    """What a search hit says of its episode (see Archive.cards_by_ids)."""

    id: str
    title: str
    show_title: str
    published: str | None

    @property
    def date(self) -> str | None:
        return day_of(self.published)


@dataclass(frozen=True)
class TimelineEntry:
    """An episode as a point of the show's history (see Archive.timeline)."""

    id: str
    title: str
    published: str | None
    duration: float | None
    kind: EpisodeKind
    show_id: int = 0
    words: int = 0  # words said in it (0 until they are counted): the denominator of "per 1,000 words"

    # Computed once per entry: the archive keeps a thread's timeline until it changes, and every trend reads both.
    @cached_property
    def date(self) -> str | None:
        return day_of(self.published)

    @cached_property
    def hours(self) -> float:
        """Hours of audio (none for a text episode, whose mentions per hour would mean nothing)."""
        return (self.duration or 0.0) / 3600 if self.kind != EpisodeKind.TEXT else 0.0

    @cached_property
    def published_at(self) -> int:
        """Epoch seconds of its date, as the search index holds it (0: undated)."""
        return epoch(self.published)


def epoch(published: str | None) -> int:
    """Epoch seconds of an episode's ISO 8601 date; 0 when unknown or unreadable (sorted as the oldest)."""
    if not published:
        return 0
    try:
        stamp = datetime.fromisoformat(published.replace("Z", "+00:00"))
    except ValueError:
        return 0
    if stamp.tzinfo is None:
        stamp = stamp.replace(tzinfo=UTC)
    return int(stamp.timestamp())


# A word as Whisper times it: (start, end, text), and Whisper's probability of it as a fourth item where it gave one
# (imported transcripts have none).
Word = tuple[float, float, str] | tuple[float, float, str, float]


@dataclass(slots=True)  # a long imported transcript holds a million of them: no __dict__ each
class Segment:
    start: float
    end: float
    text: str
    words: list[Word] | None = None
    speaker: str | None = None
    idx: int = -1
    episode_id: str = ""
    said: str | None = None  # the line as transcribed, where a correction rule or an edit changed `text`


@dataclass(frozen=True)
class DamagedTranscript:
    """An episode whose segments repeat or go back in time: what two transcriptions of it at once leave behind."""

    episode_id: str
    show_title: str
    title: str
    duplicated: int  # segments whose start and text another segment of the episode already has
    overlapping: int  # transcribed segments that start before the previous one ended


@dataclass
class Stats:
    episodes: int  # transcribed (done) episodes
    seconds: float  # audio time transcribed
    by_show: list[tuple[Show, int, float]] = field(default_factory=list)  # (show, done episodes, seconds)


@dataclass
class Analysis:
    episode_id: str
    kind: str
    params: str
    model: str
    prompt_version: str
    transcript_rev: int
    result: Any
    created_at: str = ""


@dataclass(frozen=True)
class Chapter:
    """A part of an episode from `start` (seconds) to `end` (None: the next chapter's start, or the episode's end)."""

    start: float
    title: str
    end: float | None = None
    source: ChapterSource = ChapterSource.GENERATED
    url: str = ""  # the publisher's link for this part
    image: str = ""  # the publisher's chapter art
    toc: bool = True  # False: a publisher's "silent" chapter (art or a link only), left out of the visible list


@dataclass(frozen=True)
class KeyMoment:
    """A passage that represents the episode: its words verbatim, as the transcript has them, and where it is."""

    start: float
    end: float
    quote: str


@dataclass(frozen=True)
class Topic:
    """A word or phrase the episode says distinctively often, as it is said (the most frequent spelling)."""

    term: str
    count: int  # times said in the episode
    score: float  # keyness against the rest of the archive (log-likelihood G2)


@dataclass
class Overview:
    """An episode at a glance: its chapters (the publisher's when it has some), key moments and topics, made from
    one transcript revision by one method (the embeddings model of its passage vectors, or "words")."""

    episode_id: str
    transcript_rev: int
    method: str
    chapters: list[Chapter]
    moments: list[KeyMoment]
    topics: list[Topic]
    current: bool = True  # False: made from an older transcript revision (being remade)

    @property
    def shown_chapters(self) -> list[Chapter]:
        return [c for c in self.chapters if c.toc]


@dataclass(frozen=True)
class ShowSpeaker:
    """A named speaker of a show's library: their voice print (None: named by an imported transcript of an episode
    without media) is what later episodes are matched against."""

    id: int
    show_id: int
    name: str
    source: SpeakerSource
    voice_print: Any = field(default=None, repr=False)  # numpy float32, L2-normalised
    created_at: str = ""


@dataclass(frozen=True)
class EpisodeSpeaker:
    """A voice found in an episode: its number (0, 1, 2… in order of first appearance; shown 1-based), how long it
    speaks, its voice print, and the show's speaker it is (named by the owner, or matched with a confidence)."""

    episode_id: str
    number: int
    seconds: float
    voice_print: Any = field(default=None, repr=False)
    show_speaker_id: int | None = None
    name: str | None = None  # the show speaker's name
    naming: SpeakerNaming | None = None
    confidence: float | None = None  # the voice prints' similarity, for a match

    @property
    def label(self) -> str:
        return self.name if self.name else numbered_label(self.number)


@dataclass(frozen=True)
class SpeakerTurn:
    """Who speaks from `start` to `end` (seconds) of an episode: an EpisodeSpeaker's number."""

    start: float
    end: float
    number: int


def numbered_label(number: int) -> str:
    """What a reader sees for a voice nobody has named: "Speaker 1" for the first to speak (number 0)."""
    return f"Speaker {number + 1}"


@dataclass
class Message:
    role: str
    content: str
    citations: list[dict[str, Any]] | None = None
    created_at: str = ""
