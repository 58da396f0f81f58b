"""`make demo`: build an archive of the bundled demo show, show what fonoteca does with it, then serve it.

The show ("Voces abiertas", feed.xml beside this file) is four short openly licensed recordings in Spanish and English
plus one text episode; see CREDITS.md. Everything runs offline: the packaged Whisper model transcribes, the packaged
SmolLM2 model answers through the embedded llama.cpp server.
"""

from __future__ import annotations

import argparse
from importlib.resources import files
from pathlib import Path

from fonoteca.app import Fonoteca
from fonoteca.archive import Episode
from fonoteca.cli.console import console
from fonoteca.cli.progress import ProgressDisplay
from fonoteca.settings import Settings
from fonoteca.text import format_timestamp, stats_header

DEMO_FEED = Path(str(files("fonoteca.demo").joinpath("feed.xml")))
DEMO_QUERIES = ("country", "alumnos", "modelo")


def build(fonoteca: Fonoteca) -> None:
    """Add the demo feed and transcribe it (a second run finds everything done and adds nothing)."""
    fonoteca.add(str(DEMO_FEED))


def report(fonoteca: Fonoteca) -> None:
    console.rule("fonoteca demo")
    stats = fonoteca.stats()
    console.print(f"[bold]{stats_header(stats.episodes, stats.seconds)}[/]", highlight=False)
    for query in DEMO_QUERIES:
        results = fonoteca.search(query, limit=3)
        console.print(f"\n[bold]search[/] {query!r}: {results.total} hit(s)")
        for hit in results.hits:
            console.print(f"  {hit.date or '':<10} {format_timestamp(hit.start):>6}  {hit.title}: {hit.text.strip()}")
            console.print(f"  [dim]{hit.url}[/]")


def glance(fonoteca: Fonoteca, episode: Episode) -> None:
    """The episode at a glance: its key moments (the summary of the embedded setup: verbatim quotes, nothing
    written by a model), its topics by keyness and its chapters, all words the episode says."""
    _, overview = fonoteca.overview(episode.id, make=True)
    if overview is None:
        return
    console.print(f"\n[bold]{episode.title}[/] at a glance (the episode's own words)")
    for moment in overview.moments:
        console.print(f"  {format_timestamp(moment.start):>6}  “{moment.quote}”", highlight=False)
    console.print(f"[bold]topics[/]: {', '.join(t.term for t in overview.topics) or '—'}", highlight=False)
    for chapter in overview.shown_chapters:
        console.print(f"  [bold]chapter[/] {format_timestamp(chapter.start):>6}  {chapter.title}", highlight=False)


def model_topics(fonoteca: Fonoteca, episode: Episode) -> None:
    """The embedded model's topics, through the grounding check: what it names that the episode does not say is
    dropped, and counted. (Its summary is not shown: a 135M model's free text cannot be checked, and it invents.)"""
    topics = fonoteca.analyzer().analyze(episode, ["topics"])["topics"].result
    console.print(
        f"[bold]the 135M model's topics[/], checked: {', '.join(topics['topics']) or '—'}"
        f" ({len(topics['dropped'])} dropped by the grounding check: not said in the episode, or only stopwords"
        + (f" — {', '.join(topics['dropped'])})" if topics["dropped"] else ")"),
        highlight=False,
    )


def serve(settings: Settings) -> None:
    """Start the embedded LLM server, show one episode at a glance and the model's checked topics of it, then serve
    the web archive until Ctrl-C."""
    from fonoteca.llm.server import LocalServer, free_port
    from fonoteca.web import run_one
    from fonoteca.web.app import create_app

    # running() stops the LLM server however this ends; SIGTERM (which uvicorn raises again once it has shut down)
    # and SIGHUP arrive as KeyboardInterrupt, like Ctrl-C.
    try:
        with LocalServer(port=free_port()).running() as llm:
            llm_settings = settings.replace(llm_base_url=llm.base_url)
            console.print(f"\nLLM server (SmolLM2-135M, llama.cpp) at {llm.base_url}")
            with Fonoteca(llm_settings) as fonoteca:
                episode = next(e for e in fonoteca.archive.list_episodes(status="done") if e.kind == "text")
                glance(fonoteca, episode)
                model_topics(fonoteca, episode)
            url = f"http://{settings.host}:{settings.port}/"
            run_one(create_app(llm_settings), settings.host, settings.port, when_started=lambda: console.print(
                f"[bold green]Open {url}[/] — the demo archive (Ask = chat with it). Ctrl-C to stop."
            ))  # fmt: skip
    except KeyboardInterrupt:
        pass
    console.print("stopped")


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m fonoteca.demo", description=__doc__)
    parser.add_argument("--no-serve", action="store_true", help="Build and report, then exit (for scripts and CI).")
    args = parser.parse_args(argv)
    settings = Settings.from_env()
    with Fonoteca(settings, events=ProgressDisplay()) as fonoteca:
        build(fonoteca)
        report(fonoteca)
    if not args.no_serve:
        serve(settings)
