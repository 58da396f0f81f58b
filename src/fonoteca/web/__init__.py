"""The web archive: `create_app` (web/app.py) and `run`, which serves it."""

from __future__ import annotations

import gc
import threading
import time
from collections.abc import Callable

from fastapi import FastAPI


def run(app: FastAPI, host: str, port: int, *, when_started: Callable[[], None], trusted_proxies: str = "") -> None:
    """Serve `app` until a signal stops it; `when_started` is called once it accepts connections. X-Forwarded-For and
    X-Forwarded-Proto are read only from `trusted_proxies` (FONOTECA_TRUSTED_PROXIES): uvicorn's own default trusts
    them from 127.0.0.1, where any local client, or anyone through a proxy that passes the header on, could claim a new
    address with each request and so escape the per-address throttles.

    uvicorn.Server rather than uvicorn.run: run() exits the process with status 3 when a stop signal lands before
    start-up has finished, which a `kill` right after launch turns into a failure; Server.run() just returns, and the
    caller's own signal handling (LocalServer.running() in the demo) sees the signal as uvicorn raises it again."""
    import uvicorn

    proxies = [address.strip() for address in trusted_proxies.split(",") if address.strip()]
    config = uvicorn.Config(
        app, host=host, port=port, log_level="warning", proxy_headers=bool(proxies), forwarded_allow_ips=proxies or None
    )
    server = uvicorn.Server(config)

    def announce() -> None:
        while not server.started:
            if server.should_exit:
                return
            time.sleep(0.05)
        when_started()

    threading.Thread(target=announce, daemon=True).start()
    # What is loaded by now (modules, the app, its templates) lives as long as the server. Left to the collector, its
    # ~100,000 objects are walked again by every full collection, 60-70 ms on a 2-core machine, which a request that
    # allocates a lot (a 10-word trend makes thousands of points) sets off every few times (bench/search.py).
    gc.collect()
    gc.freeze()
    server.run()
