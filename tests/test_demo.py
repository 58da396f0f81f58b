"""`make demo`'s main job on the bundled demo show: transcribe it for real, print the header and searches."""

from __future__ import annotations

import os
import re
import subprocess
import sys
import time

import pytest
from fixtures_llm import assert_sigterm_stops_it_and_its_llm_server

from fonoteca.llm.server import free_port, port_in_use

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


def test_sigterm_to_the_serving_demo_stops_its_llm_server_too(tmp_path) -> None:
    # uvicorn handles SIGTERM itself and raises it again once shut down: the llama.cpp child must not outlive the demo.
    env = {**os.environ, "FONOTECA_HOME": str(tmp_path / "demo"), "FONOTECA_PORT": str(free_port()), "COLUMNS": "200"}
    demo = subprocess.Popen(
        [sys.executable, "-m", "fonoteca.demo"], env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
    )
    try:
        lines = []
        deadline = time.monotonic() + 600
        while not any(line.startswith("Open http") for line in lines):
            assert demo.poll() is None and time.monotonic() < deadline, demo.stderr.read() if demo.poll() else lines
            lines.append(demo.stdout.readline())
        [llm_port] = [int(m[1]) for line in lines if (m := re.search(r"LLM server .* at http://127.0.0.1:(\d+)", line))]
        assert port_in_use("127.0.0.1", llm_port)
        assert_sigterm_stops_it_and_its_llm_server(demo, llm_port)
    finally:
        if demo.poll() is None:
            demo.kill()
