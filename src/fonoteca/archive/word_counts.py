"""Word counts (`WordCountStore`): per episode, how often each folded word and word pair is said, of which transcript
revision, and how many words it has: a word's trend over the history is one lookup (fonoteca.search.trends).
"""

from __future__ import annotations

import json
from operator import itemgetter

from sqlalchemy import Connection, bindparam, delete, func, or_, select, text

from fonoteca.archive.database import Database, in_chunks
from fonoteca.archive.models import Status
from fonoteca.archive.tables import counted, episodes
from fonoteca.archive.tables import term_counts as term_counts_table


class WordCountStore:
    def __init__(self, database: Database) -> None:
        self.database = database

    def episodes_to_count(self) -> list[tuple[str, int]]:
        """(episode_id, transcript_rev) of finished episodes whose word counts are missing or of an older revision."""
        rows = self.database.query(
            select(episodes.c.id, episodes.c.transcript_rev)
            .join_from(episodes, counted, counted.c.episode_id == episodes.c.id, isouter=True)
            .where(
                episodes.c.status == Status.DONE,
                or_(counted.c.transcript_rev.is_(None), counted.c.transcript_rev != episodes.c.transcript_rev),
            )
            .order_by(episodes.c.id)
        )
        return [(r[0], r[1]) for r in rows]

    def store_word_counts(self, episode_id: str, transcript_rev: int, term_counts: dict[str, int]) -> None:
        """Store the episode's word counts for trends, of this transcript revision, in one commit."""
        self.store_word_counts_many([(episode_id, transcript_rev, term_counts)])

    def store_word_counts_many(self, entries: list[tuple[str, int, dict[str, int]]]) -> None:
        """store_word_counts for a batch of episodes in one transaction. An episode whose transcript changed since
        it was counted keeps waiting in episodes_to_count (its revision is stored with its counts).

        The rows of the whole batch are inserted in key order, so the database touches each B-tree page once per
        batch instead of once per row, through the fastest path each database has: on SQLite one statement that reads
        the batch as JSON and sorts its rows itself (no Python object per row: a fifth less CPU than executemany of
        sorted tuples, and a fraction of their memory), on PostgreSQL COPY of sorted tuples. SQLAlchemy's executemany
        of dicts cost more than the insert."""
        if not entries:
            return
        ids = [episode_id for episode_id, _, _ in entries]
        with self.database.transaction() as db:
            known: set[str] = set()
            for chunk in in_chunks(ids):
                known |= set(db.scalars(select(counted.c.episode_id).where(counted.c.episode_id.in_(chunk))))
            for chunk in in_chunks(sorted(known)):  # only recounted episodes have old counts to remove
                db.execute(delete(term_counts_table).where(term_counts_table.c.episode_id.in_(chunk)))
            self._insert_counts(db, entries)
            statement = self.database.insert(counted)
            db.execute(
                statement.on_conflict_do_update(
                    index_elements=[counted.c.episode_id],
                    set_={"transcript_rev": statement.excluded.transcript_rev, "words": statement.excluded.words},
                ),
                [
                    {"episode_id": episode_id, "transcript_rev": rev, "words": _word_total(counts)}
                    for episode_id, rev, counts in entries
                ],
            )

    def _insert_counts(self, db: Connection, entries: list[tuple[str, int, dict[str, int]]]) -> None:
        """Insert the (term, episode_id, count) rows of `entries` inside `db`'s transaction, in term order."""
        if self.database.is_sqlite:
            batch = json.dumps({episode_id: counts for episode_id, _, counts in entries}, ensure_ascii=False)
            db.execute(_INSERT_COUNTS, {"batch": batch})
            return
        rows = [(term, episode_id, count) for episode_id, _, counts in entries for term, count in counts.items()]
        if not rows:
            return
        rows.sort(key=itemgetter(0))  # by term alone: comparing whole rows costs more than it gains
        with db.connection.driver_connection.cursor() as cursor, cursor.copy(_COPY_COUNTS) as copy:
            for row in rows:
                copy.write_row(row)

    def term_counts(self, term: str, show_id: int | None = None) -> dict[str, int]:
        """{episode_id: count} for one folded word or word pair.

        On SQLite the rows come as one JSON object, which SQLite writes and json.loads reads, both in C: a common word
        has a row in most episodes (8,000 at 15,000 hours), and a Python row for each, through SQLAlchemy, cost more
        than twice as much (the counts of a 10-word trend took ~28 ms, ~12 ms as JSON)."""
        params = {"term": term} if show_id is None else {"term": term, "show_id": show_id}
        if self.database.is_sqlite:
            statement = _TERM_COUNTS_JSON if show_id is None else _TERM_COUNTS_OF_SHOW_JSON
            return json.loads(self.database.query(statement, params)[0][0])
        rows = self.database.query(_TERM_COUNTS if show_id is None else _TERM_COUNTS_OF_SHOW, params)
        return {r[0]: r[1] for r in rows}

    def archive_counts(self, terms: list[str]) -> dict[str, int]:
        """{term: times said in the whole archive} of folded words and word pairs (the reference of keyness)."""
        out: dict[str, int] = {}
        c = term_counts_table.c
        for chunk in in_chunks(terms):
            rows = self.database.query(select(c.term, func.sum(c.count)).where(c.term.in_(chunk)).group_by(c.term))
            out.update((r[0], int(r[1])) for r in rows)
        return out

    def archive_words(self) -> int:
        """Words said in the whole archive, as counted."""
        return int(self.database.query(select(func.coalesce(func.sum(counted.c.words), 0)))[0][0])


# {episode_id: {term: count}} as JSON, each of its counts a row (SQLite's json_each), sorted by term.
_INSERT_COUNTS = text(
    "INSERT INTO term_counts (term, episode_id, count) "
    "SELECT said.key, episode.key, said.value FROM json_each(:batch) AS episode, json_each(episode.value) AS said "
    "ORDER BY said.key"
)
_COPY_COUNTS = "COPY term_counts (term, episode_id, count) FROM STDIN"
_TERM_COUNTS = select(term_counts_table.c.episode_id, term_counts_table.c.count).where(
    term_counts_table.c.term == bindparam("term")
)
_TERM_COUNTS_OF_SHOW = _TERM_COUNTS.join_from(
    term_counts_table, episodes, episodes.c.id == term_counts_table.c.episode_id
).where(episodes.c.show_id == bindparam("show_id"))
# The same counts as one row: SQLite's JSON object {episode_id: count} ('{}' when the term is never said).
_AS_JSON = func.json_group_object(term_counts_table.c.episode_id, term_counts_table.c.count)
_TERM_COUNTS_JSON = _TERM_COUNTS.with_only_columns(_AS_JSON)
_TERM_COUNTS_OF_SHOW_JSON = _TERM_COUNTS_OF_SHOW.with_only_columns(_AS_JSON)


def _word_total(term_counts: dict[str, int]) -> int:
    """The words an episode has, from its counts of folded words and word pairs ("a_b"; a word never holds "_")."""
    return sum(count for term, count in term_counts.items() if "_" not in term)
