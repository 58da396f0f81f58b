"""Search and word trends on real tantivy and SQLite, over real Spanish and English text."""

from __future__ import annotations

import html
import json
import random
import re
import subprocess
import sys
import unicodedata

import pytest
from typer.testing import CliRunner

from fonoteca.app import Fonoteca
from fonoteca.archive import Archive, Segment
from fonoteca.archive.models import epoch
from fonoteca.cli import app
from fonoteca.errors import NotFound, StorageError
from fonoteca.output import HitOut
from fonoteca.search import BadDate, Hit, SearchResults, keyword_search, occurrences
from fonoteca.search.common import common_pairs
from fonoteca.search.query import Clause
from fonoteca.search.trends import MAX_TERMS
from fonoteca.settings import Settings
from fonoteca.text import words


@pytest.fixture
def filled(settings: Settings, web_archive: dict[str, str]) -> tuple[Archive, Fonoteca, dict[str, str]]:
    archive = Archive(settings.db_path)
    yield archive, Fonoteca(settings, archive=archive), web_archive
    archive.close()


def _keywords(fonoteca: Fonoteca, query: str, **scope_and_page: object) -> SearchResults:
    """A keyword search as `fonoteca search --mode keyword` runs it: the scope checked once, then the index."""
    return fonoteca.search(query, mode="keyword", **scope_and_page)


def _titles(results) -> list[str]:
    return [h.title for h in results.hits]


def _add_episode(archive: Archive, ids: dict[str, str], guid: str, lines: list[str], published: str) -> str:
    episode, _ = archive.upsert_episode(
        archive.get_show(ids["show"]), guid=guid, title=guid, kind="audio", published=published, duration=60.0,
        status="done", source="sidecar",
    )  # fmt: skip
    archive.append_segments(episode.id, [Segment(i * 5.0, i * 5.0 + 5, t) for i, t in enumerate(lines)])
    return episode.id


NON_LATIN = ["мой", "ёлка", "Καλημέρα", "नमस्ते", "مَرْحَبًا", "ılık"]


def _snippet(hit: Hit) -> str:
    """The hit's snippet as the API, `--json` and the search page show it."""
    return HitOut.of(hit).snippet


def test_accents_and_case_do_not_matter(filled) -> None:
    archive, fonoteca, _ = filled
    assert _keywords(fonoteca, "PARRAFO").total == 1  # párrafo
    assert _keywords(fonoteca, "inteligéncia ARTIFICIAL").total == 1
    assert _keywords(fonoteca, "transfer encoding").hits[0].start == 10.0


def test_decomposed_and_non_latin_words_are_found_by_search_and_counted_alike_by_trend(filled) -> None:
    archive, fonoteca, ids = filled
    nfd = unicodedata.normalize("NFD", "La canción de la información llegó")
    assert nfd != unicodedata.normalize("NFC", nfd)  # a sidecar VTT written in NFD, as some tools do
    episode = _add_episode(archive, ids, "unicode", [nfd, *NON_LATIN], "2024-06-01T00:00:00Z")
    fonoteca.update_index()
    for word in ["información", "informacion", nfd.split()[-2], *NON_LATIN]:
        results = _keywords(fonoteca, word)
        assert results.total == 1, word
        trend_count = {p.episode_id: p.count for p in fonoteca.trend([word])}[episode]
        assert trend_count == 1, word
    assert _keywords(fonoteca, "informacio").total == 0  # never split at the combining accent
    hit = _keywords(fonoteca, '"la información llegó"').hits[0]
    assert _snippet(hit) == "La canción de <b>la</b> <b>información</b> <b>llegó</b>"  # NFC, whole words marked


def test_words_must_all_match_and_phrases_keep_their_order(filled) -> None:
    archive, fonoteca, _ = filled
    assert _keywords(fonoteca, "streaming semana").total == 1
    assert _keywords(fonoteca, '"hacer streaming"').total == 1
    assert _keywords(fonoteca, '"streaming hacer"').total == 0
    assert _keywords(fonoteca, '"ask not what your country"').total == 1


def test_prefix_or_and_exclusion(filled) -> None:
    archive, fonoteca, _ = filled
    assert _keywords(fonoteca, "americ*").total == 1
    assert _keywords(fonoteca, "trozos OR americans").total == 2
    assert _keywords(fonoteca, "streaming -semana").total == 3
    assert _keywords(fonoteca, 'country -"fellow americans"').total == 2


def test_filters_by_show_episode_and_dates(filled) -> None:
    archive, fonoteca, ids = filled
    assert _keywords(fonoteca, "streaming", show=ids["show"]).total == 4
    assert _keywords(fonoteca, "streaming", episode=ids["stream"]).total == 2
    assert _keywords(fonoteca, "streaming", date_from="2024-02-01", date_to="2024-03-31").total == 2


def test_a_scope_checks_its_dates_before_it_looks_up_its_show_and_every_search_mode_reads_it_alike(filled) -> None:
    archive, fonoteca, ids = filled
    with pytest.raises(BadDate):
        fonoteca.scope(show="no-such-show", date_from="yesterday")
    with pytest.raises(NotFound):
        fonoteca.scope(show="no-such-show")
    with pytest.raises(NotFound):  # also where the query has nothing to look for
        fonoteca.search("-streaming", mode="keyword", episode="no-such-episode")
    filters = {"show": ids["show"], "episode": ids["stream"], "date_from": "2024-03", "date_to": "2024-03"}
    scope = fonoteca.scope(**filters)
    assert (scope.show_id, scope.episode_id) == (archive.get_show(ids["show"]).id, ids["stream"])
    direct = keyword_search(archive, fonoteca.index, "streaming", scope)
    assert direct.total == _keywords(fonoteca, "streaming", **filters).total == 2
    assert fonoteca.search("streaming", **filters).total == 2  # no mode: hybrid where embedded, else keyword


@pytest.mark.parametrize(
    ("date_from", "date_to", "total"),
    [("2024-03", "2024-03", 2), ("2024-01", "2024-03", 3), ("2024", "2024", 4), ("2024-03-01", "2024-03-01", 2),
     (None, "2024-02", 1), ("2024-04", None, 1), ("2025", None, 0), ("2024-02-29", "2024-02", 0)],
)  # fmt: skip
def test_partial_dates_cover_the_whole_month_or_year(filled, date_from, date_to, total) -> None:
    archive, fonoteca, _ = filled
    assert _keywords(fonoteca, "streaming", date_from=date_from, date_to=date_to).total == total


@pytest.mark.parametrize("bad", ["yesterday", "2024-02-31", "2024-13", "24-01-01", "2024/01/01", "2024-1", ""])
def test_a_date_that_is_not_a_date_is_an_error_not_an_ignored_filter(filled, bad) -> None:
    archive, fonoteca, _ = filled
    if bad:
        with pytest.raises(BadDate, match="YYYY-MM-DD"):
            _keywords(fonoteca, "streaming", date_from=bad)
        with pytest.raises(BadDate):
            _keywords(fonoteca, "-nothing", date_to=bad)  # even when the query finds nothing
    else:
        assert _keywords(fonoteca, "streaming", date_from=bad, date_to=bad).total == 4  # empty: no filter
    newest = _keywords(fonoteca, "streaming", order="date")
    assert [h.date for h in newest.hits] == sorted((h.date for h in newest.hits), reverse=True)


# A malformed query, the well-formed query it is read as (None: nothing searchable in it), and how many segments of
# the web archive that finds. A word glued to others by punctuation is a phrase of those words.
MALFORMED = [
    ('"unbalanced', "unbalanced", 0), ('"fellow americans', "fellow americans", 1), ("OR", None, 0), ("-", None, 0),
    ("AND OR NOT", "and OR not", 2), ("(americans OR trozos)", "americans OR trozos", 2), ("a:b", '"a b"', 0),
    ("(((", None, 0), ("title:x^2", '"title x 2"', 0), ("~~", None, 0), ("\\", None, 0), ('"" ""', None, 0),
    ("*", None, 0), ("-*", None, 0), ("ñ*", "n*", 1), ("' OR 1=1 --", '"1 1"', 0), ("<script>", "script", 1),
    ("\x00", None, 0), ("streaming AND (", "streaming and", 0), ("-semana streaming~", "streaming -semana", 3),
    ("[1 TO 5]", "1 to 5", 0), ("   ", None, 0),
]  # fmt: skip


@pytest.mark.parametrize(("query", "reading", "total"), MALFORMED)
def test_malformed_queries_never_raise_and_find_what_their_plain_reading_finds(filled, query, reading, total) -> None:
    archive, fonoteca, _ = filled
    results = _keywords(fonoteca, query)
    assert results.total == len(results.hits) == total
    if reading is not None:
        expected = _keywords(fonoteca, reading).hits
        assert [(h.episode_id, h.start, _snippet(h)) for h in results.hits] == [
            (h.episode_id, h.start, _snippet(h)) for h in expected
        ]
    for hit in results.hits:  # the snippet is the segment's own text, escaped, with only <b> marks added
        assert html.unescape(re.sub(r"</?b>", "", _snippet(hit))) == hit.text


def test_random_garbage_queries_never_raise(filled) -> None:
    archive, fonoteca, _ = filled
    rng = random.Random(7)
    alphabet = 'abcñá "*-:()[]{}^~\\/!?ORAND'
    for _ in range(200):
        _keywords(fonoteca, "".join(rng.choice(alphabet) for _ in range(rng.randint(0, 20))))


def test_snippets_highlight_matches_and_escape_transcript_html(filled) -> None:
    archive, fonoteca, ids = filled
    hit = _keywords(fonoteca, "parrafo").hits[0]
    snippet = _snippet(hit)
    assert "<b>párrafo</b>" in snippet and "&lt;script&gt;" in snippet and "<script>" not in snippet
    assert hit.url == f"/episode/{ids['post']}?t=0"
    assert "<b>" in _snippet(_keywords(fonoteca, "americ*").hits[0])


def test_snippets_mark_an_ellipsis_only_where_a_long_segment_was_cut(filled) -> None:
    archive, fonoteca, ids = filled
    long_line = "palabra " * 60 + "Encontrada aquí. " + "otra " * 80
    _add_episode(archive, ids, "long", [long_line.strip()], "2024-08-01T00:00:00Z")
    fonoteca.update_index()
    snippet = _snippet(_keywords(fonoteca, "encontrada").hits[0])
    assert snippet.startswith("… palabra") and snippet.endswith("otra …") and "<b>Encontrada</b>" in snippet
    assert len(snippet) < 360
    whole = _keywords(fonoteca, "trozos").hits[0]
    assert not _snippet(whole).endswith("…")  # a whole segment: no ellipsis


def test_a_new_transcript_replaces_the_old_one_in_the_index(filled) -> None:
    archive, fonoteca, ids = filled
    archive.replace_transcript(ids["jfk"], [Segment(0, 5, "Una transcripción nueva y distinta.")], source="transcribed")
    fonoteca.update_index()
    assert _keywords(fonoteca, "country").total == 0
    assert _keywords(fonoteca, "distinta").total == 1
    assert _keywords(fonoteca, "distinta").total == 1  # not doubled by a second sync


def test_an_episode_deleted_by_another_process_disappears_from_a_running_search(filled) -> None:
    archive, fonoteca, ids = filled
    assert _keywords(fonoteca, "country").total == 2  # this process has synced and searched already
    with Archive(fonoteca.settings.db_path) as other:  # e.g. `fonoteca remove` while `fonoteca serve` runs
        other.delete_episode(ids["jfk"])
    assert _keywords(fonoteca, "country").total == 0
    assert _keywords(fonoteca, "streaming").total == 3


def test_a_deleted_episode_disappears_from_search_even_across_processes(filled) -> None:
    archive, fonoteca, ids = filled
    archive.delete_episode(ids["jfk"])
    fonoteca = Fonoteca(fonoteca.settings, archive=archive)  # as if this were the next start of fonoteca
    assert _keywords(fonoteca, "country").total == 0


def test_crash_between_the_index_commit_and_its_record_is_repaired_without_doubles(filled) -> None:
    archive, fonoteca, ids = filled
    # The index has committed the episode, but the process died before the index recorded it in held.json: the
    # record says "not held" while tantivy holds the documents. The next start must re-index without doubling hits.
    index = fonoteca.index
    index.record_held({k: v for k, v in index.held().items() if k != ids["jfk"]})
    fonoteca = Fonoteca(fonoteca.settings, archive=archive)
    fonoteca.update_index()
    assert _keywords(fonoteca, '"ask not"').total == 1
    assert archive.term_counts("country")[ids["jfk"]] == 2


HOLD_WRITER = """
import sys
from pathlib import Path
from fonoteca.search.index import SearchIndex
writer = SearchIndex(Path(sys.argv[1])).writer()
assert writer is not None
print("holding", flush=True)
sys.stdin.read()
"""


def test_search_and_trend_answer_from_the_current_index_while_another_process_writes_it(filled) -> None:
    archive, fonoteca, ids = filled
    holder = subprocess.Popen(
        [sys.executable, "-c", HOLD_WRITER, str(fonoteca.settings.index_dir.resolve())],
        stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True,
    )  # fmt: skip
    try:
        assert holder.stdout.readline() == "holding\n"
        archive.replace_transcript(ids["post"], [Segment(0, 0, "Una transcripción nueva y distinta.")], source="text")
        archive.delete_episode(ids["jfk"])
        assert fonoteca.update_index() == 0  # the writer is busy: nothing indexed yet, and no LockBusy
        assert _keywords(fonoteca, "distinta").total == 0
        assert _keywords(fonoteca, "country").total == 0  # its documents are still there: hits skipped
        titles = [h.title for h in _keywords(fonoteca, "streaming").hits]
        assert sorted(titles) == ["Notas <b>de</b> texto", "Streaming de respuestas", "Streaming de respuestas"]
        assert {p.episode_id: p.count for p in fonoteca.trend(['"hacer streaming"'])}[ids["stream"]] == 1
    finally:
        holder.communicate("", timeout=30)
    fonoteca.update_index()  # the next sync catches up
    assert _keywords(fonoteca, "distinta").total == 1
    assert _keywords(fonoteca, "country").total == 0


def test_reindex_rebuilds_everything_from_the_archive(filled) -> None:
    archive, fonoteca, _ = filled
    before = _keywords(fonoteca, "streaming").total
    assert fonoteca.reindex() == 3
    assert _keywords(fonoteca, "streaming").total == before
    assert fonoteca.update_index() == 0


def test_an_index_folder_that_cannot_be_written_names_the_folder_instead_of_suggesting_reindex(settings) -> None:
    # A regular file where the index folder should be: a reindex would fail the same way, so it is not the hint.
    settings.home.mkdir(parents=True)
    settings.index_dir.write_text("not a folder")
    with Archive(settings.db_path) as archive, pytest.raises(StorageError, match="FONOTECA_HOME") as caught:
        _keywords(Fonoteca(settings, archive=archive), "hola")
    assert "reindex" not in str(caught.value) and "\n" not in str(caught.value)


def test_trend_counts_whole_words_without_accents_or_case(filled) -> None:
    archive, fonoteca, ids = filled
    points = fonoteca.trend(["IA", "medios", "INTELIGENCIA"])
    counts = {(p.term, p.episode_id): p.count for p in points}
    assert counts[("IA", ids["stream"])] == 2  # "IA" twice, never inside "media"/"medios"
    assert counts[("medios", ids["stream"])] == 1
    assert counts[("INTELIGENCIA", ids["stream"])] == 1
    assert [p.episode_id for p in points if p.term == "IA"] == [ids["jfk"], ids["stream"], ids["post"]]


def test_trend_of_a_phrase_and_per_hour_and_grouping(filled) -> None:
    archive, fonoteca, ids = filled
    phrase = {p.episode_id: p.count for p in fonoteca.trend(["your country"])}
    assert phrase == {ids["jfk"]: 2, ids["stream"]: 0, ids["post"]: 0}
    per_hour = {p.episode_id: p.value for p in fonoteca.trend(["streaming"], per_hour=True)}
    assert per_hour[ids["stream"]] == 2.0 and per_hour[ids["jfk"]] == pytest.approx(1 / (11 / 3600), rel=1e-3)
    months = fonoteca.trend(["streaming"], by="month")
    assert [(p.key, p.count) for p in months] == [("2024-01", 1), ("2024-03", 2), ("2024-05", 1)]
    assert [(p.key, p.count) for p in fonoteca.trend(["streaming"], by="year")] == [("2024", 4)]


def test_a_phrase_said_three_times_in_one_segment_counts_three_mentions(filled) -> None:
    archive, fonoteca, ids = filled
    episode = _add_episode(archive, ids, "ia", [
        "Inteligencia artificial, inteligencia artificial… ¡INTELIGENCIA ARTIFICIAL!",
        "Nada de inteligencia, nada artificial.",
    ], "2024-07-01T00:00:00Z")  # fmt: skip
    fonoteca.update_index()
    counts = {p.episode_id: p.count for p in fonoteca.trend(["inteligencia artificial"])}
    assert counts[episode] == 3 and counts[ids["stream"]] == 1
    assert _keywords(fonoteca, '"inteligencia artificial"').total == 2  # search still finds segments


def test_phrases_are_counted_across_segment_boundaries_and_repeated_in_longer_phrases(filled) -> None:
    archive, fonoteca, ids = filled
    episode = _add_episode(archive, ids, "cortes", [
        "Hoy hablamos de inteligencia",  # the two-word phrase is cut by the boundary: still one mention
        "artificial, y de la red neuronal profunda, la red neuronal profunda.",
        "…",  # a segment without words between two halves does not hide their pair
        "Red neuronal… inteligencia",
        "Artificial.",
        "Una red neuronal simple y otra red neuronal.",  # the phrase's first pair twice, the phrase once
    ], "2024-08-01T00:00:00Z")  # fmt: skip
    fonoteca.update_index()
    terms = ["inteligencia artificial", "red neuronal profunda", "profunda red", "red neuronal simple"]
    counts = {(p.term, p.episode_id): p.count for p in fonoteca.trend(terms)}
    assert counts[("inteligencia artificial", episode)] == 2
    assert counts[("red neuronal profunda", episode)] == 2
    assert counts[("profunda red", episode)] == 1  # the end of the second segment and the start of the fourth
    assert counts[("red neuronal simple", episode)] == 1


def test_phrases_of_common_and_rarer_words_find_and_count_exactly_what_is_said(filled) -> None:
    """The index keeps a word pair only where one of its words is common (`de`, `the`: common grams) and matches a
    phrase with two rarer words in a row by the words' positions. On random text of both kinds, every phrase finds
    exactly the segments that say it and its trend counts every mention; the pairs left out keep their places, so two
    kept pairs apart never make a phrase."""
    archive, fonoteca, ids = filled
    rng = random.Random(7)
    vocabulary = ["de", "la", "que", "the", "of", "casa", "grande", "roja", "perro", "gato", "luna"]
    lines = [" ".join(rng.choice(vocabulary) for _ in range(rng.randint(1, 14))) for _ in range(80)]
    lines.append("La casa grande, casa de...")  # "la casa" and "casa de" are kept, apart: not "la casa de"
    episode = _add_episode(archive, ids, "grams", lines, "2024-09-01T00:00:00Z")
    fonoteca.update_index()
    assert common_pairs(["la", "casa", "grande", "casa", "de"]) == [True, False, False, True]
    said = [words(line) for line in lines]
    phrases = sorted({tuple(line[i : i + n]) for line in said for n in (2, 3, 4) for i in range(len(line) - n + 1)})
    asked = [*rng.sample(phrases, 100), ("la", "casa", "de"), ("grande", "la"), ("luna", "roja", "de", "the")]
    for phrase in asked:
        clause = Clause(list(phrase))
        found = _keywords(fonoteca, '"' + " ".join(phrase) + '"', episode=episode)
        assert found.total == sum(1 for line in said if occurrences(clause, line)), phrase
    for start in range(0, len(asked), MAX_TERMS):
        terms = [" ".join(phrase) for phrase in asked[start : start + MAX_TERMS]]
        counted = {p.term: p.count for p in fonoteca.trend(terms) if p.episode_id == episode}
        for term in terms:
            clause = Clause(term.split())
            mentions = sum(len(occurrences(clause, line)) for line in said)
            if len(clause.words) == 2:  # a two-word phrase cut by a change of line counts too
                mentions += sum([one[-1], two[0]] == clause.words for one, two in zip(said, said[1:], strict=False))
            assert counted[term] == mentions, term


def _cli(settings: Settings, *args: str):
    return CliRunner().invoke(app, ["--home", str(settings.home), *args])


def test_cli_search_json_has_the_documented_fields(filled) -> None:
    _, fonoteca, ids = filled
    result = _cli(fonoteca.settings, "search", "country", "--json")
    hits = json.loads(result.output)
    assert {"episode_id", "title", "date", "start", "end", "snippet", "url"} <= set(hits[0])
    assert hits[0]["episode_id"] == ids["jfk"]


def test_a_hits_highlights_are_the_words_its_snippet_marks_and_the_terminal_shows_them_as_text(filled) -> None:
    _, fonoteca, _ = filled
    hit = json.loads(_cli(fonoteca.settings, "search", "parrafo", "--json").output)[0]
    marked = [html.unescape(word) for word in re.findall(r"<b>(.*?)</b>", hit["snippet"])]
    assert marked and [hit["text"][a:b] for a, b in hit["highlights"]] == marked
    [snippet] = [line for line in _cli(fonoteca.settings, "search", "parrafo").output.splitlines() if "párrafo" in line]
    assert "<script>" in snippet and "<b>" not in snippet and "&lt;" not in snippet  # as said: no HTML, no escapes


def test_cli_search_reads_a_query_starting_with_a_minus_and_still_takes_options(filled) -> None:
    _, fonoteca, ids = filled
    result = _cli(fonoteca.settings, "search", "-medios streaming", "--show", ids["show"], "--json")
    assert result.exit_code == 0, result.output
    titles = sorted(h["title"] for h in json.loads(result.output))
    assert titles == ["Ask not", "Notas <b>de</b> texto", "Streaming de respuestas"]  # not the one with "medios"


def test_cli_search_rejects_a_bad_date_in_one_line(filled) -> None:
    _, fonoteca, _ = filled
    result = _cli(fonoteca.settings, "search", "streaming", "--from", "yesterday")
    assert result.exit_code == 1
    assert "not a date: 'yesterday'" in result.output and "YYYY-MM-DD" in result.output
    assert "Traceback" not in result.output


def test_cli_trend_json_has_one_object_per_episode_and_term(filled) -> None:
    _, fonoteca, ids = filled
    rows = json.loads(_cli(fonoteca.settings, "trend", "IA", "streaming", "--json").output)
    assert len(rows) == 6
    assert set(rows[0]) == {"episode_id", "title", "date", "term", "count", "hours"}
    assert {"episode_id": ids["stream"], "title": "Streaming de respuestas", "date": "2024-03-01", "term": "IA",
            "count": 2, "hours": 1.0} in rows  # fmt: skip


def test_cli_trend_draws_a_terminal_chart_and_saves_a_png(filled, tmp_path) -> None:
    _, fonoteca, _ = filled
    result = _cli(fonoteca.settings, "trend", "streaming")
    assert result.exit_code == 0 and "has been mentioned throughout the history" in result.output
    png = tmp_path / "trend.png"
    assert _cli(fonoteca.settings, "trend", "streaming", "IA", "--by", "month", "--png", str(png)).exit_code == 0
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    csv_out = _cli(fonoteca.settings, "trend", "streaming", "--csv").output.splitlines()
    assert csv_out[0] == "episode_id,title,date,term,count,hours" and len(csv_out) == 4


def test_a_command_indexes_what_changed_before_reading_and_a_server_leaves_it_to_its_indexer(filled) -> None:
    archive, server, ids = filled  # built as the web server builds it: its background indexer catches up
    command = Fonoteca(server.settings, archive=archive, catch_up_index=True)  # as the CLI builds it

    def said_only_now(word: str) -> str:
        """A new episode, the first to say `word`, which the index does not have yet: its id."""
        episode_id = _add_episode(archive, ids, word, [f"Una palabra que nadie dijo antes: {word}."], "2024-05-01")
        assert _keywords(server, word).total == 0  # a request never takes the index writer
        return episode_id

    said_only_now("zarabanda")
    assert _keywords(command, "zarabanda").total == 1
    said_only_now("chacona")
    assert [p.count for p in command.trend(["chacona"]) if p.count] == [1]
    pavana = said_only_now("pavana")
    assert command.trend_moments(["pavana"], key=pavana).total == 1
    said_only_now("gallarda")
    command.chat_turn("¿Quién habló de la gallarda?")  # the chat retrieves from the index it has just caught up
    assert _keywords(server, "gallarda").total == 1
    said_only_now("folía")
    assert [h["title"] for h in json.loads(_cli(server.settings, "search", "folía", "--json").output)] == ["folía"]


def test_highlights_of_latin_text_mark_the_words_found_one_by_one() -> None:
    """Latin-script text is marked by one pattern per clause over its folded text: the same words, overlapping phrases
    and prefixes included, as locating every word of it and matching the clauses against them."""
    from fonoteca.search import _highlights, _highlights_of_words
    from fonoteca.search.query import parse

    rng = random.Random(5)
    vocabulary = ["de", "la", "que", "información", "Pérez", "año", "ano", "a", "IA", "media", "ñu", "dé", "x1"]
    between = [" ", ", ", "¿", "? ", "—", " «", "» ", ". ", "-", "'", "_"]
    queries = ["de", '"de la"', '"la la"', "inf*", "a*", '"a a a"', "ano", "IA OR media", '"que información" de', "dé"]
    for _ in range(20_000):
        text = "".join(rng.choice(vocabulary) + rng.choice(between) for _ in range(rng.randint(1, 12)))
        query = rng.choice(queries) if rng.random() < 0.7 else " ".join(rng.sample(vocabulary, 2))
        parsed = parse(query)
        assert _highlights(parsed, text) == _highlights_of_words(parsed, text), (query, text)
    assert _highlights(parse('"la la"'), "la la la") == [(0, 2), (3, 5), (6, 8)]


def test_a_word_is_counted_right_whether_or_not_the_index_still_holds_deleted_lines(filled) -> None:
    archive, fonoteca, ids = filled
    first = _add_episode(archive, ids, "patatas-1", ["patata frita", "sin nada", "otra patata", "patata"], "2024-05-01")
    _add_episode(archive, ids, "patatas-2", ["una patata", "de la huerta"], "2024-05-02")
    fonoteca.update_index()
    said_before = _keywords(fonoteca, '"de la"').total
    assert _keywords(fonoteca, "patata").total == 4
    assert fonoteca.index.snapshot()[1]  # no deleted lines: the count is the term's document frequency
    archive.replace_transcript(first, [Segment(0, 5, "patata"), Segment(5, 10, "de la casa")], source="sidecar")
    fonoteca.update_index()
    assert _keywords(fonoteca, "patata").total == 2
    # The old lines of the re-transcribed episode are deleted, not yet merged away: counted by walking the matches.
    assert not fonoteca.index.snapshot()[1]
    assert _keywords(fonoteca, '"de la"').total == said_before + 1  # a pair of common words, one token of `pairs`
    assert [h.text for h in _keywords(fonoteca, "patata", limit=1, offset=1).hits] in (["patata"], ["una patata"])


def test_newest_first_finds_the_newest_lines_of_a_common_word_by_their_instant_whatever_the_dates_spelling(
    filled,
) -> None:
    archive, fonoteca, ids = filled
    # Twelve episodes that say it twenty times each; their dates in other time zones, so that the newest by the clock
    # ("…T23:00:00-05:00", the 11th at 04:00 UTC) is not the last by the text of its date.
    dates = [f"2024-05-{day:02d}T12:00:00Z" for day in range(1, 10)]
    dates += ["2024-05-11T01:00:00Z", "2024-05-10T23:00:00-05:00", "2024-05-11T03:00:00+02:00"]
    made = {
        _add_episode(archive, ids, f"sopa-{n}", [f"sopa {n} {line}" for line in range(20)], published): published
        for n, published in enumerate(dates)
    }
    fonoteca.update_index()
    found = _keywords(fonoteca, "sopa", order="date", limit=5)
    assert found.total == 240
    newest = max(made, key=lambda episode: epoch(made[episode]))
    assert {h.episode_id for h in found.hits} == {newest}
    pages = [h.episode_id for page in range(12) for h in _keywords(fonoteca, "sopa", order="date", limit=20,
                                                                     offset=page * 20).hits]  # fmt: skip
    assert sorted(pages) == sorted(episode for episode in made for _ in range(20))  # every line once, page by page
    assert [epoch(made[e]) for e in pages] == sorted((epoch(made[e]) for e in pages), reverse=True)
