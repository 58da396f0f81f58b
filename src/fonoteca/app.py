"""The application object: one `Fonoteca` owns the settings, the archive, the search index, the transcriber, the LLM
client and the event sink, and offers every operation. `cli/`, `web/`, the demo and `bench/` build it once and only
translate arguments and format results (as datasette builds one `Datasette`).

    from fonoteca.app import Fonoteca
    with Fonoteca(Settings.from_env()) as app:
        app.add("https://example.org/feed.xml")
        print(app.search("inteligencia artificial").total)
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from functools import cached_property
from typing import TYPE_CHECKING, Any

from fonoteca.archive import Archive, Episode, Show, Stats
from fonoteca.settings import Settings

if TYPE_CHECKING:
    from fonoteca.llm.analyze import Analyzer
    from fonoteca.llm.chat import ChatTurn
    from fonoteca.llm.client import LLMClient
    from fonoteca.pipeline import SyncReport
    from fonoteca.search import SearchResults
    from fonoteca.search.index import SearchIndex
    from fonoteca.search.trends import TrendPoint
    from fonoteca.transcribe import Transcriber

EventSink = Callable[[Any], None]
"""Receives the events of long work (progress, results, notes); the CLI renders them with Rich, the web ignores them."""


def ignore(event: Any) -> None:
    """The event sink of callers that show no progress."""


class Fonoteca:
    """One archive and everything that works on it. Parts are opened on first use: a search never loads Whisper."""

    def __init__(self, settings: Settings | None = None, *, events: EventSink = ignore) -> None:
        self.settings = settings or Settings.from_env()
        self.events = events

    # -- the parts ------------------------------------------------------------------------------------------------

    @cached_property
    def archive(self) -> Archive:
        return Archive(self.settings.db_path)

    @property
    def index(self) -> SearchIndex:
        from fonoteca.search.index import SearchIndex

        return SearchIndex.for_settings(self.settings)

    @cached_property
    def transcriber(self) -> Transcriber:
        from fonoteca.transcribe import Transcriber

        return Transcriber(self.settings)

    @cached_property
    def llm(self) -> LLMClient:
        from fonoteca.llm.client import LLMClient

        return LLMClient(self.settings)

    def close(self) -> None:
        if "archive" in self.__dict__:
            self.archive.close()

    def __enter__(self) -> Fonoteca:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # -- ingest and transcription ---------------------------------------------------------------------------------

    def add(self, source: str, **options: Any) -> tuple[Show, SyncReport]:
        """Register a feed, feed file, media folder or file as a show and (unless sync_now=False) sync it."""
        from fonoteca.pipeline import add_source

        return add_source(self.archive, self.settings, source, **options)

    def sync(self, show: str | None = None, **options: Any) -> SyncReport:
        from fonoteca.pipeline import sync

        return sync(self.archive, self.settings, self.archive.get_show(show) if show else None, **options)

    def retry(self, episode: str | None = None, **options: Any) -> SyncReport:
        from fonoteca.pipeline import retry

        return retry(self.archive, self.settings, episode, **options)

    # -- reading --------------------------------------------------------------------------------------------------

    def stats(self, show: str | None = None) -> Stats:
        return self.archive.stats(self.archive.get_show(show).id if show else None)

    def episode(self, ref: str) -> Episode:
        return self.archive.get_episode(ref)

    def export(self, episode: str, fmt: str) -> str:
        from fonoteca.ingest.transcripts import render_transcript

        return render_transcript(self.archive.segments(self.archive.get_episode(episode).id), fmt)

    # -- search and trends ----------------------------------------------------------------------------------------

    def search(self, query: str, **filters: Any) -> SearchResults:
        from fonoteca.search import search

        return search(self.archive, self.settings, query, **filters)

    def trend(self, terms: Sequence[str], **options: Any) -> list[TrendPoint]:
        from fonoteca.search.trends import trend

        return trend(self.archive, list(terms), settings=self.settings, **options)

    def update_index(self) -> int:
        """Index what changed in the archive since the last time (also what other processes changed)."""
        from fonoteca.search import sync_index

        return sync_index(self.archive, self.settings)

    def reindex(self) -> int:
        from fonoteca.search import reindex

        return reindex(self.archive, self.settings)

    # -- the language model ---------------------------------------------------------------------------------------

    def analyzer(self) -> Analyzer:
        from fonoteca.llm.analyze import Analyzer

        return Analyzer(self.archive, self.settings, self.llm)

    def chat_turn(self, question: str, **scope: Any) -> ChatTurn:
        """One question of a conversation (`conversation_id`, `show`, `episode`); stream it with its events()."""
        from fonoteca.llm.chat import ChatTurn

        return ChatTurn(self.archive, self.settings, self.llm, question, **scope)
