"""Transcripts people already have: import."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from fonoteca.cli import app, app_of
from fonoteca.cli.console import console, print_json, safe_line
from fonoteca.cli.options import AsJson
from fonoteca.ingest.importer import ImportReport, Outcome
from fonoteca.output import ImportOut, dump

_STYLE = {
    Outcome.MATCHED: "green",
    Outcome.CREATED: "green",
    Outcome.UNCHANGED: "dim",
    Outcome.KEPT: "yellow",
    Outcome.DUPLICATE: "dim",
    Outcome.AMBIGUOUS: "yellow",
    Outcome.UNREADABLE: "red",
}


def _print_report(report: ImportReport) -> None:
    console.print(report.summary())
    for result in report.files:
        if result.outcome in (Outcome.UNCHANGED, Outcome.DUPLICATE):
            continue  # nothing happened to them and nothing is wrong: the summary counts them
        style = _STYLE[result.outcome]
        # One line a file, whatever its name holds (a newline in a file name would start a line of its own).
        what = f" → {result.episode_id or 'new'} {safe_line(result.title)}" if result.title else ""
        how = f" (by {result.by})" if result.by else ""
        why = f": {safe_line(result.reason)}" if result.reason else ""
        notes = "".join(f" [dim]({safe_line(note)})[/]" for note in result.notes)
        console.print(
            f"  [{style}]{result.outcome}[/] {safe_line(result.path)}{what}{how}{why}{notes}", highlight=False
        )


@app.command("import")
def import_command(
    ctx: typer.Context,
    paths: Annotated[
        list[Path],
        typer.Argument(
            help="Transcript files or folders (searched recursively): Whisper's .json/.vtt/.srt/.tsv/.txt, "
            "Podcasting 2.0 JSON, WebVTT, SRT, text or Markdown with speaker turns, timestamps and front matter."
        ),
    ],
    show: Annotated[
        str | None,
        typer.Option(
            "--show", help="Match the files to this show's episodes (slug, id or title); default: a new show."
        ),
    ] = None,
    dry_run: Annotated[bool, typer.Option("--dry-run", help="Say what would be imported; change nothing.")] = False,
    force: Annotated[bool, typer.Option("--force", help="Replace transcripts the episodes already have.")] = False,
    as_json: AsJson = False,
) -> None:
    """Import transcripts you already have, matched to a show's episodes (by GUID or file name, episode number,
    date, then title); ambiguous matches are listed, not imported."""
    report = app_of(ctx, progress=not as_json).import_transcripts(
        [str(p) for p in paths], show=show, dry_run=dry_run, force=force
    )
    if as_json:
        print_json(dump(ImportOut.of(report)))
    else:
        _print_report(report)
    raise typer.Exit(1 if report.failed else 0)
