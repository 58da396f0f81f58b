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

log = logging.getLogger("uvicorn.error")  # where uvicorn's supervisor says what became of its processes


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
    """Serve in `settings.workers` processes (uvicorn's supervisor, which starts a process again if one dies), each
    on a listening socket of its own where the system spreads connections over them (`process_sockets`). Each process
    is a whole server over the archive, as a replica on another machine is: it reads the archive and the search index
    by itself, and exactly one of them keeps the index up to date (app.keep_index_fresh: whichever holds the indexer's
    lock). The processes are started afresh (spawned), so they read their settings from the FONOTECA_* variables this
    one sets from its own (flags included)."""
    import uvicorn

    os.environ.update(settings.as_environment())
    config = uvicorn.Config(
        "fonoteca.web.app:app_from_environment", factory=True, host=settings.host, port=settings.port,
        workers=settings.workers, **_uvicorn_options(settings.trusted_proxies),
    )  # fmt: skip
    sockets = process_sockets(config)
    when_started()  # the sockets listen: connections wait in their backlogs until a process takes them
    supervisor(config, sockets).run()


def process_sockets(config: Any) -> list[socket.socket]:
    """The listening sockets of `config.workers` processes (a uvicorn.Config): on Linux one per process, bound to the
    same address with SO_REUSEPORT, so that the kernel spreads new connections evenly over them; elsewhere one that
    every process accepts on. On one shared socket the process that woke first took every connection waiting
    (asyncio accepts them all at once): 50 connections opened together went 50/0, 47/3 or 38/12 between two
    processes (bench/web.py's crowd), and the busier one's answers waited for twice the work."""
    if sys.platform != "linux" or not hasattr(socket, "SO_REUSEPORT"):
        listening = tcp_socket(config.bind_socket())
        listening.listen(config.backlog)
        return [listening]
    family = socket.AF_INET6 if config.host and ":" in config.host else socket.AF_INET
    sockets = []
    for _ in range(config.workers):
        listening = socket.socket(family, socket.SOCK_STREAM, socket.IPPROTO_TCP)  # TCP said: see tcp_socket
        listening.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        listening.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
        listening.bind((config.host, config.port))
        listening.listen(config.backlog)
        listening.set_inheritable(True)
        sockets.append(listening)
    return sockets


def supervisor(config: Any, sockets: list[socket.socket]) -> Any:
    """uvicorn's supervisor, handing the n-th process the n-th of `sockets` (all of them when there is one), and its
    replacement after it died the same. A process started otherwise (SIGHUP's restart, SIGTTIN) listens on all."""
    from uvicorn.config import STARTUP_FAILURE
    from uvicorn.supervisors.multiprocess import Multiprocess, Process

    class OwnSockets(Multiprocess):
        def started(self, slot: int) -> Process:
            own = len(sockets) > 1 and slot < len(sockets)  # else every socket: one shared, or a process past them
            process = Process(self.config, [sockets[slot]] if own else sockets)
            process.start()
            return process

        def init_processes(self) -> None:
            self.processes = [self.started(slot) for slot in range(self.processes_num)]

        def keep_subprocess_alive(self) -> None:  # uvicorn's own, with the dead process's socket to its replacement
            for slot, process in enumerate(self.processes):
                if self.should_exit.is_set() or process.is_alive(timeout=self.config.timeout_worker_healthcheck):
                    continue
                process.kill()  # hung: killed; dead: nothing happens
                process.join()
                if process.exitcode == STARTUP_FAILURE:  # it would fail the same way again (uvicorn's reason)
                    log.error("process %s failed to start: the server stops", process.pid)
                    self.should_exit.set()
                    return
                log.info("process %s died: another takes its place", process.pid)
                self.processes[slot] = self.started(slot)

    return OwnSockets(config, sockets=sockets)


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
