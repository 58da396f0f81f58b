"""`fonoteca serve`: the web archive."""

from __future__ import annotations

import socket
from typing import Annotated

import typer

from fonoteca.cli import app, app_of
from fonoteca.cli.console import console, safe
from fonoteca.errors import ConfigError


@app.command()
def serve(
    ctx: typer.Context,
    host: Annotated[str | None, typer.Option("--host", help="Interface to listen on (default 127.0.0.1).")] = None,
    port: Annotated[int | None, typer.Option("--port", help="Port (default 8000).")] = None,
    token: Annotated[
        str | None,
        typer.Option("--token", help="The owner's token (env FONOTECA_TOKEN); required beyond loopback and --public."),
    ] = None,
    public: Annotated[
        bool | None,
        typer.Option(
            "--public",
            help="Anyone may read the archive (env FONOTECA_PUBLIC); analyses, watches, status and management need "
            "the token.",
        ),
    ] = None,
    public_chat: Annotated[
        bool | None,
        typer.Option("--public-chat", help="With --public: anyone may ask the chat, within per-address limits."),
    ] = None,
    workers: Annotated[
        int | None,
        typer.Option("--workers", help="Server processes, one per core to use (env FONOTECA_WORKERS; default 1)."),
    ] = None,
) -> None:
    """Serve the web archive: shows, the word-over-history chart, episodes with a player, search, chat."""
    from fonoteca.web import run
    from fonoteca.web.access import LOOPBACK, check_serving
    from fonoteca.web.app import allowed_hosts

    fonoteca = app_of(ctx, host=host, port=port, token=token, public=public, public_chat=public_chat, workers=workers)
    settings = fonoteca.settings
    check_serving(settings)
    # An archive that cannot be opened (a damaged file, a database server that is down) is said now, in one line,
    # rather than by every page the server would answer.
    fonoteca.archive.list_shows()
    _check_can_listen(settings.host, settings.port)
    if settings.host not in LOOPBACK:  # browsers that reach it by another name or address are refused
        names = ", ".join(allowed_hosts(settings))
        console.print(f"  answering Host names {safe(names)}; add others with FONOTECA_ALLOWED_HOSTS", highlight=False)
    shown = f"[{settings.host}]" if ":" in settings.host else settings.host  # an IPv6 address, as a URL writes it
    url = f"http://{safe(shown)}:{settings.port}/"
    if settings.public:
        chat = "open to anyone" if settings.public_chat else "the owner's"
        console.print(f"  public: anyone reads the archive; the chat is {chat}", highlight=False)
    processes = f", {settings.workers} processes" if settings.workers > 1 else ""
    run(settings, when_started=lambda: console.print(f"fonoteca archive at [bold]{url}[/] (Ctrl-C to stop{processes})"))


def _check_can_listen(host: str, port: int) -> None:
    """Refuse in one line an address the server could not listen on (a port in use, a host not on this machine)."""
    try:
        infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM, flags=socket.AI_PASSIVE)
        with socket.socket(infos[0][0], socket.SOCK_STREAM) as probe:
            probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)  # as uvicorn binds
            probe.bind(infos[0][4])
    except OSError as exc:
        raise ConfigError(
            f"cannot listen on {host} port {port}: {exc.strerror or exc}",
            "stop what uses that port or choose another with --port; --host must be an address of this machine",
        ) from exc
