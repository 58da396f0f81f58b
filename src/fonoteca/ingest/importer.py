"""`fonoteca import`: transcript files people already have (Whisper's outputs, subtitles, Podcasting 2.0 JSON, text and
Markdown transcripts) into the archive.

With a show, each file is matched to one of its episodes by, in order: GUID or media file name, episode number
(itunes:episode, or a number in the title), date in the file name, then title (normalised and fuzzy, rapidfuzz). Each
step that finds several episodes narrows the next; a file that still fits several, or fits one only weakly, is listed
as ambiguous and not imported. A file that fits none becomes a transcript-only episode (no media: no player, the rest
works), with its metadata from its front matter or its file name; without a show, every file does, in a show of
imported transcripts named after the folder.

An imported transcript finishes its episode (done, source `imported`); one that already has a transcript keeps it
unless `force`d, so importing the same files again changes nothing. Each file succeeds or fails on its own, with one
line saying why; `dry_run` decides everything and writes nothing.
"""

from __future__ import annotations

import datetime as dt
import html
import multiprocessing
import os
import re
import sys
import threading
from collections import deque
from collections.abc import Iterable, Iterator, Sequence
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass, field
from enum import StrEnum
from itertools import islice, zip_longest
from pathlib import Path
from urllib.parse import unquote, urlparse

from fonoteca.archive import Archive, Episode, EpisodeBusy, Show, Source, SourceKind, Status
from fonoteca.errors import FonotecaError, MediaError
from fonoteca.events import EventSink, ImportProgress
from fonoteca.ingest import local
from fonoteca.ingest.feeds import _duration as parse_duration
from fonoteca.ingest.language import detect_text_language
from fonoteca.ingest.transcripts import FILE_FORMATS, TranscriptFile, read_transcript
from fonoteca.pipeline.episodes import claimed as claimed_episode
from fonoteca.pipeline.episodes import imported_duration
from fonoteca.settings import Settings
from fonoteca.text import fold

_IMPORTED_GUID = "import:"  # + the file's path under the folder given: the GUID of an episode an import created
# A folder's notes about the transcripts, not transcripts.
_NOT_TRANSCRIPTS = {"readme", "license", "licence", "copying", "changelog", "contributing", "notice"}
# Whisper writes one file per format for each episode: the richest one is imported, the others are the same words.
_FORMAT_PREFERENCE = ("json", "vtt", "srt", "tsv", "markdown", "txt", "html")

# What a malformed file the checks did not foresee raises while it is read or stored: that file's line in the report,
# not the end of the import. Errors of the archive itself (FonotecaError) still stop it, as every file would fail.
_MALFORMED = (ValueError, TypeError, KeyError, AttributeError, OverflowError, RecursionError)

PARALLEL_FROM = 16  # transcripts: fewer are read here, as starting worker processes would take longer
# Title fuzzy scores (0-100, see _title_score): at or above STRONG a title is the episode's, unless another comes
# within MARGIN of it; between WEAK and STRONG it is listed as a weak match; below WEAK it is no match at all.
STRONG, WEAK, MARGIN = 85.0, 70.0, 3.0


class Outcome(StrEnum):
    MATCHED = "matched"  # imported into an existing episode
    CREATED = "created"  # imported as a new, transcript-only episode
    UNCHANGED = "unchanged"  # this very transcript was imported before
    KEPT = "kept"  # its episode has a transcript already (or is being transcribed): `--force` replaces it
    DUPLICATE = "duplicate"  # another format of a file imported now (Whisper's .json/.vtt/.srt/.tsv/.txt)
    AMBIGUOUS = "ambiguous"  # several episodes fit, or one only weakly: listed, not imported
    UNREADABLE = "unreadable"  # not a transcript fonoteca can read: why, and what to do


NOT_IMPORTED = (Outcome.AMBIGUOUS, Outcome.UNREADABLE)


@dataclass
class FileResult:
    path: str
    outcome: Outcome
    episode_id: str | None = None  # None for files not imported, and for new episodes of a dry run
    title: str = ""  # the episode's
    by: str = ""  # how it was matched: "GUID or file name", "episode number", "date", "title"
    reason: str = ""  # why it was not imported (or kept as it was)
    notes: list[str] = field(default_factory=list)  # what was odd but read, e.g. its encoding


@dataclass
class ImportReport:
    dry_run: bool
    files: list[FileResult] = field(default_factory=list)

    def of(self, outcome: Outcome) -> list[FileResult]:
        return [f for f in self.files if f.outcome == outcome]

    @property
    def imported(self) -> int:
        return len(self.of(Outcome.MATCHED)) + len(self.of(Outcome.CREATED))

    @property
    def failed(self) -> bool:
        return any(f.outcome in NOT_IMPORTED for f in self.files)

    def summary(self) -> str:
        counts = [f"{len(self.of(o))} {o}" for o in Outcome if self.of(o) or o in (Outcome.MATCHED, Outcome.CREATED)]
        return ", ".join(counts) + (" (dry run: nothing was changed)" if self.dry_run else "")


@dataclass
class _Candidate:
    """A readable transcript file and what it says about its episode."""

    path: Path
    key: str  # its path under the folder given: the identity of the episode it creates
    transcript: TranscriptFile
    detected_language: str | None  # when the file does not say
    title: str
    number: int | None
    date: str | None  # YYYY-MM-DD
    keys: set[str]  # folded identifiers: file name, GUID, media file name

    @property
    def guid(self) -> str:
        return f"{_IMPORTED_GUID}{self.key}"


@dataclass
class _Match:
    episode: Episode | None = None
    by: str = ""
    ambiguity: str = ""  # why it is ambiguous; empty when matched or when nothing fits


class Importer:
    """Transcript files into one archive's shows."""

    def __init__(self, archive: Archive, settings: Settings, events: EventSink) -> None:
        self.archive = archive
        self.settings = settings
        self.events = events

    def run(
        self, paths: Sequence[str | Path], *, show: Show | None = None, dry_run: bool = False, force: bool = False
    ) -> ImportReport:
        """Import the transcript files and folders (recursive) at `paths` into `show`'s episodes, or, without a show,
        as a show of imported transcripts per folder. What follows new transcripts is the caller's (Fonoteca.after)."""
        archive = self.archive
        report = ImportReport(dry_run=dry_run)
        claimed: dict[str, str] = {}  # episode id: the file imported into it now
        matchers: dict[int, _Matcher] = {}
        found: list[tuple[Path, list[list[Path]]]] = []  # each path's root and its transcripts, to count them first
        for given in paths:
            path = Path(given).expanduser()
            if not path.exists():
                report.files.append(
                    FileResult(str(given), Outcome.UNREADABLE, reason=f"{given} does not exist — check the path")
                )
                continue
            # The folder given, not where a link points: a file (or a link to one) outside it is not read.
            root = path.resolve() if path.is_dir() else path.absolute().parent.resolve()
            found.append((root, _groups(_transcript_files(path))))
        total, done = sum(len(groups) for _root, groups in found), 0
        for root, groups in found:
            target = show or _folder_show(archive, root)
            if target is not None and target.id not in matchers:
                matchers[target.id] = _Matcher(archive.list_episodes(target.id))
            matcher = matchers[target.id] if target is not None else _Matcher([])
            for candidate, read in _read_groups(groups, root, self.settings):
                report.files.extend(read)
                done += 1
                if candidate is not None:
                    if target is None:  # made when a file needs it: unreadable files alone leave no empty show behind
                        target = _transcripts_show(archive, root, candidate, dry_run)
                    try:
                        result = _import_one(archive, target, matcher, candidate, claimed, dry_run=dry_run, force=force)
                    except _MALFORMED as exc:  # what no check foresaw in this file: the other files go on
                        result = FileResult(str(candidate.path), Outcome.UNREADABLE, reason=_unforeseen(exc))
                    report.files.append(result)
                self.events(ImportProgress(done, total))
        return report


# -- files --------------------------------------------------------------------------------------------------------


def _transcript_files(path: Path) -> list[Path]:
    """The file given, or the folder's transcript files (recursive, by name), leaving out its README and hidden
    files."""
    if path.is_file():
        return [path]
    return sorted(
        p
        for p in path.rglob("*")
        if p.is_file()
        and p.suffix.lower() in FILE_FORMATS
        and not p.name.startswith(".")
        and p.stem.lower() not in _NOT_TRANSCRIPTS
    )


def _groups(files: Iterable[Path]) -> list[list[Path]]:
    """Files that differ only by extension, richest format first: one transcript in several formats."""
    groups: dict[Path, list[Path]] = {}
    for file in files:
        groups.setdefault(file.with_suffix(""), []).append(file)
    order = {fmt: n for n, fmt in enumerate(_FORMAT_PREFERENCE)}
    return [
        sorted(group, key=lambda p: order.get(FILE_FORMATS.get(p.suffix.lower(), ""), len(order)))
        for group in groups.values()
    ]


def _read_groups(
    groups: list[list[Path]], root: Path, settings: Settings
) -> Iterator[tuple[_Candidate | None, list[FileResult]]]:
    """Each group read, in order. Reading and parsing are most of an import's time and each file's own: a big import
    reads in worker processes, a few files ahead of what is stored.

    The workers are forked, and only where that is safe: on Linux, from a process with no other thread (a lock held
    by one at the fork would stay held in the child forever). Spawned workers would run the caller's main script
    again, which a script that calls Fonoteca without an `if __name__ == "__main__"` guard does not survive."""
    workers = min(os.cpu_count() or 1, 8)
    forkable = sys.platform == "linux" and threading.active_count() == 1
    if len(groups) < PARALLEL_FROM or workers < 2 or not forkable:
        yield from (_read_group(group, root, settings) for group in groups)
        return
    with ProcessPoolExecutor(workers, mp_context=multiprocessing.get_context("fork")) as pool:
        todo = iter(groups)
        ahead = deque(pool.submit(_read_group, group, root, settings) for group in islice(todo, 4 * workers))
        while ahead:
            done = ahead.popleft().result()
            if (group := next(todo, None)) is not None:
                ahead.append(pool.submit(_read_group, group, root, settings))
            yield done


def _read_group(group: list[Path], root: Path, settings: Settings) -> tuple[_Candidate | None, list[FileResult]]:
    """The first readable file of the group, and a line for each unreadable one before it and each duplicate after."""
    lines = []
    for n, file in enumerate(group):
        try:
            candidate = _read(file, root, settings)
        except (FonotecaError, OSError, *_MALFORMED) as exc:
            if isinstance(exc, FonotecaError):
                reason = str(exc)
            elif isinstance(exc, OSError):
                reason = f"cannot be read ({exc.strerror or exc})"
            else:
                reason = _unforeseen(exc)
            lines.append(FileResult(str(file), Outcome.UNREADABLE, reason=reason))
            continue
        for other in group[n + 1 :]:
            lines.append(
                FileResult(str(other), Outcome.DUPLICATE, reason=f"another format of {file.name}, which is read")
            )
        return candidate, lines
    return None, lines


def _unforeseen(exc: BaseException) -> str:
    return (
        f"cannot be imported ({type(exc).__name__}: {str(exc)[:200]}) — the file is malformed; the others were "
        "imported (please report this file if it looks right to you)"
    )


def _read(file: Path, root: Path, settings: Settings) -> _Candidate:
    resolved = file.resolve()
    if not resolved.is_relative_to(root):  # the rule of a feed file's links (net.Origin): /etc/passwd stays out
        raise MediaError(
            f"it is a link to {resolved}, outside the folder given; links out of it are not followed",
            "copy the file into the folder if it is a transcript",
        )
    size = file.stat().st_size
    if size > settings.max_feed_mb * 1024 * 1024:
        raise MediaError(
            f"it is {size / 1024 / 1024:.0f} MB; transcripts over {settings.max_feed_mb} MB are refused",
            "split it, or raise the limit with FONOTECA_MAX_FEED_MB",
        )
    transcript = read_transcript(file.read_bytes(), file.name)
    meta = transcript.meta
    key = resolved.relative_to(root).as_posix()
    keys = {fold(file.stem), fold(f"{_IMPORTED_GUID}{key}")}
    for name in ("guid", "url", "media"):
        if value := meta.get(name):
            keys.add(fold(value))
            keys.add(fold(_stem_of(value)))
    name_title = local.title_from(file)
    sample = " ".join(s.text for s in islice(transcript.segments, 50))  # a few minutes tell the language
    for name, read, wanted in (
        ("date", _date_in, "a calendar day written YYYY-MM-DD"),
        ("number", _int, "a whole number under a billion"),
    ):
        if (value := meta.get(name)) and read(value) is None:
            transcript.notes.append(f"its {name} {value[:40]!r} is left out: not {wanted}")
    return _Candidate(
        path=file,
        key=key,
        transcript=transcript,
        detected_language=None if transcript.language else detect_text_language(sample),
        title=meta.get("title") or name_title,
        number=_int(meta.get("number")) or _number_in(name_title),
        date=_date_in(meta.get("date")) or (local.date_from_name(file.name) or "")[:10] or None,
        keys={k for k in keys if k},
    )


def _stem_of(url_or_path: str) -> str:
    return Path(unquote(urlparse(url_or_path).path)).stem


# An episode number past this is no episode number (and past 2^63 no database column can hold it).
_LARGEST_NUMBER = 1_000_000_000


def _int(value: str | None) -> int | None:
    number = int(value) if value and value.strip().isascii() and value.strip().isdigit() else None
    return number if number is not None and number < _LARGEST_NUMBER else None


def _date_in(value: str | None) -> str | None:
    """The YYYY-MM-DD date in a front matter value, if it is a real calendar day."""
    found = re.search(r"\d{4}-\d{2}-\d{2}", value or "")
    try:
        return str(dt.date.fromisoformat(found.group(0))) if found else None
    except ValueError:
        return None


# "Episode 57", "Episodio 57", "Ep. 57", "#57", "No. 57" in a title or file name, or a title that starts with its
# number ("057 - Title", "57. Title").
_NUMBERED = re.compile(r"(?:\b(?:episode|episodio|ep|no|n[º°o])\.?\s*#?|#)\s*(\d{1,4})(?!\d)", re.I)
_LEADING_NUMBER = re.compile(r"^\s*(\d{1,4})(?:[\s.:)_-]|$)")


def _number_in(text: str) -> int | None:
    """The episode number a title or file name gives: a marked one, a leading one, or its only number (not a year)."""
    if found := _NUMBERED.search(text):
        return int(found.group(1))
    if (found := _LEADING_NUMBER.match(text)) and not _is_year(int(found.group(1))):
        return int(found.group(1))
    numbers = [int(n) for n in re.findall(r"(?<![\w.])(\d{1,4})(?![\w.])", text) if not _is_year(int(n))]
    return numbers[0] if len(numbers) == 1 else None


def _is_year(number: int) -> bool:
    """Unmarked, 1900-2099 is far more often a year (a date in the name) than an episode number."""
    return 1900 <= number <= 2099


def _normal_title(title: str) -> str:
    """Folded words of a title without its episode number, so "Episode 56: Rocket" and "rocket" compare equal."""
    folded = _LEADING_NUMBER.sub(" ", _NUMBERED.sub(" ", fold(title)))
    return " ".join(re.findall(r"\w+", folded))


# -- matching -----------------------------------------------------------------------------------------------------


class _Matcher:
    """A show's episodes, looked up by each thing a file may say about its episode."""

    def __init__(self, episodes: list[Episode]) -> None:
        self.episodes = {e.id: e for e in episodes}
        self.keys: dict[str, set[str]] = {}
        self.numbers: dict[int, set[str]] = {}
        self.dates: dict[str, set[str]] = {}
        self.titles: dict[str, str] = {}
        for episode in episodes:
            self.add(episode)

    def add(self, episode: Episode) -> None:
        """An episode an import created is known by its file alone: two files of one day, or of similar titles, are
        two episodes, not a file that fits the other's."""
        self.episodes[episode.id] = episode
        keys = {episode.guid, _stem_of(episode.media_url or ""), _stem_of(episode.transcript_url or "")}
        keys |= {Path(episode.media_path).stem} if episode.media_path else set()
        for key in keys:
            if key:
                self.keys.setdefault(fold(key), set()).add(episode.id)
        if episode.guid.startswith(_IMPORTED_GUID):
            return
        if number := episode.number or _number_in(episode.title):
            self.numbers.setdefault(number, set()).add(episode.id)
        if episode.date:
            self.dates.setdefault(episode.date, set()).add(episode.id)
        self.titles[episode.id] = _normal_title(episode.title)

    def match(self, candidate: _Candidate) -> _Match:
        pool = set(self.episodes)
        narrowed_by = ""
        steps = (
            ("GUID or file name", set().union(*(self.keys.get(k, set()) for k in candidate.keys))),
            ("episode number", self.numbers.get(candidate.number, set()) if candidate.number else set()),
            ("date", self._dated(candidate.date)),
        )
        for by, found in steps:
            hits = found & pool
            if len(hits) == 1:
                return _Match(self.episodes[hits.pop()], by)
            if hits:
                pool, narrowed_by = hits, narrowed_by or by
        match = self._by_title(candidate, pool)
        if match.episode is None and not match.ambiguity and narrowed_by:
            listed = "; ".join(sorted(self.episodes[i].title for i in pool)[:5])
            match.ambiguity = f"{len(pool)} episodes share its {narrowed_by}: {listed}"
        return match

    def _dated(self, date: str | None) -> set[str]:
        """Episodes of that day, or else of the day before or after: a feed's dates are UTC, and an evening
        episode in America is published on the next day there."""
        if not date:
            return set()
        if found := self.dates.get(date):
            return found
        day = dt.date.fromisoformat(date)
        near = (str(day + dt.timedelta(days=d)) for d in (-1, 1))
        return set().union(*(self.dates.get(d, set()) for d in near))

    def _by_title(self, candidate: _Candidate, pool: set[str]) -> _Match:
        from rapidfuzz import process

        query = _normal_title(candidate.title)
        if not query:
            return _Match()
        choices = {i: self.titles[i] for i in pool if i in self.titles}  # those an import created have none
        best = process.extract(query, choices, scorer=_title_score, limit=2, score_cutoff=WEAK)
        if not best:
            return _Match()
        (_, score, first), second = best[0], best[1] if len(best) > 1 else None
        title = self.episodes[first].title
        if second is not None and second[1] >= score - MARGIN:
            return _Match(
                ambiguity=f"its title fits {title!r} and {self.episodes[second[2]].title!r} alike "
                f"({score:.0f}% and {second[1]:.0f}%)"
            )
        if score < STRONG:
            return _Match(ambiguity=f"its title fits {title!r} only weakly ({score:.0f}%)")
        return _Match(self.episodes[first], "title")


def _title_score(query: str, title: str, **_: object) -> float:
    """Word order and small spelling differences do not matter (token_sort_ratio); a file named after part of the
    title ("first anniversary") fits it when that part has three words or more (token_set_ratio), fewer would fit
    too many titles. WRatio is not used: its partial matching finds "the p..." in any title with "the people"."""
    from rapidfuzz import fuzz

    score = fuzz.token_sort_ratio(query, title)
    if min(query.count(" "), title.count(" ")) >= 2:
        score = max(score, fuzz.token_set_ratio(query, title))
    return score


# -- importing ----------------------------------------------------------------------------------------------------


def _folder_show(archive: Archive, root: Path) -> Show | None:
    """Without a show given, the files under `root` belong to the show read from that folder (a media folder whose
    transcripts these are, or the transcripts imported from it before), if there is one."""
    return next((s for s in archive.list_shows() if s.source == str(root)), None)


def _transcripts_show(archive: Archive, root: Path, candidate: _Candidate, dry_run: bool) -> Show:
    """A new show of imported transcripts, named after the front matter's show or the folder (in a dry run, one that
    is not stored)."""
    title = candidate.transcript.meta.get("show") or root.name or "Imported transcripts"
    if dry_run:
        return Show(id=0, slug="", title=title, source=str(root), source_kind=SourceKind.TRANSCRIPTS)
    return archive.add_show(title=title, source=str(root), source_kind=SourceKind.TRANSCRIPTS)[0]


def _import_one(
    archive: Archive,
    show: Show,
    matcher: _Matcher,
    candidate: _Candidate,
    claimed: dict[str, str],
    *,
    dry_run: bool,
    force: bool,
) -> FileResult:
    result = FileResult(str(candidate.path), Outcome.MATCHED, notes=list(candidate.transcript.notes))
    match = matcher.match(candidate)
    if match.ambiguity:
        result.outcome, result.reason = Outcome.AMBIGUOUS, f"{match.ambiguity} — not imported; import it with a "
        result.reason += "file name or front matter (guid, episode, date, title) that says which"
        return result
    episode = match.episode
    if episode is not None and episode.id in claimed:
        result.outcome = Outcome.AMBIGUOUS
        result.reason = (
            f"it matches {episode.title!r} ({match.by}), as {claimed[episode.id]} does — not imported; rename the "
            "one that belongs to another episode"
        )
        return result
    if episode is None:
        return _create(archive, show, matcher, candidate, result, claimed, dry_run=dry_run)
    result.episode_id, result.title, result.by = episode.id, episode.title, match.by
    claimed[episode.id] = candidate.path.name
    if episode.status == Status.DONE:
        if episode.source == Source.IMPORTED and _same_text(archive, episode, candidate):
            result.outcome, result.reason = Outcome.UNCHANGED, "imported before"
            return result
        if not force:
            result.outcome = Outcome.KEPT
            result.reason = f"the episode already has a {episode.source or 'finished'} transcript; --force replaces it"
            return result
    if not dry_run:
        _store(archive, show, episode, candidate, result)
    return result


def _create(
    archive: Archive,
    show: Show,
    matcher: _Matcher,
    candidate: _Candidate,
    result: FileResult,
    claimed: dict[str, str],
    *,
    dry_run: bool,
) -> FileResult:
    result.outcome, result.title = Outcome.CREATED, candidate.title
    if dry_run:
        return result
    meta = candidate.transcript.meta
    about = [meta.get("description", ""), f"Guests: {meta['guest']}" if meta.get("guest") else ""]
    episode, new = archive.upsert_episode(
        show,
        guid=candidate.guid,
        title=candidate.title,
        kind="audio",
        published=f"{candidate.date}T00:00:00Z" if candidate.date else None,
        description="".join(f"<p>{html.escape(part)}</p>" for part in about if part),
        link=meta.get("url") or meta.get("media") or "",
        number=candidate.number,
    )
    try:
        _store(archive, show, episode, candidate, result)
    except BaseException:
        if new:  # a transcript-only episode without its transcript: an empty shell every sync would try to download
            archive.delete_episode(episode.id)
        raise
    matcher.add(episode)
    claimed[episode.id] = candidate.path.name
    result.episode_id = episode.id
    return result


def _store(archive: Archive, show: Show, episode: Episode, candidate: _Candidate, result: FileResult) -> None:
    """The transcript in place of whatever the episode had, in one commit (its segments inserted a batch at a time as
    they are read: a subtitle file's are never all held), unless another process is transcribing it right now (then
    the file is kept for later)."""
    segments = candidate.transcript.segments
    stated = parse_duration(candidate.transcript.meta.get("duration"))
    try:
        with claimed_episode(archive, episode.id) as current:
            if current.status == Status.FAILED:
                archive.set_status(current.id, Status.NEW)  # an imported transcript is what it failed to get
            archive.replace_transcript(
                current.id,
                segments,
                source=Source.IMPORTED,
                language=candidate.transcript.language or show.language or candidate.detected_language,
                duration=imported_duration(current, candidate.transcript.last_end, stated),
            )
    except EpisodeBusy as exc:
        result.outcome, result.reason = Outcome.KEPT, str(exc)


def _same_text(archive: Archive, episode: Episode, candidate: _Candidate) -> bool:
    """Compared a page at a time: neither transcript is held whole."""
    stored = archive.iter_segments(episode.id, words=False)
    pairs = zip_longest(stored, candidate.transcript.segments)
    return all(a is not None and b is not None and (a.start, a.text) == (b.start, b.text) for a, b in pairs)
