"""A show's own words (`CorrectionStore`): its vocabulary (hints for Whisper), its correction rules, and the lines fixed
by hand with their history; and settling the lines of an episode from their words as transcribed.

A line's `text` is what search, counts, trends, vectors and watches read; `said` keeps the words as transcribed once a
rule or an edit changed them. Settling an episode (fonoteca.rules.settled: an edit wins, else the show's rules in
order) rewrites only the lines whose text changes, and then moves the episode's transcript_rev (and forgets its
vectors) as any changed transcript does, so everything that follows transcripts follows it.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Connection, and_, bindparam, delete, insert, select, update

from fonoteca.archive.database import Database
from fonoteca.archive.episodes import episode_update, finished_changed
from fonoteca.archive.models import Status
from fonoteca.archive.tables import corrections, episodes, line_edits, utc_now, vocabulary
from fonoteca.archive.tables import segments as segments_table
from fonoteca.archive.vectors import forget_vectors
from fonoteca.errors import NotFound
from fonoteca.rules import Rule, settled
from fonoteca.text import fold


@dataclass(frozen=True)
class LineEdit:
    """A line fixed by hand: who changed it when, from what to what; `reverted_at` once undone."""

    id: int
    episode_id: str
    idx: int
    start: float
    end: float
    before: str
    after: str
    editor: str
    edited_at: str
    reverted_at: str | None = None
    reverted_by: str | None = None

    @property
    def active(self) -> bool:
        return self.reverted_at is None


@dataclass(frozen=True)
class ShowLine:
    """One line of a show, as a rule's preview reads it."""

    episode_id: str
    episode_title: str
    idx: int
    start: float
    text: str
    said: str  # the words as transcribed (the text itself when nothing changed it)
    edited: str | None  # the active hand edit's text, which no rule changes


class CorrectionStore:
    def __init__(self, database: Database) -> None:
        self.database = database

    # -- vocabulary ------------------------------------------------------------------------------------------------

    def add_terms(self, show_id: int, terms: Iterable[str]) -> list[str]:
        """Add the terms the show does not have yet (case and accents folded); returns those added."""
        added: list[str] = []
        with self.database.transaction() as db:
            have = set(db.scalars(select(vocabulary.c.folded).where(vocabulary.c.show_id == show_id)))
            for term in terms:
                key = fold(term.strip())
                if key and key not in have:
                    db.execute(insert(vocabulary).values(show_id=show_id, term=term.strip(), folded=key))
                    have.add(key)
                    added.append(term.strip())
        return added

    def remove_terms(self, show_id: int, terms: Iterable[str]) -> list[str]:
        """Remove the terms (case and accents folded); returns those the show had."""
        keys = {fold(t.strip()) for t in terms}
        with self.database.transaction() as db:
            rows = db.execute(
                delete(vocabulary)
                .where(vocabulary.c.show_id == show_id, vocabulary.c.folded.in_(keys))
                .returning(vocabulary.c.term)
            ).all()
        return [r[0] for r in rows]

    def terms(self, show_id: int) -> list[str]:
        """The show's vocabulary in the order it was added."""
        statement = (
            select(vocabulary.c.term)
            .where(vocabulary.c.show_id == show_id)
            .order_by(vocabulary.c.added_at, vocabulary.c.term)
        )
        return [r[0] for r in self.database.query(statement)]

    # -- rules -----------------------------------------------------------------------------------------------------

    def rules(self, show_id: int) -> list[Rule]:
        """The show's correction rules, in the order they apply (the order they were added)."""
        statement = (
            select(corrections.c.wrong, corrections.c.right, corrections.c.id, corrections.c.created_at)
            .where(corrections.c.show_id == show_id)
            .order_by(corrections.c.id)
        )
        return [Rule(*r) for r in self.database.query(statement)]

    def add_rules(self, show_id: int, rules: Sequence[Rule]) -> tuple[list[Rule], int]:
        """Add the rules (a rule for a mistake the show already has a rule for replaces it) and settle every episode
        of the show; returns the rules as stored and how many lines changed."""
        with self.database.transaction() as db:
            for rule in rules:
                key = fold(rule.wrong.strip())
                db.execute(delete(corrections).where(corrections.c.show_id == show_id, corrections.c.folded == key))
                db.execute(insert(corrections).values(show_id=show_id, wrong=rule.wrong, right=rule.right, folded=key))
        changed = self.settle_show(show_id)
        added = {fold(x.wrong.strip()) for x in rules}
        return [r for r in self.rules(show_id) if fold(r.wrong.strip()) in added], changed

    def remove_rule(self, show_id: int, ref: str) -> tuple[Rule, int]:
        """Remove a rule, by its id or its mistake, and settle the show's episodes again (its changes undone); returns
        the rule and how many lines changed back."""
        key = fold(ref.strip())
        match = next((r for r in self.rules(show_id) if str(r.id) == ref.strip() or fold(r.wrong) == key), None)
        if match is None:
            raise NotFound(f"no correction rule {ref!r} in this show", "`fonoteca corrections list SHOW` lists them")
        with self.database.transaction() as db:
            db.execute(delete(corrections).where(corrections.c.id == match.id))
        return match, self.settle_show(show_id)

    def show_lines(self, show_id: int) -> list[ShowLine]:
        """Every line of the show's finished episodes, with its words as transcribed and its active edit."""
        edited = {
            (r.episode_id, r.idx): r.after
            for r in self.database.query(
                select(line_edits.c.episode_id, line_edits.c.idx, line_edits.c.after)
                .join(episodes, episodes.c.id == line_edits.c.episode_id)
                .where(episodes.c.show_id == show_id, line_edits.c.reverted_at.is_(None))
            )
        }
        rows = self.database.query(
            select(
                segments_table.c.episode_id, episodes.c.title, segments_table.c.idx, segments_table.c.start,
                segments_table.c.text, segments_table.c.said,
            )
            .join(episodes, episodes.c.id == segments_table.c.episode_id)
            .where(episodes.c.show_id == show_id, episodes.c.status == Status.DONE)
            .order_by(episodes.c.published, episodes.c.id, segments_table.c.idx)
        )  # fmt: skip
        return [
            ShowLine(r[0], r[1], r[2], r[3], r[4], r[5] if r[5] is not None else r[4], edited.get((r[0], r[2])))
            for r in rows
        ]

    def settle_show(self, show_id: int) -> int:
        """Settle every episode of the show, one transaction each; returns how many lines changed."""
        ids = [r[0] for r in self.database.query(select(episodes.c.id).where(episodes.c.show_id == show_id))]
        changed = 0
        for episode_id in ids:
            with self.database.transaction() as db:
                changed += settle(db, episode_id)
        return changed

    # -- lines fixed by hand ---------------------------------------------------------------------------------------

    def edit_line(self, episode_id: str, idx: int, text: str, editor: str) -> LineEdit:
        """Fix one line by hand: the edit is kept with its before and after, and wins over the show's rules and over
        a re-transcription until it is reverted."""
        with self.database.transaction() as db:
            row = db.execute(
                select(segments_table.c.start, segments_table.c.end, segments_table.c.text).where(
                    segments_table.c.episode_id == episode_id, segments_table.c.idx == idx
                )
            ).first()
            if row is None:
                raise NotFound(f"episode {episode_id} has no line {idx}", "reload the page: the transcript changed")
            _revert_active(db, episode_id, idx, editor)  # the line's earlier edit stays as history
            edit_id = db.scalar(
                insert(line_edits)
                .values(
                    episode_id=episode_id, idx=idx, start=row[0], end=row[1], before=row[2], after=text, editor=editor
                )  # fmt: skip
                .returning(line_edits.c.id)
            )
            settle(db, episode_id)
        return self.edit(edit_id)

    def revert_edit(self, edit_id: int, editor: str) -> LineEdit:
        """Undo an edit: the line goes back to what the words as transcribed and the show's rules make of it."""
        edit = self.edit(edit_id)
        with self.database.transaction() as db:
            if edit.active:
                _revert_active(db, edit.episode_id, edit.idx, editor)
                settle(db, edit.episode_id)
        return self.edit(edit_id)

    def edit(self, edit_id: int) -> LineEdit:
        rows = self.database.query(select(line_edits).where(line_edits.c.id == edit_id))
        if not rows:
            raise NotFound(
                f"no line edit {edit_id}", "the episode page and `fonoteca corrections history EPISODE` list its edits"
            )
        return LineEdit(**rows[0]._mapping)

    def edits(self, episode_id: str) -> list[LineEdit]:
        """The episode's edits, newest first, reverted ones included."""
        rows = self.database.query(
            select(line_edits).where(line_edits.c.episode_id == episode_id).order_by(line_edits.c.id.desc())
        )
        return [LineEdit(**r._mapping) for r in rows]


def _revert_active(db: Connection, episode_id: str, idx: int, editor: str) -> None:
    db.execute(
        update(line_edits)
        .where(line_edits.c.episode_id == episode_id, line_edits.c.idx == idx, line_edits.c.reverted_at.is_(None))
        .values(reverted_at=utc_now(), reverted_by=editor)
    )


def settle(db: Connection, episode_id: str, *, from_idx: int = 0, reanchor: bool = False) -> int:
    """Settle the episode's lines from `from_idx` on (fonoteca.rules.settled), inside the caller's transaction:
    rewrite those whose text changes and, when any did, move the episode's transcript_rev as a changed transcript does.
    `reanchor`: the segments were just replaced (a re-transcription), so each active edit moves first to the new line
    that overlaps its old one most. Returns how many lines changed."""
    show_id = db.scalar(select(episodes.c.show_id).where(episodes.c.id == episode_id))
    if show_id is None:
        return 0
    rules = [
        Rule(r[0], r[1])
        for r in db.execute(
            select(corrections.c.wrong, corrections.c.right)
            .where(corrections.c.show_id == show_id)
            .order_by(corrections.c.id)
        )
    ]
    active = db.execute(
        select(line_edits.c.id, line_edits.c.idx, line_edits.c.start, line_edits.c.end, line_edits.c.after).where(
            line_edits.c.episode_id == episode_id, line_edits.c.reverted_at.is_(None)
        )
    ).all()
    moved = _reanchored(db, episode_id, active, from_idx) if reanchor and active else active
    edited = {edit.idx: edit.after for edit in moved}
    changed = 0
    for lines in _pages(db, episode_id, from_idx):
        changes: list[dict[str, Any]] = []
        for idx, _start, _end, text, said in lines:
            words_said = said if said is not None else text
            new = settled(words_said, rules, edited.get(idx))
            new_said = words_said if new != words_said else None
            if new != text or new_said != said:
                changes.append({"b_idx": idx, "b_text": new, "b_said": new_said})
        if changes:
            db.execute(
                update(segments_table)
                .where(and_(segments_table.c.episode_id == episode_id, segments_table.c.idx == bindparam("b_idx")))
                .values(text=bindparam("b_text"), said=bindparam("b_said")),
                changes,
            )
            changed += len(changes)
    if changed:
        revise(db, episode_id)
    return changed


_SETTLE_PAGE = 10_000  # lines read at a time: a transcript of a million lines is settled without holding them all


def _pages(db: Connection, episode_id: str, from_idx: int) -> Iterator[Sequence[Any]]:
    """The episode's lines from `from_idx` on, in order, _SETTLE_PAGE at a time."""
    first = from_idx
    while lines := db.execute(
        select(
            segments_table.c.idx,
            segments_table.c.start,
            segments_table.c.end,
            segments_table.c.text,
            segments_table.c.said,
        )  # fmt: skip
        .where(segments_table.c.episode_id == episode_id, segments_table.c.idx >= first)
        .order_by(segments_table.c.idx)
        .limit(_SETTLE_PAGE)
    ).all():
        yield lines
        first = lines[-1].idx + 1


def revise(db: Connection, episode_id: str, **values: Any) -> None:
    """Make what the episode's lines now say a new transcript revision, inside the caller's transaction: its
    transcript_rev moves (search, counts, trends and watches follow it), its vectors are forgotten. `values`: more
    of the episode's columns to set at once."""
    status = db.scalar(
        episode_update(episode_id)
        .values(transcript_rev=episodes.c.transcript_rev + 1, **values)
        .returning(episodes.c.status)
    )
    if status == Status.DONE:
        finished_changed(db)
    forget_vectors(db, episode_id)


def _reanchored(db: Connection, episode_id: str, active: Sequence[Any], from_idx: int) -> list[_ActiveEdit]:
    """Each edit moved to the new line that overlaps its old line's time most (the nearest start when none does),
    the lines read a page at a time."""
    best: dict[int, tuple[tuple[float, float], int]] = {}  # edit id: (how well the line fits, the line's idx)
    for lines in _pages(db, episode_id, from_idx):
        for edit in active:
            for line in lines:
                fit = (min(line.end, edit.end) - max(line.start, edit.start), -abs(line.start - edit.start))
                if edit.id not in best or fit > best[edit.id][0]:
                    best[edit.id] = (fit, line.idx)
    moved = []
    for edit in active:
        idx = best[edit.id][1] if edit.id in best else edit.idx
        if idx != edit.idx:
            db.execute(update(line_edits).where(line_edits.c.id == edit.id).values(idx=idx))
        moved.append(_ActiveEdit(idx, edit.after))
    return moved


@dataclass(frozen=True)
class _ActiveEdit:
    idx: int
    after: str
