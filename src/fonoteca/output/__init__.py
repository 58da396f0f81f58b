"""What fonoteca tells a program: the models of the JSON API, of every `--json` and of the watch webhook, one per
kind of thing.

The web API declares them as response models (so /openapi.json describes the same objects the CLI prints) and the CLI
dumps them with `dump`. Each has an `of` constructor from the domain objects; nothing else builds these dicts. The
renderers of the other formats live beside them: transcripts (`transcripts`), charts (`charts`) and search snippets
(`snippets`).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any, Self

from pydantic import BaseModel, SerializerFunctionWrapHandler, model_serializer

from fonoteca.archive import Analysis, Episode, Message, Overview, Segment, Show, Stats
from fonoteca.archive.watches import Mention
from fonoteca.ingest.importer import FileResult, ImportReport, Outcome
from fonoteca.ingest.net import split_credentials
from fonoteca.output.snippets import snippet_html
from fonoteca.search import Hit, SearchResults, episode_url
from fonoteca.search.trends import TrendPoint
from fonoteca.text import format_duration, stats_header

if TYPE_CHECKING:
    from fonoteca.corrections import Preview  # which reads the archive and ingest's decoder, as this module does
    from fonoteca.jobs import Fleet  # the job queue's module needs PostgreSQL's client; only its answers are read
    from fonoteca.llm.analyze import EpisodeAnalyses, EpisodeTranslation  # fonoteca.llm's chat builds its answers here
    from fonoteca.llm.chat import ChatTurn, Excerpt  # which builds its answers' excerpts with these models
    from fonoteca.pipeline import SyncReport  # the pipeline runs fonoteca.watch, which sends WebhookOut: a cycle


class OnlyGivenFields(BaseModel):
    """A model whose JSON has only the fields it was given: a part that some answers have (a chart's extra column, the
    job queue on PostgreSQL) is absent from the others, not null."""

    @model_serializer(mode="wrap")
    def _only_given(self, handler: SerializerFunctionWrapHandler) -> dict[str, Any]:
        return {key: value for key, value in handler(self).items() if key in self.model_fields_set}


class FromAttributes(BaseModel):
    """A model read off a domain object that has its fields (a dataclass of the archive, the jobs or the chat)."""

    @classmethod
    def of(cls, source: object) -> Self:
        return cls.model_validate(source, from_attributes=True)


class EpisodeOut(BaseModel):
    id: str
    show: str
    title: str
    date: str | None
    status: str
    duration: float | None
    source: str | None  # how the transcript was made: transcribed, publisher, sidecar, text, captions...
    kind: str
    language: str | None
    error: str | None
    media: str | None  # the local file, or the enclosure's URL
    url: str  # the episode's page on the web archive
    image: str  # its thumbnail's URL (video platforms), or ""

    @classmethod
    def of(cls, episode: Episode) -> EpisodeOut:
        return cls(
            id=episode.id, show=episode.show_title, title=episode.title, date=episode.date, status=episode.status,
            duration=episode.duration, source=episode.source, kind=episode.kind, language=episode.language,
            error=episode.error, media=episode.media_path or episode.media_url, url=f"/episode/{episode.id}",
            image=episode.image,
        )  # fmt: skip


class ShowOut(BaseModel):
    id: int
    slug: str
    title: str
    source: str
    source_kind: str
    language: str | None
    feed_language: str | None
    description: str
    link: str
    image: str
    added_at: str
    synced_at: str | None
    captions: str  # platform shows: which captions stand in for a transcription (creator, auto, none)
    speakers: bool  # its transcribed episodes' speakers are found (`fonoteca speakers off SHOW`: not)
    speaker_count: int | None  # how many people speak in its episodes, as the owner said (None: found by voices)
    episodes: int  # every episode, whatever its status
    transcribed: int
    seconds: float  # audio time transcribed
    time: str

    @classmethod
    def of(cls, show: Show, *, episodes: int, transcribed: int, seconds: float) -> ShowOut:
        # The feed's credentials never reach an API answer or a script: they are left out, and a show added before
        # they were stored apart still has them in its source URL, which is shown without them.
        return cls(
            id=show.id, slug=show.slug, title=show.title, source=split_credentials(show.source)[0],
            source_kind=show.source_kind, language=show.language, feed_language=show.feed_language,
            description=show.description, link=show.link, image=show.image, added_at=show.added_at,
            synced_at=show.synced_at, captions=show.captions, speakers=show.speakers,
            speaker_count=show.speaker_count, episodes=episodes, transcribed=transcribed,
            seconds=seconds, time=format_duration(seconds),
        )  # fmt: skip


def shows_of(stats: Stats, episodes: Mapping[int, int]) -> list[ShowOut]:
    """Every show of `stats` (Archive.stats()), with its number of episodes of any status from `episodes`."""
    return [ShowOut.of(s, episodes=episodes.get(s.id, 0), transcribed=n, seconds=secs) for s, n, secs in stats.by_show]


class ShowStatsOut(BaseModel):
    show: str  # slug
    title: str
    episodes: int  # transcribed
    seconds: float
    time: str
    header: str

    @classmethod
    def of(cls, show: Show, episodes: int, seconds: float) -> ShowStatsOut:
        return cls(show=show.slug, title=show.title, episodes=episodes, seconds=seconds, time=format_duration(seconds),
                   header=stats_header(episodes, seconds))  # fmt: skip


class StatsOut(BaseModel):
    episodes: int  # transcribed
    seconds: float
    time: str
    header: str  # the seed's "Transcribed podcasts: N · Time transcribed: …"
    shows: list[ShowStatsOut]

    @classmethod
    def of(cls, stats: Stats) -> StatsOut:
        return cls(
            episodes=stats.episodes, seconds=stats.seconds, time=format_duration(stats.seconds),
            header=stats_header(stats.episodes, stats.seconds),
            shows=[ShowStatsOut.of(show, n, secs) for show, n, secs in stats.by_show],
        )  # fmt: skip


class SegmentOut(BaseModel):
    start: float
    end: float
    text: str
    speaker: str | None

    @classmethod
    def of(cls, segment: Segment) -> SegmentOut:
        return cls(start=segment.start, end=segment.end, text=segment.text, speaker=segment.speaker)


class TranscriptOut(BaseModel):
    episode: EpisodeOut
    segments: list[SegmentOut]

    @classmethod
    def of(cls, episode: Episode, segments: Sequence[Segment]) -> TranscriptOut:
        return cls(episode=EpisodeOut.of(episode), segments=[SegmentOut.of(s) for s in segments])


class HitOut(BaseModel):
    episode_id: str
    show: str
    title: str
    date: str | None
    start: float
    end: float
    snippet: str  # HTML: the text (cut around its first match when long) escaped, the highlights in <b>
    text: str
    score: float
    url: str
    # "words": found by the keywords; "meaning": by meaning alone (the passage, nothing highlighted); "both": a keyword
    # hit inside a passage close in meaning too.
    matched: str
    similarity: float | None  # the passage's cosine similarity to the question, when meaning was searched
    highlights: list[tuple[int, int]]  # the character ranges of `text` that the query's words matched
    speaker: str | None = None  # who says it, where the transcript names them

    @classmethod
    def of(cls, hit: Hit) -> HitOut:
        return cls(
            episode_id=hit.episode_id, show=hit.show, title=hit.title, date=hit.date, start=hit.start, end=hit.end,
            snippet=snippet_html(hit.text, hit.highlights), text=hit.text, score=hit.score, url=hit.url,
            matched=hit.matched, similarity=hit.similarity, highlights=hit.highlights, speaker=hit.speaker,
        )  # fmt: skip


class SearchOut(BaseModel):
    query: str
    total: int
    hits: list[HitOut]
    mode: str = "keyword"  # the mode that ran: keyword, meaning or hybrid
    note: str = ""  # why it fell back to keywords, if it did

    @classmethod
    def of(cls, query: str, results: SearchResults) -> SearchOut:
        hits = [HitOut.of(hit) for hit in results.hits]
        return cls(query=query, total=results.total, hits=hits, mode=results.mode, note=results.note)


class TrendRowOut(OnlyGivenFields):
    """A row of `trend --json` and of the trend's CSV (web and CLI). A row has the columns of its chart alone: a split
    by show adds `show` (by speaker, `speaker`), a normalisation its value (and the words said), a grouping the
    period; they come after the plain ones, so a spreadsheet made from the plain export keeps working."""

    episode_id: str | None
    title: str | None
    date: str | None
    term: str
    count: int
    hours: float
    show: str | None = None
    speaker: str | None = None
    per_hour: float | None = None
    words: int | None = None
    per_1000_words: float | None = None
    period: str | None = None
    episodes: int | None = None

    @classmethod
    def of(cls, point: TrendPoint, *, per: str, by: str, split: str | None) -> TrendRowOut:
        columns: dict[str, Any] = {}
        if split == "show":
            columns["show"] = point.show
        elif split == "speaker":
            columns["speaker"] = point.series  # a speaker, or everyone else
        if per == "hour":
            columns["per_hour"] = point.value
        elif per == "1000-words":
            columns.update(words=point.words, per_1000_words=point.value)
        if by != "episode":
            columns.update(period=point.key, episodes=point.episodes)
        return cls(episode_id=point.episode_id, title=point.title, date=point.date, term=point.term, count=point.count,
                   hours=point.hours, **columns)  # fmt: skip


def trend_rows(points: Sequence[TrendPoint], *, per: str = "raw", by: str = "episode") -> list[TrendRowOut]:
    """The rows of a trend's points; a split by show gives every row its show, a split by speaker its speaker."""
    split = next((p.split for p in points if p.split), None)
    return [TrendRowOut.of(p, per=per, by=by, split=split) for p in points]


class FailedEpisodeOut(BaseModel):
    id: str
    title: str
    error: str


class BusyEpisodeOut(BaseModel):
    id: str
    title: str


class ShowErrorOut(BaseModel):
    show: str  # slug
    error: str


class SyncOut(BaseModel):
    """`fonoteca add`, `sync` and `retry --json`: what the run did (on PostgreSQL, the jobs it queued)."""

    added: int
    updated: int
    transcribed: int
    imported: int
    failed: list[FailedEpisodeOut]
    busy: list[BusyEpisodeOut]  # left to the other process that holds them
    show_errors: list[ShowErrorOut]
    queued: int
    already_queued: int

    @classmethod
    def of(cls, report: SyncReport) -> SyncOut:
        return cls(
            added=report.added, updated=report.updated, transcribed=report.transcribed, imported=report.imported,
            failed=[FailedEpisodeOut(id=e.id, title=e.title, error=reason) for e, reason in report.failed],
            busy=[BusyEpisodeOut(id=e.id, title=e.title) for e in report.busy],
            show_errors=[ShowErrorOut(show=s.slug, error=reason) for s, reason in report.show_errors],
            queued=report.queued, already_queued=report.already_queued,
        )  # fmt: skip


class QueuedOut(BaseModel):
    """What `--queue` queued: new jobs, and those whose show or episode already had one waiting or running."""

    queued: int
    already_queued: int


class ImportFileOut(BaseModel):
    path: str
    episode: str | None  # its episode's id; None when it was not imported, or in a dry run for a new episode
    title: str
    by: str  # how it was matched: GUID or file name, episode number, date, title
    reason: str  # why it was not imported, or kept as it was
    notes: list[str]  # what was odd but read (its encoding...)

    @classmethod
    def of(cls, result: FileResult) -> ImportFileOut:
        return cls(path=result.path, episode=result.episode_id, title=result.title, by=result.by, reason=result.reason,
                   notes=result.notes)  # fmt: skip


class ImportOut(BaseModel):
    """`fonoteca import --json`: every file given, under what happened to it."""

    dry_run: bool
    summary: str
    matched: list[ImportFileOut]
    created: list[ImportFileOut]
    unchanged: list[ImportFileOut]
    kept: list[ImportFileOut]
    duplicate: list[ImportFileOut]
    ambiguous: list[ImportFileOut]
    unreadable: list[ImportFileOut]

    @classmethod
    def of(cls, report: ImportReport) -> ImportOut:
        files = {str(o): [ImportFileOut.of(f) for f in report.of(o)] for o in Outcome}
        return cls(dry_run=report.dry_run, summary=report.summary(), **files)


class WatchOut(FromAttributes):
    id: int
    term: str  # as the user wrote it
    folded: str  # its folded words, space-separated
    show_id: int | None  # None: every show
    show_title: str | None
    created_at: str
    mentions: int  # recorded since it was added
    unseen: int  # not yet listed by `fonoteca watch`


class MentionOut(FromAttributes):
    id: int
    watch_id: int
    term: str
    episode_id: str
    episode_title: str
    show_title: str
    published: str | None
    start: float  # the second the line starts at
    sentence: str  # the transcript line, as said
    count: int  # times the word is said in that line
    found_at: str
    seen: bool


class WebhookMentionOut(MentionOut):
    url: str  # the second it was said, on the web archive

    @classmethod
    def linked(cls, mention: Mention, base_url: str) -> WebhookMentionOut:
        return cls(**MentionOut.of(mention).model_dump(), url=base_url + episode_url(mention.episode_id, mention.start))


class WebhookOut(BaseModel):
    """The JSON a webhook receives: one batch of new mentions, each with a link to its second."""

    event: str = "fonoteca.mentions"
    batch: int
    mentions: list[WebhookMentionOut]

    @classmethod
    def of(cls, batch_id: int, mentions: Sequence[Mention], base_url: str) -> WebhookOut:
        return cls(batch=batch_id, mentions=[WebhookMentionOut.linked(m, base_url) for m in mentions])


class RuleOut(FromAttributes):
    id: int
    wrong: str  # the mistake, matched as whole words, case and accents folded
    right: str
    created_at: str


class LineChangeOut(FromAttributes):
    episode_id: str
    episode_title: str
    idx: int  # the line's number in its episode
    start: float
    before: str
    after: str


class PreviewOut(BaseModel):
    rule: RuleOut
    changed: int  # lines the rule changes
    episodes: int  # episodes it changes
    lines: int  # lines of the show
    changes: list[LineChangeOut]

    @classmethod
    def of(cls, preview: Preview) -> PreviewOut:
        return cls(
            rule=RuleOut.of(preview.rule), changed=len(preview.changes), episodes=preview.episodes,
            lines=preview.lines, changes=[LineChangeOut.of(c) for c in preview.changes],
        )  # fmt: skip


class LineEditOut(FromAttributes):
    id: int
    episode_id: str
    idx: int
    start: float
    before: str
    after: str
    editor: str
    edited_at: str
    reverted_at: str | None
    reverted_by: str | None


class UnsureWordOut(FromAttributes):
    word: str
    count: int  # times written so in the show's unchecked lines
    probability: float  # Whisper's lowest probability of it
    episode_id: str  # where it was least sure
    start: float


class DamagedOut(FromAttributes):
    """`fonoteca check --json`: an episode whose segments repeat or go back in time."""

    episode_id: str
    show_title: str
    title: str
    duplicated: int
    overlapping: int


class TableCheckOut(FromAttributes):
    """`fonoteca migrate --json`: one table after a copy, rows and checksum on each side."""

    table: str
    source_rows: int
    target_rows: int
    source_checksum: str
    target_checksum: str
    matches: bool


class QueueOut(BaseModel):
    queue: str
    waiting: int
    running: int
    failed: int


class RunningJobOut(BaseModel):
    id: int
    task: str
    queue: str
    worker: int | None
    subject: dict[str, Any]
    attempts: int


class FleetOut(FromAttributes):
    """The job queues (PostgreSQL): jobs per queue, the ones running, the workers and their throughput."""

    queues: list[QueueOut]
    running: list[RunningJobOut]
    workers: int
    transcribed_last_hour: float
    busy_workers: int
    hours_per_hour: float


class StatusOut(OnlyGivenFields):
    """`fonoteca status --json`: episodes per status, the pending and failed ones, and on PostgreSQL the job queues."""

    counts: dict[str, int]
    pending: list[EpisodeOut]
    failed: list[EpisodeOut]
    jobs: FleetOut | None = None

    @classmethod
    def of(
        cls, counts: Mapping[str, int], pending: Sequence[Episode], failed: Sequence[Episode], fleet: Fleet | None
    ) -> StatusOut:
        jobs = {"jobs": FleetOut.of(fleet)} if fleet is not None else {}
        return cls(counts=counts, pending=[EpisodeOut.of(e) for e in pending],
                   failed=[EpisodeOut.of(e) for e in failed], **jobs)  # fmt: skip


class MessageOut(OnlyGivenFields):
    """A stored chat message; an answer's with `sources` (every excerpt it was given, cited first, each marked
    `cited`) and `citations` (the cited ones alone)."""

    role: str
    content: str
    citations: list[dict[str, Any]] | None
    created_at: str
    sources: list[dict[str, Any]] | None = None

    @classmethod
    def of(cls, message: Message) -> MessageOut:
        if message.role != "assistant":
            return cls(role=message.role, content=message.content, citations=message.citations,
                       created_at=message.created_at)  # fmt: skip
        # Rows stored before sources existed hold only the cited ones.
        given = [{**s, "cited": s.get("cited", True)} for s in message.citations or []]
        cited = [{k: v for k, v in s.items() if k != "cited"} for s in given if s["cited"]]
        return cls(role=message.role, content=message.content, citations=cited, created_at=message.created_at,
                   sources=given)  # fmt: skip


class ExcerptOut(FromAttributes):
    """A transcript excerpt a chat answer was given, numbered as the answer cites it."""

    n: int
    episode_id: str
    title: str
    show: str
    date: str | None
    start: float
    end: float
    text: str
    url: str
    speaker: str | None = None  # who says it, where the transcript names them


class SourceOut(ExcerptOut):
    """The excerpt as the reader is shown it: what the model was given, and whether the answer cites it."""

    cited: bool

    @classmethod
    def of(cls, excerpt: Excerpt, *, cited: bool = True) -> SourceOut:
        return cls(**ExcerptOut.of(excerpt).model_dump(), cited=cited)


class AnswerOut(BaseModel):
    """`fonoteca ask --json`: the answer, the excerpts it cites, every excerpt it was given, its conversation."""

    answer: str
    citations: list[dict[str, Any]]
    sources: list[dict[str, Any]]
    conversation_id: str | None

    @classmethod
    def of(cls, turn: ChatTurn) -> AnswerOut:
        return cls(answer=turn.answer, citations=turn.citations, sources=turn.sources,
                   conversation_id=turn.conversation_id)  # fmt: skip


class ConversationOut(BaseModel):
    conversation_id: str
    messages: list[MessageOut]


class AnalysisOut(OnlyGivenFields):
    """A stored analysis (or translation) of an episode; `episode_id` only where it stands alone."""

    episode_id: str | None = None
    kind: str
    params: str
    model: str
    prompt_version: str
    transcript_rev: int
    result: Any
    created_at: str

    @classmethod
    def of(cls, analysis: Analysis, *, alone: bool = False) -> AnalysisOut:
        episode = {"episode_id": analysis.episode_id} if alone else {}
        return cls(**episode, kind=analysis.kind, params=analysis.params, model=analysis.model,
                   prompt_version=analysis.prompt_version, transcript_rev=analysis.transcript_rev,
                   result=analysis.result, created_at=analysis.created_at)  # fmt: skip


class AnalysesOut(OnlyGivenFields):
    """An episode's analyses; when they were just run, `errors` holds the reason of each kind that failed."""

    episode_id: str
    analyses: list[AnalysisOut]
    errors: dict[str, str] | None = None


class CitationOut(BaseModel):
    """A citation a written summary kept after the check: its marker in the text and a link to the second of the key
    moment (its number and quote) or chapter (its title) it cites."""

    marker: str  # "[2]" or "[12:30]"
    start: float
    url: str
    moment: int | None = None
    quote: str | None = None
    chapter: str | None = None


class SummaryOut(BaseModel):
    """An episode's summary. With a capable endpoint: the model's `text`, written from the chapters and key moments,
    each citation left in it ([2], [12:30]) under `citations` with its link. On the embedded setup `text` is null: the
    summary is the `key_moments`, and `note` says why and how to get a written one."""

    text: str | None
    citations: list[CitationOut]
    key_moments: list[KeyMomentOut]
    note: str | None
    focus: str | None

    @classmethod
    def of(cls, result: dict[str, Any]) -> SummaryOut:
        return cls(
            text=result.get("text"), citations=[CitationOut(**c) for c in result.get("citations") or []],
            key_moments=[
                KeyMomentOut(start=m["start"], end=m["end"], quote=m["quote"], url=m["url"])
                for m in result.get("key_moments") or []
            ],
            note=result.get("note"), focus=result.get("focus"),
        )  # fmt: skip


class AnalysisReportOut(OnlyGivenFields):
    """`fonoteca analyze --json`: one episode's analyses, each absent or failed one null, with the reason of each
    failure under `errors` (absent when none failed). `model` names the language model(s) the results came from (the
    language analysis' method, or the key moments, when no model was used); `models` says it per analysis."""

    episode_id: str
    title: str
    summary: SummaryOut | None
    topics: list[str] | None
    entities: dict[str, list[str]] | None
    sentiment: str | None
    anger: bool | None
    language: str | None
    model: str | None
    models: dict[str, str]
    errors: dict[str, str] | None = None
    # What the checks dropped of the model's answers, by kind: topics, people, organizations, products (not in the
    # transcript), citations (of the summary: a key moment or time it was not given); absent when they dropped nothing.
    dropped: dict[str, list[str]] | None = None

    @classmethod
    def of(cls, report: EpisodeAnalyses) -> AnalysisReportOut:
        def result(kind: str) -> Any:
            return report.analyses[kind].result if kind in report.analyses else None

        sentiment = result("sentiment") or {}
        given: dict[str, Any] = {"errors": {k: str(exc) for k, exc in report.errors.items()}} if report.errors else {}
        entities = result("entities")
        summary = result("summary")
        dropped = {"topics": (result("topics") or {}).get("dropped") or [], **((entities or {}).get("dropped") or {}),
                   "citations": (summary or {}).get("dropped") or []}  # fmt: skip
        if any(dropped.values()):
            given["dropped"] = {kind: names for kind, names in dropped.items() if names}
        return cls(
            episode_id=report.episode.id, title=report.episode.title,
            summary=SummaryOut.of(summary) if summary is not None else None,
            topics=(result("topics") or {}).get("topics"),
            entities={k: v for k, v in entities.items() if k != "dropped"} if entities is not None else None,
            sentiment=sentiment.get("sentiment"), anger=sentiment.get("anger"),
            language=(result("language") or {}).get("language"), model=report.model, models=report.models, **given,
        )  # fmt: skip


class TranslationReportOut(BaseModel):
    """`fonoteca analyze --what translation --json`: one episode's translation, of the lines from `start` to `end`."""

    episode_id: str
    title: str
    to: str
    start: float
    end: float
    text: str
    model: str

    @classmethod
    def of(cls, report: EpisodeTranslation) -> TranslationReportOut:
        return cls(episode_id=report.episode.id, title=report.episode.title, **report.translation.result,
                   model=report.translation.model)  # fmt: skip


def dump(value: BaseModel | Sequence[BaseModel]) -> Any:
    """A model, or a list of them, as plain JSON data (what `--json` prints)."""
    if isinstance(value, BaseModel):
        return value.model_dump(mode="json")
    return [item.model_dump(mode="json") for item in value]


# -- an episode at a glance -------------------------------------------------------------------------------------------


class ChapterOut(FromAttributes):
    start: float
    end: float | None
    title: str
    source: str  # publisher | generated
    url: str
    image: str
    toc: bool  # False: a publisher's silent chapter (art or a link), not listed


class KeyMomentOut(BaseModel):
    start: float
    end: float
    quote: str  # verbatim, as the transcript has it
    url: str  # the episode page at its second


class TopicOut(FromAttributes):
    term: str  # as said in the episode
    count: int
    score: float  # log-likelihood keyness against the rest of the archive


class OverviewOut(BaseModel):
    """`GET /api/episodes/{id}/chapters`, `fonoteca chapters --json` and the glance part of `fonoteca analyze --json`:
    the episode's chapters (the publisher's when it gave some), key moments and topics. `method` is how the generated
    ones were made (the passages' embeddings model, or "words"); `current` is false while they are of an older
    transcript (being remade) or not made yet."""

    episode_id: str
    title: str
    chapters_source: str | None  # publisher | generated | None (none yet)
    chapters: list[ChapterOut]
    key_moments: list[KeyMomentOut]
    topics: list[TopicOut]
    method: str
    current: bool

    @classmethod
    def of(cls, episode: Episode, overview: Overview | None) -> OverviewOut:
        if overview is None:
            return cls(
                episode_id=episode.id, title=episode.title, chapters_source=None, chapters=[], key_moments=[],
                topics=[], method="", current=False,
            )  # fmt: skip
        return cls(
            episode_id=episode.id,
            title=episode.title,
            chapters_source=overview.chapters[0].source if overview.chapters else None,
            chapters=[ChapterOut.of(c) for c in overview.chapters],
            key_moments=[
                KeyMomentOut(start=m.start, end=m.end, quote=m.quote, url=episode_url(episode.id, m.start))
                for m in overview.moments
            ],
            topics=[TopicOut.of(t) for t in overview.topics],
            method=overview.method,
            current=overview.current,
        )
