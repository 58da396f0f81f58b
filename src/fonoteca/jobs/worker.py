"""A worker: procrastinate's, over fonoteca's queues, plus what procrastinate leaves to its user: re-queueing the jobs
of workers that died, the periodic sync, and stopping on Ctrl-C without abandoning a job half-way.

Workers show life every third of `Settings.worker_timeout` (procrastinate's heartbeat). Each worker, when it starts
and every half of that timeout, re-queues the running jobs of workers silent for longer than it: the job runs again on
whichever worker takes it, and the pipeline resumes its episode after the last committed segment. A job whose worker
died as many times as RETRY allows tries (a file that crashes the decoder, memory that runs out) fails instead.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import signal
import threading
from collections.abc import Iterator, Sequence
from typing import TYPE_CHECKING

from procrastinate import exceptions as procrastinate_errors
from procrastinate.jobs import Job, Status
from procrastinate.worker import Worker

from fonoteca.errors import FonotecaError, NotFound
from fonoteca.events import EpisodeFailed, Note
from fonoteca.jobs import QUEUES, RETRY, SYNC_ALL_TASK, TRANSCRIBE, JobQueue, sync_cron
from fonoteca.pipeline import PENDING

if TYPE_CHECKING:
    from fonoteca.app import Fonoteca

SCHEDULE_ID = "sync"
log = logging.getLogger(__name__)


def run_worker(
    fonoteca: Fonoteca,
    *,
    queues: Sequence[str] | None = None,
    concurrency: int = 1,
    schedule: bool = False,
    until_empty: bool = False,
) -> None:
    """Run jobs of `queues` (None: all), `concurrency` at a time, until stopped (SIGINT/SIGTERM: the running jobs
    finish first; a second one stops at once) or, `until_empty`, until no job is waiting. `schedule` also queues a
    refresh of every show each `Settings.sync_period_minutes`."""
    unknown = sorted(set(queues or ()) - set(QUEUES))
    if unknown:
        raise FonotecaError(f"there is no queue {', '.join(unknown)}", f"the queues are {', '.join(QUEUES)}, or all")
    if concurrency < 1:
        raise FonotecaError(f"--concurrency {concurrency} runs no job", "give 1 or more")
    jobs = fonoteca.jobs
    if schedule:
        _schedule_sync(jobs, sync_cron(fonoteca.settings.sync_period_minutes))
    jobs.open()  # procrastinate's schema, created if missing; the worker then works through a pool of its own
    if queues is None or TRANSCRIBE in queues:
        fonoteca.transcriber.load()  # a model that cannot load stops the worker now, not at its first episode
    _quiet_known_failures()
    asyncio.run(_run(jobs, fonoteca, list(queues) if queues else None, concurrency, until_empty))


def _schedule_sync(jobs: JobQueue, cron: str) -> None:
    if (SYNC_ALL_TASK, SCHEDULE_ID) not in jobs.app.periodic_registry.periodic_tasks:
        jobs.app.periodic(cron=cron, periodic_id=SCHEDULE_ID)(jobs.app.tasks[SYNC_ALL_TASK])


async def _run(
    jobs: JobQueue, fonoteca: Fonoteca, queues: list[str] | None, concurrency: int, until_empty: bool
) -> None:
    timeout = fonoteca.settings.worker_timeout
    # Beside the jobs' own: the notification listener's, the heartbeat's, fetching and finishing jobs, re-queueing.
    async with jobs.serving(connections=concurrency + 4) as app:
        await _requeue_stalled(jobs, fonoteca, timeout)  # before the first fetch: a dead worker's jobs come first
        recovery = asyncio.create_task(_keep_requeueing_stalled(jobs, fonoteca, timeout))
        app.perform_import_paths()
        steady = _SteadyWorker(
            app=app, queues=queues, concurrency=concurrency, wait=not until_empty, name=f"fonoteca-{os.getpid()}",
            additional_context={"fonoteca": fonoteca}, update_heartbeat_interval=timeout / 3,
            stalled_worker_timeout=timeout, install_signal_handlers=False,
        )  # fmt: skip
        worker = asyncio.create_task(steady.run())
        with _stop_on_signals(worker, fonoteca), contextlib.suppress(asyncio.CancelledError):
            await worker
        recovery.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await recovery


class _SteadyWorker(Worker):
    """procrastinate's worker, through a restart of the database server. procrastinate ends its worker when one
    heartbeat or one fetch fails, and a worker busy with a long job then stays alive without a heartbeat and takes no
    job after it. Here a heartbeat or a fetch that fails is tried again at the next beat or poll; and a worker whose
    row was pruned meanwhile (its heartbeat lapsed while the server was away) registers again, so that it shows life
    and may fetch jobs (a job row names its worker)."""

    async def _update_heartbeat(self) -> None:
        lapsed = False
        while True:
            await asyncio.sleep(self.update_heartbeat_interval)
            try:
                if lapsed and not await self._registered():
                    self.worker_id = await self.app.job_manager.register_worker()
                    log.warning("this worker's heartbeat lapsed while the database was away: registered again")
                await self.app.job_manager.update_heartbeat(self.worker_id or 0)
                lapsed = False
            except procrastinate_errors.ConnectorException as exc:
                lapsed = True
                log.warning("cannot show this worker's life to the database now (%s); trying again", exc.__cause__)

    async def _registered(self) -> bool:
        row = await self.app.connector.execute_query_one_async(
            "SELECT EXISTS (SELECT 1 FROM procrastinate_workers WHERE id = %(id)s) AS here", id=self.worker_id
        )
        return bool(row["here"])

    async def _fetch_and_process_jobs(self) -> None:
        try:
            await super()._fetch_and_process_jobs()
        except procrastinate_errors.ConnectorException as exc:
            log.warning("cannot fetch jobs now (%s); trying again at the next poll", exc.__cause__)


@contextlib.contextmanager
def _stop_on_signals(worker: asyncio.Task[None], fonoteca: Fonoteca) -> Iterator[None]:
    """SIGINT or SIGTERM: take no more jobs and let the running ones finish (procrastinate's graceful stop, which
    cancelling its task starts); a second one ends the process at once, which loses nothing: its jobs are re-queued
    as a dead worker's, and their episodes resume after the last committed segment."""
    if threading.current_thread() is not threading.main_thread():
        yield  # Python delivers signals to the main thread only: a worker run elsewhere ends `until_empty`
        return
    loop = asyncio.get_running_loop()

    def at_once() -> None:
        os._exit(130)

    def gracefully() -> None:
        fonoteca.events(
            Note("stopping: the running jobs finish first; stop again to end at once (an episode resumes later)")
        )
        worker.cancel()
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(sig, at_once)

    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, gracefully)
    try:
        yield
    finally:
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.remove_signal_handler(sig)


async def _keep_requeueing_stalled(jobs: JobQueue, fonoteca: Fonoteca, timeout: float) -> None:
    pause = timeout / 2
    while True:
        await asyncio.sleep(pause)
        try:
            await _requeue_stalled(jobs, fonoteca, timeout)
            pause = timeout / 2
        except (procrastinate_errors.ConnectorException, FonotecaError) as exc:  # the database away: the next pass
            fonoteca.events(Note(f"cannot look for the jobs of dead workers now: {exc.__cause__ or exc}"))
            # Every worker's heartbeat lapsed with the database: the next look waits until they can all have shown
            # life again, so that none is taken for dead, and its running jobs queued again, for the outage.
            pause = timeout * 1.5


async def _requeue_stalled(jobs: JobQueue, fonoteca: Fonoteca, timeout: float) -> None:
    """Every running job of a worker silent for `timeout` seconds back in its queue, or failed when it has had all
    its tries. Other workers may do the same at once: the database lets one of them move each job."""
    manager = jobs.app.job_manager
    await manager.prune_stalled_workers(timeout)  # their jobs are left without a worker, which marks them stalled
    for job in await manager.get_stalled_jobs(seconds_since_heartbeat=timeout):
        if RETRY.max_attempts is not None and job.attempts >= RETRY.max_attempts:
            await _give_up(jobs, fonoteca, job)
            continue
        episode_id = job.task_kwargs.get("episode_id")
        if isinstance(episode_id, str):
            # Before the job is free to start again, so that no new claim of its successor is dropped.
            await asyncio.to_thread(fonoteca.archive.drop_claim, episode_id)
        try:
            await manager.retry_job(job)
        except procrastinate_errors.UniqueViolation:
            # A job of the same episode or show is already waiting (queued while this one ran): it does the work,
            # and this one, still holding their common lock, must end for it to start.
            with contextlib.suppress(procrastinate_errors.ConnectorException):
                await manager.finish_job_by_id_async(job.id or 0, Status.ABORTED, delete_job=False)
            continue
        except procrastinate_errors.ConnectorException:
            continue  # another worker moved it first
        fonoteca.events(Note(f"{_described(job)}: its worker stopped answering; queued again"))


async def _give_up(jobs: JobQueue, fonoteca: Fonoteca, job: Job) -> None:
    try:
        await jobs.app.job_manager.finish_job_by_id_async(job.id or 0, Status.FAILED, delete_job=False)
    except procrastinate_errors.ConnectorException:
        return  # another worker gave up on it first
    reason = f"the worker running it stopped in the middle {job.attempts + 1} times (killed, out of memory?)"
    episode_id = job.task_kwargs.get("episode_id")
    if isinstance(episode_id, str):
        try:
            episode = await asyncio.to_thread(fonoteca.archive.get_episode, episode_id)
        except NotFound:
            return  # deleted meanwhile: nothing is left to fail
        if episode.status in PENDING:
            await asyncio.to_thread(fonoteca.archive.set_status, episode_id, "failed", reason)
            fonoteca.events(EpisodeFailed(episode.id, episode.title, reason))
            return
    fonoteca.events(Note(f"{_described(job)}: {reason}; given up"))


def _described(job: Job) -> str:
    what = ", ".join(f"{key} {value}" for key, value in job.task_kwargs.items())
    return f"job {job.id} ({job.task_name.removeprefix('fonoteca.')}{', ' + what if what else ''})"


class _KnownFailure(logging.Filter):
    """procrastinate logs a failed job with its traceback. A FonotecaError was already told in one line with what to
    do (an event of the task); only other exceptions, fonoteca's own bugs, keep their traceback."""

    def filter(self, record: logging.LogRecord) -> bool:
        return not (record.exc_info and isinstance(record.exc_info[1], FonotecaError))


def _quiet_known_failures() -> None:
    logger = logging.getLogger("procrastinate.worker")
    if not any(isinstance(f, _KnownFailure) for f in logger.filters):
        logger.addFilter(_KnownFailure())
