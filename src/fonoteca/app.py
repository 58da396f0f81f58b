"""The application object: one `Fonoteca` owns the settings, the archive, the search index, the transcriber, the LLM
client and the event sink, and offers every operation. `cli/`, `web/`, the demo and `bench/` build it once and only
translate arguments and format results (as datasette builds one `Datasette`).

    from fonoteca.app import Fonoteca
    with Fonoteca(Settings.from_env()) as app:
        app.add("https://example.org/feed.xml")
        print(app.search("inteligencia artificial").total)
"""

from __future__ import annotations

from collections.abc import Sequence
from functools import cached_property
from pathlib import Path
from typing import TYPE_CHECKING

from fonoteca.archive import Archive, Captions, Episode, Show, Stats
from fonoteca.errors import FonotecaError
from fonoteca.events import CopyProgress, EventSink, ignore
from fonoteca.settings import Settings

if TYPE_CHECKING:
    from fonoteca.archive.copy import TableCheck
    from fonoteca.ingest.importer import ImportReport
    from fonoteca.jobs import JobQueue, Queued
    from fonoteca.llm.analyze import Analyzer
    from fonoteca.llm.chat import ChatTurn
    from fonoteca.llm.client import LLMClient
    from fonoteca.pipeline import SyncReport
    from fonoteca.search import SearchResults
    from fonoteca.search.index import SearchIndex
    from fonoteca.search.trends import TrendPoint
    from fonoteca.transcribe import Transcriber
    from fonoteca.watch import Watcher


class Fonoteca:
    """One archive and everything that works on it. Parts are opened on first use: a search never loads Whisper."""

    def __init__(self, settings: Settings | None = None, *, events: EventSink = ignore) -> None:
        self.settings = settings or Settings.from_env()
        self.events = events  # progress, results and notes of long work (fonoteca.events); the CLI renders them

    # -- the parts ------------------------------------------------------------------------------------------------

    @cached_property
    def archive(self) -> Archive:
        return Archive(self.settings.archive_location)

    @property
    def index(self) -> SearchIndex:
        from fonoteca.search.index import SearchIndex

        return SearchIndex.for_settings(self.settings)

    @cached_property
    def transcriber(self) -> Transcriber:
        """The Whisper model, loaded when the first episode is transcribed and kept for the next ones."""
        from fonoteca.transcribe import Transcriber

        return Transcriber(self.settings)

    @cached_property
    def watcher(self) -> Watcher:
        """Watched words: scanned after every sync, delivered by feed, webhook and `fonoteca watch` (fonoteca.watch)."""
        from fonoteca.watch import Watcher

        return Watcher(self.archive, self.settings, events=self.events)

    @cached_property
    def llm(self) -> LLMClient:
        from fonoteca.llm.client import LLMClient

        return LLMClient(self.settings)

    @cached_property
    def jobs(self) -> JobQueue:
        """The job queue in the archive's PostgreSQL database (fonoteca.jobs): there add, sync and retry put the work,
        and `fonoteca worker` takes it. A ConfigError on SQLite, where those commands do the work themselves."""
        from fonoteca.jobs import JobQueue

        return JobQueue(self.archive, self.settings)

    def close(self) -> None:
        if "jobs" in self.__dict__:
            self.jobs.close()
        if "archive" in self.__dict__:
            self.archive.close()

    def __enter__(self) -> Fonoteca:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # -- ingest and transcription ---------------------------------------------------------------------------------

    def add(
        self,
        source: str,
        *,
        language: str | None = None,
        title: str | None = None,
        date: str | None = None,
        sync_now: bool = True,
        captions: Captions | None = None,
    ) -> tuple[Show, SyncReport]:
        """Register a feed, feed file, media folder, file or video platform page (yt-dlp) as a show and (unless
        `sync_now` is False) sync it. `captions`: which of a platform's captions stand in for a transcription.

        On PostgreSQL the show and its episodes are registered here and their work is queued for the workers."""
        from fonoteca.pipeline import PENDING, add_source

        queue = not self.archive.is_sqlite
        show, report = add_source(
            self.archive, self.settings, source, language=language, title=title, date=date,
            sync_now=sync_now and not queue, events=self.events, transcriber=self.transcriber, captions=captions,
        )  # fmt: skip
        if not queue:
            self.after_transcripts_changed()
        elif sync_now:
            _count(report, self.jobs.enqueue_episodes(self.archive.list_episodes(show.id, status=PENDING)))
        return show, report

    def sync(self, show: str | None = None) -> SyncReport:
        """New episodes of one show (slug, id or title) or of all, then everything pending, then the index.

        On PostgreSQL this queues a refresh of each show (which queues the new episodes it finds) and the next job of
        each pending episode; what already has a job waiting or running is not queued again."""
        from fonoteca.pipeline import PENDING, SyncReport, sync

        chosen = self.archive.get_show(show) if show else None
        if not self.archive.is_sqlite:
            shows = [chosen] if chosen else self.archive.list_shows()
            report = _count(SyncReport(), self.jobs.enqueue_refresh(shows))
            pending = [e for s in shows for e in self.archive.list_episodes(s.id, status=PENDING)]
            return _count(report, self.jobs.enqueue_episodes(pending))
        report = sync(self.archive, self.settings, chosen, events=self.events, transcriber=self.transcriber)
        self.after_transcripts_changed()
        return report

    def retry(self, episode: str | None = None, *, force: bool = False) -> SyncReport:
        """Every failed episode again, or one failed or pending episode; a finished one only when `force`d. On
        PostgreSQL they are put back to pending here and their jobs queued."""
        from fonoteca.pipeline import SyncReport, reset_failed, retry, retry_targets

        if not self.archive.is_sqlite:
            targets = retry_targets(self.archive, episode, force=force)
            if targets and targets[0].status == "done":
                return _count(SyncReport(), self.jobs.enqueue_transcription(targets[0].id, replace=True))
            reset_failed(self.archive, targets)
            again = self.archive.episodes_by_ids(e.id for e in targets).values()
            return _count(SyncReport(), self.jobs.enqueue_episodes(again))
        report = retry(
            self.archive, self.settings, episode, events=self.events, transcriber=self.transcriber, force=force
        )
        self.after_transcripts_changed()
        return report

    def import_transcripts(
        self,
        paths: Sequence[str | Path],
        *,
        show: str | None = None,
        dry_run: bool = False,
        force: bool = False,
    ) -> ImportReport:
        """Transcript files and folders people already have, matched to the episodes of `show` (slug, id or title)
        or, without one, as a show of imported transcripts; `dry_run` reports what would happen and changes nothing,
        `force` replaces transcripts the episodes already have."""
        from fonoteca.ingest.importer import import_transcripts

        chosen = self.archive.get_show(show) if show else None
        report = import_transcripts(
            self.archive, self.settings, paths, show=chosen, dry_run=dry_run, force=force, events=self.events
        )
        if report.imported:
            self.after_transcripts_changed()
        return report

    # -- reading --------------------------------------------------------------------------------------------------

    def stats(self, show: str | None = None) -> Stats:
        return self.archive.stats(self.archive.get_show(show).id if show else None)

    def episode(self, ref: str) -> Episode:
        return self.archive.get_episode(ref)

    def export(self, episode: str, fmt: str) -> str:
        """The episode's transcript as txt, srt, vtt or json; an episode with nothing transcribed yet is an error that
        says what to run."""
        from fonoteca.ingest.transcripts import render_transcript

        found = self.archive.get_episode(episode)
        segments = self.archive.segments(found.id)
        if not segments:
            todo = f"run `fonoteca retry {found.id}`" if found.status == "failed" else "run `fonoteca sync`"
            raise FonotecaError(f"episode {found.id} has no transcript yet (status: {found.status})", todo)
        return render_transcript(segments, fmt)

    # -- search and trends ----------------------------------------------------------------------------------------

    def search(
        self,
        query: str,
        *,
        show: str | None = None,
        episode: str | None = None,
        date_from: str | None = None,
        date_to: str | None = None,
        limit: int = 20,
        offset: int = 0,
        order: str = "relevance",
        mode: str | None = None,
    ) -> SearchResults:
        """`mode`: keyword, meaning, hybrid, or None = hybrid where the scope is embedded, else keyword (the result's
        mode and note say which ran and why)."""
        from fonoteca.search.hybrid import search

        return search(
            self.archive, self.settings, query, show=show, episode=episode, date_from=date_from, date_to=date_to,
            limit=limit, offset=offset, order=order, mode=mode,
        )  # fmt: skip

    def embed(self, *, again: bool = False, most: int | None = None) -> int:
        """Embed every passage not embedded yet for search by meaning (all of them `again`; the first `most`
        episodes of them); progress goes to the event sink. Returns how many episodes were embedded. Raises
        ConfigError when FONOTECA_EMBEDDINGS=none."""
        from fonoteca.meaning.embed import embed_pending
        from fonoteca.meaning.embedders import load_embedder

        return embed_pending(self.archive, load_embedder(self.settings), events=self.events, again=again, most=most)

    def after_transcripts_changed(self) -> None:
        """After a sync, retry, import or a worker's job after transcripts (searchable by keywords already): embed
        them for search by meaning, then look for watched words in them. Embeddings that cannot be made now (an
        endpoint down) are a note, not a failed sync: the next sync or `embed` catches up."""
        from fonoteca.events import Note

        if self.settings.embeddings.strip().lower() != "none":
            try:
                self.embed()
            except FonotecaError as exc:
                self.events(Note(f"search by meaning is not up to date: {exc}"))
        self.watcher.after_sync()

    def trend(
        self, terms: Sequence[str], *, show: str | None = None, per_hour: bool = False, per: str = "raw",
        by: str = "episode", split_by: str | None = None,
    ) -> list[TrendPoint]:  # fmt: skip
        """Each word's mentions per episode, week, month or year (raw, per hour or per 1,000 words); split_by="show"
        draws one word as one line per show."""
        from fonoteca.search.trends import trend

        return trend(
            self.archive, list(terms), show=show, per_hour=per_hour, per=per, by=by, split_by=split_by,
            settings=self.settings,
        )  # fmt: skip

    def trend_moments(
        self, terms: Sequence[str], *, key: str, by: str = "episode", show: str | None = None, limit: int = 100
    ) -> SearchResults:
        """The mentions behind one point of a trend: the segments of that episode or period that say the words."""
        from fonoteca.search.trends import moments

        return moments(self.archive, self.settings, list(terms), key=key, by=by, show=show, limit=limit)

    def update_index(self) -> int:
        """Index what changed in the archive since the last time (also what other processes changed)."""
        from fonoteca.search import sync_index

        return sync_index(self.archive, self.settings)

    def reindex(self) -> int:
        """Throw the index away and rebuild it from the archive; progress goes to the event sink."""
        from fonoteca.search.index import reindex

        return reindex(self.archive, self.settings, events=self.events)

    def migrate(self, to: str | Path) -> list[TableCheck]:
        """Copy the whole archive into another database (`to`: a PostgreSQL URL, or a SQLite file), resuming an
        interrupted copy, and check every table of it; progress goes to the event sink."""
        from fonoteca.archive.copy import copy_archive

        with Archive(to) as target:
            return copy_archive(
                self.archive, target, on_progress=lambda done, total: self.events(CopyProgress(done, total))
            )

    # -- the language model ---------------------------------------------------------------------------------------

    def analyzer(self) -> Analyzer:
        from fonoteca.llm.analyze import Analyzer

        return Analyzer(self.archive, self.settings, self.llm)

    def chat_turn(
        self,
        question: str,
        *,
        conversation_id: str | None = None,
        show: str | None = None,
        episode: str | None = None,
    ) -> ChatTurn:
        """One question of a conversation, over the whole archive, one show or one episode; stream it with its
        events()."""
        from fonoteca.llm.chat import ChatTurn

        return ChatTurn(
            self.archive, self.settings, self.llm, question, conversation_id=conversation_id, show=show,
            episode=episode,
        )  # fmt: skip


def _count(report: SyncReport, queued: Queued) -> SyncReport:
    """`report` with what was queued instead of done (an archive on PostgreSQL)."""
    report.queued += queued.queued
    report.already_queued += queued.already
    return report
