"""What makes the archive findable and shareable: each page's title, description, canonical URL, OpenGraph/Twitter card
and schema.org JSON-LD (`PageMeta`, built here for the routes of pages.py), and the crawlers' `sitemap.xml` and
`robots.txt`.

A moment link (`/episode/ID?t=754`) previews as the quote said at that second, with the episode's image: its card's
title is the quote, its og:url the moment, while its canonical URL stays the episode's, so search engines keep one page
per episode. URLs are absolute: FONOTECA_PUBLIC_URL (the address the public uses, behind a reverse proxy) or else the
request's own. Everything here comes from feeds and transcripts, which are untrusted: Jinja escapes the tags' values,
and the JSON-LD is dumped with Jinja's HTML-safe JSON (no `</script>` can close its block).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any
from xml.sax.saxutils import escape as xml_escape

from fastapi import APIRouter, Request
from fastapi.responses import PlainTextResponse, Response
from jinja2.utils import htmlsafe_json_dumps
from markupsafe import Markup

from fonoteca.app import Fonoteca
from fonoteca.archive import Episode, Segment, Show
from fonoteca.errors import NotFound
from fonoteca.text import format_timestamp, html_to_text
from fonoteca.web.deps import App

DESCRIPTION_CHARS = 200
SITEMAP_URLS = 50_000  # the sitemaps protocol's most URLs in one file (sitemaps.org)
SITE_NAME = "fonoteca"
# What crawlers may not walk: search, trends and exports are an infinite space of URLs over the same transcripts;
# the owner's pages and the media files are nobody's search result.
ROBOTS_DISALLOW = (
    "/search", "/api/", "/*?word=", "/*&word=", "/episode/*/transcript.", "/episode/*?q=", "/chat", "/watch",
    "/status", "/login", "/media/",
)  # fmt: skip

router = APIRouter(include_in_schema=False)


@dataclass
class PageMeta:
    title: str
    description: str
    path: str  # the canonical path
    share_path: str = ""  # og:url when the shared link is not the canonical one (a moment)
    image: str = ""
    kind: str = "website"  # og:type
    structured: dict[str, Any] = field(default_factory=dict)  # schema.org JSON-LD

    def render(self, base: str) -> dict[str, object]:
        """The template's `meta`: absolute URLs and the JSON-LD as a safe <script> body."""
        structured = Markup(htmlsafe_json_dumps(_absolute(self.structured, base))) if self.structured else ""
        return {
            "title": self.title, "description": self.description, "canonical": base + self.path,
            "url": base + (self.share_path or self.path), "image": self.image, "kind": self.kind,
            "card": "summary_large_image" if self.image else "summary", "structured": structured,
            "site_name": SITE_NAME,
        }  # fmt: skip


def base_url(request: Request, public_url: str) -> str:
    """The archive's address as the public knows it, without a trailing slash."""
    return (public_url or str(request.base_url)).rstrip("/")


def shorten(text: str, limit: int = DESCRIPTION_CHARS) -> str:
    """One line of at most `limit` characters, cut at a word with an ellipsis."""
    line = " ".join(text.split())
    if len(line) <= limit:
        return line
    return line[: limit - 1].rsplit(" ", 1)[0].rstrip(",;:.") + "…"


def home_meta(stats_line: str, shows: list[Show]) -> PageMeta:
    names = ", ".join(s.title for s in shows[:5])
    return PageMeta(
        title=f"{SITE_NAME} — {names}" if names else SITE_NAME,
        description=shorten(f"Searchable transcripts of {names}. {stats_line}" if names else stats_line),
        path="/",
        structured={"@context": "https://schema.org", "@type": "WebSite", "name": SITE_NAME, "url": "/"},
    )


def show_meta(show: Show, stats_line: str) -> PageMeta:
    path = f"/show/{show.slug}"
    notes = html_to_text(show.description)
    series: dict[str, Any] = {
        "@context": "https://schema.org", "@type": "PodcastSeries", "name": show.title, "url": path,
        "description": shorten(notes or stats_line, 500),
    }  # fmt: skip
    if show.image.startswith(("https://", "http://")):
        series["image"] = show.image
    if show.source_kind == "feed" and show.source.startswith(("https://", "http://")):
        series["webFeed"] = show.source
    if show.language:
        series["inLanguage"] = show.language
    return PageMeta(
        title=f"{show.title} — {SITE_NAME}",
        description=shorten(notes or f"Transcripts of {show.title}. {stats_line}"),
        path=path,
        image=_web_image(show.image),
        structured=series,
    )


def episode_meta(episode: Episode, show: Show, first_lines: str, transcript: str, moment: Segment | None) -> PageMeta:
    """The episode's card, or a moment's when `moment` (the line said at the link's second) is given.
    `first_lines` stand in for notes the episode lacks; `transcript` goes whole into the JSON-LD."""
    path = f"/episode/{episode.id}"
    image = _web_image(episode.image) or _web_image(show.image)
    notes = html_to_text(episode.description)
    structured: dict[str, Any] = {
        "@context": "https://schema.org", "@type": "PodcastEpisode", "name": episode.title, "url": path,
        "description": shorten(notes or first_lines, 500),
        "partOfSeries": {"@type": "PodcastSeries", "name": show.title, "url": f"/show/{show.slug}"},
    }  # fmt: skip
    if episode.published:
        structured["datePublished"] = episode.published
    if episode.duration:
        structured["duration"] = _iso_duration(episode.duration)
    if episode.language:
        structured["inLanguage"] = episode.language
    if image:
        structured["image"] = image
    if transcript:
        media: dict[str, Any] = {"@type": "VideoObject" if episode.kind == "video" else "AudioObject"}
        if episode.media_url and episode.media_url.startswith(("https://", "http://")):
            media["contentUrl"] = episode.media_url
        media["transcript"] = transcript
        structured["associatedMedia"] = media
    if moment is not None:
        quote = shorten(moment.text, 150)
        second = int(moment.start)
        return PageMeta(
            title=f"“{quote}” — {episode.title}",
            description=shorten(f"{format_timestamp(moment.start)} in {episode.title} ({show.title}): “{moment.text}”"),
            path=path, share_path=f"{path}?t={second}", image=image, kind="article", structured=structured,
        )  # fmt: skip
    return PageMeta(
        title=f"{episode.title} — {show.title}",
        description=shorten(notes or first_lines or f"An episode of {show.title}."),
        path=path, image=image, kind="article", structured=structured,
    )  # fmt: skip


def plain_meta(title: str, path: str, description: str = "") -> PageMeta:
    """A page that is nobody's search result (search, the API's description): its title and where it is."""
    return PageMeta(title=f"{title} — {SITE_NAME}", description=description or title, path=path)


def _absolute(value: Any, base: str) -> Any:
    """The JSON-LD with its `url`s made absolute."""
    if isinstance(value, dict):
        return {k: base + v if k == "url" and v.startswith("/") else _absolute(v, base) for k, v in value.items()}
    return value


def _web_image(url: str) -> str:
    return url if url.startswith(("https://", "http://")) else ""


def _iso_duration(seconds: float) -> str:
    whole = round(seconds)
    hours, rest = divmod(whole, 3600)
    minutes, secs = divmod(rest, 60)
    return f"PT{hours}H{minutes}M{secs}S" if hours else f"PT{minutes}M{secs}S"


@router.get("/robots.txt")
def robots(request: Request, fonoteca: App) -> Response:
    base = base_url(request, fonoteca.settings.public_url)
    rules = "\n".join(f"Disallow: {path}" for path in ROBOTS_DISALLOW)
    return PlainTextResponse(f"User-agent: *\n{rules}\n\nSitemap: {base}/sitemap.xml\n")


@router.get("/sitemap.xml")
def sitemap(request: Request, fonoteca: App) -> Response:
    """The front page, every show and every finished episode, each episode's lastmod when its transcript last
    changed; past the sitemaps protocol's SITEMAP_URLS a file (an archive of ~1,000 years of weekly shows, or a
    channel's every short), a sitemap index of the parts /sitemap-N.xml, each with its newest lastmod."""
    base = base_url(request, fonoteca.settings.public_url)
    pages = _sitemap_pages(fonoteca, base)
    if len(pages) <= SITEMAP_URLS:
        return _urlset(pages)
    parts = [
        f"<sitemap><loc>{xml_escape(f'{base}/sitemap-{n}.xml')}</loc>{_lastmod(max(_changes(part), default=None))}"
        "</sitemap>"
        for n, part in enumerate(_parts(pages), start=1)
    ]
    return _xml("sitemapindex", parts)


@router.get("/sitemap-{part}.xml")
def sitemap_part(part: int, request: Request, fonoteca: App) -> Response:
    """One part of the sitemap, of SITEMAP_URLS pages at most; /sitemap-1.xml is the whole of a smaller one."""
    parts = _parts(_sitemap_pages(fonoteca, base_url(request, fonoteca.settings.public_url)))
    if not 1 <= part <= len(parts):
        raise NotFound(f"the sitemap has {len(parts)} parts, not {part}", "start from /sitemap.xml")
    return _urlset(parts[part - 1])


Page = tuple[str, str | None]  # a sitemap's URL, and when it last changed if known


def _sitemap_pages(fonoteca: Fonoteca, base: str) -> list[Page]:
    """Every page of the sitemap, the episodes' longest unchanged first: adding or changing one leaves the earlier
    parts of a long sitemap as they were, and crawlers need not read them again."""
    archive = fonoteca.archive
    pages: list[Page] = [(f"{base}/", None)]
    pages += [(f"{base}/show/{show.slug}", None) for show in archive.list_shows()]
    pages += [(f"{base}/episode/{episode_id}", changed) for episode_id, changed in archive.transcript_times()]
    return pages


def _parts(pages: list[Page]) -> list[list[Page]]:
    return [pages[i : i + SITEMAP_URLS] for i in range(0, len(pages), SITEMAP_URLS)] or [[]]


def _changes(pages: list[Page]) -> list[str]:
    return [changed for _, changed in pages if changed]


def _lastmod(changed: str | None) -> str:
    return f"<lastmod>{xml_escape(changed)}</lastmod>" if changed else ""


def _urlset(pages: list[Page]) -> Response:
    return _xml("urlset", [f"<url><loc>{xml_escape(loc)}</loc>{_lastmod(changed)}</url>" for loc, changed in pages])


def _xml(root: str, children: list[str]) -> Response:
    body = (
        f'<?xml version="1.0" encoding="UTF-8"?>\n<{root} xmlns="http://www.sitemaps.org/schemas/sitemap/0.9">\n'
        + "\n".join(children)
        + f"\n</{root}>\n"
    )
    return Response(body, media_type="application/xml")
