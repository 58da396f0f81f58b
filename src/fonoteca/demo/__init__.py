"""`make demo`: build an archive of the bundled demo show, show what fonoteca does with it, then serve it.

The show ("Voces abiertas", feed.xml beside this file) is four short openly licensed recordings in Spanish and English
plus one text episode; see CREDITS.md. Everything runs offline: the packaged Whisper model transcribes, the packaged
SmolLM2 model answers through the embedded llama.cpp server.
"""

from __future__ import annotations

import argparse
from importlib.resources import files
from pathlib import Path

from rich.console import Console
from rich.rule import Rule

from fonoteca.archive import Archive
from fonoteca.pipeline import add_source
from fonoteca.search import search
from fonoteca.settings import Settings
from fonoteca.text import format_timestamp, stats_header

DEMO_FEED = Path(str(files("fonoteca.demo").joinpath("feed.xml")))
DEMO_QUERIES = ("country", "alumnos", "modelo")

console = Console()


def build(settings: Settings) -> Archive:
    """Add the demo feed and transcribe it (a second run finds everything done and adds nothing)."""
    archive = Archive(settings.db_path)
    add_source(archive, settings, str(DEMO_FEED), progress=True)
    return archive


def report(archive: Archive, settings: Settings) -> None:
    console.print(Rule("fonoteca demo"))
    stats = archive.stats()
    console.print(f"[bold]{stats_header(stats.episodes, stats.seconds)}[/]", highlight=False)
    for query in DEMO_QUERIES:
        results = search(archive, settings, query, limit=3)
        console.print(f"\n[bold]search[/] {query!r}: {results.total} hit(s)")
        for hit in results.hits:
            console.print(f"  {hit.date or '':<10} {format_timestamp(hit.start):>6}  {hit.title}: {hit.text.strip()}")
            console.print(f"  [dim]{hit.url}[/]")


def serve(settings: Settings) -> None:
    """Start the embedded LLM server, summarise one episode with it, then serve the web archive until Ctrl-C."""
    import uvicorn

    from fonoteca.llm.analyze import Analyzer
    from fonoteca.llm.server import LocalServer, free_port
    from fonoteca.web.app import create_app

    # running() stops the LLM server however this ends; SIGTERM (which uvicorn raises again once it has shut down)
    # and SIGHUP arrive as KeyboardInterrupt, like Ctrl-C.
    try:
        with LocalServer(port=free_port()).running() as llm:
            llm_settings = settings.replace(llm_base_url=llm.base_url)
            console.print(f"\nLLM server (SmolLM2-135M, llama.cpp) at {llm.base_url}")
            with Archive(settings.db_path) as archive:
                episode = next(e for e in archive.list_episodes(status="done") if e.kind == "text")
                results = Analyzer(archive, llm_settings).analyze(episode, ["summary", "topics"])
                console.print(f"[bold]summary[/] of {episode.title!r}: {results['summary'].result.get('text')}")
                console.print(f"[bold]topics[/]: {', '.join(results['topics'].result.get('topics') or [])}")
            url = f"http://{settings.host}:{settings.port}/"
            console.print(f"[bold green]Open {url}[/] — the demo archive (Ask = chat with it). Ctrl-C to stop.")
            uvicorn.run(create_app(llm_settings), host=settings.host, port=settings.port, log_level="warning")
    except KeyboardInterrupt:
        pass
    console.print("stopped")


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m fonoteca.demo", description=__doc__)
    parser.add_argument("--no-serve", action="store_true", help="Build and report, then exit (for scripts and CI).")
    args = parser.parse_args(argv)
    settings = Settings.from_env()
    with build(settings) as archive:
        report(archive, settings)
    if not args.no_serve:
        serve(settings)
