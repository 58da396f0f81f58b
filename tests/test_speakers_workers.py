"""The speaker step where the work runs on PostgreSQL: a real procrastinate worker downloads, transcribes and finds who
speaks, on a real PostgreSQL (tests/fixtures_pg.py), from a feed served on 127.0.0.1 whose episode is assembled from
real recordings of two people (tests/fixtures_speakers.py says who speaks when)."""

from __future__ import annotations

from fixtures_speakers import voice_number_at

from fonoteca.app import Fonoteca
from fonoteca.jobs.worker import run_worker
from fonoteca.settings import Settings


def _feed(enclosure: str) -> bytes:
    return (
        '<?xml version="1.0"?><rss version="2.0"><channel><title>Charlas</title><language>en</language>'
        '<item><title>Primera</title><guid isPermaLink="false">primera</guid>'
        "<pubDate>Tue, 09 Jan 2024 09:00:00 +0000</pubDate>"
        f'<enclosure url="{enclosure}" type="audio/wav" length="1"/></item></channel></rss>'
    ).encode()


def test_a_postgresql_worker_finds_the_speakers_of_the_episode_it_transcribes(
    settings: Settings,
    pg_url: str,
    recordings,
    http_server,
) -> None:
    path, _ = recordings["first"]  # Lucier 0-20 s, the reader 20-40 s, Lucier again 40-55 s
    url = http_server.add("charlas.xml", _feed(http_server.add("primera.wav", path)))
    on_postgresql = settings.replace(database_url=pg_url, embeddings="none", beam_size=1, download_retries=0)
    with Fonoteca(on_postgresql) as app:
        show, report = app.add(url)
        assert report.queued == 1 and not app.archive.voices.found(app.archive.list_episodes()[0].id)
        run_worker(app, until_empty=True)
        episode = app.archive.list_episodes(show.id)[0]
        assert episode.status == "done"
        voices = app.archive.voices.found(episode.id)
        lucier, reader = voice_number_at(app, episode.id, 7.0), voice_number_at(app, episode.id, 25.0)
        labels = {segment.speaker for segment in app.archive.segments(episode.id)}
        app.speakers.name(episode.id, lucier + 1, "Alvin Lucier")
        named = app.archive.said_at(episode.id, 45.0)
    assert len(voices) == 2 and lucier != reader
    assert labels == {f"Speaker {lucier + 1}", f"Speaker {reader + 1}"}
    assert named is not None and named.speaker == "Alvin Lucier"
