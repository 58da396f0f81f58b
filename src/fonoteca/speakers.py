"""Who said it (`Speakers`, owned by the application object): the speaker step of what follows a new transcript, and
the owner's names, once per show.

The step (`find_pending`) finds the voices of each Whisper-transcribed episode that has its media (fonoteca.diarize),
splits its segments where the speaker changes (fonoteca.turns), labels each voice with the show's named speaker whose
voice print it matches (similarity ≥ MATCH_THRESHOLD, one name per voice) or with its number, and stores it all in one
commit per episode: killed half-way, it does that episode again from the start, never twice. Transcripts that came
with speakers (imports, a publisher's) keep their names, which join the show's library instead, each with a voice
print of their own turns in the episode's audio: at once where it is here, else (`print_imported_names`) from its
enclosure, downloaded once the show has voices to label, so the show's voices found before and after get the names.

Naming a voice (`name`), renaming a name, merging two voices and splitting a wrong turn change the labels of the
segments in one commit per episode; naming also labels the voices of the show's other episodes that match the new
print. Each then runs what follows any changed transcript (index, counts, vectors, watches)."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, NamedTuple

from fonoteca.archive import (
    Archive,
    Episode,
    EpisodeSpeaker,
    Show,
    ShowSpeaker,
    Source,
    SpeakerNaming,
    SpeakerTurn,
)
from fonoteca.errors import FonotecaError, MediaError, NotFound, SpeakerError
from fonoteca.events import EventSink, Note, SpeakersProgress
from fonoteca.settings import MAX_SPEAKER_COUNT, Settings
from fonoteca.text import fold
from fonoteca.turns import reassigned, speaking_seconds, split_at_turns

if TYPE_CHECKING:
    from fonoteca.diarize import Diarizer


@dataclass(frozen=True)
class ListedSpeaker:
    """A speaker as `fonoteca speakers` lists them: how long they speak, in how many episodes, and (for a voice of
    one episode) its number and how sure the match is."""

    label: str
    seconds: float
    episodes: int
    number: int | None = None
    naming: SpeakerNaming | None = None
    confidence: float | None = None


class Listing(NamedTuple):
    """What `fonoteca speakers [SHOW|EPISODE]` lists: a title, the speakers, and the show when one was listed."""

    title: str
    speakers: list[ListedSpeaker]
    show: Show | None = None


@dataclass(frozen=True)
class StepDone:
    """What one run of the speaker step did."""

    diarized: int = 0
    seeded: int = 0
    seconds: float = 0.0  # audio whose speakers were found
    wall: float = 0.0


class Speakers:
    """`diarizer`: the engine, made on first use; `after`: what follows a changed transcript; `show_times`: who speaks
    in a show (None: in every show), how long, in how many episodes (Fonoteca.speaking_time); `media_here`: an
    episode's media on this machine, downloaded when it is not (Fonoteca._media_here)."""

    def __init__(
        self,
        archive: Archive,
        settings: Settings,
        diarizer: Callable[[], Diarizer],
        events: EventSink,
        after: Callable[[], None],
        show_times: Callable[[str | None], list[tuple[str, float, int]]],
        media_here: Callable[[str], Path],
    ) -> None:
        self.media_here = media_here
        self.show_times = show_times
        self.archive = archive
        self.settings = settings
        self.diarizer = diarizer
        self.events = events
        self.after = after

    # -- the step of after_transcripts -----------------------------------------------------------------------------

    def find_pending(self) -> StepDone:
        """Find the speakers of every episode that waits for them, one commit each, and seed the shows' libraries
        with the names of transcripts that came with speakers. An episode that fails (its media unreadable) is a
        note, and the others go on; it is tried again at the next run."""
        started = time.monotonic()
        seeded = sum(self._seed(episode_id) for episode_id in self.archive.voices.to_seed())
        if not self.settings.speakers:
            return StepDone(seeded=seeded)
        pending = [(e, Path(m)) for e, m in self.archive.voices.to_diarize() if Path(m).is_file()]
        episodes = self.archive.episodes_by_ids(e for e, _ in pending)
        with_voices = self.archive.voices.shows_with_voices() | {e.show_id for e in episodes.values()}
        for show_id in sorted(self.archive.voices.shows_with_printless_names() & with_voices):
            self.print_imported_names(show_id)
        total = sum(episodes[e].duration or 0.0 for e, _ in pending if e in episodes)
        diarized = 0
        seconds = 0.0
        for episode_id, media in pending:
            episode = episodes.get(episode_id)
            if episode is None:
                continue
            length = episode.duration or 0.0

            def progress(at: float, *_: Any, base: float = seconds, length: float = length) -> None:
                self.events(SpeakersProgress(int(base + min(at, length)), int(max(total, 1))))

            try:
                if self.diarize(episode_id, media, on_progress=progress):
                    diarized += 1
            except FonotecaError as exc:
                self.events(Note(f"who speaks in {episode.title!r} is not found yet: {exc}"))
            seconds += length
        if pending:
            self.events(SpeakersProgress(int(max(total, 1)), int(max(total, 1))))
        return StepDone(diarized, seeded, seconds, time.monotonic() - started)

    def diarize(self, episode_id: str, media: Path, *, on_progress: Callable[..., None] | None = None) -> bool:
        """Find the voices of one episode and store them, its segments split and labelled, in one commit. False when
        its transcript changed meanwhile (it waits for the next run)."""
        episode = self.archive.get_episode(episode_id)
        segments = self.archive.segments(episode_id)
        try:
            count = self.speaker_count(episode.show_id)
            found = self.diarizer().diarize(media, speakers=count, on_progress=on_progress)
        except OSError as exc:
            raise MediaError(f"cannot read {media}: {exc.strerror or exc}", "check the media file") from exc
        turns = [SpeakerTurn(t.start, t.end, t.speaker) for t in found.turns]
        voices = [
            EpisodeSpeaker(episode_id, number, found.seconds.get(number, 0.0), found.voice_prints.get(number))
            for number in sorted({t.number for t in turns} | set(found.voice_prints))
        ]
        matches = self._matches(voices, self.archive.voices.library(episode.show_id))
        return self.archive.voices.save_diarization(
            episode_id,
            transcript_rev=episode.transcript_rev,
            turns=turns,
            voices=[_matched(v, matches.get(v.number)) for v in voices],
            segments=split_at_turns(segments, turns),
        )

    def speaker_count(self, show_id: int) -> int | None:
        """How many people the step finds in an episode of the show: this run's (`--speakers N`,
        FONOTECA_SPEAKER_COUNT), else the show's own (`fonoteca speakers count SHOW N`), else None (found by their
        voices)."""
        if self.settings.speaker_count is not None:
            return self.settings.speaker_count
        return self.archive.get_show(show_id).speaker_count

    def _seed(self, episode_id: str) -> int:
        """The names of an episode's transcript join its show's library; returns how many were new. Where the
        episode's audio is here, each name the library has no voice print of gets one from its own turns, and the
        show's voices found so far are labelled again, as after the owner names a voice."""
        episode = self.archive.get_episode(episode_id)
        here = Path(episode.media_path) if episode.media_path and Path(episode.media_path).is_file() else None
        printing = here is not None and self.settings.speakers
        # Read a page at a time, and only the names where no voice print is made: an imported file of a million
        # lines is not held whole.
        spans = _spans(self.archive.iter_segments(episode_id, words=False), times=printing)
        prints: dict[str, Any] = dict.fromkeys(spans)
        if here is not None and self.settings.speakers:
            printed = {fold(s.name) for s in self.archive.voices.library(episode.show_id) if s.voice_print is not None}
            prints.update(self._prints(episode, here, spans, {fold(name) for name in spans} - printed))
        added = self.archive.voices.seed(episode_id, prints)
        if any(voice_print is not None for voice_print in prints.values()):
            self.rematch_show(episode.show_id)
        return len(added)

    def print_imported_names(self, show_id: int) -> None:
        """Give the names the show's imported transcripts brought without a voice print (their audio was not here: a
        publisher's transcript, an import onto a feed's episode) one, from their own turns in such an episode, its
        enclosure downloaded for it (one episode at a time, until every name has one or no episode is left), and
        label the show's voices again with them. Only for a show that has voices to label. A download that fails is
        a note; it is tried again at the next run."""
        printless = self._printless(show_id)
        if not printless or not self.archive.get_show(show_id).speakers:
            return
        imported = {e.id: e for e in self.archive.list_episodes(show_id) if e.source not in (None, Source.TRANSCRIBED)}
        printed = False
        for episode_id, names in self.archive.speakers(show_id).items():
            wanted = printless & {fold(name) for name in names}
            if episode_id not in imported or not wanted:
                continue
            audio = self._audio(imported[episode_id])
            if audio is None:
                continue
            spans = _spans(self.archive.segments(episode_id, words=False))
            for name, voice_print in self._prints(imported[episode_id], audio, spans, wanted).items():
                if voice_print is not None:
                    self.archive.voices.give_print(show_id, name, voice_print)
                    printless.discard(fold(name))
                    printed = True
            if not printless:
                break
        if printed:
            self.rematch_show(show_id)

    def _printless(self, show_id: int) -> set[str]:
        """The folded names of the show's library that have no voice print."""
        return {fold(s.name) for s in self.archive.voices.library(show_id) if s.voice_print is None}

    def _prints(
        self, episode: Episode, audio: Path, spans: dict[str, list[tuple[float, float]]], wanted: set[str]
    ) -> dict[str, Any]:
        """{name: voice print of its turns in `audio`} for the episode's names whose folded form is `wanted` (the
        model's embedding of their own speech: no diarization is needed); a name whose turns cannot give one is a
        note."""
        prints: dict[str, Any] = {}
        for name, spoken in spans.items():
            if fold(name) not in wanted:
                continue
            try:
                prints[name] = self.diarizer().voice_print(audio, spoken)
            except (OSError, FonotecaError) as exc:
                self.events(Note(f"no voice print for {name!r} of {episode.title!r}: {exc}"))
        return prints

    def _audio(self, episode: Episode) -> Path | None:
        """The episode's audio on this machine, downloaded when it is not and it has an enclosure; None (with a note
        when a download failed) when it cannot be had."""
        if episode.media_path and Path(episode.media_path).is_file():
            return Path(episode.media_path)
        if not episode.media_url:
            return None
        try:
            return self.media_here(episode.id)
        except FonotecaError as exc:
            self.events(Note(f"the voices named in {episode.title!r} have no voice print yet: {exc}"))
            return None

    def _matches(
        self, voices: list[EpisodeSpeaker], library: list[ShowSpeaker], taken: set[int] | None = None
    ) -> dict[int, tuple[int, float]]:
        """{voice number: (show speaker id, similarity)}: each named print given to the voice most like it, best
        pairs first, only at MATCH_THRESHOLD or above, one voice per name (`taken`: names the owner gave here)."""
        from fonoteca.diarize import MATCH_THRESHOLD, similarity

        pairs = sorted(
            (
                (float(similarity(v.voice_print, s.voice_print)), v.number, s.id)
                for v in voices
                for s in library
                if v.voice_print is not None and s.voice_print is not None and s.id not in (taken or set())
            ),
            reverse=True,
        )
        matched: dict[int, tuple[int, float]] = {}
        used: set[int] = set()
        for score, number, show_speaker_id in pairs:
            if score < MATCH_THRESHOLD:
                break
            if number not in matched and show_speaker_id not in used:
                matched[number] = (show_speaker_id, round(score, 3))
                used.add(show_speaker_id)
        return matched

    def rematch_show(self, show_id: int) -> list[str]:
        """Label again the voices of every episode of the show that the owner did not name, against its library as
        it is now (a voice just named is found in the other episodes); one commit per episode. Returns the episodes
        whose labels changed."""
        library = self.archive.voices.library(show_id)
        by_episode: dict[str, list[EpisodeSpeaker]] = {}
        for voice in self.archive.voices.in_show(show_id):
            by_episode.setdefault(voice.episode_id, []).append(voice)
        changed = []
        for episode_id, voices in by_episode.items():
            owned = {v.show_speaker_id for v in voices if v.naming == SpeakerNaming.OWNER}
            free = [v for v in voices if v.naming != SpeakerNaming.OWNER]
            matches = self._matches(free, library, {i for i in owned if i is not None})
            wanted = {v.number: matches.get(v.number) for v in free}
            have = {v.number: (v.show_speaker_id, v.confidence) if v.show_speaker_id else None for v in free}
            if wanted != have and self.archive.voices.set_matches(episode_id, wanted):
                changed.append(episode_id)
        return changed

    # -- the owner's names -----------------------------------------------------------------------------------------

    def name(self, episode: str, number: int, name: str) -> EpisodeSpeaker:
        """Name the episode's speaker `number` (1-based, as the page and `fonoteca speakers EPISODE` show it); the
        show's other episodes whose voices match the name's print are labelled with it too."""
        found = self.archive.get_episode(episode)
        named = self.archive.voices.name(found.id, _number(number), name)
        self.rematch_show(found.show_id)
        self.after()
        return named

    def unname(self, episode: str, number: int) -> None:
        found = self.archive.get_episode(episode)
        self.archive.voices.unname(found.id, _number(number))
        self.rematch_show(found.show_id)
        self.after()

    def rename(self, show: str, old: str, new: str) -> tuple[ShowSpeaker, list[str]]:
        """Rename a speaker of the show (a name the show already has merges the two); every episode that says the
        old name is re-labelled."""
        found = self.archive.get_show(show)
        renamed, changed = self.archive.voices.rename(found.id, old, new)
        self.after()
        return renamed, changed

    def merge(self, episode: str, keep: int, other: int) -> None:
        """The episode's speaker `other` is speaker `keep` (both 1-based)."""
        found = self.archive.get_episode(episode)
        self.archive.voices.merge(found.id, _number(keep), _number(other))
        self.after()

    def split(self, episode: str, start: float, end: float | None = None, to: int | None = None) -> EpisodeSpeaker:
        """A wrong turn split: what is said from `start` (seconds) to `end` (default: where that turn ends) is given
        to speaker `to` (1-based; default: a new speaker, numbered after the others). A segment across `start` or
        `end` is split at the word there. Returns the speaker the span went to."""
        found = self.archive.get_episode(episode)
        turns = self.archive.voices.turns(found.id)
        voices = {v.number: v for v in self.archive.voices.found(found.id)}
        if not turns:
            raise NotFound(
                f"episode {found.id} has no speaker turns to split",
                "its speakers are found after it is transcribed (`fonoteca sync`)",
            )
        at = next((t for t in turns if t.start <= start < t.end), None)
        if end is None:
            if at is None:
                raise SpeakerError(f"nobody speaks at {start:.1f} s of episode {found.id}", "give a time inside a turn")
            end = at.end
        if not 0 <= start < end:
            raise SpeakerError(f"a split from {start:.1f} s to {end:.1f} s is empty", "give START before END")
        number = _number(to) if to is not None else max(voices, default=-1) + 1
        if to is not None and number not in voices:
            raise NotFound(f"episode {found.id} has no speaker {to}", "`fonoteca speakers EPISODE` lists them")
        new_turns = reassigned(turns, start, end, number)
        seconds = speaking_seconds(new_turns)
        new_voice = None
        if number not in voices:
            new_voice = EpisodeSpeaker(found.id, number, seconds.get(number, 0.0), self._print(found, [(start, end)]))
        changed = self.archive.voices.split(
            found.id, transcript_rev=found.transcript_rev, turns=new_turns, new_voice=new_voice,
            segments=split_at_turns(self.archive.segments(found.id), new_turns),
            seconds={n: seconds.get(n, 0.0) for n in voices},
        )  # fmt: skip
        if not changed:
            raise SpeakerError(f"episode {found.id} changed while it was being split", "run the command again")
        self.after()
        return next(v for v in self.archive.voices.found(found.id) if v.number == number)

    def _print(self, episode: Any, spans: list[tuple[float, float]]) -> Any:
        """The voice print of what is said in `spans` of the episode, or None without its media."""
        media = Path(episode.media_path) if episode.media_path else None
        if media is None or not media.is_file():
            return None
        return self.diarizer().voice_print(media, spans)

    def set_show(self, show: str, on: bool) -> Show:
        """Turn the speaker step on or off for a show (its episodes' speakers found so far stay)."""
        found = self.archive.get_show(show)
        self.archive.voices.set_show_speakers(found.id, on)
        return self.archive.get_show(found.id)

    def set_count(self, show: str, count: int | None) -> Show:
        """How many people speak in a show's episodes, for the step on its later ones (None: found by their voices);
        the speakers found so far stay."""
        if count is not None and not 1 <= count <= MAX_SPEAKER_COUNT:
            raise SpeakerError(f"{count} speakers", f"give a number from 1 to {MAX_SPEAKER_COUNT}, or auto")
        found = self.archive.get_show(show)
        self.archive.voices.set_show_speaker_count(found.id, count)
        return self.archive.get_show(found.id)

    # -- reading ---------------------------------------------------------------------------------------------------

    def who_speaks(self, target: str | None = None) -> Listing:
        """Who speaks in a show or an episode (by slug, id or title; default: the one show, or every show), how
        long and in how many episodes; for an episode, each voice's number and how it was named. Returns a title for
        what was listed, the speakers, the longest first, and the show when a show was listed (its settings)."""
        if target is None:
            return Listing("every show", [ListedSpeaker(*row) for row in self.show_times(None)])
        try:
            show = self.archive.get_show(target)
        except NotFound:
            episode = self.archive.get_episode(target)
        else:
            return Listing(show.title, [ListedSpeaker(*row) for row in self.show_times(show.slug)], show)
        rows = self.archive.speaking_time(episode.id)
        voices = {v.label: v for v in self.archive.voices.found(episode.id)}
        listed = []
        for label, seconds, count in rows:
            voice = voices.get(label)
            listed.append(
                ListedSpeaker(
                    label, seconds, count, voice.number + 1 if voice else None, voice.naming if voice else None,
                    voice.confidence if voice else None,
                )
            )  # fmt: skip
        return Listing(episode.title, listed)

    def voices(self, episode: str) -> list[EpisodeSpeaker]:
        """The voices found in an episode (the episode page's naming controls)."""
        return self.archive.voices.found(self.archive.get_episode(episode).id)


def _spans(segments: Iterable[Any], *, times: bool = True) -> dict[str, list[tuple[float, float]]]:
    """{name: (start, end) of each of its lines} of a transcript's named lines, in the order they first speak;
    `times=False`: the names alone (each with no span)."""
    spans: dict[str, list[tuple[float, float]]] = {}
    for segment in segments:
        if segment.speaker and segment.speaker.strip():
            found = spans.setdefault(" ".join(segment.speaker.split()), [])
            if times:
                found.append((segment.start, segment.end))
    return spans


def _number(shown: int) -> int:
    """A speaker's number as stored (0-based) from the one people see (1-based)."""
    if shown < 1:
        raise SpeakerError(f"there is no speaker {shown}", "speakers are numbered from 1, as they are listed")
    return shown - 1


def _matched(voice: EpisodeSpeaker, match: tuple[int, float] | None) -> EpisodeSpeaker:
    if match is None:
        return voice
    return EpisodeSpeaker(
        voice.episode_id, voice.number, voice.seconds, voice.voice_print, match[0], None, SpeakerNaming.MATCH, match[1]
    )
