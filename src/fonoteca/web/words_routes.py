"""The owner's tools for a show's words on its pages (issue 28): the show's vocabulary and correction rules (with the
lines a rule would change, before it is applied) on the show page; a line fixed in place, the history of fixed lines
and their reverting on the episode page; and the words Whisper was unsure of, underlined on the owner's view.

Every route here is the owner's (web/access.py classifies them OWNER, so AccessGate refuses them to anyone else) and
changes the archive: plain `def`s (the threadpool), forms with the page's CSRF token, or the edit script's request with
its X-CSRF-Token header. What they change is followed as any changed
transcript is (Fonoteca.corrections runs after_transcripts: only the episodes that changed are indexed again).
"""

from __future__ import annotations

from typing import Any
from urllib.parse import quote

from fastapi import APIRouter, Form, HTTPException
from fastapi.responses import JSONResponse, RedirectResponse, Response
from markupsafe import Markup, escape

from fonoteca.app import Fonoteca
from fonoteca.archive import Segment, Show
from fonoteca.errors import CorrectionError
from fonoteca.output import LineEditOut, dump
from fonoteca.web.deps import App, Editor

router = APIRouter(include_in_schema=False)


def unsure_marked(segment: Segment, below: float) -> Markup:
    """The line's text, escaped, with each word Whisper gave a probability under `below` underlined (its probability
    in the title). A line a rule or an edit changed (someone has looked at it), or whose words do not make up its
    text, is shown as it is."""
    words = segment.words or []
    if segment.said is not None or not words or "".join(w[2] for w in words).strip() != segment.text:
        return escape(segment.text)
    pieces = []
    for word in words:
        probability = float(word[3]) if len(word) > 3 else 1.0  # type: ignore[misc]
        token = word[2]
        if probability < below and token.strip():
            lead = token[: len(token) - len(token.lstrip())]
            pieces.append(
                f'{escape(lead)}<u class="unsure" title="Whisper was {probability:.0%} sure of this word">'
                f"{escape(token.strip())}</u>"
            )
        else:
            pieces.append(str(escape(token)))
    return Markup("".join(pieces).strip())


def show_words(fonoteca: Fonoteca, show: Show, *, wrong: str, right: str) -> dict[str, Any]:
    """The show page's part for the owner: the vocabulary, the rules, and the preview of the rule `wrong` → `right`
    when one is asked for (or why it cannot be a rule)."""
    corrections = fonoteca.corrections
    context: dict[str, Any] = {
        "vocabulary": corrections.terms(show.slug),
        "rules": corrections.rules(show.slug),
        "preview": None,
        "preview_error": "",
        "wrong": wrong,
        "right": right,
    }
    if wrong or right:
        try:
            context["preview"] = corrections.preview(show.slug, wrong, right)
        except CorrectionError as exc:
            context["preview_error"] = str(exc)
    return context


def _back_to_show(slug: str, fragment: str = "words") -> Response:
    return RedirectResponse(f"/show/{quote(slug)}#{fragment}", status_code=303)


@router.post("/show/{slug}/vocabulary")
def add_terms(fonoteca: App, slug: str, terms: str = Form(...)) -> Response:
    """Terms separated by commas or lines ("Next.js, Vercel, midudev")."""
    show = fonoteca.archive.get_show(slug)
    given = [t.strip() for line in terms.splitlines() for t in line.split(",") if t.strip()]
    fonoteca.corrections.add_terms(show.slug, given or [terms])
    return _back_to_show(show.slug)


@router.post("/show/{slug}/vocabulary/remove")
def remove_term(fonoteca: App, slug: str, term: str = Form(...)) -> Response:
    show = fonoteca.archive.get_show(slug)
    fonoteca.corrections.remove_terms(show.slug, [term])
    return _back_to_show(show.slug)


@router.post("/show/{slug}/corrections")
def add_rule(fonoteca: App, slug: str, wrong: str = Form(""), right: str = Form("")) -> Response:
    """Apply a rule the owner has previewed on the show page."""
    show = fonoteca.archive.get_show(slug)
    fonoteca.corrections.add_rule(show.slug, wrong, right)
    return _back_to_show(show.slug)


@router.post("/show/{slug}/corrections/{rule_id}/remove")
def remove_rule(fonoteca: App, slug: str, rule_id: int) -> Response:
    show = fonoteca.archive.get_show(slug)
    fonoteca.corrections.remove_rule(show.slug, str(rule_id))
    return _back_to_show(show.slug)


@router.post("/episode/{episode_id}/lines/{idx}")
def edit_line(fonoteca: App, editor: Editor, episode_id: str, idx: int, text: str = Form(...)) -> Response:
    """Fix one line in place (the episode page's edit script): the edit as JSON."""
    edit = fonoteca.corrections.edit_line(episode_id, idx, text, editor)
    return JSONResponse(dump(LineEditOut.of(edit)))


@router.post("/episode/{episode_id}/edits/{edit_id}/revert")
def revert_edit(fonoteca: App, editor: Editor, episode_id: str, edit_id: int) -> Response:
    edit = fonoteca.corrections.edit(edit_id)
    if edit.episode_id != episode_id:
        raise HTTPException(404, f"episode {episode_id} has no edit {edit_id}")
    fonoteca.corrections.revert_edit(edit_id, editor)
    return RedirectResponse(f"/episode/{quote(episode_id)}#line-edits", status_code=303)
