"""The tantivy index beside the archive: one document per transcript segment.

The archive is the source of truth; the index is derived from it and can always be rebuilt (`fonoteca reindex`). It is
this machine's own replica of the archive: several `fonoteca serve` on several machines share one PostgreSQL archive,
each with its own index, and each index records which transcript revision of each episode it holds in a file beside
its own (`held.json`), never in the shared archive. Each batch is committed to tantivy first and recorded in that file
second, so a crash between the two only means those episodes are indexed again at the next start — their old documents
are deleted first, so nothing is ever doubled. The word counts of trends are the archive's (computed once per
transcript revision, by whichever process first needs them: see count_words).

Words are cut and folded once, in Python (`fonoteca.text.words`), and tantivy only splits them at the spaces: the index,
queries, highlighting and word trends therefore agree on every word of every script (NFD text included), which two
tokenizers never would. Fields: `text` (the folded words with their positions: words, prefixes and phrases), `pairs`
(the adjacent folded word pairs that have a common word, at their positions: "common grams", see COMMON_WORDS),
`repeats` (the pairs and words said more than once in the segment: the only segments a longer phrase's trend must
read to count its mentions) and `body` (the segment as said, NFC, stored for snippets).

A phrase of rarer words is matched on `text`'s positions: tantivy reads the posting list of its rarest word first
and looks for the others only in the segments that have it, so it stays cheap. A phrase whose every pair has a common
word (`de la`, `lo que dijo`) would make tantivy walk the long lists of those words instead; it is matched on `pairs`,
whose lists are far shorter than those of the common words they are made of. Indexing only those pairs (not every
pair, most of which are said once in the whole archive) is what keeps indexing near tantivy's own speed.
"""

from __future__ import annotations

import calendar
import contextlib
import hashlib
import json
import re
import shutil
import threading
import time
import unicodedata
from collections import Counter
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import tantivy

from fonoteca.archive import Archive, Segment
from fonoteca.archive.models import epoch
from fonoteca.errors import ConfigError, FonotecaError, disk_error, is_disk_full
from fonoteca.events import EventSink, IndexProgress, ignore
from fonoteca.search.common import COMMON_WORDS, common_pairs
from fonoteca.text import words

ANALYZER = "fonoteca_words"  # the words are already folded: split at spaces, nothing else
PAIRS_ANALYZER = "fonoteca_pairs"  # split at spaces; GAP holds the place of a pair left out
GAP = "_"  # never a word nor a pair (words never contain "_"); dropped by PAIRS_ANALYZER, its position kept
# 6: what the index holds is recorded in held.json; 7: each segment's speaker; 8: its words and seconds, fast (a
# speaker's share of an episode); 9: text with positions, pairs only where a word is common. Which words are common is
# part of the layout: an index made with another list is rebuilt.
SCHEMA_VERSION = "9." + hashlib.sha256(" ".join(sorted(COMMON_WORDS)).encode()).hexdigest()[:12]
_WRITER_HEAP = 256 * 1024 * 1024
# Indexing between two commits when many episodes are indexed at once: what a crash can cost at most. Each commit
# also starts merges of what was committed before: one per 100 episodes cost ~40% more CPU than one at the end.
COMMIT_SECONDS = 60.0
COUNT_ROWS = 1_000_000  # word counts (rows) gathered before they are stored: ~120 MB of Python objects, twice while
# the batch before is stored


def _schema() -> tantivy.Schema:
    builder = tantivy.SchemaBuilder()
    builder.add_text_field("text", stored=False, tokenizer_name=ANALYZER, index_option="position")
    builder.add_text_field("pairs", stored=False, tokenizer_name=PAIRS_ANALYZER, index_option="position")
    builder.add_text_field("repeats", stored=False, tokenizer_name=ANALYZER, index_option="basic")
    builder.add_bytes_field("body", stored=True, indexed=False)  # bytes: a text field cannot be stored unindexed
    builder.add_text_field("episode_id", stored=True, tokenizer_name="raw", fast=True)
    builder.add_integer_field("show_id", stored=True, indexed=True, fast=True)
    builder.add_integer_field("idx", stored=True)
    builder.add_float_field("start", stored=True)
    builder.add_float_field("end", stored=True)
    builder.add_integer_field("published", stored=True, indexed=True, fast=True)  # epoch seconds; 0 = unknown
    # Who says the segment (segments.speaker, as a reader sees it), stored for hits and fast for the graph's split
    # by speaker; `speaker_key` is the label's folded words (speaker_key()), what a speaker filter matches.
    builder.add_text_field("speaker", stored=True, tokenizer_name="raw", fast=True)
    builder.add_text_field("speaker_key", stored=False, tokenizer_name="raw")
    # The segment's words and seconds, summed per episode and speaker: the denominators of a speaker's mentions per
    # 1,000 words and per hour.
    builder.add_integer_field("words", fast=True)
    builder.add_float_field("seconds", fast=True)
    return builder.build()


def speaker_key(name: str) -> str:
    """A speaker's label as a filter matches it: its words folded like search's ("ana maria" for "Ana María")."""
    return " ".join(words(name))


def register_analyzers(index: tantivy.Index) -> None:
    """Give an opened tantivy index the analyzers the schema's fields name."""
    # No length filter (tantivy's own "whitespace" may drop long tokens): every word words() makes is indexed.
    index.register_tokenizer(ANALYZER, tantivy.TextAnalyzerBuilder(tantivy.Tokenizer.whitespace()).build())
    # tantivy's filters skip a token without numbering the next ones again: each pair keeps its word's position.
    gaps = tantivy.TextAnalyzerBuilder(tantivy.Tokenizer.whitespace()).filter(tantivy.Filter.custom_stopword([GAP]))
    index.register_tokenizer(PAIRS_ANALYZER, gaps.build())


class BadDate(ConfigError):
    """A date filter that is not YYYY, YYYY-MM or YYYY-MM-DD."""


_DATE = re.compile(r"(\d{4})(?:-(\d{2})(?:-(\d{2}))?)?")


def date_bound(value: str, *, end: bool) -> int:
    """Epoch seconds (UTC) of a date filter: YYYY, YYYY-MM or YYYY-MM-DD, from its first second, or with end=True
    up to its last second, so `--from 2024-02 --to 2024-02` is the whole of February. Anything else raises BadDate."""
    match = _DATE.fullmatch(value.strip())
    try:
        if not match:
            raise ValueError
        year, month, day = int(match[1]), int(match[2] or 0), int(match[3] or 0)
        first = datetime(year, month or 1, day or 1, tzinfo=UTC)  # ValueError for month 13 or February 31
    except ValueError:
        raise BadDate(
            f"not a date: {value!r}", "use YYYY, YYYY-MM or YYYY-MM-DD, e.g. 2024, 2024-02 or 2024-02-29"
        ) from None
    if not end:
        return int(first.timestamp())
    last_month = month or 12
    last_day = day or calendar.monthrange(year, last_month)[1]
    return int(datetime(year, last_month, last_day, 23, 59, 59, tzinfo=UTC).timestamp())


def pair_tokens(folded: list[str]) -> list[str]:
    """Each two adjacent folded words as one token, "a_b" (words never contain "_": a pair never looks like a word)."""
    return list(map("_".join, zip(folded, folded[1:], strict=False)))  # no Python-level loop: run for every segment


def indexed_pairs(folded: list[str], pairs: list[str]) -> str:
    """The `pairs` field of a segment: its pairs that have a common word, each at its place, GAP for the others."""
    return " ".join([pair if kept else GAP for pair, kept in zip(pairs, common_pairs(folded), strict=True)])


class SearchIndex:
    """An opened index folder. Its owner (fonoteca.app.Fonoteca) opens one per process and folder, and hands it to
    whatever searches or indexes: tantivy allows one writer at a time, and `synced` spares a search any query while
    the archive has not changed."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.schema = _schema()
        self.write_lock = threading.Lock()
        self._open()

    def _open(self) -> None:
        path = self.path
        marker = path / "fonoteca-schema"
        # An index of another layout is rebuilt: emptied here (held.json with it), filled by sync_index.
        outdated = not marker.exists() or marker.read_text() != SCHEMA_VERSION
        try:
            if path.exists() and outdated:
                shutil.rmtree(path)  # an index from another layout: rebuilt from SQLite below
            path.mkdir(parents=True, exist_ok=True)
            self.index = tantivy.Index(self.schema, path=str(path), reuse=True)
            marker.write_text(SCHEMA_VERSION)
        except OSError as exc:
            raise disk_error(exc, path) from exc  # a full disk or a read-only folder: a reindex would fail the same way
        except ValueError as exc:  # tantivy's own errors arrive as ValueError, their cause only in the text
            if is_disk_full(exc) or "permission denied" in str(exc).lower():
                raise disk_error(exc, path) from exc
            raise FonotecaError(
                f"cannot open the search index at {path}: {exc}",
                "run `fonoteca reindex` to rebuild it from the archive",
            ) from exc
        register_analyzers(self.index)
        # The archive's finished_version() when this process last found the index up to date: while it has not moved,
        # a search needs no other query to know the index holds every finished episode.
        self.synced: int | None = None
        self._loaded_commit: tuple[int, int, int] | None = None  # meta.json when the searcher was last reloaded
        self._reloading = threading.Lock()
        self._without_deletes = False  # whether the loaded commit has no deleted documents (see snapshot)

    @property
    def _held_file(self) -> Path:
        return self.path / "held.json"

    def held(self) -> dict[str, int]:
        """{episode id: transcript revision} of what this index holds, as last committed by any process."""
        try:
            return json.loads(self._held_file.read_text())
        except FileNotFoundError:
            return {}
        except (OSError, ValueError):
            return {}  # unreadable: everything is indexed again (old documents are deleted first)

    def record_held(self, held: dict[str, int]) -> None:
        """Record what the index holds now, after a commit: written aside and renamed, never half-written."""
        partial = self._held_file.with_suffix(".partial")
        try:
            partial.write_text(json.dumps(held, separators=(",", ":")))
            partial.replace(self._held_file)
        except OSError as exc:
            raise disk_error(exc, self.path) from exc

    def clear(self) -> None:
        """Throw the folder away and open it empty: the next sync_index fills it from the archive."""
        with self.write_lock:
            shutil.rmtree(self.path, ignore_errors=True)
            self._open()

    def searcher(self) -> tantivy.Searcher:
        """A searcher of the index's latest commit, or of the last one seen while another process (`fonoteca
        reindex`) has emptied the folder to rebuild it: a search then answers from the files it still has open."""
        return self.snapshot()[0]

    def snapshot(self) -> tuple[tantivy.Searcher, bool]:
        """searcher(), and whether its commit has no deleted documents: then a term's document frequency (read from
        the term dictionary, which counts a deleted document until a merge drops it) is how many documents have it,
        where counting them walks the whole posting list (a common word's: 23 ms of a 26 ms search at 15,000 h).

        tantivy's reader also reloads by itself, from a thread that polls meta.json: a commit landing in the
        microseconds between the check of meta.json here and the searcher handed out can give one search the newer
        commit with what is known of the older (a count that includes the lines that commit deleted). Reloading only
        by hand (`config_reader("Manual")`) closes that gap, but tantivy-py's reader then reads stored documents ~60%
        slower (0.41 -> 0.68 ms p50 for a word's top 20 at 15,000 h), every search, for a count off for an instant."""
        try:  # every commit replaces meta.json: reloading only then spares each search tantivy's reload
            meta = (self.path / "meta.json").stat()
            committed = (meta.st_ino, meta.st_mtime_ns, meta.st_size)
        except OSError:
            committed = None
        with self._reloading:
            if committed is None or committed != self._loaded_commit:
                with contextlib.suppress(ValueError):  # tantivy's "FileDoesNotExist(meta.json)"
                    before = self._segments()
                    self.index.reload()
                    self._loaded_commit = committed
                    # The same segments before and after: the reload loaded them (a commit between would differ).
                    after = self._segments()
                    self._without_deletes = (
                        before is not None and before == after and not any(segment.get("deletes") for segment in after)
                    )
            return self.index.searcher(), self._without_deletes

    def _segments(self) -> list[dict[str, Any]] | None:
        """The segments of the index's latest commit as its meta.json lists them (None: unreadable)."""
        try:
            return json.loads((self.path / "meta.json").read_bytes())["segments"]
        except (OSError, ValueError, KeyError):
            return None

    def writer(self) -> tantivy.IndexWriter | None:
        """The index writer, or None while another process (a `fonoteca sync`, `add`, `reindex`…) holds it."""
        try:
            return self.index.writer(_WRITER_HEAP, 2)
        except ValueError as exc:
            if "LockBusy" in str(exc):
                return None
            raise


_SAID_AT_ONCE = 100_000


def _analysed(
    segments: Iterable[Segment], counts: Counter[str]
) -> Iterator[tuple[Segment, str, list[str], list[str], list[str]]]:
    """(segment, NFC text, folded words, word pairs, pairs and words said again in it) of each segment, in one pass
    over its text; `counts` gets the episode's counts for trends once the segments are all read.

    The counts hold every folded word, and for word pairs only the mentions that the index's segment documents cannot
    tell: a pair said again in the same segment, and a pair cut in two by a segment boundary. A two-word phrase's
    trend is then the index's count of segments that have it plus these (see trends.py). The pairs and the words said
    more than once in a segment are its `repeats`: the only segments a split by speaker must read to count every
    mention (words never contain "_", so a word never looks like a pair there)."""
    said: list[str] = []  # words, counted SAID_AT_ONCE at a time (Counter's loop is C, ours is not)
    last_word = ""
    for seg in segments:
        body = unicodedata.normalize("NFC", seg.text)
        folded = words(body)
        if not folded:
            yield seg, body, folded, [], []
            continue
        said += folded
        if len(said) >= _SAID_AT_ONCE:  # a transcript of a million lines is not held as all its words
            counts.update(said)
            said.clear()
        pairs = pair_tokens(folded)
        repeated: list[str] = []
        # A pair can repeat only where a word does: most segments skip both sets.
        if len(set(folded)) < len(folded):
            if len(set(pairs)) < len(pairs):
                again = {pair: n - 1 for pair, n in Counter(pairs).items() if n > 1}
                counts.update(again)
                repeated = list(again)
            # The words said again, for the index only (the episode's word counts come from `said`): the lines a
            # split by speaker reads to count every mention.
            repeated += [word for word, n in Counter(folded).items() if n > 1]
        if last_word:
            counts[last_word + "_" + folded[0]] += 1  # the pair_tokens() of the two
        last_word = folded[-1]
        yield seg, body, folded, pairs, repeated
    counts.update(said)


def episode_counts(segments: Iterable[Segment]) -> Counter[str]:
    """An episode's counts for trends (see _analysed), without building its documents."""
    counts: Counter[str] = Counter()
    for _ in _analysed(segments, counts):
        pass
    return counts


def episode_documents(
    segments: Iterable[Segment], episode_id: str, show_id: int, published: int
) -> tuple[Iterator[Any], Counter[str]]:
    """The tantivy documents of an episode, made as they are taken (a transcript of a million segments is not held
    as a million documents), and its counts for trends (see _analysed), complete once the documents are all taken."""
    counts: Counter[str] = Counter()
    keys: dict[str, str] = {}  # each speaker's folded key, made once per speaker

    def documents() -> Iterator[Any]:
        # Field by field: a third of the time of Document(**fields), which tries each value's every type.
        for seg, body, folded, pairs, repeated in _analysed(segments, counts):
            doc = tantivy.Document()
            doc.add_text("text", " ".join(folded))
            doc.add_text("pairs", indexed_pairs(folded, pairs))
            if repeated:
                doc.add_text("repeats", " ".join(repeated))
            doc.add_bytes("body", body.encode())
            doc.add_text("episode_id", episode_id)
            doc.add_integer("show_id", show_id)
            doc.add_integer("idx", seg.idx)
            doc.add_float("start", float(seg.start))
            doc.add_float("end", float(seg.end))
            doc.add_integer("published", published)
            doc.add_integer("words", len(folded))
            doc.add_float("seconds", max(0.0, float(seg.end) - float(seg.start)))
            if seg.speaker and (label := seg.speaker.strip()):
                doc.add_text("speaker", label)
                doc.add_text("speaker_key", keys.get(label) or keys.setdefault(label, speaker_key(label)))
            yield doc

    return documents(), counts


def sync_index(archive: Archive, index: SearchIndex, *, on_progress: Callable[[int, int], None] | None = None) -> int:
    """Bring this machine's index up to date with the archive: index every finished episode whose transcript it does
    not hold, drop those that are no longer finished or were deleted (by this or any other process, on any machine).
    The word counts of the episodes indexed are stored in the archive when it lacks them.

    Cheap when nothing changed (one read of one row), so search calls it before answering. While another process holds
    the index writer it returns 0 at once: the caller searches the index as it is and a later sync catches up."""
    version = archive.finished_version()  # read before the rows: a change meanwhile shows at the next call
    if version == index.synced:
        return 0
    finished = archive.finished_revisions()
    if _differences(index.held(), finished) == ([], []):
        index.synced = version
        return 0
    with index.write_lock:
        writer = index.writer()
        if writer is None:
            return 0
        try:
            held = index.held()  # read again under the writer: another process may have indexed meanwhile
            stale, gone = _differences(held, finished)
            uncounted = dict(archive.episodes_to_count())
            for episode_id in gone:
                writer.delete_documents_by_term("episode_id", episode_id)
                held.pop(episode_id)
            with _CountsToStore(archive) as counted:
                for episode_id, rev in uncounted.items():  # indexed, but a crash came before its counts were stored
                    if held.get(episode_id) == rev:
                        counted.add(episode_id, rev, episode_counts(archive.iter_segments(episode_id, words=False)))
                committed = time.monotonic()
                for n, (episode_id, rev) in enumerate(stale, start=1):
                    episode = archive.get_episode(episode_id)
                    writer.delete_documents_by_term("episode_id", episode_id)
                    docs, counts = episode_documents(
                        archive.iter_segments(episode_id, words=False),
                        episode_id,
                        episode.show_id,
                        epoch(episode.published),
                    )
                    for doc in docs:
                        writer.add_document(doc)
                    held[episode_id] = rev
                    if uncounted.get(episode_id) == rev:
                        counted.add(episode_id, rev, counts)
                    if time.monotonic() - committed >= COMMIT_SECONDS and n < len(stale):
                        writer.commit()
                        index.record_held(held)
                        committed = time.monotonic()
                    if on_progress:
                        on_progress(n, len(stale))
                counted.store_behind()  # stored while tantivy commits and merges
                writer.commit()
                writer.wait_merging_threads()
            index.record_held(held)
        except BaseException:
            writer.rollback()
            raise
    if held == finished:
        index.synced = version
    return len(stale) + len(gone)


def _differences(held: dict[str, int], finished: dict[str, int]) -> tuple[list[tuple[str, int]], list[str]]:
    """What the index must add (or index again) and what it must drop to hold exactly the finished episodes."""
    stale = sorted((episode_id, rev) for episode_id, rev in finished.items() if held.get(episode_id) != rev)
    gone = sorted(episode_id for episode_id in held if episode_id not in finished)
    return stale, gone


class _CountsToStore:
    """Word counts gathered across episodes and stored when they make COUNT_ROWS rows: each store touches most pages
    of the counts' term-ordered B-tree (and the database writes each page it touched once per commit), so fewer,
    larger stores index a large archive several times faster than one per commit of the index.

    Each store runs in a thread of its own while the caller goes on reading and indexing the next episodes (the
    database driver lets go of the GIL while it writes): one store at a time, the next waits for it, and leaving the
    block waits for the last (a store's failure is raised in the caller's thread)."""

    def __init__(self, archive: Archive) -> None:
        self.archive = archive
        self.entries: list[tuple[str, int, dict[str, int]]] = []
        self.rows = 0
        self._pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix="fonoteca-word-counts")
        self._storing: Future[None] | None = None

    def __enter__(self) -> _CountsToStore:
        return self

    def __exit__(self, exc_type: type[BaseException] | None, *_: object) -> None:
        try:
            if exc_type is None:
                self.store_behind()
                self.wait()
            else:  # already failing: the store in flight ends (or fails) before the caller's error goes on
                with contextlib.suppress(Exception):
                    self.wait()
        finally:
            self._pool.shutdown()

    def add(self, episode_id: str, rev: int, counts: Counter[str]) -> None:
        self.entries.append((episode_id, rev, dict(counts)))
        self.rows += len(counts)
        if self.rows >= COUNT_ROWS:
            self.store_behind()

    def store_behind(self) -> None:
        """Start storing what was gathered, once the store before it has ended."""
        self.wait()
        if self.entries:
            self._storing = self._pool.submit(self.archive.store_word_counts_many, self.entries)
        self.entries, self.rows = [], 0

    def wait(self) -> None:
        storing, self._storing = self._storing, None
        if storing is not None:
            storing.result()


def count_words(archive: Archive) -> int:
    """Store the word counts of every finished episode that lacks them for its transcript revision, without
    indexing it: the step a worker runs after a transcript, so that no machine's index has to. Returns how many."""
    pending = archive.episodes_to_count()
    with _CountsToStore(archive) as counted:
        for episode_id, rev in pending:
            counted.add(episode_id, rev, episode_counts(archive.iter_segments(episode_id, words=False)))
    return len(pending)


def reindex(archive: Archive, index: SearchIndex, *, events: EventSink = ignore) -> int:
    """Throw the index away and rebuild it from the archive, telling `events` how far it got (IndexProgress)."""
    index.clear()
    return sync_index(archive, index, on_progress=lambda done, total: events(IndexProgress(done, total)))


def document_fields(doc: Any) -> dict[str, Any]:
    """A stored document as a dict, with the segment's text under "text"."""
    fields = {name: values[0] if values else None for name, values in doc.to_dict().items()}
    fields["text"] = bytes(fields.pop("body") or b"").decode()
    return fields
