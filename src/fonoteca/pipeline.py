"""The spine: a show's sources in, transcripts out.

`add_source` registers a feed, feed file, media folder or single file as a show; `sync` re-reads every show's source,
adds only what is new, imports publisher/sidecar transcripts, downloads and transcribes what is pending, and finally
brings the search index up to date. Each episode succeeds or fails on its own: a failure is stored with its reason and
the others go on. Interrupting (Ctrl-C, kill) leaves everything resumable: partial downloads continue with Range and
a half-transcribed episode continues after its last committed segment.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlparse

from rich.console import Console
from rich.progress import (
    BarColumn,
    DownloadColumn,
    Progress,
    ProgressColumn,
    Task,
    TextColumn,
    TimeRemainingColumn,
    TransferSpeedColumn,
)
from rich.text import Text

from fonoteca.archive import Archive, Episode, Segment, Show
from fonoteca.errors import FeedError, FonotecaError, MediaError
from fonoteca.ingest import feeds, local
from fonoteca.ingest.download import download
from fonoteca.ingest.language import detect_text_language
from fonoteca.ingest.transcripts import parse_transcript
from fonoteca.settings import Settings
from fonoteca.text import format_duration

console = Console(stderr=True)
PENDING = ("new", "downloaded", "transcribing")


@dataclass
class SyncReport:
    added: int = 0
    imported: int = 0
    transcribed: int = 0
    failed: list[tuple[Episode, str]] = field(default_factory=list)
    show_errors: list[tuple[Show, str]] = field(default_factory=list)
    audio_seconds: float = 0.0

    def summary(self) -> str:
        parts = [f"{self.added} new", f"{self.transcribed} transcribed", f"{self.imported} imported"]
        if self.failed:
            parts.append(f"{len(self.failed)} failed")
        return ", ".join(parts)


# -- registering sources -----------------------------------------------------------------------------------------


def _looks_like_feed_file(path: Path) -> bool:
    if path.suffix.lower() in (".xml", ".rss", ".atom"):
        return True
    try:
        head = path.read_bytes()[:512].lstrip()
    except OSError:
        return False
    return head.startswith(b"<?xml") or head[:5].lower() in (b"<rss ", b"<rss>", b"<feed")


def add_source(
    archive: Archive,
    settings: Settings,
    source: str,
    *,
    language: str | None = None,
    title: str | None = None,
    date: str | None = None,
    sync_now: bool = True,
    progress: bool = True,
) -> tuple[Show, SyncReport]:
    """Register a feed URL, feed file, media folder or media file as a show, and (by default) sync it."""
    if feeds.is_remote(source) or urlparse(source).scheme == "file":
        show_source, kind = source, "feed"
    else:
        path = Path(source).expanduser()
        if not path.exists():
            raise FonotecaError(f"{source} does not exist", "check the path, or give a feed URL starting with https://")
        path = path.resolve()
        if path.is_file() and _looks_like_feed_file(path):
            show_source, kind = str(path), "feed"
        else:
            local.find_media(path)  # fails early and clearly for a non-media file
            show_source, kind = str(path), "folder"
    report = SyncReport()
    if kind == "feed":
        feed = feeds.parse_feed(*feeds.fetch_feed(show_source, settings))
        show, _ = archive.add_show(
            title=title or feed.title,
            source=show_source,
            source_kind="feed",
            feed_language=feed.language,
            description=feed.description,
            link=feed.link,
            image=feed.image,
        )
        report.added += _add_feed_items(archive, show, feed)
    else:
        path = Path(show_source)
        show, _ = archive.add_show(title=title or path.stem if path.is_file() else title or path.name,
                                   source=show_source, source_kind="folder")  # fmt: skip
        report.added += _add_local_items(archive, show, path, date)
    if language:
        archive.update_show(show.id, language=language)
        show = archive.get_show(show.id)
    if sync_now:
        later = sync(archive, settings, show, progress=progress, reread=False)
        later.added += report.added
        return show, later
    return show, report


def _add_feed_items(archive: Archive, show: Show, feed: feeds.Feed) -> int:
    added = 0
    for item in feed.items:
        fields: dict[str, Any] = {
            "published": item.published,
            "description": item.description,
            "link": item.link,
            "duration": item.duration,
        }
        if item.kind == "text":
            episode, created = archive.upsert_episode(show, guid=item.guid, title=item.title, kind="text", **fields)
            if created:
                paragraphs = [p for p in item.text.split("\n") if p.strip()]
                archive.replace_segments(
                    episode.id,
                    [Segment(0.0, 0.0, p.strip()) for p in paragraphs],
                    status="done",
                    source="text",
                    language=show.language or detect_text_language(item.text),
                )
        else:
            media_path = feeds.local_path(item.media_url) if urlparse(item.media_url or "").scheme == "file" else None
            transcript = item.transcripts[0] if item.transcripts else (None, None)
            episode, created = archive.upsert_episode(
                show,
                guid=item.guid,
                title=item.title,
                kind=item.kind,
                media_url=None if media_path else item.media_url,
                media_path=str(media_path) if media_path else None,
                media_type=item.media_type,
                transcript_url=transcript[0],
                transcript_type=transcript[1],
                **fields,
            )
        added += created
    return added


def _add_local_items(archive: Archive, show: Show, path: Path, date: str | None) -> int:
    added = 0
    for media in local.find_media(path):
        item = local.describe(media, date if path.is_file() else None)
        _, created = archive.upsert_episode(
            show,
            guid=item.guid,
            title=item.title,
            kind=item.kind,
            published=item.published,
            media_path=str(item.path),
            status="downloaded",
            transcript_url=str(item.sidecar) if item.sidecar else None,
            transcript_type=item.sidecar.suffix.lstrip(".") if item.sidecar else None,
        )
        added += created
    return added


def refresh(archive: Archive, settings: Settings, show: Show) -> int:
    """Re-read a show's source and add what is new; returns how many episodes were added."""
    if show.source_kind == "feed":
        feed = feeds.parse_feed(*feeds.fetch_feed(show.source, settings))
        added = _add_feed_items(archive, show, feed)
    else:
        added = _add_local_items(archive, show, Path(show.source), None)
    archive.update_show(show.id, synced_at=_now())
    return added


def _now() -> str:
    from datetime import UTC, datetime

    return datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


# -- processing episodes -----------------------------------------------------------------------------------------


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


class _Display:
    """Rich progress for a sync: bytes per download, audio time per episode, and audio time overall."""

    def __init__(self, enabled: bool) -> None:
        self.enabled = enabled
        self.progress = Progress(
            TextColumn("{task.description}"), BarColumn(bar_width=24), _AudioTimeColumn(), _RealtimeColumn(),
            TimeRemainingColumn(), console=console, transient=True,
        )  # fmt: skip
        self.downloads = Progress(
            TextColumn("[blue]↓ {task.description}"), BarColumn(bar_width=24), DownloadColumn(),
            TransferSpeedColumn(), console=console, transient=True,
        )  # fmt: skip
        self.overall: Any = None
        self.expected: dict[str, float] = {}

    @contextmanager
    def live(self, expected: dict[str, float]) -> Iterator[_Display]:
        """`expected`: audio seconds each episode is thought to last; corrected as real durations become known."""
        if not self.enabled:
            yield self
            return
        from rich.console import Group
        from rich.live import Live

        self.expected = dict(expected)
        self.overall = self.progress.add_task("[bold]all episodes", total=max(sum(expected.values()), 1.0))
        with Live(Group(self.downloads, self.progress), console=console, refresh_per_second=8, transient=True):
            yield self

    def download_task(self, title: str) -> Any:
        if not self.enabled:
            return None
        task = self.downloads.add_task(title[:32], total=None)

        def update(done: int, total: int | None) -> None:
            self.downloads.update(task, completed=done, total=total)

        return update

    def transcription_task(self, episode: Episode) -> Any:
        if not self.enabled:
            return None
        task = self.progress.add_task(episode.title[:32], total=episode.duration or 1.0)
        base = self.progress.tasks[0].completed  # the overall task is always the first
        state: dict[str, float] = {}

        def update(done: float, total: float) -> None:
            if "finished" in state:
                return
            state.setdefault("offset", done)  # audio transcribed before an interruption is not work done now
            state.setdefault("started", time.monotonic())
            if self.expected.get(episode.id) != total:
                self.expected[episode.id] = total
                self.progress.update(self.overall, total=max(sum(self.expected.values()), 1.0))
            self.progress.update(task, completed=done, total=total)
            self.progress.update(self.overall, completed=base + done - state["offset"])
            if done >= total:
                state["finished"] = 1.0
                elapsed = time.monotonic() - state["started"]
                speed = f" at {(done - state['offset']) / elapsed:.1f}× realtime" if elapsed > 0.1 else ""
                self.progress.remove_task(task)
                console.print(f"[green]✓[/] {episode.title} — {_short(total)} transcribed{speed}", highlight=False)

        return update

    def note(self, message: str) -> None:
        if self.enabled:
            console.print(message, highlight=False)


def _import_transcript(archive: Archive, settings: Settings, episode: Episode, show: Show) -> bool:
    """Import the publisher's or a sidecar transcript; False (with a note) when it cannot be had."""
    url = episode.transcript_url or ""
    source = "sidecar" if show.source_kind == "folder" else "publisher"
    try:
        if feeds.is_remote(url):
            with feeds.http_client(settings) as client:
                response = client.get(url)
            if response.status_code >= 400:
                raise MediaError(f"transcript {url} answered {response.status_code}", "")
            data: bytes = response.content
        else:
            data = (feeds.local_path(url) or Path(url)).read_bytes()
        segments = parse_transcript(data, episode.transcript_type or url)
    except (OSError, MediaError, FonotecaError, ValueError) as exc:
        archive.update_episode(episode.id, transcript_url=None, transcript_type=None)
        console.print(f"[yellow]note:[/] {episode.title}: transcript not usable ({exc}); transcribing instead")
        return False
    except Exception as exc:  # httpx transport errors
        archive.update_episode(episode.id, transcript_url=None, transcript_type=None)
        console.print(f"[yellow]note:[/] {episode.title}: transcript unreachable ({exc}); transcribing instead")
        return False
    text = " ".join(s.text for s in segments[:200])
    duration = episode.duration or (max(s.end for s in segments) or None)
    archive.replace_segments(
        episode.id,
        segments,
        status="done",
        error=None,
        source=source,
        language=show.language or detect_text_language(text),
        duration=duration,
        engine=None,
        model=None,
    )
    return True


def _ensure_media(archive: Archive, settings: Settings, episode: Episode, show: Show, display: _Display) -> Episode:
    if episode.media_path and Path(episode.media_path).exists():
        if episode.status == "new":
            archive.set_status(episode.id, "downloaded")
        return archive.get_episode(episode.id)
    if not episode.media_url:
        raise MediaError(f"episode {episode.id} has no media file or URL", "re-add the show or remove the episode")
    suffix = Path(urlparse(episode.media_url).path).suffix.lower()[:6] or ".media"
    dest = settings.media_dir / show.slug / f"{episode.id}{suffix}"
    download(episode.media_url, dest, settings, on_progress=display.download_task(episode.title))
    archive.update_episode(episode.id, media_path=str(dest), status="downloaded", error=None)
    return archive.get_episode(episode.id)


def sync(
    archive: Archive,
    settings: Settings,
    show: Show | None = None,
    *,
    progress: bool = True,
    reread: bool = True,
    episode_ids: list[str] | None = None,
) -> SyncReport:
    """Bring one show (or all) up to date: new episodes, downloads, transcripts, search index."""
    from fonoteca.search import sync_index
    from fonoteca.transcribe import Transcriber

    report = SyncReport()
    shows = [show] if show else archive.list_shows()
    display = _Display(progress)
    if reread:
        for s in shows:
            try:
                report.added += refresh(archive, settings, s)
            except FeedError as exc:
                report.show_errors.append((s, str(exc)))
                console.print(f"[red]error:[/] {s.title}: {exc}", highlight=False)
    pending = [
        e
        for s in shows
        for e in archive.list_episodes(s.id, status=PENDING)
        if episode_ids is None or e.id in episode_ids
    ]
    transcriber: Transcriber | None = None
    shows_by_id = {s.id: archive.get_show(s.id) for s in shows}
    expected = {e.id: e.duration or 0.0 for e in pending if not e.transcript_url and e.kind != "text"}
    try:
        with display.live(expected):
            for episode in pending:
                episode_show = shows_by_id[episode.show_id]
                try:
                    if episode.transcript_url and _import_transcript(archive, settings, episode, episode_show):
                        report.imported += 1
                        display.note(
                            f"[green]✓[/] {episode.title} — {episode_show_source(episode_show)} transcript imported"
                        )
                        continue
                    episode = _ensure_media(archive, settings, archive.get_episode(episode.id), episode_show, display)
                    transcriber = transcriber or Transcriber(settings)
                    done = transcriber.transcribe_episode(
                        archive,
                        episode,
                        language=episode_show.language,
                        on_progress=display.transcription_task(episode),
                    )
                    report.transcribed += 1
                    report.audio_seconds += done.duration or 0.0
                except FonotecaError as exc:
                    if not isinstance(exc, MediaError) and _is_fatal(exc):
                        raise
                    archive.set_status(episode.id, "failed", str(exc))
                    report.failed.append((episode, str(exc)))
                    display.note(f"[red]failed:[/] {episode.title}: {exc}")
    finally:
        # Whatever finished before an interruption is searchable right away.
        sync_index(archive, settings)
    return report


def episode_show_source(show: Show) -> str:
    return "sidecar" if show.source_kind == "folder" else "publisher's"


def _is_fatal(exc: FonotecaError) -> bool:
    """Errors that would fail every remaining episode the same way (model missing, disk full) stop the sync."""
    text = str(exc)
    return any(key in text for key in ("Whisper model", "disk is full", "cannot write", "archive error"))


def retry(archive: Archive, settings: Settings, episode_id: str | None = None, *, progress: bool = True) -> SyncReport:
    """Failed episodes (or one episode) back to pending, then processed again."""
    targets = [archive.get_episode(episode_id)] if episode_id else archive.list_episodes(status="failed")
    for episode in targets:
        media_ok = bool(episode.media_path and Path(episode.media_path).exists())
        archive.update_episode(episode.id, status="downloaded" if media_ok else "new", error=None)
    if not targets:
        return SyncReport()
    return sync(archive, settings, None, progress=progress, reread=False, episode_ids=[e.id for e in targets])
