"""How much the speaker step adds to a whole `sync` (issue 26): the same long podcast episodes added from a folder
twice, in two fresh archives, once with FONOTECA_SPEAKERS=off and once with it on (the default), in the same run and
on the same machine; the ratio is what survives a loaded machine.

    PYTHONPATH=src python bench/speakers_sync.py [--threads 2] [--episodes 2] > bench/results/speakers-sync.txt
"""

from __future__ import annotations

import argparse
import shutil
import tempfile
import time
from pathlib import Path

from fonoteca.app import Fonoteca
from fonoteca.settings import Settings

PODCASTS = Path(__file__).resolve().parent.parent.parent / "shared" / "data" / "podcast_long" / "es"


def timed_add(folder: Path, home: Path, *, speakers: bool, threads: int) -> tuple[float, float, int]:
    """Seconds the whole add took (transcription, speakers, index), the audio's seconds, voices found."""
    settings = Settings.from_env(environ={}, home=home, embeddings="none", cpu_threads=threads, speakers=speakers)
    with Fonoteca(settings) as app:
        started = time.perf_counter()
        show, report = app.add(str(folder), language="es")
        took = time.perf_counter() - started
        assert not report.failed, report.failed
        episodes = app.archive.list_episodes(show.id)
        audio = sum(e.duration or 0.0 for e in episodes)
        voices = sum(len(app.archive.voices.found(e.id)) for e in episodes)
    return took, audio, voices


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--episodes", type=int, default=2, help="how many of the long podcast's episodes")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as scratch:
        folder = Path(scratch) / "podcast"
        folder.mkdir()
        chosen = sorted(PODCASTS.glob("*.mp3"))[: args.episodes]
        for episode in chosen:
            shutil.copy(episode, folder / episode.name)
        without, audio, _ = timed_add(folder, Path(scratch) / "off", speakers=False, threads=args.threads)
        with_speakers, _, voices = timed_add(folder, Path(scratch) / "on", speakers=True, threads=args.threads)
    print(f"episodes: {len(chosen)} ({audio / 60:.1f} min of audio), {args.threads} threads")
    runs = (("without speakers (FONOTECA_SPEAKERS=off)", without), ("with speakers (default)", with_speakers))
    for label, took in runs:
        print(f"sync {label:<42} {took:7.1f} s  ({audio / took:5.1f}x realtime)")
    print(f"voices found: {voices}")
    print(f"the speaker step adds {100 * (with_speakers / without - 1):+.1f} % to the whole sync (target: <= +10 %)")


if __name__ == "__main__":
    main()
