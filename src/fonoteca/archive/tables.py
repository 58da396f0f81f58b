"""The archive's tables as SQLAlchemy Core objects: what every statement of fonoteca.archive is built from, on SQLite
and on PostgreSQL alike.

On SQLite the tables are made by the shipped migrations of fonoteca.archive.schema (kept so that existing archives
upgrade in place, WITHOUT ROWID tables and all); on PostgreSQL by the Alembic baseline revision, which creates these
definitions. Both then follow the Alembic revisions after the baseline. Real columns are double precision everywhere:
SQLite's REAL is 8 bytes, and times in seconds (unix times among them) need them all.
"""

from __future__ import annotations

from sqlalchemy import (
    CheckConstraint,
    Column,
    Double,
    ForeignKey,
    Index,
    Integer,
    LargeBinary,
    MetaData,
    PrimaryKeyConstraint,
    Table,
    Text,
    UniqueConstraint,
    func,
)
from sqlalchemy.ext.compiler import compiles
from sqlalchemy.sql.expression import FunctionElement

from fonoteca.archive.models import (
    Captions,
    ChapterSource,
    EpisodeKind,
    Source,
    SourceKind,
    SpeakerNaming,
    SpeakerSource,
    Status,
)


class utc_now(FunctionElement):  # noqa: N801 (named like the SQL functions it stands beside)
    """The current UTC time as the archive stores it, ISO 8601 to the second ("2026-12-02T04:19:24Z"), computed by the
    database so that every writer of a shared archive stamps with one clock."""

    type = Text()
    inherit_cache = True


@compiles(utc_now, "sqlite")
def _utc_now_sqlite(element: utc_now, compiler: object, **kw: object) -> str:
    return "strftime('%Y-%m-%dT%H:%M:%SZ', 'now')"


@compiles(utc_now, "postgresql")
def _utc_now_postgresql(element: utc_now, compiler: object, **kw: object) -> str:
    return """to_char(now() AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS"Z"')"""


def _one_of(column: str, values: list[str]) -> CheckConstraint:
    return CheckConstraint(f"{column} IN ({', '.join(repr(str(v)) for v in values)})")


def _stamp(name: str) -> Column[str]:
    return Column(name, Text, nullable=False, server_default=utc_now())


metadata = MetaData()

shows = Table(
    "shows",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("slug", Text, nullable=False, unique=True),
    Column("title", Text, nullable=False),
    Column("source", Text, nullable=False, unique=True),
    Column("source_kind", Text, _one_of("source_kind", list(SourceKind)), nullable=False),
    Column("language", Text),
    Column("feed_language", Text),
    Column("description", Text, nullable=False, server_default=""),
    Column("link", Text, nullable=False, server_default=""),
    Column("image", Text, nullable=False, server_default=""),
    _stamp("added_at"),
    Column("synced_at", Text),
    Column("credentials", Text),
    Column(
        "captions", Text, _one_of("captions", list(Captions)), nullable=False, server_default=Captions.CREATOR.value
    ),
    # The secret path of the show's Podcasting 2.0 feed on a private archive (/feeds/<secret>/feed.xml): made when
    # first asked for, replaced when the owner rotates it.
    Column("feed_secret", Text),
    # 0: the speaker step leaves the show's episodes alone (`fonoteca speakers off SHOW`).
    Column("speakers", Integer, nullable=False, server_default="1"),
    # How many people speak in its episodes, when the owner knows (`fonoteca speakers count SHOW N`); NULL: found by
    # their voices.
    Column("speaker_count", Integer),
)

episodes = Table(
    "episodes",
    metadata,
    Column("id", Text, primary_key=True),
    Column("show_id", Integer, ForeignKey("shows.id", ondelete="CASCADE"), nullable=False),
    Column("guid", Text, nullable=False),
    Column("title", Text, nullable=False),
    Column("published", Text),
    Column("duration", Double),
    Column("kind", Text, _one_of("kind", list(EpisodeKind)), nullable=False),
    Column("media_url", Text),
    Column("media_path", Text),
    Column("media_type", Text),
    Column("description", Text, nullable=False, server_default=""),
    Column("link", Text, nullable=False, server_default=""),
    Column("transcript_url", Text),
    Column("transcript_type", Text),
    Column("status", Text, _one_of("status", list(Status)), nullable=False, server_default=Status.NEW.value),
    Column("error", Text),
    Column("source", Text, _one_of("source", list(Source))),
    Column("language", Text),
    Column("engine", Text),
    Column("model", Text),
    Column("transcript_rev", Integer, nullable=False, server_default="0"),
    _stamp("added_at"),
    _stamp("updated_at"),
    Column("image", Text, nullable=False, server_default=""),
    Column("dropped_segments", Text),
    Column("number", Integer),
    Column("finished_at", Text),
    Column("transcript_at", Text),  # when its segments last changed (the sitemap's lastmod)
    UniqueConstraint("show_id", "guid"),
    Index("episodes_show_published", "show_id", "published"),
    Index("episodes_status", "status"),
)

segments = Table(
    "segments",
    metadata,
    Column("episode_id", Text, ForeignKey("episodes.id", ondelete="CASCADE"), nullable=False),
    Column("idx", Integer, nullable=False),
    Column("start", Double, nullable=False),
    Column("end", Double, nullable=False),
    Column("text", Text, nullable=False),
    Column("words", Text),
    Column("speaker", Text),
    Column("said", Text),  # the line as transcribed, where a correction rule or an edit changed `text`
    PrimaryKeyConstraint("episode_id", "idx"),
)

# A show's own words, told to Whisper before it transcribes (fonoteca.transcribe.hints).
vocabulary = Table(
    "vocabulary",
    metadata,
    Column("show_id", Integer, ForeignKey("shows.id", ondelete="CASCADE"), nullable=False),
    Column("term", Text, nullable=False),
    Column("folded", Text, nullable=False),
    _stamp("added_at"),
    PrimaryKeyConstraint("show_id", "folded"),
)

# A show's correction rules (fonoteca.rules), applied in id order to every line's words as transcribed.
corrections = Table(
    "corrections",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("show_id", Integer, ForeignKey("shows.id", ondelete="CASCADE"), nullable=False),
    Column("wrong", Text, nullable=False),
    Column("folded", Text, nullable=False),
    Column("right", Text, nullable=False),
    _stamp("created_at"),
    UniqueConstraint("show_id", "folded"),
)

# Lines fixed by hand: who changed which line when, from what to what; a reverted edit stays as history. `start` and
# `end` find the line again after a re-transcription renumbers the segments.
line_edits = Table(
    "line_edits",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("episode_id", Text, ForeignKey("episodes.id", ondelete="CASCADE"), nullable=False),
    Column("idx", Integer, nullable=False),
    Column("start", Double, nullable=False),
    Column("end", Double, nullable=False),
    Column("before", Text, nullable=False),
    Column("after", Text, nullable=False),
    Column("editor", Text, nullable=False),
    _stamp("edited_at"),
    Column("reverted_at", Text),
    Column("reverted_by", Text),
    Index("line_edits_episode", "episode_id", "idx"),
)

# Which transcript revision the episode's word counts (term_counts) and word total are of.
counted = Table(
    "counted",
    metadata,
    Column("episode_id", Text, ForeignKey("episodes.id", ondelete="CASCADE"), primary_key=True),
    Column("transcript_rev", Integer, nullable=False),
    Column("words", Integer),
)

# One row: how many times the set of finished episodes or one of their transcripts changed (Archive.finished_version).
finished = Table(
    "finished",
    metadata,
    Column("id", Integer, CheckConstraint("id = 1"), primary_key=True),
    Column("version", Integer, nullable=False, server_default="0"),
)

# One row: a number every write that changes what a reader sees moves, and when it last moved. The web server's cache
# validators (ETag, Last-Modified) are read from it: a page can only change when it does (Archive.changes).
changes = Table(
    "changes",
    metadata,
    Column("id", Integer, CheckConstraint("id = 1"), primary_key=True),
    Column("counter", Integer, nullable=False, server_default="0"),
    Column("changed_at", Double, nullable=False, server_default="0"),  # seconds since the epoch, UTC
)

term_counts = Table(
    "term_counts",
    metadata,
    Column("term", Text, nullable=False),
    Column("episode_id", Text, ForeignKey("episodes.id", ondelete="CASCADE"), nullable=False),
    Column("count", Integer, nullable=False),
    PrimaryKeyConstraint("term", "episode_id"),
    Index("term_counts_episode", "episode_id"),
)

analyses = Table(
    "analyses",
    metadata,
    Column("episode_id", Text, ForeignKey("episodes.id", ondelete="CASCADE"), nullable=False),
    Column("kind", Text, nullable=False),
    Column("params", Text, nullable=False, server_default=""),
    Column("model", Text, nullable=False),
    Column("prompt_version", Text, nullable=False),
    Column("transcript_rev", Integer, nullable=False),
    Column("result", Text, nullable=False),
    _stamp("created_at"),
    PrimaryKeyConstraint("episode_id", "kind", "params"),
)

conversations = Table(
    "conversations",
    metadata,
    Column("id", Text, primary_key=True),
    Column("show_id", Integer, ForeignKey("shows.id", ondelete="SET NULL")),
    _stamp("created_at"),
    Column("episode_id", Text, ForeignKey("episodes.id", ondelete="SET NULL")),
)

messages = Table(
    "messages",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("conversation_id", Text, ForeignKey("conversations.id", ondelete="CASCADE"), nullable=False),
    Column("role", Text, _one_of("role", ["system", "user", "assistant"]), nullable=False),
    Column("content", Text, nullable=False),
    Column("citations", Text),
    _stamp("created_at"),
    Index("messages_conversation", "conversation_id", "id"),
)

claims = Table(
    "claims",
    metadata,
    Column("episode_id", Text, ForeignKey("episodes.id", ondelete="CASCADE"), primary_key=True),
    Column("holder", Text, nullable=False),
    Column("host", Text, nullable=False),
    Column("pid", Integer, nullable=False),
    _stamp("claimed_at"),
    Column("heartbeat", Double, nullable=False),
)

watches = Table(
    "watches",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("term", Text, nullable=False),
    Column("folded", Text, nullable=False),
    Column("show_id", Integer, ForeignKey("shows.id", ondelete="CASCADE")),
    _stamp("created_at"),
)
Index("watches_term_show", watches.c.folded, func.coalesce(watches.c.show_id, 0), unique=True)

watch_scans = Table(
    "watch_scans",
    metadata,
    Column("watch_id", Integer, ForeignKey("watches.id", ondelete="CASCADE"), nullable=False),
    Column("episode_id", Text, ForeignKey("episodes.id", ondelete="CASCADE"), nullable=False),
    Column("transcript_rev", Integer, nullable=False),
    PrimaryKeyConstraint("watch_id", "episode_id"),
    Index("watch_scans_episode", "episode_id"),
)

watch_batches = Table(
    "watch_batches",
    metadata,
    Column("id", Integer, primary_key=True),
    _stamp("created_at"),
    Column("attempts", Integer, nullable=False, server_default="0"),
    Column("next_attempt", Double, nullable=False),
    Column("last_error", Text),
    Column("delivered_at", Text),
)

mentions = Table(
    "mentions",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("watch_id", Integer, ForeignKey("watches.id", ondelete="CASCADE"), nullable=False),
    Column("episode_id", Text, ForeignKey("episodes.id", ondelete="CASCADE"), nullable=False),
    Column("transcript_rev", Integer, nullable=False),
    Column("start", Double, nullable=False),
    Column("sentence", Text, nullable=False),
    Column("count", Integer, nullable=False),
    _stamp("found_at"),
    Column("seen", Integer, nullable=False, server_default="0"),
    Column("batch_id", Integer, ForeignKey("watch_batches.id", ondelete="SET NULL")),
    UniqueConstraint("watch_id", "episode_id", "start", "sentence"),
    Index("mentions_episode", "episode_id"),
    Index("mentions_batch", "batch_id"),
)

vectors = Table(
    "vectors",
    metadata,
    Column("episode_id", Text, ForeignKey("episodes.id", ondelete="CASCADE"), nullable=False),
    Column("model", Text, nullable=False),
    Column("dim", Integer, nullable=False),
    Column("transcript_rev", Integer, nullable=False),
    Column("count", Integer, nullable=False),
    Column("spans", LargeBinary, nullable=False),
    Column("vectors", LargeBinary, nullable=False),
    Column("embedded_at", Double, nullable=False),
    PrimaryKeyConstraint("episode_id", "model"),
    Index("vectors_stamp", "model", "dim", "embedded_at"),
)

# An episode at a glance (fonoteca.archive.overviews): which transcript revision its generated chapters, key moments and
# topics were made from, and by which method (the passage vectors' embeddings model, or "words").
overviews = Table(
    "overviews",
    metadata,
    Column("episode_id", Text, ForeignKey("episodes.id", ondelete="CASCADE"), primary_key=True),
    Column("transcript_rev", Integer, nullable=False),
    Column("method", Text, nullable=False),
    _stamp("made_at"),
)

# The publisher's chapters (kept as they came, whatever the transcript) and the generated ones (of overviews' revision).
chapters = Table(
    "chapters",
    metadata,
    Column("episode_id", Text, ForeignKey("episodes.id", ondelete="CASCADE"), nullable=False),
    Column("source", Text, _one_of("source", list(ChapterSource)), nullable=False),
    Column("idx", Integer, nullable=False),
    Column("start", Double, nullable=False),
    Column("end", Double),
    Column("title", Text, nullable=False),
    Column("url", Text, nullable=False, server_default=""),
    Column("image", Text, nullable=False, server_default=""),
    Column("toc", Integer, nullable=False, server_default="1"),
    PrimaryKeyConstraint("episode_id", "source", "idx"),
)

key_moments = Table(
    "key_moments",
    metadata,
    Column("episode_id", Text, ForeignKey("episodes.id", ondelete="CASCADE"), nullable=False),
    Column("idx", Integer, nullable=False),
    Column("start", Double, nullable=False),
    Column("end", Double, nullable=False),
    Column("quote", Text, nullable=False),
    PrimaryKeyConstraint("episode_id", "idx"),
)

topics = Table(
    "topics",
    metadata,
    Column("episode_id", Text, ForeignKey("episodes.id", ondelete="CASCADE"), nullable=False),
    Column("rank", Integer, nullable=False),
    Column("term", Text, nullable=False),
    Column("count", Integer, nullable=False),
    Column("score", Double, nullable=False),
    PrimaryKeyConstraint("episode_id", "rank"),
)

# A show's library of named speakers (fonoteca.archive.speakers): a name once per show, with the voice print later
# episodes are matched against (None: named by an imported transcript without media to take a print from).
show_speakers = Table(
    "show_speakers",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("show_id", Integer, ForeignKey("shows.id", ondelete="CASCADE"), nullable=False),
    Column("name", Text, nullable=False),
    Column("folded", Text, nullable=False),
    Column("source", Text, _one_of("source", list(SpeakerSource)), nullable=False),
    Column("voice_print", LargeBinary),
    _stamp("created_at"),
    UniqueConstraint("show_id", "folded"),
)

# Which transcript of an episode the speaker step has done (its turns and voices below are of it); an episode
# transcribed again loses its row and is done again.
diarizations = Table(
    "diarizations",
    metadata,
    Column("episode_id", Text, ForeignKey("episodes.id", ondelete="CASCADE"), primary_key=True),
    Column("speakers", Integer, nullable=False),
    _stamp("made_at"),
)

# The voices found in an episode: number 0, 1, 2… in order of first appearance.
episode_speakers = Table(
    "episode_speakers",
    metadata,
    Column("episode_id", Text, ForeignKey("episodes.id", ondelete="CASCADE"), nullable=False),
    Column("number", Integer, nullable=False),
    Column("seconds", Double, nullable=False),
    Column("voice_print", LargeBinary),
    Column("show_speaker_id", Integer, ForeignKey("show_speakers.id", ondelete="SET NULL")),
    Column("naming", Text, _one_of("naming", list(SpeakerNaming))),
    Column("confidence", Double),
    PrimaryKeyConstraint("episode_id", "number"),
    Index("episode_speakers_show_speaker", "show_speaker_id"),
)

# Who speaks when in an episode (its segments are split where the speaker changes, so each lies in one turn).
speaker_turns = Table(
    "speaker_turns",
    metadata,
    Column("episode_id", Text, ForeignKey("episodes.id", ondelete="CASCADE"), nullable=False),
    Column("idx", Integer, nullable=False),
    Column("start", Double, nullable=False),
    Column("end", Double, nullable=False),
    Column("number", Integer, nullable=False),
    PrimaryKeyConstraint("episode_id", "idx"),
)
