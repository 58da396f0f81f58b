"""Watched words: mentions recorded after real syncs of a real feed file, delivered to a real webhook receiver on
127.0.0.1, in an Atom feed read by feedparser off the real app, and through the CLI and the web page."""

from __future__ import annotations

import json
import re
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import feedparser
import httpx
import pytest
from fastapi.testclient import TestClient
from fixtures_web import serve_app
from typer.testing import CliRunner

from fonoteca.app import Fonoteca
from fonoteca.archive import Segment
from fonoteca.cli import app as cli_app
from fonoteca.events import Event, Note
from fonoteca.llm.server import free_port
from fonoteca.search import matches
from fonoteca.search.query import parse
from fonoteca.settings import Settings
from fonoteca.watch import MAX_RETRY_S, WEBHOOK_TIMEOUT_S

POSTS = {
    "uno": ["Hola a todos.", "Hoy hablamos de Inteligencia Artificial y de la IA en los medios."],
    "dos": ["La IA otra vez, y la información sobre la ia.", "Nada que ver: los medios y la media."],
    "tres": ["Un episodio sin la palabra.", "Solo medios y mediación."],
    "cuatro": ["Cerramos con la IA.", "Ni artificial ni inteligencia."],
}


def _write_feed(path: Path, guids: list[str]) -> str:
    """A feed file of text posts (each paragraph one transcript line): a sync reads it without Whisper or network."""
    items = "".join(
        f"<item><title>Episodio {guid}</title><guid>{guid}</guid><pubDate>Tue, 0{n} Jan 2024 09:00:00 +0000</pubDate>"
        f"<description>{''.join(f'&lt;p&gt;{p}&lt;/p&gt;' for p in POSTS[guid])}</description></item>"
        for n, guid in enumerate(guids, start=1)
    )
    path.write_text(
        f'<?xml version="1.0"?><rss version="2.0"><channel><title>Prueba</title><language>es</language>{items}'
        "</channel></rss>"
    )
    return str(path)


class Receiver:
    """A webhook receiver on 127.0.0.1 that records every POST and answers `status`; with `reply` "huge" it takes the
    batch and sends 256 MB after the status, with "drip" it sends its status line a byte every 0.3 s for 30 s. `sent`
    counts the bytes of those replies."""

    def __init__(self) -> None:
        self.posts: list[dict] = []
        self.status = 200
        self.reply = ""
        self.sent = 0
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args: object) -> None:
                pass

            def do_POST(self) -> None:  # noqa: N802 - the stdlib's name
                body = self.rfile.read(int(self.headers["Content-Length"]))
                if receiver.status == 200:
                    receiver.posts.append(json.loads(body))
                if receiver.reply:
                    self._unending()
                    return
                self.send_response(receiver.status)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def _unending(self) -> None:
                huge = receiver.reply == "huge"
                self.close_connection = True
                head = b"HTTP/1.1 200 OK\r\nContent-Length: 268435456\r\n\r\n"
                parts = [head, *[b"x" * 65536] * 4096] if huge else [bytes([b]) for b in head * 4][:100]
                try:
                    for part in parts:
                        self.wfile.write(part)
                        self.wfile.flush()
                        receiver.sent += len(part)
                        time.sleep(0 if huge else 0.3)
                except OSError:
                    pass  # the client hung up: what it had to do

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/hook"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    r = Receiver()
    yield r
    r.close()


def _app(settings: Settings, notes: list[str] | None = None, **changes: object) -> Fonoteca:
    def sink(event: Event) -> None:
        if isinstance(event, Note) and notes is not None:
            notes.append(event.message)

    return Fonoteca(settings.replace(**changes), events=sink)


def _mentioned(post: dict) -> list[tuple[str, str, str]]:
    return [(m["term"], m["episode_title"], m["sentence"]) for m in post["mentions"]]


def test_a_webhook_receives_exactly_the_new_mentions_after_a_sync_and_none_twice(settings, tmp_path, receiver) -> None:
    feed = tmp_path / "feed.xml"
    with _app(settings, webhook_url=receiver.url) as fonoteca:
        fonoteca.add(_write_feed(feed, ["uno"]))
        fonoteca.watcher.add("IA")
        fonoteca.watcher.add('"inteligencia artificial"')
        fonoteca.watcher.add("informacion")
        _write_feed(feed, ["uno", "dos", "tres"])
        fonoteca.sync()
        assert len(receiver.posts) == 1  # one batch per sync
        # Episode uno was in the archive before the watches: not a new mention. The words match as search matches
        # them: whole words (never "medios", "media"), any case and accent; a phrase's words in order in one line.
        assert sorted(_mentioned(receiver.posts[0])) == [
            ("IA", "Episodio dos", "La IA otra vez, y la información sobre la ia."),
            ("informacion", "Episodio dos", "La IA otra vez, y la información sobre la ia."),
        ]
        mention = receiver.posts[0]["mentions"][0]
        assert mention["url"].endswith(f"/episode/{mention['episode_id']}?t=0")
        assert [m["count"] for m in receiver.posts[0]["mentions"] if m["term"] == "IA"] == [2]

        fonoteca.sync()  # nothing new: nothing is posted again
        assert len(receiver.posts) == 1
        _write_feed(feed, ["uno", "dos", "tres", "cuatro"])
        fonoteca.sync()
        assert [_mentioned(p) for p in receiver.posts[1:]] == [[("IA", "Episodio cuatro", "Cerramos con la IA.")]]


def test_the_mentions_are_the_lines_a_search_for_the_word_finds_and_marks(settings, tmp_path) -> None:
    feed = tmp_path / "feed.xml"
    with _app(settings) as fonoteca:
        fonoteca.add(_write_feed(feed, []))
        for term in ("IA", '"inteligencia artificial"', "medios"):
            fonoteca.watcher.add(term)
        _write_feed(feed, list(POSTS))
        fonoteca.sync()
        segments = [s for e in fonoteca.archive.list_episodes() for s in fonoteca.archive.segments(e.id)]
        for watch in fonoteca.watcher.list():
            lines = {(m.episode_id, m.sentence) for m in fonoteca.watcher.store.recent(watch_id=watch.id)}
            query = f'"{watch.term}"'
            assert lines == {(s.episode_id, s.text) for s in segments if matches(parse(query), s.text)}, watch.term
            assert lines <= {(h.episode_id, h.text) for h in fonoteca.search(query, limit=100).hits}, watch.term
            assert lines


@pytest.mark.parametrize("fault", ["500", "closed port"])
def test_a_failing_webhook_never_fails_the_sync_and_its_batch_is_delivered_later(
    settings, tmp_path, receiver, fault
) -> None:
    feed = tmp_path / "feed.xml"
    notes: list[str] = []
    url = receiver.url if fault == "500" else f"http://127.0.0.1:{free_port()}/hook"
    receiver.status = 500
    with _app(settings, notes, webhook_url=url) as fonoteca:
        fonoteca.add(_write_feed(feed, []))
        fonoteca.watcher.add("IA")
        _write_feed(feed, ["uno", "dos"])
        report = fonoteca.sync()
        assert report.added == 2 and not report.failed
        assert len(fonoteca.watcher.take_unseen()) == 2  # recorded whatever the receiver did
        kept = [n for n in notes if n.startswith("the webhook at 127.0.0.1 did not take")]
        assert len(kept) == 1 and "1 batch(es) kept" in kept[0], notes
        assert fonoteca.watcher.deliver().delivered == 0  # backing off: not tried again at once

    receiver.status = 200
    with _app(settings, webhook_url=receiver.url) as fonoteca:
        later = fonoteca.watcher.deliver(now=time.time() + MAX_RETRY_S)
        assert (later.delivered, later.mentions, later.waiting) == (1, 2, 0)
        assert sorted(m["episode_title"] for m in receiver.posts[0]["mentions"]) == ["Episodio dos", "Episodio uno"]
        assert fonoteca.watcher.deliver(now=time.time() + 2 * MAX_RETRY_S).delivered == 0  # delivered once only


def _sync_with_one_mention(fonoteca: Fonoteca, feed: Path) -> None:
    fonoteca.add(_write_feed(feed, []))
    fonoteca.watcher.add("IA")
    _write_feed(feed, ["uno"])
    fonoteca.sync()


def test_a_webhook_reply_is_never_read_past_its_status(settings, tmp_path, receiver) -> None:
    receiver.reply = "huge"
    with _app(settings, webhook_url=receiver.url) as fonoteca:
        _sync_with_one_mention(fonoteca, tmp_path / "feed.xml")
        assert len(receiver.posts) == 1 and fonoteca.watcher.deliver().waiting == 0  # taken: its status said so
    assert receiver.sent < 32 * 1024 * 1024  # of 256 MB: the connection was closed on the rest


def test_a_webhook_that_drips_its_answer_costs_the_sync_the_timeout_at_most(settings, tmp_path, receiver) -> None:
    receiver.reply = "drip"
    notes: list[str] = []
    with _app(settings, notes, webhook_url=receiver.url) as fonoteca:
        started = time.monotonic()
        _sync_with_one_mention(fonoteca, tmp_path / "feed.xml")
        assert time.monotonic() - started < WEBHOOK_TIMEOUT_S + 10  # the reply drips for 30 s
    [kept] = [n for n in notes if n.startswith("the webhook at 127.0.0.1 did not take")]
    assert f"no answer within {WEBHOOK_TIMEOUT_S:g} s" in kept and "1 batch(es) kept" in kept


def test_a_re_transcribed_episode_records_only_its_new_lines(settings, tmp_path) -> None:
    feed = tmp_path / "feed.xml"
    with _app(settings) as fonoteca:
        fonoteca.add(_write_feed(feed, []))
        fonoteca.watcher.add("IA")
        _write_feed(feed, ["uno"])
        fonoteca.sync()
        episode = fonoteca.archive.list_episodes()[0]
        old = fonoteca.archive.segments(episode.id)
        fonoteca.archive.replace_transcript(episode.id, [*old, Segment(9.0, 9.0, "La IA, de nuevo.")], source="text")
        fonoteca.sync()
        assert [m.sentence for m in fonoteca.watcher.take_unseen()] == [
            "Hoy hablamos de Inteligencia Artificial y de la IA en los medios.",
            "La IA, de nuevo.",
        ]


def test_the_atom_feed_parses_and_each_entry_opens_the_episode_at_its_second(settings, tmp_path) -> None:
    feed = tmp_path / "feed.xml"
    with _app(settings) as fonoteca:
        show, _ = fonoteca.add(_write_feed(feed, []))
        fonoteca.watcher.add("streaming")
        # A timed transcript, as Whisper would leave it, in an episode of the show the next sync finds done.
        episode, _ = fonoteca.archive.upsert_episode(
            show, guid="audio", title="Streaming de respuestas", kind="audio", published="2024-03-01T20:00:00Z",
            duration=120.0, media_url="https://example.org/ep.mp3",
        )  # fmt: skip
        fonoteca.archive.replace_transcript(episode.id, [
            Segment(0.0, 5.0, "Hola."), Segment(65.4, 70.0, "Hoy: streaming de respuestas."),
            Segment(95.0, 99.0, "Más STREAMING."),
        ], source="transcribed")  # fmt: skip
        fonoteca.sync()
    with serve_app(settings) as base:
        response = httpx.get(f"{base}/watch.atom")
        assert response.headers["content-type"].startswith("application/atom+xml")
        parsed = feedparser.parse(response.content)
        assert not parsed.bozo and parsed.version == "atom10"
        assert [(e.title, e.link) for e in parsed.entries] == [
            ("“streaming” in Streaming de respuestas at 1:35", f"{base}/episode/{episode.id}?t=95"),
            ("“streaming” in Streaming de respuestas at 1:05", f"{base}/episode/{episode.id}?t=65"),
        ]
        assert parsed.entries[1].summary == "Hoy: streaming de respuestas."
        page = httpx.get(parsed.entries[1].link)
        assert page.status_code == 200 and "Streaming de respuestas" in page.text
        assert 'data-start="65' in page.text  # the player starts at the mention's second


def test_the_atom_feed_stays_valid_xml_when_a_mention_holds_characters_xml_forbids(settings, tmp_path) -> None:
    with _app(settings) as fonoteca:
        show, _ = fonoteca.add(_write_feed(tmp_path / "feed.xml", []))
        fonoteca.watcher.add("streaming")
        episode, _ = fonoteca.archive.upsert_episode(
            show, guid="raro", title="Raro\x0b\ufffe", kind="audio", media_url="https://example.org/ep.mp3"
        )
        fonoteca.archive.replace_transcript(
            episode.id, [Segment(3.0, 5.0, "Hoy\x01 streaming\x1b[2J de \ufffe respuestas\uffff.")], source="text"
        )
        fonoteca.sync()
    with serve_app(settings) as base:
        response = httpx.get(f"{base}/watch.atom")
    assert response.status_code == 200
    parsed = feedparser.parse(response.content)
    assert not parsed.bozo
    assert [(e.title, e.summary) for e in parsed.entries] == [
        ("“streaming” in Raro at 0:03", "Hoy streaming[2J de  respuestas.")
    ]


def test_cli_adds_lists_removes_watches_and_lists_new_mentions_once(settings, tmp_path) -> None:
    feed = tmp_path / "feed.xml"
    with _app(settings) as fonoteca:
        fonoteca.add(_write_feed(feed, ["uno"]))

    def run(*args: str) -> str:
        result = CliRunner().invoke(cli_app, ["--home", str(settings.home), *args])
        assert result.exit_code == 0, result.output
        return result.stdout

    assert "Watching “IA” in every show" in run("watch", "add", "IA")
    assert "Watching “inteligencia artificial” in Prueba" in run("watch", "add", "inteligencia artificial", "--show",
                                                                 "prueba")  # fmt: skip
    assert [(w["term"], w["show_title"]) for w in json.loads(run("watch", "list", "--json"))] == [
        ("IA", None), ("inteligencia artificial", "Prueba"),
    ]  # fmt: skip
    assert "No new mentions." in run("watch")  # episode uno was there before the watches
    _write_feed(feed, ["uno", "dos"])
    run("sync")
    listed = run("watch")
    assert "1 new mention(s):" in listed and "La IA otra vez" in listed and re.search(r"/episode/\w+\?t=0", listed)
    assert "No new mentions." in run("watch")
    assert "No longer watching “IA”" in run("watch", "remove", "ia")
    assert [w["term"] for w in json.loads(run("watch", "list", "--json"))] == ["inteligencia artificial"]
    refused = CliRunner().invoke(cli_app, ["--home", str(settings.home), "watch", "remove", "nada"])
    assert refused.exit_code == 1


def test_web_page_adds_and_removes_a_watch_with_the_pages_csrf_token(settings, tmp_path) -> None:
    from fonoteca.web.app import create_app

    with _app(settings) as fonoteca:
        fonoteca.add(_write_feed(tmp_path / "feed.xml", ["uno"]))
    origin = {"Origin": "http://testserver"}
    with TestClient(create_app(settings), headers=origin, follow_redirects=False) as browser:
        page = browser.get("/watch").text
        token = re.search(r'<meta name="csrf-token" content="([^"]+)">', page).group(1)
        assert browser.post("/watch", data={"term": "IA"}).status_code == 403  # a browser's form needs the token
        added = browser.post("/watch", data={"term": "IA", "show": "prueba", "csrf_token": token})
        assert added.status_code == 303 and added.headers["location"] == "/watch"
        page = browser.get("/watch").text
        assert ">IA</a></td>" in page and "<td>Prueba</td>" in page
        again = browser.post(
            "/watch", data={"term": "ia", "show": "prueba", "csrf_token": token}, follow_redirects=True
        )
        assert "already watched" in again.text
        with _app(settings) as fonoteca:  # a sync by another process: the page shows what it found
            _write_feed(tmp_path / "feed.xml", ["uno", "dos"])
            fonoteca.sync()
        page = browser.get("/watch").text
        assert "La IA otra vez" in page and "<strong>new</strong>" in page
        up_to = re.search(r'name="up_to" value="(\d+)"', page).group(1)
        assert browser.post("/watch/seen", data={"up_to": up_to, "csrf_token": token}).status_code == 303
        assert "<strong>new</strong>" not in browser.get("/watch").text
        watch_id = re.search(r'action="/watch/(\d+)/remove"', page).group(1)
        removed = browser.post(f"/watch/{watch_id}/remove", data={"csrf_token": token})
        assert removed.status_code == 303
        assert 'action="/watch/' not in browser.get("/watch").text
