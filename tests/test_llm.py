"""LLM plumbing that needs no model: reading broken answers, retrieval queries, citations, memory trimming, and the
behaviour when nothing is found or nothing listens."""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import sys

import httpx
import openai
import pytest
from fixtures_llm import VOYAGER, add_episode, searcher

from fonoteca.app import Fonoteca
from fonoteca.archive import Message
from fonoteca.errors import LLMError, NotFound
from fonoteca.events import AnalysesFinished, AnalysesStarted, AnalysisFailed, EpisodeAnalysed, EpisodeAnalysing
from fonoteca.llm.analyze import (
    PROMPTS,
    STRUCTURED,
    Analyzer,
    Entities,
    EpisodeAnalyses,
    Sentiment,
    Topics,
    split_text,
)
from fonoteca.llm.chat import (
    NOT_FOUND,
    ChatTurn,
    CitationFilter,
    Excerpt,
    build_messages,
    cited_numbers,
    question_language,
    retrieval_queries,
    retrieval_query,
    retrieve,
    sources,
)
from fonoteca.llm.clean import clean_text, extract_cut_json, extract_json, limit_words, strip_special_tokens
from fonoteca.llm.client import Endpoint, LLMClient, estimate_tokens, finished_part, retry_instruction
from fonoteca.llm.server import free_port
from fonoteca.output import AnalysisReportOut, dump

# Seed 001's book list, exactly as the local model returned it: a chat-template token leaked into a name.
SEED_BROKEN_JSON = """{
  "libro_1": {
    "titulo": "Volar con alas de acero",
    "autor": "Juan Pérez",
    "año": 2023
  },
  "libro_2": {
    "titulo": "El secreto del vuelo",
    "autor": "María Gómez",
    "año": 2021
  },
  "libro_3": {
    "titulo": "Viajes en el cielo",
    "autor": "Carl<|im_start|> Mendoza",
    "año": 2022
  }
}"""


def test_leaked_template_token_is_removed_from_the_seed_json():
    books = extract_json(SEED_BROKEN_JSON)
    assert books["libro_3"]["autor"] == "Carl Mendoza"
    assert [b["año"] for b in books.values()] == [2023, 2021, 2022]


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ('```json\n{"sentiment": "positive", "anger": false}\n```', {"sentiment": "positive", "anger": False}),
        ('Salida JSON: {"nombres": ["Juan", "Mamá María"]} espero que sirva', {"nombres": ["Juan", "Mamá María"]}),
        ('<think>the user wants JSON</think>{"topics": ["a", "b",]}<|im_end|>', {"topics": ["a", "b"]}),
        ('{"people": ["Ada\nLovelace<|endoftext|>"]}', {"people": ["Ada\nLovelace"]}),
        ('<|im_start|>assistant\n{"language": "es"}<|im_end|>', {"language": "es"}),
    ],
)
def test_json_is_read_through_fences_prose_reasoning_and_special_tokens(raw, expected):
    assert extract_json(raw) == expected


def test_an_answer_without_json_is_a_clear_error():
    with pytest.raises(ValueError, match="no JSON"):
        extract_json("Lo siento, no puedo ayudarte con eso.")
    with pytest.raises(ValueError, match="not valid JSON"):
        extract_json('{"topics": ["a", "b"')


def test_an_answer_cut_by_the_token_limit_keeps_its_finished_names_and_empty_lists_for_those_it_never_reached():
    # As SmolLM2 wrote it for a Talk Python episode: one name after another until the 300 tokens ran out.
    cut = '```json\n{"people": ["Michael Kennedy", "Brian Okken", "Michael Kennedy", "Brian Okk'
    assert extract_cut_json(cut) == {"people": ["Michael Kennedy", "Brian Okken", "Michael Kennedy"]}
    entities = finished_part(cut, Entities)
    assert entities == Entities(people=["Michael Kennedy", "Brian Okken"], organizations=[], products=[])
    # Four finished topics of the five required are not an answer: the client asks again.
    assert finished_part('{"topics": ["Python", "Pytest", "Testing", "Fixtures", "Pl', Topics) is None
    with pytest.raises(ValueError, match="no JSON"):
        extract_cut_json("Lo siento, no puedo")


def test_prose_answers_lose_quotes_fences_and_tokens():
    assert clean_text('"Hola, me gustaría pedir un café"<|im_end|>') == "Hola, me gustaría pedir un café"
    assert clean_text("```\nun resumen\n```") == "un resumen"


def test_summary_word_limit_is_enforced_by_trimming():
    assert limit_words("uno dos tres", 5) == "uno dos tres"
    trimmed = limit_words("uno, dos, tres, cuatro, cinco, seis", 3)
    assert trimmed == "uno, dos, tres…"
    assert len(trimmed.split()) == 3


def test_validation_normalises_model_quirks_and_rejects_what_cannot_be_fixed():
    topics = Topics.model_validate(
        {"topics": ["Garabato", "Mesas verdes", '"Años 80"', "Excursiones escolares", "Confesar"]}
    )
    assert topics.topics == ["Garabato", "Mesas verdes", "Años 80", "Excursiones escolares", "Confesar"]
    with pytest.raises(ValueError, match="five different"):
        Topics.model_validate({"topics": ["Voyager", "voyager", "NASA", "Sonda", "Datos"]})
    assert Sentiment.model_validate({"sentiment": "Positivo", "anger": "no"}).sentiment == "positive"
    assert Sentiment.model_validate({"sentiment": "negative", "anger": "sí"}).anger is True
    entities = Entities.model_validate(
        {"people": ["Juan", "juan ", "Carl Mendoza"], "organizations": [], "products": []}
    )
    assert entities.people == ["Juan", "Carl Mendoza"]


def test_retrieval_query_keeps_keywords_of_spanish_and_english_questions():
    assert retrieval_query("¿Qué dijo Carl Mendoza sobre la sonda Voyager en el episodio?") == (
        "carl OR mendoza OR sonda OR voyager"
    )
    assert retrieval_query("What did they say about the electricity consumption?") == "electricity OR consumption"
    assert retrieval_query("¿de qué se habló?") == ""
    # A follow-up without keywords of its own is about what the earlier question asked.
    assert retrieval_queries("¿Y qué dijo él?", ["¿Qué pasó con la sonda Voyager?"]) == ["paso OR sonda OR voyager"]
    assert retrieval_queries("¿Y los ingenieros de la NASA?", ["¿Qué pasó con la Voyager?"]) == [
        "ingenieros OR nasa",
        "ingenieros OR nasa OR paso OR voyager",
    ]
    assert question_language("¿Qué dijeron de la NASA?") == "es"
    assert question_language("What did they say about NASA?") == "en"


def test_citation_numbers_that_were_not_given_are_removed_even_when_split_across_chunks():
    given = CitationFilter({1, 2})
    pieces = ["La sonda volvió [", "1] y la NASA", " lo celebró [7]. Luego [2", ", 9] y <|im_", "end|>fin [3"]
    text = "".join(given.feed(p) for p in pieces) + given.flush()
    assert text == "La sonda volvió [1] y la NASA lo celebró. Luego [2] y fin [3"
    assert given.cited == [1, 2]


def test_streamed_answer_is_cleaned_like_the_stored_one_without_doubled_spaces():
    raw = ["Según [1] y ", "[7]", " y [1]</", "s> dijo <thi", "nk>plan</think>", "que sí [9].\n\nFin <eos>"]
    given = CitationFilter({1})
    streamed = "".join(given.feed(p) for p in raw) + given.flush()
    assert streamed == "Según [1] y y [1] dijo que sí.\n\nFin"
    assert clean_text(streamed) == streamed, "the stored answer is what was streamed"
    assert strip_special_tokens("Carl<|im_start|> Mendoza y </s> Ada.") == "Carl Mendoza y Ada."


def test_brackets_that_are_not_citations_pass_through():
    given = CitationFilter({1})
    assert given.feed("una lista [a, b] y 3 < 4 ") + given.flush() == "una lista [a, b] y 3 < 4 "


def _excerpt(n: int, text: str) -> Excerpt:
    return Excerpt(n, "ep", "Título", "Show", "2024-01-01", n * 10.0, n * 10.0 + 5, text, f"/episode/ep?t={n * 10}")


def test_memory_keeps_system_prompt_and_drops_oldest_turns_first():
    history = []
    for i in range(40):
        history.append(Message("user", f"pregunta número {i} " + "palabra " * 40))
        history.append(Message("assistant", f"respuesta número {i} " + "palabra " * 40))
    messages, kept = build_messages(
        history, [_excerpt(1, "texto " * 30)], "¿y ahora?", language="es", context=1024, answer_tokens=256
    )
    assert messages[0]["role"] == "system" and "Spanish" in messages[0]["content"]
    assert messages[-1]["role"] == "user" and "¿y ahora?" in messages[-1]["content"]
    assert "[1]" in messages[-1]["content"] and kept == [_excerpt(1, "texto " * 30)]
    earlier = messages[1:-1]
    assert earlier, "some history fits"
    assert earlier[0]["role"] == "user"
    assert "número 39" in earlier[-1]["content"], "the newest turn is kept"
    assert not any("número 0 " in m["content"] for m in earlier), "the oldest turn is dropped"
    assert sum(len(m["content"]) for m in messages) / 3 < 1024 - 256


def test_long_text_is_split_into_parts_within_budget():
    text = "\n".join(f"línea {i} " + "palabra " * 20 for i in range(200))
    parts = split_text(text, budget=300, tokens=len(text) // 3)
    assert len(parts) > 5
    assert "\n".join(parts) == text
    assert all(len(p) <= 300 * 3 for p in parts)


def test_nothing_relevant_found_says_so_without_calling_the_model(archive, settings):
    add_episode(archive, ["Hoy hablamos de la sonda Voyager y de la NASA.", "Los ingenieros recuperaron la señal."])
    # Nothing listens at this endpoint: any model call would end in an error event.
    settings = settings.replace(llm_base_url=f"http://127.0.0.1:{free_port()}/v1")
    turn = ChatTurn(
        archive, settings, searcher(archive, settings), LLMClient(settings), "¿Qué opinan de las recetas de cocina?"
    )

    async def run() -> list:
        await turn.prepare()
        return [event async for event in turn.events()]

    events = asyncio.run(run())
    assert [e.event for e in events] == ["meta", "token", "citations", "done"]
    assert events[1].data["text"] == NOT_FOUND["es"]
    assert events[0].data["citations"] == [] and turn.citations == []
    assert events[0].data["sources"] == events[2].data["sources"] == turn.sources == [], "no sources to show"
    stored = archive.messages(turn.conversation_id)
    assert [m.role for m in stored] == ["user", "assistant"] and stored[1].content == NOT_FOUND["es"]


def _fonoteca(settings, *args: str, base_url: str) -> subprocess.CompletedProcess:
    env = {**os.environ, "FONOTECA_HOME": str(settings.home), "FONOTECA_LLM_BASE_URL": base_url}
    return subprocess.run(
        [sys.executable, "-m", "fonoteca", *args], env=env, capture_output=True, text=True, timeout=60
    )


def test_endpoint_down_gives_one_clear_line_with_the_serve_hint(archive, settings):
    episode = add_episode(archive, ["La sonda Voyager volvió a dar señales de vida."])
    down = f"http://127.0.0.1:{free_port()}/v1"
    for args in (["llm", "check"], ["ask", "¿Qué pasó con la sonda Voyager?"], ["analyze", episode.id]):
        result = _fonoteca(settings, *args, base_url=down)
        assert result.returncode == 1, args
        lines = result.stderr.strip().splitlines()
        assert len(lines) == 1, result.stderr
        assert f"no language model server answers at {down}" in lines[0]
        assert "fonoteca llm serve" in lines[0]
        assert "Traceback" not in result.stderr
    assert archive.list_analyses(episode.id) == []


def _listing(settings, *answers: list[str] | int | None, **options: str) -> tuple[LLMClient, list[str]]:
    """A client whose server answers /models with `answers` in turn (model ids, an error status, or None: nothing
    listens), and the paths it was asked for."""
    pending, asked = list(answers), []

    def server(request: httpx.Request) -> httpx.Response:
        asked.append(request.url.path)
        answer = pending.pop(0)
        if answer is None:
            raise httpx.ConnectError("connection refused", request=request)
        if isinstance(answer, int):
            return httpx.Response(answer, json={"error": {"message": "no such route"}})
        models = [{"id": m, "object": "model", "created": 0, "owned_by": "test"} for m in answer]
        return httpx.Response(200, json={"object": "list", "data": models})

    client = LLMClient(settings.replace(**options))
    transport = httpx.Client(transport=httpx.MockTransport(server))
    client.sync = openai.OpenAI(base_url=client.base_url, api_key="test", max_retries=0, http_client=transport)
    return client, asked


def test_only_check_asks_the_server_and_a_server_that_was_down_is_asked_again(settings):
    client, asked = _listing(settings, None, ["smollm2-135m-instruct", "nomic-embed-text"])
    with pytest.raises(RuntimeError, match="check"):
        _ = client.model
    with pytest.raises(RuntimeError, match="check"):
        _ = client.embedding_model
    assert client.json_mode == "json_schema" and asked == [], "reading the client's state asks nothing"
    with pytest.raises(LLMError, match="no language model server answers"):
        client.check()
    endpoint = client.check()
    assert endpoint.model == client.model == "smollm2-135m-instruct"
    assert endpoint.embedding_model == client.embedding_model == "nomic-embed-text"
    assert client.checked() is endpoint and len(asked) == 2 and asked[0].endswith("/models")


def test_a_configured_model_is_used_only_when_the_server_lists_it_or_cannot_list_any(settings):
    client, _ = _listing(settings, ["smollm2", "llama3:latest"], llm_model="gpt-4")
    with pytest.raises(LLMError, match="'gpt-4' is not listed .*; it has: smollm2, llama3:latest"):
        client.check()
    assert _listing(settings, ["smollm2", "llama3:latest"], llm_model="llama3")[0].check().model == "llama3"
    trusted = _listing(settings, 404, llm_model="gpt-4")[0].check()
    assert (trusted.listed, trusted.model, trusted.embedding_model) == (None, "gpt-4", "")
    with pytest.raises(LLMError, match="looks like an OpenAI-compatible API"):
        _listing(settings, 404)[0].check()
    with pytest.raises(LLMError, match="lists no models"):
        _listing(settings, [])[0].check()


def test_embeddings_are_the_configured_model_a_listed_embed_model_or_none(settings):
    listed = ["smollm2", "nomic-embed-text"]
    assert _listing(settings, listed)[0].check().embedding_model == "nomic-embed-text"
    assert _listing(settings, listed, llm_embedding_model="bge-m3")[0].check().embedding_model == "bge-m3"
    assert _listing(settings, listed, llm_embedding_model="none")[0].check().embedding_model == ""
    assert _listing(settings, ["smollm2"])[0].check().embedding_model == ""


def test_asking_about_one_episode_retrieves_only_from_its_transcript(archive, settings):
    first = add_episode(archive, ["La sonda Voyager volvió a dar señales de vida."], title="Noticias de marzo")
    second = add_episode(archive, ["Los ingenieros de la Voyager recuperaron la señal."], title="Noticias de abril")
    settings = settings.replace(llm_base_url=f"http://127.0.0.1:{free_port()}/v1")  # retrieval needs no model
    question = "¿Qué pasó con la Voyager?"
    everywhere = ChatTurn(archive, settings, searcher(archive, settings), LLMClient(settings), question)
    asyncio.run(everywhere.prepare())
    assert {e.episode_id for e in everywhere.excerpts} == {first.id, second.id}
    scoped = ChatTurn(archive, settings, searcher(archive, settings), LLMClient(settings), question, episode=second.id)
    asyncio.run(scoped.prepare())
    assert [e.episode_id for e in scoped.excerpts] == [second.id]
    with pytest.raises(NotFound):
        asyncio.run(
            ChatTurn(
                archive, settings, searcher(archive, settings), LLMClient(settings), question, episode="nope"
            ).prepare()
        )


def _nowhere(settings):
    """Settings whose endpoint nothing listens at: whatever these tests do must not need a model."""
    return settings.replace(llm_base_url=f"http://127.0.0.1:{free_port()}/v1")


def _prepared(archive, settings, message: str, **options) -> ChatTurn:
    turn = ChatTurn(archive, settings, searcher(archive, settings), LLMClient(settings), message, **options)
    asyncio.run(turn.prepare())
    return turn


def test_a_follow_up_without_keywords_retrieves_what_the_earlier_question_asked_about(archive, settings):
    add_episode(archive, ["La sonda Voyager volvió a dar señales de vida.", "Hoy también hablamos de cocina."])
    settings = _nowhere(settings)
    conversation = "c1"
    archive.create_conversation(conversation)
    archive.add_message(conversation, "user", "¿Qué pasó con la sonda Voyager?")
    archive.add_message(conversation, "assistant", "Volvió a dar señales de vida [1].")
    follow_up = _prepared(archive, settings, "¿Y qué dijo él?", conversation_id=conversation)
    assert [e.text for e in follow_up.excerpts] == ["La sonda Voyager volvió a dar señales de vida."]
    assert follow_up.prompt, "the model is asked, not answered for with 'nothing found'"


def test_a_conversation_continues_about_the_show_it_started_with(archive, settings):
    add_episode(archive, ["La sonda Voyager volvió a dar señales de vida."], title="Ciencia", show_title="Ciencia")
    add_episode(archive, ["La Voyager es también una nave de Star Trek."], title="Series", show_title="Series")
    settings = _nowhere(settings)
    first = _prepared(archive, settings, "¿Qué pasó con la Voyager?", show="Ciencia")
    assert {e.show for e in first.excerpts} == {"Ciencia"}
    then = _prepared(archive, settings, "¿Y la Voyager ahora?", conversation_id=first.conversation_id)
    assert then.excerpts and {e.show for e in then.excerpts} == {"Ciencia"}


def test_a_conversation_started_about_one_episode_stays_on_that_episode(archive, settings):
    add_episode(archive, ["La sonda Voyager volvió a dar señales de vida."], title="Noticias de marzo")
    april = add_episode(archive, ["Los ingenieros de la Voyager recuperaron la señal."], title="Noticias de abril")
    settings = _nowhere(settings)
    first = _prepared(archive, settings, "¿Qué pasó con la Voyager?", episode=april.id)
    then = _prepared(archive, settings, "¿Y la Voyager ahora?", conversation_id=first.conversation_id)
    assert [e.episode_id for e in then.excerpts] == [april.id]


def test_structured_analyses_leave_room_in_the_context_for_the_retry(archive, settings):
    settings = _nowhere(settings).replace(llm_context=2048)
    analyzer = Analyzer(archive, settings, LLMClient(settings))
    for kind in ("topics", "entities", "sentiment"):
        shape, max_tokens = STRUCTURED[kind]
        transcript = "x" * int(analyzer.token_budget(analyzer.room(kind)) * 3)  # as many tokens as may be sent
        messages = PROMPTS[kind].messages(language="Spanish", text=transcript)
        retry = [
            *messages,
            {"role": "assistant", "content": "y" * max_tokens * 3},  # the invalid first answer, as long as allowed
            {"role": "user", "content": retry_instruction("z" * 300, shape.model_json_schema())},
        ]
        sent = sum(estimate_tokens(m["content"]) for m in retry) + max_tokens
        assert sent <= settings.llm_context, f"{kind}: the retry needs {sent} tokens"


def test_input_errors_are_reported_before_any_server_is_asked(archive, settings):
    episode = add_episode(archive, ["La sonda Voyager volvió a dar señales de vida."])
    down = f"http://127.0.0.1:{free_port()}/v1"
    for args, expected in (
        (["--what", "bogus"], "unknown analysis 'bogus'"),
        (["--words", "0"], "--words must be between 1 and 500"),
        (["--what", "translation", "--to", "english"], "--to 'english' is not a two-letter language code"),
        (["--what", "translation", "--to", "en", "--from", "90", "--until", "30"], "must come after --from"),
    ):
        result = _fonoteca(settings, "analyze", episode.id, *args, base_url=down)
        assert result.returncode == 1, args
        assert expected in result.stderr and "no language model server" not in result.stderr, result.stderr
        assert len(result.stderr.strip().splitlines()) == 1, result.stderr


def test_the_language_is_found_without_a_server_and_stored_under_its_method(archive, settings):
    episode = add_episode(archive, [line + " Y seguimos hablando de ello un buen rato." for line in VOYAGER])
    result = _fonoteca(
        settings, "analyze", episode.id, "--what", "language", "--json", base_url=_nowhere(settings).llm_base_url
    )
    assert result.returncode == 0, result.stderr
    [report] = json.loads(result.stdout)
    assert report["language"] == "es"
    assert report["model"] == "py3langid" and report["models"] == {"language": "py3langid"}
    assert [a.model for a in archive.list_analyses(episode.id)] == ["py3langid"]


def _show_with_an_untranscribable_episode(archive):
    """A show whose first episode can be analysed without a server (its language, by py3langid) and whose second,
    finished with an empty transcript, cannot be analysed at all."""
    spoken = add_episode(archive, [line + " Y seguimos hablando de ello un buen rato." for line in VOYAGER])
    silent = add_episode(archive, [], title="Silencio")
    assert archive.get_episode(silent.id).status == "done"
    return spoken, silent


def test_a_show_s_episodes_are_analysed_in_turn_and_one_that_fails_is_told_while_the_others_go_on(archive, settings):
    spoken, silent = _show_with_an_untranscribable_episode(archive)
    told = []
    with Fonoteca(_nowhere(settings), archive=archive, events=told.append) as fonoteca:
        run = fonoteca.analyze("Archivo de pruebas", ["language"])
    [report] = run.reports
    assert report.episode.id == spoken.id and report.analyses["language"].result["language"] == "es"
    assert (run.failed, run.episodes) == (1, 2)
    assert told[0] == AnalysesStarted(2) and told[-1] == AnalysesFinished()
    assert EpisodeAnalysing(spoken.id, spoken.title) in told and EpisodeAnalysed(spoken.id, spoken.title) in told
    [failure] = [e for e in told if isinstance(e, AnalysisFailed)]
    assert failure.episode_id == silent.id and "no transcript" in failure.reason


def test_an_analysis_report_has_errors_only_when_an_analysis_failed_and_nulls_for_the_others(archive, settings):
    episode = add_episode(archive, [line + " Y seguimos hablando de ello un buen rato." for line in VOYAGER])
    with Fonoteca(_nowhere(settings), archive=archive) as fonoteca:
        analyzer = fonoteca.analyzer()
        worked = dump(AnalysisReportOut.of(EpisodeAnalyses(episode, *analyzer.analyze_each(episode, ["language"]))))
        no_server = EpisodeAnalyses(episode, *analyzer.analyze_each(episode, ["topics", "language"]))
    assert "errors" not in worked and worked["language"] == "es" and worked["topics"] is None
    partly = dump(AnalysisReportOut.of(no_server))
    assert list(partly["errors"]) == ["topics"] and partly["errors"]["topics"] == str(no_server.errors["topics"])
    assert partly["language"] == "es" and partly["topics"] is None and partly["models"] == {"language": "py3langid"}
    assert list(partly) == [*worked, "errors"], "the same keys, in the same order, and errors last"


def test_analysing_a_show_prints_the_reports_made_and_one_error_line_per_episode_that_failed(archive, settings):
    spoken, silent = _show_with_an_untranscribable_episode(archive)
    url = _nowhere(settings).llm_base_url
    result = _fonoteca(settings, "analyze", "Archivo de pruebas", "--what", "language", "--json", base_url=url)
    assert result.returncode == 1
    [report] = json.loads(result.stdout)
    assert report["episode_id"] == spoken.id and report["language"] == "es"
    errors = [line for line in result.stderr.splitlines() if line.startswith("error:")]
    assert errors[0].startswith(f"error: {silent.id}: ") and "no transcript" in errors[0]
    assert errors[1] == "error: 1 of 2 episodes could not be (fully) analysed — see the errors above", errors
    text = _fonoteca(settings, "analyze", "Archivo de pruebas", "--what", "language", base_url=url)
    assert text.returncode == 1 and "language: es" in text.stdout and "model: py3langid" in text.stdout


def test_sources_are_every_given_excerpt_cited_first_in_citation_order():
    given = [_excerpt(n, f"segmento {n}") for n in range(1, 5)]
    listed = sources(given, [3, 1, 3])
    assert [(s["n"], s["cited"]) for s in listed] == [(3, True), (1, True), (2, False), (4, False)]
    assert listed[0]["url"] == "/episode/ep?t=30" and listed[0]["text"] == "segmento 3"
    assert [s["n"] for s in sources(given, [])] == [1, 2, 3, 4], "an answer that cites nothing still has sources"
    assert cited_numbers("Según [2] y [1, 2]; luego [4].") == [2, 1, 4]


class ScriptedClient(LLMClient):
    """The endpoint's stream replaced by fixed pieces: what is tested is the plumbing around a model, not its words."""

    def __init__(self, settings, pieces: list[str]) -> None:
        super().__init__(settings)
        self.pieces = pieces

    def check(self) -> Endpoint:
        return Endpoint(listed=("scripted",), model="scripted", embedding_model="")  # keyword search alone

    async def stream(self, messages, *, max_tokens=512):
        self.calls["stream"] += 1
        for piece in self.pieces:
            yield piece


def test_an_answers_sources_are_streamed_stored_and_served_with_the_cited_ones_marked(archive, settings):
    from fastapi.testclient import TestClient

    from fonoteca.web.app import create_app

    episode = add_episode(archive, VOYAGER)
    settings = _nowhere(settings)
    question = "¿Qué decodificó la NASA de la Voyager?"
    expected = retrieve(searcher(archive, settings), question)
    assert len(expected) >= 3, "the question finds several excerpts"
    # The answer cites 3, an excerpt that does not exist, then 1; the invented number is removed.
    pieces = ["Un volcado de datos [", "3]. Lo cuenta [", "99] la NASA [1", "]."]
    turn = ChatTurn(archive, settings, searcher(archive, settings), ScriptedClient(settings, pieces), question)

    async def run() -> list:
        await turn.prepare()
        return [event async for event in turn.events()]

    events = {e.event: e.data for e in asyncio.run(run())}
    assert turn.answer == "Un volcado de datos [3]. Lo cuenta la NASA [1]."
    assert [s["n"] for s in events["meta"]["sources"]] == [e.n for e in expected]
    assert not any(s["cited"] for s in events["meta"]["sources"])
    final = events["citations"]["sources"]
    rest = [e.n for e in expected if e.n not in (3, 1)]
    assert [(s["n"], s["cited"]) for s in final] == [(3, True), (1, True), *((n, False) for n in rest)]
    by_number = {e.n: e for e in expected}
    for source in final:
        excerpt = by_number[source["n"]]
        assert (source["episode_id"], source["start"], source["text"]) == (episode.id, excerpt.start, excerpt.text)
        assert source["url"] == f"/episode/{episode.id}?t={int(excerpt.start)}"
    assert [c["n"] for c in events["citations"]["citations"]] == [3, 1]
    stored = archive.messages(turn.conversation_id)[1]
    assert [(s["n"], s["cited"]) for s in stored.citations] == [(s["n"], s["cited"]) for s in final]

    with TestClient(create_app(settings)) as http:
        reply = http.get(f"/api/conversations/{turn.conversation_id}")
    assert reply.status_code == 200
    user, answer = reply.json()["messages"]
    assert user["content"] == question and answer["content"] == turn.answer
    assert answer["sources"] == final, "a reload shows every source again, marked as it was"
    assert [c["n"] for c in answer["citations"]] == [3, 1]


def test_an_answer_stored_before_sources_existed_is_served_with_its_citations_as_sources(archive, settings):
    from fastapi.testclient import TestClient

    from fonoteca.web.app import create_app

    archive.create_conversation("old")
    archive.add_message("old", "user", "¿Qué pasó?")
    old = {"n": 2, "episode_id": "ep", "title": "T", "start": 12.0, "text": "x", "url": "/episode/ep?t=12"}
    archive.add_message("old", "assistant", "Algo [2].", [old])
    with TestClient(create_app(settings)) as http:
        answer = http.get("/api/conversations/old").json()["messages"][1]
    assert answer["sources"] == [{**old, "cited": True}] and answer["citations"] == [old]


def test_ask_prints_every_source_and_marks_the_cited_ones(archive, settings, monkeypatch):
    from typer.testing import CliRunner

    from fonoteca.app import Fonoteca
    from fonoteca.cli import app

    episode = add_episode(archive, VOYAGER)
    question = "¿Qué decodificó la NASA de la Voyager?"
    expected = retrieve(searcher(archive, settings), question)
    monkeypatch.setattr(Fonoteca, "llm", property(lambda f: ScriptedClient(f.settings, ["Un volcado de datos [2]."])))
    runner = CliRunner()
    result = runner.invoke(app, ["--home", str(settings.home), "ask", question, "--json"])
    assert result.exit_code == 0, result.output
    answer = json.loads(result.stdout)
    assert answer["answer"] == "Un volcado de datos [2]."
    assert [s["n"] for s in answer["sources"]] == [2, *(e.n for e in expected if e.n != 2)]
    assert [s["cited"] for s in answer["sources"]] == [True] + [False] * (len(expected) - 1)
    assert [c["n"] for c in answer["citations"]] == [2]

    result = runner.invoke(app, ["--home", str(settings.home), "ask", question])
    assert result.exit_code == 0, result.output
    lines = [line for line in result.stdout.splitlines() if "/episode/" in line]
    assert len(lines) == len(expected), result.stdout
    assert "· cited" in lines[0] and f"/episode/{episode.id}?t={int(expected[1].start)}" in lines[0]
    assert all("not cited" in line for line in lines[1:])
