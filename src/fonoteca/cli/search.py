"""Search the archive, chart a word over the show's history, rebuild the index."""

from __future__ import annotations

import csv
import io
import re
from dataclasses import replace
from pathlib import Path

import typer

from fonoteca.cli import app_of, console, fail, print_json
from fonoteca.console import printable, safe
from fonoteca.search import BadDate
from fonoteca.search.trends import GROUPINGS, render_png, render_terminal
from fonoteca.text import format_timestamp


def _rich_snippet(snippet_html: str) -> str:
    from html import unescape

    parts = re.split(r"(<b>.*?</b>)", snippet_html)
    return "".join(
        f"[bold yellow]{safe(unescape(p[3:-4]))}[/]" if p.startswith("<b>") else safe(unescape(p)) for p in parts
    )


def register(app: typer.Typer) -> None:
    # An exclusion at the start of a query (`-medios streaming`) is part of the query, not an unknown option: click
    # passes unknown options on as arguments. The command therefore has no short options, which click would find
    # inside such a query (`-n` in "-medios streaming").
    @app.command("search", context_settings={"ignore_unknown_options": True})
    def search_command(
        ctx: typer.Context,
        query: str = typer.Argument(..., help='Words (all must match), "exact phrase", prefix*, OR, -exclude.'),
        show: str = typer.Option(None, "--show", help="Only this show."),
        date_from: str = typer.Option(None, "--from", help="From this date: YYYY, YYYY-MM or YYYY-MM-DD."),
        date_to: str = typer.Option(None, "--to", help="Up to this date, included: YYYY, YYYY-MM or YYYY-MM-DD."),
        episode: str = typer.Option(None, "--episode", help="Only this episode."),
        limit: int = typer.Option(20, "--limit", min=1, max=1000),
        by_date: bool = typer.Option(False, "--by-date", help="Newest first instead of best match first."),
        as_json: bool = typer.Option(False, "--json", help="Print the hits as JSON."),
    ) -> None:
        """Search every transcript; each hit links to the second it was said."""
        fonoteca = app_of(ctx)
        fonoteca.update_index()  # catches up with what other processes changed; `serve` does this in the background
        try:
            results = fonoteca.search(
                query, show=show, episode=episode, date_from=date_from, date_to=date_to, limit=limit,
                order="date" if by_date else "relevance",
            )  # fmt: skip
        except BadDate as exc:
            raise fail(exc.message, exc.hint) from None
        if as_json:
            print_json([h.to_dict() for h in results.hits])
            return
        console.print(f"{results.total} match(es) for [bold]{safe(query)}[/]", highlight=False)
        base = f"http://{fonoteca.settings.host}:{fonoteca.settings.port}"
        for hit in results.hits:
            console.print(
                f"[dim]{safe(hit.date or '—')}[/] [bold]{safe(hit.show)}[/] · {safe(hit.title)} · "
                f"[cyan]{format_timestamp(hit.start)}[/]",
                highlight=False,
            )
            console.print(f"  {_rich_snippet(hit.snippet)}", highlight=False)
            console.print(f"  [dim]{safe(base + hit.url)}[/]", highlight=False)

    @app.command("trend")
    def trend_command(
        ctx: typer.Context,
        terms: list[str] = typer.Argument(..., help="Words or phrases to count (quote phrases)."),
        show: str = typer.Option(None, "--show", help="Only this show."),
        per_hour: bool = typer.Option(False, "--per-hour", help="Mentions per hour of audio."),
        by: str = typer.Option("episode", "--by", help="episode, month or year."),
        as_csv: bool = typer.Option(False, "--csv", help="Print CSV."),
        as_json: bool = typer.Option(False, "--json", help="Print JSON."),
        png: Path = typer.Option(None, "--png", help="Save the chart as a PNG file."),
    ) -> None:
        """How many times each word was said across the show's history: a chart, or data."""
        if by not in GROUPINGS:
            raise fail(f"unknown grouping {by!r}", f"use --by with one of {', '.join(GROUPINGS)}")
        fonoteca = app_of(ctx)
        fonoteca.update_index()
        points = fonoteca.trend(terms, show=show, per_hour=per_hour, by=by)
        rows = []
        for p in points:
            row = {"episode_id": p.episode_id, "title": p.title, "date": p.date, "term": p.term, "count": p.count,
                   "hours": p.hours}  # fmt: skip
            if per_hour:
                row["per_hour"] = p.value
            if by != "episode":
                row["period"] = p.key
            rows.append(row)
        if as_json:
            print_json(rows)
        elif as_csv:
            buffer = io.StringIO()
            writer = csv.DictWriter(buffer, fieldnames=list(rows[0]) if rows else ["term"])
            writer.writeheader()
            writer.writerows(rows)
            typer.echo(buffer.getvalue(), nl=False)
        if png is not None:
            show_title = fonoteca.archive.get_show(show).title if show else ""
            render_png(points, png, per_hour=per_hour, show_title=show_title)
            console.print(f"Saved {safe(png)}")
        if not (as_json or as_csv or png):
            if not points:
                console.print("No transcribed episodes yet: run [bold]fonoteca sync[/].")
                return
            # plotext writes its own escape sequences, so the text it is given is cleaned instead of its output.
            clean = [replace(p, term=printable(p.term), label=printable(p.label), date=p.date and printable(p.date))
                     for p in points]  # fmt: skip
            typer.echo(render_terminal(clean, per_hour=per_hour))
            for term in dict.fromkeys(p.term for p in points):
                total = sum(p.count for p in points if p.term == term)
                console.print(f"  {safe(term)}: {total} mention(s) in total", highlight=False)

    @app.command("reindex")
    def reindex_command(ctx: typer.Context) -> None:
        """Rebuild the search index (and word counts) from the archive."""
        count = app_of(ctx).reindex()
        console.print(f"Indexed {count} episode(s).")
