"""A show's Podcasting 2.0 feed and its transcript files, read back by the parsers podcast apps use: feedparser and
gPodder's podcastparser for the feed, webvtt-py and srt for the transcript files, and the Podcasting 2.0 JSON shape.
The show is a real Podcasting 2.0 feed of the shared data, served over HTTP and added as a user adds it."""

from __future__ import annotations

import html
import io
import json
import time

import feedparser
import jsonschema
import numpy as np
import podcastparser
import pytest
import srt
import webvtt
from conftest import shared_path
from fastapi.testclient import TestClient
from fixtures_http import MediaServer
from lxml import etree
from typer.testing import CliRunner

from fonoteca.app import Fonoteca
from fonoteca.archive import Chapter, ChapterSource, EpisodeSpeaker, KeyMoment, Overview, Segment, SpeakerTurn
from fonoteca.cli import app as cli_app
from fonoteca.ingest.transcripts import parse_transcript
from fonoteca.output.feed import PODCAST_NS
from fonoteca.settings import Settings
from fonoteca.web.app import create_app

TOKEN = "s3cret-token-of-the-owner"
TALK = [
    Segment(0.0, 4.0, "Welcome back to Podcasting 2.0 & friends <3", speaker="Adam Curry"),
    Segment(4.0, 9.5, "Good to be here, Adam.", speaker="Dave Jones"),
    Segment(9.5, 12.0, "And a voice nobody named.", speaker="SPEAKER_02"),
]


@pytest.fixture
def podcast(settings: Settings, http_server: MediaServer) -> dict[str, object]:
    """The Podcasting 2.0 show's own feed (56 episodes) added without syncing, and two of its episodes finished: one
    with named speakers, one without any."""
    original = shared_path("feeds", "partytime", "pc20rss.xml").read_bytes()
    url = http_server.add("pc20rss.xml", original, "application/rss+xml")
    with Fonoteca(settings) as app:
        show, _ = app.add(url, sync_now=False)
        newest, second = sorted(app.archive.list_episodes(show.id), key=lambda e: e.published or "")[-2:][::-1]
        app.archive.replace_transcript(newest.id, TALK, source="imported", language="en")
        app.archive.replace_transcript(
            second.id, [Segment(0.0, 3.0, "Sin voces con nombre."), Segment(3.0, 5.0, "Dos líneas.")],
            source="transcribed", language="es",
        )  # fmt: skip
        app.update_index()  # as a sync leaves it: the server's indexer has nothing to do
    return {"slug": show.slug, "original": original, "newest": newest.id, "second": second.id}


def _path(url: str) -> str:
    return url.removeprefix("http://testserver")


def test_the_feed_is_the_publishers_show_with_transcripts_and_people_that_both_parsers_read_back(
    settings: Settings, podcast: dict[str, object]
) -> None:
    http = TestClient(create_app(settings))
    answer = http.get(f"/show/{podcast['slug']}/feed.xml")
    assert answer.status_code == 200 and answer.headers["content-type"].startswith("application/rss+xml")
    ours, theirs = answer.content, podcast["original"]

    # gPodder's parser: the same episodes as the publisher's feed — GUIDs, titles, enclosures, dates — so an app
    # takes it for the same show.
    mine = podcastparser.parse("http://testserver/feed.xml", _stream(ours))
    publisher = podcastparser.parse("http://example.org/pc20rss.xml", _stream(theirs))
    assert mine["title"] == publisher["title"]
    assert [_item(e) for e in mine["episodes"]] == [_item(e) for e in publisher["episodes"]]
    by_guid = {e["guid"]: e for e in mine["episodes"]}
    newest = next(e for e in mine["episodes"] if e.get("transcript_url"))
    assert [p["name"] for p in newest["persons"]] == ["Adam Curry", "Dave Jones"]  # not the unnamed voice
    assert sum(1 for e in by_guid.values() if e.get("transcript_url")) == 2  # only the finished episodes

    # feedparser: well-formed, the same GUIDs, and the Podcasting 2.0 tags.
    parsed = feedparser.parse(ours)
    assert not parsed.bozo, parsed.get("bozo_exception")
    assert [e.id for e in parsed.entries] == [e["guid"] for e in mine["episodes"]]
    assert parsed.feed.title == "Podcasting 2.0"

    # Every transcript of each finished episode, in the order an app should prefer them.
    tree = etree.fromstring(ours)
    items = {i.findtext("guid"): i for i in tree.iter("item")}
    newest_item = items[newest["guid"]]
    transcripts = [dict(t.attrib) for t in newest_item.iter(f"{{{PODCAST_NS}}}transcript")]
    assert [(t["type"], t.get("rel"), t["language"]) for t in transcripts] == [
        ("text/vtt", None, "en"), ("application/json", None, "en"), ("application/x-subrip", "captions", "en"),
    ]  # fmt: skip
    assert parsed.entries[0].podcast_transcript["url"] == transcripts[-1]["url"]  # feedparser keeps the last one

    vtt = http.get(_path(transcripts[0]["url"]))
    captions = webvtt.from_buffer(_text_stream(vtt.text))
    # Cue text is markup: & and < arrive escaped, as WebVTT requires (webvtt-py leaves the references as they are).
    assert [(c.voice, html.unescape(c.text), c.start_in_seconds) for c in captions] == [
        ("Adam Curry", "Welcome back to Podcasting 2.0 & friends <3", 0),
        ("Dave Jones", "Good to be here, Adam.", 4),
        ("SPEAKER_02", "And a voice nobody named.", 9),
    ]
    shape = http.get(_path(transcripts[1]["url"])).json()
    assert shape["version"] == "1.0.0"
    assert [(s["startTime"], s["endTime"], s["body"], s["speaker"]) for s in shape["segments"]] == [
        (s.start, s.end, s.text, s.speaker) for s in TALK
    ]
    subtitles = list(srt.parse(http.get(_path(transcripts[2]["url"])).text))
    assert [(s.start.total_seconds(), s.content) for s in subtitles][1] == (4.0, "Dave Jones: Good to be here, Adam.")
    for t in transcripts:  # in-browser players fetch them from another origin
        served = http.get(_path(t["url"]))
        assert served.headers["access-control-allow-origin"] == "*"
        assert served.headers["content-type"].startswith(t["type"])
        assert served.headers["last-modified"] and served.headers["etag"]


def test_feed_and_files_answer_304_while_nothing_changed_and_change_when_a_transcript_does(
    settings: Settings, podcast: dict[str, object]
) -> None:
    with TestClient(create_app(settings)) as http:  # the lifespan follows the archive's change counter
        http.get("/")  # the visitor's cookie is set (a validator is per visitor: web/caching.py)
        feed = http.get(f"/show/{podcast['slug']}/feed.xml")
        again = http.get(f"/show/{podcast['slug']}/feed.xml", headers={"If-None-Match": feed.headers["etag"]})
        assert again.status_code == 304 and again.content == b""
        vtt_url = f"/show/{podcast['slug']}/episodes/{podcast['newest']}.vtt"
        vtt = http.get(vtt_url)
        assert http.get(vtt_url, headers={"If-None-Match": vtt.headers["etag"]}).status_code == 304
        assert http.get(vtt_url, headers={"If-Modified-Since": vtt.headers["last-modified"]}).status_code == 304

        with Fonoteca(settings) as app:  # the transcript is replaced (a correction, a re-transcription)
            app.archive.replace_transcript(podcast["newest"], [Segment(0, 2, "Corrected.")], source="imported")
        deadline = time.monotonic() + 10
        while (
            changed := http.get(f"/show/{podcast['slug']}/feed.xml", headers={"If-None-Match": feed.headers["etag"]})
        ).status_code == 304:
            assert time.monotonic() < deadline, "the feed never changed"
            time.sleep(0.1)
        assert changed.status_code == 200 and changed.headers["etag"] != feed.headers["etag"]
        fresh = http.get(vtt_url, headers={"If-None-Match": vtt.headers["etag"]})
        assert fresh.status_code == 200 and "Corrected." in fresh.text


def test_a_private_archive_serves_feeds_under_a_secret_path_the_owner_rotates(
    settings: Settings, podcast: dict[str, object]
) -> None:
    private = settings.replace(token=TOKEN)
    http = TestClient(create_app(private))
    owner = {"Authorization": f"Bearer {TOKEN}"}
    slug = podcast["slug"]
    assert http.get(f"/show/{slug}/feed.xml").status_code == 401  # the archive's own address is the owner's
    assert http.get(f"/show/{slug}/episodes/{podcast['newest']}.vtt").status_code == 401
    address = http.get(f"/api/shows/{slug}/feed", headers=owner).json()["url"]
    assert address.startswith("http://testserver/feeds/") and TOKEN not in address

    feed = http.get(_path(address))  # what a podcast app does: no token
    assert feed.status_code == 200
    files = [t.get("url") for t in etree.fromstring(feed.content).iter(f"{{{PODCAST_NS}}}transcript")]
    assert files and all(f.startswith(address.removesuffix("feed.xml")) for f in files)
    assert all(http.get(_path(f)).status_code == 200 for f in files)
    secret_base = address.removesuffix("/feed.xml")
    # The secret opens its own show's files and nothing else: not another path, not a made-up episode.
    assert http.get(_path(f"{secret_base}/episodes/0000000000.vtt")).status_code == 404
    assert http.get(_path(f"{secret_base}/episodes/{podcast['newest']}.mp3")).status_code == 404
    assert http.get("/feeds/not-the-secret/feed.xml").status_code == 404
    assert http.get(_path(secret_base.replace("/feeds/", "/feeds/x") + "/feed.xml")).status_code == 404

    rotated = http.post(f"/api/shows/{slug}/feed/rotate", headers=owner).json()["url"]
    assert rotated != address
    assert http.get(_path(address)).status_code == 404  # the old address stops answering at once
    assert http.get(_path(files[0])).status_code == 404
    assert http.get(_path(rotated)).status_code == 200
    assert http.post(f"/api/shows/{slug}/feed/rotate").status_code == 401  # only the owner rotates


def test_fonoteca_feed_writes_the_feed_for_static_hosting_with_every_file_it_links(
    settings: Settings, podcast: dict[str, object], tmp_path
) -> None:
    site = tmp_path / "site"
    base = "https://static.example.org/pod"
    with Fonoteca(settings) as app:
        app.archive.overviews.save_publisher_chapters(
            str(podcast["newest"]), [Chapter(0.0, "Intro"), Chapter(4.0, "Dave")]
        )
    result = CliRunner().invoke(
        cli_app, ["--home", str(settings.home), "feed", str(podcast["slug"]), "--base-url", base, "--files", str(site)]
    )
    assert result.exit_code == 0, result.output
    xml = result.stdout_bytes
    parsed = feedparser.parse(xml)
    assert not parsed.bozo and len(parsed.entries) == 56
    linked = [
        t.get("url") for t in etree.fromstring(xml).iter(f"{{{PODCAST_NS}}}transcript", f"{{{PODCAST_NS}}}chapters")
    ]
    assert len(linked) == 7  # three transcripts of each finished episode, and the newest one's chapters
    for url in linked:  # each file the feed links is in the folder, at the same path under the base
        assert url.startswith(f"{base}/episodes/")
        assert (site / url.removeprefix(f"{base}/")).is_file()
    assert sorted(p.name for p in (site / "episodes").iterdir()) == sorted(u.rsplit("/", 1)[1] for u in linked)
    assert webvtt.read(str(site / "episodes" / f"{podcast['newest']}.vtt"))[0].voice == "Adam Curry"
    chapters = json.loads((site / "episodes" / f"{podcast['newest']}.chapters.json").read_text(encoding="utf-8"))
    jsonschema.validate(chapters, CHAPTERS_SCHEMA)
    assert [c["title"] for c in chapters["chapters"]] == ["Intro", "Dave"]

    url = CliRunner().invoke(cli_app, ["--home", str(settings.home), "feed", str(podcast["slug"]), "--url"])
    rotated = CliRunner().invoke(cli_app, ["--home", str(settings.home), "feed", str(podcast["slug"]), "--rotate"])
    assert url.stdout.strip().endswith("/feed.xml") and "/feeds/" in url.stdout
    assert rotated.exit_code == 0 and rotated.stdout.strip() != url.stdout.strip()


def _item(episode: dict) -> tuple:
    enclosures = [e["url"] for e in episode["enclosures"]]
    return episode["guid"], episode["title"], episode["published"], enclosures


def _stream(data: object) -> io.BytesIO:
    return io.BytesIO(data)  # type: ignore[arg-type]


def _text_stream(text: str) -> io.StringIO:
    return io.StringIO(text)


def test_the_json_transcript_is_podcasting_20s_shape(settings: Settings, podcast: dict[str, object]) -> None:
    """https://github.com/Podcastindex-org/podcast-namespace/blob/main/transcripts/transcripts.md#json: version, and
    segments with startTime/endTime in seconds, body, and the speaker where known."""
    http = TestClient(create_app(settings))
    shape = json.loads(http.get(f"/show/{podcast['slug']}/episodes/{podcast['second']}.json").content)
    assert set(shape) == {"version", "segments"}
    for segment in shape["segments"]:
        assert set(segment) <= {"startTime", "endTime", "body", "speaker"}
        assert isinstance(segment["startTime"], float) and segment["endTime"] >= segment["startTime"]
        assert isinstance(segment["body"], str) and segment["body"]
    assert "speaker" not in shape["segments"][0]


def test_in_public_mode_the_feed_is_everyones_and_the_owners_parts_are_not(
    settings: Settings, podcast: dict[str, object]
) -> None:
    slug = podcast["slug"]
    anyone = TestClient(create_app(settings.replace(token=TOKEN, public=True)))
    feed = anyone.get(f"/show/{slug}/feed.xml")
    assert feed.status_code == 200
    assert len(feedparser.parse(feed.content).entries[0].enclosures) == 1  # the publisher's media, as the player plays
    transcript = next(etree.fromstring(feed.content).iter(f"{{{PODCAST_NS}}}transcript")).get("url")
    assert anyone.get(_path(transcript)).status_code == 200
    assert anyone.get("/shows.opml").status_code == 401  # feed addresses may hold a private feed's key
    assert anyone.get(f"/api/shows/{slug}/feed").status_code == 401
    assert anyone.post(f"/api/shows/{slug}/feed/rotate").status_code == 401

    alternate = 'type="application/rss+xml" title="Podcasting 2.0 (podcast feed with transcripts)"'
    assert f'{alternate} href="/show/{slug}/feed.xml"' in anyone.get(f"/show/{slug}").text  # browsers and apps find it

    silent = TestClient(create_app(settings.replace(token=TOKEN, public=True, public_media="none")))
    assert feedparser.parse(silent.get(f"/show/{slug}/feed.xml").content).entries[0].enclosures == []

    proxied = TestClient(
        create_app(settings.replace(public=True, token=TOKEN, public_url="https://archive.example.org"))
    )
    links = [
        t.get("url")
        for t in etree.fromstring(proxied.get(f"/show/{slug}/feed.xml").content).iter(f"{{{PODCAST_NS}}}transcript")
    ]
    assert links and all(u.startswith(f"https://archive.example.org/show/{slug}/episodes/") for u in links)


# The chapters file's format, from the namespace's jsonChapters.md (version 1.2): an object with `version` and
# `chapters`, each chapter a `startTime` in seconds and the optional fields of the spec, nothing else.
CHAPTERS_SCHEMA = {
    "type": "object",
    "required": ["version", "chapters"],
    "properties": {
        "version": {"type": "string", "pattern": r"^1\.2(\.\d+)?$"},
        "author": {"type": "string"}, "title": {"type": "string"}, "podcastName": {"type": "string"},
        "description": {"type": "string"}, "fileName": {"type": "string"},
        "waypoints": {"type": "boolean"},
        "chapters": {
            "type": "array",
            "items": {
                "type": "object",
                "required": ["startTime"],
                "additionalProperties": False,
                "properties": {
                    "startTime": {"type": "number", "minimum": 0}, "endTime": {"type": "number", "minimum": 0},
                    "title": {"type": "string"}, "img": {"type": "string"}, "url": {"type": "string"},
                    "toc": {"type": "boolean"},
                    "location": {"type": "object", "required": ["name", "geo"]},
                },
            },
        },
    },
}  # fmt: skip


def test_chapters_and_key_moments_join_the_feed_once_an_episode_has_them(
    settings: Settings, podcast: dict[str, object]
) -> None:
    newest = str(podcast["newest"])
    with Fonoteca(settings) as app:
        app.archive.overviews.save_publisher_chapters(newest, [
            Chapter(0.0, "Intro", source=ChapterSource.PUBLISHER),
            Chapter(4.0, "Dave joins", source=ChapterSource.PUBLISHER, url="https://example.org/dave"),
        ])  # fmt: skip
        rev = app.archive.get_episode(newest).transcript_rev
        moments = [KeyMoment(4.0, 9.5, "Good to be here, Adam.")]
        assert app.archive.overviews.save_overview(Overview(newest, rev, "words", [], moments, []))
    http = TestClient(create_app(settings))
    feed = http.get(f"/show/{podcast['slug']}/feed.xml").content

    episode = next(e for e in podcastparser.parse("http://testserver/feed.xml", io.BytesIO(feed))["episodes"]
                   if e.get("transcript_url") and e["persons"])  # fmt: skip
    chapters_url = episode["chapters_json_url"]
    assert chapters_url.endswith(f"/episodes/{newest}.chapters.json")
    item = next(i for i in etree.fromstring(feed).iter("item") if i.findtext("guid") == episode["guid"])
    assert item.find(f"{{{PODCAST_NS}}}chapters").get("type") == "application/json+chapters"
    bites = [(b.get("startTime"), b.get("duration"), b.text) for b in item.iter(f"{{{PODCAST_NS}}}soundbite")]
    assert bites == [("4.0", "5.5", "Good to be here, Adam.")]

    served = http.get(_path(chapters_url))
    assert served.headers["content-type"].startswith("application/json+chapters")
    assert served.headers["access-control-allow-origin"] == "*"
    chapters = served.json()
    jsonschema.validate(chapters, CHAPTERS_SCHEMA)
    assert [(c["startTime"], c["title"]) for c in chapters["chapters"]] == [(0.0, "Intro"), (4.0, "Dave joins")]
    # an episode without chapters links none, and its chapters file is a 404
    second = next(i for i in etree.fromstring(feed).iter("item") if i.find(f"{{{PODCAST_NS}}}transcript") is not None
                  and i.findtext("guid") != episode["guid"])  # fmt: skip
    assert second.find(f"{{{PODCAST_NS}}}chapters") is None
    assert http.get(f"/show/{podcast['slug']}/episodes/{podcast['second']}.chapters.json").status_code == 404


def test_an_enclosure_the_archive_downloaded_has_its_size_and_each_speaker_a_host_or_guest_role(
    settings: Settings, podcast: dict[str, object]
) -> None:
    with Fonoteca(settings) as app:
        show = app.archive.get_show(str(podcast["slug"]))
        third, fourth = [e for e in app.archive.list_episodes(show.id) if e.status != "done"][:2]
        app.archive.replace_transcript(
            third.id, [Segment(0, 2, "Hi.", speaker="Adam Curry"), Segment(2, 4, "Hello!", speaker="Una invitada")],
            source="imported", language="en",
        )  # fmt: skip
        app.archive.replace_transcript(
            fourth.id, [Segment(0, 2, "Hi.", speaker="Adam Curry"), Segment(2, 4, "Hey.", speaker="Dave Jones")],
            source="imported", language="en",
        )  # fmt: skip
        downloaded = settings.media_dir / show.slug / f"{podcast['newest']}.mp3"  # as a download leaves it
        downloaded.parent.mkdir(parents=True, exist_ok=True)
        downloaded.write_bytes(b"\xff\xfb" * 12_345)
        app.archive.update_episode(str(podcast["newest"]), media_path=str(downloaded))
        guids = {e.id: e.guid for e in app.archive.list_episodes(show.id)}
    feed = etree.fromstring(TestClient(create_app(settings)).get(f"/show/{podcast['slug']}/feed.xml").content)
    items = {i.findtext("guid"): i for i in feed.iter("item")}
    lengths = {guid: item.find("enclosure").get("length") for guid, item in items.items()}
    assert lengths.pop(guids[str(podcast["newest"])]) == str(2 * 12_345)
    assert set(lengths.values()) == {"0"}  # not downloaded: unknown, which RSS says as 0

    def people(episode_id: str) -> list[tuple[str, str]]:
        found = items[guids[episode_id]].iter(f"{{{PODCAST_NS}}}person")
        return [(person.text, person.get("role")) for person in found]

    # Adam Curry speaks in all three episodes whose transcripts name voices, Dave Jones in two: hosts; the guest in one.
    assert people(str(podcast["newest"])) == [("Adam Curry", "host"), ("Dave Jones", "host")]
    assert people(third.id) == [("Adam Curry", "host"), ("Una invitada", "guest")]
    parsed = podcastparser.parse("http://testserver/feed.xml", _stream(etree.tostring(feed)))
    newest = next(e for e in parsed["episodes"] if e["guid"] == guids[str(podcast["newest"])])
    assert newest["enclosures"][0]["file_size"] == 2 * 12_345  # as a podcast app reads it


def test_chapters_and_key_moments_fonoteca_finds_in_a_real_transcript_are_linked_served_and_read_back(
    settings: Settings, podcast: dict[str, object]
) -> None:
    """No chapters from the publisher: the ones the step after a new transcript finds in it (issue 27's, here by the
    passages' words), as the spec's chapters JSON, and its key moments as soundbites that quote the episode."""
    talk = shared_path("transcripts", "talkpython_en_vtt_subset", "017_micropython.vtt").read_bytes()
    segments = parse_transcript(talk, "vtt")
    newest = str(podcast["newest"])
    with Fonoteca(settings.replace(embeddings="none")) as app:
        app.archive.replace_transcript(newest, segments, source="imported", language="en")
        app.update_index()  # the archive's word counts: what the key moments' keyness is measured against
        assert app.glance() >= 1
        episode, overview = app.overview(newest)
    assert overview is not None and overview.current and len(overview.chapters) >= 2
    assert {c.source for c in overview.chapters} == {ChapterSource.GENERATED} and overview.moments

    with TestClient(create_app(settings)) as http:
        http.get("/")  # the visitor's cookie (validators are per visitor: web/caching.py)
        feed = http.get(f"/show/{podcast['slug']}/feed.xml").content
        item = next(i for i in etree.fromstring(feed).iter("item") if i.findtext("guid") == episode.guid)
        chapters_url = item.find(f"{{{PODCAST_NS}}}chapters").get("url")
        served = http.get(_path(chapters_url))
        revalidated = http.get(_path(chapters_url), headers={"If-None-Match": served.headers["etag"]})
    assert served.headers["access-control-allow-origin"] == "*" and served.headers["last-modified"]
    assert revalidated.status_code == 304
    chapters = served.json()
    jsonschema.validate(chapters, CHAPTERS_SCHEMA)
    assert [(c["startTime"], c["title"]) for c in chapters["chapters"]] == [
        (round(c.start, 3), c.title) for c in overview.chapters
    ]

    said = " ".join(" ".join(s.text.split()) for s in segments)
    bites = list(item.iter(f"{{{PODCAST_NS}}}soundbite"))
    assert len(bites) == len(overview.moments)
    for bite, moment in zip(bites, overview.moments, strict=True):
        assert (float(bite.get("startTime")), float(bite.get("duration"))) == (
            round(moment.start, 1), round(moment.end - moment.start, 1),
        )  # fmt: skip
        assert len(bite.text) <= 128 and " ".join(bite.text.removesuffix("…").split()) in said

    # Both parsers read the tags back: podcastparser the chapters' address, feedparser (which keeps the last of a
    # repeated tag) the chapters and a soundbite's times.
    parsed = podcastparser.parse("http://testserver/feed.xml", _stream(feed))
    assert next(e for e in parsed["episodes"] if e["guid"] == episode.guid)["chapters_json_url"] == chapters_url
    entry = next(e for e in feedparser.parse(feed).entries if e.id == episode.guid)
    assert entry.podcast_chapters == {"url": chapters_url, "type": "application/json+chapters"}
    assert entry.podcast_soundbite == {"starttime": bites[-1].get("startTime"), "duration": bites[-1].get("duration")}


def test_voices_the_speaker_step_numbers_and_the_owner_names_become_the_feeds_voices_and_people(
    settings: Settings, podcast: dict[str, object]
) -> None:
    """Issue 26's path: the speaker step stores the voices it found in a transcribed episode (numbered: "Speaker 1" is
    no person to list), the owner names one with `fonoteca speakers name`, and the feed and its WebVTT follow."""
    second = str(podcast["second"])
    with Fonoteca(settings) as app:
        guid = app.archive.get_episode(second).guid
        rev = app.archive.get_episode(second).transcript_rev
        voices = [
            EpisodeSpeaker(second, n, seconds, np.eye(4, dtype=np.float32)[n]) for n, seconds in enumerate((3, 2))
        ]
        turns = [SpeakerTurn(0.0, 3.0, 0), SpeakerTurn(3.0, 5.0, 1)]  # as the speaker step stores what it found
        assert app.archive.voices.save_diarization(
            second, transcript_rev=rev, turns=turns, voices=voices, segments=None
        )
    http = TestClient(create_app(settings))

    def published() -> tuple[list[str], list[str | None]]:
        feed = http.get(f"/show/{podcast['slug']}/feed.xml").content
        item = next(i for i in etree.fromstring(feed).iter("item") if i.findtext("guid") == guid)
        people = [p.text for p in item.iter(f"{{{PODCAST_NS}}}person")]
        vtt = http.get(_path(next(item.iter(f"{{{PODCAST_NS}}}transcript")).get("url"))).text
        return people, [c.voice for c in webvtt.from_buffer(_text_stream(vtt))]

    assert published() == ([], ["Speaker 1", "Speaker 2"])
    named = CliRunner().invoke(
        cli_app, ["--home", str(settings.home), "speakers", "name", second, "2", "Dave Jones"],
        env={"FONOTECA_EMBEDDINGS": "none"},
    )  # fmt: skip
    assert named.exit_code == 0, named.output
    assert published() == (["Dave Jones"], ["Speaker 1", "Dave Jones"])  # the kept feed was built again
