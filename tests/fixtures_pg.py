"""A real PostgreSQL server for the tests: Debian's postgresql package (`make postgres` installs it) runs one throwaway
cluster per test session in a temporary folder, and each test that asks for `pg_url` gets a fresh database on it.

No system-wide cluster is used or started, so the tests neither need one nor disturb one, and they run the same on a
developer's machine and on a fresh CI machine."""

from __future__ import annotations

import contextlib
import os
import pwd
import re
import shutil
import socket
import subprocess
import tempfile
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

import psycopg
import pytest
from conftest import unavailable
from psycopg import sql

PG_ROOT = Path("/usr/lib/postgresql")
MISSING = "needs Debian's postgresql package: `make postgres` installs it"
OWNER = "postgres"  # initdb and postgres refuse to run as root; as root, the cluster belongs to Debian's postgres user
# Durability is worth nothing for a throwaway cluster: without it commits and CREATE DATABASE cost far less.
SETTINGS = {
    "listen_addresses": "'127.0.0.1'",
    "unix_socket_directories": "''",  # TCP only: no socket in /var/run/postgresql, none to clash with a system cluster
    "fsync": "off",
    "synchronous_commit": "off",
    "full_page_writes": "off",
    "max_connections": "200",  # connection pools of several engines, and of subprocesses, in one test
}


@dataclass(frozen=True)
class PostgresServer:
    """Where the session's server listens. Authentication is `trust`: the superuser needs no password."""

    host: str
    port: int
    user: str
    # pg_ctl on this cluster ("stop -m fast", "start -w"...): a test's own cluster can be stopped and started again.
    pg_ctl: Callable[[str], subprocess.CompletedProcess[str]] = field(repr=False, compare=False)

    def url(self, dbname: str) -> str:
        """The SQLAlchemy URL of database `dbname` on this server (psycopg 3 as the driver)."""
        return f"postgresql+psycopg://{self.user}@{self.host}:{self.port}/{dbname}"

    def create_database(self, name: str) -> None:
        self._admin(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))

    def drop_database(self, name: str) -> None:
        """Drops it even while connections are open (a test's engine may still hold pooled ones)."""
        self._admin(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name)))

    def _admin(self, statement: sql.Composed) -> None:
        # CREATE and DROP DATABASE cannot run inside a transaction block, hence autocommit.
        with psycopg.connect(
            host=self.host, port=self.port, user=self.user, dbname="postgres", autocommit=True
        ) as conn:
            conn.execute(statement)


def _newest_bin_dir() -> Path | None:
    """/usr/lib/postgresql/VERSION/bin of the newest installed version (Debian can install several side by side)."""
    found = [initdb.parent for initdb in PG_ROOT.glob("*/bin/initdb")]
    return max(found, key=lambda bin_dir: [int(n) for n in re.findall(r"\d+", bin_dir.parent.name)], default=None)


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


class ClusterUnavailable(Exception):
    """This machine cannot run a throwaway PostgreSQL cluster (no Debian postgresql package, no postgres user)."""


@contextlib.contextmanager
def throwaway_cluster(purpose: str = "fonoteca tests", *, crash_safe: bool = False) -> Iterator[PostgresServer]:
    """A PostgreSQL cluster in a temporary folder, on a free port of 127.0.0.1, stopped and deleted at the end (the
    tests' session fixture, and bench/archive.py). ClusterUnavailable when this machine cannot run one; RuntimeError
    when initdb or the server fails.

    `crash_safe`: a test that crashes the server (`pg_ctl stop -m immediate`) needs what was committed before to be
    there after the restart. Without synchronous commits the last commits live only in the WAL buffers in shared
    memory, which a crash discards (a fresh-clone CI run once lost an episode committed just before the crash)."""
    settings = SETTINGS | ({"synchronous_commit": "on"} if crash_safe else {})
    bin_dir = _newest_bin_dir()
    if bin_dir is None:
        raise ClusterUnavailable(MISSING)
    prefix: list[str] = []
    owner: pwd.struct_passwd | None = None
    if os.geteuid() == 0:
        try:
            owner = pwd.getpwnam(OWNER)
        except KeyError:
            raise ClusterUnavailable(
                f"needs the `{OWNER}` system user, which Debian's postgresql package creates"
            ) from None
        prefix = ["runuser", "-u", OWNER, "--"]

    # Not pytest's tmp_path: as root that is under /tmp/pytest-of-root (mode 0700), out of the postgres user's reach.
    tmp = Path(tempfile.mkdtemp(prefix="fonoteca-pg-"))
    data, log = tmp / "data", tmp / "server.log"

    def run(*args: str | Path) -> subprocess.CompletedProcess[str]:
        # cwd: as the postgres user, the repository may not be readable, and initdb and pg_ctl complain about that.
        return subprocess.run([*prefix, *map(str, args)], cwd=tmp, capture_output=True, text=True)

    try:
        if owner is not None:
            os.chown(tmp, owner.pw_uid, owner.pw_gid)
        # C.UTF-8, not --no-locale: under the C locale lower() and ILIKE leave every non-ASCII letter as it is.
        initdb = run(bin_dir / "initdb", "-D", data, "-A", "trust", "-U", "postgres", "--encoding=UTF8",
                     "--locale=C.UTF-8", "--no-sync")  # fmt: skip
        if initdb.returncode != 0:
            raise RuntimeError(f"initdb failed:\n{initdb.stdout}{initdb.stderr}")
        with (data / "postgresql.conf").open("a") as conf:
            conf.write(f"\n# {purpose} (tests/fixtures_pg.py)\n")
            conf.writelines(f"{name} = {value}\n" for name, value in settings.items())

        for _attempt in range(3):  # the free port can be taken between _free_port() and the server's bind
            port = _free_port()
            started = run(bin_dir / "pg_ctl", "start", "-w", "-D", data, "-l", log, "-o", f"-p {port}")
            if started.returncode == 0 or "Address already in use" not in log.read_text(errors="replace"):
                break
        if started.returncode != 0:
            server_log = log.read_text(errors="replace") if log.exists() else ""
            raise RuntimeError(f"PostgreSQL did not start:\n{started.stdout}{started.stderr}{server_log}")

        def pg_ctl(command: str) -> subprocess.CompletedProcess[str]:
            return run(bin_dir / "pg_ctl", *command.split(), "-D", data, "-l", log, "-o", f"-p {port}")

        try:
            yield PostgresServer(host="127.0.0.1", port=port, user="postgres", pg_ctl=pg_ctl)
        finally:
            run(bin_dir / "pg_ctl", "stop", "-m", "immediate", "-D", data)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


@pytest.fixture(scope="session")
def postgres_server() -> Iterator[PostgresServer]:
    """One PostgreSQL cluster for the whole session (initdb and start take about a second, far more than a database)."""
    try:
        with throwaway_cluster() as server:
            yield server
    except ClusterUnavailable as exc:  # raised before the yield: the tests that need it skip (or fail in CI)
        unavailable(str(exc))
    except RuntimeError as exc:
        pytest.fail(str(exc), pytrace=False)


@pytest.fixture
def pg_url(postgres_server: PostgresServer, request: pytest.FixtureRequest) -> Iterator[str]:
    """The SQLAlchemy URL of a fresh, empty database for this test, dropped afterwards. Named after the test, so a
    database seen while debugging says whose it is; the random suffix keeps parametrised and repeated runs apart."""
    slug = re.sub(r"[^a-z0-9]+", "_", request.node.name.lower()).strip("_")[:40]
    name = f"t_{slug}_{uuid.uuid4().hex[:8]}"  # PostgreSQL names are at most 63 bytes
    postgres_server.create_database(name)
    yield postgres_server.url(name)
    with contextlib.suppress(psycopg.Error):
        postgres_server.drop_database(name)
