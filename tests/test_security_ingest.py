"""What a feed may make fonoteca fetch or read: local files, internal addresses, huge or endless bodies, credentials.

Feeds are served by real HTTP servers on 127.0.0.1. Unlike the rest of the suite, these tests keep
FONOTECA_ALLOW_PRIVATE_URLS off wherever the refusal of internal addresses is what is tested.
"""

from __future__ import annotations

import gzip
import ipaddress
import json
import os
import socket
import subprocess
import sys
import time
import zlib
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from conftest import within_memory
from fixtures_http import MediaServer, gzip_bomb, serve_media
from fixtures_web import DEMO_MEDIA

from fonoteca.app import Fonoteca
from fonoteca.archive import Archive
from fonoteca.errors import FeedError, MediaError, MediaUnreachable
from fonoteca.events import EventSink, ignore
from fonoteca.ingest import platforms
from fonoteca.ingest.download import download
from fonoteca.ingest.feeds import fetch_feed, parse_feed
from fonoteca.ingest.net import Origin, PublicOnlyTransport, checked_address, is_public
from fonoteca.ingest.transcripts import fetch_transcript
from fonoteca.pipeline import PENDING
from fonoteca.settings import Settings

SECRET = "root:x:0:0:root:/root:/bin/bash\n"
VTT = b"WEBVTT\n\n00:00.000 --> 00:01.500\nhola desde el archivo\n"


def _fonoteca(archive: Archive, settings: Settings, events: EventSink = ignore) -> Fonoteca:
    """The stages on this test's archive; keyword search only, so no embedder is loaded."""
    return Fonoteca(settings.replace(embeddings="none"), events=events, archive=archive)


@pytest.fixture
def strict(tmp_path: Path) -> Settings:
    """The defaults a user has: internal addresses refused for what a feed on the web names."""
    return Settings.from_env(environ={}, home=tmp_path / "home", download_timeout=2.0, download_retries=1)


@pytest.fixture
def secret(tmp_path: Path) -> Path:
    path = tmp_path / "private" / "passwd"
    path.parent.mkdir()
    path.write_text(SECRET)
    return path


def _feed(items: str) -> bytes:
    return f"""<?xml version="1.0" encoding="UTF-8"?>
<rss version="2.0" xmlns:podcast="https://podcastindex.org/namespace/1.0">
<channel><title>Prueba</title><language>es</language>{items}</channel></rss>""".encode()


def _item(name: str, enclosure: str, extra: str = "", kind: str = "audio/mpeg") -> str:
    return (
        f"<item><title>Episodio {name}</title><guid isPermaLink='false'>{name}</guid>"
        f"<description>Notas del episodio {name}</description>"
        f'<enclosure url="{enclosure}" type="{kind}" length="1"/>{extra}</item>'
    )


def _transcript(url: str, kind: str = "text/plain") -> str:
    return f'<podcast:transcript url="{url}" type="{kind}"/>'


def _cli(home: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "fonoteca", "--home", str(home), *args],
        capture_output=True, text=True, timeout=120, env={**os.environ, "FONOTECA_ALLOW_PRIVATE_URLS": "0"},
    )  # fmt: skip


# -- local files -----------------------------------------------------------------------------------------------------


def test_a_web_feed_cannot_make_fonoteca_read_or_export_local_files(http_server, secret, tmp_path) -> None:
    items = _item("shadow", secret.as_uri()) + _item(
        "passwd", http_server.url("/status/404"), _transcript(secret.as_uri())
    )
    url = http_server.add("f.xml", _feed(items), "application/rss+xml")
    home = tmp_path / "home"
    added = _cli(home, "add", url)
    assert "Traceback" not in added.stderr
    notes = [line for line in added.stderr.splitlines() if line.startswith("note:") and "refused" in line]
    assert len(notes) == 2 and all("http:// and https://" in line for line in notes)
    with Archive(home / "fonoteca.db") as archive:
        episodes = archive.list_episodes()
    assert [(e.title, e.transcript_url, e.media_path) for e in episodes] == [("Episodio passwd", None, None)]
    exported = _cli(home, "export", episodes[0].id)
    assert "root:x" not in exported.stdout + exported.stderr


def test_a_file_url_stored_earlier_is_refused_when_read(archive, strict, http_server, secret, tmp_path) -> None:
    url = http_server.add("f.xml", _feed(_item("old", http_server.url("/status/404"))), "application/rss+xml")
    show, _ = _fonoteca(archive, strict).catalogue.register(url)
    episode = archive.list_episodes(show.id)[0]
    # As an older fonoteca stored it, before file: URLs of web feeds were refused.
    archive.update_episode(episode.id, transcript_url=secret.as_uri(), transcript_type="txt")
    _fonoteca(archive, strict).runner.work_through(archive.list_episodes(show.id, status=PENDING))
    assert archive.get_episode(episode.id).status == "failed" and archive.segments(episode.id) == []
    with pytest.raises(MediaError, match="cannot be downloaded: .*http:// and https://"):
        fetch_transcript(secret.as_uri(), Origin.of(show), strict)
    with pytest.raises(MediaError, match="cannot be downloaded"):
        download(secret.as_uri(), tmp_path / "x.mp3", strict, origin=Origin.of(show))


def test_a_feed_file_may_point_at_files_in_its_folder_only(strict, secret, tmp_path) -> None:
    folder = tmp_path / "show"
    folder.mkdir()
    (folder / "ep.vtt").write_bytes(VTT)
    items = _item("inside", "ep.ogg", _transcript("ep.vtt", "text/vtt")) + _item(
        "outside", "ep2.ogg", _transcript(secret.as_uri())
    )
    (folder / "feed.xml").write_bytes(_feed(items))
    feed = parse_feed(*fetch_feed(str(folder / "feed.xml"), strict))
    inside, outside = feed.items
    assert inside.transcripts == [((folder / "ep.vtt").as_uri(), "vtt")] and inside.media_url.endswith("/show/ep.ogg")
    assert outside.transcripts == [] and feed.notes == [
        f"Episodio outside: transcript address {secret.as_uri()!r} is refused "
        "(a feed file may only point at files in its own folder); ignored"
    ]
    origin = Origin(str(folder / "feed.xml"))
    assert fetch_transcript((folder / "ep.vtt").as_uri(), origin, strict) == VTT
    with pytest.raises(MediaError, match="its own folder"):
        fetch_transcript(secret.as_uri(), origin, strict)


# -- internal addresses ----------------------------------------------------------------------------------------------


def test_internal_addresses_named_by_a_web_feed_are_refused(archive, strict, http_server) -> None:
    http_server.add("internal.txt", b"the admin password is hunter2")
    internal = http_server.url("/f/internal.txt")
    url = http_server.add(
        "f.xml", _feed(_item("ssrf", http_server.url("/f/ep.mp3"), _transcript(internal))), "application/rss+xml"
    )
    show, report = _fonoteca(archive, strict).add(url)  # the feed itself: the user's own choice
    episode = archive.list_episodes(show.id)[0]
    assert report.imported == 0 and archive.segments(episode.id) == []
    assert episode.status == "failed"
    assert "refused to connect to 127.0.0.1" in episode.error and "FONOTECA_ALLOW_PRIVATE_URLS=1" in episode.error
    assert [path for path, _ in http_server.requests] == ["/f/f.xml"]


def test_internal_addresses_are_fetched_when_the_user_allows_them(archive, http_server, tmp_path) -> None:
    allowing = Settings.from_env(environ={"FONOTECA_ALLOW_PRIVATE_URLS": "1", "FONOTECA_HOME": str(tmp_path / "h")})
    vtt = http_server.add("ep.vtt", VTT)
    url = http_server.add("f.xml", _feed(_item("lan", http_server.url("/f/ep.mp3"), _transcript(vtt, "text/vtt"))))
    show, report = _fonoteca(archive, allowing).add(url)
    assert report.imported == 1 and archive.list_episodes(show.id)[0].status == "done"


def test_a_host_name_is_checked_by_the_addresses_it_resolves_to() -> None:
    with pytest.raises(MediaError, match=r"localhost \((127\.0\.0\.1|::1)\).*FONOTECA_ALLOW_PRIVATE_URLS"):
        checked_address("localhost", 80)


@pytest.mark.parametrize(
    ("address", "public"),
    [
        ("169.254.169.254", False),  # cloud metadata
        ("fd00:ec2::254", False),  # cloud metadata over IPv6
        ("100.100.100.200", False),  # carrier-grade NAT range, a metadata endpoint too
        ("127.0.0.1", False),
        ("0.0.0.0", False),
        ("10.1.2.3", False),
        ("192.168.1.20", False),
        ("::1", False),
        ("fe80::1", False),
        ("::ffff:127.0.0.1", False),  # IPv4-mapped
        ("2002:7f00:1::", False),  # 6to4 of 127.0.0.1
        ("64:ff9b::a9fe:a9fe", False),  # NAT64 of 169.254.169.254
        ("::7f00:1", False),  # IPv4-compatible (deprecated) 127.0.0.1
        ("::ffff:0:7f00:1", False),  # IPv4-translated 127.0.0.1
        ("fec0::1", False),  # site-local (deprecated)
        ("64:ff9b:1::a00:1", False),  # local-use NAT64
        ("2001:0:4136:e378:8000:63bf:3fff:fdd2", False),  # Teredo
        ("224.0.0.1", False),
        ("8.8.8.8", True),
        ("2001:4860:4860::8888", True),
    ],
)
def test_only_public_internet_addresses_count_as_public(address: str, public: bool) -> None:
    assert is_public(ipaddress.ip_address(address)) is public


# IPv6 addresses that reach loopback or a local network, which Python 3.11's `is_global` calls public.
HIDDEN_PRIVATE_IPV6 = ["::7f00:1", "::ffff:0:7f00:1", "fec0::1", "64:ff9b:1::a00:1"]


@pytest.mark.parametrize("address", HIDDEN_PRIVATE_IPV6)
def test_connections_to_ipv6_addresses_that_hide_private_ones_are_refused(strict, tmp_path, address) -> None:
    url = f"http://[{address}]:8080/episode.mp3"
    with pytest.raises(MediaError, match="not a public internet address"):
        download(url, tmp_path / "episode.mp3", strict)  # named by a feed on the web: the enclosure client
    with pytest.raises(MediaError, match="not a public internet address"):
        platforms.extract(url, strict)  # read by yt-dlp


@pytest.fixture
def internal_server() -> Iterator[MediaServer]:
    """A server on 127.0.0.2: another loopback address, to tell apart from the test's first hop on 127.0.0.1."""
    with socket.socket() as probe:
        try:
            probe.bind(("127.0.0.2", 0))
        except OSError:
            pytest.skip("this system cannot listen on 127.0.0.2")
    with serve_media("127.0.0.2") as server:
        yield server


def test_a_redirect_is_checked_like_the_first_address(http_server, internal_server) -> None:
    """The first hop is let through here, so that only the check of the redirect's address can stop the request."""
    secret = internal_server.add("secret.txt", b"hunter2")
    transport = PublicOnlyTransport(allowed=lambda address: str(address) == "127.0.0.1")
    with httpx.Client(transport=transport, follow_redirects=True) as client, pytest.raises(MediaError) as caught:
        client.get(http_server.url(f"/redirect?to={secret}"))
    assert "127.0.0.2" in str(caught.value) and internal_server.requests == []
    assert [path for path, _ in http_server.requests] == [f"/redirect?to={secret}"]


@pytest.fixture
def rebinding(internal_server: MediaServer, monkeypatch: pytest.MonkeyPatch) -> Iterator[tuple[MediaServer, list[str]]]:
    """DNS rebinding, with a resolver of the test's own (this machine's cannot be told what to answer): the name
    `rebind.test` resolves to 127.0.0.2, a server the check is told to take for a public one, at its first lookup,
    and to 127.0.0.1, where a private server listens on the same port, at every later one. Yields the private server
    and the answers given."""
    port = int(internal_server.base.rsplit(":", 1)[1])
    real = socket.getaddrinfo
    answers: list[str] = []

    def resolve(host: object, *args: object, **kwargs: object) -> list:
        if host != "rebind.test":
            return real(host, *args, **kwargs)  # type: ignore[arg-type]
        answers.append("127.0.0.2" if not answers else "127.0.0.1")
        return [(socket.AF_INET, socket.SOCK_STREAM, 6, "", (answers[-1], port))]

    monkeypatch.setattr(socket, "getaddrinfo", resolve)
    with serve_media("127.0.0.1", port) as private:
        yield private, answers


def test_dns_rebinding_cannot_swap_in_a_private_address_after_the_check(rebinding, internal_server) -> None:
    """Each connection is made to the address its check approved: the first (public) answer is fetched from, the
    rebound (private) one is refused, and the private server never hears from fonoteca."""
    private, answers = rebinding
    internal_server.add("feed.vtt", VTT)
    private.add("feed.vtt", b"secret")
    url = f"http://rebind.test:{internal_server.base.rsplit(':', 1)[1]}/f/feed.vtt"
    allowed = lambda address: str(address) == "127.0.0.2" or is_public(address)  # noqa: E731 - the harness
    with httpx.Client(transport=PublicOnlyTransport(allowed)) as client:
        assert client.get(url).content == VTT
    with httpx.Client(transport=PublicOnlyTransport(allowed)) as client, pytest.raises(MediaError, match="127.0.0.1"):
        client.get(url)
    assert answers == ["127.0.0.2", "127.0.0.1"]  # one lookup per connection: the address checked is the one used
    assert private.requests == []


def test_dns_rebinding_cannot_reach_a_private_address_through_yt_dlp(rebinding, internal_server, monkeypatch) -> None:
    """yt-dlp's own connections: the address fonoteca checks before handing the URL over is public, the one yt-dlp's
    connection then gets is private, and the connection is refused there."""
    private, answers = rebinding
    monkeypatch.setattr(platforms, "is_public", lambda address: str(address) == "127.0.0.2" or is_public(address))
    private.add("talk.ogg", b"secret")
    strict = Settings.from_env(environ={}, download_timeout=2.0, download_retries=0)
    with pytest.raises(MediaError, match="127.0.0.1.*not a public internet address"):
        platforms.extract(f"http://rebind.test:{internal_server.base.rsplit(':', 1)[1]}/f/talk.ogg", strict)
    assert answers[:2] == ["127.0.0.2", "127.0.0.1"] and private.requests == []


# -- size and time ---------------------------------------------------------------------------------------------------


def test_a_feed_over_the_size_limit_stops_there_and_says_how_to_raise_it(strict, http_server) -> None:
    with pytest.raises(FeedError) as caught:
        fetch_feed(http_server.url("/endless"), strict.replace(max_feed_mb=1))
    assert "over the 1 MB limit" in caught.value.message and "FONOTECA_MAX_FEED_MB" in caught.value.hint


def test_a_feed_that_trickles_in_stops_at_the_deadline_and_says_how_to_raise_it(strict, http_server) -> None:
    started = time.monotonic()
    with pytest.raises(FeedError) as caught:
        fetch_feed(http_server.url("/trickle"), strict.replace(feed_deadline=1.0))
    assert time.monotonic() - started < 5
    assert "longer than 1 s" in caught.value.message and "FONOTECA_FEED_DEADLINE" in caught.value.hint


def test_an_enclosure_that_drips_stops_at_the_download_deadline_and_keeps_what_arrived(
    settings, http_server, tmp_path
) -> None:
    started = time.monotonic()
    with pytest.raises(MediaUnreachable) as caught:
        download(http_server.url("/trickle"), tmp_path / "ep.mp3", settings.replace(download_deadline=2.0), backoff=0)
    assert time.monotonic() - started < 15  # it drips for 30 s, a byte every 0.1 s: no read ever times out
    assert "longer than 2 s" in caught.value.message and "FONOTECA_DOWNLOAD_DEADLINE" in caught.value.hint
    assert (tmp_path / "ep.mp3.part").stat().st_size > 0  # what arrived, for the next attempt to resume from


# -- compressed answers: inflated as they arrive, within the same limits ---------------------------------------------


def _within_3_gb(*args: str, **env: str) -> subprocess.CompletedProcess[str]:
    """A real process that cannot have more than 3 GB: a body inflated whole fails it with a MemoryError."""
    return subprocess.run(
        [sys.executable, *args], capture_output=True, text=True, timeout=300, preexec_fn=within_memory(3 * 1024**3),
        env={**os.environ, "FONOTECA_EMBEDDINGS": "none", **env},
    )  # fmt: skip


def _held(done: subprocess.CompletedProcess[str]) -> str:
    """What a process printed, once it is clear that it did not run out of memory or crash."""
    output = done.stdout + done.stderr
    assert "MemoryError" not in output and "Traceback" not in output, output[-2000:]
    return output


def test_a_compressed_feed_is_read_and_a_gzip_bomb_stops_at_the_feed_limit(strict, http_server, tmp_path) -> None:
    feed = _feed(_item("uno", "https://example.org/uno.mp3"))
    for encoding, body in (("gzip", gzip.compress(feed)), ("deflate", zlib.compress(feed))):
        http_server.add(f"{encoding}.xml", body, "application/rss+xml", encoding=encoding)
        assert fetch_feed(http_server.url(f"/f/{encoding}.xml"), strict)[0] == feed
    # 16 KB that inflate to 8 MB of gzip, which inflate to 8 GB: httpx inflated each part whole.
    http_server.add("bomb.xml", gzip.compress(gzip_bomb(8)), "application/rss+xml", encoding="gzip, gzip")
    home = str(tmp_path / "home")
    cli = ("-m", "fonoteca", "--home", home, "add", "--no-sync")
    refused = _within_3_gb(*cli, http_server.url("/f/bomb.xml"), FONOTECA_MAX_FEED_MB="1")
    assert refused.returncode != 0 and "over the 1 MB limit" in _held(refused)
    assert "FONOTECA_MAX_FEED_MB" in refused.stderr  # one line: what, and how to raise it
    # The same 16 KB as the body of a redirect to the feed: httpx read a redirect's body whole before following it.
    redirect = http_server.url(f"/redirect?to={http_server.url('/f/gzip.xml')}&body=bomb.xml")
    added = _within_3_gb(*cli, redirect, FONOTECA_MAX_FEED_MB="1")
    assert added.returncode == 0 and "Prueba" in _held(added)


def test_a_compressed_enclosure_is_downloaded_and_a_gzip_bomb_stops_at_the_download_limit(
    http_server, tmp_path
) -> None:
    flac = (DEMO_MEDIA / "jfk.flac").read_bytes()
    http_server.add("jfk.flac", gzip.compress(flac), "audio/flac", encoding="gzip")
    http_server.add("bomb.mp3", gzip.compress(gzip_bomb(8)), "audio/mpeg", encoding="gzip, gzip")
    fetch = (
        "import sys\nfrom pathlib import Path\nfrom fonoteca.errors import FonotecaError\n"
        "from fonoteca.ingest.download import download\nfrom fonoteca.settings import Settings\n"
        "try:\n    print(download(sys.argv[1], Path(sys.argv[2]), Settings.from_env(), backoff=0).read_bytes().hex())\n"
        "except FonotecaError as exc:\n    sys.exit(f'error: {exc}')\n"
    )
    env = {"FONOTECA_HOME": str(tmp_path / "home"), "FONOTECA_MAX_DOWNLOAD_MB": "4", "FONOTECA_DOWNLOAD_RETRIES": "0"}
    refused = _within_3_gb("-c", fetch, http_server.url("/f/bomb.mp3"), str(tmp_path / "bomb.mp3"), **env)
    assert refused.returncode != 0 and "over the 4 MB limit" in _held(refused)
    assert not list(tmp_path.glob("bomb.mp3*"))  # nothing kept of it
    # The same bomb as the body of a redirect to a real, gzip-encoded enclosure: read whole by httpx before.
    redirect = http_server.url(f"/redirect?to={http_server.url('/f/jfk.flac')}&body=bomb.mp3")
    fetched = _within_3_gb("-c", fetch, redirect, str(tmp_path / "jfk.flac"), **env)
    assert fetched.returncode == 0 and bytes.fromhex(_held(fetched).strip()) == flac


# -- what an enclosure is --------------------------------------------------------------------------------------------


def test_an_enclosure_of_unknown_type_is_media_until_its_bytes_prove_otherwise(archive, settings, http_server) -> None:
    http_server.add("nodot", DEMO_MEDIA / "jfk.flac", "application/octet-stream")
    items = _item("untyped", "/f/nodot", kind="application/octet-stream") + _item(
        "cover", "/f/cover.jpg", kind="image/jpeg"
    )
    url = http_server.add("f.xml", _feed(items), "application/rss+xml")
    show, _ = _fonoteca(archive, settings).catalogue.register(url)
    untyped, cover = sorted(archive.list_episodes(show.id), key=lambda e: e.guid, reverse=True)
    assert (untyped.kind, untyped.status, archive.segments(untyped.id)) == ("audio", "new", [])
    assert cover.kind == "text"  # a post with a picture is still a post
    dest = download(untyped.media_url, settings.media_dir / "nodot", settings, origin=Origin.of(show))
    assert dest.read_bytes() == (DEMO_MEDIA / "jfk.flac").read_bytes()


# -- credentials -----------------------------------------------------------------------------------------------------


def test_feed_credentials_go_to_the_feed_host_only_and_are_never_shown(
    archive, settings, http_server: MediaServer, other_http_server: MediaServer, tmp_path
) -> None:
    http_server.auth = "ana:s3cret"
    http_server.add("ep.ogg", DEMO_MEDIA / "jfk.flac")
    http_server.add("a.vtt", VTT)
    elsewhere = other_http_server.add("b.vtt", VTT)
    items = _item("a", "/auth/ep.ogg", _transcript("/auth/a.vtt", "text/vtt")) + _item(
        "b", other_http_server.url("/f/ep.ogg"), _transcript(f"/redirect?to={elsewhere}", "text/vtt")
    )
    http_server.add("f.xml", _feed(items), "application/rss+xml")
    feed_url = http_server.url("/auth/f.xml").replace("http://", "http://ana:s3cret@")
    show, report = _fonoteca(archive, settings).add(feed_url)
    assert report.imported == 2 and "s3cret" not in show.source and "s3cret" not in repr(show)
    assert (
        _fonoteca(archive, settings).catalogue.refresh(archive.get_show(show.id)) == 0
    )  # the stored credentials open the feed again
    episode = next(e for e in archive.list_episodes(show.id) if e.guid == "a")
    download(episode.media_url, tmp_path / "a.flac", settings, origin=Origin.of(archive.get_show(show.id)))
    assert all("Authorization" in headers for path, headers in http_server.requests if path.startswith("/auth/"))
    assert other_http_server.requests and not any("Authorization" in h for _, h in other_http_server.requests)
    listed = _cli(settings.home, "shows", "--json")
    assert listed.returncode == 0 and json.loads(listed.stdout)[0]["source"] == http_server.url("/auth/f.xml")
    assert "s3cret" not in listed.stdout + listed.stderr


def test_a_password_stored_in_an_older_shows_source_is_never_shown(settings: Settings) -> None:
    """Shows added before credentials were stored apart keep `user:pass@` in their source (their episode ids derive
    from it, so it cannot be rewritten): the output models show that source without them."""
    from fastapi.testclient import TestClient

    from fonoteca.web.app import create_app

    with Archive(settings.db_path) as archive:
        archive.add_show(title="Old", source="https://ana:s3cr3t@feeds.example.org/old.xml", source_kind="feed")
    listed = subprocess.run(
        [sys.executable, "-m", "fonoteca", "--home", str(settings.home), "shows", "--json"],
        capture_output=True, text=True, timeout=60, check=True,
    )  # fmt: skip
    with TestClient(create_app(settings)) as client:
        api = client.get("/api/shows").text
    for shown in (listed.stdout, api):
        assert "s3cr3t" not in shown and "ana:" not in shown
        assert "https://feeds.example.org/old.xml" in shown


def test_a_local_path_stored_from_a_web_feed_by_an_older_version_is_never_read(settings: Settings, tmp_path) -> None:
    """Before the address policy, a web feed's `file:` enclosure was stored as the episode's media path; a real
    recording elsewhere on the disk would then have been transcribed and its text exported."""
    private = tmp_path / "private" / "recording.flac"
    private.parent.mkdir()
    private.write_bytes((DEMO_MEDIA / "jfk.flac").read_bytes())
    with Archive(settings.db_path) as archive:
        show, _ = archive.add_show(title="Web", source="https://feeds.example.org/f.xml", source_kind="feed")
        episode, _ = archive.upsert_episode(show, guid="a", title="a", kind="audio", media_path=str(private))
        report = _fonoteca(archive, settings).runner.work_through(archive.list_episodes(show.id, status=PENDING))
        stored = archive.get_episode(episode.id)
        assert report.transcribed == 0 and stored.status == "failed"
        assert "outside fonoteca's media folder" in (stored.error or "")
        assert archive.segments(episode.id) == []
