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
from fixtures_web import serve_app
from mcp import Client
from mcp.client.stdio import StdioServerParameters
from mcp.client.streamable_http import streamable_http_client
from mcp.server.mcpserver import MCPServer
from mcp.shared.exceptions import MCPError

from fonoteca.app import Fonoteca
from fonoteca.mcp_server import build_server
from fonoteca.settings import Settings
from fonoteca.web.crowd import MCP_KINDS

TOKEN = "owner-token-for-mcp"
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
    after = await client.call_tool("stats", {})
    return {"tools": listed, "hit": hit, "lines": lines.structured_content, "errors": errors,
            "resource": resource.contents[0].text, "after": after.structured_content}  # fmt: skip


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
    assert seen["after"]["episodes"] == 3  # the server survived every hostile call


def test_fonoteca_mcp_over_stdio_searches_reads_a_slice_and_turns_bad_arguments_into_tool_errors(
    settings: Settings, web_archive: dict[str, str]
) -> None:
    environment = {
        "PATH": os.environ.get("PATH", "/usr/bin:/bin"), "HOME": str(settings.home),
        "PYTHONPATH": os.environ.get("PYTHONPATH", ""), "FONOTECA_EMBEDDINGS": "none",
        "FONOTECA_LLM_BASE_URL": "http://127.0.0.1:9/v1",
    }  # fmt: skip
    command = StdioServerParameters(
        command=sys.executable, args=["-m", "fonoteca", "--home", str(settings.home), "mcp"], env=environment
    )

    async def run() -> dict[str, Any]:
        async with Client(command) as client:
            return await _session(client, web_archive)

    seen = asyncio.run(run())
    _check(seen, web_archive)
    assert "ask" in seen["tools"]


def test_the_http_endpoint_serves_the_owner_and_refuses_anonymous_calls_on_a_private_archive(
    settings: Settings, web_archive: dict[str, str]
) -> None:
    private = settings.replace(token=TOKEN, embeddings="none")
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
