"""The vector index of search by meaning (fonoteca.search.ann): a real archive, the memory-mapped int8 vectors and
faiss's real inverted-file index (its lists, where the setting or the archive's size asks for them) on disk. Vectors
are made here (clustered like real ones) and stored through the archive, as embedding would, so that exact brute
force over the very same vectors can be compared with what the index answers."""

from __future__ import annotations

import json
import logging
import subprocess
import sys
import textwrap
import time

import numpy as np
import pytest
from sqlalchemy import event
from test_meaning import talks  # noqa: F401  (the fixture: two real embedded talks)
from typer.testing import CliRunner

from fonoteca.app import Fonoteca
from fonoteca.archive import Archive, Segment
from fonoteca.archive.vectors import EpisodeVectors
from fonoteca.cli import app as cli
from fonoteca.search import ann
from fonoteca.search.ann import VectorIndex
from fonoteca.settings import Settings

MODEL, DIM = "test-model", 32
CENTRES = np.random.default_rng(7).standard_normal((12, DIM)).astype(np.float32)


def _vectors(rng: np.random.Generator, count: int) -> np.ndarray:
    vectors = CENTRES[rng.integers(0, len(CENTRES), count)] + 0.7 * rng.standard_normal((count, DIM))
    return (vectors / np.linalg.norm(vectors, axis=1, keepdims=True)).astype(np.float32)


def _embedded_episode(archive: Archive, show: str, guid: str, passages: int, rng: np.random.Generator) -> str:
    """A transcribed episode of one 30-second segment per passage, with vectors of MODEL stored for it."""
    show_row, _ = archive.add_show(title=show, source=f"/tmp/{show}", source_kind="folder")
    episode, _ = archive.upsert_episode(show_row, guid=guid, title=guid, kind="audio", published="2024-03-01T10:00Z")
    segments = [Segment(i * 30.0, (i + 1) * 30.0, f"parte {i} de {guid}") for i in range(passages)]
    archive.replace_transcript(episode.id, segments, source="transcribed", language="es", duration=passages * 30)
    _store(archive, episode.id, rng)
    return episode.id


def _store(archive: Archive, episode_id: str, rng: np.random.Generator) -> None:
    episode = archive.get_episode(episode_id)
    count = len(archive.segments(episode_id, words=False))
    spans = np.array([[i * 30.0, (i + 1) * 30.0, i, i] for i in range(count)], np.float32)
    stored = EpisodeVectors(episode_id, episode.transcript_rev, spans, _vectors(rng, count))
    archive.vectors.save_many(MODEL, DIM, [stored])


def _exact(archive: Archive, question: np.ndarray, episode_ids: set[str], count: int) -> list[tuple[str, float]]:
    """Brute force over every stored vector of these episodes: (episode id, passage start) of the top `count`."""
    matrix = archive.vectors.load(MODEL, DIM)
    rows = [r for r in range(len(matrix.vectors)) if matrix.episode_ids[matrix.row_episode[r]] in episode_ids]
    scores = matrix.vectors[rows] @ question
    top = np.argsort(-scores, kind="stable")[:count]
    return [(matrix.episode_ids[matrix.row_episode[rows[i]]], float(matrix.spans[rows[i]][0])) for i in top]


def _found(passages: ann.PassageVectors, question: np.ndarray, allowed: np.ndarray, count: int) -> list:
    rows, _scores = passages.nearest(question, allowed, count)
    return [(passages.episode_of(int(r)), float(passages.spans[r][0])) for r in rows]


def _held(settings: Settings) -> dict[str, list[int]]:
    folder = settings.vector_index_dir / f"{MODEL}-{DIM}"
    return json.loads((folder / "current.json").read_text())["episodes"]


def test_the_index_follows_added_retranscribed_and_deleted_episodes(settings):
    rng = np.random.default_rng(1)
    index = VectorIndex(settings.vector_index_dir)
    with Archive(settings.db_path) as archive:
        first = _embedded_episode(archive, "Uno", "a", 40, rng)
        second = _embedded_episode(archive, "Uno", "b", 30, rng)
        assert index.update(archive, MODEL, DIM) == 2
        assert {e: c for e, (_r, _f, c) in _held(settings).items()} == {first: 40, second: 30}

        third = _embedded_episode(archive, "Uno", "c", 20, rng)
        # Not in the index yet: a search scans it exactly until the next update adds it.
        assert index.passages(archive, MODEL, DIM).passages == 90
        assert index.update(archive, MODEL, DIM) == 1 and set(_held(settings)) == {first, second, third}

        archive.replace_transcript(second, [Segment(0, 30, "otra cosa")], source="transcribed")
        assert index.passages(archive, MODEL, DIM).passages == 60, "the old transcript's passages are masked at once"
        _store(archive, second, rng)
        archive.delete_episode(first)
        seen = index.passages(archive, MODEL, DIM)
        assert seen.passages == 21 and set(seen.episode_ids) == {second, third}
        assert index.update(archive, MODEL, DIM) == 3  # first and the old second removed, the new second added
        held = _held(settings)
        assert set(held) == {second, third} and held[second][2] == 1
        question = _vectors(rng, 1)[0]
        everything = np.ones(2, bool)
        assert _found(index.passages(archive, MODEL, DIM), question, everything, 21) == _exact(
            archive, question, {second, third}, 21
        )


def test_a_search_over_every_episode_finds_the_exact_top_again_and_after_one_is_deleted(settings):
    """The rows of a search over every episode are worked out once per state of the archive's vectors: asked twice
    they give the same exact top, and an episode deleted since is out of the next search's."""
    rng = np.random.default_rng(3)
    index = VectorIndex(settings.vector_index_dir)
    with Archive(settings.db_path) as archive:
        ids = [_embedded_episode(archive, "Uno", guid, passages, rng) for guid, passages in (("a", 40), ("b", 30))]
        ids.append(_embedded_episode(archive, "Dos", "c", 20, rng))
        index.update(archive, MODEL, DIM)
        question = _vectors(rng, 1)[0]
        seen = index.passages(archive, MODEL, DIM)
        exact = _exact(archive, question, set(ids), 10)
        assert _found(seen, question, np.ones(3, bool), 10) == exact
        assert _found(seen, question, np.ones(3, bool), 10) == exact
        archive.delete_episode(ids[0])
        after = index.passages(archive, MODEL, DIM)
        assert after is not seen and set(after.episode_ids) == set(ids[1:])
        assert _found(after, question, np.ones(2, bool), 10) == _exact(archive, question, set(ids[1:]), 10)


def _small_lists(monkeypatch) -> None:
    """Lists as a large archive's, at a test's size: cells of ~40 rows, and 8 of the 64 probed."""
    monkeypatch.setattr(ann, "PROBES", 8)
    monkeypatch.setattr(ann, "PROBED_SHARE", 8)


@pytest.mark.parametrize("kind", ["exact", "lists"], ids=["exact scan", "lists"])
def test_a_filtered_meaning_search_over_a_small_show_finds_its_exact_top_passages(settings, monkeypatch, kind):
    monkeypatch.setattr(ann, "EXACT_PASSAGES", 300)  # with lists, the big show (3,000 passages) goes through them
    _small_lists(monkeypatch)
    rng = np.random.default_rng(2)
    index = VectorIndex(settings.vector_index_dir, kind=kind)
    with Archive(settings.db_path) as archive:
        big = [_embedded_episode(archive, "Grande", f"g{n}", 100, rng) for n in range(30)]
        small = {_embedded_episode(archive, "Pequeño", f"p{n}", 15, rng) for n in range(2)}
        index.update(archive, MODEL, DIM)
        passages = index.passages(archive, MODEL, DIM)
        assert (passages.lists is not None) == (kind == "lists")
        if kind == "lists":
            assert passages.lists.nlist == 64 and ann.cells_probed(64, 1.0) == 8
        scanned = []
        scan = passages._scan
        monkeypatch.setattr(passages, "_scan", lambda *args: scanned.append(len(args[1])) or scan(*args))
        in_small = np.array([e in small for e in passages.episode_ids])
        in_third = np.array([e in big[:10] for e in passages.episode_ids])  # 1,000 passages: a mid-sized scope
        recall, recall_third = [], []
        for question in _vectors(rng, 20):
            assert _found(passages, question, in_small, 10) == _exact(archive, question, small, 10)
            found = set(_found(passages, question, ~in_small, 10))
            recall.append(len(found & set(_exact(archive, question, set(big), 10))) / 10)
            found = _found(passages, question, in_third, 10)
            assert {episode for episode, _start in found} <= set(big[:10]), "the selector keeps to the scope"
            recall_third.append(len(set(found) & set(_exact(archive, question, set(big[:10]), 10))) / 10)
        assert np.mean(recall) >= (0.9 if kind == "lists" else 1.0), "the big show's scope, with its filter"
        assert np.mean(recall_third) >= (0.9 if kind == "lists" else 1.0), "a third of the big show, with its filter"
        # The small show is scanned exactly (its 30 passages); with lists, no bigger scope is.
        assert set(scanned) == ({30} if kind == "lists" else {30, 3000, 1000})
        everything = np.ones(len(passages.episode_ids), bool)
        question = _vectors(rng, 1)[0]
        found = set(_found(passages, question, everything, 10))
        assert len(found & set(_exact(archive, question, set(big) | small, 10))) >= (8 if kind == "lists" else 10)


def test_rows_of_a_large_vectors_file_are_read_from_the_file_with_the_scores_the_mapping_gives(settings, monkeypatch):
    """Past MAPPED_UNDER_BYTES the rows the lists propose are read with os.pread (a process's RSS stays small), under
    it through the mapping (faster): both give every search the same passages and scores."""
    _small_lists(monkeypatch)
    rng = np.random.default_rng(5)
    with Archive(settings.db_path) as archive:
        for n in range(20):
            _embedded_episode(archive, "Grande", f"g{n}", 100, rng)
        VectorIndex(settings.vector_index_dir, kind="lists").update(archive, MODEL, DIM)
        mapped = VectorIndex(settings.vector_index_dir, kind="lists").passages(archive, MODEL, DIM)
        monkeypatch.setattr(ann, "MAPPED_UNDER_BYTES", 0)  # as a file of 15,000 hours' passages is
        from_file = VectorIndex(settings.vector_index_dir, kind="lists").passages(archive, MODEL, DIM)
    assert mapped._stored_file is None and from_file._stored_file is not None
    everything = np.ones(len(mapped.episode_ids), bool)
    for question in _vectors(rng, 10):
        rows, scores = mapped.nearest(question, everything, 20)
        assert np.array_equal(rows, from_file.nearest(question, everything, 20)[0])
        assert np.array_equal(scores, from_file.nearest(question, everything, 20)[1])


def test_the_lists_follow_added_retranscribed_and_deleted_episodes(settings, monkeypatch):
    """Updated in place: the lists read back, the removed episodes' keys taken out, the new ones added, written as
    a new generation; trained again only once they hold RETRAIN times the rows they were trained for."""
    monkeypatch.setattr(ann, "EXACT_PASSAGES", 50)
    _small_lists(monkeypatch)
    rng = np.random.default_rng(4)
    index = VectorIndex(settings.vector_index_dir, kind="lists")
    folder = settings.vector_index_dir / f"{MODEL}-{DIM}"
    with Archive(settings.db_path) as archive:
        ids = [_embedded_episode(archive, "Uno", f"e{n}", 100, rng) for n in range(10)]
        assert index.update(archive, MODEL, DIM) == 10
        state = json.loads((folder / "current.json").read_text())
        assert state["lists"] and state["trained_on"] == 1000 and [p.name for p in folder.glob("*.ivf")] == ["1.ivf"]
        segments = [Segment(i * 30.0, (i + 1) * 30.0, "otra") for i in range(60)]
        archive.replace_transcript(ids[0], segments, source="transcribed")
        _store(archive, ids[0], rng)
        archive.delete_episode(ids[1])
        ids.append(_embedded_episode(archive, "Uno", "nuevo", 100, rng))
        assert index.update(archive, MODEL, DIM) == 4  # two removed (one re-transcribed), two added
        state = json.loads((folder / "current.json").read_text())
        assert state["trained_on"] == 1000 and state["dead"] == 200 and state["next_key"] == 1160
        assert [p.name for p in folder.glob("*.ivf")] == ["2.ivf"]
        passages = index.passages(archive, MODEL, DIM)
        assert passages.lists.ntotal == 960 == passages.passages
        live = set(ids) - {ids[1]}
        for question in _vectors(rng, 5):
            everything = np.ones(len(passages.episode_ids), bool)
            found = _found(passages, question, everything, 10)
            assert {e for e, _s in found} <= live
            assert len(set(found) & set(_exact(archive, question, live, 10))) >= 8
        for n in range(31):
            _embedded_episode(archive, "Dos", f"m{n}", 100, rng)
        index.update(archive, MODEL, DIM)
        state = json.loads((folder / "current.json").read_text())
        assert state["trained_on"] == 4060 == state["next_key"] and state["dead"] == 0, "more than 4x: trained anew"


def test_the_index_is_built_again_when_exact_and_lists_are_switched_or_auto_crosses_its_size(settings, monkeypatch):
    monkeypatch.setattr(ann, "AUTO_LISTS_PASSAGES", 500)
    rng = np.random.default_rng(5)
    folder = settings.vector_index_dir / f"{MODEL}-{DIM}"

    def state() -> dict:
        return json.loads((folder / "current.json").read_text())

    with Archive(settings.db_path) as archive:
        ids = [_embedded_episode(archive, "Uno", f"e{n}", 100, rng) for n in range(4)]
        VectorIndex(settings.vector_index_dir, kind="lists").update(archive, MODEL, DIM)
        assert state()["lists"] and list(folder.glob("*.ivf"))
        VectorIndex(settings.vector_index_dir, kind="exact").update(archive, MODEL, DIM)
        assert not state()["lists"] and not list(folder.glob("*.ivf")), "built again without lists"
        passages = VectorIndex(settings.vector_index_dir, kind="lists").passages(archive, MODEL, DIM)
        assert passages.lists is None and passages.passages == 400, "searched exactly until the next update"
        auto = VectorIndex(settings.vector_index_dir)  # "auto": 400 passages are under its 500
        assert auto.update(archive, MODEL, DIM) == 0 and not state()["lists"]
        ids.append(_embedded_episode(archive, "Uno", "e4", 200, rng))
        auto.update(archive, MODEL, DIM)
        assert state()["lists"] and state()["trained_on"] == 600, "past 500: built again with lists"
        archive.delete_episode(ids[0])  # 500 passages: lists kept down to 4/5 of the size, not built back and forth
        auto.update(archive, MODEL, DIM)
        assert state()["lists"] and state()["dead"] == 100
        archive.delete_episode(ids[1])
        archive.delete_episode(ids[2])
        auto.update(archive, MODEL, DIM)
        assert not state()["lists"] and state()["next_key"] == 300


def test_an_index_built_with_the_old_hnsw_graph_is_built_again(settings):
    rng = np.random.default_rng(6)
    folder = settings.vector_index_dir / f"{MODEL}-{DIM}"
    index = VectorIndex(settings.vector_index_dir, kind="exact")
    with Archive(settings.db_path) as archive:
        _embedded_episode(archive, "Uno", "a", 30, rng)
        index.update(archive, MODEL, DIM)
        state = json.loads((folder / "current.json").read_text())
        state["graph"] = True  # as fonoteca wrote it with FONOTECA_VECTOR_GRAPH, beside N.usearch
        del state["lists"], state["trained_on"]
        (folder / "current.json").write_text(json.dumps(state))
        (folder / f"{state['number']}.usearch").write_bytes(b"an old graph")
        assert index.passages(archive, MODEL, DIM).passages == 30, "its 30 passages are scanned as the delta"
        assert index.update(archive, MODEL, DIM) == 1
        assert "graph" not in json.loads((folder / "current.json").read_text())
        assert not list(folder.glob("*.usearch")), "the old graph is deleted with its generation"


@pytest.mark.parametrize("kind", ["exact", "lists"], ids=["vectors file", "lists file"])
def test_a_corrupt_or_missing_index_is_rebuilt_while_search_answers_by_keywords(
    settings, talks, monkeypatch, caplog, kind  # noqa: F811
):  # fmt: skip
    monkeypatch.setattr(ann, "DELTA_PASSAGES", 2)  # the talks' 5 passages are "many": the index must be rebuilt
    monkeypatch.setattr(ann, "EXACT_PASSAGES", 0)  # with lists, every search goes through them
    settings = settings.replace(vector_index=kind)
    with Fonoteca(settings) as app:
        app.embed()
        assert app.search("the telescope mirror", mode="meaning").mode == "meaning"
    folder = next(settings.vector_index_dir.iterdir())
    for damage in ("corrupt", "missing"):
        vectors = next(folder.glob("*.vectors.npy" if kind == "exact" else "*.ivf"))
        if damage == "corrupt":
            vectors.write_bytes(b"not an index" * 100)
        else:
            vectors.unlink()
        caplog.clear()
        with Fonoteca(settings) as app, caplog.at_level(logging.WARNING, logger="fonoteca.search.ann"):
            meanwhile = app.search("golden mirror", mode="hybrid")
            app.vectors.wait()
            after = app.search("the telescope mirror", mode="meaning")
        assert meanwhile.mode == "keyword" and "rebuilt" in meanwhile.note, damage
        assert talks["en"] in {h.episode_id for h in meanwhile.hits}, "found by its words meanwhile"
        lines = [r.getMessage() for r in caplog.records]
        assert len(lines) == 1 and "being rebuilt" in lines[0] and "\n" not in lines[0], lines
        assert after.mode == "meaning" and after.hits[0].episode_id == talks["en"], damage


@pytest.mark.parametrize("kind", ["exact", "lists"], ids=["exact scan", "lists"])
def test_two_processes_share_one_index_file(settings, kind):
    rng = np.random.default_rng(3)
    with Archive(settings.db_path) as archive:
        episodes = [_embedded_episode(archive, "Uno", f"e{n}", 50, rng) for n in range(4)]
        VectorIndex(settings.vector_index_dir, kind=kind).update(archive, MODEL, DIM)
    question = _vectors(rng, 1)[0]
    probe = textwrap.dedent(f"""
        import json, sys, numpy as np
        from pathlib import Path
        from fonoteca.archive import Archive
        from fonoteca.search import ann
        ann.EXACT_PASSAGES = 0  # with lists, searched through them
        with Archive(Path({str(settings.db_path)!r})) as archive:
            index = ann.VectorIndex(Path({str(settings.vector_index_dir)!r}), kind={kind!r})
            seen = index.passages(archive, {MODEL!r}, {DIM})
            rows, _ = seen.nearest(np.array({question.tolist()!r}, np.float32), np.ones(4, bool), 5)
            maps = [line.split()[-1] for line in open("/proc/self/maps") if line.rstrip().endswith((".npy", ".ivf"))]
            print(json.dumps([sorted(set(maps)), [int(r) for r in rows]]))
            sys.stdout.flush()
            sys.stdin.read()  # keeps the index open until the test has looked
    """)
    children = [
        subprocess.Popen([sys.executable, "-c", probe], stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
        for _ in range(2)
    ]
    try:
        answers = [json.loads(child.stdout.readline()) for child in children]
    finally:
        for child in children:
            child.communicate("")
    folder = settings.vector_index_dir / f"{MODEL}-{DIM}"
    files = sorted(str(f) for f in [*folder.glob("*.npy"), *folder.glob("*.ivf")])
    assert len(files) == (3 if kind == "lists" else 2)  # the vectors, the spans (and the lists)
    assert all(maps == files for maps, _rows in answers), "both map the very same files"
    assert answers[0][1] == answers[1][1]
    assert len(episodes) == 4


def test_an_import_returns_once_keyword_searchable_and_says_what_waits_to_be_embedded(settings, tmp_path):
    folder = tmp_path / "transcripts"
    folder.mkdir()
    stamp = "00:{0:02d}:{1:02d},{2}"
    lines = [f"{n}\n{stamp.format(n // 60, n % 60, '000')} --> {stamp.format(n // 60, n % 60, '900')}\n"
             f"Frase número {n} del programa." for n in range(0, 600, 3)]  # fmt: skip
    (folder / "charla.srt").write_text("\n\n".join(lines) + "\n")
    runner = CliRunner()
    imported = runner.invoke(cli, ["--home", str(settings.home), "import", str(folder)])
    assert imported.exit_code == 0, imported.output
    said = " ".join(imported.output.split())
    assert "passages of 1 episode(s) wait to be embedded" in said and "`fonoteca embed`" in said, said
    assert "about" in said and "passages/s" in said
    with Fonoteca(settings) as app:
        assert app.search("frase número", mode="keyword").total > 0, "searchable by its words at once"
        assert not app.archive.vectors.any(), "nothing was embedded in front of the user"
        assert app.embed() == 1
        assert app.search("frase del programa", mode="meaning").mode == "meaning"
    assert list(settings.vector_index_dir.rglob("current.json")), "embedding brought the vector index up to date"


def test_the_vectors_stamp_is_counted_again_only_when_the_archive_changed(settings) -> None:
    rng = np.random.default_rng(3)
    with Archive(settings.db_path) as archive, Archive(settings.db_path) as another_process:
        first = _embedded_episode(archive, "Charlas", "uno", 4, rng)
        counted: list[str] = []

        def record(_conn, _cursor, statement: str, *_args) -> None:
            if "count(" in statement.lower() and "vectors" in statement:
                counted.append(statement)

        event.listen(archive.database.reader_engine, "before_cursor_execute", record)
        stamp = archive.vectors.stamp(MODEL, DIM)
        assert [archive.vectors.stamp(MODEL, DIM) for _ in range(5)] == [stamp] * 5
        assert len(counted) == 1  # a search by meaning after another, nothing written between: no count
        _embedded_episode(another_process, "Charlas", "dos", 3, rng)  # embedded by another process
        assert archive.vectors.stamp(MODEL, DIM) == (2, pytest.approx(time.time(), abs=60)) and len(counted) == 2
        another_process.delete_episode(first)
        assert archive.vectors.stamp(MODEL, DIM)[0] == 1 and len(counted) == 3
