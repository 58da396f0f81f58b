"""Search respects what was typed: quotes, exclusions and prefixes ask for the words, a question for its meaning, and
a partly embedded archive does not let its embedded part push the literal matches of the rest off the page. Real
archives, real tantivy, the packaged USE model."""

from __future__ import annotations

import pytest
from fastapi.testclient import TestClient
from typer.testing import CliRunner

from fonoteca.app import Fonoteca
from fonoteca.archive import Archive, Segment
from fonoteca.cli import app as cli
from fonoteca.meaning.embedders import USE
from fonoteca.output.snippets import snippet_html
from fonoteca.search.query import in_order, intent
from fonoteca.settings import Settings
from fonoteca.web.app import create_app

SECONDS = 10.0
PHRASE = "product market fit"
# The embedded show talks about products, markets and fitting a lot, close in meaning to the phrase, and never says
# it: each topic is three sentences, one passage.
STARTUP = [
    "Our startup spent two years looking for customers who would pay for what we made.",
    "The market was tiny at first and nobody wanted the thing we had built.",
    "Then we changed the pricing and sales finally took off across the country.",
]
PRICING = [
    "Selling software to companies is mostly about finding the right buyer.",
    "We priced the product too low and the market did not take us seriously.",
    "Raising prices made the customers trust that the tool was worth it.",
]
GROWTH = [
    "Growth came when users started telling their friends about the app.",
    "Retention is the number that tells you whether people really need it.",
    "Investors asked about churn before they asked about revenue.",
]
GROCERY = [
    "The grocery store on the corner sells fresh bread every morning.",
    "Its owner knows which products the neighbourhood buys every week.",
    "Customers line up before it opens, the market demand is huge.",
]
RESIGNATION = [
    "Now I want to tell you something more personal.",
    "Last year I quit the company where I had worked for ten years.",
    "I handed my letter to the director and said goodbye to my colleagues.",
]
# The show not embedded yet says the phrase three times, and its words apart once.
INTERVIEW = [
    "Welcome back to the show, today we talk about early stage companies.",
    "Our first product did not fit the market.",
    f"Everyone asks how you know you have reached {PHRASE}.",
    "My guest ran three companies before this one.",
    f"She says {PHRASE} feels like demand pulling the product out of your hands.",
    "We also talked about hiring the first engineers.",
    f"Before {PHRASE} nothing else matters, not even the logo.",
]


def add_episode(archive: Archive, settings: Settings, lines: list[str], *, show: str, title: str, published: str):
    show_row, _ = archive.add_show(title=show, source=f"/tmp/{show}", source_kind="folder")
    episode, _ = archive.upsert_episode(show_row, guid=title, title=title, kind="audio", published=published)
    segments = [Segment(i * SECONDS, (i + 1) * SECONDS, line) for i, line in enumerate(lines)]
    archive.replace_transcript(episode.id, segments, source="transcribed", language="en", duration=len(lines) * 10)
    Fonoteca(settings, archive=archive).update_index()
    return archive.get_episode(episode.id)


@pytest.fixture
def partly_embedded(settings: Settings) -> Settings:
    """Two shows: three episodes of "Startups", embedded; one of "Interviews", not yet (embedding goes oldest first,
    and it is the newest)."""
    settings = settings.replace(embeddings_model=USE)
    with Archive(settings.db_path) as archive:
        for n, topics in enumerate([STARTUP + PRICING, GROWTH + GROCERY, RESIGNATION + STARTUP[:1]], start=1):
            add_episode(archive, settings, topics, show="Startups", title=f"Startups {n}", published=f"2024-01-0{n}")
        interview = add_episode(
            archive, settings, INTERVIEW, show="Interviews", title="Founders", published="2024-06-01"
        )
    with Fonoteca(settings) as app:
        assert app.embed(most=3) == 3
        embedder = app.embedder
        assert [e for e, _rev in app.archive.vectors.pending(embedder.name, embedder.dim)] == [interview.id]
    return settings


def test_the_query_says_whether_it_wants_words_or_meaning():
    assert intent(f'"{PHRASE}"').literal and "quoted" in intent(f'"{PHRASE}"').why
    assert intent("streaming -crypto").literal and "-crypto" in intent("streaming -crypto").why
    assert intent("stream*").literal and "stream*" in intent("stream*").why
    assert intent(PHRASE).literal, "a few plain words are looked up as typed first"
    assert not intent("¿qué dijo sobre dejar su trabajo?").literal
    assert not intent("when did he talk about leaving his job").literal, "a question without its question mark"
    assert not intent("cuando habló de dejar su trabajo en la empresa").literal, "a long sentence"
    assert intent('"dejar su trabajo" ¿por qué?').literal, "quotes win over the question mark"
    assert in_order(PHRASE) == f'"{PHRASE}"' and in_order("market") is None
    assert in_order(f'"{PHRASE}"') is None and in_order("stream* fit") is None and in_order("a OR b c") is None


@pytest.mark.parametrize("query", [f'"{PHRASE}"', PHRASE])
def test_a_phrase_in_a_partly_embedded_archive_returns_its_literal_matches_first(partly_embedded, query):
    with Fonoteca(partly_embedded) as app:
        results = app.search(query)
    assert results.mode == "hybrid"
    literal = [h for h in results.hits if PHRASE in h.text]
    assert len(literal) == 3 and results.hits[:3] == literal, "every passage that says it, before any other"
    assert all(h.show == "Interviews" and h.matched == "words" for h in literal)
    assert all("<b>product</b>" in snippet_html(h.text, h.highlights) for h in literal)
    apart = [h for h in results.hits if "did not fit the market" in h.text]
    if query == PHRASE:
        assert results.hits[3:4] == apart, "then the words said apart, as typed without quotes"
    else:
        assert apart == [], "quoted: only the phrase"
    by_meaning = results.hits[3 + len(apart) :]
    assert by_meaning and all(h.matched == "meaning" and h.show == "Startups" for h in by_meaning), (
        "the embedded show's passages close in meaning were there to compete, and follow the literal matches"
    )
    assert results.total == len(results.hits)
    assert "first" in results.reason


def test_a_paraphrase_still_finds_its_passage_by_meaning_in_a_partly_embedded_archive(partly_embedded):
    with Fonoteca(partly_embedded) as app:
        results = app.search("when did he talk about leaving his job?")
    best = results.hits[0]
    assert results.mode == "hybrid" and "question" in results.reason
    assert best.matched == "meaning" and "I quit the company" in best.text


def test_the_answer_says_how_much_of_the_scope_is_embedded(partly_embedded):
    share = "75% of this scope is embedded for search by meaning (3 of 4 episodes)"
    with Fonoteca(partly_embedded) as app:
        assert share in app.search(PHRASE).note
        assert app.search(PHRASE, show="startups").note == "", "a scope embedded entirely needs no note"
        unembedded = app.search(PHRASE, show="interviews")
        assert unembedded.mode == "keyword" and "nothing in this scope is embedded" in unembedded.note
        assert "50% of this scope" in app.search(PHRASE, date_from="2024-01-03").note
    client = TestClient(create_app(partly_embedded))
    api = client.get("/api/search", params={"q": f'"{PHRASE}"'}).json()
    assert share in api["note"] and api["mode"] == "hybrid"
    page = client.get("/search", params={"q": f'"{PHRASE}"'})
    assert share in page.text
    assert 'data-testid="reason">auto: by words, then by meaning: you quoted' in page.text
    command = ["--home", str(partly_embedded.home), "search", f'"{PHRASE}"']
    output = CliRunner().invoke(cli, command, env={"FONOTECA_EMBEDDINGS_MODEL": USE}).output
    assert "75% of this scope is embedded" in " ".join(output.split())
    with Fonoteca(partly_embedded) as app:
        app.embed()
        assert app.search(PHRASE).note == "", "everything embedded: nothing to say"
