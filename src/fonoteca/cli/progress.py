"""The event sink of the command line: Rich progress bars for a sync, a reindex, an import, embedding or analyses,
✓ lines, notes — all on stderr.

During a sync: bytes per download, audio time per episode with its speed against real time, and audio time overall,
live until the episodes are done; one ✓ line per finished episode. During analyses: episodes done of all, and an
error line for each episode that could not be analysed at all. Notes (a feed's oddities and corrections) are printed
even when progress is off (`--json`), as they say something about the archive, not about the work.
"""

from __future__ import annotations

from dataclasses import dataclass

from rich.console import Group
from rich.live import Live
from rich.progress import (
    BarColumn,
    DownloadColumn,
    MofNCompleteColumn,
    Progress,
    ProgressColumn,
    Task,
    TaskID,
    TextColumn,
    TimeElapsedColumn,
    TimeRemainingColumn,
    TransferSpeedColumn,
)
from rich.text import Text

from fonoteca.cli.console import err_console, safe
from fonoteca.events import (
    AnalysesFinished,
    AnalysesStarted,
    AnalysisFailed,
    CopyProgress,
    DownloadProgress,
    EmbedProgress,
    EpisodeAnalysed,
    EpisodeAnalysing,
    EpisodeFailed,
    EpisodeLeft,
    EpisodeTranscribed,
    Event,
    GlanceProgress,
    ImportProgress,
    IndexProgress,
    Note,
    SpeakersProgress,
    SyncFinished,
    SyncStarted,
    TranscriptImported,
    TranscriptionProgress,
)
from fonoteca.text import format_duration


class _RealtimeColumn(ProgressColumn):
    """Audio seconds per wall second: how many times faster than real time the transcription runs."""

    def render(self, task: Task) -> Text:
        elapsed = task.elapsed or 0
        if elapsed < 0.5 or not task.completed:
            return Text("  –× realtime", style="dim")
        return Text(f"{task.completed / elapsed:5.1f}× realtime", style="cyan")


class _AudioTimeColumn(ProgressColumn):
    def render(self, task: Task) -> Text:
        return Text(f"{_short(task.completed)}/{_short(task.total or 0)}", style="green")


def _short(seconds: float) -> str:
    return format_duration(seconds).removeprefix("0d ").removeprefix("0h ")


@dataclass
class _Transcribing:
    task: TaskID
    base: float  # overall audio time done when this episode started
    offset: float  # audio transcribed before an interruption is not work done now


_COUNTED_WORK = {
    IndexProgress: "indexing",
    EmbedProgress: "embedding passages",
    GlanceProgress: "chapters and key moments",
    ImportProgress: "importing transcripts",
    CopyProgress: "copying the archive (rows)",
    SpeakersProgress: "finding who speaks (seconds of audio)",
}


class _Description(TextColumn):
    """TextColumn without emoji codes: a title ":smile:" is shown as written (Rich's own column reads them)."""

    def render(self, task: Task) -> Text:
        text = Text.from_markup(self.text_format.format(task=task), style=self.style, justify=self.justify, emoji=False)
        if self.highlighter:
            self.highlighter.highlight(text)
        return text


class ProgressDisplay:
    """Renders the events of long work; with `enabled` False (`--json`, where stdout is for data) only notes."""

    def __init__(self, enabled: bool = True) -> None:
        self.enabled = enabled
        self.progress = Progress(
            _Description("{task.description}"), BarColumn(bar_width=24), _AudioTimeColumn(), _RealtimeColumn(),
            TimeRemainingColumn(), console=err_console, transient=True,
        )  # fmt: skip
        self.downloads = Progress(
            _Description("[blue]↓ {task.description}"), BarColumn(bar_width=24), DownloadColumn(),
            TransferSpeedColumn(), console=err_console, transient=True,
        )  # fmt: skip
        self.indexing = Progress(console=err_console, transient=True)
        self.analysing = Progress(
            _Description("[progress.description]{task.description}"), BarColumn(), MofNCompleteColumn(),
            TimeElapsedColumn(), console=err_console, transient=True,
        )  # fmt: skip
        self._live: Live | None = None
        self._overall: TaskID | None = None
        self._expected: dict[str, float] = {}
        self._downloading: dict[str, TaskID] = {}
        self._transcribing: dict[str, _Transcribing] = {}
        self._index_task: TaskID | None = None
        self._analysis_task: TaskID | None = None

    def __call__(self, event: Event) -> None:
        if isinstance(event, Note):
            err_console.print(f"[yellow]note:[/] {safe(event.message)}", highlight=False)
        elif not self.enabled:
            return
        elif isinstance(event, SyncStarted):
            self._start(event)
        elif isinstance(event, SyncFinished):
            self._stop()
        elif isinstance(event, DownloadProgress):
            self._download(event)
        elif isinstance(event, TranscriptionProgress):
            self._transcription(event)
        elif isinstance(event, EpisodeTranscribed):
            self._forget(event.episode_id)
            speed = f" at {event.realtime:.1f}× realtime" if event.realtime else ""
            err_console.print(
                f"[green]✓[/] {safe(event.title)} — {_short(event.seconds)} transcribed{speed}", highlight=False
            )
        elif isinstance(event, TranscriptImported):
            err_console.print(f"[green]✓[/] {safe(event.title)} — {event.origin} transcript imported", highlight=False)
        elif isinstance(event, EpisodeLeft):
            err_console.print(
                f"[yellow]skipped[/] {safe(event.title)} — another fonoteca process is working on it", highlight=False
            )
        elif isinstance(event, EpisodeFailed):
            self._forget(event.episode_id)  # the reason is printed once, in the final report
        elif isinstance(event, tuple(_COUNTED_WORK)):
            self._counted(event)
        elif isinstance(event, (AnalysesStarted, EpisodeAnalysing, EpisodeAnalysed, AnalysisFailed, AnalysesFinished)):
            self._analyses(event)

    # -- a sync: downloads, transcriptions, overall --------------------------------------------------------------

    def _start(self, event: SyncStarted) -> None:
        self._expected = dict(event.expected)
        self._overall = self.progress.add_task("[bold]all episodes", total=max(sum(self._expected.values()), 1.0))
        self._live = Live(
            Group(self.downloads, self.progress), console=err_console, refresh_per_second=8, transient=True
        )
        self._live.start()

    def _stop(self) -> None:
        if self._live is not None:
            self._live.stop()
            self._live = None

    def _download(self, event: DownloadProgress) -> None:
        if event.episode_id not in self._downloading:
            self._downloading[event.episode_id] = self.downloads.add_task(safe(event.title[:32]), total=None)
        self.downloads.update(self._downloading[event.episode_id], completed=event.done, total=event.total)

    def _transcription(self, event: TranscriptionProgress) -> None:
        shown = self._transcribing.get(event.episode_id)
        if shown is None:
            overall_done = self.progress.tasks[0].completed if self._overall is not None else 0.0
            task = self.progress.add_task(safe(event.title[:32]), total=event.total)
            shown = self._transcribing[event.episode_id] = _Transcribing(task, overall_done, event.done)
        if self._overall is not None:
            if self._expected.get(event.episode_id) != event.total:  # the real duration corrects the feed's
                self._expected[event.episode_id] = event.total
                self.progress.update(self._overall, total=max(sum(self._expected.values()), 1.0))
            self.progress.update(self._overall, completed=shown.base + event.done - shown.offset)
        self.progress.update(shown.task, completed=event.done, total=event.total)

    def _forget(self, episode_id: str) -> None:
        shown = self._transcribing.pop(episode_id, None)
        if shown is not None:
            self.progress.remove_task(shown.task)

    # -- a reindex, an import, embedding ----------------------------------------------------------------------------

    def _counted(
        self,
        event: IndexProgress | EmbedProgress | GlanceProgress | ImportProgress | CopyProgress | SpeakersProgress,
    ) -> None:
        if self._index_task is None:
            self.indexing.start()
            label = _COUNTED_WORK[type(event)]
            self._index_task = self.indexing.add_task(label, total=event.total)
        self.indexing.update(self._index_task, completed=event.done, total=event.total)
        if event.done >= event.total:
            self.indexing.stop()
            self._index_task = None

    # -- analyses -------------------------------------------------------------------------------------------------

    def _analyses(
        self, event: AnalysesStarted | EpisodeAnalysing | EpisodeAnalysed | AnalysisFailed | AnalysesFinished
    ) -> None:
        if isinstance(event, AnalysesStarted):
            self.analysing.start()
            self._analysis_task = self.analysing.add_task("analysing", total=event.total)
        elif self._analysis_task is None:
            return
        elif isinstance(event, EpisodeAnalysing):
            self.analysing.update(self._analysis_task, description=f"analysing {safe(event.title[:40])}")
        elif isinstance(event, EpisodeAnalysed):
            self.analysing.advance(self._analysis_task)
        elif isinstance(event, AnalysisFailed):
            err_console.print(f"[bold red]error:[/] {event.episode_id}: {safe(event.reason)}", highlight=False)
            self.analysing.advance(self._analysis_task)
        else:
            self.analysing.stop()
            self.analysing.remove_task(self._analysis_task)
            self._analysis_task = None
