"""Shared test fixtures. Area-specific fixtures live in tests/fixtures_*.py and are loaded as plugins below."""

from __future__ import annotations

from pathlib import Path

import pytest

from fonoteca.archive import Archive
from fonoteca.settings import Settings

pytest_plugins = ["fixtures_browser", "fixtures_http", "fixtures_llm", "fixtures_web"]

REPO = Path(__file__).resolve().parent.parent
SHARED_DATA = REPO.parent / "shared" / "data"


def shared_path(*parts: str) -> Path:
    """A file of ../shared/data, or a skip with the reason when this clone has no shared data beside it."""
    path = SHARED_DATA.joinpath(*parts)
    if not path.exists():
        pytest.skip(f"needs the shared test data at {SHARED_DATA} (not present in this clone)")
    return path


@pytest.fixture
def settings(tmp_path: Path) -> Settings:
    """Settings pointing at an empty data folder of this test."""
    return Settings.from_env(environ={}, home=tmp_path / "home")


@pytest.fixture
def archive(settings: Settings):
    with Archive(settings.db_path) as arch:
        yield arch
