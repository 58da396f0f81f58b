"""`fonoteca serve`: the web archive."""

from __future__ import annotations

from typing import Annotated

import typer

from fonoteca.cli import app, app_of
from fonoteca.cli.console import console, safe
from fonoteca.errors import ConfigError

LOOPBACK = {"127.0.0.1", "localhost", "::1"}


@app.command()
def serve(
    ctx: typer.Context,
    host: Annotated[str | None, typer.Option("--host", help="Interface to listen on (default 127.0.0.1).")] = None,
    port: Annotated[int | None, typer.Option("--port", help="Port (default 8000).")] = None,
    token: Annotated[
        str | None, typer.Option("--token", help="Access token (env FONOTECA_TOKEN); required beyond loopback.")
    ] = None,
) -> None:
    """Serve the web archive: shows, the word-over-history chart, episodes with a player, search, chat."""
    from fonoteca.web import run
    from fonoteca.web.app import allowed_hosts, create_app

    settings = app_of(ctx, host=host, port=port, token=token).settings
    if settings.host not in LOOPBACK and not settings.token:
        raise ConfigError(
            f"refusing to listen on {settings.host} without a token",
            "set FONOTECA_TOKEN (or --token) so only people with it can open the archive, or use 127.0.0.1",
        )
    if settings.host not in LOOPBACK:  # browsers that reach it by another name or address are refused
        names = ", ".join(allowed_hosts(settings))
        console.print(f"  answering Host names {safe(names)}; add others with FONOTECA_ALLOWED_HOSTS", highlight=False)
    url = f"http://{safe(settings.host)}:{settings.port}/"
    run(create_app(settings), settings.host, settings.port,
        when_started=lambda: console.print(f"fonoteca archive at [bold]{url}[/] (Ctrl-C to stop)"))  # fmt: skip
