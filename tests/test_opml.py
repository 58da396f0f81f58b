"""OPML subscription lists in and out: the exports of real podcast apps (written from their documented formats, in
tests/data/opml), nested folders, a feed that fails among ones that work, hostile lists (entities, 10,000 outlines, an
outline pointing at a local file), and the archive's shows written back as OPML that listparser reads."""

from __future__ import annotations

import json
import time
from pathlib import Path

import listparser
import pytest
from fastapi.testclient import TestClient
from fixtures_http import MediaServer
from typer.testing import CliRunner

from fonoteca.app import Fonoteca
from fonoteca.cli import app as cli_app
from fonoteca.settings import Settings
from fonoteca.web.app import create_app

OPML = Path(__file__).parent / "data" / "opml"
TITLES = {"one": "Charlas de código", "two": "Ciencia & café", "three": "Tres"}


def _feed(title: str) -> bytes:
    return f"""<?xml version="1.0" encoding="UTF-8"?>
<rss version="2.0"><channel><title>{title.replace("&", "&amp;")}</title><link>https://example.org/</link>
<description>d</description>
<item><title>Episodio 1</title><guid>{title}-1</guid><pubDate>Tue, 02 Jan 2024 10:00:00 +0000</pubDate>
<enclosure url="https://example.org/{len(title)}.mp3" length="1" type="audio/mpeg"/></item>
</channel></rss>""".encode()


@pytest.fixture
def feeds(http_server: MediaServer) -> MediaServer:
    for name, title in TITLES.items():
        http_server.add(f"{name}.xml", _feed(title), "application/rss+xml")
    return http_server


def _list(name: str, server: MediaServer, tmp_path: Path, local: Path | None = None) -> Path:
    text = (OPML / name).read_text(encoding="utf-8").replace("{BASE}", server.base)
    target = tmp_path / name
    target.write_text(text.replace("{LOCAL}", str(local or tmp_path / "none.xml")), encoding="utf-8")
    return target


def _run(settings: Settings, *args: str) -> tuple[int, str]:
    result = CliRunner().invoke(cli_app, ["--home", str(settings.home), *args])
    return result.exit_code, result.stdout


@pytest.mark.parametrize(
    ("export", "expected"),
    [
        ("antennapod.opml", ["one", "two"]),
        ("pocketcasts.opml", ["one", "two", "three"]),  # inside a "feeds" folder
        ("overcast.opml", ["one", "two"]),  # episodes and playlists are outlines too: not feeds
        ("gpodder.opml", ["one", "two"]),
    ],
)
def test_a_podcast_apps_export_adds_every_feed_it_subscribes_to(
    settings: Settings, feeds: MediaServer, tmp_path: Path, export: str, expected: list[str]
) -> None:
    code, output = _run(settings, "add", str(_list(export, feeds, tmp_path)), "--no-sync")
    assert code == 0, output
    with Fonoteca(settings) as app:
        shows = {s.source: s.title for s in app.archive.list_shows()}
    assert shows == {feeds.url(f"/f/{name}.xml"): TITLES[name] for name in expected}
    assert f"{len(expected)} of {len(expected)} feeds added" in output


def test_dry_run_lists_the_feeds_of_nested_folders_and_refuses_a_local_file_without_adding_anything(
    settings: Settings, feeds: MediaServer, tmp_path: Path
) -> None:
    local_feed = tmp_path / "local.xml"
    local_feed.write_bytes(_feed("A feed on this disk"))
    subscriptions = _list("folders.opml", feeds, tmp_path, local=local_feed)
    code, output = _run(settings, "add", str(subscriptions), "--dry-run", "--json")
    listed = json.loads(output)
    assert [(f["title"], f["folder"]) for f in listed["feeds"]] == [
        ("Ciencia & café", "Ciencia / Física"), ("Tres", "Ciencia"), ("Charlas de código", ""), ("Se fue", ""),
    ]  # fmt: skip
    assert [r["url"] for r in listed["refused"]] == [f"file://{local_feed}"]
    assert code == 1  # something in the list was refused
    with Fonoteca(settings) as app:
        assert app.archive.list_shows() == []  # a dry run changes nothing


def test_a_failing_feed_is_one_line_and_the_others_are_added(
    settings: Settings, feeds: MediaServer, tmp_path: Path
) -> None:
    local_feed = tmp_path / "local.xml"
    local_feed.write_bytes(_feed("A feed on this disk"))
    code, output = _run(settings, "add", str(_list("folders.opml", feeds, tmp_path, local=local_feed)), "--no-sync")
    assert code == 1
    failed = [line for line in output.splitlines() if "failed" in line and "gone.xml" in line]
    assert len(failed) == 1 and "404" in failed[0]
    assert any("refused" in line and "file://" in line for line in output.splitlines())
    assert "3 of 4 feeds added" in output
    with Fonoteca(settings) as app:
        assert sorted(s.title for s in app.archive.list_shows()) == sorted(TITLES.values())  # not the local one


def test_entities_in_a_list_are_never_expanded(settings: Settings, feeds: MediaServer, tmp_path: Path) -> None:
    secret = tmp_path / "secret.txt"
    secret.write_text("TOP-SECRET-CONTENT")
    hostile = tmp_path / "hostile.opml"
    laughs = "".join(f'<!ENTITY l{n} "{f"&l{n - 1};" * 10}">' for n in range(1, 10))
    hostile.write_text(
        f"""<?xml version="1.0"?>
<!DOCTYPE opml [<!ENTITY xxe SYSTEM "file://{secret}"><!ENTITY l0 "lol">{laughs}]>
<opml version="2.0"><head><title>&xxe;</title></head><body>
<outline type="rss" text="&xxe; &l9;" xmlUrl="{feeds.url("/f/one.xml")}"/>
<outline type="rss" text="stolen" xmlUrl="&xxe;"/>
</body></opml>""",
        encoding="utf-8",
    )
    started = time.monotonic()
    code, output = _run(settings, "add", str(hostile), "--dry-run", "--json")
    assert time.monotonic() - started < 30  # a billion laughs would not finish
    assert "TOP-SECRET-CONTENT" not in output and "lollol" not in output
    assert [f["url"] for f in json.loads(output)["feeds"]] == [feeds.url("/f/one.xml")]


def test_ten_thousand_outlines_are_listed(settings: Settings, tmp_path: Path) -> None:
    many = tmp_path / "many.opml"
    outlines = "".join(
        f'<outline type="rss" text="Show {n}" xmlUrl="https://feeds.example.org/{n}.xml"/>' for n in range(10_000)
    )
    many.write_text(f'<?xml version="1.0"?><opml version="2.0"><head/><body>{outlines}</body></opml>')
    code, output = _run(settings, "add", str(many), "--dry-run", "--json")
    assert code == 0
    listed = json.loads(output)["feeds"]
    assert len(listed) == 10_000 and listed[-1]["url"] == "https://feeds.example.org/9999.xml"


def test_the_archives_shows_go_out_as_opml_that_listparser_reads_back(
    settings: Settings, feeds: MediaServer, tmp_path: Path
) -> None:
    assert _run(settings, "add", str(_list("pocketcasts.opml", feeds, tmp_path)), "--no-sync")[0] == 0
    with Fonoteca(settings) as app:  # a local folder is nobody's subscription: left out
        (tmp_path / "media").mkdir()
        app.archive.add_show(title="Mis grabaciones", source=str(tmp_path / "media"), source_kind="folder")
    code, exported = _run(settings, "export-opml")
    assert code == 0
    parsed = listparser.parse(exported.encode())
    assert not parsed.bozo
    assert sorted((f.url, f.title) for f in parsed.feeds) == sorted(
        (feeds.url(f"/f/{n}.xml"), t) for n, t in TITLES.items()
    )
    served = TestClient(create_app(settings)).get("/shows.opml")
    assert served.status_code == 200 and served.headers["content-type"].startswith("text/x-opml")
    assert sorted(f.url for f in listparser.parse(served.content).feeds) == sorted(f.url for f in parsed.feeds)

    again = tmp_path / "again.opml"  # and back in: every show is already there, nothing new
    again.write_text(exported, encoding="utf-8")
    code, output = _run(settings, "add", str(again), "--no-sync")
    assert code == 0 and "3 of 3 feeds added" in output
    with Fonoteca(settings) as app:
        assert len(app.archive.list_shows()) == 4
