"""The LLM pages in real headless Chromium against the real llama.cpp server: the chat's answer streams in and every
excerpt it was given is listed (cited ones first and marked), linked to the exact second; an error after the answer
started is shown on the page; and the episode page's form runs analyses and shows them."""

from __future__ import annotations

import os
import signal

import pytest
from fixtures_browser import CHROMIUM, shot
from fixtures_llm import LLM_CONTEXT, VOYAGER, add_episode
from fixtures_web import serve_app

from fonoteca.app import Fonoteca
from fonoteca.archive import Archive
from fonoteca.llm.chat import cited_numbers, retrieve
from fonoteca.llm.server import LocalServer, free_port
from fonoteca.meaning.grounding import Grounding

pytestmark = [
    pytest.mark.browser,
    pytest.mark.slow,
    pytest.mark.skipif(not CHROMIUM.exists(), reason="needs Debian's chromium (`make test` installs it as root)"),
]


@pytest.fixture(autouse=True)
def patient_page(page) -> None:
    """A small model on 2 busy cores takes seconds per answer: a slow CI run is not a failure."""
    page.set_default_timeout(300_000)


def _ask(page, base: str, question: str) -> None:
    page.goto(f"{base}/chat")
    page.fill("#chat-message", question)
    page.click("#chat-send")


def _shown_sources(page) -> list[dict]:
    return page.eval_on_selector_all(
        ".chat-sources li",
        """items => items.map(li => ({
            n: Number(li.dataset.n),
            href: li.querySelector('a').getAttribute('href'),
            cited: li.classList.contains('cited'),
            labelled: li.querySelector('.chat-cited') !== null,
            text: li.querySelector('q').textContent,
        }))""",
    )


def test_chat_page_streams_the_answer_and_lists_every_source_linked_to_its_second(page, llm_settings) -> None:
    """What the model writes does not matter here: the page must list exactly the excerpts retrieved for the question,
    each linked to its second, the ones the stored answer cites first and marked."""
    question = "¿Qué decodificó la NASA de la Voyager?"
    with Archive(llm_settings.db_path) as archive:
        episode = add_episode(archive, VOYAGER)
        fonoteca = Fonoteca(llm_settings, archive=archive)
        retrieved = retrieve(fonoteca.searcher, question, fonoteca.scope(episode=episode.id))
    assert len(retrieved) >= 2, "the question finds several excerpts"
    with serve_app(llm_settings) as base:
        page.goto(f"{base}/episode/{episode.id}")
        page.click("text=Ask about this episode")
        page.fill("#chat-message", question)
        with page.expect_request("**/api/chat") as sent:
            page.click("#chat-send")
        assert sent.value.post_data_json["episode"] == episode.id, "the page asks about that episode only"
        page.wait_for_function("document.querySelector('.chat-answer').textContent.length > 0")
        assert page.is_enabled("#chat-stop"), "while the answer streams, Stop is offered"
        page.wait_for_function("!document.getElementById('chat-send').disabled")
        assert page.is_hidden("#chat-error")

        conversation_id = page.evaluate(f"sessionStorage.getItem('fonoteca.conversation.{episode.id}')")
        with Archive(llm_settings.db_path) as archive:
            stored = archive.messages(conversation_id)[-1]
        assert stored.role == "assistant"
        cited = cited_numbers(stored.content)
        order = [*cited, *(e.n for e in retrieved if e.n not in cited)]
        by_number = {e.n: e for e in retrieved}
        expected = [
            {
                "n": n,
                "href": f"/episode/{episode.id}?t={int(by_number[n].start)}",
                "cited": n in cited,
                "labelled": n in cited,
                "text": by_number[n].text,
            }
            for n in order
        ]
        assert _shown_sources(page) == expected, "every retrieved excerpt, the cited ones first and marked"
        answer_links = page.eval_on_selector_all(".chat-answer a.citation", "links => links.map(a => a.textContent)")
        assert sorted(set(answer_links)) == sorted(f"[{n}]" for n in cited), "each [n] of the answer is a link"
        shot(page, "chat")

        page.reload()  # the conversation is kept on the server and shown again
        page.wait_for_selector(".chat-sources li")
        assert page.inner_text(".chat-user") == question
        assert _shown_sources(page) == expected
        page.click(".chat-sources a >> nth=0")
        page.wait_for_url(f"{base}{expected[0]['href']}")


def test_chat_page_shows_an_error_that_happens_after_the_answer_started(page, llm_settings) -> None:
    """A real fault: the test's own llama.cpp server is killed once the page shows the first words."""
    with Archive(llm_settings.db_path) as archive:
        add_episode(archive, VOYAGER)
    doomed = LocalServer(port=free_port(), context=LLM_CONTEXT).start()
    try:
        with serve_app(llm_settings.replace(llm_base_url=doomed.base_url)) as base:
            _ask(page, base, "Escribe una explicación muy larga y detallada de todo lo que pasó con la Voyager.")
            page.wait_for_function("document.querySelector('.chat-answer').textContent.length > 0")
            os.killpg(doomed.process.pid, signal.SIGKILL)
            page.wait_for_selector("#chat-error:not([hidden])", timeout=60_000)
            assert f"{doomed.base_url} broke off the answer" in page.inner_text("#chat-error")
            assert page.inner_text(".chat-answer").strip(), "what had arrived stays on the page"
            page.wait_for_function("!document.getElementById('chat-send').disabled")
            shot(page, "chat-error")
    finally:
        doomed.stop()


def test_episode_page_form_analyses_the_episode_and_shows_the_results(page, llm_settings) -> None:
    with Archive(llm_settings.db_path) as archive:
        episode = add_episode(archive, VOYAGER)
    with serve_app(llm_settings) as base:
        page.goto(f"{base}/episode/{episode.id}")
        # The embedded setup's summary is the key moments: the page says so, and offers no model summary.
        assert "FONOTECA_LLM_CAPABLE=true" in page.inner_text(".analysis .key-moments-note")
        assert page.locator(".analyze-form input[value=summary], .analyze-form input[name=words]").count() == 0
        page.click(".analyze-form button[type=submit]")  # the form posts, the model works, the page comes back
        page.wait_for_selector(".analysis dd.sentiment")
        assert page.locator(".analysis dd.summary").count() == 0
        # The model names 5 topics; the page shows those its words say (the grounding check), so how many stay
        # depends on the model's wording: what is proved is that no more come and none is foreign to the episode.
        topics = page.locator(".analysis ul.topics li").all_inner_texts()
        assert len(topics) <= 5
        assert all(Grounding.of(" ".join(VOYAGER), "es").grounded(topic) for topic in topics), topics
        assert page.is_hidden(".analysis .bad")
        shot(page, "episode-analysis")
