"""Copying a whole archive into another database (`fonoteca migrate --to postgresql://…`): every table, in batches, in
an order where each row's references are already there, then checked table by table.

The copy can be interrupted and run again: each table is copied in primary-key order, one transaction per batch, so
what the target holds of a table is always a prefix of it, and a new run goes on after the target's last key. At the end
each table's rows are counted and hashed on both sides (in primary-key order, values in a canonical form), so a copy is
only reported whole when every row arrived unchanged.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from sqlalchemy import Table, func, select, tuple_

from fonoteca.archive.tables import metadata, shows
from fonoteca.errors import FonotecaError

if TYPE_CHECKING:
    from fonoteca.archive import Archive

BATCH_ROWS = 2000
# Not copied: which process is working on an episode (that belongs to the machine the source archive was used on), and
# the counters of changes a search index and the web server's caches follow (the copy has its own, from its first
# change on).
_NOT_COPIED = {"changes", "claims", "finished"}


@dataclass(frozen=True)
class TableCheck:
    """One table after a copy: rows and checksum on each side."""

    table: str
    source_rows: int
    target_rows: int
    source_checksum: str
    target_checksum: str

    @property
    def matches(self) -> bool:
        return self.source_rows == self.target_rows and self.source_checksum == self.target_checksum


def copied_tables() -> list[Table]:
    """The tables a copy carries, each after the tables it refers to."""
    return [table for table in metadata.sorted_tables if table.name not in _NOT_COPIED]


def copy_archive(
    source: Archive, target: Archive, *, on_progress: Callable[[int, int], None] | None = None
) -> list[TableCheck]:
    """Copy `source` into `target` (a new archive, or an interrupted copy of this one) and check every table."""
    if source.url == target.url:
        raise FonotecaError("the archive cannot be copied onto itself", "give another database with --to")
    _refuse_foreign_target(source, target)
    tables = copied_tables()
    totals = {table.name: _count(source, table) for table in tables}
    total, done = sum(totals.values()), 0
    for table in tables:
        already = _count(target, table)
        done += already
        for rows in _batches(source, table, after=_last_key(target, table)):
            with target.database.transaction() as db:
                db.execute(target.database.insert(table).on_conflict_do_nothing(), rows)
            done += len(rows)
            if on_progress:
                on_progress(min(done, total), total)
    if not target.is_sqlite:
        _continue_sequences(target, tables)
    if on_progress:
        on_progress(total, total)
    return [_check(source, target, table) for table in tables]


def _refuse_foreign_target(source: Archive, target: Archive) -> None:
    """A target that holds shows the source does not is another archive: copying into it would mix the two."""
    theirs = {(row.id, row.source) for row in target.database.query(select(shows.c.id, shows.c.source))}
    ours = {(row.id, row.source) for row in source.database.query(select(shows.c.id, shows.c.source))}
    if strangers := theirs - ours:
        example = sorted(strangers)[0][1]
        raise FonotecaError(
            f"{target.location} already holds another archive ({len(strangers)} shows this one lacks, e.g. {example})",
            "copy into an empty database, or into an interrupted copy of this same archive",
        )


def _key(table: Table) -> list[Any]:
    return list(table.primary_key.columns)


def _count(archive: Archive, table: Table) -> int:
    return int(archive.database.query(select(func.count()).select_from(table))[0][0])


def _last_key(archive: Archive, table: Table) -> tuple[Any, ...] | None:
    rows = archive.database.query(select(*_key(table)).order_by(*(c.desc() for c in _key(table))).limit(1))
    return tuple(rows[0]) if rows else None


def _batches(archive: Archive, table: Table, *, after: tuple[Any, ...] | None) -> Iterator[list[dict[str, Any]]]:
    """The table's rows after the key `after`, in key order, BATCH_ROWS at a time (keyset paging: every batch is one
    index range read, however far into the table)."""
    key = _key(table)
    while True:
        statement = select(table).order_by(*key).limit(BATCH_ROWS)
        if after is not None:
            statement = statement.where(tuple_(*key) > tuple_(*after))
        rows = archive.database.query(statement)
        if not rows:
            return
        yield [dict(row._mapping) for row in rows]
        after = tuple(rows[-1]._mapping[c.name] for c in key)


def _continue_sequences(archive: Archive, tables: list[Table]) -> None:
    """PostgreSQL hands out ids from a sequence that copied rows (which bring their own ids) did not move: each is set
    past the largest id copied, so the next show or message gets a new one."""
    with archive.database.transaction() as db:
        for table in tables:
            key = _key(table)
            if len(key) == 1 and key[0].type.python_type is int:
                largest = select(func.max(key[0])).scalar_subquery()
                sequence = func.pg_get_serial_sequence(table.name, key[0].name)
                db.execute(select(func.setval(sequence, func.coalesce(largest, 0) + 1, False)))


def _check(source: Archive, target: Archive, table: Table) -> TableCheck:
    source_rows, source_sum = _digest(source, table)
    target_rows, target_sum = _digest(target, table)
    return TableCheck(table.name, source_rows, target_rows, source_sum, target_sum)


def _digest(archive: Archive, table: Table) -> tuple[int, str]:
    """How many rows the table has, and a sha256 over all of them in key order, each value in a canonical form (a float
    as its shortest repr, bytes as hex), so both databases give the same digest for the same rows."""
    digest, rows = hashlib.sha256(), 0
    for batch in _batches(archive, table, after=None):
        for row in batch:
            digest.update(json.dumps([_canonical(row[c.name]) for c in table.columns], ensure_ascii=False).encode())
            digest.update(b"\n")
        rows += len(batch)
    return rows, digest.hexdigest()[:16]


def _canonical(value: object) -> object:
    if isinstance(value, bytes | memoryview):
        return bytes(value).hex()
    if isinstance(value, float):
        return repr(value)
    return value
