"""A real archive for the web tests, built through the Archive API with real text and the demo show's real audio."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from importlib.resources import files
from pathlib import Path

import httpx
import pytest

from fonoteca.app import Fonoteca
from fonoteca.archive import Archive, Segment
from fonoteca.llm.server import free_port
from fonoteca.settings import Settings

DEMO_MEDIA = Path(str(files("fonoteca.demo").joinpath("media")))
HOSTILE_NOTES = '<p>Notas</p><script>window.__pwned = 1</script><img src="x" onerror="window.__pwned = 2">'

STREAM_LINES = [
    "Esto es lo que significa hacer streaming, ¿vale?",
    "Lo primero es que en el Transfer Encoding es chunked, por trozos.",
    "La inteligencia artificial, la IA, va escribiendo la respuesta.",
    "Los medios de comunicación hablan de IA y de streaming cada semana.",
]


def build_web_archive(settings: Settings) -> dict[str, str]:
    """Three dated episodes of one show (one with real audio, one text post with hostile notes). Returns ids."""
    with Archive(settings.db_path) as archive:
        show, _ = archive.add_show(title="Midulive", source="https://example.org/midu.xml", source_kind="feed",
                                   description="<p>Programación en directo</p>")  # fmt: skip
        downloaded = settings.media_dir / show.slug / "jfk.flac"  # where fonoteca downloads an enclosure to
        downloaded.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(DEMO_MEDIA / "jfk.flac", downloaded)
        jfk, _ = archive.upsert_episode(
            show, guid="jfk", title="Ask not", kind="audio", published="2024-01-15T20:00:00Z", duration=11.0,
            media_path=str(downloaded), status="done", source="transcribed", language="en",
        )  # fmt: skip
        archive.append_segments(jfk.id, [
            Segment(0.0, 3.2, "And so, my fellow Americans,"),
            Segment(3.2, 7.6, "ask not what your country can do for you,"),
            Segment(7.6, 11.0, "ask what you can do for your country. Streaming!"),
        ])  # fmt: skip
        stream, _ = archive.upsert_episode(
            show, guid="stream", title="Streaming de respuestas", kind="audio", published="2024-03-01T20:00:00Z",
            duration=3600.0, media_url="https://example.org/ep2.mp3", status="done", source="transcribed",
        )  # fmt: skip
        archive.append_segments(stream.id, [Segment(i * 10.0, i * 10.0 + 9, t) for i, t in enumerate(STREAM_LINES)])
        post, _ = archive.upsert_episode(
            show, guid="post", title="Notas <b>de</b> texto", kind="text", published="2024-05-02T08:00:00Z",
            description=HOSTILE_NOTES, status="done", source="text",
        )  # fmt: skip
        archive.append_segments(post.id, [Segment(0, 0, "Un párrafo sobre streaming <script>alert(1)</script>.")])
        Fonoteca(settings, archive=archive).update_index()
        # Chapters, key moments and topics as after_transcripts makes them (by the passages' words: no model to load)
        Fonoteca(settings.replace(embeddings="none"), archive=archive).glance()
        return {"show": show.slug, "jfk": jfk.id, "stream": stream.id, "post": post.id}


@pytest.fixture
def web_archive(settings: Settings) -> dict[str, str]:
    return build_web_archive(settings)


@contextmanager
def serve_app(settings: Settings) -> Iterator[str]:
    """The real app under uvicorn on a free 127.0.0.1 port; yields its base URL."""
    import uvicorn

    from fonoteca.web.app import create_app

    port = free_port()
    server = uvicorn.Server(uvicorn.Config(create_app(settings), host="127.0.0.1", port=port, log_level="warning"))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 20
    while not server.started:
        assert time.monotonic() < deadline, "uvicorn did not start"
        time.sleep(0.05)
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        thread.join(timeout=10)


@pytest.fixture
def live_server(settings: Settings, web_archive: dict[str, str]) -> Iterator[tuple[str, dict[str, str]]]:
    """The real app over the web archive of build_web_archive."""
    with serve_app(settings) as base:
        yield base, web_archive


@contextmanager
def fonoteca_serve(settings: Settings, **env: str) -> Iterator[str]:
    """`python -m fonoteca serve` on a free port with FONOTECA_HOME (and the given FONOTECA_* variables); yields its
    base URL once it answers."""
    with fonoteca_serve_process(settings, **env) as (base, _):
        yield base


@contextmanager
def fonoteca_serve_process(settings: Settings, **env: str) -> Iterator[tuple[str, subprocess.Popen[bytes]]]:
    """fonoteca_serve's base URL, with its process (to be killed)."""
    port = free_port()
    log = settings.home / f"serve-{port}.log"
    log.parent.mkdir(parents=True, exist_ok=True)
    environ = {
        "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
        "HOME": str(settings.home),
        "FONOTECA_HOME": str(settings.home),
        "FONOTECA_LLM_BASE_URL": "http://127.0.0.1:9/v1",  # nothing listens: a model call fails at once
        # The code under test, where PYTHONPATH names it (a worktree beside an installed copy), not the installed one.
        "PYTHONPATH": os.pathsep.join(
            str(Path(p).resolve()) for p in os.environ.get("PYTHONPATH", "").split(os.pathsep) if p
        ),
        **{f"FONOTECA_{name.upper()}": value for name, value in env.items()},
    }
    with log.open("wb") as out:
        server = subprocess.Popen(
            [sys.executable, "-m", "fonoteca", "serve", "--port", str(port)], env=environ, stdout=out, stderr=out
        )
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 60
        while True:
            assert server.poll() is None, f"fonoteca serve exited: {log.read_text()}"
            assert time.monotonic() < deadline, f"fonoteca serve did not answer: {log.read_text()}"
            try:
                httpx.get(f"{base}/static/style.css", timeout=2)
                break
            except httpx.TransportError:
                time.sleep(0.1)
        yield base, server
    finally:
        server.terminate()
        try:
            server.wait(timeout=10)
        except subprocess.TimeoutExpired:
            server.kill()
            server.wait()
