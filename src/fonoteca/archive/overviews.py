"""Episodes at a glance (`OverviewStore`): chapters, key moments and topics.

The publisher's chapters are stored when the episode is read from its feed, file or platform, and replaced only by the
publisher's own newer list. Generated chapters, key moments and topics are made once per transcript revision
(fonoteca.meaning.glance) and stored in one commit with the `overviews` row naming that revision and the method; a
transcript that changes makes the episode pending again, one that does not keeps them.
"""

from __future__ import annotations

from collections.abc import Sequence

from sqlalchemy import delete, insert, or_, select

from fonoteca.archive.database import Database, in_chunks
from fonoteca.archive.models import Chapter, ChapterSource, KeyMoment, Overview, Status, Topic
from fonoteca.archive.tables import chapters, episodes, key_moments, overviews, topics, utc_now


class OverviewStore:
    def __init__(self, database: Database) -> None:
        self.database = database

    def pending(self, method: str) -> list[tuple[str, int]]:
        """(episode_id, transcript_rev) of finished episodes with no overview of their current transcript by
        `method`, oldest first."""
        o = overviews.c
        rows = self.database.query(
            select(episodes.c.id, episodes.c.transcript_rev)
            .join_from(episodes, overviews, o.episode_id == episodes.c.id, isouter=True)
            .where(
                episodes.c.status == Status.DONE,
                or_(o.episode_id.is_(None), o.transcript_rev != episodes.c.transcript_rev, o.method != method),
            )
            .order_by(episodes.c.published.is_(None), episodes.c.published, episodes.c.id)
        )
        return [(r[0], r[1]) for r in rows]

    def save_overview(self, overview: Overview) -> bool:
        """Store generated chapters, key moments and topics in one commit, replacing the episode's earlier ones (the
        publisher's chapters stay). Nothing is stored when the episode's transcript changed since it was read (it is
        pending again); returns whether it was stored."""
        episode_id = overview.episode_id
        with self.database.transaction() as db:
            current = db.scalar(select(episodes.c.transcript_rev).where(episodes.c.id == episode_id))
            if current != overview.transcript_rev:
                return False
            db.execute(
                delete(chapters).where(
                    chapters.c.episode_id == episode_id, chapters.c.source == ChapterSource.GENERATED
                )
            )
            db.execute(delete(key_moments).where(key_moments.c.episode_id == episode_id))
            db.execute(delete(topics).where(topics.c.episode_id == episode_id))
            generated = [c for c in overview.chapters if c.source == ChapterSource.GENERATED]
            if generated:
                db.execute(insert(chapters), _chapter_rows(episode_id, generated))
            if overview.moments:
                db.execute(
                    insert(key_moments),
                    [
                        {"episode_id": episode_id, "idx": i, "start": m.start, "end": m.end, "quote": m.quote}
                        for i, m in enumerate(overview.moments)
                    ],
                )
            if overview.topics:
                db.execute(
                    insert(topics),
                    [
                        {"episode_id": episode_id, "rank": i, "term": t.term, "count": t.count, "score": t.score}
                        for i, t in enumerate(overview.topics)
                    ],
                )
            statement = self.database.insert(overviews).values(
                episode_id=episode_id, transcript_rev=overview.transcript_rev, method=overview.method
            )
            db.execute(
                statement.on_conflict_do_update(
                    index_elements=[overviews.c.episode_id],
                    set_={
                        "transcript_rev": statement.excluded.transcript_rev,
                        "method": statement.excluded.method,
                        "made_at": utc_now(),
                    },
                )
            )
        return True

    def save_publisher_chapters(self, episode_id: str, found: Sequence[Chapter]) -> None:
        """The publisher's chapters of the episode, as given: they replace the publisher's earlier list. An empty list
        changes nothing (a feed that stopped listing them does not take them away)."""
        if not found:
            return
        with self.database.transaction() as db:
            db.execute(
                delete(chapters).where(
                    chapters.c.episode_id == episode_id, chapters.c.source == ChapterSource.PUBLISHER
                )
            )
            db.execute(insert(chapters), _chapter_rows(episode_id, found, ChapterSource.PUBLISHER))

    def has_publisher_chapters(self, episode_id: str) -> bool:
        c = chapters.c
        return bool(
            self.database.query(
                select(c.idx).where(c.episode_id == episode_id, c.source == ChapterSource.PUBLISHER).limit(1)
            )
        )

    def chapters(self, episode_id: str) -> list[Chapter]:
        """The episode's chapters in order: the publisher's when there are any, else the generated ones (each with its
        end: the next one's start, the last one's own or None)."""
        return self._chapters([episode_id]).get(episode_id, [])

    def _chapters(self, episode_ids: Sequence[str]) -> dict[str, list[Chapter]]:
        """`chapters` of each of the episodes that have some."""
        found: dict[str, list[Chapter]] = {}
        for chunk in in_chunks(list(episode_ids)):
            rows = self.database.query(
                select(chapters)
                .where(chapters.c.episode_id.in_(chunk))
                .order_by(chapters.c.episode_id, chapters.c.source, chapters.c.idx)
            )
            for r in rows:
                found.setdefault(r.episode_id, []).append(_chapter(r))
        return {
            episode_id: [c for c in listed if c.source == ChapterSource.PUBLISHER] or listed
            for episode_id, listed in found.items()
        }

    def overview(self, episode_id: str) -> Overview | None:
        """The episode at a glance as stored (None: nothing yet). Generated chapters, key moments and topics of an
        older transcript are never given (their quotes may not be in the current one): until they are remade the
        overview is not `current` and holds only the publisher's chapters, if any."""
        return self.overviews([episode_id]).get(episode_id)

    def overviews(self, episode_ids: Sequence[str]) -> dict[str, Overview]:
        """`overview` of each of the episodes that have one, in a few statements for any number of them (a show's
        feed reads a thousand)."""
        o = overviews.c
        made: dict[str, tuple[int, str]] = {}
        moments: dict[str, list[KeyMoment]] = {}
        for chunk in in_chunks(list(episode_ids)):
            for r in self.database.query(
                select(o.episode_id, o.transcript_rev, o.method)
                .join_from(overviews, episodes, episodes.c.id == o.episode_id)
                .where(o.episode_id.in_(chunk), o.transcript_rev == episodes.c.transcript_rev)
            ):
                made[r.episode_id] = (r.transcript_rev, r.method)
        for chunk in in_chunks(list(made)):
            for r in self.database.query(
                select(key_moments)
                .where(key_moments.c.episode_id.in_(chunk))
                .order_by(key_moments.c.episode_id, key_moments.c.idx)
            ):
                moments.setdefault(r.episode_id, []).append(KeyMoment(r.start, r.end, r.quote))
        shown_chapters = self._chapters(episode_ids)
        topics_of = self.topics(list(made))
        found: dict[str, Overview] = {}
        for episode_id in episode_ids:
            shown = shown_chapters.get(episode_id, [])
            if episode_id in made:
                rev, method = made[episode_id]
                found[episode_id] = Overview(
                    episode_id, rev, method, shown, moments.get(episode_id, []), topics_of.get(episode_id, [])
                )
            elif publisher := [c for c in shown if c.source == ChapterSource.PUBLISHER]:
                found[episode_id] = Overview(episode_id, 0, "", publisher, [], [], current=False)
        return found

    def topics(self, episode_ids: Sequence[str]) -> dict[str, list[Topic]]:
        """{episode_id: its topics, most distinctive first} for the episodes that have some of their current
        transcript (a show's page)."""
        out: dict[str, list[Topic]] = {}
        for chunk in in_chunks(list(episode_ids)):
            rows = self.database.query(
                select(topics)
                .join_from(topics, overviews, overviews.c.episode_id == topics.c.episode_id)
                .join(episodes, episodes.c.id == topics.c.episode_id)
                .where(topics.c.episode_id.in_(chunk), overviews.c.transcript_rev == episodes.c.transcript_rev)
                .order_by(topics.c.episode_id, topics.c.rank)
            )
            for r in rows:
                out.setdefault(r.episode_id, []).append(Topic(r.term, r.count, r.score))
        return out


def _chapter_rows(
    episode_id: str, found: Sequence[Chapter], source: ChapterSource | None = None
) -> list[dict[str, object]]:
    return [
        {
            "episode_id": episode_id,
            "source": source or c.source,
            "idx": i,
            "start": c.start,
            "end": c.end,
            "title": c.title,
            "url": c.url,
            "image": c.image,
            "toc": int(c.toc),
        }  # fmt: skip
        for i, c in enumerate(sorted(found, key=lambda c: c.start))
    ]


def _chapter(row: object) -> Chapter:
    r = row._mapping  # type: ignore[attr-defined]
    return Chapter(
        start=r["start"], title=r["title"], end=r["end"], source=ChapterSource(r["source"]), url=r["url"],
        image=r["image"], toc=bool(r["toc"]),
    )  # fmt: skip
