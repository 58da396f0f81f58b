"""What podcast apps and feed readers fetch: each show's Podcasting 2.0 feed and the transcript files it links, and the
archive's shows as OPML.

Two addresses per show. `/show/{slug}/feed.xml` (and its files under `/show/{slug}/episodes/`) is the archive's own:
a reader's in public mode, behind the token like every page otherwise (web/access.py). `/feeds/{secret}/feed.xml`
(files under `/feeds/{secret}/episodes/`) is the one to give a podcast app, which cannot send a token: the secret path
is the key (open in web/access.py), one per show, replaced when the owner rotates it (`fonoteca feed SHOW --rotate` or
`POST /api/shows/{slug}/feed/rotate`), and it opens that show's feed and files, nothing else.

Validators (ETag, Last-Modified), Cache-Control and 304s are web/caching.py's, from the archive's change counter, as
for every read; feeds and files also carry `Access-Control-Allow-Origin: *`, which in-browser players need.
"""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.responses import Response
from pydantic import BaseModel

from fonoteca.archive import Show
from fonoteca.publish import Published
from fonoteca.web.deps import App, Owner
from fonoteca.web.findable import base_url

CORS = {"Access-Control-Allow-Origin": "*", "Access-Control-Expose-Headers": "ETag, Last-Modified"}

router = APIRouter(include_in_schema=False)
api_router = APIRouter(prefix="/api", tags=["archive"])


class FeedAddress(BaseModel):
    url: str  # the private feed's address, to give to a podcast app


def _base(request: Request, fonoteca: App) -> str:
    """The archive's address as apps reach it: FONOTECA_PUBLIC_URL behind a proxy, else the request's."""
    return base_url(request, fonoteca.settings.public_url)


def _feed(request: Request, fonoteca: App, show: Show, files_base: str, *, enclosures: bool) -> Response:
    page = f"{_base(request, fonoteca)}/show/{show.slug}"
    document = fonoteca.publish.feed(
        show, files_base=files_base, self_url=f"{files_base}/feed.xml", show_page=page, enclosures=enclosures
    )
    return _file(document)


@router.get("/show/{slug}/feed.xml")
def show_feed(request: Request, fonoteca: App, owner: Owner, slug: str) -> Response:
    """In public mode everyone's: the publisher's media go in it unless FONOTECA_PUBLIC_MEDIA=none keeps the public
    from playing them."""
    show = fonoteca.archive.get_show(slug)
    enclosures = owner or fonoteca.settings.public_media != "none"
    return _feed(request, fonoteca, show, f"{_base(request, fonoteca)}/show/{show.slug}", enclosures=enclosures)


@router.get("/show/{slug}/episodes/{episode_id}.{suffix}")
def show_file(fonoteca: App, slug: str, episode_id: str, suffix: str) -> Response:
    show = fonoteca.archive.get_show(slug)
    return _file(fonoteca.publish.episode_file(show, *_named(episode_id, suffix)))


@router.get("/feeds/{secret}/feed.xml")
def private_feed(request: Request, fonoteca: App, secret: str) -> Response:
    show = fonoteca.publish.private_show(secret)  # the owner gave this address away: the feed is theirs
    return _feed(request, fonoteca, show, f"{_base(request, fonoteca)}/feeds/{secret}", enclosures=True)


@router.get("/feeds/{secret}/episodes/{episode_id}.{suffix}")
def private_file(fonoteca: App, secret: str, episode_id: str, suffix: str) -> Response:
    show = fonoteca.publish.private_show(secret)
    return _file(fonoteca.publish.episode_file(show, *_named(episode_id, suffix)))


def _named(episode_id: str, suffix: str) -> tuple[str, str]:
    """The episode and file of `{id}.vtt` or `{id}.chapters.json`: the path's pattern cuts at the last dot, and an
    episode id has none."""
    episode, _, rest = f"{episode_id}.{suffix}".partition(".")
    return episode, rest


def _file(document: Published) -> Response:
    return Response(document.body, media_type=document.media_type, headers=CORS)


@router.get("/shows.opml")
def shows_opml(fonoteca: App) -> Response:
    headers = {"Content-Disposition": 'attachment; filename="shows.opml"'}
    return Response(fonoteca.publish.opml(), media_type="text/x-opml; charset=utf-8", headers=headers)


@api_router.get("/shows/{slug}/feed", response_model=FeedAddress)
def api_private_feed(request: Request, fonoteca: App, slug: str) -> FeedAddress:
    """The address of the show's private feed, for podcast apps (made on first use)."""
    secret = fonoteca.publish.secret(fonoteca.archive.get_show(slug))
    return FeedAddress(url=f"{_base(request, fonoteca)}/feeds/{secret}/feed.xml")


@api_router.post("/shows/{slug}/feed/rotate", response_model=FeedAddress)
def api_rotate_feed(request: Request, fonoteca: App, slug: str) -> FeedAddress:
    """A new secret address for the show's private feed; the old one stops answering at once."""
    secret = fonoteca.publish.secret(fonoteca.archive.get_show(slug), rotate=True)
    return FeedAddress(url=f"{_base(request, fonoteca)}/feeds/{secret}/feed.xml")
