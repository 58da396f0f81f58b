"""The tantivy index beside the archive: one document per transcript segment.

SQLite is the source of truth; the index is derived from it and can always be rebuilt (`fonoteca reindex`). Each
episode's index entry is committed to tantivy first and recorded in the archive second (`indexed.transcript_rev`), so a
crash between the two commits only means the episode is indexed again at the next start — its old documents are
deleted first, so nothing is ever doubled.

Two text fields: `text` (folded words with positions: words, prefixes, snippets) and `pairs` (adjacent folded word
pairs with positions): a phrase becomes a query over pairs, whose posting lists are far shorter than those of the
common words it is made of.
"""

from __future__ import annotations

import shutil
import threading
from collections import Counter
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import tantivy

from fonoteca.archive import Archive, Segment
from fonoteca.errors import FonotecaError
from fonoteca.settings import Settings
from fonoteca.text import words

ANALYZER = "fonoteca_fold"
SCHEMA_VERSION = "2"
_WRITER_HEAP = 256 * 1024 * 1024
BATCH = 100  # episodes per commit when indexing many at once


def _schema() -> tantivy.Schema:
    builder = tantivy.SchemaBuilder()
    builder.add_text_field("text", stored=True, tokenizer_name=ANALYZER, index_option="position")
    builder.add_text_field("pairs", stored=False, tokenizer_name="whitespace", index_option="position")
    builder.add_text_field("episode_id", stored=True, tokenizer_name="raw", fast=True)
    builder.add_integer_field("show_id", stored=True, indexed=True, fast=True)
    builder.add_integer_field("idx", stored=True)
    builder.add_float_field("start", stored=True)
    builder.add_float_field("end", stored=True)
    builder.add_integer_field("published", stored=True, indexed=True, fast=True)  # epoch seconds; 0 = unknown
    return builder.build()


def _analyzer() -> tantivy.TextAnalyzer:
    return (
        tantivy.TextAnalyzerBuilder(tantivy.Tokenizer.simple())
        .filter(tantivy.Filter.lowercase())
        .filter(tantivy.Filter.ascii_fold())
        .build()
    )


def epoch(published: str | None) -> int:
    if not published:
        return 0
    try:
        stamp = datetime.fromisoformat(published.replace("Z", "+00:00"))
    except ValueError:
        return 0
    if stamp.tzinfo is None:
        stamp = stamp.replace(tzinfo=UTC)
    return int(stamp.timestamp())


def pair_tokens(folded: list[str]) -> str:
    return " ".join(f"{a}_{b}" for a, b in zip(folded, folded[1:], strict=False))


class SearchIndex:
    """An opened index folder. One per process and folder (tantivy allows one writer at a time)."""

    _open: dict[Path, SearchIndex] = {}
    _lock = threading.Lock()

    def __init__(self, path: Path) -> None:
        self.path = path
        self.schema = _schema()
        marker = path / "fonoteca-schema"
        if path.exists() and (not marker.exists() or marker.read_text() != SCHEMA_VERSION):
            shutil.rmtree(path)  # an index from another layout: rebuilt from SQLite below
        try:
            path.mkdir(parents=True, exist_ok=True)
            self.index = tantivy.Index(self.schema, path=str(path), reuse=True)
            marker.write_text(SCHEMA_VERSION)
        except (OSError, ValueError) as exc:
            raise FonotecaError(
                f"cannot open the search index at {path}: {exc}",
                "run `fonoteca reindex` to rebuild it from the archive",
            ) from exc
        self.index.register_tokenizer(ANALYZER, _analyzer())
        self.write_lock = threading.Lock()
        self.orphans_checked = False

    @classmethod
    def for_settings(cls, settings: Settings) -> SearchIndex:
        path = settings.index_dir.resolve()
        with cls._lock:
            if path not in cls._open:
                cls._open[path] = SearchIndex(path)
            return cls._open[path]

    @classmethod
    def forget(cls, settings: Settings) -> None:
        with cls._lock:
            cls._open.pop(settings.index_dir.resolve(), None)

    def searcher(self) -> tantivy.Searcher:
        self.index.reload()
        return self.index.searcher()

    def writer(self) -> tantivy.IndexWriter:
        return self.index.writer(_WRITER_HEAP, 2)


def episode_documents(segments: list[Segment], episode_id: str, show_id: int, published: int) -> tuple[list, Counter]:
    """The tantivy documents of an episode and its folded-word counts (for trends), from one pass over the text."""
    docs = []
    counts: Counter[str] = Counter()
    for seg in segments:
        folded = words(seg.text)
        counts.update(folded)
        docs.append(
            tantivy.Document(
                text=seg.text,
                pairs=pair_tokens(folded),
                episode_id=episode_id,
                show_id=show_id,
                idx=seg.idx,
                start=float(seg.start),
                end=float(seg.end),
                published=published,
            )
        )
    return docs, counts


def sync_index(archive: Archive, settings: Settings, *, on_progress: Callable[[int, int], None] | None = None) -> int:
    """Index every finished episode whose transcript changed since it was indexed; drop episodes that are gone.

    Cheap when nothing changed (two small SQL queries), so search calls it before answering.
    """
    stale = archive.episodes_to_index()
    gone = archive.indexed_episodes_gone()
    index = SearchIndex.for_settings(settings)
    orphans: set[str] = set()
    if not index.orphans_checked:  # once per process: catches episodes deleted while no index was open
        orphans = _orphaned_episode_ids(archive, index)
        index.orphans_checked = True
    if not stale and not gone and not orphans:
        return 0
    with index.write_lock:
        writer = index.writer()
        try:
            for episode_id in [*gone, *orphans]:
                writer.delete_documents_by_term("episode_id", episode_id)
            batch: list[tuple[str, int, dict[str, int]]] = []
            for n, (episode_id, rev) in enumerate(stale, start=1):
                episode = archive.get_episode(episode_id)
                writer.delete_documents_by_term("episode_id", episode_id)
                docs, counts = episode_documents(
                    archive.segments(episode_id), episode_id, episode.show_id, epoch(episode.published)
                )
                for doc in docs:
                    writer.add_document(doc)
                batch.append((episode_id, rev, dict(counts)))
                if len(batch) == BATCH or n == len(stale):
                    # The index commits first: if the process dies before the archive records the batch, those
                    # episodes are simply indexed again next time (their documents are deleted before re-adding).
                    writer.commit()
                    archive.mark_indexed_many(batch)
                    batch = []
                if on_progress:
                    on_progress(n, len(stale))
            writer.commit()
            writer.wait_merging_threads()
        except BaseException:
            writer.rollback()
            raise
    for episode_id in gone:
        archive.unmark_indexed(episode_id)
    return len(stale) + len(gone) + len(orphans)


def _orphaned_episode_ids(archive: Archive, index: SearchIndex) -> set[str]:
    """Episodes still in the index although the archive deleted them (their bookkeeping vanished with them).

    The expensive part runs only when the document count disagrees with the archive."""
    searcher = index.searcher()
    if searcher.num_docs == archive.indexed_segment_count():
        return set()
    result = searcher.aggregate(
        tantivy.Query.all_query(), {"ids": {"terms": {"field": "episode_id", "size": 1_000_000}}}
    )
    in_index = {bucket["key"] for bucket in result["ids"]["buckets"]}
    return in_index - archive.indexed_ids()


def reindex(archive: Archive, settings: Settings, *, progress: bool = False) -> int:
    """Throw the index away and rebuild it from the archive."""
    SearchIndex.forget(settings)
    shutil.rmtree(settings.index_dir, ignore_errors=True)
    archive.unmark_indexed()
    if not progress:
        return sync_index(archive, settings)
    from rich.progress import Progress

    with Progress(transient=True) as bar:
        task = bar.add_task("indexing", total=None)
        return sync_index(archive, settings, on_progress=lambda n, total: bar.update(task, completed=n, total=total))


def document_fields(doc: Any) -> dict[str, Any]:
    return {name: values[0] if values else None for name, values in doc.to_dict().items()}
