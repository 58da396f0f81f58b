"""Shows that live on video platforms (YouTube, Twitch, Vimeo, PeerTube, a web page with a `<video>`), read with yt-dlp.

yt-dlp is the well-kept library that knows how some 1,800 sites list and serve their videos, and follows them as they
change; fonoteca uses it as a library (`YoutubeDL`), never special-cases a site beyond what its info dict says, and
takes only the audio.

Which addresses go to yt-dlp: an http(s) URL that one of yt-dlp's own site extractors claims (`suitable()`), or whose
path names a media file or an HLS playlist, is a platform show. yt-dlp's generic extractor claims every URL, so any
other address is read as a feed first (one request, as before); only when that answer is not a feed but a web page or
media (by its first bytes) does yt-dlp read it.

Network safety: yt-dlp does its own HTTP. Every connection it opens while working for fonoteca is checked like the
feeds' enclosures (src/fonoteca/ingest/net.py): public internet addresses only, unless FONOTECA_ALLOW_PRIVATE_URLS=1 —
the show's address, the pages and media it names, redirects, HLS fragments. Captions are fetched with fonoteca's own
checked client. What yt-dlp reads is bounded like a feed (`_Guard`): each page or playlist within FONOTECA_MAX_FEED_MB
and all of them within FONOTECA_FEED_DEADLINE, a download within FONOTECA_MAX_DOWNLOAD_MB and FONOTECA_DOWNLOAD_DEADLINE
(what it reads into memory on the way, an HLS playlist or key, within FONOTECA_MAX_FEED_MB); a compressed answer is
inflated as it is read, never whole; and what it would hand to an outside program (ffmpeg, for an encrypted HLS
stream), whose connections cannot be checked, is refused.
"""

from __future__ import annotations

import contextlib
import glob
import io
import itertools
import re
import socket
import threading
import urllib.request
import weakref
from collections.abc import Callable, Iterable, Iterator
from contextvars import ContextVar
from dataclasses import dataclass, field
from datetime import UTC, datetime
from html import escape
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import httpcore
import yt_dlp
import yt_dlp.networking._urllib as ytdlp_urllib
from yt_dlp.downloader.external import ExternalFD
from yt_dlp.networking.exceptions import RequestError, TransportError
from yt_dlp.utils import (
    DownloadError,
    ExtractorError,
    GeoRestrictedError,
    LazyList,
    PagedList,
    UnsupportedError,
    YoutubeDLError,
)

from fonoteca.archive import Segment, Source
from fonoteca.archive.models import Captions
from fonoteca.errors import FeedError, FonotecaError, MediaError, disk_error
from fonoteca.ingest.media import MEDIA_EXTENSIONS, probe
from fonoteca.ingest.net import Origin, checked_address, content_codings, inflated, is_public
from fonoteca.ingest.transcripts import fetch_transcript, kind_of, parse_transcript
from fonoteca.settings import Settings
from fonoteca.text import sanitize_html

UPDATE_HINT = (
    "sites change and yt-dlp follows them: update it with `pip install -U yt-dlp` (in a fonoteca checkout: raise the "
    "yt-dlp pin in pyproject.toml, then `make lock` and `make venv`)"
)
# Web pages, HLS playlists and the media containers' signatures (Ogg, MP3 with ID3, FLAC, WAV, Matroska/WebM).
_PAGE_OR_MEDIA = (b"<!doctype html", b"<html", b"#extm3u", b"oggs", b"id3", b"flac", b"riff", b"\x1a\x45\xdf\xa3")
_PRIVATE_HINT = (
    "what yt-dlp reads for fonoteca must be on the public internet; if it is your own server on your network, allow it "
    "with FONOTECA_ALLOW_PRIVATE_URLS=1"
)
_NOT_YET = ("is_live", "is_upcoming", "post_live")  # streams whose recording is not complete yet
_POSITIONAL_IDS = ("Generic", "HTML5MediaEmbed")  # ids like "page-2" name a position on the page, not a video


@dataclass
class PlatformEntry:
    guid: str
    title: str
    url: str  # what yt-dlp extracts this episode from: its page, or its media file when the page lists it inline
    kind: str = "video"  # audio | video
    published: str | None = None
    duration: float | None = None
    description: str = ""  # sanitised HTML
    link: str = ""
    image: str = ""


@dataclass
class Listing:
    title: str
    description: str
    link: str
    image: str
    entries: list[PlatformEntry]
    notes: list[str] = field(default_factory=list)  # entries left out, and why


# -- which URLs are yt-dlp's ---------------------------------------------------------------------------------------


def claims(url: str) -> bool:
    """Whether yt-dlp reads this address without asking it first: a site one of its own extractors (not the generic
    one) knows, or the address of a media file or an HLS playlist."""
    from yt_dlp.extractor import gen_extractor_classes

    if Path(urlsplit(url).path).suffix.lower() in MEDIA_EXTENSIONS | {".m3u8"}:
        return True
    return any(e.ie_key() != "Generic" and e.suitable(url) for e in gen_extractor_classes())


def is_page_or_media(data: bytes) -> bool:
    """Whether what an address answered is a web page, an HLS playlist or a media file (by its first bytes): what
    yt-dlp's generic extractor reads, where a feed was not found."""
    head = data[:64].lstrip().lower()
    return head.startswith(_PAGE_OR_MEDIA) or head[4:8] == b"ftyp"  # ftyp: MP4 / M4A


# -- every connection yt-dlp makes is checked ----------------------------------------------------------------------


class _Guard:
    """What one yt-dlp call may do, enforced where its sockets open and its answers are read: connect to checked
    addresses only (`check_addresses`), read at most `response_limit` bytes of one answer that is held in memory (a
    page, a playlist, a key: yt-dlp reads those whole; in a `download`, the media it reads in parts into a file is not
    held to it) and `total_limit` bytes of all of them (a download's media and HLS fragments), and end within
    `deadline` seconds (a server that sends a byte now and then never trips the socket timeout). The first breach is
    kept in `refusals`; from then on nothing more is read or connected, so yt-dlp's retries end at once."""

    def __init__(
        self,
        *,
        check_addresses: bool,
        deadline: tuple[float, str] | None = None,  # (seconds, the setting that raises it)
        response_limit: tuple[int, str] | None = None,  # (MB, the setting that raises it)
        total_limit: tuple[int, str] | None = None,
        download: bool = False,
    ) -> None:
        self.check_addresses, self.deadline, self.download = check_addresses, deadline, download
        self.response_limit, self.total_limit = response_limit, total_limit
        self.refusals: list[MediaError] = []
        self.total = 0
        self.per_response: weakref.WeakKeyDictionary[object, int] = weakref.WeakKeyDictionary()
        self.sockets: weakref.WeakSet[socket.socket] = weakref.WeakSet()
        self.lock = threading.Lock()

    def stop(self, error: MediaError) -> None:
        """Keep the reason and cut every connection of the call, so that a read waiting on one ends now."""
        with self.lock:
            self.refusals.append(error)
            sockets = list(self.sockets)
        for sock in sockets:
            with contextlib.suppress(OSError):
                sock.shutdown(socket.SHUT_RDWR)

    def expire(self) -> None:
        seconds, setting = self.deadline or (0.0, "")
        self.stop(
            MediaError(
                f"what yt-dlp read took longer than {seconds:g} s in all",
                f"the server is very slow or stalls on purpose; try again later, or raise the limit with {setting}",
            )
        )

    def count(self, response: object, size: int, *, whole: bool) -> None:
        """`size` more bytes of `response`; `whole` when the answer is being read whole into memory."""
        with self.lock:
            self.total += size
            self.per_response[response] = self.per_response.get(response, 0) + size
            one = self.per_response[response]
        in_memory = whole or not self.download
        for limit, read in ((self.response_limit if in_memory else None, one), (self.total_limit, self.total)):
            if limit and read > limit[0] * 1024 * 1024:
                self.stop(MediaError(f"what yt-dlp read is over the {limit[0]} MB limit", f"raise it with {limit[1]}"))

    def check(self) -> None:
        if self.refusals:
            raise TransportError(self.refusals[0].message)


# The guard of the yt-dlp call running in this context (thread); None outside fonoteca's calls.
_guard: ContextVar[_Guard | None] = ContextVar("fonoteca_ytdlp_guard", default=None)
_connect = ytdlp_urllib.create_connection
_read = ytdlp_urllib.UrllibResponseAdapter.read
_run_external = ExternalFD.real_download
_decode = ytdlp_urllib.HTTPHandler.http_response


def _checked_connection(address: tuple[str, int], *args: Any, **kwargs: Any) -> Any:
    """yt-dlp's urllib handler opens every socket through this name: the host is resolved and checked here, and the
    socket goes to the checked address, so neither a redirect nor a second DNS answer reaches a private one."""
    guard = _guard.get()
    if guard is None:
        return _connect(address, *args, **kwargs)
    if guard.refusals:
        raise OSError(guard.refusals[0].message)
    if guard.check_addresses:
        try:
            address = (_check_host(*address), address[1])
        except MediaError as exc:
            guard.refusals.append(exc)
            raise OSError(exc.message) from exc
        except httpcore.ConnectError as exc:
            raise OSError(str(exc)) from exc
    connection = _connect(address, *args, **kwargs)
    guard.sockets.add(connection)
    return connection


def _guarded_read(self: ytdlp_urllib.UrllibResponseAdapter, amt: int | None = None) -> bytes:
    """Every answer yt-dlp reads through its urllib handler, counted against the call's limits as it arrives: a page
    or playlist it reads whole is read here in parts, so an endless one stops at the limit, not at the memory's end."""
    guard = _guard.get()
    if guard is None:
        return _read(self, amt)
    if amt is None or amt < 0:
        parts = []
        while part := _counted_read(self, guard, 1 << 16, whole=True):
            parts.append(part)
        return b"".join(parts)
    return _counted_read(self, guard, amt, whole=False)


def _counted_read(self: ytdlp_urllib.UrllibResponseAdapter, guard: _Guard, amt: int, *, whole: bool) -> bytes:
    guard.check()
    data = _read(self, amt)
    guard.count(self, len(data), whole=whole)
    guard.check()
    return data


class _Inflating(io.RawIOBase):
    """A compressed answer's body, inflated as it is read (net.inflated), a part at a time."""

    def __init__(self, raw: Any, codings: list[str]) -> None:
        super().__init__()
        self.raw = raw
        # read1: what has arrived, so that a dripping answer is inflated as it drips, not after 64 KB of it.
        self.parts = inflated(iter(lambda: raw.read1(1 << 16), b""), codings)
        self.left = b""

    def readable(self) -> bool:
        return True

    def read(self, amt: int | None = -1) -> bytes:
        if amt is None or amt < 0:
            return b"".join(iter(lambda: self.read(1 << 16), b""))
        while not self.left:
            part = next(self.parts, None)
            if part is None:
                return b""
            self.left = part
        data, self.left = self.left[:amt], self.left[amt:]
        return data

    def close(self) -> None:
        self.raw.close()
        super().close()


def _guarded_answer(self: ytdlp_urllib.HTTPHandler, request: Any, response: Any) -> Any:
    """An answer as yt-dlp's handler passes it on, under a guard: a redirect's body, which urllib reads whole before it
    follows (a 302 may carry gigabytes), is not read at all; a compressed answer, which yt-dlp inflates whole before
    anything reads it (8 MB of gzip are 8 GB inflated), is inflated as it is read instead, in parts that the guard
    counts against its limits and cuts at its deadline."""
    codings = content_codings(response.headers.get("Content-Encoding", ""))
    redirect = response.status in (301, 302, 303, 307, 308)
    if _guard.get() is None or not (codings or redirect):
        return _decode(self, request, response)
    if redirect:
        response.close()
    body = io.BytesIO() if redirect else _Inflating(response, codings)
    answer = urllib.request.addinfourl(body, response.headers, response.url, response.status)
    answer.msg = response.msg
    return answer


def _no_external_program(self: ExternalFD, filename: str, info_dict: dict[str, Any]) -> Any:
    """yt-dlp hands what it cannot download itself (an HLS stream encrypted with SAMPLE-AES, or AES-128 when ffmpeg is
    installed) to a program such as ffmpeg, whose connections no check sees: refused while addresses are checked."""
    guard = _guard.get()
    if guard is not None and guard.check_addresses:
        guard.refusals.append(
            MediaError(
                f"{info_dict.get('webpage_url') or info_dict.get('url')} is a stream yt-dlp would hand to "
                f"{self.get_basename()} (an encrypted HLS stream: AES-128 or SAMPLE-AES), whose connections fonoteca "
                "cannot check; it is not downloaded",
                _PRIVATE_HINT,
            )
        )
        raise DownloadError(guard.refusals[-1].message)
    return _run_external(self, filename, info_dict)


# TLS still verifies and sends the host name: http.client takes it from the connection, not from this address.
ytdlp_urllib.create_connection = _checked_connection
ytdlp_urllib.UrllibResponseAdapter.read = _guarded_read  # type: ignore[method-assign]
ytdlp_urllib.HTTPHandler.http_response = ytdlp_urllib.HTTPHandler.https_response = _guarded_answer  # type: ignore[method-assign]
ExternalFD.real_download = _no_external_program  # type: ignore[method-assign]


def _check_host(host: str, port: int) -> str:
    """The checked address to connect to for `host` (see net.checked_address), or a MediaError that says how to allow
    a private one."""
    try:
        return checked_address(host, port, is_public)
    except MediaError as exc:
        raise MediaError(exc.message, _PRIVATE_HINT) from exc


def _check_url(url: str) -> None:
    parts = urlsplit(url)
    if parts.scheme in ("http", "https") and parts.hostname:
        _check_host(parts.hostname, parts.port or (443 if parts.scheme == "https" else 80))


@contextlib.contextmanager
def _guarding(guard: _Guard) -> Iterator[_Guard]:
    token = _guard.set(guard)
    timer = threading.Timer(guard.deadline[0], guard.expire) if guard.deadline else None
    if timer:
        timer.daemon = True
        timer.start()
    try:
        yield guard
    finally:
        if timer:
            timer.cancel()
        _guard.reset(token)


class _Quiet:
    """yt-dlp's messages stay out of fonoteca's output: its failures arrive as exceptions, with their reasons."""

    def debug(self, message: str) -> None:
        pass

    info = warning = error = debug


def _ydl(settings: Settings, **params: Any) -> yt_dlp.YoutubeDL:
    return yt_dlp.YoutubeDL({
        "logger": _Quiet(), "quiet": True, "no_warnings": True, "noprogress": True, "color": "no_color",
        "proxy": "",  # a proxy from the environment would connect on fonoteca's behalf, past the address check
        "compat_opts": {"prefer-legacy-http-handler"},  # the urllib handler, whose connections are checked
        "socket_timeout": settings.download_timeout, "retries": settings.download_retries,
        "fragment_retries": settings.download_retries, "concurrent_fragment_downloads": 1, "cachedir": False,
        **params,
    })  # fmt: skip


def _reading(settings: Settings) -> _Guard:
    """The guard of a call that reads pages, listings and playlists: each answer within FONOTECA_MAX_FEED_MB, all of
    them within FONOTECA_FEED_DEADLINE."""
    return _Guard(
        check_addresses=not settings.allow_private_urls,
        deadline=(settings.feed_deadline, "FONOTECA_FEED_DEADLINE"),
        response_limit=(settings.max_feed_mb, "FONOTECA_MAX_FEED_MB"),
    )


def _run(url: str, guard: _Guard, call: Callable[[], Any]) -> Any:
    """A yt-dlp call under `guard`, its errors turned into one line with the reason and the fix. What the guard
    refused fails the call even where yt-dlp went on without it (an HLS fragment it would skip)."""
    with _guarding(guard):
        try:
            if guard.check_addresses:  # refused before yt-dlp reads anything
                _check_url(url)
            result = call()
        except YoutubeDLError as exc:
            if guard.refusals:
                raise guard.refusals[0] from exc
            raise explained(url, exc) from exc
        except httpcore.ConnectError as exc:
            raise MediaError(
                f"the host of {url} cannot be found ({exc})", "check the address and your connection"
            ) from exc
    if guard.refusals:
        raise guard.refusals[0]
    return result


def explained(url: str, exc: YoutubeDLError) -> FonotecaError:
    cause = exc.exc_info[1] if isinstance(exc, DownloadError) and exc.exc_info else exc
    if isinstance(cause, RequestError) and "file://" in str(cause):
        return MediaError(
            f"{url} names a file on this machine (file://), which yt-dlp does not read for fonoteca",
            "a page or playlist on the web may only point at http(s) addresses",
        )
    reason = getattr(cause, "orig_msg", None) or str(cause)
    reason = re.sub(r"^(ERROR: )?(\[[\w:]+\] )?([\w-]+: )?", "", str(reason)).split("; please report")[0].strip()
    lowered = reason.lower()
    if isinstance(cause, UnsupportedError) or "unsupported url" in lowered:
        return FeedError(
            f"{url} is not an RSS/Atom feed, and yt-dlp finds no video or audio on it",
            "give the address of the show's feed, channel, playlist or video page",
        )
    if isinstance(cause, GeoRestrictedError) or "your country" in lowered or "geo" in lowered.split():
        return MediaError(f"geo-blocked: {reason}", "the site does not offer it in this country")
    if "member" in lowered or "join this channel" in lowered:
        return MediaError(f"members-only: {reason}", "only the channel's paying members may watch it")
    if "private" in lowered:
        return MediaError(f"private: {reason}", "its owner has made it private")
    if any(word in lowered for word in ("removed", "unavailable", "deleted", "terminated", "does not exist")):
        return MediaError(f"removed: {reason}", "it is no longer on the site")
    if isinstance(cause, ExtractorError) and not cause.expected:
        return MediaError(f"yt-dlp could not read {url}: {reason}", UPDATE_HINT)
    return MediaError(
        f"yt-dlp could not read {url}: {reason}", "check the address and your connection, and try again later"
    )


# -- listing a channel, playlist or page ---------------------------------------------------------------------------


def read_listing(url: str, settings: Settings, *, known: set[str]) -> Listing:
    """The show and its entries not in `known` (guids). A channel's own uploads are listed newest first, so the listing
    stops at the first known entry; any other listing is read whole. Live streams that have not ended are left out
    (until a later sync), each with a note."""

    def call() -> Listing:
        with _ydl(settings, extract_flat="in_playlist") as ydl:
            info = _unwrap(ydl, ydl.extract_info(url, download=False, process=False))
            if info.get("_type") != "playlist":
                info = ydl.process_ie_result(info, download=False)
                entry = _entry(info, url)
                entries = [] if entry.guid in known else [entry]
                notes = _live_notes([info])
                return _listing(info, url, [] if notes else entries, notes)
            # A channel's own uploads (the listing's id is the channel's) come newest first; a playlist: its own order.
            newest_first = bool(info.get("id")) and info.get("id") in (info.get("channel_id"), info.get("uploader_id"))
            resolved = (_resolved(ydl, raw, url) for raw in _iterate(info.get("entries")) if raw)
            entries, notes = unseen(resolved, url, known, newest_first=newest_first)
            return _listing(info, url, entries, notes, channel=newest_first)

    return _run(url, _reading(settings), call)


def _resolved(ydl: yt_dlp.YoutubeDL, raw: dict[str, Any], page_url: str) -> dict[str, Any]:
    """An entry as a reference to its own page (most sites: taken as it is), or a media the page lists inline, whose
    format is chosen now."""
    if raw.get("_type") in ("url", "url_transparent"):
        return raw
    return ydl.process_ie_result({**raw, "webpage_url": raw.get("webpage_url") or page_url}, download=False)


def unseen(
    infos: Iterable[dict[str, Any]], page_url: str, known: set[str], *, newest_first: bool
) -> tuple[list[PlatformEntry], list[str]]:
    """The entries of a listing that are not in `known` (guids), and notes on those left out. A newest-first listing
    ends at its first known entry: everything after it is older, and known already; `infos` is read no further."""
    entries: list[PlatformEntry] = []
    notes: list[str] = []
    for info in infos:
        if info.get("_type") == "playlist":
            notes.append(f"{info.get('title') or page_url}: a playlist inside the listing is not read")
            continue
        entry = _entry(info, page_url, listed=True)
        if entry.guid in known:
            if newest_first:
                break
            continue
        if live := _live_notes([info]):
            notes += live
            continue
        entries.append(entry)
    return entries, notes


def _unwrap(ydl: yt_dlp.YoutubeDL, info: dict[str, Any]) -> dict[str, Any]:
    """Follow an extractor that only hands the address on to another (up to a few times)."""
    for _ in range(5):
        if info.get("_type") not in ("url", "url_transparent"):
            break
        info = ydl.extract_info(info["url"], download=False, process=False, ie_key=info.get("ie_key"))
    return info


def _iterate(entries: Any) -> Iterator[dict[str, Any]]:
    """A listing's entries one at a time, fetching further pages only as they are reached."""
    if entries is None:
        return
    if isinstance(entries, PagedList):
        for number in itertools.count():
            page = entries.getpage(number)
            if not page:
                return
            yield from page
    else:
        yield from entries if isinstance(entries, (list, LazyList)) else LazyList(entries)


def _listing(
    info: dict[str, Any], url: str, entries: list[PlatformEntry], notes: list[str], *, channel: bool = False
) -> Listing:
    """The show: a channel is named after the channel (its listing's title is e.g. "Name - Videos"), a playlist or a
    single video after itself."""
    names = ("channel", "uploader", "title") if channel else ("title", "channel", "uploader")
    return Listing(
        title=str(next((info[name] for name in names if info.get(name)), urlsplit(url).netloc)),
        description=_description(info.get("description")),
        link=str(info.get("webpage_url") or url),
        image=_thumbnail(info),
        entries=entries,
        notes=notes,
    )


def _live_notes(infos: list[dict[str, Any]]) -> list[str]:
    return [
        f"{info.get('title') or info.get('id')}: a live stream that has not ended yet; it is added once it has"
        for info in infos
        if info.get("live_status") in _NOT_YET or info.get("is_live")
    ]


def _entry(info: dict[str, Any], page_url: str, *, listed: bool = False) -> PlatformEntry:
    """One episode from yt-dlp's info; `listed` when it is one of several entries of a page."""
    resolved = info.get("_type") not in ("url", "url_transparent")
    media_url = info.get("url") if resolved else None
    key = info.get("ie_key") or info.get("extractor_key") or ""
    if resolved and key in _POSITIONAL_IDS:
        guid = str(media_url or info.get("webpage_url") or page_url)
        # A page that lists several media files inline: each is extracted again from its own file's address.
        source = str(media_url) if listed and media_url else str(info.get("webpage_url") or page_url)
    else:
        guid = f"{key}:{info.get('id')}" if info.get("id") else str(info.get("url") or page_url)
        source = str(info.get("webpage_url") or info.get("url") or page_url)
    return PlatformEntry(
        guid=guid,
        title=_title(info, key, listed) or source,
        url=source,
        kind="audio" if info.get("vcodec") == "none" or _audio_only(info) else "video",
        published=_published(info),
        duration=float(info["duration"]) if isinstance(info.get("duration"), int | float) else None,
        description=_description(info.get("description")),
        link=str(info.get("webpage_url") or info.get("url") or page_url),
        image=_thumbnail(info),
    )


def _title(info: dict[str, Any], key: str, listed: bool) -> str:
    title = str(info.get("title") or info.get("id") or "")
    # yt-dlp numbers the media of a page ("Talk (1)") even when the page has only one.
    return title.removesuffix(" (1)") if key in _POSITIONAL_IDS and not listed else title


def _audio_only(info: dict[str, Any]) -> bool:
    formats = info.get("formats") or []
    return bool(formats) and all(f.get("vcodec") == "none" for f in formats)


def _published(info: dict[str, Any]) -> str | None:
    if isinstance(info.get("timestamp"), int | float):
        return datetime.fromtimestamp(info["timestamp"], UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
    day = str(info.get("upload_date") or info.get("release_date") or "")
    return f"{day[:4]}-{day[4:6]}-{day[6:8]}" if re.fullmatch(r"\d{8}", day) else None


def _description(text: Any) -> str:
    """A platform's description is plain text: escaped, its line breaks kept, and sanitised like show notes."""
    if not text:
        return ""
    return sanitize_html(escape(str(text)).replace("\n", "<br>"))


def _thumbnail(info: dict[str, Any]) -> str:
    url = info.get("thumbnail") or next((t.get("url") for t in reversed(info.get("thumbnails") or []) if t), None)
    return str(url) if url and urlsplit(str(url)).scheme in ("http", "https") else ""


# -- captions ------------------------------------------------------------------------------------------------------


def choose_captions(info: dict[str, Any], language: str | None, mode: Captions) -> tuple[str, str, Source] | None:
    """(address or inline data, kind, source) of the captions to import for one video, or None to transcribe it.

    Creator captions in the episode's language come first (a single track is taken when the language is not known);
    automatic ones only when the show asked for them, and only in the video's own language."""
    if mode == Captions.NONE:
        return None
    language = language or info.get("language")
    tracks = info.get("subtitles") or {}
    if language:
        chosen = _track(tracks, language)
    else:  # a single track is the video's own language; of several, which one that is cannot be told
        chosen = _best_format(next(iter(tracks.values()))) if len(tracks) == 1 else None
    if chosen:
        return (*chosen, Source.CAPTIONS)
    if mode != Captions.AUTO:
        return None
    automatic = info.get("automatic_captions") or {}
    # Platforms translate automatic captions into every language: "-orig" marks the track in the spoken one.
    original = next((formats for key, formats in automatic.items() if key.endswith("-orig")), None)
    picked = _best_format(original) if original else (_track(automatic, language) if language else None)
    return (*picked, Source.AUTO_CAPTIONS) if picked else None


def _track(tracks: dict[str, list[dict[str, Any]]], language: str) -> tuple[str, str] | None:
    base = language.lower().split("-")[0]
    for key, formats in tracks.items():
        if key.lower().split("-")[0] == base and (picked := _best_format(formats)):
            return picked
    return None


def _best_format(formats: Any) -> tuple[str, str] | None:
    """A format fonoteca's transcript parsers read (WebVTT first, then SRT, JSON)."""
    usable = [(kind_of(str(f.get("ext") or "")), f) for f in formats or [] if f.get("url") or f.get("data")]
    for wanted in ("vtt", "srt", "json"):
        for kind, fmt in usable:
            if kind == wanted:
                return str(fmt.get("url") or fmt.get("data")), wanted
    return None


def read_captions(where: str, kind: str, origin: Origin, settings: Settings) -> list[Segment]:
    """The captions' segments: fetched with fonoteca's checked client, or given inline by the extractor."""
    data = where if not urlsplit(where).scheme else fetch_transcript(where, origin, settings)
    return parse_transcript(data, kind)


# -- one episode ---------------------------------------------------------------------------------------------------


def extract(url: str, settings: Settings) -> dict[str, Any]:
    """The full info of one video: its formats, captions and whether it can be had (live, private, removed...)."""

    def call() -> dict[str, Any]:
        with _ydl(settings, format="bestaudio/best") as ydl:
            info = ydl.sanitize_info(ydl.extract_info(url, download=False))
        if info.get("_type") == "playlist":
            entries = [e for e in info.get("entries") or [] if e]
            if len(entries) != 1:
                raise MediaError(f"{url} now lists {len(entries)} videos, not one", "add its videos one by one")
            info = entries[0]
        if info.get("live_status") in _NOT_YET or info.get("is_live"):
            raise MediaError(
                f"{info.get('title') or url} is a live stream that has not ended",
                "run `fonoteca retry` once the stream is over and its recording is up",
            )
        if not settings.allow_private_urls:  # refused here with its address, before a byte is fetched
            for fmt in info.get("requested_formats") or [info]:
                _check_url(str(fmt.get("url") or ""))
        return info

    return _run(url, _reading(settings), call)


def download_audio(
    url: str,
    dest_stem: Path,
    settings: Settings,
    *,
    info: dict[str, Any] | None = None,
    on_progress: Callable[[int, int | None], None] | None = None,
) -> Path:
    """The best audio (no video when the site offers audio alone) of the video at `url`, into `dest_stem`.<ext>.

    `info` is what `extract` already found, so the page is not read twice. An interrupted download leaves yt-dlp's
    .part file, which the next attempt continues; the result must decode."""
    info = info or extract(url, settings)
    try:
        dest_stem.parent.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise disk_error(exc, dest_stem.parent) from exc

    def progress(state: dict[str, Any]) -> None:
        if on_progress and state.get("status") == "downloading":
            total = state.get("total_bytes") or state.get("total_bytes_estimate")
            on_progress(int(state.get("downloaded_bytes") or 0), int(total) if total else None)

    def call() -> Path:
        params = {
            "format": "bestaudio/best",
            "outtmpl": f"{dest_stem}.%(ext)s",
            "continuedl": True,
            "fixup": "never",  # fixing a container needs ffmpeg; PyAV decodes what the site serves
            "max_filesize": settings.max_download_mb * 1024 * 1024,
            "skip_unavailable_fragments": False,  # a stream with holes is not the episode
            "progress_hooks": [progress],
        }
        with _ydl(settings, **params) as ydl:
            done = ydl.process_ie_result(dict(info), download=True)
        paths = [Path(d["filepath"]) for d in done.get("requested_downloads") or [] if d.get("filepath")]
        if not paths or not paths[0].exists():
            raise MediaError(
                f"yt-dlp downloaded nothing from {url}",
                f"the file may be over the {settings.max_download_mb} MB limit (FONOTECA_MAX_DOWNLOAD_MB)",
            )
        return paths[0]

    # The media as it arrives, fragments and all, within FONOTECA_MAX_DOWNLOAD_MB (yt-dlp's own max_filesize knows
    # only a size announced in advance, which an HLS stream never has) and FONOTECA_DOWNLOAD_DEADLINE.
    guard = _Guard(
        check_addresses=not settings.allow_private_urls,
        deadline=(settings.download_deadline, "FONOTECA_DOWNLOAD_DEADLINE"),
        response_limit=(settings.max_feed_mb, "FONOTECA_MAX_FEED_MB"),
        total_limit=(settings.max_download_mb, "FONOTECA_MAX_DOWNLOAD_MB"),
        download=True,
    )
    try:
        path = _run(url, guard, call)
    except MediaError as exc:
        if "FONOTECA_MAX_DOWNLOAD_MB" in exc.hint:  # nothing worth resuming: what it left is removed
            for left in dest_stem.parent.glob(f"{glob.escape(dest_stem.name)}.*"):
                left.unlink(missing_ok=True)
        raise
    try:
        probe(path, f"the audio of {url}")
    except MediaError:
        path.unlink(missing_ok=True)
        raise
    return path
