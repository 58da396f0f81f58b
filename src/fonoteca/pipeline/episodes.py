"""The work on one episode: claim it (`claimed`), import its publisher's or sidecar transcript or the platform's
captions, or make sure its media is here (downloading it), then transcribe it, committing each segment as the
transcriber yields it. The same steps serve `fonoteca sync` (EpisodeWork.process, one episode after another) and the
workers' jobs (fonoteca.jobs.tasks), each of which claims its episode with `claimed` too.

A half-transcribed episode resumes after its last committed segment. The archive's writes hand back the episode as
they left it, so fetching and transcribing an episode read its row once, when it is claimed.
"""

from __future__ import annotations

import contextlib
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Any
from urllib.parse import urlparse

import httpx

from fonoteca.archive import Archive, Chapter, Episode, EpisodeBusy, Segment, Show, Source, SourceKind
from fonoteca.errors import FonotecaError, MediaError, NotFound, StorageError
from fonoteca.events import (
    DownloadProgress,
    EpisodeFailed,
    EpisodeLeft,
    EpisodeTranscribed,
    EventSink,
    Note,
    TranscriptImported,
    TranscriptionProgress,
)
from fonoteca.ingest import chapters, platforms
from fonoteca.ingest.download import download
from fonoteca.ingest.language import detect_text_language
from fonoteca.ingest.media import probe, trusted_media_file
from fonoteca.ingest.net import Origin
from fonoteca.ingest.transcripts import fetch_transcript, parse_transcript
from fonoteca.pipeline.report import PENDING, SyncReport, is_fatal
from fonoteca.settings import Settings
from fonoteca.transcribe.hints import Hints, note_terms

if TYPE_CHECKING:
    from fonoteca.transcribe import Transcriber, Transcription


@contextmanager
def claimed(archive: Archive, episode_id: str) -> Iterator[Episode]:
    """Claim → work → release: the episode as it is once this process holds it, for the work in the `with` block.
    EpisodeBusy when another live process holds it.

    The claim is released however the work ends. A release that fails (the archive gone read-only, the database
    down) is left to die with this process and be taken over then: the error that matters is the one already on its
    way, or none."""
    if not archive.claim_episode(episode_id):
        raise EpisodeBusy(
            f"episode {episode_id} is being processed by another fonoteca process",
            "wait for it to finish, then run the command again",
        )
    try:
        yield archive.get_episode(episode_id)
    finally:
        with contextlib.suppress(StorageError):
            archive.release_episode(episode_id)


def imported_duration(episode: Episode, last_cue: float, stated: float | None = None) -> float | None:
    """How long an episode with an imported transcript is: what the archive knows (the feed's figure, a local file's
    probe when it was added), else its media's own length (older archives are probed now), else what the
    transcript's source says (`stated`), else where the last cue ends (`last_cue`), which may run past the media's
    end."""
    return episode.duration or media_duration(episode) or stated or last_cue or None


def media_duration(episode: Episode) -> float | None:
    """The duration of the episode's downloaded media, None when there is none or it cannot be probed."""
    if not has_media(episode):
        return None
    try:
        return probe(episode.media_path).duration
    except MediaError:
        return None


def has_media(episode: Episode) -> bool:
    return bool(episode.media_path and Path(episode.media_path).exists())


def download_dest(media_dir: Path, show: Show, episode_id: str, media_url: str) -> Path:
    suffix = Path(urlparse(media_url).path).suffix.lower()[:6] or ".media"
    return media_dir / show.slug / f"{episode_id}{suffix}"


def episode_show_source(show: Show) -> str:
    return {"folder": "sidecar", "platform": "caption"}.get(show.source_kind, "publisher's")


def _present(episode: Episode | None, episode_id: str) -> Episode:
    """The episode a write handed back; a write that found no row means another process deleted it meanwhile."""
    if episode is None:
        raise NotFound(f"episode {episode_id} is no longer in the archive", "another process deleted it meanwhile")
    return episode


class EpisodeWork:
    """The steps of one episode, on one archive with one transcriber (its model loads when an episode needs it)."""

    def __init__(self, archive: Archive, settings: Settings, transcriber: Transcriber, events: EventSink) -> None:
        self.archive = archive
        self.settings = settings
        self.transcriber = transcriber
        self.events = events

    def process(self, listed: Episode, show: Show, report: SyncReport) -> None:
        """What `sync` does with one pending episode: claim it, then import its transcript, or fetch its media and
        transcribe it. Its failure is stored with its reason and the sync goes on; one another process holds is left
        to it; an error that would fail every episode alike (is_fatal) stops the sync."""
        try:
            with claimed(self.archive, listed.id) as episode:
                if episode.status in PENDING:  # else another process finished (or failed) it since it was listed
                    self._fetch_and_transcribe(episode, show, report)
        except EpisodeBusy:
            report.busy.append(listed)
            self.events(EpisodeLeft(listed.id, listed.title))

    def _fetch_and_transcribe(self, episode: Episode, show: Show, report: SyncReport) -> None:
        try:
            fetched = self.fetch(episode, show)
            if fetched is None:
                report.imported += 1
                return
            done = self.transcribe(fetched, language=show.language)
            report.transcribed += 1
            report.audio_seconds += done.duration or 0.0
        except EpisodeBusy:
            raise
        except FonotecaError as exc:
            if not isinstance(exc, MediaError) and is_fatal(exc):
                raise
            self.archive.set_status(episode.id, "failed", str(exc))
            report.failed.append((episode, str(exc)))
            self.events(EpisodeFailed(episode.id, episode.title, str(exc)))

    def fetch(self, episode: Episode, show: Show) -> Episode | None:
        """The first step of a pending episode the caller has claimed: import its publisher's or sidecar transcript
        or the platform's captions (None: the episode is done), else make sure its media is on this machine,
        downloading it if needed (the episode as it is then, ready to transcribe)."""
        if episode.transcript_url and self._import_transcript(episode, show):
            self.events(TranscriptImported(episode.id, episode.title, episode_show_source(show)))
            return None
        info = None
        if show.source_kind == SourceKind.PLATFORM and not has_media(episode):
            info = platforms.extract(episode.media_url or episode.link, self.settings)
            self._publisher_chapters(episode, chapters.platform_chapters(info))
            if self._import_captions(episode, show, info):
                self.events(TranscriptImported(episode.id, episode.title, episode_show_source(show)))
                return None
        ready = self._ensure_media(episode, show, info)
        if ready.media_path:
            self._publisher_chapters(ready, chapters.id3_chapters(Path(ready.media_path)))
        return ready

    def _publisher_chapters(self, episode: Episode, found: list[Chapter]) -> None:
        """The chapters the media or the platform gives, unless the publisher's are already stored (from the feed)."""
        if found and not self.archive.overviews.has_publisher_chapters(episode.id):
            self.archive.overviews.save_publisher_chapters(episode.id, found)

    def transcribe(self, episode: Episode, *, language: str | None = None) -> Episode:
        """Transcribe the episode's media, committing each segment as the transcriber yields it, and resuming after
        the last segment committed before an interruption."""
        total = self._ready(episode)
        resume_at = self.archive.last_segment_end(episode.id)
        # A resumed episode keeps the language detected before the crash, so both halves agree.
        language = language or (episode.language if resume_at > 0 else None)
        self.archive.start_transcription(episode.id, total)
        started = time.monotonic()
        transcription = self._start(episode, resume_at, language, total)
        if transcription.language != language:
            self.archive.update_episode(episode.id, language=transcription.language)
        next_idx = self.archive.segment_count(episode.id)
        for segment in self._said(episode, transcription, total):
            next_idx += self.archive.append_segments(episode.id, [segment], at=next_idx)
        total = transcription.duration or total
        done = self.archive.finish_transcription(
            episode.id, language=transcription.language, engine=self.transcriber.engine,
            model=self.transcriber.model_name, duration=total, dropped=transcription.dropped,
        )  # fmt: skip
        self._finished(episode, resume_at, total, started)
        return _present(done, episode.id)

    def retranscribe(self, episode: Episode, show: Show) -> Episode:
        """Whisper over a finished episode the caller has claimed, again from the start (`retry --force`, the repair
        for a damaged transcript): its media is fetched again if it is not on this machine, and its old transcript
        stays in place, searchable, until the new one is complete and swapped in at once."""
        episode = self.fetch_media(episode, show)
        total = self._ready(episode)
        started = time.monotonic()
        transcription = self._start(episode, 0.0, show.language, total)
        fresh = list(self._said(episode, transcription, total))
        total = transcription.duration or total
        self.archive.replace_transcript(
            episode.id, fresh, source=Source.TRANSCRIBED, language=transcription.language,
            engine=self.transcriber.engine, model=self.transcriber.model_name, duration=total,
            dropped=transcription.dropped,
        )  # fmt: skip
        self._finished(episode, 0.0, total, started)
        return self.archive.get_episode(episode.id)

    def fetch_media(self, episode: Episode, show: Show) -> Episode:
        """A finished episode the caller has claimed, with its media on this machine: downloaded again when it is not
        (a re-transcription; the voices an imported transcript names, fonoteca.speakers). Its status stays."""
        if has_media(episode):
            return episode
        fetched = self.archive.update_episode(episode.id, media_path=str(self._fetch_media(episode, show)))
        return _present(fetched, episode.id)

    # -- transcribing ------------------------------------------------------------------------------------------------

    def _ready(self, episode: Episode) -> float:
        """Check that the media is here and the model loads, before the episode is marked: a model that cannot load
        is not the episode's fault and must leave it as it was. Returns the container's duration, for progress until
        the last window finds the exact one."""
        from fonoteca.transcribe.audio import duration_of

        if not episode.media_path:
            raise MediaError(f"episode {episode.id} has no local media yet", "run `fonoteca sync` to download it")
        self.transcriber.load()
        return duration_of(episode.media_path) or episode.duration or 0.0

    def _start(self, episode: Episode, start: float, language: str | None, total: float) -> Transcription:
        self.events(TranscriptionProgress(episode.id, episode.title, start, total))
        return self.transcriber.transcribe_file(
            episode.media_path, start=start, language=language, hints=self.hints(episode)
        )

    def hints(self, episode: Episode) -> Hints:
        """What Whisper is told to expect in the episode (FONOTECA_HINTS): the show's vocabulary first, then the names
        of the episode's own title and notes."""
        sources = self.settings.hints.split(",")
        vocabulary = self.archive.corrections.terms(episode.show_id) if "vocabulary" in sources else []
        notes = note_terms(episode.title, episode.description) if "notes" in sources else []
        return Hints.of(vocabulary, notes)

    def _said(self, episode: Episode, transcription: Transcription, total: float) -> Iterator[Segment]:
        """The transcription's segments as they come, each told as progress."""
        for segment in transcription:
            yield segment
            self.events(TranscriptionProgress(episode.id, episode.title, segment.end, max(total, segment.end)))

    def _finished(self, episode: Episode, resume_at: float, total: float, started: float) -> None:
        self.events(TranscriptionProgress(episode.id, episode.title, total, total))
        elapsed = time.monotonic() - started
        realtime = (total - resume_at) / elapsed if elapsed > 0.1 else None
        self.events(EpisodeTranscribed(episode.id, episode.title, total, realtime))

    # -- transcripts and captions ------------------------------------------------------------------------------------

    def _import_transcript(self, episode: Episode, show: Show) -> bool:
        """Import the publisher's or a sidecar transcript; False (with a note) when it cannot be had."""
        url = episode.transcript_url or ""
        source = Source.SIDECAR if show.source_kind == "folder" else Source.PUBLISHER
        if show.source_kind == SourceKind.PLATFORM:
            source = Source.CAPTIONS
        try:
            segments = parse_transcript(
                fetch_transcript(url, Origin.of(show), self.settings), episode.transcript_type or url
            )
        except (OSError, FonotecaError, ValueError, httpx.HTTPError, httpx.InvalidURL) as exc:
            self.archive.update_episode(episode.id, transcript_url=None, transcript_type=None)
            problem = "unreachable" if isinstance(exc, httpx.HTTPError) else "not usable"
            self.events(Note(f"{episode.title}: transcript {problem} ({exc}); transcribing"))
            return False
        self._store_imported(episode, show, segments, source)
        return True

    def _import_captions(self, episode: Episode, show: Show, info: dict[str, Any]) -> bool:
        """Import the platform's captions the show chose, when this video has them; False (with a note if they could
        not be read) to transcribe it instead."""
        chosen = platforms.choose_captions(info, show.language, show.captions)
        if chosen is None:
            return False
        where, kind, source = chosen
        try:
            segments = platforms.read_captions(where, kind, Origin.of(show), self.settings)
        except (OSError, FonotecaError, ValueError, httpx.HTTPError, httpx.InvalidURL) as exc:
            self.events(Note(f"{episode.title}: captions not usable ({exc}); transcribing"))
            return False
        if not segments:
            self.events(Note(f"{episode.title}: its captions are empty; transcribing"))
            return False
        duration = float(info["duration"]) if isinstance(info.get("duration"), int | float) else None
        self._store_imported(episode, show, segments, source, language=info.get("language"), duration=duration)
        return True

    def _store_imported(
        self,
        episode: Episode,
        show: Show,
        segments: list[Segment],
        source: Source,
        *,
        language: str | None = None,
        duration: float | None = None,
    ) -> None:
        """An imported transcript replaces whatever the episode had; `language` and `duration` are what its source
        says."""
        text = " ".join(s.text for s in segments[:200])
        self.archive.replace_transcript(
            episode.id,
            segments,
            source=source,
            language=show.language or language or detect_text_language(text),
            duration=imported_duration(episode, max((s.end for s in segments), default=0.0), duration),
        )

    # -- media -------------------------------------------------------------------------------------------------------

    def _ensure_media(self, episode: Episode, show: Show, info: dict[str, Any] | None = None) -> Episode:
        """`info`: what yt-dlp already extracted for a platform episode, so its page is not read twice."""
        if has_media(episode):
            if trusted_media_file(episode, show, self.settings.media_dir) is not None:
                if episode.status == "new":
                    return _present(self.archive.set_status(episode.id, "downloaded"), episode.id)
                return episode
            if not episode.media_url:
                raise MediaError(
                    f"the media path {episode.media_path} stored for this episode is outside fonoteca's media folder "
                    "and the show's own folder; it is not read",
                    "an older fonoteca took it from the feed; if the file is yours, add it with `fonoteca add PATH`",
                )
            # A file outside this process's media folder is never read; one that can be downloaded again is, into this
            # folder (a worker with another FONOTECA_HOME on the same file system downloaded it into its own).
        media_path = str(self._fetch_media(episode, show, info))
        return _present(self.archive.mark_downloaded(episode.id, media_path), episode.id)

    def _fetch_media(self, episode: Episode, show: Show, info: dict[str, Any] | None = None) -> Path:
        if not episode.media_url:
            raise MediaError(f"episode {episode.id} has no media file or URL", "re-add the show or remove the episode")
        beat = [time.monotonic()]

        def progress(done: int, total: int | None) -> None:
            self.events(DownloadProgress(episode.id, episode.title, done, total))
            if time.monotonic() - beat[0] > 60:  # a long download commits nothing, yet its claim must stay alive
                beat[0] = time.monotonic()
                self.archive.heartbeat(episode.id)

        if show.source_kind == SourceKind.PLATFORM:  # yt-dlp picks the file (the audio alone) and names its extension
            stem = self.settings.media_dir / show.slug / episode.id
            return platforms.download_audio(episode.media_url, stem, self.settings, info=info, on_progress=progress)
        dest = download_dest(self.settings.media_dir, show, episode.id, episode.media_url)
        return download(episode.media_url, dest, self.settings, origin=Origin.of(show), on_progress=progress)
