"""The MCP server, driven by the official SDK's own client: `fonoteca mcp` as a subprocess over stdio, and `/mcp` of
the real web app under uvicorn over Streamable HTTP. Tools are listed and called on the web archive's real episodes; a
hostile argument is a tool error (the server goes on answering); a private archive's endpoint refuses anonymous
calls."""

from __future__ import annotations

import asyncio
import os
import sys
from typing import Any

import httpx
import httpx2
import pytest
from fixtures_llm import LLM_CONTEXT, VOYAGER, add_episode
from fixtures_web import serve_app
from mcp import Client
from mcp.client.stdio import StdioServerParameters
from mcp.client.streamable_http import streamable_http_client
from mcp.server.mcpserver import MCPServer
from mcp.shared.exceptions import MCPError

from fonoteca.app import Fonoteca
from fonoteca.archive import Archive, Segment
from fonoteca.llm.client import SERVE_HINT
from fonoteca.llm.server import LocalServer
from fonoteca.mcp_server import MAX_LINES, RESOURCE_CHARS, build_server
from fonoteca.settings import Settings
from fonoteca.web.crowd import MCP_KINDS

TOKEN = "owner-token-for-mcp"
LLM_DOWN = "http://127.0.0.1:9/v1"  # nothing listens there: a model call fails at once
TOOLS = {"search", "transcript", "episodes", "shows", "trend", "stats", "ask"}
HOSTILE = [
    ("search", {"query": "streaming", "limit": 10**9}),  # over the bound
    ("search", {"query": "streaming", "date_from": "2024-13-45"}),  # not a date
    ("search", {"query": "streaming", "mode": "telepathy"}),  # not a mode
    ("search", {"query": "streaming", "show": "no-such-show"}),
    ("search", {"query": ""}),
    ("transcript", {"episode": "../../../etc/passwd"}),
    ("transcript", {"episode": "x" * 10_000}),
    ("transcript", {"episode": "PLACEHOLDER", "start": 30, "end": 10}),
    ("trend", {"terms": [f"w{n}" for n in range(50)]}),
    ("episodes", {"status": "hacked"}),
    ("stats", {"show": {"$ne": 1}}),
]


async def _session(client: Client, ids: dict[str, str]) -> dict[str, Any]:
    """What a client does with the archive: list the tools, search, read the lines around a hit, then send every
    hostile argument and check the server still answers."""
    listed = {t.name for t in (await client.list_tools()).tools}
    found = await client.call_tool("search", {"query": "inteligencia artificial", "limit": 5})
    hit = found.structured_content["hits"][0]
    lines = await client.call_tool("transcript", {"episode": hit["episode_id"], "start": 15, "end": 35})
    errors = []
    for tool, arguments in HOSTILE:
        arguments = {k: (ids["stream"] if v == "PLACEHOLDER" else v) for k, v in arguments.items()}
        answer = await client.call_tool(tool, arguments)
        errors.append((tool, answer.is_error, answer.content[0].text if answer.content else ""))
    resource = await client.read_resource(f"fonoteca://episode/{ids['jfk']}/transcript")
    listing = await client.call_tool("episodes", {"show": "midulive", "date_from": "2024-02"})
    shows = await client.call_tool("shows", {})
    trend = await client.call_tool("trend", {"terms": ["streaming"], "by": "episode"})
    # The owner's `ask` with an endpoint that does not answer (the tests' settings point at port 9): a tool error.
    asked = await client.call_tool("ask", {"question": "¿Qué es streaming?"}) if "ask" in listed else None
    after = await client.call_tool("stats", {})
    return {"tools": listed, "hit": hit, "lines": lines.structured_content, "errors": errors,
            "resource": resource.contents[0].text, "episodes": listing.structured_content,
            "shows": shows.structured_content, "trend": trend.structured_content,
            "ask": (asked.is_error, asked.content[0].text) if asked else None,
            "after": after.structured_content}  # fmt: skip


def _check(seen: dict[str, Any], ids: dict[str, str]) -> None:
    assert seen["tools"] >= TOOLS - {"ask"}
    hit = seen["hit"]
    assert (hit["show"], hit["episode_id"], hit["second"]) == ("Midulive", ids["stream"], 20.0)
    assert "inteligencia artificial" in hit["quote"] and hit["link"].endswith(f"/episode/{ids['stream']}?t=20")
    assert [line["second"] for line in seen["lines"]["lines"]] == [10.0, 20.0, 30.0]
    assert all(is_error for _tool, is_error, _text in seen["errors"]), seen["errors"]
    messages = [text for _tool, _is_error, text in seen["errors"]]
    assert any("YYYY-MM" in m for m in messages) and any("no show called" in m for m in messages)
    assert "ask not what your country" in seen["resource"] and "[0:03]" in seen["resource"]
    listing = seen["episodes"]  # newest first, from February 2024 on
    assert listing["total"] == 2 and [e["id"] for e in listing["episodes"]] == [ids["post"], ids["stream"]]
    assert listing["episodes"][1]["link"].endswith(f"/episode/{ids['stream']}")
    assert [(s["slug"], s["episodes"], s["transcribed"]) for s in seen["shows"]["shows"]] == [(ids["show"], 3, 3)]
    counts = {p["episode_id"]: p["count"] for p in seen["trend"]["points"]}
    assert (counts[ids["jfk"]], counts[ids["stream"]]) == (1, 2)
    if seen["ask"] is not None:
        told = f"Error executing tool ask: no language model server answers at {LLM_DOWN} — {SERVE_HINT}"
        assert seen["ask"] == (True, told)
    assert seen["after"]["episodes"] == 3  # the server survived every hostile call


def test_fonoteca_mcp_over_stdio_searches_reads_a_slice_and_turns_bad_arguments_into_tool_errors(
    settings: Settings, web_archive: dict[str, str]
) -> None:
    async def run() -> dict[str, Any]:
        async with Client(_stdio(settings, FONOTECA_LLM_BASE_URL=LLM_DOWN)) as client:
            return await _session(client, web_archive)

    seen = asyncio.run(run())
    _check(seen, web_archive)
    assert "ask" in seen["tools"]


def test_the_http_endpoint_serves_the_owner_and_refuses_anonymous_calls_on_a_private_archive(
    settings: Settings, web_archive: dict[str, str]
) -> None:
    private = settings.replace(token=TOKEN, embeddings="none", llm_base_url=LLM_DOWN)
    with serve_app(private) as base:
        anonymous = httpx.post(
            f"{base}/mcp", json={"jsonrpc": "2.0", "id": 1, "method": "tools/list"},
            headers={"Accept": "application/json, text/event-stream"},
        )  # fmt: skip
        assert anonymous.status_code == 401 and anonymous.headers["www-authenticate"] == "Bearer"

        async def refused() -> None:
            async with Client(f"{base}/mcp") as client:
                await client.list_tools()

        with pytest.raises(BaseExceptionGroup) as raised:  # the SDK's client gives up on the 401: no tool ran
            asyncio.run(refused())
        assert raised.group_contains(MCPError)

        async def owner() -> dict[str, Any]:
            headers = {"Authorization": f"Bearer {TOKEN}"}
            async with (
                httpx2.AsyncClient(headers=headers, timeout=30) as http,
                Client(streamable_http_client(f"{base}/mcp", http_client=http)) as client,
            ):
                return await _session(client, web_archive)

        _check(asyncio.run(owner()), web_archive)


def test_in_public_mode_anyone_gets_the_read_only_tools_and_the_owner_all_of_them(
    settings: Settings, web_archive: dict[str, str]
) -> None:
    public = settings.replace(token=TOKEN, embeddings="none", public=True)
    with serve_app(public) as base:

        async def tools(headers: dict[str, str]) -> tuple[set[str], int]:
            async with (
                httpx2.AsyncClient(headers=headers, timeout=30) as http,
                Client(streamable_http_client(f"{base}/mcp", http_client=http)) as client,
            ):
                found = await client.call_tool("search", {"query": "streaming"})
                return {t.name for t in (await client.list_tools()).tools}, found.structured_content["total"]

        anyone, found = asyncio.run(tools({}))
        assert anyone == TOOLS - {"ask"} and found == 4  # reading, never writing: no conversation is stored
        owner, _ = asyncio.run(tools({"Authorization": f"Bearer {TOKEN}"}))
        assert owner == TOOLS


def test_the_servers_own_trouble_names_its_files_to_the_owner_only(settings: Settings, web_archive) -> None:
    fonoteca = Fonoteca(settings.replace(embeddings="none"))
    owner = build_server(fonoteca, links_base="https://archivo.example.org")
    reader = build_server(fonoteca, links_base="https://archivo.example.org", owner=False)
    fonoteca.archive.close()
    settings.db_path.rename(settings.db_path.with_name("moved.db"))
    settings.db_path.mkdir()  # the archive's file became a folder: its next reader cannot open it (StorageError, 503)

    async def told(server: MCPServer) -> list[str]:
        async with Client(server) as client:
            answer = await client.call_tool("transcript", {"episode": web_archive["jfk"]})
            assert answer.is_error
            with pytest.raises(MCPError) as refused:
                await client.read_resource(f"fonoteca://episode/{web_archive['jfk']}/transcript")
            return [answer.content[0].text, str(refused.value)]

    try:
        for line in asyncio.run(told(reader)):
            assert "Service Unavailable: the archive cannot answer this now" in line and str(settings.home) not in line
        assert all(str(settings.db_path) in line for line in asyncio.run(told(owner)))
    finally:
        fonoteca.close()


def test_every_tool_is_counted_by_the_rate_limits_or_named_as_free_of_them(settings: Settings) -> None:
    async def tools() -> set[str]:
        async with Client(build_server(Fonoteca(settings), links_base="http://127.0.0.1:8000")) as client:
            return {tool.name for tool in (await client.list_tools()).tools}

    assert asyncio.run(tools()) == set(MCP_KINDS)


def _stdio(settings: Settings, **environment: str) -> StdioServerParameters:
    """`fonoteca mcp` as an MCP client starts it: a subprocess over stdio, with the archive of `settings`."""
    environment = {
        "PATH": os.environ.get("PATH", "/usr/bin:/bin"), "HOME": str(settings.home),
        "PYTHONPATH": os.environ.get("PYTHONPATH", ""), "FONOTECA_EMBEDDINGS": "none", **environment,
    }  # fmt: skip
    return StdioServerParameters(
        command=sys.executable, args=["-m", "fonoteca", "--home", str(settings.home), "mcp"], env=environment
    )


def test_the_ask_tool_answers_from_the_archive_with_linked_sources_and_goes_on_with_its_conversation(
    settings: Settings, llm_server: LocalServer
) -> None:
    """`ask` over stdio with the real llama.cpp server and the packaged model: what the model writes is not checked,
    only what fonoteca makes of it (sources with their links, the conversation stored and continued)."""
    with Archive(settings.db_path) as archive:
        episode = add_episode(archive, VOYAGER, title="Noticias de la NASA")
    command = _stdio(settings, FONOTECA_LLM_BASE_URL=llm_server.base_url, FONOTECA_LLM_CONTEXT=str(LLM_CONTEXT))

    async def run() -> tuple[dict[str, Any], dict[str, Any]]:
        async with Client(command) as client:
            first = await client.call_tool("ask", {"question": "¿Qué le pasó a la sonda Voyager de la NASA?"})
            assert not first.is_error, first.content
            conversation = first.structured_content["conversation"]
            second = await client.call_tool(
                "ask", {"question": "¿Y qué quiere el equipo?", "conversation": conversation}
            )
            assert not second.is_error, second.content
            return first.structured_content, second.structured_content

    first, second = asyncio.run(run())
    assert isinstance(first["answer"], str)  # its words are the model's; what is checked is fonoteca's part
    assert first["sources"] and any("Voyager" in s["text"] for s in first["sources"])
    for source in first["sources"]:
        assert source["episode_id"] == episode.id and source["show"] == episode.show_title
        assert source["link"] == f"http://127.0.0.1:8000/episode/{episode.id}" + (
            f"?t={int(source['start'])}" if source["start"] else ""
        )
    assert second["conversation"] == first["conversation"]
    with Archive(settings.db_path) as archive:  # both turns stored in the one conversation, as the chat page keeps them
        roles = [m.role for m in archive.messages(first["conversation"])]
    assert roles == ["user", "assistant", "user", "assistant"]


def test_answers_are_bounded_and_say_where_to_go_on(settings: Settings) -> None:
    """An episode of 1,000 long lines: the transcript tool gives MAX_LINES of them and the second to ask from next, and
    the resource is cut at RESOURCE_CHARS with a line that says so."""
    with Archive(settings.db_path) as archive:
        show, _ = archive.add_show(title="Maratón", source="https://example.org/maraton.xml", source_kind="feed")
        episode, _ = archive.upsert_episode(
            show, guid="largo", title="Un directo de 17 horas", kind="audio", status="done", source="transcribed"
        )  # fmt: skip
        archive.append_segments(
            episode.id, [Segment(n * 60.0, n * 60.0 + 59, f"Línea {n}: " + "palabra " * 50) for n in range(1000)]
        )

    async def run() -> tuple[dict[str, Any], dict[str, Any], str]:
        async with Client(build_server(Fonoteca(settings), links_base="http://127.0.0.1:8000")) as client:
            first = (await client.call_tool("transcript", {"episode": episode.id})).structured_content
            go_on = float(first["truncated"].rsplit("start=", 1)[1])
            rest = (await client.call_tool("transcript", {"episode": episode.id, "start": go_on})).structured_content
            resource = await client.read_resource(f"fonoteca://episode/{episode.id}/transcript")
            return first, rest, resource.contents[0].text

    first, rest, resource = asyncio.run(run())
    assert len(first["lines"]) == MAX_LINES and first["truncated"].startswith(f"{1000 - MAX_LINES} more lines")
    assert rest["lines"][0]["text"].startswith(f"Línea {MAX_LINES}:") and len(rest["lines"]) == MAX_LINES
    assert len(resource) == RESOURCE_CHARS and resource.endswith("read the rest with the `transcript` tool]")
