"""fonoteca's work as jobs, for an archive on PostgreSQL: procrastinate keeps them in the archive's own database and
`fonoteca worker` runs them, on as many machines as reach it.

On PostgreSQL, `fonoteca add`, `sync` and `retry` (Fonoteca.add/sync/retry) queue the work instead of doing it; on
SQLite they do it themselves (fonoteca.pipeline.runner). Either way the work is the same stages: the tasks
(fonoteca.jobs.tasks) call the worker's `Fonoteca.catalogue.refresh`, `claimed`, `work.fetch`, `work.transcribe` as the
inline runner does, then `after.after_transcripts()` (the word counts, not an index: each `serve` keeps its own index
up to date by itself).

Queues, so that each machine takes the work it is fit for:
    download    re-read a show's source (feed, folder, platform); an episode's transcript import or media download
    transcribe  Whisper over an episode (its media downloaded again first when it is not on this machine), then the
                word counts (for trends, stored in the archive: no machine's search index is needed), embeddings and
                watched words
Locks: an episode's jobs (download, then transcribe) share the procrastinate `lock` and `queueing_lock`
`episode:ID`, so one job per episode runs at a time and at most one waits; a show's refresh likewise `show:ID`. Queueing
skips what already has a job waiting or running, so running `sync` again queues nothing twice.

Failures are decided by fonoteca's error classes (fonoteca.errors): those whose class is `retryable` (an `Unreachable`
server, an episode held by another process (EpisodeBusy), the model, the disk, the database) are tried again with
exponential back-off (RETRY); anything else (a 404, a file that is not media) fails the episode at once with its
reason, as `sync` does, and so does an Unreachable one when its tries run out (the others are not the episode's fault,
`pipeline.is_fatal`, and leave it as it was).

A worker that dies (kill -9, its machine gone) stops its heartbeat; every worker re-queues the jobs of workers silent
for `Settings.worker_timeout` (fonoteca.jobs.worker), and the next one resumes the episode after its last committed
segment (`Archive.claim_episode` takes over a dead process's claim, `append_segments(at=...)` refuses duplicates).
"""

from __future__ import annotations

import contextlib
import threading
from collections.abc import AsyncIterator, Iterable
from dataclasses import dataclass

import psycopg
import psycopg_pool
from procrastinate import App, PsycopgConnector
from procrastinate import exceptions as procrastinate_errors
from procrastinate.jobs import Job
from procrastinate.retry import BaseRetryStrategy, RetryDecision, RetryStrategy
from sqlalchemy.engine import URL

from fonoteca.archive import Archive, Episode, Show
from fonoteca.errors import ConfigError, LLMError, StorageError
from fonoteca.settings import Settings

__all__ = [
    "QUEUES",
    "RETRY",
    "Fleet",
    "JobQueue",
    "Queued",
    "QueueCounts",
    "RunningJob",
    "libpq_conninfo",
    "on_sqlite",
    "sync_cron",
]

DOWNLOAD, TRANSCRIBE, LLM = "download", "transcribe", "llm"
QUEUES = (DOWNLOAD, TRANSCRIBE, LLM)
REFUSAL_TIMEOUT_S = 2  # libpq's least
OPEN_TIMEOUT_S = 5.0  # the queue's wait for a connection: a server that takes longer is as good as down for a page

# Task names are stored in each job's row: they must outlive any renaming of the functions behind them.
REFRESH_TASK = "fonoteca.refresh_show"
SYNC_ALL_TASK = "fonoteca.sync_all"
DOWNLOAD_TASK = "fonoteca.download_episode"
TRANSCRIBE_TASK = "fonoteca.transcribe_episode"
AFTER_TRANSCRIPTS_TASK = "fonoteca.after_transcripts"
ANALYZE_TASK = "fonoteca.analyze_episode"


class RetryWhenRetryable(BaseRetryStrategy):
    """procrastinate's exponential back-off for the errors whose class says they may well pass later (`retryable`,
    fonoteca.errors: an unreachable server, an episode another process holds, the model, the disk, the database), and
    for the classes in `also`; any other error fails the job at once."""

    def __init__(self, *, max_attempts: int, exponential_wait: int, also: tuple[type[Exception], ...] = ()) -> None:
        self.max_attempts = max_attempts
        self.also = also
        self._backoff = RetryStrategy(max_attempts=max_attempts, exponential_wait=exponential_wait)

    def get_retry_decision(self, *, exception: BaseException, job: Job) -> RetryDecision | None:
        if getattr(exception, "retryable", False) or isinstance(exception, self.also):
            return self._backoff.get_retry_decision(exception=exception, job=job)
        return None


# Up to 7 retries, after 3, 9, 27 s ... 36 min: about 55 minutes in all, past a server's restart or a network outage,
# and past the takeover of an abandoned claim (CLAIM_TIMEOUT_S, 30 min) when a worker on another machine died holding
# the episode.
RETRY = RetryWhenRetryable(max_attempts=7, exponential_wait=3)


# Analyses (`fonoteca analyze --queue`): the language model's server may be down or busy for a while, and a model may
# answer something unusable once: a few tries, a minute apart and more. What worked is stored at each try and kept.
LLM_RETRY = RetryWhenRetryable(max_attempts=4, exponential_wait=20, also=(LLMError,))


def on_sqlite(location: object) -> ConfigError:
    """The refusal of jobs and workers for an archive on SQLite."""
    return ConfigError(
        f"the archive {location} is on SQLite: jobs and workers need it on PostgreSQL",
        "move it with `fonoteca migrate --to postgresql://...` and set FONOTECA_DATABASE_URL, or run `fonoteca sync`, "
        "which on SQLite does the work itself",
    )


def libpq_conninfo(url: URL) -> str:
    """The archive's SQLAlchemy URL (postgresql+psycopg://...) as the libpq URI procrastinate's connector takes."""
    return url.set(drivername="postgresql").render_as_string(hide_password=False)


def sync_cron(minutes: int) -> str:
    """The cron schedule of a refresh every `minutes`: cron can only keep periods that divide an hour or a day."""
    if 1 <= minutes < 60 and 60 % minutes == 0:
        return f"*/{minutes} * * * *"
    if minutes >= 60 and minutes % 60 == 0 and 1440 % minutes == 0:
        return f"0 */{minutes // 60} * * *"
    raise ConfigError(
        f"FONOTECA_SYNC_PERIOD_MINUTES={minutes} is not a period a schedule can keep",
        "give minutes that divide an hour (1, 2, 3, 4, 5, 6, 10, 12, 15, 20, 30) or a day (60, 120, 180, 240, 360, "
        "480, 720, 1440)",
    )


@dataclass
class Queued:
    """What a call queued: new jobs, and the shows and episodes that already had one waiting or running."""

    queued: int = 0
    already: int = 0

    def __iadd__(self, other: Queued) -> Queued:
        self.queued += other.queued
        self.already += other.already
        return self


@dataclass(frozen=True)
class QueueCounts:
    queue: str
    waiting: int  # queued, including retries scheduled for later
    running: int
    failed: int  # for good: the episodes' reasons are in the archive (`fonoteca status`)


@dataclass(frozen=True)
class RunningJob:
    id: int
    task: str  # refresh_show, download_episode, transcribe_episode, index, sync_all
    queue: str
    worker: int | None  # procrastinate's id of the worker running it; None once that worker is taken for dead
    subject: dict[str, object]  # what it works on: {"episode_id": ...} or {"show_id": ...}
    attempts: int  # runs before this one (retries, and runs on workers that died)


@dataclass(frozen=True)
class Fleet:
    """The queues as the workers see them: jobs per queue and the ones running now, the workers alive, and the audio
    they transcribed in the last hour."""

    queues: list[QueueCounts]
    running: list[RunningJob]
    workers: int  # `fonoteca worker` processes that showed life within FONOTECA_WORKER_TIMEOUT
    transcribed_last_hour: float  # seconds of audio of the episodes Whisper finished in the last hour

    @property
    def hours_per_hour(self) -> float:
        """Throughput: hours of audio transcribed per hour, over the last hour."""
        return self.transcribed_last_hour / 3600

    @property
    def busy_workers(self) -> int:
        return len({job.worker for job in self.running if job.worker is not None})


class JobQueue:
    """The job queue in the archive's PostgreSQL database: queues fonoteca's work and runs it (`run_worker`).

    Opened on first use; procrastinate's own tables are created then if the database does not have them yet."""

    def __init__(self, archive: Archive, settings: Settings) -> None:
        if archive.is_sqlite:
            raise on_sqlite(archive.location)
        from fonoteca.jobs import tasks

        self.archive = archive
        self.conninfo = libpq_conninfo(archive.url)
        # Queueing from the command line (or the web's Status and owner's pages) needs a connection or two; a worker
        # opens its own, larger pool (`serving`). The pool is procrastinate's, which it closes and opens again with
        # the app; min_size=0 so that opening it waits for no connection (psycopg_pool's open waits 30 s for a server
        # that refuses new ones, whatever the pool's timeout), and its first query waits OPEN_TIMEOUT_S at most.
        self.app = App(
            connector=PsycopgConnector(conninfo=self.conninfo, min_size=0, max_size=2, timeout=OPEN_TIMEOUT_S)
        )
        tasks.register(self.app)
        self.settings = settings
        self._open = False
        # a web server's request threads (the Status page) and the owner's task thread may open it at once: the
        # schema must be made once, not raced into a duplicate
        self._opening = threading.Lock()

    # -- opening --------------------------------------------------------------------------------------------------

    def open(self) -> App:
        """Connect (once), creating procrastinate's tables, types and functions in the database unless it has them."""
        with self._opening:
            if not self._open:
                try:
                    self.app.open()
                    self._ensure_schema()
                except (procrastinate_errors.ConnectorException, psycopg.Error) as exc:
                    self.app.close()  # the next open starts afresh: a new pool, the schema checked again
                    raise _database_error(exc, self.conninfo) from exc
                self._open = True
        return self.app

    @contextlib.asynccontextmanager
    async def serving(self, connections: int) -> AsyncIterator[App]:
        """Open for a worker, on a pool of `connections` of its own (the schema made sure of with `open` before): the
        queueing its jobs do from their threads goes through it too."""
        self.close()
        with self.app.replace_connector(
            PsycopgConnector(conninfo=self.conninfo, min_size=1, max_size=connections)
        ) as app:
            try:
                await app.open_async()
            except (procrastinate_errors.ConnectorException, psycopg.Error) as exc:
                raise _database_error(exc) from exc
            self._open = True
            try:
                yield app
            finally:
                self._open = False
                await app.close_async()

    def _ensure_schema(self) -> None:
        """Processes starting at once may all find the schema missing: it goes in as one transaction, so one of them
        creates it and the others fail on the objects it created, which they then find there."""
        if self.app.check_connection():  # a server that refuses connections fails here, once
            return
        try:
            self.app.schema_manager.apply_schema()
        except procrastinate_errors.ConnectorException:
            with contextlib.suppress(procrastinate_errors.ConnectorException):
                if self.app.check_connection():
                    return
            raise

    def close(self) -> None:
        if self._open:
            self.app.close()
            self._open = False

    # -- queueing -------------------------------------------------------------------------------------------------

    def enqueue_episodes(self, episodes: Iterable[Episode]) -> Queued:
        """The next job of each pending episode: a download (its transcript, captions or media) for a new one, a
        transcription for one whose media was downloaded (or is a local file)."""
        app = self.open()
        running = self._running_locks()
        done = Queued()
        for episode in episodes:
            task = DOWNLOAD_TASK if episode.status == "new" else TRANSCRIBE_TASK
            done += self._defer(app, task, episode_lock(episode.id), running, episode_id=episode.id)
        return done

    def enqueue_transcription(self, episode_id: str, *, replace: bool = False) -> Queued:
        """Transcribe the episode; `replace`: a finished one again from the start (`retry --force`). Queued even
        while a job of the episode runs (the download job that queues it as its next step): it waits for the lock."""
        return self._defer(self.open(), TRANSCRIBE_TASK, episode_lock(episode_id), set(), episode_id=episode_id,
                           replace=replace)  # fmt: skip

    def enqueue_analyses(self, episodes: Iterable[Episode], kinds: list[str], **options: object) -> Queued:
        """Analyses of each episode (`fonoteca analyze --queue`), for the workers of the `llm` queue; `options` are
        Analyzer.analyze_each's (words, focus, language, force). One job per episode waits at a time."""
        app = self.open()
        running = self._running_locks()
        done = Queued()
        for episode in episodes:
            done += self._defer(app, ANALYZE_TASK, f"analyses:{episode.id}", running, episode_id=episode.id,
                                kinds=kinds, **options)  # fmt: skip
        return done

    def enqueue_refresh(self, shows: Iterable[Show]) -> Queued:
        """Re-read each show's source; its new and pending episodes are queued by that job."""
        app = self.open()
        running = self._running_locks()
        done = Queued()
        for show in shows:
            done += self._defer(app, REFRESH_TASK, f"show:{show.id}", running, show_id=show.id)
        return done

    def enqueue_after_transcripts(self, queue: str) -> Queued:
        """Bring the word counts, embeddings and watched words up to date, on `queue`: the queue of the job
        that changed a transcript, whose workers are the ones sure to be running. One waits per queue at most."""
        app = self.open()
        try:
            app.configure_task(
                AFTER_TRANSCRIPTS_TASK,
                queue=queue,
                lock="after_transcripts",
                queueing_lock=f"after_transcripts:{queue}",
            ).defer()
        except procrastinate_errors.AlreadyEnqueued:
            return Queued(already=1)
        except procrastinate_errors.ConnectorException as exc:
            raise _database_error(exc) from exc
        return Queued(queued=1)

    def fleet(self) -> Fleet:
        """Jobs waiting, running and failed per queue, the running ones with their workers, the workers alive and the
        last hour's throughput."""
        manager = self.open().job_manager
        try:
            queues = [
                QueueCounts(row["name"], row["todo"], row["doing"], row["failed"]) for row in manager.list_queues()
            ]
            running = [
                RunningJob(job.id or 0, job.task_name.removeprefix("fonoteca."), job.queue, job.worker_id,
                           dict(job.task_kwargs), job.attempts)
                for job in manager.list_jobs(status="doing")
            ]  # fmt: skip
            workers = self._workers_alive(self.settings.worker_timeout)
        except procrastinate_errors.ConnectorException as exc:
            raise _database_error(exc) from exc
        return Fleet(queues, running, workers=workers, transcribed_last_hour=self.archive.transcribed_since(3600))

    def _workers_alive(self, within_seconds: float) -> int:
        """How many `fonoteca worker` processes showed life in the last `within_seconds`: the heartbeats procrastinate
        keeps in its own table (its schema is there once the queue is open)."""
        connector = self.open().connector.get_sync_connector()
        row = connector.execute_query_one(
            "SELECT COUNT(*) AS alive FROM procrastinate_workers "
            "WHERE last_heartbeat >= now() - make_interval(secs => %(within)s)",
            within=float(within_seconds),
        )
        return int(row["alive"])

    def _running_locks(self) -> set[str]:
        """The locks of the jobs running now: a queueing lock only keeps a second job from *waiting*, so without
        this a sync during an episode's transcription would queue it again (to find it done)."""
        try:
            return {lock["name"] for lock in self.open().job_manager.list_locks(status="doing")}
        except procrastinate_errors.ConnectorException as exc:
            raise _database_error(exc) from exc

    @staticmethod
    def _defer(app: App, task: str, lock: str, running: set[str], **kwargs: object) -> Queued:
        if lock in running:
            return Queued(already=1)
        try:
            app.configure_task(task, lock=lock, queueing_lock=lock).defer(**kwargs)
        except procrastinate_errors.AlreadyEnqueued:
            return Queued(already=1)
        except procrastinate_errors.ConnectorException as exc:
            raise _database_error(exc) from exc
        return Queued(queued=1)


def episode_lock(episode_id: str) -> str:
    return f"episode:{episode_id}"


def _database_error(exc: BaseException, conninfo: str | None = None) -> StorageError:
    cause = exc.__cause__ or exc
    if conninfo and isinstance(cause, psycopg_pool.PoolTimeout):
        cause = _refusal(conninfo) or cause
    return StorageError(
        f"the job queue in the archive's database cannot be used: {cause}".replace("\n", " "),
        "check that the PostgreSQL server is up and that FONOTECA_DATABASE_URL's user may create tables there",
    )


def _refusal(conninfo: str) -> psycopg.Error | None:
    """Why the server gives no connection, in its own words ("the database system is shutting down", "too many
    clients already"): psycopg_pool's timeout says only that none came. One direct try, after that timeout only."""
    try:
        psycopg.connect(conninfo, connect_timeout=REFUSAL_TIMEOUT_S).close()
    except psycopg.Error as refused:
        return refused
    return None  # it answers again
