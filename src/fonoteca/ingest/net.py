"""What a feed may make fonoteca fetch or read, and the HTTP clients that enforce it.

The feed address the user gives is their choice. Every address named *inside* a feed (enclosures, transcripts, and
where those redirect) is the publisher's: a feed on the web may only point at http(s) on the public internet, so it can
neither make fonoteca read the machine's files nor reach its own services, the LAN or a cloud metadata endpoint; a feed
file may also point at files inside its own folder. The policy is checked where a URL is parsed and again where it is
read, so a URL stored by an older version cannot slip past it.
"""

from __future__ import annotations

import base64
import contextlib
import ipaddress
import socket
import ssl
import time
import zlib
from collections.abc import Callable, Generator, Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any
from urllib.parse import unquote, urlsplit, urlunsplit
from urllib.request import url2pathname

import httpcore
import httpx

from fonoteca.errors import FonotecaError, MediaError
from fonoteca.settings import Settings

if TYPE_CHECKING:
    from fonoteca.archive import Show

USER_AGENT = "fonoteca/0.1 (+podcast archive)"
_WEB = ("http", "https")
_DEFAULT_PORT = {"http": 80, "https": 443}
_PRIVATE_HINT = (
    "a feed may only point at public internet addresses; if it is your own server (a podcast server on your home "
    "network), allow it with FONOTECA_ALLOW_PRIVATE_URLS=1"
)

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address


def is_remote(source: str) -> bool:
    return urlsplit(source).scheme.lower() in _WEB


def local_path(url: str) -> Path | None:
    """The file a file:// URL (or a plain path) points at."""
    parsed = urlsplit(url)
    if parsed.scheme == "file":
        return Path(url2pathname(parsed.path))
    if parsed.scheme == "":
        return Path(url)
    return None


def split_credentials(url: str) -> tuple[str, str | None]:
    """`https://user:pw@host/feed` as (`https://host/feed`, `user:pw`); other URLs and paths unchanged, with None."""
    if not is_remote(url):
        return url, None
    parts = urlsplit(url)
    userinfo, at, hostport = parts.netloc.rpartition("@")
    if not at:
        return url, None
    return urlunsplit(parts._replace(netloc=hostport)), userinfo


# IPv6 ranges that carry an IPv4 address in their last 32 bits: the deprecated IPv4-compatible ::/96, the
# IPv4-translated ::ffff:0:0:0/96 (RFC 2765) and NAT64's well-known prefix (RFC 6052). The standard library's
# `ipv4_mapped`, `sixtofour` and `teredo` name the others.
_EMBEDDING_IPV4 = tuple(ipaddress.IPv6Network(n) for n in ("::/96", "::ffff:0:0:0/96", "64:ff9b::/96"))
# Never the public internet, though Python 3.11's `is_global` says so: NAT64 for a local network (RFC 8215), and
# site-local addresses (deprecated by RFC 3879, still routed inside some networks).
_LOCAL_IPV6 = tuple(ipaddress.IPv6Network(n) for n in ("64:ff9b:1::/48", "fec0::/10"))


def embedded_ipv4(address: ipaddress.IPv6Address) -> list[ipaddress.IPv4Address]:
    """The IPv4 addresses an IPv6 address carries (mapped, compatible, translated, 6to4, NAT64, Teredo's server and
    client), which is where a connection to it may end up."""
    found = [a for a in (address.ipv4_mapped, address.sixtofour) if a is not None]
    if address.teredo:
        found += address.teredo
    if any(address in network for network in _EMBEDDING_IPV4):
        found.append(ipaddress.IPv4Address(int(address) & 0xFFFFFFFF))
    return found


def is_public(address: IPAddress) -> bool:
    """Whether an address is on the public internet: not loopback, private, link-local (169.254.169.254, the cloud
    metadata endpoint), carrier-grade NAT, unspecified, reserved, site-local or multicast, also when it carries an
    IPv4 address inside an IPv6 one."""
    if isinstance(address, ipaddress.IPv6Address):
        if address.is_site_local or any(address in network for network in _LOCAL_IPV6):
            return False
        if not all(is_public(embedded) for embedded in embedded_ipv4(address)):
            return False
    return address.is_global and not address.is_multicast


def checked_address(host: str, port: int, allowed: Callable[[IPAddress], bool] = is_public) -> str:
    """The address to connect to for `host`: every address the name resolves to must be `allowed`, and the connection
    goes to the address that was checked, so a second DNS answer cannot swap in an internal one (DNS rebinding)."""
    try:
        infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    except OSError as exc:
        # Shaped like the error the default backend raises, so callers still tell "no such host" from other failures.
        raise httpcore.ConnectError(str(exc)) from exc
    addresses = [ipaddress.ip_address(info[4][0].split("%")[0]) for info in infos]
    for address in addresses:
        if not allowed(address):
            name = host if host == str(address) else f"{host} ({address})"
            raise MediaError(f"refused to connect to {name}: not a public internet address", _PRIVATE_HINT)
    return str(addresses[0])


class _DeadlineStream(httpcore.NetworkStream):
    """A connection whose every read and write waits no longer than what is left until `ends` (time.monotonic()):
    a server that sends a byte every few seconds passes each read's timeout, never this."""

    def __init__(self, stream: httpcore.NetworkStream, ends: float) -> None:
        self.stream, self.ends = stream, ends

    def _left(self, timeout: float | None, error: type[httpcore.TimeoutException]) -> float:
        left = self.ends - time.monotonic()
        if left <= 0:
            raise error("the deadline passed")
        return left if timeout is None else min(timeout, left)

    def read(self, max_bytes: int, timeout: float | None = None) -> bytes:
        return self.stream.read(max_bytes, self._left(timeout, httpcore.ReadTimeout))

    def write(self, buffer: bytes, timeout: float | None = None) -> None:
        self.stream.write(buffer, self._left(timeout, httpcore.WriteTimeout))

    def close(self) -> None:
        self.stream.close()

    def start_tls(
        self, ssl_context: ssl.SSLContext, server_hostname: str | None = None, timeout: float | None = None
    ) -> httpcore.NetworkStream:
        left = self._left(timeout, httpcore.ConnectTimeout)
        return _DeadlineStream(self.stream.start_tls(ssl_context, server_hostname, left), self.ends)

    def get_extra_info(self, info: str) -> Any:
        return self.stream.get_extra_info(info)


class _GuardedBackend(httpcore.SyncBackend):
    def __init__(self, allowed: Callable[[IPAddress], bool] | None, ends: float | None) -> None:
        self.allowed, self.ends = allowed, ends

    def connect_tcp(
        self,
        host: str,
        port: int,
        timeout: float | None = None,
        local_address: str | None = None,
        socket_options: Iterable[httpcore.SOCKET_OPTION] | None = None,
    ) -> httpcore.NetworkStream:
        # TLS still verifies and sends the host name: httpcore takes it from the request, not from this address.
        address = checked_address(host, port, self.allowed) if self.allowed else host
        if self.ends is None:
            return super().connect_tcp(address, port, timeout, local_address, socket_options)
        left = max(self.ends - time.monotonic(), 0.001)
        timeout = left if timeout is None else min(timeout, left)
        stream = super().connect_tcp(address, port, timeout, local_address, socket_options)
        return _DeadlineStream(stream, self.ends)


class GuardedTransport(httpx.HTTPTransport):
    """Connects only to addresses that are `allowed` (None: any), every connection checked, so are redirects; with a
    `deadline`, every request through it ends within that many seconds of the transport's creation, however slowly
    the server answers."""

    def __init__(self, allowed: Callable[[IPAddress], bool] | None = None, *, deadline: float | None = None) -> None:
        super().__init__()
        ends = time.monotonic() + deadline if deadline is not None else None
        # httpx has no public way to choose the network backend; its pool is rebuilt with the same TLS defaults.
        self._pool = httpcore.ConnectionPool(
            ssl_context=httpx.create_ssl_context(), network_backend=_GuardedBackend(allowed, ends)
        )


class PublicOnlyTransport(GuardedTransport):
    """Connects only to addresses that are `allowed` (public ones): every connection is checked, so are redirects."""

    def __init__(self, allowed: Callable[[IPAddress], bool] = is_public) -> None:
        super().__init__(allowed)


def _origin(url: httpx.URL) -> tuple[str, str, int | None]:
    return url.scheme, url.host, url.port or _DEFAULT_PORT.get(url.scheme)


class _OriginBasicAuth(httpx.Auth):
    """HTTP basic auth for one scheme + host + port only. httpx applies an Auth to the first request of a send and
    drops Authorization on a redirect to another origin, so no other host ever sees the credentials."""

    def __init__(self, feed_url: str, userinfo: str) -> None:
        self.origin = _origin(httpx.URL(feed_url))
        user, _, password = userinfo.partition(":")
        token = base64.b64encode(f"{unquote(user)}:{unquote(password)}".encode()).decode()
        self.header = f"Basic {token}"

    def auth_flow(self, request: httpx.Request) -> Generator[httpx.Request, httpx.Response, None]:
        if _origin(request.url) == self.origin:
            request.headers["Authorization"] = self.header
        yield request


@dataclass(frozen=True)
class Origin:
    """The show an address was found in: its source (feed URL, feed file or media folder) and the feed's credentials.

    The default is the strictest case, a feed on the web without credentials."""

    source: str = "https://"
    credentials: str | None = field(default=None, repr=False)
    kind: str = "feed"  # feed | folder | platform (a channel or page read by yt-dlp: on the web, like a feed)

    @classmethod
    def of(cls, show: Show) -> Origin:
        return cls(show.source, show.credentials, show.source_kind)

    @property
    def remote(self) -> bool:
        return self.kind in ("feed", "platform") and is_remote(self.source)

    def refusal(self, url: str) -> str | None:
        """Why this show may not point at `url`, or None when it may."""
        scheme = urlsplit(url).scheme.lower()
        if scheme in _WEB or self.kind == "folder":
            return None
        if self.remote:
            return "a feed on the web may only point at http:// and https:// addresses"
        target, feed = local_path(url), local_path(self.source)
        if target is None or feed is None:
            return f"a feed file may only point at http(s) addresses and files in its folder, not {scheme}:"
        if not target.resolve().is_relative_to(feed.expanduser().resolve().parent):
            return "a feed file may only point at files in its own folder"
        return None

    def check(self, url: str) -> None:
        if reason := self.refusal(url):
            raise MediaError(f"{url} cannot be downloaded: {reason}", "nothing was read; the feed's link is refused")

    def client(self, settings: Settings) -> httpx.Client:
        """A client for the addresses this show names: public addresses only for a feed on the web (unless the user
        allows private ones), and the feed's credentials for the feed's own host."""
        return client(settings, public_only=self.remote and not settings.allow_private_urls, origin=self)

    def auth(self) -> httpx.Auth | None:
        return _OriginBasicAuth(self.source, self.credentials) if self.credentials and is_remote(self.source) else None

    def read_file(self, url: str, settings: Settings, *, what: str, hint: str) -> bytes:
        """A file the publisher links beside an episode (a transcript, a chapters file): from the web, size- and
        time-limited like a feed, or a file, each only where this show may point."""
        self.check(url)
        if not is_remote(url):
            return (local_path(url) or Path(url)).read_bytes()
        with self.client(settings) as web:
            return read_limited(
                web,
                url,
                what=what,
                max_mb=settings.max_feed_mb,
                deadline=settings.feed_deadline,
                error=MediaError,
                hint=hint,
            )[1]


def client(settings: Settings, *, public_only: bool, origin: Origin | None = None) -> httpx.Client:
    timeout = httpx.Timeout(settings.download_timeout, connect=min(settings.download_timeout, 15.0))
    return httpx.Client(
        follow_redirects=True,
        max_redirects=10,
        timeout=timeout,
        # The codings `decoded_body` undoes; httpx would add br and zstd when their libraries are installed.
        headers={"User-Agent": USER_AGENT, "Accept-Encoding": "gzip, deflate"},
        auth=origin.auth() if origin else None,
        transport=PublicOnlyTransport() if public_only else None,
        # A proxy from the environment would connect on fonoteca's behalf, past the address check.
        trust_env=not public_only,
    )


# Answers that say "not now" rather than "not here": the same request may succeed later.
RETRYABLE_STATUS = frozenset({408, 425, 429, 500, 502, 503, 504})


def read_limited(
    client: httpx.Client,
    url: str,
    *,
    what: str,
    max_mb: int,
    deadline: float,
    error: type[FonotecaError],
    hint: str,
    unreachable: type[FonotecaError] | None = None,
) -> tuple[str, bytes]:
    """GET `url`: the address it was finally read from and its body, stopping at `max_mb` or after `deadline` seconds
    in all (the client's timeout bounds each read only: a server sending a byte every few seconds never hits it).

    An answer that means "not now" (RETRYABLE_STATUS) raises `unreachable` instead of `error` when it is given."""
    limit = max_mb * 1024 * 1024
    ends = time.monotonic() + deadline
    with streamed(client, url) as response:
        if response.status_code >= 400:
            failure = unreachable if unreachable and response.status_code in RETRYABLE_STATUS else error
            raise failure(f"{what} answered {response.status_code} {response.reason_phrase}", hint)
        length = response.headers.get("content-length", "")
        if length.isdigit() and int(length) > limit:
            raise _too_big(what, max_mb, error)
        body = bytearray()
        for chunk in decoded_body(response):
            body += chunk
            if len(body) > limit or response.num_bytes_downloaded > limit:
                raise _too_big(what, max_mb, error)
            if time.monotonic() > ends:
                raise error(
                    f"{what} took longer than {deadline:g} s to arrive",
                    "the server is very slow; try again later, or raise the limit with FONOTECA_FEED_DEADLINE",
                )
        return str(response.url), bytes(body)


@contextlib.contextmanager
def streamed(client: httpx.Client, url: str, headers: dict[str, str] | None = None) -> Iterator[httpx.Response]:
    """GET `url` as a stream, following its redirects as the client would (its limit, its auth per origin), but never
    reading a redirect's body: httpx reads that whole, inflated, before it follows, and a 302 may carry gigabytes."""
    request = client.build_request("GET", url, headers=headers)
    for _ in range(client.max_redirects + 1):
        response = client.send(request, stream=True, follow_redirects=False)
        if response.next_request is None:
            try:
                yield response
            finally:
                response.close()
            return
        response.close()
        request = response.next_request
    raise httpx.TooManyRedirects(f"more than {client.max_redirects} redirects", request=request)


def _too_big(what: str, max_mb: int, error: type[FonotecaError]) -> FonotecaError:
    return error(f"{what} is over the {max_mb} MB limit", "raise the limit with FONOTECA_MAX_FEED_MB")


# -- compressed answers ----------------------------------------------------------------------------------------------

# How zlib reads each Content-Encoding fonoteca undoes: gzip, and deflate (RFC 9110's zlib format, or raw deflate as
# some servers send it; told apart by its first two bytes). Any other coding is passed on as it came, as httpx and
# yt-dlp do with one they do not know.
_GZIP, _ZLIB, _RAW_DEFLATE = zlib.MAX_WBITS | 16, zlib.MAX_WBITS, -zlib.MAX_WBITS
_PART = 1 << 16


def content_codings(header: str) -> list[str]:
    """The codings of a Content-Encoding header that fonoteca undoes, in the order to undo them (the last applied
    first)."""
    codings = [coding.strip().lower() for coding in header.split(",")]
    return [coding for coding in reversed(codings) if coding in ("gzip", "x-gzip", "deflate")]


def inflated(parts: Iterable[bytes], codings: list[str], size: int = _PART) -> Iterator[bytes]:
    """`parts` of a body as they arrive, with `codings` (content_codings) undone, never more than `size` bytes at a
    time: a few kilobytes of gzip inflate to gigabytes, and two layers of it to terabytes, which a decoder that inflates
    each part whole (httpx's, yt-dlp's) holds in memory. A part that inflates to nothing yet yields b"", so that a
    caller's deadline and limits are checked as the raw bytes arrive. A body that ends before its compressed data does
    raises zlib.error; what follows the compressed data is ignored (one gzip member, as httpx and yt-dlp read)."""
    for coding in codings:
        parts = _inflating(parts, coding, size)
    return iter(parts)


def _inflating(parts: Iterable[bytes], coding: str, size: int) -> Iterator[bytes]:
    inflater = None
    for part in parts:
        if inflater is None and part:
            zlib_header = len(part) > 1 and part[0] & 0x0F == 8 and (part[0] << 8 | part[1]) % 31 == 0
            inflater = zlib.decompressobj(_GZIP if coding != "deflate" else _ZLIB if zlib_header else _RAW_DEFLATE)
        given = False
        while inflater is not None and not inflater.eof:
            out = inflater.decompress(part, size)
            part = inflater.unconsumed_tail
            if out:
                given = True
                yield out
            if not part and len(out) < size:  # this part is used up, and all it inflates to given
                break
        if not given:
            yield b""
    if inflater is not None and not inflater.eof:
        raise zlib.error("the compressed answer ends before its data does")


def decoded_body(response: httpx.Response) -> Iterator[bytes]:
    """The body of a streamed httpx answer as it arrives, decoded by `inflated` (httpx's own decoders inflate each part
    whole); `response.num_bytes_downloaded` counts what came over the wire."""
    try:
        yield from inflated(response.iter_raw(), content_codings(response.headers.get("content-encoding", "")))
    except zlib.error as exc:
        raise httpx.DecodingError(f"its compressed data is damaged ({exc})", request=response.request) from exc
