"""Search the archive, chart a word over the show's history, rebuild the index."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path
from typing import Annotated

import typer
from rich.text import Text

from fonoteca.cli import app, app_of
from fonoteca.cli.console import console, err_console, print_json, printable, safe
from fonoteca.cli.options import (
    AsJson,
    DateFrom,
    DateTo,
    EpisodeFilter,
    Grouping,
    Normalisation,
    SearchMode,
    ShowFilter,
    SpeakerFilter,
    Split,
)
from fonoteca.output import HitOut, dump, trend_rows
from fonoteca.output.charts import render_png, render_terminal, trend_csv
from fonoteca.output.snippets import snippet_pieces
from fonoteca.search import Hit
from fonoteca.search.trends import TOP_SPEAKERS, parse_terms, summarize
from fonoteca.text import format_timestamp


def _rich_snippet(hit: Hit) -> Text:
    """The hit's snippet, its highlighted words in bold yellow."""
    pieces = snippet_pieces(hit.text, hit.highlights)
    return Text.assemble(*((printable(piece), "bold yellow" if marked else "") for piece, marked in pieces))


# An exclusion at the start of a query (`-medios streaming`) is part of the query, not an unknown option: click
# passes unknown options on as arguments. The command therefore has no short options, which click would find
# inside such a query (`-n` in "-medios streaming").
@app.command("search", context_settings={"ignore_unknown_options": True})
def search_command(
    ctx: typer.Context,
    query: Annotated[str, typer.Argument(help='Words (all must match), "exact phrase", prefix*, OR, -exclude.')],
    show: ShowFilter = None,
    date_from: DateFrom = None,
    date_to: DateTo = None,
    episode: EpisodeFilter = None,
    speaker: SpeakerFilter = None,
    limit: Annotated[int, typer.Option("--limit", min=1, max=1000)] = 20,
    by_date: Annotated[bool, typer.Option("--by-date", help="Newest first instead of best match first.")] = False,
    mode: Annotated[
        SearchMode | None,
        typer.Option("--mode", help="How to search (default: hybrid where the show is embedded, else keyword)."),
    ] = None,
    as_json: AsJson = False,
) -> None:
    """Search every transcript; each hit links to the second it was said."""
    fonoteca = app_of(ctx)
    results = fonoteca.search(
        query, show=show, episode=episode, date_from=date_from, date_to=date_to, limit=limit,
        order="date" if by_date else "relevance", mode=mode, speaker=speaker,
    )  # fmt: skip
    if as_json:  # stdout is for data: the hits say how each was found (`matched`)
        print_json(dump([HitOut.of(h) for h in results.hits]))
        return
    if results.note:
        err_console.print(f"[yellow]note:[/] {safe(results.note)}", highlight=False)
    console.print(f"{results.total} match(es) for [bold]{safe(query)}[/] ({results.mode})", highlight=False)
    base = f"http://{fonoteca.settings.host}:{fonoteca.settings.port}"
    for hit in results.hits:
        console.print(
            f"[dim]{safe(hit.date or '—')}[/] [bold]{safe(hit.show)}[/] · {safe(hit.title)} · "
            f"[cyan]{format_timestamp(hit.start)}[/]",
            highlight=False,
        )
        said_by = (printable(hit.speaker) + ": ", "bold magenta") if hit.speaker else ""
        console.print(Text.assemble("  ", said_by, _rich_snippet(hit)), highlight=False)
        if hit.matched == "meaning":
            console.print("  [dim italic]found by its meaning, not by the words[/]", highlight=False)
        console.print(f"  [dim]{safe(base + hit.url)}[/]", highlight=False)


@app.command("trend")
def trend_command(
    ctx: typer.Context,
    terms: Annotated[list[str], typer.Argument(help='Words or phrases, up to 10 (also comma-separated: "IA, red").')],
    show: ShowFilter = None,
    per: Annotated[
        Normalisation,
        typer.Option("--per", help="raw counts, per hour of audio or per 1,000 words."),
    ] = "raw",
    per_hour: Annotated[bool, typer.Option("--per-hour", help="The same as --per hour.")] = False,
    by: Annotated[Grouping, typer.Option("--by", help="One point per episode, week, month or year.")] = "episode",
    split_by: Annotated[
        Split | None,
        typer.Option(
            "--split-by", help="show: one line per show; speaker: one line per speaker (a single word or phrase)."
        ),
    ] = None,
    speaker: SpeakerFilter = None,
    speakers: Annotated[
        int,
        typer.Option("--speakers", min=1, max=20, help="With --split-by speaker: lines for the N who said it most."),
    ] = TOP_SPEAKERS,
    as_csv: Annotated[bool, typer.Option("--csv", help="Print CSV (the web page's CSV download).")] = False,
    as_json: AsJson = False,
    png: Annotated[Path | None, typer.Option("--png", help="Save the chart as a PNG file.")] = None,
) -> None:
    """How many times each word was said across the history: a chart on a time axis, or data."""
    fonoteca = app_of(ctx)
    per = "hour" if per_hour else per
    words = parse_terms(terms)
    points = fonoteca.trend(words, show=show, per=per, by=by, split_by=split_by, speaker=speaker, speakers=speakers)
    rows = trend_rows(points, per=per, by=by)
    if as_json:
        print_json(dump(rows))
    elif as_csv:
        typer.echo(printable(trend_csv(rows)), nl=False)
    if png is not None:
        show_title = fonoteca.archive.get_show(show).title if show else ""
        render_png(points, png, per=per, show_title=show_title, terms=words)
        console.print(f"Saved {safe(png)}")
    if not (as_json or as_csv or png):
        if not points:
            console.print("No transcribed episodes yet: run [bold]fonoteca sync[/].")
            return
        # plotext writes its own escape sequences, so the text it is given is cleaned instead of its output.
        clean = [replace(p, term=printable(p.term), series=printable(p.series), label=printable(p.label),
                         date=p.date and printable(p.date)) for p in points]  # fmt: skip
        typer.echo(render_terminal(clean, per=per, terms=[printable(w) for w in words]))
        for line in summarize(points):
            text = f"  {safe(line.series)}: {line.total} mention(s) — {safe(line.line(per))}"
            console.print(text, highlight=False)


@app.command("embed")
def embed_command(
    ctx: typer.Context,
    again: Annotated[bool, typer.Option("--again", help="Embed everything again, not only what is new.")] = False,
) -> None:
    """Embed the transcripts' passages for search by meaning (what `serve` and workers also do after indexing), then
    make the episodes' chapters, key moments and topics from them."""
    fonoteca = app_of(ctx)
    count = fonoteca.embed(again=again)
    console.print(f"Embedded {count} episode(s).")
    made = fonoteca.glance()
    if made:
        console.print(f"Chapters, key moments and topics of {made} episode(s).")


@app.command("reindex")
def reindex_command(ctx: typer.Context) -> None:
    """Rebuild the search index (and word counts) from the archive."""
    count = app_of(ctx).reindex()
    console.print(f"Indexed {count} episode(s).")
