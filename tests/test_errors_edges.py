"""One error, one route per edge: the command line prints the error's one line and exits with its class's code (2 for
a usage mistake), and the web answers the class's status with the same line — through the real CLI and a real server."""

from __future__ import annotations

import subprocess
import sys

import httpx
import pytest
from fixtures_web import serve_app
from markupsafe import escape
from typer.testing import CliRunner, Result

from fonoteca.archive import Archive
from fonoteca.cli import app
from fonoteca.errors import FonotecaError, NotFound
from fonoteca.settings import Settings

NO_SUCH_SHOW = "no show called 'NOSUCH' — run `fonoteca shows` to see the archive's shows"


@pytest.fixture
def pending(settings: Settings) -> str:
    """An archive with one episode that is not transcribed yet (status new); its id."""
    with Archive(settings.db_path) as archive:
        show, _ = archive.add_show(title="Midulive", source="https://example.org/midu.xml", source_kind="feed")
        episode, _ = archive.upsert_episode(show, guid="1", title="Pendiente", kind="audio", published="2024-03-01")
    return episode.id


def _cli(settings: Settings, *args: str) -> Result:
    return CliRunner().invoke(app, ["--home", str(settings.home), *args])


def test_a_failing_command_prints_exactly_the_line_a_user_sees_and_exits_1(settings: Settings, pending: str) -> None:
    result = _cli(settings, "episodes", "NOSUCH")  # the command lets the archive's NotFound through
    assert (result.exit_code, result.output) == (1, f"error: {NO_SUCH_SHOW}\n")
    assert not isinstance(result.exception, FonotecaError)  # translated by the CLI, not left for a caller to print
    user = subprocess.run(
        [sys.executable, "-m", "fonoteca", "--home", str(settings.home), "episodes", "NOSUCH"],
        capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    assert (user.returncode, user.stdout, user.stderr) == (1, "", result.output)


def test_a_bad_combination_of_options_is_a_usage_mistake_that_exits_2_before_any_work(settings: Settings) -> None:
    result = _cli(settings, "add", "https://video.example/v", "--transcribe", "--captions", "auto")
    assert result.exit_code == 2
    assert "Usage: " in result.output and "--transcribe and --captions contradict each other — give one of them" in (
        result.output
    )
    assert not settings.db_path.exists()


def test_the_same_failure_over_http_answers_the_class_status_with_the_same_line(
    settings: Settings, pending: str
) -> None:
    with serve_app(settings) as base:
        api = httpx.get(f"{base}/api/shows/NOSUCH/episodes")
        page = httpx.get(f"{base}/show/NOSUCH")
    assert (api.status_code, api.json()) == (NotFound.http_status, {"detail": NO_SUCH_SHOW})
    assert page.status_code == NotFound.http_status and f"<p>{escape(NO_SUCH_SHOW)}</p>" in page.text


def test_exporting_an_episode_with_nothing_transcribed_is_its_error_on_both_edges_not_an_empty_file(
    settings: Settings, pending: str
) -> None:
    line = f"episode {pending} has no transcript yet (status: new) — run `fonoteca sync`"
    result = _cli(settings, "export", pending)
    assert (result.exit_code, result.output) == (1, f"error: {line}\n")
    with serve_app(settings) as base:
        page = httpx.get(f"{base}/episode/{pending}/transcript.srt")
    assert page.status_code == FonotecaError.http_status and f"<p>{escape(line)}</p>" in page.text
    assert "content-disposition" not in page.headers
