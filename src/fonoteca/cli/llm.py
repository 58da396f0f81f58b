"""CLI of the LLM stage: `llm check`, `llm serve`, `analyze` and `ask`."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Annotated

import typer

from fonoteca.cli import app, app_of
from fonoteca.cli.console import console, err_console, print_json, safe
from fonoteca.cli.options import EpisodeFilter, ShowFilter
from fonoteca.errors import FonotecaError, LLMError
from fonoteca.llm.analyze import (
    KINDS,
    AnalysisRun,
    EpisodeAnalyses,
    EpisodeTranslation,
    check_analyses,
    check_translation,
)
from fonoteca.llm.server import LocalServer
from fonoteca.output import AnalysisReportOut, AnswerOut, QueuedOut, SummaryOut, TranslationReportOut, dump
from fonoteca.text import format_timestamp

llm_app = typer.Typer(help="The language model endpoint: check it, or serve the packaged offline model.")
app.add_typer(llm_app, name="llm")


@llm_app.command("check")
def check(ctx: typer.Context) -> None:
    """Say whether the configured OpenAI-compatible endpoint answers, and which models it lists."""
    fonoteca = app_of(ctx)
    settings, client = fonoteca.settings, fonoteca.llm
    endpoint = client.check()  # no models, or a configured one the server does not list: fails before a ✓ is said
    models = ", ".join(endpoint.listed) if endpoint.listed is not None else "not listed (no /models)"
    console.print(f"[green]✓[/] {safe(client.base_url)} answers — models: {safe(models)}", soft_wrap=True)
    console.print(f"  using [bold]{safe(endpoint.model)}[/], context {settings.llm_context} tokens", soft_wrap=True)
    embedder = endpoint.embedding_model
    console.print(
        f"  embeddings: [bold]{embedder}[/] (FONOTECA_EMBEDDINGS=endpoint searches by meaning with it)"
        if embedder
        else "  embeddings: none listed (search by meaning uses the packaged model, or FONOTECA_EMBEDDINGS_MODEL)",
        soft_wrap=True,
    )


@llm_app.command("serve")
def serve(
    port: Annotated[int, typer.Option("--port", help="Port (1234 is LM Studio's, the default endpoint).")] = 1234,
    host: Annotated[str, typer.Option("--host", help="Interface to listen on.")] = "127.0.0.1",
    model: Annotated[
        Path | None, typer.Option("--model", help="A .gguf model file (default: the packaged SmolLM2-135M).")
    ] = None,
    ctx: Annotated[
        int, typer.Option("--ctx", help="Context size in tokens (set FONOTECA_LLM_CONTEXT to match).")
    ] = 2048,
    threads: Annotated[
        int, typer.Option("--threads", help="CPU threads, for prompts and answers alike (0: half the cores).")
    ] = 0,
    embeddings: Annotated[
        bool,
        typer.Option(
            "--embeddings",
            help="Also answer /v1/embeddings (the model is listed as *-embed), for FONOTECA_EMBEDDINGS=endpoint. The "
            "packaged small model's embeddings are weak: the packaged embeddings models do better.",
        ),
    ] = False,
) -> None:
    """Run llama.cpp's OpenAI-compatible server with the packaged model, offline, until Ctrl-C (or SIGTERM, SIGHUP)."""
    server = LocalServer(model, host=host, port=port, context=ctx, threads=threads or None, embeddings=embeddings)
    err_console.print(f"starting llama.cpp's server with {server.model.name} …", highlight=False)

    def ready(server: LocalServer) -> None:
        console.print(
            f"[green]✓[/] serving [bold]{server.alias}[/] at {server.base_url} (Ctrl-C stops it)", highlight=False
        )
        if server.base_url != "http://127.0.0.1:1234/v1":
            console.print(f"  point fonoteca at it: export FONOTECA_LLM_BASE_URL={server.base_url}", highlight=False)

    code = server.serve(ready)
    if code is None:
        err_console.print("stopped")
        return
    raise LLMError(f"llama.cpp's server exited (code {code}): {server.log_tail()}", "check the model file and --ctx")


def _print_report(report: AnalysisReportOut | TranslationReportOut) -> None:
    console.rule(f"[bold]{safe(report.title)}[/] [dim]{report.episode_id}[/]")
    if isinstance(report, TranslationReportOut):
        span = f"{format_timestamp(report.start)}–{format_timestamp(report.end)}"
        console.print(f"[bold]translation ({report.to}, {span}):[/]", highlight=False)
        console.print(report.text, highlight=False, markup=False)
        return
    if report.summary is not None:
        _print_summary(report.summary)
    if report.topics is not None:
        console.print(f"[bold]topics:[/] {safe(', '.join(report.topics))}", highlight=False)
    if report.entities is not None:
        for key, label in (("people", "people"), ("organizations", "organisations"), ("products", "products")):
            console.print(f"[bold]{label}:[/] {safe(', '.join(report.entities[key]) or '—')}", highlight=False)
    if report.sentiment is not None:
        anger = "yes" if report.anger else "no"
        console.print(f"[bold]sentiment:[/] {safe(report.sentiment)} · anger: {anger}", highlight=False)
    if report.language is not None:
        console.print(f"[bold]language:[/] {safe(report.language)}", highlight=False)
    if report.dropped:  # what the checks took out of the model's answers, so the reader knows it was there
        told = "; ".join(f"{kind}: {', '.join(items)}" for kind, items in report.dropped.items())
        console.print(
            f"[dim]dropped by the checks (not said, or not given to the model): {safe(told)}[/]", highlight=False
        )
    for kind, error in (report.errors or {}).items():
        console.print(f"[bold red]{kind} failed:[/] {safe(error)}", highlight=False)
    console.print(f"[dim]model: {safe(report.model)}[/]", highlight=False)


def _print_summary(summary: SummaryOut) -> None:
    """A written summary with each of its citations' second, what it cites and its link; on the embedded setup, the
    key moments with the line that says why."""
    if summary.text is None:
        console.print(f"[bold]summary:[/] {safe(summary.note or '')}", highlight=False)
        for moment in summary.key_moments:
            console.print(
                f"  {format_timestamp(moment.start):>8}  “{safe(moment.quote)}” [dim]{moment.url}[/]", highlight=False
            )
        return
    console.print(f"[bold]summary:[/] {safe(summary.text)}", highlight=False)
    for citation in summary.citations:
        cited = f"“{citation.quote}”" if citation.quote is not None else f"chapter: {citation.chapter}"
        at = format_timestamp(citation.start)
        console.print(f"  [bold]{safe(citation.marker)}[/] {at}  {safe(cited)} [dim]{citation.url}[/]", highlight=False)


@app.command()
def analyze(
    ctx: typer.Context,
    target: Annotated[
        str, typer.Argument(help="An episode id (or a prefix of it), or a show: every transcribed episode.")
    ],
    what: Annotated[
        str, typer.Option("--what", help=f"Comma-separated: {', '.join(KINDS)}; or 'translation' (with --to).")
    ] = ",".join(KINDS),
    words: Annotated[int, typer.Option("--words", help="Most words in the summary.")] = 30,
    focus: Annotated[
        str | None, typer.Option("--focus", help="What the summary should centre on, e.g. 'el consumo eléctrico'.")
    ] = None,
    lang: Annotated[str | None, typer.Option("--lang", help="Answer language (default: the show's language).")] = None,
    to: Annotated[str | None, typer.Option("--to", help="Target language of a translation, e.g. en.")] = None,
    start: Annotated[float | None, typer.Option("--from", help="Translate from this second of the episode.")] = None,
    end: Annotated[float | None, typer.Option("--until", help="Translate up to this second of the episode.")] = None,
    force: Annotated[bool, typer.Option("--force", help="Recompute even when a stored result is still valid.")] = False,
    queue: Annotated[
        bool,
        typer.Option(
            "--queue", help="Leave them to the workers of the llm queue (an archive on PostgreSQL) and return."
        ),
    ] = False,
    as_json: Annotated[bool, typer.Option("--json", help="Print one JSON object per episode (a list).")] = False,
) -> None:
    """Summarise, find topics, entities, sentiment, language of episodes; or translate one. Results are stored."""
    fonoteca = app_of(ctx)
    kinds = [k.strip() for k in what.split(",") if k.strip()]
    translating = kinds == ["translation"]
    # The request is checked before anything is asked of the server: a typo is not a network problem.
    if translating:
        to = check_translation(to, start, end)
    elif "translation" in kinds:
        ctx.fail("translation cannot be combined with other analyses — run it alone: --what translation --to en")
    else:
        check_analyses(kinds, words)
    if queue and translating:
        ctx.fail("a translation is not queued — run it without --queue: it prints the translated lines")
    options = {"words": words, "focus": focus, "language": lang, "force": force}
    if queue:
        queued = fonoteca.queue_analyses(target, kinds, **options)
        if as_json:
            print_json(dump(QueuedOut(queued=queued.queued, already_queued=queued.already)))
        else:
            console.print(
                f"{queued.queued} episodes queued for analysis ({queued.already} already queued or running); "
                "`fonoteca worker --queue llm` analyses them, and `fonoteca analyze` then shows the stored results."
            )
        return
    run: AnalysisRun[EpisodeTranslation] | AnalysisRun[EpisodeAnalyses]
    reports: list[AnalysisReportOut] | list[TranslationReportOut]
    if translating:
        run = fonoteca.translate(target, to, start=start, end=end, force=force)
        reports = [TranslationReportOut.of(report) for report in run.reports]
    else:
        run = fonoteca.analyze(target, kinds, **options)
        reports = [AnalysisReportOut.of(report) for report in run.reports]
    for report in reports:
        if as_json:  # the text report shows what failed; JSON's stdout must stay JSON
            errors = report.errors if isinstance(report, AnalysisReportOut) else None
            for kind, error in (errors or {}).items():
                err_console.print(f"[bold red]error:[/] {report.episode_id}: {kind}: {safe(error)}", highlight=False)
        else:
            err_console.print()  # a line between the reports, on the stream of the progress bar they follow
            _print_report(report)
    if as_json:
        print_json(dump(reports))
    if run.failed:
        raise FonotecaError(
            f"{run.failed} of {run.episodes} episodes could not be (fully) analysed", "see the errors above"
        )


@app.command()
def ask(
    ctx: typer.Context,
    question: Annotated[str, typer.Argument(help="A question about the archive.")],
    show: ShowFilter = None,
    episode: EpisodeFilter = None,
    conversation: Annotated[
        str | None, typer.Option("--conversation", help="Continue a conversation (its id).")
    ] = None,
    as_json: Annotated[
        bool, typer.Option("--json", help="Print {answer, citations, sources, conversation_id} as JSON.")
    ] = False,
) -> None:
    """Ask the archive; the answer streams as it is written, cites the excerpts it uses, and then lists every excerpt
    it was given (cited ones first)."""
    fonoteca = app_of(ctx)
    turn = fonoteca.chat_turn(question, conversation_id=conversation, show=show, episode=episode)

    async def run() -> str | None:
        try:
            await turn.prepare()
            async for event in turn.events():
                if event.event == "token" and not as_json:
                    console.out(event.data["text"], end="", highlight=False)
                elif event.event == "error":
                    return event.data["message"]
            return None
        finally:
            await fonoteca.llm.aclose()

    error = asyncio.run(run())
    if error:
        if not as_json:
            console.out("")
        raise FonotecaError(error)
    if as_json:
        print_json(dump(AnswerOut.of(turn)))
        return
    console.out("")
    if turn.sources:
        console.print("[bold]sources[/] (the excerpts the answer was given, cited first):", highlight=False)
    for source in turn.sources:
        mark = "[green]cited[/]" if source["cited"] else "[dim]not cited[/]"
        console.print(
            f"[bold][{source['n']}][/] {safe(source['title'])} — {format_timestamp(source['start'])} · {mark} "
            f"[dim]{source['url']}[/]",
            highlight=False,
        )
    console.print(f"[dim]conversation {turn.conversation_id} — continue with --conversation[/]", highlight=False)
