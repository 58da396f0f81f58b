"""Search by meaning over the passages' int8 vectors, memory-mapped and shared by every process that searches: an
exact scan (usearch's SIMD brute force, one pass over the mapped matrix) for archives of up to AUTO_LISTS_PASSAGES
passages, an inverted-file index (faiss's IVF) beyond, as FONOTECA_VECTOR_INDEX says ("exact", "lists", "auto").

The vectors in the archive stay the truth; the index is this machine's derived state, like the tantivy index: kept
in its own folder beside it (`fonoteca.index-vectors/`, one sub-folder per model and dimension, so a model change
builds a new one and drops the old), rebuilt from the archive whenever it is missing or damaged. Its files:

- `N.vectors.npy`, generation N of the passages' int8 vectors (as the archive stores them), one row per key, opened
  memory-mapped: every process that searches (web workers, the CLI) shares one copy through the page cache instead
  of holding a float32 matrix of its own;
- `N.ivf`, only in an index of lists: faiss's IndexIVFScalarQuantizer over the same keys (k-means cells; each
  passage's unit vector kept in the cell nearest to it at 8 bits a dimension, its key as its id), opened
  memory-mapped too (IO_FLAG_MMAP_IFC: its cells stay in the shared page cache);
- `N.spans.npy`, each key's passage times (start, end, first and last segment idx);
- `current.json`, written last and renamed into place: the generation, whether it has lists and how many rows they
  were trained for, and which episode (of which transcript revision) holds which keys. A crash leaves the previous
  generation in force, never a half-written one.

Changes are incremental. A search compares `current.json` with the archive's current vectors (VectorStore.current):
the keys of an episode that was deleted or transcribed again are masked out at once, and the episodes embedded since
the index was written (the "delta", at most DELTA_PASSAGES) are scanned exactly, read from the archive. `update`
(after `fonoteca embed`, and in the web server's background after each batch it embeds) writes a new generation with
them: the lists are read into memory, the dead keys removed (remove_ids), the new passages added to the cells nearest
to them (add_with_ids), and they are written aside and renamed. The cells were trained for the rows the index held
when it was built from scratch: past RETRAIN times as many (or when removed keys are most of it, or when the archive
crosses AUTO_LISTS_PASSAGES, or the setting changes) it is built from scratch again. When more is missing from the
index than a search may scan (a missing or damaged index on a large archive), the search answers by keywords with
one line saying why, while a thread rebuilds it.

Why exact up to AUTO_LISTS_PASSAGES: the exact int8 scan takes ~22 ms for 175,000 passages on one core (numpy's float32
product over a 342 MB matrix: ~32 ms), so ~31 ms at 250,000 at the same rate, recall 1.0. Past that it grows with the
archive (~200 ms at 1,760,000 passages, 15,000 hours), and the lists do not.

Why an inverted file and not a graph (bench/vector_graph.py, bench/results/vector-graph-8000-episodes-ivf.txt: 1,760,000
stored int8 vectors of 512 dimensions made around real passages' vectors, the 80 real questions people ask of
bench/retrieval.py, recall@10 against the exact scan, one thread): usearch's HNSW graph (M 32, efConstruction 128, built
in 414 s, 1,323 MB), which this module searched before, found 0.646 of a question's exact top 10 at efSearch 1,024 (2.5
ms), 0.756 at 2,048 (4.4 ms), 0.869 at 4,096 (8.3 ms), and none of it for some questions: a question lies farther from
every passage than a passage does, and a graph built from passages reaches its true neighbours less often; an inverted
file probes the cells nearest to the question whatever its distance. faiss's IVF of 4,096 cells (k-means on 163,840
rows, 40 a cell; trained in 90 s, built in 180 s on 2 threads, 881 MB) found 0.970 at nprobe 16 (0.9 ms), 0.990 at 32
(1.4 ms), 0.994 at 64 (2.4 ms), 0.997 at 128 (4.7 ms), where the exact scan took 202 ms (on both cores); over a quarter
of the episodes, through a filter, 0.997 at 64 (4.8 ms). 2,048 cells probed 64 times found 0.989 (4.7 ms). Held-out real
passages are found by every path (>= 0.995). Hence about CELLS_PER_ROOT x sqrt(rows) cells, a power of two (4,096 at
1,760,000 rows; at least ROWS_PER_CELL training rows each), and PROBES (64) of them probed, or 1/PROBED_SHARE of them
past 4,096 cells: a smaller index probes a larger share of its cells. Opened with IO_FLAG_MMAP_IFC, a fresh process
holds ~3 MB of its own (the cells are the page cache's, shared); plain IO_FLAG_MMAP (OnDiskInvertedLists) starts 32
prefetch threads on every search (~3.5 ms a question), so it is not used. A search runs on one thread
(faiss.omp_set_num_threads(1) in the searching thread: OpenMP's count is each thread's own, and a new thread's is every
core): the web server runs a worker process per core, whose threads would only contend with one another; building uses
every core. faiss is loaded only where an index has lists.

A scope (show, episode, dates) of more than EXACT_PASSAGES passages is searched through the lists with a selector of its
rows (faiss.IDSelectorBitmap in SearchParametersIVF), so it is exact within the probed cells; a scope under a quarter of
the index probes up to 4 times as many cells (not measured: a smaller share of each probed cell is the scope's; faiss
checks the selector before it compares a code, so this costs about what a search of the whole index does). Where the
lists give fewer than the count wanted, the scope is scanned exactly, as a smaller scope always is. Either way the
candidates (RESCORE per passage wanted) are scored again in float32 against the int8 rows, so scores are those of brute
force.
"""

from __future__ import annotations

import contextlib
import fcntl
import functools
import json
import logging
import math
import os
import re
import shutil
import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from types import ModuleType
from typing import TYPE_CHECKING, BinaryIO

import numpy as np

# onnxruntime (faster-whisper's voice detection) crashes the process (SIGSEGV) when it is imported after usearch's
# compiled module (usearch 2.26.6, onnxruntime 1.32.0: measured here), and a web server searches by meaning and
# transcribes in one process: it is loaded first, always (faiss, loaded by _faiss, after it).
import onnxruntime  # noqa: F401, I001
from usearch.index import MetricKind
from usearch.index import search as exact_search

from fonoteca.archive import Archive
from fonoteca.archive.models import epoch
from fonoteca.archive.vectors import CurrentVectors
from fonoteca.errors import disk_error

if TYPE_CHECKING:
    import faiss

log = logging.getLogger(__name__)

EXACT_PASSAGES = 5_000  # a scope this small is scanned exactly (its vectors read from the index: ~3 ms at 512-d)
DELTA_PASSAGES = 20_000  # passages not in the index yet that a search scans exactly; beyond it the index is rebuilt
AUTO_LISTS_PASSAGES = 250_000  # "auto": exact up to this many passages, lists beyond (see the module's docstring)
AUTO_LISTS_KEPT = 0.8  # ...and lists kept until the archive falls under this share of it (no rebuilds back and forth)
OVERSCAN = 2  # candidates taken from the int8 scan (its question is quantised too) per passage wanted, scored again
RESCORE = 4  # candidates taken from the lists (8-bit codes of unit vectors) per passage wanted, scored again
CELLS_PER_ROOT, ROWS_PER_CELL, MOST_CELLS = 4, 40, 65_536  # the lists' cells: see the module's docstring
PROBES, PROBED_SHARE = 64, 64  # cells a search probes: PROBES, or 1/PROBED_SHARE of them where that is more
RETRAIN = 4  # the lists are trained again once they hold this many times the rows they were trained for
ADD_ROWS = 100_000  # rows added to the lists at once (their float32 unit vectors: 200 MB at 512-d)
FORMAT = 2  # of current.json and the files it names
# Rows the lists propose are read from a file this small through its mapping: all of it in a process's RSS is little,
# and reading 400 rows so takes 0.1 ms where os.pread takes 0.5-0.9 (bench/web.py's archive: 84 MB).
MAPPED_UNDER_BYTES = 256 * 1024 * 1024


@functools.cache
def _faiss() -> ModuleType:
    """faiss, loaded where an index has lists only: a process that scans exactly never maps its libraries (12 MB of
    its own, 22 ms) nor its OpenMP BLAS."""
    import faiss

    return faiss


def quantise(vectors: np.ndarray) -> np.ndarray:
    """int8 vectors as the archive stores them (each scaled so that its largest component is ±127): a question is
    compared with the stored passages at the same precision."""
    scales = np.abs(vectors).max(axis=-1, keepdims=True)
    return np.round(vectors / np.where(scales > 0, scales, 1.0) * 127).astype(np.int8)


def _unit(quantised: np.ndarray) -> np.ndarray:
    vectors = quantised.astype(np.float32)
    norms = np.linalg.norm(vectors, axis=-1, keepdims=True)
    return vectors / np.where(norms > 0, norms, 1.0)


@dataclass
class _Generation:
    """What `current.json` says: the generation's number and which keys each episode holds."""

    number: int
    lists: bool  # whether N.ivf was written beside the vectors
    trained_on: int  # the rows the lists held when their cells were trained (0 without lists)
    next_key: int
    dead: int  # keys of episodes removed since the index was built from scratch: compacted when too many
    episodes: dict[str, tuple[int, int, int]]  # episode_id -> (transcript_rev, first key, passages)


class PassageVectors:
    """The passages a search by meaning ranks, as this process sees them now: the index's generation (memory-mapped)
    with its keys of deleted or re-transcribed episodes masked out, plus the episodes embedded since, held here.
    Keys (rows) are the index's keys, then the delta's after them; an episode's passages are consecutive rows."""

    def __init__(
        self,
        stored: np.ndarray,
        lists: faiss.Index | None,
        generation: _Generation | None,
        index_spans: np.ndarray,
        current: list[CurrentVectors],
        delta: dict[str, np.ndarray],
        delta_spans: dict[str, np.ndarray],
        damaged: list[str],
    ) -> None:
        self.stored = stored  # the generation's int8 vectors, memory-mapped: row = key
        self.lists = lists  # the generation's inverted file, memory-mapped (None: scanned exactly)
        self._stored_file = _opened(stored) if lists is not None else None
        self.index_keys = generation.next_key if generation else 0
        held = generation.episodes if generation else {}
        self.episode_ids = [c.episode_id for c in current if c.episode_id in delta or _holds(held, c)]
        self.slot = {episode_id: slot for slot, episode_id in enumerate(self.episode_ids)}
        by_id = {c.episode_id: c for c in current}
        self.episode_show = np.array([by_id[e].show_id for e in self.episode_ids], np.int64)
        self.epochs = np.array([epoch(by_id[e].published) for e in self.episode_ids], np.int64)
        self.first_row = np.zeros(len(self.episode_ids), np.int64)
        self.row_count = np.zeros(len(self.episode_ids), np.int64)
        delta_total = sum(len(v) for v in delta.values())
        self.row_episode = np.full(self.index_keys + delta_total, -1, np.int32)
        spans = [index_spans[: self.index_keys]]
        vectors = []
        next_row = self.index_keys
        for slot, episode_id in enumerate(self.episode_ids):
            if episode_id in delta:
                first, count = next_row, len(delta[episode_id])
                next_row += count
                vectors.append(delta[episode_id])
                spans.append(delta_spans[episode_id])
            else:
                _rev, first, count = held[episode_id]
            self.first_row[slot], self.row_count[slot] = first, count
            self.row_episode[first : first + count] = slot
        # A plain array over the mapped file (no copy): a hybrid search reads ~200 rows' spans one by one, ~0.9 µs
        # each through numpy's memmap class, 0.09 µs through the array.
        self.spans = np.concatenate(spans) if len(spans) > 1 else np.asarray(index_spans[: self.index_keys])
        self.delta = _unit(np.concatenate(vectors)) if vectors else np.zeros((0, 1), np.float32)
        self.damaged = damaged

    @property
    def passages(self) -> int:
        return int((self.row_episode >= 0).sum())

    def episode_of(self, row: int) -> str:
        return self.episode_ids[self.row_episode[row]]

    def nearest(self, question: np.ndarray, allowed: np.ndarray, count: int) -> tuple[np.ndarray, np.ndarray]:
        """The rows of the (at most) `count` passages of allowed episodes most similar to the unit vector
        `question`, most similar first, and their cosine similarities (as brute force over the stored int8 vectors
        computes them)."""
        if allowed.all():
            wanted, in_index, in_delta = self._everywhere
        else:
            wanted, in_index, in_delta = self._rows_of(allowed)
        rows = [in_delta + self.index_keys]
        scores = [self.delta[in_delta] @ question if len(in_delta) else np.zeros(0, np.float32)]
        if len(in_index):
            keys = None
            if self.lists is not None and len(in_index) > EXACT_PASSAGES:
                keys = self._candidates(question, wanted, len(in_index), count)
            if keys is None:
                keys = self._scan(question, in_index, count)
            rows.append(keys)
            scores.append(_unit(self._stored_rows(keys)) @ question)
        all_rows, all_scores = np.concatenate(rows), np.concatenate(scores)
        top = best(all_scores, count)
        return all_rows[top], all_scores[top]

    def _stored_rows(self, keys: np.ndarray) -> np.ndarray:
        """The int8 rows of these keys. Those the lists propose are read from the file, not through the mapping: the
        kernel maps up to 64 KB of cached file around each page a process touches, so the ~400 scattered rows of a
        question kept ~25 MB more of the file in the process's RSS each time (1.3 GB after 20 questions at 15,000 h,
        bench/search.py); read with os.pread, ~0.7 ms a question, unless the file is small (MAPPED_UNDER_BYTES)."""
        if self._stored_file is None:
            return self.stored[keys]
        dim, start, handle = self.stored.shape[1], self.stored.offset, self._stored_file.fileno()
        read = b"".join(os.pread(handle, dim, start + int(key) * dim) for key in keys)
        return np.frombuffer(read, np.int8).reshape(len(keys), dim)

    def _rows_of(self, allowed: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Which rows the allowed episodes hold (a mask), and which of them are the index's keys and the delta's."""
        wanted = np.append(allowed, False)[self.row_episode]  # -1 (a dead key) reads the appended False
        return wanted, np.flatnonzero(wanted[: self.index_keys]), np.flatnonzero(wanted[self.index_keys :])

    @functools.cached_property
    def _everywhere(self) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        # The rows of a search over every episode, the web's usual one: the same until the archive's vectors change
        # (and this object with them), where each search read them off every row again (~0.3 ms at 164,000 rows).
        return self._rows_of(np.ones(len(self.episode_ids), bool))

    def _scan(self, question: np.ndarray, keys: np.ndarray, count: int) -> np.ndarray:
        """The keys (of `keys`, sorted) nearest to the question by an exact scan of their int8 rows: one SIMD pass over
        the mapped matrix when the scope is (nearly) all of it, over a copy of the scope's rows otherwise."""
        ask = min(len(keys), count * OVERSCAN)
        left_out = self.index_keys - len(keys)
        if left_out <= count * OVERSCAN * 4:  # the whole matrix, asking for as many more as there are keys outside
            found = exact_search(self.stored, quantise(question), min(self.index_keys, ask + left_out),
                                 MetricKind.Cos, exact=True).keys  # fmt: skip
            found = np.asarray(found, np.int64)
            return found if left_out == 0 else found[np.isin(found, keys, assume_unique=True)]
        found = exact_search(
            np.ascontiguousarray(self.stored[keys]), quantise(question), ask, MetricKind.Cos, exact=True
        )
        return keys[np.asarray(found.keys, np.int64)]

    def _candidates(self, question: np.ndarray, wanted: np.ndarray, in_scope: int, count: int) -> np.ndarray | None:
        """Keys the lists find near the question, of the scope only (a selector of its keys: exact within the probed
        cells), or None when they gave fewer than `count` (then the caller scans the scope exactly)."""
        faiss, lists, selector, bitmap = _faiss(), self.lists, None, None
        if in_scope < lists.ntotal:  # not every key in the lists: a filter, or episodes removed since they were written
            bitmap = np.packbits(wanted[: self.index_keys], bitorder="little")  # kept alive while faiss reads it
            selector = faiss.IDSelectorBitmap(len(bitmap), faiss.swig_ptr(bitmap))
        params = faiss.SearchParametersIVF(
            nprobe=cells_probed(lists.nlist, in_scope / max(lists.ntotal, 1)), sel=selector
        )
        faiss.omp_set_num_threads(1)  # OpenMP's count is each thread's own: this one's, searching (see the docstring)
        _scores, found = lists.search(question[None].astype(np.float32), min(in_scope, count * RESCORE), params=params)
        keys = found[0][found[0] >= 0]
        return keys if len(keys) >= min(count, in_scope) else None


def _opened(stored: np.ndarray) -> BinaryIO | None:
    """The file a generation's memory-mapped vectors come from, opened to read rows from (None: not a file, one
    removed since it was mapped, or one under MAPPED_UNDER_BYTES: its rows are then read through the mapping). A
    generation's file is never rewritten: the next one has the next number."""
    if not isinstance(stored, np.memmap) or stored.filename is None or stored.nbytes < MAPPED_UNDER_BYTES:
        return None
    try:
        return open(stored.filename, "rb", buffering=0)  # noqa: SIM115 — kept open as long as the mapping
    except OSError:
        return None


def _holds(held: dict[str, tuple[int, int, int]], current: CurrentVectors) -> bool:
    entry = held.get(current.episode_id)
    return entry is not None and entry[0] == current.transcript_rev


def best(scores: np.ndarray, count: int) -> np.ndarray:
    """The positions of the `count` highest scores, highest first (ties in position order): the top is picked out
    first, as sorting every passage of a long archive takes longer than the product that scored them."""
    if len(scores) > count:
        top = np.argpartition(-scores, count - 1)[:count]
        threshold = scores[top].min()
        top = np.flatnonzero(scores >= threshold)  # every tie at the threshold, so the order below is stable
        return top[np.argsort(-scores[top], kind="stable")][:count]
    return np.argsort(-scores, kind="stable")[:count]


class IndexBeingBuilt(Exception):
    """Too much of the archive's vectors is missing from the index for a search to scan: it is being rebuilt."""


class VectorIndex:
    """The vector index folder of one archive on this machine. Its owner (fonoteca.app.Fonoteca) opens one per
    process; `passages` is what a search reads, `update` what embedding calls after it stored vectors."""

    def __init__(self, folder: Path, *, kind: str = "auto") -> None:
        self.folder = folder
        self.kind = kind  # "exact", "lists" or "auto" (FONOTECA_VECTOR_INDEX): whether the index has lists
        self._lock = threading.Lock()
        self._seen: dict[tuple[str, int], tuple[object, PassageVectors]] = {}
        self._rebuilding: threading.Thread | None = None

    def _wants_lists(self, passages: int, generation: _Generation | None) -> bool:
        """Whether an index of this many passages has lists, as `kind` says ("auto": past AUTO_LISTS_PASSAGES, and
        kept until it falls under AUTO_LISTS_KEPT of that)."""
        if passages == 0 or self.kind == "exact":
            return False
        if self.kind == "lists":
            return True
        kept = generation is not None and generation.lists
        return passages > AUTO_LISTS_PASSAGES * (AUTO_LISTS_KEPT if kept else 1)

    def _model_folder(self, model: str, dim: int) -> Path:
        return self.folder / f"{re.sub(r'[^A-Za-z0-9._-]+', '_', model)}-{dim}"

    def passages(self, archive: Archive, model: str, dim: int) -> PassageVectors:
        """The passages of the model as they are now (read again only when the archive's vectors or the index
        changed). Raises IndexBeingBuilt (and starts rebuilding it) when too much is missing from the index."""
        folder = self._model_folder(model, dim)
        key = (archive.vectors.stamp(model, dim), _file_stamp(folder / "current.json"))
        with self._lock:
            seen = self._seen.get((model, dim))
            if seen is not None and seen[0] == key:
                return seen[1]
        current = archive.vectors.current(model, dim)
        generation, stored, lists, index_spans, problem = _open(folder, lists=self.kind != "exact")
        held = generation.episodes if generation else {}
        waiting = [c for c in current if not c.damaged and not _holds(held, c)]
        if sum(c.count for c in waiting) > DELTA_PASSAGES:
            self.rebuild_in_background(archive, model, dim, problem or "it lacks many embedded passages")
            raise IndexBeingBuilt(
                f"the index of search by meaning is being rebuilt ({problem or 'many passages were embedded since'})"
            )
        damaged = [
            f"the stored meaning vectors of episode {c.episode_id} are damaged (their size is wrong); it is found by "
            "keywords only until `fonoteca embed` (or the web server, by itself) embeds it again"
            for c in current
            if c.damaged
        ]
        delta: dict[str, np.ndarray] = {}
        for episode_id, _rev, vectors in archive.vectors.quantised(model, dim, [c.episode_id for c in waiting]):
            if isinstance(vectors, str):
                damaged.append(vectors)
            else:
                delta[episode_id] = vectors
        delta_spans = archive.vectors.spans(model, dim, list(delta))
        delta = {e: v for e, v in delta.items() if e in delta_spans}
        for line in damaged:
            log.warning("%s", line)
        loaded = PassageVectors(stored, lists, generation, index_spans, current, delta, delta_spans, damaged)
        with self._lock:
            self._seen[(model, dim)] = (key, loaded)
        return loaded

    def rebuild_in_background(self, archive: Archive, model: str, dim: int, why: str) -> None:
        """Start `update` in a thread (one at a time), saying so in one line."""
        with self._lock:
            if self._rebuilding is not None and self._rebuilding.is_alive():
                return
            log.warning(
                "the index of search by meaning at %s is being rebuilt from the archive (%s); searches are by "
                "keywords until it is done", self._model_folder(model, dim), why,
            )  # fmt: skip
            self._rebuilding = threading.Thread(
                target=self._update_logged, args=(archive, model, dim), name="fonoteca-vector-index", daemon=False
            )
            self._rebuilding.start()

    def _update_logged(self, archive: Archive, model: str, dim: int) -> None:
        try:
            self.update(archive, model, dim)
        except Exception as exc:  # a thread's failure is a line in the log; the next search tries again
            log.warning("rebuilding the index of search by meaning failed: %s", exc)

    def wait(self) -> None:
        """Wait for a rebuild started by a search, if any."""
        thread = self._rebuilding
        if thread is not None:
            thread.join()

    def update(
        self, archive: Archive, model: str, dim: int, *, least: int = 0, anew: bool = False,
        on_progress: Callable[[int, int], None] | None = None,
    ) -> int:  # fmt: skip
        """Bring the model's index up to date with the archive's vectors (a new generation, written aside and put
        in place last), unless at most `least` passages wait to be added (searches scan those exactly). `anew`: built
        from scratch, as after every passage was embedded again (the index keeps an episode's rows for as long as its
        transcript stays the same). Returns how many episodes it added or removed; 0 at once while another process
        updates it."""
        folder = self._model_folder(model, dim)
        try:
            folder.mkdir(parents=True, exist_ok=True)
            for other in self.folder.iterdir():  # another model's index: that model is no longer the one searched
                if other.is_dir() and other != folder and not _locked(other):
                    shutil.rmtree(other, ignore_errors=True)
            with _writer_lock(folder) as locked:
                if not locked:
                    return 0
                return self._update(archive, folder, model, dim, least, anew, on_progress)
        except OSError as exc:
            raise disk_error(exc, folder) from exc

    def _update(
        self, archive: Archive, folder: Path, model: str, dim: int, least: int, anew: bool,
        on_progress: Callable[[int, int], None] | None,
    ) -> int:  # fmt: skip
        current = {c.episode_id: c for c in archive.vectors.current(model, dim) if not c.damaged}
        generation, old_stored, lists, index_spans, _problem = _open(folder, lists=self.kind != "exact")
        passages = sum(c.count for c in current.values())
        wants_lists = self._wants_lists(passages, generation)
        if generation is not None and (
            anew
            or generation.dead * 4 > generation.next_key
            or generation.lists != wants_lists
            or (generation.lists and passages > RETRAIN * generation.trained_on)
        ):
            # mostly removed keys, lists wanted or not wanted now, or far more rows than the cells were trained for
            generation, lists = None, None
        held = dict(generation.episodes) if generation else {}
        gone = [e for e, (rev, _f, _c) in held.items() if e not in current or current[e].transcript_rev != rev]
        adding = [e for e, c in current.items() if not _holds(held, c)]
        if generation is not None and not gone and sum(current[e].count for e in adding) <= least:
            return 0
        if lists is not None:  # opened mapped to be checked; read into memory to be changed only now that it will be
            lists = _faiss().read_index(str(folder / f"{generation.number}.ivf"))
        if generation is not None:
            spans, next_key, dead = [np.array(index_spans[: generation.next_key])], generation.next_key, generation.dead
            stored, trained_on = [np.array(old_stored[: generation.next_key])], generation.trained_on
        else:
            spans, stored, next_key, dead, trained_on = [], [], 0, 0, 0
        first_added = next_key
        removed = np.zeros(next_key, bool)
        for episode_id in gone:
            _rev, first, count = held.pop(episode_id)
            removed[first : first + count] = True
            dead += count
        if lists is not None and removed.any():
            bitmap = np.packbits(removed, bitorder="little")
            lists.remove_ids(_faiss().IDSelectorBitmap(len(bitmap), _faiss().swig_ptr(bitmap)))
        done = 0
        for chunk in _chunks(adding, 200):
            times = archive.vectors.spans(model, dim, chunk)
            for episode_id, rev, vectors in archive.vectors.quantised(model, dim, chunk):
                if isinstance(vectors, str) or episode_id not in times:
                    log.warning("%s", vectors if isinstance(vectors, str) else f"no passage times for {episode_id}")
                    continue
                held[episode_id] = (rev, next_key, len(vectors))
                spans.append(times[episode_id])
                stored.append(vectors)
                next_key += len(vectors)
            done += len(chunk)
            if on_progress:
                on_progress(done, len(adding))
        number = (generation.number if generation else _last_number(folder)) + 1
        all_spans = np.concatenate(spans) if spans else np.zeros((0, 4), np.float32)
        all_stored = np.concatenate(stored) if stored else np.zeros((0, dim), np.int8)
        if wants_lists and next_key > 0:
            with _building_threads():
                if lists is None:
                    lists, trained_on = _trained(all_stored), next_key
                for first in range(first_added, next_key, ADD_ROWS):
                    rows = np.arange(first, min(first + ADD_ROWS, next_key), dtype=np.int64)
                    lists.add_with_ids(_unit(all_stored[rows[0] : rows[-1] + 1]), rows)
            _faiss().write_index(lists, str(folder / f"{number}.ivf.partial"))
            (folder / f"{number}.ivf.partial").replace(folder / f"{number}.ivf")
        else:
            lists, trained_on = None, 0
        for name, array in (("spans", all_spans.astype(np.float32)), ("vectors", all_stored.astype(np.int8))):
            with open(folder / f"{number}.{name}.partial", "wb") as out:
                np.save(out, array)
            (folder / f"{number}.{name}.partial").replace(folder / f"{number}.{name}.npy")
        state = {"format": FORMAT, "number": number, "lists": lists is not None, "trained_on": trained_on,
                 "next_key": next_key, "dead": dead, "episodes": held}  # fmt: skip
        (folder / "current.partial").write_text(json.dumps(state, separators=(",", ":")))
        (folder / "current.partial").replace(folder / "current.json")
        for old in folder.iterdir():  # earlier generations: a process that has one open keeps reading it (unlinked)
            if old.name.split(".")[0].isdigit() and int(old.name.split(".")[0]) != number:
                old.unlink(missing_ok=True)
        return len(gone) + len(adding)


def _cells(rows: int) -> int:
    """How many cells lists of `rows` rows are trained with: about CELLS_PER_ROOT x sqrt(rows), a power of two, with
    at least ROWS_PER_CELL rows each (one cell for the smallest) and at most MOST_CELLS."""
    cells = min(
        2 ** round(math.log2(CELLS_PER_ROOT * math.sqrt(max(rows, 1)))), MOST_CELLS, max(rows // ROWS_PER_CELL, 1)
    )
    return 1 << (cells.bit_length() - 1)


def cells_probed(cells: int, share: float) -> int:
    """How many of `cells` cells a search probes, for a scope of this share of the lists' rows: PROBES, or
    1/PROBED_SHARE of the cells where that is more; up to 4 times as many for a scope under a quarter of them."""
    return min(cells, max(PROBES, cells // PROBED_SHARE) * min(4, max(1, int(0.25 / max(share, 1e-9)))))


def _trained(rows: np.ndarray) -> faiss.Index:
    """Empty lists over these int8 rows' unit vectors: cells found by k-means on a sample of ROWS_PER_CELL rows a cell
    (as faiss advises: enough for the cells, a few minutes at 4,096 cells), the 8-bit codes' ranges on the same."""
    cells, faiss = _cells(len(rows)), _faiss()
    lists = faiss.index_factory(rows.shape[1], f"IVF{cells},SQ8", faiss.METRIC_INNER_PRODUCT)
    lists.cp.min_points_per_centroid = 1  # the sample is sized here: no warning on stderr for a small archive
    sample = np.random.default_rng(0).choice(len(rows), min(len(rows), cells * ROWS_PER_CELL), replace=False)
    lists.train(_unit(rows[np.sort(sample)]))
    return lists


@contextlib.contextmanager
def _building_threads() -> Iterator[None]:
    """Every core of this machine while this thread trains and fills the lists (OpenMP's count is each thread's own:
    a search in another thread keeps its one), one again after, as a search here sets it anyway."""
    _faiss().omp_set_num_threads(os.cpu_count() or 1)
    try:
        yield
    finally:
        _faiss().omp_set_num_threads(1)


def _chunks(items: list[str], size: int) -> Iterator[list[str]]:
    for i in range(0, len(items), size):
        yield items[i : i + size]


def _file_stamp(path: Path) -> tuple[int, int] | None:
    try:
        stat = path.stat()
    except OSError:
        return None
    return stat.st_mtime_ns, stat.st_ino


def _last_number(folder: Path) -> int:
    numbers = [int(p.name.split(".")[0]) for p in folder.glob("*.*") if p.name.split(".")[0].isdigit()]
    return max(numbers, default=0)


def _open(folder: Path, *, lists: bool) -> tuple[_Generation | None, np.ndarray, faiss.Index | None, np.ndarray, str]:
    """The generation in force, its memory-mapped int8 vectors, its lists (when `lists` and it has them; memory-mapped
    too) and its spans; (None, empty, None, empty, why) when there is none or it cannot be read."""
    empty = np.zeros((0, 4), np.float32)
    nothing = np.zeros((0, 1), np.int8)
    state_file = folder / "current.json"
    if not state_file.exists():
        why = "it does not exist yet" if not folder.exists() else "its state file is missing"
        return None, nothing, None, empty, why
    try:
        state = json.loads(state_file.read_text())
        if state.get("format") != FORMAT:
            return None, nothing, None, empty, "it was written by another version"
        if state.get("graph"):
            return None, nothing, None, empty, "it was built with an HNSW graph, which fonoteca no longer uses"
        generation = _Generation(
            int(state["number"]), bool(state.get("lists", False)), int(state.get("trained_on", 0)),
            int(state["next_key"]), int(state["dead"]),
            {e: (int(r), int(f), int(c)) for e, (r, f, c) in state["episodes"].items()},
        )  # fmt: skip
        stored = np.load(folder / f"{generation.number}.vectors.npy", mmap_mode="r")
        if stored.ndim != 2 or stored.shape[0] != generation.next_key or stored.dtype != np.int8:
            raise ValueError(f"{stored.shape[0]} int8 vectors for {generation.next_key} keys")
        spans = np.load(folder / f"{generation.number}.spans.npy", mmap_mode="r")
        if spans.shape != (generation.next_key, 4):
            raise ValueError(f"{spans.shape[0]} passage times for {generation.next_key} keys")
        index = None
        if lists and generation.lists:
            path = folder / f"{generation.number}.ivf"
            if not path.exists():
                raise ValueError("its lists file is missing")
            faiss = _faiss()
            index = faiss.read_index(str(path), faiss.IO_FLAG_MMAP_IFC)
            if index.d != stored.shape[1] or index.ntotal != generation.next_key - generation.dead:
                raise ValueError(f"lists of {index.ntotal} rows of {index.d} dimensions")
        return generation, stored, index, spans, ""
    except (OSError, ValueError, KeyError, TypeError, RuntimeError, EOFError) as exc:
        # faiss's errors span lines (where in its source, then why): one line in the log
        return None, nothing, None, empty, f"it is damaged: {' '.join(str(exc).split())}"


def _locked(folder: Path) -> bool:
    with _writer_lock(folder) as locked:
        return not locked


@contextlib.contextmanager
def _writer_lock(folder: Path) -> Iterator[bool]:
    """One writer per index folder across processes (an advisory lock, released if the process dies)."""
    path = folder / "writer.lock"
    if not folder.exists():
        yield True
        return
    with open(path, "a") as handle:
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            yield False
            return
        try:
            yield True
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)
