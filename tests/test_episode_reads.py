"""What the archive is asked while one episode is worked on: its writes hand the episode back as they leave it, so
`fonoteca add` of a one-episode feed reads the episode's row at most twice between the episode's claim and release
(counted on every SQLAlchemy engine of the process, the archive's reader and writer included)."""

from __future__ import annotations

import re
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from fixtures_web import DEMO_MEDIA
from sqlalchemy import event
from sqlalchemy.engine import Engine

from fonoteca.app import Fonoteca
from fonoteca.settings import Settings

READS_EPISODES = re.compile(r"^\s*SELECT\b.*?\bFROM episodes\b", re.IGNORECASE | re.DOTALL)


@contextmanager
def statements() -> Iterator[list[str]]:
    """Every SQL statement run meanwhile, in order."""
    seen: list[str] = []

    def record(_connection: Any, _cursor: Any, statement: str, *_: Any) -> None:
        seen.append(statement)

    event.listen(Engine, "before_cursor_execute", record)
    try:
        yield seen
    finally:
        event.remove(Engine, "before_cursor_execute", record)


def _between_claim_and_release(seen: list[str]) -> list[str]:
    claim = next(n for n, s in enumerate(seen) if s.lstrip().upper().startswith("INSERT INTO CLAIMS"))
    release = next(n for n, s in enumerate(seen) if n > claim and s.lstrip().upper().startswith("DELETE FROM CLAIMS"))
    return seen[claim + 1 : release]


def test_adding_a_one_episode_feed_reads_the_episode_row_at_most_twice_between_claim_and_release(
    settings: Settings, http_server
) -> None:
    audio = http_server.add("jfk.flac", DEMO_MEDIA / "jfk.flac", "audio/flac")
    feed = http_server.add(
        "feed.xml",
        f"""<?xml version="1.0"?><rss version="2.0"><channel><title>Uno</title><item><title>JFK</title><guid>jfk</guid>
        <enclosure url="{audio}" type="audio/flac" length="1"/></item></channel></rss>""".encode(),
        "application/rss+xml",
    )
    with Fonoteca(settings.replace(embeddings="none")) as fonoteca, statements() as seen:
        _, report = fonoteca.add(feed)
    assert (report.added, report.transcribed, report.failed) == (1, 1, [])
    work = _between_claim_and_release(seen)
    updates = [s for s in work if s.lstrip().upper().startswith("UPDATE EPISODES")]
    assert len(updates) >= 3  # downloaded, transcribing, each segment, done: each write hands the episode back
    reads = [s for s in work if READS_EPISODES.match(s)]
    assert len(reads) <= 2, reads
