"""The owner's page: add a show (a feed, a channel or page, a folder on the server), sync, retry a failed episode,
and what runs. Every form calls the Fonoteca method of its CLI command, in the background (web/owner_tasks.py), and
the page shows the command's own lines; while something runs it reloads itself every few seconds (no script)."""

from __future__ import annotations

from fastapi import APIRouter, Form, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response

from fonoteca.pipeline import SyncReport
from fonoteca.web.deps import App, Tasks, Templates
from fonoteca.web.pages import fleet_context

router = APIRouter(include_in_schema=False)


@router.get("/owner", response_class=HTMLResponse)
def owner_page(request: Request, fonoteca: App, templates: Templates, tasks: Tasks) -> Response:
    archive = fonoteca.archive
    context = {
        "tasks": tasks.tasks(),
        "busy": tasks.busy(),
        "shows": archive.list_shows(),
        "failed": archive.list_episodes(status="failed"),
        **fleet_context(fonoteca),
    }
    return templates.TemplateResponse(request, "owner.html", context)


@router.post("/owner/add")
def add_show(
    fonoteca: App, tasks: Tasks, source: str = Form(..., min_length=1, max_length=2000),
    title: str = Form("", max_length=300), language: str = Form("", max_length=8),
) -> RedirectResponse:  # fmt: skip
    """`fonoteca add SOURCE [--title] [--language]`."""

    def add() -> tuple[str, SyncReport]:
        show, report = fonoteca.add(source.strip(), title=title.strip() or None, language=language.strip() or None)
        return f"{show.title} ({show.slug})", report

    tasks.submit(f"Add {source.strip()}", add)
    return _back()


@router.post("/owner/sync")
def sync_shows(fonoteca: App, tasks: Tasks, show: str = Form("", max_length=300)) -> RedirectResponse:
    """`fonoteca sync [SHOW]`."""
    tasks.submit(f"Sync {show or 'every show'}", lambda: ("", fonoteca.sync(show or None)))
    return _back()


@router.post("/owner/retry")
def retry_episodes(fonoteca: App, tasks: Tasks, episode: str = Form("", max_length=64)) -> RedirectResponse:
    """`fonoteca retry [EPISODE]`."""
    tasks.submit(f"Retry {episode or 'every failed episode'}", lambda: ("", fonoteca.retry(episode or None)))
    return _back()


def _back() -> RedirectResponse:
    return RedirectResponse("/owner#tasks", status_code=303)
