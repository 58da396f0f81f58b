"""Watched words in the archive: the watches, the transcript revisions each has scanned, the mentions found, and the
webhook's outbox. `Archive.watches` is the one store of them; fonoteca.watch decides what a mention is.

A watch scans an episode once per transcript revision (`watch_scans`), so a second sync records nothing twice. When a
watch is added, every episode already transcribed is recorded as scanned at its current revision: a watch tells what
is said from then on, and the archive's history of the word is what search and trends already show. A mention is one
transcript line (segment) that has the word; the same line of the same episode is never recorded twice, even when the
episode is transcribed again. Mentions found while a webhook is configured go out in one batch per scan (of at most
BATCH_SIZE): the batch row is the outbox entry, kept with its attempts and next attempt time until the receiver takes
it.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from sqlalchemy import Row, Select, delete, func, insert, literal, or_, select, update

from fonoteca.archive.models import Status
from fonoteca.archive.tables import episodes, mentions, shows, utc_now, watch_batches, watch_scans, watches
from fonoteca.errors import FonotecaError, NotFound

if TYPE_CHECKING:
    from fonoteca.archive.database import Database


BATCH_SIZE = 500  # mentions per webhook POST


@dataclass(frozen=True)
class Watch:
    id: int
    term: str  # as the user wrote it
    folded: str  # its folded words, space-separated
    show_id: int | None  # None: every show
    show_title: str | None
    created_at: str
    mentions: int  # recorded since it was added
    unseen: int  # not yet listed by `fonoteca watch`


@dataclass(frozen=True)
class Mention:
    id: int
    watch_id: int
    term: str
    episode_id: str
    episode_title: str
    show_title: str
    published: str | None
    start: float  # the second the line starts at
    sentence: str  # the transcript line, as said
    count: int  # times the word is said in that line
    found_at: str
    seen: bool


@dataclass(frozen=True)
class FoundMention:
    """A mention a scan found, before it is stored."""

    watch_id: int
    episode_id: str
    transcript_rev: int
    start: float
    sentence: str
    count: int


@dataclass(frozen=True)
class Batch:
    """One webhook delivery waiting in the outbox."""

    id: int
    attempts: int
    next_attempt: float  # unix time
    last_error: str | None


_m = mentions.c
_MENTION_SELECT = (
    select(
        _m.id, _m.watch_id, watches.c.term, _m.episode_id, episodes.c.title.label("episode_title"),
        shows.c.title.label("show_title"), episodes.c.published, _m.start, _m.sentence, _m.count, _m.found_at, _m.seen,
    )
    .join_from(mentions, watches, watches.c.id == _m.watch_id)
    .join(episodes, episodes.c.id == _m.episode_id)
    .join(shows, shows.c.id == episodes.c.show_id)
)  # fmt: skip
_BATCH_SELECT = select(
    watch_batches.c.id, watch_batches.c.attempts, watch_batches.c.next_attempt, watch_batches.c.last_error
).where(watch_batches.c.delivered_at.is_(None))


def _mention(row: Row[Any]) -> Mention:
    return Mention(**{**row._mapping, "seen": bool(row.seen)})


def _watch_select() -> Select[Any]:
    mentioned = select(func.count()).where(_m.watch_id == watches.c.id)
    return select(
        watches.c.id, watches.c.term, watches.c.folded, watches.c.show_id, shows.c.title.label("show_title"),
        watches.c.created_at, mentioned.scalar_subquery().label("mentions"),
        mentioned.where(_m.seen == 0).scalar_subquery().label("unseen"),
    ).join_from(watches, shows, shows.c.id == watches.c.show_id, isouter=True)  # fmt: skip


class WatchStore:
    def __init__(self, database: Database) -> None:
        self.database = database

    # -- the watches ------------------------------------------------------------------------------------------------

    def add(self, term: str, folded: str, show_id: int | None) -> Watch:
        """A new watch; the episodes transcribed so far count as scanned (see the module's docstring)."""
        with self.database.transaction() as db:
            taken = db.execute(
                select(watches.c.id).where(watches.c.folded == folded, watches.c.show_id.is_not_distinct_from(show_id))
            ).first()
            if taken:
                raise FonotecaError(
                    f"{term!r} is already watched" + ("" if show_id is None else " in that show"),
                    "see the watches with `fonoteca watch list`",
                )
            watch_id = db.execute(
                insert(watches).values(term=term, folded=folded, show_id=show_id)
            ).inserted_primary_key[0]
            done = select(literal(watch_id, watch_scans.c.watch_id.type), episodes.c.id, episodes.c.transcript_rev)
            done = done.where(episodes.c.status == Status.DONE)
            if show_id is not None:
                done = done.where(episodes.c.show_id == show_id)
            db.execute(insert(watch_scans).from_select(["watch_id", "episode_id", "transcript_rev"], done))
        return self.get(watch_id)

    def remove(self, watch_id: int) -> None:
        """The watch and its mentions (by cascade)."""
        with self.database.transaction() as db:
            db.execute(delete(watches).where(watches.c.id == watch_id))

    def get(self, watch_id: int) -> Watch:
        rows = self.database.query(_watch_select().where(watches.c.id == watch_id))
        if not rows:
            raise NotFound(f"no watch with id {watch_id}", "see the watches with `fonoteca watch list`")
        return Watch(**rows[0]._mapping)

    def find(self, folded: str) -> list[Watch]:
        """The watches of this folded word or phrase (one per show it is watched in)."""
        rows = self.database.query(_watch_select().where(watches.c.folded == folded).order_by(watches.c.id))
        return [Watch(**r._mapping) for r in rows]

    def list(self) -> list[Watch]:
        rows = self.database.query(_watch_select().order_by(func.lower(watches.c.term), watches.c.id))
        return [Watch(**r._mapping) for r in rows]

    # -- scanning ---------------------------------------------------------------------------------------------------

    def pending(self) -> dict[tuple[str, int], list[Watch]]:
        """{(episode id, transcript_rev): the watches that have not scanned that revision} over finished episodes."""
        scans = watch_scans.c
        rows = self.database.query(
            select(episodes.c.id.label("episode_id"), episodes.c.transcript_rev, watches.c.id)
            .join_from(
                watches,
                episodes,
                (episodes.c.status == Status.DONE)
                & or_(watches.c.show_id.is_(None), episodes.c.show_id == watches.c.show_id),
            )
            .join(watch_scans, (scans.watch_id == watches.c.id) & (scans.episode_id == episodes.c.id), isouter=True)
            .where(or_(scans.transcript_rev.is_(None), scans.transcript_rev != episodes.c.transcript_rev))
        )
        if not rows:
            return {}
        by_id = {w.id: w for w in self.list()}
        pending: dict[tuple[str, int], list[Watch]] = {}
        for row in rows:
            pending.setdefault((row.episode_id, row.transcript_rev), []).append(by_id[row.id])
        return pending

    def record(
        self, scanned: Iterable[tuple[int, str, int]], found: list[FoundMention], *, outbox: bool
    ) -> list[Mention]:
        """Store a scan in one commit: the (watch id, episode id, transcript_rev) scanned and the mentions found.
        Returns the mentions that are new (a line already recorded is not); with `outbox`, they go in one batch (of at
        most BATCH_SIZE: a show added with its whole history must not make one POST of thousands)."""
        with self.database.transaction() as db:
            ids: list[int] = []
            for m in found:
                new_id = db.scalar(
                    self.database.insert(mentions)
                    .values(
                        watch_id=m.watch_id, episode_id=m.episode_id, transcript_rev=m.transcript_rev, start=m.start,
                        sentence=m.sentence, count=m.count,
                    )
                    .on_conflict_do_nothing()
                    .returning(_m.id)
                )  # fmt: skip
                if new_id is not None:
                    ids.append(new_id)
            for chunk in (ids[i : i + BATCH_SIZE] for i in range(0, len(ids), BATCH_SIZE) if outbox):
                batch = db.execute(insert(watch_batches).values(next_attempt=0)).inserted_primary_key[0]
                db.execute(update(mentions).where(_m.id.in_(chunk)).values(batch_id=batch))
            rows = [{"watch_id": w, "episode_id": e, "transcript_rev": rev} for w, e, rev in scanned]
            if rows:
                statement = self.database.insert(watch_scans)
                db.execute(
                    statement.on_conflict_do_update(
                        index_elements=[watch_scans.c.watch_id, watch_scans.c.episode_id],
                        set_={"transcript_rev": statement.excluded.transcript_rev},
                    ),
                    rows,
                )
        return self.mentions_by_ids(ids)

    # -- reading mentions -------------------------------------------------------------------------------------------

    def mentions_by_ids(self, ids: list[int]) -> list[Mention]:
        found: list[Mention] = []
        for chunk in (ids[i : i + 500] for i in range(0, len(ids), 500)):
            found += [_mention(r) for r in self.database.query(_MENTION_SELECT.where(_m.id.in_(chunk)))]
        return sorted(found, key=lambda m: m.id)

    def unseen(self) -> list[Mention]:
        """Mentions not listed yet, in the order they were found."""
        return [_mention(r) for r in self.database.query(_MENTION_SELECT.where(_m.seen == 0).order_by(_m.id))]

    def recent(self, limit: int = 100, watch_id: int | None = None) -> list[Mention]:
        """The latest mentions found, newest first."""
        statement = _MENTION_SELECT.order_by(_m.id.desc()).limit(limit)
        if watch_id is not None:
            statement = statement.where(_m.watch_id == watch_id)
        rows = self.database.query(statement)
        return [_mention(r) for r in rows]

    def mark_seen(self, up_to: int) -> None:
        """Every mention up to this id has been listed: the next `fonoteca watch` shows only later ones."""
        with self.database.transaction() as db:
            db.execute(update(mentions).where(_m.id <= up_to, _m.seen == 0).values(seen=1))

    # -- the webhook's outbox ---------------------------------------------------------------------------------------

    def due_batches(self, now: float) -> list[Batch]:
        rows = self.database.query(
            _BATCH_SELECT.where(watch_batches.c.next_attempt <= now).order_by(watch_batches.c.id)
        )
        return [Batch(*r) for r in rows]

    def undelivered(self) -> list[Batch]:
        rows = self.database.query(_BATCH_SELECT.order_by(watch_batches.c.id))
        return [Batch(*r) for r in rows]

    def batch_mentions(self, batch_id: int) -> list[Mention]:
        rows = self.database.query(_MENTION_SELECT.where(_m.batch_id == batch_id).order_by(_m.id))
        return [_mention(r) for r in rows]

    def delivered(self, batch_id: int) -> None:
        with self.database.transaction() as db:
            db.execute(
                update(watch_batches)
                .where(watch_batches.c.id == batch_id)
                .values(delivered_at=utc_now(), attempts=watch_batches.c.attempts + 1, last_error=None)
            )

    def failed(self, batch_id: int, error: str, next_attempt: float) -> None:
        with self.database.transaction() as db:
            db.execute(
                update(watch_batches)
                .where(watch_batches.c.id == batch_id)
                .values(attempts=watch_batches.c.attempts + 1, last_error=error, next_attempt=next_attempt)
            )
