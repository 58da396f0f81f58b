"""The web archive: `create_app` (web/app.py) and `run`, which serves it in one process or several."""

from __future__ import annotations

import gc
import logging
import os
import socket
import sys
import threading
import time
from collections.abc import Callable
from typing import Any

from fastapi import FastAPI

from fonoteca.settings import Settings


def run(settings: Settings, *, when_started: Callable[[], None]) -> None:
    """Serve the archive of `settings` until a signal stops it, in `settings.workers` processes; `when_started` is
    called once it accepts connections."""
    show_progress_lines()
    if settings.workers > 1:
        run_processes(settings, when_started=when_started)
        return
    from fonoteca.web.app import create_app

    run_one(create_app(settings), settings.host, settings.port, when_started=when_started,
            trusted_proxies=settings.trusted_proxies)  # fmt: skip


def run_one(app: FastAPI, host: str, port: int, *, when_started: Callable[[], None], trusted_proxies: str = "") -> None:
    """Serve `app` in this process until a signal stops it; `when_started` is called once it accepts connections.
    X-Forwarded-For and X-Forwarded-Proto are read only from `trusted_proxies` (FONOTECA_TRUSTED_PROXIES): uvicorn's
    own default trusts them from 127.0.0.1, where any local client, or anyone through a proxy that passes the header
    on, could claim a new address with each request and so escape the per-address throttles.

    uvicorn.Server rather than uvicorn.run: run() exits the process with status 3 when a stop signal lands before
    start-up has finished, which a `kill` right after launch turns into a failure; Server.run() just returns, and the
    caller's own signal handling (LocalServer.running() in the demo) sees the signal as uvicorn raises it again."""
    import uvicorn

    server = uvicorn.Server(uvicorn.Config(app, host=host, port=port, **_uvicorn_options(trusted_proxies)))

    def announce() -> None:
        while not server.started:
            if server.should_exit:
                return
            time.sleep(0.05)
        when_started()

    threading.Thread(target=announce, daemon=True).start()
    freeze_what_is_loaded()
    server.run()


def run_processes(settings: Settings, *, when_started: Callable[[], None]) -> None:
    """Serve in `settings.workers` processes that share one listening socket (uvicorn's supervisor, which starts a
    process again if one dies). Each process is a whole server over the archive, as a replica on another machine is:
    it reads the archive and the search index by itself, and exactly one of them keeps the index up to date
    (app.keep_index_fresh: whichever holds the indexer's lock). The processes are started afresh (spawned), so they
    read their settings from the FONOTECA_* variables this one sets from its own (flags included)."""
    import uvicorn

    os.environ.update(settings.as_environment())
    config = uvicorn.Config(
        "fonoteca.web.app:app_from_environment", factory=True, host=settings.host, port=settings.port,
        workers=settings.workers, **_uvicorn_options(settings.trusted_proxies),
    )  # fmt: skip
    listening = tcp_socket(config.bind_socket())
    when_started()  # the socket listens: connections wait in its backlog until a process takes them
    from uvicorn.supervisors import Multiprocess

    Multiprocess(config, sockets=[listening]).run()


def tcp_socket(listening: socket.socket) -> socket.socket:
    """The listening socket, saying it is TCP. uvicorn's `bind_socket` leaves its protocol at 0, the connections it
    accepts inherit that, and asyncio turns Nagle's algorithm off (TCP_NODELAY) only on a socket that says TCP: on
    Linux every answer on a kept-alive connection then waited ~40 ms for the client's delayed ACK, in every process of
    `--workers N` (uvicorn issue #3149; bench/web.py measured 23 req/s on one connection, the hello-world included)."""
    if listening.family not in (socket.AF_INET, socket.AF_INET6):
        return listening
    return socket.socket(listening.family, listening.type, socket.IPPROTO_TCP, fileno=listening.detach())


def _uvicorn_options(trusted_proxies: str) -> dict[str, Any]:
    proxies = [address.strip() for address in trusted_proxies.split(",") if address.strip()]
    return {"log_level": "warning", "proxy_headers": bool(proxies), "forwarded_allow_ips": proxies or None}


def freeze_what_is_loaded() -> None:
    """What is loaded by now (modules, the app, its templates) lives as long as the server. Left to the collector, its
    ~100,000 objects are walked again by every full collection, 60-70 ms on a 2-core machine, which a request that
    allocates a lot (a 10-word trend makes thousands of points) sets off every few times (bench/search.py)."""
    gc.collect()
    gc.freeze()


def show_progress_lines() -> None:
    """The server's own lines (which process indexes, what failed in the background) on stderr, once per process."""
    logger = logging.getLogger("fonoteca.web")
    if not logger.handlers:
        handler = logging.StreamHandler(sys.stderr)
        handler.setFormatter(logging.Formatter("%(message)s"))
        logger.addHandler(handler)
        logger.setLevel(logging.INFO)
        logger.propagate = False
