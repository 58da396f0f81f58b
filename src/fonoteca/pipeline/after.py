"""What follows new or changed transcripts, wherever they came from (`sync`, `retry`, `import`, a worker's job): one
`AfterTranscripts.after_transcripts()` finds who speaks in them (fonoteca.speakers: first, as it splits and labels their
segments, which everything after reads), makes them searchable by keywords with their words counted, embeds them for
search by meaning (a worker) or says how many passages wait to be embedded (a command on SQLite), makes each episode's
chapters, key moments and topics (once per transcript revision, from its vectors and the word counts), and looks for
watched words in them.

Which keyword step runs is chosen once, where the archive is: on SQLite this machine's index is brought up to date (it
stores the word counts of what it indexes); on PostgreSQL, shared by many machines, only the archive's word counts are
(once per transcript revision, for every machine's trends), and each machine's index catches up by itself (`serve` in
the background, a search before it reads)."""

from __future__ import annotations

import contextlib
from collections.abc import Callable
from typing import TYPE_CHECKING

from fonoteca.archive import Archive
from fonoteca.errors import FonotecaError, disk_error, is_disk_full
from fonoteca.events import EventSink, IndexProgress, Note

if TYPE_CHECKING:
    from fonoteca.search.index import SearchIndex
    from fonoteca.watch import Watcher


class LocalIndex:
    """This machine's keyword index, which stores the word counts of the episodes it indexes."""

    def __init__(self, archive: Archive, open_index: Callable[[], SearchIndex], events: EventSink) -> None:
        """`open_index`: the index, opened when first caught up (a folder that cannot be opened fails that step, not
        the work before it)."""
        self.archive = archive
        self.open_index = open_index
        self.events = events

    def catch_up(self) -> None:
        """Index what changed, telling the events how far it got (IndexProgress); a full disk is told as such
        (reindexing would not help)."""
        from fonoteca.search import sync_index

        index = self.open_index()
        try:
            sync_index(self.archive, index, on_progress=self._progress)
        except FonotecaError as exc:
            if is_disk_full(exc):
                raise disk_error(exc, index.path) from exc
            raise

    def _progress(self, done: int, total: int) -> None:
        self.events(IndexProgress(done, total))


class ArchiveWordCounts:
    """The archive's word counts alone: no index of this machine's is kept up to date here."""

    def __init__(self, archive: Archive) -> None:
        self.archive = archive

    def catch_up(self) -> None:
        from fonoteca.search.index import count_words

        count_words(self.archive)


class AfterTranscripts:
    """`speakers`: finds the speakers of the episodes that wait for them and seeds the shows' libraries with the names
    transcripts came with (fonoteca.speakers.Speakers.find_pending). `embed`: embeds what is not embedded yet, or (a
    command on SQLite, where it would hold the prompt for hours) returns the line saying what waits to be embedded,
    told as a note (None: FONOTECA_EMBEDDINGS=none). Embeddings that cannot be made now (an endpoint down) are a
    note, not a failure: the next run or `fonoteca embed` catches up. `glance`: makes the chapters, key moments and
    topics that are missing (fonoteca.meaning.glance; None where they follow embedding instead: `embed`, `serve`);
    those it cannot make now wait the same way."""

    def __init__(
        self,
        keywords: LocalIndex | ArchiveWordCounts,
        embed: Callable[[], object] | None,
        glance: Callable[[], object] | None,
        watcher: Watcher,
        events: EventSink,
        speakers: Callable[[], object] | None = None,
    ) -> None:
        self.speakers = speakers
        self.keywords = keywords
        self.embed = embed
        self.glance = glance
        self.watcher = watcher
        self.events = events

    def after_transcripts(self) -> None:
        if self.speakers is not None:
            try:
                self.speakers()
            except FonotecaError as exc:  # the transcripts are there to search all the same; the next run catches up
                self.events(Note(f"who speaks is not found yet: {exc}"))
        self.keywords.catch_up()
        if self.embed is not None:
            try:
                waiting = self.embed()
            except FonotecaError as exc:
                self.events(Note(f"search by meaning is not up to date: {exc}"))
            else:
                if isinstance(waiting, str) and waiting:
                    self.events(Note(waiting))
        if self.glance is not None:
            try:
                self.glance()
            except FonotecaError as exc:
                self.events(Note(f"chapters and key moments are not up to date: {exc}"))
        self.watcher.after_sync()

    def after_interruption(self) -> None:
        """What finished before an interruption is searchable by keywords right away; the rest waits for the next
        run. The error that stopped the work is the one to report: a keyword step that cannot run now (often for the
        same reason) is caught up later."""
        with contextlib.suppress(Exception):
            self.keywords.catch_up()
