"""An archive that cannot be opened or used, and a server that cannot start: a damaged SQLite file, two processes
creating one archive at once, a database URL that is not one, a PostgreSQL server that goes down under `serve`, a port
`serve` cannot have. Each gets one line that says what to do, from real `fonoteca` processes on real files and a real
PostgreSQL server; nothing gets a traceback."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import httpx
import psycopg
import pytest
from fixtures_pg import PostgresServer, throwaway_cluster
from fixtures_web import serve_app
from typer.testing import CliRunner

from fonoteca.app import Fonoteca
from fonoteca.archive import Archive, Segment
from fonoteca.cli import app
from fonoteca.errors import StorageError
from fonoteca.jobs import OPEN_TIMEOUT_S
from fonoteca.llm.server import free_port
from fonoteca.settings import Settings
from fonoteca.web.pages import fleet_context

COMMANDS = [["shows"], ["episodes"], ["stats"], ["search", "hola"], ["status"], ["check"], ["sync"], ["export", "x"]]


def _fonoteca(*args: str, timeout: float = 120) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "fonoteca", *args], capture_output=True, text=True, timeout=timeout,
        env={**os.environ, "FONOTECA_EMBEDDINGS": "none"},
    )  # fmt: skip


def _one_error_line(result: subprocess.CompletedProcess[str]) -> str:
    assert result.returncode != 0 and "Traceback" not in result.stderr, result.stderr
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: "), result.stderr
    return lines[0]


# -- a damaged SQLite file ------------------------------------------------------------------------------------------


def _not_a_database(home: Path) -> None:
    home.mkdir(parents=True)
    (home / "fonoteca.db").write_bytes(os.urandom(8192))


def _damaged_pages(home: Path) -> None:
    """A real archive whose pages past the first were overwritten: the header still says SQLite."""
    with Archive(home / "fonoteca.db") as archive:
        show, _ = archive.add_show(title="Prueba", source="https://example.org/f.xml", source_kind="feed")
        for n in range(40):
            episode, _ = archive.upsert_episode(show, guid=f"g{n}", title=f"Episodio {n}", kind="audio")
            archive.replace_transcript(episode.id, [Segment(0.0, 2.0, "hola " * 200)], source="publisher")
    data = bytearray((home / "fonoteca.db").read_bytes())
    data[4096:] = os.urandom(len(data) - 4096)
    (home / "fonoteca.db").write_bytes(bytes(data))


def _in_process(*args: str) -> str:
    """The one error line of a command run in this process (CliRunner: the CLI's own error route)."""
    result = CliRunner().invoke(app, list(args))
    assert result.exit_code != 0, result.output
    lines = result.output.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: "), result.output
    return lines[0]


@pytest.mark.parametrize("damage", [_not_a_database, _damaged_pages], ids=["not-a-database", "damaged-pages"])
def test_a_damaged_sqlite_file_gets_one_line_in_every_command_and_serve_refuses_to_start(tmp_path, damage) -> None:
    home = tmp_path / "home"
    damage(home)
    before = (home / "fonoteca.db").read_bytes()
    for command in COMMANDS:
        line = _in_process("--home", str(home), *command)
        assert "damaged" in line and "backup" in line, (command, line)
    line = _one_error_line(_fonoteca("--home", str(home), "serve", "--port", str(free_port())))
    assert "damaged" in line and "backup" in line
    assert (home / "fonoteca.db").read_bytes() == before  # nothing tried to "repair" it


def test_two_processes_creating_a_new_archive_at_once_both_open_it_without_a_word(tmp_path) -> None:
    """Four real processes released at the same instant on an archive that does not exist yet, in each of five rounds:
    each migration runs once, and no process is told the file is damaged."""
    opener = (
        "import sys, time\n"
        "from fonoteca.archive import Archive\n"
        "for db, start in zip(sys.argv[1::2], sys.argv[2::2]):\n"
        "    while time.time() < float(start): pass\n"
        "    Archive(db).close()\n"
    )
    first = time.time() + 10  # after every interpreter has started
    rounds = [(tmp_path / f"round{n}" / "fonoteca.db", first + 2 * n) for n in range(5)]
    args = [str(value) for db, start in rounds for value in (db, start)]
    processes = [
        subprocess.Popen([sys.executable, "-c", opener, *args], stderr=subprocess.PIPE, text=True) for _ in range(4)
    ]
    errors = [p.communicate(timeout=180)[1] for p in processes]
    assert [p.returncode for p in processes] == [0] * 4, errors
    for db, _ in rounds:
        with Archive(db) as archive:
            assert archive.list_shows() == []


# -- database URLs ----------------------------------------------------------------------------------------------------


def test_a_database_url_that_is_not_one_gets_one_line(tmp_path) -> None:
    for command in (["shows"], ["search", "hola"]):
        line = _in_process("--home", str(tmp_path), "--database-url", "postgresql://[::1", *command)
        assert "is not a database URL" in line and "[::1]" in line


def test_an_unknown_database_host_is_told_to_check_the_host_name(tmp_path) -> None:
    url = "postgresql://fono@no-such-host.invalid/archivo"
    line = _in_process("--home", str(tmp_path), "--database-url", url, "shows")
    assert "check the host name" in line and "no-such-host.invalid" in line


# -- serve while PostgreSQL is down ---------------------------------------------------------------------------------


def test_serve_answers_503_with_retry_after_while_postgresql_is_down_and_recovers(settings: Settings) -> None:
    with throwaway_cluster("fonoteca test: serve while the database server is down", crash_safe=True) as server:
        server.create_database("archivo")
        pg = settings.replace(database_url=server.url("archivo"), embeddings="none")
        with Fonoteca(pg) as fonoteca:
            show, _ = fonoteca.archive.add_show(title="Prueba", source="https://e.org/f.xml", source_kind="feed")
            episode, _ = fonoteca.archive.upsert_episode(show, guid="g", title="Episodio", kind="audio")
            fonoteca.archive.replace_transcript(episode.id, [Segment(0.0, 2.0, "hola mundo")], source="publisher")
            fonoteca.update_index()
        paths = [
            "/",
            f"/show/{show.slug}",
            f"/episode/{episode.id}",
            "/search?q=hola",
            "/api/stats",
            "/api/search?q=hola",
        ]
        with serve_app(pg) as base:
            assert all(httpx.get(base + path).status_code == 200 for path in paths)
            assert server.pg_ctl("stop -m immediate").returncode == 0
            for path in paths:
                answer = httpx.get(base + path, timeout=60)
                assert answer.status_code == 503 and answer.headers["retry-after"].isdigit(), (path, answer.text)
                assert "PostgreSQL server is running" in answer.text
            assert server.pg_ctl("start -w").returncode == 0
            assert [httpx.get(base + path, timeout=60).status_code for path in paths] == [200] * len(paths)


def _refused_quickly(fonoteca: Fonoteca, reason: str) -> None:
    """What /status shows on PostgreSQL (the fleet: the job queue's first connection) fails within seconds, saying
    the server's reason."""
    started = time.monotonic()
    with pytest.raises(StorageError, match="job queue") as refused:
        fleet_context(fonoteca)
    assert time.monotonic() - started < OPEN_TIMEOUT_S + 5  # psycopg_pool's own wait was 30 s
    assert reason in str(refused.value)


def test_the_status_pages_fleet_says_within_seconds_that_a_shutting_down_server_refuses_connections(settings) -> None:
    with throwaway_cluster("fonoteca test: the fleet while the server shuts down") as server:
        server.create_database("archivo")
        with Fonoteca(settings.replace(database_url=server.url("archivo"), embeddings="none")) as fonoteca:
            assert fonoteca.archive.status_counts() == {}  # this thread's connection to the archive is open
            # A smart shutdown: the sessions open go on, new connections are refused until they end.
            assert server.pg_ctl("stop -m smart -W").returncode == 0
            _refused_quickly(fonoteca, "shutting down")


def test_the_job_queue_refused_its_first_connection_opens_once_the_server_takes_them_again(
    settings: Settings, pg_url: str, postgres_server: PostgresServer
) -> None:
    dbname = pg_url.rsplit("/", 1)[1]
    with (
        psycopg.connect(host=postgres_server.host, port=postgres_server.port, user=postgres_server.user,
                        dbname="postgres", autocommit=True) as admin,
        Fonoteca(settings.replace(database_url=pg_url, embeddings="none")) as fonoteca,
    ):  # fmt: skip
        assert fonoteca.archive.status_counts() == {}  # this thread's connection to the archive is open
        admin.execute(f'ALTER DATABASE "{dbname}" ALLOW_CONNECTIONS false')  # no new one, superusers' included
        try:
            _refused_quickly(fonoteca, "not currently accepting connections")
        finally:
            admin.execute(f'ALTER DATABASE "{dbname}" ALLOW_CONNECTIONS true')
        fleet = fleet_context(fonoteca)["fleet"]  # a fresh pool: the refused one is not kept
        assert fleet is not None and fleet.workers == 0


def test_serve_refuses_to_start_when_postgresql_is_down(settings: Settings) -> None:
    with throwaway_cluster("fonoteca test: serve with the database server down") as server:
        server.create_database("archivo")
        url = server.url("archivo").replace("+psycopg", "")
        assert server.pg_ctl("stop -m immediate").returncode == 0
        line = _one_error_line(_fonoteca("--home", str(settings.home), "--database-url", url, "serve"))
    assert "PostgreSQL server is running" in line


# -- where serve listens ----------------------------------------------------------------------------------------------


def test_serve_refuses_a_port_out_of_range_or_in_use_in_one_line(tmp_path) -> None:
    assert "99999" in _in_process("--home", str(tmp_path), "serve", "--port", "99999")
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        line = _one_error_line(_fonoteca("--home", str(tmp_path), "serve", "--port", str(port)))
    assert f"port {port}" in line and "in use" in line


@contextmanager
def _serving(*args: str) -> Iterator[str]:
    """`fonoteca serve` as a real process; yields the line where it says where it answers."""
    process = subprocess.Popen(
        [sys.executable, "-m", "fonoteca", *args], stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True
    )
    try:
        assert process.stdout is not None
        lines = iter(process.stdout.readline, "")
        yield next((line for line in lines if "fonoteca archive at" in line), "")
    finally:
        process.terminate()
        process.wait(timeout=30)


def test_serve_on_ipv6_loopback_prints_a_bracketed_url_that_answers(tmp_path) -> None:
    with socket.socket(socket.AF_INET6) as probe:
        try:
            probe.bind(("::1", 0))
        except OSError:
            pytest.skip("this machine has no IPv6 loopback")
        port = probe.getsockname()[1]
    with _serving("--home", str(tmp_path), "serve", "--host", "::1", "--port", str(port)) as first:
        assert f"http://[::1]:{port}/" in first, first
        assert httpx.get(f"http://[::1]:{port}/", timeout=30).status_code == 200
