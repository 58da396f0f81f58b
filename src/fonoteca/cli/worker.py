"""Running the queued work on this machine: `fonoteca worker` (an archive on PostgreSQL; fonoteca.jobs)."""

from __future__ import annotations

import os
import time
from typing import Annotated

import typer

from fonoteca.cli import app, app_of
from fonoteca.cli.console import err_console, safe
from fonoteca.cli.options import DeviceOption
from fonoteca.events import EpisodeFailed, EpisodeTranscribed, Event, Note, TranscriptImported
from fonoteca.text import format_duration


class WorkerLog:
    """A worker's event sink: one line, with the time, per episode transcribed, imported or failed and per note. No
    progress bars: several jobs run at once, for hours, and the output often goes to a log."""

    def __call__(self, event: Event) -> None:
        if isinstance(event, EpisodeTranscribed):
            speed = f" at {event.realtime:.1f}× realtime" if event.realtime else ""
            length = format_duration(event.seconds).removeprefix("0d ").removeprefix("0h ")
            _line(f"[green]✓[/] {safe(event.title)} — {length} transcribed{speed}")
        elif isinstance(event, TranscriptImported):
            _line(f"[green]✓[/] {safe(event.title)} — {event.origin} transcript imported")
        elif isinstance(event, EpisodeFailed):
            _line(f"[red]failed[/] {event.episode_id} {safe(event.title)}: {safe(event.reason)}")
        elif isinstance(event, Note):
            _line(f"[yellow]note:[/] {safe(event.message)}")


def _line(text: str) -> None:
    err_console.print(f"[dim]{time.strftime('%H:%M:%S')}[/] {text}", highlight=False)


@app.command()
def worker(
    ctx: typer.Context,
    concurrency: Annotated[int, typer.Option("--concurrency", "-c", min=1, help="Jobs run at once.")] = 1,
    queue: Annotated[
        list[str] | None,
        typer.Option(
            "--queue",
            "-q",
            help="download (re-read shows, import transcripts, download media), transcribe (Whisper, then the word "
            "counts), llm (analyses queued by `analyze --queue`) or all (default); repeat it for several.",
            show_default=False,
        ),
    ] = None,
    device: DeviceOption = None,
    schedule: Annotated[
        bool, typer.Option("--schedule", help="Also re-read every show each FONOTECA_SYNC_PERIOD_MINUTES (default 60).")
    ] = False,
    until_empty: Annotated[
        bool, typer.Option("--until-empty", help="Stop once no job is waiting (jobs scheduled for later stay queued).")
    ] = False,
) -> None:
    """Run the jobs `add`, `sync` and `retry` queue when the archive is on PostgreSQL. Any number of workers, on
    any machines that reach the database (and, for local folder shows, the media), share them."""
    from fonoteca.jobs import QUEUES, on_sqlite
    from fonoteca.jobs.worker import run_worker

    fonoteca = app_of(ctx, progress=False, device=device)
    if not fonoteca.settings.database_url:  # refused before an empty SQLite archive is made to say so
        raise on_sqlite(fonoteca.settings.db_path)
    fonoteca.events = WorkerLog()
    queues = None if not queue or "all" in queue else queue
    where = fonoteca.archive.location
    _line(
        f"worker {os.getpid()} on {safe(where)}: {', '.join(queues or QUEUES)}, {concurrency} job(s) at a time"
        + (f", every show re-read each {fonoteca.settings.sync_period_minutes} min" if schedule else "")
        + "; Ctrl-C stops it"
    )
    run_worker(fonoteca, queues=queues, concurrency=concurrency, schedule=schedule, until_empty=until_empty)
