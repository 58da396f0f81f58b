"""The owner's work from the web (add a show, sync, retry), done one task at a time in the background while the
pages go on answering, with its progress for the owner's page.

Each task calls the same `Fonoteca` method as the CLI command and reports with the same lines (SyncReport). Where
the work is done is the application's choice, as for the CLI: on SQLite this server's own thread downloads and
transcribes, and the progress comes from the application's events (the board is its event sink); on PostgreSQL the
method queues the jobs and returns at once, and `fonoteca worker`s do them (the owner's page shows the queues).

The thread is a daemon: stopping the server does not wait for an hour of transcription. An episode interrupted that
way is taken up again by the next sync or retry, from its last stored segment, as after a Ctrl-C of `fonoteca sync`.
"""

from __future__ import annotations

import itertools
import logging
import queue
import threading
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from enum import StrEnum

from fonoteca.errors import FonotecaError
from fonoteca.events import (
    DownloadProgress,
    EpisodeFailed,
    EpisodeTranscribed,
    SyncStarted,
    TranscriptImported,
    TranscriptionProgress,
)
from fonoteca.pipeline import SyncReport

KEPT = 20  # finished tasks the page still lists
log = logging.getLogger(__name__)


class TaskState(StrEnum):
    WAITING = "waiting"
    RUNNING = "running"
    DONE = "done"
    FAILED = "failed"  # the task itself could not be done (its error line); an episode's failure is in `problems`


@dataclass
class Task:
    id: int
    what: str  # e.g. "Add /srv/recordings"
    state: TaskState = TaskState.WAITING
    headline: str = ""  # the CLI's first line: the show added, or the error
    summary: str = ""  # SyncReport.summary(): "1 new, 1 transcribed, 0 imported"
    problems: list[tuple[str, str]] = field(default_factory=list)  # SyncReport.problems()
    queued: bool = False  # on PostgreSQL: its work went to the workers' queues
    doing: str = ""  # what it works on now: "transcribing Episode 4"
    expected: float = 0.0  # audio seconds of the episodes it is processing
    finished: float = 0.0  # of them, done
    current: float = 0.0  # of the episode under way
    started_at: str = ""

    @property
    def progress(self) -> float | None:
        """0-1 of the audio to transcribe, while there is some; None when nothing is known yet."""
        if not self.expected:
            return None
        return min(1.0, (self.finished + self.current) / self.expected)

    @property
    def active(self) -> bool:
        return self.state in (TaskState.WAITING, TaskState.RUNNING)


Work = Callable[[], tuple[str, SyncReport]]  # the headline and the report


class OwnerTasks:
    """The queue of the owner's tasks and what each did; also the application's event sink (progress)."""

    def __init__(self) -> None:
        self._tasks: deque[Task] = deque()
        self._work: queue.SimpleQueue[tuple[Task, Work]] = queue.SimpleQueue()
        self._ids = itertools.count(1)
        self._lock = threading.Lock()
        self._running: Task | None = None
        self._thread: threading.Thread | None = None

    def submit(self, what: str, work: Work) -> Task:
        task = Task(next(self._ids), what)
        with self._lock:
            self._tasks.appendleft(task)
            while len(self._tasks) > KEPT and not self._tasks[-1].active:
                self._tasks.pop()
            if self._thread is None:
                self._thread = threading.Thread(target=self._run, name="fonoteca-owner-tasks", daemon=True)
                self._thread.start()
        self._work.put((task, work))
        return task

    def tasks(self) -> list[Task]:
        """Newest first."""
        with self._lock:
            return list(self._tasks)

    def busy(self) -> bool:
        return any(task.active for task in self.tasks())

    def _run(self) -> None:
        while True:
            task, work = self._work.get()
            task.state, task.started_at = TaskState.RUNNING, datetime.now(UTC).strftime("%H:%M:%S")
            self._running = task
            try:
                task.headline, report = work()
            except FonotecaError as exc:  # the same line the CLI prints
                task.state, task.headline = TaskState.FAILED, str(exc)
            except Exception as exc:  # noqa: BLE001 — a bug must not stop the owner's later tasks; it is logged
                log.exception("the owner's task %r failed", task.what)
                task.state, task.headline = TaskState.FAILED, f"unexpected error: {type(exc).__name__}"
            else:
                task.summary, task.problems = report.summary(), report.problems()
                task.queued = bool(report.queued or report.already_queued)
                task.state = TaskState.DONE
            finally:
                self._running, task.doing, task.current = None, "", 0.0

    def __call__(self, event: object) -> None:
        """The application's events: the running task's progress (events of other work, such as the background
        embedding, are not a task's)."""
        task = self._running
        if task is None:
            return
        if isinstance(event, SyncStarted):
            task.expected, task.finished = sum(event.expected.values()), 0.0
        elif isinstance(event, DownloadProgress):
            task.doing = f"downloading {event.title}"
        elif isinstance(event, TranscriptionProgress):
            task.doing, task.current = f"transcribing {event.title}", event.done
        elif isinstance(event, EpisodeTranscribed):
            task.finished, task.current = task.finished + event.seconds, 0.0
        elif isinstance(event, TranscriptImported):
            task.doing = f"imported the {event.origin} transcript of {event.title}"
        elif isinstance(event, EpisodeFailed):
            task.current = 0.0
