"""A real HTTP server on 127.0.0.1 for feeds and media, with the faults real servers have.

Routes:
    /f/NAME         a registered file or bytes, with Range support (206) like a real static server, sent under its
                    Content-Encoding when it was registered with one
    /drop/NAME      the first response promises the whole file but closes halfway; later ones honour Range
    /status/CODE    answers that status
    /slow           answers after longer than any test timeout
    /loop           redirects forever
    /page.mp3       an HTML page where audio was promised
    /auth/NAME      a registered file behind HTTP basic auth (`MediaServer.auth`, "user:password")
    /redirect?to=U  redirects to U (&body=NAME: with the bytes of file NAME as the redirect's body, as registered)
    /trickle        a feed that arrives one byte every 0.1 s, for 30 s
    /endless        a body without a length that goes on for 64 MB
    /trickle.m3u8   an HLS playlist that arrives one byte every 0.1 s, for 30 s
    /endless.m3u8   an HLS playlist of comment lines, without a length, that goes on for 64 MB
"""

from __future__ import annotations

import base64
import mimetypes
import threading
import time
import zlib
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

import pytest

mimetypes.add_type("audio/ogg", ".opus")
mimetypes.add_type("audio/flac", ".flac")
mimetypes.add_type("text/vtt", ".vtt")
mimetypes.add_type("application/srt", ".srt")
HLS = "application/vnd.apple.mpegurl"


def gzip_bomb(gigabytes: int, head: bytes = b"") -> bytes:
    """A gzip body that inflates to `head` and then `gigabytes` GiB of zeros from about a thousandth of that: one
    deflate block of 1 MiB of zeros, repeated (built at once, where compressing the zeros would take minutes). Its
    trailer's checksum is not the body's: a reader that stops at its limit never gets that far, and a hostile server
    need not bother either."""
    deflate = zlib.compressobj(9, zlib.DEFLATED, -zlib.MAX_WBITS)
    start = deflate.compress(head) + deflate.flush(zlib.Z_FULL_FLUSH)
    block = deflate.compress(bytes(1 << 20)) + deflate.flush(zlib.Z_FULL_FLUSH)
    header = b"\x1f\x8b\x08\x00\x00\x00\x00\x00\x02\xff"
    return header + start + block * (gigabytes << 10) + deflate.flush() + bytes(8)


@dataclass
class MediaServer:
    base: str
    files: dict[str, bytes] = field(default_factory=dict)
    types: dict[str, str] = field(default_factory=dict)
    requests: list[tuple[str, dict[str, str]]] = field(default_factory=list)
    dropped: set[str] = field(default_factory=set)
    sent: int = 0  # bytes of the unending bodies sent so far
    auth: str | None = None
    encodings: dict[str, str] = field(default_factory=dict)  # a file's Content-Encoding, when it is sent compressed

    def add(self, name: str, content: bytes | Path, content_type: str | None = None, encoding: str = "") -> str:
        """Serve `content` at /f/`name`; with `encoding`, its bytes are sent as they are under that Content-Encoding."""
        data = content.read_bytes() if isinstance(content, Path) else content
        self.files[name] = data
        self.types[name] = content_type or mimetypes.guess_type(name)[0] or "application/octet-stream"
        if encoding:
            self.encodings[name] = encoding
        return f"{self.base}/f/{name}"

    def url(self, path: str) -> str:
        return f"{self.base}{path}"

    def headers_for(self, path: str) -> list[dict[str, str]]:
        return [headers for p, headers in self.requests if p == path]


def _handler(server: MediaServer) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def log_message(self, *args: object) -> None:  # keep test output clean
            pass

        def do_GET(self) -> None:  # noqa: N802 - the stdlib's name
            server.requests.append((self.path, dict(self.headers)))
            path = self.path.split("?")[0]
            if path.startswith("/f/"):
                self._file(path[3:])
            elif path.startswith("/drop/"):
                self._dropping(path[6:])
            elif path.startswith("/status/"):
                self._plain(int(path[8:]), b"status")
            elif path == "/slow":
                time.sleep(5)
                self._plain(200, b"too late")
            elif path == "/loop":
                self.send_response(302)
                self.send_header("Location", "/loop?again")
                self.send_header("Content-Length", "0")
                self.end_headers()
            elif path == "/page.mp3":
                self._plain(200, b"<!doctype html><html><body>Not audio</body></html>", "text/html; charset=utf-8")
            elif path.startswith("/auth/"):
                self._authorized(path[6:])
            elif path == "/redirect":
                query = parse_qs(urlsplit(self.path).query)
                body = server.files[query["body"][0]] if "body" in query else b""
                self.send_response(302)
                self.send_header("Location", query["to"][0])
                if "body" in query and query["body"][0] in server.encodings:
                    self.send_header("Content-Encoding", server.encodings[query["body"][0]])
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)
            elif path == "/trickle":
                self._unending(b"<", 300, 0.1)
            elif path == "/endless":
                self._unending(b" " * 65536, 1024, 0)
            elif path == "/trickle.m3u8":
                self._unending(b"#", 300, 0.1, first=b"#EXTM3U\n", content_type=HLS)
            elif path == "/endless.m3u8":
                self._unending(b"#" * 65535 + b"\n", 1024, 0, first=b"#EXTM3U\n", content_type=HLS)
            else:
                self._plain(404, b"not found")

        def _plain(self, code: int, body: bytes, content_type: str = "text/plain") -> None:
            self.send_response(code)
            self.send_header("Content-Type", content_type)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def _file(self, name: str) -> None:
            if name not in server.files:
                self._plain(404, b"not found")
                return
            data = server.files[name]
            start = 0
            range_header = self.headers.get("Range")
            if range_header and range_header.startswith("bytes="):
                start = int(range_header[6:].split("-")[0] or 0)
                if start >= len(data):
                    self.send_response(416)
                    self.send_header("Content-Range", f"bytes */{len(data)}")
                    self.send_header("Content-Length", "0")
                    self.end_headers()
                    return
                self.send_response(206)
                self.send_header("Content-Range", f"bytes {start}-{len(data) - 1}/{len(data)}")
            else:
                self.send_response(200)
            self.send_header("Accept-Ranges", "bytes")
            self.send_header("Content-Type", server.types[name])
            if name in server.encodings:
                self.send_header("Content-Encoding", server.encodings[name])
            self.send_header("Content-Length", str(len(data) - start))
            self.end_headers()
            self.wfile.write(data[start:])

        def _authorized(self, name: str) -> None:
            expected = "Basic " + base64.b64encode((server.auth or "").encode()).decode()
            if self.headers.get("Authorization") != expected:
                self.send_response(401)
                self.send_header("WWW-Authenticate", 'Basic realm="feed"')
                self.send_header("Content-Length", "0")
                self.end_headers()
                return
            self._file(name)

        def _unending(
            self, chunk: bytes, times: int, pause: float, first: bytes = b"", content_type: str = "application/rss+xml"
        ) -> None:
            """A body with no length, `first` then `times` times `chunk`, `pause` seconds apart (until the client hangs
            up); what was sent is counted in `MediaServer.sent`."""
            self.send_response(200)
            self.send_header("Content-Type", content_type)
            self.send_header("Connection", "close")
            self.end_headers()
            self.close_connection = True
            for part in [first, *[chunk] * times]:
                self.wfile.write(part)
                self.wfile.flush()
                server.sent += len(part)
                time.sleep(pause)

        def _dropping(self, name: str) -> None:
            if name in server.dropped or self.headers.get("Range"):
                self._file(name)
                return
            server.dropped.add(name)
            data = server.files[name]
            self.send_response(200)
            self.send_header("Accept-Ranges", "bytes")
            self.send_header("Content-Type", server.types[name])
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data[: len(data) // 2])
            self.wfile.flush()
            self.close_connection = True
            self.connection.shutdown(2)

    return Handler


class _QuietServer(ThreadingHTTPServer):
    def handle_error(self, request: object, client_address: object) -> None:
        """The /drop route breaks connections on purpose; the resulting tracebacks are expected noise."""


@contextmanager
def serve_media(host: str = "127.0.0.1", port: int = 0) -> Iterator[MediaServer]:
    """A server on `port` (by default a free one) of `host` for the duration of the block."""
    holder = MediaServer(base="")
    httpd = _QuietServer((host, port), _handler(holder))
    httpd.daemon_threads = True
    holder.base = f"http://{host}:{httpd.server_address[1]}"
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    try:
        yield holder
    finally:
        httpd.shutdown()
        httpd.server_close()


@pytest.fixture
def http_server() -> Iterator[MediaServer]:
    """A fresh server per test on a free port of 127.0.0.1."""
    with serve_media() as server:
        yield server


@pytest.fixture
def other_http_server() -> Iterator[MediaServer]:
    """A second server, on another port: another origin, as another host would be."""
    with serve_media() as server:
        yield server
