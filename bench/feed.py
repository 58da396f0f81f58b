"""A show's Podcasting 2.0 feed of 1,000 episodes, served by the real web app (uvicorn, over HTTP), beside the plain
library that writes it (lxml building and serialising the same RSS from values already in memory).

Builds one show of EPISODES finished episodes (each SEGMENTS lines, named speakers on half of them, five chapters and
five key moments each) through the Archive API, starts `create_app` under uvicorn on 127.0.0.1 and times, each ROUNDS
times, p50/p95 in ms:

- plain lxml: the same 1,000 items with their enclosures, transcripts, chapters, soundbites and people, built and
  serialised in memory;
- cold: the first request after the archive changed (fonoteca reads the episodes, speakers, chapters and key moments
  and builds the feed);
- warm: a request while nothing changed (the kept feed, after the two small queries that say nothing changed);
- 304: a podcast app's revalidation with the ETag it has;
- file: one episode's WebVTT transcript, and its chapters file.

The target is a warm feed under 200 ms. Writes bench/results/feed.txt.

    python bench/feed.py [--episodes 1000] [--segments 200] [--rounds 50]
"""

from __future__ import annotations

import argparse
import platform
import sys
import tempfile
import time
from pathlib import Path

import httpx
from archive import percentiles, timed  # bench/archive.py's timing helpers
from lxml import etree

from fonoteca.archive import Archive, Chapter, KeyMoment, Overview, Segment
from fonoteca.output.feed import CHAPTERS_FILE, ITUNES_NS, PODCAST_NS, TRANSCRIPT_FILES
from fonoteca.settings import Settings

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO / "tests"))
from fixtures_web import serve_app  # noqa: E402 (the tests' own server runner, reused)

CHAPTERS = [Chapter(n * 400.0, f"Chapter {n}: a title of some length") for n in range(5)]
MOMENTS = [KeyMoment(n * 400.0 + 30, n * 400.0 + 60, f"a quote of moment {n}, as long as a sentence") for n in range(5)]


def fill(archive: Archive, episodes: int, segments: int) -> tuple[str, list[str]]:
    show, _ = archive.add_show(title="Bench show", source="https://example.org/bench.xml", source_kind="feed",
                               description="A show of a thousand episodes")  # fmt: skip
    ids = []
    for n in range(episodes):
        episode, _ = archive.upsert_episode(
            show, guid=f"bench-{n}", title=f"Episode {n}: a title of some length", kind="audio",
            published=f"{2010 + n // 365:04d}-{n % 12 + 1:02d}-{n % 28 + 1:02d}T10:00:00Z", duration=3600.0,
            media_url=f"https://cdn.example.org/ep{n}.mp3", media_type="audio/mpeg", description="<p>Notes</p>" * 20,
        )  # fmt: skip
        speakers = ("Ana García", "Luis Pérez") if n % 2 else (None, None)
        lines = [Segment(i * 10.0, i * 10.0 + 9, f"line {i} of episode {n}", speaker=speakers[i % 2])
                 for i in range(segments)]  # fmt: skip
        archive.replace_transcript(episode.id, lines, source="transcribed", language="es")
        # Chapters and key moments, as the step after a new transcript makes them for every finished episode.
        rev = archive.get_episode(episode.id).transcript_rev
        archive.overviews.save_overview(Overview(episode.id, rev, "words", CHAPTERS, MOMENTS, []))
        ids.append(episode.id)
    return show.slug, ids


def plain_lxml(episodes: int) -> bytes:
    """The same document from values in memory: what the library itself costs."""
    rss = etree.Element("rss", version="2.0", nsmap={"podcast": PODCAST_NS, "itunes": ITUNES_NS})
    channel = etree.SubElement(rss, "channel")
    etree.SubElement(channel, "title").text = "Bench show"
    for n in range(episodes):
        item = etree.SubElement(channel, "item")
        etree.SubElement(item, "title").text = f"Episode {n}: a title of some length"
        etree.SubElement(item, "guid", isPermaLink="false").text = f"bench-{n}"
        etree.SubElement(item, "pubDate").text = "Tue, 02 Jan 2024 10:00:00 +0000"
        etree.SubElement(item, "description").text = "<p>Notes</p>" * 20
        etree.SubElement(item, "enclosure", url=f"https://cdn.example.org/ep{n}.mp3", length="0", type="audio/mpeg")
        etree.SubElement(item, f"{{{ITUNES_NS}}}duration").text = "3600"
        for file in TRANSCRIPT_FILES:
            etree.SubElement(
                item, f"{{{PODCAST_NS}}}transcript", url=f"https://x/{n}.{file.suffix}", type=file.media_type
            )
        etree.SubElement(
            item, f"{{{PODCAST_NS}}}chapters", url=f"https://x/{n}.chapters.json", type=CHAPTERS_FILE.media_type
        )
        for moment in MOMENTS:
            start = f"{moment.start:.1f}"
            etree.SubElement(item, f"{{{PODCAST_NS}}}soundbite", startTime=start, duration="30.0").text = moment.quote
        for name in ("Ana García", "Luis Pérez") if n % 2 else ():
            etree.SubElement(item, f"{{{PODCAST_NS}}}person").text = name
    return etree.tostring(rss, xml_declaration=True, encoding="UTF-8", pretty_print=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--episodes", type=int, default=1000)
    parser.add_argument("--segments", type=int, default=200)
    parser.add_argument("--rounds", type=int, default=50)
    args = parser.parse_args()
    out: list[str] = []

    def say(line: str) -> None:
        print(line, flush=True)
        out.append(line)

    with tempfile.TemporaryDirectory() as home:
        settings = Settings.from_env(environ={}, home=Path(home), embeddings="none")
        started = time.perf_counter()
        with Archive(settings.db_path) as archive:
            slug, ids = fill(archive, args.episodes, args.segments)
        say(
            f"archive: {args.episodes} episodes x {args.segments} lines, built in {time.perf_counter() - started:.1f} s"
        )
        say(f"machine: {platform.processor() or platform.machine()}, Python {platform.python_version()}; other work "
            "ran beside it on this shared 2-core machine: compare the ratios, not the absolute figures")  # fmt: skip
        plain = timed(lambda: plain_lxml(args.episodes), args.rounds)
        say(f"plain lxml, same document in memory     p50 {plain[0]:7.1f} ms  p95 {plain[1]:7.1f} ms")
        with serve_app(settings) as base, httpx.Client(base_url=base, timeout=60) as http:
            url = f"/show/{slug}/feed.xml"

            def cold_only() -> tuple[float, float]:
                samples = []
                for _ in range(max(5, args.rounds // 5)):
                    with Archive(settings.db_path) as archive:
                        archive.update_episode(ids[0], title=f"Episode 0 at {time.perf_counter()}")
                    time.sleep(0.2)
                    start = time.perf_counter()
                    http.get(url).raise_for_status()
                    samples.append(time.perf_counter() - start)
                return percentiles(samples)

            built = cold_only()
            say(f"fonoteca cold (built again)             p50 {built[0]:7.1f} ms  p95 {built[1]:7.1f} ms")
            size = len(http.get(url).content)
            warm = timed(lambda: http.get(url).raise_for_status(), args.rounds)
            say(f"fonoteca warm (kept, {size // 1024} KB)           p50 {warm[0]:7.1f} ms  p95 {warm[1]:7.1f} ms"
                f"  (target < 200 ms)")  # fmt: skip
            etag = http.get(url).headers["etag"]
            revalidated = timed(lambda: http.get(url, headers={"If-None-Match": etag}), args.rounds)
            say(f"fonoteca 304 (If-None-Match)            p50 {revalidated[0]:7.1f} ms  p95 {revalidated[1]:7.1f} ms")
            file = timed(lambda: http.get(f"/show/{slug}/episodes/{ids[1]}.vtt").raise_for_status(), args.rounds)
            say(f"fonoteca one WebVTT file ({args.segments} cues)     p50 {file[0]:7.1f} ms  p95 {file[1]:7.1f} ms")
            chapters = timed(
                lambda: http.get(f"/show/{slug}/episodes/{ids[1]}.chapters.json").raise_for_status(), args.rounds
            )
            say(f"fonoteca one chapters file (5 chapters) p50 {chapters[0]:7.1f} ms  p95 {chapters[1]:7.1f} ms")
    results = REPO / "bench" / "results" / "feed.txt"
    results.write_text("\n".join(out) + "\n", encoding="utf-8")
    print(f"wrote {results}")


if __name__ == "__main__":
    main()
