"""Watched words on the web: the /watch page (add, remove, the latest mentions) and the /watch.atom feed of mentions.

The forms post with the page's CSRF token (CsrfGuard) and redirect back to the page (post/redirect/get). The feed is
Atom, written by feedgen, and every entry links to the episode page at the second the word was said, on the host the
feed was asked from (so it works behind a proxy whose name is in FONOTECA_ALLOWED_HOSTS). With FONOTECA_TOKEN set, a
feed reader sends the token as `Authorization: Bearer`, as any script does.
"""

from __future__ import annotations

from datetime import UTC, datetime
from urllib.parse import quote

from fastapi import APIRouter, Form, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from feedgen.feed import FeedGenerator  # Atom written by a kept library, not by hand: escaping and dates done right

from fonoteca import __version__
from fonoteca.errors import FonotecaError
from fonoteca.search import episode_url
from fonoteca.text import format_timestamp, utc_datetime, xml_text
from fonoteca.web.deps import App, Templates

FEED_ENTRIES = 100
PAGE_MENTIONS = 50

router = APIRouter(include_in_schema=False)


@router.get("/watch", response_class=HTMLResponse)
def watch_page(request: Request, fonoteca: App, templates: Templates, error: str = "") -> Response:
    watcher = fonoteca.watcher
    context = {
        "watches": watcher.list(),
        "mentions": watcher.recent(PAGE_MENTIONS),
        "shows": fonoteca.archive.list_shows(),
        "error": error[:500],
    }
    return templates.TemplateResponse(request, "watch.html", context)


@router.post("/watch")
def add_watch(fonoteca: App, term: str = Form(..., max_length=200), show: str = Form("")) -> RedirectResponse:
    try:
        fonoteca.watcher.add(term, show or None)
    except FonotecaError as exc:
        return _back(exc)
    return _back()


@router.post("/watch/{watch_id}/remove")
def remove_watch(fonoteca: App, watch_id: int) -> RedirectResponse:
    try:
        fonoteca.watcher.remove(str(watch_id))
    except FonotecaError as exc:
        return _back(exc)
    return _back()


@router.post("/watch/seen")
def mark_seen(fonoteca: App, up_to: int = Form(..., ge=0)) -> RedirectResponse:
    """The mentions the page showed are seen: `fonoteca watch` will not list them again."""
    fonoteca.watcher.mark_seen(up_to)
    return _back()


def _back(error: FonotecaError | None = None) -> RedirectResponse:
    return RedirectResponse("/watch" + (f"?error={quote(str(error))}" if error else ""), status_code=303)


@router.get("/watch.atom")
def watch_feed(request: Request, fonoteca: App) -> Response:
    """The latest mentions of watched words, newest first, each entry a link to its second. Titles and lines lose the
    characters XML cannot carry (a control character in a transcript line), which lxml would refuse."""
    base = str(request.base_url).rstrip("/")
    feed = FeedGenerator()
    feed.id(f"{base}/watch.atom")
    feed.title("fonoteca: mentions of watched words")
    feed.subtitle(xml_text(", ".join(f"“{w.term}”" for w in fonoteca.watcher.list())) or "nothing watched yet")
    feed.link(href=f"{base}/watch.atom", rel="self")
    feed.link(href=f"{base}/watch", rel="alternate")
    feed.generator("fonoteca", version=__version__)
    mentions = fonoteca.watcher.recent(FEED_ENTRIES)
    feed.updated((utc_datetime(mentions[0].found_at) if mentions else None) or datetime(2000, 1, 1, tzinfo=UTC))
    for m in reversed(mentions):  # feedgen puts each new entry first: oldest in, newest on top
        entry = feed.add_entry()
        entry.id(f"{base}/watch#mention-{m.id}")
        entry.title(xml_text(f"“{m.term}” in {m.episode_title} at {format_timestamp(m.start)}"))
        entry.link(href=base + episode_url(m.episode_id, m.start))
        entry.author(name=xml_text(m.show_title))
        entry.summary(xml_text(m.sentence))
        entry.updated(utc_datetime(m.found_at))
        if published := utc_datetime(m.published):
            entry.published(published)
    return Response(feed.atom_str(pretty=True), media_type="application/atom+xml")
