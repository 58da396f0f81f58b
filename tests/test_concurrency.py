"""Several fonoteca processes on one archive: each episode is claimed by one of them, and damage left by versions that
did not claim is found and repaired."""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
from pathlib import Path

import pytest
from fixtures_web import DEMO_MEDIA

from fonoteca.archive import Archive, EpisodeBusy, Segment
from fonoteca.settings import Settings

JFK = DEMO_MEDIA / "jfk.flac"  # 11 s of real speech: the shortest clip that gives Whisper several segments


def _env(**extra: str) -> dict[str, str]:
    # Greedy decoding: the same real model on real speech, in a fraction of beam search's time.
    return {**os.environ, "FONOTECA_ALLOW_PRIVATE_URLS": "1", "FONOTECA_BEAM_SIZE": "1", **extra}


def _fonoteca(home: Path, *args: str, threads: str = "0") -> subprocess.Popen[str]:
    return subprocess.Popen(
        [sys.executable, "-m", "fonoteca", "--home", str(home), *args],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=_env(FONOTECA_CPU_THREADS=threads),
    )  # fmt: skip


def _feed(items: list[tuple[str, str]]) -> bytes:
    body = "".join(
        f"<item><title>Episodio {guid}</title><guid>{guid}</guid><pubDate>Tue, 09 Jan 2024 09:00:00 +0000</pubDate>"
        f'<enclosure url="{url}" type="audio/flac" length="1"/></item>'
        for guid, url in items
    )
    return f'<?xml version="1.0"?><rss version="2.0"><channel><title>Carrera</title>{body}</channel></rss>'.encode()


def _assert_transcribed_once(archive: Archive) -> None:
    for episode in archive.list_episodes():
        texts = [s.text for s in archive.segments(episode.id)]
        starts = [s.start for s in archive.segments(episode.id)]
        assert episode.status == "done", (episode.title, episode.status, episode.error)
        assert texts and len(set(texts)) == len(texts), f"{episode.title}: {texts}"
        assert starts == sorted(starts)
    assert archive.damaged_transcripts() == []


@pytest.mark.slow
def test_two_syncs_at_once_transcribe_each_episode_once_and_neither_fails(tmp_path, http_server) -> None:
    url = http_server.add("race.xml", _feed([(str(n), http_server.add(f"{n}.flac", JFK)) for n in range(3)]))
    home = tmp_path / "home"
    added = subprocess.run(
        [sys.executable, "-m", "fonoteca", "--home", str(home), "add", "--no-sync", url],
        capture_output=True, text=True, timeout=60, env=_env(),
    )  # fmt: skip
    assert added.returncode == 0, added.stderr

    # One thread each: the two processes share the machine's cores instead of fighting over them.
    first, second = _fonoteca(home, "sync", threads="1"), _fonoteca(home, "sync", threads="1")
    outputs = [proc.communicate(timeout=300) for proc in (first, second)]
    for proc, (out, err) in zip((first, second), outputs, strict=True):
        assert proc.returncode == 0, out + err
        assert "failed" not in out and "Traceback" not in err
    with Archive(home / "fonoteca.db") as archive:
        _assert_transcribed_once(archive)
        assert archive.status_counts() == {"done": 3}
    downloads = [path for path, _ in http_server.requests if path.endswith(".flac")]
    assert sorted(downloads) == ["/f/0.flac", "/f/1.flac", "/f/2.flac"]  # each enclosure fetched by one process


def test_a_claim_is_exclusive_until_released_and_refuses_the_other_process_writes(settings: Settings) -> None:
    with Archive(settings.db_path) as mine, Archive(settings.db_path) as theirs:
        show, _ = mine.add_show(title="Carrera", source="https://example.org/carrera.xml", source_kind="feed")
        episode, _ = mine.upsert_episode(show, guid="1", title="Uno", kind="audio", status="downloaded")
        assert mine.claim_episode(episode.id)
        assert not theirs.claim_episode(episode.id)
        with pytest.raises(EpisodeBusy, match="another fonoteca process"):
            theirs.append_segments(episode.id, [Segment(0.0, 1.0, "hola")])
        mine.append_segments(episode.id, [Segment(0.0, 1.0, "hola")], at=0)
        with pytest.raises(EpisodeBusy, match="another process"):
            mine.append_segments(episode.id, [Segment(0.0, 1.0, "hola")], at=0)  # a second writer's first segment
        mine.release_episode(episode.id)
        assert theirs.claim_episode(episode.id)
        assert [s.text for s in theirs.segments(episode.id)] == ["hola"]


def test_the_claim_of_a_process_that_died_is_taken_over(settings: Settings) -> None:
    with Archive(settings.db_path) as archive:
        show, _ = archive.add_show(title="Carrera", source="https://example.org/carrera.xml", source_kind="feed")
        episode, _ = archive.upsert_episode(show, guid="1", title="Uno", kind="audio", status="downloaded")
    holder = subprocess.Popen(
        [sys.executable, "-c",
         "import sys; from fonoteca.archive import Archive; a = Archive(sys.argv[1]); "
         "print(a.claim_episode(sys.argv[2]), flush=True); sys.stdin.read()",
         str(settings.db_path), episode.id],
        stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True,
    )  # fmt: skip
    try:
        assert holder.stdout.readline().strip() == "True"
        with Archive(settings.db_path) as archive:
            assert not archive.claim_episode(episode.id)  # its holder is alive
            holder.send_signal(signal.SIGKILL)
            holder.wait(timeout=10)
            assert archive.claim_episode(episode.id)
    finally:
        holder.kill()


def test_sync_skips_an_episode_another_live_process_holds_and_says_so(tmp_path) -> None:
    folder = tmp_path / "folder"
    folder.mkdir()
    shutil.copy(JFK, folder / "jfk.flac")
    home = tmp_path / "home"
    added = subprocess.run(
        [sys.executable, "-m", "fonoteca", "--home", str(home), "add", "--no-sync", str(folder)],
        capture_output=True, text=True, timeout=60, env=_env(),
    )  # fmt: skip
    assert added.returncode == 0, added.stderr
    with Archive(home / "fonoteca.db") as holder:  # this test process is the other live holder
        (episode,) = holder.list_episodes()
        assert holder.claim_episode(episode.id)
        synced = subprocess.run(
            [sys.executable, "-m", "fonoteca", "--home", str(home), "sync"],
            capture_output=True, text=True, timeout=120, env=_env(),
        )  # fmt: skip
        assert synced.returncode == 0, synced.stderr
        assert "1 left to another fonoteca process" in synced.stdout
        assert "another fonoteca process is working on it" in synced.stderr
        assert holder.get_episode(episode.id).status == "downloaded" and holder.segment_count(episode.id) == 0


@pytest.mark.slow
def test_check_finds_a_doubled_transcript_and_retry_force_repairs_it(tmp_path) -> None:
    home = tmp_path / "home"
    added = subprocess.run(
        [sys.executable, "-m", "fonoteca", "--home", str(home), "add", str(JFK)],
        capture_output=True, text=True, timeout=300, env=_env(),
    )  # fmt: skip
    assert added.returncode == 0, added.stderr
    with Archive(home / "fonoteca.db") as archive:
        (episode,) = archive.list_episodes()
        good = [s.text for s in archive.segments(episode.id)]
        # What two unclaimed syncs left behind before claims existed: the whole transcript appended a second time.
        archive.append_segments(episode.id, archive.segments(episode.id))

    def run(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [sys.executable, "-m", "fonoteca", "--home", str(home), *args],
            capture_output=True, text=True, timeout=300, env=_env(),
        )  # fmt: skip

    found = run("check")
    assert found.returncode == 1
    assert f"damaged {episode.id}" in found.stdout and f"{len(good)} repeated" in found.stdout
    assert "fonoteca retry --force ID" in found.stdout
    assert "--force" in run("retry", episode.id).stderr  # the refusal names the repair

    repaired = run("retry", "--force", episode.id)
    assert repaired.returncode == 0, repaired.stderr
    assert "1 transcribed" in repaired.stdout
    assert run("check").returncode == 0
    with Archive(home / "fonoteca.db") as archive:
        _assert_transcribed_once(archive)
        assert [s.text for s in archive.segments(episode.id)] == good
    hits = run("search", "--json", "country")
    assert len(json.loads(hits.stdout)) == sum("country" in text.lower() for text in good)
