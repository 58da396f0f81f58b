"""Shared test fixtures. Area-specific fixtures live in tests/fixtures_*.py and are loaded as plugins below."""

from __future__ import annotations

import os
import resource
from collections.abc import Callable
from pathlib import Path
from typing import NoReturn

import pytest

from fonoteca.archive import Archive
from fonoteca.settings import Settings

pytest_plugins = [
    "fixtures_browser", "fixtures_http", "fixtures_llm", "fixtures_pg", "fixtures_speakers", "fixtures_web",
]  # fmt: skip

REPO = Path(__file__).resolve().parent.parent
# ../shared/data beside the clone. FONOTECA_TEST_SHARED_DATA names another folder in its place, so that what the tests
# do without the shared data can be checked while ../shared itself stays where other runs use it.
SHARED_DATA = Path(os.environ.get("FONOTECA_TEST_SHARED_DATA") or REPO.parent / "shared" / "data")


def unavailable(reason: str) -> NoReturn:
    """Skips the test for want of something outside the repository (the shared data, PostgreSQL), except in CI
    (CI=true), where it fails: CI must not go green with the tests that need it skipped."""
    if os.environ.get("CI") == "true":
        pytest.fail(f"{reason} (CI=true, so this fails instead of skipping)", pytrace=False)
    pytest.skip(reason)


def within_memory(limit_bytes: int) -> Callable[[], None]:
    """A subprocess's `preexec_fn` that caps its address space, so that what blows memory up fails the test (with a
    MemoryError), not the machine."""

    def limit() -> None:
        resource.setrlimit(resource.RLIMIT_AS, (limit_bytes, limit_bytes))

    return limit


def shared_path(*parts: str) -> Path:
    """A file of the shared test data; when this clone has none beside it, a skip (a failure under CI=true)."""
    path = SHARED_DATA.joinpath(*parts)
    if not path.exists():
        unavailable(f"needs {path} of the shared test data (../shared/data beside the clone)")
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
