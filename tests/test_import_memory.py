"""`fonoteca import` of one long subtitle file holds a batch of its cues at a time, not the whole file: its peak memory
does not grow with the number of cues (issue 25: a file of a million cues took 2.5 GB). Measured on the real command in
a child process, as the resident memory the kernel reports for it (wait4's ru_maxrss)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

# Before the import was streamed, the peak grew ~0.7 KB per cue: +200 MB from 100,000 to 400,000 cues (the packaged
# embedding model, ~100 MB loaded at the end of every import, hides the growth of smaller files). The file's text itself
# is still read whole (under FONOTECA_MAX_FEED_MB), ~30 bytes a cue here: ~10 MB more, held a few times over.
SMALL, LARGE = 100_000, 400_000
GROWTH_MB = 50


def _write_vtt(path: Path, cues: int) -> None:
    words = ("hola", "streaming", "python", "inteligencia", "artificial", "podcast", "archivo", "palabra")
    with path.open("w") as out:
        out.write("WEBVTT\n\n")
        for n in range(cues):
            start, end = n / 2, (n + 1) / 2
            out.write(f"{_clock(start)} --> {_clock(end)}\nAna: {words[n % 8]}\n\n")


def _clock(seconds: float) -> str:
    millis = round(seconds * 1000)
    hours, millis = divmod(millis, 3_600_000)
    minutes, millis = divmod(millis, 60_000)
    secs, millis = divmod(millis, 1000)
    return f"{hours:02d}:{minutes:02d}:{secs:02d}.{millis:03d}"


def _import_peak_mb(file: Path, home: Path) -> float:
    # The default embeddings: on SQLite an import leaves embedding, and the chapters made from the vectors, to `embed`
    # or `serve` (what reads a whole episode at once to find its chapters is not the import's).
    env = {**os.environ, "FONOTECA_HOME": str(home), "FONOTECA_EMBEDDINGS": "packaged"}
    env["PYTHONPATH"] = str(Path(__file__).resolve().parent.parent / "src")
    child = subprocess.Popen(
        [sys.executable, "-m", "fonoteca", "import", str(file)],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    output = child.stdout.read() if child.stdout else ""
    _, status, usage = os.wait4(child.pid, 0)
    assert os.waitstatus_to_exitcode(status) == 0, output[-2000:]
    assert "1 created" in output, output[-2000:]
    return usage.ru_maxrss / 1024


def test_importing_a_file_four_times_as_long_takes_no_more_memory(tmp_path: Path) -> None:
    peaks = {}
    for cues in (SMALL, LARGE):
        file = tmp_path / f"long-{cues}.vtt"
        _write_vtt(file, cues)
        peaks[cues] = _import_peak_mb(file, tmp_path / f"home-{cues}")
    assert peaks[LARGE] - peaks[SMALL] < GROWTH_MB, f"peak resident MB by cues: {peaks}"
