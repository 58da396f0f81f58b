"""The catalogue of shows: register a feed URL, feed file, media folder, media file or video platform page as a show
(`Catalogue.register`), and re-read a show's source to add what is new (`refresh`): a feed's items (with the feed's
corrections of known ones), a platform's listing, a folder's files. Nothing here downloads or transcribes: that is the
work on each episode (fonoteca.pipeline.episodes)."""

from __future__ import annotations

from pathlib import Path
from typing import Any
from urllib.parse import urlparse

import httpx

from fonoteca.archive import Archive, Captions, Episode, Segment, Show, Source, SourceKind
from fonoteca.errors import ConfigError, FeedError, FonotecaError, MediaError
from fonoteca.events import EventSink, Note
from fonoteca.ingest import chapters, feeds, local, platforms
from fonoteca.ingest.language import detect_text_language
from fonoteca.ingest.media import probe
from fonoteca.ingest.net import Origin, split_credentials
from fonoteca.pipeline.episodes import download_dest
from fonoteca.pipeline.report import SyncReport, is_fatal
from fonoteca.settings import Settings


def _looks_like_feed_file(path: Path) -> bool:
    if path.suffix.lower() in (".xml", ".rss", ".atom"):
        return True
    try:
        with path.open("rb") as fh:
            head = fh.read(512).lstrip()
    except OSError:
        return False
    return head.startswith(b"<?xml") or head[:5].lower() in (b"<rss ", b"<rss>", b"<feed")


class Catalogue:
    """The shows of one archive and their sources."""

    def __init__(self, archive: Archive, settings: Settings, events: EventSink) -> None:
        self.archive = archive
        self.settings = settings
        self.events = events

    def register(
        self,
        source: str,
        *,
        language: str | None = None,
        title: str | None = None,
        date: str | None = None,
        captions: Captions | None = None,
    ) -> tuple[Show, SyncReport]:
        """Register a feed URL, feed file, media folder, media file or video platform page as a show, with the
        episodes its source lists (their work is the runner's: fonoteca.pipeline.runner).

        `date` (YYYY-MM-DD) is the publication date of a single media file; it is refused for folders and feeds,
        whose episodes each have their own date. `captions` (platform shows only) says which of the platform's
        captions stand in for a transcription; None keeps the show's choice (creator captions for a new show)."""
        source, credentials = split_credentials(source)  # stored apart from the source, which is shown everywhere
        if feeds.is_remote(source) and not credentials and platforms.claims(source):
            show_source, kind = source, "platform"
        elif feeds.is_remote(source) or urlparse(source).scheme == "file":
            show_source, kind = source, "feed"
        else:
            path = Path(source).expanduser()
            if not path.exists():
                raise FonotecaError(
                    f"{source} does not exist", "check the path, or give a feed URL starting with https://"
                )
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
        feed = self._read_feed_or_page(show_source, credentials) if kind == "feed" else None
        if kind == "feed" and feed is None:
            kind = "platform"
        if captions is not None and kind != "platform":
            raise ConfigError(
                "--captions and --transcribe apply to video platform shows (read with yt-dlp)",
                f"{source} is read as a {kind}; leave the option out",
            )
        pinned = {"language": language} if language else {}  # before the items: text episodes take the show's
        report = SyncReport()
        if kind == "platform":
            listing = self._read_platform(show_source, None)
            show, _ = self.archive.add_show(
                title=title or listing.title, source=show_source, source_kind=SourceKind.PLATFORM,
                description=listing.description, link=listing.link, image=listing.image,
                **({"captions": captions} if captions is not None else {}), **pinned,
            )  # fmt: skip
            report.added += self._add_platform_items(show, listing)
        elif feed is not None:
            show, _ = self.archive.add_show(
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
            report.added += self._add_feed_items(show, feed, report)
        else:
            path = Path(show_source)
            show, _ = self.archive.add_show(title=title or (path.stem if single_file else path.name),
                                            source=show_source, source_kind="folder", **pinned)  # fmt: skip
            report.added += self._add_local_items(show, path, date, report)
        return show, report

    def refresh(self, show: Show, report: SyncReport | None = None) -> int:
        """Re-read a show's source and add what is new; returns how many episodes were added.

        Local files that do not decode are added as failed and, when `report` is given, listed in it. A show of
        imported transcripts has no source to re-read."""
        if show.source_kind == SourceKind.TRANSCRIPTS:
            return 0
        if show.source_kind == "feed":
            feed = self._read_feed(show.source, show.credentials)
            added = self._add_feed_items(show, feed, report or SyncReport())
        elif show.source_kind == SourceKind.PLATFORM:
            added = self._add_platform_items(show, self._read_platform(show.source, show))
        else:
            added = self._add_local_items(show, Path(show.source), None, report or SyncReport())
        self.archive.mark_synced(show.id)
        return added

    def refresh_each(self, shows: list[Show], report: SyncReport) -> list[Show]:
        """Re-read each show's source (what `sync` does first). A show whose source cannot be read is listed in
        `report.show_errors` and the others go on; returns the shows whose episodes can be worked on: all but the
        folders that are gone (their files went with them: failing each episode would say nothing new)."""
        reachable = []
        for show in shows:
            try:
                report.added += self.refresh(show, report)
            except FonotecaError as exc:
                if is_fatal(exc):
                    raise
                report.show_errors.append((show, str(exc)))
                if show.source_kind == "folder":
                    continue
            reachable.append(show)
        return reachable

    # -- feeds --------------------------------------------------------------------------------------------------------

    def _read_feed_or_page(self, source: str, credentials: str | None) -> feeds.Feed | None:
        """The feed at `source`, or None when the address answers with a web page or media that yt-dlp reads instead
        (its generic extractor takes any address, so the feed reader asks first)."""
        data, base_url = feeds.fetch_feed(source, self.settings, credentials)
        try:
            feed = feeds.parse_feed(data, base_url)
        except FeedError:
            if feeds.is_remote(source) and not credentials and platforms.is_page_or_media(data):
                return None
            raise
        self._tell_notes(feed.notes)
        return feed

    def _read_feed(self, source: str, credentials: str | None) -> feeds.Feed:
        feed = feeds.parse_feed(*feeds.fetch_feed(source, self.settings, credentials))
        self._tell_notes(feed.notes)
        return feed

    def _tell_notes(self, notes: list[str]) -> None:
        for note in notes:
            self.events(Note(note))

    def _add_feed_items(self, show: Show, feed: feeds.Feed, report: SyncReport) -> int:
        """Add the feed's new items; known ones take the feed's corrections (counted in `report.updated`)."""
        known = {e.guid: e for e in self.archive.list_episodes(show.id)}
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
                self._refresh_episode(show, known[guid], item, report)
                self._publisher_chapters(show, known[guid], item)
                continue
            if guid != item.guid:
                self.events(
                    Note(
                        f"the feed gives GUID {item.guid} to more than one item; "
                        f"{item.title} is archived as an episode of its own (GUID + enclosure)"
                    )
                )
            if item.kind == "text":
                episode, created = self.archive.upsert_episode(show, guid=guid, title=item.title, kind="text", **fields)
                if created:
                    paragraphs = [p for p in item.text.split("\n") if p.strip()]
                    self.archive.replace_transcript(
                        episode.id,
                        [Segment(0.0, 0.0, p.strip()) for p in paragraphs],
                        source=Source.TEXT,
                        language=show.language or detect_text_language(item.text),
                    )
            else:
                media_url, media_path = _item_media(item)
                transcript = item.transcripts[0] if item.transcripts else (None, None)
                episode, created = self.archive.upsert_episode(
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
            self._publisher_chapters(show, episode, item)
            added += created
        return added

    def _publisher_chapters(self, show: Show, episode: Episode, item: feeds.FeedItem) -> None:
        """The item's `<podcast:chapters>` file, else a list of timestamps in its notes, stored as the publisher's
        chapters of an episode that has none yet. A file that cannot be had is one note; the episode goes on (its
        chapters are then generated from the transcript)."""
        if not (item.chapters_url or item.description) or self.archive.overviews.has_publisher_chapters(episode.id):
            return
        found = []
        if item.chapters_url:
            try:
                found = chapters.parse_podcast_chapters(
                    chapters.fetch_chapters_file(item.chapters_url, Origin.of(show), self.settings)
                )
            except (OSError, FonotecaError, ValueError, httpx.HTTPError, httpx.InvalidURL) as exc:
                self.events(Note(f"{item.title}: the publisher's chapters are not usable ({exc})"))
        found = found or chapters.notes_chapters(item.description)
        self.archive.overviews.save_publisher_chapters(episode.id, found)

    def _refresh_episode(self, show: Show, episode: Episode, item: feeds.FeedItem, report: SyncReport) -> None:
        """Take the feed's corrections of a known episode, and say so.

        A finished episode keeps its transcript and its media. One that failed and whose enclosure changed goes back
        to 'new', so the next step fetches the new file; a download left half-way from the old URL is dropped."""
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
            if (
                media_path
                or _without_query(media_url) != _without_query(episode.media_url)
                or episode.status == "failed"
            ):
                said.append("enclosure")
            if media_path:
                changes["media_path"] = media_path
            elif episode.status in ("new", "failed"):  # a file already downloaded from the old URL is still good
                changes["media_path"] = None
                self._drop_partial_download(show, episode)
        transcript_url, transcript_type = item.transcripts[0] if item.transcripts else (None, None)
        # A transcript that proved unusable was cleared on purpose (NULL here): only a different URL is a correction.
        if episode.status != "done" and episode.transcript_url and transcript_url != episode.transcript_url:
            changes.update(transcript_url=transcript_url, transcript_type=transcript_type)
            said.append("transcript")
        if not changes:
            return
        self.archive.update_episode(episode.id, **changes)
        if not said:
            return
        report.updated += 1
        again = ""
        if ("enclosure" in said or "transcript" in said) and self.archive.requeue_failed(episode.id):
            again = "; it failed before, so it is tried again"
        self.events(Note(f"{item.title}: the feed changed its {', '.join(said)}{again}"))

    def _drop_partial_download(self, show: Show, episode: Episode) -> None:
        """Range would resume the new URL's file from bytes of the old one."""
        if episode.media_url:
            dest = download_dest(self.settings.media_dir, show, episode.id, episode.media_url)
            dest.with_name(dest.name + ".part").unlink(missing_ok=True)

    # -- video platforms ----------------------------------------------------------------------------------------------

    def _read_platform(self, source: str, show: Show | None) -> platforms.Listing:
        known = {e.guid for e in self.archive.list_episodes(show.id)} if show else set()
        listing = platforms.read_listing(source, self.settings, known=known)
        self._tell_notes(listing.notes)
        return listing

    def _add_platform_items(self, show: Show, listing: platforms.Listing) -> int:
        """Add the listing's entries (only unseen ones are listed); their captions are looked at when each is
        processed."""
        added = 0
        for entry in listing.entries:
            _, created = self.archive.upsert_episode(
                show, guid=entry.guid, title=entry.title, kind=entry.kind, published=entry.published,
                duration=entry.duration, description=entry.description, link=entry.link, media_url=entry.url,
                image=entry.image,
            )  # fmt: skip
            added += created
        return added

    # -- folders ------------------------------------------------------------------------------------------------------

    def _add_local_items(self, show: Show, path: Path, date: str | None, report: SyncReport) -> int:
        """Add the files not yet in the show; a file that does not decode, or cannot be read at all, is added as
        failed, with the reason, and the others go on."""
        known = {e.guid: e for e in self.archive.list_episodes(show.id)}
        added = 0
        for media in local.find_media(path):
            placeholder = known.get(local.unreadable_guid(media))
            try:
                guid = local.file_hash(media)
            except MediaError as exc:
                if placeholder is None:
                    added += self._add_local_file(show, media, date, local.unreadable_guid(media), exc, None, report)
                continue
            if placeholder is not None:
                if placeholder.status != "failed":
                    continue  # `retry` read it under its placeholder once it became readable: it is archived
                self.archive.delete_episode(placeholder.id)  # readable now: it becomes the episode its content is
            if guid in known and date is None:
                continue  # its date may be a --date override, which re-reading the file must not replace
            try:
                failure, duration = None, probe(media).duration
            except MediaError as exc:
                failure, duration = exc, None
            added += self._add_local_file(show, media, date, guid, failure, duration, report)
        return added

    def _add_local_file(
        self,
        show: Show,
        media: Path,
        date: str | None,
        guid: str,
        failure: MediaError | None,
        duration: float | None,
        report: SyncReport,
    ) -> int:
        item = local.describe(media, date, guid)
        episode, created = self.archive.upsert_episode(
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
        if created and not failure and (found := chapters.id3_chapters(media)):
            self.archive.overviews.save_publisher_chapters(episode.id, found)
        return int(created)


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


def _without_query(url: str | None) -> str:
    return urlparse(url or "")._replace(query="", fragment="").geturl()
