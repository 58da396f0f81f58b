"""An episode at a glance, made once per transcript revision: generated chapters (fonoteca.meaning.chapters), key
moments (fonoteca.meaning.moments) and topics (fonoteca.meaning.keyness), all made of the transcript's own words, and
checked by the grounding check before they are stored (fonoteca.meaning.grounding).

It follows embedding (one more step of `after_transcripts`): the passages' stored vectors of the configured embeddings
model are what chapters and key moments are found with. With search by meaning off (FONOTECA_EMBEDDINGS=none) the
passages are compared by their words instead (TF-IDF vectors; method "words"). An episode whose vectors are not made
yet (an endpoint that does not answer) waits for the next run.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

from fonoteca.archive import Archive, Chapter, ChapterSource, Overview, Segment, Topic
from fonoteca.errors import FonotecaError
from fonoteca.events import EventSink, GlanceProgress, Note, ignore
from fonoteca.meaning.chapters import chapter_starts, lexical_vectors
from fonoteca.meaning.embed import spans_of
from fonoteca.meaning.grounding import TITLE_SEPARATOR, Grounding
from fonoteca.meaning.keyness import Counts, count, distinct_spellings, key_terms, stopwords
from fonoteca.meaning.moments import key_moments
from fonoteca.meaning.passages import passages

WORDS = "words"  # the method without an embeddings model: passages compared by their words
TOPICS = 8
TITLE_PHRASES = 2
TITLE_FALLBACK_WORDS = 6  # a chapter with no distinctive phrase is titled by its first words


# A capable language model's chapter title: (the chapter's text, its keyness title) -> the title the model wrote.
TitleWriter = Callable[[str, str], str]


@dataclass
class Dropped:
    """What the grounding check dropped while making one overview: fonoteca's own topics and titles (always none),
    and the titles a language model wrote that the chapter does not say (the keyness title was kept instead)."""

    topics: list[str]
    titles: list[str]
    model_titles: list[str] = field(default_factory=list)
    model_titled: int = 0  # chapters the model was asked to title


def make_overview(
    archive: Archive, episode_id: str, transcript_rev: int, method: str, *, titles: TitleWriter | None = None
) -> tuple[Overview, Dropped] | None:
    """The episode's overview (not stored yet), or None while its passages have no vectors of `method`. `titles`: a
    capable model rewriting each generated chapter's title from its text, kept only when the chapter says it; a model
    that fails (FonotecaError) leaves the keyness titles."""
    episode = archive.get_episode(episode_id)
    segments = archive.segments(episode_id, words=False)
    if episode is None or not segments:
        return None
    stop = stopwords(episode.language)
    if method == WORDS:
        cut = passages(segments)
        spans, vectors = spans_of(cut), lexical_vectors([p.text for p in cut], stop)
    else:
        stored = archive.vectors.episode(episode_id, method)
        if stored is None or stored.transcript_rev != transcript_rev:
            return None
        spans, vectors = stored.spans, stored.vectors
    whole = count(segments, stop)
    candidates = [t for t, n in whole.terms.items() if n >= 2]
    said_elsewhere = archive.word_counts.archive_counts(candidates)
    reference = {t: max(0, said_elsewhere.get(t, 0) - whole.terms[t]) for t in candidates}
    reference_words = max(0, archive.word_counts.archive_words() - whole.words)
    text = "\n".join(s.text for s in segments)
    grounding = Grounding.of(text, episode.language)

    least = 3 if whole.words > 2000 else 2
    keys = distinct_spellings(key_terms(whole, reference, reference_words, least=least, most=TOPICS * 2))
    kept, dropped_topics = grounding.keep((k.said for k in keys), topics=True)
    topics = [Topic(k.said, k.count, k.score) for k in keys if k.said in kept][:TOPICS]

    starts = chapter_starts(segments, vectors, spans, stop)
    end = max(s.end for s in segments)
    chapters, dropped = [], Dropped(dropped_topics, [])
    for n, first in enumerate(starts):
        last = starts[n + 1] if n + 1 < len(starts) else len(segments)
        part = segments[first:last]
        said = "\n".join(s.text for s in part)
        chapter_grounding = Grounding.of(said, episode.language)
        title = _title(part, whole, reference, reference_words, stop)
        if not chapter_grounding.grounded(title):
            dropped.titles.append(title)
            title = _first_words(part)
        if titles is not None:
            try:
                written = titles(said, title)
            except FonotecaError:
                titles = None  # the endpoint failed: the keyness titles stay, for this chapter and the next
            else:
                dropped.model_titled += 1
                if chapter_grounding.grounded(written):
                    title = written
                else:
                    dropped.model_titles.append(written)
        chapter_start = 0.0 if n == 0 else part[0].start
        chapter_end = segments[last].start if last < len(segments) else end
        chapters.append(Chapter(chapter_start, title, chapter_end, ChapterSource.GENERATED))
    moments = key_moments(segments, vectors, spans, [c.start for c in chapters], stop)
    overview = Overview(episode_id, transcript_rev, method, chapters, moments, topics)
    return overview, dropped


def _title(
    part: Sequence[Segment], whole: Counts, reference: dict[str, int], reference_words: int, stop: frozenset[str]
) -> str:
    """The chapter's most distinctive phrases against the rest of the episode and the archive."""
    own = count(part, stop)
    rest = {t: whole.terms[t] - own.terms[t] + reference.get(t, 0) for t in own.terms}
    rest_words = whole.words - own.words + reference_words
    keys = distinct_spellings(key_terms(own, rest, rest_words, least=2, most=TITLE_PHRASES * 2))
    if not keys:
        keys = distinct_spellings(key_terms(own, rest, rest_words, least=1, most=TITLE_PHRASES * 2))
    return TITLE_SEPARATOR.join(k.said for k in keys[:TITLE_PHRASES]) or _first_words(part)


def _first_words(part: Sequence[Segment]) -> str:
    return " ".join(" ".join(s.text.strip() for s in part[:3]).split()[:TITLE_FALLBACK_WORDS]) or "…"


def glance_pending(
    archive: Archive,
    method: str,
    *,
    events: EventSink = ignore,
    most: int | None = None,
    titles: TitleWriter | None = None,
) -> int:
    """Make and store the overview of every finished episode without one of its current transcript by `method`
    (at most `most`; `titles` as for make_overview); returns how many were stored."""
    pending = archive.overviews.pending(method)[:most]
    stored = 0
    dropped = rejected = 0
    for position, (episode_id, rev) in enumerate(pending, start=1):
        made = make_overview(archive, episode_id, rev, method, titles=titles)
        if made is not None:
            overview, lost = made
            stored += archive.overviews.save_overview(overview)
            dropped += len(lost.topics) + len(lost.titles)
            rejected += len(lost.model_titles)
        events(GlanceProgress(position, len(pending)))
    if dropped:  # fonoteca's own items are the transcript's words: the check must never find one that is not
        events(Note(f"the grounding check dropped {dropped} topic(s) or title(s) of fonoteca's own: report this"))
    if rejected:
        events(Note(f"the grounding check rejected {rejected} chapter title(s) the model wrote: keyness titles kept"))
    return stored
