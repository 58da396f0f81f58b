"""The web server's defences, tried against a real `fonoteca serve` process over HTTP (and raw sockets where HTTP
clients would hide what is sent): media paths, Host names, cross-site requests, body sizes, token guessing, sessions."""

from __future__ import annotations

import os
import re
import shutil
import socket
import subprocess
import sys
import time
from collections.abc import Iterable, Iterator
from pathlib import Path

import httpx
import pytest
from fixtures_web import DEMO_MEDIA, build_web_archive, fonoteca_serve

from fonoteca.archive import Archive

SECRET = b"TOP-SECRET root:$6$hash"
TOKEN = "s3cret-token"
STRONG = "Xq3v-9LmT2pWz7Rk_b4N"  # what `secrets.token_urlsafe(15)` makes: long enough to serve beyond loopback
ATTACKER = "http://attacker.example"


def raw_status(base: str, head: str, body_parts: Iterable[bytes]) -> int:
    """The status a request written byte by byte gets, read as soon as the server answers."""
    url = httpx.URL(base)
    with socket.create_connection((url.host, url.port), timeout=15) as sock:
        sock.sendall(head.encode())
        try:
            for part in body_parts:
                sock.sendall(part)
        except OSError:  # the server may stop reading once it has refused
            pass
        reply = b""
        while b"\r\n" not in reply:
            data = sock.recv(4096)
            if not data:
                break
            reply += data
    return int(reply.split(b" ", 2)[1])


def page_token(page: str) -> str:
    match = re.search(r'<meta name="csrf-token" content="([^"]+)">', page)
    assert match, "the page carries no CSRF token"
    return match.group(1)


# -- /media/ ---------------------------------------------------------------------------------------------------------


def test_media_paths_outside_fonoteca_folders_answer_404_without_the_file(settings, tmp_path: Path) -> None:
    secret = tmp_path / "shadow"
    secret.write_bytes(SECRET)
    ids = build_web_archive(settings)
    with Archive(settings.db_path) as archive:
        show = archive.get_show(ids["show"])  # a remote feed: it decides what its episodes' media paths say
        link = settings.media_dir / show.slug / "innocent.mp3"
        link.symlink_to(secret)
        stored = {
            "absolute": str(secret),
            "climbing": str(settings.media_dir / show.slug / ".." / ".." / ".." / "shadow"),
            "symlink": str(link),
        }
        episodes = {}
        for name, path in stored.items():
            episode, _ = archive.upsert_episode(show, guid=name, title=name, kind="audio", media_path=path)
            episodes[name] = episode.id
    with fonoteca_serve(settings) as base:
        for name, episode_id in episodes.items():
            response = httpx.get(f"{base}/media/{episode_id}")
            assert response.status_code == 404, name
            assert b"TOP-SECRET" not in response.content, name
            assert f"/media/{episode_id}" not in httpx.get(f"{base}/episode/{episode_id}").text, name


def test_downloaded_and_local_folder_media_are_served_with_range(settings, tmp_path: Path) -> None:
    ids = build_web_archive(settings)  # its "Ask not" lies in settings.media_dir, as a download would
    folder = tmp_path / "recordings"
    folder.mkdir()
    shutil.copyfile(DEMO_MEDIA / "jfk.flac", folder / "jfk.flac")
    with Archive(settings.db_path) as archive:
        local, _ = archive.add_show(title="Grabaciones", source=str(folder), source_kind="folder")
        recorded, _ = archive.upsert_episode(
            local, guid="rec", title="Recorded", kind="audio", media_path=str(folder / "jfk.flac")
        )
    whole = (DEMO_MEDIA / "jfk.flac").read_bytes()
    with fonoteca_serve(settings) as base:
        for episode_id in (ids["jfk"], recorded.id):
            response = httpx.get(f"{base}/media/{episode_id}", headers={"Range": "bytes=1000-1999"})
            assert response.status_code == 206
            assert response.content == whole[1000:2000]


# -- Host names (DNS rebinding) --------------------------------------------------------------------------------------


def test_a_host_name_the_server_was_not_started_for_is_refused(settings) -> None:
    build_web_archive(settings)
    with fonoteca_serve(settings, allowed_hosts="archive.example, other.example") as base:
        port = httpx.URL(base).port
        rebound = httpx.get(f"{base}/api/stats", headers={"Host": f"attacker.example:{port}"})
        assert rebound.status_code == 400 and "Transcribed" not in rebound.text
        for name in ("127.0.0.1", "localhost", "archive.example", "other.example"):
            assert httpx.get(f"{base}/api/stats", headers={"Host": f"{name}:{port}"}).status_code == 200, name


# -- cross-site requests ---------------------------------------------------------------------------------------------


def test_a_cross_site_post_is_refused_and_runs_nothing(settings) -> None:
    ids = build_web_archive(settings)
    with fonoteca_serve(settings) as base:
        analyze = f"{base}/episode/{ids['jfk']}/analyze"
        form = {"what": "language"}
        for headers in (
            {"Origin": ATTACKER},
            {"Origin": "null"},
            {"Referer": f"{ATTACKER}/page.html"},
            {"Sec-Fetch-Site": "cross-site"},
            {"Sec-Fetch-Site": "same-site"},
        ):
            response = httpx.post(analyze, data=form, headers=headers)
            assert response.status_code == 403, headers
        chat = httpx.post(f"{base}/api/chat", json={"message": "hola"}, headers={"Origin": ATTACKER})
        assert chat.status_code == 403
        assert httpx.get(f"{base}/api/episodes/{ids['jfk']}/analyses").json()["analyses"] == []


def test_a_browser_post_without_the_pages_csrf_token_is_refused(settings) -> None:
    ids = build_web_archive(settings)
    with fonoteca_serve(settings) as base, httpx.Client(base_url=base, headers={"Origin": base}) as browser:
        browser.get(f"/episode/{ids['jfk']}")  # the token's cookie is set, but the request below does not echo it
        assert browser.post(f"/episode/{ids['jfk']}/analyze", data={"what": "language"}).status_code == 403
        wrong = browser.post(f"/episode/{ids['jfk']}/analyze", data={"what": "language", "csrf_token": "guess"})
        assert wrong.status_code == 403
        assert browser.post("/api/chat", json={"message": "hola"}).status_code == 403


def test_the_pages_forms_and_chat_send_a_token_the_server_accepts(settings) -> None:
    ids = build_web_archive(settings)
    with fonoteca_serve(settings) as base, httpx.Client(base_url=base, headers={"Origin": base}) as browser:
        page = browser.get(f"/episode/{ids['jfk']}").text
        token = page_token(page)
        assert page.count(f'name="csrf_token" value="{token}"') == 2  # the analysis and the translation forms
        posted = browser.post(f"/episode/{ids['jfk']}/analyze", data={"what": "language", "csrf_token": token})
        assert posted.status_code == 303 and posted.headers["location"].startswith(f"/episode/{ids['jfk']}")
        asked = browser.post(
            "/api/chat", json={"message": "hola", "show": "no-such-show"}, headers={"X-CSRF-Token": token}
        )
        assert asked.status_code == 404  # past the guard: the route itself answers


def test_a_cookie_session_needs_the_csrf_token_but_a_bearer_script_does_not(settings) -> None:
    build_web_archive(settings)
    with fonoteca_serve(settings, token=TOKEN) as base:
        with httpx.Client(base_url=base) as session:
            assert session.post("/login", data={"token": TOKEN, "next": "/"}).status_code == 303
            assert session.get("/").status_code == 200
            assert session.post("/api/chat", json={"message": "hola"}).status_code == 403
            token = page_token(session.get("/chat").text)
            passed = session.post(
                "/api/chat", json={"message": "hola", "show": "no-such-show"}, headers={"X-CSRF-Token": token}
            )
            assert passed.status_code == 404
        script = httpx.post(
            f"{base}/api/chat",
            json={"message": "hola", "show": "no-such-show"},
            headers={"Authorization": f"Bearer {TOKEN}"},
        )
        assert script.status_code == 404


# -- request bodies --------------------------------------------------------------------------------------------------


@pytest.fixture
def small_limit_server(settings) -> Iterator[str]:
    build_web_archive(settings)
    with fonoteca_serve(settings, max_request_kb="64") as base:
        yield base


def test_a_body_declared_over_the_limit_is_refused_before_it_arrives(small_limit_server: str) -> None:
    head = (
        "POST /api/chat HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n"
        "Content-Length: 300000000\r\n\r\n"
    )
    assert raw_status(small_limit_server, head, [b'{"message": "' + b"a" * 1024]) == 413


def test_a_chunked_body_is_refused_as_soon_as_it_passes_the_limit(small_limit_server: str) -> None:
    head = (
        "POST /api/chat HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n"
        "Transfer-Encoding: chunked\r\n\r\n"
    )
    chunk = b"a" * 40_000
    frames = [f"{len(chunk):x}\r\n".encode() + chunk + b"\r\n"] * 3  # 120 KB, and never the closing empty chunk
    assert raw_status(small_limit_server, head, frames) == 413


def test_a_body_under_the_limit_reaches_the_route(small_limit_server: str) -> None:
    response = httpx.post(f"{small_limit_server}/api/chat", json={"message": "hola", "show": "no-such-show"})
    assert response.status_code == 404


# -- token guessing --------------------------------------------------------------------------------------------------


def test_wrong_tokens_at_login_are_throttled_with_a_growing_delay(settings) -> None:
    build_web_archive(settings)
    with fonoteca_serve(settings, token=TOKEN) as base:

        def log_in(token: str) -> httpx.Response:
            return httpx.post(f"{base}/login", data={"token": token, "next": "/"})

        for _ in range(5):
            assert log_in("wrong").status_code == 401
        locked = log_in("wrong")
        assert locked.status_code == 429 and locked.headers["retry-after"] == "1"
        assert log_in(TOKEN).status_code == 429  # while locked out, not even the right token is compared
        time.sleep(1.2)
        assert log_in("wrong").status_code == 401
        longer = log_in("wrong")
        assert longer.status_code == 429 and longer.headers["retry-after"] == "2"


def test_wrong_bearer_tokens_on_the_api_are_throttled(settings) -> None:
    build_web_archive(settings)
    with fonoteca_serve(settings, token=TOKEN) as base:
        wrong = {"Authorization": "Bearer wrong"}
        for _ in range(5):
            assert httpx.get(f"{base}/api/stats", headers=wrong).status_code == 401
        locked = httpx.get(f"{base}/api/stats", headers=wrong)
        assert locked.status_code == 429 and int(locked.headers["retry-after"]) >= 1


def test_a_new_forwarded_address_with_each_wrong_token_does_not_escape_the_throttle(settings) -> None:
    build_web_archive(settings)
    with fonoteca_serve(settings, token=STRONG) as base:
        answers = [
            httpx.get(
                f"{base}/api/stats", headers={"Authorization": "Bearer wrong", "X-Forwarded-For": f"10.1.2.{n}"}
            ).status_code
            for n in range(7)
        ]
        assert answers[:5] == [401] * 5 and answers[5:] == [429, 429]


def test_a_proxy_named_in_trusted_proxies_is_believed_about_the_client(settings) -> None:
    build_web_archive(settings)
    with fonoteca_serve(settings, token=STRONG, trusted_proxies="127.0.0.1") as base:
        for n in range(7):  # each a different client behind the proxy: none of them is locked out by the others
            wrong = {"Authorization": "Bearer wrong", "X-Forwarded-For": f"10.1.2.{n}"}
            assert httpx.get(f"{base}/api/stats", headers=wrong).status_code == 401


def test_the_bearer_scheme_is_read_in_any_case_and_never_counted_as_a_wrong_token(settings) -> None:
    build_web_archive(settings)
    with fonoteca_serve(settings, token=STRONG) as base:
        for _ in range(3):
            for scheme in ("bearer", "BEARER", "Bearer", "bEaReR"):
                response = httpx.get(f"{base}/api/stats", headers={"Authorization": f"{scheme} {STRONG}"})
                assert response.status_code == 200, scheme


@pytest.mark.parametrize("token", [" ", "x", "aaaaaaaaaaaaaaaaaaaa", f" {STRONG} "])
def test_a_weak_token_is_refused_beyond_loopback_and_in_public_mode(settings, token: str) -> None:
    for flags in (["--host", "0.0.0.0"], ["--public"]):
        result = subprocess.run(
            [sys.executable, "-m", "fonoteca", "--home", str(settings.home), "serve", "--port", "1", *flags],
            capture_output=True, text=True, timeout=60,
            env={"PATH": "/usr/bin:/bin", "HOME": str(settings.home), "FONOTECA_TOKEN": token,
                 "PYTHONPATH": os.environ.get("PYTHONPATH", "")},
        )  # fmt: skip
        assert result.returncode == 1, flags
        assert "weak token" in result.stderr and "at least 16 characters" in result.stderr, flags


def test_the_login_cookie_holds_a_signed_session_not_the_token(settings) -> None:
    build_web_archive(settings)
    with fonoteca_serve(settings, token=STRONG) as base:
        signed_in = httpx.post(f"{base}/login", data={"token": STRONG, "next": "/status"})
        assert signed_in.status_code == 303
        set_cookie = signed_in.headers["set-cookie"]
        assert STRONG not in set_cookie and "httponly" in set_cookie.lower() and "secure" not in set_cookie.lower()
        session = signed_in.cookies["fonoteca_session"]
        assert httpx.get(f"{base}/status", cookies={"fonoteca_session": session}).status_code == 200
        for forged in (STRONG, session[:-1] + ("0" if session[-1] != "0" else "1"), "1.a.b"):
            assert httpx.get(f"{base}/api/stats", cookies={"fonoteca_session": forged}).status_code == 401, forged


def test_the_login_cookie_is_secure_behind_a_tls_proxy(settings) -> None:
    build_web_archive(settings)
    with fonoteca_serve(settings, token=STRONG, trusted_proxies="127.0.0.1") as base:
        over_tls = httpx.post(
            f"{base}/login", data={"token": STRONG, "next": "/"}, headers={"X-Forwarded-Proto": "https"}
        )
        assert over_tls.status_code == 303
        [session] = over_tls.headers.get_list("set-cookie")
        assert "secure" in session.lower()
        signed_in = {"Cookie": session.split(";")[0], "X-Forwarded-Proto": "https"}
        page = httpx.get(f"{base}/", headers=signed_in)  # the owner's page, with forms: the CSRF cookie comes with it
        assert page.status_code == 200 and 'name="csrf-token"' in page.text
        [csrf] = page.headers.get_list("set-cookie")
        assert csrf.startswith("fonoteca_csrf=") and "secure" in csrf.lower()
