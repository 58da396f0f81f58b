"""`fonoteca import` of one very long transcript file: wall time and peak memory, beside a plain parser's.

Writes one WebVTT file of CUES cues (default 1 000 000, half a second each: 139 hours, ~38 MB; issue 25's file of a
million cues took 7 min 52 s and 2.5 GB) and imports it with the real CLI in a child process (`fonoteca import`, into
a fresh archive, with the default settings and again with FONOTECA_EMBEDDINGS=none), measuring the child's wall time
and peak resident memory (wait4's ru_maxrss). The import is the whole of it: reading and checking the file, storing
every segment, indexing it for search and counting its words for trends (and, with FONOTECA_EMBEDDINGS=none, making
its chapters and key moments from its words; by default they wait for `embed` or `serve`, which embed it first).
Beside it, in the same run, the plain `srt` library parses the same cues (as SRT) in a child process of its own: the
cost of reading alone, for scale.

`--before SRC` runs the same import with another checkout's `src` folder first (PYTHONPATH), to compare a change on
the same machine in the same run. Writes bench/results/import-one-file.txt at the full size.

    python bench/import_one_file.py [--cues 1000000] [--before /path/to/old/src]
"""

from __future__ import annotations

import argparse
import os
import platform
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path

CUE_SECONDS = 0.5
PLAIN = "import srt, sys; cues = list(srt.parse(open(sys.argv[1], encoding='utf-8').read())); print(len(cues))"


def _clock(seconds: float, separator: str) -> str:
    millis = round(seconds * 1000)
    hours, millis = divmod(millis, 3_600_000)
    minutes, millis = divmod(millis, 60_000)
    secs, millis = divmod(millis, 1000)
    return f"{hours:02d}:{minutes:02d}:{secs:02d}{separator}{millis:03d}"


def write_files(folder: Path, cues: int) -> tuple[Path, Path]:
    vtt, srt = folder / "long.vtt", folder / "long.srt"
    words = ("hola", "streaming", "python", "inteligencia", "artificial", "podcast", "archivo", "palabra")
    with vtt.open("w") as v, srt.open("w") as s:
        v.write("WEBVTT\n\n")
        for n in range(cues):
            start, end = n * CUE_SECONDS, (n + 1) * CUE_SECONDS
            text = words[n % 8]
            v.write(f"{_clock(start, '.')} --> {_clock(end, '.')}\n{text}\n\n")
            s.write(f"{n + 1}\n{_clock(start, ',')} --> {_clock(end, ',')}\n{text}\n\n")
    return vtt, srt


def measure(command: list[str], env: dict[str, str]) -> tuple[float, float, str]:
    """Wall seconds, peak resident MB and the tail of the output of `command` in a child process."""
    started = time.perf_counter()
    child = subprocess.Popen(command, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    output = child.stdout.read() if child.stdout else ""
    _, status, usage = os.wait4(child.pid, 0)
    took = time.perf_counter() - started
    if os.waitstatus_to_exitcode(status) not in (0,):
        raise SystemExit(f"{command[:4]} failed:\n{output[-2000:]}")
    return took, usage.ru_maxrss / 1024, output.strip().splitlines()[-1] if output.strip() else ""


def import_run(vtt: Path, src: str | None, embeddings: str = "packaged") -> tuple[float, float, str]:
    home = Path(tempfile.mkdtemp(prefix="fonoteca-one-file-"))
    env = {**os.environ, "FONOTECA_HOME": str(home), "FONOTECA_EMBEDDINGS": embeddings}
    if src:
        env["PYTHONPATH"] = src
    return measure([sys.executable, "-m", "fonoteca", "import", str(vtt)], env)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--cues", type=int, default=1_000_000)
    parser.add_argument("--before", help="another checkout's src folder, imported with first")
    args = parser.parse_args()

    folder = Path(tempfile.mkdtemp(prefix="fonoteca-one-file-data-"))
    vtt, srt = write_files(folder, args.cues)
    size_mb = vtt.stat().st_size / 2**20
    hours = args.cues * CUE_SECONDS / 3600
    rows = [
        ("srt.parse (plain library, reading only)", *measure([sys.executable, "-c", PLAIN, str(srt)], dict(os.environ)))
    ]
    if args.before:
        rows.append((f"fonoteca import, before ({args.before})", *import_run(vtt, args.before)))
    here = str(Path(__file__).resolve().parent.parent / "src")
    src = os.environ.get("PYTHONPATH") or here
    rows.append(("fonoteca import, this checkout", *import_run(vtt, src)))
    rows.append(("fonoteca import, this checkout, FONOTECA_EMBEDDINGS=none", *import_run(vtt, src, "none")))

    lines = [
        f"# bench/import_one_file.py — {datetime.now(UTC):%Y-%m-%d %H:%M} — {platform.machine()}, "
        f"{os.cpu_count()} cores (a shared machine: other work ran beside it)",
        f"# one WebVTT file of {args.cues:,} cues ({size_mb:.0f} MB, {hours:.0f} h); the import is reading, checking,"
        " storing, indexing and counting words (default settings: embedding and the chapters made from it wait for"
        " `embed`/`serve`; with FONOTECA_EMBEDDINGS=none the import makes the chapters from the words too)",
        "",
        f"{'run':58} {'wall s':>8} {'peak MB':>8}  last line",
    ]
    lines += [f"{name:58} {took:8.1f} {peak:8.0f}  {last[:90]}" for name, took, peak, last in rows]
    report = "\n".join(lines) + "\n"
    print(report)
    for path in folder.iterdir():
        path.unlink()
    folder.rmdir()
    if args.cues >= 1_000_000:
        out = Path(__file__).parent / "results" / "import-one-file.txt"
        out.write_text(report)
        print(f"wrote {out}")


if __name__ == "__main__":
    main()
