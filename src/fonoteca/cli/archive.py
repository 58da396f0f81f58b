"""Reading the archive back: shows, episodes, status, stats, export."""

from __future__ import annotations

from dataclasses import asdict
from pathlib import Path
from typing import Any

import typer
from rich.table import Table

from fonoteca.archive import STATUSES, Archive, Episode
from fonoteca.cli import archive_of, console, fail, print_json
from fonoteca.console import printable, safe
from fonoteca.text import format_duration, stats_header

JSON_OPTION = typer.Option(False, "--json", help="Print JSON for scripts.")


def episode_json(episode: Episode) -> dict[str, Any]:
    return {
        "id": episode.id,
        "show": episode.show_title,
        "title": episode.title,
        "date": episode.date,
        "status": episode.status,
        "duration": episode.duration,
        "source": episode.source,
        "kind": episode.kind,
        "language": episode.language,
        "error": episode.error,
        "media": episode.media_path or episode.media_url,
    }


def _show_id(archive: Archive, show: str | None) -> int | None:
    return archive.get_show(show).id if show else None


def _duration(seconds: float | None) -> str:
    return format_duration(seconds).removeprefix("0d ").removeprefix("0h ") if seconds else "—"


def register(app: typer.Typer) -> None:
    @app.command()
    def shows(ctx: typer.Context, as_json: bool = JSON_OPTION) -> None:
        """List the shows in the archive."""
        archive = archive_of(ctx)
        stats = archive.stats()
        rows = []
        for show, done, seconds in stats.by_show:
            total = len(archive.list_episodes(show.id))
            rows.append({**show.to_dict(), "episodes": total, "transcribed": done, "seconds": seconds})
        if as_json:
            print_json(rows)
            return
        if not rows:
            console.print("The archive is empty. Add a show with [bold]fonoteca add FEED_URL_OR_FOLDER[/].")
            return
        table = Table("show", "title", "episodes", "transcribed", "time", "language", "source")
        for row in rows:
            language = row["language"] or "auto"
            table.add_row(
                safe(row["slug"]), safe(row["title"]), str(row["episodes"]), str(row["transcribed"]),
                format_duration(row["seconds"]), safe(language), safe(row["source"]),
            )  # fmt: skip
        console.print(table)

    @app.command()
    def episodes(
        ctx: typer.Context,
        show: str = typer.Argument(None, help="Show slug, id or title (default: all shows)."),
        status: str = typer.Option(None, "--status", help="Only episodes with this status."),
        as_json: bool = JSON_OPTION,
    ) -> None:
        """List episodes, oldest first. The id column is what other commands accept."""
        if status is not None and status not in STATUSES:
            raise fail(f"unknown status {status!r}", f"choose one of {', '.join(STATUSES)}")
        archive = archive_of(ctx)
        found = archive.list_episodes(_show_id(archive, show), status=status)
        if as_json:
            print_json([episode_json(e) for e in found])
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
    def status(ctx: typer.Context, as_json: bool = JSON_OPTION) -> None:
        """What is pending and what failed, with the reasons."""
        archive = archive_of(ctx)
        counts = archive.status_counts()
        waiting = archive.list_episodes(status=("new", "downloaded", "transcribing"))
        failed = archive.list_episodes(status="failed")
        if as_json:
            print_json(
                {
                    "counts": counts,
                    "pending": [episode_json(e) for e in waiting],
                    "failed": [episode_json(e) for e in failed],
                }
            )
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
        if waiting:
            console.print("Run [bold]fonoteca sync[/] to finish the pending episodes.")
        if failed:
            console.print("Run [bold]fonoteca retry[/] to try the failed ones again.")

    @app.command()
    def stats(
        ctx: typer.Context,
        show: str = typer.Argument(None, help="Show slug, id or title (default: every show and the total)."),
        as_json: bool = JSON_OPTION,
    ) -> None:
        """The archive's header: transcribed episodes and time transcribed, per show and overall."""
        archive = archive_of(ctx)
        result = archive.stats(_show_id(archive, show))
        if as_json:
            print_json(
                {
                    "episodes": result.episodes,
                    "seconds": result.seconds,
                    "time": format_duration(result.seconds),
                    "shows": [
                        {
                            "show": s.slug,
                            "title": s.title,
                            "episodes": n,
                            "seconds": secs,
                            "time": format_duration(secs),
                        }
                        for s, n, secs in result.by_show
                    ],
                }
            )
            return
        if show is None:
            console.print(f"[bold]All shows[/]  {stats_header(result.episodes, result.seconds)}", highlight=False)
        for s, n, secs in result.by_show:
            console.print(f"[bold]{safe(s.title)}[/]  {stats_header(n, secs)}", highlight=False)

    @app.command()
    def export(
        ctx: typer.Context,
        episode: str = typer.Argument(..., help="Episode id (see `fonoteca episodes`)."),
        fmt: str = typer.Option("txt", "--format", "-f", help="txt, srt, vtt or json (Podcasting 2.0)."),
        output: Path = typer.Option(None, "--output", "-o", help="Write to this file instead of printing."),
    ) -> None:
        """Export an episode's transcript."""
        from fonoteca.ingest.transcripts import EXPORT_FORMATS, render_transcript

        if fmt not in EXPORT_FORMATS:
            raise fail(f"unknown format {fmt!r}", f"choose one of {', '.join(EXPORT_FORMATS)}")
        archive = archive_of(ctx)
        found = archive.get_episode(episode)
        segments = archive.segments(found.id)
        if not segments:
            todo = f"run `fonoteca retry {found.id}`" if found.status == "failed" else "run `fonoteca sync`"
            raise fail(f"episode {found.id} has no transcript yet (status: {found.status})", todo)
        rendered = render_transcript(segments, fmt)
        if output is None:  # a transcript is feed text too: no escape sequence reaches the terminal
            typer.echo(printable(rendered), nl=not rendered.endswith("\n"))
            return
        try:
            output.write_text(rendered, encoding="utf-8")
        except OSError as exc:
            raise fail(f"cannot write {output}: {exc.strerror}", "choose a writable path with --output") from exc
        console.print(f"Wrote {safe(output)}")

    @app.command()
    def check(ctx: typer.Context, as_json: bool = JSON_OPTION) -> None:
        """Find damaged transcripts (segments repeated or overlapping) and say how to repair each; exit 1 if any."""
        damaged = archive_of(ctx).damaged_transcripts()
        if as_json:
            print_json([asdict(d) for d in damaged])
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
