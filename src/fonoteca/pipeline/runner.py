"""Who does the work of `add`, `sync` and `retry`: chosen once, where the archive is (Fonoteca.runner). Shows are
registered by the catalogue (fonoteca.pipeline.catalogue) either way.

On SQLite the `InlineRunner` does it here and now, episode after episode, then what follows new transcripts. On
PostgreSQL the `QueuedRunner` registers what is new and queues the rest for `fonoteca worker` (fonoteca.jobs), whose
jobs run the very same stages; what already has a job waiting or running is not queued again.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from fonoteca.archive import Archive, Episode, Show
from fonoteca.events import EventSink, SyncFinished, SyncStarted
from fonoteca.pipeline.after import AfterTranscripts
from fonoteca.pipeline.catalogue import Catalogue
from fonoteca.pipeline.episodes import EpisodeWork
from fonoteca.pipeline.repairs import Repairs
from fonoteca.pipeline.report import PENDING, SyncReport

if TYPE_CHECKING:
    from fonoteca.jobs import JobQueue, Queued


class InlineRunner:
    """The work done by this process (an archive on SQLite). Each episode succeeds or fails on its own: a failure is
    stored with its reason and the others go on. Interrupting (Ctrl-C, kill) leaves everything resumable: partial
    downloads continue with Range and a half-transcribed episode continues after its last committed segment."""

    def __init__(
        self, archive: Archive, catalogue: Catalogue, work: EpisodeWork, repairs: Repairs, after: AfterTranscripts,
        events: EventSink,
    ) -> None:  # fmt: skip
        self.archive = archive
        self.catalogue = catalogue
        self.work = work
        self.repairs = repairs
        self.after = after
        self.events = events

    def add(self, show: Show, registered: SyncReport) -> SyncReport:
        """The pending episodes of a show just registered, worked on; then what follows new transcripts (a text
        feed's posts arrive with theirs)."""
        report = self.work_through(self.archive.list_episodes(show.id, status=PENDING))
        report.added += registered.added
        report.failed[:0] = registered.failed
        return report

    def sync(self, show: Show | None = None) -> SyncReport:
        """Bring one show (or all) up to date: re-read each source, then work through every pending episode. A show
        whose source cannot be read is listed in `show_errors` and the other shows go on."""
        report = SyncReport()
        shows = self.catalogue.refresh_each([show] if show else self.archive.list_shows(), report)
        return self.work_through([e for s in shows for e in self.archive.list_episodes(s.id, status=PENDING)], report)

    def retry(self, episode_id: str | None = None, *, force: bool = False) -> SyncReport:
        """Failed episodes (or one failed or pending episode) back to pending, then worked on again.

        A finished episode is refused unless `force`d: then it is transcribed again from the start (the repair for a
        damaged transcript), and its old transcript stays until the new one replaces it in one commit. If the work
        stops on an error that is not the episodes' fault (the model will not load, the disk is full), the episodes
        it did not reach are failed again with their old reason."""
        targets = self.repairs.targets(episode_id, force=force)
        if targets and targets[0].status == "done":
            report = self.repairs.retranscribe(targets[0])
            self.after.after_transcripts()
            return report
        if not targets:
            self.after.after_transcripts()
            return SyncReport()
        reset = self.repairs.reset_failed(targets)
        wanted = {e.id for e in targets}
        try:
            return self.work_through(
                [e for s in self.archive.list_shows() for e in self.archive.list_episodes(s.id, status=PENDING)
                 if e.id in wanted]
            )  # fmt: skip
        except BaseException:
            self.repairs.fail_again(reset)
            raise

    def work_through(self, pending: list[Episode], report: SyncReport | None = None) -> SyncReport:
        """Each pending episode claimed and worked on (its transcript imported, or its media fetched and
        transcribed), then what follows new transcripts; `report` gathers what happened (a new one by default)."""
        report = report if report is not None else SyncReport()
        shows = {show_id: self.archive.get_show(show_id) for show_id in {e.show_id for e in pending}}
        expected = {e.id: e.duration or 0.0 for e in pending if not e.transcript_url and e.kind != "text"}
        self.events(SyncStarted(expected))
        try:
            for listed in pending:
                self.work.process(listed, shows[listed.show_id], report)
        except BaseException:
            self.events(SyncFinished())
            self.after.after_interruption()
            raise
        self.events(SyncFinished())
        self.after.after_transcripts()
        return report


class QueuedRunner:
    """The work left to `fonoteca worker` (an archive on PostgreSQL): shows are registered and failed episodes put
    back to pending here, everything else is queued."""

    def __init__(self, archive: Archive, repairs: Repairs, jobs: JobQueue) -> None:
        self.archive = archive
        self.repairs = repairs
        self.jobs = jobs

    def add(self, show: Show, registered: SyncReport) -> SyncReport:
        """The first job of each pending episode of a show just registered."""
        return _count(registered, self.jobs.enqueue_episodes(self.archive.list_episodes(show.id, status=PENDING)))

    def sync(self, show: Show | None = None) -> SyncReport:
        """A refresh of each show (which queues the new episodes it finds) and the next job of each pending
        episode."""
        shows = [show] if show else self.archive.list_shows()
        report = _count(SyncReport(), self.jobs.enqueue_refresh(shows))
        pending = [e for s in shows for e in self.archive.list_episodes(s.id, status=PENDING)]
        return _count(report, self.jobs.enqueue_episodes(pending))

    def retry(self, episode_id: str | None = None, *, force: bool = False) -> SyncReport:
        """The targets put back to pending here and their jobs queued; a finished one's re-transcription queued."""
        targets = self.repairs.targets(episode_id, force=force)
        if targets and targets[0].status == "done":
            return _count(SyncReport(), self.jobs.enqueue_transcription(targets[0].id, replace=True))
        self.repairs.reset_failed(targets)
        again = self.archive.episodes_by_ids(e.id for e in targets).values()
        return _count(SyncReport(), self.jobs.enqueue_episodes(again))


def _count(report: SyncReport, queued: Queued) -> SyncReport:
    """`report` with what was queued instead of done."""
    report.queued += queued.queued
    report.already_queued += queued.already
    return report
