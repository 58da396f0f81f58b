"""A show's words: `fonoteca vocabulary add|list|remove` (hints for Whisper), `fonoteca corrections
add|list|remove|import` (rules applied to its transcripts as a new revision) and `fonoteca corrections
edit|history|revert` (one line of an episode fixed by hand, as on the episode page)."""

from __future__ import annotations

import getpass
import socket
from pathlib import Path
from typing import Annotated

import typer
from rich.table import Table

from fonoteca.cli import app, app_of
from fonoteca.cli.console import console, err_console, print_json, safe
from fonoteca.cli.options import AsJson, ShowName
from fonoteca.corrections import Preview
from fonoteca.errors import CorrectionError
from fonoteca.output import LineEditOut, PreviewOut, RuleOut, dump
from fonoteca.text import format_timestamp

PREVIEW_LINES = 20  # lines of a preview shown in the terminal; --json has them all

vocabulary_app = typer.Typer(
    help="A show's own words (names, products, guests): Whisper is told to expect them when it transcribes the "
    "show's episodes (FONOTECA_HINTS).",
    no_args_is_help=True,
)
corrections_app = typer.Typer(
    help="Correction rules per show: a mistake of the transcriber (whole words, any case and accents) and what was "
    "said. Applying them makes a new transcript revision that search, trends and watches follow; removing one "
    "restores the lines it changed.",
    no_args_is_help=True,
)


@vocabulary_app.command("add")
def vocabulary_add(
    ctx: typer.Context,
    show: ShowName,
    terms: Annotated[list[str], typer.Argument(help='Terms as the show writes them: "Next.js" Vercel midudev.')],
) -> None:
    """Add terms to the show's vocabulary (used from the next transcription on: `fonoteca retry --force ID` redoes
    an episode with them)."""
    added = app_of(ctx).corrections.add_terms(show, terms)
    known = len(terms) - len(added)
    console.print(
        f"Added {len(added)} term(s){f' ({known} already there)' if known else ''}: {safe(', '.join(added)) or '—'}",
        highlight=False,
    )


@vocabulary_app.command("list")
def vocabulary_list(ctx: typer.Context, show: ShowName, as_json: AsJson = False) -> None:
    """The show's vocabulary, in the order it was added."""
    terms = app_of(ctx).corrections.terms(show)
    if as_json:
        print_json(terms)
    elif not terms:
        console.print('No vocabulary yet: [bold]fonoteca vocabulary add SHOW "Next.js" Vercel[/].')
    else:
        console.print(safe(", ".join(terms)), highlight=False)


@vocabulary_app.command("remove")
def vocabulary_remove(
    ctx: typer.Context, show: ShowName, terms: Annotated[list[str], typer.Argument(help="Terms to remove.")]
) -> None:
    """Remove terms from the show's vocabulary."""
    removed = app_of(ctx).corrections.remove_terms(show, terms)
    console.print(f"Removed {len(removed)} term(s): {safe(', '.join(removed))}", highlight=False)


def _print_preview(preview: Preview, *, applied: bool) -> None:
    verb = "Changed" if applied else "Would change"
    console.print(
        f"{verb} {len(preview.changes)} of {preview.lines} line(s) in {preview.episodes} episode(s): "
        f"[bold]“{safe(preview.rule.wrong)}”[/] → [bold]“{safe(preview.rule.right)}”[/]",
        highlight=False,
    )
    for change in preview.changes[:PREVIEW_LINES]:
        console.print(
            f"  {safe(change.episode_id)} [cyan]{format_timestamp(change.start)}[/] [dim]{safe(change.episode_title)}"
            f"[/]\n    - {safe(change.before)}\n    + {safe(change.after)}",
            highlight=False,
        )
    if len(preview.changes) > PREVIEW_LINES:
        console.print(f"  … and {len(preview.changes) - PREVIEW_LINES} more (--json lists them all)")


@corrections_app.command("add")
def corrections_add(
    ctx: typer.Context,
    show: ShowName,
    wrong: Annotated[str, typer.Argument(help='The mistake, e.g. "nevaces nevados".')],
    right: Annotated[str, typer.Argument(help='What was said, e.g. "bases de datos".')],
    dry_run: Annotated[bool, typer.Option("--dry-run", help="Only list the lines it would change.")] = False,
    as_json: AsJson = False,
) -> None:
    """Add a correction rule: lists the lines it changes (and how many), then applies it to every episode of the
    show as a new transcript revision; later transcriptions get it too."""
    corrections = app_of(ctx, progress=not as_json).corrections
    preview = corrections.preview(show, wrong, right) if dry_run else corrections.add_rule(show, wrong, right)
    if as_json:
        print_json(dump(PreviewOut.of(preview)))
    else:
        _print_preview(preview, applied=not dry_run)


@corrections_app.command("list")
def corrections_list(ctx: typer.Context, show: ShowName, as_json: AsJson = False) -> None:
    """The show's correction rules, in the order they apply."""
    rules = app_of(ctx).corrections.rules(show)
    if as_json:
        print_json(dump([RuleOut.of(r) for r in rules]))
        return
    if not rules:
        console.print('No correction rules yet: [bold]fonoteca corrections add SHOW "wrong words" "right words"[/].')
        return
    table = Table("id", "mistake", "correction", "since")
    for r in rules:
        table.add_row(str(r.id), safe(r.wrong), safe(r.right), safe(r.created_at[:10]))
    console.print(table)


@corrections_app.command("remove")
def corrections_remove(
    ctx: typer.Context,
    show: ShowName,
    ref: Annotated[str, typer.Argument(help="The rule's mistake or its id (`fonoteca corrections list SHOW`).")],
) -> None:
    """Remove a rule: the lines it changed go back to what was transcribed."""
    rule, changed = app_of(ctx).corrections.remove_rule(show, ref)
    console.print(
        f"Removed [bold]“{safe(rule.wrong)}”[/] → “{safe(rule.right)}”: {changed} line(s) restored.", highlight=False
    )


@corrections_app.command("import")
def corrections_import(
    ctx: typer.Context,
    show: ShowName,
    path: Annotated[Path, typer.Argument(help="A file of `wrong<TAB>right` lines (UTF-8; # starts a comment).")],
) -> None:
    """Add every rule of a rules file (harmontown-search's transcription_corrections.tsv format) and apply them."""
    report = app_of(ctx).corrections.import_rules(show, path)
    for note in report.notes:
        err_console.print(f"[yellow]note:[/] {safe(note)}", highlight=False)
    for number, reason in report.skipped:
        err_console.print(f"[yellow]line {number} left out:[/] {safe(reason)}", highlight=False)
    console.print(f"Added {len(report.added)} rule(s); {report.changed} line(s) changed.")


EpisodeId = Annotated[str, typer.Argument(help="Episode id (see `fonoteca episodes`).")]


def cli_editor() -> str:
    """Who made a change from the command line, as a line's history names it: the user of this machine and the
    machine (an archive on PostgreSQL is changed from several)."""
    try:
        user = getpass.getuser()
    except (OSError, KeyError):  # no USER/LOGNAME and no passwd entry (some containers)
        user = "unknown user"
    return f"{user}@{socket.gethostname()} (command line)"


def _seconds(clock: str) -> float:
    """1:02:03, 2:03 or 123 (seconds)."""
    try:
        parts = [float(p) for p in clock.strip().split(":")]
    except ValueError:
        parts = []
    if not parts or len(parts) > 3 or any(p < 0 for p in parts):
        raise CorrectionError(f"{clock!r} is not a time in the episode", "write it as 1:02:03, 2:03 or 123")
    return sum(p * 60**i for i, p in enumerate(reversed(parts)))


@corrections_app.command("edit")
def corrections_edit(
    ctx: typer.Context,
    episode: EpisodeId,
    at: Annotated[str, typer.Argument(help="When the line is said: 1:02:03, 2:03 or seconds.")],
    text: Annotated[str, typer.Argument(help="The line as it is said.")],
) -> None:
    """Fix one line of an episode by hand, as the ✎ of the episode page does: kept over the show's rules and a new
    transcription until it is reverted; its history names who fixed it."""
    corrections = app_of(ctx).corrections
    edit = corrections.edit_line(episode, corrections.line_at(episode, _seconds(at)), text, cli_editor())
    console.print(
        f"Fixed the line at [cyan]{format_timestamp(edit.start)}[/] (edit {edit.id}):\n"
        f"  - {safe(edit.before)}\n  + {safe(edit.after)}",
        highlight=False,
    )


@corrections_app.command("history")
def corrections_history(ctx: typer.Context, episode: EpisodeId, as_json: AsJson = False) -> None:
    """The lines of an episode fixed by hand, newest first: when, who, before and after, and whether reverted."""
    edits = app_of(ctx).corrections.edits(episode)
    if as_json:
        print_json(dump([LineEditOut.of(e) for e in edits]))
        return
    if not edits:
        console.print("No line of this episode was fixed by hand.")
        return
    for e in edits:
        state = "[green]active[/]"
        if e.reverted_at:
            state = f"reverted {_when(e.reverted_at)} by {safe(e.reverted_by or '')}"
        console.print(
            f"edit {e.id}  [cyan]{format_timestamp(e.start)}[/]  {_when(e.edited_at)}  {safe(e.editor)}  ({state})\n"
            f"  - {safe(e.before)}\n  + {safe(e.after)}",
            highlight=False,
        )


def _when(iso: str | None) -> str:
    return (iso or "")[:16].replace("T", " ")


@corrections_app.command("revert")
def corrections_revert(
    ctx: typer.Context,
    edit_id: Annotated[int, typer.Argument(help="The edit's number (`fonoteca corrections history EPISODE`).")],
) -> None:
    """Undo a line fixed by hand: the line goes back to what was transcribed (and the show's rules make of it)."""
    edit = app_of(ctx).corrections.revert_edit(edit_id, cli_editor())
    console.print(
        f"Edit {edit.id} (the line at {format_timestamp(edit.start)}) reverted {_when(edit.reverted_at)} "
        f"by {safe(edit.reverted_by or '')}: the line is back to what was transcribed, with the show's rules.",
        highlight=False,
    )


app.add_typer(vocabulary_app, name="vocabulary")
app.add_typer(corrections_app, name="corrections")
