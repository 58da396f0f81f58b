"""Getting a show's history in: add, sync, retry."""

from __future__ import annotations

from typing import Annotated

import typer

from fonoteca.app import Fonoteca
from fonoteca.archive import Captions
from fonoteca.cli import app, app_of
from fonoteca.cli.console import console, print_json, safe
from fonoteca.cli.options import AsJson, DeviceOption, ShowArgument, SpeakerCount, WhisperModel
from fonoteca.ingest.opml import Subscription, is_opml
from fonoteca.output import SyncOut, dump
from fonoteca.pipeline import SyncReport


def _print_report(report: SyncReport, as_json: bool) -> None:
    if as_json:
        print_json(dump(SyncOut.of(report)))
        return
    console.print(report.summary())
    if report.queued or report.already_queued:
        console.print("[bold]fonoteca worker[/] runs the jobs; [bold]fonoteca status[/] shows how far they got.")
    for label, line in report.problems():
        console.print(f"  [red]{label}[/] {safe(line)}", highlight=False)
    if report.failed:
        console.print("Fix what the messages say, then run [bold]fonoteca retry[/].")


def _exit_code(report: SyncReport) -> int:
    return 1 if report.failed or report.show_errors else 0


@app.command()
def add(
    ctx: typer.Context,
    source: Annotated[
        str,
        typer.Argument(
            help="Feed URL, feed file, media folder (recursive), media file, or a channel, playlist or video page that "
            "yt-dlp reads (YouTube, Twitch, Vimeo, PeerTube, a web page with a video or audio)."
        ),
    ],
    language: Annotated[
        str | None, typer.Option("--language", "-l", help="Pin the show's language (e.g. es); default: detect.")
    ] = None,
    title: Annotated[str | None, typer.Option("--title", help="Override the show's title.")] = None,
    date: Annotated[
        str | None,
        typer.Option(
            "--date", help="Publication date (YYYY-MM-DD) of a single media file; refused for folders and feeds."
        ),
    ] = None,
    no_sync: Annotated[
        bool, typer.Option("--no-sync", help="Only register the episodes; transcribe later with sync.")
    ] = False,
    captions: Annotated[
        Captions | None,
        typer.Option(
            "--captions",
            case_sensitive=False,
            help="Video platforms: creator = import the creator's subtitles in the episode's language instead of "
            "transcribing (default); auto = also the platform's automatic captions, which are worse than Whisper's "
            "transcripts (use them only to save time); none = always transcribe.",
        ),
    ] = None,
    transcribe: Annotated[
        bool,
        typer.Option("--transcribe", help="Video platforms: transcribe with Whisper even when there are captions."),
    ] = False,
    dry_run: Annotated[
        bool, typer.Option("--dry-run", help="OPML subscription lists: list the feeds it would add; add nothing.")
    ] = False,
    model: WhisperModel = None,
    speakers: SpeakerCount = None,
    as_json: AsJson = False,
) -> None:
    """Add a show (feed, local media or video platform) to the archive and transcribe it; or every feed of an OPML
    subscription list (nested folders too), one line per feed that fails, the others going on."""
    if transcribe and captions not in (None, Captions.NONE):
        ctx.fail("--transcribe and --captions contradict each other — give one of them")
    fonoteca = app_of(ctx, progress=not as_json, model=model)
    if is_opml(source):
        if language or title or date or captions or transcribe or speakers:
            ctx.fail(
                "an OPML list adds each feed as it is: --language, --title, --date, --captions and --speakers are per "
                "show"
            )
        _add_subscriptions(fonoteca, source, dry_run=dry_run, sync_now=not no_sync, as_json=as_json)
        return
    if dry_run:
        ctx.fail("--dry-run is for OPML subscription lists")
    show, report = fonoteca.add(
        source, language=language, title=title, date=date, sync_now=not no_sync,
        captions=Captions.NONE if transcribe else captions, speakers=speakers,
    )  # fmt: skip
    if not as_json:
        console.print(f"[bold]{safe(show.title)}[/] ({safe(show.slug)})", highlight=False)
    _print_report(report, as_json)
    raise typer.Exit(_exit_code(report))


def _add_subscriptions(fonoteca: Fonoteca, source: str, *, dry_run: bool, sync_now: bool, as_json: bool) -> None:
    found = fonoteca.subscriptions(source)
    refused = [{"url": s.url, "title": s.title, "error": why} for s, why in found.refused]
    if dry_run:
        if as_json:
            listed = [{"url": s.url, "title": s.title, "folder": s.folder} for s in found.subscriptions]
            print_json({"feeds": listed, "refused": refused})
        else:
            for s in found.subscriptions:
                folder = f"  [dim]({safe(s.folder)})[/]" if s.folder else ""
                console.print(f"  {safe(s.title)} — {safe(s.url)}{folder}", highlight=False)
            _print_refused(found.refused)
            console.print(f"{len(found.subscriptions)} feeds would be added (dry run: nothing changed).")
        raise typer.Exit(1 if found.refused else 0)
    results = fonoteca.add_subscriptions(found, sync_now=sync_now)
    failed = [r for r in results if r.error]
    if as_json:
        print_json({
            "added": [{"url": r.subscription.url, "show": r.show.slug, **dump(SyncOut.of(r.report))}
                      for r in results if r.show and r.report],
            "failed": [{"url": r.subscription.url, "title": r.subscription.title, "error": r.error} for r in failed],
            "refused": refused,
        })  # fmt: skip
    else:
        for r in results:
            if r.show and r.report:
                console.print(f"[bold]{safe(r.show.title)}[/] ({safe(r.show.slug)}): {r.report.summary()}")
        for r in failed:
            console.print(f"  [red]failed[/] {safe(r.subscription.url)}: {safe(r.error)}", highlight=False)
        _print_refused(found.refused)
        console.print(f"{len(results) - len(failed)} of {len(results)} feeds added.")
    raise typer.Exit(1 if failed or found.refused else 0)


def _print_refused(refused: list[tuple[Subscription, str]]) -> None:
    for s, why in refused:
        console.print(f"  [red]refused[/] {safe(s.url)} ({safe(s.title)}): {safe(why)}", highlight=False)


@app.command("sync")
def sync_command(
    ctx: typer.Context,
    show: ShowArgument = None,
    model: WhisperModel = None,
    device: DeviceOption = None,
    batched: Annotated[
        bool | None,
        typer.Option(
            "--batched/--no-batched",
            help="Batched inference, cut into sentences again (default: faster on CPU and GPU).",
        ),
    ] = None,
    speakers: SpeakerCount = None,
    as_json: AsJson = False,
) -> None:
    """Re-read feeds, add new episodes, download and transcribe everything pending."""
    fonoteca = app_of(ctx, progress=not as_json, model=model, device=device, batched=batched, speaker_count=speakers)
    report = fonoteca.sync(show)
    _print_report(report, as_json)
    raise typer.Exit(_exit_code(report))


@app.command("retry")
def retry_command(
    ctx: typer.Context,
    episode: Annotated[str | None, typer.Argument(help="One episode id (default: every failed episode).")] = None,
    force: Annotated[
        bool, typer.Option("--force", help="Transcribe a finished episode again (repairs what `fonoteca check` finds).")
    ] = False,
    speakers: SpeakerCount = None,
    as_json: AsJson = False,
) -> None:
    """Try failed episodes again (or one failed or pending episode; finished ones only with --force)."""
    report = app_of(ctx, progress=not as_json, speaker_count=speakers).retry(episode, force=force)
    _print_report(report, as_json)
    raise typer.Exit(_exit_code(report))
