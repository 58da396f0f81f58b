"""Reading RSS 2.0 / Atom feeds (feedparser): the show, its audio/video episodes, its text-only posts and the
publisher's Podcasting 2.0 transcripts.

Real feeds are often not strict XML (undefined entities, junk after the root); feedparser recovers from most of that, so
a feed is rejected only when nothing usable came back.
"""

from __future__ import annotations

import calendar
import re
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import urljoin, urlparse
from urllib.request import url2pathname

import httpx

from fonoteca.errors import FeedError
from fonoteca.ingest.media import AUDIO_EXTENSIONS, VIDEO_EXTENSIONS
from fonoteca.ingest.transcripts import PREFERENCE, kind_of
from fonoteca.settings import Settings
from fonoteca.text import html_to_text, sanitize_html

USER_AGENT = "fonoteca/0.1 (+podcast archive)"


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


@dataclass
class Feed:
    title: str
    description: str
    link: str
    image: str
    language: str | None
    items: list[FeedItem]
    notes: list[str] = field(default_factory=list)  # what was left out of the feed, and why


def is_remote(source: str) -> bool:
    return urlparse(source).scheme in ("http", "https")


def local_path(url: str) -> Path | None:
    """The file a file:// URL (or a plain path) points at."""
    parsed = urlparse(url)
    if parsed.scheme == "file":
        return Path(url2pathname(parsed.path))
    if parsed.scheme == "":
        return Path(url)
    return None


def http_client(settings: Settings) -> httpx.Client:
    timeout = httpx.Timeout(settings.download_timeout, connect=min(settings.download_timeout, 15.0))
    return httpx.Client(follow_redirects=True, max_redirects=10, timeout=timeout, headers={"User-Agent": USER_AGENT})


def fetch_feed(source: str, settings: Settings) -> tuple[bytes, str]:
    """The feed's bytes and the base URL its relative links resolve against."""
    if not is_remote(source):
        path = Path(source).expanduser().resolve()
        try:
            return path.read_bytes(), path.as_uri()
        except OSError as exc:
            raise FeedError(f"cannot read the feed file {path}: {exc.strerror}", "check the path") from exc
    hint = "check the address in a browser; run `fonoteca sync` later if the site is down"
    try:
        with http_client(settings) as client:
            response = client.get(source)
    except httpx.TooManyRedirects as exc:
        raise FeedError(f"the feed {source} redirects in a loop", "the site is misconfigured; ask its owner") from exc
    except httpx.TimeoutException as exc:
        raise FeedError(f"the feed {source} did not answer in {settings.download_timeout:g} s", hint) from exc
    except httpx.HTTPError as exc:
        raise FeedError(f"cannot fetch the feed {source}: {exc}", hint) from exc
    if response.status_code >= 400:
        raise FeedError(f"the feed {source} answered {response.status_code} {response.reason_phrase}", hint)
    return response.content, str(response.url)


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


def _media_kind(url: str, mime: str) -> str | None:
    """audio | video | None for an enclosure; `url` must already be a valid URL (see _absolute)."""
    mime = (mime or "").lower()
    suffix = Path(urlparse(url).path).suffix.lower()
    if mime.startswith("video/") or (not mime.startswith("audio/") and suffix in VIDEO_EXTENSIONS - AUDIO_EXTENSIONS):
        return "video"
    if mime.startswith("audio/") or suffix in AUDIO_EXTENSIONS:
        return "audio"
    return None


def _item(entry: dict, base_url: str, transcripts: list[tuple[str, str]] | None, notes: list[str]) -> FeedItem | None:
    """One entry as a FeedItem; None (with a line in `notes` when it matters) for an entry with nothing to archive."""
    title = (entry.get("title") or "").strip()
    link = entry.get("link", "")
    media_url = media_type = kind = None
    bad_urls = []
    for enclosure in entry.get("enclosures", []) + entry.get("media_content", []):
        href = (enclosure.get("href") or enclosure.get("url") or "").strip()
        if not href:
            continue
        url = _absolute(base_url, href)
        if url is None:
            bad_urls.append(href)
            continue
        found = _media_kind(url, enclosure.get("type", ""))
        if found:
            media_url, media_type, kind = url, enclosure.get("type"), found
            break
    if kind is None and bad_urls:
        # An episode whose only media link is broken must not turn into a text post of its show notes.
        notes.append(f"{title or 'an episode'}: skipped, its media address {bad_urls[0]!r} is not a valid URL")
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
        else:
            resolved.append((absolute, transcript_kind))
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
    )
