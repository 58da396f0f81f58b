"""Which process works on an episode (`ClaimStore`): one process per episode, so concurrent syncs and workers never
download or transcribe the same episode twice. A claim names its holder ("host:pid:token") and shows life by a
heartbeat; a claim left by a dead process is taken over, and the work it committed is resumed, not repeated.
"""

from __future__ import annotations

import os
import secrets
import socket
import time
from typing import Any

from sqlalchemy import Connection, Row, delete, select, update

from fonoteca.archive.database import Database
from fonoteca.archive.episodes import locked_status
from fonoteca.archive.tables import claims, utc_now
from fonoteca.errors import FonotecaError
from fonoteca.processes import pid_alive

# A claim whose holder has not shown life for this long is taken over even when its pid cannot be checked (another
# host on a shared archive). Holders refresh it with every committed segment and during downloads.
CLAIM_TIMEOUT_S = 30 * 60


class EpisodeBusy(FonotecaError):
    """Another process holds the episode: whatever this process meant to write to it would duplicate that work."""

    http_status = 409
    retryable = True


class ClaimStore:
    """The claims of one holder: this process, through one Archive."""

    def __init__(self, database: Database) -> None:
        self.database = database
        self.host = socket.gethostname()
        # The token tells apart two Archive objects of one process, and a new process that reused a dead one's pid.
        self.holder = f"{self.host}:{os.getpid()}:{secrets.token_hex(4)}"

    def claim_episode(self, episode_id: str) -> bool:
        """Take the episode for this process; False when another live process holds it.

        A claim left by a process that died (its pid is gone on this host, or it has shown no life for
        CLAIM_TIMEOUT_S) is taken over: the work it committed is resumed, not repeated."""
        now = time.time()
        with self.database.transaction(seen=False) as db:
            # The episode's row lock serialises two processes claiming it at once (on SQLite the whole file is).
            locked_status(db, episode_id)
            row = db.execute(select(claims).where(claims.c.episode_id == episode_id)).first()
            if row and row.holder != self.holder and not self._abandoned(row, now):
                return False
            statement = self.database.insert(claims).values(
                episode_id=episode_id, holder=self.holder, host=self.host, pid=os.getpid(), heartbeat=now
            )
            db.execute(
                statement.on_conflict_do_update(
                    index_elements=[claims.c.episode_id],
                    set_={
                        "holder": statement.excluded.holder, "host": statement.excluded.host,
                        "pid": statement.excluded.pid, "heartbeat": statement.excluded.heartbeat,
                        "claimed_at": utc_now(),
                    },
                )
            )  # fmt: skip
        return True

    def release_episode(self, episode_id: str) -> None:
        with self.database.transaction(seen=False) as db:
            db.execute(delete(claims).where(claims.c.episode_id == episode_id, claims.c.holder == self.holder))

    def claim_holder(self, episode_id: str) -> str | None:
        """Who holds the episode ("host:pid:token" of an Archive), or None when nobody does."""
        rows = self.database.query(select(claims.c.holder).where(claims.c.episode_id == episode_id))
        return rows[0][0] if rows else None

    def drop_claim(self, episode_id: str) -> None:
        """Drop the episode's claim, whoever holds it. Only for the job engine, which knows more than the claim can
        tell: the worker that ran the episode's job has stopped showing life (on any machine), and no other job of the
        episode runs (they share one lock). Its successor then resumes the episode at once, instead of waiting
        CLAIM_TIMEOUT_S for a claim whose process cannot be checked from another machine."""
        with self.database.transaction(seen=False) as db:
            db.execute(delete(claims).where(claims.c.episode_id == episode_id))

    def heartbeat(self, episode_id: str) -> None:
        """Show that the claim on the episode is still being worked on (a long download commits nothing)."""
        with self.database.transaction(seen=False) as db:
            self.beat(db, episode_id)

    def beat(self, db: Connection, episode_id: str) -> None:
        db.execute(
            update(claims)
            .where(claims.c.episode_id == episode_id, claims.c.holder == self.holder)
            .values(heartbeat=time.time())
        )

    def _abandoned(self, claim: Row[Any], now: float) -> bool:
        if claim.heartbeat < now - CLAIM_TIMEOUT_S:
            return True
        return claim.host == self.host and not pid_alive(claim.pid)

    def refuse_if_held_elsewhere(self, db: Connection, episode_id: str) -> None:
        row = db.execute(select(claims).where(claims.c.episode_id == episode_id)).first()
        if row and row.holder != self.holder and not self._abandoned(row, time.time()):
            raise EpisodeBusy(
                f"episode {episode_id} is being processed by another fonoteca process (pid {row.pid} on {row.host})",
                "let it finish; its transcript is the one kept",
            )
