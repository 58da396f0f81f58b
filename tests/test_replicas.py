"""Several machines serving one PostgreSQL archive: each keeps its own search index, which follows the archive (new,
re-transcribed and deleted episodes) from what it records of itself; the word counts of trends are the archive's,
stored once by whichever process counts first (a worker, without any index)."""

from __future__ import annotations

import time
from collections.abc import Callable
from pathlib import Path

import httpx
from fixtures_web import fonoteca_serve

from fonoteca.app import Fonoteca
from fonoteca.archive import Archive, Segment
from fonoteca.search.index import count_words
from fonoteca.settings import Settings


def _machine(tmp_path: Path, name: str, pg_url: str) -> Settings:
    """Settings of one machine: its own data folder (index, media), the shared archive on the server."""
    return Settings.from_env(environ={}, home=tmp_path / name, database_url=pg_url)


def _found(machine: Fonoteca, query: str) -> set[str]:
    """What a search finds on that machine after its index caught up (as `serve` does in the background)."""
    machine.update_index()
    return {hit.episode_id for hit in machine.search(query, mode="keyword").hits}


def test_each_machine_s_index_follows_new_changed_and_deleted_episodes_of_the_shared_archive(
    tmp_path: Path, pg_url: str
) -> None:
    web, other_web = _machine(tmp_path, "web", pg_url), _machine(tmp_path, "web2", pg_url)
    assert web.index_dir != other_web.index_dir and web.index_dir.parent == tmp_path / "web"
    with Archive(pg_url) as worker, Archive(pg_url) as one, Archive(pg_url) as two:
        one_machine, other_machine = Fonoteca(web, archive=one), Fonoteca(other_web, archive=two)
        show, _ = worker.add_show(title="Red", source="https://example.org/red.xml", source_kind="feed")
        first, _ = worker.upsert_episode(show, guid="1", title="Uno", kind="audio", published="2024-01-01")
        worker.replace_transcript(first.id, [Segment(0, 3, "Hablamos de zarzuela")], source="publisher")
        assert _found(one_machine, "zarzuela") == _found(other_machine, "zarzuela") == {first.id}

        second, _ = worker.upsert_episode(show, guid="2", title="Dos", kind="audio", published="2024-02-01")
        worker.replace_transcript(second.id, [Segment(0, 3, "Y de fandango")], source="publisher")
        worker.replace_transcript(first.id, [Segment(0, 3, "Ahora de flamenco")], source="publisher")
        for machine in (one_machine, other_machine):
            assert _found(machine, "fandango") == {second.id}
            assert _found(machine, "flamenco") == {first.id}
            assert _found(machine, "zarzuela") == set()

        worker.delete_episode(second.id)
        other_machine = Fonoteca(other_web, archive=two)  # restarted meanwhile: it reads its own record again
        assert _found(one_machine, "fandango") == _found(other_machine, "fandango") == set()
        assert one_machine.index.held() == {first.id: worker.get_episode(first.id).transcript_rev}


def test_a_worker_counts_the_words_once_and_every_machine_s_trend_reads_them(tmp_path: Path, pg_url: str) -> None:
    web = _machine(tmp_path, "web", pg_url)
    with Archive(pg_url) as worker, Archive(pg_url) as server:
        show, _ = worker.add_show(title="Red", source="https://example.org/red.xml", source_kind="feed")
        episode, _ = worker.upsert_episode(show, guid="1", title="Uno", kind="audio", published="2024-01-01")
        worker.replace_transcript(episode.id, [Segment(0, 3, "IA, IA y más IA")], source="publisher")
        assert count_words(worker) == 1 and worker.episodes_to_count() == []
        assert count_words(worker) == 0  # once per transcript revision
        machine = Fonoteca(web, archive=server)
        machine.update_index()
        assert server.episodes_to_count() == []
        (point,) = machine.trend(["ia"])
        assert (point.count, point.words) == (3, 5)


def test_two_fonoteca_serve_on_two_machines_follow_one_postgresql_archive(tmp_path: Path, pg_url: str) -> None:
    one, two = _machine(tmp_path, "web1", pg_url), _machine(tmp_path, "web2", pg_url)

    def total(base: str, word: str) -> int:
        return httpx.get(f"{base}/api/search", params={"q": word, "mode": "keyword"}, timeout=10).json()["total"]

    def until(condition: Callable[[], bool], seconds: float = 30) -> bool:
        deadline = time.monotonic() + seconds
        while not condition():
            if time.monotonic() > deadline:
                return False
            time.sleep(0.2)
        return True

    with Archive(pg_url) as worker:
        show, _ = worker.add_show(title="Red", source="https://example.org/red.xml", source_kind="feed")
        episode, _ = worker.upsert_episode(show, guid="1", title="Uno", kind="audio", published="2024-01-01")
        worker.replace_transcript(episode.id, [Segment(0, 3, "Hablamos de zarzuela")], source="publisher")
        with (
            # each asks search until the replicas agree: no rate limit (tests/test_web_public_archive.py)
            fonoteca_serve(one, database_url=pg_url, embeddings="none", rate_search="none") as first,
            fonoteca_serve(two, database_url=pg_url, embeddings="none", rate_search="none") as second,
        ):
            assert until(lambda: total(first, "zarzuela") == total(second, "zarzuela") == 1)
            worker.replace_transcript(episode.id, [Segment(0, 3, "Ahora de flamenco")], source="publisher")
            assert until(lambda: total(first, "flamenco") == total(second, "flamenco") == 1)
            assert total(first, "zarzuela") == total(second, "zarzuela") == 0
            worker.delete_episode(episode.id)
            assert until(lambda: total(first, "flamenco") == total(second, "flamenco") == 0)
    assert (tmp_path / "web1").is_dir() and (tmp_path / "web2").is_dir()  # each its own index, no shared folder
