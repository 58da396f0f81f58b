"""A show's speaking time per speaker (the show page's Speakers), beside the plain libraries it could be read with.

Builds one show of EPISODES finished episodes of SEGMENTS lines each (four speakers taking turns of seven lines),
indexes it, and times, each ROUNDS times, p50/p95 in ms:

- plain SQLite: `SELECT speaker, SUM(end - start), COUNT(DISTINCT episode_id) … GROUP BY speaker` over the show's
  segments, with sqlite3 on the archive's file (what reading it from the archive costs);
- plain tantivy: the same sums as one aggregation of the index's fast fields (terms per episode and speaker, sums of
  `seconds`), with tantivy's own API on fonoteca's index;
- fonoteca: `Fonoteca.speaking_time(show)`, what the show page calls (the tantivy aggregation and its Python).

Other work shares the machine while it runs: compare the ratios, not the milliseconds. Writes
bench/results/speaking-time.txt.

    python bench/speaking_time.py [--episodes 100] [--segments 2400] [--rounds 20]
"""

from __future__ import annotations

import argparse
import platform
import sqlite3
import sys
import tempfile
import time
from pathlib import Path

import tantivy
from archive import timed  # bench/archive.py's timing helper

from fonoteca.app import Fonoteca
from fonoteca.archive import Segment
from fonoteca.settings import Settings

NAMES = ("Midu", "Invitado 1", "Invitada 2", "SPEAKER_03")
RESULTS = Path(__file__).parent / "results" / "speaking-time.txt"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--episodes", type=int, default=100)
    parser.add_argument("--segments", type=int, default=2400)
    parser.add_argument("--rounds", type=int, default=20)
    args = parser.parse_args()
    home = Path(tempfile.mkdtemp(prefix="fonoteca-speaking-"))
    lines = []
    with Fonoteca(Settings.from_env(environ={}, home=home)) as app:
        archive = app.archive
        show, _ = archive.add_show(title="Bench", source="/tmp/bench-speakers", source_kind="folder")
        for n in range(args.episodes):
            episode, _ = archive.upsert_episode(show, guid=f"e{n}", title=f"E{n}", kind="audio",
                                                published="2024-03-01T10:00:00Z")  # fmt: skip
            segments = [Segment(start=i * 4.0, end=i * 4.0 + 4, text="hola qué tal, esto es una línea del episodio",
                                speaker=NAMES[(i // 7) % len(NAMES)]) for i in range(args.segments)]  # fmt: skip
            archive.replace_transcript(episode.id, segments, source="transcribed", language="es",
                                       duration=args.segments * 4.0)  # fmt: skip
        started = time.perf_counter()
        app.update_index()
        indexing = time.perf_counter() - started

        connection = sqlite3.connect(home / "fonoteca.db")
        sql = (
            'SELECT s.speaker, SUM(s."end" - s.start), COUNT(DISTINCT s.episode_id) FROM segments s '
            "JOIN episodes e ON e.id = s.episode_id WHERE e.show_id = ? AND e.status = 'done' "
            "AND s.speaker IS NOT NULL GROUP BY s.speaker"
        )
        plain_sql = timed(lambda: connection.execute(sql, (show.id,)).fetchall(), args.rounds)

        index = app.index.index
        query = tantivy.Query.term_query(app.index.schema, "show_id", show.id)
        aggregation = {
            "per_episode": {
                "terms": {"field": "episode_id", "size": 1_000_000},
                "aggs": {
                    "who": {
                        "terms": {"field": "speaker", "size": 100_000},
                        "aggs": {"seconds": {"sum": {"field": "seconds"}}},
                    }
                },
            }
        }
        plain_tantivy = timed(lambda: index.searcher().aggregate(query, aggregation), args.rounds)  # fmt: skip

        ours = timed(lambda: app.speaking_time(show.slug), args.rounds)
        by_sql = {name: round(seconds, 3) for name, seconds, _n in connection.execute(sql, (show.id,)).fetchall()}
        by_index = {name: seconds for name, seconds, _n in app.speaking_time(show.slug)}
        assert by_sql == by_index, (by_sql, by_index)

    total = args.episodes * args.segments
    lines += [
        f"speaking time per speaker of one show: {args.episodes} episodes x {args.segments} segments = {total:,} lines,"
        f" 4 speakers; {args.rounds} rounds; indexed in {indexing:.0f} s",
        f"python {sys.version.split()[0]}, {platform.platform()}; other work shared the 2 cores while it ran",
        "",
        f"{'':28}{'p50 ms':>10}{'p95 ms':>10}",
        f"{'plain SQLite GROUP BY':28}{plain_sql[0]:>10.1f}{plain_sql[1]:>10.1f}",
        f"{'plain tantivy aggregation':28}{plain_tantivy[0]:>10.1f}{plain_tantivy[1]:>10.1f}",
        f"{'fonoteca (show page)':28}{ours[0]:>10.1f}{ours[1]:>10.1f}",
        "",
        f"fonoteca / plain tantivy: {ours[0] / plain_tantivy[0]:.2f}x; plain SQLite / fonoteca: "
        f"{plain_sql[0] / ours[0]:.1f}x (the same sums: checked)",
    ]
    text = "\n".join(lines) + "\n"
    RESULTS.write_text(text)
    print(text, end="")


if __name__ == "__main__":
    main()
