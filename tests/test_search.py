"""Search and word trends on real tantivy and SQLite, over real Spanish and English text."""

from __future__ import annotations

import json
import random

import pytest
from typer.testing import CliRunner

from fonoteca.archive import Archive, Segment
from fonoteca.cli import app
from fonoteca.search import search, sync_index
from fonoteca.search.index import SearchIndex, reindex
from fonoteca.search.trends import trend
from fonoteca.settings import Settings


@pytest.fixture
def filled(settings: Settings, web_archive: dict[str, str]) -> tuple[Archive, Settings, dict[str, str]]:
    archive = Archive(settings.db_path)
    yield archive, settings, web_archive
    archive.close()


def _titles(results) -> list[str]:
    return [h.title for h in results.hits]


def test_accents_and_case_do_not_matter(filled) -> None:
    archive, settings, _ = filled
    assert search(archive, settings, "PARRAFO").total == 1  # párrafo
    assert search(archive, settings, "inteligéncia ARTIFICIAL").total == 1
    assert search(archive, settings, "transfer encoding").hits[0].start == 10.0


def test_words_must_all_match_and_phrases_keep_their_order(filled) -> None:
    archive, settings, _ = filled
    assert search(archive, settings, "streaming semana").total == 1
    assert search(archive, settings, '"hacer streaming"').total == 1
    assert search(archive, settings, '"streaming hacer"').total == 0
    assert search(archive, settings, '"ask not what your country"').total == 1


def test_prefix_or_and_exclusion(filled) -> None:
    archive, settings, _ = filled
    assert search(archive, settings, "americ*").total == 1
    assert search(archive, settings, "trozos OR americans").total == 2
    assert search(archive, settings, "streaming -semana").total == 3
    assert search(archive, settings, 'country -"fellow americans"').total == 2


def test_filters_by_show_episode_and_dates(filled) -> None:
    archive, settings, ids = filled
    assert search(archive, settings, "streaming", show=ids["show"]).total == 4
    assert search(archive, settings, "streaming", episode=ids["stream"]).total == 2
    assert search(archive, settings, "streaming", date_from="2024-02-01", date_to="2024-03-31").total == 2
    newest = search(archive, settings, "streaming", order="date")
    assert [h.date for h in newest.hits] == sorted((h.date for h in newest.hits), reverse=True)


@pytest.mark.parametrize(
    "query",
    ['"unbalanced', "OR", "-", "AND OR NOT", "a:b", "(((", "title:x^2", "~~", "\\", '"" ""', "*", "-*", "ñ*",
     "' OR 1=1 --", "<script>", "\x00", "streaming AND (", "[1 TO 5]", "   "],
)  # fmt: skip
def test_malformed_queries_never_raise(filled, query) -> None:
    archive, settings, _ = filled
    results = search(archive, settings, query)
    assert results.total >= 0


def test_random_garbage_queries_never_raise(filled) -> None:
    archive, settings, _ = filled
    rng = random.Random(7)
    alphabet = 'abcñá "*-:()[]{}^~\\/!?ORAND'
    for _ in range(200):
        search(archive, settings, "".join(rng.choice(alphabet) for _ in range(rng.randint(0, 20))))


def test_snippets_highlight_matches_and_escape_transcript_html(filled) -> None:
    archive, settings, ids = filled
    hit = search(archive, settings, "parrafo").hits[0]
    assert "<b>párrafo</b>" in hit.snippet and "&lt;script&gt;" in hit.snippet and "<script>" not in hit.snippet
    assert hit.url == f"/episode/{ids['post']}?t=0"
    assert "<b>" in search(archive, settings, "americ*").hits[0].snippet


def test_a_new_transcript_replaces_the_old_one_in_the_index(filled) -> None:
    archive, settings, ids = filled
    archive.replace_segments(ids["jfk"], [Segment(0, 5, "Una transcripción nueva y distinta.")])
    assert search(archive, settings, "country").total == 0
    assert search(archive, settings, "distinta").total == 1
    assert search(archive, settings, "distinta").total == 1  # not doubled by a second sync


def test_a_deleted_episode_disappears_from_search_even_across_processes(filled) -> None:
    archive, settings, ids = filled
    archive.delete_episode(ids["jfk"])
    SearchIndex.forget(settings)  # as if this were the next start of fonoteca
    assert search(archive, settings, "country").total == 0


def test_crash_between_index_and_archive_commits_is_repaired_without_doubles(filled) -> None:
    archive, settings, ids = filled
    # The index has committed the episode, but the process died before the archive recorded it: the bookkeeping
    # says "not indexed" while tantivy holds the documents. The next start must re-index without doubling hits.
    archive.unmark_indexed(ids["jfk"])
    SearchIndex.forget(settings)
    assert search(archive, settings, '"ask not"').total == 1
    assert archive.term_counts("country")[ids["jfk"]] == 2


def test_reindex_rebuilds_everything_from_the_archive(filled) -> None:
    archive, settings, _ = filled
    before = search(archive, settings, "streaming").total
    assert reindex(archive, settings) == 3
    assert search(archive, settings, "streaming").total == before
    assert sync_index(archive, settings) == 0


def test_trend_counts_whole_words_without_accents_or_case(filled) -> None:
    archive, settings, ids = filled
    points = trend(archive, ["IA", "medios", "INTELIGENCIA"], settings=settings)
    counts = {(p.term, p.episode_id): p.count for p in points}
    assert counts[("IA", ids["stream"])] == 2  # "IA" twice, never inside "media"/"medios"
    assert counts[("medios", ids["stream"])] == 1
    assert counts[("INTELIGENCIA", ids["stream"])] == 1
    assert [p.episode_id for p in points if p.term == "IA"] == [ids["jfk"], ids["stream"], ids["post"]]


def test_trend_of_a_phrase_and_per_hour_and_grouping(filled) -> None:
    archive, settings, ids = filled
    phrase = {p.episode_id: p.count for p in trend(archive, ["your country"], settings=settings)}
    assert phrase == {ids["jfk"]: 2, ids["stream"]: 0, ids["post"]: 0}
    per_hour = {p.episode_id: p.value for p in trend(archive, ["streaming"], per_hour=True, settings=settings)}
    assert per_hour[ids["stream"]] == 2.0 and per_hour[ids["jfk"]] == pytest.approx(1 / (11 / 3600), rel=1e-3)
    months = trend(archive, ["streaming"], by="month", settings=settings)
    assert [(p.key, p.count) for p in months] == [("2024-01", 1), ("2024-03", 2), ("2024-05", 1)]
    assert [(p.key, p.count) for p in trend(archive, ["streaming"], by="year", settings=settings)] == [("2024", 4)]


def _cli(settings: Settings, *args: str):
    return CliRunner().invoke(app, ["--home", str(settings.home), *args])


def test_cli_search_json_has_the_documented_fields(filled) -> None:
    _, settings, ids = filled
    result = _cli(settings, "search", "country", "--json")
    hits = json.loads(result.output)
    assert {"episode_id", "title", "date", "start", "end", "snippet", "url"} <= set(hits[0])
    assert hits[0]["episode_id"] == ids["jfk"]


def test_cli_trend_json_has_one_object_per_episode_and_term(filled) -> None:
    _, settings, ids = filled
    rows = json.loads(_cli(settings, "trend", "IA", "streaming", "--json").output)
    assert len(rows) == 6
    assert set(rows[0]) == {"episode_id", "title", "date", "term", "count", "hours"}
    assert {"episode_id": ids["stream"], "title": "Streaming de respuestas", "date": "2024-03-01", "term": "IA",
            "count": 2, "hours": 1.0} in rows  # fmt: skip


def test_cli_trend_draws_a_terminal_chart_and_saves_a_png(filled, tmp_path) -> None:
    _, settings, _ = filled
    result = _cli(settings, "trend", "streaming")
    assert result.exit_code == 0 and "has been mentioned throughout the history" in result.output
    png = tmp_path / "trend.png"
    assert _cli(settings, "trend", "streaming", "IA", "--by", "month", "--png", str(png)).exit_code == 0
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    csv_out = _cli(settings, "trend", "streaming", "--csv").output.splitlines()
    assert csv_out[0] == "episode_id,title,date,term,count,hours" and len(csv_out) == 4
