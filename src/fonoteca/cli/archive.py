"""Reading the archive back (shows, episodes, status, stats, export, check) and moving it (migrate)."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer
from rich.table import Table

from fonoteca.archive import Archive, Status
from fonoteca.cli import app, app_of
from fonoteca.cli.console import console, print_json, printable, safe
from fonoteca.cli.options import AsJson, ChapterFormat, ExportFormat, ShowArgument
from fonoteca.corrections import UNSURE_BELOW
from fonoteca.errors import FonotecaError
from fonoteca.output import (
    DamagedOut,
    EpisodeOut,
    OverviewOut,
    StatsOut,
    StatusOut,
    TableCheckOut,
    UnsureWordOut,
    dump,
    shows_of,
)
from fonoteca.pipeline import PENDING
from fonoteca.search import episode_url
from fonoteca.text import format_duration, format_timestamp, stats_header

if TYPE_CHECKING:
    from fonoteca.app import Fonoteca
    from fonoteca.jobs import Fleet


def _duration(seconds: float | None) -> str:
    return format_duration(seconds).removeprefix("0d ").removeprefix("0h ") if seconds else "—"


def _print_fleet(fleet: Fleet, archive: Archive) -> None:
    queues = [f"{q.queue} {q.waiting} waiting, {q.running} running, {q.failed} failed" for q in fleet.queues]
    console.print(
        f"Workers: {fleet.workers} alive, {fleet.busy_workers} busy; last hour {_duration(fleet.transcribed_last_hour)}"
        f" of audio transcribed ({fleet.hours_per_hour:.2f} h/h)"
    )
    console.print(f"Jobs: {'; '.join(queues) or 'none'}")
    episodes = archive.episodes_by_ids(str(job.subject.get("episode_id")) for job in fleet.running)
    for job in fleet.running:
        episode = episodes.get(str(job.subject.get("episode_id")))
        subject = f"{episode.id}  {safe(episode.title)}" if episode else safe(str(job.subject))
        tries = f", try {job.attempts + 1}" if job.attempts else ""
        console.print(f"  [cyan]{job.task:<19}[/] {subject} (worker {job.worker or '—'}{tries})", highlight=False)


@app.command()
def shows(ctx: typer.Context, as_json: AsJson = False) -> None:
    """List the shows in the archive."""
    archive = app_of(ctx).archive
    stats = archive.stats()
    rows = shows_of(stats, {s.id: len(archive.list_episodes(s.id)) for s, _n, _secs in stats.by_show})
    if as_json:
        print_json(dump(rows))
        return
    if not rows:
        console.print("The archive is empty. Add a show with [bold]fonoteca add FEED_URL_OR_FOLDER[/].")
        return
    table = Table("show", "title", "episodes", "transcribed", "time", "language", "source")
    for row in rows:
        table.add_row(
            safe(row.slug), safe(row.title), str(row.episodes), str(row.transcribed), row.time,
            safe(row.language or "auto"), safe(row.source),
        )  # fmt: skip
    console.print(table)


@app.command()
def episodes(
    ctx: typer.Context,
    show: ShowArgument = None,
    status: Annotated[Status | None, typer.Option("--status", help="Only episodes with this status.")] = None,
    as_json: AsJson = False,
) -> None:
    """List episodes, oldest first. The id column is what other commands accept."""
    archive = app_of(ctx).archive
    found = archive.list_episodes(archive.get_show(show).id if show else None, status=status)
    if as_json:
        print_json(dump([EpisodeOut.of(e) for e in found]))
        return
    table = Table("id", "date", "show", "title", "duration", "status", "source")
    for e in found:
        state = e.status if e.status != "failed" else f"[red]failed[/]: {safe(e.error or '')}"
        table.add_row(
            e.id, safe(e.date or "—"), safe(e.show_title), safe(e.title), _duration(e.duration), state,
            safe(e.source or "—"),
        )  # fmt: skip
    console.print(table)


@app.command()
def status(ctx: typer.Context, as_json: AsJson = False) -> None:
    """What is pending and what failed, with the reasons; on PostgreSQL also the job queues and what the
    workers are running."""
    fonoteca = app_of(ctx)
    archive = fonoteca.archive
    counts = archive.status_counts()
    waiting = archive.list_episodes(status=PENDING)
    failed = archive.list_episodes(status="failed")
    fleet = None if archive.is_sqlite else fonoteca.jobs.fleet()
    if as_json:
        print_json(dump(StatusOut.of(counts, waiting, failed, fleet)))
        return
    summary = ", ".join(f"{n} {state}" for state, n in sorted(counts.items())) or "no episodes"
    console.print(summary)
    for e in waiting:
        console.print(f"  [yellow]{e.status:<12}[/] {e.id}  {safe(e.show_title)} — {safe(e.title)}")
    for e in failed:
        console.print(
            f"  [red]failed[/]       {e.id}  {safe(e.show_title)} — {safe(e.title)}: {safe(e.error)}",
            highlight=False,
        )
    if fleet:
        _print_fleet(fleet, archive)
    if waiting:
        console.print("Run [bold]fonoteca sync[/] to finish the pending episodes.")
    if failed:
        console.print("Run [bold]fonoteca retry[/] to try the failed ones again.")


@app.command()
def stats(
    ctx: typer.Context,
    show: Annotated[
        str | None, typer.Argument(help="Show slug, id or title (default: every show and the total).")
    ] = None,
    as_json: AsJson = False,
) -> None:
    """The archive's header: transcribed episodes and time transcribed, per show and overall."""
    result = app_of(ctx).stats(show)
    if as_json:
        print_json(dump(StatsOut.of(result)))
        return
    if show is None:
        console.print(f"[bold]All shows[/]  {stats_header(result.episodes, result.seconds)}", highlight=False)
    for s, n, secs in result.by_show:
        console.print(f"[bold]{safe(s.title)}[/]  {stats_header(n, secs)}", highlight=False)


@app.command()
def export(
    ctx: typer.Context,
    episode: Annotated[str, typer.Argument(help="Episode id (see `fonoteca episodes`).")],
    fmt: Annotated[ExportFormat, typer.Option("--format", "-f", help="json is Podcasting 2.0's.")] = "txt",
    output: Annotated[
        Path | None, typer.Option("--output", "-o", help="Write to this file instead of printing.")
    ] = None,
) -> None:
    """Export an episode's transcript."""
    _write_or_print(app_of(ctx).export(episode, fmt), output)


def _write_or_print(rendered: str, output: Path | None) -> None:
    if output is None:  # a transcript is feed text too: no escape sequence reaches the terminal
        typer.echo(printable(rendered), nl=not rendered.endswith("\n"))
        return
    try:
        output.write_text(rendered, encoding="utf-8")
    except OSError as exc:
        raise FonotecaError(f"cannot write {output}: {exc.strerror}", "choose a writable path with --output") from exc
    console.print(f"Wrote {safe(output)}")


@app.command()
def chapters(
    ctx: typer.Context,
    episode: Annotated[str, typer.Argument(help="Episode id (see `fonoteca episodes`).")],
    fmt: Annotated[
        ChapterFormat | None,
        typer.Option("--format", "-f", help="Export them: json (Podcasting 2.0 chapters 1.2) or vtt (WebVTT)."),
    ] = None,
    output: Annotated[
        Path | None, typer.Option("--output", "-o", help="Write the export to this file instead of printing.")
    ] = None,
    as_json: AsJson = False,
) -> None:
    """An episode at a glance: its chapters (the publisher's, else found in the transcript), key moments and
    topics, made now if they are missing."""
    fonoteca = app_of(ctx)
    if fmt is not None:
        _write_or_print(fonoteca.export_chapters(episode, fmt, make=True), output)
        return
    found, overview = fonoteca.overview(episode, make=True)
    result = OverviewOut.of(found, overview)
    if as_json:
        print_json(dump(result))
        return
    console.print(f"[bold]{safe(found.title)}[/]", highlight=False)
    if not result.chapters:
        console.print("No chapters yet: its transcript is not finished (`fonoteca status`).")
        return
    whose = "the publisher's" if result.chapters_source == "publisher" else "found in the transcript"
    console.print(f"Chapters ({whose}):")
    for chapter in result.chapters:
        if chapter.toc:
            console.print(f"  {format_timestamp(chapter.start):>8}  {safe(chapter.title)}", highlight=False)
    if result.key_moments:
        console.print("Key moments:")
        for moment in result.key_moments:
            console.print(f"  {format_timestamp(moment.start):>8}  “{safe(moment.quote)}”", highlight=False)
    if result.topics:
        console.print("Topics: " + ", ".join(safe(t.term) for t in result.topics), highlight=False)


@app.command()
def check(
    ctx: typer.Context,
    words: Annotated[
        str | None,
        typer.Option(
            "--words", metavar="SHOW", help="Instead: the names Whisper was least sure of across the show, to check."
        ),
    ] = None,
    as_json: AsJson = False,
) -> None:
    """Find damaged transcripts (segments repeated or overlapping) and say how to repair each; exit 1 if any."""
    if words is not None:
        _check_words(app_of(ctx), words, as_json)
        return
    damaged = app_of(ctx).archive.damaged_transcripts()
    if as_json:
        print_json(dump([DamagedOut.of(d) for d in damaged]))
    elif not damaged:
        console.print("No damaged transcripts.")
    else:
        for d in damaged:
            console.print(
                f"  [red]damaged[/] {d.episode_id}  {safe(d.show_title)} — {safe(d.title)}: "
                f"{d.duplicated} repeated, {d.overlapping} overlapping segments",
                highlight=False,
            )
        console.print("Repair each with [bold]fonoteca retry --force ID[/] (it is transcribed again).")
    if damaged:
        raise typer.Exit(1)


def _check_words(fonoteca: Fonoteca, show: str, as_json: bool) -> None:
    unsure = fonoteca.corrections.unsure_names(show, below=UNSURE_BELOW)
    if as_json:
        print_json(dump([UnsureWordOut.of(w) for w in unsure]))
        return
    if not unsure:
        console.print(f"No name below {UNSURE_BELOW:.0%} confidence in the show's unchecked lines.")
        return
    table = Table("word", "times", "confidence", "where it was least sure")
    for w in unsure:
        where = f"{fonoteca.watcher.base_url}{episode_url(w.episode_id, w.start)}"
        table.add_row(safe(w.word), str(w.count), f"{w.probability:.0%}", safe(where))
    console.print(table)
    console.print(
        'Fix a name everywhere with [bold]fonoteca corrections add SHOW "wrong" "right"[/], or one line on its page.'
    )


@app.command()
def migrate(
    ctx: typer.Context,
    to: Annotated[
        str, typer.Option("--to", help="The database to copy the archive into: postgresql://user:password@host/db.")
    ],
    as_json: AsJson = False,
) -> None:
    """Copy this archive into PostgreSQL (every show, episode, transcript, analysis and conversation), checking
    each table's rows and checksum at the end. Interrupted, the same command goes on where it stopped."""
    checks = app_of(ctx, progress=not as_json).migrate(to)
    if as_json:
        print_json(dump([TableCheckOut.of(c) for c in checks]))
    else:
        table = Table("table", "rows", "checksum", "")
        for c in checks:
            mark = "[green]✓[/]" if c.matches else f"[red]✗ {c.target_rows} rows, {c.target_checksum}[/]"
            table.add_row(c.table, str(c.source_rows), c.source_checksum, mark)
        console.print(table)
    differing = [c.table for c in checks if not c.matches]
    if differing:
        raise FonotecaError(
            f"the copy differs from the archive in {', '.join(differing)}",
            "run the same command again to finish the copy; if it still differs, report it",
        )
    if not as_json:
        rows = sum(c.source_rows for c in checks)
        console.print(
            f"Copied and checked {rows} rows. Use the copy with [bold]FONOTECA_DATABASE_URL[/] or --database-url."
        )
