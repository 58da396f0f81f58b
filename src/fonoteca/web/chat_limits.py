"""The limits on the public's chat (`serve --public --public-chat`): every answer is written by the owner's model, so
an anonymous visitor may ask so many questions an hour from one address (QuestionsPerHour), and only so many answers
are written at once for the public (Generations); the next ones wait in a queue whose place the page shows, and
beyond the queue the server says it is busy (503 with Retry-After). The owner's questions are never limited.

Both hold across every server process of the archive on this machine (`serve --workers N`, or two `fonoteca serve`).
The questions are counted in the rate limits' store (web/rate_store.py). The answers being written are counted once
too, because what they spend is the one model server all the processes ask (FONOTECA_LLM_BASE_URL): a cap per process
would let N processes write N times the answers the owner chose. They are kept in `fonoteca.index-chat/`, beside the
index:
- a slot is a lock file, `slot-K.lock`, locked (flock) while an answer is written: the kernel lets it go when its
  process ends, however it ends (kill -9, out of memory), so no slot is lost with a process;
- the queue is a list in a diskcache store (SQLite transactions, as the rate limits): a waiting question renews its
  entry each time it looks for a free slot (every POLL_S), and the entry of one whose process died ages out after
  STALE_S. The first in the queue takes a slot as soon as one is free; a new question queues behind those waiting
  even when a slot has just been let go, so the queue stays first come first served across processes.
"""

from __future__ import annotations

import contextlib
import fcntl
import functools
import logging
import math
import sqlite3
import time
import uuid
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import BinaryIO

import anyio
import diskcache
from limits import RateLimitItemPerHour
from limits.strategies import MovingWindowRateLimiter

from fonoteca.errors import Overloaded, StorageError, TooManyRequests
from fonoteca.settings import Settings
from fonoteca.web.rate_store import WAIT_FOR_LOCK_S, wait_over

POSITION_EVERY_S = 2.0  # how often a waiting question is told its place again (and the connection kept alive)
POLL_S = 0.25  # how often a waiting question looks for a free slot: another process's answer may have ended
STALE_S = 10.0  # a waiting question not seen for this long is taken for gone (its process died)
BUSY_RETRY_S = 30
QUEUE_KEY = "waiting"  # [[ticket id, last seen (epoch seconds)], ...], first in the queue first

log = logging.getLogger(__name__)


def chat_turns_dir(settings: Settings) -> Path:
    return settings.index_dir.with_name(settings.index_dir.name + "-chat")


class QuestionsPerHour:
    """At most `limit` questions in any hour from one client address (the `limits` library's moving window)."""

    def __init__(self, limit: int, limiter: MovingWindowRateLimiter) -> None:
        self.limit, self.limiter = limit, limiter
        self.item = RateLimitItemPerHour(limit)

    def ask(self, client: str) -> None:
        """Counts a question, or raises TooManyRequests when the client has asked its share this hour."""
        wait = wait_over(self.limiter, self.item, "chat", client)
        if wait is not None:
            raise TooManyRequests(
                f"this address has asked {self.limit} questions in the last hour",
                f"ask again in {wait} s",
                retry_after=wait,
            )


@dataclass(eq=False)
class Ticket:
    """One question's turn: it waits in the queue under its `id` until it holds a slot (`slot`, the locked file)."""

    id: str = field(default_factory=lambda: uuid.uuid4().hex)
    slot: BinaryIO | None = None

    @property
    def writing(self) -> bool:
        return self.slot is not None


class PublicChatLimits:
    """Both limits, as the settings give them."""

    def __init__(self, settings: Settings, limiter: MovingWindowRateLimiter) -> None:
        self.questions = QuestionsPerHour(settings.public_chat_per_hour, limiter)
        self.generations = Generations(settings.chat_generations, settings.chat_queue, chat_turns_dir(settings))


class Generations:
    """At most `slots` answers written at once by all the archive's server processes on this machine, which share
    `folder`; up to `queue` more wait, first come first served (the module's docstring says how)."""

    def __init__(self, slots: int, queue: int, folder: Path) -> None:
        self.slots, self.queue, self.folder = slots, queue, folder

    @functools.cached_property
    def _store(self) -> diskcache.Cache:
        # made at the first public question: a server whose chat is the owner's alone never makes the folder
        return diskcache.Cache(str(self.folder), timeout=WAIT_FOR_LOCK_S, sqlite_synchronous=0)

    def check_room(self) -> None:
        """Overloaded when every slot writes and the queue is full."""
        with self._waiting() as waiting:
            if len(waiting) < self.queue:
                return
            slot = self._take_slot()  # only to see whether one is free
            if slot is None:
                raise self._busy()
            slot.close()

    def enter(self) -> Ticket:
        """A ticket that writes now or waits in the queue; Overloaded when the queue is full."""
        ticket = Ticket()
        with self._waiting() as waiting:
            if not waiting:
                ticket.slot = self._take_slot()
            if ticket.writing:
                return ticket
            if len(waiting) >= self.queue:
                raise self._busy()
            waiting.append([ticket.id, time.time()])
        return ticket

    async def positions(self, ticket: Ticket) -> AsyncIterator[int]:
        """The ticket's place in the queue (1 = next), when it changes and again every few seconds, until it may
        write."""
        told, told_at = 0, -math.inf
        while place := self._advance(ticket):
            if place != told or time.monotonic() - told_at >= POSITION_EVERY_S:
                yield place
                told, told_at = place, time.monotonic()
            await anyio.sleep(POLL_S)

    def leave(self, ticket: Ticket) -> None:
        """The answer is written, or the asker went away: its slot is let go (the first in the queue takes it), or
        its place in the queue given up."""
        if ticket.slot is not None:
            ticket.slot.close()  # and its lock with it
            ticket.slot = None
            return
        try:
            with self._waiting() as waiting:
                waiting[:] = [entry for entry in waiting if entry[0] != ticket.id]
        except StorageError as exc:  # its entry ages out instead
            log.warning("%s", exc)

    def _advance(self, ticket: Ticket) -> int:
        """The ticket seen in the queue now, and given a slot if it is first and one is free: 0 once it writes, else
        its place."""
        if ticket.writing:
            return 0
        with self._waiting() as waiting:
            ids = [entry[0] for entry in waiting]
            if ticket.id not in ids:  # aged out while its process did not look (a stalled server): at the back
                waiting.append([ticket.id, 0.0])
                ids.append(ticket.id)
            place = ids.index(ticket.id)
            if place == 0 and (slot := self._take_slot()):
                ticket.slot = slot
                del waiting[0]
                return 0
            waiting[place][1] = time.time()
            return place + 1

    @contextlib.contextmanager
    def _waiting(self) -> Iterator[list[list[str | float]]]:
        """The queue, without the questions gone stale, in one transaction that no other process interleaves: what
        the block leaves in the list is stored (nothing when it raises)."""
        try:
            with self._store.transact():  # BEGIN IMMEDIATE
                horizon = time.time() - STALE_S
                waiting = [entry for entry in self._store.get(QUEUE_KEY, []) if entry[1] > horizon]
                yield waiting
                self._store.set(QUEUE_KEY, waiting)
        except (diskcache.Timeout, sqlite3.Error, OSError) as exc:
            raise StorageError(
                f"the public chat's queue in {self.folder} cannot be kept: {exc}",
                "check that the folder beside the search index is writable and the disk not full",
            ) from exc

    def _take_slot(self) -> BinaryIO | None:
        """A free slot's lock file, locked; None when every slot is taken."""
        for n in range(self.slots):
            handle = (self.folder / f"slot-{n}.lock").open("ab")
            try:
                fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                handle.close()
                continue
            return handle
        return None

    @staticmethod
    def _busy() -> Overloaded:
        return Overloaded(
            "the archive is answering as many questions as it can",
            f"ask again in {BUSY_RETRY_S} s",
            retry_after=BUSY_RETRY_S,
        )
