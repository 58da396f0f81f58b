"""`fonoteca` command line: a thin shell over the application object (fonoteca.app.Fonoteca) the web app uses too.

Each stage owns a module here whose module-level commands are registered on the one Typer app: ingest (add, sync,
retry), imports (import), archive (shows, episodes, status, stats, export, check, migrate), search (search, trend,
embed, reindex), web (serve), publish (feed, export-opml, mcp), llm (llm check/serve, analyze, ask), watch (watch,
watch add/list/remove), words (vocabulary, corrections), speakers (speakers, speakers name/rename/merge/split) and
worker (worker). The options several commands share, and
the enumerations they accept, are declared once in fonoteca.cli.options. A command builds one `Fonoteca` (`app_of`),
translates its arguments into one of its operations and formats the result through fonoteca.cli.console; progress
reaches the terminal as events rendered by fonoteca.cli.progress.

Errors take one route: a command raises the FonotecaError that says what went wrong, and FonotecaGroup, the app's
group, prints its one line and exits with the class's `exit_code`; a Ctrl-C is reported there too. A usage mistake —
a value that is not one of an option's choices, a bad combination of options (`ctx.fail`) — is click's usage error
(exit 2, with the command's usage).

Feed text (titles, show names, errors quoting them, model output about them) is untrusted: every such value goes
through `safe` (fonoteca.cli.console) before it meets Rich markup, and the consoles strip control characters from
whatever they write, so a title can neither break the markup nor send escape sequences to the terminal.
"""

from __future__ import annotations

from typing import Any

import typer
from typer.core import TyperGroup

from fonoteca.app import Fonoteca
from fonoteca.cli.console import err_console, safe
from fonoteca.cli.options import DatabaseFile, DatabaseUrlOption, Home
from fonoteca.errors import FonotecaError
from fonoteca.settings import Settings


class FonotecaGroup(TyperGroup):
    """The `fonoteca` group: every command runs inside its `invoke`, the one place that turns an error into what the
    user sees. Click's own exit (typer.Exit) carries the code, so the command line and CliRunner see the same thing."""

    def invoke(self, ctx: typer.Context) -> Any:
        try:
            return super().invoke(ctx)
        except FonotecaError as exc:
            err_console.print(f"[bold red]error:[/] {safe(exc)}", highlight=False, soft_wrap=True)
            raise typer.Exit(exc.exit_code) from exc
        except KeyboardInterrupt:
            err_console.print(
                "[yellow]interrupted[/] — the archive is consistent; run the same command again to continue",
                highlight=False,
            )
            raise typer.Exit(130) from None


app = typer.Typer(
    cls=FonotecaGroup,
    name="fonoteca",
    help="Turn a show's whole history into a searchable archive of timestamped transcripts.",
    no_args_is_help=True,
    add_completion=False,
    rich_markup_mode="rich",
    pretty_exceptions_enable=False,
)


@app.callback()
def _global_options(
    ctx: typer.Context, home: Home = None, db: DatabaseFile = None, database_url: DatabaseUrlOption = None
) -> None:
    ctx.obj = Settings.from_env(home=home, db=db, database_url=database_url)


def app_of(ctx: typer.Context, *, progress: bool = True, **settings: Any) -> Fonoteca:
    """The application of this invocation, built once and closed when the command ends.

    `settings` are the command's own flags (None: not given) over the global ones; `progress` False (`--json`) keeps
    progress bars and ✓ lines off the terminal, notes still go to stderr."""
    from fonoteca.cli.progress import ProgressDisplay

    root = ctx.find_root()
    fonoteca = root.meta.get("fonoteca.app")
    if fonoteca is None:
        base = root.obj if root.obj is not None else Settings.from_env()
        # A command reads the index once and ends: it indexes what changed first (`serve` does it in the background).
        fonoteca = Fonoteca(base.with_flags(**settings), events=ProgressDisplay(progress), catch_up_index=True)
        root.meta["fonoteca.app"] = fonoteca
        root.call_on_close(fonoteca.close)
    return fonoteca


def main() -> None:
    """The `fonoteca` script (pyproject.toml) and `python -m fonoteca`."""
    app()


# Importing the stages' modules registers their commands, in the order `fonoteca --help` lists them.
from fonoteca.cli import ingest, imports, archive, search, web, publish, llm, watch, words, speakers, worker  # noqa: E402, F401, I001
