"""Tests that need ../shared/data skip in a clone without it and fail under CI=true, so CI cannot go green with every
audio test skipped. Checked on a real pytest run whose shared data is an empty folder (FONOTECA_TEST_SHARED_DATA):
../shared stays where it is."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest
from conftest import REPO

NEEDS_SHARED_DATA = """
from conftest import shared_path


def test_reads_a_clip():
    shared_path("audio", "en", "jfk.flac")
"""


@pytest.mark.parametrize(
    ("ci", "outcome", "exit_code"),
    [("true", "1 failed", 1), (None, "1 skipped", 0), ("false", "1 skipped", 0)],
)
def test_missing_shared_data_skips_in_a_clone_and_fails_under_ci(tmp_path, ci, outcome, exit_code) -> None:
    empty = tmp_path / "no-shared-data"
    empty.mkdir()
    (tmp_path / "test_needs_shared_data.py").write_text(NEEDS_SHARED_DATA)
    env = {name: value for name, value in os.environ.items() if name != "CI"}
    tests_first = [str(REPO / "tests"), *filter(None, [os.environ.get("PYTHONPATH")])]
    env |= {"FONOTECA_TEST_SHARED_DATA": str(empty), "PYTHONPATH": os.pathsep.join(tests_first)}
    if ci is not None:
        env["CI"] = ci
    run = subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-rsf", "-p", "no:cacheprovider", "--rootdir", str(tmp_path),
         str(tmp_path / "test_needs_shared_data.py")],
        cwd=tmp_path, env=env, capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    assert run.returncode == exit_code, run.stdout + run.stderr
    assert outcome in run.stdout
    assert f"needs {empty / 'audio' / 'en' / 'jfk.flac'} of the shared test data" in run.stdout
    assert ("CI=true, so this fails instead of skipping" in run.stdout) == (ci == "true")
