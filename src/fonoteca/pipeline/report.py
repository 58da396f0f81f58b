"""What the stages tell their caller: which statuses are still to be worked on, what a run did, and which errors stop
a run instead of failing one episode."""

from __future__ import annotations

from dataclasses import dataclass, field

from fonoteca.archive import Episode, Show
from fonoteca.errors import FonotecaError, ModelError, StorageError

PENDING = ("new", "downloaded", "transcribing")


@dataclass
class SyncReport:
    added: int = 0
    updated: int = 0  # known episodes whose feed entry changed (enclosure, transcript, title, date, notes)
    imported: int = 0
    transcribed: int = 0
    failed: list[tuple[Episode, str]] = field(default_factory=list)
    busy: list[Episode] = field(default_factory=list)  # left to the other process that holds them
    show_errors: list[tuple[Show, str]] = field(default_factory=list)
    audio_seconds: float = 0.0
    # On PostgreSQL the work is queued for `fonoteca worker` instead (fonoteca.jobs): jobs queued now, and those whose
    # show or episode already had one waiting or running (never queued twice).
    queued: int = 0
    already_queued: int = 0

    def summary(self) -> str:
        parts = [f"{self.added} new"]
        if self.queued or self.already_queued:
            parts.append(f"{self.queued} jobs queued")
            if self.already_queued:
                parts.append(f"{self.already_queued} already queued or running")
        else:
            parts += [f"{self.transcribed} transcribed", f"{self.imported} imported"]
        if self.updated:
            parts.append(f"{self.updated} updated")
        if self.busy:
            parts.append(f"{len(self.busy)} left to another fonoteca process")
        if self.failed:
            parts.append(f"{len(self.failed)} failed")
        return ", ".join(parts)

    def problems(self) -> list[tuple[str, str]]:
        """What went wrong, a (label, line) per show that could not be read and per episode that failed, as
        `fonoteca sync` and the owner's web page list them."""
        shows = [("error", f"{show.slug}: {reason}") for show, reason in self.show_errors]
        return shows + [("failed", f"{episode.id} {episode.title}: {reason}") for episode, reason in self.failed]


def is_fatal(exc: FonotecaError) -> bool:
    """Errors that would fail every remaining episode the same way (model missing, disk full, the archive gone) stop
    the sync, and leave the episode as it was: they are not its fault (both classes are `retryable`, so a worker
    tries its job again later)."""
    return isinstance(exc, (ModelError, StorageError))
