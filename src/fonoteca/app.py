"""The application object: one `Fonoteca` owns the settings, the archive, the search index, the transcriber, the LLM
client and the event sink, and offers every operation. `cli/`, `web/`, the demo and `bench/` build it once and only
translate arguments and format results (as datasette builds one `Datasette`).

    from fonoteca.app import Fonoteca
    with Fonoteca(Settings.from_env()) as app:
        app.add("https://example.org/feed.xml")
        print(app.search("inteligencia artificial").total)
"""

from __future__ import annotations

import threading
from collections.abc import Sequence
from contextlib import AbstractContextManager
from functools import cached_property
from pathlib import Path
from typing import TYPE_CHECKING

from fonoteca.archive import Archive, Captions, Episode, Overview, Show, Stats, Status
from fonoteca.errors import FonotecaError, NotFound
from fonoteca.events import CopyProgress, EventSink, ignore
from fonoteca.meaning.questions import QuestionBatch
from fonoteca.settings import Settings

if TYPE_CHECKING:
    from fonoteca.archive.copy import TableCheck
    from fonoteca.corrections import Corrections
    from fonoteca.diarize import Diarizer
    from fonoteca.ingest.importer import ImportReport
    from fonoteca.ingest.opml import SubscriptionList, SubscriptionResult
    from fonoteca.jobs import JobQueue, Queued
    from fonoteca.llm.analyze import AnalysisRun, Analyzer, ChapterTitles, EpisodeAnalyses, EpisodeTranslation
    from fonoteca.llm.chat import ChatTurn
    from fonoteca.llm.client import LLMClient
    from fonoteca.meaning.embedders import Embedder
    from fonoteca.pipeline import SyncReport
    from fonoteca.pipeline.after import AfterTranscripts
    from fonoteca.pipeline.catalogue import Catalogue
    from fonoteca.pipeline.episodes import EpisodeWork
    from fonoteca.pipeline.repairs import Repairs
    from fonoteca.pipeline.runner import InlineRunner, QueuedRunner
    from fonoteca.publish import Publisher
    from fonoteca.search import SearchResults
    from fonoteca.search.ann import VectorIndex
    from fonoteca.search.hybrid import HybridSearch
    from fonoteca.search.index import SearchIndex
    from fonoteca.search.scope import SearchScope
    from fonoteca.search.trends import TrendPoint
    from fonoteca.speakers import Speakers
    from fonoteca.transcribe import Transcriber
    from fonoteca.watch import Watcher


class Fonoteca:
    """One archive and everything that works on it. Parts are opened on first use: a search never loads Whisper."""

    def __init__(
        self,
        settings: Settings | None = None,
        *,
        events: EventSink = ignore,
        archive: Archive | None = None,
        catch_up_index: bool = False,
    ) -> None:
        """`archive`: one already open, which its opener closes (by default the settings' archive is opened on first
        use, and closed by `close`).

        `catch_up_index`: True for a process that reads the index once and ends (a command): search, trends, the
        chat's retrieval, and embedding (which follows indexing) first index what changed in the archive, also by
        other processes. False for a server, whose background indexer does it: a request never takes the index
        writer (fonoteca.search)."""
        self.settings = settings or Settings.from_env()
        self.events = events  # progress, results and notes of long work (fonoteca.events); the CLI renders them
        self._given_archive = archive
        self.catch_up_index = catch_up_index
        # The parts a web server's request threads and background loops share are made once, whoever asks first.
        self._making = threading.RLock()
        self._index: SearchIndex | None = None
        self._vectors: VectorIndex | None = None
        self._searcher: HybridSearch | None = None
        self._embedder: Embedder | None = None
        self._embedder_loading = threading.Lock()
        self.questions = QuestionBatch()  # the questions of searches to come, embedded together with the next one

    # -- the parts ------------------------------------------------------------------------------------------------

    @cached_property
    def archive(self) -> Archive:
        return self._given_archive or Archive(self.settings.archive_location)

    @property
    def index(self) -> SearchIndex:
        """This machine's keyword index of the archive (FONOTECA_INDEX_DIR), opened once per process: tantivy allows
        one writer at a time, and the index knows when it last found itself up to date."""
        from fonoteca.search.index import SearchIndex

        with self._making:
            if self._index is None:
                self._index = SearchIndex(self.settings.index_dir.resolve())
            return self._index

    @property
    def embedder(self) -> Embedder:
        """The embeddings model of search by meaning, loaded when first needed (slowly: most commands never search
        by meaning) and kept. Raises ConfigError when FONOTECA_EMBEDDINGS=none; a model that fails to load is tried
        again at the next call."""
        from fonoteca.meaning.embedders import load_embedder

        with self._embedder_loading:
            if self._embedder is None:
                self._embedder = load_embedder(self.settings)
            return self._embedder

    @property
    def vectors(self) -> VectorIndex:
        """This machine's index of the archive's passage vectors (search by meaning), opened once per process."""
        from fonoteca.search.ann import VectorIndex

        with self._making:
            if self._vectors is None:
                self._vectors = VectorIndex(self.settings.vector_index_dir.resolve(), kind=self.settings.vector_index)
            return self._vectors

    @property
    def searcher(self) -> HybridSearch:
        """Search in every mode (keyword, meaning, hybrid) over the index, the vectors and the embeddings model."""
        from fonoteca.search.hybrid import HybridSearch

        with self._making:
            if self._searcher is None:
                meaning_off = self.settings.embeddings == "none"
                self._searcher = HybridSearch(
                    self.archive, self.index, self.vectors, lambda: self.embedder, self.questions,
                    meaning_off=meaning_off,
                )  # fmt: skip
            return self._searcher

    def scope(
        self,
        *,
        show: str | None = None,
        episode: str | None = None,
        date_from: str | None = None,
        date_to: str | None = None,
        speaker: str | None = None,
    ) -> SearchScope:
        """What a search, chat or trend looks at, found in the archive and checked once: raises BadDate for a date
        that is not YYYY, YYYY-MM or YYYY-MM-DD, NotFound for an unknown show or episode. `speaker`: only the lines
        of the speaker so named (any case or accents)."""
        from fonoteca.search.scope import SearchScope

        return SearchScope.of(
            self.archive, show=show, episode=episode, date_from=date_from, date_to=date_to, speaker=speaker
        )

    @cached_property
    def transcriber(self) -> Transcriber:
        """The Whisper model, loaded when the first episode is transcribed and kept for the next ones."""
        from fonoteca.transcribe import Transcriber

        return Transcriber(self.settings)

    @cached_property
    def diarizer(self) -> Diarizer:
        """The speaker models, loaded when the first episode's speakers are found and kept for the next ones."""
        from fonoteca.diarize import Diarizer

        return Diarizer(threads=self.settings.cpu_threads or None)

    @cached_property
    def speakers(self) -> Speakers:
        """Who said it: the speaker step and the owner's names, once per show (fonoteca.speakers); what they change is
        followed as any changed transcript is (after_transcripts)."""
        from fonoteca.speakers import Speakers

        return Speakers(
            self.archive, self.settings, lambda: self.diarizer, self.events, lambda: self.after.after_transcripts(),
            self.speaking_time, self._media_here,
        )  # fmt: skip

    def _media_here(self, episode_id: str) -> Path:
        """The episode's media on this machine, downloaded when it is not, without changing its status (the voices
        of a transcript imported without its audio: fonoteca.speakers). EpisodeBusy while another process holds it."""
        from fonoteca.pipeline.episodes import claimed

        with claimed(self.archive, episode_id) as episode:
            return Path(self.work.fetch_media(episode, self.archive.get_show(episode.show_id)).media_path or "")

    @cached_property
    def watcher(self) -> Watcher:
        """Watched words: scanned after every sync, delivered by feed, webhook and `fonoteca watch` (fonoteca.watch)."""
        from fonoteca.watch import Watcher

        return Watcher(self.archive, self.settings, events=self.events)

    @cached_property
    def corrections(self) -> Corrections:
        """A show's vocabulary, correction rules, lines fixed by hand and unsure words (fonoteca.corrections); what
        they change is followed as any changed transcript is (after_transcripts)."""
        from fonoteca.corrections import Corrections

        return Corrections(self.archive, lambda: self.after.after_transcripts())

    @cached_property
    def publish(self) -> Publisher:
        """Each show's Podcasting 2.0 feed and transcript files, and the shows as OPML (fonoteca.publish)."""
        from fonoteca.publish import Publisher

        return Publisher(self.archive, self.settings.media_dir)

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

    # -- the stages (fonoteca.pipeline) ---------------------------------------------------------------------------

    @cached_property
    def catalogue(self) -> Catalogue:
        from fonoteca.pipeline.catalogue import Catalogue

        return Catalogue(self.archive, self.settings, self.events)

    @cached_property
    def work(self) -> EpisodeWork:
        from fonoteca.pipeline.episodes import EpisodeWork

        return EpisodeWork(self.archive, self.settings, self.transcriber, self.events)

    @cached_property
    def repairs(self) -> Repairs:
        from fonoteca.pipeline.repairs import Repairs

        return Repairs(self.archive, self.work, self.events)

    @cached_property
    def after(self) -> AfterTranscripts:
        """What follows new transcripts (a sync, a retry, an import, a worker's job): keyword index and word counts,
        embeddings, watched words."""
        from fonoteca.pipeline.after import AfterTranscripts, ArchiveWordCounts, LocalIndex

        keywords = (
            LocalIndex(self.archive, lambda: self.index, self.events)
            if self.archive.is_sqlite
            else ArchiveWordCounts(self.archive)
        )
        # A worker's job (PostgreSQL) embeds: it holds no one up. This process on SQLite (`import`, `add`, `sync`)
        # returns once the transcripts are searchable by keywords, saying what waits: `embed` or `serve` does it, and
        # makes the chapters, key moments and topics from the vectors then (here only without vectors to wait for).
        meaning = self.settings.embeddings != "none"
        later = self._embedding_backlog if self.archive.is_sqlite else self._embed_pending
        glance = self.glance if not (self.archive.is_sqlite and meaning) else None
        return AfterTranscripts(
            keywords, later if meaning else None, glance, self.watcher, self.events, self.speakers.find_pending
        )

    @cached_property
    def runner(self) -> InlineRunner | QueuedRunner:
        """Who does the work of add, sync and retry, chosen once by where the archive is: this process on SQLite, the
        workers (`fonoteca worker`) on PostgreSQL."""
        from fonoteca.pipeline.runner import InlineRunner, QueuedRunner

        if self.archive.is_sqlite:
            return InlineRunner(self.archive, self.catalogue, self.work, self.repairs, self.after, self.events)
        return QueuedRunner(self.archive, self.repairs, self.jobs)

    def close(self) -> None:
        if "jobs" in self.__dict__:
            self.jobs.close()
        if "archive" in self.__dict__ and self._given_archive is None:
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
        speakers: int | None = None,
    ) -> tuple[Show, SyncReport]:
        """Register a feed, feed file, media folder, file or video platform page (yt-dlp) as a show and (unless
        `sync_now` is False) sync it. `captions`: which of a platform's captions stand in for a transcription;
        `speakers`: how many people speak in its episodes, kept as the show's count (None: as it was).

        On PostgreSQL the show and its episodes are registered here and their work is queued for the workers."""
        show, registered = self.catalogue.register(source, language=language, title=title, date=date, captions=captions)
        if speakers is not None:
            show = self.speakers.set_count(show.slug, speakers)
        return show, self.runner.add(show, registered) if sync_now else registered

    def subscriptions(self, path: str | Path) -> SubscriptionList:
        """The feeds an OPML subscription list names (nested folders too), and the outlines it refuses, with why."""
        from fonoteca.ingest.opml import read_subscriptions

        return read_subscriptions(Path(path).expanduser(), max_mb=self.settings.max_feed_mb)

    def add_subscriptions(self, subscriptions: SubscriptionList, *, sync_now: bool = True) -> list[SubscriptionResult]:
        """`add` for every feed of a subscription list, one after the other: a feed that fails is recorded with its
        reason and the others go on."""
        from fonoteca.ingest.opml import SubscriptionResult

        results = []
        for subscription in subscriptions.subscriptions:
            try:
                show, report = self.add(subscription.url, sync_now=sync_now)
            except FonotecaError as exc:
                results.append(SubscriptionResult(subscription, error=str(exc)))
            else:
                results.append(SubscriptionResult(subscription, show, report))
        return results

    def sync(self, show: str | None = None) -> SyncReport:
        """New episodes of one show (slug, id or title) or of all, then everything pending, then the index.

        On PostgreSQL this queues a refresh of each show (which queues the new episodes it finds) and the next job of
        each pending episode; what already has a job waiting or running is not queued again."""
        return self.runner.sync(self.archive.get_show(show) if show else None)

    def retry(self, episode: str | None = None, *, force: bool = False) -> SyncReport:
        """Every failed episode again, or one failed or pending episode; a finished one only when `force`d. On
        PostgreSQL they are put back to pending here and their jobs queued."""
        return self.runner.retry(episode, force=force)

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
        from fonoteca.ingest.importer import Importer

        chosen = self.archive.get_show(show) if show else None
        importer = Importer(self.archive, self.settings, self.events)
        report = importer.run(paths, show=chosen, dry_run=dry_run, force=force)
        if report.imported and not dry_run:
            self.after.after_transcripts()
        return report

    # -- reading --------------------------------------------------------------------------------------------------

    def stats(self, show: str | None = None) -> Stats:
        return self.archive.stats(self.archive.get_show(show).id if show else None)

    def episode(self, ref: str) -> Episode:
        return self.archive.get_episode(ref)

    def export(self, episode: str, fmt: str) -> str:
        """The episode's transcript as txt, srt, vtt or json; an episode with nothing transcribed yet is an error that
        says what to run."""
        from fonoteca.output.transcripts import render_transcript

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
        speaker: str | None = None,
    ) -> SearchResults:
        """`mode`: keyword, meaning, hybrid, or None = hybrid where the scope is embedded, else keyword (the result's
        mode and note say which ran and why); `speaker`: only what that speaker says (their lines by words, the
        passages they say most of by meaning)."""
        self._catch_up_index()
        scope = self.scope(show=show, episode=episode, date_from=date_from, date_to=date_to, speaker=speaker)
        return self.searcher.search(query, scope, limit=limit, offset=offset, order=order, mode=mode)

    def search_coming(self, query: str) -> AbstractContextManager[None]:
        """While this is open a search of `query` is waiting for its turn (the web's crowd): its question may be
        embedded with the one of the search before it (fonoteca.meaning.questions)."""
        from fonoteca.search.hybrid import question_of

        return self.questions.expecting(question_of(query))

    def embed(self, *, again: bool = False, most: int | None = None) -> int:
        """Embed every passage not embedded yet for search by meaning (all of them `again`; the first `most`
        episodes of them); progress goes to the event sink. Returns how many episodes were embedded. Raises
        ConfigError when FONOTECA_EMBEDDINGS=none."""
        self._catch_up_index()  # a show is searchable by its words at once, by its meaning once this is done
        return self._embed_pending(again=again, most=most)

    def _embedding_backlog(self) -> str:
        from fonoteca.meaning.embed import backlog

        return backlog(self.archive, self.embedder)

    def _embed_pending(self, *, again: bool = False, most: int | None = None) -> int:
        from fonoteca.meaning.embed import embed_pending
        from fonoteca.search.ann import DELTA_PASSAGES

        embedder = self.embedder
        done = embed_pending(self.archive, embedder, events=self.events, again=again, most=most)
        # A command brings the vector index up to date; the web server's background loop (a few episodes at a time)
        # only once searches would scan many passages exactly, as the index's update rewrites it.
        least = DELTA_PASSAGES // 2 if most is not None else 0
        self.vectors.update(self.archive, embedder.name, embedder.dim, least=least, anew=again)
        return done

    # -- an episode at a glance: chapters, key moments, topics ------------------------------------------------------

    def glance(self, *, most: int | None = None) -> int:
        """Make the chapters, key moments and topics of the episodes that have none of their current transcript (the
        first `most`), from their passage vectors (by their words with FONOTECA_EMBEDDINGS=none); returns how many
        were made."""
        from fonoteca.meaning.glance import WORDS, glance_pending

        method = self.embedder.name if self.settings.embeddings != "none" else WORDS
        return glance_pending(self.archive, method, events=self.events, most=most, titles=self._chapter_titles())

    def _chapter_titles(self) -> ChapterTitles | None:
        """The model that rewrites generated chapters' titles: only a capable endpoint's (FONOTECA_LLM_CAPABLE)."""
        from fonoteca.llm.analyze import ChapterTitles

        return ChapterTitles(self.llm, self.settings) if self.settings.llm_capable else None

    def overview(self, ref: str, *, make: bool = False) -> tuple[Episode, Overview | None]:
        """The episode and its chapters, key moments and topics as stored (None: not made yet; the publisher's
        chapters are there as soon as the episode is read). `make`: a command's read, which first makes them for
        this episode if they are missing or of an older transcript (embedding it first if needed); a web request
        never does (the server's background loop does)."""
        episode = self.archive.get_episode(ref)
        stored = self.archive.overviews.overview(episode.id)
        if make and episode.status == Status.DONE and (stored is None or not stored.current):
            from fonoteca.meaning.glance import WORDS, make_overview

            method = WORDS
            if self.settings.embeddings != "none":
                self._catch_up_index()
                self._embed_pending()
                method = self.embedder.name
            made = make_overview(
                self.archive, episode.id, episode.transcript_rev, method, titles=self._chapter_titles()
            )
            if made is not None and self.archive.overviews.save_overview(made[0]):
                stored = self.archive.overviews.overview(episode.id)
        return episode, stored

    def export_chapters(self, ref: str, fmt: str, *, make: bool = False) -> str:
        """The episode's chapters as Podcasting 2.0 chapters JSON (`json`) or WebVTT chapters (`vtt`); `make` as for
        `overview`."""
        from fonoteca.output.chapters import render_chapters

        episode, overview = self.overview(ref, make=make)
        if overview is None or not overview.chapters:
            raise NotFound(
                f"episode {episode.id} has no chapters yet", "run `fonoteca sync` (or `fonoteca embed`) to make them"
            )
        return render_chapters(episode, overview.chapters, fmt)

    def trend(
        self, terms: Sequence[str], *, show: str | None = None, per_hour: bool = False, per: str = "raw",
        by: str = "episode", split_by: str | None = None, speaker: str | None = None, speakers: int | None = None,
    ) -> list[TrendPoint]:  # fmt: skip
        """Each word's mentions per episode, week, month or year (raw, per hour or per 1,000 words); split_by="show"
        draws one word as one line per show, split_by="speaker" as one line per speaker (the `speakers` who said it
        most, and everyone else); `speaker`: only that speaker's mentions."""
        from fonoteca.output.speakers import coloured_lines
        from fonoteca.search.trends import TOP_SPEAKERS, trend

        self._catch_up_index()
        points = trend(
            self.archive, self.index, list(terms), self.scope(show=show, speaker=speaker), per_hour=per_hour, per=per,
            by=by, split_by=split_by, speakers=speakers or TOP_SPEAKERS,
        )  # fmt: skip
        if split_by == "speaker":
            coloured_lines(points, [name for name, _seconds, _episodes in self.speaking_time(show)])
        return points

    def trend_moments(
        self, terms: Sequence[str], *, key: str, by: str = "episode", show: str | None = None, limit: int = 100,
        speaker: str | None = None,
    ) -> SearchResults:  # fmt: skip
        """The mentions behind one point of a trend: the segments of that episode or period that say the words (only
        `speaker`'s, for a line of one speaker)."""
        from fonoteca.search.trends import moments

        self._catch_up_index()
        scope = self.scope(show=show, speaker=speaker)
        return moments(self.archive, self.index, list(terms), scope, key=key, by=by, limit=limit)

    def speaking_time(self, show: str | None) -> list[tuple[str, float, int]]:
        """(speaker, seconds, episodes they speak in) of a show's finished episodes (None: of every show), most
        speaking first: one aggregation of the index's lines (reading the archive's segments took seconds for a long
        show's history, bench/results/speaking-time.txt). One episode's come from the archive
        (Archive.speaking_time)."""
        from fonoteca.search.scope import SearchScope
        from fonoteca.search.trends import speaker_shares

        self._catch_up_index()
        shares = speaker_shares(self.index, SearchScope(show_id=self.archive.get_show(show).id if show else None))
        rows = [(name, round(sum(hours for _words, hours in by_episode.values()) * 3600, 3), len(by_episode))
                for name, by_episode in shares.items()]  # fmt: skip
        return sorted(rows, key=lambda row: (-row[1], row[0]))

    def update_index(self) -> int:
        """Index what changed in the archive since the last time (also what other processes changed)."""
        from fonoteca.search import sync_index

        return sync_index(self.archive, self.index)

    def _catch_up_index(self) -> None:
        if self.catch_up_index:
            self.update_index()

    def reindex(self) -> int:
        """Throw the index away and rebuild it from the archive; progress goes to the event sink."""
        from fonoteca.search.index import reindex

        return reindex(self.archive, self.index, events=self.events)

    def migrate(self, to: str | Path) -> list[TableCheck]:
        """Copy the whole archive into another database (`to`: a PostgreSQL URL, or a SQLite file), resuming an
        interrupted copy, and check every table of it; progress goes to the event sink."""
        from fonoteca.archive.copy import copy_archive

        with Archive(to) as target:
            return copy_archive(
                self.archive, target, on_progress=lambda done, total: self.events(CopyProgress(done, total))
            )

    # -- the language model ---------------------------------------------------------------------------------------

    def analyzer(self, *, make_overviews: bool = False) -> Analyzer:
        """The analyses against the configured endpoint. `make_overviews`: a command's or a worker's, whose summary
        first makes an episode's missing chapters and key moments (see `overview`); a web request's reads them."""
        from fonoteca.llm.analyze import Analyzer

        overviews = (lambda episode: self.overview(episode.id, make=True)[1]) if make_overviews else None
        return Analyzer(self.archive, self.settings, self.llm, overviews)

    def analyze(
        self,
        target: str,
        kinds: Sequence[str],
        *,
        words: int = 30,
        focus: str | None = None,
        language: str | None = None,
        force: bool = False,
    ) -> AnalysisRun[EpisodeAnalyses]:
        """Analyses (fonoteca.llm.analyze.KINDS) of an episode (its id or a prefix of it), or of every transcribed
        episode of a show: the stored ones while still valid, the others made by the language model and stored.
        Progress, and each episode that fails while the others go on, go to the event sink; a lone episode's failure
        is raised."""
        from fonoteca.llm.analyze import EpisodeAnalyses, analysis_targets, check_analyses, report_each

        check_analyses(kinds, words)  # a typo is not a network problem
        episodes = analysis_targets(self.archive, target)
        analyzer = self.analyzer(make_overviews=True)
        if analyzer.needs_model(kinds):
            analyzer.client.check()  # fails here, once, when no server answers or lacks the model

        options = {"words": words, "focus": focus, "language": language, "force": force}

        def report(episode: Episode) -> EpisodeAnalyses:
            return EpisodeAnalyses(episode, *analyzer.analyze_each(episode, kinds, **options))

        return report_each(episodes, report, self.events)

    def translate(
        self, target: str, to: str, *, start: float | None = None, end: float | None = None, force: bool = False
    ) -> AnalysisRun[EpisodeTranslation]:
        """An episode (or every transcribed episode of a show), or its passage between `start` and `end` seconds, in
        language `to` (a two-letter code); stored, and reused while still valid. Progress as in `analyze`."""
        from fonoteca.llm.analyze import EpisodeTranslation, analysis_targets, check_translation, report_each

        to = check_translation(to, start, end)
        episodes = analysis_targets(self.archive, target)
        analyzer = self.analyzer()
        analyzer.client.check()

        def report(episode: Episode) -> EpisodeTranslation:
            return EpisodeTranslation(episode, analyzer.translate(episode, to, start=start, end=end, force=force))

        return report_each(episodes, report, self.events)

    def queue_analyses(
        self,
        target: str,
        kinds: Sequence[str],
        *,
        words: int = 30,
        focus: str | None = None,
        language: str | None = None,
        force: bool = False,
    ) -> Queued:
        """The analyses of `analyze`, left to the workers of the `llm` queue; what already has a job waiting or
        running is not queued again. A ConfigError on SQLite, before the archive is read."""
        from fonoteca.llm.analyze import analysis_targets, check_analyses

        check_analyses(kinds, words)
        jobs = self.jobs
        episodes = analysis_targets(self.archive, target)
        return jobs.enqueue_analyses(episodes, list(kinds), words=words, focus=focus, language=language, force=force)

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

        self._catch_up_index()  # the excerpts come from the index
        return ChatTurn(
            self.archive, self.settings, self.searcher, self.llm, question, conversation_id=conversation_id,
            show=show, episode=episode,
        )  # fmt: skip
