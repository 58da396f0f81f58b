"""Public mode against a real `fonoteca serve --public` process: every route of web/access.py tried anonymously and
with the owner's token, what the public's answers leave out, and the owner's actions behind a proxy without a token."""

from __future__ import annotations

import contextlib
import json
import re
import shutil
import time
from collections.abc import Iterator
from pathlib import Path

import anyio
import httpx
import pytest
from fastapi.testclient import TestClient
from fixtures_llm import StalledModelServer
from fixtures_web import DEMO_MEDIA, build_web_archive, fonoteca_serve, fonoteca_serve_process

from fonoteca.app import Fonoteca
from fonoteca.archive import Archive, Segment
from fonoteca.errors import Overloaded
from fonoteca.settings import Settings
from fonoteca.web import pages
from fonoteca.web.access import ROUTES, Access, app_routes, unclassified
from fonoteca.web.app import create_app
from fonoteca.web.chat_limits import Generations

TOKEN = "Xq3v-9LmT2pWz7Rk_b4N"
BEARER = {"Authorization": f"Bearer {TOKEN}"}


def build_public_archive(settings: Settings, recordings: Path) -> dict[str, str]:
    """The web archive, a show of a folder on the server and an episode whose failure names a file of the server."""
    ids = build_web_archive(settings)
    recordings.mkdir()
    shutil.copyfile(DEMO_MEDIA / "jfk.flac", recordings / "jfk.flac")
    with Archive(settings.db_path) as archive:
        folder, _ = archive.add_show(title="Grabaciones", source=str(recordings), source_kind="folder")
        recording, _ = archive.upsert_episode(
            folder, guid="rec", title="Grabación", kind="audio", media_path=str(recordings / "jfk.flac"),
            status="done", source="transcribed", duration=11.0,
        )  # fmt: skip
        archive.append_segments(recording.id, [Segment(0.0, 11.0, "ask not what your country can do for you")])
        broken, _ = archive.upsert_episode(archive.get_show(ids["show"]), guid="broken", title="Roto", kind="audio")
        archive.set_status(broken.id, "failed", f"cannot decode {settings.media_dir / 'midulive' / 'roto.mp3'}")
        Fonoteca(settings, archive=archive).update_index()
    return ids | {"folder": folder.slug, "recording": recording.id, "broken": broken.id}


def examples(ids: dict[str, str]) -> dict[tuple[str, str], tuple[str, dict[str, object]]]:
    """A request for every route of web/access.py: the URL, and what it sends."""
    jfk, show = ids["jfk"], ids["show"]
    trend, api = "term=ask&by=month", f"/api/episodes/{jfk}"
    return {
        ("POST", "/login"): ("/login", {"data": {"token": TOKEN, "next": "/"}}),
        ("POST", "/logout"): ("/logout", {}),
        ("GET", "/"): ("/?word=ask", {}),
        ("GET", "/show/{slug}"): (f"/show/{show}?word=ask", {}),
        ("GET", "/episode/{episode_id}"): (f"/episode/{jfk}?t=3", {}),
        ("GET", "/episode/{episode_id}/transcript.{fmt}"): (f"/episode/{jfk}/transcript.vtt", {}),
        ("GET", "/episode/{episode_id}/chapters.{fmt}"): (f"/episode/{jfk}/chapters.json", {}),
        ("GET", "/media/{episode_id}"): (f"/media/{ids['recording']}", {}),
        ("GET", "/search"): ("/search?q=ask&mode=keyword", {}),
        ("GET", "/api"): ("/api", {}),
        ("GET", "/openapi.json"): ("/openapi.json", {}),
        ("GET", "/robots.txt"): ("/robots.txt", {}),
        ("GET", "/sitemap.xml"): ("/sitemap.xml", {}),
        ("GET", "/sitemap-{part}.xml"): ("/sitemap-1.xml", {}),
        ("GET", "/api/stats"): ("/api/stats", {}),
        ("GET", "/api/shows"): ("/api/shows", {}),
        ("GET", "/api/shows/{slug}/episodes"): (f"/api/shows/{show}/episodes", {}),
        ("GET", "/api/episodes/{episode_id}/transcript"): (f"{api}/transcript", {}),
        ("GET", "/api/episodes/{episode_id}/chapters"): (f"{api}/chapters", {}),
        ("GET", "/api/search"): ("/api/search?q=ask", {}),
        ("GET", "/api/trend"): (f"/api/trend?{trend}", {}),
        ("GET", "/api/trend.csv"): (f"/api/trend.csv?{trend}", {}),
        ("GET", "/api/trend/moments"): (f"/api/trend/moments?{trend}&key=2024-01", {}),
        ("GET", "/chat"): ("/chat", {}),
        ("POST", "/api/chat"): ("/api/chat", {"json": {"message": "hola", "show": "no-such-show"}}),
        ("GET", "/status"): ("/status", {}),
        ("GET", "/api/conversations/{conversation_id}"): ("/api/conversations/nope", {}),
        ("GET", "/api/episodes/{episode_id}/analyses"): (f"{api}/analyses", {}),
        ("POST", "/api/episodes/{episode_id}/analyses"): (f"{api}/analyses", {"json": {"what": ["language"]}}),
        ("POST", "/api/episodes/{episode_id}/translation"): (f"{api}/translation", {"json": {"to": "es"}}),
        ("POST", "/episode/{episode_id}/analyze"): (f"/episode/{jfk}/analyze", {"data": {"what": "language"}}),
        ("POST", "/episode/{episode_id}/translate"): (f"/episode/{jfk}/translate", {"data": {"to": "es"}}),
        ("GET", "/watch"): ("/watch", {}),
        ("POST", "/watch"): ("/watch", {"data": {"term": "ask"}}),
        ("POST", "/watch/{watch_id}/remove"): ("/watch/999/remove", {}),
        ("POST", "/watch/seen"): ("/watch/seen", {"data": {"up_to": "0"}}),
        ("GET", "/watch.atom"): ("/watch.atom", {}),
        ("POST", "/show/{slug}/vocabulary"): (f"/show/{show}/vocabulary", {"data": {"terms": "Kennedy"}}),
        ("POST", "/show/{slug}/vocabulary/remove"): (f"/show/{show}/vocabulary/remove", {"data": {"term": "Kennedy"}}),
        ("POST", "/show/{slug}/corrections"): (f"/show/{show}/corrections", {"data": {"wrong": "ask", "right": "Ask"}}),
        ("POST", "/show/{slug}/corrections/{rule_id}/remove"): (f"/show/{show}/corrections/999/remove", {}),
        ("POST", "/episode/{episode_id}/lines/{idx}"): (f"/episode/{jfk}/lines/0", {"data": {"text": "And so."}}),
        ("POST", "/episode/{episode_id}/edits/{edit_id}/revert"): (f"/episode/{jfk}/edits/999/revert", {}),
        ("POST", "/episode/{episode_id}/speakers/{number}/name"): (
            f"/episode/{jfk}/speakers/1/name", {"data": {"name": "JFK"}},
        ),
        ("POST", "/episode/{episode_id}/speakers/{number}/unname"): (f"/episode/{jfk}/speakers/1/unname", {}),
        ("POST", "/episode/{episode_id}/speakers/merge"): (
            f"/episode/{jfk}/speakers/merge", {"data": {"keep": 1, "other": 2}},
        ),
        ("POST", "/episode/{episode_id}/speakers/rename"): (
            f"/episode/{jfk}/speakers/rename", {"data": {"old": "JFK", "new": "John F. Kennedy"}},
        ),
        ("POST", "/episode/{episode_id}/speakers/split"): (
            f"/episode/{jfk}/speakers/split", {"data": {"start": 1.0}},
        ),
        ("GET", "/show/{slug}/feed.xml"): (f"/show/{show}/feed.xml", {}),
        ("GET", "/show/{slug}/episodes/{episode_id}.{suffix}"): (f"/show/{show}/episodes/{jfk}.vtt", {}),
        ("GET", "/feeds/{secret}/feed.xml"): (f"/feeds/{ids['secret']}/feed.xml", {}),
        ("GET", "/feeds/{secret}/episodes/{episode_id}.{suffix}"): (f"/feeds/{ids['secret']}/episodes/{jfk}.srt", {}),
        ("GET", "/shows.opml"): ("/shows.opml", {}),
        ("GET", "/api/shows/{slug}/feed"): (f"/api/shows/{show}/feed", {}),
        ("POST", "/api/shows/{slug}/feed/rotate"): (f"/api/shows/{show}/feed/rotate", {}),
        ("POST", "/mcp"): ("/mcp", {"json": MCP_HELLO, "headers": {"Accept": "application/json, text/event-stream"}}),
        ("GET", "/owner"): ("/owner", {}),
        ("POST", "/owner/add"): ("/owner/add", {"data": {"source": "/no/such/folder"}}),
        ("POST", "/owner/sync"): ("/owner/sync", {"data": {"show": "no-such-show"}}),
        ("POST", "/owner/retry"): ("/owner/retry", {"data": {"episode": "nope"}}),
    }  # fmt: skip


MCP_HELLO = {
    "jsonrpc": "2.0", "id": 1, "method": "initialize",
    "params": {"protocolVersion": "2025-06-18", "capabilities": {}, "clientInfo": {"name": "test", "version": "1"}},
}  # fmt: skip


MCP_ACCEPT = {"Accept": "application/json, text/event-stream"}


def mcp_reads(ids: dict[str, str]) -> list[dict[str, object]]:
    """A call of every read-only MCP tool and resource, on every episode and show (the failed one, the folder's)."""
    calls: list[tuple[str, dict[str, object]]] = [
        ("tools/call", {"name": "shows", "arguments": {}}),
        ("tools/call", {"name": "stats", "arguments": {"show": ids["folder"]}}),
        ("tools/call", {"name": "trend", "arguments": {"terms": ["ask"], "show": ids["folder"], "by": "episode"}}),
        *(("tools/call", {"name": "episodes", "arguments": {"show": show}}) for show in (ids["show"], ids["folder"])),
        ("tools/call", {"name": "episodes", "arguments": {"status": "failed"}}),
        *(("tools/call", {"name": "search", "arguments": {"query": "ask", "mode": mode}})
          for mode in ("keyword", "meaning", "hybrid")),
        ("tools/call", {"name": "search", "arguments": {"query": "ask", "show": ids["folder"]}}),
    ]  # fmt: skip
    for episode in (ids["jfk"], ids["stream"], ids["recording"], ids["broken"]):
        calls.append(("tools/call", {"name": "transcript", "arguments": {"episode": episode}}))
        calls.append(("resources/read", {"uri": f"fonoteca://episode/{episode}/transcript"}))
    return [{"jsonrpc": "2.0", "id": n, "method": method, "params": params} for n, (method, params) in enumerate(calls)]


@pytest.fixture
def public_server(settings: Settings, tmp_path: Path) -> Iterator[tuple[str, dict[str, str]]]:
    ids = build_public_archive(settings, tmp_path / "grabaciones")
    with Archive(settings.db_path) as archive:  # the private feed's address, which its secret alone opens
        ids["secret"] = archive.feed_secret(archive.get_show(ids["show"]).id)
    with fonoteca_serve(settings, public="1", token=TOKEN, embeddings="none") as base:
        yield base, ids


def ask(base: str, method: str, url: str, sent: dict[str, object], **more: object) -> httpx.Response:
    return httpx.request(method, base + url, timeout=30, **sent, **more)  # type: ignore[arg-type]


def test_every_route_has_an_access_class_and_every_class_a_route(settings: Settings) -> None:
    app = create_app(settings)
    assert unclassified(app.routes) == []
    assert set(ROUTES) == set(app_routes(app.routes))


def test_a_route_added_without_an_access_class_stops_the_app_from_being_built(settings, monkeypatch) -> None:
    monkeypatch.setattr(pages.router, "routes", list(pages.router.routes))  # the module's router, restored after
    pages.router.add_api_route("/new-page", lambda: "a page no one classified", methods=["GET"])
    with pytest.raises(RuntimeError, match="GET /new-page"):
        create_app(settings)


def test_anyone_reads_what_a_reader_needs_and_only_the_token_opens_the_rest(public_server) -> None:
    base, ids = public_server
    requests = examples(ids)
    assert set(requests) == set(ROUTES), "a route of web/access.py has no example request here"
    for key, (url, sent) in requests.items():
        anonymous = ask(base, key[0], url, sent)
        if ROUTES[key] in (Access.PUBLIC, Access.OPEN):
            assert anonymous.status_code in (200, 303), (key, anonymous.status_code, anonymous.text[:200])
        else:
            assert anonymous.status_code == 401, (key, anonymous.status_code)
            if key[0] == "GET" and not url.startswith("/api/") and url != "/watch.atom":
                assert 'name="token"' in anonymous.text, key  # the page is the sign-in form
            owners = ask(base, key[0], url, sent, headers=BEARER)
            assert owners.status_code not in (401, 403), (key, owners.status_code, owners.text[:200])


def test_the_owners_controls_show_only_to_the_owner(public_server) -> None:
    base, ids = public_server
    episode = f"{base}/episode/{ids['jfk']}"
    public = httpx.get(episode).text
    for control in ('class="analyze-form"', 'href="/status"', 'href="/watch"', 'href="/chat', 'href="/owner">Manage'):
        assert control not in public, control
    assert "Owner's sign-in" in public
    with httpx.Client(base_url=base) as owner:
        assert owner.post("/login", data={"token": TOKEN, "next": "/"}).status_code == 303
        signed_in = owner.get(f"/episode/{ids['jfk']}").text
        for control in ('class="analyze-form"', 'href="/status"', 'href="/watch"', 'href="/chat'):
            assert control in signed_in, control
        assert "Sign out" in signed_in


def test_no_public_answer_carries_a_path_of_the_server(public_server, settings: Settings, tmp_path: Path) -> None:
    base, ids = public_server
    private = [str(settings.home), str(tmp_path / "grabaciones"), "roto.mp3"]
    urls = [url for key, (url, _) in examples(ids).items() if key[0] == "GET" and ROUTES[key] is Access.PUBLIC]
    urls += [f"/show/{ids['folder']}", f"/episode/{ids['broken']}", f"/api/shows/{ids['folder']}/episodes"]
    urls += [f"/episode/{e}" for e in ids.values()] + [f"/api/episodes/{ids['broken']}/transcript"]
    urls += [f"/search?q=ask&mode={mode}" for mode in ("meaning", "hybrid")] + ["/api/search?q=ask&mode=hybrid"]
    for url in urls:
        answer = httpx.get(base + url)
        assert answer.status_code in (200, 400, 404, 422), (url, answer.status_code)
        for secret in private:
            assert secret not in answer.text, (url, secret)
    for call in mcp_reads(ids):
        answer = httpx.post(f"{base}/mcp", json=call, headers=MCP_ACCEPT, timeout=30)
        assert answer.status_code == 200 and "result" in answer.json(), (call, answer.text[:300])
        for secret in private:
            assert secret not in answer.text, (call["params"], secret)
    owners = httpx.get(f"{base}/api/shows/{ids['folder']}/episodes", headers=BEARER).json()
    assert owners[0]["media"] == f"/media/{ids['recording']}"
    assert str(tmp_path / "grabaciones") in httpx.get(f"{base}/api/shows", headers=BEARER).text  # the owner's view


def test_the_public_player_plays_the_publishers_media_not_the_downloaded_copy(public_server) -> None:
    base, ids = public_server
    downloaded = httpx.get(f"{base}/episode/{ids['jfk']}").text  # its enclosure was downloaded; no URL is known
    assert f"/media/{ids['jfk']}" not in downloaded and httpx.get(f"{base}/media/{ids['jfk']}").status_code == 404
    assert 'src="https://example.org/ep2.mp3"' in httpx.get(f"{base}/episode/{ids['stream']}").text
    assert f'src="/media/{ids["recording"]}"' in httpx.get(f"{base}/episode/{ids['recording']}").text
    owner = httpx.get(f"{base}/media/{ids['jfk']}", headers=BEARER)
    assert owner.status_code == 200 and owner.content == (DEMO_MEDIA / "jfk.flac").read_bytes()


@pytest.mark.parametrize(("choice", "jfk", "recording"), [("local", 200, 200), ("none", 404, 404)])
def test_public_media_local_serves_the_downloaded_copy_and_none_nothing(
    settings: Settings, tmp_path: Path, choice: str, jfk: int, recording: int
) -> None:
    ids = build_public_archive(settings, tmp_path / "grabaciones")
    client = TestClient(create_app(settings.replace(public=True, token=TOKEN, public_media=choice)))
    assert client.get(f"/media/{ids['jfk']}").status_code == jfk
    assert client.get(f"/media/{ids['recording']}").status_code == recording
    assert ("<audio" in client.get(f"/episode/{ids['stream']}").text) == (choice != "none")


def test_without_a_token_a_proxy_opens_the_pages_but_none_of_the_owners_actions(settings: Settings) -> None:
    ids = build_web_archive(settings)
    with fonoteca_serve(settings) as base:
        proxied = {"X-Forwarded-For": "203.0.113.9"}
        assert httpx.get(f"{base}/episode/{ids['jfk']}", headers=proxied).status_code == 200
        for url, sent in [
            (f"/api/episodes/{ids['jfk']}/analyses", {"json": {"what": ["language"]}}),
            ("/watch", {"data": {"term": "ask"}}),
            ("/api/chat", {"json": {"message": "hola"}}),
        ]:
            refused = ask(base, "POST", url, sent, headers=proxied)
            assert refused.status_code == 403 and "FONOTECA_TOKEN" in refused.text, url
        every_proxys = {"Forwarded": "for=203.0.113.9", "X-Forwarded-For": "203.0.113.9", "X-Forwarded-Host": "a.org",
                        "X-Forwarded-Proto": "https", "X-Real-IP": "203.0.113.9", "Via": "1.1 caddy"}  # fmt: skip
        for name, value in every_proxys.items():  # each header a proxy adds, as a client writes its name
            assert httpx.get(f"{base}/status", headers={name: value}).status_code == 403, name
        assert httpx.get(f"{base}/watch").text.count("ask") == 0  # nothing was added
        assert ask(base, "POST", "/watch", {"data": {"term": "ask"}}).status_code == 303  # at the machine: the owner


# -- the public's chat ------------------------------------------------------------------------------------------------


def test_the_chat_is_the_owners_unless_public_chat_opens_it_with_a_limit_per_address(settings, tmp_path) -> None:
    build_public_archive(settings, tmp_path / "grabaciones")
    question = {"message": "hola", "show": "no-such-show"}  # counted, then refused by the route: no model needed
    with fonoteca_serve(settings, public="1", token=TOKEN, embeddings="none") as base:
        assert httpx.post(f"{base}/api/chat", json=question).status_code == 401
        assert httpx.get(f"{base}/chat").status_code == 401
    with fonoteca_serve(
        settings, public="1", public_chat="1", public_chat_per_hour="2", token=TOKEN, embeddings="none"
    ) as base:
        assert httpx.get(f"{base}/chat").status_code == 200 and 'href="/chat"' in httpx.get(base).text
        assert [httpx.post(f"{base}/api/chat", json=question).status_code for _ in range(2)] == [404, 404]
        limited = httpx.post(f"{base}/api/chat", json=question)
        assert limited.status_code == 429 and 3590 <= int(limited.headers["retry-after"]) <= 3600
        assert "2 questions in the last hour" in limited.json()["detail"]
        assert httpx.post(f"{base}/api/chat", json=question, headers=BEARER).status_code == 404  # the owner's: no limit


def test_answers_past_the_concurrency_cap_wait_with_their_place_then_the_full_queue_is_a_503(tmp_path) -> None:
    one, other = Generations(1, 2, tmp_path), Generations(1, 2, tmp_path)  # two server processes' share one cap

    async def scenario() -> list[object]:
        seen: list[object] = []
        writing = one.enter()
        second, third = other.enter(), one.enter()
        with pytest.raises(Overloaded) as busy:
            other.enter()
        seen.append(busy.value.retry_after)
        with pytest.raises(Overloaded):
            one.check_room()
        places, waiting = one.positions(third), other.positions(second)
        seen += [await anext(waiting), await anext(places)]  # first and second in the queue
        one.leave(writing)  # the first answer is written: the first in the queue writes (at its next look)
        seen.append([place async for place in waiting])  # its turn: no more places
        seen += [second.writing, third.writing]
        seen.append(await anext(places))  # and the third moved up
        other.leave(second)
        seen.append([place async for place in places])
        one.leave(third)
        seen.append(other.enter().writing)  # the slot is free again
        return seen

    assert anyio.run(scenario) == [30, 1, 2, [], True, False, 1, [], True]


def test_a_question_that_goes_away_while_waiting_gives_its_place_up(tmp_path) -> None:
    generations = Generations(slots=1, queue=1, folder=tmp_path)
    writing, waiting = generations.enter(), generations.enter()
    generations.leave(waiting)
    after = generations.enter()  # the queue has room again
    generations.leave(writing)

    async def places() -> list[int]:
        return [place async for place in generations.positions(after)]

    assert anyio.run(places) == [] and after.writing


def _events(answer: httpx.Response) -> Iterator[tuple[str, dict[str, object]]]:
    """The server-sent events of a streamed chat answer, as they come."""
    name = ""
    for line in answer.iter_lines():
        if line.startswith("event: "):
            name = line.removeprefix("event: ")
        elif line.startswith("data: "):
            yield name, json.loads(line.removeprefix("data: "))


def test_with_two_server_processes_the_public_writes_as_many_answers_at_once_as_the_cap_not_twice(
    settings: Settings, stalled_model: StalledModelServer
) -> None:
    """Two `fonoteca serve` processes of one archive, one answer at a time for the public, one more waiting: an
    answer written by one process makes the other's question wait, a third is refused, and the process writing it
    killed (kill -9) lets the waiting one write."""
    build_web_archive(settings)
    options = {"public": "1", "public_chat": "1", "token": TOKEN, "embeddings": "none", "chat_generations": "1",
               "chat_queue": "1", "llm_base_url": stalled_model.url}  # fmt: skip
    question = {"message": "what can you do for your country?"}  # the excerpts of "Ask not": the model is asked
    with (
        fonoteca_serve_process(settings, **options) as (one, first_process),
        fonoteca_serve(settings, **options) as other,
        contextlib.ExitStack() as answers,
    ):
        writing = answers.enter_context(httpx.stream("POST", f"{one}/api/chat", json=question, timeout=30))
        written = _events(writing)  # kept: a generator dropped half-way closes the connection, ending the answer
        assert next(written)[0] == "meta"  # its excerpts; then the model, which holds it
        waiting = answers.enter_context(httpx.stream("POST", f"{other}/api/chat", json=question, timeout=30))
        told = _events(waiting)
        assert next(told) == ("queue", {"position": 1})
        for base in (one, other):
            refused = httpx.post(f"{base}/api/chat", json=question)
            assert refused.status_code == 503 and refused.headers["retry-after"] == "30", refused.text
        first_process.kill()  # its slot goes with it
        started = time.monotonic()
        assert next(name for name, _ in told if name != "queue") == "meta"
        assert time.monotonic() - started < 5


# -- the owner's page -------------------------------------------------------------------------------------------------


TAGS = re.compile(r"<[^>]+>")


def finished_tasks(client: TestClient, count: int) -> list[str]:
    """The owner's page's task items, newest first, once the `count` newest have finished."""
    deadline = time.monotonic() + 120
    while True:
        page = client.get("/owner").text
        items = re.findall(r'<li class="task task-\w+" data-state="(\w+)">(.*?)</li>', page, re.S)
        if len(items) >= count and all(state in ("done", "failed") for state, _ in items[:count]):
            return [state + ": " + " ".join(TAGS.sub(" ", body).split()) for state, body in items[:count]]
        assert time.monotonic() < deadline, page
        time.sleep(0.3)


def test_the_owners_page_says_what_the_cli_says_and_retries_a_failed_episode(settings: Settings, tmp_path) -> None:
    ids = build_public_archive(settings, tmp_path / "grabaciones")
    client = TestClient(create_app(settings.replace(embeddings="none")))
    assert client.post("/owner/add", data={"source": str(tmp_path / "nada")}, follow_redirects=False).status_code == 303
    [failed] = finished_tasks(client, 1)
    assert failed.startswith("failed: Add") and f"{tmp_path / 'nada'} does not exist" in failed
    assert client.post("/owner/sync", data={"show": "no-such-show"}).status_code == 200
    assert "failed: Sync no-such-show" in finished_tasks(client, 1)[0] and "no show" in finished_tasks(client, 1)[0]
    page = client.get("/owner").text
    assert f'name="episode" value="{ids["broken"]}"' in page and "roto.mp3" in page  # the owner reads the reason
    client.post("/owner/retry", data={"episode": ids["broken"]})
    [retried] = finished_tasks(client, 1)
    assert retried.startswith(f"done: Retry {ids['broken']}")
    assert "0 new, 0 transcribed, 0 imported, 1 failed" in retried
    assert f"failed {ids['broken']} Roto:" in retried  # the episode's own line, as `fonoteca retry` prints it


def test_on_postgresql_the_owners_page_queues_the_work_for_the_workers(settings: Settings, pg_url, tmp_path) -> None:
    folder = tmp_path / "grabaciones"
    folder.mkdir()
    shutil.copyfile(DEMO_MEDIA / "jfk.flac", folder / "jfk.flac")
    client = TestClient(create_app(settings.replace(database_url=pg_url, embeddings="none")))
    client.post("/owner/add", data={"source": str(folder)})
    [added] = finished_tasks(client, 1)
    assert added.startswith("done: Add") and "grabaciones (grabaciones)" in added
    assert "1 new, 1 jobs queued" in added and "fonoteca worker runs the jobs" in added
    queues = client.get("/owner").text
    assert 'data-testid="queues"' in queues and "<td>transcribe</td><td>1</td>" in queues  # a local file: no download
