"""What a visitor sees of what is the owner's: the media their player plays, and the API's shows and episodes.

The archive keeps things only its owner should see: where the server keeps a show's folder and its downloads, and
the reason an episode failed (which names files and servers). The web gives everyone else none of them: an episode's
`media` is the address its player plays (never a path on the server), its `error` is the owner's alone, and a show's
`source` is its address on the web, never a folder of the server.

The player: the owner's plays fonoteca's downloaded copy when there is one. Everyone else's follows
FONOTECA_PUBLIC_MEDIA: `original` (the default) plays the publisher's own media URL, or for a video only links to its
page, and a local show's own files, which are the originals; `local` also serves the downloaded copies; `none` plays
nothing.
"""

from __future__ import annotations

from pathlib import Path

from fonoteca.app import Fonoteca
from fonoteca.archive import Episode, Show, SourceKind
from fonoteca.ingest.media import trusted_media_file
from fonoteca.output import EpisodeOut, ShowOut

WEB_SCHEMES = ("http://", "https://")


def servable_media(fonoteca: Fonoteca, episode: Episode, show: Show | None = None) -> Path | None:
    """Only a file fonoteca downloaded or one in a local show's folder: never another path an archive stored."""
    show = show or fonoteca.archive.get_show(episode.show_id)
    return trusted_media_file(episode, show, fonoteca.settings.media_dir)


def media_src(fonoteca: Fonoteca, episode: Episode, *, owner: bool) -> str | None:
    """The address this visitor's player plays for the episode, or None (no player)."""
    choice = "local" if owner else fonoteca.settings.public_media
    if episode.kind == "text" or choice == "none":
        return None
    show = fonoteca.archive.get_show(episode.show_id)
    own_files = not show.source.startswith(WEB_SCHEMES)  # a folder or feed file on this server: its files are originals
    if (choice == "local" or own_files) and servable_media(fonoteca, episode, show) is not None:
        return f"/media/{episode.id}"
    # a video platform's URL is a page, not a file: the episode page links to it
    if episode.media_url and episode.media_url.startswith(WEB_SCHEMES) and show.source_kind != SourceKind.PLATFORM:
        return episode.media_url
    return None


def episode_out(fonoteca: Fonoteca, episode: Episode, *, owner: bool) -> EpisodeOut:
    seen = {"media": media_src(fonoteca, episode, owner=owner), "error": episode.error if owner else None}
    return EpisodeOut.of(episode).model_copy(update=seen)


def show_out(show: ShowOut, *, owner: bool) -> ShowOut:
    """A show as this visitor may see it: for anyone but the owner, a folder or file of the server is not a source."""
    return show if owner or show.source.startswith(WEB_SCHEMES) else show.model_copy(update={"source": ""})
