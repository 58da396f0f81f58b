"""How far back a transcript's start times step, in the real corpora of the test data: the measurement behind the
rule that repairs a step under a minute (a publisher's stamp rounded down) and refuses a minute or more (files joined
or damaged), in fonoteca.ingest.transcripts (OVERLAP, ROUNDED_STEP).

Every file of ../shared/data/transcripts is read by fonoteca's own reader (`read_transcript`, the one `fonoteca
import` uses); the start times of its segments are taken as parsed, before `checked_times` repairs them, and each
step back from the latest start so far is counted. Beside them, for scale, the real Lenny's Podcast excerpt of
tests/test_import_real_corpus.py (Claire Butler, one of the 12 files of 303 the import refused before issue 25).
Reading only: no archive, no index; it takes seconds. Writes bench/results/backward-steps.txt.

    python bench/backward_steps.py
"""

from __future__ import annotations

import os
import platform
import sys
from collections import Counter
from datetime import UTC, datetime
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
CORPORA = REPO.parent / "shared" / "data" / "transcripts"
# Steps back, in seconds, by size: cues that overlap (up to OVERLAP), a stamp rounded down (under ROUNDED_STEP), more.
BINS = ((0, 1, "0-1 s (overlap)"), (1, 10, "1-10 s"), (10, 60, "10-60 s"), (60, float("inf"), ">= 60 s"))


def steps_back(starts: list[float]) -> list[float]:
    """How far each start lies behind the latest start before it (only those that lie behind it)."""
    latest, steps = 0.0, []
    for start in starts:
        if start < latest:
            steps.append(latest - start)
        latest = max(latest, start)
    return steps


def measure(files: list[tuple[str, bytes, str]]) -> tuple[int, int, list[float], list[str]]:
    """(files read, files with timed segments, every step back, files refused with why) for (label, data, name)."""
    from fonoteca.errors import MediaError
    from fonoteca.ingest import transcripts

    taken: list[list[float]] = []
    checked = transcripts.checked_times

    def recording(segments: list) -> list[str]:  # the starts as parsed, before they are repaired
        taken.append([s.start for s in segments])
        return checked(segments)

    transcripts.checked_times = recording
    read, timed, steps, refused = 0, 0, [], []
    try:
        for label, data, name in files:
            taken.clear()
            try:
                transcripts.read_transcript(data, name)
            except MediaError as exc:
                if not taken:  # not a transcript at all (a chapters file, a catalogue)
                    refused.append(f"{label}: {exc.message}")
                    continue
            read += 1
            starts = taken[0] if taken else []
            timed += any(starts)
            steps += steps_back(starts)
    finally:
        transcripts.checked_times = checked
    return read, timed, steps, refused


def main() -> None:
    sys.path.insert(0, str(REPO / "tests"))
    from test_import_real_corpus import CLAIRE_BUTLER

    from fonoteca.ingest.importer import _NOT_TRANSCRIPTS
    from fonoteca.ingest.transcripts import FILE_FORMATS

    if not CORPORA.exists():
        raise SystemExit(f"needs {CORPORA} (the shared test data beside the clone)")
    groups: dict[str, list[tuple[str, bytes, str]]] = {}
    for path in sorted(p for p in CORPORA.rglob("*") if p.is_file() and p.suffix.lower() in FILE_FORMATS):
        if path.stem.lower() in _NOT_TRANSCRIPTS:  # what `fonoteca import` leaves out of a folder too
            continue
        corpus = path.relative_to(CORPORA).parts[0]
        groups.setdefault(corpus, []).append((str(path.relative_to(CORPORA)), path.read_bytes(), path.name))
    groups["Lenny's Podcast excerpt (tests, for scale)"] = [("claire-butler.md", CLAIRE_BUTLER.encode(), "x.md")]

    lines = [
        f"# bench/backward_steps.py — {datetime.now(UTC):%Y-%m-%d %H:%M} — {platform.machine()}, "
        f"{os.cpu_count()} cores (reading only; other work ran beside it, which changes no figure here)",
        "# steps back of start times as parsed, before checked_times repairs them: how far a segment starts behind the",
        "# latest start before it. fonoteca repairs steps under 60 s (moved up, noted) and refuses 60 s or more.",
        "",
        f"{'corpus':44} {'files':>5} {'timed':>5} {'steps':>6}  "
        + "  ".join(f"{label:>15}" for *_, label in BINS)
        + f"  {'largest':>8}",
    ]
    notes = []
    for corpus, files in groups.items():
        read, timed, steps, refused = measure(files)
        counts = Counter(next(label for low, high, label in BINS if low <= step < high) for step in steps)
        largest = f"{max(steps):.1f} s" if steps else "-"
        lines.append(
            f"{corpus:44} {read:5d} {timed:5d} {len(steps):6d}  "
            + "  ".join(f"{counts[label]:15d}" for *_, label in BINS)
            + f"  {largest:>8}"
        )
        notes += [f"#   {line}" for line in refused]
    if notes:
        lines += ["", "# not transcripts (no segments to measure):", *notes]
    report = "\n".join(lines) + "\n"
    print(report)
    out = REPO / "bench" / "results" / "backward-steps.txt"
    out.write_text(report)
    print(f"wrote {out}")


if __name__ == "__main__":
    main()
