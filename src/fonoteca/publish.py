"""What fonoteca publishes for other apps: each show's Podcasting 2.0 feed and its transcript files, and the archive's
shows as OPML. Built by the application object (`Fonoteca.publish`); `fonoteca feed`, `fonoteca export-opml` and the
web routes of fonoteca.web.feed_routes are its shells.

A feed of a thousand episodes takes about a second to build (bench/feed.py), so each built feed is kept (per show and
address) together with the archive's change counter it was built at (Archive.changes: every write a reader can see
moves it, by any process), and served again until the counter moves. Reading the counter is one tiny query.

On a private archive a podcast app cannot send the owner's token, so a show's feed and files are also served under a
secret path (`/feeds/<secret>/`), made on first use and replaced when the owner rotates it.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from fonoteca.archive import Archive, Episode, Show, SourceKind, Status
from fonoteca.errors import NotFound
from fonoteca.ingest.media import trusted_media_file
from fonoteca.output.chapters import render_chapters
from fonoteca.output.feed import (
    CHAPTERS_FILE,
    FILES_BY_SUFFIX,
    TRANSCRIPT_FILES,
    episode_file_url,
    has_chapters,
    links_transcripts,
    render_show_feed,
)
from fonoteca.output.opml import shows_opml
from fonoteca.output.transcripts import render_transcript


@dataclass(frozen=True)
class Published:
    """A document as it is served: its bytes and type."""

    body: bytes
    media_type: str


class Publisher:
    """Feeds and files of one archive, safe to share between a web server's threads."""

    def __init__(self, archive: Archive, media_dir: Path) -> None:
        self.archive, self.media_dir = archive, media_dir
        # (show id, files base, self URL, enclosures) -> (the archive's change counter it was built at, the feed).
        # Bounded by the shows and the few addresses a server answers (its allowed Host names, public and secret paths).
        self._feeds: dict[tuple[int, str, str, bool], tuple[int, Published]] = {}
        self._lock = threading.Lock()

    def feed(
        self, show: Show, *, files_base: str, self_url: str, show_page: str = "", enclosures: bool = True
    ) -> Published:
        """The show's feed, with its transcript files under `files_base` (and the publisher's media unless not
        `enclosures`); built again only when the archive changed."""
        counter, _changed_at = self.archive.changes()
        key = (show.id, files_base, self_url, enclosures)
        with self._lock:
            kept = self._feeds.get(key)
        if kept is not None and kept[0] == counter:
            return kept[1]
        episodes = self.archive.list_episodes(show.id)
        overviews = self.archive.overviews.overviews([e.id for e in episodes if links_transcripts(e)])
        body = render_show_feed(
            show, episodes, files_base=files_base, self_url=self_url, speakers=self.archive.speakers(show.id),
            overviews=overviews, show_page=show_page, enclosures=enclosures,
            sizes=self._enclosure_sizes(show, episodes),
        )  # fmt: skip
        built = Published(body, "application/rss+xml; charset=utf-8")
        with self._lock:
            self._feeds[key] = (counter, built)
        return built

    def _enclosure_sizes(self, show: Show, episodes: list[Episode]) -> dict[str, int]:
        """The size of each enclosure the archive downloaded as it is (a platform's episodes are yt-dlp's audio
        alone, another file than the publisher's)."""
        if show.source_kind == SourceKind.PLATFORM:
            return {}
        found = ((e.id, trusted_media_file(e, show, self.media_dir)) for e in episodes if e.media_url and e.media_path)
        return {episode_id: path.stat().st_size for episode_id, path in found if path is not None}

    def episode_file(self, show: Show, episode_id: str, suffix: str) -> Published:
        """One of the files a feed links for an episode of `show` (a transcript as WebVTT, Podcasting 2.0 JSON or
        SRT, or its chapters as Podcasting 2.0 chapters JSON). NotFound for another show's episode, an unfinished one,
        an episode without chapters or an unknown file: a feed's secret path opens its own show and nothing else."""
        file = FILES_BY_SUFFIX.get(suffix)
        episode = self._episode(show, episode_id)
        if file is None or episode.status != Status.DONE:
            raise NotFound(f"no {suffix} file for episode {episode_id}", "the feed lists the files that exist")
        if file is CHAPTERS_FILE:
            overview = self.archive.overviews.overview(episode.id)
            if overview is None or not has_chapters(overview):
                raise NotFound(f"episode {episode_id} has no chapters yet", "the feed lists the files that exist")
            body = render_chapters(episode, overview.chapters, file.export).encode()
        else:
            body = render_transcript(self.archive.segments(episode.id, words=False), file.export).encode()
        return Published(body, f"{file.media_type}; charset=utf-8")

    def linked_files(self, show: Show) -> Iterator[tuple[str, Published]]:
        """Every file the show's feed links, each with its path under the feed's files base (`episodes/{id}.vtt`, …,
        `episodes/{id}.chapters.json`): what static hosting puts beside feed.xml."""
        episodes = [e for e in self.archive.list_episodes(show.id) if links_transcripts(e)]
        overviews = self.archive.overviews.overviews([e.id for e in episodes])
        for episode in episodes:
            files = [*TRANSCRIPT_FILES, *([CHAPTERS_FILE] if has_chapters(overviews.get(episode.id)) else [])]
            for file in files:
                path = episode_file_url("", episode.id, file.suffix).lstrip("/")
                yield path, self.episode_file(show, episode.id, file.suffix)

    def _episode(self, show: Show, episode_id: str) -> Episode:
        found = self.archive.episodes_by_ids([episode_id]).get(episode_id)
        if found is None or found.show_id != show.id:
            raise NotFound(f"no episode {episode_id} in {show.title}", "the feed lists the show's episodes")
        return found

    def private_show(self, secret: str) -> Show:
        return self.archive.show_by_feed_secret(secret)

    def secret(self, show: Show, *, rotate: bool = False) -> str:
        """The secret path segment of the show's private feed (`/feeds/<secret>/feed.xml`); `rotate` replaces it."""
        return self.archive.feed_secret(show.id, rotate=rotate)

    def opml(self, *, title: str = "fonoteca") -> bytes:
        """The archive's shows as an OPML subscription list."""
        return shows_opml(self.archive.list_shows(), title=title)
