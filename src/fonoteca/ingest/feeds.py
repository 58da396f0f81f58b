"""Reading RSS 2.0 / Atom feeds (feedparser): the show, its audio/video episodes, its text-only posts and the
publisher's Podcasting 2.0 transcripts.

Real feeds are often not strict XML (undefined entities, junk after the root); feedparser recovers from most of that, so
a feed is rejected only when nothing usable came back.
"""

from __future__ import annotations

import calendar
import mimetypes
import re
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import urljoin, urlparse

import httpx

from fonoteca.errors import FeedError, FeedUnreachable
from fonoteca.ingest.media import AUDIO_EXTENSIONS, VIDEO_EXTENSIONS
from fonoteca.ingest.net import Origin, client, is_remote, local_path, read_limited, split_credentials
from fonoteca.ingest.transcripts import PREFERENCE, kind_of
from fonoteca.settings import Settings
from fonoteca.text import html_to_text, sanitize_html

__all__ = ["Feed", "FeedItem", "fetch_feed", "is_remote", "local_path", "parse_feed"]


@dataclass
class FeedItem:
    guid: str
    title: str
    kind: str  # audio | video | text
    published: str | None = None
    description: str = ""  # sanitised HTML
    link: str = ""
    media_url: str | None = None
    media_type: str | None = None
    duration: float | None = None
    text: str = ""  # the post's text, for text episodes
    transcripts: list[tuple[str, str]] = field(default_factory=list)  # (url, kind), best first
    number: int | None = None  # itunes:episode
    chapters_url: str | None = None  # <podcast:chapters>: the publisher's chapters file


@dataclass
class Feed:
    title: str
    description: str
    link: str
    image: str
    language: str | None
    items: list[FeedItem]
    notes: list[str] = field(default_factory=list)  # what was left out of the feed, and why


def fetch_feed(source: str, settings: Settings, credentials: str | None = None) -> tuple[bytes, str]:
    """The feed's bytes and the base URL its relative links resolve against.

    The address is the user's own choice, so any host may be asked; the body is size- and time-limited all the same.
    `credentials` (user:password, also taken from the URL itself) go to the feed's host only."""
    source, userinfo = split_credentials(source)
    origin = Origin(source, credentials or userinfo)
    if not is_remote(source):
        path = (local_path(source) or Path(source)).expanduser().resolve()
        try:
            return path.read_bytes(), path.as_uri()
        except OSError as exc:
            raise FeedError(f"cannot read the feed file {path}: {exc.strerror}", "check the path") from exc
    hint = "check the address in a browser; run `fonoteca sync` later if the site is down"
    try:
        with client(settings, public_only=False, origin=origin) as http:
            final_url, data = read_limited(
                http,
                source,
                what=f"the feed {source}",
                max_mb=settings.max_feed_mb,
                deadline=settings.feed_deadline,
                error=FeedError,
                hint=hint,
                unreachable=FeedUnreachable,
            )
    except httpx.TooManyRedirects as exc:
        raise FeedError(f"the feed {source} redirects in a loop", "the site is misconfigured; ask its owner") from exc
    except httpx.TimeoutException as exc:
        raise FeedUnreachable(f"the feed {source} did not answer in {settings.download_timeout:g} s", hint) from exc
    except (httpx.NetworkError, httpx.RemoteProtocolError) as exc:  # refused, reset, no DNS: may be back later
        raise FeedUnreachable(f"cannot fetch the feed {source}: {exc}", hint) from exc
    except httpx.HTTPError as exc:
        raise FeedError(f"cannot fetch the feed {source}: {exc}", hint) from exc
    return data, final_url


def parse_feed(data: bytes, base_url: str) -> Feed:
    import feedparser

    parsed = feedparser.parse(data, response_headers={"content-location": base_url})
    channel = parsed.get("feed", {})
    if not parsed.entries and not channel.get("title"):
        reason = parsed.get("bozo_exception") or "no channel and no items"
        raise FeedError(
            f"{base_url} is not an RSS/Atom feed ({reason})".replace("\n", " "),
            "give the URL of the podcast's feed (usually ends in .xml or /feed), not its web page",
        )
    transcripts = _transcripts_per_item(data, len(parsed.entries))
    notes: list[str] = []
    items = [
        _item(entry, base_url, transcripts[i] if transcripts else None, notes) for i, entry in enumerate(parsed.entries)
    ]
    image = channel.get("image", {}).get("href", "") if isinstance(channel.get("image"), dict) else ""
    return Feed(
        title=(channel.get("title") or "").strip() or Path(urlparse(base_url).path).stem or "Untitled show",
        description=sanitize_html(channel.get("summary") or channel.get("subtitle") or ""),
        link=channel.get("link", ""),
        image=image,
        language=channel.get("language"),
        items=[i for i in items if i is not None],
        notes=notes,
    )


def _absolute(base_url: str, href: str) -> str | None:
    """`href` resolved against the feed's URL, or None when it is not a URL at all (`http://[bad/x.mp3`)."""
    try:
        url = urljoin(base_url, href.strip())
        urlparse(url).port  # noqa: B018 - parsing the port is what rejects `host:abc`
    except ValueError:
        return None
    return url


_ITEM_BLOCK = re.compile(rb"<(item|entry)\b.*?</\1\s*>", re.S | re.I)
_TRANSCRIPT_TAG = re.compile(rb"<podcast:transcript\b([^>]*)>", re.I)
_ATTR = re.compile(rb"""([\w:-]+)\s*=\s*(?:"([^"]*)"|'([^']*)')""")


def _transcripts_per_item(data: bytes, expected: int) -> list[list[tuple[str, str]]] | None:
    """Every <podcast:transcript> of every item: feedparser keeps only the last one of an item, and a publisher often
    offers several formats. Returns None when the items could not be lined up with feedparser's entries."""
    blocks = [m.group(0) for m in _ITEM_BLOCK.finditer(data)]
    if len(blocks) != expected:
        return None
    result = []
    for block in blocks:
        found = []
        for tag in _TRANSCRIPT_TAG.finditer(block):
            attrs = {
                m.group(1).decode().lower(): (m.group(2) or m.group(3) or b"").decode()
                for m in _ATTR.finditer(tag.group(1))
            }
            kind = kind_of(attrs.get("type", "")) or kind_of(attrs.get("url", ""))
            if attrs.get("url") and kind:
                found.append((attrs["url"].replace("&amp;", "&").strip(), kind))
        result.append(sorted(found, key=lambda t: PREFERENCE.index(t[1])))
    return result


def _iso(entry: dict) -> str | None:
    parsed = entry.get("published_parsed") or entry.get("updated_parsed")
    if not parsed:
        return None
    from datetime import UTC, datetime

    return datetime.fromtimestamp(calendar.timegm(parsed), UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def _duration(value: object) -> float | None:
    if not value:
        return None
    text = str(value).strip()
    try:
        parts = [float(p) for p in text.split(":")]
    except ValueError:
        return None
    seconds = 0.0
    for part in parts:
        seconds = seconds * 60 + part
    return seconds or None


_UNTYPED = ("", "application/octet-stream", "binary/octet-stream", "application/binary", "application/download")
_NOT_MEDIA = ("image/", "text/", "font/", "application/pdf")


def _media_kind(url: str, mime: str, medium: str = "") -> str | None:
    """audio | video | None for an enclosure; `url` must already be a valid URL (see _absolute)."""
    mime = (mime or "").lower().split(";")[0].strip()
    path = urlparse(url).path
    suffix = Path(path).suffix.lower()
    if mime.startswith("video/") or (not mime.startswith("audio/") and suffix in VIDEO_EXTENSIONS - AUDIO_EXTENSIONS):
        return "video"
    if mime.startswith("audio/") or suffix in AUDIO_EXTENSIONS:
        return "audio"
    if medium in ("audio", "video"):
        return medium
    # A file whose type says nothing is media until its bytes prove otherwise (the download checks that they
    # decode); taking it for a text post would archive its show notes as the "transcript" and lose the episode.
    guessed = mimetypes.guess_type(path)[0] or ""
    if mime in _UNTYPED and not medium and not guessed.startswith(_NOT_MEDIA):
        return "audio"
    return None


def _item(entry: dict, base_url: str, transcripts: list[tuple[str, str]] | None, notes: list[str]) -> FeedItem | None:
    """One entry as a FeedItem; None (with a line in `notes` when it matters) for an entry with nothing to archive."""
    title = (entry.get("title") or "").strip()
    link = entry.get("link", "")
    media_url = media_type = kind = None
    unusable = []  # (href, why) of media links that cannot be followed
    origin = Origin(base_url)
    for enclosure in entry.get("enclosures", []) + entry.get("media_content", []):
        href = (enclosure.get("href") or enclosure.get("url") or "").strip()
        if not href:
            continue
        url = _absolute(base_url, href)
        if url is None:
            unusable.append((href, "is not a valid URL"))
            continue
        found = _media_kind(url, enclosure.get("type", ""), (enclosure.get("medium") or "").lower())
        if found and (refused := origin.refusal(url)):
            unusable.append((href, f"is refused: {refused}"))
        elif found:
            media_url, media_type, kind = url, enclosure.get("type"), found
            break
    if kind is None and unusable:
        # An episode whose only media link is broken must not turn into a text post of its show notes.
        href, why = unusable[0]
        notes.append(f"{title or 'an episode'}: skipped, its media address {href!r} {why}")
        return None
    content = entry.get("content", [{}])[0].get("value", "") if entry.get("content") else ""
    summary = entry.get("summary", "")
    text = html_to_text(content or summary)
    if kind is None:
        if not text:
            return None  # nothing to archive: neither media nor text
        kind = "text"
    guid = entry.get("id") or media_url or f"{link}#{title}"
    if transcripts is None:
        single = entry.get("podcast_transcript") or {}
        found_kind = kind_of(single.get("type", "")) or kind_of(single.get("url", ""))
        transcripts = [(single["url"].strip(), found_kind)] if single.get("url") and found_kind else []
    resolved = []
    for url, transcript_kind in transcripts:
        absolute = _absolute(base_url, url)
        if absolute is None:
            notes.append(f"{title or 'an episode'}: transcript address {url!r} is not a valid URL; ignored")
        elif refused := origin.refusal(absolute):
            notes.append(f"{title or 'an episode'}: transcript address {url!r} is refused ({refused}); ignored")
        else:
            resolved.append((absolute, transcript_kind))
    chapters_url = None
    if (given := (entry.get("podcast_chapters") or {}).get("url", "").strip()) and (
        absolute := _absolute(base_url, given)
    ):
        if refused := origin.refusal(absolute):
            notes.append(f"{title or 'an episode'}: chapters address {given!r} is refused ({refused}); ignored")
        else:
            chapters_url = absolute
    return FeedItem(
        guid=guid,
        title=title or (text[:60] + "…" if text else "Untitled episode"),
        kind=kind,
        published=_iso(entry),
        description=sanitize_html(summary),
        link=link,
        media_url=media_url,
        media_type=media_type,
        duration=_duration(entry.get("itunes_duration")),
        text=text if kind == "text" else "",
        transcripts=resolved,
        number=_episode_number(entry.get("itunes_episode")),
        chapters_url=chapters_url,
    )


def _episode_number(value: object) -> int | None:
    """itunes:episode as a number: feeds put words, negatives and blanks in it, which number nothing."""
    text = str(value or "").strip()
    return int(text) if text.isdigit() and int(text) > 0 else None
