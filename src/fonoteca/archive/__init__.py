"""The archive: the only module in fonoteca that speaks SQL to its own tables, on SQLite (one file, the embedded
default) or on PostgreSQL (one server shared by many machines), through SQLAlchemy Core.

Everything else (ingest, transcription, search, trends, LLM, CLI, web) goes through `Archive`, and gets back the domain
models and enums of `fonoteca.archive.models` (importable from here too). An Archive is a `Database`
(fonoteca.archive.database: the engines, the writer behind its lock, a reader per thread) and a store per family of
tables, each given that database:

    episodes       shows and episodes, an episode's status moves (fonoteca.archive.episodes)
    claims         which process works on an episode (fonoteca.archive.claims)
    transcripts    the segments of the episodes (fonoteca.archive.transcripts)
    word_counts    the words said per episode, for trends (fonoteca.archive.word_counts)
    analyses       the language model's analyses (fonoteca.archive.analyses)
    conversations  chat conversations and their messages (fonoteca.archive.conversations)
    corrections    a show's vocabulary, correction rules and lines fixed by hand (fonoteca.archive.corrections)
    watches        watched words, mentions and the webhook's outbox (fonoteca.archive.watches)
    vectors        the passages' vectors of search by meaning (fonoteca.archive.vectors)
    overviews      chapters, key moments and topics of episodes (fonoteca.archive.overviews)
    voices         a show's named speakers, the voices and turns found in episodes (fonoteca.archive.speakers)

The Archive's methods are its stores' (`archive.add_show` is `archive.episodes.add_show`). Statements are built from
the tables of `fonoteca.archive.tables`, so one statement runs on both databases. Each write is its own transaction, so
a killed process leaves the archive consistent; the writes that change an episode hand it back (RETURNING). An
episode's status changes only along `TRANSITIONS`.
"""

from __future__ import annotations

from collections.abc import Callable
from functools import cached_property
from pathlib import Path
from typing import Any, Concatenate, Generic, ParamSpec, TypeVar, overload

from sqlalchemy.engine import URL

from fonoteca.archive import migrations
from fonoteca.archive.analyses import AnalysisStore
from fonoteca.archive.claims import CLAIM_TIMEOUT_S, ClaimStore, EpisodeBusy
from fonoteca.archive.conversations import ConversationStore
from fonoteca.archive.corrections import CorrectionStore
from fonoteca.archive.database import Database, database_url
from fonoteca.archive.episodes import UNCHANGED, EpisodeStore, Unchanged, episode_id_for, slugify
from fonoteca.archive.models import (
    TRANSITIONS,
    Analysis,
    Captions,
    Chapter,
    ChapterSource,
    DamagedTranscript,
    Episode,
    EpisodeCard,
    EpisodeKind,
    EpisodeSpeaker,
    KeyMoment,
    Message,
    Overview,
    Segment,
    Show,
    ShowSpeaker,
    Source,
    SourceKind,
    SpeakerNaming,
    SpeakerSource,
    SpeakerTurn,
    Stats,
    Status,
    TimelineEntry,
    Topic,
)
from fonoteca.archive.overviews import OverviewStore
from fonoteca.archive.speakers import SpeakerStore
from fonoteca.archive.transcripts import TranscriptStore
from fonoteca.archive.vectors import VectorStore
from fonoteca.archive.watches import WatchStore
from fonoteca.archive.word_counts import WordCountStore

__all__ = [
    "CLAIM_TIMEOUT_S",
    "TRANSITIONS",
    "UNCHANGED",
    "Analysis",
    "Archive",
    "Captions",
    "Chapter",
    "ChapterSource",
    "DamagedTranscript",
    "Database",
    "Episode",
    "EpisodeCard",
    "EpisodeBusy",
    "EpisodeKind",
    "KeyMoment",
    "Message",
    "Overview",
    "Segment",
    "EpisodeSpeaker",
    "Show",
    "ShowSpeaker",
    "Source",
    "SourceKind",
    "SpeakerNaming",
    "SpeakerSource",
    "SpeakerTurn",
    "Stats",
    "Status",
    "TimelineEntry",
    "Topic",
    "Unchanged",
    "database_url",
    "episode_id_for",
    "slugify",
]

_Params = ParamSpec("_Params")
_Result = TypeVar("_Result")


class _Delegated(Generic[_Params, _Result]):
    """A method of the Archive that is one of its stores' own, with its signature and docstring:
    `_Delegated("episodes", EpisodeStore.add_show)` makes `archive.add_show` the bound `archive.episodes.add_show`."""

    def __init__(self, store: str, method: Callable[Concatenate[Any, _Params], _Result]) -> None:
        self.store = store
        self.name = method.__name__
        self.__doc__ = method.__doc__

    @overload
    def __get__(self, archive: None, owner: type[Archive]) -> _Delegated[_Params, _Result]: ...

    @overload
    def __get__(self, archive: Archive, owner: type[Archive]) -> Callable[_Params, _Result]: ...

    def __get__(
        self, archive: Archive | None, owner: type[Archive]
    ) -> _Delegated[_Params, _Result] | Callable[_Params, _Result]:
        if archive is None:
            return self
        method: Callable[_Params, _Result] = getattr(getattr(archive, self.store), self.name)
        return method


class Archive:
    """One archive, safe to share between threads (the web server): its database and the stores of its tables."""

    def __init__(self, location: Path | str | URL) -> None:
        self.database = Database(location)
        self.url = self.database.url
        self.is_sqlite = self.database.is_sqlite
        self.path = self.database.path  # the SQLite file; None for an archive on a database server
        self.location = self.database.location  # where the archive is, as it may be shown (without a password)
        self.episodes = EpisodeStore(self.database)
        self.claims = ClaimStore(self.database)
        self.transcripts = TranscriptStore(self.database, self.episodes, self.claims)
        self.word_counts = WordCountStore(self.database)
        self.analyses = AnalysisStore(self.database)
        self.conversations = ConversationStore(self.database)

    def close(self) -> None:
        self.database.close()

    def __enter__(self) -> Archive:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    @property
    def schema_version(self) -> int:
        return migrations.current_revision(self.database)

    def changes(self) -> tuple[int, float]:
        """(the archive's change counter, when it last moved): see Database.changes."""
        return self.database.changes()

    @cached_property
    def watches(self) -> WatchStore:
        """Watched words, their mentions and the webhook's outbox (fonoteca.archive.watches)."""
        return WatchStore(self.database)

    @cached_property
    def corrections(self) -> CorrectionStore:
        """A show's vocabulary, correction rules and lines fixed by hand (fonoteca.archive.corrections)."""
        return CorrectionStore(self.database)

    @cached_property
    def vectors(self) -> VectorStore:
        """The passages' vectors of search by meaning (fonoteca.archive.vectors)."""
        return VectorStore(self.database)

    @cached_property
    def overviews(self) -> OverviewStore:
        """Chapters, key moments and topics of episodes (fonoteca.archive.overviews)."""
        return OverviewStore(self.database)

    @cached_property
    def voices(self) -> SpeakerStore:
        """A show's named speakers, the voices and turns found in its episodes (fonoteca.archive.speakers)."""
        return SpeakerStore(self.database)

    # -- shows and episodes (fonoteca.archive.episodes) -------------------------------------------------------------

    add_show = _Delegated("episodes", EpisodeStore.add_show)
    update_show = _Delegated("episodes", EpisodeStore.update_show)
    mark_synced = _Delegated("episodes", EpisodeStore.mark_synced)
    get_show = _Delegated("episodes", EpisodeStore.get_show)
    list_shows = _Delegated("episodes", EpisodeStore.list_shows)
    feed_secret = _Delegated("episodes", EpisodeStore.feed_secret)
    show_by_feed_secret = _Delegated("episodes", EpisodeStore.show_by_feed_secret)
    upsert_episode = _Delegated("episodes", EpisodeStore.upsert_episode)
    update_episode = _Delegated("episodes", EpisodeStore.update_episode)
    set_status = _Delegated("episodes", EpisodeStore.set_status)
    mark_downloaded = _Delegated("episodes", EpisodeStore.mark_downloaded)
    start_transcription = _Delegated("episodes", EpisodeStore.start_transcription)
    finish_transcription = _Delegated("episodes", EpisodeStore.finish_transcription)
    requeue_failed = _Delegated("episodes", EpisodeStore.requeue_failed)
    get_episode = _Delegated("episodes", EpisodeStore.get_episode)
    episodes_by_ids = _Delegated("episodes", EpisodeStore.episodes_by_ids)
    cards_by_ids = _Delegated("episodes", EpisodeStore.cards_by_ids)
    list_episodes = _Delegated("episodes", EpisodeStore.list_episodes)
    add_episodes = _Delegated("episodes", EpisodeStore.add_episodes)
    timeline = _Delegated("episodes", EpisodeStore.timeline)
    delete_episode = _Delegated("episodes", EpisodeStore.delete_episode)
    stats = _Delegated("episodes", EpisodeStore.stats)
    episodes_per_show = _Delegated("episodes", EpisodeStore.episodes_per_show)
    transcribed_since = _Delegated("episodes", EpisodeStore.transcribed_since)
    status_counts = _Delegated("episodes", EpisodeStore.status_counts)
    finished_revisions = _Delegated("episodes", EpisodeStore.finished_revisions)
    finished_version = _Delegated("episodes", EpisodeStore.finished_version)
    transcript_times = _Delegated("episodes", EpisodeStore.transcript_times)

    # -- claims: one process per episode (fonoteca.archive.claims) --------------------------------------------------

    claim_episode = _Delegated("claims", ClaimStore.claim_episode)
    release_episode = _Delegated("claims", ClaimStore.release_episode)
    claim_holder = _Delegated("claims", ClaimStore.claim_holder)
    drop_claim = _Delegated("claims", ClaimStore.drop_claim)
    heartbeat = _Delegated("claims", ClaimStore.heartbeat)

    # -- segments (fonoteca.archive.transcripts) --------------------------------------------------------------------

    append_segments = _Delegated("transcripts", TranscriptStore.append_segments)
    replace_transcript = _Delegated("transcripts", TranscriptStore.replace_transcript)
    segments = _Delegated("transcripts", TranscriptStore.segments)
    passages = _Delegated("transcripts", TranscriptStore.passages)
    iter_segments = _Delegated("transcripts", TranscriptStore.iter_segments)
    said_at = _Delegated("transcripts", TranscriptStore.said_at)
    speakers = _Delegated("transcripts", TranscriptStore.speakers)
    speaking_time = _Delegated("transcripts", TranscriptStore.speaking_time)
    last_segment_end = _Delegated("transcripts", TranscriptStore.last_segment_end)
    segment_count = _Delegated("transcripts", TranscriptStore.segment_count)
    transcript_text = _Delegated("transcripts", TranscriptStore.transcript_text)
    damaged_transcripts = _Delegated("transcripts", TranscriptStore.damaged_transcripts)

    # -- word counts (fonoteca.archive.word_counts) -----------------------------------------------------------------

    episodes_to_count = _Delegated("word_counts", WordCountStore.episodes_to_count)
    store_word_counts = _Delegated("word_counts", WordCountStore.store_word_counts)
    store_word_counts_many = _Delegated("word_counts", WordCountStore.store_word_counts_many)
    term_counts = _Delegated("word_counts", WordCountStore.term_counts)

    # -- LLM analyses (fonoteca.archive.analyses) -------------------------------------------------------------------

    get_analysis = _Delegated("analyses", AnalysisStore.get_analysis)
    list_analyses = _Delegated("analyses", AnalysisStore.list_analyses)
    save_analysis = _Delegated("analyses", AnalysisStore.save_analysis)

    # -- conversations (fonoteca.archive.conversations) -------------------------------------------------------------

    create_conversation = _Delegated("conversations", ConversationStore.create_conversation)
    conversation_scope = _Delegated("conversations", ConversationStore.conversation_scope)
    add_message = _Delegated("conversations", ConversationStore.add_message)
    messages = _Delegated("conversations", ConversationStore.messages)
