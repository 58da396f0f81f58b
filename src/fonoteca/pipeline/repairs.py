"""Repairs: which episodes `retry` works on, failed ones back to pending (and failed again with their old reason when
the retry stops on an error that is not theirs), and a finished episode transcribed again from the start."""

from __future__ import annotations

from fonoteca.archive import Archive, Episode
from fonoteca.errors import ConfigError, FonotecaError, MediaError
from fonoteca.events import EpisodeFailed, EventSink, SyncFinished, SyncStarted
from fonoteca.pipeline.episodes import EpisodeWork, claimed, has_media
from fonoteca.pipeline.report import SyncReport, is_fatal

# For each episode put back to pending: its old error, and the status it was given.
Reset = dict[str, tuple[str | None, str]]


class Repairs:
    def __init__(self, archive: Archive, work: EpisodeWork, events: EventSink) -> None:
        self.archive = archive
        self.work = work
        self.events = events

    def targets(self, episode_id: str | None = None, *, force: bool = False) -> list[Episode]:
        """The episodes `retry` works on: every failed one, or the one named. A finished one is refused unless
        `force`d (then it is the one returned, still done); a text post is never transcribed again."""
        if force and not episode_id:
            raise ConfigError(
                "--force needs an episode id", "give the id of the one finished episode to transcribe again"
            )
        if not episode_id:
            return self.archive.list_episodes(status="failed")
        episode = self.archive.get_episode(episode_id)
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

    def reset_failed(self, targets: list[Episode]) -> Reset:
        """The failed ones of `targets` back to pending: 'downloaded' when their media is still here, else 'new'."""
        reset: Reset = {}
        for episode in targets:
            if episode.status == "failed":
                status = "downloaded" if has_media(episode) else "new"
                self.archive.set_status(episode.id, status)
                reset[episode.id] = (episode.error, status)
        return reset

    def fail_again(self, reset: Reset) -> None:
        """The episodes a stopped retry did not reach (still at the status they were given) failed again, with their
        old reason."""
        for ref, (error, status) in reset.items():
            if self.archive.get_episode(ref).status == status:
                self.archive.set_status(ref, "failed", error)

    def retranscribe(self, episode: Episode) -> SyncReport:
        """Whisper over a finished episode again, here and now; if it fails, the episode keeps its old transcript and
        stays done. EpisodeBusy when another process holds it."""
        report = SyncReport()
        with claimed(self.archive, episode.id) as current:
            show = self.archive.get_show(current.show_id)
            self.events(SyncStarted({current.id: current.duration or 0.0}))
            try:
                done = self.work.retranscribe(current, show)
                report.transcribed += 1
                report.audio_seconds += done.duration or 0.0
            except FonotecaError as exc:
                if not isinstance(exc, MediaError) and is_fatal(exc):
                    raise
                report.failed.append((current, str(exc)))
                self.events(EpisodeFailed(current.id, current.title, str(exc)))
            finally:
                self.events(SyncFinished())
        return report
