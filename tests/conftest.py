"""Shared test fixtures. Area-specific fixtures live in tests/fixtures_*.py and are loaded as plugins below."""

from __future__ import annotations

from pathlib import Path

import pytest

from fonoteca.archive import Archive
from fonoteca.settings import Settings

pytest_plugins = ["fixtures_browser", "fixtures_http", "fixtures_llm", "fixtures_pg", "fixtures_web"]

REPO = Path(__file__).resolve().parent.parent
SHARED_DATA = REPO.parent / "shared" / "data"


def shared_path(*parts: str) -> Path:
    """A file of ../shared/data, or a skip with the reason when this clone has no shared data beside it."""
    path = SHARED_DATA.joinpath(*parts)
    if not path.exists():
        pytest.skip(f"needs the shared test data at {SHARED_DATA} (not present in this clone)")
    return path


@pytest.fixture(autouse=True)
def _private_urls_allowed(monkeypatch: pytest.MonkeyPatch) -> None:
    """The test servers are on 127.0.0.1, which a feed on the web may not make fonoteca fetch by default: CLI runs
    (in-process or subprocesses, which inherit the environment) allow it, as a user with a home podcast server would.
    tests/test_security_ingest.py turns it off where the refusal is what is tested."""
    monkeypatch.setenv("FONOTECA_ALLOW_PRIVATE_URLS", "1")


@pytest.fixture
def settings(tmp_path: Path) -> Settings:
    """Settings pointing at an empty data folder of this test (feeds on 127.0.0.1 may name addresses there too)."""
    # Starlette's TestClient sends `Host: testserver`, which the web app refuses unless it is an allowed host.
    return Settings.from_env(environ={}, home=tmp_path / "home", allowed_hosts="testserver", allow_private_urls=True)


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    """The archive's own test suite (modules marked both_databases) runs every test on both databases."""
    if "archive" in metafunc.fixturenames and metafunc.definition.get_closest_marker("both_databases"):
        metafunc.parametrize("database", ["sqlite", "postgresql"], indirect=True)


@pytest.fixture
def database(request: pytest.FixtureRequest) -> str:
    """Which database the `archive` fixture opens: SQLite, except where both_databases asks for both."""
    return getattr(request, "param", "sqlite")


@pytest.fixture
def archive(request: pytest.FixtureRequest, settings: Settings, database: str):
    """An empty archive: the SQLite file of `settings`, or a fresh database on a real PostgreSQL server."""
    location = settings.db_path if database == "sqlite" else request.getfixturevalue("pg_url")
    with Archive(location) as arch:
        yield arch
