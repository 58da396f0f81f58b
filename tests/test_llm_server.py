"""The LLM stage against the real llama.cpp server with the packaged SmolLM2-135M (started once by fixtures_llm).

The model is tiny and often wrong: these tests prove the plumbing (formats, validation, storage, map-reduce, memory,
streaming, cancellation, citations), never the wisdom of its answers.
"""

from __future__ import annotations

import asyncio
import json
import os
import re
import signal
import subprocess
import sys
import time
from typing import Annotated

import httpx
import markupsafe
import pytest
from conftest import shared_path
from fixtures_llm import LLM_CONTEXT, VOYAGER, add_episode, assert_sigterm_stops_it_and_its_llm_server, searcher
from fixtures_web import serve_app
from pydantic import BaseModel, Field

from fonoteca.app import Fonoteca
from fonoteca.archive import Archive, Segment
from fonoteca.errors import LLMError
from fonoteca.llm.analyze import Analyzer, Sentiment, prompt_version
from fonoteca.llm.chat import ChatTurn, cited_numbers, retrieve
from fonoteca.llm.client import LLMClient
from fonoteca.llm.server import LocalServer, free_port, port_in_use
from fonoteca.llm.summary import KEY_MOMENTS, KEY_MOMENTS_NOTE

pytestmark = pytest.mark.slow


def test_structured_answer_from_the_real_server_parses_and_validates(llm_settings):
    client = LLMClient(llm_settings)
    answer = client.structured(
        [
            {"role": "system", "content": "You classify product reviews."},
            {"role": "user", "content": "Review: 'El monitor LG es fantástico, estoy encantado.' Sentiment and anger?"},
        ],
        Sentiment,
        max_tokens=40,
    )
    assert isinstance(answer, Sentiment)
    assert answer.sentiment in ("positive", "neutral", "negative") and isinstance(answer.anger, bool)
    # llama-cpp-python rejects OpenAI's json_schema format; the client moved on to its schema-in-json_object.
    assert client.json_mode == "json_object_schema"


def test_analyses_are_stored_with_model_and_prompt_version_and_reused_until_the_transcript_changes(llm_settings):
    with Archive(llm_settings.db_path) as archive:
        episode = add_episode(archive, VOYAGER)
        analyzer = Analyzer(archive, llm_settings, LLMClient(llm_settings))
        first = analyzer.analyze(episode, ["sentiment", "language"])
        sentiment = first["sentiment"]
        assert sentiment.model == "smollm2-135m-instruct"
        assert sentiment.prompt_version == prompt_version("sentiment")
        assert sentiment.transcript_rev == episode.transcript_rev
        assert sentiment.params == ""
        assert sentiment.result["sentiment"] in ("positive", "neutral", "negative")
        assert first["language"].result == {"language": "es", "method": "py3langid"}
        assert first["language"].model == "py3langid", "no language model found it"
        assert {a.kind for a in archive.list_analyses(episode.id)} == {"sentiment", "language"}

        calls = sum(analyzer.client.calls.values())
        again = analyzer.analyze(episode, ["sentiment", "language"])
        assert sum(analyzer.client.calls.values()) == calls, "stored results are reused"
        assert again["sentiment"].result == sentiment.result

        archive.append_segments(episode.id, [Segment(start=60.0, end=66.0, text="Y eso es todo por hoy.")])
        changed = archive.get_episode(episode.id)
        asked = analyzer.client.calls["sentiment"]
        redone = analyzer.analyze(changed, ["sentiment"])["sentiment"]
        assert redone.transcript_rev == changed.transcript_rev > sentiment.transcript_rev
        assert analyzer.client.calls["sentiment"] > asked, "a new transcript is analysed again"

        asked = analyzer.client.calls["sentiment"]
        analyzer.analyze(changed, ["sentiment"], force=True)
        assert analyzer.client.calls["sentiment"] > asked, "--force recomputes"


def test_the_embedded_server_reads_prompts_with_as_many_threads_as_it_writes_answers(llm_server):
    def threads(server: LocalServer) -> tuple[str, str]:
        command = server.command()
        return command[command.index("--n_threads") + 1], command[command.index("--n_threads_batch") + 1]

    half = str(max(1, (os.cpu_count() or 2) // 2))
    assert threads(LocalServer(port=free_port())) == (half, half)
    assert threads(LocalServer(port=free_port(), threads=3)) == ("3", "3")


class ManyWords(BaseModel):
    # At least 50 words in the schema the server turns into a grammar (not checked here): the answer cannot end
    # before the token limit.
    words: Annotated[list[str], Field(json_schema_extra={"minItems": 50})]


def test_an_answer_cut_by_the_token_limit_is_taken_as_far_as_it_got_without_asking_again(llm_settings):
    client = LLMClient(llm_settings)
    question = [{"role": "user", "content": "List words about the sea."}]
    client.structured(question, ManyWords, max_tokens=24, purpose="first")  # finds the JSON mode the server takes
    answer = client.structured(question, ManyWords, max_tokens=24, purpose="words")
    assert client.calls["words"] == 1, "a retry of the same length would have been cut again"
    assert isinstance(answer, ManyWords) and len(answer.words) < 50


def test_transcript_longer_than_the_context_is_condensed_by_map_reduce(llm_settings):
    source = shared_path("transcripts", "venezolanos_es", "episodios", "19-de-abril-de-1810", "transcripcion.md")
    body = source.read_text(encoding="utf-8").split("## Transcripción", 1)[1]
    sentences = [s.strip() for s in re.split(r"(?<=[.;?!])\s+", body) if s.strip()]
    lines = []
    while sum(len(s.split()) for s in lines) < 800:
        lines.append(sentences[len(lines)])
    small = llm_settings.replace(llm_context=1024)
    with Archive(small.db_path) as archive:
        episode = add_episode(archive, lines, title="19 de abril de 1810")
        analyzer = Analyzer(archive, small, LLMClient(small))
        assert analyzer.client.count_tokens("\n".join(lines)) > small.llm_context, "the test needs a long transcript"
        sentiment = analyzer.analyze(episode, ["sentiment"])["sentiment"]
        assert analyzer.client.calls["map"] >= 3, analyzer.client.calls
        assert analyzer.client.calls["sentiment"] >= 1
        stored = archive.get_analysis(episode.id, "sentiment", sentiment.params)
        assert stored is not None and stored.result["sentiment"] in ("positive", "neutral", "negative")


def _turn(archive: Archive, settings, client: LLMClient, message: str, conversation_id: str | None = None):
    turn = ChatTurn(archive, settings, searcher(archive, settings), client, message, conversation_id=conversation_id)

    async def run() -> list:
        try:
            await turn.prepare()
            return [event async for event in turn.events()]
        finally:
            await client.aclose()

    return turn, asyncio.run(run())


def test_chat_sends_the_earlier_turns_back_to_the_model_and_keeps_citations_to_given_excerpts(llm_settings):
    with Archive(llm_settings.db_path) as archive:
        add_episode(archive, VOYAGER)
        client = LLMClient(llm_settings.replace(llm_context=1024))
        settings = llm_settings.replace(llm_context=1024)
        first, events = _turn(archive, settings, client, "¿Qué pasó con la sonda Voyager?")
        assert [e.event for e in events][0] == "meta" and events[-1].event == "done"
        assert first.excerpts, "the Voyager segments are retrieved"
        given = {c["n"] for c in events[0].data["citations"]}
        assert all(c["n"] in given for c in first.citations)
        assert all(int(n) in given for n in re.findall(r"\[(\d+)\]", first.answer))

        second, _ = _turn(archive, settings, client, "¿Y qué hicieron los ingenieros?", first.conversation_id)
        sent = second.prompt
        assert sent[0]["role"] == "system"
        assert sent[1] == {"role": "user", "content": "¿Qué pasó con la sonda Voyager?"}
        assert sent[2] == {"role": "assistant", "content": first.answer}
        assert "¿Y qué hicieron los ingenieros?" in sent[-1]["content"]
        stored = archive.messages(first.conversation_id)
        assert [m.role for m in stored] == ["user", "assistant", "user", "assistant"]
        assert stored[3].content == second.answer


def _events(raw: str) -> list[tuple[str, dict]]:
    found = []
    for block in raw.split("\n\n"):
        name = re.search(r"^event: (.+)$", block, re.M)
        data = re.search(r"^data: (.+)$", block, re.M)
        if name and data:
            found.append((name.group(1), json.loads(data.group(1))))
    return found


def test_chat_answer_streams_in_several_chunks_over_a_real_socket(llm_settings):
    with Archive(llm_settings.db_path) as archive:
        add_episode(archive, VOYAGER)
    with serve_app(llm_settings) as base, httpx.Client(base_url=base, timeout=60) as http:
        page = http.get("/chat")
        assert page.status_code == 200 and re.search(r"/static/chat\.[0-9a-f]+\.js", page.text)
        arrivals: list[tuple[float, str]] = []
        with http.stream("POST", "/api/chat", json={"message": "¿Qué decodificó la NASA de la Voyager?"}) as response:
            assert response.status_code == 200
            assert response.headers["content-type"].startswith("text/event-stream")
            assert response.headers.get("transfer-encoding") == "chunked"
            for chunk in response.iter_text():
                arrivals.append((time.monotonic(), chunk))
        raw = "".join(chunk for _, chunk in arrivals)
        events = _events(raw)
        names = [name for name, _ in events]
        assert names[0] == "meta" and names[-2:] == ["citations", "done"], names
        assert names.count("token") >= 3
        first_token_at = next(t for t, chunk in arrivals if "event: token" in chunk)
        done_at = next(t for t, chunk in arrivals if "event: done" in chunk)
        assert first_token_at < done_at
        assert sum("event: token" in chunk for _, chunk in arrivals) >= 3, "tokens arrive in separate chunks"
        final = dict(events)["citations"]
        given = {c["n"] for c in dict(events)["meta"]["citations"]}
        assert all(c["n"] in given for c in final["citations"])
        assert all(c["url"].startswith(f"/episode/{c['episode_id']}?t=") for c in final["citations"])
        # Whatever the model wrote: the sources are every retrieved excerpt, the ones its answer cites first.
        with Archive(llm_settings.db_path) as archive:
            retrieved = retrieve(searcher(archive, llm_settings), "¿Qué decodificó la NASA de la Voyager?")
        cited = cited_numbers(final["answer"])
        assert [(s["n"], s["cited"]) for s in final["sources"]] == [
            *((n, True) for n in cited),
            *((e.n, False) for e in retrieved if e.n not in cited),
        ]
        assert [(s["text"], s["url"]) for s in sorted(final["sources"], key=lambda s: s["n"])] == [
            (e.text, f"/episode/{e.episode_id}?t={int(e.start)}") for e in retrieved
        ]
        stored = http.get(f"/api/conversations/{dict(events)['meta']['conversation_id']}").json()["messages"][1]
        assert stored["sources"] == final["sources"], "a reload shows the same sources"

        bad = http.post("/api/chat", json={"message": "hola", "show": "no-such-show"})
        assert bad.status_code == 404


def test_a_server_dying_mid_answer_becomes_an_error_event_after_the_200(llm_settings):
    """The fault is real: a second llama.cpp server of the test's own, killed (SIGKILL) after its first token."""
    with Archive(llm_settings.db_path) as archive:
        add_episode(archive, VOYAGER)
    doomed = LocalServer(port=free_port(), context=LLM_CONTEXT).start()
    try:
        settings = llm_settings.replace(llm_base_url=doomed.base_url)
        question = "Escribe una explicación muy larga y detallada de todo lo que pasó con la Voyager."
        with serve_app(settings) as base, httpx.Client(base_url=base, timeout=60) as http:
            raw = ""
            with http.stream("POST", "/api/chat", json={"message": question}) as response:
                assert response.status_code == 200
                for chunk in response.iter_text():
                    if "event: token" in chunk and "event: token" not in raw:
                        os.killpg(doomed.process.pid, signal.SIGKILL)
                    raw += chunk
            names = [name for name, _ in _events(raw)]
            assert names[0] == "meta" and "token" in names and names[-1] == "error", names
            message = dict(_events(raw))["error"]["message"]
            assert f"the language model server at {doomed.base_url} broke off the answer" in message, message
            assert "fonoteca llm check" in message
            assert len(message.splitlines()) == 1
    finally:
        doomed.stop()
    conversation_id = dict(_events(raw))["meta"]["conversation_id"]
    with Archive(llm_settings.db_path) as archive:
        assert archive.messages(conversation_id) == [], "a broken answer is not stored as if it were complete"


def _probe_seconds(server: LocalServer, word: str) -> float:
    """How long a one-token completion of `word` takes to be answered by the llama.cpp server (a new word each time:
    its prompt cache would answer a repeated prompt at once)."""
    started = time.monotonic()
    probe = httpx.post(
        f"{server.base_url}/chat/completions",
        json={"messages": [{"role": "user", "content": word}], "max_tokens": 1, "temperature": 0},
        timeout=120,
    )
    assert probe.status_code == 200
    return time.monotonic() - started


def test_stopping_the_chat_cancels_generation_upstream_within_a_second(llm_server, llm_settings):
    with Archive(llm_settings.db_path) as archive:
        add_episode(archive, VOYAGER)
    question = "Escribe una explicación muy larga y detallada, con muchos párrafos, de todo lo que pasó con la Voyager."
    with serve_app(llm_settings) as base, httpx.Client(base_url=base, timeout=60) as http:
        log_before = llm_server.log_tail(1000).count("Disconnected from client")
        with http.stream("POST", "/api/chat", json={"message": question}) as response:
            for chunk in response.iter_text():
                if "event: token" in chunk:
                    break
            stopped_at = time.monotonic()
        # llama.cpp's server (started with --interrupt_requests False) runs one generation at a time: a new request
        # only starts once the abandoned one has stopped. The same probe sent again to the idle server is the
        # baseline, so a busy machine (which slows both alike) does not fail the test.
        _probe_seconds(llm_server, "hola")
        waited = time.monotonic() - stopped_at
        alone = _probe_seconds(llm_server, "buenas")
        assert waited - alone < 1.5, (
            f"the next request waited {waited:.1f} s ({alone:.1f} s alone): the abandoned answer kept generating"
        )
        assert llm_server.log_tail(1000).count("Disconnected from client") > log_before


def test_ask_cli_prints_json_with_citations_to_given_excerpts(llm_settings):
    with Archive(llm_settings.db_path) as archive:
        episode = add_episode(archive, VOYAGER)
    env = {
        **os.environ,
        "FONOTECA_HOME": str(llm_settings.home),
        "FONOTECA_LLM_BASE_URL": llm_settings.llm_base_url,
        "FONOTECA_LLM_CONTEXT": "1024",
    }
    result = subprocess.run(
        [sys.executable, "-m", "fonoteca", "ask", "¿Qué monitor LG les encantó?", "--json"],
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert result.returncode == 0, result.stderr
    answer = json.loads(result.stdout)
    assert answer["answer"].strip()
    with Archive(llm_settings.db_path) as archive:
        retrieved = retrieve(searcher(archive, llm_settings), "¿Qué monitor LG les encantó?")
    cited = cited_numbers(answer["answer"])
    assert [(s["n"], s["cited"]) for s in answer["sources"]] == [
        *((n, True) for n in cited),
        *((e.n, False) for e in retrieved if e.n not in cited),
    ], "every excerpt given, whether the model cited it or not"
    for citation in answer["citations"]:
        assert citation["episode_id"] == episode.id
        assert citation["url"] == f"/episode/{episode.id}?t={int(citation['start'])}"
        assert set(citation) >= {"episode_id", "title", "start", "end", "text", "url"}
    for source in answer["sources"]:
        assert source["url"] == f"/episode/{episode.id}?t={int(source['start'])}"


def test_episode_page_form_runs_analyses_and_shows_them(llm_settings):
    from fastapi.testclient import TestClient

    from fonoteca.web.app import create_app

    with Archive(llm_settings.db_path) as archive:
        episode = add_episode(archive, VOYAGER)
        Fonoteca(llm_settings, archive=archive).glance()  # its key moments: the embedded setup's summary
    with TestClient(create_app(llm_settings)) as client:
        before = client.get(f"/episode/{episode.id}")
        assert 'action="/episode/' in before.text and 'class="summary"' not in before.text
        assert str(markupsafe.escape(KEY_MOMENTS_NOTE)) in before.text, "why there is no model summary to ask for"
        ticked = re.findall(r'name="what" value="(\w+)" checked', before.text)
        assert ticked == ["topics", "entities", "sentiment", "language"], "every kind the page offers is ticked"
        posted = client.post(f"/episode/{episode.id}/analyze", data={"what": ticked}, follow_redirects=False)
        assert posted.status_code == 303 and posted.headers["location"] == f"/episode/{episode.id}#analysis"
        page = client.get(f"/episode/{episode.id}").text
        with Archive(llm_settings.db_path) as archive:
            stored = {a.kind: a for a in archive.list_analyses(episode.id)}
        assert set(stored) == {"topics", "entities", "sentiment", "language"}
        assert 'class="summary"' not in page, "the embedded model writes no summary"
        for topic in stored["topics"].result["topics"]:
            assert f"<li>{markupsafe.escape(topic)}</li>" in page
        assert f"sentiment-{stored['sentiment'].result['sentiment']}" in page
        assert "smollm2-135m-instruct" in page

        api = client.get(f"/api/episodes/{episode.id}/analyses").json()
        assert {a["kind"] for a in api["analyses"]} == set(stored)
        translated = client.post(
            f"/episode/{episode.id}/translate", data={"to": "en", "start": "0", "end": ""}, follow_redirects=False
        )
        assert translated.status_code == 303
        assert "Translation (en, 0:00–0:48)" in client.get(translated.headers["location"]).text
        passage = client.post(f"/api/episodes/{episode.id}/translation", json={"to": "en", "start": 0, "end": 11})
        assert passage.status_code == 200, passage.text
        assert passage.json()["result"]["to"] == "en" and passage.json()["result"]["end"] == 12.0
        assert passage.json()["result"]["text"].strip()

        bad = client.post(f"/episode/{episode.id}/analyze", data={"what": ["horoscope"]}, follow_redirects=False)
        assert bad.status_code == 303 and "analysis_error=" in bad.headers["location"]
        assert "unknown analysis" in client.get(bad.headers["location"]).text


def test_llm_check_and_analyze_json_from_the_command_line(llm_settings):
    with Archive(llm_settings.db_path) as archive:
        episode = add_episode(archive, VOYAGER)
    env = {**os.environ, "FONOTECA_HOME": str(llm_settings.home), "FONOTECA_LLM_BASE_URL": llm_settings.llm_base_url,
           "FONOTECA_EMBEDDINGS": "none"}  # fmt: skip

    def fonoteca(*args: str) -> subprocess.CompletedProcess:
        return subprocess.run(
            [sys.executable, "-m", "fonoteca", *args], env=env, capture_output=True, text=True, timeout=300
        )

    check = fonoteca("llm", "check")
    assert check.returncode == 0, check.stderr
    assert f"{llm_settings.llm_base_url} answers" in check.stdout and "smollm2-135m-instruct" in check.stdout
    assert "embeddings: none listed" in check.stdout

    result = fonoteca("analyze", episode.id, "--what", "summary,sentiment,language", "--words", "12", "--json")
    assert result.returncode == 0, result.stderr
    [report] = json.loads(result.stdout)
    assert set(report) >= {"episode_id", "summary", "topics", "entities", "sentiment", "anger", "language", "model"}
    assert report["episode_id"] == episode.id and report["model"] == "smollm2-135m-instruct"
    assert report["models"]["summary"] == KEY_MOMENTS and report["summary"]["text"] is None, "not the 135M's prose"
    assert report["summary"]["key_moments"] and report["summary"]["note"] == KEY_MOMENTS_NOTE
    assert report["sentiment"] in ("positive", "neutral", "negative") and isinstance(report["anger"], bool)
    assert report["language"] == "es"


def _cli(settings, *args: str, timeout: float = 300, **env: str) -> subprocess.CompletedProcess:
    environ = {
        **os.environ,
        "FONOTECA_HOME": str(settings.home),
        "FONOTECA_LLM_BASE_URL": settings.llm_base_url,
        **env,
    }
    return subprocess.run(
        [sys.executable, "-m", "fonoteca", *args], env=environ, capture_output=True, text=True, timeout=timeout
    )


def test_a_model_the_server_does_not_list_is_refused_before_anything_is_stored(llm_settings):
    with Archive(llm_settings.db_path) as archive:
        episode = add_episode(archive, VOYAGER)
    expected = f"the configured model 'gpt-4' is not listed by the server at {llm_settings.llm_base_url}; it has: "
    for args in (["analyze", episode.id, "--what", "sentiment", "--json"], ["ask", "¿Qué pasó con la Voyager?"]):
        result = _cli(llm_settings, *args, FONOTECA_LLM_MODEL="gpt-4")
        assert result.returncode == 1, args
        assert expected + "smollm2-135m-instruct" in result.stderr and "FONOTECA_LLM_MODEL" in result.stderr
        assert len(result.stderr.strip().splitlines()) == 1, result.stderr
    with Archive(llm_settings.db_path) as archive:
        assert archive.list_analyses(episode.id) == []
    check = _cli(llm_settings, "llm", "check", FONOTECA_LLM_MODEL="gpt-4")
    assert check.returncode == 1 and expected in check.stderr
    assert "using" not in check.stdout, "check does not claim to use a model it then refuses"


def test_an_address_that_is_not_an_openai_api_is_named_as_such(llm_settings):
    root = llm_settings.llm_base_url.removesuffix("/v1")  # llama.cpp's server answers 404 at {root}/models
    check = _cli(llm_settings, "llm", "check", FONOTECA_LLM_BASE_URL=root)
    assert check.returncode == 1
    assert f"nothing at {root}/models looks like an OpenAI-compatible API" in check.stderr
    assert "FONOTECA_LLM_BASE_URL" in check.stderr and "fonoteca llm check" not in check.stderr
    # A server that cannot list its models is trusted with the configured one.
    assert LLMClient(llm_settings.replace(llm_base_url=root, llm_model="gpt-4")).check().model == "gpt-4"


def test_a_prompt_longer_than_the_context_is_an_error_not_a_json_mode_downgrade(llm_settings):
    client = LLMClient(llm_settings)
    question = [{"role": "user", "content": "hola " * 3 * LLM_CONTEXT}]
    with pytest.raises(LLMError, match="maximum context length"):
        client.structured(question, Sentiment, max_tokens=10)
    # llama-cpp-python rejects json_schema (a real format rejection); the context error is not one.
    assert client.json_mode == "json_object_schema"


def test_analyses_that_worked_are_printed_when_another_fails(llm_settings):
    with Archive(llm_settings.db_path) as archive:
        episode = add_episode(archive, VOYAGER)
    # A context too small for the topics' answer and its retry: a real failure of the model's analyses, while the
    # language (py3langid) still works.
    result = _cli(
        llm_settings, "analyze", episode.id, "--what", "topics,language", "--json", FONOTECA_LLM_CONTEXT="600"
    )
    assert result.returncode == 1
    [report] = json.loads(result.stdout)
    assert report["language"] == "es" and report["topics"] is None
    assert set(report["errors"]) == {"topics"} and "too small" in report["errors"]["topics"]
    assert f"{episode.id}: topics:" in result.stderr
    with Archive(llm_settings.db_path) as archive:
        assert [a.kind for a in archive.list_analyses(episode.id)] == ["language"]


def test_the_api_answers_the_analyses_that_worked_with_the_reasons_of_those_that_failed(llm_settings):
    from fastapi.testclient import TestClient

    from fonoteca.web.app import create_app

    with Archive(llm_settings.db_path) as archive:
        episode = add_episode(archive, VOYAGER)
    # The same real failure as above: a context too small for the topics, while the language needs no model.
    with TestClient(create_app(llm_settings.replace(llm_context=600))) as client:
        url = f"/api/episodes/{episode.id}/analyses"
        partial = client.post(url, json={"what": ["topics", "language"]})
        assert partial.status_code == 200
        assert [a["kind"] for a in partial.json()["analyses"]] == ["language"]
        assert set(partial.json()["errors"]) == {"topics"} and "too small" in partial.json()["errors"]["topics"]
        only_failures = client.post(url, json={"what": ["topics"]})
        assert only_failures.status_code == 502 and "too small" in only_failures.json()["detail"]


def test_sigterm_to_llm_serve_stops_the_llama_cpp_child(tmp_path):
    port = free_port()
    env = {**os.environ, "FONOTECA_HOME": str(tmp_path / "home")}
    serve = subprocess.Popen(
        [sys.executable, "-m", "fonoteca", "llm", "serve", "--port", str(port), "--ctx", "512"],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        deadline = time.monotonic() + 120
        while not port_in_use("127.0.0.1", port):
            assert serve.poll() is None and time.monotonic() < deadline, serve.stderr.read() if serve.poll() else ""
            time.sleep(0.2)
        assert_sigterm_stops_it_and_its_llm_server(serve, port)
    finally:
        if serve.poll() is None:
            serve.kill()
