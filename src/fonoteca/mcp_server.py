"""The archive for LLM clients (Claude Desktop, IDEs, agents) as an MCP server: `fonoteca mcp` over stdio, and `/mcp`
in `fonoteca serve` over Streamable HTTP. Built with the official SDK (PyPI `mcp`, its MCPServer), and a thin shell
over the application object like cli/ and web/: each tool translates its arguments into one of Fonoteca's operations
and its answer into plain JSON.

Tools: `search` (every mode and filter of the search page; each hit with its show, episode, second, quote and link),
`transcript` (an episode's lines between two times), `episodes` and `shows` (listed and filtered), `trend` (a word's
history as numbers), `stats`, and `ask` (the archive's chat, when the server is not read-only). Resource template:
`fonoteca://episode/{episode_id}/transcript`, an episode's whole transcript with its times.

Inputs are checked as the JSON API checks them (the same choices and bounds, dates and unknown shows by the same
FonotecaErrors); a bad argument is a tool error with the error's one line, never a crash of the server. The server's
own trouble (a database or model that is away, a damaged file: a FonotecaError of status 5xx) names its folders and
servers, so, as on the web pages, only the owner's server tells it; anyone else's says only that the archive cannot
answer now. (The SDK already answers an unexpected exception with the tool's name alone.) Every answer
is bounded: at most MAX_HITS hits, MAX_LINES transcript lines, MAX_LIST episodes, MAX_POINTS trend points, quotes cut to
QUOTE_CHARS, a resource to RESOURCE_CHARS; an answer that was cut says so and where to go on.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Annotated, Any, Literal

import anyio
import numpy as np
from mcp.server.mcpserver import MCPServer
from mcp.server.mcpserver.exceptions import ResourceError, ToolError
from mcp_types import ToolAnnotations
from pydantic import Field

from fonoteca import __version__
from fonoteca.archive import Status
from fonoteca.archive.models import epoch
from fonoteca.errors import FonotecaError
from fonoteca.search.hybrid import MODES
from fonoteca.search.trends import GROUPINGS, MAX_TERMS, NORMALISATIONS, parse_terms
from fonoteca.text import format_timestamp
from fonoteca.web.crowd import MAX_QUERY_CHARS, MAX_RESULTS  # the same bounded work as the web's search

if TYPE_CHECKING:
    from fonoteca.app import Fonoteca
    from fonoteca.archive import Episode

MAX_HITS = 50
MAX_LINES = 400
MAX_LIST = 200
MAX_POINTS = 2000
QUOTE_CHARS = 400
LINE_CHARS = 2000
RESOURCE_CHARS = 300_000

INSTRUCTIONS = (
    "fonoteca is an archive of a show's (podcasts, streams) timestamped transcripts. Use `search` to find what was "
    "said and where (each hit has the second it was said and a link to it), `transcript` to read around a moment, "
    "`episodes`/`shows` to browse, `trend` for how often a word was said over time, `stats` for the archive's size. "
    "Quote what the transcripts say and give the links."
)

Mode = Literal[MODES]
Order = Literal["relevance", "date"]
Grouping = Literal[GROUPINGS]
Normalisation = Literal[NORMALISATIONS]
StatusName = Literal[tuple(s.value for s in Status)]  # type: ignore[valid-type]
_READ_ONLY = ToolAnnotations(readOnlyHint=True, openWorldHint=False)
DateFilter = Annotated[str | None, Field(description="YYYY, YYYY-MM or YYYY-MM-DD", max_length=10)]
ShowRef = Annotated[str | None, Field(description="a show's slug, id or title (see `shows`)", max_length=500)]
EpisodeRef = Annotated[str, Field(description="an episode's id (from search hits or `episodes`)", max_length=100)]


def build_server(fonoteca: Fonoteca, *, links_base: str, owner: bool = True) -> MCPServer:
    """The MCP server over one application object. `links_base`: the web archive's address, which the links of hits
    and episodes start with. The owner's has every tool; anyone else's (`owner=False`: the web's public and proxied
    clients) leaves out the tools that write to the archive (`ask` stores its conversation) and tells no internals."""
    server: MCPServer = MCPServer("fonoteca", version=__version__, instructions=INSTRUCTIONS, log_level="WARNING")
    links_base = links_base.rstrip("/")

    def link(episode_id: str, second: float = 0.0) -> str:
        return f"{links_base}/episode/{episode_id}" + (f"?t={int(second)}" if second else "")

    def checked(operation: Any, *args: Any, **kwargs: Any) -> Any:
        """The operation's answer; its FonotecaError (a bad date, an unknown show) as a tool error with its line."""
        try:
            return operation(*args, **kwargs)
        except FonotecaError as exc:
            raise ToolError(exc.told_to(owner)) from exc

    def episode_of(ref: str) -> Episode:
        return checked(fonoteca.archive.get_episode, ref)

    @server.tool(annotations=_READ_ONLY)
    def search(
        query: Annotated[str, Field(min_length=1, max_length=MAX_QUERY_CHARS, description='words, "a phrase", -word')],
        mode: Annotated[
            Mode | None, Field(description="default: hybrid where passages are embedded, else keyword")
        ] = None,
        show: ShowRef = None,
        episode: Annotated[str | None, Field(max_length=100, description="only this episode (its id)")] = None,
        date_from: DateFilter = None,
        date_to: DateFilter = None,
        order: Order = "relevance",
        limit: Annotated[int, Field(ge=1, le=MAX_HITS)] = 10,
        offset: Annotated[int, Field(ge=0, le=MAX_RESULTS - MAX_HITS)] = 0,
        speaker: Annotated[
            str | None, Field(max_length=200, description="only what this speaker says (their name, any case)")
        ] = None,
    ) -> dict[str, Any]:
        """Search the transcripts by words, by meaning or both. Each hit: show, episode, the second it is said at,
        who says it (where the transcript names them), the quote, and a link that plays it."""
        results = checked(
            fonoteca.search, query, show=show, episode=episode, date_from=date_from, date_to=date_to, limit=limit,
            offset=offset, order=order, mode=mode, speaker=speaker,
        )  # fmt: skip
        hits = [
            {
                "show": h.show, "episode_id": h.episode_id, "episode": h.title, "date": h.date,
                "second": round(h.start, 1), "time": format_timestamp(h.start), "speaker": h.speaker,
                "quote": _cut(h.text, QUOTE_CHARS), "link": link(h.episode_id, h.start),
            }
            for h in results.hits
        ]  # fmt: skip
        return {"total": results.total, "mode": results.mode, "note": results.note, "offset": offset, "hits": hits}

    @server.tool(annotations=_READ_ONLY)
    def transcript(
        episode: EpisodeRef,
        start: Annotated[float, Field(ge=0, description="from this second")] = 0.0,
        end: Annotated[float | None, Field(gt=0, description="up to this second (default: the end)")] = None,
    ) -> dict[str, Any]:
        """An episode's transcript lines between two times (seconds), each with its second and speaker."""
        found = episode_of(episode)
        if end is not None and end <= start:
            raise ToolError(f"end ({end:g}) must come after start ({start:g})")
        lines = [
            s
            for s in fonoteca.archive.segments(found.id, words=False)
            if s.end > start and (end is None or s.start < end)
        ]
        shown = lines[:MAX_LINES]
        answer: dict[str, Any] = {
            "episode_id": found.id, "episode": found.title, "show": found.show_title, "status": found.status,
            "link": link(found.id, start),
            "lines": [
                {"second": round(s.start, 1), "time": format_timestamp(s.start), "speaker": s.speaker,
                 "text": _cut(s.text.strip(), LINE_CHARS)}
                for s in shown
            ],
        }  # fmt: skip
        if len(lines) > len(shown):
            answer["truncated"] = f"{len(lines) - len(shown)} more lines: ask again from start={shown[-1].end:g}"
        elif not lines and found.status != Status.DONE:
            answer["note"] = f"not transcribed yet (status: {found.status})"
        return answer

    @server.tool(annotations=_READ_ONLY)
    def episodes(
        show: ShowRef = None,
        status: Annotated[StatusName | None, Field(description="only episodes with this status")] = None,
        title: Annotated[str | None, Field(max_length=200, description="only titles that contain this")] = None,
        date_from: DateFilter = None,
        date_to: DateFilter = None,
        limit: Annotated[int, Field(ge=1, le=MAX_LIST)] = 50,
        offset: Annotated[int, Field(ge=0)] = 0,
    ) -> dict[str, Any]:
        """The archive's episodes, newest first, filtered by show, status, title and dates."""
        scope = checked(fonoteca.scope, show=show, date_from=date_from, date_to=date_to)
        found = fonoteca.archive.list_episodes(scope.show_id, status=status)
        # The dates are those of the search's scope, checked by its one rule.
        dated = scope.allows(
            np.array([e.show_id for e in found]), [e.id for e in found], np.array([epoch(e.published) for e in found])
        )
        wanted = (title or "").casefold()
        chosen = [e for e, ok in zip(found, dated, strict=True) if ok and wanted in e.title.casefold()][::-1]
        page = chosen[offset : offset + limit]
        return {
            "total": len(chosen), "offset": offset,
            "episodes": [
                {"id": e.id, "show": e.show_title, "title": e.title, "date": e.date, "status": e.status,
                 "duration": e.duration, "language": e.language, "link": link(e.id)}
                for e in page
            ],
        }  # fmt: skip

    @server.tool(annotations=_READ_ONLY)
    def shows() -> dict[str, Any]:
        """The archive's shows: slug, title, episodes, transcribed episodes and hours."""
        stats = fonoteca.archive.stats()
        counts = fonoteca.archive.episodes_per_show()
        return {
            "shows": [
                {"slug": s.slug, "title": s.title, "episodes": counts.get(s.id, 0), "transcribed": n,
                 "hours": round(seconds / 3600, 2), "language": s.language or s.feed_language,
                 "link": f"{links_base}/show/{s.slug}"}
                for s, n, seconds in stats.by_show
            ]
        }  # fmt: skip

    @server.tool(annotations=_READ_ONLY)
    def trend(
        terms: Annotated[list[Annotated[str, Field(max_length=200)]], Field(min_length=1, max_length=MAX_TERMS)],
        show: ShowRef = None,
        by: Grouping = "month",
        per: Annotated[Normalisation, Field(description="raw counts, per hour of audio, or per 1,000 words")] = "raw",
    ) -> dict[str, Any]:
        """How often words or phrases were said over time: one point per word and episode or period."""
        points = checked(lambda: fonoteca.trend(parse_terms(terms), show=show, by=by, per=per))
        shown = points[:MAX_POINTS]
        answer: dict[str, Any] = {
            "by": by, "per": per,
            "points": [
                {"term": p.series or p.term, "period": p.key if by != "episode" else None, "episode_id": p.episode_id,
                 "label": p.label, "date": p.date, "count": p.count, "value": round(p.value, 3)}
                for p in shown
            ],
        }  # fmt: skip
        if len(points) > len(shown):
            answer["truncated"] = f"{len(points) - len(shown)} more points: group by a longer period"
        return answer

    @server.tool(annotations=_READ_ONLY)
    def stats(show: ShowRef = None) -> dict[str, Any]:
        """Transcribed episodes and hours, overall and per show."""
        result = checked(fonoteca.stats, show)
        return {
            "episodes": result.episodes, "hours": round(result.seconds / 3600, 2),
            "shows": [{"slug": s.slug, "title": s.title, "episodes": n, "hours": round(sec / 3600, 2)}
                      for s, n, sec in result.by_show],
        }  # fmt: skip

    if owner:

        @server.tool()
        async def ask(
            question: Annotated[str, Field(min_length=1, max_length=2000)],
            show: ShowRef = None,
            episode: Annotated[str | None, Field(max_length=100)] = None,
            conversation: Annotated[
                str | None, Field(max_length=64, description="go on with this conversation")
            ] = None,
        ) -> dict[str, Any]:
            """Ask the archive's language model; it answers from the transcripts' excerpts and cites them (each with
            its link). Needs the LLM endpoint fonoteca is configured with."""
            turn = await anyio.to_thread.run_sync(
                lambda: checked(fonoteca.chat_turn, question, conversation_id=conversation, show=show, episode=episode)
            )
            try:
                await turn.prepare()
            except FonotecaError as exc:
                raise ToolError(str(exc)) from exc
            async for event in turn.events():
                if event.event == "error":
                    raise ToolError(event.data["message"])
            return {
                "answer": turn.answer, "conversation": turn.conversation_id,
                "sources": [
                    {**{k: s[k] for k in ("n", "show", "episode_id", "title", "date", "start", "speaker", "cited")},
                     "text": _cut(s["text"], QUOTE_CHARS), "link": link(s["episode_id"], s["start"])}
                    for s in turn.sources
                ],
            }  # fmt: skip

    @server.resource(
        "fonoteca://episode/{episode_id}/transcript", name="transcript", mime_type="text/plain",
        description="An episode's whole transcript, one line per segment with its time and speaker.",
    )  # fmt: skip
    def transcript_resource(episode_id: str) -> str:
        try:
            found = fonoteca.archive.get_episode(episode_id)
        except FonotecaError as exc:
            raise ResourceError(exc.told_to(owner)) from exc
        lines = [
            f"[{format_timestamp(s.start)}] " + (f"{s.speaker}: " if s.speaker else "") + s.text.strip()
            for s in fonoteca.archive.segments(found.id, words=False)
        ]
        text = f"{found.title} — {found.show_title} ({found.date or 'undated'})\n\n" + "\n".join(lines)
        return _cut(text, RESOURCE_CHARS, more="\n[… cut here: read the rest with the `transcript` tool]")

    return server


def _cut(text: str, most: int, more: str = "…") -> str:
    return text if len(text) <= most else text[: most - len(more)] + more
