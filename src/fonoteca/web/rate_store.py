"""Where the per-address rate limits are counted (web/crowd.py's searches, trends and exports, web/chat_limits.py's
public questions): one store for every server process of an archive on this machine, so that `serve --workers N`
holds a client to the limit and not to N times it.

The `limits` library counts; its own storages are memory (one process's) or a server to run beside fonoteca (Redis,
Memcached, MongoDB). `SharedWindows` is its moving-window storage kept in a `diskcache` folder instead: SQLite
underneath, in WAL mode, whose transactions make a check-and-count atomic across processes with no server at all.
Dividing each limit by N would need no store, but a browser keeps its connection and so talks to one process: it
would be held to a share of its limit while a client opening a connection per request got the whole of it.

The folder sits beside the search index (`fonoteca.index-limits/`, this machine's derived state); a restart keeps the
counts, so restarting the server does not hand a crawler a fresh allowance. Counting one request takes a SQLite
transaction: a median of ~0.07 ms against ~3 µs in memory, ~0.09 ms with two processes counting at once, a p99 of a
few ms on a loaded machine (bench/rate_limits.py): small beside the search it guards.
"""

from __future__ import annotations

import math
import sqlite3
import time
from pathlib import Path

import diskcache
from limits import RateLimitItem
from limits.storage import Storage
from limits.storage.base import MovingWindowSupport
from limits.strategies import MovingWindowRateLimiter

from fonoteca.settings import Settings

WAIT_FOR_LOCK_S = 5.0  # SQLite's own busy wait: another process holds the write lock for one count at a time
MOST_BYTES = 64 * 2**20  # least recently counted clients are dropped past it (a crowd of a million addresses)


def shared_rate_limiter(settings: Settings) -> MovingWindowRateLimiter:
    return MovingWindowRateLimiter(SharedWindows(rate_limits_dir(settings)))


def wait_over(limiter: MovingWindowRateLimiter, item: RateLimitItem, kind: str, client: str) -> int | None:
    """Counts one request of `kind` from `client` against `item`; None if it is within the limit, else how many
    seconds to wait until it would be."""
    if limiter.hit(item, kind, client):
        return None
    reset = limiter.get_window_stats(item, kind, client).reset_time
    return max(1, math.ceil(reset - time.time()))


def rate_limits_dir(settings: Settings) -> Path:
    return settings.index_dir.with_name(settings.index_dir.name + "-limits")


class SharedWindows(Storage, MovingWindowSupport):
    """The moving window of `limits`, in a diskcache folder: for each key, the times of its counted requests, newest
    first, expiring with the window."""

    STORAGE_SCHEME = None

    def __init__(self, folder: Path) -> None:
        super().__init__()
        self.cache = diskcache.Cache(
            str(folder),
            timeout=WAIT_FOR_LOCK_S,
            size_limit=MOST_BYTES,
            eviction_policy="least-recently-stored",
            sqlite_synchronous=0,  # no fsync: counts lost to a power cut cost nothing but a fresh allowance
        )

    @property
    def base_exceptions(self) -> tuple[type[Exception], ...]:
        return (diskcache.Timeout, sqlite3.Error)

    def acquire_entry(self, key: str, limit: int, expiry: int, amount: int = 1) -> bool:
        if amount > limit:
            return False
        now = time.time()
        with self.cache.transact():  # BEGIN IMMEDIATE: no other process counts this key in between
            times = self._within(key, expiry, now)
            if len(times) + amount > limit:
                return False
            self.cache.set(key, [now] * amount + times, expire=expiry)
        return True

    def get_moving_window(self, key: str, limit: int, expiry: int) -> tuple[float, int]:
        now = time.time()
        times = self._within(key, expiry, now)
        return (times[-1], len(times)) if times else (now, 0)

    def _within(self, key: str, expiry: int, now: float) -> list[float]:
        return [t for t in self.cache.get(key, []) if t > now - expiry]

    # The fixed-window strategies' part of limits' Storage interface, which the moving window never calls.
    def incr(self, key: str, expiry: int, amount: int = 1) -> int:
        raise NotImplementedError("SharedWindows keeps moving windows only")

    def get(self, key: str) -> int:
        raise NotImplementedError("SharedWindows keeps moving windows only")

    def get_expiry(self, key: str) -> float:
        raise NotImplementedError("SharedWindows keeps moving windows only")

    def clear(self, key: str) -> None:
        self.cache.delete(key)

    def check(self) -> bool:
        return self.cache.check(fix=False) == []

    def reset(self) -> int | None:
        return self.cache.clear()
