"""Who said it: `fonoteca speakers [SHOW|EPISODE]` (who speaks, how long, in how many episodes) and the owner's names,
once per show: `speakers name|unname|rename|merge|split|on|off`."""

from __future__ import annotations

import re
from typing import Annotated, Any

import click
import typer
from rich.table import Table
from typer.core import TyperGroup

from fonoteca.archive import Show
from fonoteca.cli import app, app_of
from fonoteca.cli.console import console, print_json, safe
from fonoteca.cli.options import AsJson, ShowName
from fonoteca.errors import SpeakerError
from fonoteca.text import format_duration, format_timestamp


class _ListUnlessCommand(TyperGroup):
    """`fonoteca speakers midulive` is `fonoteca speakers list midulive`: a first word that is not a command is what to
    list."""

    def parse_args(self, ctx: click.Context, args: list[str]) -> list[str]:
        if not args or (args[0] not in self.commands and args[0] not in ("--help", "-h")):
            args = ["list", *args]
        return super().parse_args(ctx, args)


speakers_app = typer.Typer(
    cls=_ListUnlessCommand,
    help="Who said it. The speakers of each transcribed episode are found after transcription (FONOTECA_SPEAKERS); "
    "name a voice once and the show's later episodes are labelled with the name where the voice matches.",
)

EpisodeRef = Annotated[str, typer.Argument(help="Episode id (or the start of it).")]
SpeakerNumber = Annotated[int, typer.Argument(help="The speaker's number, as `fonoteca speakers EPISODE` lists it.")]


def seconds_of(value: str) -> float:
    """Seconds from `754.5`, `12:34.5` or `1:02:03`."""
    if not re.fullmatch(r"\d+(:\d{1,2}){0,2}(\.\d+)?", value.strip()):
        raise SpeakerError(f"{value!r} is not a time", "give seconds (754.5) or a timestamp (12:34, 1:02:03)")
    seconds = 0.0
    for part in value.strip().split(":"):
        seconds = seconds * 60 + float(part)
    return seconds


@speakers_app.command("list")
def list_speakers(
    ctx: typer.Context,
    target: Annotated[str | None, typer.Argument(help="Show (slug, id or title) or episode id; default: all.")] = None,
    as_json: AsJson = False,
) -> None:
    """Who speaks in a show or an episode, for how long and in how many episodes."""
    title, speakers, show = app_of(ctx, progress=not as_json).speakers.who_speaks(target)
    if as_json:
        print_json([
            {"speaker": s.label, "seconds": round(s.seconds, 1), "episodes": s.episodes, "number": s.number,
             "named_by": s.naming, "confidence": s.confidence}
            for s in speakers
        ])  # fmt: skip
        return
    if not speakers:
        console.print(
            f"Nobody is labelled in {safe(title)} yet: speakers are found after transcription "
            "([bold]fonoteca sync[/]), and transcripts imported with names keep them.",
            highlight=False,
        )
    if show is not None:
        console.print(_settings_line(show), highlight=False, markup=False)
    if not speakers:
        return
    table = Table(title=f"Who speaks in {safe(title)}", title_justify="left")
    episode = any(s.number is not None for s in speakers)
    if episode:
        table.add_column("#", justify="right")
    table.add_column("Speaker")
    table.add_column("Time", justify="right")
    table.add_column("Episodes", justify="right")
    if episode:
        table.add_column("Named")
    for s in speakers:
        row = [safe(s.label), format_duration(s.seconds), str(s.episodes)]
        if episode:
            row = [str(s.number or ""), *row, _named(s.naming, s.confidence)]
        table.add_row(*row)
    console.print(table)


def _named(naming: Any, confidence: float | None) -> str:
    if naming == "owner":
        return "by the owner"
    if naming == "match":
        return f"voice match ({confidence:.0%})" if confidence is not None else "voice match"
    return ""


@speakers_app.command("name")
def name(
    ctx: typer.Context,
    episode: EpisodeRef,
    number: SpeakerNumber,
    speaker: Annotated[str, typer.Argument(help='The name, as the show calls them: "Midu".')],
) -> None:
    """Name an episode's speaker; the show's other episodes whose voices match are labelled with the name too."""
    named = app_of(ctx).speakers.name(episode, number, speaker)
    console.print(f"Speaker {number} of {safe(named.episode_id)} is [bold]{safe(named.label)}[/].", highlight=False)


@speakers_app.command("unname")
def unname(ctx: typer.Context, episode: EpisodeRef, number: SpeakerNumber) -> None:
    """Take an episode's speaker's name away (it was the wrong voice): numbered again; the name stays in the show."""
    app_of(ctx).speakers.unname(episode, number)
    console.print(f"Speaker {number} is numbered again.")


@speakers_app.command("rename")
def rename(
    ctx: typer.Context,
    show: ShowName,
    old: Annotated[str, typer.Argument(help="The name the show has.")],
    new: Annotated[str, typer.Argument(help="The new name; one the show already has merges the two.")],
) -> None:
    """Rename a speaker of a show, in every episode that names them."""
    renamed, changed = app_of(ctx).speakers.rename(show, old, new)
    console.print(f"[bold]{safe(renamed.name)}[/]: {len(changed)} episode(s) re-labelled.", highlight=False)


@speakers_app.command("merge")
def merge(
    ctx: typer.Context,
    episode: EpisodeRef,
    keep: Annotated[int, typer.Argument(help="The speaker to keep.")],
    other: Annotated[int, typer.Argument(help="The speaker who is the same person.")],
) -> None:
    """Two speakers of an episode are one person: OTHER's turns become KEEP's."""
    app_of(ctx).speakers.merge(episode, keep, other)
    console.print(f"Speaker {other} is now speaker {keep}.")


@speakers_app.command("split")
def split(
    ctx: typer.Context,
    episode: EpisodeRef,
    start: Annotated[str, typer.Argument(help="Where the wrong turn starts: seconds or a timestamp (12:34).")],
    end: Annotated[str | None, typer.Argument(help="Where it ends (default: where that turn ends).")] = None,
    to: Annotated[
        int | None, typer.Option("--to", help="The speaker who says it (default: a new speaker).", show_default=False)
    ] = None,
) -> None:
    """Give what is said from START to END to another speaker: a segment across either edge is split at the word."""
    voice = app_of(ctx).speakers.split(episode, seconds_of(start), seconds_of(end) if end else None, to)
    stop = f" to {format_timestamp(seconds_of(end))}" if end else ""
    console.print(
        f"From {format_timestamp(seconds_of(start))}{stop}: [bold]{safe(voice.label)}[/] (speaker {voice.number + 1}).",
        highlight=False,
    )


@speakers_app.command("off")
def off(ctx: typer.Context, show: ShowName) -> None:
    """Stop finding speakers in a show's episodes (those found so far stay)."""
    found = app_of(ctx).speakers.set_show(show, False)
    console.print(f"Speakers are not found in {safe(found.title)}'s episodes.", highlight=False)


@speakers_app.command("on")
def on(ctx: typer.Context, show: ShowName) -> None:
    """Find speakers in a show's episodes again (the next sync does those it has not done)."""
    found = app_of(ctx).speakers.set_show(show, True)
    console.print(f"Speakers are found in {safe(found.title)}'s episodes from the next sync.", highlight=False)


@speakers_app.command("count")
def count(
    ctx: typer.Context,
    show: ShowName,
    people: Annotated[str, typer.Argument(help="How many people speak in its episodes, or auto (found by voice).")],
) -> None:
    """How many people speak in a show's episodes, for the speaker step of its later ones (`sync --speakers N` still
    overrides it for one run)."""
    if people.strip().lower() == "auto":
        number = None
    elif people.strip().isdigit():
        number = int(people)
    else:
        raise SpeakerError(f"{people!r} is not a number of speakers", "give a number (2) or auto")
    found = app_of(ctx).speakers.set_count(show, number)
    console.print(f"{safe(found.title)}: {_settings_line(found)}", highlight=False)


def _settings_line(show: Show) -> str:
    """What the speaker step does with a show's episodes, as `fonoteca speakers SHOW` says it."""
    if not show.speakers:
        return "Speakers are not found in its episodes (`fonoteca speakers on SHOW`)."
    if show.speaker_count is None:
        return "Speakers are found by their voices (`fonoteca speakers count SHOW N` when you know how many)."
    people = "One person speaks" if show.speaker_count == 1 else f"{show.speaker_count} people speak"
    return f"{people} in its episodes (`fonoteca speakers count SHOW auto`: found by their voices)."


app.add_typer(speakers_app, name="speakers")
