"""Publishing the archive for other apps: a show's Podcasting 2.0 feed (`feed`), the shows as OPML (`export-opml`)
and the MCP server for LLM clients (`mcp`)."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from fonoteca.cli import app, app_of
from fonoteca.cli.console import console, err_console, safe
from fonoteca.errors import FonotecaError

if TYPE_CHECKING:
    from fonoteca.app import Fonoteca
    from fonoteca.archive import Show


@app.command()
def feed(
    ctx: typer.Context,
    show: Annotated[str, typer.Argument(help="Show slug, id or title.")],
    base_url: Annotated[
        str | None,
        typer.Option(
            "--base-url",
            help="Where the feed and its transcript files will be served from (static hosting: the folder's public "
            "address). Default: this archive's `fonoteca serve` at its secret feed path.",
        ),
    ] = None,
    files: Annotated[
        Path | None,
        typer.Option(
            "--files", help="Also write every file the feed links (transcripts, chapters) into this folder (episodes/)."
        ),
    ] = None,
    url: Annotated[bool, typer.Option("--url", help="Print the private feed's address instead of the feed.")] = False,
    rotate: Annotated[
        bool, typer.Option("--rotate", help="Replace the private feed's secret address (the old one stops working).")
    ] = False,
) -> None:
    """Write a show's RSS + Podcasting 2.0 feed (transcripts per episode) to stdout: `fonoteca feed SHOW > feed.xml`."""
    fonoteca = app_of(ctx)
    found = fonoteca.archive.get_show(show)
    settings = fonoteca.settings
    server = (settings.public_url or f"http://{settings.host}:{settings.port}").rstrip("/")
    if url or rotate:
        secret = fonoteca.publish.secret(found, rotate=rotate)
        console.print(f"{server}/feeds/{secret}/feed.xml", highlight=False)
        if rotate:
            err_console.print("The old address no longer answers: give podcast apps the new one.", highlight=False)
        return
    if base_url is None:
        base_url = f"{server}/feeds/{fonoteca.publish.secret(found)}"
    base_url = base_url.rstrip("/")
    document = fonoteca.publish.feed(found, files_base=base_url, self_url=f"{base_url}/feed.xml")
    if files is not None:
        written = _write_files(fonoteca, found, files)
        err_console.print(f"Wrote {written} files under {safe(files / 'episodes')}", highlight=False)
    sys.stdout.buffer.write(document.body)
    sys.stdout.flush()


def _write_files(fonoteca: Fonoteca, show: Show, folder: Path) -> int:
    written = 0
    try:
        for path, document in fonoteca.publish.linked_files(show):
            target = folder / path
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_bytes(document.body)
            written += 1
    except OSError as exc:
        hint = "choose a writable folder with --files"
        raise FonotecaError(f"cannot write into {folder}: {exc.strerror}", hint) from exc
    return written


@app.command("export-opml")
def export_opml(ctx: typer.Context) -> None:
    """Write the archive's shows as an OPML subscription list to stdout: `fonoteca export-opml > shows.opml`."""
    sys.stdout.buffer.write(app_of(ctx).publish.opml())
    sys.stdout.flush()


@app.command("mcp")
def mcp_command(ctx: typer.Context) -> None:
    """Serve the archive to LLM clients (Claude Desktop, IDEs, agents) as an MCP server over stdio: search, transcript,
    episodes, shows, trend, stats and ask. `fonoteca serve` offers the same at /mcp."""
    from fonoteca.mcp_server import build_server

    fonoteca = app_of(ctx, progress=False)  # stdout is the protocol's: notes go to stderr
    settings = fonoteca.settings
    build_server(fonoteca, links_base=settings.public_url or f"http://{settings.host}:{settings.port}").run("stdio")
