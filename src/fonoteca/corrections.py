"""Getting a show's words right (`Corrections`, owned by the application object): its vocabulary, told to Whisper
before it transcribes; its correction rules, previewed and then applied as a new transcript revision; lines fixed by
hand from the episode page, with their history; and the words Whisper was least sure of.

Applying or removing a rule, or editing a line, changes the transcript as a re-transcription would (its
transcript_rev moves, its vectors are forgotten) and then runs what follows any changed transcript
(pipeline.after.after_transcripts: index, word counts, vectors, watched words). The words as transcribed are kept
(fonoteca.archive.corrections), so removing a rule or reverting an edit restores the lines exactly, and a
re-transcription gets the rules and the edits again.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path

from fonoteca.archive import Archive, Show
from fonoteca.archive.corrections import LineEdit, ShowLine
from fonoteca.errors import CorrectionError, NotFound
from fonoteca.ingest.transcripts import decode_text
from fonoteca.rules import Rule, settled
from fonoteca.text import fold, words

MAX_RULES_FILE = 1 << 20  # 1 MiB: tens of thousands of rules; a bigger file is not a rules file
# A rule that would change more than this share of a show's lines (once it has MIN_LINES_FOR_SHARE) names a common
# word, not a mistake: a show's misheard name is said in a line or two of each episode, "and" in two lines of five.
MAX_SHARE_CHANGED = 0.2
MIN_LINES_FOR_SHARE = 20
MAX_RULE_WORDS = 12
MAX_TERM_CHARS = 100
# Words Whisper gave a lower probability than this are underlined on the owner's view of an episode and listed by
# `fonoteca check --words`: the threshold with the best F1 at finding its wrong words (bench/results/words.txt).
UNSURE_BELOW = 0.7  # F1 0.36 there: 48 of 438 words flagged, 14 of the 29 wrong ones among them


@dataclass(frozen=True)
class LineChange:
    """A line a rule changes: where it is and its text before and after."""

    episode_id: str
    episode_title: str
    idx: int
    start: float
    before: str
    after: str


@dataclass
class Preview:
    """What a rule does to a show: the lines it changes (all of them) out of the show's lines."""

    rule: Rule
    changes: list[LineChange]
    lines: int

    @property
    def episodes(self) -> int:
        return len({c.episode_id for c in self.changes})


@dataclass
class RulesImport:
    """What `corrections import` read: the rules added, the lines it left out (line number, reason), and notes."""

    added: list[Rule] = field(default_factory=list)
    skipped: list[tuple[int, str]] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    changed: int = 0


@dataclass(frozen=True)
class UnsureWord:
    """A word Whisper was unsure of, across a show: how often it was written so and its lowest probability."""

    word: str
    count: int
    probability: float
    episode_id: str
    start: float


class Corrections:
    """`after`: what follows a changed transcript (pipeline.after.AfterTranscripts.after_transcripts)."""

    def __init__(self, archive: Archive, after: Callable[[], None]) -> None:
        self.archive = archive
        self.after = after

    # -- vocabulary ------------------------------------------------------------------------------------------------

    def add_terms(self, show: str, terms: Sequence[str]) -> list[str]:
        found = self.archive.get_show(show)
        for term in terms:
            if not term.strip():
                raise CorrectionError("an empty term", 'give the words as the show writes them: "Next.js" Vercel')
            if len(term) > MAX_TERM_CHARS:
                raise CorrectionError(f"a term of {len(term)} characters", f"a term has at most {MAX_TERM_CHARS}")
        return self.archive.corrections.add_terms(found.id, terms)

    def remove_terms(self, show: str, terms: Sequence[str]) -> list[str]:
        found = self.archive.get_show(show)
        removed = self.archive.corrections.remove_terms(found.id, terms)
        if not removed:
            raise NotFound(
                f"{', '.join(terms)} is not in the vocabulary of {found.title}",
                f"`fonoteca vocabulary list {found.slug}` lists it",
            )
        return removed

    def terms(self, show: str) -> list[str]:
        return self.archive.corrections.terms(self.archive.get_show(show).id)

    # -- rules -----------------------------------------------------------------------------------------------------

    def rules(self, show: str) -> list[Rule]:
        return self.archive.corrections.rules(self.archive.get_show(show).id)

    def preview(self, show: str, wrong: str, right: str) -> Preview:
        """What adding the rule would change: every line of the show whose text it changes. Refuses (one line) a
        rule with nothing to match, one that changes nothing, and one that would change most of the show."""
        found = self.archive.get_show(show)
        rule = checked_rule(wrong, right)
        return self._preview(found, rule, self.archive.corrections.show_lines(found.id))

    def _preview(self, show: Show, rule: Rule, lines: list[ShowLine]) -> Preview:
        rules = [r for r in self.archive.corrections.rules(show.id) if fold(r.wrong) != fold(rule.wrong)] + [rule]
        changes = []
        for line in lines:
            after = settled(line.said, rules, line.edited)
            if after != line.text:
                changes.append(LineChange(line.episode_id, line.episode_title, line.idx, line.start, line.text, after))
        if len(lines) >= MIN_LINES_FOR_SHARE and len(changes) > MAX_SHARE_CHANGED * len(lines):
            raise CorrectionError(
                f"the rule {rule.wrong!r} → {rule.right!r} would change {len(changes):,} of the show's {len(lines):,} "
                "lines: it matches a common word, not a mistake",
                "name the mistaken words with the words around them",
            )
        return Preview(rule, changes, len(lines))

    def add_rule(self, show: str, wrong: str, right: str) -> Preview:
        """Add the rule and apply it (a new transcript revision of each episode it changes); returns what changed."""
        preview = self.preview(show, wrong, right)
        stored, _ = self.archive.corrections.add_rules(self.archive.get_show(show).id, [preview.rule])
        self._after(bool(preview.changes))
        return replace(preview, rule=stored[0])

    def remove_rule(self, show: str, ref: str) -> tuple[Rule, int]:
        """Remove a rule by its id or mistake; the lines it changed go back to what was transcribed (or to what the
        other rules make of it). Returns the rule and how many lines changed back."""
        found = self.archive.get_show(show)
        rule, changed = self.archive.corrections.remove_rule(found.id, ref)
        self._after(changed > 0)
        return rule, changed

    def import_rules(self, show: str, path: Path) -> RulesImport:
        """`wrong<TAB>right` lines (harmontown-search's transcription_corrections.tsv): blank lines and `#` comments
        are skipped, a line without a tab or with an empty side is reported and left out, and the rules that pass
        are added at once."""
        found = self.archive.get_show(show)
        report = RulesImport()
        try:
            size = path.stat().st_size
            if size > MAX_RULES_FILE:
                raise CorrectionError(
                    f"{path} is {size / (1 << 20):.1f} MB: a rules file has at most {MAX_RULES_FILE >> 20} MB",
                    "split it, or check that it is the right file (wrong<TAB>right lines)",
                )
            text, note = decode_text(path.read_bytes())
        except OSError as exc:
            raise NotFound(f"cannot read {path}: {exc.strerror or exc}", "check the path") from exc
        if note:
            report.notes.append(f"{path.name} is not UTF-8: {note}")
        rules: dict[str, Rule] = {}
        for number, line in enumerate(text.splitlines(), start=1):
            if not line.strip() or line.lstrip().startswith("#"):
                continue
            wrong, tab, right = line.partition("\t")
            if not tab:
                report.skipped.append((number, "no tab between the mistake and its correction"))
                continue
            try:
                rule = checked_rule(wrong, right.split("\t")[0])
            except CorrectionError as exc:
                report.skipped.append((number, exc.message))
                continue
            rules[fold(rule.wrong)] = rule
        if not rules:
            raise CorrectionError(
                f"{path} has no rule fonoteca can use ({len(report.skipped)} line(s) left out)",
                "write one `wrong<TAB>right` per line, in UTF-8",
            )
        lines = self.archive.corrections.show_lines(found.id)
        for rule in rules.values():
            self._preview(found, rule, lines)  # a rule that would change most of the show stops the import
        report.added, report.changed = self.archive.corrections.add_rules(found.id, list(rules.values()))
        self._after(report.changed > 0)
        return report

    # -- lines fixed by hand ---------------------------------------------------------------------------------------

    def edit_line(self, episode: str, idx: int, text: str, editor: str) -> LineEdit:
        """Fix one line by hand (the owner, from the episode page); only that episode is indexed again."""
        found = self.archive.get_episode(episode)
        text = " ".join(text.split())
        if not text:
            raise CorrectionError("an empty line", "write what is said; to hide a line, leave it as it is")
        if len(text) > 2000:
            raise CorrectionError(f"a line of {len(text):,} characters", "a line has at most 2,000")
        edit = self.archive.corrections.edit_line(found.id, idx, text, editor)
        self._after(True)
        return edit

    def line_at(self, episode: str, seconds: float) -> int:
        """The index of the episode's line said at `seconds` (the last one that starts by then)."""
        found = self.archive.get_episode(episode)
        segments = self.archive.segments(found.id, words=False)
        if not segments:
            raise NotFound(f"episode {found.id} has no transcript yet", "`fonoteca status` says where it is")
        return max((s for s in segments if s.start <= seconds), key=lambda s: s.start, default=segments[0]).idx

    def revert_edit(self, edit_id: int, editor: str) -> LineEdit:
        edit = self.archive.corrections.revert_edit(edit_id, editor)
        self._after(True)
        return edit

    def edit(self, edit_id: int) -> LineEdit:
        return self.archive.corrections.edit(edit_id)

    def edits(self, episode: str) -> list[LineEdit]:
        return self.archive.corrections.edits(self.archive.get_episode(episode).id)

    # -- where to look ---------------------------------------------------------------------------------------------

    def unsure_names(self, show: str, *, below: float, limit: int = 50) -> list[UnsureWord]:
        """The words Whisper was least sure of across the show that look like names (a capital not at a sentence's
        start, or a letter case a common word does not have): the likely misheard names, least sure first."""
        found = self.archive.get_show(show)
        lowest: dict[str, UnsureWord] = {}
        counts: dict[str, int] = {}
        for episode in self.archive.list_episodes(found.id, status="done"):
            for segment in self.archive.segments(episode.id):
                if segment.said is not None:  # corrected or fixed by hand: someone has looked at it
                    continue
                previous = ""
                for word in segment.words or []:
                    text = word[2].strip()
                    probability = float(word[3]) if len(word) > 3 else 1.0  # type: ignore[misc]
                    name_like, previous = _name_like(text, previous), text
                    if probability >= below or not name_like:
                        continue
                    key = fold(text.strip(".,;:!?"))
                    counts[key] = counts.get(key, 0) + 1
                    if key not in lowest or probability < lowest[key].probability:
                        lowest[key] = UnsureWord(text.strip(".,;:!?"), 0, probability, episode.id, word[0])
        ranked = sorted(lowest.items(), key=lambda item: (item[1].probability, -counts[item[0]]))
        return [replace(unsure, count=counts[key]) for key, unsure in ranked[:limit]]

    def _after(self, changed: bool) -> None:
        if changed:
            self.after()


def checked_rule(wrong: str, right: str) -> Rule:
    """A rule fonoteca can apply, or the one line that says why not."""
    wrong, right = " ".join(wrong.split()), " ".join(right.split())
    if not wrong or not right:
        raise CorrectionError(
            "an empty side of a rule", 'give the mistake and its correction: "nevaces nevados" "bases de datos"'
        )
    if not words(wrong):
        raise CorrectionError(f"{wrong!r} has no word to match", "a rule matches whole words, not punctuation")
    if len(words(wrong)) > MAX_RULE_WORDS:
        raise CorrectionError(f"{wrong!r} is {len(words(wrong))} words long", f"a rule has at most {MAX_RULE_WORDS}")
    rule = Rule(wrong, right)
    if rule.apply(wrong) == wrong:
        raise CorrectionError(f"the rule {wrong!r} → {right!r} changes nothing", "the two sides are the same")
    return rule


def _name_like(word: str, previous: str) -> bool:
    letters = word.strip(" .,;:!?¿¡\"'()")
    if len(letters) < 2 or not letters[0].isalpha():
        return False
    sentence_start = not previous or previous.rstrip().endswith((".", "?", "!", "…"))
    inner_capital = any(c.isupper() for c in letters[1:])
    return inner_capital or (letters[0].isupper() and not sentence_start)
