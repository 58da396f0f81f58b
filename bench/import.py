"""`fonoteca import` of a folder of transcript files: files per second, and the time until everything is searchable.

Synthesises FILES transcripts of HOURS each (default 1 000 of one hour: ~8.7 M words) in the shapes people have:
Whisper-like WebVTT, SRT, Whisper JSON (with word times), TSV and timed Markdown with speaker turns and front matter,
in turn, with the Zipf vocabulary of bench/synthetic.py and Whisper-sized segments (~12 words, ~5 s). Then imports the
folder twice, each time into a fresh archive, through Fonoteca.import_transcripts (search by meaning off: this
measures keyword search, which is what "searchable" means here):

- into an empty archive (every file becomes a transcript-only episode of a new show);
- into an archive whose show has FILES matching episodes (a feed's: GUID, enclosure, number, date and title), which
  the files are matched to by file name, episode number, date and title in turn.

"Searchable" is when import_transcripts returns (it updates the search index before it does); a search for a word of
the last file confirms it. Target: 1 000 hours searchable in under 2 minutes on the 2-core machine. Writes
bench/results/import.txt at the full size.

    python bench/import.py [--files 1000] [--hours 1.0]
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import numpy as np
from synthetic import VOCABULARY, make_vocabulary

from fonoteca.app import Fonoteca
from fonoteca.archive import Archive, Segment
from fonoteca.ingest.importer import Outcome
from fonoteca.output.transcripts import render_transcript
from fonoteca.settings import Settings

TARGET_SECONDS = 120  # 1 000 h of transcripts searchable
WORDS_PER_SECOND = 145 / 60
WORDS_PER_SEGMENT = 12
FORMATS = ("vtt", "srt", "json", "tsv", "md")
SPEAKERS = ("Ana", "Bruno", "Carmen")
FIRST_DAY = datetime(2019, 1, 7, 20, tzinfo=UTC)


def _title(n: int, vocabulary: list[str]) -> str:
    words = [vocabulary[200 + (n * 7919 + k * 104_729) % 20_000] for k in range(4)]
    return " ".join(words).capitalize()


def _published(n: int) -> datetime:
    return FIRST_DAY + timedelta(days=2 * n)


def _segments(rng: np.random.Generator, vocab: np.ndarray, weights: np.ndarray, seconds: float) -> list[Segment]:
    total = int(seconds * WORDS_PER_SECOND)
    tokens = vocab[rng.choice(len(vocab), size=total, p=weights)]
    step = WORDS_PER_SEGMENT / WORDS_PER_SECOND
    return [
        Segment(round(i / WORDS_PER_SECOND, 2), round(i / WORDS_PER_SECOND + step, 2),
                " ".join(tokens[i : i + WORDS_PER_SEGMENT]).capitalize() + ".", speaker=SPEAKERS[(i // 240) % 3])
        for i in range(0, total, WORDS_PER_SEGMENT)
    ]  # fmt: skip


def _write(folder: Path, stem: str, fmt: str, segments: list[Segment], title: str, published: datetime) -> Path:
    path = folder / f"{stem}.{fmt}"
    if fmt in ("vtt", "srt"):
        path.write_text(render_transcript(segments, fmt))
    elif fmt == "json":  # Whisper's, with a time for every word
        rows = []
        for n, s in enumerate(segments):
            words = s.text.split()
            each = (s.end - s.start) / len(words)
            timed = [{"word": " " + w, "start": round(s.start + k * each, 2), "end": round(s.start + (k + 1) * each, 2),
                      "probability": 0.9} for k, w in enumerate(words)]  # fmt: skip
            rows.append({"id": n, "start": s.start, "end": s.end, "text": " " + s.text, "words": timed})
        path.write_text(json.dumps({"text": "", "segments": rows, "language": "es"}))
    elif fmt == "tsv":
        path.write_text("start\tend\ttext\n" + "".join(f"{round(s.start * 1000)}\t{round(s.end * 1000)}\t{s.text}\n"
                                                        for s in segments))  # fmt: skip
    else:  # timed Markdown: "Speaker (hh:mm:ss):" turns, a paragraph a segment
        lines = [f"---\ntitle: {title}\ndate: {published:%Y-%m-%d}\nlanguage: es\n---\n\n# {title}\n"]
        for s in segments:
            clock = time.strftime("%H:%M:%S", time.gmtime(s.start))
            lines.append(f"**{s.speaker}** ({clock}): {s.text}\n")
        path.write_text("\n".join(lines))
    return path


def synthesise(folder: Path, files: int, hours: float, vocabulary: list[str]) -> tuple[int, str]:
    """The transcript files, named the ways people name them: after the episode's enclosure, its number, its date or
    its title, in turn. Returns (words written, a word only the last file has)."""
    rng = np.random.default_rng(1)
    ranks = np.arange(1, len(vocabulary) + 1)
    weights = 1.0 / ranks**1.07
    weights /= weights.sum()
    vocab = np.array(vocabulary, dtype=object)
    words = 0
    for n in range(files):
        segments = _segments(rng, vocab, weights, hours * 3600)
        words += sum(len(s.text.split()) for s in segments)
        title, published = _title(n, vocabulary), _published(n)
        stem = (f"show-ep{n}", f"episode {n + 1}", f"{published:%Y-%m-%d}", title.lower().replace(" ", "_"))[n % 4]
        if n == files - 1:
            segments[-1].text += " zzmarcadorfinal."
        _write(folder, stem, FORMATS[n % len(FORMATS)], segments, title, published)
    return words, "zzmarcadorfinal"


def matching_show(settings: Settings, files: int, vocabulary: list[str]) -> str:
    """A show with one episode per file, as a feed would have given them: GUID, enclosure, number, date, title."""
    with Archive(settings.db_path) as archive:
        show, _ = archive.add_show(title="Programa", source="https://example.org/feed.xml", source_kind="feed")
        for n in range(files):
            archive.upsert_episode(
                show, guid=f"guid-{n}", title=f"Episodio {n + 1}: {_title(n, vocabulary)}", kind="audio",
                published=_published(n).strftime("%Y-%m-%dT%H:%M:%SZ"), number=n + 1,
                media_url=f"https://example.org/media/show-ep{n}.mp3",
            )  # fmt: skip
        return show.slug


def run(
    folder: Path, files: int, vocabulary: list[str], marker: str, *, matching: bool, embed: bool = False
) -> dict[str, float]:
    home = Path(tempfile.mkdtemp(prefix="fonoteca-import-bench-"))
    settings = Settings.from_env(environ={}, home=home, embeddings="packaged" if embed else "none")
    show = matching_show(settings, files, vocabulary) if matching else None
    embedded: dict[str, float] = {}
    with Fonoteca(settings) as fonoteca:
        started = time.perf_counter()
        report = fonoteca.import_transcripts([folder], show=show)
        seconds = time.perf_counter() - started
        found = fonoteca.search(marker, mode="keyword").total
        if embed:  # what `fonoteca embed` (or serve's background) does next, with the model loaded as it would load it
            loading = time.perf_counter()
            embedder = fonoteca.embedder
            loaded = time.perf_counter()
            fonoteca.embed()
            took = time.perf_counter() - loaded
            count, _bytes = fonoteca.archive.vectors.size(embedder.name)
            embedded = {"load": loaded - loading, "embed": took, "passages": count,
                        "fully": seconds + (time.perf_counter() - loading)}  # fmt: skip
        outcomes = {str(o): len(report.of(o)) for o in Outcome if report.of(o)}
        by = {}
        for result in report.of(Outcome.MATCHED):
            by[result.by] = by.get(result.by, 0) + 1
        hours = fonoteca.stats().seconds / 3600
    db_mb = settings.db_path.stat().st_size / 2**20
    shutil.rmtree(home, ignore_errors=True)
    return {"seconds": seconds, "found": found, "outcomes": outcomes, "by": by, "hours": hours, "db_mb": db_mb,
            **embedded}  # fmt: skip


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--files", type=int, default=1000)
    parser.add_argument("--hours", type=float, default=1.0, help="hours of speech per file")
    parser.add_argument(
        "--embed",
        action="store_true",
        help="search by meaning on (the packaged model): the time "
        "until everything is embedded too, into an empty archive (writes bench/results/import-embed.txt)",
    )
    args = parser.parse_args()

    vocabulary = make_vocabulary(VOCABULARY, np.random.default_rng(0))
    folder = Path(tempfile.mkdtemp(prefix="fonoteca-import-files-"))
    started = time.perf_counter()
    words, marker = synthesise(folder, args.files, args.hours, vocabulary)
    size = sum(p.stat().st_size for p in folder.iterdir())
    took = time.perf_counter() - started
    print(f"synthesised {args.files} files, {words:,} words, {size / 2**20:.0f} MB in {took:.0f} s")
    if args.embed:
        embed_report(folder, args, vocabulary, marker, words)
        return
    rows = []
    for matching in (False, True):
        result = run(folder, args.files, vocabulary, marker, matching=matching)
        rows.append((matching, result))
        print(result)
    shutil.rmtree(folder, ignore_errors=True)

    total_hours = args.files * args.hours
    lines = [
        f"# bench/import.py — {datetime.now(UTC):%Y-%m-%d %H:%M} — {platform.machine()}, {os.cpu_count()} cores",
        f"# {args.files} synthesised transcript files of {args.hours:g} h ({total_hours:g} h, {words:,} words, "
        f"{size / 2**20:.0f} MB): WebVTT, SRT, Whisper JSON with word times, TSV and timed Markdown in turn",
        "# searchable = when Fonoteca.import_transcripts returned (it updates the keyword index first); no embeddings",
        "",
        f"{'archive':34} {'files/s':>8} {'searchable s':>13} {'h/min':>7}  outcome",
    ]
    for matching, r in rows:
        name = f"with {args.files} matching episodes" if matching else "empty"
        outcome = ", ".join(f"{n} {o}" for o, n in r["outcomes"].items())
        if r["by"]:
            outcome += " (by " + ", ".join(f"{k}: {v}" for k, v in r["by"].items()) + ")"
        lines.append(
            f"{name:34} {args.files / r['seconds']:8.1f} {r['seconds']:13.1f} {total_hours / r['seconds'] * 60:7.0f}  "
            f"{outcome}; last file found: {'yes' if r['found'] else 'NO'}; stats {r['hours']:.0f} h; "
            f"db {r['db_mb']:.0f} MB"
        )
    scaled = max(r["seconds"] for _, r in rows) * 1000 / total_hours
    lines.append(f"\n1 000 h searchable in {scaled:.0f} s at this rate (target < {TARGET_SECONDS} s): "
                 f"{'yes' if scaled < TARGET_SECONDS else 'NO'}")  # fmt: skip
    report = "\n".join(lines) + "\n"
    print(report)
    if args.files >= 1000 and args.hours >= 1:
        out = Path(__file__).parent / "results" / "import.txt"
        out.write_text(report)
        print(f"wrote {out}")


def embed_report(folder: Path, args: argparse.Namespace, vocabulary: list[str], marker: str, words: int) -> None:
    """Import with search by meaning on: import returns once the transcripts are searchable by keywords, then the
    passages are embedded as `fonoteca embed` does."""
    r = run(folder, args.files, vocabulary, marker, matching=False, embed=True)
    shutil.rmtree(folder, ignore_errors=True)
    hours = args.files * args.hours
    report = "\n".join([
        f"# bench/import.py --embed — {datetime.now(UTC):%Y-%m-%d %H:%M} — {platform.machine()}, {os.cpu_count()} "
        f"cores, load average {os.getloadavg()[0]:.1f} at the end",
        f"# {args.files} synthesised transcript files of {args.hours:g} h ({hours:g} h, {words:,} words) into an empty "
        "archive, search by meaning on (the packaged model, use-multilingual-v3)",
        f"keyword-searchable after {r['seconds']:.1f} s (import returned; a word of the last file found: "
        f"{'yes' if r['found'] else 'NO'})",
        f"fully embedded after {r['fully']:.1f} s: model loaded in {r['load']:.1f} s, {r['passages']:,} passages "
        f"embedded in {r['embed']:.1f} s = {r['passages'] / r['embed']:.1f} passages/s "
        f"({hours / (r['embed'] / 3600):.0f} h of speech per hour)",
    ]) + "\n"  # fmt: skip
    print(report)
    (Path(__file__).parent / "results" / "import-embed.txt").write_text(report)


if __name__ == "__main__":
    main()
