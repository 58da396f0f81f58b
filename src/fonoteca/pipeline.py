"""The spine: a show's sources in, transcripts out.

`add_source` registers a feed, feed file, media folder or single file as a show; `sync` runs the stages: re-read
every show's source and add only what is new (`refresh`), then for each pending episode import its publisher/sidecar
transcript or download its media and transcribe it (`transcribe_episode`: the transcriber yields segments and each is
committed as it comes), and finally bring the search index up to date. Each episode succeeds or fails on its own: a
failure is stored with its reason and the others go on. Interrupting (Ctrl-C, kill) leaves everything resumable:
partial downloads continue with Range and a half-transcribed episode continues after its last committed segment.

Nothing here prints: progress, results and notes are events (fonoteca.events) sent to the caller's sink.
"""

from __future__ import annotations

import contextlib
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any
from urllib.parse import urlparse

import httpx

from fonoteca.archive import Archive, Captions, Episode, EpisodeBusy, Segment, Show, Source, SourceKind
from fonoteca.errors import (
    ConfigError,
    FeedError,
    FonotecaError,
    MediaError,
    ModelError,
    StorageError,
    disk_error,
    is_disk_full,
)
from fonoteca.events import (
    DownloadProgress,
    EpisodeFailed,
    EpisodeLeft,
    EpisodeTranscribed,
    EventSink,
    IndexProgress,
    Note,
    SyncFinished,
    SyncStarted,
    TranscriptImported,
    TranscriptionProgress,
    ignore,
)
from fonoteca.ingest import feeds, local, platforms
from fonoteca.ingest.download import download
from fonoteca.ingest.language import detect_text_language
from fonoteca.ingest.media import probe, trusted_media_file
from fonoteca.ingest.net import Origin, split_credentials
from fonoteca.ingest.transcripts import fetch_transcript, parse_transcript
from fonoteca.settings import Settings

if TYPE_CHECKING:
    from fonoteca.transcribe import Transcriber

PENDING = ("new", "downloaded", "transcribing")


@dataclass
class SyncReport:
    added: int = 0
    updated: int = 0  # known episodes whose feed entry changed (enclosure, transcript, title, date, notes)
    imported: int = 0
    transcribed: int = 0
    failed: list[tuple[Episode, str]] = field(default_factory=list)
    busy: list[Episode] = field(default_factory=list)  # left to the other process that holds them
    show_errors: list[tuple[Show, str]] = field(default_factory=list)
    audio_seconds: float = 0.0
    # On PostgreSQL the work is queued for `fonoteca worker` instead (fonoteca.jobs): jobs queued now, and those whose
    # show or episode already had one waiting or running (never queued twice).
    queued: int = 0
    already_queued: int = 0

    def summary(self) -> str:
        parts = [f"{self.added} new"]
        if self.queued or self.already_queued:
            parts.append(f"{self.queued} jobs queued")
            if self.already_queued:
                parts.append(f"{self.already_queued} already queued or running")
        else:
            parts += [f"{self.transcribed} transcribed", f"{self.imported} imported"]
        if self.updated:
            parts.append(f"{self.updated} updated")
        if self.busy:
            parts.append(f"{len(self.busy)} left to another fonoteca process")
        if self.failed:
            parts.append(f"{len(self.failed)} failed")
        return ", ".join(parts)


# -- registering sources -----------------------------------------------------------------------------------------


def _looks_like_feed_file(path: Path) -> bool:
    if path.suffix.lower() in (".xml", ".rss", ".atom"):
        return True
    try:
        with path.open("rb") as fh:
            head = fh.read(512).lstrip()
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
    events: EventSink = ignore,
    transcriber: Transcriber | None = None,
    captions: Captions | None = None,
) -> tuple[Show, SyncReport]:
    """Register a feed URL, feed file, media folder, media file or video platform page as a show, and (by default)
    sync it.

    `date` (YYYY-MM-DD) is the publication date of a single media file; it is refused for folders and feeds, whose
    episodes each have their own date. `captions` (platform shows only) says which of the platform's captions stand in
    for a transcription; None keeps the show's choice (creator captions for a new show). `transcriber` defaults to
    one made from `settings` when first needed."""
    source, credentials = split_credentials(source)  # stored apart from the source, which is shown everywhere
    if feeds.is_remote(source) and not credentials and platforms.claims(source):
        show_source, kind = source, "platform"
    elif feeds.is_remote(source) or urlparse(source).scheme == "file":
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
    single_file = kind == "folder" and Path(show_source).is_file()
    if date is not None:
        if not single_file:
            raise ConfigError(
                f"--date applies to a single media file, not to {'a feed' if kind == 'feed' else 'a folder'}",
                "each episode keeps its own date (for local files: from their tags or a date in the file name)",
            )
        date = local.parse_date(date)
    if single_file:
        try:
            probe(show_source)
        except MediaError as exc:  # refused with one line instead of becoming a show with one failed episode
            raise MediaError(exc.message, "check that it plays in a media player; nothing was added") from exc
    feed = _read_feed_or_page(show_source, settings, credentials, events) if kind == "feed" else None
    if kind == "feed" and feed is None:
        kind = "platform"
    if captions is not None and kind != "platform":
        raise ConfigError(
            "--captions and --transcribe apply to video platform shows (read with yt-dlp)",
            f"{source} is read as a {kind}; leave the option out",
        )
    pinned = {"language": language} if language else {}  # before the items: text episodes take the show's language
    report = SyncReport()
    if kind == "platform":
        listing = _read_platform(archive, settings, show_source, None, events)
        show, _ = archive.add_show(
            title=title or listing.title, source=show_source, source_kind=SourceKind.PLATFORM,
            description=listing.description, link=listing.link, image=listing.image,
            **({"captions": captions} if captions is not None else {}), **pinned,
        )  # fmt: skip
        report.added += _add_platform_items(archive, show, listing)
    elif feed is not None:
        show, _ = archive.add_show(
            **({"credentials": credentials} if credentials else {}),
            title=title or feed.title,
            source=show_source,
            source_kind="feed",
            feed_language=feed.language,
            description=feed.description,
            link=feed.link,
            image=feed.image,
            **pinned,
        )
        report.added += _add_feed_items(archive, settings, show, feed, report, events)
    else:
        path = Path(show_source)
        show, _ = archive.add_show(title=title or (path.stem if single_file else path.name), source=show_source,
                                   source_kind="folder", **pinned)  # fmt: skip
        report.added += _add_local_items(archive, show, path, date, report)
    if sync_now:
        later = sync(archive, settings, show, events=events, transcriber=transcriber, reread=False)
        later.added += report.added
        later.failed[:0] = report.failed
        return show, later
    return show, report


def _read_feed_or_page(
    source: str, settings: Settings, credentials: str | None, events: EventSink
) -> feeds.Feed | None:
    """The feed at `source`, or None when the address answers with a web page or media that yt-dlp reads instead
    (its generic extractor takes any address, so the feed reader asks first)."""
    data, base_url = feeds.fetch_feed(source, settings, credentials)
    try:
        feed = feeds.parse_feed(data, base_url)
    except FeedError:
        if feeds.is_remote(source) and not credentials and platforms.is_page_or_media(data):
            return None
        raise
    for note in feed.notes:
        events(Note(note))
    return feed


def _read_platform(
    archive: Archive, settings: Settings, source: str, show: Show | None, events: EventSink
) -> platforms.Listing:
    known = {e.guid for e in archive.list_episodes(show.id)} if show else set()
    listing = platforms.read_listing(source, settings, known=known)
    for note in listing.notes:
        events(Note(note))
    return listing


def _add_platform_items(archive: Archive, show: Show, listing: platforms.Listing) -> int:
    """Add the listing's entries (only unseen ones are listed); their captions are looked at when each is processed."""
    added = 0
    for entry in listing.entries:
        _, created = archive.upsert_episode(
            show, guid=entry.guid, title=entry.title, kind=entry.kind, published=entry.published,
            duration=entry.duration, description=entry.description, link=entry.link, media_url=entry.url,
            image=entry.image,
        )  # fmt: skip
        added += created
    return added


def _read_feed(source: str, settings: Settings, credentials: str | None, events: EventSink) -> feeds.Feed:
    feed = feeds.parse_feed(*feeds.fetch_feed(source, settings, credentials))
    for note in feed.notes:
        events(Note(note))
    return feed


def _add_feed_items(
    archive: Archive, settings: Settings, show: Show, feed: feeds.Feed, report: SyncReport, events: EventSink
) -> int:
    """Add the feed's new items; known ones take the feed's corrections (counted in `report.updated`)."""
    known = {e.guid: e for e in archive.list_episodes(show.id)}
    added = 0
    for guid, item in _keyed_items(feed.items, known):
        fields: dict[str, Any] = {
            "published": item.published,
            "description": item.description,
            "link": item.link,
            "duration": item.duration,
            "number": item.number,
        }
        if guid in known:
            _refresh_episode(archive, settings, show, known[guid], item, report, events)
            continue
        if guid != item.guid:
            events(
                Note(
                    f"the feed gives GUID {item.guid} to more than one item; "
                    f"{item.title} is archived as an episode of its own (GUID + enclosure)"
                )
            )
        if item.kind == "text":
            episode, created = archive.upsert_episode(show, guid=guid, title=item.title, kind="text", **fields)
            if created:
                paragraphs = [p for p in item.text.split("\n") if p.strip()]
                archive.replace_transcript(
                    episode.id,
                    [Segment(0.0, 0.0, p.strip()) for p in paragraphs],
                    source=Source.TEXT,
                    language=show.language or detect_text_language(item.text),
                )
        else:
            media_url, media_path = _item_media(item)
            transcript = item.transcripts[0] if item.transcripts else (None, None)
            episode, created = archive.upsert_episode(
                show,
                guid=guid,
                title=item.title,
                kind=item.kind,
                media_url=media_url,
                media_path=media_path,
                media_type=item.media_type,
                transcript_url=transcript[0],
                transcript_type=transcript[1],
                **fields,
            )
        added += created
    return added


def _item_media(item: feeds.FeedItem) -> tuple[str | None, str | None]:
    """(remote enclosure URL, local path): a file:// enclosure is used in place, never downloaded."""
    if urlparse(item.media_url or "").scheme == "file":
        local_file = feeds.local_path(item.media_url)
        return None, str(local_file) if local_file else None
    return item.media_url, None


def _keyed_items(items: list[feeds.FeedItem], known: dict[str, Episode]) -> list[tuple[str, feeds.FeedItem]]:
    """Each item with the GUID it is archived under.

    A GUID the feed gives to items with different enclosures would merge them into one episode: the later ones are
    keyed by GUID + enclosure. The plain GUID stays with the item whose enclosure the archive already has under it
    (else the first), so a feed that reorders its items does not swap the two episodes' audio."""
    groups: dict[str, list[feeds.FeedItem]] = {}
    for item in items:
        groups.setdefault(item.guid, []).append(item)
    keyed: list[tuple[str, feeds.FeedItem]] = []
    for guid, group in groups.items():
        archived = known.get(guid)
        primary = next((i for i in group if archived and _same_enclosure(archived, i)), group[0])
        keys = {guid}
        keyed.append((guid, primary))
        for item in group:
            key = f"{guid}#{item.media_url or item.link or item.title}"
            if item is primary or key in keys:
                continue  # the very same item listed twice is one episode
            keys.add(key)
            keyed.append((key, item))
    return keyed


def _same_enclosure(episode: Episode, item: feeds.FeedItem) -> bool:
    media_url, media_path = _item_media(item)
    return (media_url or None, media_path if media_url is None else None) == (
        episode.media_url,
        episode.media_path if episode.media_url is None else None,
    )


def _refresh_episode(
    archive: Archive,
    settings: Settings,
    show: Show,
    episode: Episode,
    item: feeds.FeedItem,
    report: SyncReport,
    events: EventSink,
) -> None:
    """Take the feed's corrections of a known episode, and say so.

    A finished episode keeps its transcript and its media. One that failed and whose enclosure changed goes back to
    'new', so the next step fetches the new file; a download left half-way from the old URL is dropped."""
    changes: dict[str, Any] = {
        name: value
        for name, value in (
            ("title", item.title),
            ("published", item.published),
            ("description", item.description),
            ("link", item.link),
        )
        if value and value != getattr(episode, name)
    }
    said = [name if name != "description" else "notes" for name in changes]
    if item.number is not None and item.number != episode.number:
        changes["number"] = item.number  # kept for matching imported transcripts; not news worth a note
    moved = item.kind != "text" and not _same_enclosure(episode, item)
    if moved:
        media_url, media_path = _item_media(item)
        changes.update(media_url=media_url, media_type=item.media_type)
        # A signed or tracking URL may change its query on every read; only another file is news.
        if media_path or _without_query(media_url) != _without_query(episode.media_url) or episode.status == "failed":
            said.append("enclosure")
        if media_path:
            changes["media_path"] = media_path
        elif episode.status in ("new", "failed"):  # a file already downloaded from the old URL is still good
            changes["media_path"] = None
            _drop_partial_download(settings, show, episode)
    transcript_url, transcript_type = item.transcripts[0] if item.transcripts else (None, None)
    # A transcript that proved unusable was cleared on purpose (NULL here): only a different URL is a correction.
    if episode.status != "done" and episode.transcript_url and transcript_url != episode.transcript_url:
        changes.update(transcript_url=transcript_url, transcript_type=transcript_type)
        said.append("transcript")
    if not changes:
        return
    archive.update_episode(episode.id, **changes)
    if not said:
        return
    report.updated += 1
    again = ""
    if ("enclosure" in said or "transcript" in said) and archive.requeue_failed(episode.id):
        again = "; it failed before, so it is tried again"
    events(Note(f"{item.title}: the feed changed its {', '.join(said)}{again}"))


def _without_query(url: str | None) -> str:
    return urlparse(url or "")._replace(query="", fragment="").geturl()


def _download_dest(settings: Settings, show: Show, episode_id: str, media_url: str) -> Path:
    suffix = Path(urlparse(media_url).path).suffix.lower()[:6] or ".media"
    return settings.media_dir / show.slug / f"{episode_id}{suffix}"


def _drop_partial_download(settings: Settings, show: Show, episode: Episode) -> None:
    """Range would resume the new URL's file from bytes of the old one."""
    if episode.media_url:
        dest = _download_dest(settings, show, episode.id, episode.media_url)
        dest.with_name(dest.name + ".part").unlink(missing_ok=True)


def _add_local_items(archive: Archive, show: Show, path: Path, date: str | None, report: SyncReport) -> int:
    """Add the files not yet in the show; a file that does not decode, or cannot be read at all, is added as failed,
    with the reason, and the others go on."""
    known = {e.guid: e for e in archive.list_episodes(show.id)}
    added = 0
    for media in local.find_media(path):
        placeholder = known.get(local.unreadable_guid(media))
        try:
            guid = local.file_hash(media)
        except MediaError as exc:
            if placeholder is None:
                added += _add_local_file(archive, show, media, date, local.unreadable_guid(media), exc, None, report)
            continue
        if placeholder is not None:
            if placeholder.status != "failed":
                continue  # `retry` read it under its placeholder once it became readable: it is archived
            archive.delete_episode(placeholder.id)  # readable now: it becomes the episode its content is
        if guid in known and date is None:
            continue  # its date may be a --date override, which re-reading the file must not replace
        try:
            failure, duration = None, probe(media).duration
        except MediaError as exc:
            failure, duration = exc, None
        added += _add_local_file(archive, show, media, date, guid, failure, duration, report)
    return added


def _add_local_file(
    archive: Archive,
    show: Show,
    media: Path,
    date: str | None,
    guid: str,
    failure: MediaError | None,
    duration: float | None,
    report: SyncReport,
) -> int:
    item = local.describe(media, date, guid)
    episode, created = archive.upsert_episode(
        show,
        guid=item.guid,
        title=item.title,
        kind=item.kind,
        published=item.published,
        media_path=str(item.path),
        status="failed" if failure else "downloaded",
        error=str(failure) if failure else None,
        duration=duration,
        transcript_url=str(item.sidecar) if item.sidecar else None,
        transcript_type=item.sidecar.suffix.lstrip(".") if item.sidecar else None,
    )
    if created and failure:
        report.failed.append((episode, str(failure)))
    return int(created)


def refresh(
    archive: Archive, settings: Settings, show: Show, report: SyncReport | None = None, events: EventSink = ignore
) -> int:
    """Re-read a show's source and add what is new; returns how many episodes were added.

    Local files that do not decode are added as failed and, when `report` is given, listed in it. A show of imported
    transcripts has no source to re-read."""
    if show.source_kind == SourceKind.TRANSCRIPTS:
        return 0
    if show.source_kind == "feed":
        feed = _read_feed(show.source, settings, show.credentials, events)
        added = _add_feed_items(archive, settings, show, feed, report or SyncReport(), events)
    elif show.source_kind == SourceKind.PLATFORM:
        added = _add_platform_items(archive, show, _read_platform(archive, settings, show.source, show, events))
    else:
        added = _add_local_items(archive, show, Path(show.source), None, report or SyncReport())
    archive.mark_synced(show.id)
    return added


# -- processing episodes -----------------------------------------------------------------------------------------


def _import_transcript(archive: Archive, settings: Settings, episode: Episode, show: Show, events: EventSink) -> bool:
    """Import the publisher's or a sidecar transcript; False (with a note) when it cannot be had."""
    url = episode.transcript_url or ""
    source = Source.SIDECAR if show.source_kind == "folder" else Source.PUBLISHER
    if show.source_kind == SourceKind.PLATFORM:
        source = Source.CAPTIONS
    try:
        segments = parse_transcript(fetch_transcript(url, Origin.of(show), settings), episode.transcript_type or url)
    except (OSError, FonotecaError, ValueError, httpx.HTTPError, httpx.InvalidURL) as exc:
        archive.update_episode(episode.id, transcript_url=None, transcript_type=None)
        problem = "unreachable" if isinstance(exc, httpx.HTTPError) else "not usable"
        events(Note(f"{episode.title}: transcript {problem} ({exc}); transcribing"))
        return False
    _store_imported(archive, episode, show, segments, source)
    return True


def _store_imported(
    archive: Archive,
    episode: Episode,
    show: Show,
    segments: list[Segment],
    source: Source,
    *,
    language: str | None = None,
    duration: float | None = None,
) -> None:
    """An imported transcript replaces whatever the episode had; `language` and `duration` are what its source says."""
    text = " ".join(s.text for s in segments[:200])
    # The media knows how long the episode is (local files were probed when added; older archives are probed now);
    # a transcript's last cue may run past its end.
    duration = episode.duration or duration or media_duration(episode) or (max(s.end for s in segments) or None)
    archive.replace_transcript(
        episode.id,
        segments,
        source=source,
        language=show.language or language or detect_text_language(text),
        duration=duration,
    )


def _import_captions(
    archive: Archive, settings: Settings, episode: Episode, show: Show, info: dict[str, Any], events: EventSink
) -> bool:
    """Import the platform's captions the show chose, when this video has them; False (with a note if they could not
    be read) to transcribe it instead."""
    chosen = platforms.choose_captions(info, show.language, show.captions)
    if chosen is None:
        return False
    where, kind, source = chosen
    try:
        segments = platforms.read_captions(where, kind, Origin.of(show), settings)
    except (OSError, FonotecaError, ValueError, httpx.HTTPError, httpx.InvalidURL) as exc:
        events(Note(f"{episode.title}: captions not usable ({exc}); transcribing"))
        return False
    if not segments:
        events(Note(f"{episode.title}: its captions are empty; transcribing"))
        return False
    duration = float(info["duration"]) if isinstance(info.get("duration"), int | float) else None
    _store_imported(archive, episode, show, segments, source, language=info.get("language"), duration=duration)
    return True


def media_duration(episode: Episode) -> float | None:
    """The duration of the episode's downloaded media, None when there is none or it cannot be probed."""
    if not (episode.media_path and Path(episode.media_path).exists()):
        return None
    try:
        return probe(episode.media_path).duration
    except MediaError:
        return None


def _has_media(episode: Episode) -> bool:
    return bool(episode.media_path and Path(episode.media_path).exists())


def _ensure_media(
    archive: Archive,
    settings: Settings,
    episode: Episode,
    show: Show,
    events: EventSink,
    info: dict[str, Any] | None = None,
) -> Episode:
    """`info`: what yt-dlp already extracted for a platform episode, so its page is not read twice."""
    if _has_media(episode):
        if trusted_media_file(episode, show, settings.media_dir) is None:
            raise MediaError(
                f"the media path {episode.media_path} stored for this episode is outside fonoteca's media folder and "
                "the show's own folder; it is not read",
                "an older fonoteca took it from the feed; if the file is yours, add it with `fonoteca add PATH`",
            )
        if episode.status == "new":
            archive.set_status(episode.id, "downloaded")
        return archive.get_episode(episode.id)
    archive.mark_downloaded(episode.id, str(_fetch_media(archive, settings, episode, show, events, info)))
    return archive.get_episode(episode.id)


def _fetch_media(
    archive: Archive,
    settings: Settings,
    episode: Episode,
    show: Show,
    events: EventSink,
    info: dict[str, Any] | None = None,
) -> Path:
    if not episode.media_url:
        raise MediaError(f"episode {episode.id} has no media file or URL", "re-add the show or remove the episode")
    beat = [time.monotonic()]

    def progress(done: int, total: int | None) -> None:
        events(DownloadProgress(episode.id, episode.title, done, total))
        if time.monotonic() - beat[0] > 60:  # a long download commits nothing, yet its claim must stay alive
            beat[0] = time.monotonic()
            archive.heartbeat(episode.id)

    if show.source_kind == SourceKind.PLATFORM:  # yt-dlp picks the file (the audio alone) and names its extension
        stem = settings.media_dir / show.slug / episode.id
        return platforms.download_audio(episode.media_url, stem, settings, info=info, on_progress=progress)
    dest = _download_dest(settings, show, episode.id, episode.media_url)
    return download(episode.media_url, dest, settings, origin=Origin.of(show), on_progress=progress)


def sync(
    archive: Archive,
    settings: Settings,
    show: Show | None = None,
    *,
    events: EventSink = ignore,
    transcriber: Transcriber | None = None,
    reread: bool = True,
    episode_ids: list[str] | None = None,
) -> SyncReport:
    """Bring one show (or all) up to date: new episodes, downloads, transcripts, search index.

    A show whose source cannot be read is listed in `show_errors` and the other shows go on. `transcriber` defaults
    to one made from `settings`; its model loads only when an episode needs it."""
    from fonoteca.transcribe import Transcriber

    transcriber = transcriber or Transcriber(settings)
    report = SyncReport()
    shows = [show] if show else archive.list_shows()
    unreachable: set[int] = set()
    if reread:
        for s in shows:
            try:
                report.added += refresh(archive, settings, s, report, events)
            except FonotecaError as exc:
                if is_fatal(exc):
                    raise
                report.show_errors.append((s, str(exc)))
                if s.source_kind == "folder":
                    unreachable.add(s.id)  # its files went with the folder: failing each episode would say nothing new
    pending = [
        e
        for s in shows
        if s.id not in unreachable
        for e in archive.list_episodes(s.id, status=PENDING)
        if episode_ids is None or e.id in episode_ids
    ]
    shows_by_id = {s.id: archive.get_show(s.id) for s in shows}
    events(SyncStarted({e.id: e.duration or 0.0 for e in pending if not e.transcript_url and e.kind != "text"}))
    try:
        for listed in pending:
            _process_episode(archive, settings, transcriber, listed, shows_by_id[listed.show_id], report, events)
    except BaseException:
        events(SyncFinished())
        # Whatever finished before an interruption is searchable right away, but the error that stopped the sync is
        # the one to report: an index that cannot be updated now (often for the same reason) is caught up later.
        with contextlib.suppress(Exception):
            update_index(archive, settings)
        raise
    events(SyncFinished())
    update_index(archive, settings)
    return report


def _process_episode(
    archive: Archive,
    settings: Settings,
    transcriber: Transcriber,
    listed: Episode,
    show: Show,
    report: SyncReport,
    events: EventSink,
) -> None:
    """The stages of one pending episode: claim it, then import its transcript, or fetch its media and transcribe it."""
    if not archive.claim_episode(listed.id):
        _leave_to_other_process(listed, report, events)
        return
    episode = listed
    try:
        episode = archive.get_episode(listed.id)
        if episode.status not in PENDING:
            return  # another process finished (or failed) it between the listing and the claim
        fetched = fetch_episode(archive, settings, episode, show, events)
        if fetched is None:
            report.imported += 1
            return
        done = transcribe_episode(archive, transcriber, fetched, language=show.language, events=events)
        report.transcribed += 1
        report.audio_seconds += done.duration or 0.0
    except EpisodeBusy:
        _leave_to_other_process(episode, report, events)
    except FonotecaError as exc:
        if not isinstance(exc, MediaError) and is_fatal(exc):
            raise
        archive.set_status(episode.id, "failed", str(exc))
        report.failed.append((episode, str(exc)))
        events(EpisodeFailed(episode.id, episode.title, str(exc)))
    finally:
        # A claim that cannot be released (archive gone read-only) dies with this process and is taken over then;
        # the error that matters is the one already on its way.
        with contextlib.suppress(StorageError):
            archive.release_episode(listed.id)


def fetch_episode(
    archive: Archive, settings: Settings, episode: Episode, show: Show, events: EventSink = ignore
) -> Episode | None:
    """The first stage of a pending episode the caller has claimed: import its publisher's or sidecar transcript or
    the platform's captions (None: the episode is done), else make sure its media is on this machine, downloading it
    if needed (the episode as it is then, ready to transcribe)."""
    if episode.transcript_url and _import_transcript(archive, settings, episode, show, events):
        events(TranscriptImported(episode.id, episode.title, episode_show_source(show)))
        return None
    info = None
    if show.source_kind == SourceKind.PLATFORM and not _has_media(episode):
        info = platforms.extract(episode.media_url or episode.link, settings)
        if _import_captions(archive, settings, episode, show, info, events):
            events(TranscriptImported(episode.id, episode.title, episode_show_source(show)))
            return None
    return _ensure_media(archive, settings, archive.get_episode(episode.id), show, events, info)


def transcribe_episode(
    archive: Archive,
    transcriber: Transcriber,
    episode: Episode,
    *,
    language: str | None = None,
    events: EventSink = ignore,
    replace: bool = False,
) -> Episode:
    """Transcribe the episode's media, committing each segment as the transcriber yields it, and resuming after the
    last segment committed before an interruption.

    `replace` transcribes a finished episode again from the start (`retry --force`): the old transcript stays in
    place, searchable, until the new one is complete and swapped in at once."""
    from fonoteca.transcribe.audio import duration_of

    if not episode.media_path:
        raise MediaError(f"episode {episode.id} has no local media yet", "run `fonoteca sync` to download it")
    # Before the episode is marked: a model that cannot load is not the episode's fault and must leave it as it was.
    transcriber.load()
    # The container's figure, for progress until the last window finds the exact one.
    total = duration_of(episode.media_path) or episode.duration or 0.0
    resume_at = 0.0 if replace else archive.last_segment_end(episode.id)
    # A resumed episode keeps the language detected before the crash, so both halves agree.
    language = language or (episode.language if resume_at > 0 else None)
    if not replace:
        archive.start_transcription(episode.id, total)
    started = time.monotonic()
    events(TranscriptionProgress(episode.id, episode.title, resume_at, total))
    transcription = transcriber.transcribe_file(episode.media_path, start=resume_at, language=language)
    if transcription.language != language and not replace:
        archive.update_episode(episode.id, language=transcription.language)
    fresh: list[Segment] = []
    next_idx = archive.segment_count(episode.id)
    for segment in transcription:
        if replace:
            fresh.append(segment)
        else:
            next_idx += archive.append_segments(episode.id, [segment], at=next_idx)
        events(TranscriptionProgress(episode.id, episode.title, segment.end, max(total, segment.end)))
    total = transcription.duration or total
    events(TranscriptionProgress(episode.id, episode.title, total, total))
    if replace:
        archive.replace_transcript(
            episode.id, fresh, source=Source.TRANSCRIBED, language=transcription.language, engine=transcriber.engine,
            model=transcriber.model_name, duration=total, dropped=transcription.dropped,
        )  # fmt: skip
    else:
        archive.finish_transcription(
            episode.id, language=transcription.language, engine=transcriber.engine, model=transcriber.model_name,
            duration=total, dropped=transcription.dropped,
        )  # fmt: skip
    elapsed = time.monotonic() - started
    realtime = (total - resume_at) / elapsed if elapsed > 0.1 else None
    events(EpisodeTranscribed(episode.id, episode.title, total, realtime))
    return archive.get_episode(episode.id)


def _leave_to_other_process(episode: Episode, report: SyncReport, events: EventSink) -> None:
    report.busy.append(episode)
    events(EpisodeLeft(episode.id, episode.title))


def update_index(archive: Archive, settings: Settings, events: EventSink = ignore) -> None:
    """Bring the keyword index up to date with the archive, telling `events` how far it got (IndexProgress); a full
    disk is told as such (reindexing would not help)."""
    from fonoteca.search import sync_index

    try:
        sync_index(archive, settings, on_progress=lambda done, total: events(IndexProgress(done, total)))
    except FonotecaError as exc:
        if is_disk_full(exc):
            raise disk_error(exc, settings.index_dir) from exc
        raise


def episode_show_source(show: Show) -> str:
    return {"folder": "sidecar", "platform": "caption"}.get(show.source_kind, "publisher's")


def is_fatal(exc: FonotecaError) -> bool:
    """Errors that would fail every remaining episode the same way (model missing, disk full, the archive gone) stop
    the sync, and leave the episode as it was: they are not its fault (a worker tries its job again later)."""
    return isinstance(exc, (ModelError, StorageError))


def retry_targets(archive: Archive, episode_id: str | None = None, *, force: bool = False) -> list[Episode]:
    """The episodes `retry` works on: every failed one, or the one named. A finished one is refused unless `force`d
    (then it is the one returned, still done); a text post is never transcribed again."""
    if force and not episode_id:
        raise ConfigError("--force needs an episode id", "give the id of the one finished episode to transcribe again")
    if not episode_id:
        return archive.list_episodes(status="failed")
    episode = archive.get_episode(episode_id)
    if episode.status == "done":
        if not force:
            raise FonotecaError(
                f"episode {episode.id} is already transcribed",
                f"nothing to retry; see it with `fonoteca export {episode.id}`, or transcribe it again with "
                f"`fonoteca retry --force {episode.id}`",
            )
        if episode.kind == "text":
            raise FonotecaError(
                f"episode {episode.id} is a text post", "it has no audio to transcribe; its text is its own"
            )
    return [episode]


def reset_failed(archive: Archive, targets: list[Episode]) -> dict[str, tuple[str | None, str]]:
    """The failed ones of `targets` back to pending: 'downloaded' when their media is still here, else 'new'.
    Returns, for each one reset, its old error and the status it was given (to fail it again if the retry stops)."""
    reset: dict[str, tuple[str | None, str]] = {}
    for episode in targets:
        if episode.status == "failed":
            status = "downloaded" if _has_media(episode) else "new"
            archive.set_status(episode.id, status)
            reset[episode.id] = (episode.error, status)
    return reset


def retry(
    archive: Archive,
    settings: Settings,
    episode_id: str | None = None,
    *,
    events: EventSink = ignore,
    transcriber: Transcriber | None = None,
    force: bool = False,
) -> SyncReport:
    """Failed episodes (or one failed or pending episode) back to pending, then processed again.

    A finished episode is refused unless `force`d: then it is transcribed again from the start (the repair for a
    damaged transcript), and its old transcript stays until the new one replaces it in one commit. If the sync stops
    on an error that is not the episodes' fault (the model will not load, the disk is full), the episodes it did not
    reach are failed again with their old reason."""
    targets = retry_targets(archive, episode_id, force=force)
    if not targets:
        return SyncReport()
    if targets[0].status == "done":
        return _retranscribe(archive, settings, targets[0], events=events, transcriber=transcriber)
    reset = reset_failed(archive, targets)
    try:
        return sync(
            archive, settings, None, events=events, transcriber=transcriber, reread=False,
            episode_ids=[e.id for e in targets],
        )  # fmt: skip
    except BaseException:
        for ref, (error, status) in reset.items():
            if archive.get_episode(ref).status == status:
                archive.set_status(ref, "failed", error)
        raise


def retranscribe(
    archive: Archive, settings: Settings, transcriber: Transcriber, episode: Episode, show: Show, events: EventSink
) -> Episode:
    """Whisper over a finished episode the caller has claimed, again from the start: its media is fetched again if
    it is not on this machine, and its old transcript stays until the new one replaces it in one commit."""
    if not _has_media(episode):
        archive.update_episode(episode.id, media_path=str(_fetch_media(archive, settings, episode, show, events)))
        episode = archive.get_episode(episode.id)
    return transcribe_episode(archive, transcriber, episode, language=show.language, events=events, replace=True)


def _retranscribe(
    archive: Archive, settings: Settings, episode: Episode, *, events: EventSink, transcriber: Transcriber | None
) -> SyncReport:
    """Whisper over a finished episode again; if it fails, the episode keeps its old transcript and stays done."""
    from fonoteca.transcribe import Transcriber

    if not archive.claim_episode(episode.id):
        raise EpisodeBusy(
            f"episode {episode.id} is being processed by another fonoteca process",
            "wait for it to finish, then run the command again",
        )
    report = SyncReport()
    show = archive.get_show(episode.show_id)
    events(SyncStarted({episode.id: episode.duration or 0.0}))
    try:
        done = retranscribe(archive, settings, transcriber or Transcriber(settings), episode, show, events)
        report.transcribed += 1
        report.audio_seconds += done.duration or 0.0
    except FonotecaError as exc:
        if not isinstance(exc, MediaError) and is_fatal(exc):
            raise
        report.failed.append((episode, str(exc)))
        events(EpisodeFailed(episode.id, episode.title, str(exc)))
    finally:
        events(SyncFinished())
        with contextlib.suppress(StorageError):
            archive.release_episode(episode.id)
    update_index(archive, settings)
    return report
