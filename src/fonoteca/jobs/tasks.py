"""The jobs a worker runs, each a thin shell over the pipeline functions `fonoteca sync` runs inline.

Every task takes the worker's application object from its job context (`additional_context["fonoteca"]`, set by
fonoteca.jobs.worker): one archive, one Whisper model and one event sink for all the jobs of a worker. Progress,
results and failures are events on that sink, as in the pipeline."""

from __future__ import annotations

import contextlib
import socket
import time
from pathlib import Path
from typing import TYPE_CHECKING

from procrastinate import App, JobContext

from fonoteca.archive import Episode, EpisodeBusy, Show
from fonoteca.errors import FonotecaError, MediaUnreachable, NotFound, StorageError
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
from fonoteca.pipeline import (
    PENDING,
    SyncReport,
    fetch_episode,
    is_fatal,
    refresh,
    retranscribe,
    transcribe_episode,
)
from fonoteca.search.index import count_words

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
        added = refresh(archive, fonoteca.settings, show, report, events)
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
    _work_on_episode(context, episode_id, transcribe=False)


def transcribe(context: JobContext, episode_id: str, replace: bool = False) -> None:
    """Transcribe the episode (its media downloaded first if it is not on this machine), resuming after the last
    segment committed; `replace`: a finished episode again from the start, its old transcript kept until then."""
    _work_on_episode(context, episode_id, transcribe=True, replace=replace)


def after_transcripts(context: JobContext) -> None:
    """What follows new transcripts, as after a sync: their word counts (once, in the archive, for every machine's
    trends), embeddings and watched words. The worker keeps no search index: each `serve` indexes by itself."""
    fonoteca = _fonoteca(context)
    count_words(fonoteca.archive)
    fonoteca.after_transcripts_changed()


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
    analyses, errors = fonoteca.analyzer().analyze_each(
        episode, kinds, words=words, focus=focus, language=language, force=force
    )
    if analyses:
        fonoteca.events(Note(f"{episode.title}: {', '.join(analyses)} analysed and stored"))
    if errors:
        kind, error = next(iter(errors.items()))
        fonoteca.events(Note(f"{episode.title}: {kind} failed: {error}"))
        raise error


def _work_on_episode(context: JobContext, episode_id: str, *, transcribe: bool, replace: bool = False) -> None:
    fonoteca = _fonoteca(context)
    archive, settings, events = fonoteca.archive, fonoteca.settings, fonoteca.events
    try:
        episode = archive.get_episode(episode_id)
    except NotFound:
        events(Note(f"episode {episode_id} is no longer in the archive; nothing to do"))
        return
    if not archive.claim_episode(episode.id):
        busy = EpisodeBusy(f"episode {episode.id} is being processed by another fonoteca process", "")
        _tell(context, fonoteca, episode.title, busy, "`fonoteca sync` queues it again")
        raise busy
    fetched = None
    try:
        episode = archive.get_episode(episode.id)  # as it is now that it is this worker's
        show = archive.get_show(episode.show_id)
        if replace and episode.status == "done":
            retranscribe(archive, settings, fonoteca.transcriber, episode, show, events)
        elif episode.status not in PENDING:
            return  # finished or failed since it was queued
        else:
            _check_folder_reachable(episode, show)
            fetched = fetch_episode(archive, settings, episode, show, events)
            if fetched is not None and transcribe:
                transcribe_episode(archive, fonoteca.transcriber, fetched, language=show.language, events=events)
    except FonotecaError as exc:
        if replace:
            _tell(context, fonoteca, episode.title, exc, "it keeps its old transcript")
        elif isinstance(exc, EpisodeBusy) or is_fatal(exc) or _retried(context, exc):
            _tell(context, fonoteca, episode.title, exc, "left as it was; `fonoteca sync` queues it again")
        else:
            archive.set_status(episode.id, "failed", str(exc))
            events(EpisodeFailed(episode.id, episode.title, str(exc)))
        raise
    finally:
        # A claim that cannot be released (the database gone) dies with this worker and is taken over then.
        with contextlib.suppress(StorageError):
            archive.release_episode(episode.id)
    if fetched is not None and not transcribe:
        fonoteca.jobs.enqueue_transcription(episode.id)
    else:
        fonoteca.jobs.enqueue_after_transcripts(context.job.queue)


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
