"""The limits on the public's chat (`serve --public --public-chat`): every answer is written by the owner's model, so
an anonymous visitor may ask so many questions an hour from one address (QuestionsPerHour), and only so many answers
are written at once for the public (Generations); the next ones wait in a queue whose place the page shows, and
beyond the queue the server says it is busy (503 with Retry-After). The owner's questions are never limited.

Kept in memory, per process: a restart forgets them, and each of several `--workers` processes has its own share.
"""

from __future__ import annotations

import math
import time
from collections import deque
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field

import anyio

from fonoteca.errors import Overloaded, TooManyRequests
from fonoteca.settings import Settings

HOUR = 3600.0
POSITION_EVERY_S = 2.0  # how often a waiting question is told its place again (and the connection kept alive)
BUSY_RETRY_S = 30


class QuestionsPerHour:
    """At most `limit` questions in any hour from one client address (a sliding window)."""

    MAX_CLIENTS = 10_000

    def __init__(self, limit: int, clock: Callable[[], float] = time.monotonic) -> None:
        self.limit, self.clock = limit, clock
        self._asked: dict[str, deque[float]] = {}  # address → when it asked, oldest first

    def ask(self, client: str) -> None:
        """Counts a question, or raises TooManyRequests when the client has asked its share this hour."""
        now = self.clock()
        asked = self._asked.pop(client, deque())
        while asked and asked[0] <= now - HOUR:
            asked.popleft()
        self._asked[client] = asked  # re-inserted: the dict stays least recently asking first
        if len(asked) >= self.limit:
            wait = math.ceil(asked[0] + HOUR - now)
            raise TooManyRequests(
                f"this address has asked {self.limit} questions in the last hour",
                f"ask again in {wait} s",
                retry_after=wait,
            )
        asked.append(now)
        if len(self._asked) > self.MAX_CLIENTS:
            del self._asked[next(iter(self._asked))]


@dataclass(eq=False)
class Ticket:
    """One question's turn: `writing` once it holds one of the slots."""

    writing: bool = False
    granted: anyio.Event = field(default_factory=anyio.Event)


class PublicChatLimits:
    """Both limits, as the settings give them."""

    def __init__(self, settings: Settings) -> None:
        self.questions = QuestionsPerHour(settings.public_chat_per_hour)
        self.generations = Generations(settings.chat_generations, settings.chat_queue)


class Generations:
    """At most `slots` answers written at once; up to `queue` more wait, first come first served."""

    def __init__(self, slots: int, queue: int) -> None:
        self.free, self.queue = slots, queue
        self._waiting: deque[Ticket] = deque()

    def check_room(self) -> None:
        """Overloaded when every slot writes and the queue is full."""
        if not self.free and len(self._waiting) >= self.queue:
            raise Overloaded(
                "the archive is answering as many questions as it can",
                f"ask again in {BUSY_RETRY_S} s",
                retry_after=BUSY_RETRY_S,
            )

    def enter(self) -> Ticket:
        """A ticket that writes now or waits in the queue; Overloaded when the queue is full."""
        self.check_room()
        if self.free:
            self.free -= 1
            return Ticket(writing=True)
        ticket = Ticket()
        self._waiting.append(ticket)
        return ticket

    async def positions(self, ticket: Ticket) -> AsyncIterator[int]:
        """The ticket's place in the queue (1 = next), again every few seconds, until it may write."""
        while not ticket.writing:
            yield self._waiting.index(ticket) + 1
            with anyio.move_on_after(POSITION_EVERY_S):
                await ticket.granted.wait()

    def leave(self, ticket: Ticket) -> None:
        """The answer is written, or the asker went away: its slot goes to the next in the queue."""
        if not ticket.writing:
            self._waiting.remove(ticket)
            return
        if self._waiting:
            following = self._waiting.popleft()
            following.writing = True
            following.granted.set()
        else:
            self.free += 1
