"""The owner's names for who speaks, on the episode page (issue 26): name a voice (the show's other episodes whose
voices match are labelled with the name too), number it again, rename a name in every episode of the show, merge two
voices, and give a wrong turn to another voice.

Every route here is the owner's (web/access.py classifies them OWNER, so AccessGate refuses them to anyone else) and
changes the archive: plain `def`s (the threadpool), forms with the page's CSRF token, answered by a redirect back to
the episode's speakers (post/redirect/get). What they change is followed as any changed transcript is
(Fonoteca.speakers runs after_transcripts)."""

from __future__ import annotations

from urllib.parse import quote

from fastapi import APIRouter, Form
from fastapi.responses import RedirectResponse, Response

from fonoteca.web.deps import App

router = APIRouter(include_in_schema=False)


def _back(episode_id: str) -> Response:
    return RedirectResponse(f"/episode/{quote(episode_id)}#speaker-names", status_code=303)


@router.post("/episode/{episode_id}/speakers/{number}/name")
def name_speaker(fonoteca: App, episode_id: str, number: int, name: str = Form(..., max_length=200)) -> Response:
    fonoteca.speakers.name(episode_id, number, name)
    return _back(episode_id)


@router.post("/episode/{episode_id}/speakers/{number}/unname")
def unname_speaker(fonoteca: App, episode_id: str, number: int) -> Response:
    fonoteca.speakers.unname(episode_id, number)
    return _back(episode_id)


@router.post("/episode/{episode_id}/speakers/merge")
def merge_speakers(fonoteca: App, episode_id: str, keep: int = Form(...), other: int = Form(...)) -> Response:
    fonoteca.speakers.merge(episode_id, keep, other)
    return _back(episode_id)


@router.post("/episode/{episode_id}/speakers/rename")
def rename_speaker(
    fonoteca: App, episode_id: str, old: str = Form(..., max_length=200), new: str = Form(..., max_length=200)
) -> Response:
    """Rename a name of the show (from one of its episodes' pages): every episode that says it is re-labelled."""
    episode = fonoteca.archive.get_episode(episode_id)
    fonoteca.speakers.rename(str(episode.show_id), old, new)
    return _back(episode_id)


@router.post("/episode/{episode_id}/speakers/split")
def split_turn(
    fonoteca: App, episode_id: str, start: float = Form(..., ge=0), end: float | None = Form(None, ge=0),
    to: int | None = Form(None, ge=1),
) -> Response:  # fmt: skip
    fonoteca.speakers.split(episode_id, start, end, to)
    return _back(episode_id)
