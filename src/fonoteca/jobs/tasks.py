"""The jobs a worker runs, each a thin shell over the stages (fonoteca.pipeline) that `fonoteca sync` runs inline.

Every task takes the worker's application object from its job context (`additional_context["fonoteca"]`, set by
fonoteca.jobs.worker): one archive, one Whisper model and one event sink for all the jobs of a worker. Progress,
results and failures are events on that sink, as in the pipeline."""

from __future__ import annotations

import contextlib
import socket
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import TYPE_CHECKING

from procrastinate import App, JobContext

from fonoteca.archive import Episode, EpisodeBusy, Show, Status
from fonoteca.errors import FonotecaError, MediaUnreachable, NotFound
from fonoteca.events import EpisodeFailed, Note
from fonoteca.jobs import (
    AFTER_TRANSCRIPTS_TASK,
    ANALYZE_TASK,
    DOWNLOAD,
    DOWNLOAD_TASK,
    LLM,
    LLM_RETRY,
    REFRESH_TASK,
    RETRY,
    SYNC_ALL_TASK,
    TRANSCRIBE,
    TRANSCRIBE_TASK,
)
from fonoteca.pipeline import PENDING, SyncReport, is_fatal
from fonoteca.pipeline.episodes import claimed

if TYPE_CHECKING:
    from fonoteca.app import Fonoteca


def register(app: App) -> None:
    """The tasks on `app`, by the names their jobs are stored under."""
    app.task(name=REFRESH_TASK, queue=DOWNLOAD, pass_context=True, retry=RETRY)(refresh_show)
    app.task(name=SYNC_ALL_TASK, queue=DOWNLOAD, pass_context=True)(sync_all)
    app.task(name=DOWNLOAD_TASK, queue=DOWNLOAD, pass_context=True, retry=RETRY)(download_episode)
    app.task(name=TRANSCRIBE_TASK, queue=TRANSCRIBE, pass_context=True, retry=RETRY)(transcribe)
    # Ahead of the next episode: what was just transcribed becomes searchable (and counted) before more is.
    app.task(name=AFTER_TRANSCRIPTS_TASK, queue=TRANSCRIBE, pass_context=True, retry=RETRY, priority=1)(
        after_transcripts
    )
    app.task(name=ANALYZE_TASK, queue=LLM, pass_context=True, retry=LLM_RETRY)(analyze_episode)


def _fonoteca(context: JobContext) -> Fonoteca:
    return context.additional_context["fonoteca"]


def refresh_show(context: JobContext, show_id: int) -> None:
    """Re-read the show's source, add what is new, then queue the next job of each of its pending episodes."""
    fonoteca = _fonoteca(context)
    archive, events = fonoteca.archive, fonoteca.events
    try:
        show = archive.get_show(show_id)
    except NotFound:
        events(Note(f"show {show_id} is no longer in the archive; nothing to refresh"))
        return
    report = SyncReport()
    try:
        added = fonoteca.catalogue.refresh(show, report)
    except FonotecaError as exc:
        _tell(context, fonoteca, show.title, exc, "the show is read again by the next sync")
        raise
    for episode, reason in report.failed:  # local files that do not decode, added as failed
        events(EpisodeFailed(episode.id, episode.title, reason))
    queued = fonoteca.jobs.enqueue_episodes(archive.list_episodes(show.id, status=PENDING))
    events(Note(f"{show.title}: {added} new episode(s), {queued.queued} job(s) queued"))


def sync_all(context: JobContext, timestamp: int) -> None:
    """The periodic sync (`fonoteca worker --schedule`): a refresh of every show. `timestamp` is the time it was due,
    which procrastinate passes to every periodic job."""
    fonoteca = _fonoteca(context)
    fonoteca.jobs.enqueue_refresh(fonoteca.archive.list_shows())


def download_episode(context: JobContext, episode_id: str) -> None:
    """Import the episode's transcript or captions, or download its media and queue its transcription."""
    fonoteca = _fonoteca(context)
    if (listed := _listed(fonoteca, episode_id)) is None:
        return
    with _claimed_job(context, fonoteca, listed, _fail_unless_retried) as (episode, show):
        if episode.status not in PENDING:
            return  # finished or failed since it was queued
        _check_folder_reachable(episode, show)
        fetched = fonoteca.work.fetch(episode, show)
    if fetched is None:
        fonoteca.jobs.enqueue_after_transcripts(context.job.queue)
    else:
        fonoteca.jobs.enqueue_transcription(episode.id)


def transcribe(context: JobContext, episode_id: str, replace: bool = False) -> None:
    """Transcribe the episode (its media downloaded first if it is not on this machine), resuming after the last
    segment committed; `replace`: a finished episode again from the start, its old transcript kept until then."""
    fonoteca = _fonoteca(context)
    if (listed := _listed(fonoteca, episode_id)) is None:
        return
    on_failure = _keep_old_transcript if replace else _fail_unless_retried
    with _claimed_job(context, fonoteca, listed, on_failure) as (episode, show):
        if replace and episode.status == Status.DONE:
            fonoteca.work.retranscribe(episode, show)
        elif episode.status not in PENDING:
            return  # finished or failed since it was queued
        else:
            _check_folder_reachable(episode, show)
            if (fetched := fonoteca.work.fetch(episode, show)) is not None:
                fonoteca.work.transcribe(fetched, language=show.language)
    fonoteca.jobs.enqueue_after_transcripts(context.job.queue)


def after_transcripts(context: JobContext) -> None:
    """What follows new transcripts, as after a sync (Fonoteca.after): on PostgreSQL their word counts (once, in the
    archive, for every machine's trends), embeddings and watched words. The worker keeps no search index: each `serve`
    indexes by itself."""
    _fonoteca(context).after.after_transcripts()


def analyze_episode(
    context: JobContext,
    episode_id: str,
    kinds: list[str],
    words: int = 30,
    focus: str | None = None,
    language: str | None = None,
    force: bool = False,
) -> None:
    """The analyses `fonoteca analyze --queue` asked for, stored as `analyze` stores them. Those that fail are tried
    again (LLM_RETRY); those that worked are kept, and found stored at the next try."""
    fonoteca = _fonoteca(context)
    try:
        episode = fonoteca.archive.get_episode(episode_id)
    except NotFound:
        fonoteca.events(Note(f"episode {episode_id} is no longer in the archive; nothing to analyse"))
        return
    analyses, errors = fonoteca.analyzer(make_overviews=True).analyze_each(
        episode, kinds, words=words, focus=focus, language=language, force=force
    )
    if analyses:
        fonoteca.events(Note(f"{episode.title}: {', '.join(analyses)} analysed and stored"))
    if errors:
        kind, error = next(iter(errors.items()))
        fonoteca.events(Note(f"{episode.title}: {kind} failed: {error}"))
        raise error


def _listed(fonoteca: Fonoteca, episode_id: str) -> Episode | None:
    try:
        return fonoteca.archive.get_episode(episode_id)
    except NotFound:
        fonoteca.events(Note(f"episode {episode_id} is no longer in the archive; nothing to do"))
        return None


# What becomes of an episode whose job failed (the error is raised again afterwards, for procrastinate to decide).
OnFailure = Callable[[JobContext, "Fonoteca", Episode, FonotecaError], None]


@contextlib.contextmanager
def _claimed_job(
    context: JobContext, fonoteca: Fonoteca, listed: Episode, on_failure: OnFailure
) -> Iterator[tuple[Episode, Show]]:
    """The episode (as it is once this worker holds it) and its show, for the job's work; a FonotecaError on the way,
    the claim refused included, goes to `on_failure` and on to procrastinate."""
    try:
        with claimed(fonoteca.archive, listed.id) as episode:
            yield episode, fonoteca.archive.get_show(episode.show_id)
    except FonotecaError as exc:
        on_failure(context, fonoteca, listed, exc)
        raise


def _keep_old_transcript(context: JobContext, fonoteca: Fonoteca, episode: Episode, exc: FonotecaError) -> None:
    _tell(context, fonoteca, episode.title, exc, "it keeps its old transcript")


def _fail_unless_retried(context: JobContext, fonoteca: Fonoteca, episode: Episode, exc: FonotecaError) -> None:
    """An error that is not the episode's fault, or that a later try may not meet, leaves it as it was; any other
    fails it with its reason, as `sync` does."""
    if isinstance(exc, EpisodeBusy) or is_fatal(exc) or _retried(context, exc):
        _tell(context, fonoteca, episode.title, exc, "left as it was; `fonoteca sync` queues it again")
    else:
        fonoteca.archive.set_status(episode.id, "failed", str(exc))
        fonoteca.events(EpisodeFailed(episode.id, episode.title, str(exc)))


def _check_folder_reachable(episode: Episode, show: Show) -> None:
    """A folder show's files are read in place: a worker on a machine that does not see the folder must leave the
    episode to one that does (tried again, perhaps elsewhere), not fail it as a file that is gone."""
    if show.source_kind == "folder" and episode.media_path and not Path(episode.media_path).exists():
        raise MediaUnreachable(
            f"{episode.media_path} is not on this machine ({socket.gethostname()})",
            "run the workers of a folder show where its folder is, at the same path",
        )


def _retried(context: JobContext, exc: BaseException) -> bool:
    return RETRY.get_retry_decision(exception=exc, job=context.job) is not None


def _tell(context: JobContext, fonoteca: Fonoteca, what: str, exc: FonotecaError, otherwise: str) -> None:
    """One line on a job's failure: when it is tried again, or, once it will not be, what became of its work."""
    decision = RETRY.get_retry_decision(exception=exc, job=context.job)
    if decision is not None and decision.retry_at is not None:
        wait = max(decision.retry_at.timestamp() - time.time(), 0)
        tries = f"try {context.job.attempts + 2} of {(RETRY.max_attempts or 0) + 1}"
        fonoteca.events(Note(f"{what}: {exc.message} — tried again in {wait:.0f} s ({tries})"))
    else:
        fonoteca.events(Note(f"{what}: {exc} — {otherwise}"))
