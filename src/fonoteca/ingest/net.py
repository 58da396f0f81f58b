"""What a feed may make fonoteca fetch or read, and the HTTP clients that enforce it.

The feed address the user gives is their choice. Every address named *inside* a feed (enclosures, transcripts, and
where those redirect) is the publisher's: a feed on the web may only point at http(s) on the public internet, so it can
neither make fonoteca read the machine's files nor reach its own services, the LAN or a cloud metadata endpoint; a feed
file may also point at files inside its own folder. The policy is checked where a URL is parsed and again where it is
read, so a URL stored by an older version cannot slip past it.
"""

from __future__ import annotations

import base64
import ipaddress
import socket
import time
from collections.abc import Callable, Generator, Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING
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


def is_public(address: IPAddress) -> bool:
    """Whether an address is on the public internet: not loopback, private, link-local (169.254.169.254, the cloud
    metadata endpoint), carrier-grade NAT, unspecified, reserved or multicast, also when wrapped in an IPv6 address."""
    if isinstance(address, ipaddress.IPv6Address):
        embedded = address.ipv4_mapped or address.sixtofour
        if embedded is None and address in ipaddress.IPv6Network("64:ff9b::/96"):  # NAT64 of an IPv4 address
            embedded = ipaddress.IPv4Address(int(address) & 0xFFFFFFFF)
        if embedded is not None and not is_public(embedded):
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


class _CheckedBackend(httpcore.SyncBackend):
    def __init__(self, allowed: Callable[[IPAddress], bool]) -> None:
        self.allowed = allowed

    def connect_tcp(
        self,
        host: str,
        port: int,
        timeout: float | None = None,
        local_address: str | None = None,
        socket_options: Iterable[httpcore.SOCKET_OPTION] | None = None,
    ) -> httpcore.NetworkStream:
        # TLS still verifies and sends the host name: httpcore takes it from the request, not from this address.
        address = checked_address(host, port, self.allowed)
        return super().connect_tcp(address, port, timeout, local_address, socket_options)


class PublicOnlyTransport(httpx.HTTPTransport):
    """Connects only to addresses that are `allowed` (public ones): every connection is checked, so are redirects."""

    def __init__(self, allowed: Callable[[IPAddress], bool] = is_public) -> None:
        super().__init__()
        # httpx has no public way to choose the network backend; its pool is rebuilt with the same TLS defaults.
        self._pool = httpcore.ConnectionPool(
            ssl_context=httpx.create_ssl_context(), network_backend=_CheckedBackend(allowed)
        )


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


def client(settings: Settings, *, public_only: bool, origin: Origin | None = None) -> httpx.Client:
    timeout = httpx.Timeout(settings.download_timeout, connect=min(settings.download_timeout, 15.0))
    return httpx.Client(
        follow_redirects=True,
        max_redirects=10,
        timeout=timeout,
        headers={"User-Agent": USER_AGENT},
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
    with client.stream("GET", url) as response:
        if response.status_code >= 400:
            failure = unreachable if unreachable and response.status_code in RETRYABLE_STATUS else error
            raise failure(f"{what} answered {response.status_code} {response.reason_phrase}", hint)
        length = response.headers.get("content-length", "")
        if length.isdigit() and int(length) > limit:
            raise _too_big(what, max_mb, error)
        body = bytearray()
        for chunk in response.iter_bytes():  # as it arrives: a chunk size would wait for that many bytes
            body += chunk
            if len(body) > limit:
                raise _too_big(what, max_mb, error)
            if time.monotonic() > ends:
                raise error(
                    f"{what} took longer than {deadline:g} s to arrive",
                    "the server is very slow; try again later, or raise the limit with FONOTECA_FEED_DEADLINE",
                )
        return str(response.url), bytes(body)


def _too_big(what: str, max_mb: int, error: type[FonotecaError]) -> FonotecaError:
    return error(f"{what} is over the {max_mb} MB limit", "raise the limit with FONOTECA_MAX_FEED_MB")
