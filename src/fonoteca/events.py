"""What long work tells whoever watches it: progress, results and notes, as small immutable values.

The pipeline and the index send them to the application's event sink (`Fonoteca.events`, any callable) instead of
printing: the CLI renders them with Rich (fonoteca.cli.progress), the web and the benchmarks ignore them, tests collect
them in a list. Text in them (titles, feed notes) is untrusted and unformatted; the sink escapes it.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass


@dataclass(frozen=True)
class Note:
    """Something the user should know that is not an error: a feed's oddity, a correction it made, a fallback taken."""

    message: str


@dataclass(frozen=True)
class SyncStarted:
    """Episodes are about to be processed; `expected` is the audio seconds each one (by id) is thought to last."""

    expected: Mapping[str, float]


@dataclass(frozen=True)
class SyncFinished:
    """The episodes are processed (or the work stopped); the index is updated next."""


@dataclass(frozen=True)
class DownloadProgress:
    episode_id: str
    title: str
    done: int  # bytes
    total: int | None  # None while the server has not said


@dataclass(frozen=True)
class TranscriptionProgress:
    """Audio seconds transcribed so far; the first event of an episode gives where a resumed transcription starts."""

    episode_id: str
    title: str
    done: float
    total: float


@dataclass(frozen=True)
class EpisodeTranscribed:
    episode_id: str
    title: str
    seconds: float  # the episode's audio length
    realtime: float | None  # audio seconds transcribed now per wall second; None when too quick to measure


@dataclass(frozen=True)
class TranscriptImported:
    episode_id: str
    title: str
    origin: str  # "publisher's" or "sidecar"


@dataclass(frozen=True)
class EpisodeLeft:
    """Another fonoteca process holds the episode; this one leaves it to that one."""

    episode_id: str
    title: str


@dataclass(frozen=True)
class EpisodeFailed:
    episode_id: str
    title: str
    reason: str


@dataclass(frozen=True)
class AnalysesStarted:
    """Episodes are about to be analysed (or translated) by the language model, `total` of them, one at a time."""

    total: int


@dataclass(frozen=True)
class EpisodeAnalysing:
    episode_id: str
    title: str


@dataclass(frozen=True)
class EpisodeAnalysed:
    """The episode's report is made; analyses that failed in it are named in the report, not here."""

    episode_id: str
    title: str


@dataclass(frozen=True)
class AnalysisFailed:
    """No report for this episode; the other episodes go on."""

    episode_id: str
    title: str
    reason: str


@dataclass(frozen=True)
class AnalysesFinished:
    """The episodes are analysed, or the work stopped."""


@dataclass(frozen=True)
class IndexProgress:
    """Episodes indexed so far by a rebuild of the search index."""

    done: int
    total: int


@dataclass(frozen=True)
class ImportProgress:
    """Transcript files (or groups of one transcript's formats) read and stored so far by an import."""

    done: int
    total: int


@dataclass(frozen=True)
class EmbedProgress:
    """Episodes whose passages are embedded so far, for search by meaning."""

    done: int
    total: int


@dataclass(frozen=True)
class GlanceProgress:
    """Episodes whose chapters, key moments and topics are made so far."""

    done: int
    total: int


@dataclass(frozen=True)
class SpeakersProgress:
    """Seconds of audio whose speakers are found so far, over the episodes the speaker step has to do."""

    done: int
    total: int


@dataclass(frozen=True)
class CopyProgress:
    """Rows copied so far by `fonoteca migrate`, over every table of the archive."""

    done: int
    total: int


Event = (
    Note
    | SyncStarted
    | SyncFinished
    | DownloadProgress
    | TranscriptionProgress
    | EpisodeTranscribed
    | TranscriptImported
    | EpisodeLeft
    | EpisodeFailed
    | AnalysesStarted
    | EpisodeAnalysing
    | EpisodeAnalysed
    | AnalysisFailed
    | AnalysesFinished
    | IndexProgress
    | ImportProgress
    | EmbedProgress
    | GlanceProgress
    | CopyProgress
    | SpeakersProgress
)
EventSink = Callable[[Event], None]


def ignore(event: Event) -> None:
    """The event sink of callers that show no progress."""
