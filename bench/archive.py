"""The archive's own cost on SQLite and on PostgreSQL, beside the plain driver (sqlite3, psycopg 3) running the same
statements: what SQLAlchemy Core and fonoteca's bookkeeping (claims, revisions, the finished counter, row locks) add.

Builds one archive per database of EPISODES episodes of SEGMENTS Whisper-sized lines each (through the Archive API),
then times, each many times over random episodes, p50/p95 in ms:

- commit: appending 10 segments to an episode being transcribed (what a transcription commits every ~30 s);
- page: reading 50 segments of an episode (a page of the episode view);
- episode: one episode by id;
- counts: one word's counts over every episode (a trend line);
- timeline: every finished episode for a chart, read again (SQLite's per-thread cache is cleared each time);
- version: the one-row read a search makes before answering.

PostgreSQL is a throwaway local cluster (tests/fixtures_pg.py: Debian's package), or the server of --database-url
(an empty database: its tables are made). Writes bench/results/archive.txt.

    python bench/archive.py [--episodes 300] [--segments 400] [--rounds 300] [--database-url URL]
"""

from __future__ import annotations

import argparse
import contextlib
import platform
import random
import sqlite3
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import numpy as np
import psycopg
from synthetic import make_vocabulary

from fonoteca.archive import Archive, Segment, database_url
from fonoteca.settings import Settings

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO / "tests"))
from fixtures_pg import throwaway_cluster  # noqa: E402 (the tests' own cluster, reused)


def percentiles(samples: list[float]) -> tuple[float, float]:
    ordered = sorted(samples)
    return ordered[len(ordered) // 2] * 1000, ordered[int(len(ordered) * 0.95)] * 1000


def timed(action: Callable[[], object], rounds: int) -> tuple[float, float]:
    samples = []
    for _ in range(rounds):
        start = time.perf_counter()
        action()
        samples.append(time.perf_counter() - start)
    return percentiles(samples)


def fill(archive: Archive, episodes: int, segments: int, vocabulary: list[str]) -> list[str]:
    """A show of finished episodes with word counts; returns their ids."""
    rng = random.Random(1)
    show, _ = archive.add_show(title="Bench", source="https://example.org/bench.xml", source_kind="feed")
    ids = []
    for n in range(episodes):
        episode, _ = archive.upsert_episode(
            show, guid=f"e{n}", title=f"Episodio {n}", kind="audio", published=f"20{10 + n // 100}-01-01T00:00:00Z"
        )
        lines = [Segment(i * 5.0, i * 5.0 + 4.8, " ".join(rng.choices(vocabulary, k=12))) for i in range(segments)]
        archive.replace_transcript(episode.id, lines, source="publisher", duration=segments * 5.0)
        archive.store_word_counts(episode.id, 1, {"ia": n % 7, "zarzuela": n % 3})
        ids.append(episode.id)
    return ids


class Plain:
    """The same statements through the bare driver, in the driver's own parameter style."""

    def __init__(self, archive: Archive) -> None:
        self.is_sqlite = archive.is_sqlite
        if archive.is_sqlite:
            self.db = sqlite3.connect(archive.path, isolation_level=None)
            self.mark = "?"
        else:
            url = archive.url
            self.db = psycopg.connect(
                host=url.host, port=url.port, user=url.username, dbname=url.database, autocommit=True
            )
            self.mark = "%s"

    def sql(self, statement: str) -> str:
        return statement.replace("?", self.mark)

    def rows(self, statement: str, params: tuple = ()) -> list:
        return self.db.execute(self.sql(statement), params).fetchall()

    def commit(self, episode_id: str, start: int) -> None:
        rows = [(episode_id, start + i, i * 1.0, i + 0.9, "hola y adiós", None, None) for i in range(10)]
        insert = 'INSERT INTO segments (episode_id, idx, start, "end", text, words, speaker) VALUES (?,?,?,?,?,?,?)'
        if self.is_sqlite:
            self.db.execute("BEGIN IMMEDIATE")
            self.db.executemany(insert, rows)
            self.db.execute("UPDATE episodes SET transcript_rev = transcript_rev + 1 WHERE id = ?", (episode_id,))
            self.db.execute("COMMIT")
        else:
            with self.db.transaction(), self.db.cursor() as cursor:
                cursor.executemany(self.sql(insert), rows)
                cursor.execute(self.sql("UPDATE episodes SET transcript_rev = transcript_rev + 1 WHERE id = ?"),
                               (episode_id,))  # fmt: skip


def measure(
    archive: Archive, ids: list[str], rounds: int
) -> list[tuple[str, tuple[float, float], tuple[float, float]]]:
    plain = Plain(archive)
    rng = random.Random(2)
    show = archive.list_shows()[0]
    growing, _ = archive.upsert_episode(show, guid="growing", title="En directo", kind="audio")
    archive.claim_episode(growing.id)
    plain_growing, _ = archive.upsert_episode(show, guid="plain", title="En directo (plain)", kind="audio")
    written = {"fonoteca": 0, "plain": 0}

    def commit_fonoteca() -> None:
        archive.append_segments(growing.id, [Segment(i * 1.0, i + 0.9, "hola y adiós") for i in range(10)])

    def commit_plain() -> None:
        plain.commit(plain_growing.id, written["plain"])
        written["plain"] += 10

    def page() -> tuple[str, int]:
        return rng.choice(ids), rng.randrange(0, 350)

    def timeline_fonoteca() -> None:
        with contextlib.suppress(AttributeError):
            del archive.database.per_thread.timelines  # read again, as after any commit
        archive.timeline()

    rows = [
        ("commit 10 segments", timed(commit_fonoteca, rounds), timed(commit_plain, rounds)),
        (
            "page of 50 segments",
            timed(lambda: archive.segments(ids[0], words=False, first=(p := page())[1], last=p[1] + 49), rounds),
            timed(
                lambda: plain.rows(
                    'SELECT episode_id, idx, start, "end", text, speaker FROM segments '
                    "WHERE episode_id = ? AND idx >= ? AND idx <= ? ORDER BY idx",
                    (ids[0], (p := page())[1], p[1] + 49),
                ),
                rounds,
            ),
        ),
        (
            "episode by id",
            timed(lambda: archive.get_episode(rng.choice(ids)), rounds),
            timed(
                lambda: plain.rows(
                    "SELECT e.*, s.title FROM episodes e JOIN shows s ON s.id = e.show_id WHERE e.id = ?",
                    (rng.choice(ids),),
                ),
                rounds,
            ),
        ),
        (
            "one word's counts",
            timed(lambda: archive.term_counts("ia"), rounds),
            timed(lambda: plain.rows("SELECT episode_id, count FROM term_counts WHERE term = ?", ("ia",)), rounds),
        ),
        (
            "timeline, uncached",
            timed(timeline_fonoteca, rounds // 5),
            timed(
                lambda: plain.rows(
                    "SELECT e.id, e.title, e.published, e.duration, e.kind, e.show_id, c.words FROM episodes e "
                    "LEFT JOIN counted c ON c.episode_id = e.id WHERE e.status = 'done' "
                    "ORDER BY e.published IS NULL, e.published, e.added_at, e.id"
                ),
                rounds // 5,
            ),
        ),
        (
            "finished version",
            timed(archive.finished_version, rounds),
            timed(lambda: plain.rows("SELECT version FROM finished"), rounds),
        ),
    ]
    plain.db.close()
    return rows


@contextlib.contextmanager
def postgresql(url: str | None) -> Iterator[str]:
    if url:
        yield url
        return
    with throwaway_cluster("fonoteca bench") as server:
        server.create_database("bench")
        yield server.url("bench")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--episodes", type=int, default=300)
    parser.add_argument("--segments", type=int, default=400)
    parser.add_argument("--rounds", type=int, default=300)
    parser.add_argument("--database-url", help="an empty PostgreSQL database (default: a throwaway local cluster)")
    args = parser.parse_args()
    vocabulary = make_vocabulary(5000, np.random.default_rng(0))
    lines = [
        f"# bench/archive.py — {args.episodes} episodes × {args.segments} segments, {args.rounds} rounds per row",
        f"# {platform.platform()}, Python {platform.python_version()}, {platform.processor() or platform.machine()}",
        "# p50 / p95 in ms; 'plain' is the bare driver (sqlite3, psycopg 3) running the same statements; PostgreSQL",
        "# on 127.0.0.1 (TCP, fsync off when it is the throwaway cluster)",
        "",
        f"{'operation':<22} {'database':<11} {'fonoteca p50':>13} {'p95':>8} {'plain p50':>10} {'p95':>8} {'×p50':>6}",
    ]
    with tempfile.TemporaryDirectory() as home, postgresql(args.database_url) as pg:
        for name, location in (("sqlite", Settings.from_env(environ={}, home=Path(home)).db_path), ("postgresql", pg)):
            with Archive(location) as archive:
                start = time.perf_counter()
                ids = fill(archive, args.episodes, args.segments, vocabulary)
                built = time.perf_counter() - start
                lines.append(
                    f"# {name}: archive built through the API in {built:.1f} s ({database_url(location).drivername})"
                )
                for operation, (ours50, ours95), (plain50, plain95) in measure(archive, ids, args.rounds):
                    lines.append(
                        f"{operation:<22} {name:<11} {ours50:>13.3f} {ours95:>8.3f} {plain50:>10.3f} {plain95:>8.3f} "
                        f"{ours50 / plain50 if plain50 else float('nan'):>6.1f}"
                    )
    text = "\n".join(lines) + "\n"
    print(text)
    (REPO / "bench" / "results" / "archive.txt").write_text(text)


if __name__ == "__main__":
    main()
