"""The archive as a public site, on a real `fonoteca serve` process: shareable moment links, the crawlers' sitemap and
robots.txt, cache validators from the archive's change counter, compression, rate limits, and several processes."""

from __future__ import annotations

import asyncio
import gzip
import multiprocessing
import multiprocessing.queues
import os
import random
import re
import shutil
import socket
import string
import sys
import time
import urllib.robotparser
from concurrent.futures import ThreadPoolExecutor
from html.parser import HTMLParser
from pathlib import Path
from xml.etree import ElementTree

import anyio
import diskcache
import httpx
import pytest
from fastapi.testclient import TestClient
from fixtures_web import build_web_archive, fonoteca_serve, fonoteca_serve_process
from starlette.responses import PlainTextResponse
from starlette.types import Receive, Scope, Send

from fonoteca.app import Fonoteca
from fonoteca.archive import Archive, Segment
from fonoteca.llm.server import free_port
from fonoteca.settings import Settings
from fonoteca.web import process_sockets
from fonoteca.web.app import create_app
from fonoteca.web.caching import answers_dir
from fonoteca.web.crowd import TURNS, Kind, Turns, within_budget
from fonoteca.web.findable import SITEMAP_URLS

TOKEN = "a-token-of-twenty-chars-or-more"

SITEMAP = "{http://www.sitemaps.org/schemas/sitemap/0.9}"


class _Head(HTMLParser):
    """The <meta> tags and <link rel=canonical> of a page."""

    def __init__(self) -> None:
        super().__init__()
        self.meta: dict[str, str] = {}
        self.canonical = ""
        self.transcript_lang = ""

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        values = {k: v or "" for k, v in attrs}
        if tag == "meta" and ("property" in values or "name" in values):
            self.meta[values.get("property") or values["name"]] = values.get("content", "")
        elif tag == "link" and values.get("rel") == "canonical":
            self.canonical = values["href"]
        elif tag == "section" and values.get("id") == "transcript":
            self.transcript_lang = values.get("lang", "")


def _head(html: str) -> _Head:
    parser = _Head()
    parser.feed(html)
    return parser


def _add_finished_episode(settings: Settings, show: str, guid: str) -> str:
    """A finished episode written by another process through the Archive API, as `fonoteca sync` does."""
    with Archive(settings.db_path) as archive:
        episode, _ = archive.upsert_episode(
            archive.get_show(show), guid=guid, title=f"Nuevo {guid}", kind="audio", published="2024-07-01T00:00:00Z",
            duration=60.0, status="done", source="sidecar",
        )  # fmt: skip
        archive.append_segments(episode.id, [Segment(0.0, 5.0, "Un episodio nuevo.")])
        return episode.id


def test_a_moment_link_previews_as_the_quote_said_at_that_second_with_the_episodes_image(settings: Settings) -> None:
    ids = build_web_archive(settings)
    with Archive(settings.db_path) as archive:
        archive.update_episode(ids["jfk"], image="https://example.org/jfk.jpg")
    with fonoteca_serve(settings, public_url="https://archivo.example.org") as base:
        page = httpx.get(f"{base}/episode/{ids['jfk']}", params={"t": "5"})
        assert page.status_code == 200
        head = _head(page.text)
        assert "ask not what your country can do for you" in head.meta["og:title"]
        assert "ask not what your country can do for you" in head.meta["twitter:title"]
        assert "0:03" in head.meta["og:description"]
        assert head.meta["og:image"] == head.meta["twitter:image"] == "https://example.org/jfk.jpg"
        assert head.meta["twitter:card"] == "summary_large_image"
        assert head.meta["og:url"] == f"https://archivo.example.org/episode/{ids['jfk']}?t=3"
        assert head.canonical == f"https://archivo.example.org/episode/{ids['jfk']}"  # one page per episode
        assert head.transcript_lang == "en"
        plain = _head(httpx.get(f"{base}/episode/{ids['jfk']}").text)
        assert plain.meta["og:title"] == "Ask not — Midulive"
        assert plain.meta["description"].startswith("And so, my fellow Americans")  # no notes: its first lines
        structured = re.search(r'<script type="application/ld\+json">(.*?)</script>', page.text, re.S)
        assert structured is not None and '"@type": "PodcastEpisode"' in structured.group(1)
        assert '"transcript": "And so, my fellow Americans,\\nask not' in structured.group(1)
        hostile = httpx.get(f"{base}/episode/{ids['post']}").text  # notes with a <script>: escaped in the tags
        assert "<script>window" not in hostile


def test_the_sitemap_lists_every_finished_episode_and_robots_keeps_crawlers_off_search_trends_and_exports(
    settings: Settings,
) -> None:
    ids = build_web_archive(settings)
    with Archive(settings.db_path) as archive:
        show = archive.get_show(ids["show"])
        archive.upsert_episode(show, guid="pending", title="Aún no", kind="audio", status="new")
        finished = set(archive.finished_revisions())
    with fonoteca_serve(settings) as base:
        answer = httpx.get(f"{base}/sitemap.xml")
        assert answer.status_code == 200 and answer.headers["content-type"].startswith("application/xml")
        urls = {
            u.findtext(f"{SITEMAP}loc"): u.findtext(f"{SITEMAP}lastmod") for u in ElementTree.fromstring(answer.text)
        }
        listed = {loc.rsplit("/", 1)[1] for loc in urls if "/episode/" in loc}
        assert listed == finished
        assert all(re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ", urls[f"{base}/episode/{e}"]) for e in listed)
        assert f"{base}/show/{ids['show']}" in urls

        robots_txt = httpx.get(f"{base}/robots.txt").text
        robots = urllib.robotparser.RobotFileParser()
        robots.parse(robots_txt.splitlines())
        assert robots.can_fetch("AnyBot", f"{base}/episode/{ids['jfk']}")
        assert robots.can_fetch("AnyBot", f"{base}/show/{ids['show']}")
        for refused in ("/search?q=ask", "/api/search?q=ask", "/api/trend?term=ask", "/api/trend.csv?term=ask"):
            assert not robots.can_fetch("AnyBot", base + refused), refused
        # Wildcard rules (Google's and Bing's syntax, which urllib's parser does not read): trends on the front and
        # show pages, and the transcript exports.
        assert "Disallow: /*?word=" in robots_txt and "Disallow: /episode/*/transcript." in robots_txt
        assert f"Sitemap: {base}/sitemap.xml" in robots_txt


def test_past_50000_urls_the_sitemap_is_an_index_of_parts_that_together_list_every_page(settings: Settings) -> None:
    with Archive(settings.db_path) as archive:
        big, _ = archive.add_show(title="Cada día", source="https://example.org/diario.xml", source_kind="feed")
        archive.add_episodes(big, (
            {"guid": f"d{n}", "title": f"Día {n}", "kind": "audio", "status": "done", "source": "sidecar",
             "transcript_at": f"20{10 + n // 10_000:02d}-01-01T00:00:00Z"}
            for n in range(SITEMAP_URLS)
        ))  # fmt: skip
        finished = set(archive.finished_revisions())
        archive.add_episodes(big, [{"guid": "pending", "title": "Aún no", "kind": "audio"}])
    public = settings.replace(embeddings="none", public=True, token=TOKEN, public_url="https://archivo.example.org")
    client = TestClient(create_app(public))  # an anonymous visitor
    index = ElementTree.fromstring(client.get("/sitemap.xml").text)
    assert index.tag == f"{SITEMAP}sitemapindex"
    parts = {p.findtext(f"{SITEMAP}loc"): p.findtext(f"{SITEMAP}lastmod") for p in index}
    base = "https://archivo.example.org"
    assert parts == {f"{base}/sitemap-1.xml": "2014-01-01T00:00:00Z", f"{base}/sitemap-2.xml": "2014-01-01T00:00:00Z"}
    listed: list[str] = []
    for loc in parts:
        part = client.get(loc.removeprefix(base))
        assert part.status_code == 200 and part.headers["cache-control"].startswith("public")
        urlset = ElementTree.fromstring(part.text)
        assert urlset.tag == f"{SITEMAP}urlset" and len(urlset) <= SITEMAP_URLS
        listed += [url.findtext(f"{SITEMAP}loc") for url in urlset]
    assert len(listed) == len(set(listed)) == SITEMAP_URLS + 2  # the front page, the show, every finished episode
    assert {loc.rsplit("/", 1)[1] for loc in listed if "/episode/" in loc} == finished
    assert {f"{base}/", f"{base}/show/{big.slug}"} <= set(listed)
    assert client.get("/sitemap-3.xml").status_code == 404


def test_an_unchanged_page_answers_304_and_a_newly_synced_episode_makes_it_200_again(settings: Settings) -> None:
    ids = build_web_archive(settings)
    with fonoteca_serve(settings, public="1", token=TOKEN) as base, httpx.Client(base_url=base) as http:
        first = http.get(f"/show/{ids['show']}")
        assert first.status_code == 200
        etag, modified = first.headers["etag"], first.headers["last-modified"]
        assert (
            "max-age=" in first.headers["cache-control"] and "stale-while-revalidate" in first.headers["cache-control"]
        )
        again = http.get(f"/show/{ids['show']}", headers={"If-None-Match": etag})
        assert again.status_code == 304 and again.content == b"" and again.headers["etag"] == etag
        api = http.get("/api/shows")
        assert http.get("/api/shows", headers={"If-None-Match": api.headers["etag"]}).status_code == 304

        _add_finished_episode(settings, ids["show"], "nuevo")
        deadline = time.monotonic() + 10
        while (answer := http.get(f"/show/{ids['show']}", headers={"If-None-Match": etag})).status_code == 304:
            assert time.monotonic() < deadline, "the page stayed 304 after a new episode"
            time.sleep(0.1)
        assert answer.status_code == 200 and "Nuevo nuevo" in answer.text
        assert answer.headers["etag"] != etag and answer.headers["last-modified"] >= modified


def test_a_readers_revalidation_answered_before_the_guards_is_the_same_304_and_opens_nothing_more(
    settings: Settings,
) -> None:
    ids = build_web_archive(settings)
    public = settings.replace(embeddings="none", public=True, token=TOKEN)
    reader = TestClient(create_app(public))
    page = reader.get(f"/show/{ids['show']}")
    etag = page.headers["etag"]
    for cookie in ("", "elsewhere=1"):  # a cookie fonoteca did not set: its own ETag, still a reader's
        asked = {"Cookie": cookie} if cookie else {}
        first = reader.get(f"/show/{ids['show']}", headers=asked)
        again = reader.get(f"/show/{ids['show']}", headers={**asked, "If-None-Match": first.headers["etag"]})
        assert again.status_code == 304 and again.content == b"", cookie
        for name in ("etag", "last-modified", "cache-control", "vary", "content-security-policy"):
            assert again.headers[name] == first.headers[name], name
    assert reader.get("/api/shows", headers={"If-None-Match": etag}).status_code == 304  # the ETag is the archive's

    # What the guards decide stays theirs: the readers' ETag opens no owner's route, at no other Host, for no one else.
    assert reader.get("/watch", headers={"If-None-Match": etag}).status_code == 401
    assert reader.get("/", headers={"If-None-Match": etag, "Host": "evil.example"}).status_code == 400
    owner = {"Authorization": f"Bearer {TOKEN}", "If-None-Match": etag}
    assert reader.get("/", headers=owner).headers["cache-control"] == "private, no-cache"  # the owner's own page
    assert reader.get("/", headers={**owner, "Authorization": "Bearer wrong"}).status_code == 401
    signed_in = {"Cookie": "fonoteca_session=forged", "If-None-Match": etag}
    assert reader.get("/", headers=signed_in).status_code == 200  # judged by AccessGate: not the owner, another ETag
    private = TestClient(create_app(public.replace(public=False)))
    assert private.get("/", headers={"If-None-Match": etag}).status_code == 401  # a private archive shows no reader


def test_an_anonymous_readers_pages_hold_no_token_and_set_no_cookie_so_shared_caches_keep_them(settings) -> None:
    ids = build_web_archive(settings)
    owner = {"Authorization": f"Bearer {TOKEN}"}
    with fonoteca_serve(settings, public="1", public_chat="1", token=TOKEN) as base:
        for url in ("/", f"/show/{ids['show']}", f"/episode/{ids['jfk']}?t=3", "/search?q=ask", "/api/shows"):
            first, second = httpx.get(base + url), httpx.get(base + url)  # two readers who never met the archive
            assert first.status_code == 200 and "set-cookie" not in first.headers, url
            assert first.headers["cache-control"].startswith("public, max-age="), url
            assert first.content == second.content and "csrf" not in first.text, url  # the same for every reader
            owners = httpx.get(base + url, headers=owner)
            assert owners.headers["cache-control"] == "private, no-cache", url
        assert 'name="csrf-token"' in httpx.get(f"{base}/episode/{ids['jfk']}", headers=owner).text

        with httpx.Client(base_url=base) as browser:  # the chat's page: its script posts with the token
            chat = browser.get("/chat")
            assert chat.headers["cache-control"].startswith("private") and "fonoteca_csrf" in chat.headers["set-cookie"]
            token = re.search(r'<meta name="csrf-token" content="([^"]+)">', chat.text).group(1)
            question = {"message": "hola", "show": "no-such-show"}
            same_site = {"Origin": base, "Sec-Fetch-Site": "same-origin"}
            refused = browser.post("/api/chat", json=question, headers=same_site)
            assert refused.status_code == 403 and "CSRF token" in refused.text  # protection is intact
            asked = browser.post("/api/chat", json=question, headers={**same_site, "X-CSRF-Token": token})
            assert asked.status_code == 404  # past the guard: the route says there is no such show
        stranger = httpx.post(f"{base}/api/chat", json=question, headers={**same_site, "X-CSRF-Token": token})
        assert stranger.status_code == 403  # the token alone, without its cookie, opens nothing


def test_the_owner_sees_a_change_on_the_very_next_request_and_is_never_served_a_stale_copy(settings: Settings) -> None:
    """The owner's pages are revalidated every time, against the counter read afresh: a reverted edit followed at
    once by its page (the background reads the counter only every half second) must not be answered 304."""
    ids = build_web_archive(settings)
    owner = {"Authorization": f"Bearer {TOKEN}"}
    with fonoteca_serve(settings, public="1", token=TOKEN) as base, httpx.Client(base_url=base, headers=owner) as http:
        http.get("/")  # the CSRF cookie a browser keeps
        first = http.get(f"/show/{ids['show']}")
        assert first.status_code == 200 and first.headers["cache-control"] == "private, no-cache"
        assert http.get(f"/show/{ids['show']}", headers={"If-None-Match": first.headers["etag"]}).status_code == 304
        for n in range(5):
            etag = http.get(f"/show/{ids['show']}").headers["etag"]
            _add_finished_episode(settings, ids["show"], f"inmediato{n}")
            answer = http.get(f"/show/{ids['show']}", headers={"If-None-Match": etag})
            assert answer.status_code == 200 and f"Nuevo inmediato{n}" in answer.text


def _stored(settings: Settings, url: str) -> list[str]:
    """The keys of the shared answer store that hold `url`'s answer (one per state of the archive)."""
    with diskcache.Cache(str(answers_dir(settings))) as store:
        return [key for key in store.iterkeys() if key.endswith(f" {url}?")]


def _marked(settings: Settings, key: str) -> None:
    """Writes a mark into the stored answer under `key`, so that an answer served from the store shows it."""
    with diskcache.Cache(str(answers_dir(settings))) as store:
        headers, body = store[key]
        body = gzip.compress(gzip.decompress(body).replace(b"</body>", b"<p>STORED-COPY</p></body>"), mtime=0)
        headers = [(n, str(len(body)).encode() if n == b"content-length" else v) for n, v in headers]
        store[key] = (headers, body)


def test_the_shared_store_serves_a_page_to_anonymous_readers_never_to_the_owner_and_never_after_a_change(
    settings: Settings,
) -> None:
    """Two server processes share the store; what they serve from it is marked here, in the store itself."""
    ids = build_web_archive(settings)
    url, owner = f"/show/{ids['show']}", {"Authorization": f"Bearer {TOKEN}"}
    with fonoteca_serve(settings, public="1", token=TOKEN, workers="2") as base:
        _serving(settings, 2)
        owners = httpx.get(base + url, headers=owner)
        assert owners.status_code == 200 and _stored(settings, url) == []  # the owner's page is not kept
        assert httpx.get(base + url).status_code == 200
        deadline = time.monotonic() + 10
        while not (kept := _stored(settings, url)):  # kept once sent
            assert time.monotonic() < deadline, "an anonymous reader's page was not kept"
            time.sleep(0.1)
        _marked(settings, kept[0])
        for _ in range(6):  # new connections: either process
            reader = httpx.get(base + url, headers={"Connection": "close"})
            assert reader.status_code == 200 and "STORED-COPY" in reader.text
            assert reader.headers["content-encoding"] == "gzip" and "etag" in reader.headers
            assert reader.headers["x-content-type-options"] == "nosniff"  # the guards' headers go on a stored answer
        assert _stored(settings, url) == kept  # one copy: no process kept one of its own (their generations agree)
        with_cookies = httpx.get(base + url, headers={"Cookie": "fonoteca_csrf=theirs; analytics=1"})
        assert "STORED-COPY" in with_cookies.text  # a browser's cookies do not make it a page of its own
        assert "STORED-COPY" not in httpx.get(base + url, headers=owner).text  # the owner's is always their own
        plain = httpx.get(base + url, headers={"Accept-Encoding": "identity"})
        assert "STORED-COPY" not in plain.text and "content-encoding" not in plain.headers

        _add_finished_episode(settings, ids["show"], "guardado")
        deadline = time.monotonic() + 10
        while "Nuevo guardado" not in (reader := httpx.get(base + url)).text:  # the validators move within 0.5 s
            assert time.monotonic() < deadline, "the stored page was served after the archive changed"
            assert "STORED-COPY" in reader.text
            time.sleep(0.1)
        assert "STORED-COPY" not in reader.text


def test_a_stored_page_is_served_only_at_the_address_it_was_asked_at(settings: Settings) -> None:
    """Without FONOTECA_PUBLIC_URL a page's canonical URL is made from the address it was asked at: two allowed
    addresses of one server each get their own, from the shared store as well."""
    ids = build_web_archive(settings)
    url = f"/show/{ids['show']}"
    with fonoteca_serve(settings, public="1", token=TOKEN) as base:
        port = base.rsplit(":", 1)[1]
        for _ in range(3):  # the first answers are kept, the later ones come from the store
            for host in (f"127.0.0.1:{port}", f"localhost:{port}"):
                page = httpx.get(base + url, headers={"Host": host})
                assert page.status_code == 200 and f'rel="canonical" href="http://{host}{url}"' in page.text
            time.sleep(0.2)
        assert len(_stored(settings, url)) == 2


def test_the_answer_store_stays_within_its_size_and_keeps_nothing_when_it_is_off(settings: Settings) -> None:
    ids = build_web_archive(settings)
    with Archive(settings.db_path) as archive:  # a long episode: each of its moment links is a ~100 KB answer
        rng = random.Random(0)
        words = ["".join(rng.choices(string.ascii_lowercase, k=rng.randint(3, 9))) for _ in range(3000)]
        lines = [Segment(i * 4.0, i * 4.0 + 4, " ".join(rng.choices(words, k=12))) for i in range(2000)]
        long, _ = archive.upsert_episode(
            archive.get_show(ids["show"]), guid="largo", title="Largo", kind="audio",
            published="2024-08-01T00:00:00Z", duration=8000.0, status="done", source="sidecar",
        )  # fmt: skip
        archive.append_segments(long.id, lines)
    for most_mb in (1, 0):
        shutil.rmtree(answers_dir(settings), ignore_errors=True)
        app = create_app(settings.replace(public=True, token=TOKEN, answer_cache_mb=most_mb))
        with TestClient(app, headers={"Accept-Encoding": "gzip"}) as client:
            sizes = [len(client.get(f"/episode/{long.id}?t={second}").content) for second in range(1, 30)]
        assert min(sizes) > 200_000  # as sent: each answer's plain size is what the client decoded
        if most_mb:
            with diskcache.Cache(str(answers_dir(settings))) as store:
                assert 1 <= len(store) < 29 and store.volume() <= 1.5 * 2**20  # the oldest dropped
        else:
            assert not answers_dir(settings).exists()


def test_pages_are_compressed_and_static_files_have_hashed_names_cached_as_immutable(settings: Settings) -> None:
    ids = build_web_archive(settings)
    with fonoteca_serve(settings) as base:
        page = httpx.get(f"{base}/episode/{ids['stream']}", headers={"Accept-Encoding": "gzip"})
        assert page.headers["content-encoding"] == "gzip"
        stylesheet = re.search(r'href="(/static/style\.[0-9a-f]{10}\.css)"', page.text)
        assert stylesheet is not None
        asset = httpx.get(base + stylesheet.group(1), headers={"Accept-Encoding": "identity"})
        assert asset.status_code == 200 and "immutable" in asset.headers["cache-control"]
        assert asset.headers["x-content-type-options"] == "nosniff"
        packed = httpx.get(base + stylesheet.group(1), headers={"Accept-Encoding": "gzip"})
        assert packed.headers["content-encoding"] == "gzip"
        assert packed.content == asset.content and int(packed.headers["content-length"]) < len(asset.content)


def test_the_settings_a_server_process_hands_its_other_processes_come_back_the_same(settings: Settings) -> None:
    given = settings.replace(rate_search="none", rate_trend="5/second;100/hour", workers=2, public=True,
                             token="a-token-of-twenty-chars", allow_private_urls=False)  # fmt: skip
    assert Settings.from_env(environ=given.as_environment()) == given


def test_two_server_processes_serve_the_archive_and_only_one_of_them_indexes(settings: Settings) -> None:
    ids = build_web_archive(settings)
    with fonoteca_serve(settings, workers="2") as base, httpx.Client(base_url=base) as http:
        _serving(settings, 2)
        log = next(settings.home.glob("serve-*.log"))
        serving = re.findall(r"process (\d+) serves", log.read_text())
        for _ in range(20):  # connections go to either process: each answers from the archive
            assert http.get(f"/episode/{ids['jfk']}", headers={"Connection": "close"}).status_code == 200
        new = _add_finished_episode(settings, ids["show"], "paralelo")
        deadline = time.monotonic() + 20
        while not any(hit["episode_id"] == new for hit in http.get("/api/search?q=nuevo").json()["hits"]):
            assert time.monotonic() < deadline, "the new episode never became searchable"
            time.sleep(0.2)
        time.sleep(2 * 5.0)  # longer than the others' wait for the indexer's lock
        indexing = re.findall(r"process (\d+) keeps the search index up to date", log.read_text())
        assert len(set(serving)) == 2 and len(indexing) == 1 and indexing[0] in serving, log.read_text()


def test_searches_over_the_rate_limit_answer_429_with_retry_after_and_oversized_ones_422(settings: Settings) -> None:
    ids = build_web_archive(settings)
    with (
        fonoteca_serve(settings, rate_search="3/minute", rate_export="none") as base,
        httpx.Client(base_url=base) as http,
    ):
        assert [http.get("/api/search", params={"q": "ask"}).status_code for _ in range(3)] == [200] * 3
        refused = http.get("/api/search", params={"q": "ask"})
        assert refused.status_code == 429 and 0 < int(refused.headers["retry-after"]) <= 60
        assert "too many search requests" in refused.json()["detail"]
        page = http.get("/search", params={"q": "ask"})  # the search page counts with the API
        assert page.status_code == 429 and "retry-after" in page.headers
        assert http.get(f"/episode/{ids['jfk']}").status_code == 200  # reading is not limited
        for _ in range(5):
            assert http.get(f"/episode/{ids['jfk']}/transcript.txt").status_code == 200  # "none": no limit
    with fonoteca_serve(settings) as base, httpx.Client(base_url=base) as http:
        assert http.get("/api/search", params={"q": "palabra " * 30}).status_code == 422
        assert http.get("/api/search", params={"q": "ask", "offset": "5000"}).status_code == 422
        assert "1000 deep" in http.get("/search", params={"q": "ask", "page": "400"}).text


def _serving(settings: Settings, processes: int) -> None:
    """Waits until `processes` server processes have said that they serve."""
    log = next(settings.home.glob("serve-*.log"))
    deadline = time.monotonic() + 60
    while len(re.findall(r"process (\d+) serves", log.read_text())) < processes:
        assert time.monotonic() < deadline, log.read_text()
        time.sleep(0.2)


def test_with_two_server_processes_an_address_gets_its_limit_once_not_once_per_process(settings: Settings) -> None:
    build_web_archive(settings)
    with fonoteca_serve(settings, workers="2", rate_search="6/minute") as base:
        _serving(settings, 2)

        def search(_: int) -> int:  # a connection each: the two processes take them as they come
            return httpx.get(f"{base}/api/search", params={"q": "ask"}, headers={"Connection": "close"}).status_code

        with ThreadPoolExecutor(8) as clients:
            answers = list(clients.map(search, range(32)))
        assert answers.count(200) == 6 and answers.count(429) == 26, answers


def _mcp(http: httpx.Client, n: int, method: str, params: dict[str, object]) -> httpx.Response:
    message = {"jsonrpc": "2.0", "id": n, "method": method, "params": params}
    return http.post("/mcp", json=message, headers={"Accept": "application/json, text/event-stream"})


def test_mcp_tool_calls_count_with_the_searches_trends_and_exports_of_the_same_address(settings: Settings) -> None:
    ids = build_web_archive(settings)
    with (
        fonoteca_serve(settings, public="1", token=TOKEN, rate_search="3/minute", rate_export="1/minute") as base,
        httpx.Client(base_url=base, timeout=30) as http,
    ):
        search = {"name": "search", "arguments": {"query": "ask"}}
        assert [_mcp(http, n, "tools/call", search).status_code for n in range(2)] == [200, 200]
        assert http.get("/api/search", params={"q": "ask"}).status_code == 200  # the third search of this address
        refused = _mcp(http, 3, "tools/call", search)
        assert refused.status_code == 429 and 0 < int(refused.headers["retry-after"]) <= 60
        assert refused.json()["id"] == 3 and "too many search requests" in refused.json()["error"]["message"]
        batch = [{"jsonrpc": "2.0", "id": 4, "method": "tools/call", "params": search}]
        assert http.post("/mcp", json=batch, headers={"Accept": "application/json"}).status_code == 429
        assert http.get("/api/search", params={"q": "ask"}).status_code == 429
        assert _mcp(http, 5, "tools/list", {}).status_code == 200  # listing is not limited
        assert _mcp(http, 6, "tools/call", {"name": "stats", "arguments": {}}).status_code == 200

        transcript = {"name": "transcript", "arguments": {"episode": ids["jfk"]}}
        assert _mcp(http, 7, "tools/call", transcript).status_code == 200
        resource = {"uri": f"fonoteca://episode/{ids['jfk']}/transcript"}
        assert _mcp(http, 8, "resources/read", resource).status_code == 429  # an export too
        assert http.get(f"/episode/{ids['jfk']}/transcript.txt").status_code == 429


def test_an_answer_that_has_not_started_within_its_time_budget_is_a_503_with_retry_after() -> None:
    # A stand-in for a search slower than the budget, which no real archive here produces on demand.
    async def slow(scope: Scope, receive: Receive, send: Send) -> None:
        await anyio.sleep(1.0)
        await PlainTextResponse("the late answer")(scope, receive, send)

    async def budgeted(scope: Scope, receive: Receive, send: Send) -> None:
        await within_budget(slow, scope, receive, send, 0.1)

    started = time.monotonic()
    answer = TestClient(budgeted).get("/api/search?q=x")
    assert answer.status_code == 503 and int(answer.headers["retry-after"]) > 0
    assert "longer than 0.1 s" in answer.json()["detail"] and b"the late answer" not in answer.content
    assert time.monotonic() - started >= 1.0  # the late answer finished its work, and was dropped


def test_searches_are_worked_out_a_few_at_a_time_in_the_order_they_came_and_nothing_else_waits_for_them(
    settings: Settings,
) -> None:
    # A stand-in for the routes behind Turns, which notes how many limited requests it works on at once and in which
    # order they began: a real search's concurrency in a server cannot be seen from outside.
    working, most, began, finished = 0, 0, [], []

    async def routes(scope: Scope, receive: Receive, send: Send) -> None:
        nonlocal working, most
        limited = scope["state"].get("limited") is not None
        working += limited
        most = max(most, working)
        began.append(scope["path"])
        await anyio.sleep(0.05 if limited else 0)
        working -= limited
        finished.append(scope["path"])
        await PlainTextResponse("ok")(scope, receive, send)

    turns = Turns(routes, fonoteca=Fonoteca(settings))

    async def ask(path: str, limited: bool) -> None:
        scope = {"type": "http", "path": path, "state": {"limited": Kind.SEARCH} if limited else {}}

        async def receive() -> dict[str, object]:
            return {"type": "http.request", "body": b""}

        async def send(message: dict[str, object]) -> None:
            pass

        await turns(scope, receive, send)

    async def crowd() -> None:
        async with anyio.create_task_group() as requests:
            for n in range(8):
                requests.start_soon(ask, f"/search/{n}", True)
                await anyio.sleep(0.002)  # they come one after another
            requests.start_soon(ask, "/episode/1", False)

    anyio.run(crowd)
    assert most == TURNS
    assert [path for path in began if path.startswith("/search/")] == [f"/search/{n}" for n in range(8)]
    assert finished.index("/episode/1") < finished.index("/search/7")  # a page does not queue behind searches


def _connections_by_process(parent: int, port: int) -> dict[int, int]:
    """How many established TCP connections to `port` each child process of `parent` holds (Linux's /proc)."""
    established = set()
    for line in Path("/proc/net/tcp").read_text().splitlines()[1:]:
        fields = line.split()
        if int(fields[1].split(":")[1], 16) == port and fields[3] == "01":
            established.add(fields[9])  # the socket's inode
    held = {}
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            if int(stat.read_text().rsplit(")", 1)[1].split()[1]) != parent:
                continue
            links = [os.readlink(fd) for fd in (stat.parent / "fd").iterdir()]
        except (OSError, ValueError):
            continue  # gone meanwhile
        held[int(stat.parent.name)] = sum(link.startswith("socket:[") and link[8:-1] in established for link in links)
    return {pid: count for pid, count in held.items() if count}


@pytest.mark.skipif(sys.platform != "linux", reason="one socket per process (SO_REUSEPORT) is Linux's")
def test_connections_opened_together_are_spread_over_the_processes_of_workers_n(settings: Settings) -> None:
    """Forty kept-alive connections opened at once to `serve --workers 2` (as a crowd's browsers or a proxy's pool
    are): each process takes a fair share, where on one shared socket the first to wake took nearly all of them."""
    build_web_archive(settings)
    with fonoteca_serve_process(settings, workers="2") as (base, server):
        port = int(base.rsplit(":", 1)[1])
        crowd = [socket.create_connection(("127.0.0.1", port), timeout=30) for _ in range(40)]
        try:
            for connection in crowd:
                connection.sendall(f"GET /api/stats HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\n\r\n".encode())
            for connection in crowd:
                assert connection.recv(12).startswith(b"HTTP/1.1 200")  # answered, so accepted by a process
            shares = _connections_by_process(server.pid, port)
        finally:
            for connection in crowd:
                connection.close()
    assert len(shares) == 2 and sum(shares.values()) == 40, shares
    assert min(shares.values()) >= 8, f"one process took nearly every connection: {shares}"


def _nagle_off_in_a_spawned_process(listening: socket.socket, answer: multiprocessing.queues.Queue) -> None:
    """What a server process of `--workers N` does with the socket it is handed: asyncio accepts on it."""

    async def accept_one() -> int:
        accepted: asyncio.Future[int] = asyncio.get_running_loop().create_future()

        class Report(asyncio.Protocol):
            def connection_made(self, transport: asyncio.BaseTransport) -> None:
                connection = transport.get_extra_info("socket")
                accepted.set_result(connection.getsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY))
                transport.close()

        server = await asyncio.get_running_loop().create_server(Report, sock=listening)
        async with server:
            return await asyncio.wait_for(accepted, 30)

    answer.put(asyncio.run(accept_one()))


def test_the_server_parses_requests_with_httptools() -> None:
    """uvicorn parses HTTP with httptools (C) when it is installed, as fonoteca requires it, and with h11 (Python)
    otherwise, which took half of a small answer's time (bench/web.py): fonoteca leaves uvicorn's choice to it."""
    import uvicorn
    from uvicorn.protocols.http.auto import AutoHTTPProtocol

    from fonoteca.web import _uvicorn_options

    config = uvicorn.Config("fonoteca.web.app:app_from_environment", factory=True, **_uvicorn_options(""))
    assert config.http == "auto" and AutoHTTPProtocol.__name__ == "HttpToolsProtocol"


def test_every_process_of_workers_n_answers_kept_alive_connections_without_nagles_delay() -> None:
    """uvicorn binds `--workers N`'s socket without saying TCP, so asyncio left Nagle's algorithm on for every
    connection: each answer on a kept-alive connection waited ~40 ms for the client's delayed ACK (uvicorn #3149). The
    socket fonoteca hands its processes is checked where they use it: in a spawned process, as uvicorn's supervisor
    starts them."""
    import uvicorn

    config = uvicorn.Config("fonoteca.web.app:app_from_environment", host="127.0.0.1", port=free_port(), workers=2)
    listening, *others = process_sockets(config)  # what `serve --workers 2` hands its first process
    for other in others:  # the second process's: closed, so that the kernel hands this one every connection
        other.close()
    spawn = multiprocessing.get_context("spawn")
    answer = spawn.Queue()
    process = spawn.Process(target=_nagle_off_in_a_spawned_process, args=(listening, answer))
    process.start()
    try:
        deadline = time.monotonic() + 60
        while True:  # the child may not listen yet: the socket's backlog keeps the connection until it accepts
            try:
                client = socket.create_connection(("127.0.0.1", config.port), timeout=5)
                break
            except OSError:
                assert time.monotonic() < deadline
                time.sleep(0.1)
        with client:
            assert answer.get(timeout=60) == 1
    finally:
        process.join(30)
        listening.close()
