"""fonoteca before and after a change of the index, on copies of one synthetic archive, beside raw tantivy, twice over:
update_index's wall and CPU seconds, then keyword search and trend latency of phrases through fonoteca (each phrase
its fastest of 3 runs, p50/p95 in ms), in a process of each version.

    git archive REV src | tar -x -C /tmp/before
    python bench/index_before_after.py --before /tmp/before/src [--hours 1000]
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from search import build_raw_tantivy
from synthetic import build_synthetic_archive

ONE_VERSION = """
import gc, random, sqlite3, sys, time
from pathlib import Path
from fonoteca.app import Fonoteca
from fonoteca.settings import Settings
import fonoteca.search.index as layout
home, common = Path(sys.argv[1]), set(sys.argv[2:])
app = Fonoteca(Settings.from_env(environ={}, home=home))
wall, cpu = time.perf_counter(), time.process_time()
app.update_index()
print(f"layout {layout.SCHEMA_VERSION.split('.')[0]}: update_index {time.perf_counter() - wall:.1f} s wall, "
      f"{time.process_time() - cpu:.1f} s CPU")
gc.collect()
gc.freeze()
rng = random.Random(1)
with sqlite3.connect(home / "fonoteca.db") as db:
    said = [r[0].lower().rstrip(".").split() for r in db.execute("SELECT text FROM segments WHERE idx < 10")]
twos = [line[i : i + 2] for line in said for i in range(len(line) - 1)]
kinds = {
    "phrase": rng.sample(twos, 80),
    "phrase of common words": rng.sample([p for p in twos if set(p) <= common], 80),
    "3-word phrase": rng.sample([line[i : i + 3] for line in said for i in (0, 5, 10)], 80),
}
for kind, phrases in kinds.items():
    for what, run in (("search", lambda t: app.search(f'"{t}"', mode="keyword", limit=20)),
                      ("trend", lambda t: app.trend([t]))):
        best = []
        for phrase in phrases:
            times = []
            for _ in range(3):
                start = time.perf_counter()
                run(" ".join(phrase))
                times.append((time.perf_counter() - start) * 1000)
            best.append(min(times))
        best.sort()
        print(f"  {kind:24} {what:6} p50 {best[len(best) // 2]:6.2f}  p95 {best[int(0.95 * (len(best) - 1))]:6.2f} ms")
app.close()
"""


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--before", required=True, help="the src folder of the fonoteca to compare with")
    parser.add_argument("--hours", type=float, default=1000)
    args = parser.parse_args()
    from synthetic import FUNCTION_WORDS

    base = Path(tempfile.mkdtemp(prefix="fonoteca-before-after-"))
    settings, _ = build_synthetic_archive(base / "built", hours=args.hours, episodes=max(1, round(args.hours / 2)))
    now = str(Path(__file__).resolve().parents[1] / "src")
    print(f"# bench/index_before_after.py — {time.strftime('%Y-%m-%d %H:%M')} — {args.hours:g} h, "
          f"{os.cpu_count()} cores, load average {os.getloadavg()[0]:.1f} at the start", flush=True)  # fmt: skip
    for _ in range(2):
        folder = base / "raw"
        wall, cpu = build_raw_tantivy(settings.db_path, folder)
        shutil.rmtree(folder)
        print(f"raw tantivy: {wall:.1f} s wall, {cpu:.1f} s CPU", flush=True)
        for label, source in (("before", args.before), ("now", now)):
            home = base / label
            shutil.copytree(base / "built", home)
            out = subprocess.run(
                [sys.executable, "-c", ONE_VERSION, str(home), *FUNCTION_WORDS[:30]],
                env={**os.environ, "PYTHONPATH": source}, capture_output=True, text=True, check=True,
            ).stdout  # fmt: skip
            shutil.rmtree(home)
            print(f"fonoteca {label}, " + out.rstrip(), flush=True)
    print(f"# load average {os.getloadavg()[0]:.1f} at the end")
    shutil.rmtree(base, ignore_errors=True)


if __name__ == "__main__":
    main()
