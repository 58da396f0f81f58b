"""Downloading enclosures: streamed to a .part file, resumed with Range, retried with back-off, size- and time-limited,
and checked to be decodable media before the episode counts as downloaded."""

from __future__ import annotations

import socket
import time
from collections.abc import Callable
from pathlib import Path

import httpx

from fonoteca.errors import MediaError, MediaUnreachable, disk_error
from fonoteca.ingest.media import probe
from fonoteca.ingest.net import RETRYABLE_STATUS, Origin, decoded_body, streamed
from fonoteca.settings import Settings

ByteProgress = Callable[[int, int | None], None]  # (bytes so far, total or None)


class _Retry(Exception):
    """A transient failure worth another attempt (connection dropped, 5xx, timeout)."""


def download(
    url: str,
    dest: Path,
    settings: Settings,
    *,
    origin: Origin = Origin(),  # noqa: B008 - immutable; by default the strictest: named by a feed on the web
    on_progress: ByteProgress | None = None,
    backoff: float = 1.0,
) -> Path:
    """Fetch `url` into `dest` and verify it decodes; a MediaError/FonotecaError names the problem and the fix.

    `origin` is the show that named the URL: what it may point at, and whose credentials go with it."""
    origin.check(url)
    part = dest.with_name(dest.name + ".part")
    try:
        dest.parent.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise disk_error(exc, dest.parent) from exc
    last_error = ""
    ends = time.monotonic() + settings.download_deadline
    with origin.client(settings) as client:
        for attempt in range(settings.download_retries + 1):
            if attempt:
                time.sleep(backoff * 2 ** (attempt - 1))
            try:
                _fetch_once(client, url, part, settings, on_progress, ends)
                break
            except _Retry as exc:
                last_error = str(exc)
        else:
            raise MediaUnreachable(
                f"download of {url} failed after {settings.download_retries + 1} attempts: {last_error}",
                "the server is unreliable; run `fonoteca retry` later (the download resumes where it stopped)",
            )
    try:
        probe(part, f"the enclosure {url}")
    except MediaError:
        part.unlink(missing_ok=True)
        raise
    part.replace(dest)
    return dest


def _fetch_once(
    client: httpx.Client, url: str, part: Path, settings: Settings, on_progress: ByteProgress | None, ends: float
) -> None:
    have = part.stat().st_size if part.exists() else 0
    headers = {"Range": f"bytes={have}-"} if have else {}
    limit = settings.max_download_mb * 1024 * 1024
    try:
        with streamed(client, url, headers) as response:
            if response.status_code == 416 and have:
                return  # everything is already here
            if response.status_code in RETRYABLE_STATUS:
                raise _Retry(f"{response.status_code} {response.reason_phrase}")
            if response.status_code >= 400:
                raise MediaError(
                    f"the enclosure {url} answered {response.status_code} {response.reason_phrase}",
                    "the file was moved or removed; check the feed, then run `fonoteca sync` again",
                )
            content_type = response.headers.get("content-type", "").split(";")[0].strip().lower()
            if content_type in ("text/html", "application/xhtml+xml"):
                raise MediaError(
                    f"the enclosure {url} is a web page ({content_type}), not audio or video",
                    "the feed links to a page instead of the media file; tell the publisher",
                )
            resumed = response.status_code == 206
            if not resumed:
                have = 0  # the server ignored Range: start over
            remaining = response.headers.get("content-length")
            total = have + int(remaining) if remaining and remaining.isdigit() else None
            if total is not None and total > limit:
                raise MediaError(
                    f"the enclosure {url} is {total / 2**20:.0f} MB, over the {settings.max_download_mb} MB limit",
                    "raise the limit with FONOTECA_MAX_DOWNLOAD_MB",
                )
            try:
                with part.open("ab" if resumed else "wb") as out:
                    done = have
                    for chunk in decoded_body(response):
                        out.write(chunk)
                        done += len(chunk)
                        if max(done, have + response.num_bytes_downloaded) > limit:  # inflated, or as sent
                            raise MediaError(
                                f"the enclosure {url} is over the {settings.max_download_mb} MB limit",
                                "raise the limit with FONOTECA_MAX_DOWNLOAD_MB",
                            )
                        if time.monotonic() > ends:
                            raise _past_deadline(f"the download of {url}", settings)
                        if on_progress:
                            on_progress(done, total)
            except OSError as exc:
                raise disk_error(exc, part) from exc
            if total is not None and have + response.num_bytes_downloaded < total:  # as sent, before inflating
                raise _Retry(f"connection closed after {done} of {total} bytes")
    except MediaUnreachable:
        raise  # past the deadline: what arrived is resumed from
    except MediaError:
        part.unlink(missing_ok=True)  # a permanent failure: nothing worth resuming
        raise
    except httpx.TooManyRedirects as exc:
        raise MediaError(f"the enclosure {url} redirects in a loop", "the publisher's server is misconfigured") from exc
    except (httpx.UnsupportedProtocol, httpx.InvalidURL) as exc:
        # Asking again cannot change the address: fail now instead of backing off.
        raise MediaError(
            f"the enclosure address {url} cannot be downloaded ({exc})", "fonoteca downloads http:// and https:// links"
        ) from exc
    except httpx.ConnectError as exc:
        if _unresolvable(exc):
            raise MediaError(
                f"the host of {url} cannot be found ({_root(exc)})",
                "check the address and your internet connection, then run `fonoteca retry`",
            ) from exc
        raise _Retry(f"{type(exc).__name__}: {exc}") from exc
    except (httpx.TransportError, httpx.RemoteProtocolError, httpx.DecodingError) as exc:
        raise _Retry(f"{type(exc).__name__}: {exc}") from exc


def _past_deadline(what: str, settings: Settings) -> MediaUnreachable:
    """A download past FONOTECA_DOWNLOAD_DEADLINE: a server that sends a byte now and then never trips the timeout of
    one read. What arrived is kept, and the next attempt resumes from it."""
    return MediaUnreachable(
        f"{what} took longer than {settings.download_deadline:g} s in all",
        "the server is very slow or stalls on purpose; `fonoteca retry` resumes it later, or raise the limit with "
        "FONOTECA_DOWNLOAD_DEADLINE",
    )


def _root(exc: BaseException) -> BaseException:
    while exc.__cause__ or exc.__context__:
        exc = exc.__cause__ or exc.__context__  # type: ignore[assignment]
    return exc


def _unresolvable(exc: BaseException) -> bool:
    """A DNS failure: the name does not exist (or no resolver answers), so back-off and retries only add waiting."""
    return isinstance(_root(exc), socket.gaierror)
