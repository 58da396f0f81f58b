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


def serve(settings: Settings) -> None:
    """Start the embedded LLM server, summarise one episode with it, then serve the web archive until Ctrl-C."""
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
                results = fonoteca.analyzer().analyze(episode, ["summary", "topics"])
                console.print(f"[bold]summary[/] of {episode.title!r}: {results['summary'].result.get('text')}")
                console.print(f"[bold]topics[/]: {', '.join(results['topics'].result.get('topics') or [])}")
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
