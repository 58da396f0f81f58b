"""The limits on the public's chat (`serve --public --public-chat`): every answer is written by the owner's model, so
an anonymous visitor may ask so many questions an hour from one address (QuestionsPerHour), and only so many answers
are written at once for the public (Generations); the next ones wait in a queue whose place the page shows, and
beyond the queue the server says it is busy (503 with Retry-After). The owner's questions are never limited.

The questions are counted in the store every server process of the archive shares (web/rate_store.py); the answers
being written are each process's own: with `--workers N`, up to N times `chat_generations` at once.
"""

from __future__ import annotations

from collections import deque
from collections.abc import AsyncIterator
from dataclasses import dataclass, field

import anyio
from limits import RateLimitItemPerHour
from limits.strategies import MovingWindowRateLimiter

from fonoteca.errors import Overloaded, TooManyRequests
from fonoteca.settings import Settings
from fonoteca.web.rate_store import wait_over

HOUR = 3600.0
POSITION_EVERY_S = 2.0  # how often a waiting question is told its place again (and the connection kept alive)
BUSY_RETRY_S = 30


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
    """One question's turn: `writing` once it holds one of the slots."""

    writing: bool = False
    granted: anyio.Event = field(default_factory=anyio.Event)


class PublicChatLimits:
    """Both limits, as the settings give them."""

    def __init__(self, settings: Settings, limiter: MovingWindowRateLimiter) -> None:
        self.questions = QuestionsPerHour(settings.public_chat_per_hour, limiter)
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
