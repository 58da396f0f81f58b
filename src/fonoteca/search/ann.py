"""Search by meaning over the passages' int8 vectors, memory-mapped and shared by every process that searches: an
exact scan (usearch's SIMD brute force, one pass over the mapped matrix) by default, an approximate-nearest-neighbour
graph (usearch's HNSW) only where FONOTECA_VECTOR_GRAPH turns it on.

The vectors in the archive stay the truth; the index is this machine's derived state, like the tantivy index: kept
in its own folder beside it (`fonoteca.index-vectors/`, one sub-folder per model and dimension, so a model change
builds a new one and drops the old), rebuilt from the archive whenever it is missing or damaged. Its files:

- `N.vectors.npy`, generation N of the passages' int8 vectors (as the archive stores them), one row per key, opened
  memory-mapped: every process that searches (web workers, the CLI) shares one copy through the page cache instead
  of holding a float32 matrix of its own;
- `N.usearch`, the HNSW graph over the same keys, only when the graph is turned on (opened memory-mapped too);
- `N.spans.npy`, each key's passage times (start, end, first and last segment idx);
- `current.json`, written last and renamed into place: the generation, and which episode (of which transcript
  revision) holds which keys. A crash leaves the previous generation in force, never a half-written one.

Changes are incremental. A search compares `current.json` with the archive's current vectors (VectorStore.current):
the keys of an episode that was deleted or transcribed again are masked out at once, and the episodes embedded since
the index was written (the "delta", at most DELTA_PASSAGES) are scanned exactly, read from the archive. `update`
(after `fonoteca embed`, and in the web server's background after each batch it embeds) writes a new generation with
them: the graph is loaded, the dead keys removed, the new passages added, and it is saved aside and renamed. When
more is missing from the index than a search may scan (a missing or damaged index on a large archive), the search
answers by keywords with one line saying why, while a thread rebuilds it.

Why exact by default: the exact int8 scan takes ~22 ms for 175,000 passages on one core (numpy's float32 product over
a 342 MB matrix: ~32 ms), recall 1.0. The graph is for archives far past that size, where the scan grows with the
archive and the graph does not. Its parameters were chosen on the real questions people ask (bench/vector_graph.py,
300,000 vectors made from real passages' vectors): a question lies farther from every passage than a passage does,
and a graph of M 16, efConstruction 64 found 0.85 of a question's exact top 10 at efSearch 1,024, where M 32,
efConstruction 128 finds 0.99 at 2,048 in 8 ms (the exact scan: 26 ms), for a graph built 2.8x as long and 20 % larger.
At 1,760,000 vectors (15,000 hours) it finds 0.76 of a question's top 10 at 2,048 in 9 ms, 0.87 at 4,096, against the
scan's 97 ms: far past that size, more of the exact answer is traded for time. (An earlier judgement, "11-21 %
of the exact top 10", was made on bench/web.py's archive, whose 163,827 vectors are 436 distinct rows copied hundreds
of times: every top 10 there is a tie among copies, and HNSW over exact duplicates is degenerate.) With the graph, a
scope of more than EXACT_PASSAGES passages asks it (searching at least EXPANSION_SEARCH broadly) for enough neighbours
that the scope's share is the count wanted.
Either way the candidates are scored again in float32 against the int8 rows, so scores are those of brute force,
and filters (show, episode, dates) stay exact: a scope is scanned over its own rows only.
"""

from __future__ import annotations

import contextlib
import fcntl
import functools
import json
import logging
import re
import shutil
import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np

# onnxruntime (faster-whisper's voice detection) crashes the process (SIGSEGV) when it is imported after usearch's
# compiled module (usearch 2.26.6, onnxruntime 1.32.0: measured here), and a web server searches by meaning and
# transcribes in one process: it is loaded first, always.
import onnxruntime  # noqa: F401, I001
from usearch.index import Index, MetricKind
from usearch.index import search as exact_search

from fonoteca.archive import Archive
from fonoteca.archive.vectors import CurrentVectors
from fonoteca.errors import disk_error
from fonoteca.search.index import epoch

log = logging.getLogger(__name__)

EXACT_PASSAGES = 5_000  # a scope this small is scanned exactly (its vectors read from the index: ~3 ms at 512-d)
DELTA_PASSAGES = 20_000  # passages not in the index yet that a search scans exactly; beyond it the index is rebuilt
OVERSAMPLE = 2.0  # neighbours asked of the graph per neighbour wanted in the scope, beyond the scope's share
OVERSCAN = 2  # candidates taken from the int8 scan (its question is quantised too) per passage wanted, scored again
CONNECTIVITY, EXPANSION_ADD = 32, 128  # HNSW's M and efConstruction: see the module's docstring
EXPANSION_SEARCH = 2048  # HNSW's efSearch (more when more neighbours are asked for): see the module's docstring
FORMAT = 2  # of current.json and the files it names


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
    graph: bool  # whether N.usearch was written beside the vectors
    next_key: int
    dead: int  # keys of episodes removed since the graph was built from scratch: compacted when too many
    episodes: dict[str, tuple[int, int, int]]  # episode_id -> (transcript_rev, first key, passages)


class PassageVectors:
    """The passages a search by meaning ranks, as this process sees them now: the index's generation (memory-mapped)
    with its keys of deleted or re-transcribed episodes masked out, plus the episodes embedded since, held here.
    Keys (rows) are the index's keys, then the delta's after them; an episode's passages are consecutive rows."""

    def __init__(
        self,
        stored: np.ndarray,
        graph: Index | None,
        generation: _Generation | None,
        graph_spans: np.ndarray,
        current: list[CurrentVectors],
        delta: dict[str, np.ndarray],
        delta_spans: dict[str, np.ndarray],
        damaged: list[str],
    ) -> None:
        self.stored = stored  # the generation's int8 vectors, memory-mapped: row = key
        self.graph = graph
        self.graph_keys = generation.next_key if generation else 0
        held = generation.episodes if generation else {}
        self.episode_ids = [c.episode_id for c in current if c.episode_id in delta or _holds(held, c)]
        self.slot = {episode_id: slot for slot, episode_id in enumerate(self.episode_ids)}
        by_id = {c.episode_id: c for c in current}
        self.episode_show = np.array([by_id[e].show_id for e in self.episode_ids], np.int64)
        self.epochs = np.array([epoch(by_id[e].published) for e in self.episode_ids], np.int64)
        self.first_row = np.zeros(len(self.episode_ids), np.int64)
        self.row_count = np.zeros(len(self.episode_ids), np.int64)
        delta_total = sum(len(v) for v in delta.values())
        self.row_episode = np.full(self.graph_keys + delta_total, -1, np.int32)
        spans = [graph_spans[: self.graph_keys]]
        vectors = []
        next_row = self.graph_keys
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
        self.spans = np.concatenate(spans) if len(spans) > 1 else graph_spans[: self.graph_keys]
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
            wanted, in_graph, in_delta = self._everywhere
        else:
            wanted, in_graph, in_delta = self._rows_of(allowed)
        rows = [in_delta + self.graph_keys]
        scores = [self.delta[in_delta] @ question if len(in_delta) else np.zeros(0, np.float32)]
        if len(in_graph):
            keys = None
            if self.graph is not None and len(in_graph) > EXACT_PASSAGES:
                keys = self._candidates(question, wanted, len(in_graph), count)
            if keys is None:
                keys = self._scan(question, in_graph, count)
            rows.append(keys)
            scores.append(_unit(self.stored[keys]) @ question)
        all_rows, all_scores = np.concatenate(rows), np.concatenate(scores)
        top = best(all_scores, count)
        return all_rows[top], all_scores[top]

    def _rows_of(self, allowed: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Which rows the allowed episodes hold (a mask), and which of them are the index's keys and the delta's."""
        wanted = np.append(allowed, False)[self.row_episode]  # -1 (a dead key) reads the appended False
        return wanted, np.flatnonzero(wanted[: self.graph_keys]), np.flatnonzero(wanted[self.graph_keys :])

    @functools.cached_property
    def _everywhere(self) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        # The rows of a search over every episode, the web's usual one: the same until the archive's vectors change
        # (and this object with them), where each search read them off every row again (~0.3 ms at 164,000 rows).
        return self._rows_of(np.ones(len(self.episode_ids), bool))

    def _scan(self, question: np.ndarray, keys: np.ndarray, count: int) -> np.ndarray:
        """The keys (of `keys`, sorted) nearest to the question by an exact scan of their int8 rows: one SIMD pass over
        the mapped matrix when the scope is (nearly) all of it, over a copy of the scope's rows otherwise."""
        ask = min(len(keys), count * OVERSCAN)
        left_out = self.graph_keys - len(keys)
        if left_out <= count * OVERSCAN * 4:  # the whole matrix, asking for as many more as there are keys outside
            found = exact_search(self.stored, quantise(question), min(self.graph_keys, ask + left_out),
                                 MetricKind.Cos, exact=True).keys  # fmt: skip
            found = np.asarray(found, np.int64)
            return found if left_out == 0 else found[np.isin(found, keys, assume_unique=True)]
        found = exact_search(
            np.ascontiguousarray(self.stored[keys]), quantise(question), ask, MetricKind.Cos, exact=True
        )
        return keys[np.asarray(found.keys, np.int64)]

    def _candidates(self, question: np.ndarray, wanted: np.ndarray, in_scope: int, count: int) -> np.ndarray | None:
        """Keys the graph finds near the question, of the scope only: enough of them that the scope's share is
        `count`, or None when the graph gave too few of the scope (then the caller scans it exactly)."""
        ask = min(self.graph_keys, int(count * OVERSAMPLE * self.graph_keys / in_scope) + count)
        # usearch searches only as broadly as efSearch (64 by default) however many neighbours are asked for.
        self.graph.expansion_search = max(EXPANSION_SEARCH, ask)
        keys = np.asarray(self.graph.search(quantise(question), ask).keys, np.int64)
        keys = keys[(keys >= 0) & (keys < self.graph_keys)]
        keys = keys[wanted[keys]]
        return keys if len(keys) >= min(count, in_scope) else None


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

    def __init__(self, folder: Path, *, graph: bool = False) -> None:
        self.folder = folder
        self.graph = graph  # build and search an HNSW graph beside the vectors (FONOTECA_VECTOR_GRAPH)
        self._lock = threading.Lock()
        self._seen: dict[tuple[str, int], tuple[object, PassageVectors]] = {}
        self._rebuilding: threading.Thread | None = None

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
        generation, stored, graph, graph_spans, problem = _open(folder, graph=self.graph)
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
        loaded = PassageVectors(stored, graph, generation, graph_spans, current, delta, delta_spans, damaged)
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
        generation, old_stored, _view, graph_spans, _problem = _open(folder, graph=False)
        if generation is not None and (
            anew or generation.dead * 4 > generation.next_key or generation.graph != self.graph
        ):
            generation = None  # mostly removed keys, or the graph turned on or off: built again from scratch
        held = dict(generation.episodes) if generation else {}
        gone = [e for e, (rev, _f, _c) in held.items() if e not in current or current[e].transcript_rev != rev]
        adding = [e for e, c in current.items() if not _holds(held, c)]
        if generation is not None and not gone and sum(current[e].count for e in adding) <= least:
            return 0
        graph = None
        if generation is not None:
            if self.graph:
                graph = Index.restore(str(folder / f"{generation.number}.usearch"), view=False)
            spans, next_key, dead = [np.array(graph_spans[: generation.next_key])], generation.next_key, generation.dead
            stored = [np.array(old_stored[: generation.next_key])]
        else:
            if self.graph:
                graph = Index(
                    ndim=dim, metric="cos", dtype="i8", connectivity=CONNECTIVITY, expansion_add=EXPANSION_ADD
                )
            spans, stored, next_key, dead = [], [], 0, 0
        for episode_id in gone:
            _rev, first, count = held.pop(episode_id)
            if graph is not None:
                graph.remove(np.arange(first, first + count, dtype=np.uint64))
            dead += count
        done = 0
        for chunk in _chunks(adding, 200):
            times = archive.vectors.spans(model, dim, chunk)
            for episode_id, rev, vectors in archive.vectors.quantised(model, dim, chunk):
                if isinstance(vectors, str) or episode_id not in times:
                    log.warning("%s", vectors if isinstance(vectors, str) else f"no passage times for {episode_id}")
                    continue
                if graph is not None:
                    graph.add(np.arange(next_key, next_key + len(vectors), dtype=np.uint64), vectors, threads=2)
                held[episode_id] = (rev, next_key, len(vectors))
                spans.append(times[episode_id])
                stored.append(vectors)
                next_key += len(vectors)
            done += len(chunk)
            if on_progress:
                on_progress(done, len(adding))
        number = (generation.number if generation else _last_number(folder)) + 1
        if graph is not None:
            graph.save(str(folder / f"{number}.usearch.partial"))
            (folder / f"{number}.usearch.partial").replace(folder / f"{number}.usearch")
        all_spans = np.concatenate(spans) if spans else np.zeros((0, 4), np.float32)
        all_stored = np.concatenate(stored) if stored else np.zeros((0, dim), np.int8)
        for name, array in (("spans", all_spans.astype(np.float32)), ("vectors", all_stored.astype(np.int8))):
            with open(folder / f"{number}.{name}.partial", "wb") as out:
                np.save(out, array)
            (folder / f"{number}.{name}.partial").replace(folder / f"{number}.{name}.npy")
        state = {"format": FORMAT, "number": number, "graph": graph is not None, "next_key": next_key, "dead": dead,
                 "episodes": held}  # fmt: skip
        (folder / "current.partial").write_text(json.dumps(state, separators=(",", ":")))
        (folder / "current.partial").replace(folder / "current.json")
        for old in folder.iterdir():  # earlier generations: a process that has one open keeps reading it (unlinked)
            if old.name.split(".")[0].isdigit() and int(old.name.split(".")[0]) != number:
                old.unlink(missing_ok=True)
        return len(gone) + len(adding)


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


def _open(folder: Path, *, graph: bool) -> tuple[_Generation | None, np.ndarray, Index | None, np.ndarray, str]:
    """The generation in force, its memory-mapped int8 vectors, its memory-mapped graph (when `graph` and it has one)
    and its spans; (None, empty, None, empty, why) when there is none or it cannot be read."""
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
        generation = _Generation(
            int(state["number"]), bool(state["graph"]), int(state["next_key"]), int(state["dead"]),
            {e: (int(r), int(f), int(c)) for e, (r, f, c) in state["episodes"].items()},
        )  # fmt: skip
        stored = np.load(folder / f"{generation.number}.vectors.npy", mmap_mode="r")
        if stored.ndim != 2 or stored.shape[0] != generation.next_key or stored.dtype != np.int8:
            raise ValueError(f"{stored.shape[0]} int8 vectors for {generation.next_key} keys")
        spans = np.load(folder / f"{generation.number}.spans.npy", mmap_mode="r")
        if spans.shape != (generation.next_key, 4):
            raise ValueError(f"{spans.shape[0]} passage times for {generation.next_key} keys")
        index = None
        if graph and generation.graph:
            index = Index.restore(str(folder / f"{generation.number}.usearch"), view=True)
            if index is None:
                raise ValueError("its graph file is missing")
        return generation, stored, index, spans, ""
    except (OSError, ValueError, KeyError, TypeError, RuntimeError, EOFError) as exc:
        return None, nothing, None, empty, f"it is damaged: {exc}"


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
