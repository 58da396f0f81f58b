"""`make demo`'s main job on the bundled demo show: transcribe it for real, print the header and searches."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest

pytestmark = pytest.mark.slow


def test_demo_builds_the_archive_and_prints_the_header_and_a_search(tmp_path) -> None:
    env = {**os.environ, "FONOTECA_HOME": str(tmp_path / "demo"), "COLUMNS": "120"}
    command = [sys.executable, "-m", "fonoteca.demo", "--no-serve"]
    first = subprocess.run(command, capture_output=True, text=True, env=env, timeout=600)
    assert first.returncode == 0, first.stderr
    assert "Transcribed podcasts: 5 · Time transcribed: 0d 0h 1m 40s" in first.stdout
    assert "ask not what your country can do for you" in first.stdout.lower()
    assert "/episode/" in first.stdout
    again = subprocess.run(command, capture_output=True, text=True, env=env, timeout=600)
    assert again.returncode == 0 and "transcribed" not in again.stderr  # nothing new: a second run does no work
