"""Transcripts (`TranscriptStore`): an episode's segments, appended as they are transcribed (resumable) or swapped in
whole (an import, a re-transcription), and read back by page. A changed transcript moves the episode's
`transcript_rev`, and forgets its passages' vectors.
"""

from __future__ import annotations

import functools
import json
from collections.abc import Iterable, Iterator, Mapping
from itertools import islice
from typing import Any

from sqlalchemy import Connection, Row, Select, and_, bindparam, delete, func, insert, literal, null, or_, select

from fonoteca.archive.claims import ClaimStore, EpisodeBusy
from fonoteca.archive.corrections import settle
from fonoteca.archive.database import Database
from fonoteca.archive.episodes import EpisodeStore, counts_json, episode_update, finished_changed, member
from fonoteca.archive.models import DamagedTranscript, Segment, Source, Status, Word
from fonoteca.archive.tables import diarizations, episode_speakers, episodes, speaker_turns, utc_now
from fonoteca.archive.tables import segments as segments_table
from fonoteca.archive.vectors import forget_vectors


class TranscriptStore:
    """The segments of the archive's episodes; the episodes' status moves and claims are those of `episodes` and
    `claims`."""

    def __init__(self, database: Database, episodes: EpisodeStore, claims: ClaimStore) -> None:
        self.database = database
        self.episodes = episodes
        self.claims = claims

    def append_segments(self, episode_id: str, segments: Iterable[Segment], *, at: int | None = None) -> int:
        """Commit segments after those already stored (resumable transcription). Returns how many were added.

        `at` is the index the writer expects its first segment to get: if the episode has more segments than that,
        another process wrote them, and appending would duplicate the transcript, so EpisodeBusy is raised. Writing
        to an episode another live process has claimed is refused the same way. Nothing to append changes nothing."""
        segments = list(segments)
        if not segments:
            return 0
        with self.database.transaction() as db:
            # The episode's row is written first: that locks it until the commit, and gives back its status.
            status = db.scalar(
                episode_update(episode_id)
                .values(transcript_rev=episodes.c.transcript_rev + 1, transcript_at=utc_now())
                .returning(episodes.c.status)
            )
            if status is None:
                return 0
            self.claims.refuse_if_held_elsewhere(db, episode_id)
            next_idx = db.execute(
                select(func.coalesce(func.max(segments_table.c.idx) + 1, 0)).where(
                    segments_table.c.episode_id == episode_id
                )
            ).scalar_one()
            if at is not None and at != next_idx:
                raise EpisodeBusy(
                    f"episode {episode_id} has {next_idx} segments where this process wrote {at}: another process "
                    "is transcribing it",
                    "let it finish; `fonoteca check` finds transcripts damaged by earlier versions",
                )
            added = insert_segments(db, episode_id, segments, first_idx=next_idx)
            settle(db, episode_id, from_idx=next_idx)  # the show's correction rules, on the new lines
            if status == Status.DONE:
                finished_changed(db)
            forget_vectors(db, episode_id)
            self.claims.beat(db, episode_id)
        return added

    def replace_transcript(
        self,
        episode_id: str,
        segments: Iterable[Segment],
        *,
        source: Source,
        language: str | None = None,
        duration: float | None = None,
        engine: str | None = None,
        model: str | None = None,
        dropped: Mapping[str, int] | None = None,
    ) -> int:
        """Swap in a whole transcript in one commit (an import, a text post's paragraphs, a re-transcription), and
        mark the episode done with where the transcript came from. Returns how many segments it has.

        `duration` None keeps the one the episode has; `engine` and `model` are Whisper's (None for imports)."""
        source = member(Source, source, "transcript source")
        with self.database.transaction() as db:
            self.claims.refuse_if_held_elsewhere(db, episode_id)
            done = self.episodes.move(
                db, episode_id, Status.DONE, transcript_rev=episodes.c.transcript_rev + 1, transcript_at=utc_now(),
                error=None, source=source,
                language=language, engine=engine, model=model, dropped_segments=counts_json(dropped),
                duration=func.coalesce(literal(duration, episodes.c.duration.type), episodes.c.duration),
            )  # fmt: skip
            if done is None:
                return 0
            db.execute(delete(segments_table).where(segments_table.c.episode_id == episode_id))
            for found in (diarizations, speaker_turns, episode_speakers):  # the speaker step is of the old transcript
                db.execute(delete(found).where(found.c.episode_id == episode_id))
            count = insert_segments(db, episode_id, segments, first_idx=0)
            settle(db, episode_id, reanchor=True)  # the show's rules, and the lines fixed by hand kept
            forget_vectors(db, episode_id)
        return count

    def segments(
        self, episode_id: str, *, words: bool = True, first: int = 0, last: int | None = None
    ) -> list[Segment]:
        """The episode's segments in order, from index `first` to `last` (inclusive; None: to the end); `words=False`
        leaves out their word timestamps (None), which a page of lines never shows and whose JSON is most of the time
        of reading a long transcript that has them."""
        statement = _SEGMENTS_WITH_WORDS if words else _SEGMENTS
        bounds = {"episode_id": episode_id, "first": first, "last": last if last is not None else 2**31 - 1}
        return [_segment(r) for r in self.database.query(statement, bounds)]

    def passages(self, spans: Iterable[tuple[str, int, int]]) -> dict[tuple[str, int, int], list[Segment]]:
        """The segments (without their word timestamps) of each (episode id, first idx, last idx) span, in order, read
        in one query: a page of hits found by meaning shows ~20 passages, and a query each was a fifth of a hybrid
        search's time."""
        wanted = sorted(set(spans))
        if not wanted:
            return {}
        bounds = {f"{name}{n}": value for n, span in enumerate(wanted) for name, value in zip("efl", span, strict=True)}
        by_episode: dict[str, list[Segment]] = {}
        for row in self.database.query(_passages_statement(len(wanted)), bounds):
            by_episode.setdefault(row[0], []).append(_segment(row))
        return {
            (episode_id, first, last): [s for s in by_episode.get(episode_id, []) if first <= s.idx <= last]
            for episode_id, first, last in wanted
        }

    def iter_segments(self, episode_id: str, *, words: bool = True) -> Iterator[Segment]:
        """The episode's segments in order, read _READ_PAGE at a time: what reads a whole transcript (indexing,
        counting words) holds one page of a transcript of a million lines, not all of it."""
        first = 0
        while page := self.segments(episode_id, words=words, first=first, last=first + _READ_PAGE - 1):
            yield from page
            first = page[-1].idx + 1

    def speakers(self, show_id: int) -> dict[str, list[str]]:
        """{episode id: the speakers its finished transcript names, in the order they first speak} for one show."""
        first = func.min(segments_table.c.idx)
        rows = self.database.query(
            select(segments_table.c.episode_id, segments_table.c.speaker)
            .join(episodes, episodes.c.id == segments_table.c.episode_id)
            .where(episodes.c.show_id == show_id, episodes.c.status == Status.DONE)
            .where(segments_table.c.speaker.is_not(None))
            .group_by(segments_table.c.episode_id, segments_table.c.speaker)
            .order_by(segments_table.c.episode_id, first)
        )
        found: dict[str, list[str]] = {}
        for episode_id, speaker in rows:
            if speaker.strip():
                found.setdefault(episode_id, []).append(speaker.strip())
        return found

    def speaking_time(self, episode_id: str) -> list[tuple[str, float, int]]:
        """(speaker, seconds of their lines, 1) of one episode, most speaking time first; lines without a speaker are
        not counted. A show's come from the search index (Fonoteca.speaking_time): summing every segment of a long
        history here took seconds (bench/speaking_time.py)."""
        seconds = func.sum(segments_table.c.end - segments_table.c.start)
        rows = self.database.query(
            select(segments_table.c.speaker, seconds)
            .where(segments_table.c.episode_id == episode_id, segments_table.c.speaker.is_not(None))
            .group_by(segments_table.c.speaker)
            .order_by(seconds.desc(), segments_table.c.speaker)
        )
        return [(name, float(total or 0.0), 1) for name, total in rows if name.strip()]

    def last_segment_end(self, episode_id: str) -> float:
        rows = self.database.query(
            select(func.max(segments_table.c.end)).where(segments_table.c.episode_id == episode_id)
        )
        return float(rows[0][0] or 0.0)

    def said_at(self, episode_id: str, second: float) -> Segment | None:
        """The segment being said at `second` of the episode (the last one to start at or before it), if any."""
        rows = self.database.query(
            _SAID_AT, {"episode_id": episode_id, "second": second, "first": 0, "last": 2**31 - 1}
        )
        return _segment(rows[0]) if rows else None

    def segment_count(self, episode_id: str) -> int:
        return self.database.query(select(func.count()).where(segments_table.c.episode_id == episode_id))[0][0]

    def transcript_text(self, episode_id: str) -> str:
        return "\n".join(s.text.strip() for s in self.segments(episode_id))

    def damaged_transcripts(self) -> list[DamagedTranscript]:
        """Whisper's transcripts with repeated segments (same start and text), or segments that go back in time by
        more than half a second: the mark of two processes having transcribed the episode at once, which transcribing
        it again (`retry --force`) repairs. A publisher's, a platform's or an imported transcript is the file as it
        was written: its repeated cues (a caption shown twice, a line said twice) are the publisher's, and there is
        no audio to transcribe it again from, so it is never called damaged."""
        # Plain SQL that both databases speak: window functions over common table expressions.
        rows = self.database.query(
            """
            WITH ordered AS (
                SELECT s.episode_id, s.start, s.text,
                       LAG(s."end") OVER (PARTITION BY s.episode_id ORDER BY s.idx) AS previous_end
                FROM segments s JOIN episodes e ON e.id = s.episode_id
                WHERE e.source = 'transcribed'
            ),
            repeats AS (
                SELECT episode_id, COUNT(*) - 1 AS extra FROM ordered
                GROUP BY episode_id, start, text HAVING COUNT(*) > 1
            ),
            damage AS (
                SELECT episode_id, SUM(extra) AS duplicated, 0 AS overlapping FROM repeats GROUP BY episode_id
                UNION ALL
                SELECT episode_id, 0, COUNT(*) FROM ordered
                WHERE start < previous_end - 0.5 GROUP BY episode_id
            )
            SELECT d.episode_id, s.title AS show_title, e.title, SUM(d.duplicated), SUM(d.overlapping)
            FROM damage d JOIN episodes e ON e.id = d.episode_id JOIN shows s ON s.id = e.show_id
            GROUP BY d.episode_id, s.title, e.title, e.published, e.id ORDER BY s.title, e.published, e.id
            """
        )
        return [DamagedTranscript(r[0], r[1], r[2], int(r[3]), int(r[4])) for r in rows]


_SEGMENT_COLUMNS = (
    *(segments_table.c[name] for name in ("episode_id", "idx", "start", "end", "text", "speaker", "said")),
    null().label("words"),
)
_SEGMENTS = (
    select(*_SEGMENT_COLUMNS)
    .where(
        segments_table.c.episode_id == bindparam("episode_id"),
        segments_table.c.idx.between(bindparam("first"), bindparam("last")),
    )
    .order_by(segments_table.c.idx)
)
_SEGMENTS_WITH_WORDS = _SEGMENTS.with_only_columns(
    *(segments_table.c[name] for name in ("episode_id", "idx", "start", "end", "text", "speaker", "said", "words"))
)


_SAID_AT = (
    _SEGMENTS.where(segments_table.c.start <= bindparam("second"))
    .order_by(None)
    .order_by(segments_table.c.start.desc(), segments_table.c.idx.desc())
    .limit(1)
)


@functools.lru_cache(maxsize=64)
def _passages_statement(count: int) -> Select[Any]:
    """The segments of `count` (episode, first idx, last idx) spans (parameters e0, f0, l0, e1 …), one range each on
    the (episode_id, idx) key: built once per count, where building the expression for every page of hits took longer
    than its query."""
    within = or_(
        *(
            and_(
                segments_table.c.episode_id == bindparam(f"e{n}"),
                segments_table.c.idx.between(bindparam(f"f{n}"), bindparam(f"l{n}")),
            )
            for n in range(count)
        )
    )
    return select(*_SEGMENT_COLUMNS).where(within).order_by(segments_table.c.episode_id, segments_table.c.idx)


def _segment(row: Row[Any]) -> Segment:
    episode_id, idx, start, end, text_, speaker, said, stored = row  # _SEGMENTS' columns, by position: the fastest
    words = json.loads(stored) if stored else None
    return Segment(
        start=start,
        end=end,
        text=text_,
        words=[tuple(w) for w in words] if words else None,
        speaker=speaker,
        idx=idx,
        episode_id=episode_id,
        said=said,
    )


# Rows a statement inserts at once: a transcript of a million cues is written in batches, not held as a million rows.
_INSERT_BATCH = 10_000
_READ_PAGE = 10_000


def insert_segments(db: Connection, episode_id: str, segments: Iterable[Segment], *, first_idx: int) -> int:
    """Insert `segments` numbered from `first_idx`, in executemany batches of _INSERT_BATCH (a long imported
    transcript has thousands); returns how many."""
    count = 0
    todo = iter(segments)
    while batch := list(islice(todo, _INSERT_BATCH)):
        rows = [
            {
                "episode_id": episode_id, "idx": idx, "start": seg.start, "end": seg.end, "text": seg.text,
                "words": _words_json(seg.words), "speaker": seg.speaker, "said": seg.said,
            }
            for idx, seg in enumerate(batch, start=first_idx + count)
        ]  # fmt: skip
        db.execute(insert(segments_table), rows)
        count += len(rows)
    return count


def _words_json(words: list[Word] | None) -> str | None:
    """Times to the hundredth, and Whisper's probability of each word (where it gave one) to the thousandth."""
    if not words:
        return None
    return json.dumps(
        [[round(w[0], 2), round(w[1], 2), w[2], *(round(float(p), 3) for p in w[3:])] for w in words],
        ensure_ascii=False,
    )
