"""Who speaks (`SpeakerStore`): a show's library of named speakers, the voices and turns the speaker step found in each
episode, and the labels its segments carry.

`segments.speaker` is what every reader sees: the voice's name once the owner named it or its voice print matched a
named one, else its number ("Speaker 2", fonoteca.archive.models.numbered_label). Every write here that changes who
says what re-labels the episode's segments in the same transaction and, when a label changed, makes it a new
transcript revision (fonoteca.archive.corrections.revise), so search, counts, trends and vectors follow it as they
follow a correction. A show speaker's voice print is the mean of the voices the owner named so, weighted by how long
each speaks (an imported transcript's print until the owner names one).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import replace
from typing import Any

import numpy as np
from sqlalchemy import Connection, and_, bindparam, delete, func, insert, select, update

from fonoteca.archive.corrections import revise, settle
from fonoteca.archive.database import Database
from fonoteca.archive.models import (
    EpisodeSpeaker,
    Segment,
    ShowSpeaker,
    Source,
    SpeakerNaming,
    SpeakerSource,
    SpeakerTurn,
    Status,
    numbered_label,
)
from fonoteca.archive.tables import (
    diarizations,
    episode_speakers,
    episodes,
    show_speakers,
    shows,
    speaker_turns,
    utc_now,
)
from fonoteca.archive.tables import segments as segments_table
from fonoteca.archive.transcripts import insert_segments
from fonoteca.errors import NotFound, SpeakerError
from fonoteca.text import fold
from fonoteca.turns import TurnIndex

MAX_NAME_CHARS = 100


def print_bytes(voice_print: Any) -> bytes | None:
    return None if voice_print is None else np.asarray(voice_print, dtype=np.float32).tobytes()


def _print(stored: bytes | None) -> np.ndarray | None:
    return None if stored is None else np.frombuffer(stored, dtype=np.float32)


def checked_name(name: str) -> str:
    """A speaker's name as stored, or the one line that says why it cannot be one."""
    name = " ".join(name.split())
    if not name:
        raise SpeakerError("an empty name", 'give the name the show calls them: "Midu"')
    if len(name) > MAX_NAME_CHARS:
        raise SpeakerError(f"a name of {len(name)} characters", f"a name has at most {MAX_NAME_CHARS}")
    return name


class SpeakerStore:
    def __init__(self, database: Database) -> None:
        self.database = database

    # -- what the speaker step has to do --------------------------------------------------------------------------

    def to_diarize(self) -> list[tuple[str, str]]:
        """(episode id, media path) of the Whisper-transcribed finished episodes with media whose speakers have not
        been found, in shows that did not turn the step off: oldest first."""
        rows = self.database.query(
            select(episodes.c.id, episodes.c.media_path)
            .join(shows, shows.c.id == episodes.c.show_id)
            .outerjoin(diarizations, diarizations.c.episode_id == episodes.c.id)
            .where(
                episodes.c.status == Status.DONE,
                episodes.c.source == Source.TRANSCRIBED,
                episodes.c.media_path.is_not(None),
                shows.c.speakers != 0,
                diarizations.c.episode_id.is_(None),
            )
            .order_by(episodes.c.published, episodes.c.id)
        )
        return [(r[0], r[1]) for r in rows]

    def to_seed(self) -> list[str]:
        """Finished episodes whose transcript arrived as it is (an import, a publisher's transcript, captions) that have
        not given the names of their speakers, if any, to the show's library yet (each is read once)."""
        rows = self.database.query(
            select(episodes.c.id)
            .outerjoin(diarizations, diarizations.c.episode_id == episodes.c.id)
            .where(
                episodes.c.status == Status.DONE,
                episodes.c.source != Source.TRANSCRIBED,
                diarizations.c.episode_id.is_(None),
            )
            .order_by(episodes.c.published, episodes.c.id)
        )
        return [r[0] for r in rows]

    def shows_with_voices(self) -> set[int]:
        """The shows in some episode of which the speaker step found voices (voices to label with names)."""
        rows = self.database.query(
            select(episodes.c.show_id).distinct().join(episode_speakers, episode_speakers.c.episode_id == episodes.c.id)
        )
        return {r[0] for r in rows}

    def shows_with_printless_names(self) -> set[int]:
        """The shows whose library has a name without a voice print (one an imported transcript brought)."""
        rows = self.database.query(
            select(show_speakers.c.show_id).distinct().where(show_speakers.c.voice_print.is_(None))
        )
        return {r[0] for r in rows}

    def give_print(self, show_id: int, name: str, voice_print: Any) -> None:
        """The voice print of a name of the show's library that has none yet (a print the owner's namings made
        stays)."""
        with self.database.transaction() as db:
            db.execute(
                update(show_speakers)
                .where(
                    show_speakers.c.show_id == show_id,
                    show_speakers.c.folded == fold(name.strip()),
                    show_speakers.c.voice_print.is_(None),
                )
                .values(voice_print=print_bytes(voice_print))
            )

    def set_show_speakers(self, show_id: int, on: bool) -> None:
        """Turn the speaker step on or off for a show's episodes."""
        with self.database.transaction() as db:
            db.execute(update(shows).where(shows.c.id == show_id).values(speakers=int(on)))

    def set_show_speaker_count(self, show_id: int, count: int | None) -> None:
        """How many people speak in the show's episodes (None: the step finds it from their voices)."""
        with self.database.transaction() as db:
            db.execute(update(shows).where(shows.c.id == show_id).values(speaker_count=count))

    # -- reading ---------------------------------------------------------------------------------------------------

    def library(self, show_id: int) -> list[ShowSpeaker]:
        """The show's named speakers, in the order they were named."""
        rows = self.database.query(
            select(show_speakers).where(show_speakers.c.show_id == show_id).order_by(show_speakers.c.id)
        )
        return [_show_speaker(r) for r in rows]

    def found(self, episode_id: str) -> list[EpisodeSpeaker]:
        """The voices found in the episode, by number, with the names they have."""
        return self._voices(episode_speakers.c.episode_id == episode_id)

    def in_show(self, show_id: int) -> list[EpisodeSpeaker]:
        """The voices found in every episode of the show."""
        in_show = episode_speakers.c.episode_id.in_(select(episodes.c.id).where(episodes.c.show_id == show_id))
        return self._voices(in_show)

    def _voices(self, condition: Any) -> list[EpisodeSpeaker]:
        rows = self.database.query(
            select(
                episode_speakers.c.episode_id,
                episode_speakers.c.number,
                episode_speakers.c.seconds,
                episode_speakers.c.voice_print,
                episode_speakers.c.show_speaker_id,
                show_speakers.c.name,
                episode_speakers.c.naming,
                episode_speakers.c.confidence,
            )  # fmt: skip
            .outerjoin(show_speakers, show_speakers.c.id == episode_speakers.c.show_speaker_id)
            .where(condition)
            .order_by(episode_speakers.c.episode_id, episode_speakers.c.number)
        )
        return [
            EpisodeSpeaker(r[0], r[1], r[2], _print(r[3]), r[4], r[5], SpeakerNaming(r[6]) if r[6] else None, r[7])
            for r in rows
        ]

    def turns(self, episode_id: str) -> list[SpeakerTurn]:
        rows = self.database.query(
            select(speaker_turns.c.start, speaker_turns.c.end, speaker_turns.c.number)
            .where(speaker_turns.c.episode_id == episode_id)
            .order_by(speaker_turns.c.idx)
        )
        return [SpeakerTurn(*r) for r in rows]

    # -- the speaker step's results --------------------------------------------------------------------------------

    def save_diarization(
        self,
        episode_id: str,
        *,
        transcript_rev: int,
        turns: Sequence[SpeakerTurn],
        voices: Sequence[EpisodeSpeaker],
        segments: Sequence[tuple[Segment, int | None]] | None,
    ) -> bool:
        """Store what the speaker step found in an episode, in one commit: its turns and voices (replacing any it
        had), its segments as split at the changes of speaker (None: they stay as they are), the labels, and that the
        step is done. Returns False, changing nothing, when the transcript moved on since `transcript_rev` was read
        (a correction, a re-transcription): the step's work is of a transcript that is no longer there."""
        with self.database.transaction() as db:
            rev = db.scalar(select(episodes.c.transcript_rev).where(episodes.c.id == episode_id).with_for_update())
            if rev != transcript_rev:
                return False
            db.execute(delete(speaker_turns).where(speaker_turns.c.episode_id == episode_id))
            db.execute(delete(episode_speakers).where(episode_speakers.c.episode_id == episode_id))
            _insert_turns(db, episode_id, turns)
            if voices:
                db.execute(insert(episode_speakers), [_voice_row(episode_id, v) for v in voices])
            db.execute(delete(diarizations).where(diarizations.c.episode_id == episode_id))
            db.execute(insert(diarizations).values(episode_id=episode_id, speakers=len(voices)))
            if segments is not None:
                _replace_segments(db, episode_id, [s for s, _ in segments])
            _relabel(db, episode_id, force=segments is not None)
        return True

    def seed(self, episode_id: str, names: Mapping[str, Any]) -> list[ShowSpeaker]:
        """The names an imported transcript gave its speakers join its show's library (with the voice print of each
        where the episode had media to take it from; None where not), and the episode is marked as read for them.
        A name the library has keeps its print unless it had none. Returns the speakers added."""
        added = []
        with self.database.transaction() as db:
            show_id = db.scalar(select(episodes.c.show_id).where(episodes.c.id == episode_id))
            if show_id is None:
                return []
            for name, voice_print in names.items():
                found = _find(db, show_id, name)
                if found is None:
                    added.append(_add_show_speaker(db, show_id, name, SpeakerSource.IMPORTED, voice_print))
                elif found.voice_print is None and voice_print is not None:
                    db.execute(
                        update(show_speakers)
                        .where(show_speakers.c.id == found.id)
                        .values(voice_print=print_bytes(voice_print))
                    )
            db.execute(delete(diarizations).where(diarizations.c.episode_id == episode_id))
            db.execute(insert(diarizations).values(episode_id=episode_id, speakers=len(names)))
        return added

    def set_matches(self, episode_id: str, matches: Mapping[int, tuple[int, float] | None]) -> int:
        """Label the episode's voices that were not named by the owner: {number: (show speaker id, confidence), or
        None to leave it numbered}. Returns how many segments changed label."""
        with self.database.transaction() as db:
            for number, match in matches.items():
                show_speaker_id, confidence = match if match is not None else (None, None)
                db.execute(
                    update(episode_speakers)
                    .where(
                        episode_speakers.c.episode_id == episode_id,
                        episode_speakers.c.number == number,
                        func.coalesce(episode_speakers.c.naming, "") != SpeakerNaming.OWNER,
                    )
                    .values(
                        show_speaker_id=show_speaker_id,
                        naming=SpeakerNaming.MATCH if match is not None else None,
                        confidence=confidence,
                    )
                )
            return _relabel(db, episode_id)

    # -- the owner's changes ---------------------------------------------------------------------------------------

    def name(self, episode_id: str, number: int, name: str) -> EpisodeSpeaker:
        """Name the episode's voice `number`: the name joins the show's library (or is found there), this voice's
        print joins its print, and the episode is re-labelled. Naming a second voice of the episode with a name one
        already has merges the two (the owner says they are one person)."""
        name = checked_name(name)
        with self.database.transaction() as db:
            show_id, voice = _voice(db, episode_id, number)
            found = _find(db, show_id, name)
            show_speaker_id = (
                found.id
                if found is not None
                else _add_show_speaker(db, show_id, name, SpeakerSource.OWNER, _print(voice.voice_print)).id
            )
            for other in db.execute(
                select(episode_speakers.c.number).where(
                    episode_speakers.c.episode_id == episode_id,
                    episode_speakers.c.show_speaker_id == show_speaker_id,
                    episode_speakers.c.number != number,
                )
            ).scalars():
                _merge(db, episode_id, number, other)
            db.execute(
                _voice_update(episode_id, number).values(
                    show_speaker_id=show_speaker_id, naming=SpeakerNaming.OWNER, confidence=None
                )
            )
            _refresh_print(db, show_speaker_id)
            _relabel(db, episode_id)
        return next(v for v in self.found(episode_id) if v.number == number)

    def unname(self, episode_id: str, number: int) -> None:
        """The episode's voice `number` numbered again (the owner's name was wrong); the name stays in the library."""
        with self.database.transaction() as db:
            _show_id, voice = _voice(db, episode_id, number)
            db.execute(_voice_update(episode_id, number).values(show_speaker_id=None, naming=None, confidence=None))
            if voice.show_speaker_id is not None:
                _refresh_print(db, voice.show_speaker_id)
            _relabel(db, episode_id)

    def merge(self, episode_id: str, keep: int, other: int) -> None:
        """Voice `other` of the episode is voice `keep`: its turns become `keep`'s, its seconds and print join."""
        if keep == other:
            raise SpeakerError(f"speaker {keep + 1} cannot be merged with itself", "name two different speakers")
        with self.database.transaction() as db:
            _voice(db, episode_id, keep)
            _voice(db, episode_id, other)
            _merge(db, episode_id, keep, other)
            show_speaker_id = db.scalar(
                select(episode_speakers.c.show_speaker_id).where(
                    episode_speakers.c.episode_id == episode_id, episode_speakers.c.number == keep
                )
            )
            if show_speaker_id is not None:
                _refresh_print(db, show_speaker_id)
            _relabel(db, episode_id)

    def rename(self, show_id: int, old: str, new: str) -> tuple[ShowSpeaker, list[str]]:
        """Rename a speaker of the show's library; a name the library already has merges the two. Every episode
        that says the old name is re-labelled (one commit each): the voices found, and the imported transcripts
        that carry the name as they came. Returns the speaker and the episodes re-labelled."""
        new = checked_name(new)
        with self.database.transaction() as db:
            speaker = _find(db, show_id, old)
            if speaker is None:
                raise NotFound(f"the show has no speaker named {old!r}", "`fonoteca speakers SHOW` lists them")
            target = _find(db, show_id, new)
            if target is not None and target.id != speaker.id:
                db.execute(
                    update(episode_speakers)
                    .where(episode_speakers.c.show_speaker_id == speaker.id)
                    .values(show_speaker_id=target.id)
                )
                db.execute(delete(show_speakers).where(show_speakers.c.id == speaker.id))
                _refresh_print(db, target.id)
            else:
                db.execute(
                    update(show_speakers).where(show_speakers.c.id == speaker.id).values(name=new, folded=fold(new))
                )
                target = replace(speaker, name=new)
        episode_ids = [
            r[0]
            for r in self.database.query(
                select(func.distinct(segments_table.c.episode_id))
                .join(episodes, episodes.c.id == segments_table.c.episode_id)
                .where(episodes.c.show_id == show_id, segments_table.c.speaker == speaker.name)
            )
        ]
        changed = []
        for episode_id in episode_ids:
            with self.database.transaction() as db:
                has_turns = db.scalar(select(func.count()).where(speaker_turns.c.episode_id == episode_id))
                if has_turns:
                    moved = _relabel(db, episode_id)
                else:  # an imported transcript's own labels
                    moved = db.execute(
                        update(segments_table)
                        .where(segments_table.c.episode_id == episode_id, segments_table.c.speaker == speaker.name)
                        .values(speaker=target.name)
                    ).rowcount
                    if moved:
                        revise(db, episode_id)
                if moved:
                    changed.append(episode_id)
        renamed = next(s for s in self.library(show_id) if s.id == target.id)
        return renamed, changed

    def split(
        self,
        episode_id: str,
        *,
        transcript_rev: int,
        turns: Sequence[SpeakerTurn],
        new_voice: EpisodeSpeaker | None,
        segments: Sequence[tuple[Segment, int | None]],
        seconds: Mapping[int, float],
    ) -> bool:
        """The owner's split of a wrong turn: the episode's new turns, a new voice if the span went to one, its
        segments split again at the changes; every voice's seconds as the turns now say. False if the transcript
        moved on since it was read."""
        with self.database.transaction() as db:
            rev = db.scalar(select(episodes.c.transcript_rev).where(episodes.c.id == episode_id).with_for_update())
            if rev != transcript_rev:
                return False
            db.execute(delete(speaker_turns).where(speaker_turns.c.episode_id == episode_id))
            _insert_turns(db, episode_id, turns)
            if new_voice is not None:
                db.execute(insert(episode_speakers).values(_voice_row(episode_id, new_voice)))
            for number, spoken in seconds.items():
                db.execute(_voice_update(episode_id, number).values(seconds=spoken))
            _replace_segments(db, episode_id, [s for s, _ in segments])
            _relabel(db, episode_id, force=True)
        return True


def _show_speaker(row: Any) -> ShowSpeaker:
    return ShowSpeaker(
        row.id, row.show_id, row.name, SpeakerSource(row.source), _print(row.voice_print), row.created_at
    )


def _find(db: Connection, show_id: int, name: str) -> ShowSpeaker | None:
    row = db.execute(
        select(show_speakers).where(show_speakers.c.show_id == show_id, show_speakers.c.folded == fold(name.strip()))
    ).first()
    return _show_speaker(row) if row is not None else None


def _add_show_speaker(db: Connection, show_id: int, name: str, source: SpeakerSource, voice_print: Any) -> ShowSpeaker:
    row = db.execute(
        insert(show_speakers)
        .values(show_id=show_id, name=name, folded=fold(name), source=source, voice_print=print_bytes(voice_print))
        .returning(*show_speakers.c)
    ).one()
    return _show_speaker(row)


def _voice(db: Connection, episode_id: str, number: int) -> tuple[int, Any]:
    """(the episode's show id, its voice `number`'s row), or NotFound that says which numbers it has."""
    show_id = db.scalar(select(episodes.c.show_id).where(episodes.c.id == episode_id))
    row = db.execute(
        select(episode_speakers).where(episode_speakers.c.episode_id == episode_id, episode_speakers.c.number == number)
    ).first()
    if show_id is None or row is None:
        have = db.execute(
            select(episode_speakers.c.number)
            .where(episode_speakers.c.episode_id == episode_id)
            .order_by(episode_speakers.c.number)
        ).scalars()
        numbers = ", ".join(str(n + 1) for n in have) or "none: its speakers have not been found"
        raise NotFound(f"episode {episode_id} has no speaker {number + 1}", f"its speakers are {numbers}")
    return show_id, row


def _voice_update(episode_id: str, number: int) -> Any:
    return update(episode_speakers).where(
        episode_speakers.c.episode_id == episode_id, episode_speakers.c.number == number
    )


def _voice_row(episode_id: str, voice: EpisodeSpeaker) -> dict[str, Any]:
    return {
        "episode_id": episode_id, "number": voice.number, "seconds": voice.seconds,
        "voice_print": print_bytes(voice.voice_print), "show_speaker_id": voice.show_speaker_id,
        "naming": voice.naming, "confidence": voice.confidence,
    }  # fmt: skip


def _insert_turns(db: Connection, episode_id: str, turns: Sequence[SpeakerTurn]) -> None:
    if turns:
        db.execute(
            insert(speaker_turns),
            [
                {"episode_id": episode_id, "idx": i, "start": t.start, "end": t.end, "number": t.number}
                for i, t in enumerate(sorted(turns, key=lambda t: (t.start, t.end)))
            ],
        )


def _merge(db: Connection, episode_id: str, keep: int, other: int) -> None:
    """Voice `other`'s turns, seconds and print become voice `keep`'s; `other` is gone."""
    rows = {
        r.number: r
        for r in db.execute(
            select(episode_speakers).where(
                episode_speakers.c.episode_id == episode_id, episode_speakers.c.number.in_([keep, other])
            )
        )
    }
    merged = _mean([(_print(rows[n].voice_print), rows[n].seconds) for n in (keep, other)])
    db.execute(
        update(speaker_turns)
        .where(speaker_turns.c.episode_id == episode_id, speaker_turns.c.number == other)
        .values(number=keep)
    )
    db.execute(
        _voice_update(episode_id, keep).values(
            seconds=rows[keep].seconds + rows[other].seconds, voice_print=print_bytes(merged)
        )
    )
    db.execute(
        delete(episode_speakers).where(episode_speakers.c.episode_id == episode_id, episode_speakers.c.number == other)
    )


def _mean(prints: Sequence[tuple[np.ndarray | None, float]]) -> np.ndarray | None:
    """The mean of voice prints weighted by seconds spoken, L2-normalised (None when none has a print)."""
    have = [(p, max(s, 1e-3)) for p, s in prints if p is not None]
    if not have:
        return None
    total = np.sum([p * s for p, s in have], axis=0)
    norm = float(np.linalg.norm(total))
    return (total / norm).astype(np.float32) if norm > 0 else None


def _refresh_print(db: Connection, show_speaker_id: int) -> None:
    """The show speaker's print: the mean of the voices the owner named so (kept as it is when there are none)."""
    named = db.execute(
        select(episode_speakers.c.voice_print, episode_speakers.c.seconds).where(
            episode_speakers.c.show_speaker_id == show_speaker_id, episode_speakers.c.naming == SpeakerNaming.OWNER
        )
    ).all()
    mean = _mean([(_print(r[0]), r[1]) for r in named])
    if mean is not None:
        db.execute(
            update(show_speakers).where(show_speakers.c.id == show_speaker_id).values(voice_print=print_bytes(mean))
        )


def _replace_segments(db: Connection, episode_id: str, segments: Sequence[Segment]) -> None:
    """The episode's segments as split at the changes of speaker, renumbered; the show's rules and the owner's
    edits settled on them again (an edit moves to the line now at its time)."""
    db.execute(delete(segments_table).where(segments_table.c.episode_id == episode_id))
    insert_segments(db, episode_id, segments, first_idx=0)
    settle(db, episode_id, reanchor=True)


def _relabel(db: Connection, episode_id: str, *, force: bool = False) -> int:
    """Give each segment of the episode the label of the voice whose turns cover it most; when any label changed
    (or `force`: the segments were just replaced), the episode's transcript is a new revision. Returns how many
    segments changed label."""
    turns = [
        SpeakerTurn(*r)
        for r in db.execute(
            select(speaker_turns.c.start, speaker_turns.c.end, speaker_turns.c.number).where(
                speaker_turns.c.episode_id == episode_id
            )
        )
    ]
    labels = {
        r[0]: r[1] or numbered_label(r[0])
        for r in db.execute(
            select(episode_speakers.c.number, show_speakers.c.name)
            .outerjoin(show_speakers, show_speakers.c.id == episode_speakers.c.show_speaker_id)
            .where(episode_speakers.c.episode_id == episode_id)
        )
    }
    index = TurnIndex(turns)
    changes = []
    for idx, start, end, speaker in db.execute(
        select(segments_table.c.idx, segments_table.c.start, segments_table.c.end, segments_table.c.speaker).where(
            segments_table.c.episode_id == episode_id
        )
    ):
        number = index.speaker_of(start, end)
        label = labels.get(number) if number is not None else None
        if label != speaker:
            changes.append({"b_idx": idx, "b_speaker": label})
    if changes:
        db.execute(
            update(segments_table)
            .where(and_(segments_table.c.episode_id == episode_id, segments_table.c.idx == bindparam("b_idx")))
            .values(speaker=bindparam("b_speaker")),
            changes,
        )
    if changes or force:
        revise(db, episode_id, **({"transcript_at": utc_now()} if force else {}))
    return len(changes)
