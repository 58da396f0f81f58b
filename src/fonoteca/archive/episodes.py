"""Shows and episodes (`EpisodeStore`): their rows, an episode's status moves along `TRANSITIONS`, and what is read
of them for pages, charts and statistics. The writes that change an episode hand it back as they left it (RETURNING, on
both databases), so the caller does not read it again.

Each write is its own transaction; the rows a write reads before changing are locked (SELECT ... FOR UPDATE on
PostgreSQL; SQLite's BEGIN IMMEDIATE holds the whole file).
"""

from __future__ import annotations

import hashlib
import json
import re
import secrets
import time
import unicodedata
from collections.abc import Iterable, Mapping
from enum import Enum, StrEnum
from typing import Any, TypeVar

from sqlalchemy import Connection, bindparam, delete, func, insert, or_, select, update

from fonoteca.archive.database import Database, in_chunks
from fonoteca.archive.models import (
    TRANSITIONS,
    Captions,
    Episode,
    EpisodeCard,
    EpisodeKind,
    Show,
    Source,
    SourceKind,
    Stats,
    Status,
    TimelineEntry,
)
from fonoteca.archive.tables import counted, episodes, finished, shows, utc_now
from fonoteca.archive.tables import segments as segments_table
from fonoteca.errors import NotFound


class Unchanged(Enum):
    """The default of an update's keyword: leave the column as it is (None would set it to NULL)."""

    UNCHANGED = "unchanged"


UNCHANGED = Unchanged.UNCHANGED


def episode_id_for(show_source: str, guid: str) -> str:
    """A short id that stays the same however often the show is re-read or the archive rebuilt."""
    return hashlib.sha1(f"{show_source}\n{guid}".encode()).hexdigest()[:10]


def slugify(text: str) -> str:
    ascii_text = unicodedata.normalize("NFKD", text).encode("ascii", "ignore").decode()
    slug = re.sub(r"[^a-z0-9]+", "-", ascii_text.lower()).strip("-")
    return slug[:60] or "show"


class EpisodeStore:
    """The shows and episodes of the archive's database."""

    def __init__(self, database: Database) -> None:
        self.database = database

    # -- shows ---------------------------------------------------------------------------------------------------

    def add_show(
        self,
        *,
        title: str,
        source: str,
        source_kind: SourceKind,
        language: str | None | Unchanged = UNCHANGED,
        feed_language: str | None | Unchanged = UNCHANGED,
        description: str | Unchanged = UNCHANGED,
        link: str | Unchanged = UNCHANGED,
        image: str | Unchanged = UNCHANGED,
        credentials: str | None | Unchanged = UNCHANGED,
        captions: Captions | Unchanged = UNCHANGED,
    ) -> tuple[Show, bool]:
        """Create the show for `source`, or update the metadata given if it exists. Returns (show, created).

        `language` pins the language of its transcripts; `credentials` are the feed URL's user:password; `captions`
        which of a video platform's captions stand in for a transcription."""
        source_kind = member(SourceKind, source_kind, "show source kind")
        if not isinstance(captions, Unchanged):
            captions = member(Captions, captions, "captions choice")
        existing = self.database.query(select(shows.c.id).where(shows.c.source == source))
        if existing:
            show_id = existing[0].id
            self.update_show(
                show_id, title=title, language=language, feed_language=feed_language, description=description,
                link=link, image=image, credentials=credentials, captions=captions,
            )  # fmt: skip
            return self.get_show(show_id), False
        with self.database.transaction() as db:
            slug = _unique_slug(db, slugify(title))
            show_id = db.execute(
                insert(shows).values(
                    slug=slug, title=title, source=source, source_kind=source_kind,
                    language=_given(language, None), feed_language=_given(feed_language, None),
                    description=_given(description, ""), link=_given(link, ""), image=_given(image, ""),
                    credentials=_given(credentials, None), captions=_given(captions, Captions.CREATOR),
                )
            ).inserted_primary_key[0]  # fmt: skip
        return self.get_show(show_id), True

    def update_show(
        self,
        show_id: int,
        *,
        title: str | Unchanged = UNCHANGED,
        language: str | None | Unchanged = UNCHANGED,
        feed_language: str | None | Unchanged = UNCHANGED,
        description: str | Unchanged = UNCHANGED,
        link: str | Unchanged = UNCHANGED,
        image: str | Unchanged = UNCHANGED,
        credentials: str | None | Unchanged = UNCHANGED,
        captions: Captions | Unchanged = UNCHANGED,
    ) -> None:
        """Change the show's metadata given; what is left UNCHANGED keeps its value."""
        # The column names are this method's own, never taken from a caller's keyword.
        changed = _changed({
            "title": title, "language": language, "feed_language": feed_language, "description": description,
            "link": link, "image": image, "credentials": credentials, "captions": captions,
        })  # fmt: skip
        if changed:
            with self.database.transaction() as db:
                db.execute(update(shows).where(shows.c.id == show_id).values(changed))

    def mark_synced(self, show_id: int) -> None:
        """Record that the show's source was read just now."""
        with self.database.transaction() as db:
            db.execute(update(shows).where(shows.c.id == show_id).values(synced_at=utc_now()))

    def get_show(self, ref: int | str) -> Show:
        """A show by id, slug, source or (case-insensitive) title."""
        key = str(ref)
        rows = self.database.query(
            select(shows).where(
                or_(
                    shows.c.id == (int(key) if key.isdigit() and len(key) < 19 else -1),
                    shows.c.slug == key,
                    shows.c.source == key,
                    func.lower(shows.c.title) == key.lower(),
                )
            )
        )
        if not rows:
            raise NotFound(f"no show called {ref!r}", "run `fonoteca shows` to see the archive's shows")
        return Show(**rows[0]._mapping)

    def list_shows(self) -> list[Show]:
        rows = self.database.query(select(shows).order_by(func.lower(shows.c.title), shows.c.id))
        return [Show(**r._mapping) for r in rows]

    def feed_secret(self, show_id: int, *, rotate: bool = False) -> str:
        """The secret path of the show's feed on a private archive, made on first use; `rotate` replaces it, so the
        old address stops answering at once. Two processes asking for a first secret at once get the same one."""
        with self.database.transaction() as db:
            condition = shows.c.id == show_id
            if not rotate:
                condition = condition & shows.c.feed_secret.is_(None)
            db.execute(update(shows).where(condition).values(feed_secret=secrets.token_urlsafe(24)))
            row = db.execute(select(shows.c.feed_secret).where(shows.c.id == show_id)).first()
        if row is None:
            raise NotFound(f"no show with id {show_id}", "run `fonoteca shows` to see the archive's shows")
        return str(row[0])

    def show_by_feed_secret(self, secret: str) -> Show:
        """The show whose private feed lives under `secret`; NotFound for an unknown or rotated one."""
        rows = self.database.query(select(shows).where(shows.c.feed_secret == secret)) if secret else []
        if not rows:
            raise NotFound("no feed at this address", "the owner may have rotated it: ask for the new address")
        return Show(**rows[0]._mapping)

    # -- episodes -----------------------------------------------------------------------------------------------

    def upsert_episode(
        self,
        show: Show,
        *,
        guid: str,
        title: str,
        kind: EpisodeKind,
        published: str | None = None,
        duration: float | None = None,
        description: str = "",
        link: str = "",
        media_url: str | None = None,
        media_path: str | None = None,
        media_type: str | None = None,
        transcript_url: str | None = None,
        transcript_type: str | None = None,
        status: Status = Status.NEW,
        error: str | None = None,
        source: Source | None = None,
        language: str | None = None,
        image: str = "",
        number: int | None = None,
    ) -> tuple[Episode, bool]:
        """Add an episode unless the show already has one with this GUID. Returns (episode, created).

        A new episode may start at any status (a local file that does not decode is added as failed, with the
        `error`). An existing episode keeps its status and transcript; only the title, and the published date,
        description and link when given, are refreshed: metadata that the feed may correct."""
        kind = member(EpisodeKind, kind, "episode kind")
        status = member(Status, status, "episode status")
        source = member(Source, source, "transcript source") if source is not None else None
        episode_id = episode_id_for(show.source, guid)
        if self.database.query(select(episodes.c.id).where(episodes.c.id == episode_id)):
            self.update_episode(
                episode_id,
                title=title,
                published=published or UNCHANGED,
                description=description or UNCHANGED,
                link=link or UNCHANGED,
                image=image or UNCHANGED,
                number=number if number is not None else UNCHANGED,
            )
            return self.get_episode(episode_id), False
        with self.database.transaction() as db:
            # Another process re-reading the same feed may insert it first: then it is simply not new here.
            created = db.execute(
                self.database.insert(episodes).values(
                    id=episode_id, show_id=show.id, guid=guid, title=title, kind=kind, published=published,
                    duration=duration, description=description, link=link, media_url=media_url,
                    media_path=media_path, media_type=media_type, transcript_url=transcript_url,
                    transcript_type=transcript_type, status=status, error=error, source=source, language=language,
                    image=image, number=number,
                ).on_conflict_do_nothing()
            ).rowcount  # fmt: skip
            if created and status == Status.DONE:
                finished_changed(db)
        return self.get_episode(episode_id), bool(created)

    def add_episodes(self, show: Show, new: Iterable[Mapping[str, Any]]) -> None:
        """Many new episodes in one transaction, where upsert_episode's one each would take minutes (a synthetic
        archive of tens of thousands). Each mapping holds upsert_episode's keywords (guid, title and kind at least; all
        of them the same ones); an episode the show already has is left as it is."""
        rows = []
        for fields in new:
            row = {"id": episode_id_for(show.source, fields["guid"]), "show_id": show.id, **fields}
            row["kind"] = member(EpisodeKind, row["kind"], "episode kind")
            row["status"] = member(Status, row.get("status", Status.NEW), "episode status")
            rows.append(row)
        with self.database.transaction() as db:
            db.execute(self.database.insert(episodes).on_conflict_do_nothing(), rows)
            if any(row["status"] == Status.DONE for row in rows):
                finished_changed(db)

    def update_episode(
        self,
        episode_id: str,
        *,
        title: str | Unchanged = UNCHANGED,
        published: str | None | Unchanged = UNCHANGED,
        description: str | Unchanged = UNCHANGED,
        link: str | Unchanged = UNCHANGED,
        media_url: str | None | Unchanged = UNCHANGED,
        media_path: str | None | Unchanged = UNCHANGED,
        media_type: str | None | Unchanged = UNCHANGED,
        transcript_url: str | None | Unchanged = UNCHANGED,
        transcript_type: str | None | Unchanged = UNCHANGED,
        language: str | None | Unchanged = UNCHANGED,
        image: str | Unchanged = UNCHANGED,
        number: int | None | Unchanged = UNCHANGED,
    ) -> Episode | None:
        """Change the episode's metadata given; what is left UNCHANGED keeps its value. Its status changes only
        through the methods that check the move (set_status, mark_downloaded, start_transcription...). Returns the
        episode as changed (None when nothing was given, or there is no such episode)."""
        # The column names are this method's own, never taken from a caller's keyword.
        changed = _changed({
            "title": title, "published": published, "description": description, "link": link,
            "media_url": media_url, "media_path": media_path, "media_type": media_type,
            "transcript_url": transcript_url, "transcript_type": transcript_type, "language": language,
            "image": image, "number": number,
        })  # fmt: skip
        if not changed:
            return None
        with self.database.transaction() as db:
            return _returned(db.execute(episode_update(episode_id).values(changed).returning(*EPISODE_ROW)))

    def move(self, db: Connection, episode_id: str, target: Status, **values: object) -> Episode | None:
        """Set the episode's status (and `values`) inside the caller's transaction, if TRANSITIONS allows the move
        from its current one, and return it as it is then (its row stays locked until the caller commits). None when
        there is no such episode (another process deleted it); a move the table does not allow is a programming error.

        One UPDATE ... RETURNING whose condition is the table's: the row is not read before it is written. Only
        DONE moves to DONE, so a move changes what a search index must hold exactly when it ends at DONE."""
        sources = [status for status, targets in TRANSITIONS.items() if target in targets]
        moved = episode_update(episode_id).where(episodes.c.status.in_(sources)).values(status=target, **values)
        if target == Status.DONE:
            moved = moved.values(finished_at=utc_now())
        episode = _returned(db.execute(moved.returning(*EPISODE_ROW)))
        if episode is None:
            current = locked_status(db, episode_id)
            if current is not None:
                allowed = ", ".join(sorted(TRANSITIONS[current]))
                raise ValueError(
                    f"episode {episode_id} cannot go from {current} to {target} (from {current}: {allowed})"
                )
        elif target == Status.DONE:
            finished_changed(db)
        return episode

    def set_status(self, episode_id: str, status: Status, error: str | None = None) -> Episode | None:
        """Move the episode to `status` (checked against TRANSITIONS), with `error` saying why when it failed."""
        status = member(Status, status, "episode status")
        with self.database.transaction() as db:
            return self.move(db, episode_id, status, error=error)

    def mark_downloaded(self, episode_id: str, media_path: str) -> Episode | None:
        with self.database.transaction() as db:
            return self.move(db, episode_id, Status.DOWNLOADED, media_path=media_path, error=None)

    def start_transcription(self, episode_id: str, duration: float) -> Episode | None:
        with self.database.transaction() as db:
            return self.move(db, episode_id, Status.TRANSCRIBING, duration=duration, error=None)

    def finish_transcription(
        self,
        episode_id: str,
        *,
        language: str | None,
        engine: str,
        model: str,
        duration: float,
        dropped: Mapping[str, int] | None = None,
    ) -> Episode | None:
        """The segments appended while transcribing are the whole transcript: the episode is done. `dropped` is what
        the quality guard dropped, by reason (of a resumed run, what it dropped after the segments it resumed from).
        Returns the finished episode."""
        with self.database.transaction() as db:
            return self.move(
                db, episode_id, Status.DONE, error=None, source=Source.TRANSCRIBED, language=language, engine=engine,
                model=model, duration=duration, dropped_segments=counts_json(dropped),
            )  # fmt: skip

    def requeue_failed(self, episode_id: str) -> bool:
        """A failed episode back to 'new', forgetting its old media, e.g. when the feed fixed its enclosure.

        Returns False (and changes nothing) when the episode is not failed any more."""
        with self.database.transaction() as db:
            if locked_status(db, episode_id) != Status.FAILED:
                return False
            return self.move(db, episode_id, Status.NEW, error=None, media_path=None) is not None

    def get_episode(self, ref: str) -> Episode:
        """An episode by id or by a unique prefix of its id."""
        ref = str(ref).strip()
        rows = self.database.query(_EPISODE_BY_ID, {"id": ref})
        if not rows and len(ref) >= 4:
            rows = self.database.query(_EPISODE_SELECT.where(episodes.c.id.startswith(ref, autoescape=True)).limit(2))
            if len(rows) > 1:
                raise NotFound(f"episode id {ref!r} is ambiguous", "type more characters of the id")
        if not rows:
            raise NotFound(f"no episode with id {ref!r}", "run `fonoteca episodes` to see the ids")
        return Episode(**rows[0]._mapping)

    def episodes_by_ids(self, ids: Iterable[str]) -> dict[str, Episode]:
        """The episodes of these exact ids (a search's hits), one query per 500; ids not in the archive are absent."""
        wanted = list(dict.fromkeys(ids))
        found: dict[str, Episode] = {}
        for chunk in in_chunks(wanted):
            for row in self.database.query(_EPISODES_BY_IDS, {"ids": chunk}):
                found[row.id] = Episode(**row._mapping)
        return found

    def cards_by_ids(self, ids: Iterable[str]) -> dict[str, EpisodeCard]:
        """What a search hit says of the episodes of these exact ids (title, show, date); ids not in the archive are
        absent. A search reads it for its candidates (a hundred or two) and its page: reading their whole Episode
        objects took 2.8 ms for a hundred (bench/web.py's archive), these 0.8 ms."""
        found: dict[str, EpisodeCard] = {}
        for chunk in in_chunks(list(dict.fromkeys(ids))):
            for episode_id, title, show_title, published in self.database.query(_CARDS_BY_IDS, {"ids": chunk}):
                found[episode_id] = EpisodeCard(episode_id, title, show_title, published)
        return found

    def list_episodes(
        self,
        show_id: int | None = None,
        *,
        status: Status | Iterable[Status] | None = None,
        newest_first: bool = False,
        date_from: str | None = None,
        date_to: str | None = None,
    ) -> list[Episode]:
        statement = _EPISODE_SELECT
        if show_id is not None:
            statement = statement.where(episodes.c.show_id == show_id)
        if status is not None:
            statement = statement.where(episodes.c.status.in_([status] if isinstance(status, str) else list(status)))
        if date_from:
            statement = statement.where(episodes.c.published >= date_from)
        if date_to:
            statement = statement.where(func.substr(episodes.c.published, 1, 10) <= date_to)
        published, added = episodes.c.published, episodes.c.added_at
        if newest_first:
            published, added = published.desc(), added.desc()
        statement = statement.order_by(episodes.c.published.is_(None), published, added, episodes.c.id)
        return [Episode(**r._mapping) for r in self.database.query(statement)]

    def timeline(self, show_id: int | None = None) -> list[TimelineEntry]:
        """The transcribed episodes in date order, with only what a chart over the history needs (a word's trend
        reads them all on every request: a tenth of the time of list_episodes).

        Each thread keeps the last ones it read until the archive changes (Database.change_stamp). The stamp is read
        before the rows, so a commit between the two only makes the next call read them again, never keeps stale
        rows."""
        reader = self.database.reader()
        version = self.database.change_stamp()
        cached: tuple[Connection, object, dict[int | None, list[TimelineEntry]]] | None = getattr(
            self.database.per_thread, "timelines", None
        )
        if cached is None or cached[0] is not reader or cached[1] != version:
            cached = (reader, version, {})
            self.database.per_thread.timelines = cached
        if show_id not in cached[2]:
            statement = (
                select(
                    episodes.c.id, episodes.c.title, episodes.c.published, episodes.c.duration, episodes.c.kind,
                    episodes.c.show_id, counted.c.words,
                )
                .join_from(episodes, counted, counted.c.episode_id == episodes.c.id, isouter=True)
                .where(episodes.c.status == Status.DONE)
                .order_by(episodes.c.published.is_(None), episodes.c.published, episodes.c.added_at, episodes.c.id)
            )  # fmt: skip
            if show_id is not None:
                statement = statement.where(episodes.c.show_id == show_id)
            rows = self.database.query(statement)
            cached[2][show_id] = [TimelineEntry(r[0], r[1], r[2], r[3], _KINDS[r[4]], r[5], r[6] or 0) for r in rows]
        return list(cached[2][show_id])  # a copy: the caller may reorder or extend its list; the entries are frozen

    def delete_episode(self, episode_id: str) -> None:
        with self.database.transaction() as db:
            if db.execute(delete(episodes).where(episodes.c.id == episode_id)).rowcount:
                finished_changed(db)

    # -- statistics ---------------------------------------------------------------------------------------------

    def stats(self, show_id: int | None = None) -> Stats:
        """The seed's header: how many episodes are transcribed and how much audio time that is."""
        last_end = (
            select(func.max(segments_table.c.end)).where(segments_table.c.episode_id == episodes.c.id).scalar_subquery()
        )
        statement = (
            select(
                episodes.c.show_id,
                func.count().label("n"),
                func.coalesce(func.sum(func.coalesce(episodes.c.duration, last_end, 0)), 0).label("secs"),
            )
            .where(episodes.c.status == Status.DONE)
            .group_by(episodes.c.show_id)
        )
        if show_id is not None:
            statement = statement.where(episodes.c.show_id == show_id)
        per_show = {r.show_id: (r.n, float(r.secs)) for r in self.database.query(statement)}
        shows_listed = [s for s in self.list_shows() if show_id is None or s.id == show_id]
        by_show = [(s, *per_show.get(s.id, (0, 0.0))) for s in shows_listed]
        return Stats(
            episodes=sum(n for _, n, _ in by_show),
            seconds=sum(secs for _, _, secs in by_show),
            by_show=by_show,
        )

    def episodes_per_show(self, show_id: int | None = None) -> dict[int, int]:
        """{show id: how many episodes it has, whatever their status}, for every show (or the one given), in one
        query: a show without episodes is absent, so read it with `.get(show.id, 0)`."""
        statement = select(episodes.c.show_id, func.count()).group_by(episodes.c.show_id)
        if show_id is not None:
            statement = statement.where(episodes.c.show_id == show_id)
        return {r[0]: r[1] for r in self.database.query(statement)}

    def transcribed_since(self, seconds: float) -> float:
        """Seconds of audio of the episodes Whisper finished in the last `seconds` (the fleet's throughput)."""
        cutoff = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(time.time() - seconds))
        rows = self.database.query(
            select(func.coalesce(func.sum(episodes.c.duration), 0)).where(
                episodes.c.status == Status.DONE,
                episodes.c.source == Source.TRANSCRIBED,
                episodes.c.finished_at >= cutoff,
            )
        )
        return float(rows[0][0])

    def status_counts(self) -> dict[Status, int]:
        rows = self.database.query(select(episodes.c.status, func.count()).group_by(episodes.c.status))
        return {Status(r[0]): r[1] for r in rows}

    # -- what a search index must hold -------------------------------------------------------------------------

    def finished_revisions(self) -> dict[str, int]:
        """{episode id: transcript revision} of every finished episode: what a search index of the archive holds
        when it is up to date (each machine's index keeps its own record of what it holds: fonoteca.search.index)."""
        rows = self.database.query(
            select(episodes.c.id, episodes.c.transcript_rev).where(episodes.c.status == Status.DONE)
        )
        return {r[0]: r[1] for r in rows}

    def transcript_times(self) -> list[tuple[str, str | None]]:
        """(episode id, when its transcript last changed) of every finished episode, the longest unchanged first: the
        sitemap's pages, in an order where a change moves one episode to the end and leaves the others' places."""
        statement = (
            select(episodes.c.id, episodes.c.transcript_at)
            .where(episodes.c.status == Status.DONE)
            .order_by(episodes.c.transcript_at.asc().nulls_first(), episodes.c.id)
        )
        return [(r[0], r[1]) for r in self.database.query(statement)]

    def finished_version(self) -> int:
        """A number that grows whenever an episode is finished, gets another transcript while finished, or is deleted
        (by any process): a search index reads it before every search, and reads finished_revisions() only when it
        moved."""
        return int(self.database.query(_FINISHED_VERSION)[0][0])


# An episode's kind by its stored value: a dict lookup, where calling the enum (its metaclass, then __new__) took ~35 ms
# of the 7,500 entries of a 15,000-hour timeline, which the first search by meaning of a process reads.
_KINDS: dict[str, EpisodeKind] = {kind.value: kind for kind in EpisodeKind}
_EPISODE_SELECT = select(episodes, shows.c.title.label("show_title")).join_from(
    episodes, shows, shows.c.id == episodes.c.show_id
)
# The reads of every page and search, built once with parameters: building a statement for each call costs more than
# running it.
_EPISODE_BY_ID = _EPISODE_SELECT.where(episodes.c.id == bindparam("id"))
_EPISODES_BY_IDS = _EPISODE_SELECT.where(episodes.c.id.in_(bindparam("ids", expanding=True)))
_CARDS_BY_IDS = (
    select(episodes.c.id, episodes.c.title, shows.c.title, episodes.c.published)
    .join_from(episodes, shows, shows.c.id == episodes.c.show_id)
    .where(episodes.c.id.in_(bindparam("ids", expanding=True)))
)
_FINISHED_VERSION = select(finished.c.version)


def episode_update(episode_id: str) -> Any:
    """UPDATE of one episode that also stamps its updated_at."""
    return update(episodes).where(episodes.c.id == episode_id).values(updated_at=utc_now())


# An episode's row as a write returns it (RETURNING takes no join: the show's title is a subquery).
EPISODE_ROW = (
    *episodes.c,
    select(shows.c.title).where(shows.c.id == episodes.c.show_id).scalar_subquery().label("show_title"),
)


def _returned(result: Any) -> Episode | None:
    """The episode a write's RETURNING gave back, None when it changed no row."""
    row = result.first()
    return Episode(**row._mapping) if row is not None else None


def finished_changed(db: Connection) -> None:
    """Move Archive.finished_version, inside the transaction that changed what a search index must hold."""
    db.execute(update(finished).values(version=finished.c.version + 1))


def locked_status(db: Connection, episode_id: str) -> Status | None:
    """The episode's status, its row locked until the transaction ends (None: no such episode)."""
    status = db.scalar(select(episodes.c.status).where(episodes.c.id == episode_id).with_for_update())
    return Status(status) if status is not None else None


def counts_json(counts: Mapping[str, int] | None) -> str | None:
    return json.dumps(dict(sorted(counts.items()))) if counts else None


def _unique_slug(db: Connection, base: str) -> str:
    slug, n = base, 2
    while db.execute(select(shows.c.id).where(shows.c.slug == slug)).first():
        slug, n = f"{base}-{n}", n + 1
    return slug


Member = TypeVar("Member", bound=StrEnum)


def member(enum: type[Member], value: str, what: str) -> Member:
    """The enum member for `value`: a value outside it is a programming error, named here instead of surfacing as a
    failed CHECK constraint (which would read as a damaged archive)."""
    try:
        return enum(value)
    except ValueError:
        raise ValueError(f"unknown {what} {value!r}; one of {', '.join(enum)}") from None


def _changed(columns: dict[str, object]) -> dict[str, object]:
    """The columns whose value is not UNCHANGED."""
    return {name: value for name, value in columns.items() if value is not UNCHANGED}


_Value = TypeVar("_Value")


def _given(value: _Value | Unchanged, default: _Value) -> _Value:
    return default if value is UNCHANGED else value
