"""`fonoteca` command line: a thin shell over the application object (fonoteca.app.Fonoteca) the web app uses too.

Each stage owns a module here that registers its commands on the one Typer app: ingest (add, sync, retry), imports
(import), archive (shows, episodes, status, stats, export, check), search (search, trend, reindex), web (serve),
llm (llm check/serve, analyze, ask), watch (watch, watch add/list/remove) and worker (worker). A command builds one
`Fonoteca` (`app_of`), translates its arguments into one of its operations and formats the result; progress reaches
the terminal as events rendered by fonoteca.cli.progress.

Errors take one route: a command raises the FonotecaError that says what went wrong, and FonotecaGroup, the app's
group, prints its one line and exits with the class's `exit_code`; a Ctrl-C is reported there too. A bad combination
of options is a usage mistake, raised as click's usage error through `ctx.fail` (exit 2, with the command's usage).

Feed text (titles, show names, errors quoting them, model output about them) is untrusted: every such value goes
through `safe` (fonoteca.console) before it meets Rich markup, and the consoles strip control characters from whatever
they write, so a title can neither break the markup nor send escape sequences to the terminal.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

import typer
from typer.core import TyperGroup

from fonoteca.app import Fonoteca
from fonoteca.console import SafeConsole, safe
from fonoteca.errors import FonotecaError
from fonoteca.settings import Settings

# soft_wrap: a message or header stays one line when the output is a pipe or a file, where Rich would otherwise wrap
# at 80 columns; tables are still laid out to the width.
console = SafeConsole(soft_wrap=True)
err_console = SafeConsole(stderr=True, soft_wrap=True)


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
    ctx: typer.Context,
    home: Path = typer.Option(None, "--home", help="Data folder (env FONOTECA_HOME).", show_default=False),
    db: Path = typer.Option(
        None, "--db", help="Archive database file (default: HOME/fonoteca.db).", show_default=False
    ),
    database_url: str = typer.Option(
        None,
        "--database-url",
        help="An archive on PostgreSQL, shared by many machines: postgresql://user:password@host/db "
        "(env FONOTECA_DATABASE_URL; default: the SQLite file).",
        show_default=False,
    ),
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
        fonoteca = Fonoteca(base.replace(**settings), events=ProgressDisplay(progress))
        root.meta["fonoteca.app"] = fonoteca
        root.call_on_close(fonoteca.close)
    return fonoteca


def print_json(data: Any) -> None:
    sys.stdout.write(json.dumps(data, ensure_ascii=False, indent=2, default=str) + "\n")


def _register_commands() -> None:
    from fonoteca.cli import archive, imports, ingest, llm, search, watch, web, worker

    for module in (ingest, imports, archive, search, web, llm, watch, worker):
        module.register(app)


_register_commands()


def main() -> None:
    """The `fonoteca` script (pyproject.toml) and `python -m fonoteca`."""
    app()
