"""The options and arguments several commands share, declared once, and the enumerations the commands accept.

An enumeration is a type here (an Enum or a Literal), so click checks the value before the command runs: a value that
is not one of the choices is a usage mistake (exit 2) whose message lists them. Each Literal is built from the tuple
of the module that acts on the value, so the choices offered cannot drift from the ones accepted.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Literal, get_args

import typer

from fonoteca.output.chapters import CHAPTER_FORMATS
from fonoteca.output.transcripts import EXPORT_FORMATS
from fonoteca.search.hybrid import MODES
from fonoteca.search.trends import GROUPINGS, NORMALISATIONS, SPLITS
from fonoteca.settings import MAX_SPEAKER_COUNT, Device

ExportFormat = Literal[EXPORT_FORMATS]
ChapterFormat = Literal[CHAPTER_FORMATS]
SearchMode = Literal[MODES]
Grouping = Literal[GROUPINGS]
Normalisation = Literal[NORMALISATIONS]
Split = Literal[SPLITS]
# The settings' Literal without its validator (click folds the case instead, as the settings do).
DeviceName = get_args(Device)[0]

# The global options, before the command: where the archive is.
Home = Annotated[Path | None, typer.Option("--home", help="Data folder (env FONOTECA_HOME).", show_default=False)]
DatabaseFile = Annotated[
    Path | None, typer.Option("--db", help="Archive database file (default: HOME/fonoteca.db).", show_default=False)
]
DatabaseUrlOption = Annotated[
    str | None,
    typer.Option(
        "--database-url",
        help="An archive on PostgreSQL, shared by many machines: postgresql://user:password@host/db "
        "(env FONOTECA_DATABASE_URL; default: the SQLite file).",
        show_default=False,
    ),
]

AsJson = Annotated[bool, typer.Option("--json", help="Print JSON for scripts.")]

# Which part of the archive a command reads.
ShowArgument = Annotated[str | None, typer.Argument(help="Show slug, id or title (default: every show).")]
ShowName = Annotated[str, typer.Argument(help="Show slug, id or title (`fonoteca shows`).")]
ShowFilter = Annotated[str | None, typer.Option("--show", help="Only this show (default: every show).")]
EpisodeFilter = Annotated[str | None, typer.Option("--episode", help="Only this episode.")]
DateFrom = Annotated[str | None, typer.Option("--from", help="From this date: YYYY, YYYY-MM or YYYY-MM-DD.")]
DateTo = Annotated[str | None, typer.Option("--to", help="Up to this date, included: YYYY, YYYY-MM or YYYY-MM-DD.")]
SpeakerFilter = Annotated[
    str | None, typer.Option("--speaker", help="Only what this speaker says (their name, any case or accents).")
]

# How Whisper transcribes (None: the settings' value).
WhisperModel = Annotated[
    str | None, typer.Option("--model", help="Whisper model: base (packaged), a model name or a folder.")
]
DeviceOption = Annotated[
    DeviceName | None,
    typer.Option("--device", case_sensitive=False, help="Where Whisper runs (default: FONOTECA_DEVICE, else auto)."),
]
SpeakerCount = Annotated[
    int | None,
    typer.Option(
        "--speakers",
        min=1,
        max=MAX_SPEAKER_COUNT,
        help="How many people speak, when you know (default: found by their voices). `add` keeps it as the show's "
        "count (`fonoteca speakers count SHOW N`); `sync` and `retry` use it for this run's episodes, over each "
        "show's count.",
        show_default=False,
    ),
]
