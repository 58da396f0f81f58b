"""Watched words: `fonoteca watch add|list|remove`, and `fonoteca watch` for the mentions found since last time."""

from __future__ import annotations

from typing import Annotated

import typer
from rich.table import Table

from fonoteca.archive.models import day_of
from fonoteca.cli import app, app_of
from fonoteca.cli.console import console, print_json, safe
from fonoteca.cli.options import AsJson, ShowFilter
from fonoteca.output import MentionOut, WatchOut, dump
from fonoteca.search import episode_url
from fonoteca.text import format_timestamp
from fonoteca.watch import Mention, Watch

watch_app = typer.Typer(
    help="Watched words: be told when a word or phrase is said again. Without a command: the mentions found by the "
    "syncs since the last time (then marked as seen).",
    invoke_without_command=True,
)


def _where(watch: Watch) -> str:
    return f"in {watch.show_title}" if watch.show_title else "in every show"


def _print_mentions(mentions: list[Mention], base_url: str) -> None:
    for m in mentions:
        console.print(
            f"[bold]“{safe(m.term)}”[/] · [dim]{safe(day_of(m.published) or '—')}[/] "
            f"{safe(m.show_title)} · {safe(m.episode_title)} · [cyan]{format_timestamp(m.start)}[/]",
            highlight=False,
        )
        console.print(f"  {safe(m.sentence)}", highlight=False)
        console.print(f"  [dim]{safe(base_url + episode_url(m.episode_id, m.start))}[/]", highlight=False)


@watch_app.callback()
def new_mentions(ctx: typer.Context, as_json: AsJson = False) -> None:
    """The mentions of watched words found since the last time this was run (they are then marked as seen)."""
    if ctx.invoked_subcommand is not None:
        return
    watcher = app_of(ctx, progress=not as_json).watcher
    watcher.deliver_and_report()  # the webhook's batches that a failing receiver left for later
    mentions = watcher.take_unseen()
    if as_json:
        print_json(dump([MentionOut.of(m) for m in mentions]))
        return
    if not mentions:
        watching = len(watcher.list())
        console.print(
            "No new mentions." if watching else 'Nothing is watched yet: [bold]fonoteca watch add WORD|"PHRASE"[/].'
        )
        return
    console.print(f"{len(mentions)} new mention(s):")
    _print_mentions(mentions, watcher.base_url)


@watch_app.command("add")
def add(
    ctx: typer.Context,
    term: Annotated[str, typer.Argument(help='A word, or a phrase in quotes ("inteligencia artificial").')],
    show: ShowFilter = None,
    as_json: AsJson = False,
) -> None:
    """Watch a word or phrase: every sync from now on records where it is said."""
    watch = app_of(ctx).watcher.add(term, show)
    if as_json:
        print_json(dump(WatchOut.of(watch)))
        return
    console.print(
        f"Watching [bold]“{safe(watch.term)}”[/] {safe(_where(watch))} (id {watch.id}): mentions in episodes synced "
        "from now on are recorded; its past is in [bold]fonoteca search[/] and [bold]fonoteca trend[/].",
        highlight=False,
    )


@watch_app.command("list")
def list_watches(ctx: typer.Context, as_json: AsJson = False) -> None:
    """The watched words, with how many mentions each has (and how many are new)."""
    watches = app_of(ctx).watcher.list()
    if as_json:
        print_json(dump([WatchOut.of(w) for w in watches]))
        return
    if not watches:
        console.print('Nothing is watched yet: [bold]fonoteca watch add WORD|"PHRASE"[/].')
        return
    table = Table("id", "word or phrase", "where", "mentions", "new", "since")
    for w in watches:
        table.add_row(str(w.id), safe(w.term), safe(_where(w)), str(w.mentions), str(w.unseen), safe(w.created_at[:10]))
    console.print(table)


@watch_app.command("remove")
def remove(
    ctx: typer.Context,
    ref: Annotated[str, typer.Argument(help="The watched word or phrase, or its id (`fonoteca watch list`).")],
    show: Annotated[
        str | None, typer.Option("--show", help="The show it is watched in, when it is watched in several.")
    ] = None,
) -> None:
    """Stop watching a word; its recorded mentions go with it."""
    watch = app_of(ctx).watcher.remove(ref, show)
    console.print(f"No longer watching [bold]“{safe(watch.term)}”[/] {safe(_where(watch))}.", highlight=False)


app.add_typer(watch_app, name="watch")
